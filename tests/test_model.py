"""Deep Koalarization network: shapes, ranges, frozen feature extractor, registry."""

import pytest
import torch

from conftest import TINY_CONFIG
from mangacolor.core.models import available_models, build_model


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return build_model(TINY_CONFIG)


@pytest.mark.parametrize("hw", [(64, 64), (96, 40), (128, 72)])
def test_output_shape_and_range(tiny, hw):
    L = torch.rand(2, 1, *hw) * 100
    ab = tiny(L)
    assert ab.shape == (2, 2, *hw)
    assert ab.dtype == torch.float32
    assert ab.abs().max() <= 127.0 + 1e-4


def test_sizes_not_multiple_of_8_are_refused_by_the_network(tiny):
    with pytest.raises(ValueError, match="divisible by 8"):
        tiny(torch.rand(1, 1, 60, 64) * 100)


def test_feature_extractor_stays_frozen_and_in_eval_mode(tiny):
    tiny.train()
    assert tiny.training
    assert not tiny.extractor.training
    assert all(not m.training for m in tiny.extractor.modules())
    assert all(not p.requires_grad for p in tiny.extractor.parameters())
    # one training step changes the encoder but not the extractor (no BatchNorm drift either)
    before = {k: v.clone() for k, v in tiny.extractor.state_dict().items()}
    enc_before = tiny.encoder[0][0].weight.clone()
    opt = torch.optim.SGD([p for p in tiny.parameters() if p.requires_grad], lr=0.1)
    loss = tiny(torch.rand(2, 1, 64, 64) * 100).pow(2).mean()
    loss.backward()
    opt.step()
    tiny.eval()
    assert all(torch.equal(before[k], v) for k, v in tiny.extractor.state_dict().items())
    assert not torch.equal(enc_before, tiny.encoder[0][0].weight)


def test_embedding_logits_vs_prelogits():
    logits = build_model({**TINY_CONFIG, "embedding": "logits"})
    pre = build_model(TINY_CONFIG)
    L = torch.rand(1, 1, 64, 64) * 100
    assert logits.embed(L).shape == (1, logits.extractor.num_classes)
    assert pre.embed(L).shape == (1, pre.extractor.num_features)
    assert logits.embedding_dim != pre.embedding_dim


def test_global_embedding_is_fused_at_every_cell():
    """The page embedding changes the prediction everywhere (tiling + 1x1 fusion)."""
    torch.manual_seed(0)
    tiny = build_model(TINY_CONFIG).eval()
    L = torch.rand(1, 1, 64, 64) * 100
    e = tiny.embed(L)
    with torch.no_grad():
        a = tiny(L, embedding=e)
        b = tiny(L, embedding=e + 5.0)
    diff = (a - b).abs().sum(1)[0]
    assert (diff > 0).float().mean() > 0.9


