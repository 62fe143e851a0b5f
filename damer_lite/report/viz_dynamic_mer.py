"""Dynamic MER for notebook 09: raters' per-step curves, the annotators' response lag, what CCC rewards that
RMSE does not, predicted vs annotated curves, and the tables of `damer-lite dynamic` (docs/dmer.md).

    labs = load_labels(manifest)                                   # {track_id: DynamicLabels}, per rater too
    frames = {t: rater_curves_frame(labs[t]) for t in spread_tracks(labs, 3)}
    plot_rater_curves(frames)
    ref = audio_intensity(manifest, labs)                          # {track_id: RMS level per label step, dB}
    lag = response_lag(ref, arousal_curves(labs), step_s=1.0)       # pooled profile, per-track peaks
    ccc_vs_rmse_demo()                                             # worked example, song_metrics
    dynamic_results_table(results_dir, "synthmemo")                # mean ± sd over seeds, formatted
    preds = load_predictions(results_dir, "synthmemo", seed=0)     # {model: per-step predictions}
    plot_predicted_vs_annotated(preds, test_tracks(preds, 3))
    recomputed_metrics(results_dir, "synthmemo")                   # the tables against the predictions files
    quoted_dynamic_block()                                         # literature numbers, labelled quoted

Nothing here trains. Our measurements and quoted numbers never share a table: `quoted_dynamic_block` holds
only quoted rows (source 'literature (quoted)').
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from damer_lite.config import DYNAMIC_METRICS
from damer_lite.datasets import dynamic
from damer_lite.experiments import dynamic as dyn_exp
from damer_lite.report import literature
from damer_lite.training.dynamic import song_metrics

DIMS = ("valence", "arousal")
DIM_COLORS = {"valence": "C2", "arousal": "C0"}
MODEL_LABELS = {"dual_scale": "dual-scale (DSAML-style)", "damer_step": "DAMER encoder + per-step head",
                "ridge": "per-frame ridge"}
MODEL_COLORS = {"dual_scale": "C3", "damer_step": "C1", "ridge": "C4"}


def natural_key(track_id) -> tuple:
    """Sort key putting '2' before '10' (numeric ids by value, others by text)."""
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", str(track_id)))


# ------------------------------------------------------------------------------------------ raters' curves
def load_labels(manifest: pd.DataFrame, raters: bool = True) -> dict[str, dynamic.DynamicLabels]:
    """{track_id: DynamicLabels} of the manifest's rows that have an averaged curve (each file read once)."""
    return {lab.track_id: lab for lab in dynamic.iter_labels(manifest, raters=raters) if not lab.missing}


