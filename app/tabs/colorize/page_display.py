"""Which page the Colorize tab shows and what its views and captions say: the decoded originals
(a few kept for quick page flipping), placeholders while a page loads, queues or fails."""

from __future__ import annotations

import textwrap
from typing import Optional

import numpy as np

from ...page_list import PageEntry, PageState
from ...qt_images import rgb_to_qimage

__all__ = ["PageDisplayMixin", "ORIGINAL_CACHE"]

#: How many decoded originals stay in memory for quick page flipping.
ORIGINAL_CACHE = 6


def _reason(entry: PageEntry) -> str:
    """A page's failure message without the leading page name."""
    msg = entry.message or ""
    prefix = f"{entry.source.name}: "
    return msg[len(prefix):] if msg.startswith(prefix) else msg


def _wrap(text: str, width: int = 40) -> str:
    return "\n".join(textwrap.wrap(text, width)) if text else ""


class PageDisplayMixin:
    """The shown page, for :class:`mangacolor.app.tabs.colorize.ColorizeTab`."""

    # ---- pages ------------------------------------------------------------------------------
    def next_page(self) -> None:
        self.page_list.step(+1)

    def previous_page(self) -> None:
        self.page_list.step(-1)

    def shown_key(self) -> Optional[str]:
        """Key of the page in the views (None when empty)."""
        return self._shown_key

    def _remember_original(self, key: str, rgb: np.ndarray) -> None:
        self._originals[key] = rgb
        self._originals.move_to_end(key)
        while len(self._originals) > ORIGINAL_CACHE:
            self._originals.popitem(last=False)

    def _show(self, key: Optional[str]) -> None:
        self._shown_key = key
        entry = self.page_list.entry(key) if key else None
        if entry is None:
            self.compare.set_images(None, None, "Drop pages, a folder or a .cbz here\nor use Open Files (Ctrl+O)", "")
            self.compare.set_captions("Original", "Colorized")
            self.score_label.setText("")
            self._update_actions()
            self._update_overlay()
            self.page_shown.emit("")
            return
        original = self._originals.get(key)
        if original is not None:
            self._originals.move_to_end(key)
        elif entry.state != PageState.FAILED or entry.colorized is not None:
            if key not in self._loading_full:
                self._loading_full.add(key)
                self.io.load(key, entry.source, full=True)
        orig_img = rgb_to_qimage(original) if original is not None else None
        shown_rgb = self._display_rgb(entry)
        col_img = rgb_to_qimage(shown_rgb) if shown_rgb is not None else None
        if entry.state == PageState.FAILED and original is None:
            orig_text = "Cannot read this page\n" + _wrap(_reason(entry))
        else:
            orig_text = "Loading\u2026"
        self.compare.set_images(orig_img, col_img, orig_text, self._colorized_placeholder(entry))
        self._update_captions(entry)
        self._update_actions()
        self._ensure_fix(key)
        self._update_overlay()
        self.page_shown.emit(key)

    def _update_captions(self, entry: PageEntry) -> None:
        size = f" \u2014 {entry.size[0]} \u00d7 {entry.size[1]} px" if entry.size else ""
        col = "Colorized"
        if entry.colorized is not None and entry.render_size:
            col += f" \u2014 render size {entry.render_size} px"
            if entry.seconds is not None:
                col += f", {entry.seconds:.1f} s"
        score = ""
        if entry.colorized is not None:
            if entry.overspill is not None:
                flagged = self.page_list.is_flagged(entry)
                score = (f"{entry.overspill * 100:.1f} % of the page "
                         f"({'above' if flagged else 'within'} the {self.page_list.threshold * 100:.1f} % "
                         f"threshold), bleeding near lines {entry.near_line * 100:.1f} %, "
                         f"{entry.flagged_regions} flagged region{'s' if entry.flagged_regions != 1 else ''}")
                col += f" \u2014 overspill {entry.overspill * 100:.1f} %" + (" (flagged)" if flagged else "")
            elif entry.key in self._analyzing:
                score = "checking\u2026"
            if self._fix_on() and self._display_rgb(entry) is not entry.colorized:
                col += f" \u2014 fixed ({self.fix_strength() * 100:.0f} %)"
                if score and self.overlay_enabled():
                    score += "; the heatmap shows the prediction before the fix"
            elif self._fix_on() and self.fix_strength() > 0:
                col += " \u2014 fixing\u2026"
        col += self.hints.caption(entry.key) if hasattr(self, "hints") else ""
        self.score_label.setText(score)
        self.compare.set_captions(f"Original{size}", col)

    def update_captions(self) -> None:
        """Say again what the shown page is (its captions), e.g. after its hints changed."""
        entry = self.page_list.entry(self._shown_key) if self._shown_key else None
        if entry is not None:
            self._update_captions(entry)

    def _on_loaded(self, generation: int, key: str, thumb, rgb, width: int, height: int, dpi) -> None:
        if generation != self.io.generation:
            return
        entry = self.page_list.entry(key)
        if entry is None:
            return
        entry.size = (int(width), int(height))
        entry.dpi = dpi
        self.page_list.set_thumbnail(key, thumb)
        if rgb is not None:
            self._loading_full.discard(key)
            self._remember_original(key, rgb)
            if key == self._shown_key:
                shown_rgb = self._display_rgb(entry)
                self.compare.set_images(rgb_to_qimage(rgb),
                                        rgb_to_qimage(shown_rgb) if shown_rgb is not None else None,
                                        "", self._colorized_placeholder(entry), keep_view=True)
                self._update_captions(entry)
                self._update_overlay()
        self.page_list.refresh(key)
        self.page_loaded.emit(key)

    def _colorized_placeholder(self, entry: PageEntry) -> str:
        return {PageState.QUEUED: "Queued\u2026", PageState.WORKING: "Colorizing\u2026",
                PageState.FAILED: "Failed\n" + _wrap(_reason(entry))}.get(
            entry.state, "Not colorized yet\nColorize (Ctrl+R)")

    def _on_load_failed(self, generation: int, key: str, message: str) -> None:
        if generation != self.io.generation:
            return
        self._loading_full.discard(key)
        entry = self.page_list.entry(key)
        if entry is None:
            return
        if entry.state == PageState.FAILED and entry.message == message:
            return  # the thumbnail and the full page of one unreadable file: reported once
        self.page_list.set_state(key, PageState.FAILED, message)
        self._say(message)
        self.page_failed.emit(key, message)
        if key == self._shown_key:
            self._show(key)
        self._update_actions()
