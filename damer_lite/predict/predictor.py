"""Valence/arousal predictions for your own audio files from exported checkpoints (`damer_lite.predict.checkpoint`).

    pred = Predictor.from_dir("results/checkpoints")            # {dataset}_arousal.pt + {dataset}_valence.pt
    df = pred.predict(["my_music/"])                            # one row per track (the default span)
    df = pred.predict(["song.flac"], window_s=5.0, hop_s=2.5)   # one row per window: a timeline
    fig = plot_predictions(df)                                  # V-A map (+ timelines when windowed)

Per row: P(high arousal) and P(positive valence) -- the fused head's probability of class 1, the head the
pipeline scores, calibrated by the checkpoint's temperature (p = sigmoid(logit / T), T fitted on a validation
split carved from the training split; T = 1 for a checkpoint without calibration) -- with the uncalibrated
logit margin z_1 - z_0 beside it (`logit_arousal`, `logit_valence`; sigmoid(logit) is the raw softmax
probability), computed on features standardised with each checkpoint's training statistics, the quadrant of
the circumplex they point to, and the analysed span [start_s, end_s).

Spans. Without a window, each track is analysed over the checkpoint's default window: the feature config's
[window_start_s, window_end_s] with the proportional shrink of `datasets.manifest.analysis_window` for short
tracks (window_end_s = None means "to the end of the file"). Every span is capped at `max_span_s`
(default 120 s) so that memory stays bounded on hours-long files. With `window_s`, the whole file is cut
into windows [k hop, k hop + window) that fit inside it (a file shorter than one window gives one window of
the whole file). Audio is decoded one span at a time (soundfile seeks to the span), never the whole file.

Bad inputs (missing, empty, unreadable, not audio, too short, silent) become rows with an `error` text.
"""

from __future__ import annotations

import dataclasses
import glob
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from damer_lite.config import QUADRANTS
from damer_lite.predict.checkpoint import TARGETS, Checkpoint, CheckpointError, find_pair
from damer_lite.predict.checkpoint import load as load_checkpoint

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".mp3", ".aif", ".aiff")
MAX_SPAN_S = 120.0
# (positive valence, high arousal) -> quadrant of Russell's circumplex
COLUMNS = ["path", "track", "window", "start_s", "end_s", "p_arousal", "p_valence", "logit_arousal",
           "logit_valence", "arousal", "valence", "quadrant", "note", "error"]
SYNTH_WARNING = ("the {target} checkpoint was trained on SynthMemo (synthetic tracks with simulated labels): "
                 "predictions on real music are illustrative only")


