"""Plots shared by the notebooks (each returns a matplotlib Figure; saving is `report.save_figure`)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

# 12 emotion terms at circumplex angles (degrees from the positive-valence axis). The paper's interface
# (Fig. 2) places 12 terms "at theoretical V-A coordinates based on psychological models" without listing
# the coordinates; these follow Russell's circumplex and are illustrative.
EMOTION_TERMS = {
    "happy": 15, "excited": 45, "alert": 75, "tense": 105, "angry": 125, "afraid": 145,
    "sad": 195, "depressed": 220, "bored": 245, "tired": 270, "calm": 305, "relaxed": 330,
}


def circumplex(ax=None, radius: float = 0.9):
    """The V-A plane with the unit circle, the quadrant axes and the 12 emotion terms."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5.2, 5.2))
    t = np.linspace(0, 2 * np.pi, 256)
    ax.plot(np.cos(t), np.sin(t), color="0.7", lw=1)
    ax.axhline(0, color="0.6", lw=0.8)
    ax.axvline(0, color="0.6", lw=0.8)
    for term, deg in EMOTION_TERMS.items():
        a = np.deg2rad(deg)
        x, y = radius * np.cos(a), radius * np.sin(a)
        ax.plot(x, y, "o", color="0.35", ms=3)
        ax.annotate(term, (x, y), textcoords="offset points", xytext=(4 * np.sign(x), 4 * np.sign(y)),
                    ha="left" if x >= 0 else "right", fontsize=8, color="0.25")
    ax.set_xlim(-1.15, 1.15)
    ax.set_ylim(-1.15, 1.15)
    ax.set_aspect("equal")
    ax.set_xlabel("valence")
    ax.set_ylabel("arousal")
    return ax


def labels_on_circumplex(df: pd.DataFrame, title: str = ""):
    """Fig. 2 analogue: the dataset's static labels on the circumplex, coloured by quadrant."""
    fig, ax = plt.subplots(figsize=(5.6, 5.6))
    circumplex(ax)
    quad = (df["valence"] > 0).astype(int) + 2 * (df["arousal"] > 0).astype(int)
    ax.scatter(df["valence"], df["arousal"], c=quad, cmap="tab10", vmin=0, vmax=9, s=10, alpha=0.7)
    ax.set_title(title or f"{len(df)} tracks: static labels on the V-A circumplex")
    return fig


def label_distributions(df: pd.DataFrame):
    """Histograms of static valence and arousal with the binarisation threshold at 0."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2), sharey=True)
    for ax, dim in zip(axes, ("valence", "arousal"), strict=True):
        ax.hist(df[dim], bins=np.linspace(-1, 1, 41), color="tab:blue", alpha=0.8)
        ax.axvline(0, color="k", ls="--", lw=1)
        pos = (df[dim] > 0).mean()
        ax.set_title(f"{dim}: {pos:.0%} above 0 (class 1)")
        ax.set_xlabel(dim)
    axes[0].set_ylabel("tracks")
    fig.tight_layout()
    return fig


def calibration(annotators: pd.DataFrame, threshold: float = 0.25):
    """Fig. 3 analogue: duplicate-excerpt distance per annotator and round, with the 0.25 criterion."""
    fig, ax = plt.subplots(figsize=(8, 3.2))
    for i, (_, a) in enumerate(annotators.iterrows()):
        d = [float(x) for x in str(a["calibration_distances"]).split(";")]
        ax.plot([i] * len(d), d, "-", color="0.75", lw=1)
        ax.scatter([i] * len(d), d, c=["tab:red" if x > threshold else "tab:green" for x in d], s=14, zorder=3)
    ax.axhline(threshold, color="k", ls="--", lw=1, label=f"criterion {threshold}")
    ax.set_xticks(range(len(annotators)))
    ax.set_xticklabels(annotators["annotator_id"], rotation=90, fontsize=7)
    ax.set_ylabel("mean V-A distance, duplicate")
    ax.set_title("Calibration: red = failed round (retrained), green = passed")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return fig


def annotator_profile(annotators: pd.DataFrame):
    """Fig. 1 analogue: instrument specialisations, with sex and age."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2), gridspec_kw={"width_ratios": [2, 1]})
    counts = annotators.groupby(["instrument", "sex"]).size().unstack(fill_value=0)
    counts = counts.loc[counts.sum(axis=1).sort_values(ascending=False).index]
    counts.plot.bar(stacked=True, ax=axes[0], color={"F": "tab:pink", "M": "tab:blue"})
    axes[0].set_ylabel("annotators")
    axes[0].set_title("instrument specialisation")
    axes[1].hist(annotators["age"], bins=np.arange(17.5, 29.5), color="0.5")
    axes[1].set_xlabel("age")
    axes[1].set_title(f"ages {annotators['age'].min()}-{annotators['age'].max()}, "
                      f"mean {annotators['age'].mean():.1f}")
    fig.tight_layout()
    return fig
