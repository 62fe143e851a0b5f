"""The canonical manifest: one table that every dataset loader returns.

Columns (see docs/paper_notes.md):
    track_id        str     unique within a dataset
    audio_path      str     absolute path of the audio file ("" when it could not be found)
    dataset         str     loader name (memo2496, synthmemo, pmemo, emomusic, deam)
    valence,arousal float   static labels rescaled to [-1, 1], 0 = neutral
Optional:
    valence_std, arousal_std   float  spread of the raters, same scale
    duration_s                 float  audio (or annotated) duration in seconds
    window_start_s, window_end_s float the analysis window actually used for the static label and features
    style                      str    style / timbre family where known
    dynamic_ref                str    where the dynamic / per-annotator labels live (loader specific)

Binary targets follow the paper: label > 0 is class 1 (§V-A).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from damer_lite.config import TARGETS

REQUIRED = ["track_id", "audio_path", "dataset", "valence", "arousal"]
OPTIONAL = [
    "valence_std",
    "arousal_std",
    "duration_s",
    "window_start_s",
    "window_end_s",
    "style",
    "dynamic_ref",
]
COLUMNS = REQUIRED + OPTIONAL


def canonical(df: pd.DataFrame) -> pd.DataFrame:
    """The manifest columns in canonical order; absent optional ones are added as NaN, extras kept last."""
    out = df.copy()
    for col in OPTIONAL:
        if col not in out.columns:
            out[col] = np.nan
    extras = [c for c in out.columns if c not in COLUMNS]
    return out[COLUMNS + extras]


@dataclass
class ValidationReport:
    """Counts and examples of every problem found in a manifest."""

    n_rows: int
    problems: dict[str, list[str]] = field(default_factory=dict)
    n_usable: int = 0

    def add(self, kind: str, track_ids) -> None:
        ids = [str(t) for t in track_ids]
        if ids:
            self.problems.setdefault(kind, []).extend(ids)

    def summary(self, max_examples: int = 3) -> str:
        lines = [f"{self.n_rows} rows, {self.n_usable} usable"]
        for kind, ids in sorted(self.problems.items()):
            ex = ", ".join(ids[:max_examples]) + (", ..." if len(ids) > max_examples else "")
            lines.append(f"  {kind}: {len(ids)} (e.g. {ex})")
        return "\n".join(lines)


def validate(
    df: pd.DataFrame, check_audio: bool = True, min_duration_s: float | None = None, dynamic: bool = False
) -> ValidationReport:
    """Report missing columns, missing audio, NaN or out-of-range labels, duplicated ids, short tracks.

    `dynamic=True` also reports dynamic-label problems (`dynamic_missing`, `dynamic_nan_run`,
    `dynamic_length_mismatch`, `dynamic_out_of_range`; see `dynamic.check`, default thresholds), which
    `clean(df, dynamic=True)` then drops, for tasks that need the curves. Off by default: the static
    task does not need them.
    """
    missing_cols = [c for c in REQUIRED if c not in df.columns]
    if missing_cols:
        raise ValueError(f"manifest lacks required columns {missing_cols}; it has {list(df.columns)}")
    rep = ValidationReport(n_rows=len(df))
    ids = df["track_id"].astype(str)
    rep.add("duplicate_track_id", ids[ids.duplicated(keep="first")])
    for col in TARGETS:
        vals = pd.to_numeric(df[col], errors="coerce")
        rep.add(f"nan_{col}", ids[vals.isna()])
        rep.add(f"out_of_range_{col}", ids[(vals < -1.0) | (vals > 1.0)])
    if check_audio:
        paths = df["audio_path"].fillna("").astype(str)
        exists = np.array([bool(p) and Path(p).is_file() for p in paths])
        rep.add("missing_audio", ids[~exists])
    if min_duration_s is not None and "duration_s" in df.columns:
        dur = pd.to_numeric(df["duration_s"], errors="coerce")
        rep.add("too_short", ids[dur < min_duration_s])
    if dynamic:
        from damer_lite.datasets import dynamic as dyn  # the loaders it reads with import this module

        for kind, kind_ids in dyn.check(df).report.problems.items():
            rep.add(kind, kind_ids)
    rep.n_usable = int(_keep_mask(df, rep).sum())
    return rep


def _keep_mask(df: pd.DataFrame, rep: ValidationReport) -> pd.Series:
    """Rows free of problems; of rows sharing a track_id, the first is kept."""
    ids = df["track_id"].astype(str)
    bad = set()
    for kind, kind_ids in rep.problems.items():
        if kind != "duplicate_track_id":
            bad.update(kind_ids)
    return ~ids.isin(bad) & ~ids.duplicated(keep="first")


def clean(df: pd.DataFrame, **kwargs) -> tuple[pd.DataFrame, ValidationReport]:
    """Drop every row that `validate` flags; return the usable rows and the report (never silent)."""
    rep = validate(df, **kwargs)
    out = df.loc[_keep_mask(df, rep)].reset_index(drop=True)
    out.attrs["validation"] = rep.summary()
    return out, rep


def binary_targets(df: pd.DataFrame) -> pd.DataFrame:
    """Add `arousal_bin` and `valence_bin` (1 where the label > 0, as in the paper's §V-A)."""
    out = df.copy()
    for col in TARGETS:
        out[f"{col}_bin"] = (out[col].astype(float) > 0).astype(np.int64)
    return out


def split(
    df: pd.DataFrame,
    target: str,
    seed: int,
    test_size: float | int = 0.3,
    val_size: float = 0.0,
) -> dict[str, np.ndarray]:
    """Stratified train/test split (70/30 by default) of one binary target and seed.

    `test_size`: a fraction in (0, 1) of the tracks, or a whole number of test tracks (an int >= 1, fewer than
    the tracks): a design can hold the training set's size and size the test set for power (docs/performance.md).
    A fraction and the count it rounds up to (sklearn: ceil(test_size * n)) give the same split.
    `val_size` > 0 carves a stratified validation split out of the *training* part (a fraction of
    train), so that model selection never needs the test split. Returns positional indices.
    """
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
    test_size = check_test_size(test_size, len(df))
    y = (df[target].to_numpy(dtype=float) > 0).astype(int)
    if np.bincount(y, minlength=2).min() < 2:
        raise ValueError(f"{target}: need at least 2 tracks per class to stratify, got counts {np.bincount(y)}")
    idx = np.arange(len(df))
    train, test = train_test_split(idx, test_size=test_size, random_state=seed, stratify=y)
    out = {"train": np.sort(train), "test": np.sort(test)}
    if val_size > 0:
        tr, va = train_test_split(out["train"], test_size=val_size, random_state=seed, stratify=y[out["train"]])
        out["train"], out["val"] = np.sort(tr), np.sort(va)
    return out


def check_test_size(test_size, n_tracks: int | None = None) -> float | int:
    """A test size as `split` takes it: a float fraction in (0, 1) or an int count in [1, n_tracks); a string
    (a command-line value) is read as a count when it is a whole number >= 1 ('300'), else as a fraction
    ('0.3'). Raises ValueError naming the value otherwise."""
    value = test_size
    if isinstance(value, str):
        text = value.strip()
        try:
            value = int(text) if text.isdigit() else float(text)
        except ValueError:
            raise ValueError(f"test size must be a fraction in (0, 1) or a number of test tracks, "
                             f"got {test_size!r}") from None
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"test size must be a fraction in (0, 1) or a number of test tracks, got {test_size!r}")
    if isinstance(value, (int, np.integer)):
        value = int(value)
        if value < 1 or (n_tracks is not None and value >= n_tracks):
            limit = f"[1, {n_tracks})" if n_tracks is not None else ">= 1"
            raise ValueError(f"test size {value} tracks is outside {limit}")
        return value
    value = float(value)
    if not 0.0 < value < 1.0:
        raise ValueError(f"test_size must be in (0, 1), got {test_size}")
    return value


def analysis_window(duration_s: float, start_s: float, length_s: float) -> tuple[float, float]:
    """The effective analysis window for a track of `duration_s` seconds.

    The requested window is [start, start + length] (paper: 15-75 s). A track too short for it keeps the
    same *proportion* of skipped onset and ends at the track's end: [start * d / (start + length), d].
    The rule is continuous in d (a 74 s track gets 14.8-74 s, a 45 s clip 9-45 s), so tracks of nearly
    equal length get nearly equal windows.
    """
    if duration_s >= start_s + length_s:
        return float(start_s), float(start_s + length_s)
    head = start_s * duration_s / (start_s + length_s) if start_s + length_s > 0 else 0.0
    return float(head), float(duration_s)
