"""Emotion over time and tracks to listen to, for the data notebook (01).

Memo2496 (and SynthMemo, in its layout) gives each track one valence and one arousal rating per second from
each of its 20 raters. This module turns those ratings into what a reader can look at and hear:

    ratings = memo2496.annotator_labels(root)                 # song_id, annotator_id, time_s, valence, arousal
    latent = pd.read_csv(root / "synth_truth" / "latent_va.csv", dtype={"song_id": str})   # SynthMemo only
    tid = moving_track(latent)                                 # the track whose simulated emotion moves most
    frame = track_curves(ratings, tid, latent)                 # per second: raters' mean, sd, n; latent
    lags = {d: curve_lag(frame[f"latent_{d}"], frame[f"{d}_mean"]) for d in DIMS}
    pooled = {d: pooled_lag(ratings, latent, d) for d in DIMS}  # every track, with a bootstrap interval
    plot_track_curves(frame, ratings[ratings.song_id == tid], lags, pooled)
    quadrant_tracks(manifest)                                  # one track per V-A quadrant, to listen to

The lag is where the raters' mean curve correlates best with the latent curve it responds to (Pearson r of
latent[t] against mean[t + k], `viz_dynamic_mer.lagged_correlation`, peak refined by a parabola). It needs a
curve that moves: on a flat stretch every lag fits equally badly. Undefined numbers (the sd of fewer than two
ratings, the lag of a flat curve) are NaN and print as "—" (`fmt`).
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from damer_lite.config import QUADRANTS  # (valence > 0, arousal > 0) -> name
from damer_lite.report.tables import fmt
from damer_lite.report.viz_dynamic_mer import (
    DIM_COLORS,
    first_order_delay,
    lagged_correlation,
    latent_curves,
    peak_lag,
    response_lag,
)

DIMS = ("valence", "arousal")
QUADRANT_CENTRE = 0.5  # each quadrant's centre is (±0.5, ±0.5): the middle of its square on [-1, 1]²
SKIP_S = 5.0  # s: the raters' cursor starts at the centre; the lag is measured from here on (as notebook 09)
MAX_LAG_S = 5.0  # s: lags -5 .. +5 s


# -------------------------------------------------------------------------------------- tracks to hear
def quadrant_tracks(manifest: pd.DataFrame, centre: float = QUADRANT_CENTRE) -> pd.DataFrame:
    """One track per V-A quadrant: among the tracks whose static label lies in the quadrant (binarised at 0,
    as the paper's targets), the one nearest (Euclidean distance) to the quadrant's centre (±centre, ±centre);
    ties go to the track listed first. A quadrant without tracks has no row.

    Columns: quadrant, track_id, valence, arousal, distance (to the centre), n_tracks (in the quadrant),
    audio_path, window_start_s (0 when the manifest has none)."""
    m = manifest.dropna(subset=["valence", "arousal"])
    rows = []
    for (pos_v, pos_a), name in QUADRANTS.items():
        sv, sa = (1 if pos_v else -1), (1 if pos_a else -1)
        inside = m[((m["valence"] > 0) == pos_v) & ((m["arousal"] > 0) == pos_a)]
        if inside.empty:
            continue
        dist = np.hypot(inside["valence"] - sv * centre, inside["arousal"] - sa * centre)
        i = dist.idxmin()
        best = {c: inside.at[i, c] for c in inside.columns}  # per column: a row Series would cast ids to float
        start = best.get("window_start_s", 0.0)
        rows.append({"quadrant": name, "track_id": str(best["track_id"]), "valence": float(best["valence"]),
                     "arousal": float(best["arousal"]), "distance": float(dist[i]), "n_tracks": len(inside),
                     "audio_path": best.get("audio_path", ""),
                     "window_start_s": float(start) if pd.notna(start) else 0.0})
    return pd.DataFrame(rows, columns=["quadrant", "track_id", "valence", "arousal", "distance", "n_tracks",
                                       "audio_path", "window_start_s"])


def moving_track(latent: pd.DataFrame, skip_s: float = SKIP_S) -> str:
    """The track whose latent V-A curve moves most from `skip_s` on: the largest sd over time (population) of
    valence plus that of arousal; ties go to the track listed first. A lag can only be read off a curve that
    moves. latent: song_id, time_s, valence, arousal (SynthMemo's synth_truth/latent_va.csv)."""
    late = latent[latent["time_s"] >= skip_s]
    if late.empty:
        raise ValueError(f"no latent samples from {skip_s:g} s on")
    sd = late.groupby("song_id", sort=False)[list(DIMS)].std(ddof=0).sum(axis=1)
    return str(sd.idxmax())


def excerpt_start(latent_track: pd.DataFrame, duration_s: float, length_s: float = 10.0) -> float:
    """Where a `length_s` excerpt of a track starts so that it is centred on the largest one-second change of
    the latent curve (sum of |change| over valence and arousal, between samples t-1 and t), kept inside
    [0, duration_s]. A track shorter than `length_s` starts at 0."""
    lt = latent_track.sort_values("time_s")
    t = lt["time_s"].to_numpy(float)
    if t.size < 2 or duration_s <= length_s:
        return 0.0
    step = np.abs(np.diff(lt[list(DIMS)].to_numpy(float), axis=0)).sum(axis=1)  # (S - 1,)
    change_at = float(t[int(np.argmax(step)) + 1])
    return float(np.clip(change_at - length_s / 2, 0.0, duration_s - length_s))


# -------------------------------------------------------------------------------------- one track's curves
def rater_summary(ratings: pd.DataFrame) -> pd.DataFrame:
    """Per second of one track's ratings (annotator_id, time_s, valence, arousal): for each dimension the
    number of ratings ({dim}_n), their mean and their sd ({dim}_sd, population sd, ddof 0, as the dataset's
    {dim}_all_std.csv; NaN where fewer than two ratings: a single rating has no spread). NaN ratings are left
    out."""
    g = ratings.groupby("time_s")
    out = pd.DataFrame(index=pd.Index(sorted(ratings["time_s"].unique()), name="time_s"))
    for dim in DIMS:
        n = g[dim].count()
        out[f"{dim}_n"] = n.reindex(out.index).fillna(0).astype(int)
        out[f"{dim}_mean"] = g[dim].mean()
        sd = g[dim].std(ddof=0)
        out[f"{dim}_sd"] = sd.where(n >= 2)
    return out.reset_index()


def track_curves(ratings: pd.DataFrame, song_id, latent: pd.DataFrame | None = None) -> pd.DataFrame:
    """`rater_summary` of one track (`song_id`) of the long ratings table, with the number of raters
    (n_raters) and, when `latent` is given (SynthMemo), the latent curve as latent_valence, latent_arousal
    (NaN where the latent has no sample)."""
    sid = str(song_id)
    mine = ratings[ratings["song_id"].astype(str) == sid]
    if mine.empty:
        raise ValueError(f"no ratings of track {sid!r}")
    out = rater_summary(mine)
    out.insert(1, "n_raters", int(mine["annotator_id"].nunique()))
    if latent is not None:
        lt = latent[latent["song_id"].astype(str) == sid].set_index("time_s")
        for dim in DIMS:
            out[f"latent_{dim}"] = lt[dim].reindex(out["time_s"]).to_numpy(float) if len(lt) else np.nan
    return out


@dataclass
class CurveLag:
    """`curve_lag`'s result. profile: lag_s, r (Pearson r of reference[t] and response[t + k]), n_pairs;
    lag_s: the peak (s, parabola-refined, NaN if no r); r_peak: r at the best whole step (NaN if none)."""

    profile: pd.DataFrame
    lag_s: float
    r_peak: float
    skip_s: float


def curve_lag(reference, response, step_s: float = 1.0, max_lag_s: float = MAX_LAG_S, skip_s: float = SKIP_S,
              min_overlap: int = 6) -> CurveLag:
    """The lag (s) by which `response` follows `reference` (two curves on the same grid, `step_s` apart, from
    the same start): r(k) = Pearson r of reference[t] and response[t + k] over the t with both samples finite
    and both indices at or after `skip_s`, for k = -max_lag .. +max_lag steps; the lag is the peak of r(k),
    refined by a parabola through it and its neighbours (`peak_lag`). A peak at k > 0: the response comes
    later. r is NaN at a lag with fewer than `min_overlap` pairs or a constant side."""
    ref, resp = np.asarray(reference, dtype=float), np.asarray(response, dtype=float)
    max_lag, skip = int(round(max_lag_s / step_s)), int(round(skip_s / step_s))
    r = lagged_correlation(ref, resp, max_lag, skip, min_overlap)  # (2 max_lag + 1,)
    n = min(ref.size, resp.size)
    pairs = []
    for k in range(-max_lag, max_lag + 1):
        t = np.arange(max(skip, skip - k, 0), max(min(n, n - k), 0))
        ok = np.isfinite(ref[t]) & np.isfinite(resp[t + k]) if t.size else np.array([], bool)
        pairs.append(int(ok.sum()))
    profile = pd.DataFrame({"lag_s": np.arange(-max_lag, max_lag + 1) * step_s, "r": r, "n_pairs": pairs})
    r_peak = float(np.nanmax(r)) if np.isfinite(r).any() else float("nan")
    return CurveLag(profile, peak_lag(r, step_s), r_peak, skip_s)


# -------------------------------------------------------------------------------------- every track
def mean_curves(ratings: pd.DataFrame, dim: str) -> dict[str, np.ndarray]:
    """{song_id: the raters' mean `dim` per second from 0 s} (whole seconds; NaN at a second nobody rated)."""
    out = {}
    for sid, g in ratings.groupby("song_id", sort=False):
        m = g.groupby("time_s")[dim].mean()
        k = np.round(m.index.to_numpy(float)).astype(int)
        curve = np.full(int(k.max()) + 1, np.nan)
        curve[k] = m.to_numpy(float)
        out[str(sid)] = curve
    return out


def pooled_lag(ratings: pd.DataFrame, latent: pd.DataFrame, dim: str, max_lag_s: float = MAX_LAG_S,
               skip_s: float = SKIP_S, seed: int = 0):
    """Every track's raters' mean against its latent curve, pooled (`viz_dynamic_mer.response_lag`): the
    peak of the mean of the tracks' r(k), its 95 % bootstrap interval over tracks, and each track's own peak.
    Returns a `viz_dynamic_mer.LagResult`."""
    return response_lag(latent_curves(latent, dim), mean_curves(ratings, dim), step_s=1.0, max_lag_s=max_lag_s,
                        skip_s=skip_s, seed=seed)


def expected_delay(annotators: pd.DataFrame, raters) -> float:
    """The mean delay (s) of the raters' mean curve in the simulation: the average over `raters` (annotator
    ids) of each one's first-order mean delay 1 / (exp(1 / tau) - 1) (`first_order_delay`, tau = the
    annotators.csv `lag_s`). The mean of an average of responses is the average of their means. NaN when
    none of `raters` is in `annotators`."""
    tau = annotators.set_index("annotator_id")["lag_s"]
    taus = [float(tau[a]) for a in raters if a in tau.index]
    return float(np.mean(first_order_delay(np.asarray(taus)))) if taus else float("nan")


def noise_free_mean(latent_track: pd.DataFrame, annotators: pd.DataFrame, raters) -> pd.DataFrame:
    """SynthMemo: the mean over `raters` (annotator ids) of each one's noise-free response to the latent curve
    (`datasets.annotation.rate` with the rater's own response time constant, the cursor starting at the
    centre, but no bias, interpretation, scale or noise): what the raters' mean would be if the lag were the
    only thing the raters added. `curve_lag` on it gives the peak the estimator should find for this track.
    Returns time_s, valence, arousal."""
    from dataclasses import replace

    from damer_lite.datasets import annotation

    lt = latent_track.sort_values("time_s")
    va = lt[list(DIMS)].to_numpy(float)  # (S, 2)
    fields = set(annotation.Annotator.__dataclass_fields__)
    rows = annotators.set_index("annotator_id", drop=False)
    who = [a for a in raters if a in rows.index]
    if not who:
        raise ValueError("none of the raters is in the annotators table")
    rng = np.random.default_rng(0)  # noise sd 0: the draws are unused
    sims = []
    for a in who:
        ann = annotation.Annotator(**{k: v for k, v in rows.loc[a].to_dict().items() if k in fields})
        ann = replace(ann, bias_v=0.0, bias_a=0.0, scale=1.0, noise=0.0)
        sims.append(annotation.rate(ann, va, rng, noise=0.0))  # (S, 2)
    mean = np.mean(np.stack(sims), axis=0)  # (S, 2)
    return pd.DataFrame({"time_s": lt["time_s"].to_numpy(float), "valence": mean[:, 0], "arousal": mean[:, 1]})


def one_track(ratings: pd.DataFrame, manifest: pd.DataFrame | None = None, latent: pd.DataFrame | None = None,
              annotators: pd.DataFrame | None = None, song_id=None, excerpt_s: float = 10.0,
              max_lag_s: float = MAX_LAG_S, skip_s: float = SKIP_S) -> dict:
    """Everything the notebook shows about one track's emotion over time, in one call.

    The track is `song_id`, else `moving_track` of the latent curves (SynthMemo) or, without them, of the
    raters' mean curves. Returns {song_id, ratings (that track's rows), frame (`track_curves`), excerpt
    (start_s, end_s) of `excerpt_s` seconds around the largest change (`excerpt_start`; needs the manifest's
    duration_s), audio_path (from the manifest, else None), and with `latent`: lags and pooled ({dim:
    `curve_lag` / `pooled_lag`}), expected ({dim: `curve_lag` of `noise_free_mean`}, needs `annotators`) and
    delay_s (`expected_delay`); those are {} / NaN without the simulation truth}."""
    dims = list(DIMS)
    means = ratings.groupby(["song_id", "time_s"], as_index=False)[dims].mean()
    source = latent if latent is not None else means
    sid = str(song_id) if song_id is not None else moving_track(source.astype({"song_id": str}), skip_s)
    mine = ratings[ratings["song_id"].astype(str) == sid]
    frame = track_curves(ratings, sid, latent)
    out = {"song_id": sid, "ratings": mine, "frame": frame, "excerpt": None, "audio_path": None,
           "lags": {}, "pooled": {}, "expected": {}, "delay_s": float("nan"), "skip_s": skip_s}
    if manifest is not None:
        row = manifest[manifest["track_id"].astype(str) == sid]
        if len(row):
            dur = float(row["duration_s"].iloc[0])
            curve = (latent[latent["song_id"].astype(str) == sid] if latent is not None
                     else means[means["song_id"].astype(str) == sid])
            start = excerpt_start(curve, dur, excerpt_s)
            out["excerpt"] = (start, min(start + excerpt_s, dur))
            out["audio_path"] = row["audio_path"].iloc[0]
    if latent is not None:
        out["lags"] = {d: curve_lag(frame[f"latent_{d}"], frame[f"{d}_mean"], max_lag_s=max_lag_s, skip_s=skip_s)
                       for d in DIMS}
        out["pooled"] = {d: pooled_lag(ratings, latent, d, max_lag_s=max_lag_s, skip_s=skip_s) for d in DIMS}
        if annotators is not None:
            who = list(pd.unique(mine["annotator_id"]))
            nf = noise_free_mean(latent[latent["song_id"].astype(str) == sid], annotators, who)
            lt = latent[latent["song_id"].astype(str) == sid].sort_values("time_s")
            out["expected"] = {d: curve_lag(lt[d].to_numpy(float), nf[d].to_numpy(float), max_lag_s=max_lag_s,
                                            skip_s=skip_s) for d in DIMS}
            out["delay_s"] = expected_delay(annotators, who)
    return out


def lag_table(track: dict) -> pd.DataFrame:
    """One row per dimension from `one_track`: this track's peak lag and r, where the estimator lands on the
    noise-free simulated mean, the simulated raters' mean delay, and the pooled lag over every track with its
    95 % bootstrap interval and number of tracks. Seconds; NaN where undefined (shown as "—" by
    `viz.dash_missing`)."""
    nan = float("nan")
    rows = []
    for d in DIMS:
        lag, exp, pool = track["lags"].get(d), track["expected"].get(d), track["pooled"].get(d)
        rows.append({
            "dimension": d, "track": track["song_id"],
            "track_lag_s": lag.lag_s if lag else nan, "track_r_peak": lag.r_peak if lag else nan,
            "noise_free_lag_s": exp.lag_s if exp else nan, "simulated_mean_delay_s": track["delay_s"],
            "pooled_lag_s": pool.lag_s if pool else nan, "pooled_ci_low_s": pool.ci[0] if pool else nan,
            "pooled_ci_high_s": pool.ci[1] if pool else nan, "pooled_tracks": len(pool.per_track) if pool else 0,
        })
    return pd.DataFrame(rows)


# -------------------------------------------------------------------------------------- the figure
def _lag_text(dim: str, lag_s: float, r: float) -> str:
    return f"{dim}: peak {fmt(lag_s, 1, signed=True)} s (r {fmt(r)})"


def plot_track_curves(frame: pd.DataFrame, ratings: pd.DataFrame, lags: dict | None = None,
                      pooled: dict | None = None, excerpt: tuple[float, float] | None = None,
                      expected: dict | None = None, title: str = ""):
    """One track's emotion over time. Top row, one panel per dimension: every rater's curve (thin grey), the
    raters' mean (colour) with a ± sd band, the latent curve (black, dashed; when `frame` has it), the first
    `skip_s` seconds that the lag leaves out (grey) and the `excerpt` span one can hear (bar on top). Bottom
    left: this track's lag profiles r(k) per dimension (`lags`: {dim: CurveLag}); bottom right: the pooled
    profiles over every track (`pooled`: {dim: LagResult}) with their bootstrap intervals. `expected`:
    {dim: CurveLag} of the same estimator on the noise-free simulated mean (`noise_free_mean`), whose peaks
    are drawn as dotted lines on this track's panel: where the estimate should land."""
    lags, pooled = lags or {}, pooled or {}
    n_lower = int(bool(lags)) + int(bool(pooled))
    fig = plt.figure(figsize=(12, 3.6 + 3.0 * (n_lower > 0)), layout="constrained")
    grid = fig.add_gridspec(2 if n_lower else 1, 2, height_ratios=[1.15, 1] if n_lower else [1])
    top = [fig.add_subplot(grid[0, j]) for j in range(2)]
    n_raters = int(ratings["annotator_id"].nunique())
    skip = next(iter(lags.values())).skip_s if lags else None
    for ax, dim in zip(top, DIMS, strict=True):
        for _, g in ratings.groupby("annotator_id"):
            g = g.sort_values("time_s")
            ax.plot(g["time_s"], g[dim], color="0.65", lw=0.6, alpha=0.7)
        ax.plot([], [], color="0.65", lw=0.6, label=f"each rater (n = {n_raters})")
        t, m, s = frame["time_s"], frame[f"{dim}_mean"], frame[f"{dim}_sd"]
        ax.fill_between(t, m - s, m + s, color=DIM_COLORS[dim], alpha=0.22, lw=0, label="mean ± sd of the raters")
        ax.plot(t, m, color=DIM_COLORS[dim], lw=2.2, label="raters' mean")
        if f"latent_{dim}" in frame and frame[f"latent_{dim}"].notna().any():
            ax.plot(t, frame[f"latent_{dim}"], color="k", ls="--", lw=1.6, label="latent (simulation truth)")
        if skip:
            ax.axvspan(t.min(), skip, color="0.5", alpha=0.12, lw=0, label=f"first {skip:g} s: not used for the lag")
        if excerpt is not None:
            ax.plot(excerpt, [1.0, 1.0], color="C1", lw=5, solid_capstyle="butt", label="the excerpt you can hear")
        ax.axhline(0, color="k", lw=0.5)
        ax.set_ylim(-1.05, 1.08)
        ax.set_xlabel("time (s)")
        ax.set_ylabel(dim)
        ax.set_title(dim, fontsize=10)
    top[1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
    col = 0
    if lags:
        ax = fig.add_subplot(grid[1, col])
        col += 1
        for dim, lag in lags.items():
            ax.plot(lag.profile["lag_s"], lag.profile["r"], "o-", color=DIM_COLORS[dim], ms=4,
                    label=_lag_text(dim, lag.lag_s, lag.r_peak))
            if np.isfinite(lag.lag_s):
                ax.axvline(lag.lag_s, color=DIM_COLORS[dim], lw=1)
        for dim, lag in (expected or {}).items():
            if np.isfinite(lag.lag_s):
                ax.axvline(lag.lag_s, color=DIM_COLORS[dim], ls=":", lw=1.5,
                           label=f"{dim}, noise-free simulation: {fmt(lag.lag_s, 1, signed=True)} s")
        _lag_axes(ax, "this track: latent at t vs raters' mean at t + k", n=1)
    if pooled:
        ax = fig.add_subplot(grid[1, col])
        n_tracks = 0
        for dim, res in pooled.items():
            n_tracks = max(n_tracks, len(res.per_track))
            ax.plot(res.profile["lag_s"], res.profile["r_mean"], "o-", color=DIM_COLORS[dim], ms=4,
                    label=f"{dim}: peak {fmt(res.lag_s, 1, signed=True)} s, 95 % [{fmt(res.ci[0], 1)}, "
                          f"{fmt(res.ci[1], 1)}]")
            if np.isfinite(res.lag_s):
                ax.axvline(res.lag_s, color=DIM_COLORS[dim], lw=1)
            if np.isfinite(res.ci).all():
                ax.axvspan(*res.ci, color=DIM_COLORS[dim], alpha=0.12, lw=0)
        _lag_axes(ax, f"every track: mean r over n = {n_tracks} tracks", n=n_tracks)
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


def _lag_axes(ax, title: str, n: int) -> None:
    ax.axvline(0, color="k", lw=0.5)
    ax.set_xlabel("lag k (s): > 0 = the raters follow the music later")
    ax.set_ylabel("Pearson r" if n == 1 else "mean Pearson r")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="lower center")
