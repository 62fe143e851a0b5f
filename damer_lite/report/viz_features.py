"""Helpers and plots for the features notebook (02): the two views, the analysis window, the store.

Each plotting function returns a matplotlib Figure and each table function a DataFrame; saving is
`report.save_figure` / `report.save_table`. Arrays follow the store's layout: a view is (n_bins, T).

    root = ensure_store(df, "data/features", feature_profile("quick"), "synthmemo", workers=2)
    st = store.load(root)
    picks = extreme_tracks(st["manifest"], st["index"])          # highest / lowest arousal
    views = [track_views(r, st) for r in picks.to_dict("records")]
    fig = views_figure(views)
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
import pandas as pd

from damer_lite.datasets.manifest import analysis_window
from damer_lite.features import store
from damer_lite.features.config import FeatureConfig

PAPER_WINDOW = (15.0, 60.0)  # (start_s, length_s): 15-75 s, §III-C


# --------------------------------------------------------------------------------------------------------
# the store
def store_complete(root, manifest: pd.DataFrame) -> bool:
    """True when `root` is a consolidated store that has an outcome (row or failure) for every track of
    `manifest`, and a summary.json from the run that built it."""
    root = Path(root)
    if not all((root / f).is_file() for f in ("index.csv", "failures.csv", "summary.json", "mel.npy")):
        return False
    done = set(pd.read_csv(root / "index.csv", dtype={"track_id": str})["track_id"])
    done |= set(pd.read_csv(root / "failures.csv", dtype={"track_id": str})["track_id"])
    return set(manifest["track_id"].astype(str)) <= done


def ensure_store(manifest: pd.DataFrame, features_dir, cfg: FeatureConfig, dataset: str, workers: int = 1,
                 progress: bool = False) -> Path:
    """The store folder for (dataset, cfg) under `features_dir`, extracting (resumably) only when it is
    missing or incomplete. A complete store is left untouched, so its summary.json keeps the throughput of
    the run that computed it (calling `store.extract` again would record a run of 0 tracks)."""
    root = store.store_dir(features_dir, dataset, cfg)
    if store_complete(root, manifest):
        return root
    return Path(store.extract(manifest, features_dir, cfg, workers=workers, dataset=dataset,
                              progress=progress).store_dir)


def extraction_table(root, dataset: str, measured: dict | None = None) -> pd.DataFrame:
    """Throughput of the store at `root`: one row for the store as a whole, one for the extract run recorded
    in summary.json and, if given, one for `measured` (from `measure_throughput`).

    Columns: dataset, source, tracks, failed, audio_min, wall_s, x_realtime.
    """
    root = Path(root)
    summary = json.loads((root / "summary.json").read_text())
    index = pd.read_csv(root / "index.csv")
    failures = pd.read_csv(root / "failures.csv")
    rows = [
        {"source": "store (all tracks)", "tracks": len(index), "failed": len(failures),
         "audio_min": index["duration_s"].sum() / 60, "wall_s": math.nan, "x_realtime": math.nan},
        {"source": ("summary.json: the extract run that computed the store" if summary["n_computed"] else
                    "summary.json: last extract run (resumed a complete store, computed nothing)"),
         "tracks": summary["n_computed"],
         "failed": summary["n_failed"], "audio_min": summary["audio_s"] / 60,
         "wall_s": summary["wall_s"] if summary["n_computed"] else math.nan,
         "x_realtime": summary["x_realtime"] if summary["n_computed"] else math.nan},
    ]
    if measured is not None:
        rows.append({"source": measured["source"], "tracks": measured["tracks"], "failed": 0,
                     "audio_min": measured["audio_s"] / 60, "wall_s": measured["wall_s"],
                     "x_realtime": measured["x_realtime"]})
    out = pd.DataFrame(rows)
    out.insert(0, "dataset", dataset)
    return out


def failures_table(root, dataset: str) -> pd.DataFrame:
    """The store's failures.csv (track_id, audio_path, reason) with a dataset column; may be empty."""
    fails = pd.read_csv(Path(root) / "failures.csv", dtype={"track_id": str})
    fails.insert(0, "dataset", dataset)
    return fails


