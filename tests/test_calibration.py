"""Temperature scaling: the fit, the reliability statistics, the export run's calibration (fitted on its
validation split, never on test), the checkpoint field and calibrated + raw values in `predict`."""

from __future__ import annotations

import json
import math

import matplotlib
import numpy as np
import pytest
import torch

from damer_lite.cli import main as cli_main
from damer_lite.datasets import synth
from damer_lite.experiments import runs
from damer_lite.predict import calibration_table, checkpoint, plot_reliability
from damer_lite.predict.checkpoint import CheckpointError
from damer_lite.predict.predictor import Predictor
from damer_lite.training import calibration as cal

matplotlib.use("Agg")
TARGETS = ("arousal", "valence")


# ------------------------------------------------------------------------------------------ the statistics
def test_fit_recovers_the_temperature_of_over_confident_margins():
    rng = np.random.default_rng(0)
    true = rng.normal(0.0, 2.0, 20000)  # calibrated margins: y ~ Bernoulli(sigmoid(true))
    y = (rng.random(true.size) < cal.sigmoid(true)).astype(int)
    for scale in (0.5, 3.0):  # under- and over-confident outputs of the same ranking
        fit = cal.fit_temperature(scale * true, y)
        assert fit["temperature"] == pytest.approx(scale, rel=0.05)
        assert fit["nll_after"] < fit["nll_before"] and not fit["at_bound"]
    ok = cal.fit_temperature(true, y)
    assert ok["temperature"] == pytest.approx(1.0, rel=0.05)
    # ECE of the over-confident outputs drops once rescaled
    p_over = cal.sigmoid(3.0 * true)
    assert cal.expected_calibration_error(p_over, y) > 0.05
    assert cal.expected_calibration_error(cal.sigmoid(3.0 * true / 3.0), y) < 0.02


def test_separable_validation_stops_at_the_bound_and_bad_input_is_refused():
    m = np.array([-2.0, -1.0, 1.0, 2.0])
    fit = cal.fit_temperature(m, np.array([0, 0, 1, 1]))
    assert fit["at_bound"] and fit["temperature"] == pytest.approx(cal.T_MIN, rel=1e-2)
    with pytest.raises(ValueError, match="empty"):
        cal.fit_temperature([], [])
    with pytest.raises(ValueError, match="NaN"):
        cal.fit_temperature([0.0, np.nan], [0, 1])
    with pytest.raises(ValueError, match="0 or 1"):
        cal.fit_temperature([0.0, 1.0], [0, 2])


def test_reliability_bins_and_ece_by_hand():
    p = np.array([0.05, 0.15, 0.15, 0.95, 1.0])
    y = np.array([0, 0, 1, 1, 1])
    t = cal.reliability(p, y, n_bins=10)
    assert list(t["n"]) == [1, 2, 0, 0, 0, 0, 0, 0, 0, 2]  # 1.0 falls in the last bin
    assert t.loc[1, "observed"] == 0.5 and t.loc[1, "mean_predicted"] == pytest.approx(0.15)
    assert math.isnan(t.loc[2, "observed"])
    # ECE = (1 |0.05 - 0| + 2 |0.15 - 0.5| + 2 |0.975 - 1|) / 5
    assert cal.expected_calibration_error(p, y) == pytest.approx((0.05 + 0.7 + 0.05) / 5)
    assert cal.nll([0.0], [1]) == pytest.approx(math.log(2))


# ------------------------------------------------------------------------------------------ the export run
@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """20 SynthMemo tracks -> smoke store -> `damer-lite train --val-size 0.25` per target -> checkpoints."""
    base = tmp_path_factory.mktemp("calibration")
    root = base / "synth"
    synth.generate(root, n_tracks=20, duration=4.0, sr=16000, seed=7, progress=False)
    sdir = runs.ensure_store("synthmemo", root, base / "features", "smoke", progress=False)
    ckdir = base / "checkpoints"
    for t in TARGETS:
        out = base / "runs_export" / "synthmemo" / t / "damer" / "seed0"
        rc = cli_main(["train", "--features", str(sdir), "--target", t, "--profile", "smoke", "--seed", "0",
                       "--val-size", "0.25", "--set", "train.select=last", "--out", str(out)])
        assert rc == 0
        checkpoint.export_seed_run(base / "runs_export", sdir, "synthmemo", t, 0,
                                   ckdir / checkpoint.checkpoint_name("synthmemo", t))
    return {"base": base, "root": root, "store": sdir, "ckdir": ckdir}


