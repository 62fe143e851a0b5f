"""Checkpoint export/load and `damer-lite predict` on a tiny smoke-profile SynthMemo setup."""

from __future__ import annotations

import argparse
import json
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from damer_lite.cli import predict as predict_command
from damer_lite.datasets import synth
from damer_lite.experiments import runs
from damer_lite.features import store
from damer_lite.features.config import feature_profile
from damer_lite.predict import checkpoint
from damer_lite.predict.checkpoint import CheckpointError
from damer_lite.predict.predictor import (
    Predictor,
    default_span,
    find_audio,
    quadrant,
    summarise,
    summary_line,
    window_spans,
)
from damer_lite.training.loop import predict as model_predict
from damer_lite.training.runio import load_model

TARGETS = ("arousal", "valence")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """12 SynthMemo tracks of ~4 s at 16 kHz -> smoke feature store -> 'damer' runs -> exported checkpoints."""
    base = tmp_path_factory.mktemp("predict")
    root = base / "synth"
    synth.generate(root, n_tracks=12, duration=4.0, sr=16000, seed=5, progress=False)
    sdir = runs.ensure_store("synthmemo", root, base / "features", "smoke", progress=False)
    ckdir = base / "checkpoints"
    for t in TARGETS:
        runs.execute(sdir, t, "damer", 0, "smoke", base / "runs" / "synthmemo" / t / "damer" / "seed0")
        out = ckdir / checkpoint.checkpoint_name("synthmemo", t)
        checkpoint.export_seed_run(base / "runs", sdir, "synthmemo", t, 0, out)
    return {"base": base, "root": root, "store": sdir, "ckdir": ckdir, "runs": base / "runs"}


def _run_dir(setup, target):
    return setup["runs"] / "synthmemo" / target / "damer" / "seed0"


def _cli(argv) -> int:
    p = argparse.ArgumentParser(prog="damer-lite")
    sub = p.add_subparsers(dest="command", required=True)
    predict_command.add_parser(sub)
    args = p.parse_args(["predict", *argv])
    return args.func(args)


# ------------------------------------------------------------------------------------------ checkpoints
def test_checkpoint_is_plain_and_complete(setup):
    path = setup["ckdir"] / "synthmemo_arousal.pt"
    blob = torch.load(path, map_location="cpu", weights_only=True)  # tensors and plain values only
    assert blob["format"] == checkpoint.FORMAT and blob["format_version"] == checkpoint.FORMAT_VERSION
    for key in ("state_dict", "config", "input_shape", "feature_config", "feature_config_hash", "standardiser", "card"):
        assert key in blob
    json.dumps(blob["card"]), json.dumps(blob["config"]), json.dumps(blob["feature_config"])  # JSON-able
    card = blob["card"]
    for key in ("dataset", "target", "profile", "configuration", "seed", "test_metrics", "exported_at",
                "damer_lite_version", "n_train", "n_test", "trained_on"):
        assert key in card, key
    assert (card["dataset"], card["target"], card["configuration"], card["profile"]) == (
        "synthmemo", "arousal", "damer", "smoke")
    metrics = json.loads((_run_dir(setup, "arousal") / "metrics.json").read_text())
    assert card["test_metrics"]["fuse"] == metrics["fuse"]
    st = store.load(setup["store"])
    assert blob["feature_config_hash"] == st["config"].hash() == setup["store"].name.rsplit("-", 1)[1]

    ck = checkpoint.load(path, feature_config=st["config"])
    with np.load(_run_dir(setup, "arousal") / "standardiser.npz") as z:
        np.testing.assert_array_equal(ck.stats["mel_mean"], z["mel_mu"].ravel())
        np.testing.assert_array_equal(ck.stats["coch_std"], z["coch_sd"].ravel())
    ref = torch.load(_run_dir(setup, "arousal") / "model.pt", weights_only=True)
    for k, v in ck.model.state_dict().items():
        assert torch.equal(v, ref[k])
    assert checkpoint.find_pair(setup["ckdir"]) == {t: setup["ckdir"] / f"synthmemo_{t}.pt" for t in TARGETS}


