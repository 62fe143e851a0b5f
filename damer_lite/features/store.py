"""Feature store: extract log-Mel / cochleagram / handcrafted features for a manifest, resumably.

Layout of one store, `<out_dir>/<dataset>-<config hash>/`:

    config.json          the FeatureConfig (and its hash) and the handcrafted feature names
    tracks/<key>.npz     one file per finished track (written to a temp file, then os.replace)
    mel.npy              (n, n_mels, T) float32     } consolidated, memory-mappable, rows in index order
    coch.npy             (n, n_coch, T) float32     } (NaN-padded to the longest track when n_tokens=None)
    handcrafted.npy      (n, d) float32             }
    index.csv            track_id, audio_path, row, n_frames, start_s, end_s, duration_s
    failures.csv         track_id, audio_path, reason   (a bad file never aborts the run)
    summary.json         counts, audio seconds, wall seconds, x real time

A killed run is resumed by calling `extract` again: finished per-track files are kept, stray temp files are
removed, and only the missing tracks are computed before consolidating again.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .audio import AudioError, load_audio
from .config import FeatureConfig
from .handcrafted import handcrafted_names

REQUIRED_COLUMNS = ("track_id", "audio_path")
ARRAYS = ("mel", "coch", "handcrafted")


@dataclass
class ExtractSummary:
    store_dir: str
    n_tracks: int
    n_ok: int
    n_failed: int
    n_computed: int  # computed in this run (the rest were already on disk)
    audio_s: float  # seconds of audio analysed in this run
    wall_s: float
    x_realtime: float  # audio_s / wall_s

    def __str__(self) -> str:
        return (
            f"features: {self.n_ok}/{self.n_tracks} ok, {self.n_failed} failed, {self.n_computed} computed now, "
            f"{self.audio_s:.0f} s of audio in {self.wall_s:.1f} s ({self.x_realtime:.1f}x real time) "
            f"-> {self.store_dir}"
        )


# --------------------------------------------------------------------------------------------------------
# paths
def store_dir(out_dir, dataset: str, cfg: FeatureConfig) -> Path:
    """<out_dir>/<dataset>-<cfg.hash()>."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", str(dataset)) or "dataset"
    return Path(out_dir) / f"{safe}-{cfg.hash()}"


def track_key(track_id) -> str:
    """File-system-safe, collision-free name for a track id."""
    tid = str(track_id)
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", tid)[:60]
    return f"{safe}-{hashlib.sha1(tid.encode()).hexdigest()[:8]}"


def _atomic_write(path: Path, write) -> None:
    """Call write(tmp_path) then os.replace(tmp, path): readers never see a partial file."""
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


# --------------------------------------------------------------------------------------------------------
# one track
def _window(row: dict, cfg: FeatureConfig) -> tuple[float, float | None]:
    def val(key, default):
        v = row.get(key, None)
        return default if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)

    return val("window_start_s", cfg.window_start_s), val("window_end_s", cfg.window_end_s)


def compute_track(audio_path, cfg: FeatureConfig, start_s=None, end_s=None, device=None) -> dict:
    """All views of one track: {'mel': (n_mels, T), 'coch': (n_coch, T), 'handcrafted': (d,), ...}.

    Raises AudioError for unusable audio.
    """
    import torch

    from .cochleagram import cochleagram
    from .handcrafted import handcrafted_features
    from .mel import log_mel
    from .tokens import pool_time

    x, info = load_audio(audio_path, cfg.sr, start_s, end_s, mono=True, min_duration_s=cfg.min_duration_s)
    if x.shape[0] < 2 * cfg.frame_length:
        raise AudioError(audio_path, f"too short for framing: {x.shape[0]} samples < 2N = {2 * cfg.frame_length}")
    with torch.no_grad():
        mel = log_mel(x, cfg, device=device)  # (n_mels, frames)
        coch = cochleagram(x, cfg.sr, cfg, device=device)  # (n_coch, frames')
        n_frames = mel.shape[-1]
        mel = pool_time(mel, cfg.n_tokens).cpu().numpy().astype(np.float32)  # (n_mels, T)
        coch = pool_time(coch, cfg.n_tokens).cpu().numpy().astype(np.float32)  # (n_coch, T)
    out = {
        "mel": mel,
        "coch": coch,
        "n_frames": np.int64(n_frames),
        "start_s": np.float64(info.start_s),
        "end_s": np.float64(info.end_s),
        "duration_s": np.float64(x.shape[0] / cfg.sr),
    }
    if cfg.handcrafted:
        out["handcrafted"] = handcrafted_features(x, cfg.sr)
    return out


