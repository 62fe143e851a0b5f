"""Dynamic predictions: per-step valence and arousal curves of your own audio from a portable dynamic checkpoint.

    path = export_dynamic("results/runs_dynamic/synthmemo/dual_scale/seed0", store_dir,
                          "results/checkpoints/synthmemo_dynamic.pt")
    pred = DynamicPredictor.from_file(path)          # or DynamicPredictor.from_dir("results/checkpoints")
    df = pred.predict(["my_music/", "song.flac"])    # one row per file and step: file, time_s, valence, arousal
    fig = plot_curves(df)                            # one panel per file: valence and arousal against time

The checkpoint. One `torch.save`d dict of tensors and plain JSON-like values (loaded with weights_only=True):

    format              'damer-lite-dynamic-checkpoint'
    format_version      1
    model               'dual_scale' (model.dmer.DualScaleDMER) or 'damer_step' (model.dmer.StepHead)
    config              dict        DynamicConfig.to_dict() of the run
    input_shape         [n_mel_bins, n_coch_bins, T]
    token_s             float       seconds one token (step) spanned in training: the median over the
                                    store's tracks of (end_s - start_s) / T; the training window is T token_s
    radii_steps         [local, wide] attention radii in tokens (dual_scale; None for damer_step), checked
                                    against those rebuilt from the config and token_s on load
    feature_config      dict        FeatureConfig.to_dict() of the store the model was trained on
    feature_config_hash str
    standardiser        {mel_mean, mel_std, coch_mean, coch_std}: float64 tensors (n_bins,)
    state_dict          {name: tensor}
    card                dict        the model card (CARD_FIELDS)

The windowing rule. A file of duration D is analysed in consecutive windows of the training window length
W = T token_s, each with T steps of token_s seconds (the features of a window are computed exactly as the
feature store computes a track's: `features.store.compute_track(path, cfg, start, end)`):

    [0, W), [W, 2W), ..., [(n-1)W, nW)      n = floor(D / W) full windows
    [D - W, D)                              when D is not a multiple of W: a last window aligned to the end;
                                            its steps whose centre lies before nW (inside the previous
                                            window) are dropped, so times strictly increase and the curve
                                            covers the file to its end without repeating a stretch
    [0, D)                                  when D < W: one window of the whole file; its T steps then span
                                            D / T seconds each, shorter than in training (the rows' `note`
                                            says so)

Only the first `max_duration_s` seconds (default 600) are analysed (`note` says when a file was capped).
Each window is decoded on its own (soundfile seeks to it), so memory does not grow with the file.

Bad inputs (missing, empty, unreadable, not audio, too short, silent) become one row with NaN values and an
`error` text; a window that fails inside a file that otherwise works keeps its steps' rows with NaN values
and the reason. A bad file never stops the batch.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from damer_lite.predict.checkpoint import (
    CheckpointError,
    _check_stats,
    _export_time,
    _feature_config,
    _fill,
    _input_shape,
    _need,
    _open,
    _plain,
    _read_json,
    _save_atomic,
    _state_dict,
    _stats,
    _store_config,
)
from damer_lite.predict.predictor import find_audio, probe_duration

FORMAT = "damer-lite-dynamic-checkpoint"
FORMAT_VERSION = 1
SUFFIX = "_dynamic.pt"
MODELS = ("dual_scale", "damer_step")
MAX_DURATION_S = 600.0
COLUMNS = ["file", "time_s", "valence", "arousal", "path", "window", "note", "error"]
CARD_FIELDS = (
    "name", "dataset", "model", "profile", "seed", "feature_store", "feature_profile_hash", "n_train", "n_test",
    "test_metrics", "outputs", "trained_on", "intended_use", "n_steps", "token_s", "window_s", "radii_steps",
    "exported_at", "damer_lite_version", "torch_version", "source_run",
)
OUTPUTS = "valence and arousal per step in [-1, 1] (the averaged annotators' curve scale)"
SYNTH_WARNING = ("the dynamic checkpoint was trained on SynthMemo (synthetic tracks with simulated labels): "
                 "curves of real music are illustrative only")
_EPS = 1e-6  # seconds: durations closer than this are equal


def checkpoint_name(dataset: str) -> str:
    """File name of a dataset's dynamic checkpoint: '{dataset}_dynamic.pt'."""
    return f"{dataset}{SUFFIX}"


