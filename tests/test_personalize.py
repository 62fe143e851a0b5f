"""`damer-lite personalize`: the ratings file's checks (each bad case names the file, line and column and
writes nothing), the adaptation round trip, and `predict --dynamic --checkpoint` with the result."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from damer_lite.cli import main as cli_main
from damer_lite.datasets import synth
from damer_lite.experiments import runs
from damer_lite.experiments.dynamic import run_dir, run_dynamic
from damer_lite.predict.dynamic import export_dynamic, load_dynamic
from damer_lite.predict.personalize import RatingsError, personalize, read_ratings


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    base = tmp_path_factory.mktemp("personalize")
    synth.generate(base / "synth", n_tracks=12, duration=5.0, sr=16000, seed=3, progress=False)
    sdir = runs.ensure_store("synthmemo", base / "synth", base / "features", "smoke", progress=False)
    run_dynamic(sdir, "synthmemo", base / "res", profile="smoke", seeds=[0], models=["dual_scale"], progress=False)
    ck = export_dynamic(run_dir(base / "res", "synthmemo", "dual_scale", 0), sdir, base / "synthmemo_dynamic.pt")
    info = pd.read_csv(base / "synth" / "songs_info_all.csv", dtype={"song_id": str})
    labels = json.loads((base / "synth" / "Label_pseudonymous.json").read_text())
    songs = []
    for entry in [e for e in labels if e["AnnotatorID"] == "A01"][:2]:  # one listener's own curves
        row = info[info["song_id"] == str(entry["MID"])].iloc[0]
        csv = base / f"ratings_{entry['MID']}.csv"
        pd.DataFrame({"time_s": np.arange(len(entry["V"]), dtype=float), "valence": entry["V"],
                      "arousal": entry["A"]}).to_csv(csv, index=False)
        songs.append((base / "synth" / "MusicRawData" / row["file_name"], csv, float(row["duration_s"])))
    return {"base": base, "ck": ck, "songs": songs}


def _write(tmp_path, text: str, name: str = "r.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


GOOD = "time_s,valence,arousal\n0,0.1,-0.2\n1,0.2,-0.1\n2,0.3,0.0\n3,0.2,0.1\n"


def test_read_ratings_accepts_a_good_file_and_extra_columns(tmp_path):
    df = read_ratings(_write(tmp_path, "arousal,time_s,valence,comment\n-0.2,0,0.1,hi\n-0.1,1,0.2,\n0,2,0.3,x\n"),
                      duration_s=3.0)
    assert list(df.columns) == ["time_s", "valence", "arousal"]
    assert df["valence"].tolist() == [0.1, 0.2, 0.3] and df["time_s"].tolist() == [0, 1, 2]
    short_gap = read_ratings(_write(tmp_path, "time_s,valence,arousal\n0,0.1,0.1\n1,,0.2\n2,0.3,0.3\n"))
    assert np.isnan(short_gap["valence"][1])  # one unrated second: allowed


@pytest.mark.parametrize("text, match", [
    ("", "empty file"),
    ("time_s,Valence,arousal\n0,0.1,0.1\n", r"missing column\(s\) 'valence' \(is 'Valence' meant\? rename it\)"),
    ("t,v,a\n0,0.1,0.1\n", r"missing column\(s\) 'time_s'.*'valence'.*'arousal'.*found columns 't', 'v', 'a'"),
    ("time_s,valence,arousal\n", "no rows under the header"),
    ("time_s,valence,arousal\n0,0.1,0.1\n1,high,0.2\n", r"line 3, column 'valence': 'high' is not a finite number"),
    ("time_s,valence,arousal\n0,0.1,0.1\n1,0.2,inf\n", r"line 3, column 'arousal': 'inf' is not a finite number"),
    ("time_s,valence,arousal\n0,0.1,0.1\n1,1.5,0.2\n", r"line 3, column 'valence': 1.5 is outside \[-1, 1\]"),
    ("time_s,valence,arousal\n0,0.1,0.1\n,0.2,0.2\n", r"line 3, column 'time_s': empty"),
    ("time_s,valence,arousal\n-1,0.1,0.1\n0,0.2,0.2\n", r"line 2, column 'time_s': -1 is negative"),
    ("time_s,valence,arousal\n0,0.1,0.1\n2,0.2,0.2\n1,0.2,0.2\n", r"line 4, column 'time_s': 1 does not come after 2"),
    ("time_s,valence,arousal\n0,0.1,0.1\n1,0.1,0.1\n2,0.2,0.2\n30,0.2,0.2\n",
     r"line 5, column 'time_s': 30 s is beyond"),
    ("time_s,valence,arousal\n0,0.1,0.1\n1,,0.1\n2,,0.1\n3,,0.2\n4,0.2,0.2\n",
     r"lines 3-5, column 'valence': 3 unrated rows in a row"),
    ("time_s,valence,arousal\n0,0.1,\n1,,0.2\n", "fewer than 2 rows rate both"),
])
def test_bad_ratings_files_name_line_and_column(tmp_path, text, match):
    p = _write(tmp_path, text)
    with pytest.raises(RatingsError, match=match) as e:
        read_ratings(p, duration_s=10.0)
    assert str(p) in str(e.value)


def test_personalize_round_trip_and_predict_with_it(setup, tmp_path, capsys):
    (a1, r1, _), (a2, r2, _) = setup["songs"]
    out = tmp_path / "me.pt"
    rc = cli_main(["personalize", "--checkpoint", str(setup["ck"]), "--audio", str(a1), "--ratings", str(r1),
                   "--out", str(out), "--steps", "20", "--lr", "0.02"])
    assert rc == 0 and out.is_file()
    me, base = load_dynamic(out), load_dynamic(setup["ck"])
    rep = me.card["personalised"]
    assert rep["songs"] == [a1.name] and rep["steps"] == 20 and rep["n_rated_steps"] > 5
    assert rep["support_loss_after"] < rep["support_loss_before"]  # the listener's own song is fitted better
    assert me.card["dataset"] == base.card["dataset"] and me.feature_hash == base.feature_hash
    assert any(not torch.equal(v, base.model.state_dict()[k]) for k, v in me.model.state_dict().items())
    # the same inputs give the same checkpoint weights (seeded adaptation)
    again = personalize(setup["ck"], [(a1, r1)], tmp_path / "me2.pt", steps=20, lr=0.02)
    assert again["support_loss_after"] == pytest.approx(rep["support_loss_after"])
    # predict --dynamic --checkpoint uses it
    csv_me, csv_base = tmp_path / "me.csv", tmp_path / "base.csv"
    assert cli_main(["predict", "--checkpoint", str(out), str(a2), "--out", str(csv_me), "--no-progress"]) == 0
    assert cli_main(["predict", "--dynamic-checkpoint", str(setup["ck"]), str(a2), "--out", str(csv_base),
                     "--no-progress"]) == 0
    pm, pb = pd.read_csv(csv_me), pd.read_csv(csv_base)
    assert len(pm) == len(pb) > 0 and not np.allclose(pm["valence"], pb["valence"])
    # two songs at once
    rc = cli_main(["personalize", "--checkpoint", str(setup["ck"]), "--audio", str(a1), str(a2), "--ratings",
                   str(r1), str(r2), "--out", str(tmp_path / "two.pt")])
    assert rc == 0 and load_dynamic(tmp_path / "two.pt").card["personalised"]["songs"] == [a1.name, a2.name]


def test_personalize_writes_nothing_on_error(setup, tmp_path, capsys):
    (a1, r1, dur), _ = setup["songs"]
    out = tmp_path / "me.pt"
    bad = _write(tmp_path, f"time_s,valence,arousal\n0,0.1,0.1\n1,0.2,0.2\n{dur + 5:.1f},0.1,0.1\n", "late.csv")
    cases = [
        (["--audio", str(a1), "--ratings", str(bad)], "beyond the end of the audio"),
        (["--audio", str(a1), str(a1), "--ratings", str(r1)], "one --ratings file per --audio file"),
        (["--audio", str(tmp_path / "nope.wav"), "--ratings", str(r1)], "nope.wav"),
        (["--audio", str(_write(tmp_path, "not audio", "fake.wav")), "--ratings", str(r1)], "fake.wav"),
        (["--audio", str(a1), "--ratings", str(r1), "--steps", "0"], "--steps must be >= 1"),
    ]
    for args, match in cases:
        rc = cli_main(["personalize", "--checkpoint", str(setup["ck"]), *args, "--out", str(out)])
        err = capsys.readouterr().err
        assert rc == 2 and match in err, (args, err)
        assert not out.exists() and not list(tmp_path.glob("me.pt.tmp*"))
    rc = cli_main(["personalize", "--checkpoint", str(tmp_path / "missing.pt"), "--audio", str(a1), "--ratings",
                   str(r1), "--out", str(out)])
    assert rc == 2 and "checkpoint not found" in capsys.readouterr().err and not out.exists()