# ------------------------------------------------------------------------------------------------ inputs
def find_audio(paths, extensions=AUDIO_EXTENSIONS) -> tuple[list[Path], list[tuple[str, str]], int]:
    """Expand files, folders (recursively) and glob patterns into a sorted, de-duplicated list of files.

    Files named explicitly are always kept (a non-audio file then gets an error row); inside folders and
    globs only files with an audio extension are kept. Returns (files, [(input, reason)] for inputs that
    match nothing, number of non-audio files skipped inside folders/globs).
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    exts = tuple(e.lower() for e in extensions)
    files: list[Path] = []
    missing: list[tuple[str, str]] = []
    skipped = 0

    def from_dir(d: Path) -> None:
        nonlocal skipped
        for f in sorted(p for p in d.rglob("*") if p.is_file()):
            if f.suffix.lower() in exts:
                files.append(f)
            elif not f.name.startswith("."):
                skipped += 1

    for item in paths:
        p = Path(item)
        if p.is_file():
            files.append(p)
        elif p.is_dir():
            from_dir(p)
        elif any(ch in str(item) for ch in "*?["):
            matches = sorted(glob.glob(str(item), recursive=True))
            if not matches:
                missing.append((str(item), "no file matches this pattern"))
            for m in map(Path, matches):
                if m.is_dir():
                    from_dir(m)
                elif m.suffix.lower() in exts:
                    files.append(m)
                else:
                    skipped += 1
        else:
            missing.append((str(item), "file not found"))
    seen, out = set(), []
    for f in files:
        key = f.resolve()
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out, missing, skipped


def probe_duration(path) -> float:
    """Duration in seconds from the file header (soundfile; librosa/audioread as a fallback).

    Raises features.AudioError (same reasons as load_audio) when the file cannot be used.
    """
    import soundfile as sf

    from damer_lite.features.audio import AudioError, quiet_decoders, unreadable_reason

    p = Path(path)
    if not p.is_file():
        raise AudioError(path, "file not found")
    if p.stat().st_size == 0:
        raise AudioError(path, "empty file (0 bytes)")
    with quiet_decoders():
        try:
            info = sf.info(str(p))
            if info.samplerate <= 0:
                raise AudioError(path, "no sample rate in the header")
            return info.frames / info.samplerate
        except AudioError:
            raise
        except Exception as sf_err:
            try:
                import warnings

                import librosa

                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    return float(librosa.get_duration(path=str(p)))
            except Exception:
                raise AudioError(path, unreadable_reason(p, sf_err)) from None


def default_span(duration_s: float, feature_config, max_span_s: float = MAX_SPAN_S) -> tuple[float, float]:
    """The checkpoint's window rule for a track of `duration_s` seconds (see the module docstring)."""
    from damer_lite.datasets.manifest import analysis_window

    ws, we = float(feature_config.window_start_s), feature_config.window_end_s
    length = float(max_span_s) if we is None else min(float(we) - ws, float(max_span_s))
    return analysis_window(float(duration_s), ws, length)


def window_spans(duration_s: float, window_s: float, hop_s: float | None = None) -> list[tuple[float, float]]:
    """Windows [k hop, k hop + window_s) inside [0, duration_s]; one window of the whole file if shorter."""
    hop = float(hop_s or window_s)
    if window_s <= 0 or hop <= 0:
        raise ValueError(f"window and hop must be > 0, got {window_s}, {hop}")
    if duration_s <= window_s:
        return [(0.0, float(duration_s))]
    n = int(math.floor((duration_s - window_s) / hop + 1e-9)) + 1
    return [(k * hop, k * hop + window_s) for k in range(n)]


def quadrant(p_valence: float, p_arousal: float) -> str:
    """'Q1 happy/excited' (+V +A), 'Q2 angry/tense' (-V +A), 'Q3 sad/depressed' (-V -A), 'Q4 calm/relaxed'."""
    if not (np.isfinite(p_valence) and np.isfinite(p_arousal)):
        return ""
    return QUADRANTS[(bool(p_valence >= 0.5), bool(p_arousal >= 0.5))]


# ------------------------------------------------------------------------------------------------ predictor
@dataclass
class Segment:
    path: str
    track: str
    window: int
    start_s: float | None
    end_s: float | None
    note: str = ""


