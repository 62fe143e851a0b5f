"""Aggregate tables (Table V, paired differences, Tables II-IV, paper vs ours) on small hand-built inputs."""

from __future__ import annotations

import json

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")

from damer_lite.experiments import ablation, runs  # noqa: E402
from damer_lite.report import paper_tables, tables  # noqa: E402


def _rows(dataset, target, configuration, seed, acc, head="fuse", primary=True, f1=None, auc=None):
    return {"dataset": dataset, "target": target, "configuration": configuration, "seed": seed, "head": head,
            "primary": primary, "acc": acc, "f1": acc if f1 is None else f1, "auc": acc if auc is None else auc,
            "run_dir": f"{dataset}/{target}/{configuration}/seed{seed}"}


def toy_runs(n_seeds=3, dataset="synthmemo") -> pd.DataFrame:
    """DAMER at 0.80/0.82/0.84 (fused), every other configuration exactly 0.02 below on the same seed;
    ensemble head 0.01 above fused; an SVM baseline at 0.70."""
    rows = []
    for target in ("arousal", "valence"):
        for s in range(n_seeds):
            base = 0.80 + 0.02 * s
            for cfg in ablation.ABLATIONS:
                acc = base if cfg == "damer" else base - 0.02
                rows.append(_rows(dataset, target, cfg, s, acc))
                rows.append(_rows(dataset, target, cfg, s, acc + 0.01, head="ensemble", primary=False))
                rows.append(_rows(dataset, target, cfg, s, 0.5, head="mel", primary=False))
            rows.append(_rows(dataset, target, "svm", s, 0.70, head="svm"))
    return pd.DataFrame(rows)


def test_fmt_mean_sd():
    assert tables.fmt_mean_sd([0.8, 0.82, 0.84]) == "82.00 ± 2.00"
    assert tables.fmt_mean_sd([0.5]) == "50.00 ± —"  # the sd of one value is undefined, not 0
    assert tables.fmt_mean_sd([0.5, 0.5]) == "50.00 ± 0.00"  # two equal values: a defined sd of 0
    assert tables.fmt_mean_sd([]) == ""
    assert tables.mean_sd_text(78.0, float("nan"), 1) == "78.00 ± —"
    assert tables.mean_sd_text(78.0, 1.234, 3, digits=1) == "78.0 ± 1.2"
    assert tables.mean_sd_text(float("nan"), float("nan"), 0) == ""


def test_dash_undefined_only_replaces_missing_values():
    df = pd.DataFrame({"name": ["a", "b"], "n": [1, 5], "sd": [np.nan, 0.0], "p": [np.nan, 0.03]})
    out = tables.dash_undefined(df)
    assert list(out["sd"]) == ["—", 0.0] and list(out["p"]) == ["—", 0.03]
    assert list(out["n"]) == [1, 5] and list(out["name"]) == ["a", "b"]
    assert np.isnan(df.loc[0, "sd"])  # the input is left as it was
    assert list(tables.dash_undefined(df, ["p"])["sd"].isna()) == [True, False]
    ints = pd.DataFrame({"epoch": pd.array([3, None], dtype="Int64"), "ok": [True, False]})
    assert list(tables.dash_undefined(ints)["epoch"]) == [3, "—"] and list(tables.dash_undefined(ints)["ok"]) == [
        True, False]


def test_ablation_table_mean_sd_and_order():
    t = tables.ablation_table(toy_runs())
    assert list(t["configuration"].unique()) == list(ablation.ABLATIONS)  # Table V order
    full = t[(t["configuration"] == "damer") & (t["target"] == "arousal")].iloc[0]
    assert full["n"] == 3
    assert full["acc_mean"] == pytest.approx(82.0)
    assert full["acc_sd"] == pytest.approx(2.0)
    assert full["acc (%)"] == "82.00 ± 2.00"
    assert (full["DSAF"], full["PCL"], full["SAML"]) == ("✓", "✓", "✓")
    dsaf = t[(t["configuration"] == "dsaf") & (t["target"] == "arousal")].iloc[0]
    assert (dsaf["DSAF"], dsaf["PCL"], dsaf["SAML"]) == ("✓", "", "")
    assert "svm" not in set(t["configuration"])  # baselines are not ablations

    wide = tables.ablation_wide(t)
    assert list(wide["configuration"]) == list(ablation.ABLATIONS)
    assert wide.loc[wide["configuration"] == "damer", "SynthMemo arousal"].iloc[0] == "82.00 ± 2.00"
    assert set(wide["n seeds"]) == {"3"}


