"""Drag and drop of local files and folders, shared by every widget that takes dropped pages."""

from __future__ import annotations

__all__ = ["LocalFileDropMixin"]


class LocalFileDropMixin:
    """Accept drags that carry local files or folders; hand their paths to :meth:`paths_dropped`.

    Put it before the Qt base class (``class PageList(LocalFileDropMixin, QListWidget)``) and call
    ``setAcceptDrops(True)``. Drags without a local file (web links, text) are ignored.
    """

    def dragEnterEvent(self, event) -> None:  # noqa: N802 (Qt name)
        md = event.mimeData()
        if md.hasUrls() and any(u.isLocalFile() for u in md.urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:  # noqa: N802 (Qt name)
        self.dragEnterEvent(event)

    def dropEvent(self, event) -> None:  # noqa: N802 (Qt name)
        md = event.mimeData()
        paths = [u.toLocalFile() for u in md.urls() if u.isLocalFile()] if md.hasUrls() else []
        if not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        self.paths_dropped(paths)

    def paths_dropped(self, paths: list[str]) -> None:  # pragma: no cover - overridden
        """Called with the dropped local paths (files, folders, archives), at least one."""
        raise NotImplementedError