class Predictor:
    """One or two checkpoints (arousal and/or valence) that share one feature configuration."""

    def __init__(self, arousal: Checkpoint | None = None, valence: Checkpoint | None = None,
                 device: str | torch.device | None = None, batch_size: int = 32):
        from damer_lite.training.precision import resolve_device

        self.checkpoints = {t: c for t, c in (("arousal", arousal), ("valence", valence)) if c is not None}
        if not self.checkpoints:
            raise CheckpointError("need at least one checkpoint (arousal and/or valence)")
        for t, c in self.checkpoints.items():
            if c.target != t:
                raise CheckpointError(f"{c.path}: is a {c.target} checkpoint, given as the {t} one")
        hashes = {c.feature_hash for c in self.checkpoints.values()}
        if len(hashes) > 1:
            raise CheckpointError("the arousal and valence checkpoints were made for different feature settings "
                                  f"({', '.join(sorted(hashes))}); export both from the same feature store")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.device = resolve_device(device)
        self.batch_size = int(batch_size)
        for c in self.checkpoints.values():
            c.model.to(self.device).eval()
        fc = next(iter(self.checkpoints.values())).feature_config
        self.feature_config = dataclasses.replace(fc, handcrafted=False)  # mel/coch do not depend on it

    @classmethod
    def from_files(cls, arousal=None, valence=None, device=None, batch_size: int = 32) -> Predictor:
        a = load_checkpoint(arousal) if arousal is not None else None
        v = load_checkpoint(valence) if valence is not None else None
        return cls(a, v, device=device, batch_size=batch_size)

    @classmethod
    def from_dir(cls, checkpoint_dir, dataset: str | None = None, device=None, batch_size: int = 32) -> Predictor:
        """Checkpoints named {dataset}_arousal.pt / {dataset}_valence.pt (see checkpoint.find_pair)."""
        return cls.from_files(**find_pair(checkpoint_dir, dataset), device=device, batch_size=batch_size)

    @property
    def targets(self) -> tuple[str, ...]:
        return tuple(self.checkpoints)

    @property
    def warnings(self) -> list[str]:
        return [SYNTH_WARNING.format(target=t) for t, c in self.checkpoints.items() if c.dataset == "synthmemo"]

    def cards(self) -> pd.DataFrame:
        """The model cards side by side (one column per target)."""
        rows = {}
        for t, c in self.checkpoints.items():
            card = dict(c.card)
            fuse = (card.pop("test_metrics", None) or {}).get(card.get("head", "fuse"), {})
            for k in ("acc", "f1", "auc"):
                card[f"test_{k}"] = fuse.get(k)
            card["classes"] = " / ".join(card.get("classes", []))
            rows[t] = card
        return pd.DataFrame(rows)

    # -------------------------------------------------------------------------------------------- planning
    def plan(self, files, window_s: float | None = None, hop_s: float | None = None,
             max_span_s: float = MAX_SPAN_S) -> tuple[list[Segment], list[dict]]:
        """Segments to analyse per file, and error rows for files whose header cannot be read."""
        from damer_lite.features.audio import AudioError

        segments, errors = [], []
        for f in files:
            path, track = str(f), Path(f).name
            try:
                dur = probe_duration(f)
            except AudioError as e:
                errors.append(_row(Segment(path, track, 0, None, None), error=e.reason))
                continue
            if window_s:
                for k, (s, e) in enumerate(window_spans(dur, window_s, hop_s)):
                    segments.append(Segment(path, track, k, s, e))
            else:
                s, e = default_span(dur, self.feature_config, max_span_s)
                we = self.feature_config.window_end_s
                uncapped_end = dur if we is None else min(dur, float(we))
                note = f"span capped at {max_span_s:g} s" if e < uncapped_end - 1e-6 else ""
                segments.append(Segment(path, track, 0, s, e, note))
        return segments, errors

    # -------------------------------------------------------------------------------------------- running
    def features(self, path, start_s: float | None, end_s: float | None) -> dict:
        """mel (n_mels, T), coch (n_coch, T) of one span, exactly as the feature store computes them."""
        from damer_lite.features.store import compute_track

        feat_device = self.device if self.device.type != "cpu" else None
        return compute_track(path, self.feature_config, start_s, end_s, device=feat_device)

    @torch.no_grad()
    def logits(self, mel: np.ndarray, coch: np.ndarray) -> dict[str, np.ndarray]:
        """mel (B, n_mels, T), coch (B, n_coch, T) raw features -> {target: uncalibrated logit margin
        z_1 - z_0 of the fused head (B,)}."""
        from damer_lite.training.loop import predict as model_predict

        out = {}
        for t, c in self.checkpoints.items():
            m, k = c.standardise(mel, coch)  # (B, n_mels, T), (B, n_coch, T) float32
            out[t] = model_predict(c.model, m, k, self.device, batch_size=self.batch_size)["margin_fuse"].astype(
                np.float64)
        return out

    def calibrate(self, target: str, logits) -> np.ndarray:
        """P(class 1) = sigmoid(logit / T) with the `target` checkpoint's temperature (T = 1: the raw softmax)."""
        from damer_lite.training.calibration import sigmoid

        return sigmoid(np.asarray(logits, dtype=np.float64) / self.checkpoints[target].temperature)

    def probabilities(self, mel: np.ndarray, coch: np.ndarray, calibrated: bool = True) -> dict[str, np.ndarray]:
        """-> {target: P(class 1) of the fused head (B,)}: calibrated with the checkpoint's temperature, or the
        raw softmax probability sigmoid(logit) with calibrated=False."""
        from damer_lite.training.calibration import sigmoid

        return {t: self.calibrate(t, z) if calibrated else sigmoid(z) for t, z in self.logits(mel, coch).items()}

    def predict_segments(self, segments, progress: bool = True) -> pd.DataFrame:
        """Rows for explicit segments (Segment objects or (path, start_s, end_s) tuples)."""
        from damer_lite.features.audio import AudioError

        if progress:
            from damer_lite.progress import tqdm
        segs = [s if isinstance(s, Segment) else Segment(str(s[0]), Path(s[0]).name, 0, s[1], s[2]) for s in segments]
        rows: list[dict] = []
        buf: list[tuple[Segment, dict]] = []

        def flush() -> None:
            if not buf:
                return
            logits = self.logits(np.stack([f["mel"] for _, f in buf]), np.stack([f["coch"] for _, f in buf]))
            probs = {t: self.calibrate(t, z) for t, z in logits.items()}
            for i, (seg, f) in enumerate(buf):
                rows.append(_row(seg, float(f["start_s"]), float(f["end_s"]),
                                 **{t: float(p[i]) for t, p in probs.items()},
                                 logits={t: float(z[i]) for t, z in logits.items()}))
            buf.clear()

        bar = None
        if progress:
            bar = tqdm(segs, desc="predict", unit="window" if any(s.window for s in segs) else "track", leave=False)
        for seg in bar if bar is not None else segs:
            try:
                f = self.features(seg.path, seg.start_s, seg.end_s)
            except AudioError as e:
                rows.append(_row(seg, error=e.reason))
                continue
            except Exception as e:  # a bad file never stops the batch
                rows.append(_row(seg, error=f"{type(e).__name__}: {e}"))
                continue
            buf.append((seg, f))
            if len(buf) >= self.batch_size:
                flush()
        flush()
        if bar is not None:
            bar.close()
        return _frame(rows, self.targets)

    def predict(self, paths, window_s: float | None = None, hop_s: float | None = None,
                max_span_s: float = MAX_SPAN_S, progress: bool = True) -> pd.DataFrame:
        """Predict every audio file in `paths` (files, folders, globs); see the module docstring."""
        files, missing, skipped = find_audio(paths)
        segments, errors = self.plan(files, window_s, hop_s, max_span_s)
        errors = [_row(Segment(p, Path(p).name, 0, None, None), error=r) for p, r in missing] + errors
        df = self.predict_segments(segments, progress=progress)
        if errors:
            df = pd.concat([df, _frame(errors, self.targets)], ignore_index=True)
        order = {str(f): i for i, f in enumerate(files)}
        df["_o"] = df["path"].map(order).fillna(len(order))  # inputs that matched nothing go last
        out = df.sort_values(["_o", "window"], kind="stable").drop(columns="_o").reset_index(drop=True)
        out.attrs["skipped_non_audio"] = int(skipped)  # files inside folders/globs without an audio extension
        return out


