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


def fleiss_kappa(counts: np.ndarray) -> float:
    """Fleiss' kappa of an (n_items, n_categories) count matrix, the same number of raters on every item."""
    counts = np.asarray(counts, dtype=float)
    n = counts.sum(axis=1)
    if counts.shape[0] < 2 or not np.allclose(n, n[0]) or n[0] < 2:
        return float("nan")
    n = n[0]
    p_item = ((counts * (counts - 1)).sum(axis=1) / (n * (n - 1))).mean()  # observed agreement
    p_cat = counts.sum(axis=0) / counts.sum()
    p_exp = float((p_cat**2).sum())  # chance agreement
    return float((p_item - p_exp) / (1 - p_exp)) if p_exp < 1 else float("nan")


def sign_kappa(means: pd.DataFrame, columns) -> float:
    """Fleiss' kappa of the raters' class of each track: the sign pattern of their track-mean ratings in
    `columns` (one column: the binary label > 0 of §V-A; valence and arousal: the V-A quadrant)."""
    classes = (means[list(columns)] > 0).astype(int).to_numpy() @ (2 ** np.arange(len(columns)))
    counts = pd.crosstab(means["song_id"].to_numpy(), classes).reindex(columns=range(2 ** len(columns)),
                                                                          fill_value=0)
    sizes = counts.sum(axis=1)
    counts = counts[sizes == sizes.mode().iloc[0]]  # tracks with the usual number of raters
    return fleiss_kappa(counts.to_numpy())


def static_agreement(long: pd.DataFrame) -> pd.DataFrame:
    """Agreement on static (track-mean) ratings across tracks, per dimension.

    long: columns song_id, annotator_id, time_s, valence, arousal (as `memo2496.annotator_labels`).
    Returns one row per dimension: Cronbach's alpha over the tracks rated by the same rater set, the mean
    pairwise Pearson r between raters, the mean per-track sd of the raters' track means, the mean per-second
    sd between raters (as a share of the [-1, 1] scale's range of 2, the unit of published continuous-rating
    spreads), and Fleiss' kappa of the raters' binary labels (track mean > 0); a third row, 'quadrant',
    holds Fleiss' kappa of the raters' V-A quadrants.
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
            "per_second_sd_share_of_range": float(long.groupby(["song_id", "time_s"])[dim].std().mean() / 2.0),
            "fleiss_kappa_label": sign_kappa(means, [dim]),
            "rater_blocks": len(alphas),
        })
    rows.append({"dimension": "quadrant", "fleiss_kappa_label": sign_kappa(means, ["valence", "arousal"])})
    return pd.DataFrame(rows)