def _tamper(setup, tmp_path, edit, name="bad_arousal.pt"):
    blob = torch.load(setup["ckdir"] / "synthmemo_arousal.pt", weights_only=True)
    edit(blob)
    out = tmp_path / name
    torch.save(blob, out)
    return out


def test_mismatched_or_corrupt_checkpoints_are_refused(setup, tmp_path):
    good = setup["ckdir"] / "synthmemo_arousal.pt"
    with pytest.raises(CheckpointError, match="made for features"):
        checkpoint.load(good, feature_config=feature_profile("quick"))

    def edit_sr(b):
        b["feature_config"]["sr"] = 22050  # the stored hash no longer describes the settings

    with pytest.raises(CheckpointError, match="hash mismatch"):
        checkpoint.load(_tamper(setup, tmp_path, edit_sr))
    with pytest.raises(CheckpointError, match="missing field 'standardiser'"):
        checkpoint.load(_tamper(setup, tmp_path, lambda b: b.pop("standardiser")))

    def edit_std(b):
        b["standardiser"]["mel_std"] = b["standardiser"]["mel_std"][:10]

    with pytest.raises(CheckpointError, match="mel_std"):
        checkpoint.load(_tamper(setup, tmp_path, edit_std))

    def edit_weights(b):
        k = next(iter(b["state_dict"]))
        b["state_dict"][k] = torch.zeros(3, 3, 3)

    with pytest.raises(CheckpointError, match="weights do not fit"):
        checkpoint.load(_tamper(setup, tmp_path, edit_weights))
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="not a loadable"):
        checkpoint.load(truncated)
    pickled = tmp_path / "pickled.pt"
    torch.save({"format": checkpoint.FORMAT, "x": argparse.Namespace(a=1)}, pickled)  # an arbitrary object
    with pytest.raises(CheckpointError, match="not a loadable"):
        checkpoint.load(pickled)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, other)
    with pytest.raises(CheckpointError, match="not a damer-lite checkpoint"):
        checkpoint.load(other)
    with pytest.raises(CheckpointError, match="not found"):
        checkpoint.load(tmp_path / "absent.pt")
    with pytest.raises(CheckpointError, match="given as the valence"):
        Predictor.from_files(arousal=good, valence=good)
    with pytest.raises(CheckpointError, match="datasets with checkpoints here: synthmemo"):
        checkpoint.find_pair(setup["ckdir"], "pmemo")
    assert _cli([str(setup["root"]), "--arousal", str(truncated), "--no-progress"]) == 2


# ------------------------------------------------------------------------------------------ predictions
def test_predictions_equal_the_models_own_outputs(setup):
    """Same spans as the feature store -> the same fused-head probabilities as evaluating the run's model
    on the store's features with the run's standardiser."""
    st = store.load(setup["store"])
    man = st["manifest"].set_index("track_id").loc[st["index"]["track_id"]]
    segments = list(zip(man["audio_path"], man["window_start_s"], man["window_end_s"], strict=True))
    pred = Predictor.from_dir(setup["ckdir"], "synthmemo", device="cpu", batch_size=5)  # several batches
    df = pred.predict_segments(segments, progress=False)
    assert (df["error"] == "").all()
    np.testing.assert_allclose(df["start_s"], st["index"]["start_s"], atol=1e-9)
    np.testing.assert_allclose(df["end_s"], st["index"]["end_s"], atol=1e-9)
    mel, coch = np.asarray(st["mel"], dtype=np.float64), np.asarray(st["coch"], dtype=np.float64)
    for t in TARGETS:
        rd = _run_dir(setup, t)
        model = load_model(rd, n_mel_bins=mel.shape[1], n_coch_bins=coch.shape[1], n_frames=mel.shape[2])
        with np.load(rd / "standardiser.npz") as z:
            m = torch.from_numpy(((mel - z["mel_mu"]) / z["mel_sd"]).astype(np.float32))
            c = torch.from_numpy(((coch - z["coch_mu"]) / z["coch_sd"]).astype(np.float32))
        ref = model_predict(model, m, c, torch.device("cpu"))["fuse"]
        np.testing.assert_allclose(df[f"p_{t}"].to_numpy(), ref, atol=1e-5, rtol=0)
    assert set(df["quadrant"]) <= {"Q1 happy/excited", "Q2 angry/tense", "Q3 sad/depressed", "Q4 calm/relaxed"}
    assert pred.warnings and "illustrative" in pred.warnings[0]

    # the default span (the checkpoint's window rule) and a windowed timeline, on the folder
    audio = setup["root"] / "MusicRawData"
    full = pred.predict([audio / "*.flac"], progress=False)  # a glob
    assert len(full) == 12 and (full["error"] == "").all() and (full["start_s"] == 0).all()
    tl = pred.predict([sorted(audio.glob("*.flac"))[0]], window_s=1.0, hop_s=0.5, progress=False)
    assert len(tl) >= 5 and list(tl["window"]) == list(range(len(tl)))
    np.testing.assert_allclose(np.diff(tl["start_s"]), 0.5, atol=1e-6)