def _row(seg: Segment, start_s=None, end_s=None, arousal=None, valence=None, error: str = "",
         logits: dict | None = None) -> dict:
    s0 = seg.start_s if start_s is None else start_s  # the span read (or planned, for an error row)
    s1 = seg.end_s if end_s is None else end_s
    logits = logits or {}
    return {"path": seg.path, "track": seg.track, "window": seg.window,
            "start_s": np.nan if s0 is None else s0, "end_s": np.nan if s1 is None else s1,
            "p_arousal": np.nan if arousal is None else arousal, "p_valence": np.nan if valence is None else valence,
            "logit_arousal": logits.get("arousal", np.nan), "logit_valence": logits.get("valence", np.nan),
            "note": seg.note, "error": error}


def _frame(rows: list[dict], targets) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=[c for c in COLUMNS if c not in ("arousal", "valence", "quadrant")])
    df["arousal"] = np.where(df["p_arousal"].isna(), "", np.where(df["p_arousal"] >= 0.5, "high", "low"))
    df["valence"] = np.where(df["p_valence"].isna(), "", np.where(df["p_valence"] >= 0.5, "positive", "negative"))
    df["quadrant"] = [quadrant(v, a) for v, a in zip(df["p_valence"], df["p_arousal"], strict=True)]
    df = df[COLUMNS]
    drop = [c for t in TARGETS if t not in targets for c in (f"p_{t}", f"logit_{t}", t)]
    if len(targets) < 2:
        drop.append("quadrant")
    return df.drop(columns=drop).astype({"window": int})


