"""Dynamic checkpoints and `damer-lite predict --dynamic` on a tiny smoke-profile SynthMemo setup."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from damer_lite.cli import main as cli_main
from damer_lite.config import DynamicConfig
from damer_lite.datasets import synth
from damer_lite.experiments import runs
from damer_lite.experiments.dynamic import run_dir, run_dynamic
from damer_lite.features import store
from damer_lite.features.config import feature_profile
from damer_lite.predict import checkpoint, dynamic
from damer_lite.predict.checkpoint import CheckpointError
from damer_lite.predict.dynamic import (
    COLUMNS,
    DynamicPredictor,
    Window,
    export_dynamic,
    load_dynamic,
    plot_curves,
    step_times,
    summarise,
    summary_line,
    window_plan,
)
from damer_lite.training.data import Standardiser
from damer_lite.training.dynamic import build_dynamic_model, predict_steps


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """12 SynthMemo tracks of ~4 s at 16 kHz -> smoke store -> dynamic runs (seed 0) -> exported checkpoints."""
    base = tmp_path_factory.mktemp("predict_dynamic")
    synth.generate(base / "synth", n_tracks=12, duration=4.0, sr=16000, seed=5, progress=False)
    sdir = runs.ensure_store("synthmemo", base / "synth", base / "features", "smoke", progress=False)
    res = base / "results"
    run_dynamic(sdir, "synthmemo", res, profile="smoke", seeds=[0], models=["dual_scale", "damer_step", "ridge"],
                progress=False)
    ckdir = base / "checkpoints"
    ck = export_dynamic(run_dir(res, "synthmemo", "dual_scale", 0), sdir, ckdir / "synthmemo_dynamic.pt")
    step = export_dynamic(run_dir(res, "synthmemo", "damer_step", 0), sdir, base / "step_dynamic.pt")
    return {"base": base, "store": sdir, "results": res, "ckdir": ckdir, "ck": ck, "step": step,
            "audio": sorted((base / "synth" / "MusicRawData").glob("*.flac"))}


def _run(setup, model="dual_scale"):
    return run_dir(setup["results"], "synthmemo", model, 0)


def _tone(path, seconds: float, sr: int = 16000, seed: int = 0):
    """A gliding tone with noise and a 2 Hz pulse (not SynthMemo), mono, at the store's sample rate."""
    t = np.arange(int(round(seconds * sr))) / sr
    rng = np.random.default_rng(seed)
    x = 0.3 * np.sin(2 * np.pi * (200 + 40 * t) * t) * (0.6 + 0.4 * (np.sin(2 * np.pi * 2 * t) > 0))
    sf.write(path, x + 0.02 * rng.standard_normal(t.size), sr)
    return path


def _reference(setup, model: str, mel, coch) -> np.ndarray:
    """The run's own model (model.pt + config.json + standardiser.npz) on raw features -> (n, T, 2)."""
    rd = _run(setup, model)
    info = json.loads((rd / "run.json").read_text())
    cfg = DynamicConfig.from_dict(json.loads((rd / "config.json").read_text()))
    net = build_dynamic_model(model, cfg, mel.shape[1], coch.shape[1], mel.shape[2], token_s=info["token_s"])
    net.load_state_dict(torch.load(rd / "model.pt", weights_only=True))
    m, c = Standardiser.load(rd / "standardiser.npz")(mel, coch)
    return predict_steps(net, m, c, torch.device("cpu"))


