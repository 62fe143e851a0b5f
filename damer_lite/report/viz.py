"""Plots shared by the notebooks (each returns a matplotlib Figure; saving is `report.save_figure`)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
import pandas as pd

from damer_lite.report.tables import dash_undefined

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
        ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    axes[0].set_ylabel("tracks")
    fig.suptitle(f"n = {len(df)} tracks", fontsize=10)
    fig.tight_layout()
    return fig


def calibration_rounds(annotators: pd.DataFrame, threshold: float = 0.25) -> pd.DataFrame:
    """One row per (annotator, calibration round): annotator_id, round (1, 2, ...), distance (mean V-A distance
    between the two ratings of the covert duplicate) and passed (distance <= threshold), from annotators.csv's
    ';'-joined `calibration_distances`."""
    rows = []
    for _, a in annotators.iterrows():
        for k, x in enumerate(str(a["calibration_distances"]).split(";"), start=1):
            d = float(x)
            rows.append({"annotator_id": a["annotator_id"], "round": k, "distance": d, "passed": d <= threshold})
    return pd.DataFrame(rows, columns=["annotator_id", "round", "distance", "passed"])


def calibration(annotators: pd.DataFrame, threshold: float = 0.25):
    """Fig. 3 analogue: duplicate-excerpt distance per annotator and round, with the 0.25 criterion.

    A passed round is a green dot, a failed round (the annotator was retrained and retested) a red cross
    labelled with its round number; the rounds of one annotator are joined by a grey line. The legend sits
    outside the axes, so it hides no annotator."""
    rounds = calibration_rounds(annotators, threshold)
    pos = {a: i for i, a in enumerate(annotators["annotator_id"])}
    x = rounds["annotator_id"].map(pos).to_numpy()
    fig, ax = plt.subplots(figsize=(9.5, 3.4), layout="constrained")
    for a, g in rounds.groupby("annotator_id", sort=False):
        if len(g) > 1:
            ax.plot([pos[a]] * len(g), g["distance"], "-", color="0.75", lw=1, zorder=1)
    ok, bad = rounds["passed"].to_numpy(bool), ~rounds["passed"].to_numpy(bool)
    ax.scatter(x[ok], rounds.loc[ok, "distance"], color="tab:green", marker="o", s=18, zorder=3,
               label=f"passed round ({int(ok.sum())})")
    ax.scatter(x[bad], rounds.loc[bad, "distance"], color="tab:red", marker="X", s=40, zorder=4,
               label=f"failed round ({int(bad.sum())}): retrained, retested")
    for xi, (_, r) in zip(x[bad], rounds[bad].iterrows(), strict=True):
        ax.annotate(f"r{r['round']}", (xi, r["distance"]), textcoords="offset points", xytext=(5, 0),
                    va="center", fontsize=7, color="tab:red")
    ax.axhline(threshold, color="k", ls="--", lw=1, label=f"criterion {threshold:g} (pass if ≤)")
    ax.set_xticks(range(len(annotators)))
    ax.set_xticklabels(annotators["annotator_id"], rotation=90, fontsize=7)
    ax.set_xlim(-0.7, len(annotators) - 0.3)
    ax.set_ylim(0, 1.08 * max(float(rounds["distance"].max()) if len(rounds) else 0.0, threshold))
    ax.set_ylabel("mean V-A distance, duplicate")
    retrained = int((rounds.groupby("annotator_id")["round"].max() > 1).sum())
    ax.set_title(f"Calibration: n = {len(annotators)} annotators, {len(rounds)} rounds; "
                 f"{retrained} retrained after a failed round", fontsize=10)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0, fontsize=8)
    return fig


def annotator_profile(annotators: pd.DataFrame):
    """Fig. 1 analogue: instrument specialisations, with sex and age."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2), gridspec_kw={"width_ratios": [2, 1]})
    counts = annotators.groupby(["instrument", "sex"]).size().unstack(fill_value=0)
    counts = counts.loc[counts.sum(axis=1).sort_values(ascending=False).index]
    counts.plot.bar(stacked=True, ax=axes[0], color={"F": "tab:pink", "M": "tab:blue"})
    axes[0].set_ylabel("annotators")
    sexes = annotators["sex"].value_counts()
    axes[0].set_title(f"instrument specialisation (n = {len(annotators)}: "
                      f"{sexes.get('M', 0)} M / {sexes.get('F', 0)} F)")
    lo, hi = int(annotators["age"].min()), int(annotators["age"].max())
    axes[1].hist(annotators["age"], bins=np.arange(lo - 0.5, hi + 1.5), color="0.5")
    axes[1].set_xlabel("age (years)")
    axes[1].set_ylabel("annotators")
    axes[1].set_title(f"ages {lo}-{hi}, mean {annotators['age'].mean():.1f}")
    for ax in axes:
        ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    axes[1].xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    fig.tight_layout()
    return fig


def dash_missing(df: pd.DataFrame, digits: int | None = 3) -> pd.DataFrame:
    """A copy of `df` for display: numbers rounded to `digits` (None: as they are) and every undefined value
    (NaN, None) shown as "—" instead of NaN. For reading only; tables are saved with their NaN."""
    out = df.round(digits) if digits is not None else df
    return dash_undefined(out, columns=out.columns)