def summarise(df: pd.DataFrame) -> dict:
    """{'n_files', 'n_ok', 'n_failed', 'n_windows', 'n_window_errors', 'failed': [(track, reason)]}."""
    if df.empty:
        return {"n_files": 0, "n_ok": 0, "n_failed": 0, "n_windows": 0, "n_window_errors": 0, "failed": []}
    ok = df["error"].fillna("") == ""
    by_file = ok.groupby(df["path"], sort=False).any()  # a file counts as predicted if any span worked
    failed = [(Path(p).name, str(df.loc[df["path"] == p, "error"].iloc[0])) for p, good in by_file.items() if not good]
    in_ok_files = df["path"].map(by_file).astype(bool)
    return {"n_files": int(len(by_file)), "n_ok": int(by_file.sum()), "n_failed": int((~by_file).sum()),
            "n_windows": int(ok.sum()), "n_window_errors": int((~ok & in_ok_files).sum()), "failed": failed}


def summary_line(df: pd.DataFrame) -> str:
    s = summarise(df)
    skipped = int(df.attrs.get("skipped_non_audio", 0))
    line = f"predicted {s['n_ok']}/{s['n_files']} files ({s['n_windows']} spans)"
    if skipped:
        line += f"; {skipped} non-audio file{'s' * (skipped != 1)} skipped (not {', '.join(AUDIO_EXTENSIONS)})"
    if s["n_window_errors"]:
        line += f", {s['n_window_errors']} windows failed inside predicted files"
    if s["failed"]:
        shown = "; ".join(f"{t}: {r}" for t, r in s["failed"][:5])
        more = f"; ... {len(s['failed']) - 5} more" if len(s["failed"]) > 5 else ""
        line += f"; {s['n_failed']} failed: {shown}{more}"
    return line


# ------------------------------------------------------------------------------------------------ plots
def va_coordinates(df: pd.DataFrame) -> pd.DataFrame:
    """Per track (mean over its windows): x = 2 P(valence) - 1, y = 2 P(arousal) - 1, both in [-1, 1].

    These are the models' confidences mapped onto the circumplex axes, not valence/arousal ratings: 0 means
    "as likely positive as negative", +-1 means certain.
    """
    ok = df[(df["error"].fillna("") == "") & df["p_valence"].notna() & df["p_arousal"].notna()]
    g = ok.groupby("path", sort=False).agg(track=("track", "first"), p_valence=("p_valence", "mean"),
                                           p_arousal=("p_arousal", "mean"), n=("window", "size"))
    g["x"], g["y"] = 2 * g["p_valence"] - 1, 2 * g["p_arousal"] - 1
    g["quadrant"] = [quadrant(v, a) for v, a in zip(g["p_valence"], g["p_arousal"], strict=True)]
    return g.reset_index()


