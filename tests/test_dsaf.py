import pytest
import torch

from damer_lite.config import apply_overrides, profile
from damer_lite.model import DAMER, DSAF, count_parameters


def _x(b=3, t=11):
    return torch.randn(b, 128, t), torch.randn(b, 84, t)


def test_dsaf_shapes_and_attention_maps():
    enc = DSAF(n_mel=128, d_mel=11, n_coch=84, d_coch=11, d=32, d_fuse=48, heads=4, layers=2)
    mel, coch = _x()
    out = enc(mel, coch, return_attention=True)
    assert out["z_mel"].shape == (3, 32) and out["z_coch"].shape == (3, 32) and out["z_fuse"].shape == (3, 48)
    assert len(out["attn_mel"]) == 2
    assert out["attn_mel"][0].shape == (3, 128, 84)  # Mel queries over cochleagram keys (Eq. 3)
    assert out["attn_coch"][1].shape == (3, 84, 128)  # Eq. 4
    torch.testing.assert_close(out["attn_mel"][0].sum(-1), torch.ones(3, 128))
    # the fast path (SDPA) and the explicit path agree
    enc.eval()
    a = enc(mel, coch)["z_fuse"]
    b = enc(mel, coch, return_attention=True)["z_fuse"]
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("axis", ["freq", "time"])
def test_damer_forward_both_token_axes(axis):
    cfg = apply_overrides(profile("smoke"), [f"model.token_axis={axis}"])
    model = DAMER(cfg, 128, 84, 11)
    out = model(*_x())
    for h in ("mel", "coch", "fuse"):
        assert out[f"logits_{h}"].shape == (3, 2)
    assert out["z_fuse"].shape == (3, cfg.model.d_fuse)
    out["logits_fuse"].sum().backward()


def test_without_dsaf_is_self_attention_with_same_parameter_count():
    cfg = profile("smoke")
    full = DAMER(cfg, 128, 84, 11)
    off = DAMER(apply_overrides(cfg, ["modules.dsaf=false"]), 128, 84, 11)
    assert count_parameters(full) == count_parameters(off)
    out = off(*_x(), return_attention=True)
    assert out["attn_mel"][0].shape == (3, 128, 128)  # Mel attends to itself
    # paper-size model: count within the expected range (~1M parameters at T=87)
    assert 5e5 < count_parameters(DAMER(profile("paper"))) < 2e6


def test_bad_input_shape_is_a_clear_error():
    model = DAMER(profile("smoke"), 128, 84, 11)
    with pytest.raises(ValueError, match="coch must be"):
        model(torch.randn(2, 128, 11), torch.randn(2, 80, 11))