# ------------------------------------------------------------------------------------------ checkpoints
def test_export_load_round_trip(setup, tmp_path, monkeypatch):
    blob = torch.load(setup["ck"], map_location="cpu", weights_only=True)  # tensors and plain values only
    assert blob["format"] == dynamic.FORMAT and blob["format_version"] == dynamic.FORMAT_VERSION
    assert blob["model"] == "dual_scale"
    json.dumps(blob["card"]), json.dumps(blob["config"]), json.dumps(blob["feature_config"])
    card = blob["card"]
    assert set(dynamic.CARD_FIELDS) <= set(card)
    info = json.loads((_run(setup) / "run.json").read_text())
    metrics = json.loads((_run(setup) / "metrics.json").read_text())
    assert (card["dataset"], card["model"], card["profile"], card["seed"]) == ("synthmemo", "dual_scale", "smoke", 0)
    assert (card["n_train"], card["n_test"]) == (info["n_train"], info["n_test"]) and card["n_train"] >= 6
    for dim in ("valence", "arousal"):
        assert card["test_metrics"][dim]["ccc"] == pytest.approx(metrics[dim]["ccc"])
        assert card["test_metrics"][dim]["rmse"] == pytest.approx(metrics[dim]["rmse"])
    assert blob["token_s"] == card["token_s"] == info["token_s"]
    assert card["radii_steps"] == blob["radii_steps"] == metrics["radii_steps"]
    assert card["window_s"] == pytest.approx(blob["input_shape"][2] * info["token_s"])
    assert "never heard real music" in card["trained_on"] and "[-1, 1]" in card["outputs"]
    assert card["source_run"] == "runs_dynamic/synthmemo/dual_scale/seed0"  # no full path
    st = store.load(setup["store"])
    assert blob["feature_config_hash"] == st["config"].hash() == card["feature_profile_hash"]

    ck = load_dynamic(setup["ck"], feature_config=st["config"])
    ref = torch.load(_run(setup) / "model.pt", weights_only=True)
    for k, v in ck.model.state_dict().items():
        assert torch.equal(v, ref[k])
    with np.load(_run(setup) / "standardiser.npz") as z:
        np.testing.assert_array_equal(ck.stats["mel_mean"], z["mel_mu"].ravel())
        np.testing.assert_array_equal(ck.stats["coch_std"], z["coch_sd"].ravel())
    assert ck.window_s == pytest.approx(ck.n_steps * info["token_s"])

    # same predictions as the run's model, on the store's features and on features recomputed from audio
    mel, coch = np.asarray(st["mel"]), np.asarray(st["coch"])
    for model, path in (("dual_scale", setup["ck"]), ("damer_step", setup["step"])):
        pred = DynamicPredictor.from_file(path, device="cpu", batch_size=5)
        got = pred.steps(mel, coch)
        want = _reference(setup, model, mel, coch)
        assert got.shape == (12, ck.n_steps, 2) and np.abs(got).max() <= 1.0
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
    assert pred.checkpoint.kind == "damer_step" and blob["radii_steps"] is not None
    man = st["manifest"].set_index("track_id").loc[st["index"]["track_id"].iloc[0]]
    f = pred.features(man["audio_path"], float(st["index"]["start_s"].iloc[0]), float(st["index"]["end_s"].iloc[0]))
    np.testing.assert_allclose(f["mel"], mel[0], atol=1e-4)
    np.testing.assert_allclose(pred.steps(f["mel"][None], f["coch"][None]), want[:1], atol=1e-4)

    # SOURCE_DATE_EPOCH fixes the export date (reproducible files)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "86400")
    again = export_dynamic(_run(setup), setup["store"], tmp_path / "again.pt")
    assert load_dynamic(again).card["exported_at"] == "1970-01-02T00:00:00+00:00"
    assert not list(tmp_path.glob("*.tmp-*"))  # atomic write leaves nothing behind
    assert dynamic.main(["show", str(again)]) == 0


def _tamper(setup, tmp_path, edit, name="bad_dynamic.pt"):
    blob = torch.load(setup["ck"], weights_only=True)
    edit(blob)
    out = tmp_path / name
    torch.save(blob, out)
    return out


