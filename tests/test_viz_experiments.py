"""Figures of the experiments beyond the paper (label efficiency) and of the held-out errors."""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")

import matplotlib.container  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

from damer_lite.report import tables, viz_experiments  # noqa: E402


def _efficiency(seeds: int) -> pd.DataFrame:
    rows = []
    for t in ("arousal", "valence"):
        for s in range(seeds):
            for f in (0.25, 1.0):
                for m, base in (("DAMER with PCL (unlabelled pool)", 0.7), ("DAMER without PCL", 0.6)):
                    rows.append({"target": t, "seed": s, "labelled_fraction": f, "model": m,
                                 "acc": base + 0.02 * s + 0.1 * f, "f1": 0.5, "auc": 0.5})
    return pd.DataFrame(rows)


def _bars(ax):
    return [c for c in ax.containers if isinstance(c, matplotlib.container.ErrorbarContainer)]


def test_efficiency_figure_one_seed_has_no_error_bars_and_says_n():
    fig = viz_experiments.efficiency_figure(_efficiency(1))
    for ax in fig.axes:
        assert _bars(ax) == []  # an sd of one seed does not exist: nothing is drawn, not a bar of 0
        assert "n = 1 seed;" in ax.get_title() and "no error bars" in ax.get_title()
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert all("(n = 1 seed)" in lab for lab in labels) and len(labels) == 2
    plt.close(fig)


def test_efficiency_figure_error_bars_are_the_sd_over_seeds():
    df = _efficiency(3)
    fig = viz_experiments.efficiency_figure(df)
    ax = fig.axes[0]  # arousal
    bars = _bars(ax)
    assert len(bars) == 2 and "n = 3 seeds" in ax.get_title() and "mean ± sd" in ax.get_title()
    for bar, model in zip(bars, sorted(df["model"].unique()), strict=True):
        (segments,) = bar.lines[2]
        g = df[(df["target"] == "arousal") & (df["model"] == model) & (df["labelled_fraction"] == 0.25)]
        v = 100 * g["acc"].to_numpy()
        (_, lo), (_, hi) = segments.get_segments()[0]
        assert (lo, hi) == pytest.approx((v.mean() - v.std(ddof=1), v.mean() + v.std(ddof=1)))
    plt.close(fig)


def test_error_figure_draws_wilson_intervals_and_states_n():
    preds = pd.DataFrame({"target": ["arousal"] * 10, "quadrant": ["Q1"] * 4 + ["Q2"] * 6,
                          "style": ["piano", "organ"] * 5, "correct": [True, False] * 2 + [True] * 6})
    e = tables.error_breakdown(preds)
    fig = viz_experiments.error_figure(e, "toy")
    assert len(fig.axes) == 2  # quadrant, style
    ax = fig.axes[0]
    assert "n = 10 test tracks" in ax.get_title()
    (bar,) = _bars(ax)
    segs = bar.lines[2][0].get_segments()
    q = e[e["by"] == "quadrant"].reset_index(drop=True)
    got = sorted((round(a[0], 6), round(b[0], 6)) for a, b in segs)
    want = sorted((round(lo, 6), round(hi, 6)) for lo, hi in zip(q["ci95_low (%)"], q["ci95_high (%)"], strict=True))
    assert got == want
    texts = {t.get_text() for t in ax.texts}
    assert {"2/4", "0/6"} <= texts
    plt.close(fig)
    with pytest.raises(ValueError):
        viz_experiments.error_figure(e[e["by"] == "all"])
    assert np.isfinite(q["ci95_high (%)"]).all()


def test_results_index_describes_the_error_files():
    from damer_lite.report.results_index import describe

    table, nb = describe("errors_synthmemo")
    assert nb == "05_ablation" and "Wilson" in table
    rel, nb = describe("errors_reliability_synthmemo")
    assert nb == "05_ablation" and "reliability" in rel and rel != table
    assert describe("reliability_synthmemo")[1] == "08_your_music"  # the checkpoints' own diagrams stay apart