def test_ablation_table_single_seed_has_no_sd():
    t = tables.ablation_table(toy_runs(n_seeds=1))
    assert t["acc (%)"].iloc[0] == "78.00 ± —"
    assert t["acc_sd"].isna().all()  # undefined, not 0
    m = tables.model_table(toy_runs(n_seeds=1)).set_index("model")
    assert m.loc[tables.DAMER_FUSED, "arousal ACC"] == "80.00 ± —"
    assert set(m["n seeds"]) == {"1"}


def test_paired_table_known_differences():
    p = tables.paired_table(toy_runs(n_seeds=5))
    assert len(p) == 2 * 6  # two targets x six non-full configurations
    assert p["mean_diff_acc_pp"].to_numpy() == pytest.approx(np.full(12, -2.0))
    assert (p["losses"] == 5).all() and (p["wins"] == 0).all() and (p["ties"] == 0).all()
    assert p["wilcoxon_p"].to_numpy() == pytest.approx(np.full(12, 0.0625))  # 5 losses of 5: exact p = 2/32
    small = tables.paired_table(toy_runs(n_seeds=3))
    assert small["wilcoxon_p"].isna().all()
    assert (small["test"] == "all differences equal: no test").all()  # every toy difference is -2 points


def test_model_table_rows():
    m = tables.model_table(toy_runs())
    assert list(m["model"]) == [tables.BASELINE_LABELS["svm"], tables.DAMER_FUSED, tables.DAMER_ENSEMBLE]
    row = m.set_index("model").loc[tables.DAMER_ENSEMBLE]
    assert row["arousal ACC"] == "83.00 ± 2.00"
    assert row["valence AUC"] == "83.00 ± 2.00"
    assert m.set_index("model").loc[tables.BASELINE_LABELS["svm"], "arousal ACC"] == "70.00 ± 0.00"


def test_paper_vs_ours_not_run_and_sources():
    pv = tables.paper_vs_ours(toy_runs())
    assert set(pv["source"]) == {paper_tables.SOURCE, tables.MEASURED}
    memo = pv[pv["dataset"] == "Memo2496"]
    ours = memo[memo["source"] == tables.MEASURED]
    assert len(ours) == 2 * (7 + 2)
    assert (ours["acc"] == tables.NOT_RUN).all()
    quoted = memo[(memo["source"] == paper_tables.SOURCE) & (memo["table"] == "Table V")]
    q = quoted.set_index(["target", "model"])["acc"]
    assert q[("arousal", "damer")] == "82.95" and q[("valence", "dsaf+pcl")] == "77.07"
    syn = pv[pv["dataset"] == "SynthMemo"]
    assert (syn["source"] == tables.MEASURED).all()  # the paper has no SynthMemo
    assert (syn["note"] != "").all()
    d = syn[(syn["table"] == "Table V") & (syn["model"] == "damer") & (syn["target"] == "arousal")]
    assert d["acc"].iloc[0] == "82.00 ± 2.00"


def test_paper_vs_ours_without_any_runs():
    pv = tables.paper_vs_ours(runs.collect("/nonexistent-runs-dir"))
    assert set(pv["dataset"]) == {"Memo2496", "1000songs (emoMusic)", "PMEmo"}
    assert (pv.loc[pv["source"] == tables.MEASURED, "acc"] == tables.NOT_RUN).all()
    assert len(pv[pv["source"] == paper_tables.SOURCE]) == 3 * 2 * (7 + 2)


def test_paper_table_v_uses_configuration_names():
    assert list(paper_tables.TABLE_V) == list(ablation.ABLATIONS)


def test_empty_inputs_give_empty_tables():
    empty = runs.collect("/nonexistent-runs-dir")
    assert tables.ablation_table(empty).empty
    assert tables.ablation_wide(tables.ablation_table(empty)).empty
    assert tables.paired_table(empty).empty
    assert tables.model_table(empty).empty
    assert "make results" in tables.no_runs_message("x", "synthmemo")


