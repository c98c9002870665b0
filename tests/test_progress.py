"""One progress vocabulary: sub-progress for nested work, and cancel reaching the start of a
training run (the data scan) and a whole experiment."""

from __future__ import annotations

from pathlib import Path

import pytest

from mangacolor.core.progress import Cancelled, Progress


def test_sub_progress_reports_into_a_slice_and_shares_cancel_and_pause():
    seen = []
    p = Progress(lambda d, t, m: seen.append((d, t, m)))
    p.report(0, 300, "three models")
    first = p.sub(0, 100)
    first.report(50, 200, "step 50")
    second = p.sub(100, 100)
    second.report(0, 10, "scanning")
    second.report(10, 10, "done")
    assert seen[1:] == [(25, 300, "step 50"), (100, 300, "scanning"), (200, 300, "done")]
    inner = second.sub(0, 1, total=10)  # nested: the first tenth of the second slice
    inner.report(1, 2, "half of the first tenth")
    assert seen[-1] == (105, 300, "half of the first tenth")
    p.pause()
    assert second.paused and inner.paused
    p.resume()
    p.cancel()
    with pytest.raises(Cancelled):
        inner.check()
    assert first.cancelled


def test_cancel_while_the_images_are_scanned_stops_before_the_first_step(shared_data, tmp_path):
    from mangacolor.core.training.config import TrainConfig
    from mangacolor.core.training.trainer import Trainer

    messages = []
    progress = Progress()

    def on_report(done, total, message):
        messages.append(message)
        if message == "reading the images" and done >= 2:
            progress.cancel()  # the user presses Cancel while the data is read

    progress._callback = on_report
    data = shared_data / "color" / "peppercarrot"
    cfg = TrainConfig(data=[str(data)], val=str(shared_data / "color" / "openmantra"), out=str(tmp_path / "run"),
                      max_steps=5, batch_size=2, size=64, scale=[72, 96], val_size=64, backbone="test_efficientnet",
                      pretrained=False, extractor_size=64, width=0.125, device="cpu")
    summary = Trainer(cfg, progress=progress).run()
    assert summary["status"] == "cancelled" and summary["step"] == 0
    assert messages.count("reading the images") == 3  # stopped at the next file, not after all 65
    assert not list(Path(tmp_path / "run").glob("*.safetensors"))  # nothing written


def test_cancel_stops_an_overspill_check_between_its_steps(bw_pages):
    """A large page's check (ink, regions, analysis) stops at the next step boundary."""
    import numpy as np

    from mangacolor.core.imageio import read_page
    from mangacolor.core.overspill import analyze
    from mangacolor.core.pipeline import page_lightness

    class CancelAfter(Progress):
        def __init__(self, n):
            super().__init__()
            self.n, self.checks = n, 0

        def check(self):
            self.checks += 1
            if self.checks > self.n:
                self.cancel()
            super().check()

    L = page_lightness(read_page(bw_pages[0]))[:600, :500]
    ab = np.zeros(L.shape + (2,), np.float32)
    assert analyze(L, ab, progress=CancelAfter(99)).page_score == 0.0  # not cancelled: the full check
    for n in (0, 1, 2):  # cancelled before the ink, after the ink, after the regions
        p = CancelAfter(n)
        with pytest.raises(Cancelled):
            analyze(L, ab, progress=p)
        assert p.checks == n + 1


def test_typed_events_reach_listeners_through_sub_progress():
    from mangacolor.core.progress import Message

    p = Progress()
    got, child_got = [], []
    p.listen(got.append)
    child = p.sub(0, 1, total=2)
    child.listen(child_got.append)
    child.emit(Message("model 1: training"))
    p.emit("whole")
    assert got == [Message("model 1: training"), "whole"] and child_got == [Message("model 1: training")]
    p.unlisten(got.append)
    p.unlisten(got.append)  # twice: no error
    p.emit("after")
    assert got[-1] == "whole"


def test_a_batch_job_emits_its_page_events_on_the_progress(tiny_model_path, bw_pages, tmp_path):
    import cv2

    from mangacolor.core.batch import BatchSettings, PageEvent, run_batch
    from mangacolor.core.imageio import read_page
    from mangacolor.core.pipeline import Colorizer

    src = tmp_path / "chapter"
    src.mkdir()
    for i, p in enumerate(bw_pages[:2]):
        g = read_page(p).gray
        cv2.imwrite(str(src / f"p{i}.png"), cv2.resize(g, (141, 200), interpolation=cv2.INTER_AREA))
    progress, events, pages = Progress(), [], []
    progress.listen(events.append)
    col = Colorizer.from_checkpoint(tiny_model_path, device="cpu")
    summary = run_batch([src], tmp_path / "out", col, BatchSettings(overspill_scores=False), progress, pages.append)
    assert summary.done == 2
    assert [e.rel for e in events if isinstance(e, PageEvent)] == [e.rel for e in pages] == [e.rel for e in summary.pages]
    assert progress._listeners == [events.append]  # the job's own listener is gone after the run