def test_paper_layer_layout():
    """Encoder/decoder channel counts of DESIGN 3.1 at width 1 (extractor kept tiny)."""
    m = build_model({**TINY_CONFIG, "width": 1.0})
    convs = [l for l in m.encoder.modules() if isinstance(l, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 128, 128, 256, 256, 512, 512, 256]
    assert [c.stride[0] for c in convs] == [2, 1, 2, 1, 2, 1, 1, 1]
    dec = [l for l in m.decoder.modules() if isinstance(l, torch.nn.Conv2d)]
    assert [c.out_channels for c in dec] == [128, 64, 64, 32, 2]
    assert m.fusion[0].kernel_size == (1, 1) and m.fusion[0].out_channels == 256
    assert m.fusion[0].in_channels == 256 + m.embedding_dim


def test_registry_builds_by_name_and_rejects_unknown():
    assert "koalarization" in available_models()
    m = build_model(TINY_CONFIG)
    assert m.config["name"] == "koalarization" and m.config["extractor"] == "test_efficientnet"
    with pytest.raises(KeyError, match="unknown model architecture"):
        build_model({"name": "no-such-net"})


def test_any_timm_name_works_as_extractor():
    m = build_model({**TINY_CONFIG, "extractor": "test_resnet"})
    assert m(torch.rand(1, 1, 32, 32) * 100).shape == (1, 2, 32, 32)


# ------------------------------------------------------------------ Koalarization on the feature pyramid
UNET_CONFIG = {"name": "koalarization_unet", "extractor": "test_efficientnet", "extractor_size": 64,
               "bottleneck": 16, "decoder_channels": [16, 12, 8]}


@pytest.mark.parametrize("head", ["classification", "regression"])
def test_unet_shapes_ranges_and_frozen_pyramid(head):
    torch.manual_seed(0)
    m = build_model({**UNET_CONFIG, "head": head})
    L = torch.rand(2, 1, 64, 96) * 100
    f4, f8, f16, f32 = m.pyramid(L)
    assert [f.shape[-2:] for f in (f4, f8, f16, f32)] == [(16, 24), (8, 12), (4, 6), (2, 3)]
    m.train()
    assert not m.extractor.training and all(not p.requires_grad for p in m.extractor.parameters())
    ab = m(L)
    assert ab.shape == (2, 2, 64, 96) and ab.dtype == torch.float32 and ab.abs().max() <= 127.0
    if head == "classification":
        assert m.ab_logits(L).shape == (2, 313, 16, 24)
    # a training step moves the decoder and leaves the extractor (and its BatchNorm statistics) alone
    before = {k: v.clone() for k, v in m.extractor.state_dict().items()}
    dec = m.up4[0].weight.clone()
    opt = torch.optim.SGD([p for p in m.parameters() if p.requires_grad], lr=0.1)
    m(L).pow(2).mean().backward()
    opt.step()
    assert all(torch.equal(before[k], v) for k, v in m.extractor.state_dict().items())
    assert not torch.equal(dec, m.up4[0].weight)
    with pytest.raises(ValueError, match="divisible by 32"):
        m(torch.rand(1, 1, 64, 72) * 100)


def test_unet_skip_connections_and_global_fusion_reach_the_output():
    torch.manual_seed(0)
    m = build_model(UNET_CONFIG).eval()
    L = torch.rand(1, 1, 64, 64) * 100
    e = m.embed(L)
    with torch.no_grad():
        a, b = m(L, e), m(L, e + 5.0)
        L2 = L.clone()
        L2[..., :8, :8] = 0.0  # a local change of the page changes the colors near it most
        c = m(L2, e)
    assert ((a - b).abs().sum(1) > 0).float().mean() > 0.9
    near = (a - c).abs()[..., :16, :16].mean()
    far = (a - c).abs()[..., 48:, 48:].mean()
    assert near > far


def test_unet_decoding_time_rebalancing_favours_rare_colors():
    """Zhang et al.'s rebalancing weights applied at decoding: lambda < 1 moves output to rare (saturated) bins."""
    from mangacolor.core.training import zhang

    torch.manual_seed(0)
    m = build_model(UNET_CONFIG).eval()
    bins = zhang.ab_bins_t()
    chroma = bins.norm(dim=1)
    prior = torch.exp(-chroma / 10.0)  # gray bins common, saturated rare: a typical training prior
    m.ab_prior.copy_(prior / prior.sum())
    # a posterior of "gray or blue": the prior, restricted to neutral and blue (b* < 0) bins
    blue_side = (bins[:, 1] <= 0) & (bins[:, 0].abs() <= 20)
    logits = torch.where(blue_side, torch.log(m.ab_prior), torch.tensor(-30.0))[None, :, None, None]
    logits = logits.expand(1, 313, 4, 4).clone()
    plain = m.decode_logits(logits, (4, 4))[:, 1].mean()  # b*
    m.decode_rebalance = 0.5
    rebalanced = m.decode_logits(logits, (4, 4))[:, 1].mean()
    assert plain < 0 and rebalanced < plain - 5.0  # bluer, not just another hue


def test_unet_decoding_gain_scales_chroma_and_keeps_hue():
    torch.manual_seed(0)
    m = build_model(UNET_CONFIG).eval()
    logits = torch.randn(1, 313, 4, 4) * 3.0
    plain = m.decode_logits(logits, (4, 4))
    m.decode_gain = 1.1
    gained = m.decode_logits(logits, (4, 4))
    assert torch.allclose(gained, plain * 1.1, atol=1e-4)  # same hue, 10 % more chroma
    far = torch.full((1, 313, 4, 4), -30.0)
    far[:, 312] = 30.0  # all mass on the last bin (a* 100, b* 0)
    m.decode_gain = 1.5
    assert m.decode_logits(far, (4, 4)).max() <= 127.0 + 1e-4
    with pytest.raises(ValueError, match="decode_gain"):
        build_model({**UNET_CONFIG, "decode_gain": 0.0})


def test_unet_refuses_an_unfrozen_extractor():
    with pytest.raises(ValueError, match="frozen"):
        build_model({**UNET_CONFIG, "freeze_extractor": False})


def test_with_hints_starts_as_the_hint_free_model_and_learns_from_hints():
    from mangacolor.core.models.koalarization_unet import with_hints

    torch.manual_seed(0)
    base = build_model({**UNET_CONFIG, "head": "regression"}).eval()
    hinted = with_hints(base).eval()
    assert hinted.takes_hints and hinted.config["hints"] is True
    L = torch.rand(2, 1, 64, 64) * 100
    maps = torch.zeros(2, 3, 64, 64)
    maps[:, 0, 20:30, 20:30], maps[:, 2, 20:30, 20:30] = 0.6, 1.0
    with torch.no_grad():
        assert torch.equal(base(L), hinted(L))
        assert torch.equal(base(L), hinted(L, hints=maps, global_hint=torch.rand(2, 314)))  # zero-initialized inputs
    with pytest.raises(ValueError, match="takes no hints"):
        base(L, hints=maps)
    # a few steps with two opposite hints on the same page: the prediction follows the hint
    hinted.train()
    opt = torch.optim.Adam([p for p in hinted.parameters() if p.requires_grad], lr=3e-3)
    red, green = maps.clone(), maps.clone()
    green[:, 0] = -maps[:, 0]
    for _ in range(12):
        loss = sum((hinted(L, hints=m)[:, 0, 20:30, 20:30] - m[0, 0, 25, 25] * 110).abs().mean() for m in (red, green))
        opt.zero_grad()
        loss.backward()
        opt.step()
    hinted.eval()
    with torch.no_grad():
        a_red = hinted(L, hints=red)[:, 0, 20:30, 20:30].mean()
        a_green = hinted(L, hints=green)[:, 0, 20:30, 20:30].mean()
    assert a_red > a_green + 10.0
