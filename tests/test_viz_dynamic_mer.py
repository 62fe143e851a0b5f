"""Dynamic-MER report helpers (notebook 09): lag estimation on curves with a known shift, the CCC-vs-RMSE
worked example against hand computations, the results-table formatter, the recomputation check, the quoted
block, and the figures on tiny inputs."""

from __future__ import annotations

import math

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from damer_lite.datasets import annotation  # noqa: E402
from damer_lite.datasets.dynamic import DynamicLabels  # noqa: E402
from damer_lite.experiments import dynamic as dyn_exp  # noqa: E402
from damer_lite.report import literature, tables  # noqa: E402
from damer_lite.report import viz_dynamic_mer as vdm  # noqa: E402


def _smooth_noise(n, seed, width=3):
    x = np.random.default_rng(seed).normal(size=n + 2 * width)
    return np.convolve(x, np.ones(width) / width, mode="same")[width:-width]


# ------------------------------------------------------------------------------------------------ lag
@pytest.mark.parametrize("shift", [-2, 0, 1, 3])
def test_lagged_correlation_peaks_at_a_known_integer_shift(shift):
    ref = _smooth_noise(60, 1)
    resp = np.roll(ref, shift)  # resp[t + shift] = ref[t]
    r = vdm.lagged_correlation(ref, resp, max_lag=5, skip=5)
    assert r.shape == (11,)
    assert int(np.nanargmax(r)) - 5 == shift
    assert r[5 + shift] == pytest.approx(1.0)
    assert vdm.peak_lag(r, step_s=0.5) == pytest.approx(0.5 * shift, abs=0.05)  # the parabola moves it little


def test_peak_lag_refines_a_fractional_shift():
    t = np.arange(80, dtype=float)
    ref = np.sin(2 * np.pi * t / 16)
    resp = np.sin(2 * np.pi * (t - 1.4) / 16)  # 1.4 steps late
    lag = vdm.peak_lag(vdm.lagged_correlation(ref, resp, max_lag=4), step_s=1.0)
    assert lag == pytest.approx(1.4, abs=0.1)
    assert abs(lag - 1.0) > 0.2  # better than the integer grid


def test_lagged_correlation_rows_and_nan_handling():
    ref = _smooth_noise(30, 2)
    resp = np.vstack([np.roll(ref, 2), np.full(30, 0.3), np.full(30, np.nan)])
    r = vdm.lagged_correlation(ref, resp, max_lag=3, min_overlap=4)
    assert r.shape == (3, 7)
    assert int(np.nanargmax(r[0])) - 3 == 2
    assert np.isnan(r[1]).all() and np.isnan(r[2]).all()  # constant or empty response: undefined
    assert math.isnan(vdm.peak_lag(r[1]))


def test_response_lag_pools_tracks_and_bootstraps():
    ref = {str(i): _smooth_noise(40, 10 + i) for i in range(8)}
    noise = np.random.default_rng(0)
    resp = {k: np.roll(v, 2) + 0.3 * noise.normal(size=v.size) for k, v in ref.items()}
    res = vdm.response_lag(ref, resp, step_s=1.0, max_lag_s=4, skip_s=3, n_boot=200)
    assert res.lag_s == pytest.approx(2.0, abs=0.25)
    assert res.ci[0] <= res.lag_s <= res.ci[1]
    assert list(res.profile["lag_s"]) == list(np.arange(-4.0, 5.0))
    assert len(res.per_track) == 8 and (res.per_track["lag_s"].round() == 2).mean() >= 0.75
    # tracks too short after the skip: nothing to estimate, and no crash
    short = vdm.response_lag({k: v[:6] for k, v in ref.items()}, {k: v[:6] for k, v in resp.items()},
                             step_s=1.0, max_lag_s=4, skip_s=5)
    assert math.isnan(short.lag_s) and short.per_track.empty