def find_dynamic(checkpoint_dir, dataset: str | None = None) -> Path:
    """The `{dataset}_dynamic.pt` file in checkpoint_dir; without `dataset` the folder must hold exactly one
    `*_dynamic.pt`. Raises CheckpointError naming what was found otherwise."""
    d = Path(checkpoint_dir)
    if not d.is_dir():
        raise CheckpointError(f"checkpoint folder {d} does not exist")
    found = {p.name[: -len(SUFFIX)]: p for p in sorted(d.glob(f"*{SUFFIX}")) if len(p.name) > len(SUFFIX)}
    names = ", ".join(sorted(found)) or "none"
    if dataset is None:
        if not found:
            raise CheckpointError(f"{d}: no dynamic checkpoint (a file named {{dataset}}{SUFFIX})")
        if len(found) > 1:
            raise CheckpointError(f"{d}: dynamic checkpoints of several datasets ({names}); choose one with --dataset")
        return next(iter(found.values()))
    if dataset not in found:
        raise CheckpointError(f"{d}: no {checkpoint_name(dataset)} (datasets with dynamic checkpoints here: {names})")
    return found[dataset]


# ------------------------------------------------------------------------------------------------ the object
@dataclass
class DynamicCheckpoint:
    """A loaded dynamic checkpoint: the per-step model (eval mode), its card, configs and feature statistics."""

    model: torch.nn.Module
    kind: str  # 'dual_scale' | 'damer_step'
    card: dict
    config: object  # damer_lite.config.DynamicConfig
    feature_config: object  # damer_lite.features.config.FeatureConfig
    stats: dict[str, np.ndarray]  # mel_mean, mel_std, coch_mean, coch_std: float64 (n_bins,)
    input_shape: tuple[int, int, int]
    token_s: float
    path: Path | None = None
    extra: dict = field(default_factory=dict)

    @property
    def dataset(self) -> str:
        return self.card["dataset"]

    @property
    def n_steps(self) -> int:
        return int(self.input_shape[2])

    @property
    def window_s(self) -> float:
        """The training window: T steps of token_s seconds."""
        return self.n_steps * self.token_s

    @property
    def feature_hash(self) -> str:
        return self.feature_config.hash()

    def standardise(self, mel, coch) -> tuple[torch.Tensor, torch.Tensor]:
        """(.., n_mel, T), (.., n_coch, T) -> float32 tensors standardised with the training statistics."""
        from damer_lite.training.data import Standardiser

        return Standardiser.from_stats(**self.stats)(mel, coch)

    def summary(self) -> str:
        c = self.card
        tm = c.get("test_metrics") or {}

        def ccc(dim):
            v = (tm.get(dim) or {}).get("ccc")
            return f"{v:.3f}" if isinstance(v, (int, float)) else "n/a"

        return (f"dynamic {self.kind} model trained on {c['dataset']} (seed {c.get('seed')}, profile "
                f"{c.get('profile')}; n_train={c.get('n_train')}, test CCC valence {ccc('valence')}, arousal "
                f"{ccc('arousal')}); windows of {self.n_steps} steps x {self.token_s:.3f} s = {self.window_s:.2f} s; "
                f"features {self.feature_hash}")