def _worker_init() -> None:
    """One BLAS/torch thread per worker process: K workers use K cores, not K x cores."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = "1"
    import torch

    torch.set_num_threads(1)


def _job(track_id, audio_path, start_s, end_s, cfg_dict, track_file, device) -> tuple:
    """Compute one track and write its npz atomically. Returns (track_id, seconds of audio, error or None)."""
    cfg = FeatureConfig.from_dict(cfg_dict)
    try:
        res = compute_track(audio_path, cfg, start_s, end_s, device=device)
    except AudioError as e:
        return track_id, 0.0, e.reason
    except Exception as e:  # a bad file must never abort the run
        return track_id, 0.0, f"{type(e).__name__}: {e}"
    path = Path(track_file)

    def write(tmp):
        with open(tmp, "wb") as fh:  # a file object: np.savez adds no '.npz' suffix
            np.savez(fh, **res)

    _atomic_write(path, write)
    return track_id, float(res["duration_s"]), None


# --------------------------------------------------------------------------------------------------------
# the store
def extract(
    manifest: pd.DataFrame,
    out_dir,
    cfg: FeatureConfig,
    workers: int = 1,
    device=None,
    dataset: str | None = None,
    progress: bool = True,
) -> ExtractSummary:
    """Extract features for every row of `manifest` into store_dir(out_dir, dataset, cfg); resumable.

    manifest: DataFrame with track_id, audio_path and optionally window_start_s, window_end_s (NaN or
    absent = cfg's default window) and dataset (used for the store name when `dataset` is None).
    workers: processes (1 = in this process). Returns an ExtractSummary (also printed).
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in manifest.columns]
    if missing:
        raise ValueError(f"manifest lacks column(s) {missing}")
    if manifest["track_id"].astype(str).duplicated().any():
        dups = manifest.loc[manifest["track_id"].astype(str).duplicated(), "track_id"].tolist()[:5]
        raise ValueError(f"manifest has duplicate track_id values, e.g. {dups}")
    if dataset is None:
        names = manifest["dataset"].dropna().unique().tolist() if "dataset" in manifest.columns else []
        dataset = str(names[0]) if len(names) == 1 else "features"
    root = store_dir(out_dir, dataset, cfg)
    tracks = root / "tracks"
    tracks.mkdir(parents=True, exist_ok=True)
    for stray in tracks.glob("*.tmp-*"):  # left by a killed run
        stray.unlink()
    config_json = {"config": cfg.to_dict(), "hash": cfg.hash(), "dataset": dataset,
                   "handcrafted_names": handcrafted_names() if cfg.handcrafted else []}
    _atomic_write(root / "config.json", lambda tmp: tmp.write_text(json.dumps(config_json, indent=1)))
    # a snapshot of the manifest (labels, windows, style) so that training needs only the store
    _atomic_write(root / "manifest.csv", lambda tmp: manifest.to_csv(tmp, index=False))

    rows = manifest.to_dict("records")
    todo = []
    for row in rows:
        f = tracks / f"{track_key(row['track_id'])}.npz"
        if not f.exists():
            start, end = _window(row, cfg)
            todo.append((str(row["track_id"]), str(row["audio_path"]), start, end, cfg.to_dict(), str(f), device))

    failures: dict[str, str] = {}
    audio_s = 0.0
    t0 = time.perf_counter()
    bar = _progress(len(todo), progress)
    if workers <= 1 or len(todo) <= 1:
        results = (_job(*job) for job in todo)
        for tid, secs, err in results:
            audio_s = _record(tid, secs, err, failures, audio_s, bar, t0)
    else:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")  # torch + fork is fragile; spawn is safe everywhere
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_worker_init) as pool:
            futures = [pool.submit(_job, *job) for job in todo]
            for fut in as_completed(futures):
                tid, secs, err = fut.result()
                audio_s = _record(tid, secs, err, failures, audio_s, bar, t0)
    if bar is not None:
        bar.close()
    wall = time.perf_counter() - t0

    n_ok = _consolidate(root, rows, cfg, failures)
    summary = ExtractSummary(str(root), len(rows), n_ok, len(failures), len(todo), audio_s, wall,
                             audio_s / wall if wall > 0 else float("nan"))
    _atomic_write(root / "summary.json", lambda tmp: tmp.write_text(json.dumps(asdict(summary), indent=1)))
    print(summary)
    return summary


def _progress(total: int, enabled: bool):
    if not enabled or total == 0:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="track", desc="features")


