"""Notebook 08's report helpers (report.viz_predict): short ids, labels beside predictions, label placement,
players, the reference curve, window averages, sign agreement and Spearman rho against hand computations."""

from __future__ import annotations

import base64
import io
import math
import re

import matplotlib
import numpy as np
import pandas as pd
import pytest
import soundfile as sf

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from damer_lite.datasets.dynamic import DynamicLabels  # noqa: E402
from damer_lite.report import viz_predict as vp  # noqa: E402


def _preds():
    """Two files: a.flac with three windows (the middle one failed), b.flac failed entirely."""
    return pd.DataFrame({
        "path": ["/x/a.flac", "/x/a.flac", "/x/a.flac", "/x/b.flac"],
        "track": ["a.flac", "a.flac", "a.flac", "b.flac"],
        "window": [0, 1, 2, 0],
        "start_s": [0.0, 2.5, 5.0, np.nan], "end_s": [5.0, 7.5, 10.0, np.nan],
        "p_valence": [0.2, np.nan, 0.6, np.nan], "p_arousal": [0.9, np.nan, 0.7, np.nan],
        "error": ["", "too short", "", "not audio"],
    })


# ------------------------------------------------------------------------------------------------ format
def test_fmt_dashes_undefined_values():
    assert vp.fmt(float("nan")) == "—" and vp.fmt(None) == "—" and vp.fmt(math.inf) == "—"
    assert vp.fmt("x") == "—"
    assert vp.fmt(0.0) == "0.00" and vp.fmt(0.456, 1) == "0.5" and vp.fmt(0.25, 2, signed=True) == "+0.25"


# ------------------------------------------------------------------------------------------------ ids, labels
def test_file_ids_one_row_per_file_with_mean_over_good_windows():
    ids = vp.file_ids(_preds())
    assert list(ids["id"]) == ["#1", "#2"] and list(ids["track"]) == ["a.flac", "b.flac"]
    a = ids.iloc[0]
    assert a["p_valence"] == pytest.approx(0.4) and a["p_arousal"] == pytest.approx(0.8)  # (0.2+0.6)/2, (0.9+0.7)/2
    assert (a["start_s"], a["end_s"]) == (0.0, 10.0) and a["error"] == ""
    b = ids.iloc[1]
    assert math.isnan(b["p_valence"]) and b["error"] == "not audio"
    assert vp.file_ids(_preds().iloc[:0]).empty


def test_attach_labels_by_file_name_and_sign_agreement():
    man = pd.DataFrame({"track_id": ["7"], "audio_path": ["/elsewhere/a.flac"], "valence": [0.3],
                        "arousal": [-0.1], "dynamic_ref": ["root::7"]})
    out = vp.attach_labels(vp.file_ids(_preds()), man)
    a, b = out.iloc[0], out.iloc[1]
    assert a["label_valence"] == 0.3 and a["label_arousal"] == -0.1 and a["track_id"] == "7"
    assert a["agree_valence"] == 0.0  # P 0.4 < 0.5 but label > 0
    assert a["agree_arousal"] == 0.0  # P 0.8 >= 0.5 but label <= 0
    assert math.isnan(b["label_valence"]) and math.isnan(b["agree_valence"]) and b["track_id"] == ""
    none = vp.attach_labels(vp.file_ids(_preds()), None)
    assert none["label_arousal"].isna().all()
    table = vp.id_table(out)
    assert table.loc[0, "P(valence)"] == "0.400" and table.loc[0, "2P-1 (valence)"] == "-0.200"
    assert table.loc[0, "label arousal"] == "-0.100"
    assert table.loc[1, "P(valence)"] == "—" and table.loc[1, "span (s)"] == "—"


def test_label_positions_avoid_points_and_each_other():
    d = 0.1
    pos = vp.label_positions([0.0], [0.0], distance=d)
    assert pos[0] == pytest.approx([d / math.sqrt(2), d / math.sqrt(2)])  # alone: upper right
    # an obstacle exactly there pushes the label to the next clear direction (lower right)
    pos = vp.label_positions([0.0], [0.0], obstacles=[[d / math.sqrt(2), d / math.sqrt(2)]], distance=d)
    assert pos[0] == pytest.approx([d / math.sqrt(2), -d / math.sqrt(2)])
    # two points at the same place: two different label places, both d from the point
    pos = vp.label_positions([0.5, 0.5], [0.5, 0.5], distance=d)
    assert np.hypot(*(pos[0] - pos[1])) > d
    assert np.hypot(*(pos - 0.5).T) == pytest.approx([d, d])
    # a NaN point gets no label and does not disturb the others
    pos = vp.label_positions([np.nan, 0.0], [0.0, 0.0], distance=d)
    assert np.isnan(pos[0]).all() and pos[1] == pytest.approx([d / math.sqrt(2)] * 2)


