"""Dynamics figures (Figs. 5-6) and the t-SNE helper (Fig. 7) on hand-built run folders and toy data."""

from __future__ import annotations

import json
import math

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from damer_lite.report import viz_dynamics as vd  # noqa: E402


def _write_run(root, target, epochs=4, steps_per_epoch=3, n_test=24, seed=0):
    d = root / "toyset" / target / "damer" / f"seed{seed}"
    d.mkdir(parents=True)
    eps = []
    for t in range(1, epochs + 1):
        rho = t / epochs
        eps.append({"epoch": t, "tau": 1.5 - 0.8 * rho, "theta": 0.65 - 0.3 * rho, "confidence": 0.6 + 0.05 * t,
                    "reliability": 0.99, "pl_strength": 0.6 + 0.05 * t, "mask_ratio": min(1.0, 0.5 + 0.2 * t),
                    "loss_total": 1.0, "queue_filled": 16, "queue_entropy": 0.69,
                    "queue_coverage": [0.55 - 0.01 * t, 0.45 + 0.01 * t],
                    "queue_centroid_dist": [0.7 - 0.05 * t, 0.72 - 0.05 * t]})
    steps = [0.60] * steps_per_epoch + [0.69, 0.68, 0.69] * (epochs - 1)
    (d / "history.json").write_text(json.dumps({"epochs": eps, "steps": {"queue_entropy": steps}}))
    (d / "config.json").write_text(json.dumps({"pcl": {"tau_max": 1.5, "tau_min": 0.7, "theta_values": "paper_sec5",
                                                       "theta_form": "linear", "progress": "eq9"}}))
    (d / "run.json").write_text(json.dumps({"dataset": "toyset", "target": target, "configuration": "damer",
                                            "seed": seed}))
    rng = np.random.default_rng(1)
    y = np.arange(n_test) % 2
    z0 = rng.normal(size=(n_test, 8)).astype(np.float32)
    zf = z0 + 4.0 * y[:, None].astype(np.float32)
    np.savez(d / "embeddings.npz", z_epoch0=z0, z_final=zf, labels=y, test_idx=np.arange(n_test))
    return d


@pytest.fixture()
def runs_dir(tmp_path):
    for target in ("arousal", "valence"):
        _write_run(tmp_path, target)
    return tmp_path


def test_load_dynamics_and_figures(runs_dir):
    dyn = vd.load_dynamics(runs_dir, "toyset", "damer", 0)
    assert set(dyn) == {"arousal", "valence"}
    ep = dyn["arousal"].epochs
    assert {"coverage_c0", "coverage_c1", "dist_c0", "dist_c1", "tau", "theta"} <= set(ep.columns)
    for f in (vd.fig5, vd.fig6):
        fig = f(dyn)
        assert isinstance(fig, matplotlib.figure.Figure) and len(fig.axes) == 3
        plt.close(fig)


def _line(ax, label):
    """The one line of `ax` with this legend label."""
    found = [ln for ln in ax.get_lines() if ln.get_label() == label]
    assert len(found) == 1, (label, [ln.get_label() for ln in ax.get_lines()])
    return found[0]


def _xy(line):
    return np.asarray(line.get_xdata(), dtype=float), np.asarray(line.get_ydata(), dtype=float)


def test_fig5_plots_the_logged_history(runs_dir):
    dyn = vd.load_dynamics(runs_dir, "toyset", "damer", 0)
    hist = {t: json.loads((runs_dir / "toyset" / t / "damer" / "seed0" / "history.json").read_text())["epochs"]
            for t in dyn}
    fig = vd.fig5(dyn)
    a, b, c = fig.axes
    for target, eps in hist.items():
        epochs = [e["epoch"] for e in eps]
        for ax, key, label in ((a, "confidence", "confidence c"), (a, "reliability", "reliability r"),
                               (b, "pl_strength", "PL strength"), (b, "mask_ratio", "mask ratio")):
            x, y = _xy(_line(ax, f"{target}: {label}"))
            np.testing.assert_array_equal(x, epochs)
            np.testing.assert_allclose(y, [e[key] for e in eps], rtol=0, atol=1e-12)
    first = hist["arousal"]  # the schedule panel is drawn from the first run
    np.testing.assert_allclose(_xy(_line(c, "τ_t (logged)"))[1], [e["tau"] for e in first], atol=1e-12)
    np.testing.assert_allclose(_xy(_line(c, "θ_t (logged, linear form)"))[1], [e["theta"] for e in first],
                               atol=1e-12)
    # the dotted alternative: Algorithm 1's θ form over the same epochs, max(θmin, θ0 (1 - t/T))
    alt_x, alt_y = _xy(_line(c, "θ_t if pcl.theta_form=alg1"))
    np.testing.assert_allclose(alt_y, [max(0.35, 0.65 * (1 - t / 4)) for t in alt_x], atol=1e-12)
    plt.close(fig)