def measure_throughput(store_data: dict, n: int = 3) -> dict:
    """Time `store.compute_track` (both views, pooling, handcrafted) on `n` stored tracks, in this process
    with torch's thread setting, after one untimed warm-up track (filterbanks are built and cached on first
    use). Returns {source, tracks, audio_s, wall_s, x_realtime}."""
    index, cfg = store_data["index"], store_data["config"]
    if len(index) == 0:
        raise ValueError("the store holds no tracks to time")
    warm = index.iloc[0]
    store.compute_track(warm["audio_path"], cfg, warm["start_s"], warm["end_s"])
    rows = index.iloc[1 : n + 1] if len(index) > 1 else index.head(1)
    audio_s, t0 = 0.0, time.perf_counter()
    for r in rows.itertuples():
        res = store.compute_track(r.audio_path, cfg, r.start_s, r.end_s)
        audio_s += float(res["duration_s"])
    wall = time.perf_counter() - t0
    return {"source": f"measured in this notebook ({len(rows)} tracks, 1 process)", "tracks": len(rows),
            "audio_s": audio_s, "wall_s": wall, "x_realtime": audio_s / wall if wall > 0 else math.nan}


# --------------------------------------------------------------------------------------------------------
# picking and computing views
def extreme_tracks(manifest: pd.DataFrame, index: pd.DataFrame, by: str = "arousal") -> pd.DataFrame:
    """The stored tracks with the highest and the lowest `by` label, highest first.

    Returns the manifest rows plus `row` (their row in the store arrays) and `label` ('highest arousal', ...).
    """
    m = manifest.assign(track_id=manifest["track_id"].astype(str))
    ix = index.assign(track_id=index["track_id"].astype(str))[["track_id", "row", "start_s", "end_s"]]
    both = m.merge(ix, on="track_id", how="inner").dropna(subset=[by])
    if both.empty:
        raise ValueError(f"no stored track has a {by} label")
    hi, lo = both.loc[both[by].idxmax()], both.loc[both[by].idxmin()]
    out = pd.DataFrame([hi, lo]).reset_index(drop=True)
    out["label"] = [f"highest {by}", f"lowest {by}"]
    return out


def band_frequencies(cfg: FeatureConfig) -> tuple[np.ndarray, np.ndarray]:
    """Centre frequencies in Hz: (n_mels,) of the Mel filters and (n_coch,) of the gammatone channels."""
    import librosa

    from damer_lite.features.cochleagram import erb_centre_freqs

    mel_hz = librosa.mel_frequencies(cfg.n_mels + 2, fmin=cfg.mel_fmin, fmax=cfg.mel_fmax_hz)[1:-1]
    coch_hz = erb_centre_freqs(cfg.n_coch, cfg.coch_fmin, cfg.coch_fmax_hz)
    return mel_hz, coch_hz


def full_resolution(audio_path, cfg: FeatureConfig, start_s=None, end_s=None) -> dict:
    """Both views of one track at frame resolution (before pooling to T tokens).

    Returns {'mel': (n_mels, frames), 'coch': (n_coch, frames'), 'seconds': (start_s, end_s) read,
    'hop_s': hop N/2 in seconds}.
    """
    from damer_lite.features.audio import load_audio
    from damer_lite.features.cochleagram import cochleagram
    from damer_lite.features.mel import log_mel

    x, info = load_audio(audio_path, cfg.sr, start_s, end_s, mono=True)  # (n,)
    mel = log_mel(x, cfg).numpy()  # (n_mels, frames)
    coch = cochleagram(x, cfg.sr, cfg).numpy()  # (n_coch, frames')
    return {"mel": mel, "coch": coch, "seconds": (info.start_s, info.end_s), "hop_s": cfg.hop_length / cfg.sr}