# ------------------------------------------------------------------------------------------------ export
def _token_s(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise CheckpointError(f"{where}: token_s (seconds per step) must be a positive number, got {value!r}")
    return float(value)


def _dynamic_config(d, where: str):
    from damer_lite.config import DynamicConfig

    try:
        return DynamicConfig.from_dict(d)
    except (ValueError, TypeError, KeyError) as e:
        raise CheckpointError(f"{where}: dynamic model config invalid: {e}") from None


def _build(kind: str, cfg, shape, token_s: float, where: str) -> torch.nn.Module:
    from damer_lite.training.dynamic import build_dynamic_model

    try:
        return build_dynamic_model(kind, cfg, *shape, token_s=token_s)
    except Exception as e:
        raise CheckpointError(f"{where}: cannot build a {kind} model for features {tuple(shape)}: {e}") from None


def _radii(model) -> list[int] | None:
    return [int(model.local.radius), int(model.wide.radius)] if hasattr(model, "wide") else None


def export_dynamic(run_dir, store_dir, out) -> Path:
    """Write one portable dynamic checkpoint `out` from a dynamic run folder and its feature store.

    run_dir: RESULTS/runs_dynamic/{dataset}/{model}/seed{k}/ written by `damer-lite dynamic` (run.json,
    metrics.json, config.json, model.pt, standardiser.npz); only the neural models ('dual_scale',
    'damer_step') can be exported, not the ridge baseline. store_dir: the feature store the run was trained
    on (its FeatureConfig fixes how new audio is analysed). The file is written atomically.
    """
    from damer_lite import __version__
    from damer_lite.training.data import Standardiser

    run_dir, out = Path(run_dir), Path(out)
    if not run_dir.is_dir():
        raise CheckpointError(f"run folder {run_dir} does not exist")
    info = _read_json(run_dir / "run.json", "run description")
    for key in ("dataset", "model"):
        if not isinstance(info.get(key), str):
            raise CheckpointError(f"{run_dir}/run.json: no '{key}' (not a run written by `damer-lite dynamic`)")
    kind = info["model"]
    if kind == "ridge":
        raise CheckpointError(f"{run_dir}: the per-frame ridge baseline has no neural weights and cannot be "
                              f"exported; export a {' or '.join(MODELS)} run")
    if kind not in MODELS:
        raise CheckpointError(f"{run_dir}: model {kind!r} is not a dynamic model that can be exported "
                              f"({', '.join(MODELS)})")
    metrics = _read_json(run_dir / "metrics.json", "test metrics")
    cfg = _dynamic_config(_read_json(run_dir / "config.json", "dynamic model config"), f"{run_dir}/config.json")
    for name in ("model.pt", "standardiser.npz"):
        if not (run_dir / name).is_file():
            raise CheckpointError(f"{run_dir}: no {name} (incomplete run)")
    token_s = _token_s(info.get("token_s", metrics.get("token_s")), f"{run_dir}/run.json")

    st, fcfg = _store_config(store_dir, run_dir, info)
    shape = (fcfg.n_mels, fcfg.n_coch, fcfg.n_tokens)
    stats = Standardiser.load(run_dir / "standardiser.npz").stats()
    _check_stats(stats, shape, str(run_dir / "standardiser.npz"))
    model = _build(kind, cfg, shape, token_s, str(run_dir))
    try:
        state = torch.load(run_dir / "model.pt", map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except Exception as e:  # wrong shapes = weights trained on other features or settings
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{run_dir}/model.pt does not fit a {kind} model for features {shape}: {msg}") from None
    radii = _radii(model)
    if radii is not None and metrics.get("radii_steps") is not None and list(metrics["radii_steps"]) != radii:
        raise CheckpointError(f"{run_dir}: the run used attention radii {metrics['radii_steps']} steps, but its "
                              f"config and token_s {token_s} give {radii}")

    n_train = info.get("n_train", metrics.get("n_train"))
    card = {
        "name": f"damer-lite {info['dataset']} dynamic ({kind}, seed {info.get('seed')})",
        "dataset": info["dataset"],
        "model": kind,
        "profile": info.get("profile"),
        "seed": info.get("seed", metrics.get("seed")),
        "feature_store": Path(st["dir"]).name,
        "feature_profile_hash": fcfg.hash(),
        "n_train": n_train,
        "n_test": info.get("n_test", metrics.get("n_test")),
        "test_metrics": {d: {k: metrics[d][k] for k in ("rmse", "pcc", "ccc", "n_songs", "n_undefined")
                             if k in metrics[d]}
                         for d in ("valence", "arousal", "mean") if isinstance(metrics.get(d), dict)},
        "outputs": OUTPUTS,
        "trained_on": _trained_on(info, n_train, fcfg, token_s),
        "intended_use": ("per-step valence/arousal curves of new audio, analysed in consecutive windows of the "
                         "training window length; values estimate the averaged annotators' curve on [-1, 1] "
                         "(0 = neutral), not probabilities and not one listener's rating"),
        "n_steps": fcfg.n_tokens,
        "token_s": token_s,
        "window_s": fcfg.n_tokens * token_s,
        "radii_steps": radii,
        "exported_at": _export_time(),
        "damer_lite_version": __version__,
        "torch_version": torch.__version__,
        "source_run": "/".join(run_dir.parts[-4:]),  # runs_dynamic/{dataset}/{model}/seed{k}: no full path
    }
    blob = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": kind,
        "config": _plain(cfg.to_dict()),
        "input_shape": list(shape),
        "token_s": token_s,
        "radii_steps": radii,
        "feature_config": _plain(fcfg.to_dict()),
        "feature_config_hash": fcfg.hash(),
        "standardiser": {k: torch.from_numpy(v.copy()) for k, v in stats.items()},
        "state_dict": {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()},
        "card": _plain(card),
    }
    return _save_atomic(blob, out)


def _trained_on(info: dict, n_train, fcfg, token_s: float) -> str:
    ds = info["dataset"]
    what = ("SynthMemo, the project's synthetic miniature of Memo2496 (rendered tracks with simulated expert "
            "labels and curves); it has never heard real music" if ds == "synthmemo" else f"the {ds} dataset")
    return (f"{n_train} training tracks of {what}; per-step targets: the averaged annotators' valence/arousal "
            f"curve over each track's analysis window; features at {fcfg.sr} Hz, {fcfg.n_mels} Mel x "
            f"{fcfg.n_coch} gammatone bins x {fcfg.n_tokens} steps of {token_s:.3f} s (median)")


# ------------------------------------------------------------------------------------------------ load
def load_dynamic(path, feature_config=None, device: str | torch.device = "cpu") -> DynamicCheckpoint:
    """Load a checkpoint written by `export_dynamic` (torch.load with weights_only=True) and rebuild its model.

    feature_config: a FeatureConfig (or its hash string) the caller's extractor will use; the checkpoint is
    refused when its feature settings differ. Raises CheckpointError naming the file and the reason.
    """
    blob, where = _open(path, FORMAT, FORMAT_VERSION)
    card = _need(blob, "card", dict, where)
    if not isinstance(card.get("dataset"), str):
        raise CheckpointError(f"{where}: model card lacks 'dataset'")
    kind = _need(blob, "model", str, where)
    if kind not in MODELS:
        raise CheckpointError(f"{where}: model {kind!r} is not one of {MODELS}")
    token_s = _token_s(_need(blob, "token_s", (int, float), where), where)
    fcfg = _feature_config(blob, where, feature_config)
    shape = _input_shape(blob, where, fcfg)
    stats = _stats(blob, where, shape)
    cfg = _dynamic_config(_need(blob, "config", dict, where), where)
    state = _state_dict(blob, where)
    model = _fill(_build(kind, cfg, shape, token_s, where), state, where)
    radii = _radii(model)
    if radii is not None and blob.get("radii_steps") != radii:
        raise CheckpointError(f"{where}: attention radii {blob.get('radii_steps')!r} steps do not match the "
                              f"{radii} its config and token_s {token_s} give")
    model = model.to(device).eval()
    return DynamicCheckpoint(model=model, kind=kind, card=card, config=cfg, feature_config=fcfg, stats=stats,
                             input_shape=shape, token_s=token_s, path=Path(path))


# ------------------------------------------------------------------------------------------------ windows
@dataclass(frozen=True)
class Window:
    """One analysed window [start_s, end_s) of a file; its steps before `first_step` are dropped."""

    start_s: float
    end_s: float
    first_step: int = 0


def window_plan(duration_s: float, window_s: float, n_steps: int,
                max_duration_s: float | None = MAX_DURATION_S) -> tuple[list[Window], str]:
    """The windows of a file of `duration_s` seconds (the rule of the module docstring) and a note ('' or why
    the file is not analysed as in training: capped, or shorter than one window)."""
    if not duration_s > 0:
        raise ValueError(f"duration must be > 0, got {duration_s}")
    if not window_s > 0 or n_steps < 1:
        raise ValueError(f"need window_s > 0 and n_steps >= 1, got {window_s}, {n_steps}")
    if max_duration_s is not None and not max_duration_s > 0:
        raise ValueError(f"max_duration_s must be > 0, got {max_duration_s}")
    notes = []
    length = float(duration_s)
    if max_duration_s is not None and length > max_duration_s + _EPS:
        length = float(max_duration_s)
        notes.append(f"analysed the first {max_duration_s:g} s of {duration_s:.1f} s (max duration)")
    if length < window_s - _EPS:
        notes.append(f"shorter than the training window ({window_s:.2f} s): steps of {length / n_steps:.3f} s "
                     f"instead of {window_s / n_steps:.3f} s")
        return [Window(0.0, length)], "; ".join(notes)
    n = int(math.floor(length / window_s + 1e-9))
    wins = [Window(k * window_s, (k + 1) * window_s) for k in range(n)]
    covered = n * window_s
    if length - covered > _EPS:
        start = length - window_s
        centres = start + (np.arange(n_steps) + 0.5) * (window_s / n_steps)
        first = int(np.searchsorted(centres, covered + _EPS, side="right"))  # first centre after nW
        if first < n_steps:
            wins.append(Window(start, length, first))
    return wins, "; ".join(notes)


def step_times(start_s: float, end_s: float, n_steps: int) -> np.ndarray:
    """Centres (seconds from the file start) of the n_steps equal steps tiling [start_s, end_s)."""
    return start_s + (np.arange(n_steps) + 0.5) * ((end_s - start_s) / n_steps)


# ------------------------------------------------------------------------------------------------ predictor
@dataclass
class _Job:
    path: str
    order: int
    window: int
    span: Window
    note: str


class DynamicPredictor:
    """Per-step valence and arousal of audio files from one dynamic checkpoint."""

    def __init__(self, checkpoint: DynamicCheckpoint, device: str | torch.device | None = None,
                 batch_size: int = 16):
        from damer_lite.training.precision import resolve_device

        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.checkpoint = checkpoint
        self.device = resolve_device(device)
        self.batch_size = int(batch_size)
        checkpoint.model.to(self.device).eval()
        self.feature_config = dataclasses.replace(checkpoint.feature_config, handcrafted=False)

    @classmethod
    def from_file(cls, path, device=None, batch_size: int = 16) -> DynamicPredictor:
        return cls(load_dynamic(path), device=device, batch_size=batch_size)

    @classmethod
    def from_dir(cls, checkpoint_dir, dataset: str | None = None, device=None, batch_size: int = 16
                 ) -> DynamicPredictor:
        """The checkpoint named {dataset}_dynamic.pt in checkpoint_dir (see `find_dynamic`)."""
        return cls.from_file(find_dynamic(checkpoint_dir, dataset), device=device, batch_size=batch_size)

    @property
    def window_s(self) -> float:
        return self.checkpoint.window_s

    @property
    def n_steps(self) -> int:
        return self.checkpoint.n_steps

    @property
    def warnings(self) -> list[str]:
        return [SYNTH_WARNING] if self.checkpoint.dataset == "synthmemo" else []

    def features(self, path, start_s: float | None, end_s: float | None) -> dict:
        """mel (n_mels, T), coch (n_coch, T) of one span, exactly as the feature store computes them."""
        from damer_lite.features.store import compute_track

        feat_device = self.device if self.device.type != "cpu" else None
        return compute_track(path, self.feature_config, start_s, end_s, device=feat_device)

    def steps(self, mel: np.ndarray, coch: np.ndarray) -> np.ndarray:
        """mel (B, n_mels, T), coch (B, n_coch, T) raw features -> (B, T, 2) (valence, arousal) in [-1, 1]."""
        from damer_lite.training.dynamic import predict_steps

        m, c = self.checkpoint.standardise(mel, coch)  # (B, n_mels, T), (B, n_coch, T) float32
        return predict_steps(self.checkpoint.model, m, c, self.device, batch_size=self.batch_size)

    def predict(self, paths, max_duration_s: float | None = MAX_DURATION_S, progress: bool = True) -> pd.DataFrame:
        """Per-step rows for every audio file in `paths` (files, folders, globs); see the module docstring."""
        from damer_lite.features.audio import AudioError

        files, missing, skipped = find_audio(paths)
        rows: list[dict] = [_row(p, len(files), -1, error=r) for p, r in missing]
        jobs: list[_Job] = []
        for i, f in enumerate(files):
            try:
                dur = probe_duration(f)
            except AudioError as e:
                rows.append(_row(str(f), i, 0, error=e.reason))
                continue
            wins, note = window_plan(dur, self.window_s, self.n_steps, max_duration_s)
            jobs += [_Job(str(f), i, k, w, note) for k, w in enumerate(wins)]

        buf: list[tuple[_Job, dict]] = []

        def flush() -> None:
            if not buf:
                return
            va = self.steps(np.stack([f["mel"] for _, f in buf]), np.stack([f["coch"] for _, f in buf]))  # (B, T, 2)
            for (job, f), y in zip(buf, va, strict=True):
                times = step_times(float(f["start_s"]), float(f["end_s"]), self.n_steps)
                rows.extend(_row(job.path, job.order, job.window, times[k], y[k, 0], y[k, 1], job.note)
                            for k in range(job.span.first_step, self.n_steps))
            buf.clear()

        bar = None
        if progress:
            from damer_lite.progress import tqdm

            bar = tqdm(total=len(jobs), desc="predict --dynamic", unit="window", leave=False)
        for job in jobs:
            try:
                buf.append((job, self.features(job.path, job.span.start_s, job.span.end_s)))
            except Exception as e:  # AudioError or anything else: a bad window never stops the batch
                reason = e.reason if isinstance(e, AudioError) else f"{type(e).__name__}: {e}"
                times = step_times(job.span.start_s, job.span.end_s, self.n_steps)
                rows.extend(_row(job.path, job.order, job.window, times[k], note=job.note, error=reason)
                            for k in range(job.span.first_step, self.n_steps))
            if len(buf) >= self.batch_size:
                flush()
            if bar is not None:
                bar.update()
        flush()
        if bar is not None:
            bar.close()
        return _frame(rows, skipped)


def _row(path: str, order: int, window: int, time_s=np.nan, valence=np.nan, arousal=np.nan, note: str = "",
         error: str = "") -> dict:
    return {"file": Path(path).name, "time_s": float(time_s), "valence": float(valence), "arousal": float(arousal),
            "path": path, "window": int(window), "note": note, "error": error, "_order": order}


def _frame(rows: list[dict], skipped: int = 0) -> pd.DataFrame:
    """Rows in input order (window, time); a file none of whose windows worked collapses to one error row."""
    df = pd.DataFrame(rows, columns=[*COLUMNS, "_order"])
    df = df.sort_values(["_order", "window", "time_s"], kind="stable", na_position="first")
    ok = (df["error"] == "").groupby(df["path"], sort=False).transform("any")
    failed = df[~ok].drop_duplicates("path").assign(time_s=np.nan, window=0)
    df = pd.concat([df[ok], failed]).sort_values(["_order", "window", "time_s"], kind="stable", na_position="first")
    out = df.drop(columns="_order").reset_index(drop=True).astype({"window": int})
    out.attrs["skipped_non_audio"] = int(skipped)  # files inside folders/globs without an audio extension
    return out


def summarise(df: pd.DataFrame) -> dict:
    """{'n_files', 'n_ok', 'n_failed', 'n_steps', 'n_windows', 'n_window_errors', 'failed': [(file, reason)]}."""
    if df.empty:
        return {"n_files": 0, "n_ok": 0, "n_failed": 0, "n_steps": 0, "n_windows": 0, "n_window_errors": 0,
                "failed": []}
    good = df["error"].fillna("") == ""
    by_file = good.groupby(df["path"], sort=False).any()
    failed = [(Path(p).name, str(df.loc[df["path"] == p, "error"].iloc[0])) for p, g in by_file.items() if not g]
    in_ok = df["path"].map(by_file).astype(bool)
    windows = good[in_ok].groupby([df["path"][in_ok], df["window"][in_ok]], sort=False).all().astype(bool)
    return {"n_files": int(len(by_file)), "n_ok": int(by_file.sum()), "n_failed": int((~by_file).sum()),
            "n_steps": int(good.sum()), "n_windows": int(windows.sum()), "n_window_errors": int((~windows).sum()),
            "failed": failed}


def summary_line(df: pd.DataFrame) -> str:
    s = summarise(df)
    line = f"predicted {s['n_ok']}/{s['n_files']} files ({s['n_steps']} steps in {s['n_windows']} windows)"
    skipped = int(df.attrs.get("skipped_non_audio", 0))
    if skipped:
        line += f"; {skipped} non-audio file{'s' * (skipped != 1)} skipped"
    if s["n_window_errors"]:
        line += f", {s['n_window_errors']} windows failed inside predicted files (NaN steps)"
    if s["failed"]:
        shown = "; ".join(f"{f}: {r}" for f, r in s["failed"][:5])
        more = f"; ... {len(s['failed']) - 5} more" if len(s["failed"]) > 5 else ""
        line += f"; {s['n_failed']} failed: {shown}{more}"
    return line


# ------------------------------------------------------------------------------------------------ plot
def plot_curves(df: pd.DataFrame, max_files: int = 6):
    """One panel per file (up to `max_files`): predicted valence and arousal against time on [-1, 1], a zero
    line, and faint lines between windows (each window is analysed on its own). Returns the figure; raises
    ValueError when no step was predicted."""
    import matplotlib.pyplot as plt

    ok = df[(df["error"].fillna("") == "") & df["time_s"].notna()]
    paths = list(pd.unique(ok["path"]))
    if not paths:
        raise ValueError("no predicted steps to plot (every file failed)")
    shown = paths[: max(1, int(max_files))]
    fig, axes = plt.subplots(len(shown), 1, figsize=(9, 1.0 + 2.2 * len(shown)), squeeze=False)
    for ax, path in zip(axes[:, 0], shown, strict=True):
        g = df[(df["path"] == path) & df["time_s"].notna()].sort_values("time_s")  # failed windows: NaN gaps
        ax.axhline(0, color="0.6", lw=0.8)
        first = g.groupby("window", sort=True)["time_s"].min().to_numpy()
        last = g.groupby("window", sort=True)["time_s"].max().to_numpy()
        for x in (first[1:] + last[:-1]) / 2:
            ax.axvline(x, color="0.7", lw=0.8, ls=":")
        ax.plot(g["time_s"], g["valence"], "-", color="tab:blue", lw=1.3, label="valence")
        ax.plot(g["time_s"], g["arousal"], "-", color="tab:red", lw=1.3, label="arousal")
        note = str(g["note"].iloc[0]) if len(g) and g["note"].iloc[0] else ""
        title = Path(path).name if len(Path(path).name) <= 70 else Path(path).name[:69] + "…"
        ax.set_title(title + (f"\n({note})" if note else ""), fontsize=9)
        ax.set(ylim=(-1.05, 1.05), ylabel="predicted", xlim=(0, max(float(g["time_s"].max()) * 1.01, 1e-3)))
    axes[0, 0].legend(loc="upper right", fontsize=8, ncol=2)
    axes[-1, 0].set_xlabel("time (s, step centre)")
    if len(paths) > len(shown):
        fig.suptitle(f"first {len(shown)} of {len(paths)} predicted files", fontsize=9)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------------------------ command
def main(argv: list[str] | None = None) -> int:
    """python -m damer_lite.predict.dynamic export|show ... (used by the pipeline)."""
    p = argparse.ArgumentParser(prog="python -m damer_lite.predict.dynamic", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("export", help="export one dynamic run folder as a portable checkpoint")
    e.add_argument("--run", required=True, help="run folder, e.g. RESULTS/runs_dynamic/synthmemo/dual_scale/seed0")
    e.add_argument("--store", required=True, help="feature store folder the run was trained on")
    e.add_argument("--out", required=True, help="checkpoint file, e.g. results/checkpoints/synthmemo_dynamic.pt")
    s = sub.add_parser("show", help="print a dynamic checkpoint's model card and feature settings as JSON")
    s.add_argument("path")
    args = p.parse_args(argv)
    try:
        if args.cmd == "export":
            out = export_dynamic(args.run, args.store, args.out)
            print(f"checkpoint: {load_dynamic(out).summary()} -> {out}")
        else:
            ck = load_dynamic(args.path)
            print(json.dumps({"card": ck.card, "model": ck.kind, "token_s": ck.token_s,
                              "feature_config": ck.feature_config.to_dict(),
                              "feature_config_hash": ck.feature_hash}, indent=1))
    except CheckpointError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
