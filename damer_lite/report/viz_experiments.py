"""Figures of the experiments beyond the paper (label efficiency)."""

from __future__ import annotations

import pandas as pd

from damer_lite.report.tables import seed_summary


def efficiency_figure(df: pd.DataFrame):
    """Test accuracy vs labelled fraction, with and without PCL, one panel per target (error bars: sd over
    seeds, drawn only where there are two or more)."""
    import matplotlib.pyplot as plt

    targets = sorted(df["target"].unique())
    fig, axes = plt.subplots(1, len(targets), figsize=(4.5 * len(targets), 3.2), squeeze=False)
    s = seed_summary(df, ["target", "model", "labelled_fraction"])
    for ax, tgt in zip(axes[0], targets, strict=True):
        for model, g in s[s["target"] == tgt].groupby("model"):
            ax.errorbar(g["labelled_fraction"], 100 * g["acc_mean"], yerr=100 * g["acc_sd"].fillna(0.0), marker="o",
                        capsize=3, label=f"{model} (n = {int(g['n_seeds'].min())})")
        ax.set_xscale("log")
        ax.set_xlabel("labelled fraction of the training split")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(tgt)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
