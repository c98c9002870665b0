"""Entry script of the desktop bundle: the GUI, the command line and --self-test in one executable."""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()
    from mangacolor.app.launcher import main

    sys.exit(main())