def test_bad_files_become_error_rows(setup, tmp_path):
    d = tmp_path / "bad"
    d.mkdir()
    (d / "empty.wav").write_bytes(b"")
    (d / "corrupt.flac").write_bytes(b"fLaC" + np.random.default_rng(0).bytes(3000))
    (d / "text.wav").write_text("this is not audio\n" * 50)
    (d / "notes.txt").write_text("skipped inside a folder")
    sf.write(d / "short.wav", 0.3 * np.sin(np.arange(3200) / 5.0), 16000)  # 0.2 s
    sf.write(d / "silent.wav", np.zeros(32000), 16000)
    pred = Predictor.from_dir(setup["ckdir"], device="cpu")
    files, missing, skipped = find_audio([d])
    assert len(files) == 5 and skipped == 1 and not missing
    df = pred.predict([d, d / "notes.txt", tmp_path / "absent.mp3"], progress=False)
    reasons = df.set_index("track")["error"]
    assert len(df) == 7 and (reasons != "").all()
    assert "empty" in reasons["empty.wav"]
    assert "not readable" in reasons["corrupt.flac"] and "not readable" in reasons["text.wav"]
    assert "not readable" in reasons["notes.txt"]
    assert df.attrs["skipped_non_audio"] == 1 and "1 non-audio file skipped" in summary_line(df)
    assert "too short" in reasons["short.wav"]
    assert "silent" in reasons["silent.wav"]
    assert "not found" in reasons["absent.mp3"]
    s = summarise(df)
    assert s["n_ok"] == 0 and s["n_failed"] == 7

    good = sorted((setup["root"] / "MusicRawData").glob("*.flac"))[0]
    out = tmp_path / "preds.csv"
    assert _cli([str(d), str(good), "--checkpoint-dir", str(setup["ckdir"]), "--out", str(out),
                 "--plot", str(tmp_path / "va.png"), "--no-progress"]) == 0
    csv = pd.read_csv(out, keep_default_na=False)
    assert len(csv) == 6 and (csv["error"] != "").sum() == 5
    assert {"p_arousal", "p_valence", "quadrant", "start_s", "end_s"} <= set(csv.columns)
    assert (tmp_path / "va.png").stat().st_size > 0
    assert _cli([str(d), "--checkpoint-dir", str(setup["ckdir"]), "--no-progress"]) == 1  # nothing predicted
    assert _cli([str(good), "--checkpoint-dir", str(tmp_path / "none"), "--no-progress"]) == 2