def plot_va(df: pd.DataFrame, ax=None, annotate: bool = True, trajectories: bool = True):
    """The V-A map: one point per track (x = 2 P(valence) - 1, y = 2 P(arousal) - 1); with windowed rows,
    each track's window-by-window path is drawn faintly behind its mean point."""
    import matplotlib.pyplot as plt

    if "p_valence" not in df or "p_arousal" not in df:
        raise ValueError("the V-A map needs both an arousal and a valence checkpoint")
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 5.5))
    pts = va_coordinates(df)
    ax.axhline(0, color="0.6", lw=0.8)
    ax.axvline(0, color="0.6", lw=0.8)
    for (xs, ys), name in zip(((1, 1), (-1, 1), (-1, -1), (1, -1)), QUADRANTS.values(), strict=True):
        ax.text(0.97 * xs, 0.97 * ys, name, ha="right" if xs > 0 else "left", va="top" if ys > 0 else "bottom",
                fontsize=8, color="0.4")
    colours = plt.get_cmap("tab10")
    for i, r in pts.iterrows():
        c = colours(i % 10)
        if trajectories and r["n"] > 1:
            w = df[(df["path"] == r["path"]) & (df["error"].fillna("") == "")]
            ax.plot(2 * w["p_valence"] - 1, 2 * w["p_arousal"] - 1, "-", color=c, lw=0.8, alpha=0.35)
        ax.plot(r["x"], r["y"], "o", color=c, ms=7, mec="k", mew=0.5)
        if annotate:
            ax.annotate(_short(r["track"]), (r["x"], r["y"]), xytext=(4, 4), textcoords="offset points", fontsize=7)
    ax.set(xlim=(-1.05, 1.05), ylim=(-1.05, 1.05), aspect="equal",
           xlabel="2 P(positive valence) - 1", ylabel="2 P(high arousal) - 1")
    ax.set_title("predicted quadrant per track")
    return ax


def plot_timeline(df: pd.DataFrame, track: str | None = None, ax=None):
    """P(high arousal) and P(positive valence) against time (window centres) for one track (default: the
    first with more than one window)."""
    import matplotlib.pyplot as plt

    ok = df[df["error"].fillna("") == ""]
    if track is None:
        counts = ok.groupby("path", sort=False).size()
        multi = counts[counts > 1]
        if multi.empty:
            raise ValueError("no track has more than one window; predict with window_s to get a timeline")
        path = multi.index[0]
    else:
        hit = ok[(ok["track"] == track) | (ok["path"] == str(track))]
        if hit.empty:
            raise ValueError(f"no predicted windows for track {track!r}")
        path = hit["path"].iloc[0]
    w = ok[ok["path"] == path]
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 2.8))
    t = (w["start_s"] + w["end_s"]) / 2
    for col, lab, c in (("p_arousal", "P(high arousal)", "tab:red"), ("p_valence", "P(positive valence)", "tab:blue")):
        if col in w:
            ax.plot(t, w[col], ".-", color=c, label=lab)
    ax.axhline(0.5, color="0.6", lw=0.8, ls="--")
    ax.set(ylim=(-0.02, 1.02), xlabel="time (s, window centre)", ylabel="probability",
           title=_short(w["track"].iloc[0], 60))
    ax.legend(loc="upper right", fontsize=8)
    return ax


def calibration_table(pred: Predictor) -> pd.DataFrame:
    """Per checkpoint: the temperature, how many validation tracks fitted it, and NLL / ECE of the fused head
    before ('raw') and after ('calibrated') on the validation split and, scored only, on the test split."""
    rows = {}
    for t, c in pred.checkpoints.items():
        cal = c.card.get("calibration") if c.calibrated else {}
        row = {"temperature": c.temperature, "n_val": cal.get("n_val"), "at_bound": cal.get("at_bound")}
        for split in ("val", "test"):
            for k in ("nll", "ece"):
                for tag in ("raw", "calibrated"):
                    row[f"{split}_{k}_{tag}"] = cal.get(f"{split}_{k}_{tag}")
        rows[t] = row
    return pd.DataFrame(rows)