def rater_curves_frame(lab: dynamic.DynamicLabels) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(raters, summary) of one track: the per-rater curves (annotator, time_s, valence, arousal) and, per
    time step, the raters' mean and sd (population, ddof 0), their number, and the published averaged curve
    ({dim}_published). Raises ValueError when the track has no per-rater curves."""
    if lab.raters is None or lab.raters.empty:
        raise ValueError(f"track {lab.track_id!r} ({lab.dataset}): no per-rater curves")
    raters = lab.raters.sort_values(["annotator", "time_s"]).reset_index(drop=True)
    g = raters.groupby("time_s")
    summary = pd.DataFrame({"time_s": sorted(raters["time_s"].unique())}).set_index("time_s")
    for dim in DIMS:
        summary[f"{dim}_mean"] = g[dim].mean()
        summary[f"{dim}_sd"] = g[dim].std(ddof=0)
    summary["n_raters"] = g["annotator"].nunique()
    pub = lab.curve.set_index("time_s")
    for dim in DIMS:
        summary[f"{dim}_published"] = pub[dim].reindex(summary.index)
    return raters, summary.reset_index()


def rater_spread(labs: dict[str, dynamic.DynamicLabels]) -> pd.DataFrame:
    """Per track with per-rater curves: the mean over time of the per-step sd between raters, per dimension
    and averaged (`sd_both`), and the number of raters."""
    rows = []
    for tid, lab in labs.items():
        if lab.raters is None or lab.raters.empty:
            continue
        g = lab.raters.groupby("time_s")
        sd = {dim: float(g[dim].std(ddof=0).mean()) for dim in DIMS}
        rows.append({"track_id": tid, "n_raters": int(lab.raters["annotator"].nunique()),
                     **{f"sd_{d}": v for d, v in sd.items()}, "sd_both": float(np.mean(list(sd.values())))})
    return pd.DataFrame(rows, columns=["track_id", "n_raters", "sd_valence", "sd_arousal", "sd_both"])


def spread_tracks(labs: dict[str, dynamic.DynamicLabels], n: int = 3) -> list[str]:
    """`n` tracks spanning the raters' agreement: evenly spaced ranks of `sd_both` from the most to the least
    agreed-on track (n = 3: lowest, median, highest spread); ties broken by track id."""
    sp = rater_spread(labs)
    if sp.empty or n < 1:
        return []
    sp = sp.assign(key=sp["track_id"].map(natural_key)).sort_values(["sd_both", "key"]).reset_index(drop=True)
    ranks = np.unique(np.round(np.linspace(0, len(sp) - 1, min(n, len(sp)))).astype(int))
    return [str(sp.loc[r, "track_id"]) for r in ranks]


def plot_rater_curves(frames: dict[str, tuple[pd.DataFrame, pd.DataFrame]], dims=DIMS, title: str = ""):
    """One row per track, one column per dimension: every rater's curve (thin grey), their mean (colour)
    and mean ± sd (band)."""
    n = max(len(frames), 1)
    fig, axes = plt.subplots(n, len(dims), figsize=(4.6 * len(dims), 2.5 * n), squeeze=False,
                             sharex="row", layout="constrained")
    for row, (tid, (raters, summary)) in zip(axes, frames.items(), strict=False):
        for ax, dim in zip(row, dims, strict=True):
            for _, g in raters.groupby("annotator"):
                ax.plot(g["time_s"], g[dim], color="0.6", lw=0.6, alpha=0.6)
            t, m, s = summary["time_s"], summary[f"{dim}_mean"], summary[f"{dim}_sd"]
            ax.fill_between(t, m - s, m + s, color=DIM_COLORS[dim], alpha=0.25, lw=0, label="mean ± sd")
            ax.plot(t, m, color=DIM_COLORS[dim], lw=2, label=f"mean of {int(summary['n_raters'].max())} raters")
            ax.axhline(0, color="k", lw=0.5)
            ax.set_ylim(-1.05, 1.05)
            ax.set_title(f"track {tid} · {dim}", fontsize=10)
            ax.set_ylabel(dim)
        row[0].legend(loc="lower right", fontsize=8)
    for ax in axes[-1]:
        ax.set_xlabel("time (s)")
    if title:
        fig.suptitle(title)
    return fig


# ------------------------------------------------------------------------------------------- response lag
def lagged_correlation(reference, responses, max_lag: int, skip: int = 0, min_overlap: int = 4) -> np.ndarray:
    """Pearson r between reference[t] and response[t + k] for k = -max_lag .. max_lag (steps), over the t
    where both are finite and both indices are >= `skip`. reference (T,), responses (R, T) or (T,) ->
    r (R, 2 max_lag + 1) or (2 max_lag + 1,); NaN where fewer than `min_overlap` pairs or a constant side.
    A peak at k > 0 means the response follows the reference k steps later."""
    ref = np.asarray(reference, dtype=float)
    resp = np.asarray(responses, dtype=float)
    single = resp.ndim == 1
    resp = np.atleast_2d(resp)
    n = min(ref.size, resp.shape[1])
    ref, resp = ref[:n], resp[:, :n]
    out = np.full((resp.shape[0], 2 * max_lag + 1), np.nan)
    for j, k in enumerate(range(-max_lag, max_lag + 1)):
        t = np.arange(max(skip, skip - k, 0), min(n, n - k))
        if t.size < min_overlap:
            continue
        x = np.broadcast_to(ref[t], (resp.shape[0], t.size))
        y = resp[:, t + k]
        ok = np.isfinite(x) & np.isfinite(y)
        cnt = ok.sum(1)
        w = ok.astype(float)
        c = np.maximum(cnt, 1)
        mx = np.where(ok, x, 0).sum(1) / c
        my = np.where(ok, y, 0).sum(1) / c
        dx, dy = np.where(ok, x - mx[:, None], 0), np.where(ok, y - my[:, None], 0)
        vx, vy, cov = (dx * dx * w).sum(1), (dy * dy * w).sum(1), (dx * dy * w).sum(1)
        good = (cnt >= min_overlap) & (vx > 1e-12) & (vy > 1e-12)
        out[good, j] = cov[good] / np.sqrt(vx[good] * vy[good])
    return out[0] if single else out


def peak_lag(r, step_s: float = 1.0) -> float:
    """The lag (s) of the largest r of a profile over lags -K..K (steps), refined by a parabola through the
    peak and its two neighbours (sub-step resolution); NaN when every r is NaN. A peak at either end is
    returned as that end (the true lag may lie beyond `max_lag`)."""
    r = np.asarray(r, dtype=float)
    if not np.isfinite(r).any():
        return float("nan")
    k = int(np.nanargmax(r))
    off = 0.0
    if 0 < k < r.size - 1 and np.isfinite(r[k - 1]) and np.isfinite(r[k + 1]):
        den = r[k - 1] - 2 * r[k] + r[k + 1]
        if den < 0:
            off = float(np.clip(0.5 * (r[k - 1] - r[k + 1]) / den, -0.5, 0.5))
    return (k - (r.size - 1) // 2 + off) * step_s


@dataclass
class LagResult:
    """What `response_lag` measured.

    profile:   lag_s, r_mean (mean over tracks of r at that lag), n_tracks
    per_track: track_id, lag_s (peak of the track's own profile), r_peak, n_steps
    lag_s:     peak of the pooled profile (s); ci: its 95 % bootstrap interval over tracks (s)
    """

    profile: pd.DataFrame
    per_track: pd.DataFrame
    lag_s: float
    ci: tuple[float, float]
    step_s: float
    skip_s: float


def _mean_profile(P: np.ndarray) -> np.ndarray:
    """Mean over rows (tracks) of lag profiles (rows, lags), ignoring NaN; NaN where a lag has none."""
    ok = np.isfinite(P)
    n = ok.sum(0)
    return np.where(n > 0, np.where(ok, P, 0.0).sum(0) / np.maximum(n, 1), np.nan)


def response_lag(reference: dict, response: dict, step_s: float, max_lag_s: float = 5.0, skip_s: float = 5.0,
                 min_overlap: int = 6, n_boot: int = 1000, seed: int = 0) -> LagResult:
    """The lag (s) by which `response` curves follow `reference` curves, per track and pooled.

    reference, response: {track_id: values at the same label steps (step_s apart, from the same start)}.
    Per track, r(k) = `lagged_correlation` over the steps from `skip_s` on (the first seconds are dropped:
    the raters' cursor starts at the centre and needs time to reach the music); the track's lag is the peak
    of its r(k) (`peak_lag`). Pooled: the peak of the mean of the tracks' r(k), with a percentile bootstrap
    over tracks. Limits: the resolution of one profile is one step (refined by a parabola); a track whose
    reference barely moves gives a flat, noisy profile; a correlation peak is where the two curves align
    best, not the mean delay of the response (for a smoothed, first-order response it lies below it)."""
    max_lag, skip = int(round(max_lag_s / step_s)), int(round(skip_s / step_s))
    tids = [t for t in reference if t in response]
    profiles, rows = [], []
    for tid in tids:
        r = lagged_correlation(reference[tid], response[tid], max_lag, skip, min_overlap)
        n = int(np.isfinite(np.asarray(reference[tid], float)[skip:]).sum())
        if not np.isfinite(r).any():
            continue
        profiles.append(r)
        k = peak_lag(r, step_s)
        rows.append({"track_id": tid, "lag_s": k, "r_peak": float(np.nanmax(r)), "n_steps": n})
    lags = np.arange(-max_lag, max_lag + 1) * step_s
    per_track = pd.DataFrame(rows, columns=["track_id", "lag_s", "r_peak", "n_steps"])
    if not profiles:
        profile = pd.DataFrame({"lag_s": lags, "r_mean": np.nan, "n_tracks": 0})
        return LagResult(profile, per_track, float("nan"), (float("nan"), float("nan")), step_s, skip_s)
    P = np.vstack(profiles)  # (n_tracks, 2 max_lag + 1)
    mean = _mean_profile(P)
    profile = pd.DataFrame({"lag_s": lags, "r_mean": mean, "n_tracks": np.isfinite(P).sum(0)})
    rng = np.random.default_rng(seed)
    boot = []
    for _ in range(n_boot if len(P) > 1 else 0):
        boot.append(peak_lag(_mean_profile(P[rng.integers(0, len(P), len(P))]), step_s))
    boot = np.asarray(boot, dtype=float)
    ci = (float(np.nanpercentile(boot, 2.5)), float(np.nanpercentile(boot, 97.5))) if np.isfinite(boot).any() \
        else (float("nan"), float("nan"))
    return LagResult(profile, per_track, peak_lag(mean, step_s), ci, step_s, skip_s)


def on_grid(curve: pd.DataFrame, dim: str, step_s: float, start_s: float = 0.0) -> np.ndarray:
    """A curve's `dim` on the regular grid start_s + k step_s (k = 0 .. last sample), NaN where absent."""
    if curve.empty:
        return np.array([])
    t = curve["time_s"].to_numpy(float)
    k = np.round((t - start_s) / step_s).astype(int)
    keep = (k >= 0) & (np.abs(t - (start_s + k * step_s)) < step_s / 4)
    out = np.full(int(k[keep].max()) + 1 if keep.any() else 0, np.nan)
    out[k[keep]] = curve[dim].to_numpy(float)[keep]
    return out


def arousal_curves(labs: dict[str, dynamic.DynamicLabels], dim: str = "arousal") -> dict[str, np.ndarray]:
    """{track_id: the averaged curve's `dim` on the dataset's label grid from the first sample}."""
    return {tid: on_grid(lab.curve, dim, lab.step_s, float(lab.curve["time_s"].min()))
            for tid, lab in labs.items() if not lab.curve.empty}


def label_start(labs: dict[str, dynamic.DynamicLabels]) -> dict[str, float]:
    return {tid: float(lab.curve["time_s"].min()) for tid, lab in labs.items() if not lab.curve.empty}


def intensity(signal: np.ndarray, sr: int, start_s: float, step_s: float, n_steps: int) -> np.ndarray:
    """RMS level (dB) of `signal` over [start_s + k step_s, start_s + (k + 1) step_s), k < n_steps: the
    interval a label sample stands for. NaN where the signal ends before the interval does."""
    out = np.full(n_steps, np.nan)
    for k in range(n_steps):
        a, b = int(round((start_s + k * step_s) * sr)), int(round((start_s + (k + 1) * step_s) * sr))
        if b <= signal.size and b > a:
            out[k] = 10 * np.log10(float(np.mean(np.square(signal[a:b], dtype=np.float64))) + 1e-12)
    return out


def audio_intensity(manifest: pd.DataFrame, labs: dict[str, dynamic.DynamicLabels], sr: int = 11025
                    ) -> dict[str, np.ndarray]:
    """{track_id: RMS level (dB) of the track's audio per label step} on the grid of `arousal_curves`: a
    feature-derived stand-in for arousal (loudness is one of its cues). Tracks whose audio cannot be read are
    left out (see `load_audio`'s errors)."""
    from damer_lite.features.audio import AudioError, load_audio

    paths = dict(zip(manifest["track_id"].astype(str), manifest["audio_path"].astype(str), strict=True))
    starts = label_start(labs)
    grid = arousal_curves(labs)
    out = {}
    for tid, curve in grid.items():
        if tid not in paths:
            continue
        try:
            x, _ = load_audio(paths[tid], sr)
        except AudioError:
            continue
        out[tid] = intensity(x, sr, starts[tid], labs[tid].step_s, curve.size)
    return out


def synth_truth(root) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """SynthMemo's simulation truth: (latent V-A per second, annotators with their response time constant
    `lag_s`), or None for a dataset without it."""
    root = Path(root)
    lat, ann = root / "synth_truth" / "latent_va.csv", root / "synth_truth" / "annotators.csv"
    if not (lat.is_file() and ann.is_file()):
        return None
    return pd.read_csv(lat, dtype={"song_id": str}), pd.read_csv(ann)


def first_order_delay(time_constant_s, step_s: float = 1.0):
    """Mean delay (s) of the simulated raters' cursor: it moves a share a = 1 - exp(-step / tau) of the way
    to the music every step, so its response to the music at lag j steps has weight a (1 - a)^j, whose mean
    is (1 - a) / a steps = 1 / (exp(step / tau) - 1) steps (`datasets.annotation.rate`)."""
    tau = np.asarray(time_constant_s, dtype=float)
    return step_s / np.expm1(step_s / tau)


def latent_curves(latent: pd.DataFrame, dim: str = "arousal") -> dict[str, np.ndarray]:
    """{track_id: SynthMemo's latent `dim` per second from 0 s} (synth_truth/latent_va.csv)."""
    return {str(tid): g.sort_values("time_s")[dim].to_numpy(float) for tid, g in latent.groupby("song_id")}


def simulated_responses(labs: dict[str, dynamic.DynamicLabels], latent: pd.DataFrame, annotators: pd.DataFrame,
                        dim: str = "arousal") -> dict[str, dict[str, np.ndarray]]:
    """SynthMemo: {track_id: {annotator: the rater's noise-free simulated response to the latent curve}}, for
    the raters of each track: `datasets.annotation.rate` with the rater's own response time constant but no
    bias, interpretation or noise and scale 1. What a lag estimator should find, free of rating noise."""
    from dataclasses import replace

    from damer_lite.datasets import annotation

    va = {str(tid): g.sort_values("time_s")[["valence", "arousal"]].to_numpy(float)
          for tid, g in latent.groupby("song_id")}
    fields = set(annotation.Annotator.__dataclass_fields__)
    sims = {a: replace(annotation.Annotator(**{k: v for k, v in r.items() if k in fields}),
                       bias_v=0.0, bias_a=0.0, scale=1.0, noise=0.0)
            for a, r in annotators.set_index("annotator_id", drop=False).to_dict("index").items()}
    rng = np.random.default_rng(0)  # draws noise of sd 0: unused
    j = DIMS.index(dim)
    out = {}
    for tid, lab in labs.items():
        if lab.raters is None or tid not in va:
            continue
        out[tid] = {a: annotation.rate(sims[a], va[tid], rng, noise=0.0)[:, j]
                    for a in pd.unique(lab.raters["annotator"]) if a in sims}
    return out


def mean_response(responses: dict[str, dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """{track_id: the mean over raters of `simulated_responses`}: the noise-free counterpart of the averaged
    curve."""
    return {tid: np.mean(np.vstack(list(d.values())), axis=0) for tid, d in responses.items() if d}


def rater_lags(labs: dict[str, dynamic.DynamicLabels], latent: pd.DataFrame, annotators: pd.DataFrame,
               reference: dict[str, np.ndarray] | None = None, dim: str = "arousal", max_lag_s: float = 5.0,
               skip_s: float = 5.0, min_overlap: int = 6) -> pd.DataFrame:
    """SynthMemo: each simulated rater's lag, against what was simulated. One row per annotator:

    time_constant_s   the simulated response time constant (annotators.csv `lag_s`)
    mean_delay_s      its mean delay (`first_order_delay`)
    lag_expected_s    the correlation peak of the same estimator on the rater's noise-free simulated
                      response to the latent curve (`simulated_responses`): what it should find
    lag_vs_latent_s   the estimator on the rater's ratings against the latent curve
    lag_vs_reference_s  against `reference` (e.g. `audio_intensity`), when given
    n_tracks          tracks the rater rated with a usable profile

    Each is the peak (`peak_lag`) of the rater's lag profile averaged over the tracks they rated."""
    lat = latent_curves(latent, dim)
    clean = simulated_responses(labs, latent, annotators, dim)
    acc: dict[str, dict[str, list]] = {}
    for tid, by_rater in clean.items():
        lab = labs[tid]
        step = lab.step_s
        max_lag, skip = int(round(max_lag_s / step)), int(round(skip_s / step))
        who = [a for a in pd.unique(lab.raters["annotator"]) if a in by_rater]
        if not who:
            continue
        grids = {a: on_grid(g, dim, step, 0.0) for a, g in lab.raters.groupby("annotator") if a in by_rater}
        n = max(max(v.size for v in grids.values()), max(by_rater[a].size for a in who))
        Y, C = np.full((len(who), n), np.nan), np.full((len(who), n), np.nan)  # (raters, steps)
        for i, a in enumerate(who):
            Y[i, : grids[a].size], C[i, : by_rater[a].size] = grids[a], by_rater[a]
        r_lat = lagged_correlation(lat[tid], Y, max_lag, skip, min_overlap)  # (raters, lags)
        r_exp = lagged_correlation(lat[tid], C, max_lag, skip, min_overlap)
        r_ref = (lagged_correlation(reference[tid], Y, max_lag, skip, min_overlap)
                 if reference is not None and tid in reference else None)
        for i, a in enumerate(who):
            d = acc.setdefault(a, {"latent": [], "expected": [], "reference": [], "step": step})
            d["latent"].append(r_lat[i])
            d["expected"].append(r_exp[i])
            if r_ref is not None:
                d["reference"].append(r_ref[i])
    tau = annotators.set_index("annotator_id")["lag_s"]
    rows = []
    for a, d in sorted(acc.items()):
        def pooled(key, d=d):
            if not d[key]:
                return float("nan")
            return peak_lag(_mean_profile(np.vstack(d[key])), d["step"])
        rows.append({"annotator": a, "time_constant_s": float(tau[a]),
                     "mean_delay_s": float(first_order_delay(float(tau[a]))),
                     "lag_expected_s": pooled("expected"), "lag_vs_latent_s": pooled("latent"),
                     "lag_vs_reference_s": pooled("reference"),
                     "n_tracks": int(sum(np.isfinite(r).any() for r in d["latent"]))})
    return pd.DataFrame(rows, columns=["annotator", "time_constant_s", "mean_delay_s", "lag_expected_s",
                                       "lag_vs_latent_s", "lag_vs_reference_s", "n_tracks"])


def plot_lag(lag: LagResult, oracle: LagResult | None = None, raters: pd.DataFrame | None = None,
             reference_name: str = "audio RMS level", title: str = ""):
    """(a) the pooled lag profile (mean r over tracks against the lag), (b) the per-track peaks, and,
    with `raters` (SynthMemo), (c) each rater's estimated lag against what the simulation implies."""
    n = 3 if raters is not None and len(raters) else 2
    fig, axes = plt.subplots(1, n, figsize=(4.4 * n, 3.4), layout="constrained")
    ax = axes[0]
    ax.plot(lag.profile["lag_s"], lag.profile["r_mean"], "o-", color="C0", label=f"vs {reference_name}")
    if oracle is not None:
        ax.plot(oracle.profile["lag_s"], oracle.profile["r_mean"], "s--", color="C3", ms=4,
                label="vs latent (simulation truth)")
    if np.isfinite(lag.lag_s):
        ax.axvline(lag.lag_s, color="C0", lw=0.8)
        ax.axvspan(*lag.ci, color="C0", alpha=0.12)
    ax.axvline(0, color="k", lw=0.5)
    ax.set_xlabel("lag k (s): ratings at t + k against the reference at t")
    ax.set_ylabel("mean Pearson r over tracks")
    ax.set_title("(a) pooled lag profile", fontsize=10)
    ax.legend(fontsize=8)
    ax = axes[1]
    if len(lag.per_track):
        lo, hi = lag.profile["lag_s"].min(), lag.profile["lag_s"].max()
        bins = np.arange(lo - lag.step_s / 2, hi + lag.step_s, lag.step_s / 2)
        ax.hist(lag.per_track["lag_s"], bins=bins, color="C0", alpha=0.7)
    ax.axvline(0, color="k", lw=0.5)
    ax.set_xlabel("lag of the track's own peak (s)")
    ax.set_ylabel("tracks")
    ax.set_title(f"(b) per track (n = {len(lag.per_track)})", fontsize=10)
    if n == 3:
        ax = axes[2]
        ax.scatter(raters["lag_expected_s"], raters["lag_vs_latent_s"], color="C3", s=18, label="vs latent")
        if raters["lag_vs_reference_s"].notna().any():
            ax.scatter(raters["lag_expected_s"], raters["lag_vs_reference_s"], color="C0", s=18, marker="^",
                       label=f"vs {reference_name}")
        vals = raters[["lag_expected_s", "lag_vs_latent_s", "lag_vs_reference_s"]].to_numpy(float)
        lo, hi = np.nanmin(vals) - 0.2, np.nanmax(vals) + 0.2
        ax.plot([lo, hi], [lo, hi], color="k", lw=0.6)
        ax.set_xlabel("expected peak lag of the simulated rater (s)")
        ax.set_ylabel("estimated from the ratings (s)")
        ax.set_title("(c) per simulated rater", fontsize=10)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


# ----------------------------------------------------------------------------------------- CCC vs RMSE
def ccc_formula(pred, target) -> float:
    """Lin's CCC = 2 cov / (var p + var y + (mean p - mean y)^2), population moments, with no exclusion of
    constant predictions (a constant p gives 0 when y varies)."""
    p, y = np.asarray(pred, float), np.asarray(target, float)
    cov = float(np.mean((p - p.mean()) * (y - y.mean())))
    return 2 * cov / float(p.var() + y.var() + (p.mean() - y.mean()) ** 2)


def ccc_demo_curves(n: int = 40, period: int = 20, level: float = 0.2, swing: float = 0.4, offset: float = 0.35,
                    late: int = 3) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """A target y_t = level + swing sin(2 pi t / period), t < n, and predictions of it that each get one
    thing wrong: flat at the song's mean, flat at neutral (0), the right shape offset by `offset`, the right
    shape with half the swing, and the right shape `late` steps late (circularly shifted)."""
    t = np.arange(n)
    y = level + swing * np.sin(2 * np.pi * t / period)
    preds = {
        "flat at the song's mean": np.full(n, y.mean()),
        "flat at neutral (0)": np.zeros(n),
        f"right shape, offset +{offset:g}": y + offset,
        "right shape, half the swing": y.mean() + 0.5 * (y - y.mean()),
        f"right shape, {late} steps late": np.roll(y, late),
    }
    return y, preds


def ccc_vs_rmse_demo(**kwargs) -> pd.DataFrame:
    """RMSE, PCC and CCC (`training.dynamic.song_metrics`, the metrics of the experiment) of each prediction
    of `ccc_demo_curves`, and CCC by the formula (`ccc_formula`): song_metrics leaves a constant prediction
    out of PCC and CCC (NaN, counted as undefined), while the formula gives it 0."""
    y, preds = ccc_demo_curves(**kwargs)
    rows = []
    for name, p in preds.items():
        m = song_metrics(p, y)
        rows.append({"prediction": name, "rmse": m["rmse"], "pcc": m["pcc"], "ccc": m["ccc"],
                     "ccc_formula": ccc_formula(p, y)})
    return pd.DataFrame(rows)


def plot_ccc_vs_rmse(demo: pd.DataFrame | None = None, **kwargs):
    """Left: the target and the predictions of `ccc_demo_curves`; right: their RMSE and CCC (formula)."""
    y, preds = ccc_demo_curves(**kwargs)
    demo = ccc_vs_rmse_demo(**kwargs) if demo is None else demo
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.6), layout="constrained", width_ratios=[1.4, 1])
    a.plot(y, color="k", lw=2.5, label="target")
    for i, (name, p) in enumerate(preds.items()):
        a.plot(p, color=f"C{i}", lw=1.3, ls="--" if np.ptp(p) < 1e-12 else "-", label=name)
    a.set_xlabel("step")
    a.set_ylabel("value")
    a.legend(fontsize=7, ncol=2, loc="lower left")
    a.set_title("one song: a target and five predictions", fontsize=10)
    pos = np.arange(len(demo))
    b.barh(pos - 0.2, demo["rmse"], height=0.4, color="0.75", label="RMSE (lower is better)")
    b.barh(pos + 0.2, demo["ccc_formula"], height=0.4, color="0.2", label="CCC (higher is better)")
    b.set_yticks(pos, list(demo["prediction"]), fontsize=8)
    for i, lab in enumerate(b.get_yticklabels()):
        lab.set_color(f"C{i}")
    b.invert_yaxis()
    b.axvline(0, color="k", lw=0.5)
    b.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=2)
    b.set_title("what each metric says", fontsize=10)
    return fig


# -------------------------------------------------------------------------------- results of the experiment
def summary_path(results_dir, dataset: str) -> Path:
    return Path(results_dir) / "tables" / f"dynamic_{dataset}.csv"


def seeds_path(results_dir, dataset: str) -> Path:
    return Path(results_dir) / "tables" / f"dynamic_{dataset}_seeds.csv"


def no_results_message(results_dir, dataset: str) -> str:
    return (f"no dynamic MER results for {dataset!r} under {results_dir} (tables/dynamic_{dataset}.csv). "
            f"Produce them with `damer-lite dynamic --dataset {dataset} ...` or the pipeline (`make results`; "
            f"rule dynamic_mer), then run this notebook again.")


def _cell(mean: float, sd: float, digits: int = 3) -> str:
    if not np.isfinite(mean):
        return "—"
    return f"{mean:.{digits}f} ± {sd:.{digits}f}" if np.isfinite(sd) else f"{mean:.{digits}f} (n = 1)"


def _finished(per_seed: pd.DataFrame) -> pd.DataFrame:
    """The rows of the seeds table whose run finished (empty `error`)."""
    if "error" not in per_seed:
        return per_seed
    return per_seed[per_seed["error"].fillna("").astype(str).str.strip() == ""]


def dynamic_results_table(results_dir, dataset: str, digits: int = 3) -> pd.DataFrame:
    """The experiment's summary table (tables/dynamic_{dataset}.csv) as text: per model and dimension,
    'mean ± sd' over seeds (sd with ddof 1; 'n = 1' when one seed) of RMSE, PCC and CCC, with the number of
    seeds and of test songs per seed."""
    df = pd.read_csv(summary_path(results_dir, dataset))
    rows = []
    for _, r in df.iterrows():
        rows.append({"model": MODEL_LABELS.get(r["model"], r["model"]), "dim": r["dim"],
                     **{m.upper(): _cell(float(r[f"{m}_mean"]), float(r[f"{m}_sd"]), digits)
                        for m in DYNAMIC_METRICS},
                     "n seeds": int(r["n_seeds"]),
                     "n test songs": int(r["n_test_songs"]) if pd.notna(r.get("n_test_songs")) else ""})
    return pd.DataFrame(rows)


def paired_differences(results_dir, dataset: str, reference: str = "dual_scale", dim: str = "mean",
                       metrics=DYNAMIC_METRICS) -> pd.DataFrame:
    """Per other model and metric: the paired difference reference − model over the seeds both finished
    (same split per seed): mean, sd (ddof 1), 95 % t-interval, minimum detectable difference at 80 % power,
    t test p and n seeds (`experiments.dynamic.paired`, sign flipped to read reference − model). For RMSE a
    negative difference favours the reference; for PCC and CCC a positive one."""
    s = _finished(pd.read_csv(seeds_path(results_dir, dataset), dtype={"error": str}))
    p = dyn_exp.paired(s, reference=reference)
    p = p[(p["dim"] == dim) & p["metric"].isin(list(metrics))]
    out = pd.DataFrame({"comparison": [f"{reference} − {m}" for m in p["model"]], "dim": p["dim"],
                        "metric": p["metric"], "mean_diff": -p["mean_diff"], "sd_diff": p["sd_diff"],
                        "ci95_low": -p["ci95_high"], "ci95_high": -p["ci95_low"], "mdd80": p["mdd80"],
                        "t_test_p": p["t_test_p"], "n_seeds": p["n_seeds"]})
    return out.reset_index(drop=True)


def load_predictions(results_dir, dataset: str, seed: int, models=dyn_exp.MODELS) -> dict[str, pd.DataFrame]:
    """{model: its per-step test predictions of `seed`} for the models whose predictions file exists."""
    out = {}
    for m in models:
        p = dyn_exp.run_dir(results_dir, dataset, m, seed) / dyn_exp.PREDICTIONS
        if p.is_file():
            out[m] = dyn_exp.read_predictions(p)
    return out


def test_tracks(predictions: dict[str, pd.DataFrame], n: int = 3) -> list[str]:
    """The first `n` test tracks of a seed in natural id order (not chosen by score), from the tracks every
    model's predictions share."""
    sets = [set(df["track_id"].astype(str)) for df in predictions.values()]
    common = set.intersection(*sets) if sets else set()
    return sorted(common, key=natural_key)[:n]


def analysed_window(pred: pd.DataFrame, track_id) -> tuple[float, float]:
    """(start_s, end_s) of the window the features of `track_id` cover, from its token centres."""
    t = np.sort(pred.loc[pred["track_id"].astype(str) == str(track_id), "time_s"].to_numpy(float))
    half = float(np.median(np.diff(t))) / 2 if t.size > 1 else 0.0
    return float(t[0] - half), float(t[-1] + half)


def plot_predicted_vs_annotated(predictions: dict[str, pd.DataFrame], track_ids, curves=None, dims=DIMS,
                                title: str = ""):
    """One row per track, one column per dimension: the annotated per-step target (black; the averaged
    curve aligned to the tokens), optionally the raw averaged curve as steps (`curves`: {track_id:
    DataFrame(time_s, valence, arousal)}, grey), and each model's predicted curve with its per-song CCC."""
    track_ids = [str(t) for t in track_ids]
    n = max(len(track_ids), 1)
    fig, axes = plt.subplots(n, len(dims), figsize=(5 * len(dims), 2.6 * n), squeeze=False, layout="constrained")
    first = next(iter(predictions.values()), None)
    for row, tid in zip(axes, track_ids, strict=False):
        for ax, dim in zip(row, dims, strict=True):
            if curves is not None and tid in curves:
                c = curves[tid]
                ax.step(c["time_s"], c[dim], where="post", color="0.65", lw=1, label="labels (raw steps)")
            if first is not None:
                g = first[first["track_id"].astype(str) == tid].sort_values("step")
                ax.plot(g["time_s"], g[f"{dim}_true"], color="k", lw=2, label="annotated (per token)")
            scores = []
            for m, df in predictions.items():
                g = df[df["track_id"].astype(str) == tid].sort_values("step")
                ax.plot(g["time_s"], g[f"{dim}_pred"], color=MODEL_COLORS.get(m), lw=1.3,
                        label=MODEL_LABELS.get(m, m))
                scores.append((m, song_metrics(g[f"{dim}_pred"], g[f"{dim}_true"])["ccc"]))
            for i, (m, ccc) in enumerate(scores):
                ax.text(0.99, 0.04 + 0.09 * i, f"CCC {ccc:.2f}", transform=ax.transAxes, ha="right",
                        fontsize=7.5, color=MODEL_COLORS.get(m))
            ax.axhline(0, color="k", lw=0.4)
            ax.set_ylim(-1.05, 1.05)
            ax.set_title(f"track {tid} · {dim}", fontsize=10)
    for ax in axes[-1]:
        ax.set_xlabel("time (s)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncol=min(len(labels), 5), fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def audio_excerpt(path, start_s: float, end_s: float, sr: int = 11025, max_s: float = 30.0
                  ) -> tuple[np.ndarray, int]:
    """Mono audio of [start_s, min(end_s, start_s + max_s)) at `sr` Hz, for a small embedded player."""
    from damer_lite.features.audio import load_audio

    x, _ = load_audio(path, sr, start_s=max(start_s, 0.0), end_s=min(end_s, start_s + max_s))
    return x, sr


def recomputed_metrics(results_dir, dataset: str) -> pd.DataFrame:
    """Every finished (model, seed, dimension, metric) of tables/dynamic_{dataset}_seeds.csv beside the value
    recomputed from the run's predictions file (`experiments.dynamic.metrics_from_predictions`), and each
    summary mean of tables/dynamic_{dataset}.csv beside the mean of the recomputed values over seeds."""
    s = _finished(pd.read_csv(seeds_path(results_dir, dataset), dtype={"error": str}))
    rows = []
    for (model, seed), g in s.groupby(["model", "seed"], sort=False):
        p = dyn_exp.run_dir(results_dir, dataset, model, int(seed)) / dyn_exp.PREDICTIONS
        again = dyn_exp.metrics_from_predictions(dyn_exp.read_predictions(p)) if p.is_file() else None
        for _, r in g.iterrows():
            for m in DYNAMIC_METRICS:
                new = float(again[r["dim"]][m]) if again is not None else float("nan")
                rows.append({"table": f"dynamic_{dataset}_seeds", "model": model, "seed": int(seed),
                             "dim": r["dim"], "metric": m, "in_table": float(r[m]), "recomputed": new})
    per_seed = pd.DataFrame(rows)
    summ = pd.read_csv(summary_path(results_dir, dataset))
    means = per_seed.groupby(["model", "dim", "metric"])["recomputed"].mean()
    rows = []
    for _, r in summ.iterrows():
        for m in DYNAMIC_METRICS:
            rows.append({"table": f"dynamic_{dataset}", "model": r["model"], "seed": -1, "dim": r["dim"],
                         "metric": m, "in_table": float(r[f"{m}_mean"]),
                         "recomputed": float(means.get((r["model"], r["dim"], m), np.nan))})
    out = pd.concat([per_seed, pd.DataFrame(rows)], ignore_index=True)
    out["abs_diff"] = (out["in_table"] - out["recomputed"]).abs()
    return out


# ------------------------------------------------------------------------------------------ quoted numbers
def quoted_dynamic_block() -> pd.DataFrame:
    """The quoted orientation numbers for dynamic MER (`literature.DYNAMIC_RMSE_QUOTED`): other datasets,
    models and protocols, every row with source 'literature (quoted)'. Never put ours beside them in one
    column."""
    return literature.dynamic_rmse_quoted()