def test_bad_runs_and_checkpoints_are_refused(setup, tmp_path, capsys):
    with pytest.raises(CheckpointError, match="ridge baseline has no neural weights"):
        export_dynamic(_run(setup, "ridge"), setup["store"], tmp_path / "ridge.pt")
    assert dynamic.main(["export", "--run", str(_run(setup, "ridge")), "--store", str(setup["store"]),
                         "--out", str(tmp_path / "ridge.pt")]) == 2
    assert "error:" in capsys.readouterr().err and not (tmp_path / "ridge.pt").exists()
    with pytest.raises(CheckpointError, match="does not exist"):
        export_dynamic(tmp_path / "no_run", setup["store"], tmp_path / "x.pt")

    with pytest.raises(CheckpointError, match="made for features"):
        load_dynamic(setup["ck"], feature_config=feature_profile("quick"))
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(setup["ck"].read_bytes()[:4000])
    with pytest.raises(CheckpointError, match="not a loadable"):
        load_dynamic(truncated)
    assert dynamic.main(["show", str(truncated)]) == 2

    def edit_sr(b):
        b["feature_config"]["sr"] = 22050  # the stored hash no longer describes the settings

    with pytest.raises(CheckpointError, match="hash mismatch"):
        load_dynamic(_tamper(setup, tmp_path, edit_sr))
    with pytest.raises(CheckpointError, match="format version 2 is not supported"):
        load_dynamic(_tamper(setup, tmp_path, lambda b: b.update(format_version=2)))
    with pytest.raises(CheckpointError, match="format version"):
        load_dynamic(_tamper(setup, tmp_path, lambda b: b.update(format_version="1")))

    def nan_weights(b):
        k = next(k for k, v in b["state_dict"].items() if v.is_floating_point())
        b["state_dict"][k] = b["state_dict"][k].clone().fill_(float("nan"))

    with pytest.raises(CheckpointError, match="NaN"):
        load_dynamic(_tamper(setup, tmp_path, nan_weights))

    def wrong_shape(b):
        k = next(iter(b["state_dict"]))
        b["state_dict"][k] = torch.zeros(3, 3, 3)

    with pytest.raises(CheckpointError, match="weights do not fit"):
        load_dynamic(_tamper(setup, tmp_path, wrong_shape))
    for bad in (0.0, -0.1, float("nan"), True, "0.12"):
        with pytest.raises(CheckpointError, match="token_s"):
            load_dynamic(_tamper(setup, tmp_path, lambda b, v=bad: b.update(token_s=v)))
    # a token_s that maps the attention radii to other steps than the weights were trained with
    with pytest.raises(CheckpointError, match="radii"):
        load_dynamic(_tamper(setup, tmp_path, lambda b: b.update(token_s=b["token_s"] * 3)))
    with pytest.raises(CheckpointError, match="missing field 'standardiser'"):
        load_dynamic(_tamper(setup, tmp_path, lambda b: b.pop("standardiser")))
    with pytest.raises(CheckpointError, match="model 'ridge' is not one of"):
        load_dynamic(_tamper(setup, tmp_path, lambda b: b.update(model="ridge")))
    with pytest.raises(CheckpointError, match="dynamic model config invalid"):
        load_dynamic(_tamper(setup, tmp_path, lambda b: b["config"].update(d=30, heads=4)))
    # a static checkpoint is not a dynamic one, and the other way round
    static = _tamper(setup, tmp_path, lambda b: b.update(format=checkpoint.FORMAT), name="static_like.pt")
    with pytest.raises(CheckpointError, match="it is a 'damer-lite-checkpoint' file"):
        load_dynamic(static)
    with pytest.raises(CheckpointError, match="it is a 'damer-lite-dynamic-checkpoint' file"):
        checkpoint.load(setup["ck"])
    pickled = tmp_path / "pickled.pt"
    torch.save({"format": dynamic.FORMAT, "x": argparse.Namespace(a=1)}, pickled)  # an arbitrary object
    with pytest.raises(CheckpointError, match="not a loadable"):
        load_dynamic(pickled)
    with pytest.raises(CheckpointError, match="not found"):
        load_dynamic(tmp_path / "absent.pt")
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(CheckpointError, match="no dynamic checkpoint"):
        dynamic.find_dynamic(tmp_path / "empty_dir")
    with pytest.raises(CheckpointError, match="datasets with dynamic checkpoints here: synthmemo"):
        dynamic.find_dynamic(setup["ckdir"], "deam")
    assert dynamic.find_dynamic(setup["ckdir"]) == setup["ck"]


# ------------------------------------------------------------------------------------------ windows
def test_window_plan_rules():
    w, t = 4.0, 32  # 0.125 s steps
    wins, note = window_plan(10.3, w, t)
    assert [(x.start_s, x.end_s) for x in wins[:2]] == [(0.0, 4.0), (4.0, 8.0)] and note == ""
    last = wins[2]
    assert (last.start_s, last.end_s) == pytest.approx((6.3, 10.3))
    # centres 6.3 + (k + 0.5) 0.125: k = 13 -> 7.9875 (inside [4, 8): dropped), k = 14 -> 8.1125 (kept)
    assert last.first_step == 14
    assert window_plan(8.0, w, t) == ([Window(0.0, 4.0), Window(4.0, 8.0)], "")  # a multiple: no extra window
    assert window_plan(8.01, w, t)[0] == [Window(0.0, 4.0), Window(4.0, 8.0)]  # < half a step left: nothing new
    short, note = window_plan(3.0, w, t)
    assert short == [Window(0.0, 3.0)] and "shorter than the training window" in note
    capped, note = window_plan(1000.0, w, t, max_duration_s=10.0)
    assert capped[-1].end_s == pytest.approx(10.0) and len(capped) == 3 and "first 10 s of 1000.0 s" in note
    assert window_plan(10.3, w, t, max_duration_s=None)[0] == wins
    np.testing.assert_allclose(step_times(2.0, 3.0, 4), [2.125, 2.375, 2.625, 2.875])
    for bad in ((0.0, w, t), (5.0, 0.0, t), (5.0, w, 0)):
        with pytest.raises(ValueError):
            window_plan(*bad)