def track_views(pick: dict, store_data: dict) -> dict:
    """Full-resolution and stored (pooled) views of one track picked by `extreme_tracks`.

    Returns {'label', 'track_id', 'valence', 'arousal', 'mel', 'coch' (full), 'mel_tok', 'coch_tok'
    (n_bins, T) from the store, 'seconds', 'hop_s'}.
    """
    cfg = store_data["config"]
    full = full_resolution(pick["audio_path"], cfg, pick["start_s"], pick["end_s"])
    row = int(pick["row"])
    return {
        **full,
        "label": pick["label"], "track_id": str(pick["track_id"]),
        "valence": float(pick["valence"]), "arousal": float(pick["arousal"]),
        "mel_tok": np.asarray(store_data["mel"][row]),  # (n_mels, T)
        "coch_tok": np.asarray(store_data["coch"][row]),  # (n_coch, T)
    }


# --------------------------------------------------------------------------------------------------------
# figures
def _hz_ticks(ax, hz: np.ndarray, n: int = 5) -> None:
    """Label a band-index y axis with the centre frequencies of a few bands."""
    idx = np.unique(np.linspace(0, len(hz) - 1, n).round().astype(int))
    ax.set_yticks(idx)
    ax.set_yticklabels([f"{hz[i] / 1000:.1f}k" if hz[i] >= 1000 else f"{hz[i]:.0f}" for i in idx])


def _limits(arrays: list[np.ndarray]) -> tuple[float, float]:
    vals = np.concatenate([a[np.isfinite(a)].ravel() for a in arrays])
    return float(np.percentile(vals, 1)), float(np.percentile(vals, 99.5))


def views_figure(views: list[dict], cfg: FeatureConfig, title: str = ""):
    """Rows = tracks; columns = log-Mel and cochleagram at frame resolution, then pooled to T tokens.

    Each column shares one colour scale across rows, so the tracks can be compared. len(views) x 4 axes
    (plus one colour bar per column).
    """
    mel_hz, coch_hz = band_frequencies(cfg)
    cols = [("mel", "log-Mel (ln power)", mel_hz), ("coch", "cochleagram (0.3·log10 RMS)", coch_hz),
            ("mel_tok", "log-Mel, {T} tokens", mel_hz), ("coch_tok", "cochleagram, {T} tokens", coch_hz)]
    fig, axes = plt.subplots(len(views), 4, figsize=(16, 3.3 * len(views) + 0.8), squeeze=False,
                             gridspec_kw={"width_ratios": [1.35, 1.35, 1, 1]}, layout="constrained")
    for j, (key, name, hz) in enumerate(cols):
        vmin, vmax = _limits([v[key] for v in views])
        for i, v in enumerate(views):
            ax, a = axes[i, j], v[key]
            t0, t1 = v["seconds"]
            if key.endswith("_tok"):
                extent, xlabel = (-0.5, a.shape[1] - 0.5, -0.5, a.shape[0] - 0.5), "token (time step)"
                name_j = name.format(T=a.shape[1])
            else:
                extent, xlabel = (t0, t0 + a.shape[1] * v["hop_s"], -0.5, a.shape[0] - 0.5), "time (s)"
                name_j = f"{name}, {a.shape[1]} frames"
            im = ax.imshow(a, origin="lower", aspect="auto", cmap="magma", vmin=vmin, vmax=vmax,
                           extent=extent, interpolation="nearest")
            _hz_ticks(ax, hz)
            ax.set_title(f"{name_j}\n{a.shape[0]} bands", fontsize=9)
            if i == len(views) - 1:
                ax.set_xlabel(xlabel)
            if j == 0:
                ax.set_ylabel(f"{v['label']}\ntrack {v['track_id']} (V {v['valence']:+.2f}, "
                              f"A {v['arousal']:+.2f})\nHz", fontsize=9)
        fig.colorbar(im, ax=axes[:, j].tolist(), shrink=0.9, pad=0.01, aspect=30)
    fig.suptitle(title or "two views of the same audio", fontsize=11)
    return fig


