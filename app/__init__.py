"""mangacolor desktop application (PySide6). Thin: all work happens in mangacolor.core."""
