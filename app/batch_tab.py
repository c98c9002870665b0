"""Left only while ``app/colorize_tab.py`` and the Trainer tab still import these two names from
here; the Batch tab is :mod:`mangacolor.app.tabs.batch`. Import :class:`ModelListLoader` from
:mod:`mangacolor.app.model_list` and :func:`format_eta` from :mod:`mangacolor.app.eta`."""

from .eta import format_eta
from .model_list import ModelListLoader

__all__ = ["ModelListLoader", "format_eta"]