def test_windowing_on_audio_files(setup, tmp_path):
    pred = DynamicPredictor.from_file(setup["ck"], device="cpu", batch_size=2)
    w, t = pred.window_s, pred.n_steps
    step = w / t
    lengths = {"long.wav": 2.6 * w, "exact.wav": 2 * w, "short.wav": 0.6 * w}
    files = [_tone(tmp_path / name, sec, seed=i) for i, (name, sec) in enumerate(lengths.items())]
    df = pred.predict(files, progress=False)
    assert list(df.columns) == COLUMNS and (df["error"] == "").all()
    assert np.isfinite(df[["valence", "arousal"]].to_numpy()).all()
    assert df[["valence", "arousal"]].abs().to_numpy().max() <= 1.0
    assert list(pd.unique(df["file"])) == list(lengths)  # input order
    for name, sec in lengths.items():
        g = df[df["file"] == name]
        times = g["time_s"].to_numpy()
        assert (np.diff(times) > 0).all(), name  # strictly increasing: no repeated stretch
        if name == "short.wav":  # one window of the whole file, shorter steps, and a note saying so
            assert len(g) == t and (g["window"] == 0).all()
            np.testing.assert_allclose(times, (np.arange(t) + 0.5) * sec / t, atol=2e-4)  # whole samples
            assert g["note"].str.contains("shorter than the training window").all()
            continue
        assert (g["note"] == "").all()
        assert times[0] == pytest.approx(step / 2, abs=1e-6)
        assert times[-1] == pytest.approx(sec - step / 2, abs=1e-3)  # covers the file to its end
        assert np.diff(times).max() < 1.6 * step  # no gap
    exact = df[df["file"] == "exact.wav"]
    assert len(exact) == 2 * t and list(exact.groupby("window").size()) == [t, t]
    long = df[df["file"] == "long.wav"]
    wins, _ = window_plan(lengths["long.wav"], w, t)
    assert len(wins) == 3 and list(long.groupby("window").size()) == [t, t, t - wins[2].first_step]
    assert 0 < wins[2].first_step < t
    kept = long[long["window"] == 2]["time_s"]
    assert kept.min() > 2 * w > long[long["window"] == 1]["time_s"].max()  # the overlapping steps were dropped

    # the last window's kept steps are exactly the model's steps on [D - W, D)
    f = pred.features(files[0], wins[2].start_s, wins[2].end_s)
    direct = pred.steps(f["mel"][None], f["coch"][None])[0, wins[2].first_step:]
    np.testing.assert_allclose(long[long["window"] == 2][["valence", "arousal"]].to_numpy(), direct, atol=1e-5)

    capped = pred.predict([files[0]], max_duration_s=1.5 * w, progress=False)
    assert capped["time_s"].max() < 1.5 * w and capped["note"].str.contains("analysed the first").all()
    assert summarise(df)["n_steps"] == len(df) and summarise(df)["n_windows"] == 3 + 2 + 1


# ------------------------------------------------------------------------------------------ bad inputs
def test_bad_files_become_error_rows(setup, tmp_path):
    d = tmp_path / "bad"
    d.mkdir()
    (d / "empty.wav").write_bytes(b"")
    (d / "text.wav").write_text("this is not audio\n" * 50)
    sf.write(d / "silent.wav", np.zeros(16000 * 6), 16000)  # longer than one window: every window silent
    sf.write(d / "tiny.wav", 0.3 * np.sin(np.arange(800) / 5.0), 16000)  # 0.05 s
    good = _tone(d / "good.wav", 5.0)
    pred = DynamicPredictor.from_file(setup["ck"], device="cpu")
    df = pred.predict([d / "empty.wav", d / "text.wav", d / "silent.wav", d / "tiny.wav", good,
                       tmp_path / "absent.mp3"], progress=False)
    bad = df[df["error"] != ""].set_index("file")
    assert sorted(bad.index) == ["absent.mp3", "empty.wav", "silent.wav", "text.wav", "tiny.wav"]  # one row each
    assert "empty" in bad.at["empty.wav", "error"]
    assert "not readable" in bad.at["text.wav", "error"]
    assert "silent" in bad.at["silent.wav", "error"]
    assert "too short" in bad.at["tiny.wav", "error"]
    assert "not found" in bad.at["absent.mp3", "error"]
    assert bad[["time_s", "valence", "arousal"]].isna().all().all()
    ok = df[df["file"] == "good.wav"]
    assert len(ok) > pred.n_steps and (ok["error"] == "").all() and ok["valence"].notna().all()  # the batch went on
    s = summarise(df)
    assert (s["n_files"], s["n_ok"], s["n_failed"]) == (6, 1, 5)
    assert "predicted 1/6 files" in summary_line(df) and "silent.wav: silent" in summary_line(df)

    # a silent stretch inside a file: that window's steps are NaN with the reason, the others are predicted
    w = pred.window_s
    sr = 16000
    x = sf.read(good)[0]
    mixed = np.concatenate([np.zeros(int(1.2 * w * sr)), x])
    sf.write(d / "intro.wav", mixed, sr)
    g = pred.predict([d / "intro.wav"], progress=False)
    first = g[g["window"] == 0]
    assert (first["error"].str.contains("silent")).all() and first["valence"].isna().all()
    assert g.loc[g["window"] > 0, "valence"].notna().all() and (np.diff(g["time_s"]) > 0).all()
    assert summarise(g)["n_window_errors"] == 1 and "1 windows failed" in summary_line(g)

    with pytest.raises(ValueError, match="no predicted steps"):
        plot_curves(df[df["error"] != ""])
    fig = plot_curves(pd.concat([df, g]))
    assert len(fig.axes) == 2
    import matplotlib.pyplot as plt

    for ax in fig.axes:
        assert ax.get_ylim() == (-1.05, 1.05) and {ln.get_label() for ln in ax.lines} >= {"valence", "arousal"}
    plt.close(fig)


