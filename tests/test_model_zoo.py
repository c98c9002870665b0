"""The model zoo: every architecture builds by name, colorizes real pages of odd sizes through the
pipeline, round-trips through a checkpoint, and learns (one step lowers the loss on real images).

Tiny widths and extractor sizes keep this fast; the ImageNet extractors are built with random
weights (no network access)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import REPO
from mangacolor.core.checkpoint import load_checkpoint, save_checkpoint
from mangacolor.core.imageio import read_page
from mangacolor.core.models import available_models, build_model
from mangacolor.core.pipeline import Colorizer
from mangacolor.core.training.data import group_key

#: One tiny configuration per architecture (and per head / extractor kind).
TINY = {
    "koalarization": {"name": "koalarization", "extractor": "test_efficientnet", "embedding": "logits",
                      "extractor_size": 64, "width": 0.125},
    "zhang-koalarization": {"name": "koalarization", "extractor": "test_efficientnet", "embedding": "prelogits",
                            "extractor_size": 64, "width": 0.125, "head": "classification"},
    "koalarization-autoencoder": {"name": "koalarization", "extractor": "conv_autoencoder", "embedding": "prelogits",
                                  "extractor_size": 32, "width": 0.125, "extractor_kwargs": {"width": 0.25, "dim": 32}},
    "iizuka": {"name": "iizuka", "width": 0.125, "global_size": 64},
    "iizuka-deconv-classes": {"name": "iizuka", "width": 0.125, "global_size": 32, "upsample": "deconv",
                              "num_classes": 5},
    "vanilla-cnn": {"name": "vanilla_cnn", "width": 0.125},
    "koalarization-unet": {"name": "koalarization_unet", "extractor": "test_efficientnet", "extractor_size": 64,
                           "bottleneck": 16, "decoder_channels": [16, 12, 8]},
    "koalarization-unet-regression": {"name": "koalarization_unet", "extractor": "test_efficientnet",
                                      "extractor_size": 64, "bottleneck": 16, "decoder_channels": [16, 12, 8],
                                      "head": "regression"},
}


def test_every_registered_architecture_is_covered():
    assert set(available_models()) == {c["name"] for c in TINY.values()}
    assert {"koalarization", "koalarization_unet", "iizuka", "vanilla_cnn"} <= set(available_models())


@pytest.fixture(scope="module")
def bw_page_crop(bw_pages):
    """A real Black Jack page, shrunk and cropped to an odd size (203 x 157 px)."""
    import cv2

    g = read_page(bw_pages[0]).gray
    g = cv2.resize(g, (283, 400), interpolation=cv2.INTER_AREA)[60:263, 50:207]
    assert g.shape == (203, 157)
    return g


@pytest.fixture(scope="module")
def real_batch(color_pages):
    """4 real (manga-look L*, a*b*) 64 px crops of Pepper&Carrot pages."""
    import cv2

    from mangacolor.core.training.data import ColorCropDataset

    imgs = []
    for p in color_pages[:4]:
        rgb = read_page(p).rgb
        s = 160 / min(rgb.shape[:2])
        imgs.append(cv2.resize(rgb, (round(rgb.shape[1] * s), round(rgb.shape[0] * s)), interpolation=cv2.INTER_AREA))
    ds = ColorCropDataset(imgs, size=64, scale=(72, 128), manga=1.0, train=True, seed=3)
    items = [ds[i] for i in range(4)]
    L = torch.stack([it[0] for it in items])
    ab = torch.stack([it[1] for it in items])
    assert float(ab.abs().mean()) > 1.0  # real color, not gray
    return L, ab


def _build(name):
    torch.manual_seed(0)
    return build_model(TINY[name])


@pytest.mark.parametrize("name", list(TINY))
def test_colorizes_odd_page_sizes_and_round_trips(name, bw_page_crop, tmp_path):
    from mangacolor.core.color import gray_to_lightness

    model = _build(name)
    # 8, or 32 for a network whose encoder is a pretrained feature pyramid (strides 4-32)
    assert model.stride in (8, 32) and model.config["name"] == TINY[name]["name"]
    col = Colorizer(model, {}, device="cpu", render_size=101)  # not a multiple of the stride: the pipeline pads
    L = gray_to_lightness(bw_page_crop)
    ab, used, _ = col.predict_ab(L)
    assert ab.shape == (203, 157, 2) and ab.dtype == np.float32
    assert np.isfinite(ab).all() and np.abs(ab).max() <= 127.0 + 1e-3
    # odd sizes straight into the network are refused with a clear error
    with pytest.raises(ValueError, match=f"divisible by {model.stride}"):
        model.eval()(torch.zeros(1, 1, 30, 41))
    path = save_checkpoint(model, tmp_path / name, {"render_size": 101})
    model2, card = load_checkpoint(path)
    assert card["architecture"] == model.config
    ab2, _, _ = Colorizer(model2, card, device="cpu").predict_ab(L)
    np.testing.assert_allclose(ab2, ab, atol=1e-4)


def _loss(model, name, L, ab):
    from mangacolor.core.training.trainer import compute_loss

    if getattr(model, "head", None) == "classification":
        return compute_loss("classification", model.ab_logits(L), ab)
    return compute_loss("mse", model(L), ab)


@pytest.mark.parametrize("name", list(TINY))
def test_one_training_step_lowers_the_loss_on_real_images(name, real_batch):
    L, ab = real_batch
    model = _build(name).train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=1e-3)
    before = _loss(model, name, L, ab)
    opt.zero_grad()
    before.backward()
    grads = [p.grad for p in params if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    opt.step()
    with torch.no_grad():
        after = _loss(model, name, L, ab)
    assert after.item() < before.item(), f"{name}: loss {before.item():.5f} -> {after.item():.5f}"


def test_the_report_extractors_are_timm_names():
    import timm

    for name in ("inception_resnet_v2", "inception_v3", "mobilenetv2_100", "resnet101"):
        assert timm.is_model(name), name


@pytest.mark.parametrize("extractor", ["inception_resnet_v2", "mobilenetv2_100"])
def test_koalarization_builds_around_imagenet_extractors(extractor):
    """The paper's extractor and the small one (inception_v3 and resnet101 build the same way;
    the experiment runner trains all four)."""
    torch.manual_seed(0)
    m = build_model({"name": "koalarization", "extractor": extractor, "extractor_size": 80, "width": 0.0625})
    assert m.embedding_dim == 1000  # the paper's logits
    assert not any(p.requires_grad for p in m.extractor.parameters())  # frozen, as in the paper
    m.train()
    assert not m.extractor.training  # a frozen extractor stays in eval mode (no BatchNorm drift)
    with torch.no_grad():
        ab = m.eval()(torch.rand(1, 1, 48, 40) * 100)
    assert ab.shape == (1, 2, 48, 40) and torch.isfinite(ab).all()


def test_iizuka_classification_head_only_when_asked():
    torch.manual_seed(0)
    with_head = build_model(TINY["iizuka-deconv-classes"]).eval()
    L = torch.rand(2, 1, 40, 48) * 100
    ab, logits = with_head.forward_with_classes(L)
    assert ab.shape == (2, 2, 40, 48) and logits.shape == (2, 5)
    torch.testing.assert_close(with_head.classify(L), logits)
    without = build_model(TINY["iizuka"]).eval()
    assert without.forward_with_classes(L)[1] is None
    with pytest.raises(ValueError, match="no classification head"):
        without.classify(L)
    with pytest.raises(ValueError, match="multiple of 32"):
        build_model({"name": "iizuka", "global_size": 100})


def test_autoencoder_learns_and_becomes_a_frozen_extractor(shared_data, tmp_path):
    """Train the denoising autoencoder a little on real color art; its encoder file builds a
    Koalarization whose frozen extractor holds exactly those weights, and checkpoints of that model
    load without the file."""
    from safetensors.torch import load_file

    from mangacolor.core.models.autoencoder import AutoencoderError, read_encoder_info
    from mangacolor.core.training.autoencoder import train_autoencoder

    data = [shared_data / "color" / "godot-vn", shared_data / "color" / "openmantra"]
    s = train_autoencoder(data, tmp_path / "enc", steps=25, batch_size=8, size=32, lr=3e-3, width=0.25, dim=32,
                          threads=2)
    assert s["train_images"] >= 5 and s["validation_images"] >= 1
    assert s["val_mse_after"] < s["val_mse_before"]
    info = read_encoder_info(s["path"])
    assert info["width"] == 0.25 and info["dim"] == 32 and info["size"] == 32
    assert s["extractor"] == "conv_autoencoder_w0p25_d32"  # the name carries the architecture
    with pytest.raises(RuntimeError, match="conv_autoencoder_w0p25_d32"):  # a name that does not fit the file
        build_model({"name": "koalarization", "extractor": "conv_autoencoder", "extractor_weights": s["path"]})
    # the trainer's way: --backbone NAME --backbone-weights FILE (the file is not needed afterwards)
    from mangacolor.core.training.config import TrainConfig
    from mangacolor.core.training.trainer import build_training_model

    m, _, _ = build_training_model(TrainConfig(data=["unused"], backbone=s["extractor"], backbone_weights=s["path"],
                                               embedding="prelogits", extractor_size=32, width=0.125))
    saved = load_file(s["path"])
    for k, v in m.extractor.state_dict().items():
        torch.testing.assert_close(v, saved[k])
    assert m.embedding_dim == 32 and "extractor_weights" not in m.config
    ck = save_checkpoint(m, tmp_path / "koal_ae", {})
    (tmp_path / "enc.safetensors").unlink()
    m2, _ = load_checkpoint(ck)
    for k, v in m.state_dict().items():
        torch.testing.assert_close(m2.state_dict()[k], v)
    with pytest.raises(AutoencoderError, match="not found"):
        read_encoder_info(tmp_path / "enc.safetensors")
    with pytest.raises(RuntimeError, match="train-autoencoder"):
        build_model({"name": "koalarization", "extractor": "conv_autoencoder", "pretrained": True})


def test_the_gpu_recipe_validates_on_images_the_evaluation_never_sees():
    """The trainer picks its best checkpoint on its own validation folder; the decoding rule and
    the zoo measure the split's validation files: the two must not share an image or a group."""
    spec = importlib.util.spec_from_file_location("gpu_check", REPO / "benchmarks" / "gpu_check.py")
    gpu_check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gpu_check)
    split = json.loads((REPO / "resources" / "starter_split.json").read_text())
    train, val = gpu_check.carried_files(split)
    assert 0.5 * gpu_check.VAL_IMAGES <= len(val) <= 1.5 * gpu_check.VAL_IMAGES
    assert not set(val) & set(split["validation_files"])
    assert set(train) | set(val) <= set(split["train_files"]) and not set(train) & set(val)
    assert not {group_key(Path(r)) for r in train} & {group_key(Path(r)) for r in val}
    assert len({r.split("/")[0] for r in val}) >= 2  # more than one source validates
    faces = [r for r in train + val if r.startswith("faces256/")]
    assert len(faces) == gpu_check.TRAIN_MAX_PER_FOLDER["faces256"]
