"""Feature store: extract log-Mel / cochleagram / handcrafted features for a manifest, resumably.

Layout of one store, `<out_dir>/<dataset>-<config hash>/`:

    config.json          the FeatureConfig (and its hash) and the handcrafted feature names
    tracks/<key>.npz     one file per finished track (written to a temp file, then os.replace)
    mel.npy              (n, n_mels, T) float32     } consolidated, memory-mappable, rows in index order
    coch.npy             (n, n_coch, T) float32     } (NaN-padded to the longest track when n_tokens=None)
    handcrafted.npy      (n, d) float32             }
    index.csv            track_id, audio_path, row, n_frames, start_s, end_s, duration_s
    failures.csv         track_id, audio_path, stage, reason   (a bad file never aborts the run); stage is
                         'loader' (set aside by the dataset loader: missing audio, too short, no labels ...),
                         'decode' (the audio could not be read, or is empty, too short or silent) or
                         'analysis' (features failed)
    summary.json         counts, audio seconds, wall seconds, x real time

A killed run is resumed by calling `extract` again: finished per-track files are kept, stray temp files are
removed, and only the missing tracks are computed before consolidating again. A finished track file older
than its audio file (the audio was rewritten since, e.g. a dataset regenerated in place) is computed again.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import time
from concurrent.futures import as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from damer_lite.features.audio import AudioError, load_audio
from damer_lite.features.config import FeatureConfig
from damer_lite.features.handcrafted import handcrafted_names
from damer_lite.workers import in_worker, process_pool, stop_workers

REQUIRED_COLUMNS = ("track_id", "audio_path")
ARRAYS = ("mel", "coch", "handcrafted")


@dataclass
class ExtractSummary:
    store_dir: str
    n_tracks: int  # tracks handed to extraction (the loader's usable ones)
    n_ok: int
    n_failed: int  # failed at decode or analysis
    n_computed: int  # computed in this run (the rest were already on disk)
    audio_s: float  # seconds of audio analysed in this run
    wall_s: float
    x_realtime: float  # audio_s / wall_s
    # audio seconds per wall second after every worker has finished its first track (excludes process start,
    # imports and filter-plan set-up: the rate a long run settles at); NaN with too few tracks
    steady_x_realtime: float = float("nan")
    n_set_aside: int = 0  # set aside by the dataset loader before extraction (in failures.csv, stage 'loader')
    failed_by_stage: dict = field(default_factory=dict)  # stage -> count, over failures.csv

    def __str__(self) -> str:
        total = self.n_tracks + self.n_set_aside
        parts = [f"{self.n_ok} ok", f"{self.n_failed} failed"]
        if self.n_set_aside:
            parts.append(f"{self.n_set_aside} set aside by the loader")
        stages = ", ".join(f"{k} {v}" for k, v in sorted(self.failed_by_stage.items()) if v)
        return (
            f"features: {total} tracks: {', '.join(parts)}" + (f" ({stages})" if stages else "")
            + f"; {self.n_computed} computed now, "
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


def _tick(timings: dict | None, key: str, t0: float) -> float:
    """Add the seconds since t0 to timings[key] (when timings is a dict); return the current time."""
    now = time.perf_counter()
    if timings is not None:
        timings[key] = timings.get(key, 0.0) + now - t0
    return now


def decode_track(audio_path, cfg: FeatureConfig, start_s=None, end_s=None):
    """Decode + window + mono + resample one file for `cfg`: (x (n,) float32, AudioInfo). Raises AudioError."""
    x, info = load_audio(audio_path, cfg.sr, start_s, end_s, mono=True, min_duration_s=cfg.min_duration_s)
    if x.shape[0] < 2 * cfg.frame_length:
        raise AudioError(audio_path, f"too short for framing: {x.shape[0]} samples < 2N = {2 * cfg.frame_length}")
    return x, info


def compute_track(audio_path, cfg: FeatureConfig, start_s=None, end_s=None, device=None,
                  timings: dict | None = None, backend: str = "auto") -> dict:
    """All views of one track: {'mel': (n_mels, T), 'coch': (n_coch, T), 'handcrafted': (d,), ...}.

    timings: optional dict that accumulates wall seconds per stage (decode, mel, coch, pool, handcrafted).
    Raises AudioError for unusable audio.
    """
    t0 = time.perf_counter()
    x, info = decode_track(audio_path, cfg, start_s, end_s)
    _tick(timings, "decode", t0)
    return compute_batch([(x, info)], cfg, device=device, timings=timings, backend=backend)[0]


def compute_batch(signals: list, cfg: FeatureConfig, device=None, timings: dict | None = None,
                  backend: str = "auto", pin: bool = True) -> list[dict]:
    """Features of decoded tracks [(x, info), ...] -> one dict per track (as `compute_track`).

    Signals of equal length are stacked into one (B, n) batch per call of log_mel / cochleagram, so on a GPU
    a batch costs one (pinned, asynchronous) host-to-device copy and one device-to-host copy of the pooled
    (B, F, T) results; the handcrafted descriptors are computed on the CPU per track."""
    import torch

    from damer_lite.features.cochleagram import cochleagram
    from damer_lite.features.handcrafted import handcrafted_features
    from damer_lite.features.mel import default_device, log_mel
    from damer_lite.features.tokens import pool_time

    dev = default_device(device)
    results: list[dict | None] = [None] * len(signals)
    groups: dict[int, list[int]] = {}
    for i, (x, _) in enumerate(signals):
        groups.setdefault(x.shape[0], []).append(i)
    for idx in groups.values():
        t0 = time.perf_counter()
        xb = np.stack([signals[i][0] for i in idx])  # (B, n) float32
        if dev.type != "cpu" or backend == "torch":
            xt = torch.from_numpy(xb)
            if dev.type == "cuda" and pin:
                xt = xt.pin_memory()
            xb = xt.to(dev, non_blocking=True)
        with torch.no_grad():
            mel = log_mel(xb, cfg, device=dev, backend=backend)  # (B, n_mels, frames)
            t0 = _tick(timings, "mel", t0)
            coch = cochleagram(xb, cfg.sr, cfg, device=dev, backend=backend)  # (B, n_coch, frames')
            t0 = _tick(timings, "coch", t0)
            n_frames = mel.shape[-1]
            mel = pool_time(mel, cfg.n_tokens).cpu().numpy().astype(np.float32)  # (B, n_mels, T)
            coch = pool_time(coch, cfg.n_tokens).cpu().numpy().astype(np.float32)  # (B, n_coch, T)
            t0 = _tick(timings, "pool", t0)
        for j, i in enumerate(idx):
            x, info = signals[i]
            out = {
                "mel": mel[j],
                "coch": coch[j],
                "n_frames": np.int64(n_frames),
                "start_s": np.float64(info.start_s),
                "end_s": np.float64(info.end_s),
                "duration_s": np.float64(x.shape[0] / cfg.sr),
            }
            if cfg.handcrafted:
                out["handcrafted"] = handcrafted_features(x, cfg.sr)
                t0 = _tick(timings, "handcrafted", t0)
            results[i] = out
    return results  # type: ignore[return-value]


def _job(*job) -> tuple:
    """`_compute_job` in a worker process (`workers.in_worker`: SIGTERM unwinds, removing a half-written track
    file, then the worker leaves at once)."""
    return in_worker(_compute_job, *job)


def _compute_job(track_id, audio_path, start_s, end_s, cfg_dict, track_file, device) -> tuple:
    """Compute one track and write its npz atomically. Returns (track_id, seconds of audio, error or None);
    an error is (stage, reason), stage 'decode' or 'analysis'."""
    cfg = FeatureConfig.from_dict(cfg_dict)
    try:
        res = compute_track(audio_path, cfg, start_s, end_s, device=device)
    except AudioError as e:
        return track_id, 0.0, ("decode", e.reason)
    except Exception as e:  # a bad file must never abort the run
        return track_id, 0.0, ("analysis", f"{type(e).__name__}: {e}")
    _write_track(track_file, res)
    return track_id, float(res["duration_s"]), None


def _older_than_audio(track_file: Path, audio_path) -> bool:
    """Whether a finished track file predates its audio file's last change (so it may hold the features of
    audio that no longer exists). An unreadable audio path is left to the extraction to report."""
    try:
        return os.stat(audio_path).st_mtime_ns > track_file.stat().st_mtime_ns
    except (OSError, TypeError, ValueError):
        return False


def _write_track(track_file, res: dict) -> None:
    def write(tmp):
        with open(tmp, "wb") as fh:  # a file object: np.savez adds no '.npz' suffix
            np.savez(fh, **res)

    _atomic_write(Path(track_file), write)


def _decode_job(job) -> tuple:
    """(job, (x, info) or None, error or None) for the batched path."""
    track_id, audio_path, start_s, end_s, cfg_dict, _, _ = job
    try:
        return job, decode_track(audio_path, FeatureConfig.from_dict(cfg_dict), start_s, end_s), None
    except AudioError as e:
        return job, None, ("decode", e.reason)
    except Exception as e:
        return job, None, ("decode", f"{type(e).__name__}: {e}")


def _run_batched(todo: list, cfg: FeatureConfig, device, batch_size: int, workers: int, backend: str):
    """Batched extraction (GPU path): decode `batch_size` tracks on `workers` threads (libsndfile and soxr
    release the GIL), compute their features in equal-length batches on `device`, write the npz files.
    Yields (track_id, seconds of audio, error or None) per track."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max(1, workers)) as pool:
        for b0 in range(0, len(todo), batch_size):
            decoded = list(pool.map(_decode_job, todo[b0 : b0 + batch_size]))
            ok = [(job, sig) for job, sig, err in decoded if err is None]
            for job, _, err in decoded:
                if err is not None:
                    yield job[0], 0.0, err
            if not ok:
                continue
            try:
                feats = compute_batch([sig for _, sig in ok], cfg, device=device, backend=backend)
            except Exception as e:  # e.g. out of device memory: fall back to one track at a time
                feats = []
                for _, sig in ok:
                    try:
                        feats.append(compute_batch([sig], cfg, device=device, backend=backend)[0])
                    except Exception as e1:
                        feats.append(f"{type(e1).__name__}: {e1} (batch: {type(e).__name__})")
            for (job, _), res in zip(ok, feats, strict=True):
                if isinstance(res, str):
                    yield job[0], 0.0, ("analysis", res)
                    continue
                _write_track(job[5], res)
                yield job[0], float(res["duration_s"]), None


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
    batch_size: int | None = None,
    backend: str = "auto",
) -> ExtractSummary:
    """Extract features for every row of `manifest` into store_dir(out_dir, dataset, cfg); resumable.

    manifest: DataFrame with track_id, audio_path and optionally window_start_s, window_end_s (NaN or
    absent = cfg's default window) and dataset (used for the store name when `dataset` is None).
    workers: processes with one BLAS/torch thread each (1 = in this process, with torch's threads).
    batch_size: tracks per feature call (batched path, in this process: `workers` decoding threads, equal-
    length windows stacked into (B, n) batches); default 16 on a CUDA device, else off (one track per call).
    backend: 'auto', 'numpy' or 'torch' for log_mel / cochleagram. Returns an ExtractSummary (also printed).
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
    set_aside = set_aside_by_loader(manifest)
    todo = []
    stale = 0
    for row in rows:
        f = tracks / f"{track_key(row['track_id'])}.npz"
        if f.exists() and _older_than_audio(f, row["audio_path"]):
            f.unlink()
            stale += 1
        if not f.exists():
            start, end = _window(row, cfg)
            todo.append((str(row["track_id"]), str(row["audio_path"]), start, end, cfg.to_dict(), str(f), device))

    if stale:
        print(f"features: {stale} finished track file(s) are older than their audio (rewritten since); "
              "computing them again")
    failures: dict[str, str] = {}
    done: list[tuple[float, float]] = []  # (completion time, audio seconds) per track
    audio_s = 0.0
    t0 = time.perf_counter()
    bar = _progress(len(todo), progress)
    if batch_size is None:
        dev_type = str(device or ("cuda" if _cuda_available() else "cpu")).split(":")[0]
        batch_size = 16 if dev_type == "cuda" else 1
    if batch_size > 1 or backend != "auto":
        for tid, secs, err in _run_batched(todo, cfg, device, max(1, batch_size), workers, backend):
            audio_s = _record(tid, secs, err, failures, audio_s, bar, t0, done)
    elif workers <= 1 or len(todo) <= 1:
        results = (_compute_job(*job) for job in todo)
        for tid, secs, err in results:
            audio_s = _record(tid, secs, err, failures, audio_s, bar, t0, done)
    else:
        pool, others = process_pool(workers)  # spawned, one thread each, ending with this process
        try:
            futures = [pool.submit(_job, *job) for job in todo]
            for fut in as_completed(futures):
                tid, secs, err = fut.result()
                audio_s = _record(tid, secs, err, failures, audio_s, bar, t0, done)
        except BaseException:  # KeyboardInterrupt (Ctrl-C, or SIGTERM through the CLI), or a broken pool
            if bar is not None:
                bar.close()
            stop_workers(pool, others)
            for stray in tracks.glob("*.tmp-*"):  # a half-written track file
                stray.unlink(missing_ok=True)
            raise
        pool.shutdown()
    if bar is not None:
        bar.close()
    wall = time.perf_counter() - t0

    n_ok, fails = _consolidate(root, rows, cfg, failures, set_aside)
    by_stage = fails["stage"].value_counts().to_dict()
    summary = ExtractSummary(str(root), len(rows), n_ok, len(fails) - len(set_aside), len(todo), audio_s, wall,
                             audio_s / wall if wall > 0 else float("nan"), _steady(done, max(1, workers)),
                             n_set_aside=len(set_aside), failed_by_stage={k: int(v) for k, v in by_stage.items()})
    if todo or not (root / "summary.json").exists():  # a resume with nothing to do keeps the real throughput
        _atomic_write(root / "summary.json", lambda tmp: tmp.write_text(json.dumps(asdict(summary), indent=1)))
    print(summary)
    return summary


def set_aside_by_loader(manifest: pd.DataFrame) -> dict[str, str]:
    """track_id -> reason for every track the dataset loader reported and left out of `manifest`
    (`manifest.attrs['report']`, a `ValidationReport`: kind -> track ids); {} for a plain table."""
    report = manifest.attrs.get("report")
    problems = getattr(report, "problems", None) or {}
    kept = set(manifest["track_id"].astype(str))
    out: dict[str, list[str]] = {}
    for kind, ids in problems.items():
        for tid in ids:
            if str(tid) not in kept:
                out.setdefault(str(tid), []).append(str(kind))
    return {tid: "; ".join(dict.fromkeys(kinds)) for tid, kinds in out.items()}


def _steady(done: list[tuple[float, float]], workers: int) -> float:
    """Audio seconds per second over the completions after the first `workers` ones."""
    if len(done) < workers + 2:
        return float("nan")
    t_start = done[workers - 1][0]
    span = done[-1][0] - t_start
    return sum(secs for _, secs in done[workers:]) / span if span > 0 else float("nan")


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def _progress(total: int, enabled: bool):
    if not enabled or total == 0:
        return None
    from damer_lite.progress import tqdm

    return tqdm(total=total, unit="track", desc="features")


def _record(tid, secs, err, failures, audio_s, bar, t0, done: list | None = None) -> float:
    if err is not None:  # (stage, reason)
        failures[tid] = err
    audio_s += secs
    if done is not None:
        done.append((time.perf_counter(), secs))
    if bar is not None:
        wall = max(time.perf_counter() - t0, 1e-9)
        bar.set_postfix_str(f"{audio_s / wall:.1f}x real time, {len(failures)} failed")
        bar.update(1)
    return audio_s


FAILURE_COLUMNS = ["track_id", "audio_path", "stage", "reason"]


def _consolidate(root: Path, rows: list[dict], cfg: FeatureConfig, failures: dict[str, tuple[str, str]],
                 set_aside: dict[str, str] | None = None) -> tuple[int, pd.DataFrame]:
    """Stack finished per-track files (manifest order) into .npy arrays + index.csv + failures.csv (the
    loader's set-aside tracks first, then the failed ones). Returns (tracks stored, the failures table)."""
    tracks = root / "tracks"
    ok = []
    fail_rows = [{"track_id": tid, "audio_path": "", "stage": "loader", "reason": reason}
                 for tid, reason in (set_aside or {}).items()]
    for row in rows:
        tid = str(row["track_id"])
        f = tracks / f"{track_key(tid)}.npz"
        if f.exists():
            ok.append((row, f))
        else:
            # a failure of an earlier run is recomputed on resume; a track with neither file nor error was
            # not reached (the run was stopped)
            stage, reason = failures.get(tid, ("analysis", "not computed (the run was stopped before it)"))
            fail_rows.append({"track_id": tid, "audio_path": str(row["audio_path"]), "stage": stage,
                              "reason": reason})
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
    fails = pd.DataFrame(fail_rows, columns=FAILURE_COLUMNS)
    _atomic_write(root / "failures.csv", lambda tmp: fails.to_csv(tmp, index=False))
    return n, fails


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
            found = ", ".join(c.name for c in cands) or "none"
            raise FileNotFoundError(
                f"{root}: expected one feature store (a folder <dataset>-<settings hash> with index.csv), found "
                f"{len(cands)} ({found}); give the store folder itself (e.g. {root}/<dataset>-<hash>), or run "
                "`damer-lite features` first"
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