# ------------------------------------------------------------------------------------------ CLI
def test_cli_end_to_end(setup, tmp_path, monkeypatch, capsys):
    song = _tone(tmp_path / "song.wav", 2.3 * load_dynamic(setup["ck"]).window_s)
    (tmp_path / "broken.wav").write_text("not audio")
    out, png = tmp_path / "out" / "curves.csv", tmp_path / "out" / "curves.png"
    rc = cli_main(["predict", str(song), str(tmp_path / "broken.wav"), "--dynamic", "--checkpoint-dir",
                   str(setup["ckdir"]), "--out", str(out), "--plot", str(png), "--no-progress"])
    assert rc == 0
    err = capsys.readouterr().err
    assert "predicted 1/2 files" in err and "broken.wav: " in err and "illustrative" in err
    csv = pd.read_csv(out, keep_default_na=False)
    assert list(csv.columns) == ["file", "time_s", "valence", "arousal", "path", "window", "note", "error"]
    steps = csv[csv["file"] == "song.wav"]
    assert len(steps) > 2 * load_dynamic(setup["ck"]).n_steps and (steps["error"] == "").all()
    v = steps["valence"].astype(float)
    assert v.between(-1, 1).all() and v.std() > 0
    assert (csv["file"] == "broken.wav").sum() == 1 and "not readable" in csv.loc[csv["file"] == "broken.wav",
                                                                                  "error"].iloc[0]
    assert png.stat().st_size > 5000

    # an explicit checkpoint file, no --out: one summary line per file on stdout
    assert cli_main(["predict", str(song), "--dynamic-checkpoint", str(setup["step"]), "--no-progress"]) == 0
    assert "song.wav" in capsys.readouterr().out
    # the default folder comes from $DAMER_LITE_CHECKPOINTS
    monkeypatch.setenv("DAMER_LITE_CHECKPOINTS", str(setup["ckdir"]))
    assert cli_main(["predict", str(song), "--dynamic", "--dataset", "synthmemo", "--no-progress"]) == 0
    assert cli_main(["predict", str(tmp_path / "broken.wav"), "--dynamic", "--no-progress"]) == 1  # nothing predicted
    capsys.readouterr()
    # bad arguments and checkpoints: 2
    for extra in (["--window", "3"], ["--hop", "1", "--window", "2"], ["--max-span", "30"],
                  ["--max-duration", "0"], ["--dataset", "deam"]):
        assert cli_main(["predict", str(song), "--dynamic", "--no-progress", *extra]) == 2, extra
    assert "cannot be combined with --dynamic" in capsys.readouterr().err
    assert cli_main(["predict", str(song), "--max-duration", "30", "--no-progress"]) == 2  # static: dynamic-only flag
    assert cli_main(["predict", str(song), "--dynamic", "--checkpoint-dir", str(tmp_path / "none"),
                     "--no-progress"]) == 2
    assert "export a dynamic run" in capsys.readouterr().err
    assert cli_main(["predict", str(song), "--dynamic-checkpoint", str(tmp_path / "absent.pt"), "--no-progress"]) == 2
