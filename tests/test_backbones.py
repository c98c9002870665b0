"""Backbone ImageNet weights: the offline route (a local file) and the download route.

The local-file route runs on weights the test makes from timm's tiny ``test_efficientnet``. The
download route runs against a small HTTP server on localhost that answers like the Hugging Face
hub (HEAD with ETag = SHA-256, then GET), so the real ``huggingface_hub`` code path, the
progress reports and the hash check are exercised without internet; with the network off
(``HF_HUB_OFFLINE=1``, or an address nobody listens on) it must fail fast with one line.
"""

from __future__ import annotations

import hashlib
import http.server
import threading
import time

import pytest
import timm
import torch
from safetensors.torch import load_file, save_file

from mangacolor.core import backbones
from mangacolor.core.backbones import (BackboneError, backbone_path, download_backbone, installed_backbone,
                                       use_local_weights)
from mangacolor.core.library import data_dir
from mangacolor.core.progress import Progress

NAME = "test_efficientnet"


@pytest.fixture(scope="module")
def tiny_state():
    torch.manual_seed(3)
    model = timm.create_model(NAME, pretrained=False)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.01)  # not the init values: a copy must carry these exactly
    return {k: v.clone() for k, v in model.state_dict().items()}


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_local_pth_file_is_validated_and_installed(tmp_path, tiny_state):
    assert installed_backbone(NAME) is None
    src = tmp_path / "weights.pth"
    # a training checkpoint layout: wrapped in "state_dict", DataParallel "module." prefixes
    torch.save({"state_dict": {f"module.{k}": v for k, v in tiny_state.items()}, "epoch": 3}, src)
    path = use_local_weights(NAME, src)
    assert path == data_dir() / "backbones" / f"{NAME}.safetensors" == backbone_path(NAME)
    assert installed_backbone(NAME) == path
    assert _same(load_file(str(path)), tiny_state)
    note = path.with_suffix(".json").read_text()
    assert str(src.resolve()) in note and hashlib.sha256(src.read_bytes()).hexdigest() in note
    # timm itself loads the installed file as the model's pretrained weights (what training uses)
    net = timm.create_model(NAME, pretrained=True, pretrained_cfg_overlay=dict(file=str(path)))
    assert _same(net.state_dict(), tiny_state)


def test_local_safetensors_file(tmp_path, tiny_state):
    src = tmp_path / "w.safetensors"
    save_file({k: v.contiguous() for k, v in tiny_state.items()}, str(src))
    assert _same(load_file(str(use_local_weights(NAME, src))), tiny_state)


def test_bad_local_files_give_one_line_errors_and_keep_the_install(tmp_path, tiny_state):
    good = tmp_path / "good.safetensors"
    save_file({k: v.contiguous() for k, v in tiny_state.items()}, str(good))
    installed = use_local_weights(NAME, good)
    before = installed.read_bytes()

    cases = {}
    part = dict(tiny_state)
    part.pop(next(iter(part)))
    torch.save(part, tmp_path / "partial.pth")
    cases["partial.pth"] = "missing"
    other = timm.create_model("test_vit", pretrained=False).state_dict()
    save_file({k: v.contiguous() for k, v in other.items()}, str(tmp_path / "other.safetensors"))
    cases["other.safetensors"] = "do not belong to test_efficientnet"

    class Evil:  # an object that would need arbitrary unpickling
        def __reduce__(self):
            return (print, ("unpickled!",))

    torch.save({"state_dict": Evil()}, tmp_path / "evil.pth", _use_new_zipfile_serialization=True)
    cases["evil.pth"] = "cannot read weights"
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 64)
    cases["junk.safetensors"] = "cannot read weights"
    (tmp_path / "notes.txt").write_text("hello")
    cases["notes.txt"] = "not a weights file"
    cases["absent.pth"] = "no such file"
    for fname, expected in cases.items():
        with pytest.raises(BackboneError) as err:
            use_local_weights(NAME, tmp_path / fname)
        msg = str(err.value)
        assert expected in msg and "\n" not in msg, (fname, msg)
    assert installed.read_bytes() == before  # a failed install never replaces a good one
    with pytest.raises(BackboneError, match="not a timm model"):
        download_backbone("no_such_net_xyz")


def test_download_offline_fails_fast_with_one_line(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    t0 = time.perf_counter()
    with pytest.raises(BackboneError) as err:
        download_backbone()  # inception_resnet_v2
    assert time.perf_counter() - t0 < 3.0
    msg = str(err.value)
    assert "offline" in msg and "local weights file" in msg and "\n" not in msg
    assert installed_backbone() is None


def test_download_unreachable_hub_fails_fast(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    t0 = time.perf_counter()
    with pytest.raises(BackboneError) as err:
        download_backbone(NAME, endpoint="http://127.0.0.1:9", timeout=2.0)  # nobody listens on port 9
    assert time.perf_counter() - t0 < 5.0
    assert "cannot reach" in str(err.value) and "\n" not in str(err.value)


class _FakeHub(http.server.BaseHTTPRequestHandler):
    """Answers ``/<repo>/resolve/main/<file>`` like the hub: ETag = SHA-256 of the LFS file."""

    body = b""
    etag = ""

    def _head(self):
        if "/resolve/" not in self.path:
            self.send_error(404)
            return False
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.send_header("ETag", f'"{self.etag}"')
        self.send_header("X-Repo-Commit", "0" * 40)
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        return True

    def do_HEAD(self):  # noqa: N802
        self._head()

    def do_GET(self):  # noqa: N802
        if self._head():
            self.wfile.write(self.body)

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_hub():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FakeHub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_download_checks_hash_reports_progress_and_installs(monkeypatch, tmp_path, tiny_state, fake_hub):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(backbones, "_offline", lambda: False)
    src = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in tiny_state.items()}, str(src))
    body = src.read_bytes()
    endpoint = f"http://127.0.0.1:{fake_hub.server_address[1]}"
    cache = tmp_path / "hub-cache"

    # a corrupted transfer: the served bytes do not match the hash the hub announces
    _FakeHub.body, _FakeHub.etag = body[:-8] + b"\x00" * 8, hashlib.sha256(body).hexdigest()
    with pytest.raises(BackboneError) as err:
        download_backbone(NAME, endpoint=endpoint, cache_dir=cache)
    assert "corrupt" in str(err.value) and "\n" not in str(err.value)
    assert installed_backbone(NAME) is None
    assert not [p for p in cache.rglob("*") if p.is_file() and p.stat().st_size == len(body)]  # bad file removed

    _FakeHub.body = body
    reports = []
    path = download_backbone(NAME, progress=Progress(lambda d, t, m: reports.append((d, t, m))),
                             endpoint=endpoint, cache_dir=cache)
    assert path == backbone_path(NAME)
    assert _same(load_file(str(path)), tiny_state)
    assert reports[-1][0] == reports[-1][1] == len(body) and reports[-1][2] == NAME
    assert all(a[0] <= b[0] for a, b in zip(reports, reports[1:]))
    # installed: a second call returns at once without asking the hub
    fake_hub_calls = []
    monkeypatch.setattr(backbones, "hub_source", lambda *a: fake_hub_calls.append(a))
    assert download_backbone(NAME, endpoint=endpoint, cache_dir=cache) == path and not fake_hub_calls
