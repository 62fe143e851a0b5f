"""Inter-rater agreement of per-second V-A ratings (the paper's cross-annotation design, §III-B)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def cronbach_alpha(ratings: np.ndarray) -> float:
    """Cronbach's alpha of a (n_items, n_raters) matrix: raters as 'items' of one scale."""
    x = ratings[~np.isnan(ratings).any(axis=1)]
    k = x.shape[1]
    if x.shape[0] < 2 or k < 2:
        return float("nan")
    item_var = x.var(axis=0, ddof=1).sum()
    total_var = x.sum(axis=1).var(ddof=1)
    return float(k / (k - 1) * (1 - item_var / total_var)) if total_var > 0 else float("nan")


def static_agreement(long: pd.DataFrame) -> pd.DataFrame:
    """Agreement on static (track-mean) ratings across tracks, per dimension.

    long: columns song_id, annotator_id, time_s, valence, arousal (as `memo2496.annotator_labels`).
    Returns one row per dimension: Cronbach's alpha over the tracks rated by the same rater set, the mean
    pairwise Pearson r between raters, and the mean per-track rater sd.
    """
    means = long.groupby(["song_id", "annotator_id"])[["valence", "arousal"]].mean().reset_index()
    rows = []
    for dim in ("valence", "arousal"):
        wide = means.pivot(index="song_id", columns="annotator_id", values=dim)  # tracks x raters (NaN gaps)
        alphas, rs = [], []
        # raters share tracks only within a rating block (two cohorts); evaluate per block of co-raters
        for _, block in wide.groupby(wide.notna().apply(lambda r: tuple(r), axis=1)):
            sub = block.dropna(axis=1, how="all").to_numpy()
            if sub.shape[0] >= 3 and sub.shape[1] >= 2:
                alphas.append(cronbach_alpha(sub))
                c = np.corrcoef(sub.T)
                rs.append(np.nanmean(c[np.triu_indices_from(c, k=1)]))
        rows.append({
            "dimension": dim,
            "cronbach_alpha": float(np.nanmean(alphas)) if alphas else float("nan"),
            "mean_pairwise_r": float(np.nanmean(rs)) if rs else float("nan"),
            "mean_rater_sd": float(means.groupby("song_id")[dim].std().mean()),
            "rater_blocks": len(alphas),
        })
    return pd.DataFrame(rows)
