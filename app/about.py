"""The About dialog: versions, the device, the current model card, and where logs and settings are."""

from __future__ import annotations

import html
import json
import platform
import sys
from importlib import metadata
from typing import Optional

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QTextBrowser, QVBoxLayout, QWidget

from .appearance import app_icon

__all__ = ["AboutDialog", "library_versions", "card_summary"]

#: Distributions whose versions the dialog lists (import names are not always the same).
_DISTRIBUTIONS = (("mangacolor", "mangacolor"), ("PySide6", "PySide6-Essentials"), ("torch", "torch"),
                  ("torchvision", "torchvision"), ("timm", "timm"), ("numpy", "numpy"),
                  ("OpenCV", "opencv-python-headless"), ("scikit-image", "scikit-image"), ("Pillow", "Pillow"),
                  ("safetensors", "safetensors"))


def library_versions() -> dict[str, str]:
    """Name -> version of Python, Qt and the main libraries (from the installed metadata, so
    nothing heavy is imported; "not installed" when missing)."""
    from PySide6.QtCore import qVersion

    out = {"Python": platform.python_version(), "Qt": qVersion()}
    for label, dist in _DISTRIBUTIONS:
        try:
            out[label] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[label] = "not installed"
    torch = sys.modules.get("torch")  # the build actually running (CUDA/CPU), when loaded
    if torch is not None:
        cuda = getattr(torch.version, "cuda", None)
        out["torch"] = f"{torch.__version__}" + (f" (CUDA {cuda})" if cuda else " (CPU build)")
    return out


def card_summary(card: dict) -> list[tuple[str, str]]:
    """The model card's main facts as (label, text) rows for people."""
    if not card:
        return []
    arch = card.get("architecture", {}) or {}
    rows = [("Name", str(card.get("name") or arch.get("name", "?"))),
            ("Description", str(card.get("description", ""))),
            ("Architecture", ", ".join(f"{k}={v}" for k, v in arch.items())),
            ("Render size", f"{card.get('render_size', '?')} px"),
            ("Created", str(card.get("created", ""))),
            ("Parameters", f"{card['parameters']:,}" if isinstance(card.get("parameters"), int) else "")]
    training = card.get("training")
    if isinstance(training, dict):
        for key in ("data", "feature_extractor", "loss", "steps", "epochs"):
            if key in training:
                rows.append((f"Training {key.replace('_', ' ')}", str(training[key])))
    metrics = card.get("metrics")
    if isinstance(metrics, dict) and metrics:
        rows.append(("Metrics", ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                          for k, v in list(metrics.items())[:8])))
    return [(k, v) for k, v in rows if v]


class AboutDialog(QDialog):
    """Versions, device, model card, log and settings paths.

    Args:
        device: the device label ("CPU (2 threads)", "NVIDIA H100 (79 GB)").
        model: the model label from the status bar.
        card: the loaded model's card ({} when none is loaded).
        parent: parent widget.
    """

    def __init__(self, device: str, model: str, card: Optional[dict] = None, parent: Optional[QWidget] = None):
        super().__init__(parent)
        from mangacolor.core.applog import log_path
        from mangacolor.core.settings import settings_path

        self.setWindowTitle("About mangacolor")
        self.card = dict(card or {})
        versions = library_versions()
        icon = QLabel(self)
        icon.setPixmap(app_icon().pixmap(64, 64))
        title = QLabel(f"<h2>mangacolor {html.escape(versions.get('mangacolor', ''))}</h2>"
                       "Colorize black-and-white manga pages with a Deep Koalarization network "
                       "(Baldassarre, Mor\u00edn, Rod\u00e9s-Guirao 2017), locally on your GPU or CPU, "
                       "with an overspill check for color that crosses ink lines.", self)
        title.setWordWrap(True)

        def table(rows) -> str:
            return "<table cellspacing='0' cellpadding='2'>" + "".join(
                f"<tr><td valign='top'><b>{html.escape(k)}</b>&nbsp;&nbsp;</td><td>{html.escape(v)}</td></tr>"
                for k, v in rows) + "</table>"

        body = (f"<h3>Device</h3>{table([('Device', device), ('Model', model)])}"
                f"<h3>Model card</h3>"
                + (table(card_summary(self.card)) if self.card else "<p>No model is loaded yet.</p>")
                + f"<h3>Versions</h3>{table(list(versions.items()) + [('Platform', platform.platform())])}"
                f"<h3>Files</h3>{table([('Log file', str(log_path())), ('Settings', str(settings_path()))])}")
        if self.card:
            body += ("<h3>Full model card (JSON)</h3><pre>"
                     + html.escape(json.dumps(self.card, indent=2, default=str)) + "</pre>")
        self.text = QTextBrowser(self)
        self.text.setOpenExternalLinks(True)
        self.text.setHtml(body)
        self.text.setMinimumSize(560, 380)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        top = QVBoxLayout()
        top.addWidget(icon, 0, Qt.AlignmentFlag.AlignLeft)
        lay.addLayout(top)
        lay.addWidget(title)
        lay.addWidget(self.text, 1)
        lay.addWidget(buttons)
        self.resize(640, 560)

    def plain_text(self) -> str:
        """The dialog's text without markup (for tests and copying)."""
        return self.text.toPlainText()