def test_ablation_figure_with_paper_dataset():
    import matplotlib.container
    import matplotlib.pyplot as plt

    df = pd.concat([toy_runs(3), toy_runs(2, dataset="memo2496")], ignore_index=True)
    fig = tables.ablation_figure(df)
    assert len(fig.axes) == 4
    names = list(ablation.ABLATIONS)
    pv = paper_tables.table_v()
    panels = [(ds, tgt) for ds in ("memo2496", "synthmemo") for tgt in ("arousal", "valence")]  # rows, columns
    for ax, (ds, tgt) in zip(fig.axes, panels, strict=True):
        bars = [c for c in ax.containers if isinstance(c, matplotlib.container.ErrorbarContainer)]
        assert len(bars) == len(names)
        dots = [ln for ln in ax.get_lines() if ln.get_marker() == "o" and ln.get_color() == "0.65"]
        assert len(dots) == len(names)
        for k, (cfg, bar, dot) in enumerate(zip(names, bars, dots, strict=True)):
            v = 100 * df[(df["dataset"] == ds) & (df["target"] == tgt) & (df["configuration"] == cfg)
                         & df["primary"]]["acc"].to_numpy()
            np.testing.assert_allclose(np.sort(dot.get_ydata()), np.sort(v), atol=1e-9)  # the seeds
            mean_line, _, (segments,) = bar.lines
            assert list(mean_line.get_xdata()) == [k]
            assert mean_line.get_ydata()[0] == pytest.approx(v.mean())
            (x0, lo), (x1, hi) = segments.get_segments()[0]
            assert x0 == x1 == k
            assert (lo, hi) == pytest.approx((v.mean() - v.std(ddof=1), v.mean() + v.std(ddof=1)))
        quoted = [ln for ln in ax.get_lines() if ln.get_marker() == "D"]
        if ds == "memo2496":  # the paper's Table V values as open diamonds
            q = pv[(pv["dataset"] == ds) & (pv["target"] == tgt)]
            assert len(quoted) == 1 and len(q) > 0
            np.testing.assert_allclose(quoted[0].get_xdata(), [names.index(c) for c in q["configuration"]])
            np.testing.assert_allclose(quoted[0].get_ydata(), q["acc"].to_numpy())
        else:
            assert quoted == []
    plt.close(fig)


def test_ablation_figure_one_seed_draws_no_error_bars():
    import matplotlib.container
    import matplotlib.pyplot as plt

    fig = tables.ablation_figure(toy_runs(1))
    for ax in fig.axes:
        assert not [c for c in ax.containers if isinstance(c, matplotlib.container.ErrorbarContainer)]
        means = [ln for ln in ax.get_lines() if ln.get_marker() == "o" and ln.get_color() in ("k", "C3")]
        assert len(means) == len(ablation.ABLATIONS)  # each configuration's one value, drawn without a bar
        assert "(n = 1 seed)" in ax.get_title()
        assert "ours: one seed (no sd)" in [t.get_text() for t in ax.get_legend().get_texts()]
    plt.close(fig)


def test_seed_summary_text_and_cross_dataset_table():
    eff = pd.DataFrame([{"target": "arousal", "labelled_fraction": f, "model": "m", "seed": s, "acc": a, "f1": a,
                         "auc": a} for f, seeds in ((0.1, (0.70, 0.74)), (1.0, (0.80,))) for s, a in enumerate(seeds)])
    t = tables.seed_summary_text(eff, ["target", "labelled_fraction", "model"])
    assert list(t["acc (%)"]) == ["72.00 ± 2.83", "80.00 ± —"]  # sd of (70, 74) = 2.828...; one seed: —
    assert list(t["n seeds"]) == [2, 1]
    cross = pd.DataFrame([{"target": "arousal", "seed": s, "train_dataset": a, "test_dataset": b, "acc": acc}
                          for s, (a, b, acc) in [(0, ("x", "x", 0.8)), (1, ("x", "x", 0.9)), (0, ("x", "y", 0.6)),
                                                 (0, ("y", "x", 0.5)), (0, ("y", "y", 0.7))]])
    c = tables.cross_dataset_table(cross).set_index(["target", "train_dataset"])
    assert c.loc[("arousal", "x"), "x"] == "85.00 ± 7.07" and c.loc[("arousal", "x"), "y"] == "60.00 ± —"
    assert c.loc[("arousal", "x"), "n seeds"] == "1–2" and c.loc[("arousal", "y"), "n seeds"] == "1"
    assert tables.cross_dataset_table(cross.iloc[:0]).empty


