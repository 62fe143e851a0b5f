import hashlib
import json

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from damer_lite.cli import main
from damer_lite.datasets import annotation, synth
from tests.conftest import TINY


def _digest(root):
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_byte_identical_files(tmp_path):
    synth.generate(tmp_path / "a", progress=False, **TINY)
    synth.generate(tmp_path / "b", progress=False, **TINY)
    da, db = _digest(tmp_path / "a"), _digest(tmp_path / "b")
    assert da == db
    assert sum(k.startswith("MusicRawData/") for k in da) == TINY["n_tracks"]
    other = dict(TINY, seed=TINY["seed"] + 1)
    synth.generate(tmp_path / "c", progress=False, **other)
    assert _digest(tmp_path / "c")["valence_all_average.csv"] != da["valence_all_average.csv"]


def test_workers_give_the_same_files_as_one_process(tmp_path):
    one = synth.generate(tmp_path / "one", progress=False, **TINY)
    two = synth.generate(tmp_path / "two", progress=False, workers=2, **TINY)
    assert _digest(tmp_path / "one") == _digest(tmp_path / "two")
    assert (one["workers"], two["workers"]) == (1, 2)
    assert not list((tmp_path / "two" / "MusicRawData").glob("*.tmp"))


def test_cli_twice_identical_and_if_absent(tmp_path, capsys):
    args = ["synth", "--n-tracks", "8", "--duration", "3", "--sr", "8000", "--seed", "1", "--format", "wav"]
    assert main([*args, "--out", str(tmp_path / "x")]) == 0
    assert main([*args, "--out", str(tmp_path / "y")]) == 0
    assert _digest(tmp_path / "x") == _digest(tmp_path / "y")
    out = capsys.readouterr().out
    assert "x real time" in out
    assert main([*args, "--out", str(tmp_path / "x"), "--if-absent"]) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert main(["synth", "--out", str(tmp_path / "z"), "--n-tracks", "2"]) == 2
    assert main([*args, "--out", str(tmp_path / "w"), "--workers", "0"]) == 2
    assert "--workers must be >= 1" in capsys.readouterr().err


def test_layout_files_and_columns(smoke_synth):
    root = smoke_synth
    for name in ["songs_info_all.csv", "valence_all_average.csv", "arousal_all_average.csv",
                 "valence_all_std.csv", "arousal_all_std.csv", "Label_pseudonymous.json"]:
        assert (root / name).is_file(), name
    info = pd.read_csv(root / "songs_info_all.csv")
    assert {"song_id", "file_name"} <= set(info.columns)
    assert all((root / "MusicRawData" / f).is_file() for f in info["file_name"])
    wide = pd.read_csv(root / "valence_all_average.csv")
    assert list(wide.columns[:3]) == ["song_id", "sample_0ms", "sample_1000ms"]
    # 1 Hz samples, NaN after the song ends
    n_valid = wide.drop(columns="song_id").notna().sum(axis=1).to_numpy()
    assert np.array_equal(n_valid, np.ceil(info["duration_s"].to_numpy()).astype(int))
    assert n_valid.min() < wide.shape[1] - 1
    info_sf = sf.info(str(root / "MusicRawData" / info["file_name"][0]))
    assert info_sf.samplerate == synth.SIZES["smoke"]["sr"] and info_sf.channels == 1
    for f in ["tracks.csv", "sections.csv", "latent_va.csv", "annotators.csv", "params.json"]:
        assert (root / "synth_truth" / f).is_file(), f


def test_label_ranges(smoke_synth):
    for dim in ("valence", "arousal"):
        vals = pd.read_csv(smoke_synth / f"{dim}_all_average.csv").drop(columns="song_id").to_numpy()
        assert np.nanmin(vals) >= -1 and np.nanmax(vals) <= 1
        std = pd.read_csv(smoke_synth / f"{dim}_all_std.csv").drop(columns="song_id").to_numpy()
        assert np.nanmin(std) >= 0
    labels = json.loads((smoke_synth / "Label_pseudonymous.json").read_text())
    allv = np.concatenate([e["V"] + e["A"] for e in labels])
    assert allv.min() >= -1 and allv.max() <= 1