def loader_window(dataset: str) -> tuple[float, float] | None:
    """The (start_s, length_s) window a loader applies by default (`manifest.analysis_window`): Memo2496's
    15-75 s and SynthMemo's own; None for the loaders whose default is the whole clip or excerpt (PMEmo,
    emoMusic, DEAM), which record their windows in the manifest as well."""
    from damer_lite.datasets import memo2496

    return {"memo2496": memo2496.DEFAULT_WINDOW, "synthmemo": memo2496.SYNTH_WINDOW}.get(dataset.lower())


def window_rule_text(window: tuple[float, float]) -> str:
    """The rule of `manifest.analysis_window` for a requested (start_s, length_s), in words."""
    start, length = window
    end = start + length
    share = start / end if end > 0 else 0.0
    return (f"a track of at least {end:g} s: {start:g}–{end:g} s; a shorter track of d s: "
            f"[{start:g}·d/{end:g}, d], i.e. the first {share:.1%} skipped and the rest to the end")


def windows_figure(manifest: pd.DataFrame, paper_window: tuple[float, float] = PAPER_WINDOW,
                   max_duration_s: float = 300.0, dataset_window: tuple[float, float] | None = None):
    """Left: the analysis window of `manifest.analysis_window` as a function of track duration (log axis):
    the paper's 15-75 s (orange band) and, when `dataset_window` differs from it, the dataset loader's own
    request (blue band, e.g. SynthMemo's), with this dataset's windows from the manifest as dots. A track at
    least start + length long gets the full window; a shorter one of d s gets [start·d/(start + length), d]
    (the same share of skipped onset, to the end of the track); dotted verticals at start + length.
    Right: each track's window from the manifest
    (window_start_s, window_end_s), tracks sorted by duration. 2 axes."""
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(13, 4.6), gridspec_kw={"width_ratios": [1.2, 1]})
    start, length = paper_window
    m = manifest.dropna(subset=["duration_s", "window_start_s", "window_end_s"])
    max_duration_s = max(max_duration_s, 1.1 * float(m["duration_s"].max()) if len(m) else 0.0)
    dur = np.geomspace(1.0, max_duration_s, 600)
    end = start + length
    win = np.array([analysis_window(d, start, length) for d in dur])  # (600, 2)
    ax0.fill_between(dur, win[:, 0], win[:, 1], color="tab:orange", alpha=0.3,
                     label=f"paper: {start:g}–{end:g} s; shorter d: [{start:g}·d/{end:g}, d]")
    ax0.axvline(end, color="tab:orange", ls=":", lw=1)
    ax0.plot(dur, dur, color="0.4", lw=1, label="track end")
    if dataset_window is not None and tuple(map(float, dataset_window)) != tuple(map(float, paper_window)):
        ds, dl = dataset_window
        dwin = np.array([analysis_window(d, ds, dl) for d in dur])  # (600, 2)
        ax0.plot(dur, dwin[:, 0], color="tab:blue", ls="--", lw=1.3,
                 label=f"this dataset's loader: {ds:g}–{ds + dl:g} s; shorter d: [{ds:g}·d/{ds + dl:g}, d]")
        ax0.plot(dur, dwin[:, 1], color="tab:blue", ls="--", lw=1.3)
        ax0.axvline(ds + dl, color="tab:blue", ls=":", lw=1)
    top = max(1.15 * end, 1.05 * float(m["window_end_s"].max()) if len(m) else 0.0)
    ax0.scatter(m["duration_s"], m["window_start_s"], s=6, color="navy", label="this dataset: window start")
    ax0.scatter(m["duration_s"], m["window_end_s"], s=6, color="tab:purple", label="this dataset: window end")
    ax0.set_xscale("log")
    ax0.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax0.set_xticks([t for t in (1, 3, 10, 30, 100, 300, 1000, 3000) if t <= max_duration_s])
    ax0.set_xlabel("track duration d (s, log scale)")
    ax0.set_ylabel("seconds into the track")
    ax0.set_title("the window rule: full window, or the same share of onset skipped", fontsize=10)
    ax0.set_xlim(1, max_duration_s)
    ax0.set_ylim(0, top)
    ax0.legend(fontsize=7.5, loc="upper left")

    m = manifest.sort_values("duration_s").reset_index(drop=True)
    y = np.arange(len(m))
    ax1.hlines(y, 0, m["duration_s"], color="0.8", lw=1.2, label="track")
    ax1.hlines(y, m["window_start_s"], m["window_end_s"], color="tab:blue", lw=1.2, label="window used")
    ax1.set_xlabel("seconds into the track")
    ax1.set_ylabel("tracks, sorted by duration")
    length_used = (m["window_end_s"] - m["window_start_s"]).median()
    ax1.set_title(f"n = {len(m)} tracks: manifest windows, starts {m['window_start_s'].min():.2f}–"
                  f"{m['window_start_s'].max():.2f} s, median length {length_used:.1f} s", fontsize=10)
    ax1.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def window_summary(manifest: pd.DataFrame) -> pd.DataFrame:
    """Describe the windows in the manifest: duration, start, end and length (s), one column each."""
    w = pd.DataFrame({
        "duration_s": manifest["duration_s"],
        "window_start_s": manifest["window_start_s"],
        "window_end_s": manifest["window_end_s"],
        "window_length_s": manifest["window_end_s"] - manifest["window_start_s"],
    })
    return w.describe().loc[["min", "50%", "max"]]


