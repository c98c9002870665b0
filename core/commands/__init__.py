"""Subcommands of the ``mangacolor`` command line. Each module has ``add_parser(subparsers)``
(which sets ``func`` on its parser) and returns an exit code from that function."""

#: Subcommand modules, in help order. A module that fails to import is left out of the CLI.
COMMANDS = ["colorize", "check", "train", "experiment"]  # "experiment" also adds "train-autoencoder"
