"""Figures of the experiments beyond the paper (label efficiency) and of the held-out errors of the exported
models (error rates by group with Wilson intervals)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from damer_lite.report.tables import seed_summary


def _n_text(ns) -> str:
    """'n = 1 seed', 'n = 3 seeds', 'n = 2–3 seeds'."""
    ns = sorted({int(n) for n in ns})
    return f"n = {ns[0]} seed{'s' if ns[0] != 1 else ''}" if len(ns) == 1 else f"n = {ns[0]}–{ns[-1]} seeds"


def efficiency_figure(df: pd.DataFrame):
    """Test accuracy vs labelled fraction, with and without PCL, one panel per target. Each point is the mean
    over seeds; error bars (sd over seeds) are drawn only where there are two or more seeds, and the legend
    and titles state the number of seeds n."""
    import matplotlib.pyplot as plt

    targets = sorted(df["target"].unique())
    fig, axes = plt.subplots(1, len(targets), figsize=(4.5 * len(targets), 3.2), squeeze=False)
    s = seed_summary(df, ["target", "model", "labelled_fraction"])
    for ax, tgt in zip(axes[0], targets, strict=True):
        st = s[s["target"] == tgt]
        models = list(dict.fromkeys(st.sort_values("model")["model"]))
        for i, model in enumerate(models):
            g = st[st["model"] == model].sort_values("labelled_fraction")
            colour = f"C{i}"
            x = g["labelled_fraction"] * (1 + 0.03 * (i - (len(models) - 1) / 2))  # side by side on the log axis
            ax.plot(x, 100 * g["acc_mean"], "-o", color=colour, label=f"{model} ({_n_text(g['n_seeds'])})")
            bars = (g["n_seeds"] >= 2).to_numpy()  # an sd needs two seeds: none is drawn for one
            if bars.any():
                ax.errorbar(x[bars], 100 * g["acc_mean"][bars], yerr=100 * g["acc_sd"][bars], fmt="none",
                            ecolor=colour, capsize=3)
        ax.set_xscale("log")
        fractions = sorted(st["labelled_fraction"].unique())
        ax.set_xticks(fractions, [f"{100 * f:g} %" for f in fractions])
        ax.minorticks_off()
        ax.set_xlabel("labelled fraction of the training split")
        ax.set_ylabel("test accuracy (%)")
        bars_note = "mean ± sd over seeds" if (st["n_seeds"] >= 2).any() else "one seed: no error bars"
        ax.set_title(f"{tgt} ({_n_text(st['n_seeds'])}; {bars_note})", fontsize=9)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def error_figure(breakdown: pd.DataFrame, title: str = ""):
    """Held-out error rates per group (`tables.error_breakdown`): one column per target, one row per grouping
    (quadrant, style); a bar per group with its Wilson interval and 'errors/n' beside it, the target's overall
    error rate dashed. The panel titles state n."""
    import matplotlib.pyplot as plt

    lo_col = next(c for c in breakdown.columns if c.endswith("_low (%)"))
    hi_col = next(c for c in breakdown.columns if c.endswith("_high (%)"))
    level = lo_col.split("_")[0][2:]
    targets = list(dict.fromkeys(breakdown["target"]))
    groupings = [b for b in dict.fromkeys(breakdown["by"]) if b != "all"]
    if not targets or not groupings:
        raise ValueError("nothing to plot: the breakdown has no grouped rows")
    sizes = [breakdown[breakdown["by"] == b]["group"].nunique() for b in groupings]
    fig, axes = plt.subplots(len(groupings), len(targets), figsize=(4.8 * len(targets), 0.9 + 0.42 * sum(sizes) + 0.6 *
                             len(groupings)), squeeze=False, sharex=True,
                             gridspec_kw={"height_ratios": [max(s, 1) for s in sizes]})
    for j, tgt in enumerate(targets):
        t = breakdown[breakdown["target"] == tgt]
        overall = t[t["by"] == "all"].iloc[0]
        for i, by in enumerate(groupings):
            ax = axes[i, j]
            g = t[t["by"] == by].reset_index(drop=True)
            y = np.arange(len(g))[::-1]
            rate = g["error_rate (%)"].to_numpy(dtype=float)
            err = np.clip(np.vstack([rate - g[lo_col].to_numpy(dtype=float),
                                     g[hi_col].to_numpy(dtype=float) - rate]), 0.0, None)  # (2, groups)
            ax.barh(y, rate, color="C3", alpha=0.55, height=0.6)
            ax.errorbar(rate, y, xerr=err, fmt="none", ecolor="k", capsize=3, lw=1)
            for yy, r, k, n in zip(y, g[hi_col], g["errors"], g["n"], strict=True):
                ax.text(min(r + 2, 97), yy, f"{int(k)}/{int(n)}", va="center", fontsize=7)
            ax.axvline(overall["error_rate (%)"], color="0.3", ls="--", lw=1,
                       label=f"all: {int(overall['errors'])}/{int(overall['n'])}")
            ax.set_yticks(y, g["group"], fontsize=8)
            ax.set_xlim(0, 100)
            ax.grid(axis="x", alpha=0.3)
            ax.legend(fontsize=7, loc="lower right")
            ax.set_title(f"{tgt} · by {by} (n = {int(overall['n'])} test tracks)", fontsize=9)
            if i == len(groupings) - 1:
                ax.set_xlabel(f"error rate (%), {level} % Wilson interval")
    fig.suptitle(title or "held-out errors by group", fontsize=10)
    fig.tight_layout()
    return fig