def plot_reliability(card: dict, axes=None):
    """The reliability diagram of a checkpoint's model card (its 'calibration' entry): per bin of P(class 1),
    the observed share of class 1 against the mean predicted probability, raw and calibrated, on the
    validation split (where T was fitted) and the test split (scored only); marker area ~ tracks in the bin."""
    import matplotlib.pyplot as plt

    cal = card.get("calibration")
    if not isinstance(cal, dict):
        raise ValueError(f"the {card.get('target')} checkpoint has no calibration "
                         "(exported from a run without a validation split)")
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(8, 4), sharey=True)
    for ax, split in zip(axes, ("val", "test"), strict=True):
        ax.plot([0, 1], [0, 1], color="0.6", lw=0.8, ls="--", label="perfectly calibrated")
        n_total = 0
        for tag, colour, label in (("raw", "tab:gray", "raw (T = 1)"),
                                   ("calibrated", "tab:green", f"calibrated (T = {cal['temperature']:.2f})")):
            rel = pd.DataFrame(cal.get(f"{split}_reliability_{tag}") or [])
            if rel.empty:
                continue
            rel = rel[rel["n"] > 0]
            n_total = int(rel["n"].sum())
            ece = cal.get(f"{split}_ece_{tag}")
            ax.plot(rel["mean_predicted"], rel["observed"], "-", color=colour, lw=1, alpha=0.7)
            ax.scatter(rel["mean_predicted"], rel["observed"], s=12 + 200 * rel["n"] / max(n_total, 1), color=colour,
                       edgecolor="k", lw=0.4, label=f"{label}, ECE {ece:.3f}" if ece is not None else label, zorder=3)
        what = "validation (T fitted here)" if split == "val" else "test (scored only)"
        ax.set(xlim=(0, 1), ylim=(0, 1), aspect="equal", xlabel="mean predicted P(class 1) in bin",
               title=f"{card.get('target')}: {what}, n = {n_total}")
        ax.legend(loc="upper left", fontsize=7)
    axes[0].set_ylabel("observed share of class 1")
    return axes


def plot_predictions(df: pd.DataFrame, max_timelines: int = 6):
    """A figure with the V-A map and, for windowed predictions, up to `max_timelines` track timelines."""
    import matplotlib.pyplot as plt

    ok = df[df["error"].fillna("") == ""]
    counts = ok.groupby("path", sort=False).size()
    multi = list(counts[counts > 1].index[:max_timelines])
    both = "p_valence" in df and "p_arousal" in df
    if not multi:
        if not both:
            raise ValueError("nothing to plot: the V-A map needs both checkpoints, timelines need windows")
        fig, ax = plt.subplots(figsize=(5.5, 5.5))
        plot_va(df, ax)
        fig.tight_layout()
        return fig
    n = len(multi)
    fig = plt.figure(figsize=(12 if both else 7, max(4.5, 2.0 * n)))
    gs = fig.add_gridspec(n, 2 if both else 1, width_ratios=[1, 1.4] if both else [1])
    if both:
        plot_va(df, fig.add_subplot(gs[:, 0]))
    for i, path in enumerate(multi):
        ax = fig.add_subplot(gs[i, 1 if both else 0])
        plot_timeline(df, str(path), ax=ax)
        if i > 0 and ax.get_legend() is not None:  # one legend is enough
            ax.get_legend().remove()
        if i < n - 1:
            ax.set_xlabel("")
    fig.tight_layout()
    return fig


def _short(name: str, n: int = 18) -> str:
    name = str(name)
    return name if len(name) <= n else name[: n - 1] + "…"
