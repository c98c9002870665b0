"""The Colorize tab (:class:`ColorizeTab`): page list, original/colorized comparison, overspill
check, Hints, save.

Pages come in through :meth:`ColorizeTab.add_inputs` (the open dialogs and drag-and-drop both
call it): files, folders (recursive) and .cbz/.zip archives, expanded by
:func:`mangacolor.core.imageio.collect_sources`. Colorizing runs as
:class:`mangacolor.app.worker.ColorizeJob` on the model worker; decoding and saving run on the
:class:`mangacolor.app.io_tasks.PageIO` pool; the overspill check of every colorized page and
the "Fix overspill" preview run on the :class:`mangacolor.app.overspill_tasks.OverspillService`
thread, from the page's cached L* and a*b* (no network re-run). The tab only reacts to their
signals; what it computes is in :mod:`mangacolor.core` (the fix:
:func:`mangacolor.core.overspill.fix_and_combine`; the saved files' names:
:func:`mangacolor.core.fileutil.page_output_paths`).

- :mod:`.tab`: the tab widget that composes the views and wires them;
- :mod:`.page_pane`: the page list, its order and "Flagged" filter, the count line;
- :mod:`.opening`: the open dialogs and :meth:`~ColorizeTab.add_inputs`;
- :mod:`.page_display`: the shown page, its captions and placeholders;
- :mod:`.colorizing`: colorize jobs on the worker and their results;
- :mod:`.overspill_view`: the overspill bar, the heatmap overlay and the fix preview;
  :mod:`.heatmap_legend`: what the heatmap's colors mean;
- :mod:`.saving`: Save and Save All;
- :mod:`.model_picker`: the model combo box (the model library; "Other checkpoint…");
- :mod:`.tab_actions`: the actions and the main toolbar;
- the views: :mod:`.image_view` (one zoomable page), :mod:`.compare_view` (side by side (1),
  split slider (2), single view (3; O flips)), :mod:`.panes` and :mod:`.split_divider` (their
  parts);
- Hints (Shift+H): :mod:`.hints_mode` (the mode on the colorized view), :mod:`.hint_reference`
  (the reference image), :mod:`.hint_actions`, :mod:`.hint_markers`, :mod:`.hint_picker`,
  :mod:`.hint_pages` (hints and undo per page), :mod:`.hint_jobs` (their jobs on the worker) and
  :mod:`.hint_store` (hints kept across sessions and beside the output).
"""

from .colorizing import MIN_RENDER_SIZE
from .heatmap_legend import HEATMAP_LEGEND, OVERLAY_OPACITY, HeatmapLegend
from .opening import OPEN_FILTER
from .saving import OUTPUT_SUFFIX
from .tab import ColorizeTab

__all__ = ["ColorizeTab", "HeatmapLegend", "OPEN_FILTER", "OUTPUT_SUFFIX", "HEATMAP_LEGEND", "OVERLAY_OPACITY",
           "MIN_RENDER_SIZE"]