def test_nothing_audio_and_checkpoints_found_from_anywhere(setup, tmp_path, monkeypatch, capsys):
    """A glob that matches only non-audio files gets a clear message (not an empty table); without
    --checkpoint-dir the checkpoints come from $DAMER_LITE_CHECKPOINTS or the repository, never the current
    directory."""
    d = tmp_path / "docs"
    d.mkdir()
    (d / "a.txt").write_text("x")
    (d / "b.pdf").write_bytes(b"%PDF")
    assert _cli([str(d / "*"), "--checkpoint-dir", str(setup["ckdir"]), "--no-progress"]) == 1
    err = capsys.readouterr()
    assert "no audio file" in err.err and "2 file(s) found" in err.err and "Empty DataFrame" not in err.out
    # from an unrelated working directory, through the environment variable
    good = sorted((setup["root"] / "MusicRawData").glob("*.flac"))[0]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(predict_command.CHECKPOINT_ENV, str(setup["ckdir"]))
    assert _cli([str(good), "--no-progress"]) == 0
    # without it: the repository's results/checkpoints (the committed ones), whatever the working directory
    monkeypatch.delenv(predict_command.CHECKPOINT_ENV)
    assert predict_command.default_checkpoint_dir() == Path(predict_command.__file__).resolve().parents[2] / (
        "results/checkpoints")


def test_long_file_bounded_memory(setup, tmp_path):
    """A 30-minute file: windows are read one at a time, never the whole file."""
    sr, minutes = 8000, 30
    path = tmp_path / "long.wav"
    rng = np.random.default_rng(1)
    t = np.arange(60 * sr) / sr
    with sf.SoundFile(path, "w", sr, 2, "PCM_16") as f:  # stereo, written a minute at a time
        for k in range(minutes):
            tone = 0.2 * np.sin(2 * np.pi * (220 + 10 * k) * t) + 0.02 * rng.standard_normal(t.size)
            f.write(np.stack([tone, 0.5 * tone], axis=1))
    decoded = minutes * 60 * sr * 2 * 4  # bytes as float32 stereo: 115 MB (230 MB resampled to 16 kHz)
    pred = Predictor.from_dir(setup["ckdir"], device="cpu")
    pred.predict([path], window_s=2.0, hop_s=600.0, progress=False)  # warm caches (filterbanks)

    tracemalloc.start()
    try:
        df = pred.predict([path], window_s=2.0, hop_s=60.0, progress=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(df) == 30 and (df["error"] == "").all()
    assert df["end_s"].max() == pytest.approx(29 * 60 + 2, abs=1e-3)
    assert peak < decoded / 10, f"peak {peak / 1e6:.1f} MB for a file of {decoded / 1e6:.0f} MB decoded"

    span = pred.predict([path], max_span_s=20.0, progress=False).iloc[0]  # default span: capped, with a note
    assert span["error"] == "" and span["end_s"] - span["start_s"] == pytest.approx(20.0, abs=1e-3)
    assert "capped" in span["note"]


# ------------------------------------------------------------------------------------------ rules
def test_span_rules():
    paper = feature_profile("paper")
    assert default_span(200.0, paper) == (15.0, 75.0)
    assert default_span(45.0, paper) == pytest.approx((9.0, 45.0))  # analysis_window's proportional shrink
    assert default_span(600.0, feature_profile("quick")) == (0.0, 120.0)  # capped
    assert default_span(20.0, feature_profile("quick")) == (0.0, 20.0)
    assert window_spans(10.0, 4.0) == [(0.0, 4.0), (4.0, 8.0)]
    assert window_spans(10.0, 4.0, 3.0) == [(0.0, 4.0), (3.0, 7.0), (6.0, 10.0)]
    assert window_spans(3.0, 5.0) == [(0.0, 3.0)]
    assert quadrant(0.9, 0.9).startswith("Q1") and quadrant(0.1, 0.9).startswith("Q2")
    assert quadrant(0.1, 0.1).startswith("Q3") and quadrant(0.9, 0.1).startswith("Q4")
    assert checkpoint.checkpoint_name("memo2496", "valence") == "memo2496_valence.pt"
