"""PMEmo2019 loader on a small copy of the published layout."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from damer_lite.datasets import load_manifest, manifest, pmemo
from damer_lite.datasets.common import LayoutError
from tests.fixtures_real import make_pmemo


@pytest.fixture
def pm(tmp_path):
    return make_pmemo(tmp_path)


def test_rows_scales_and_report(pm):
    df = pmemo.load(pm["root"], min_duration_s=1.0)
    assert list(df["track_id"]) == pm["usable"]
    assert (
        list(df.columns[: len(manifest.REQUIRED + manifest.OPTIONAL)])
        == manifest.REQUIRED + manifest.OPTIONAL
    )
    for tid, (v, a) in pm["expected"].items():
        row = df.set_index("track_id").loc[tid]
        assert row["valence"] == pytest.approx(v)
        assert row["arousal"] == pytest.approx(a)
    assert np.allclose(df["valence_std"], 0.4) and np.allclose(df["arousal_std"], 0.2)  # std x 2
    assert (df["dataset"] == "pmemo").all()
    assert (df["style"] == "").all()
    probs = df.attrs["report_problems"]
    assert probs["unlabelled"] == pm["unlabelled"]
    assert probs["missing_audio"] == pm["missing_audio"]
    assert probs["nan_valence"] == pm["nan_valence"]
    assert df.attrs["counts"] == {"tracks": 6, "labelled": 5, "audio_present": 4, "usable": 3}
    assert "6 rows, 3 usable" in df.attrs["validation"]
    assert df.attrs["report"].n_usable == 3


def test_duration_and_window(pm):
    df = pmemo.load(pm["root"], min_duration_s=1.0).set_index("track_id")
    for tid in pm["usable"]:
        assert df.at[tid, "duration_s"] == pytest.approx(pm["durations"][tid], abs=1e-3)
        # choruses are already cut: the default window is the whole clip
        assert df.at[tid, "window_start_s"] == 0.0
        assert df.at[tid, "window_end_s"] == pytest.approx(pm["durations"][tid], abs=1e-3)
    w = pmemo.load(pm["root"], window=(1.0, 1.5), min_duration_s=1.0).set_index("track_id")
    assert (w.at["1", "window_start_s"], w.at["1", "window_end_s"]) == pytest.approx((1.0, 2.5))


def test_too_short_is_reported(pm):
    df = pmemo.load(pm["root"], min_duration_s=2.5)
    assert "3" not in set(df["track_id"])
    assert df.attrs["report_problems"]["too_short"] == ["3"]


def test_without_audio_check_keeps_rows_and_uses_metadata_duration(pm):
    shutil.rmtree(pm["root"] / "chorus")
    df = pmemo.load(pm["root"], min_duration_s=None, check_audio=False).set_index("track_id")
    assert set(df.index) == {"1", "2", "3", "4"}  # 5 still has a NaN label, 6 no labels
    assert (df["audio_path"] == "").all()
    assert df.at["4", "duration_s"] == pytest.approx(31.5)  # 01:31.5 - 01:00
    assert df.at["1", "duration_s"] == pytest.approx(29.5)
    assert "4" in df.attrs["notes"]["duration_from_metadata"]


def test_flat_copy_and_parent_folder(tmp_path):
    pm = make_pmemo(tmp_path, flat=True)
    df = pmemo.load(tmp_path, min_duration_s=1.0)  # the folder that contains PMEmo2019/
    assert list(df["track_id"]) == pm["usable"]


def test_dynamic_labels(pm):
    df = pmemo.load(pm["root"], min_duration_s=1.0).set_index("track_id")
    assert df.at["1", "dynamic_ref"].endswith("dynamic_annotations.csv#1")
    assert df.at["3", "dynamic_ref"] == ""
    dyn = pmemo.dynamic_labels(pm["root"], 1)
    assert list(dyn.columns) == ["time_s", "valence", "arousal"]
    assert list(dyn["time_s"]) == [15.5, 16.0, 16.5]
    assert dyn["valence"].tolist() == pytest.approx([-1.0, -0.5, 0.0])
    assert dyn["arousal"].tolist() == pytest.approx([0.0, 0.2, 0.4])
    with pytest.raises(KeyError, match="'3'"):
        pmemo.dynamic_labels(pm["root"], "3")


def test_missing_file_names_what_and_where(pm):
    (pm["root"] / "annotations" / "static_annotations.csv").unlink()
    with pytest.raises(FileNotFoundError) as e:
        pmemo.load(pm["root"])
    msg = str(e.value)
    assert "static_annotations.csv" in msg and str(pm["root"] / "annotations") in msg


def test_renamed_column_is_a_layout_error(pm):
    path = pm["root"] / "annotations" / "static_annotations.csv"
    path.write_text(path.read_text().replace("Valence(mean)", "Valence"))
    with pytest.raises(LayoutError, match=r"Valence\(mean\).*static_annotations.csv|static_annotations"):
        pmemo.load(pm["root"])
    with pytest.raises(ValueError, match=r"expected column 'Valence\(mean\)'"):
        pmemo.load(pm["root"])


def test_missing_audio_folder(pm):
    shutil.rmtree(pm["root"] / "chorus")
    with pytest.raises(FileNotFoundError, match="chorus"):
        pmemo.load(pm["root"])


def test_registry(pm):
    df = load_manifest("PMEmo", pm["root"], min_duration_s=1.0)
    assert isinstance(df, pd.DataFrame) and list(df["track_id"]) == pm["usable"]