def _record(tid, secs, err, failures, audio_s, bar, t0) -> float:
    if err is not None:
        failures[tid] = err
    audio_s += secs
    if bar is not None:
        wall = max(time.perf_counter() - t0, 1e-9)
        bar.set_postfix_str(f"{audio_s / wall:.1f}x real time, {len(failures)} failed")
        bar.update(1)
    return audio_s


def _consolidate(root: Path, rows: list[dict], cfg: FeatureConfig, failures: dict[str, str]) -> int:
    """Stack finished per-track files (manifest order) into .npy arrays + index.csv + failures.csv."""
    tracks = root / "tracks"
    ok, fail_rows = [], []
    for row in rows:
        tid = str(row["track_id"])
        f = tracks / f"{track_key(tid)}.npz"
        if f.exists():
            ok.append((row, f))
        else:
            reason = failures.get(tid, "not computed")
            fail_rows.append({"track_id": tid, "audio_path": str(row["audio_path"]), "reason": reason})
    loaded = []
    for row, f in ok:
        with np.load(f) as z:
            loaded.append((row, {k: z[k] for k in z.files}))
    n = len(loaded)
    width = cfg.n_tokens or max([d["mel"].shape[-1] for _, d in loaded] + [1])
    cwidth = cfg.n_tokens or max([d["coch"].shape[-1] for _, d in loaded] + [1])
    d_hand = len(handcrafted_names()) if cfg.handcrafted else 0
    shapes = {"mel": (n, cfg.n_mels, width), "coch": (n, cfg.n_coch, cwidth), "handcrafted": (n, d_hand)}
    for name, shape in shapes.items():
        def write(tmp, name=name, shape=shape):
            arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=shape)
            arr[...] = np.nan
            for i, (_, d) in enumerate(loaded):
                if name in d:
                    v = d[name]
                    arr[i, ..., : v.shape[-1]] = v
            arr.flush()
            del arr

        _atomic_write(root / f"{name}.npy", write)
    index = pd.DataFrame(
        {
            "track_id": [str(r["track_id"]) for r, _ in loaded],
            "audio_path": [str(r["audio_path"]) for r, _ in loaded],
            "row": np.arange(n),
            "n_frames": [int(d["n_frames"]) for _, d in loaded],
            "start_s": [float(d["start_s"]) for _, d in loaded],
            "end_s": [float(d["end_s"]) for _, d in loaded],
            "duration_s": [float(d["duration_s"]) for _, d in loaded],
        }
    )
    _atomic_write(root / "index.csv", lambda tmp: index.to_csv(tmp, index=False))
    fails = pd.DataFrame(fail_rows, columns=["track_id", "audio_path", "reason"])
    _atomic_write(root / "failures.csv", lambda tmp: fails.to_csv(tmp, index=False))
    return n


def load(out_dir, dataset: str | None = None, cfg: FeatureConfig | None = None, mmap: bool = True) -> dict:
    """Open a store: {'mel', 'coch', 'handcrafted' (arrays, memory-mapped), 'index', 'failures',
    'manifest' (DataFrames; the manifest snapshot taken at extraction, None for old stores),
    'config' (FeatureConfig), 'handcrafted_names', 'dir'}.

    `out_dir` is either a store folder itself or the parent given to `extract` (then pass dataset and cfg,
    or leave them out when it holds exactly one store).
    """
    root = Path(out_dir)
    if dataset is not None and cfg is not None:
        root = store_dir(out_dir, dataset, cfg)
    elif not (root / "index.csv").exists():
        cands = sorted(p.parent for p in root.glob("*/index.csv"))
        if dataset is not None:
            cands = [c for c in cands if c.name.rsplit("-", 1)[0] == re.sub(r"[^A-Za-z0-9._-]", "_", dataset)]
        if len(cands) != 1:
            raise FileNotFoundError(
                f"{root}: expected one feature store, found {len(cands)}; pass dataset= and cfg="
            )
        root = cands[0]
    if not (root / "index.csv").exists():
        raise FileNotFoundError(f"no consolidated feature store in {root} (run extract first)")
    meta = json.loads((root / "config.json").read_text())
    out = {name: np.load(root / f"{name}.npy", mmap_mode="r" if mmap else None) for name in ARRAYS}
    out["index"] = pd.read_csv(root / "index.csv", dtype={"track_id": str})
    out["failures"] = pd.read_csv(root / "failures.csv", dtype={"track_id": str})
    out["config"] = FeatureConfig.from_dict(meta["config"])
    out["handcrafted_names"] = meta.get("handcrafted_names", [])
    man = root / "manifest.csv"
    out["manifest"] = pd.read_csv(man, dtype={"track_id": str}) if man.exists() else None
    out["dir"] = root
    return out
