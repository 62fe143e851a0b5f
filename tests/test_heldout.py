"""Held-out predictions of an exported checkpoint (predict.heldout): the run's test split recomputed from the
feature store reproduces the run's own metrics and stored test reliability; helpers checked by hand."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from damer_lite.cli import main as cli_main
from damer_lite.datasets import load_manifest, synth
from damer_lite.datasets.manifest import split as make_split
from damer_lite.datasets.synth_audio import TIMBRES
from damer_lite.experiments import runs
from damer_lite.predict import checkpoint, heldout
from damer_lite.predict.checkpoint import CheckpointError
from damer_lite.training.data import load_training_data


# ------------------------------------------------------------------------------------------ by hand
def test_true_quadrant_binarises_at_zero():
    q = heldout.true_quadrant([0.5, -0.5, -0.1, 0.2, 0.0, np.nan], [0.3, 0.3, -0.2, -0.9, 0.1, 0.5])
    assert list(q) == ["Q1 happy/excited", "Q2 angry/tense", "Q3 sad/depressed", "Q4 calm/relaxed",
                       "Q2 angry/tense", ""]  # valence 0 is not > 0: the negative class, as the targets


def test_confident_errors_orders_by_distance_from_one_half():
    preds = pd.DataFrame({"track_id": ["a", "b", "c", "d", "e"], "p": [0.9, 0.45, 0.0, 0.7, 1.0],
                          "correct": [False, False, False, True, False]})
    got = heldout.confident_errors(preds, 2)
    assert list(got["track_id"]) == ["c", "e"]  # |0 - 0.5| = |1 - 0.5|: the tie broken by track_id
    assert list(heldout.confident_errors(preds, 10)["track_id"]) == ["c", "e", "a", "b"]  # d was right
    assert heldout.confident_errors(preds, 0).empty
    with pytest.raises(ValueError):
        heldout.confident_errors(preds, -1)


# ------------------------------------------------------------------------------------------ an export run
@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """20 SynthMemo tracks -> smoke store -> `damer-lite train --val-size 0.25` (arousal) -> checkpoint."""
    base = tmp_path_factory.mktemp("heldout")
    root = base / "synth"
    synth.generate(root, n_tracks=20, duration=4.0, sr=16000, seed=11, progress=False)
    sdir = runs.ensure_store("synthmemo", root, base / "features", "smoke", progress=False)
    out = base / "runs_export" / "synthmemo" / "arousal" / "damer" / "seed3"
    rc = cli_main(["train", "--features", str(sdir), "--target", "arousal", "--profile", "smoke", "--seed", "3",
                   "--val-size", "0.25", "--set", "train.select=last", "--out", str(out)])
    assert rc == 0
    ck = base / "checkpoints" / checkpoint.checkpoint_name("synthmemo", "arousal")
    checkpoint.export_seed_run(base / "runs_export", sdir, "synthmemo", "arousal", 3, ck)
    return {"base": base, "root": root, "store": sdir, "run": out, "ck": ck}


def test_recomputed_predictions_reproduce_the_runs_metrics(setup):
    man = load_manifest("synthmemo", setup["root"])
    p = heldout.heldout_predictions(setup["ck"], setup["base"] / "runs_export", setup["base"] / "features",
                                    manifest=man)
    m = json.loads((setup["run"] / "metrics.json").read_text())
    # the test rows are the run's seed-3 split, not seed 0's
    _, _, table = load_training_data(setup["store"])
    test = make_split(table, "arousal", 3)["test"]
    assert list(p["track_id"]) == list(table["track_id"].astype(str).iloc[test])
    assert len(p) == m["n_test"] == p.attrs["n_test"] and p.attrs["seed"] == 3
    assert p.attrs["acc"] == m["fuse"]["acc"] == p.attrs["acc_run"]
    assert p.attrs["auc"] == pytest.approx(m["fuse"]["auc"], abs=1e-9)
    assert (p["y_true"] == (p["arousal"] > 0).astype(int)).all()
    assert (p["correct"] == (p["y_pred"] == p["y_true"])).all()
    assert (p["y_pred"] == (p["p_calibrated"] >= 0.5)).all()  # a temperature never changes the decision
    assert p["style"].isin(TIMBRES).all() and p["audio_path"].str.len().gt(0).all()
    # the store's own snapshot is enough without a manifest (style kept, no audio path)
    q = heldout.heldout_predictions(setup["ck"], setup["base"] / "runs_export", setup["base"] / "features")
    assert list(q["style"]) == list(p["style"]) and "audio_path" not in q

    ck = checkpoint.load(setup["ck"])
    card = heldout.heldout_card(ck.card, p)
    diff = heldout.reliability_difference(ck.card, card)
    assert max(diff.values()) < 1e-6, diff  # the stored test reliability, recomputed
    assert sum(r["n"] for r in card["calibration"]["test_reliability_raw"]) == len(p)


def test_wrong_run_or_store_is_refused(setup, tmp_path):
    ck = checkpoint.load(setup["ck"])
    with pytest.raises(CheckpointError, match="no run.json"):
        heldout.heldout_predictions(ck, tmp_path, setup["base"] / "features")
    # a run folder whose run.json names another seed than the checkpoint's card
    other = tmp_path / "runs" / "synthmemo" / "arousal" / "damer" / "seed3"
    shutil.copytree(setup["run"], other)
    info = json.loads((other / "run.json").read_text())
    (other / "run.json").write_text(json.dumps({**info, "seed": 4}))
    with pytest.raises(CheckpointError, match="seed"):
        heldout.heldout_predictions(ck, tmp_path / "runs", setup["base"] / "features")
    with pytest.raises(FileNotFoundError, match="no feature store"):
        heldout.heldout_predictions(ck, setup["base"] / "runs_export", tmp_path)
    with pytest.raises(ValueError, match="test split has"):
        heldout.heldout_predictions(ck, setup["base"] / "runs_export", setup["base"] / "features", test_size=0.5)
