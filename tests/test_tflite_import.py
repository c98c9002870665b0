"""TensorFlow Lite ImageNet classifiers imported into timm (the offline ImageNet weights).

Runs on the real files of ``../shared/weights`` (skipped when they are absent): a correct import
classifies scikit-image's sample photos as the TensorFlow Lite runtime does (SOURCES.md there).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import timm
import torch

from mangacolor.core.backbones import BackboneError, backbone_kwargs, installed_backbone, use_local_weights
from mangacolor.core.tflite_import import TIMM_KWARGS, TFLiteImportError, import_tflite, tflite_summary

from conftest import REPO

WEIGHTS = Path(os.environ.get("MANGACOLOR_SHARED_WEIGHTS", REPO.parent / "shared" / "weights"))
MOBILENET = WEIGHTS / "mobilenet_v2_1.0_224_quant.tflite"
EDGETPU = WEIGHTS / "mobilenet_edgetpu_224_1.0_uint8.tflite"


@pytest.fixture(scope="module")
def mobilenet_file() -> Path:
    if not MOBILENET.is_file():
        pytest.skip(f"ImageNet weights not found at {WEIGHTS}")
    return MOBILENET


def _photo(name: str) -> torch.Tensor:
    """A scikit-image sample photo, center-cropped to 224 px, RGB in [-1, 1], (1, 3, 224, 224)."""
    import skimage.data

    rgb = getattr(skimage.data, name)()
    h, w = rgb.shape[:2]
    s = min(h, w)
    rgb = rgb[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
    rgb = cv2.resize(rgb, (224, 224), interpolation=cv2.INTER_AREA)
    return torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 127.5 - 1.0


def _classify(net, name: str) -> list[int]:
    with torch.no_grad():
        return net(_photo(name)).topk(3, dim=1).indices[0].tolist()


def test_mobilenet_v2_classifies_sample_photos(mobilenet_file):
    sd = import_tflite(mobilenet_file, "mobilenetv2_100")
    net = timm.create_model("mobilenetv2_100", **TIMM_KWARGS["mobilenetv2_100"])
    net.load_state_dict(sd, strict=True)
    net.eval()
    assert _classify(net, "chelsea")[0] in range(281, 286)  # tabby / tiger cat / Persian / Siamese / Egyptian cat
    assert _classify(net, "coffee")[0] == 967  # espresso
    assert 657 in _classify(net, "rocket")  # missile
    # the folded BatchNorm is identity plus the converter's bias
    bn = net.bn1
    assert torch.allclose(bn.running_var + bn.eps, torch.ones_like(bn.running_var))
    # without TensorFlow's SAME padding the same weights see shifted pixels and lose confidence
    plain = timm.create_model("mobilenetv2_100")
    plain.load_state_dict(sd, strict=True)
    plain.eval()
    with torch.no_grad():
        p_same = net(_photo("coffee")).softmax(1)[0, 967]
        p_plain = plain(_photo("coffee")).softmax(1)[0, 967]
    assert p_same > 0.9 and p_plain < p_same


def test_installed_as_backbone_with_source_hash(mobilenet_file):
    # the first-run dialog passes its default backbone name; the file says which network it is
    path = use_local_weights("inception_resnet_v2", mobilenet_file)
    assert path.stem == "mobilenetv2_100" and installed_backbone("mobilenetv2_100") == path
    note = json.loads(path.with_suffix(".json").read_text())
    assert note["source_sha256"] == hashlib.sha256(mobilenet_file.read_bytes()).hexdigest()
    assert note["timm_kwargs"] == {"pad_type": "same"} == backbone_kwargs("mobilenetv2_100")
    net = timm.create_model("mobilenetv2_100", pretrained=True, pretrained_cfg_overlay=dict(file=str(path)),
                            **backbone_kwargs("mobilenetv2_100"))
    net.eval()
    assert _classify(net, "coffee")[0] == 967


def test_edgetpu_classifier_is_importable():
    if not EDGETPU.is_file():
        pytest.skip(f"ImageNet weights not found at {WEIGHTS}")
    net = timm.create_model("mobilenet_edgetpu_100", **TIMM_KWARGS["mobilenet_edgetpu_100"])
    net.load_state_dict(import_tflite(EDGETPU, "mobilenet_edgetpu_100"), strict=True)
    net.eval()
    assert _classify(net, "coffee")[0] == 967
    assert _classify(net, "chelsea")[0] in range(281, 286)


def test_mismatched_and_broken_files_are_one_line_errors(tmp_path, mobilenet_file):
    if EDGETPU.is_file():
        with pytest.raises(TFLiteImportError, match="does not match mobilenetv2_100") as e:
            import_tflite(EDGETPU, "mobilenetv2_100")
        assert "\n" not in str(e.value) and EDGETPU.name in str(e.value)
    with pytest.raises(TFLiteImportError, match="no TensorFlow Lite importer"):
        import_tflite(mobilenet_file, "resnet50")
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(os.urandom(4096))
    with pytest.raises(TFLiteImportError, match="not a TensorFlow Lite model"):
        tflite_summary(junk)
    with pytest.raises(BackboneError) as e:
        use_local_weights("mobilenetv2_100", junk)
    assert "junk.tflite" in str(e.value) and "\n" not in str(e.value)
    # a truncated real file: the identifier is there, the graph is not
    cut = tmp_path / "cut.tflite"
    cut.write_bytes(mobilenet_file.read_bytes()[:20000])
    with pytest.raises(BackboneError) as e:
        use_local_weights("mobilenetv2_100", cut)
    assert "cut.tflite" in str(e.value) and "\n" not in str(e.value)
    assert installed_backbone("mobilenetv2_100") is None  # nothing half-installed


def test_summary_counts_the_graph(mobilenet_file):
    s = tflite_summary(mobilenet_file)
    assert s["convolutions"] == 53 and s["classes"] == 1001  # 52 timm convolutions + the logits
    assert np.isclose(sum(s["operators"].values()), 66)