def test_va_map_draws_hollow_label_markers_and_short_ids():
    man = pd.DataFrame({"track_id": ["7"], "audio_path": ["a.flac"], "valence": [0.3], "arousal": [-0.1],
                        "dynamic_ref": [""]})
    ids = vp.attach_labels(vp.file_ids(_preds()), man)
    fig, ax = plt.subplots()
    vp.plot_va_labelled(ids, ax)
    hollow = [ln for ln in ax.lines if ln.get_markerfacecolor() == "none" and ln.get_xydata().shape == (1, 2)]
    assert len(hollow) == 1 and tuple(hollow[0].get_xydata()[0]) == (0.3, -0.1)
    assert [t.get_text() for t in ax.texts if t.get_text().startswith("#")] == ["#1"]  # b.flac failed: no point
    assert "n = 1 files (1 with a label)" in ax.get_title()
    assert len(ax.get_legend().get_texts()) == 3
    plt.close(fig)


# ------------------------------------------------------------------------------------------------ listening
def test_listening_items_first_seconds_of_the_span():
    ids = vp.file_ids(_preds())
    items = vp.listening_items(ids, max_s=4.0)
    assert len(items) == 1  # the failed file has no player
    label, path, start, dur = items[0]
    assert label.startswith("#1 · P(valence) 0.40") and path == "/x/a.flac" and (start, dur) == (0.0, 4.0)
    assert vp.listening_items(ids, max_s=30.0)[0][3] == 10.0  # never past the span


def test_players_html_one_mp3_per_file(tmp_path):
    sr = 16000
    x = 0.3 * np.sin(2 * np.pi * 330 * np.arange(3 * sr) / sr)
    sf.write(tmp_path / "a.flac", x, sr)
    ids = pd.DataFrame({"id": ["#1", "#2", "#3"], "track": ["a.flac", "gone.flac", "bad.flac"],
                        "path": [str(tmp_path / "a.flac"), str(tmp_path / "gone.flac"), ""],
                        "start_s": [0.0, 0.0, np.nan], "end_s": [3.0, 2.0, np.nan],
                        "p_valence": [0.7, 0.5, np.nan], "p_arousal": [0.2, 0.5, np.nan],
                        "error": ["", "", "not audio"]})
    h = vp.players_html(ids, max_s=2.0).data
    srcs = re.findall(r'src="data:audio/mpeg;base64,([^"]+)"', h)
    assert len(srcs) == 1 and sf.info(io.BytesIO(base64.b64decode(srcs[0]))).samplerate == vp.LISTEN_SR
    assert "#1 · P(valence) 0.70" in h and "a.flac, 0–2 s" in h
    assert "#2" in h and "no player" in h and "#3" not in h


# ------------------------------------------------------------------------------------------------ timeline
def _labels(raters=True):
    t = np.arange(10.0)
    curve = pd.DataFrame({"time_s": t, "valence": -t / 10, "arousal": t / 10})
    r = None
    if raters:  # three raters: arousal t/10 + (-0.1, 0, +0.1); valence -t/10 + (0, 0, 0.3)
        r = pd.concat([pd.DataFrame({"annotator": name, "time_s": t, "valence": -t / 10 + dv,
                                     "arousal": t / 10 + da})
                       for name, da, dv in (("r1", -0.1, 0.0), ("r2", 0.0, 0.0), ("r3", 0.1, 0.3))])
    return DynamicLabels("7", "synthmemo", 1.0, curve, r)