def test_fig6_plots_the_queue_statistics(runs_dir):
    dyn = vd.load_dynamics(runs_dir, "toyset", "damer", 0)
    fig = vd.fig6(dyn)
    a, b, c = fig.axes
    for target in dyn:
        hist = json.loads((runs_dir / "toyset" / target / "damer" / "seed0" / "history.json").read_text())
        steps, eps = hist["steps"]["queue_entropy"], hist["epochs"]
        x, y = _xy(_line(a, target))
        np.testing.assert_array_equal(x, np.arange(1, len(steps) + 1))
        np.testing.assert_allclose(y, steps, atol=1e-12)
        for k in (0, 1):
            cov = [ln for ln in b.get_lines() if ln.get_label().startswith(f"{target}: class {k} ")]
            assert len(cov) == 1
            np.testing.assert_allclose(_xy(cov[0])[1], [e["queue_coverage"][k] for e in eps], atol=1e-12)
            np.testing.assert_allclose(_xy(_line(c, f"{target}: class {k}"))[1],
                                       [e["queue_centroid_dist"][k] for e in eps], atol=1e-12)
    plt.close(fig)


def test_missing_runs(tmp_path):
    assert vd.load_dynamics(tmp_path / "none", "toyset") == {}
    assert vd.load_embeddings_by_target(tmp_path / "none", "toyset") == {}
    with pytest.raises(ValueError):
        vd.fig5({})


def test_run_dir_found_outside_standard_layout(tmp_path):
    d = tmp_path / "elsewhere" / "x"
    d.mkdir(parents=True)
    (d / "run.json").write_text(json.dumps({"dataset": "toyset", "target": "arousal", "configuration": "damer",
                                            "seed": 3}))
    assert vd.run_dir_of(tmp_path, "toyset", "arousal", "damer", 3) == d
    assert vd.run_dir_of(tmp_path, "toyset", "arousal", "damer", 4) is None


def test_dynamics_summary(runs_dir):
    dyn = vd.load_dynamics(runs_dir, "toyset")
    s = vd.dynamics_summary(dyn, "toyset")
    assert list(s["source"]) == ["ours (measured, final epoch)"] * 2 + ["paper (quoted)"]
    ours = s.iloc[0]
    assert ours["epoch"] == 4 and ours["tau"] == pytest.approx(0.7) and ours["theta"] == pytest.approx(0.35)
    # the first epoch's steps (queue filling, 0.60) are left out of the step statistic
    assert ours["step_entropy_mean"] == pytest.approx((0.69 + 0.68 + 0.69) / 3)
    assert s.iloc[-1]["queue_entropy"] == pytest.approx(0.685)


def test_entropy_sd_of_one_step_is_undefined(runs_dir):
    d = vd.load_dynamics(runs_dir, "toyset")["arousal"]
    one = vd.Dynamics(d.run_dir, d.epochs.iloc[:1], np.array([0.66]), d.config)
    m, sd = vd.entropy_after_fill(one)
    assert m == pytest.approx(0.66) and math.isnan(sd)  # not 0: one step has no spread to measure


def test_saturation_epochs_by_hand():
    e = pd.DataFrame({"epoch": [1, 2, 3, 4, 5, 6],
                      "theta": [0.60, 0.55, 0.50, 0.45, 0.40, 0.35],
                      "reliability": [0.99, 0.99, 0.98, 0.98, 0.95, 0.95],  # r/2: .495 .495 .49 .49 .475 .475
                      "mask_ratio": [0.7, 1.0, 0.98, 1.0, 1.0, 1.0]})
    s = vd.saturation_epochs(e)
    assert s["first_epoch_theta_below_r_half"] == 4  # 0.45 < 0.49; 0.50 is not < 0.49
    assert s["theta_there"] == pytest.approx(0.45) and s["r_mean_there"] == pytest.approx(0.98)
    assert s["first_epoch_mask_1"] == 2 and s["mask_1_from_epoch"] == 4  # 1 at epoch 2, drops, 1 again from 4
    assert s["epochs"] == 6 and s["mask_last"] == 1.0
    never = vd.saturation_epochs(e.assign(theta=0.6, mask_ratio=0.9))
    assert math.isnan(never["first_epoch_theta_below_r_half"]) and math.isnan(never["first_epoch_mask_1"])
    assert math.isnan(never["mask_1_from_epoch"])
    dips = vd.saturation_epochs(e.assign(mask_ratio=[1.0, 1.0, 1.0, 1.0, 1.0, 0.99]))
    assert dips["first_epoch_mask_1"] == 1 and math.isnan(dips["mask_1_from_epoch"])  # not 1 at the end


