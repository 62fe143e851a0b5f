import math

import pytest
import torch

from damer_lite.model.pcl import (
    js_divergence,
    pcl_stats,
    pcl_step,
    progress,
    pseudo_label_loss,
    tau_schedule,
    theta_above_floor,
    theta_schedule,
)


def _probs(n=64, c=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.softmax(3 * torch.randn(n, c, generator=g), -1)


def test_js_properties():
    p, q = _probs(seed=0), _probs(seed=1)
    torch.testing.assert_close(js_divergence(p, q), js_divergence(q, p))
    assert js_divergence(p, p).abs().max() < 1e-6
    assert (js_divergence(p, q) <= math.log(2) + 1e-7).all() and (js_divergence(p, q) >= 0).all()
    one_hot = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    assert abs(float(js_divergence(*one_hot)) - math.log(2)) < 1e-4  # the bound is reached


def test_reliability_and_confidence_bounds():
    lm, lc = 5 * torch.randn(200, 2), 5 * torch.randn(200, 2)
    out = pcl_step(lm, lc, torch.randn(200, 2), tau=0.7, theta=0.5)
    assert (out.reliability >= 0.5 - 1e-6).all() and (out.reliability <= 1.0).all()  # [e^-ln2, 1], Eq. 13
    assert (out.confidence <= 1.0).all() and (out.confidence >= 0.25 - 1e-6).all()
    assert torch.equal(out.mask, out.confidence >= 0.5)
    torch.testing.assert_close(out.p_fuse.sum(-1), torch.ones(200))


def test_p_fuse_modes():
    lm, lc, lf = torch.randn(8, 2), torch.randn(8, 2), torch.randn(8, 2)
    mean = pcl_step(lm, lc, lf, 1.0, 0.5, "mean").p_fuse
    torch.testing.assert_close(mean, 0.5 * (lm.softmax(-1) + lc.softmax(-1)))  # Eq. 14
    head = pcl_step(lm, lc, lf, 1.0, 0.5, "head").p_fuse
    torch.testing.assert_close(head, lf.softmax(-1))  # Algorithm 1 l. 14
    with pytest.raises(ValueError):
        pcl_step(lm, lc, lf, 1.0, 0.5, "max")


# Hand-computed schedules at the epochs a T = 4 run actually runs (t = 1..4):
#   'eq9'  ρ = t/T     = 0.25, 0.50, 0.75, 1.00
#   'alg1' ρ = (t-1)/T = 0.00, 0.25, 0.50, 0.75   (never reaches 1: the last epoch is not at τ_min / θ_min)
# τ = 1.5 - 0.8ρ; θ 'linear' = θ0 - (θ0 - θmin)ρ; θ 'alg1' = max(θmin, θ0(1 - ρ)).
SCHEDULES = {
    # (progress, theta form, (θ0, θmin)): (τ_1..τ_4, θ_1..θ_4)
    ("eq9", "linear", (0.65, 0.35)): ([1.3, 1.1, 0.9, 0.7], [0.575, 0.5, 0.425, 0.35]),
    ("eq9", "alg1", (0.65, 0.35)): ([1.3, 1.1, 0.9, 0.7], [0.4875, 0.35, 0.35, 0.35]),  # 0.65·0.75, then floor
    ("alg1", "linear", (0.65, 0.35)): ([1.5, 1.3, 1.1, 0.9], [0.65, 0.575, 0.5, 0.425]),
    ("alg1", "alg1", (0.65, 0.35)): ([1.5, 1.3, 1.1, 0.9], [0.65, 0.4875, 0.35, 0.35]),
    ("eq9", "linear", (0.9, 0.7)): ([1.3, 1.1, 0.9, 0.7], [0.85, 0.8, 0.75, 0.7]),
    ("eq9", "alg1", (0.9, 0.7)): ([1.3, 1.1, 0.9, 0.7], [0.7, 0.7, 0.7, 0.7]),  # 0.9·0.75 = 0.675 < 0.7
    ("alg1", "linear", (0.9, 0.7)): ([1.5, 1.3, 1.1, 0.9], [0.9, 0.85, 0.8, 0.75]),
    ("alg1", "alg1", (0.9, 0.7)): ([1.5, 1.3, 1.1, 0.9], [0.9, 0.7, 0.7, 0.7]),
}


@pytest.mark.parametrize("key", list(SCHEDULES), ids=lambda k: f"{k[0]}-{k[1]}-{k[2][0]}")
def test_schedules_at_the_epochs_that_run(key):
    mode, form, (theta0, theta_min) = key
    taus, thetas = SCHEDULES[key]
    T = 4
    got_tau = [tau_schedule(progress(t, T, mode)) for t in range(1, T + 1)]
    got_theta = [theta_schedule(progress(t, T, mode), theta0, theta_min, form) for t in range(1, T + 1)]
    assert got_tau == pytest.approx(taus, abs=1e-12)
    assert got_theta == pytest.approx(thetas, abs=1e-12)


def test_schedule_last_epoch_of_a_long_run():
    T = 80  # the paper's epochs: with 'alg1' progress the last epoch that runs is t = T, ρ = 79/80
    assert tau_schedule(progress(T, T, "eq9")) == pytest.approx(0.7)
    assert theta_schedule(progress(T, T, "eq9")) == pytest.approx(0.35)
    assert tau_schedule(progress(T, T, "alg1")) == pytest.approx(1.5 - 0.8 * 79 / 80)  # 0.71, not 0.7
    assert theta_schedule(progress(T, T, "alg1")) == pytest.approx(0.65 - 0.3 * 79 / 80)  # 0.35375
    assert theta_schedule(progress(T, T, "alg1"), 0.9, 0.7) == pytest.approx(0.9 - 0.2 * 79 / 80)  # 0.7025
    assert tau_schedule(progress(1, T, "alg1")) == pytest.approx(1.5)
    assert tau_schedule(progress(1, T, "eq9")) == pytest.approx(1.5 - 0.8 / 80)
    for mode in ("eq9", "alg1"):
        taus = [tau_schedule(progress(t, T, mode)) for t in range(1, T + 1)]
        assert all(a > b for a, b in zip(taus, taus[1:], strict=False))
    with pytest.raises(ValueError):
        progress(1, T, "other")
    with pytest.raises(ValueError):
        theta_schedule(0.5, form="other")


def test_pseudo_label_loss():
    lm = torch.tensor([[4.0, 0.0], [0.0, 4.0], [0.1, 0.0]])
    lf = torch.zeros(3, 2, requires_grad=True)
    out = pcl_step(lm, lm.clone(), lf, tau=1.0, theta=0.9)
    assert out.mask.tolist() == [True, True, False]  # identical views: r = 1, c = max prob
    loss = pseudo_label_loss(lf, out)
    assert float(loss.detach()) == pytest.approx(math.log(2), rel=1e-4)  # CE of uniform logits, weight r = 1
    loss.backward()
    none = pcl_step(lm, lm, lf, tau=1.0, theta=1.1)
    assert float(pseudo_label_loss(lf, none).detach()) == 0.0
    s = {k: float(v) for k, v in pcl_stats(out).items()}
    assert s["mask_ratio"] == pytest.approx(2 / 3) and s["reliability"] == pytest.approx(1.0)
    assert math.isnan(pcl_stats(none)["pl_strength"])


def test_binary_confidence_floor_and_the_above_floor_schedule():
    """c = r max p >= r/C: in the binary task every sample passes any θ below r/2 (all of them once θ_t < 0.5
    when the views agree); `theta_above_floor` (ours) maps θ onto [1/C, 1] so that selection depends on c."""
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(256, 2, generator=g) * 0.5  # mostly unconfident predictions
    out = pcl_step(logits, logits.clone(), logits, tau=1.0, theta=0.49)  # identical views: r = 1
    assert torch.all(out.reliability == 1.0) and torch.all(out.confidence >= 0.5)
    assert bool(out.mask.all())  # θ below the floor selects everything, by construction
    lifted = theta_above_floor(0.35, 2)
    assert lifted == pytest.approx(0.675) and theta_above_floor(0.65, 2) == pytest.approx(0.825)
    assert theta_above_floor(0.2, 4) == pytest.approx(0.25 + 0.75 * 0.2)
    sel = pcl_step(logits, logits.clone(), logits, tau=1.0, theta=lifted).mask
    assert 0 < float(sel.float().mean()) < 0.5  # now only the confident ones
    with pytest.raises(ValueError):
        theta_above_floor(0.5, 1)


def test_above_floor_flag_moves_the_schedule_in_a_run():
    import numpy as np

    from damer_lite.config import apply_overrides, profile
    from damer_lite.training.loop import train_run

    rng = np.random.default_rng(0)
    y = np.array([0, 1] * 12)
    mel, coch = rng.normal(size=(24, 128, 6)), rng.normal(size=(24, 84, 6))
    split = {"train": np.arange(16), "test": np.arange(16, 24)}
    base = ["train.epochs=2", "model.d=16", "model.d_fuse=16", "saml.queue_size=16", "modules.saml=false"]
    paper = train_run(mel, coch, y, split, apply_overrides(profile("smoke"), base), seed=0)
    ours = train_run(mel, coch, y, split, apply_overrides(profile("smoke"), [*base, "pcl.theta_range=above_floor"]),
                     seed=0)
    for a, b in zip(paper["history"]["epochs"], ours["history"]["epochs"], strict=True):
        assert b["theta"] == pytest.approx(0.5 + 0.5 * a["theta"])