def config_table(cfg: FeatureConfig) -> pd.DataFrame:
    """The §III-C settings next to the values of `cfg` (setting, paper, this profile)."""
    paper = FeatureConfig()
    window = (f"{cfg.window_start_s:g}–{cfg.window_end_s:g} s" if cfg.window_end_s is not None
              else f"{cfg.window_start_s:g} s – end")
    rows = [
        ("sample rate", "44.1 kHz", f"{cfg.sr / 1000:g} kHz"),
        ("pre-emphasis a in x(n) - a x(n-1)", "0.97", f"{cfg.preemphasis:g}"),
        ("frame N (window)", f"not given (default {paper.frame_length}), Hamming",
         f"{cfg.frame_length} samples = {1000 * cfg.frame_length / cfg.sr:.1f} ms, Hamming"),
        ("hop", "N/2 (50 % overlap)", f"{cfg.hop_length} samples = {1000 * cfg.hop_length / cfg.sr:.1f} ms"),
        ("FFT size", "2N", f"{cfg.fft_size}"),
        ("Mel filters, compression", "128, natural log", f"{cfg.n_mels}, natural log"),
        ("Mel range", "not given", f"{cfg.mel_fmin:g}–{cfg.mel_fmax_hz:g} Hz"),
        ("gammatone channels", "84, log-spaced", f"{cfg.n_coch}, ERB-spaced"),
        ("gammatone range", "not given", f"{cfg.coch_fmin:g}–{cfg.coch_fmax_hz:g} Hz"),
        ("power-law exponent, then", "not given, then log10",
         f"{cfg.coch_power:g} ({cfg.coch_method} filterbank), then log10"),
        ("analysis window (default)", "15–75 s", window + " (a manifest's own window wins)"),
        ("time tokens T", "87 (released arrays 128x87, 84x87)", str(cfg.n_tokens or "all frames")),
    ]
    return pd.DataFrame(rows, columns=["setting", "paper (§III-C)", "this profile"])