def test_annotation_protocol_invariants(smoke_synth):
    n = synth.SIZES["smoke"]["n_tracks"]
    labels = json.loads((smoke_synth / "Label_pseudonymous.json").read_text())
    per_track = pd.Series([e["MID"] for e in labels]).value_counts()
    assert len(per_track) == n and (per_track == 20).all()  # each track gets 20 raters
    anns = pd.read_csv(smoke_synth / "synth_truth" / "annotators.csv")
    assert len(anns) == 30 and (anns["sex"] == "M").sum() == 12 and (anns["sex"] == "F").sum() == 18
    assert anns["age"].between(18, 28).all() and anns["age"].min() == 18 and anns["age"].max() == 28
    assert (anns["cohort"].value_counts() == 10).all()
    tracks = pd.read_csv(smoke_synth / "synth_truth" / "tracks.csv").set_index("song_id")
    per_ann = pd.DataFrame(labels).groupby("AnnotatorID")["MID"].apply(set)
    for _, a in anns.iterrows():
        rated = per_ann[a["annotator_id"]]
        allowed = {g for g in range(3) if a["cohort"] in annotation.raters_for_group(g)}
        assert set(tracks.loc[sorted(rated), "group"]) == allowed  # exactly the tracks of two groups
        assert len(rated) == (tracks["group"].isin(allowed)).sum()
        assert abs(len(rated) - 2 * n / 3) <= 1  # 2/3 of the tracks
    # calibration: everyone passed, and each passed with a final duplicate distance <= 0.25
    assert anns["passed"].all()
    final = anns["calibration_distances"].astype(str).str.split(";").str[-1].astype(float)
    assert (final <= annotation.CALIBRATION_THRESHOLD).all()
    retrained = anns[anns["calibration_rounds"] > 1]
    first = retrained["calibration_distances"].astype(str).str.split(";").str[0].astype(float)
    assert (first > annotation.CALIBRATION_THRESHOLD).all()  # retraining happened only after a failure


def test_calibration_fails_a_noisy_annotator_then_retrains():
    rng = np.random.default_rng(0)
    anns = annotation.make_annotators(rng)
    anns[0].initial_noise = anns[0].noise = 0.5
    annotation.calibrate(anns[:1], rng)
    assert anns[0].calibration_rounds > 1 and anns[0].passed and anns[0].noise < 0.5


def test_cue_monotonicity(smoke_synth):
    sec = pd.read_csv(smoke_synth / "synth_truth" / "sections.csv")
    assert np.corrcoef(sec["arousal"], sec["tempo_bpm"])[0, 1] > 0.5  # tempo rises with arousal
    assert np.corrcoef(sec["arousal"], sec["loudness_db"])[0, 1] > 0.5
    assert np.corrcoef(sec["arousal"], sec["notes_per_beat"])[0, 1] > 0.3
    assert np.corrcoef(sec["arousal"], sec["attack_s"])[0, 1] < -0.5  # sharper attacks when aroused
    assert np.corrcoef(sec["valence"], sec["register_midi"])[0, 1] > 0.5
    neg, pos = sec[sec["valence"] < -0.2], sec[sec["valence"] > 0.2]
    assert neg["major"].mean() < pos["major"].mean() - 0.3  # minor mode more frequent at negative valence
    assert neg["dissonance_p"].mean() > pos["dissonance_p"].mean()


def test_style_is_independent_of_emotion(smoke_synth):
    tr = pd.read_csv(smoke_synth / "synth_truth" / "tracks.csv")
    assert tr["timbre"].nunique() >= 5 and set(tr["timbre"]) <= set(synth.TIMBRES)
    assert tr["percussion"].any() and (~tr["percussion"]).any()


def test_audio_loudness_follows_arousal(smoke_synth):
    tr = pd.read_csv(smoke_synth / "synth_truth" / "tracks.csv")
    rms = [np.sqrt(np.mean(sf.read(str(smoke_synth / "MusicRawData" / f))[0] ** 2)) for f in tr["file_name"]]
    assert np.corrcoef(tr["latent_arousal_mean"], 20 * np.log10(rms))[0, 1] > 0.5


@pytest.mark.parametrize("bad", [{"n_tracks": 2}, {"duration": 1.0}, {"sr": 4000}, {"fmt": "mp3"}])
def test_generate_rejects_bad_arguments(tmp_path, bad):
    args = dict(TINY, **bad)
    with pytest.raises(ValueError):
        synth.generate(tmp_path, progress=False, **args)