def test_first_order_delay_matches_the_simulated_cursor():
    # the cursor's step response has mean delay sum_j j a (1 - a)^j = (1 - a) / a
    tau = 1.7
    a = 1 - math.exp(-1 / tau)
    assert vdm.first_order_delay(tau) == pytest.approx((1 - a) / a)
    ann = annotation.Annotator("X", "F", 20, "piano", 0, 0.0, 0.0, 1.0, tau, 0.0, 0.0)
    impulse = np.zeros((400, 2))
    impulse[0] = 1.0
    resp = annotation.rate(ann, impulse, np.random.default_rng(0), noise=0.0)[:, 1]
    assert (np.arange(400) * resp).sum() / resp.sum() == pytest.approx(vdm.first_order_delay(tau), rel=1e-6)


def test_on_grid_and_intensity():
    curve = pd.DataFrame({"time_s": [15.0, 15.5, 16.5], "valence": [0.1, 0.2, 0.4], "arousal": [0.0, 0.5, 1.0]})
    g = vdm.on_grid(curve, "arousal", 0.5, 15.0)
    assert g[:2].tolist() == [0.0, 0.5] and math.isnan(g[2]) and g[3] == 1.0
    sr = 100
    x = np.concatenate([np.full(sr, 0.1), np.full(sr, 1.0)])  # 1 s at -20 dB, 1 s at 0 dB
    lev = vdm.intensity(x, sr, start_s=0.0, step_s=1.0, n_steps=3)
    assert lev[0] == pytest.approx(-20.0, abs=1e-6) and lev[1] == pytest.approx(0.0, abs=1e-6)
    assert math.isnan(lev[2])  # past the end of the signal


def _labs(n_tracks=4, n_raters=3, seconds=12):
    rng = np.random.default_rng(0)
    labs = {}
    for i in range(n_tracks):
        tid = str(i + 1)
        rows = []
        for a in range(n_raters):
            for t in range(seconds):
                rows.append({"annotator": f"A{a + 1:02d}", "time_s": float(t),
                             "valence": 0.1 * a + 0.01 * t * (i + 1), "arousal": float(rng.uniform(-0.5, 0.5))})
        raters = pd.DataFrame(rows)
        curve = raters.groupby("time_s")[["valence", "arousal"]].mean().reset_index()
        labs[tid] = DynamicLabels(tid, "synthmemo", 1.0, curve, raters)
    return labs


def test_rater_curves_frame_mean_sd_and_spread_choice():
    labs = _labs()
    raters, summary = vdm.rater_curves_frame(labs["2"])
    assert len(raters) == 3 * 12 and summary["n_raters"].eq(3).all()
    # valence of the 3 raters at each second is v0, v0 + 0.1, v0 + 0.2: mean v0 + 0.1, sd sqrt(2/3) 0.1
    assert (summary["valence_sd"] - math.sqrt(2 / 3) * 0.1).abs().max() < 1e-12
    assert (summary["valence_mean"] - summary["valence_published"]).abs().max() < 1e-12
    picked = vdm.spread_tracks(labs, 3)
    sp = vdm.rater_spread(labs).set_index("track_id")["sd_both"]
    assert picked[0] == sp.idxmin() and picked[-1] == sp.idxmax() and len(set(picked)) == 3
    no_raters = DynamicLabels("9", "pmemo", 0.5, labs["1"].curve, None)
    with pytest.raises(ValueError, match="no per-rater curves"):
        vdm.rater_curves_frame(no_raters)


