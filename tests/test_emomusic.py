"""1000songs / emoMusic loader on small copies of the published layouts."""

from __future__ import annotations

import numpy as np
import pytest

from damer_lite.datasets import emomusic, load_manifest, manifest
from damer_lite.datasets.common import LayoutError
from tests.fixtures_real import make_emomusic


@pytest.mark.parametrize("layout", ["root", "annotations"])
def test_rows_scales_and_metadata(tmp_path, layout):
    em = make_emomusic(tmp_path, layout=layout)
    df = emomusic.load(em["root"], min_duration_s=1.0)
    assert list(df["track_id"]) == em["usable"]
    assert list(df.columns[:12]) == manifest.REQUIRED + manifest.OPTIONAL
    by_id = df.set_index("track_id")
    for tid, (v, a) in em["expected"].items():
        assert (by_id.at[tid, "valence"], by_id.at[tid, "arousal"]) == pytest.approx((v, a))
    assert (by_id.at["2", "valence_std"], by_id.at["2", "arousal_std"]) == pytest.approx(
        em["expected_std"]["2"]
    )
    # padded values come out clean
    assert by_id.at["2", "style"] == "Blues"
    assert by_id.at["2", "artist"] == "Artist 2"
    assert by_id.at["5", "mediaeval_set"] == "evaluation"
    probs = df.attrs["report_problems"]
    assert probs["unlabelled"] == em["unlabelled"] and probs["missing_audio"] == em["missing_audio"]
    assert df.attrs["counts"]["tracks"] == 6 and df.attrs["counts"]["labelled"] == 5


def test_windows(tmp_path):
    em = make_emomusic(tmp_path)
    df = emomusic.load(em["root"], min_duration_s=1.0).set_index("track_id")
    # 45 s clips -> (0, 45), shrunk by manifest.analysis_window for these short test clips
    assert df.at["4", "window_start_s"] == 0.0
    assert df.at["4", "window_end_s"] == pytest.approx(6.0, abs=1e-3)
    dyn = emomusic.load(em["root"], window="dynamic", min_duration_s=1.0).set_index("track_id")
    assert (dyn.at["4", "window_start_s"], dyn.at["4", "window_end_s"]) == pytest.approx(
        manifest.analysis_window(6.0, 15.0, 30.0)
    )
    with pytest.raises(ValueError, match="unknown emoMusic window"):
        emomusic.load(em["root"], window="chorus")


def test_default_min_duration_rejects_truncated_clips(tmp_path):
    em = make_emomusic(tmp_path)
    df = emomusic.load(em["root"])  # 30 s minimum: every test clip is "truncated"
    assert len(df) == 0
    assert sorted(df.attrs["report_problems"]["too_short"]) == sorted(em["usable"])


def test_official_split(tmp_path):
    em = make_emomusic(tmp_path)
    df = emomusic.load(em["root"], min_duration_s=1.0)
    sp = emomusic.official_split(df)
    assert list(df["track_id"].iloc[sp["train"]]) == ["2", "3", "4"]
    assert list(df["track_id"].iloc[sp["test"]]) == ["5"]
    with pytest.raises(ValueError, match="mediaeval_set"):
        emomusic.official_split(df.drop(columns="mediaeval_set"))


def test_dynamic_labels(tmp_path):
    em = make_emomusic(tmp_path, layout="annotations")
    df = emomusic.load(em["root"], min_duration_s=1.0).set_index("track_id")
    assert "{valence,arousal}_cont_average.csv#3" in df.at["3", "dynamic_ref"]
    dyn = emomusic.dynamic_labels(em["root"], "3")
    assert list(dyn.columns) == ["time_s", "valence", "arousal"]
    assert dyn["time_s"].tolist() == [15.0, 15.5, 16.0]
    assert dyn["valence"].tolist() == pytest.approx([0.11, 0.12, 0.13])
    assert dyn["arousal"].tolist() == pytest.approx([-0.19, -0.18, -0.17])
    with_std = emomusic.dynamic_labels(em["root"], 3, with_std=True)
    assert np.allclose(with_std["valence_std"], [0.06, 0.07, 0.08])
    with pytest.raises(KeyError):
        emomusic.dynamic_labels(em["root"], "7")


def test_missing_songs_info_names_the_places(tmp_path):
    em = make_emomusic(tmp_path, layout="annotations")
    (em["root"] / "annotations" / "songs_info.csv").unlink()
    with pytest.raises(FileNotFoundError) as e:
        emomusic.load(em["root"])
    msg = str(e.value)
    assert "songs_info.csv" in msg and str(em["root"] / "annotations") in msg


def test_renamed_column(tmp_path):
    em = make_emomusic(tmp_path)
    path = em["root"] / "static_annotations.csv"
    path.write_text(path.read_text().replace("mean_valence", "valence_mean"))
    with pytest.raises(LayoutError, match="expected column 'mean_valence'"):
        emomusic.load(em["root"])


def test_registry_alias(tmp_path):
    em = make_emomusic(tmp_path)
    df = load_manifest("1000songs", em["root"], min_duration_s=1.0)
    assert list(df["track_id"]) == em["usable"]
    assert (df["dataset"] == "emomusic").all()
