"""DEAM loader on a small copy of the published layout."""

from __future__ import annotations

import shutil

import pytest

from damer_lite.datasets import deam, load_manifest, manifest
from damer_lite.datasets.common import LayoutError
from tests.fixtures_real import DEAM_AVG, make_deam


@pytest.fixture
def dm(tmp_path):
    return make_deam(tmp_path)


def test_rows_scales_and_report(dm):
    df = deam.load(dm["root"], min_duration_s=1.0)
    assert list(df["track_id"]) == dm["usable"]
    assert list(df.columns[:12]) == manifest.REQUIRED + manifest.OPTIONAL
    by_id = df.set_index("track_id")
    for tid, (v, a) in dm["expected"].items():
        assert (by_id.at[tid, "valence"], by_id.at[tid, "arousal"]) == pytest.approx((v, a))
    assert (by_id.at["2", "valence_std"], by_id.at["2", "arousal_std"]) == pytest.approx(
        dm["expected_std"]["2"]
    )
    assert by_id["full_song"].to_dict() == {"2": False, "3": False, "5": False, "2001": True}
    probs = df.attrs["report_problems"]
    assert probs["unlabelled"] == dm["unlabelled"] and probs["missing_audio"] == dm["missing_audio"]
    assert df.attrs["counts"] == {"tracks": 6, "labelled": 5, "audio_present": 4, "usable": 4}


def test_windows(dm):
    df = deam.load(dm["root"], min_duration_s=1.0).set_index("track_id")
    assert (df.at["3", "window_start_s"], df.at["3", "window_end_s"]) == pytest.approx((0.0, 4.0), abs=1e-3)
    # a full song keeps its whole length: its static label describes the whole song
    assert (df.at["2001", "window_start_s"], df.at["2001", "window_end_s"]) == pytest.approx((0, 6), abs=1e-3)
    fixed = deam.load(dm["root"], window=(1.0, 2.0), min_duration_s=1.0).set_index("track_id")
    assert (fixed.at["2001", "window_start_s"], fixed.at["2001", "window_end_s"]) == pytest.approx((1.0, 3.0))
    with pytest.raises(ValueError, match="unknown DEAM window"):
        deam.load(dm["root"], window="chorus")


def test_duration_without_audio(dm):
    shutil.rmtree(dm["root"] / "DEAM_audio")
    with pytest.raises(FileNotFoundError, match="MEMD_audio"):
        deam.load(dm["root"])
    df = deam.load(dm["root"], check_audio=False, min_duration_s=None).set_index("track_id")
    assert df.at["2", "duration_s"] == 45.0  # excerpts are 45 s
    assert df.at["2001", "duration_s"] == pytest.approx(dm["dynamic_end_s"]["2001"] + 0.5)
    assert (df.at["2", "window_start_s"], df.at["2", "window_end_s"]) == (0.0, 45.0)


def test_dynamic_labels(dm):
    df = deam.load(dm["root"], min_duration_s=1.0).set_index("track_id")
    assert df.at["2", "dynamic_ref"].endswith("{valence,arousal}.csv#2")
    short = deam.dynamic_labels(dm["root"], 2)
    assert short["time_s"].tolist() == [15.0, 15.5, 16.0]  # empty cells past the end are dropped
    full = deam.dynamic_labels(dm["root"], "2001")
    assert full["time_s"].iloc[-1] == dm["dynamic_end_s"]["2001"]
    assert full["valence"].tolist() == pytest.approx([0.2] * 10)
    assert full["arousal"].tolist() == pytest.approx([-0.3] * 10)


def test_missing_second_static_file(dm):
    (dm["root"] / DEAM_AVG / "song_level" / "static_annotations_averaged_songs_2000_2058.csv").unlink()
    with pytest.raises(FileNotFoundError) as e:
        deam.load(dm["root"])
    msg = str(e.value)
    assert "static_annotations_averaged_songs_2000_2058.csv" in msg
    assert str(dm["root"] / DEAM_AVG / "song_level") in msg


def test_renamed_column(dm):
    path = dm["root"] / DEAM_AVG / "song_level" / "static_annotations_averaged_songs_1_2000.csv"
    path.write_text(path.read_text().replace(" arousal_mean", " arousal_avg"))
    with pytest.raises(LayoutError, match="expected column 'arousal_mean'.*arousal_avg"):
        deam.load(dm["root"])


def test_root_can_be_the_parent_or_annotations_folder(tmp_path):
    dm = make_deam(tmp_path / "DEAM")
    assert list(deam.load(tmp_path, min_duration_s=1.0)["track_id"]) == dm["usable"]
    # annotations only, pointed at DEAM_Annotations/: static labels still load without the audio check
    df = deam.load(dm["root"] / "DEAM_Annotations", check_audio=False, min_duration_s=None)
    assert set(df["track_id"]) == set(dm["labelled"])


def test_registry(dm):
    df = load_manifest("deam", dm["root"], min_duration_s=1.0)
    assert list(df["track_id"]) == dm["usable"]