def test_reference_curve_mean_and_population_sd_of_raters():
    ref = vp.reference_curve(_labels())
    assert list(ref["time_s"]) == list(np.arange(10.0)) and (ref["n_raters"] == 3).all()
    assert ref["arousal_mean"].to_numpy() == pytest.approx(np.arange(10) / 10)
    assert ref["arousal_sd"].to_numpy() == pytest.approx(np.full(10, math.sqrt(0.02 / 3)))  # sd of -0.1, 0, 0.1
    assert ref["valence_mean"].to_numpy() == pytest.approx(-np.arange(10) / 10 + 0.1)
    assert ref["valence_sd"].to_numpy() == pytest.approx(np.full(10, math.sqrt(2) * 0.1))  # sd of 0, 0, 0.3
    pub = vp.reference_curve(_labels(raters=False))  # no raters: the published curve, no band
    assert pub["arousal_mean"].to_numpy() == pytest.approx(np.arange(10) / 10) and pub["arousal_sd"].isna().all()
    empty = DynamicLabels("8", "synthmemo", 1.0, pd.DataFrame(columns=["time_s", "valence", "arousal"]))
    assert vp.reference_curve(empty).empty


def test_window_reference_overlap_weighted_means():
    ref = vp.reference_curve(_labels())
    win = pd.DataFrame({"start_s": [0.0, 2.5, 8.0, 12.0], "end_s": [5.0, 7.5, 13.0, 17.0],
                        "p_valence": [0.4, 0.3, 0.2, 0.1], "p_arousal": [0.3, 0.6, 0.8, 0.9],
                        "error": ["", "", "", ""]})
    w = vp.window_reference(win, ref)
    # [0, 5): samples 0..4 -> 0.2; [2.5, 7.5): half of 2 and 7, all of 3..6 -> (0.1 + 1.8 + 0.35) / 5 = 0.45
    assert w["ref_arousal"].iloc[0] == pytest.approx(0.2) and w["ref_arousal"].iloc[1] == pytest.approx(0.45)
    # [8, 13): only 8, 9 labelled (2 s of 5 < half covered) -> undefined; [12, 17): nothing
    assert w["ref_arousal"].iloc[2:].isna().all()
    assert w["ref_valence"].iloc[0] == pytest.approx(-0.2 + 0.1)
    assert list(w["centre_s"]) == [2.5, 5.0, 10.5, 14.5]


def test_spearman_against_hand_values():
    assert vp.spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)  # 1 - 6 * 2 / (4 * 15)
    assert vp.spearman([1, 2, 3, 4], [40, 30, 20, 10]) == pytest.approx(-1.0)
    # ties take average ranks: a ranks 1, 2.5, 2.5, 4; b ranks 1..4 -> Pearson = 4.5 / sqrt(4.5 * 5)
    assert vp.spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(4.5 / math.sqrt(4.5 * 5))
    assert math.isnan(vp.spearman([1, 2], [1, 2]))  # fewer than 3 pairs
    assert math.isnan(vp.spearman([1, 2, 3, np.nan], [1, 2, np.nan, 4]))  # 2 finite pairs
    assert math.isnan(vp.spearman([0.5, 0.5, 0.5], [1, 2, 3]))  # constant side


def test_timeline_agreement_and_table():
    win = pd.DataFrame({"p_valence": [0.6, 0.4, 0.7, 0.2], "ref_valence": [0.1, -0.2, -0.3, np.nan],
                        "p_arousal": [0.5, 0.5, 0.5, 0.5], "ref_arousal": [0.0, 0.2, 0.4, 0.6]})
    ag = vp.timeline_agreement(win).set_index("dimension")
    assert ag.loc["valence", "n_windows"] == 3
    assert ag.loc["valence", "sign_agreement"] == pytest.approx(2 / 3)  # 0.7 vs -0.3 disagrees
    assert ag.loc["valence", "spearman_rho"] == pytest.approx(-0.5)  # ranks (2,1,3) vs (3,2,1): 1 - 6*6/24
    assert ag.loc["arousal", "sign_agreement"] == pytest.approx(0.75)  # P = 0.5 counts high; ref 0 is not > 0
    assert math.isnan(ag.loc["arousal", "spearman_rho"])  # constant prediction
    one = vp.timeline_agreement(win.iloc[:0]).set_index("dimension")
    assert one.loc["valence", "n_windows"] == 0 and math.isnan(one.loc["valence", "sign_agreement"])
    table = vp.agreement_table({"#1": ag.reset_index(), "#2": one.reset_index()})
    row = table[(table["file"] == "#1") & (table["dimension"] == "arousal")].iloc[0]
    assert row["sign agreement"] == "0.75" and row["Spearman ρ"] == "—" and row["reference range"] == "+0.00 … +0.60"
    allv = table[(table["file"] == "all") & (table["dimension"] == "valence")].iloc[0]
    assert allv["windows"] == 3 and allv["sign agreement"] == "0.67" and allv["Spearman ρ"].startswith("-0.50")
    assert "(mean of 1 files)" in allv["Spearman ρ"]
    alla = table[(table["file"] == "all") & (table["dimension"] == "arousal")].iloc[0]
    assert alla["Spearman ρ"] == "—"
    assert table[table["file"] == "#2"]["sign agreement"].eq("—").all()
    assert table[table["file"] == "#2"]["reference range"].eq("—").all()


