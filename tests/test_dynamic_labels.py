"""Dynamic labels of every dataset through `datasets.dynamic`: averaged and per-rater curves in the published
layouts, the alignment rule on a hand-checked example, and each problem kind the checks report."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd
import pytest

from damer_lite.cli import validate as cli_validate
from damer_lite.datasets import deam, dynamic, emomusic, manifest, memo2496, pmemo, synth
from damer_lite.datasets.common import LayoutError
from tests.conftest import TINY
from tests.fixtures_real import DEAM_AVG, make_deam, make_emomusic, make_pmemo

RATERS = DEAM_AVG.parent / "annotations per each rater" / "dynamic (per second annotations)"
DYN = DEAM_AVG / "dynamic (per second annotations)"
COLS10 = [f"sample_{15000 + 500 * i}ms" for i in range(10)]


def _write_wide(path, header, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(",".join(header) + "\n" + "".join(",".join(r) + "\n" for r in rows))
    return path


def _rows(df):
    return {str(r["track_id"]): r for _, r in df.iterrows()}


@pytest.fixture
def dm(tmp_path):
    dm = make_deam(tmp_path)
    rater = dm["root"] / RATERS
    # song 2: W1 stops one sample early (empty tail); W3 rated arousal only, W2 valence only
    _write_wide(rater / "valence" / "2.csv", ["WorkerId"] + COLS10[:3],
                [["W1", "0.1", "0.2", ""], ["W2", "-0.5", "-0.4", "-0.3"]])
    _write_wide(rater / "arousal" / "2.csv", ["WorkerId"] + COLS10[:3],
                [["W1", "0.3", "0.3", "0.4"], ["W3", "0.9", "1.0", "0.8"]])
    # song 3: the valence file has no WorkerId column (as some published files): skipped and counted
    _write_wide(rater / "valence" / "3.csv", COLS10[:3], [["0.1", "0.2", "0.3"], ["0.0", "0.0", "0.0"]])
    _write_wide(rater / "arousal" / "3.csv", ["WorkerId"] + COLS10[:3], [["W4", "-0.1", "-0.2", "-0.3"]])
    # song 5 and 2001: no per-rater files at all
    return dm


# ----------------------------------------------------------------------------------------------- DEAM
def test_deam_averaged_curves_with_uneven_lengths(dm):
    rows = _rows(deam.load(dm["root"], min_duration_s=1.0))
    short = dynamic.labels(rows["2"]).curve
    assert list(short.columns) == ["time_s", "valence", "arousal"]
    assert short["time_s"].tolist() == [15.0, 15.5, 16.0]  # the empty tail of a short song is not a row
    full = dynamic.labels(rows["2001"])
    assert full.step_s == 0.5 and full.curve["time_s"].tolist() == [15.0 + 0.5 * i for i in range(10)]
    assert full.curve["valence"].tolist() == pytest.approx([0.2] * 10)
    assert full.curve["arousal"].tolist() == pytest.approx([-0.3] * 10)


def test_deam_per_rater_curves_and_skipped_files(dm):
    rows = _rows(deam.load(dm["root"], min_duration_s=1.0))
    lab = dynamic.labels(rows["2"])
    r = lab.raters.set_index(["annotator", "time_s"])
    assert list(lab.raters.columns) == ["annotator", "time_s", "valence", "arousal"]
    assert sorted(lab.raters["annotator"].unique()) == ["W1", "W2", "W3"]
    assert r.loc[("W1", 15.5), "valence"] == pytest.approx(0.2)
    assert np.isnan(r.loc[("W1", 16.0), "valence"]) and r.loc[("W1", 16.0), "arousal"] == pytest.approx(0.4)
    assert np.isnan(r.loc[("W2", 15.0), "arousal"]) and np.isnan(r.loc[("W3", 15.0), "valence"])
    assert lab.skipped == {}

    three = dynamic.labels(rows["3"])
    assert three.raters["annotator"].unique().tolist() == ["W4"]  # the valence file was not read
    assert three.raters["valence"].isna().all()
    assert three.skipped == {"no_workerid_column": [str((dm["root"] / RATERS / "valence" / "3.csv").resolve())]}

    res = dynamic.check(deam.load(dm["root"], min_duration_s=1.0), raters=True)
    assert len(res.skipped["no_workerid_column"]) == 1
    assert len(res.skipped["missing_file"]) == 4  # songs 5 and 2001, both dimensions
    assert res.report.problems["dynamic_rater_file_skipped"] == ["3", "5", "2001"]
    assert res.report.problems["dynamic_no_raters"] == ["5", "2001"]
    assert res.details.set_index("track_id")["n_raters"].to_dict() == pytest.approx(
        {"2": 3, "3": 1, "5": np.nan, "2001": np.nan}, nan_ok=True)


def test_deam_drifted_per_rater_layout_names_the_file(dm):
    path = _write_wide(dm["root"] / RATERS / "valence" / "2.csv", ["WorkerId", "t15", "t16"], [["W1", "0", "0"]])
    with pytest.raises(LayoutError, match=r"2\.csv.*sample_15000ms"):
        deam.rater_curves(dm["root"], "2")
    _write_wide(path, ["WorkerId"] + COLS10[:2], [["W1", "0.1", "high"]])
    with pytest.raises(LayoutError, match=r"2\.csv: column 'sample_15500ms', row 'W1': 'high' is not a number"):
        deam.rater_curves(dm["root"], "2")


def test_non_number_in_averaged_file_names_file_column_and_song(dm):
    _write_wide(dm["root"] / DYN / "valence.csv", ["song_id"] + COLS10[:2], [["2", "0.1", "0.2"], ["3", "n/a", "x"]])
    with pytest.raises(LayoutError, match=r"valence\.csv: column 'sample_15000ms', row '3': 'n/a' is not a number"):
        deam.dynamic_table(dm["root"])
    # the static loader stays as lenient as before: it only needs the ids
    assert len(deam.load(dm["root"], min_duration_s=1.0)) == len(dm["usable"])


# ---------------------------------------------------------------------------------- Memo2496 / SynthMemo
@pytest.fixture
def tiny(tmp_path):
    root = tmp_path / "memo"
    synth.generate(root, progress=False, **TINY)
    return root


def test_synthmemo_per_rater_curves_average_to_the_published_curve(tiny):
    df = memo2496.load_synthmemo(tiny)
    row = df.iloc[2]
    lab = dynamic.labels(row)
    assert lab.dataset == "synthmemo" and lab.step_s == 1.0
    assert lab.curve["time_s"].tolist() == list(np.arange(len(lab.curve), dtype=float))
    ref = memo2496.dynamic_labels(tiny, row["track_id"])
    assert np.allclose(lab.curve["valence"], ref["valence"]) and np.allclose(lab.curve["arousal"], ref["arousal"])
    assert lab.raters["annotator"].nunique() == 20
    mean = lab.raters.groupby("time_s")[["valence", "arousal"]].mean()
    assert np.allclose(mean.to_numpy(), lab.curve[["valence", "arousal"]].to_numpy(), atol=1e-3)


def test_memo2496_layout_from_hand_written_json(tmp_path):
    root = tmp_path / "Memo2496"
    (root / "MusicRawData").mkdir(parents=True)
    cols = ["sample_0ms", "sample_1000ms", "sample_2000ms"]
    _write_wide(root / "songs_info_all.csv", ["song_id", "file_name"], [["7", "a.mp3"], ["8", "b.mp3"]])
    _write_wide(root / "valence_all_average.csv", ["song_id"] + cols, [["7", "0.5", "0.25", ""], ["8", "0", "0", "0"]])
    _write_wide(root / "arousal_all_average.csv", ["song_id"] + cols, [["7", "-0.5", "0", ""], ["8", "0", "0", "0"]])
    (root / "Label_pseudonymous.json").write_text(json.dumps([
        {"MID": 7, "AnnotatorID": "a1", "V": [0.4, 0.2], "A": [-0.6, 0.0]},
        {"MID": 7, "AnnotatorID": "a2", "V": [0.6, 0.3], "A": [-0.4, 0.0]},
    ]))
    row = {"track_id": "7", "dataset": "memo2496", "dynamic_ref": f"{root}::7"}
    lab = dynamic.labels(row)
    assert lab.curve.to_dict("list") == {"time_s": [0.0, 1.0], "valence": [0.5, 0.25], "arousal": [-0.5, 0.0]}
    assert lab.raters.to_dict("list") == {
        "annotator": ["a1", "a1", "a2", "a2"], "time_s": [0.0, 1.0, 0.0, 1.0],
        "valence": [0.4, 0.2, 0.6, 0.3], "arousal": [-0.6, 0.0, -0.4, 0.0]}
    other = dynamic.labels({"track_id": "8", "dataset": "memo2496", "dynamic_ref": f"{root}::8"})
    assert other.raters is None  # published for the dataset, but nobody rated this track
    (root / "Label_pseudonymous.json").write_text(json.dumps([{"MID": 7, "AnnotatorID": "a1", "V": ["x"], "A": [0]}]))
    with pytest.raises(LayoutError, match=r"Label_pseudonymous\.json: column 'V', row '7': 'x' is not a number"):
        dynamic.labels(row)


# ------------------------------------------------------------------------------------- PMEmo, emoMusic
def test_pmemo_averaged_curve_rescaled(tmp_path):
    pm = make_pmemo(tmp_path)
    rows = _rows(pmemo.load(pm["root"], min_duration_s=1.0))
    lab = dynamic.labels(rows["1"])
    assert lab.curve["time_s"].tolist() == [15.5, 16.0, 16.5]
    assert lab.curve["valence"].tolist() == pytest.approx([-1.0, -0.5, 0.0])  # 2 * (0.25 i) - 1
    assert lab.curve["arousal"].tolist() == pytest.approx([0.0, 0.2, 0.4])  # 2 * (0.5 + 0.1 i) - 1
    assert lab.raters is None  # PMEmo's per-rater curves are not public
    with pytest.raises(KeyError, match="no dynamic_ref"):
        dynamic.labels(rows["3"])


@pytest.mark.parametrize("layout", ["root", "annotations"])
def test_emomusic_averaged_curve(tmp_path, layout):
    em = make_emomusic(tmp_path, layout=layout)
    rows = _rows(emomusic.load(em["root"], min_duration_s=1.0))
    lab = dynamic.labels(rows["3"])
    assert lab.curve["time_s"].tolist() == [15.0, 15.5, 16.0]
    assert lab.curve["valence"].tolist() == pytest.approx([0.11, 0.12, 0.13])
    assert lab.curve["arousal"].tolist() == pytest.approx([-0.19, -0.18, -0.17])
    assert lab.raters is None


# ------------------------------------------------------------------------------------------ alignment
def test_alignment_rule_by_hand():
    curve = pd.DataFrame({"time_s": [15.0, 15.5, 16.0, 16.5], "valence": [0.2, 0.4, np.nan, 0.8],
                          "arousal": [0.0, 0.0, 0.0, 0.0]})
    starts = [14.5, 15.0, 15.25, 15.75, 16.5, 17.0, 16.9]
    out = dynamic.align(curve, starts, span_s=0.5)
    expect = [
        np.nan,  # [14.5, 15.0): before the first label
        0.2,  # [15.0, 15.5): inside one sample's interval
        0.3,  # [15.25, 15.75): half 0.2, half 0.4
        0.4,  # [15.75, 16.25): 0.4 over half the span, the NaN sample covers nothing -> coverage 0.5
        0.8,  # [16.5, 17.0)
        np.nan,  # [17.0, 17.5): after the last sample's interval [16.5, 17.0)
        np.nan,  # [16.9, 17.4): only 0.1 s covered, under min_coverage
    ]
    np.testing.assert_allclose(out["valence"].to_numpy(), expect)
    np.testing.assert_allclose(out["coverage"].to_numpy(), [0, 1, 1, 0.5, 1, 0, 0.2], atol=1e-12)
    assert dynamic.align(curve, starts, span_s=0.5, min_coverage=0.2)["valence"].iloc[6] == pytest.approx(0.8)
    # coarse frames (pooled tokens) average the samples they span, weighted by overlap
    coarse = dynamic.align(curve, dynamic.frame_starts(2, 0.75, offset_s=15.0))
    np.testing.assert_allclose(coarse[["start_s", "end_s"]].to_numpy(), [[15.0, 15.75], [15.75, 16.5]])
    # [15.75, 16.5): 0.4 covers 0.25 s, the NaN sample nothing -> a third of the span, under min_coverage
    np.testing.assert_allclose(coarse["valence"].to_numpy(), [(0.2 * 0.5 + 0.4 * 0.25) / 0.75, np.nan])
    # feature frames finer than the labels hold the sample's value
    fine = dynamic.align(curve, dynamic.frame_starts(4, 0.25, offset_s=15.0))
    assert fine["valence"].tolist() == pytest.approx([0.2, 0.2, 0.4, 0.4])


# --------------------------------------------------------------------------------------------- checks
def test_each_problem_kind(dm):
    rows = [["2", *(["0.1"] * 3), *([""] * 7)],  # clean, ends at 16.5
            ["3", "0.1", "", "", "", "0.1", *([""] * 5)],  # a hole of 3 samples (1.5 s) between 15.0 and 17.0
            ["5", "0.1", "1.5", "0.1", *([""] * 7)],  # out of range
            ["2001", *(["0.1"] * 10)]]
    _write_wide(dm["root"] / DYN / "valence.csv", ["song_id", *COLS10], rows)
    _write_wide(dm["root"] / DYN / "arousal.csv", ["song_id", *COLS10],
                [[r[0], *("0" if c else "" for c in r[1:])] for r in rows])
    df = deam.load(dm["root"], min_duration_s=1.0)
    by = df.set_index("track_id")
    df["duration_s"] = df["track_id"].map({"2": 18.5, "3": 17.5, "5": 16.5, "2001": 22.6})
    res = dynamic.check(df)
    assert res.report.problems == {"dynamic_nan_run": ["3"], "dynamic_out_of_range": ["5"],
                                   "dynamic_length_mismatch": ["2001"]}  # 20.0 vs 22.6; 2 at exactly 2 s passes
    d = res.details.set_index("track_id")
    assert d.loc["3", "longest_gap_s"] == 1.5 and d.loc["2", "longest_gap_s"] == 0.0
    assert d.loc["2001", "end_minus_duration_s"] == pytest.approx(-2.6)
    assert dynamic.check(df, max_nan_run_s=1.5, length_tolerance_s=3.0).report.problems == {
        "dynamic_out_of_range": ["5"]}
    # missing: a row whose song has no curve and a row without a dynamic_ref
    df.loc[df["track_id"] == "2", "dynamic_ref"] = ""
    df.loc[df["track_id"] == "5", "dynamic_ref"] = by.at["5", "dynamic_ref"].replace("#5", "#99")
    df.loc[df["track_id"] == "5", "track_id"] = "99"
    assert dynamic.check(df).report.problems["dynamic_missing"] == ["2", "99"]


def test_manifest_validate_and_clean_with_dynamic(tmp_path):
    pm = make_pmemo(tmp_path)
    df = pmemo.load(pm["root"], min_duration_s=1.0)  # 1, 2 have curves (15.5-17.0 s); 3 has none
    df["duration_s"] = 17.0
    assert not any(k.startswith("dynamic") for k in manifest.validate(df).problems)
    rep = manifest.validate(df, dynamic=True)
    assert rep.problems["dynamic_missing"] == ["3"] and rep.n_usable == 2
    kept, _ = manifest.clean(df, dynamic=True)
    assert kept["track_id"].tolist() == ["1", "2"]
    assert manifest.clean(df)[0]["track_id"].tolist() == ["1", "2", "3"]  # the static task keeps it


def test_cli_reports_dynamic_problems_and_skipped_rater_files(dm, capsys):
    ns = argparse.Namespace(dataset="deam", root=str(dm["root"]), min_duration=1.0, examples=3,
                            no_decode=True, no_dynamic=False, raters=True)
    assert cli_validate.run(ns) == 0
    out = capsys.readouterr().out
    assert "curves  4 of 4 tracks" in out
    assert "per-annotator curves  2 tracks, 4 curves" in out
    assert "per-rater files skipped (no_workerid_column): 1" in out
    assert "dynamic_rater_file_skipped: 3 (e.g. 3, 5, 2001)" in out
    assert "dynamic_length_mismatch: 4" in out  # the test clips are a few seconds long
    ns.no_dynamic = True
    assert cli_validate.run(ns) == 0
    assert "dynamic labels:" not in capsys.readouterr().out
    (dm["root"] / DYN / "arousal.csv").write_text("song_id,sample_15000ms,sample_15500ms\n2,0.1,abc\n")
    ns.no_dynamic = False
    assert cli_validate.run(ns) == 2
    assert "arousal.csv: column 'sample_15500ms', row '2': 'abc' is not a number" in capsys.readouterr().err
