"""The window's tabs, one package each: every package holds small views and the tab widget that
composes them; what a tab computes lives in :mod:`mangacolor.core`."""