def test_wilson_interval_by_hand():
    # z = 1.959964, z² = 3.841459; 0/10: centre = half = (z²/20) / (1 + z²/10) = 0.192073 / 1.384146 = 0.138766
    assert tables.wilson_interval(0, 10) == pytest.approx((0.0, 0.277533), abs=1e-6)
    # 5/10: centre 0.5, half = z sqrt(0.025 + z²/400) / (1 + z²/10) = 1.959964 * 0.186021 / 1.384146 = 0.263407
    assert tables.wilson_interval(5, 10) == pytest.approx((0.236593, 0.763407), abs=1e-6)
    lo, hi = tables.wilson_interval(10, 10)
    assert hi == pytest.approx(1.0) and lo == pytest.approx(1 - 0.277533, abs=1e-6)  # mirror image of 0/10
    # 90 % level: z = 1.644854, z² = 2.705543; 3/20: centre (0.15 + 0.067639) / 1.135277 = 0.191705,
    # half = z sqrt(0.006375 + 0.001691) / 1.135277 = 0.130123
    assert tables.wilson_interval(3, 20, 0.90) == pytest.approx((0.061582, 0.321828), abs=1e-5)
    assert all(np.isnan(tables.wilson_interval(0, 0)))
    with pytest.raises(ValueError):
        tables.wilson_interval(4, 3)


def test_error_breakdown_counts_and_intervals():
    preds = pd.DataFrame({
        "target": ["arousal"] * 6 + ["valence"] * 4,
        "quadrant": ["Q1", "Q1", "Q2", "Q2", "Q2", "Q3", "Q1", "Q1", "Q3", "Q4"],
        "style": ["piano", "organ", "piano", "piano", "organ", "pad", "pad", "pad", "pad", "piano"],
        "correct": [True, False, False, False, True, True, True, True, True, True]})
    e = tables.error_breakdown(preds)
    a = e[e["target"] == "arousal"].set_index(["by", "group"])
    assert a.loc[("all", "all tracks"), "n"] == 6 and a.loc[("all", "all tracks"), "errors"] == 3
    assert a.loc[("quadrant", "Q2"), "errors"] == 2 and a.loc[("quadrant", "Q2"), "n"] == 3
    assert a.loc[("quadrant", "Q2"), "error_rate (%)"] == pytest.approx(200 / 3)
    assert a.loc[("quadrant", "Q2"), "share of errors (%)"] == pytest.approx(200 / 3)  # 2 of the 3 errors
    lo, hi = tables.wilson_interval(2, 3)
    assert a.loc[("quadrant", "Q2"), ["ci95_low (%)", "ci95_high (%)"]].tolist() == pytest.approx([100 * lo, 100 * hi])
    assert a.loc[("style", "piano"), "errors"] == 2 and a.loc[("style", "pad"), "errors"] == 0
    assert list(a.xs("quadrant").index) == ["Q1", "Q2", "Q3"]  # only groups that occur
    v = e[e["target"] == "valence"]
    assert (v["errors"] == 0).all() and v["share of errors (%)"].isna().all()  # no error: no share to take
    assert v["ci95_high (%)"].gt(0).all()  # a Wilson interval is not empty at 0 errors
    e90 = tables.error_breakdown(preds, by=("style",), confidence=0.9)
    assert "ci90_low (%)" in e90 and set(e90["by"]) == {"all", "style"}


def test_collect_roundtrip(tmp_path):
    """Hand-built run folders read by runs.collect feed the tables."""
    for cfg, acc in (("damer", 0.9), ("dsaf", 0.8)):
        d = tmp_path / "synthmemo" / "arousal" / cfg / "seed0"
        d.mkdir(parents=True)
        (d / "metrics.json").write_text(json.dumps({"fuse": {"acc": acc, "f1": acc, "auc": acc},
                                                    "ensemble": {"acc": acc, "f1": acc, "auc": acc},
                                                    "primary": "fuse"}))
        (d / "run.json").write_text(json.dumps({"dataset": "synthmemo", "target": "arousal",
                                                "configuration": cfg, "seed": 0}))
    t = tables.ablation_table(runs.collect(tmp_path))
    assert dict(zip(t["configuration"], t["acc (%)"], strict=True)) == {"dsaf": "80.00 ± —", "damer": "90.00 ± —"}
    p = tables.paired_table(runs.collect(tmp_path))
    assert p["mean_diff_acc_pp"].iloc[0] == pytest.approx(-10.0)