def test_rater_lags_recover_the_simulated_ordering():
    # latent curves with section jumps, rated by simulated raters with known time constants (no noise)
    rng = np.random.default_rng(3)
    taus = {"A01": 0.6, "A02": 1.5, "A03": 3.0}
    anns = pd.DataFrame([annotation.Annotator(a, "F", 20, "piano", 0, 0.0, 0.0, 1.0, t, 0.0, 0.0).to_row()
                         for a, t in taus.items()])
    lat_rows, labs = [], {}
    for i in range(6):
        tid = str(i + 1)
        steps = np.repeat(rng.uniform(-0.6, 0.6, size=(6, 2)), 5, axis=0)  # (30, 2)
        lat_rows += [{"song_id": tid, "time_s": s, "valence": v, "arousal": a} for s, (v, a) in enumerate(steps)]
        rows = []
        for a, t in taus.items():
            ann = annotation.Annotator(a, "F", 20, "piano", 0, 0.0, 0.0, 1.0, t, 0.0, 0.0)
            r = annotation.rate(ann, steps, rng, noise=0.0)
            rows += [{"annotator": a, "time_s": float(s), "valence": r[s, 0], "arousal": r[s, 1]} for s in range(30)]
        raters = pd.DataFrame(rows)
        labs[tid] = DynamicLabels(tid, "synthmemo", 1.0,
                                  raters.groupby("time_s")[["valence", "arousal"]].mean().reset_index(), raters)
    out = vdm.rater_lags(labs, pd.DataFrame(lat_rows), anns, max_lag_s=5, skip_s=3).set_index("annotator")
    # noise-free ratings are the simulated responses: the estimate equals the expectation
    assert np.allclose(out["lag_vs_latent_s"], out["lag_expected_s"])
    assert out.loc["A01", "lag_vs_latent_s"] < out.loc["A02", "lag_vs_latent_s"] < out.loc["A03", "lag_vs_latent_s"]
    # a correlation peak sits below the mean delay of a first-order response, and is positive
    assert ((out["lag_vs_latent_s"] > 0) & (out["lag_vs_latent_s"] < out["mean_delay_s"] + 1e-9)).all()
    assert out["n_tracks"].eq(6).all() and out["lag_vs_reference_s"].isna().all()


# ------------------------------------------------------------------------------------------- CCC vs RMSE
def test_ccc_vs_rmse_demo_matches_hand_computations():
    demo = vdm.ccc_vs_rmse_demo().set_index("prediction")
    var = 0.4**2 / 2  # population variance of 0.2 + 0.4 sin over two whole periods
    flat = demo.loc["flat at the song's mean"]
    assert flat["rmse"] == pytest.approx(math.sqrt(var))
    assert math.isnan(flat["pcc"]) and math.isnan(flat["ccc"]) and flat["ccc_formula"] == pytest.approx(0.0, abs=1e-12)
    assert demo.loc["flat at neutral (0)", "rmse"] == pytest.approx(math.sqrt(var + 0.2**2))
    off = demo.loc["right shape, offset +0.35"]
    assert off["rmse"] == pytest.approx(0.35) and off["pcc"] == pytest.approx(1.0)
    assert off["ccc"] == pytest.approx(2 * var / (2 * var + 0.35**2))
    half = demo.loc["right shape, half the swing"]
    assert half["rmse"] == pytest.approx(0.5 * math.sqrt(var))
    assert half["ccc"] == pytest.approx(2 * 0.5 * var / (0.25 * var + var))  # = 0.8
    late = demo.loc["right shape, 3 steps late"]
    c = math.cos(2 * math.pi * 3 / 20)
    assert late["pcc"] == pytest.approx(c) and late["ccc"] == pytest.approx(c)
    assert late["rmse"] == pytest.approx(math.sqrt(2 * var * (1 - c)))
    # the point of the example: RMSE prefers the flat line, CCC the shape
    assert flat["rmse"] < off["rmse"] and off["ccc"] > flat["ccc_formula"]
    # where song_metrics defines CCC it is the formula's
    ok = demo["ccc"].notna()
    assert np.allclose(demo.loc[ok, "ccc"], demo.loc[ok, "ccc_formula"])