def test_timeline_plot_twin_axis_aligns_zero_with_half():
    ref = vp.reference_curve(_labels())
    win = pd.DataFrame({"start_s": [0.0, 2.5, 5.0], "end_s": [5.0, 7.5, 10.0], "p_valence": [0.4, 0.3, 0.2],
                        "p_arousal": [0.3, 0.6, 0.8], "error": ["", "", ""]})
    w = vp.window_reference(win, ref)
    fig, axes = plt.subplots(2, 1)
    vp.plot_timeline_reference(w, ref, axes)
    tw = [a for a in fig.axes if a not in axes]
    assert len(tw) == 2
    lo, hi = axes[0].get_ylim()
    assert tw[0].get_ylim() == pytest.approx((2 * lo - 1, 2 * hi - 1))
    assert "n = 3 windows" in axes[1].get_title() and "Spearman ρ +1.00" in axes[1].get_title()
    plt.close(fig)
    fig, axes = plt.subplots(2, 1)
    vp.plot_timeline_reference(w, None, axes)  # no reference: no twin axis, no statistics
    assert len(fig.axes) == 2 and "no reference curve" in axes[0].get_title()
    plt.close(fig)


def test_reference_curves_and_windows_from_a_synthmemo_folder(tmp_path):
    from damer_lite.datasets import memo2496, synth
    from tests.conftest import TINY

    root = tmp_path / "memo"
    synth.generate(root, progress=False, **TINY)
    man = memo2496.load_synthmemo(root)
    paths = list(man["audio_path"].iloc[:2]) + [str(tmp_path / "mine.flac")]  # the last one is not in it
    preds = pd.DataFrame({"path": paths, "track": [p.rsplit("/", 1)[-1] for p in paths], "window": 0,
                          "start_s": 0.0, "end_s": 2.0, "p_valence": 0.5, "p_arousal": 0.5, "error": ""})
    ids = vp.attach_labels(vp.file_ids(preds), man)
    refs = vp.reference_curves(ids, man)
    assert sorted(refs) == ["#1", "#2"]
    lab = next(iter(vp.dynamic.iter_labels(man.iloc[:1])))
    by_hand = lab.raters.groupby("time_s")["arousal"]
    assert refs["#1"]["arousal_mean"].to_numpy() == pytest.approx(by_hand.mean().to_numpy())
    assert refs["#1"]["arousal_sd"].to_numpy() == pytest.approx(by_hand.std(ddof=0).to_numpy())
    assert (refs["#1"]["n_raters"] == 20).all()
    wins = vp.windows_by_file(preds, ids, refs)
    assert sorted(wins) == ["#1", "#2", "#3"]
    assert wins["#1"]["ref_arousal"].iloc[0] == pytest.approx(by_hand.mean().iloc[:2].mean())  # [0, 2) = 2 samples
    assert wins["#3"]["ref_arousal"].isna().all()  # no reference for a file outside the dataset
    assert vp.reference_curves(ids, None) == {}


def test_results_index_describes_the_new_tables():
    from damer_lite.report.results_index import describe

    assert "Spearman" in describe("your_music_timeline_agreement_synthmemo")[0]  # not the timeline figure's entry
    assert "windowed predictions" in describe("your_music_timeline_synthmemo")[0]
    assert "short ids" in describe("your_music_ids_synthmemo")[0]
    assert describe("your_music_ids_synthmemo")[1] == "08_your_music"