def test_verdict_follows_the_interval():
    assert tables.verdict(-3.0, -0.5, 2.0) == "supports: DAMER better"
    assert tables.verdict(0.5, 3.0, 2.0) == "contradicts: configuration better"
    assert tables.verdict(-1.0, 2.0, 4.25).startswith("cannot decide") and "4.2" in tables.verdict(-1.0, 2.0, 4.2)
    assert tables.verdict(np.nan, np.nan, np.nan) == "cannot decide (too few seeds)"
    assert tables.verdict(-0.6, -0.6, 0.0).startswith("cannot decide: the same difference in every seed")
    # three equal differences whose float mean and sd leave an interval a few ulps wide (seen in label efficiency)
    d = np.array([2 / 3, 1 - 1 / 3, 0.1 + 0.5666666666666667]) * -1
    lo, hi = d.mean() - 4.303 * d.std(ddof=1) / np.sqrt(3), d.mean() + 4.303 * d.std(ddof=1) / np.sqrt(3)
    assert tables.verdict(lo, hi, 0.0).startswith("cannot decide: the same difference in every seed")
    assert tables.verdict(-0.6666666666666667, -0.6666666666666666, 0.0).startswith("cannot decide: the same")


def test_paired_stats_by_hand():
    """t interval and minimum detectable difference of a paired design, against table values of Student's t."""
    s = ablation.paired_stats(np.array([1.0, 2.0, 3.0, 6.0]))
    sd = np.sqrt((4 + 1 + 0 + 9) / 3)  # ddof = 1
    se = sd / 2.0
    t975, t80 = 3.182446, 0.978472  # t_{0.975, 3}, t_{0.80, 3}
    assert s["mean"] == 3.0 and s["sd"] == pytest.approx(sd)
    assert s["ci_low"] == pytest.approx(3.0 - t975 * se, abs=1e-5)
    assert s["ci_high"] == pytest.approx(3.0 + t975 * se, abs=1e-5)
    assert s["mdd"] == pytest.approx((t975 + t80) * se, abs=1e-5)
    assert s["t_p"] == pytest.approx(0.069137, abs=1e-5)  # t = 3 / se = 2.7775 on 3 df, two-sided
    one = ablation.paired_stats(np.array([2.0]))
    assert one["mean"] == 2.0 and all(np.isnan(one[k]) for k in ("sd", "ci_low", "ci_high", "mdd"))


def test_paired_table_reports_interval_and_power():
    p = tables.paired_table(toy_runs(n_seeds=5))  # every difference exactly -2 points: sd 0, interval a point
    assert p["sd_diff_acc_pp"].to_numpy() == pytest.approx(np.zeros(12), abs=1e-9)
    assert p["ci95_low_acc_pp"].to_numpy() == pytest.approx(np.full(12, -2.0))
    assert p["ci95_high_acc_pp"].to_numpy() == pytest.approx(np.full(12, -2.0))
    assert p["mdd80_acc_pp"].to_numpy() == pytest.approx(np.zeros(12), abs=1e-9)


def test_claims_rows_and_verdicts():
    p = tables.paired_table(toy_runs(n_seeds=5))  # every configuration 2 points below DAMER in every seed
    eff = pd.DataFrame([{"target": "arousal", "seed": s, "labelled_fraction": f, "model": m, "acc": a}
                        for s in range(3) for f in (0.25, 1.0)
                        for m, a in (("DAMER with PCL (unlabelled pool)", 0.70 + 0.01 * s),
                                     ("DAMER without PCL", 0.80 + 0.02 * s))])
    c = tables.claims(p, efficiency=eff)
    table_v = c[c["claim"].str.contains("Table V")]
    assert len(table_v) == 12  # every seed exactly 2 points below: no spread, nothing to test
    assert table_v["verdict"].str.startswith("cannot decide: the same difference").all()
    pcl = c[c["claim"].str.contains("label efficiency")]
    assert list(pcl["where"]) == ["arousal, 25 % labelled"]  # 100 % labelled hides nothing: no row
    assert pcl["difference (pp)"].iloc[0] == pytest.approx(11.0)  # without - with PCL, mean over seeds
    assert pcl["verdict"].iloc[0] == "contradicts: configuration better"
    assert {"ci95 low", "ci95 high", "mdd80 (pp)"} <= set(c.columns)
    empty = tables.claims(tables.paired_table(toy_runs(n_seeds=5).iloc[:0]))  # nothing to compare
    assert empty.empty and list(empty.columns) == list(c.columns)