# ---------------------------------------------------------------------------- results, predictions, check
def _fake_results(root, dataset="toy", seeds=(0, 1), models=("dual_scale", "ridge"), corrupt=False):
    rng = np.random.default_rng(5)
    rows = []
    for seed in seeds:
        for model in models:
            preds = []
            for tid in ("10", "2", "7"):
                t = np.arange(8)
                vt, at = np.sin(t / 2 + int(tid)), np.cos(t / 3)
                preds.append(pd.DataFrame({"track_id": tid, "step": t, "time_s": 0.5 + t, "valence_true": vt,
                                           "arousal_true": at, "valence_pred": vt + rng.normal(0, 0.3, 8),
                                           "arousal_pred": at + rng.normal(0, 0.3, 8)}))
            df = pd.concat(preds, ignore_index=True)
            d = dyn_exp.run_dir(root, dataset, model, seed)
            d.mkdir(parents=True)
            df.to_csv(d / dyn_exp.PREDICTIONS, index=False, compression="gzip")
            m = dyn_exp.metrics_from_predictions(df)
            for dim in ("valence", "arousal", "mean"):
                r = {"model": model, "seed": seed, "dim": dim, **{k: m[dim][k] for k in ("rmse", "pcc", "ccc")},
                     "n_test": 3, "error": ""}
                rows.append(r)
    per_seed = pd.DataFrame(rows)
    if corrupt:
        per_seed.loc[0, "ccc"] += 0.01
    (root / "tables").mkdir(parents=True)
    per_seed.to_csv(root / "tables" / f"dynamic_{dataset}_seeds.csv", index=False)
    dyn_exp.summarise(per_seed).to_csv(root / "tables" / f"dynamic_{dataset}.csv", index=False)
    return per_seed


def test_results_table_is_mean_sd_over_seeds(tmp_path):
    per_seed = _fake_results(tmp_path)
    tab = vdm.dynamic_results_table(tmp_path, "toy").set_index(["model", "dim"])
    g = per_seed[(per_seed["model"] == "ridge") & (per_seed["dim"] == "arousal")]
    want = f"{g['ccc'].mean():.3f} ± {g['ccc'].std(ddof=1):.3f}"
    assert tab.loc[("per-frame ridge", "arousal"), "CCC"] == want
    assert tab["n seeds"].eq(2).all() and tab["n test songs"].eq(3).all()
    assert list(tab.columns) == ["RMSE", "PCC", "CCC", "n seeds", "n test songs"]
    assert vdm._cell(0.5, float("nan")) == "0.500 (n = 1)" and vdm._cell(float("nan"), 0.1) == "—"
    pd_ = vdm.paired_differences(tmp_path, "toy").set_index("metric")
    d = (per_seed.query("model == 'dual_scale' and dim == 'mean'")["rmse"].to_numpy()
         - per_seed.query("model == 'ridge' and dim == 'mean'")["rmse"].to_numpy())
    assert pd_.loc["rmse", "mean_diff"] == pytest.approx(d.mean())
    assert pd_.loc["rmse", "ci95_low"] < d.mean() < pd_.loc["rmse", "ci95_high"]


def test_recomputed_metrics_agree_and_catch_a_wrong_table(tmp_path):
    _fake_results(tmp_path / "good")
    check = vdm.recomputed_metrics(tmp_path / "good", "toy")
    assert len(check) == 2 * 2 * 3 * 3 + 2 * 3 * 3  # per-seed rows + summary rows
    assert check["abs_diff"].max() < 1e-9
    _fake_results(tmp_path / "bad", corrupt=True)
    bad = vdm.recomputed_metrics(tmp_path / "bad", "toy")
    assert bad["abs_diff"].max() == pytest.approx(0.01, abs=1e-9)


def test_test_tracks_are_sorted_by_id_not_by_score(tmp_path):
    _fake_results(tmp_path)
    preds = vdm.load_predictions(tmp_path, "toy", seed=1)
    assert set(preds) == {"dual_scale", "ridge"}
    assert vdm.test_tracks(preds, 2) == ["2", "7"]
    assert vdm.analysed_window(preds["ridge"], "7") == (0.0, 8.0)
    assert vdm.load_predictions(tmp_path, "toy", seed=9) == {}


# ------------------------------------------------------------------------------------------ quoted block
def test_quoted_block_is_labelled_quoted_and_holds_the_four_numbers():
    q = vdm.quoted_dynamic_block().set_index("dataset")
    assert (q["source"] == "literature (quoted)").all()
    assert q.loc["DEAM (dynamic)", ["rmse_arousal", "rmse_valence"]].tolist() == [0.202, 0.268]
    assert q.loc["PMEmo (dynamic)", ["rmse_arousal", "rmse_valence"]].tolist() == [0.128, 0.131]
    assert q.loc["PMEmo (dynamic)", "label_scale"] == "[0, 1]"
    assert tables.MEASURED not in set(q["source"]) and "measured" not in " ".join(q["source"])


