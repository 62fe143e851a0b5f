"""Dynamic MER: the dual-scale regressor, the DSAF per-step baseline, the loss, per-song metrics, track splits,
the ridge baseline and an end-to-end smoke on a tiny SynthMemo store."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from damer_lite.config import Config, DynamicConfig, apply_overrides, dynamic_profile, profile
from damer_lite.datasets import synth
from damer_lite.experiments import runs
from damer_lite.model import DAMER
from damer_lite.model.dmer import BandSelfAttention, DualScaleDMER, StepHead, band_mask, radius_steps
from damer_lite.training import dynamic as dyn

N_MEL, N_COCH = 128, 84


def _x(b=2, t=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, N_MEL, t, generator=g), torch.randn(b, N_COCH, t, generator=g)


def _toy(n=24, t=16, seed=0):
    """Features and curves where both dimensions are a (tanh of a) linear function of the first bins."""
    rng = np.random.default_rng(seed)
    mel = rng.normal(size=(n, N_MEL, t)).astype(np.float32)
    coch = rng.normal(size=(n, N_COCH, t)).astype(np.float32)
    v = 0.4 * mel[:, 0] - 0.3 * coch[:, 1]  # (n, T)
    a = 0.5 * mel[:, 2] + 0.2 * coch[:, 3]
    curves = np.tanh(np.stack([v, a], axis=-1)).astype(np.float32)  # (n, T, 2)
    curves[:, :2] = np.nan  # uncovered steps
    idx = np.arange(n)
    return mel, coch, curves, {"train": idx[: int(0.7 * n)], "test": idx[int(0.7 * n):]}


# ------------------------------------------------------------------ DSAF unchanged for existing callers
# logits of DAMER (smoke profile, d = d_fuse = 16, T = 6) computed before DSAF returned its unpooled states
REFERENCE = {
    "freq": [[-0.11953197419643402, -0.10632681101560593], [-0.12464002519845963, -0.09718301892280579]],
    "time": [[-0.15803202986717224, -0.09724719077348709], [-0.13047298789024353, -0.06515170633792877]],
}


@pytest.mark.parametrize("axis", ["freq", "time"])
def test_dsaf_outputs_unchanged_and_unpooled_states(axis):
    cfg = apply_overrides(profile("smoke"), [f"model.token_axis={axis}", "model.d=16", "model.d_fuse=16"])
    torch.manual_seed(1)
    model = DAMER(cfg, N_MEL, N_COCH, 6).eval()
    g = torch.Generator().manual_seed(2)
    mel, coch = torch.randn(2, N_MEL, 6, generator=g), torch.randn(2, N_COCH, 6, generator=g)
    with torch.no_grad():
        out = model(mel, coch)
    # equal to the pre-change logits up to float rounding of other BLAS builds (bit-equal where recorded)
    torch.testing.assert_close(out["logits_fuse"], torch.tensor(REFERENCE[axis]), rtol=0, atol=1e-5)
    n_tok = (N_MEL, N_COCH) if axis == "freq" else (6, 6)
    assert out["h_mel"].shape == (2, n_tok[0], 16) and out["h_coch"].shape == (2, n_tok[1], 16)
    assert torch.equal(out["h_mel"].mean(1), out["z_mel"]) and torch.equal(out["h_coch"].mean(1), out["z_coch"])
    assert not any(k.startswith("h_") for k in model.state_dict())  # no new parameters or buffers


# ------------------------------------------------------------------ model shapes and the band masks
def test_shapes_range_and_radius_mapping():
    mel, coch = _x(3, 20)
    m = DualScaleDMER(N_MEL, N_COCH, d=16, heads=2, local_radius=2, wide_radius=6, lstm_hidden=8)
    out = m(mel, coch)
    assert out["va"].shape == (3, 20, 2) and out["h"].shape == (3, 20, 16)
    assert out["va"].abs().max() <= 1.0
    s = StepHead(N_MEL, N_COCH, 20, d=16, heads=2)
    assert s(mel, coch)["va"].shape == (3, 20, 2)
    with pytest.raises(ValueError):
        s(*_x(3, 19))
    with pytest.raises(ValueError):
        m(mel, coch[:, :80])
    assert (radius_steps(2.5, 0.5), radius_steps(15.0, 0.5)) == (5, 30)  # DSAML's steps
    assert (radius_steps(2.5, 60 / 87), radius_steps(15.0, 60 / 87)) == (4, 22)  # the paper's 87 tokens / 60 s
    mask = band_mask(6, 1)
    assert mask[2].tolist() == [False, True, True, True, False, False]


def test_band_attention_cannot_see_beyond_its_radius():
    torch.manual_seed(0)
    att = BandSelfAttention(16, 2, radius=2).eval()
    x = torch.randn(1, 12, 16)
    y0 = att(x)
    far, near = x.clone(), x.clone()
    far[:, 8] += 5.0  # |5 - 8| = 3 > radius
    near[:, 7] += 5.0  # |5 - 7| = 2 = radius
    assert torch.equal(att(far)[:, 5], y0[:, 5])
    assert not torch.allclose(att(near)[:, 5], y0[:, 5])
    assert not torch.allclose(att(far)[:, 6], y0[:, 6])  # 6 is within reach of 8


def test_dual_scale_block_reach_is_the_wide_radius():
    torch.manual_seed(0)
    m = DualScaleDMER(N_MEL, N_COCH, d=16, heads=2, local_radius=1, wide_radius=3, lstm_hidden=8).eval()
    mel, coch = _x(1, 16)
    h0 = m.attend(mel, coch)
    mel2 = mel.clone()
    mel2[:, :, 10] += 3.0  # perturb token 10
    h1 = m.attend(mel2, coch)
    changed = ~(h1 == h0).all(-1)[0]  # (T,)
    assert changed.nonzero().ravel().tolist() == list(range(7, 14))  # exactly |i - 10| <= wide radius
    # after the global summary and the BiLSTM every step may depend on every token
    assert not torch.allclose(m(mel2, coch)["va"][:, 0], m(mel, coch)["va"][:, 0])


# ------------------------------------------------------------------ metrics and loss by hand
def test_metrics_by_hand():
    t = np.linspace(0, 3, 30)
    y = np.sin(t)
    same = dyn.song_metrics(y, y)
    assert same["rmse"] == 0 and same["pcc"] == pytest.approx(1) and same["ccc"] == pytest.approx(1)
    p = 0.5 * y + 0.3  # perfectly correlated, but shifted and scaled
    m = dyn.song_metrics(p, y)
    cov = np.mean((p - p.mean()) * (y - y.mean()))
    assert m["pcc"] == pytest.approx(1)
    assert m["ccc"] == pytest.approx(2 * cov / (p.var() + y.var() + (p.mean() - y.mean()) ** 2))
    assert m["ccc"] < m["pcc"]
    assert m["rmse"] == pytest.approx(np.sqrt(np.mean((p - y) ** 2)))
    # NaN targets are ignored: the same as dropping those steps
    y_nan = y.copy()
    y_nan[[0, 7, 20]] = np.nan
    keep = np.isfinite(y_nan)
    assert dyn.song_metrics(p, y_nan) == pytest.approx(dyn.song_metrics(p[keep], y[keep]))
    # undefined PCC/CCC: constant target, a single valid step
    assert np.isnan(dyn.song_metrics(p, np.full_like(y, 0.2))["pcc"])
    one = np.full_like(y, np.nan)
    one[3] = 0.1
    assert np.isnan(dyn.song_metrics(p, one)["ccc"]) and np.isfinite(dyn.song_metrics(p, one)["rmse"])
    # averaged over songs; the undefined ones are excluded and counted
    pred = np.stack([np.stack([p, p], -1), np.stack([p, p], -1), np.stack([y, y], -1)])  # (3, T, 2)
    tgt = np.stack([np.stack([y, y], -1), np.stack([np.full_like(y, 0.2), y], -1), np.stack([y, y], -1)])
    res = dyn.dynamic_metrics(pred, tgt)
    assert res["valence"]["n_songs"] == 3 and res["valence"]["n_undefined"] == 1
    assert res["valence"]["ccc"] == pytest.approx((m["ccc"] + 1.0) / 2)
    assert res["arousal"]["ccc"] == pytest.approx((2 * m["ccc"] + 1.0) / 3)
    assert res["mean"]["ccc"] == pytest.approx((res["valence"]["ccc"] + res["arousal"]["ccc"]) / 2)


def test_loss_matches_the_metrics_and_masks_nans():
    rng = np.random.default_rng(0)
    pred = np.tanh(rng.normal(size=(4, 10, 2)))
    tgt = np.tanh(rng.normal(size=(4, 10, 2)))
    tgt[0, :3] = np.nan
    tgt[1, :, 0] = np.nan  # song 1 has no valence: left out of the loss
    tgt[2, 5:, 1] = np.nan
    parts = dyn.dynamic_loss(torch.tensor(pred), torch.tensor(tgt), 1.0, 0.5, 2.0)
    per = [dyn.song_metrics(pred[i, :, j], tgt[i, :, j]) for i in range(4) for j in range(2) if (i, j) != (1, 0)]
    for name in ("ccc", "pcc", "rmse"):
        assert float(parts[name]) == pytest.approx(np.mean([m[name] for m in per]), abs=1e-5)
    assert float(parts["loss"]) == pytest.approx(
        (1 - float(parts["ccc"])) + 0.5 * (1 - float(parts["pcc"])) + 2.0 * float(parts["rmse"]), rel=1e-6)
    # the masked steps get no gradient through the targets and change nothing
    tgt2 = tgt.copy()
    p2 = pred.copy()
    p2[0, :3] = 0.9  # predictions at masked steps
    assert float(dyn.dynamic_loss(torch.tensor(p2), torch.tensor(tgt2))["loss"]) == pytest.approx(
        float(dyn.dynamic_loss(torch.tensor(pred), torch.tensor(tgt))["loss"]))


def test_loss_decreases_on_a_toy_problem():
    mel, coch, curves, _ = _toy(16, 16)
    torch.manual_seed(0)
    m = DualScaleDMER(N_MEL, N_COCH, d=16, heads=2, local_radius=2, wide_radius=6, lstm_hidden=8, dropout=0.0)
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    xm, xc, y = torch.from_numpy(mel), torch.from_numpy(coch), torch.from_numpy(curves)
    losses = []
    for _ in range(25):
        loss = dyn.dynamic_loss(m(xm, xc)["va"], y)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.7 * losses[0]


# ------------------------------------------------------------------ targets, splits, runs
def test_token_targets_align_to_the_analysis_window():
    curve = pd.DataFrame({"time_s": [0.0, 1.0, 2.0, 3.0], "valence": [0.1, 0.2, 0.3, 0.4],
                          "arousal": [-0.1, -0.2, np.nan, -0.4]})
    y = dyn.token_targets(curve, 8, 0.5, 4.5, step_s=1.0)  # tokens of 0.5 s from 0.5 s
    assert y.shape == (8, 2)
    np.testing.assert_allclose(y[:, 0], [0.1, 0.2, 0.2, 0.3, 0.3, 0.4, 0.4, np.nan], rtol=1e-6)
    np.testing.assert_allclose(y[:, 1], [-0.1, -0.2, -0.2, np.nan, np.nan, -0.4, -0.4, np.nan], rtol=1e-6)


def test_split_tracks_keeps_songs_on_one_side():
    ids = ["a", "b", "c", "a", "d", "e", "f", "g", "h", "b"]
    for seed in range(5):
        s = dyn.split_tracks(ids, seed, val_size=0.2)
        sides = {name: {ids[i] for i in idx} for name, idx in s.items()}
        assert not sides["train"] & sides["test"] and not sides["val"] & sides["test"]
        assert not sides["train"] & sides["val"]
        assert sorted(np.concatenate(list(s.values()))) == list(range(len(ids)))
    assert not np.array_equal(dyn.split_tracks(ids, 0)["test"], dyn.split_tracks(ids, 1)["test"])


def test_split_tracks_takes_a_number_of_test_tracks():
    """An int test size is that many test songs (all their rows); 3 of 8 songs equals the share that rounds
    to 3; a count of 0 is refused."""
    ids = [f"t{i}" for i in range(8)] + ["t0", "t5"]
    s = dyn.split_tracks(ids, 2, test_size=3)
    assert len({ids[i] for i in s["test"]}) == 3
    np.testing.assert_array_equal(s["test"], dyn.split_tracks(ids, 2, test_size=0.375)["test"])
    with pytest.raises(ValueError, match="test_size"):
        dyn.split_tracks(ids, 0, test_size=0)


@pytest.mark.parametrize("kind", dyn.MODELS)
def test_same_seed_same_metrics(kind):
    mel, coch, curves, split = _toy()
    cfg = dynamic_profile("smoke")
    a = dyn.train_dynamic_run(mel, coch, curves, split, cfg, seed=3, model=kind, token_s=0.5)
    b = dyn.train_dynamic_run(mel, coch, curves, split, cfg, seed=3, model=kind, token_s=0.5)
    c = dyn.train_dynamic_run(mel, coch, curves, split, cfg, seed=4, model=kind, token_s=0.5)
    keys = ("valence", "arousal", "mean")
    assert {k: a["metrics"][k] for k in keys} == {k: b["metrics"][k] for k in keys}
    assert [e["loss_total"] for e in a["history"]["epochs"]] == [e["loss_total"] for e in b["history"]["epochs"]]
    assert [e["loss_total"] for e in a["history"]["epochs"]] != [e["loss_total"] for e in c["history"]["epochs"]]
    assert a["predictions"].shape == (len(split["test"]), 16, 2)


def test_run_rejects_a_track_in_train_and_test_and_bad_inputs():
    mel, coch, curves, split = _toy()
    ids = [f"t{i}" for i in range(len(mel))]
    ids[split["test"][0]] = ids[split["train"][0]]
    cfg = dynamic_profile("smoke")
    with pytest.raises(ValueError, match="both train and test"):
        dyn.train_dynamic_run(mel, coch, curves, split, cfg, track_ids=ids)
    with pytest.raises(ValueError, match="overlap"):
        dyn.train_dynamic_run(mel, coch, curves, {"train": [0, 1], "test": [1, 2]}, cfg)
    with pytest.raises(ValueError, match="disagree"):
        dyn.train_dynamic_run(mel, coch, curves[:, :5], split, cfg)
    with pytest.raises(ValueError, match="unknown dynamic model"):
        dyn.train_dynamic_run(mel, coch, curves, split, cfg, model="nope")


def test_ridge_beats_a_constant_on_a_linear_toy():
    rng = np.random.default_rng(1)
    mel = rng.normal(size=(30, N_MEL, 12)).astype(np.float32)
    coch = rng.normal(size=(30, N_COCH, 12)).astype(np.float32)
    curves = np.stack([0.2 * mel[:, 0] - 0.1 * coch[:, 4], 0.15 * mel[:, 3] + 0.1 * coch[:, 0]], -1)
    curves = curves.astype(np.float32)
    split = {"train": np.arange(20), "test": np.arange(20, 30)}
    res = dyn.ridge_baseline(mel, coch, curves, split, dynamic_profile("smoke"))
    const = np.broadcast_to(np.nanmean(curves[:20], axis=(0, 1)), curves[20:].shape)
    base = dyn.dynamic_metrics(const, curves[20:])
    assert res["metrics"]["mean"]["rmse"] < 0.5 * base["mean"]["rmse"]
    assert res["metrics"]["mean"]["pcc"] > 0.9 and res["metrics"]["mean"]["ccc"] > 0.9
    assert base["valence"]["n_undefined"] == 10  # a constant has no PCC/CCC


def test_dynamic_config_profiles_and_validation():
    smoke, quick = dynamic_profile("smoke"), dynamic_profile("quick")
    assert smoke.epochs == 2 and quick.epochs > smoke.epochs
    assert (DynamicConfig().w_ccc, DynamicConfig().w_pcc, DynamicConfig().w_rmse) == (1.0, 1.0, 1.0)
    assert dynamic_profile("smoke", {"lr": 1e-2}).lr == 1e-2
    for bad in ({"nope": 1}, {"d": 10, "heads": 4}, {"epochs": 0}, {"amp": "fp8"}, {"lr": "x"},
                {"wide_radius_s": 1.0, "local_radius_s": 2.0}):
        with pytest.raises(ValueError):
            DynamicConfig.from_dict(bad)
    with pytest.raises(ValueError):
        dynamic_profile("nope")
    # the static config is unchanged: no 'dynamic' section, unknown keys still raise
    with pytest.raises(ValueError, match="unknown config section"):
        Config.from_dict({"dynamic": {"d": 8}})
    with pytest.raises(ValueError, match="unknown config key"):
        Config.from_dict({"model": {"nope": 1}})


# ------------------------------------------------------------------ end to end on a tiny SynthMemo store
@pytest.fixture(scope="module")
def tiny_store(tmp_path_factory):
    base = tmp_path_factory.mktemp("dmer")
    synth.generate(base / "synth", n_tracks=12, duration=6.0, sr=8000, seed=7, progress=False)
    return runs.ensure_store("synthmemo", base / "synth", base / "features", "smoke", progress=False)


def test_end_to_end_smoke_three_seeds(tiny_store):
    mel, coch, curves, table = dyn.load_dynamic_data(tiny_store)
    assert mel.shape[0] == coch.shape[0] == curves.shape[0] == len(table) == 12
    assert curves.shape == (12, mel.shape[2], 2) and np.isfinite(curves).mean() > 0.8
    assert (table["start_s"] < table["end_s"]).all()
    cfg = dynamic_profile("smoke")
    token_s = float(table["token_s"].median())
    ids = table["track_id"].to_numpy()
    results = {k: [] for k in (*dyn.MODELS, "ridge")}
    for seed in range(3):
        split = dyn.split_tracks(ids, seed)
        assert not set(ids[split["train"]]) & set(ids[split["test"]])
        for kind in dyn.MODELS:
            r = dyn.train_dynamic_run(mel, coch, curves, split, cfg, seed=seed, model=kind, token_s=token_s,
                                      track_ids=ids)
            results[kind].append(r["metrics"])
        results["ridge"].append(dyn.ridge_baseline(mel, coch, curves, split, cfg, seed=seed)["metrics"])
    for kind, ms in results.items():
        for m in ms:
            assert m["n_test"] == 4 and m["valence"]["n_songs"] == m["arousal"]["n_songs"] == 4
            assert np.isfinite(m["mean"]["rmse"]) and 0 <= m["mean"]["rmse"] <= 2, kind
            assert abs(m["mean"]["ccc"]) <= 1 and abs(m["mean"]["pcc"]) <= 1, kind
        table_ = dyn.summarise_seeds(ms)
        assert set(table_["n_seeds"]) == {3} and table_["sd"].notna().all()


def test_tracks_without_curves_are_left_out_with_a_count(tiny_store, capsys):
    from damer_lite.features import store

    man = store.load(tiny_store)["manifest"].copy()
    man.loc[man.index[:2], "dynamic_ref"] = ""  # two tracks lose their curves
    man = man.iloc[1:]  # and one of them is not in the manifest at all
    mel, _, curves, table = dyn.load_dynamic_data(tiny_store, manifest=man)
    assert len(table) == mel.shape[0] == curves.shape[0] == 10
    err = capsys.readouterr().err
    assert "2 of 12 tracks left out of dynamic training (1 not in the manifest, 1 no dynamic curve)" in err


def test_bf16_training_steps_run_on_cpu():
    mel, coch, curves, split = _toy(12, 8)
    res = dyn.train_dynamic_run(mel, coch, curves, split, dynamic_profile("smoke", {"amp": "bf16"}), seed=0)
    assert res["metrics"]["precision"] == "bfloat16" and np.isfinite(res["metrics"]["mean"]["rmse"])
    assert res["predictions"].dtype == np.float32  # evaluation in fp32


# ------------------------------------------------------------------ the experiment: runs, tables, resume
def test_experiment_tables_predictions_and_resume(tiny_store, tmp_path, capsys):
    from damer_lite.cli import main as cli_main
    from damer_lite.experiments import dynamic as exp

    res = tmp_path / "res"
    rc = cli_main(["dynamic", "--store", str(tiny_store), "--dataset", "synthmemo", "--results", str(res),
                   "--profile", "smoke", "--seeds", "0", "1", "--no-progress"])
    assert rc == 0
    summary = pd.read_csv(res / "tables" / "dynamic_synthmemo.csv")
    per_seed = pd.read_csv(res / "tables" / "dynamic_synthmemo_seeds.csv")
    assert set(summary["model"]) == set(exp.MODELS) and set(summary["n_seeds"]) == {2}
    assert len(per_seed) == len(exp.MODELS) * 2 * 3  # models x seeds x (valence, arousal, mean)
    for model in exp.MODELS:
        for seed in (0, 1):
            folder = exp.run_dir(res, "synthmemo", model, seed)
            metrics = json.loads((folder / "metrics.json").read_text())
            info = json.loads((folder / "run.json").read_text())
            assert info["model"] == model and info["seed"] == seed and info["n_test"] == 4
            # the table's numbers are recomputed from the per-step predictions of the test songs
            preds = exp.read_predictions(folder / exp.PREDICTIONS)
            assert preds["track_id"].nunique() == 4 and (preds.groupby("track_id")["time_s"].diff().dropna() > 0).all()
            again = exp.metrics_from_predictions(preds)
            for dim in ("valence", "arousal", "mean"):
                for k in ("rmse", "pcc", "ccc"):
                    assert again[dim][k] == pytest.approx(metrics[dim][k], abs=1e-3)
                    row = per_seed[(per_seed["model"] == model) & (per_seed["seed"] == seed) & (per_seed["dim"] == dim)]
                    assert row[k].iloc[0] == pytest.approx(metrics[dim][k], abs=1e-9)
        # mean ± sd over seeds, from the per-seed rows
        g = per_seed[(per_seed["model"] == model) & (per_seed["dim"] == "mean")]
        s = summary[(summary["model"] == model) & (summary["dim"] == "mean")].iloc[0]
        assert s["ccc_mean"] == pytest.approx(g["ccc"].mean()) and s["ccc_sd"] == pytest.approx(g["ccc"].std(ddof=1))
    # paired over seeds against dual_scale, from the per-seed rows
    pairs = pd.read_csv(res / "tables" / "dynamic_synthmemo_paired.csv")
    assert set(pairs["model"]) == {"damer_step", "ridge"} and set(pairs["n_seeds"]) == {2}
    r = pairs[(pairs["model"] == "ridge") & (pairs["dim"] == "arousal") & (pairs["metric"] == "ccc")].iloc[0]
    d = (per_seed[(per_seed["model"] == "ridge") & (per_seed["dim"] == "arousal")].set_index("seed")["ccc"]
         - per_seed[(per_seed["model"] == "dual_scale") & (per_seed["dim"] == "arousal")].set_index("seed")["ccc"])
    assert r["mean_diff"] == pytest.approx(d.mean()) and r["ci95_low"] < r["mean_diff"] < r["ci95_high"]
    # the splits are by track and differ between seeds; all three models share each seed's split
    tests = {m: {s: set(exp.read_predictions(exp.run_dir(res, "synthmemo", m, s) / exp.PREDICTIONS)["track_id"])
                 for s in (0, 1)} for m in exp.MODELS}
    assert tests["dual_scale"] == tests["ridge"] == tests["damer_step"] and tests["ridge"][0] != tests["ridge"][1]

    # resume: finished runs are reused (same bytes); a run without run.json is redone
    before = (exp.run_dir(res, "synthmemo", "dual_scale", 0) / "metrics.json").stat().st_mtime_ns
    (exp.run_dir(res, "synthmemo", "damer_step", 1) / "run.json").unlink()
    summary2 = exp.run_dynamic(tiny_store, "synthmemo", res, "smoke", [0, 1], progress=False)["dynamic_synthmemo"]
    assert (exp.run_dir(res, "synthmemo", "dual_scale", 0) / "metrics.json").stat().st_mtime_ns == before
    assert (exp.run_dir(res, "synthmemo", "damer_step", 1) / "run.json").is_file()
    pd.testing.assert_frame_equal(summary2.reset_index(drop=True), summary, check_dtype=False)


def test_experiment_records_a_failed_run_and_goes_on(tiny_store, tmp_path, monkeypatch, capsys):
    from damer_lite.experiments import dynamic as exp

    real = dyn.ridge_baseline

    def broken(*a, **k):
        raise RuntimeError("solver exploded")

    monkeypatch.setattr(dyn, "ridge_baseline", broken)
    tables = exp.run_dynamic(tiny_store, "synthmemo", tmp_path, "smoke", [0], progress=False)
    summary, per_seed = tables["dynamic_synthmemo"], tables["dynamic_synthmemo_seeds"]
    err = capsys.readouterr().err
    assert "ridge seed 0 failed: RuntimeError: solver exploded" in err and "1 of 3 runs failed" in err
    failed = per_seed[per_seed["model"] == "ridge"]
    assert len(failed) == 3 and (failed["error"] == "RuntimeError: solver exploded").all()
    assert set(summary["model"]) == {"dual_scale", "damer_step"}  # the others finished and are in the table
    assert not (exp.run_dir(tmp_path, "synthmemo", "ridge", 0) / "run.json").exists()
    monkeypatch.setattr(dyn, "ridge_baseline", real)
    with pytest.raises(ValueError, match="unknown dynamic model"):
        exp.run_dynamic(tiny_store, "synthmemo", tmp_path, "smoke", [0], models=["svm"], progress=False)


def test_cli_model_choices_match_the_experiment():
    from damer_lite.cli import dynamic as cli_dynamic
    from damer_lite.experiments import dynamic as exp

    assert tuple(cli_dynamic.MODELS) == tuple(exp.MODELS)


def test_training_crops():
    gen = torch.Generator().manual_seed(0)
    mel, coch = torch.arange(2 * 3 * 10.0).reshape(2, 3, 10), torch.arange(2 * 2 * 10.0).reshape(2, 2, 10) + 1000
    curves = torch.arange(2 * 10 * 2.0).reshape(2, 10, 2)
    m, c, y = dyn.random_crop(mel, coch, curves, 4, gen)
    assert m.shape == (2, 3, 4) and c.shape == (2, 2, 4) and y.shape == (2, 4, 2)
    for b in range(2):  # one contiguous span per sample, the same span in every view and in the targets
        s = int(m[b, 0, 0] - mel[b, 0, 0])
        assert torch.equal(m[b], mel[b, :, s:s + 4]) and torch.equal(c[b], coch[b, :, s:s + 4])
        assert torch.equal(y[b], curves[b, s:s + 4])
    assert dyn.random_crop(mel, coch, curves, 0, gen)[0] is mel
    cfg = dynamic_profile("smoke", {"crop_s": 2.0})
    assert dyn.crop_steps(cfg, "dual_scale", 0.5, 10) == 4
    assert dyn.crop_steps(cfg, "dual_scale", 0.5, 4) == 0  # window no longer than the crop: whole
    assert dyn.crop_steps(cfg, "damer_step", 0.5, 10) == 0
    assert dyn.crop_steps(dynamic_profile("smoke", {"crop_s": 0}), "dual_scale", 0.5, 10) == 0
    # a run with crops trains on crops and is scored on whole windows; a crop longer than the window changes
    # nothing (same numbers as without crops)
    mel, coch, curves, split = _toy(16, 12)
    runs_ = {c: dyn.train_dynamic_run(mel, coch, curves, split, dynamic_profile("smoke", {"crop_s": c}), seed=0,
                                      token_s=0.5) for c in (0.0, 3.0, 60.0)}
    assert runs_[3.0]["metrics"]["crop_steps"] == 6 and runs_[3.0]["predictions"].shape[1] == 12
    assert runs_[0.0]["metrics"]["mean"] == runs_[60.0]["metrics"]["mean"] != runs_[3.0]["metrics"]["mean"]


def test_local_cnn_encoder_is_per_token_and_a_flag_of_the_one_model():
    from damer_lite.model.dmer import LocalCNN

    enc = LocalCNN(N_MEL, 16, channels=4).eval()
    x = torch.randn(2, 7, N_MEL)
    y = enc(x)
    assert y.shape == (2, 7, 16)
    x2 = x.clone()
    x2[:, 3] += 5.0  # a change in one token moves only that token's output (no mixing in time)
    moved = (enc(x2) - y).abs().sum(-1) > 1e-6
    assert moved[:, 3].all() and not moved[:, [0, 1, 2, 4, 5, 6]].any()
    mel, coch = _x()
    for enc_name in ("linear", "cnn"):
        m = DualScaleDMER(N_MEL, N_COCH, d=16, heads=2, local_radius=2, wide_radius=6, lstm_hidden=8,
                          local_encoder=enc_name)
        assert m(mel, coch)["va"].shape == (mel.shape[0], mel.shape[2], 2)
    with pytest.raises(ValueError, match="local_encoder"):
        DualScaleDMER(N_MEL, N_COCH, local_encoder="rnn")
    with pytest.raises(ValueError, match="local_encoder"):
        dynamic_profile("smoke", {"local_encoder": "rnn"})
    assert DynamicConfig().local_encoder == "cnn"  # DSAML's choice is the default