def test_saved_markdown_shows_undefined_as_a_dash_and_the_csv_keeps_it_empty(tmp_path):
    from damer_lite.report import save_table

    df = pd.DataFrame({"mean": [0.5, 0.25], "sd": [0.125, float("nan")], "note": ["a", None], "n": [3, 1]})
    csv, md = save_table(df, "t", tmp_path)
    rows = md.read_text().splitlines()
    assert [c.strip() for c in rows[2].split("|")[1:-1]] == ["0.500", "0.125", "a", "3"]
    assert [c.strip() for c in rows[3].split("|")[1:-1]] == ["0.250", "—", "—", "1"]
    assert csv.read_text().splitlines()[2] == "0.25,,,1"


def _run_with_predictions(d, p, labels, test_idx):
    d.mkdir(parents=True)
    np.savez(d / "embeddings.npz", p_test=np.asarray(p, dtype=float), labels=np.asarray(labels),
             test_idx=np.asarray(test_idx))
    return str(d)


def test_test_noise_se_by_hand(tmp_path):
    """One seed's paired difference over 4 test tracks: ref correct on [1, 1, 0, 0], other on [1, 0, 1, 1]
    -> d = [0, -1, 1, 1], sd(ddof=1) = sqrt(2.75 / 3), SE = sd / 2."""
    y = [1, 0, 1, 0]
    ref = _run_with_predictions(tmp_path / "ref", [0.9, 0.1, 0.2, 0.8], y, [3, 5, 7, 9])
    other = _run_with_predictions(tmp_path / "other", [0.9, 0.9, 0.9, 0.1], y, [3, 5, 7, 9])
    assert ablation.test_noise_se(ref, other) == pytest.approx(np.sqrt(2.75 / 3) / 2)
    shifted = _run_with_predictions(tmp_path / "shifted", [0.9, 0.9, 0.9, 0.1], y, [3, 5, 7, 8])
    assert np.isnan(ablation.test_noise_se(ref, shifted))  # other test tracks: no paired noise
    old = tmp_path / "old"
    old.mkdir()
    np.savez(old / "embeddings.npz", labels=np.asarray(y), test_idx=np.arange(4))  # a run before p_test
    assert np.isnan(ablation.test_noise_se(ref, old))
    assert np.isnan(ablation.test_noise_se(ref, tmp_path / "missing"))


def test_paired_table_test_noise_column_is_the_rms_over_seeds(tmp_path):
    """Two seeds with test-noise SEs a and b give sqrt((a^2 + b^2) / 2), in points, beside sd_diff."""
    y = [1, 0, 1, 0]
    rows = []
    for seed, other_p in ((0, [0.9, 0.9, 0.9, 0.1]), (1, [0.1, 0.1, 0.2, 0.8])):
        for cfg, p in (("damer", [0.9, 0.1, 0.2, 0.8]), ("dsaf", other_p)):
            row = _rows("synthmemo", "arousal", cfg, seed, 0.5)
            row["run_dir"] = _run_with_predictions(tmp_path / f"{cfg}{seed}", p, y, [0, 1, 2, 3])
            rows.append(row)
    p = tables.paired_table(pd.DataFrame(rows))
    cols = list(p.columns)
    assert cols.index("test_noise_sd_acc_pp") == cols.index("sd_diff_acc_pp") + 1
    a = np.sqrt(2.75 / 3) / 2  # seed 0, as in test_test_noise_se_by_hand
    d1 = np.array([-1.0, 0.0, 0.0, 0.0])  # seed 1: other correct on [0, 1, 0, 0], ref on [1, 1, 0, 0]
    b = d1.std(ddof=1) / 2
    assert p["test_noise_sd_acc_pp"].iloc[0] == pytest.approx(100 * np.sqrt((a**2 + b**2) / 2))