def test_paper_vs_ours_gains_the_dynamic_block_only_when_asked(tmp_path):
    from damer_lite.experiments import runs

    empty = runs.collect(tmp_path / "no-runs")
    plain = tables.paper_vs_ours(empty)
    assert "rmse" not in plain.columns and tables.DYNAMIC_BLOCK not in set(plain["table"])
    both = tables.paper_vs_ours(empty, dynamic=True)
    block = both[both["table"] == tables.DYNAMIC_BLOCK]
    assert len(block) == 4 and (block["source"] == literature.SOURCE).all()
    assert sorted(block["rmse"].astype(float)) == [0.128, 0.131, 0.202, 0.268]
    # the rmse column holds quoted numbers only; every other row reads a dash there
    assert (both.loc[both["table"] != tables.DYNAMIC_BLOCK, "rmse"] == "—").all()
    assert both.iloc[: len(plain)].drop(columns="rmse").equals(plain)
    assert not tables.dynamic_tables_present(tmp_path)
    (tmp_path / "tables").mkdir()
    (tmp_path / "tables" / "dynamic_toy_seeds.csv").write_text("model\n")
    assert tables.dynamic_tables_present(tmp_path)


def test_results_index_describes_every_dynamic_file():
    from damer_lite.report.results_index import describe

    assert "one row per model, seed" in describe("dynamic_deam_seeds")[0]
    assert "mean ± sd over seeds per model" in describe("dynamic_synthmemo")[0]
    assert "paired by seed" in describe("dynamic_synthmemo_paired")[0]
    assert "quoted" in describe("dynamic_quoted")[0] and "response lag" in describe("dynamic_lag_synthmemo")[0]
    assert "simulated rater" in describe("dynamic_lag_raters_synthmemo")[0]
    for stem in ("dynamic_rater_curves_x", "dynamic_rater_spread_x", "dynamic_ccc_vs_rmse", "dynamic_results_x",
                 "dynamic_predicted_vs_annotated_x"):
        assert describe(stem)[1] == "09_dynamic", stem
    assert describe("dynamics_summary_synthmemo")[1] == "06_dynamics"  # not taken for a dynamic-MER table


# ------------------------------------------------------------------------------------------------ figures
def test_figures_on_tiny_inputs(tmp_path):
    labs = _labs(n_tracks=2, seconds=8)
    frames = {t: vdm.rater_curves_frame(labs[t]) for t in labs}
    figs = [vdm.plot_rater_curves(frames, title="raters")]
    ref = {t: np.sin(np.arange(20) / 3.0 + int(t)) for t in ("1", "2", "3")}
    lag = vdm.response_lag(ref, {t: np.roll(v, 1) for t, v in ref.items()}, 1.0, 3, 2, 4, n_boot=20)
    raters = pd.DataFrame({"annotator": ["A"], "time_constant_s": [1.0], "mean_delay_s": [0.58],
                           "lag_expected_s": [0.4], "lag_vs_latent_s": [0.3], "lag_vs_reference_s": [np.nan],
                           "n_tracks": [3]})
    figs += [vdm.plot_lag(lag), vdm.plot_lag(lag, lag, raters), vdm.plot_ccc_vs_rmse()]
    _fake_results(tmp_path)
    preds = vdm.load_predictions(tmp_path, "toy", seed=0)
    curves = {"2": pd.DataFrame({"time_s": [0.0, 1.0], "valence": [0.1, 0.2], "arousal": [0.0, 0.1]})}
    figs.append(vdm.plot_predicted_vs_annotated(preds, ["2", "7"], curves, title="toy"))
    assert len(figs[-1].axes) == 4
    assert len(figs[2].axes) == 3 and len(figs[1].axes) == 2
    for f in figs:
        assert isinstance(f, matplotlib.figure.Figure)
        f.savefig(tmp_path / "f.png")
        plt.close(f)
