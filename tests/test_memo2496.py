import shutil

import numpy as np
import pandas as pd
import pytest

from damer_lite.datasets import load_manifest, manifest, memo2496, synth
from tests.conftest import TINY

COLUMNS = ["track_id", "audio_path", "dataset", "valence", "arousal", "valence_std", "arousal_std",
           "duration_s", "window_start_s", "window_end_s", "style", "dynamic_ref"]


@pytest.fixture()
def tiny(tmp_path):
    root = tmp_path / "memo"
    synth.generate(root, progress=False, **TINY)
    return root


def test_reads_synthmemo_into_the_canonical_manifest(smoke_synth):
    df = load_manifest("synthmemo", smoke_synth)
    assert list(df.columns) == COLUMNS
    assert len(df) == synth.SIZES["smoke"]["n_tracks"]
    assert df["valence"].between(-1, 1).all() and df["arousal"].between(-1, 1).all()
    assert (df["window_end_s"] <= df["duration_s"] + 1e-9).all()
    assert (df["window_start_s"] > 0).all()  # the cursor-travel onset is skipped
    assert set(df["style"]) <= set(synth.TIMBRES) and (df["dataset"] == "synthmemo").all()
    assert df.attrs["report"].n_usable == len(df)
    both = manifest.binary_targets(df)
    for t in ("arousal", "valence"):
        assert 0.2 < both[f"{t}_bin"].mean() < 0.8  # both classes well represented


def test_static_label_is_the_window_mean_of_the_curve(tiny):
    df = memo2496.load(tiny, window=(1.0, 2.0))
    row = df.iloc[0]
    curve = memo2496.dynamic_labels(tiny, row["track_id"])
    sel = curve[(curve["time_s"] >= 1.0) & (curve["time_s"] < 3.0)]
    assert row["window_start_s"] == 1.0 and row["window_end_s"] == 3.0
    assert row["valence"] == pytest.approx(sel["valence"].mean())
    assert row["arousal_std"] == pytest.approx(sel["arousal_std"].mean())


def test_accepts_another_extension_for_the_same_stem(tiny):
    info = pd.read_csv(tiny / "songs_info_all.csv")
    info["file_name"] = info["file_name"].str.replace(".flac", ".mp3")
    info.to_csv(tiny / "songs_info_all.csv", index=False)
    df = memo2496.load(tiny)
    assert len(df) == TINY["n_tracks"] and df["audio_path"].str.endswith(".flac").all()


def test_missing_audio_and_nan_labels_are_reported_not_kept(tiny):
    info = pd.read_csv(tiny / "songs_info_all.csv")
    (tiny / "MusicRawData" / info["file_name"][0]).unlink()
    wide = pd.read_csv(tiny / "arousal_all_average.csv")
    wide.iloc[1, 1:] = np.nan
    wide.to_csv(tiny / "arousal_all_average.csv", index=False)
    df = memo2496.load(tiny)
    rep = df.attrs["report"]
    assert rep.problems["missing_audio"] == [str(info["song_id"][0])]
    assert rep.problems["nan_arousal"] == [str(info["song_id"][1])]
    assert len(df) == TINY["n_tracks"] - 2
    kept = memo2496.load(tiny, drop_invalid=False)
    assert len(kept) == TINY["n_tracks"]


@pytest.mark.parametrize("victim,pattern", [
    ("songs_info_all.csv", "songs_info_all.csv"),
    ("valence_all_average.csv", "valence_all_average.csv"),
    ("MusicRawData", "MusicRawData"),
])
def test_missing_file_names_what_and_where(tiny, victim, pattern):
    p = tiny / victim
    shutil.rmtree(p) if p.is_dir() else p.unlink()
    with pytest.raises(memo2496.LayoutError, match=pattern) as e:
        memo2496.load(tiny)
    assert str(tiny) in str(e.value)


def test_renamed_column_is_named(tiny):
    info = pd.read_csv(tiny / "songs_info_all.csv").rename(columns={"song_id": "songID"})
    info.to_csv(tiny / "songs_info_all.csv", index=False)
    with pytest.raises(memo2496.LayoutError, match="song_id"):
        memo2496.load(tiny)
    wide = pd.read_csv(tiny / "valence_all_average.csv")
    wide.columns = ["song_id"] + [f"t{i}" for i in range(wide.shape[1] - 1)]
    info.rename(columns={"songID": "song_id"}).to_csv(tiny / "songs_info_all.csv", index=False)
    wide.to_csv(tiny / "valence_all_average.csv", index=False)
    with pytest.raises(memo2496.LayoutError, match="sample_"):
        memo2496.load(tiny)


def test_annotator_labels_long_form(tiny):
    long = memo2496.annotator_labels(tiny)
    assert list(long.columns) == ["song_id", "annotator_id", "time_s", "valence", "arousal"]
    assert long.groupby("song_id")["annotator_id"].nunique().eq(20).all()
    # the published average is the mean over the annotators
    avg = memo2496.dynamic_labels(tiny, "1")
    mine = long[long["song_id"] == "1"].groupby("time_s")["valence"].mean()
    assert np.allclose(mine.to_numpy(), avg["valence"].to_numpy(), atol=1e-3)


def test_unknown_dataset_name():
    with pytest.raises(ValueError, match="unknown dataset"):
        load_manifest("nope", ".")


def test_annotator_curves_of_unequal_length_are_padded_not_cut(tiny, capsys):
    import json

    path = tiny / "Label_pseudonymous.json"
    entries = json.loads(path.read_text())
    entries[0]["A"] = entries[0]["A"][:-3]  # three seconds of arousal missing at the end
    path.write_text(json.dumps(entries))
    long = memo2496.annotator_labels(tiny)
    one = long[(long["song_id"] == str(entries[0]["MID"])) & (long["annotator_id"] == str(entries[0]["AnnotatorID"]))]
    assert len(one) == len(entries[0]["V"])  # every valence second kept
    assert one["arousal"].isna().sum() == 3 and one["valence"].notna().all()
    assert "1 rating entries have V and A curves of different lengths" in capsys.readouterr().err
