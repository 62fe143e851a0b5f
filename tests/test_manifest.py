import numpy as np
import pandas as pd
import pytest

from damer_lite.datasets import manifest


def _df(tmp_path, n=20):
    paths = []
    for i in range(n):
        p = tmp_path / f"t{i}.wav"
        p.write_bytes(b"x")
        paths.append(str(p))
    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "track_id": [f"t{i}" for i in range(n)],
        "audio_path": paths,
        "dataset": "toy",
        "valence": rng.uniform(-1, 1, n),
        "arousal": rng.uniform(-1, 1, n),
        "duration_s": 30.0,
    })


def test_validation_counts_every_problem(tmp_path):
    df = _df(tmp_path)
    df.loc[0, "valence"] = np.nan
    df.loc[1, "arousal"] = 1.5
    df.loc[2, "audio_path"] = str(tmp_path / "missing.wav")
    df.loc[3, "audio_path"] = ""
    df.loc[4, "duration_s"] = 1.0
    df.loc[5, "track_id"] = "t6"  # duplicate of row 6
    rep = manifest.validate(df, min_duration_s=3.0)
    assert rep.problems["nan_valence"] == ["t0"]
    assert rep.problems["out_of_range_arousal"] == ["t1"]
    assert sorted(rep.problems["missing_audio"]) == ["t2", "t3"]
    assert rep.problems["too_short"] == ["t4"]
    assert rep.problems["duplicate_track_id"] == ["t6"]
    assert rep.n_usable == 20 - 6  # the first "t6" row is kept
    assert "nan_valence: 1 (e.g. t0)" in rep.summary()
    clean, _ = manifest.clean(df, min_duration_s=3.0)
    assert len(clean) == 14 and (clean["track_id"] == "t6").sum() == 1
    assert not clean["track_id"].isin(["t0", "t1", "t2", "t3", "t4"]).any()


def test_validate_rejects_missing_columns(tmp_path):
    df = _df(tmp_path).drop(columns=["arousal"])
    with pytest.raises(ValueError, match="arousal"):
        manifest.validate(df)


def test_binary_targets_at_zero(tmp_path):
    df = _df(tmp_path)
    df.loc[0, "valence"] = 0.0
    df.loc[1, "valence"] = 1e-6
    out = manifest.binary_targets(df)
    assert out.loc[0, "valence_bin"] == 0 and out.loc[1, "valence_bin"] == 1
    assert set(out["arousal_bin"]) <= {0, 1}


def test_split_is_stratified_deterministic_and_disjoint(tmp_path):
    df = _df(tmp_path, n=100)
    y = (df["arousal"] > 0).to_numpy()
    a = manifest.split(df, "arousal", seed=3)
    b = manifest.split(df, "arousal", seed=3)
    c = manifest.split(df, "arousal", seed=4)
    assert np.array_equal(a["test"], b["test"]) and not np.array_equal(a["test"], c["test"])
    assert len(a["test"]) == 30 and len(a["train"]) == 70
    assert not set(a["train"]) & set(a["test"])
    assert abs(y[a["test"]].mean() - y.mean()) < 0.05
    v = manifest.split(df, "arousal", seed=3, val_size=0.2)
    assert np.array_equal(v["test"], a["test"])  # carving validation never changes the test split
    assert not set(v["val"]) & set(v["train"]) and set(v["val"]) <= set(a["train"])


def test_split_errors(tmp_path):
    df = _df(tmp_path)
    with pytest.raises(ValueError, match="target"):
        manifest.split(df, "dominance", 0)
    df["valence"] = 0.5
    with pytest.raises(ValueError, match="per class"):
        manifest.split(df, "valence", 0)


def test_split_takes_a_number_of_test_tracks_and_matches_the_fraction_it_rounds_to(tmp_path):
    """An int test size is that many test tracks, stratified; the fraction that rounds up to the same count
    gives the identical split (what heldout relies on when it reads a run's n_test); validation is carved
    from train either way."""
    df = _df(tmp_path, n=100)
    by_count = manifest.split(df, "arousal", seed=3, test_size=30)
    by_fraction = manifest.split(df, "arousal", seed=3, test_size=0.3)
    for k in ("train", "test"):
        np.testing.assert_array_equal(by_count[k], by_fraction[k])
    big = manifest.split(df, "arousal", seed=3, test_size=60, val_size=0.25)
    assert len(big["test"]) == 60 and len(big["train"]) + len(big["val"]) == 40
    y = (df["arousal"] > 0).to_numpy()
    assert abs(y[big["test"]].mean() - y.mean()) < 0.05


@pytest.mark.parametrize("value,expected", [("300", 300), ("0.3", 0.3), (0.25, 0.25), (12, 12), (" 7 ", 7)])
def test_check_test_size_reads_counts_and_fractions(value, expected):
    got = manifest.check_test_size(value)
    assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize("value", ["0", "1.0", "-3", "abc", 0, 1.5, -0.1, True, "30%"])
def test_check_test_size_rejects_what_is_neither(value):
    with pytest.raises(ValueError, match="test"):
        manifest.check_test_size(value)


def test_split_rejects_a_test_count_not_below_the_tracks(tmp_path):
    df = _df(tmp_path, n=40)
    with pytest.raises(ValueError, match=r"test size 40 tracks is outside \[1, 40\)"):
        manifest.split(df, "arousal", 0, test_size=40)


@pytest.mark.parametrize(
    "dur,expected",
    [(200.0, (15.0, 75.0)), (75.0, (15.0, 75.0)), (70.0, (14.0, 70.0)), (45.0, (9.0, 45.0))],
)
def test_analysis_window_shrinks_proportionally(dur, expected):
    assert manifest.analysis_window(dur, 15.0, 60.0) == pytest.approx(expected)


def test_analysis_window_is_continuous():
    d = np.linspace(1.0, 120.0, 2000)
    starts = np.array([manifest.analysis_window(x, 15.0, 60.0)[0] for x in d])
    assert np.abs(np.diff(starts)).max() < 0.1