def test_saturation_table_reads_every_seed(tmp_path):
    for seed in (0, 2):
        _write_run(tmp_path, "arousal", seed=seed)
    _write_run(tmp_path, "valence", seed=1)
    t = vd.saturation_table(tmp_path, "toyset")
    assert list(zip(t["target"], t["seed"], strict=True)) == [("arousal", 0), ("arousal", 2), ("valence", 1)]
    # toy runs: θ = 0.65 - 0.3 t/4 (0.575, 0.5, 0.425, 0.35), r = 0.99 (r/2 = 0.495); mask min(1, 0.5 + 0.2 t)
    assert (t["first_epoch_theta_below_r_half"] == 3).all() and (t["first_epoch_mask_1"] == 3).all()
    assert str(t["first_epoch_mask_1"].dtype) == "Int64" and t["mask_1_from_epoch"].tolist() == [3, 3, 3]
    assert vd.saturation_table(tmp_path, "toyset", configuration="pcl").empty


def test_schedule_variants():
    v = vd.schedule_variants({"pcl": {"theta_form": "linear", "progress": "eq9"}}, 80)
    assert v["tau"][-1] == pytest.approx(0.7) and v["tau_other_progress"][0] == pytest.approx(1.5)
    assert v["theta"][-1] == pytest.approx(0.35)
    # Alg. 1's max(θmin, θ0(1-ρ)) reaches its floor near ρ = 1 - 0.35/0.65 ≈ 0.46 and stays there
    assert v["theta_alg1"][40] == pytest.approx(0.35) and v["theta_linear"][40] > 0.45


def test_clip_perplexity():
    assert vd.clip_perplexity(30.0, 15) == pytest.approx(14 / 3)
    assert vd.clip_perplexity(30.0, 1000) == 30.0
    assert vd.clip_perplexity(30.0, 2) == 1.0


def test_separation_scores():
    y = np.array([0] * 10 + [1] * 10)
    x_sep = np.concatenate([np.zeros((10, 3)), np.full((10, 3), 5.0)]) + 0.01 * np.arange(20)[:, None]
    s = vd.separation(x_sep, y)
    assert s["knn_acc"] == 1.0 and s["silhouette"] > 0.9
    assert math.isnan(vd.separation(x_sep, np.zeros(20, dtype=int))["silhouette"])


def test_tsne_separation_higher_after_training(runs_dir):
    emb = vd.load_embeddings_by_target(runs_dir, "toyset")
    assert set(emb) == {"arousal", "valence"}
    t = vd.tsne_by_target(emb, perplexity=30.0, random_state=0)
    table = vd.separation_table(t, "toyset")
    assert len(table) == 4
    for target in t:
        before, after = t[target]["epoch 0"], t[target]["trained"]
        assert after["perplexity"] < after["n"]
        assert after["silhouette_features"] > before["silhouette_features"] + 0.3
        assert after["knn_acc_features"] > before["knn_acc_features"]
        assert after["silhouette_tsne"] > before["silhouette_tsne"]
    fig = vd.tsne_figure(t)
    assert len(fig.axes) == 4
    for i, stages in enumerate(t.values()):  # rows = targets, columns = epoch 0 | trained
        for j, r in enumerate(stages.values()):
            ax = fig.axes[2 * i + j]
            assert len(ax.collections) == 2  # one scatter per class, with the t-SNE coordinates of that class
            for cls, coll in enumerate(ax.collections):
                np.testing.assert_array_equal(np.asarray(coll.get_offsets()), r["xy"][r["labels"] == cls])
    plt.close(fig)


def test_results_index_describes_the_saturation_table():
    from damer_lite.report.results_index import describe

    what, nb = describe("pcl_saturation_synthmemo")
    assert nb == "06_dynamics" and "r̄/2" in what
    assert describe("pcl_selection")[1] == "05_ablation"