def test_temperature_is_fitted_on_validation_only(setup):
    """The run's temperature is the NLL minimum of its validation margins; the test rows never enter it."""
    from damer_lite.datasets.manifest import split as make_split
    from damer_lite.training.data import binary_labels, load_training_data
    from damer_lite.training.loop import train_run

    run = setup["base"] / "runs_export" / "synthmemo" / "arousal" / "damer" / "seed0"
    m = json.loads((run / "metrics.json").read_text())
    c = m["calibration"]
    assert c["fitted_on"] == "val" and c["n_val"] == m["n_val"] > 0 and c["head"] == "fuse"
    assert c["temperature"] > 0 and json.loads((run / "run.json").read_text())["n_val"] == c["n_val"]
    for split in ("val", "test"):
        for tag in ("raw", "calibrated"):
            rel = c[f"{split}_reliability_{tag}"]
            assert sum(r["n"] for r in rel) == (c["n_val"] if split == "val" else m["n_test"])
    assert c["val_nll_calibrated"] <= c["val_nll_raw"] + 1e-12  # the fit's own objective

    # the same run with every test label flipped: identical temperature (test labels never used), other test ECE
    mel, coch, table = load_training_data(setup["store"])
    y = binary_labels(table, "arousal")
    sp = make_split(table, "arousal", 0, val_size=0.25)
    from damer_lite.config import apply_overrides, profile

    cfg = apply_overrides(profile("smoke"), ["train.select=last"])
    a = train_run(mel, coch, y, sp, cfg, seed=0)["metrics"]["calibration"]
    y2 = y.copy()
    y2[sp["test"]] = 1 - y2[sp["test"]]
    b = train_run(mel, coch, y2, sp, cfg, seed=0)["metrics"]["calibration"]
    assert a["temperature"] == b["temperature"] == pytest.approx(c["temperature"], rel=1e-6)
    assert a["test_nll_raw"] != b["test_nll_raw"]


def test_checkpoint_carries_the_temperature_and_predict_reports_both(setup):
    path = setup["ckdir"] / "synthmemo_arousal.pt"
    blob = torch.load(path, weights_only=True)
    ck = checkpoint.load(path)
    assert ck.calibrated and ck.temperature == blob["calibration"]["temperature"] > 0
    card_cal = ck.card["calibration"]
    assert card_cal["temperature"] == ck.temperature and "validation" in card_cal["fitted_on"]
    assert "temperature" in ck.summary()

    pred = Predictor.from_dir(setup["ckdir"], "synthmemo", device="cpu")
    df = pred.predict([setup["root"] / "MusicRawData"], progress=False)
    assert (df["error"] == "").all() and len(df) == 20
    for t in TARGETS:
        temp = pred.checkpoints[t].temperature
        np.testing.assert_allclose(df[f"p_{t}"], cal.sigmoid(df[f"logit_{t}"] / temp), rtol=0, atol=1e-9)
    # the raw probability is the model's softmax output: probabilities(calibrated=False) = sigmoid(logit)
    from damer_lite.features import store

    st = store.load(setup["store"])
    raw = pred.probabilities(np.asarray(st["mel"][:4]), np.asarray(st["coch"][:4]), calibrated=False)
    calibrated = pred.probabilities(np.asarray(st["mel"][:4]), np.asarray(st["coch"][:4]))
    logits = pred.logits(np.asarray(st["mel"][:4]), np.asarray(st["coch"][:4]))
    for t in TARGETS:
        np.testing.assert_allclose(raw[t], cal.sigmoid(logits[t]), atol=1e-12)
        np.testing.assert_allclose(calibrated[t], cal.sigmoid(logits[t] / pred.checkpoints[t].temperature), atol=1e-12)
        assert np.array_equal(raw[t] >= 0.5, calibrated[t] >= 0.5)  # T never changes the predicted class

    table = calibration_table(pred)
    assert list(table.columns) == list(TARGETS) and table.loc["temperature", "arousal"] == ck.temperature
    axes = plot_reliability(ck.card)
    assert len(axes) == 2 and all(len(ax.collections) == 2 for ax in axes)  # raw and calibrated points


def test_bad_or_missing_temperature(setup, tmp_path):
    src = setup["ckdir"] / "synthmemo_arousal.pt"
    for bad in (-1.0, 0.0, float("nan"), "1.5", True):
        blob = torch.load(src, weights_only=True)
        blob["calibration"]["temperature"] = bad
        torch.save(blob, tmp_path / "x_arousal.pt")
        with pytest.raises(CheckpointError, match="temperature"):
            checkpoint.load(tmp_path / "x_arousal.pt")
    # a checkpoint without calibration (older export or a run without validation): T = 1, said so
    blob = torch.load(src, weights_only=True)
    del blob["calibration"]
    del blob["card"]["calibration"]
    torch.save(blob, tmp_path / "y_arousal.pt")
    ck = checkpoint.load(tmp_path / "y_arousal.pt")
    assert ck.temperature == 1.0 and not ck.calibrated and "uncalibrated" in ck.summary()
    with pytest.raises(ValueError, match="no calibration"):
        plot_reliability(ck.card)
