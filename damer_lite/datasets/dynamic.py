"""Dynamic (per-step) V-A labels of any manifest row: averaged curves, per-annotator curves, alignment to
feature frames, and the checks `manifest.validate(dynamic=True)` and `damer-lite validate` report.

Where the labels come from (the row's `dataset` and `dynamic_ref`; layouts in docs/dynamic_labels.md):

    dataset              averaged curve                               per-annotator curves
    memo2496, synthmemo  {valence,arousal}_all_average.csv, 1 Hz      Label_pseudonymous.json, 1 Hz
    deam                 dynamic (per second annotations)/*.csv, 2 Hz  annotations per each rater/..., 2 Hz
    pmemo                annotations/dynamic_annotations.csv, 2 Hz    not published
    emomusic             {valence,arousal}_cont_average.csv, 2 Hz     not published

Every value is on [-1, 1] (PMEmo's [0, 1] is mapped by 2x - 1 in its loader). A sample at time t stands
for the interval [t, t + step) with the dataset's step (`STEP_S`): the convention `memo2496.load` uses for
its static labels and `deam.load` for the duration of a full song.

The averaged curve is (time_s, valence, arousal) sorted by time; empty tails (songs shorter than the
widest one in a wide table) are not rows; a time labelled in only one dimension keeps NaN in the other.
Per-annotator curves are one long table (annotator, time_s, valence, arousal).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from damer_lite.datasets import common, deam, emomusic, manifest, memo2496, pmemo

STEP_S = {"memo2496": 1.0, "synthmemo": 1.0, "deam": 0.5, "pmemo": 0.5, "emomusic": 0.5}
RATERS_PUBLISHED = ("memo2496", "synthmemo", "deam")  # PMEmo's and emoMusic's per-rater curves are not public
MAX_NAN_RUN_S = 1.0  # a hole in a curve longer than this is reported (1 Hz: 2 samples; 2 Hz: 3 samples)
LENGTH_TOLERANCE_S = 2.0  # |end of the curve - audio duration| above this is reported
MIN_COVERAGE = 0.5  # a frame needs labels over at least this share of its span
CURVE_COLUMNS = ["time_s", "valence", "arousal"]
RATER_COLUMNS = ["annotator", "time_s", "valence", "arousal"]


@dataclass
class DynamicLabels:
    """The dynamic labels of one manifest row.

    curve:   DataFrame(time_s, valence, arousal); empty when `missing` says why there is none.
    raters:  DataFrame(annotator, time_s, valence, arousal), or None where per-annotator curves are not
             published for the dataset, not present in this copy, or not asked for.
    skipped: kind -> files not read for this track (DEAM: 'no_workerid_column', 'missing_file',
             'duplicate_worker'; see `deam.rater_curves`).
    """

    track_id: str
    dataset: str
    step_s: float
    curve: pd.DataFrame
    raters: pd.DataFrame | None = None
    skipped: dict[str, list[str]] = field(default_factory=dict)
    missing: str = ""


# --------------------------------------------------------------------------------------------- reading
def _key(dataset) -> str:
    key = str(dataset).lower().replace("-", "").replace("_", "")
    key = "emomusic" if key == "1000songs" else key
    if key not in STEP_S:
        raise ValueError(f"no dynamic labels known for dataset {dataset!r}; known: {sorted(STEP_S)}")
    return key


def source_of(row) -> tuple[str, Path | None]:
    """(dataset, folder the loader reads the dynamic labels from) of a manifest row, from its `dynamic_ref`.

    `dynamic_ref` is `<root>::<id>` for Memo2496/SynthMemo and `<file>#<id>` for the others (DEAM's and
    emoMusic's `<file>` is `<folder>/{valence,arousal}....csv`). The folder is None when the ref is empty.
    """
    dataset = _key(row["dataset"])
    ref = row.get("dynamic_ref", "") if hasattr(row, "get") else row["dynamic_ref"]
    if not isinstance(ref, str) or not ref.strip():
        return dataset, None
    if dataset in ("memo2496", "synthmemo"):
        return dataset, Path(ref.rpartition("::")[0])
    path = Path(ref.rpartition("#")[0])
    if dataset == "deam":  # .../annotations averaged per song/dynamic (per second annotations)/{...}.csv
        return dataset, path.parent.parent
    return dataset, path.parent


def _averaged_table(dataset: str, folder: Path) -> dict[str, pd.DataFrame]:
    if dataset in ("memo2496", "synthmemo"):
        table = memo2496.dynamic_table(folder)
    else:
        table = {"deam": deam, "pmemo": pmemo, "emomusic": emomusic}[dataset].dynamic_table(folder)
    table = table.dropna(subset=["valence", "arousal"], how="all")
    return {str(tid): part[CURVE_COLUMNS].sort_values("time_s").reset_index(drop=True)
            for tid, part in table.groupby("track_id", sort=False)}


def _memo_raters(folder: Path) -> dict[str, pd.DataFrame] | None:
    path = folder / "Label_pseudonymous.json"
    if not path.is_file():
        return None
    long = memo2496.annotator_labels(folder)
    for dim, key in (("valence", "V"), ("arousal", "A")):
        long[dim] = common.strict_float(long[dim], path, key, long["song_id"])
    long = long.rename(columns={"annotator_id": "annotator"})
    return {str(tid): part[RATER_COLUMNS].reset_index(drop=True) for tid, part in long.groupby("song_id", sort=False)}


def iter_labels(df: pd.DataFrame, raters: bool = True) -> Iterator[DynamicLabels]:
    """The `DynamicLabels` of every row of a manifest, in row order; each source file is read once.

    A row without labels comes back with an empty curve and `missing` set ('no dynamic_ref', 'no curve
    in <folder>', 'all values empty'). A file with a drifted layout (missing columns, a non-number)
    raises `LayoutError` naming it; a missing averaged file raises FileNotFoundError.
    """
    averaged: dict[tuple[str, Path], dict[str, pd.DataFrame]] = {}
    memo_raters: dict[Path, dict[str, pd.DataFrame] | None] = {}
    for _, row in df.iterrows():
        dataset, folder = source_of(row)
        tid = str(row["track_id"])
        out = DynamicLabels(tid, dataset, STEP_S[dataset], pd.DataFrame(columns=CURVE_COLUMNS, dtype=float))
        if folder is None:
            out.missing = "no dynamic_ref"
            yield out
            continue
        if (dataset, folder) not in averaged:
            averaged[(dataset, folder)] = _averaged_table(dataset, folder)
        table = averaged[(dataset, folder)]
        curve = table.get(tid)
        if curve is None:
            curve = table.get(common.norm_id(tid))
        if curve is None or curve.empty:
            out.missing = f"no curve in {folder}"
        else:
            out.curve = curve.copy()
        if raters and dataset in ("memo2496", "synthmemo"):
            if folder not in memo_raters:
                memo_raters[folder] = _memo_raters(folder)
            table = memo_raters[folder]
            out.raters = table.get(tid).copy() if table is not None and tid in table else None
        elif raters and dataset == "deam":
            out.raters = deam.rater_curves(folder, tid, out.skipped)
        yield out


def labels(row, raters: bool = True) -> DynamicLabels:
    """The dynamic labels of one manifest row (a Series or a dict with `track_id`, `dataset`,
    `dynamic_ref`): the averaged curve and, where published, the per-annotator curves.

    Raises KeyError naming the reason when the row has no averaged curve. For many rows use
    `iter_labels`, which reads each file once.
    """
    frame = pd.DataFrame([dict(row)])
    out = next(iter_labels(frame, raters=raters))
    if out.missing:
        raise KeyError(f"track {out.track_id!r} ({out.dataset}): {out.missing}")
    return out


# ------------------------------------------------------------------------------------------- alignment
def frame_starts(n_frames: int, hop_s: float, offset_s: float = 0.0) -> np.ndarray:
    """Start times (s) of `n_frames` frames `hop_s` apart, the first at `offset_s`.

    For damer-lite's features the offset is the row's `window_start_s` (features are computed on the
    analysis window) and the hop `hop_length / sr` for frames, or `(window_end_s - window_start_s) / T`
    for the T pooled tokens.
    """
    if n_frames < 0 or hop_s <= 0:
        raise ValueError(f"need n_frames >= 0 and hop_s > 0, got {n_frames}, {hop_s}")
    return float(offset_s) + float(hop_s) * np.arange(int(n_frames), dtype=float)


def _cumulative(times: np.ndarray, values: np.ndarray, step: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Knots and the running integrals of coverage and of value of the piecewise-constant label function."""
    ok = np.isfinite(values)
    ends = np.minimum(times + step, np.append(times[1:], np.inf))  # a sample's interval stops at the next one
    widths = np.where(ok, ends - times, 0.0)
    knots = np.column_stack([times, ends]).ravel()
    cov = np.column_stack([np.zeros_like(widths), widths]).ravel().cumsum()
    val = np.column_stack([np.zeros_like(widths), widths * np.where(ok, values, 0.0)]).ravel().cumsum()
    return knots, cov, val


def align(curve: pd.DataFrame, starts, span_s: float | None = None, step_s: float | None = None,
          min_coverage: float = MIN_COVERAGE) -> pd.DataFrame:
    """The labels of feature frames: DataFrame(start_s, end_s, valence, arousal, coverage), one row a frame.

    The rule: a label sample at time t holds on [t, t + step) (cut short by the next sample); a frame
    [start, start + span) gets, per dimension, the mean of the labels over the part of its span they
    cover, each weighted by its overlap (a frame inside one sample's interval gets that sample; a frame
    over several gets their overlap-weighted mean). Empty or NaN samples cover nothing. When less than
    `min_coverage` of the span is covered the frame is NaN, so frames before the first label or after
    the last sample's interval are NaN, and frames straddling either end count only the covered part.
    `coverage` is the covered share of the span, the smaller of the two dimensions'.

    `starts`: frame start times in seconds (`frame_starts`); `span_s`: the span a frame stands for,
    default the spacing of `starts` (frames tile the time axis); `step_s`: the label step, default the
    median spacing of the curve's times.
    """
    starts = np.asarray(starts, dtype=float)
    if span_s is None:
        if starts.size < 2:
            raise ValueError("align: give span_s when there are fewer than 2 frames")
        span_s = float(np.median(np.diff(starts)))
    if span_s <= 0 or not 0.0 < min_coverage <= 1.0:
        raise ValueError(f"align: need span_s > 0 and 0 < min_coverage <= 1, got {span_s}, {min_coverage}")
    missing = [c for c in CURVE_COLUMNS if c not in curve.columns]
    if missing:
        raise ValueError(f"align: the curve lacks column(s) {missing}; it has {list(curve.columns)}")
    curve = curve.sort_values("time_s")
    times = curve["time_s"].to_numpy(dtype=float)
    if step_s is None:
        diffs = np.diff(np.unique(times))
        step_s = float(np.median(diffs)) if diffs.size else span_s
    ends = starts + span_s
    out = pd.DataFrame({"start_s": starts, "end_s": ends})
    coverage = np.ones_like(starts)
    for dim in ("valence", "arousal"):
        if times.size == 0:
            out[dim], coverage = np.nan, np.zeros_like(starts)
            continue
        knots, cov, val = _cumulative(times, curve[dim].to_numpy(dtype=float), step_s)
        c = np.interp(ends, knots, cov) - np.interp(starts, knots, cov)
        v = np.interp(ends, knots, val) - np.interp(starts, knots, val)
        share = c / span_s
        with np.errstate(invalid="ignore", divide="ignore"):
            out[dim] = np.where((share >= min_coverage - 1e-9) & (c > 0), v / c, np.nan)
        coverage = np.minimum(coverage, share)
    out["coverage"] = coverage
    return out


# ----------------------------------------------------------------------------------------------- checks
@dataclass
class DynamicCheck:
    """What `check` found: `report` (problems by kind, as `manifest.ValidationReport`), `details` (one row
    per manifest row) and `skipped` (kind -> per-rater files not read, by path)."""

    report: manifest.ValidationReport
    details: pd.DataFrame
    skipped: dict[str, list[str]] = field(default_factory=dict)


def longest_gap_s(curve: pd.DataFrame, step_s: float) -> float:
    """The longest run of missing or NaN samples (either dimension) between the first and last sample, in s.

    The curve is laid on the regular grid first time + k * step; a grid point is present when a sample
    with both values lies within a quarter step of it.
    """
    if curve.empty:
        return 0.0
    t = curve["time_s"].to_numpy(dtype=float)
    good = t[np.isfinite(curve[["valence", "arousal"]].to_numpy(dtype=float)).all(axis=1)]
    grid = t.min() + step_s * np.arange(int(round((t.max() - t.min()) / step_s)) + 1)
    if good.size == 0:
        return float(grid.size * step_s)
    near = np.abs(good[np.clip(np.searchsorted(good, grid), 0, good.size - 1)] - grid)
    near = np.minimum(near, np.abs(good[np.clip(np.searchsorted(good, grid) - 1, 0, good.size - 1)] - grid))
    present = near <= step_s / 4
    longest = run = 0
    for p in present:
        run = 0 if p else run + 1
        longest = max(longest, run)
    return float(longest * step_s)


def check(df: pd.DataFrame, raters: bool = False, max_nan_run_s: float = MAX_NAN_RUN_S,
          length_tolerance_s: float = LENGTH_TOLERANCE_S) -> DynamicCheck:
    """Dynamic-label problems of every row of a manifest, counted by kind (track ids):

    * `dynamic_missing`        no averaged curve (empty `dynamic_ref`, no row in the file, all empty);
    * `dynamic_nan_run`        a hole (missing or NaN samples) longer than `max_nan_run_s` inside the curve;
    * `dynamic_length_mismatch` the curve ends (last sample + step) more than `length_tolerance_s` before
                               or after the row's `duration_s` (not checked when the duration is unknown);
    * `dynamic_out_of_range`   a value outside [-1, 1];
    * with `raters`: `dynamic_rater_file_skipped` (a DEAM per-rater file without WorkerId, missing for one
      dimension, or with a repeated WorkerId; the files are in `skipped`) and `dynamic_no_raters` (the
      dataset publishes per-annotator curves but this track has none).

    Nothing is dropped: `details` has one row per manifest row (n_samples, start_s, end_s, duration_s,
    end_minus_duration_s, longest_gap_s, n_raters, missing).
    """
    rep = manifest.ValidationReport(n_rows=len(df))
    rows, skipped = [], {}
    durations = pd.to_numeric(df["duration_s"], errors="coerce") if "duration_s" in df.columns else None
    for i, lab in enumerate(iter_labels(df, raters=raters)):
        tid, curve, step = lab.track_id, lab.curve, lab.step_s
        dur = float(durations.iloc[i]) if durations is not None else float("nan")
        info = {"track_id": tid, "dataset": lab.dataset, "n_samples": len(curve), "start_s": np.nan,
                "end_s": np.nan, "duration_s": dur, "end_minus_duration_s": np.nan, "longest_gap_s": np.nan,
                "n_raters": np.nan, "missing": lab.missing}
        values = curve[["valence", "arousal"]].to_numpy(dtype=float)
        if not lab.missing and not np.isfinite(values).any():
            lab.missing = info["missing"] = "all values empty"
        if lab.missing:
            rep.add("dynamic_missing", [tid])
        else:
            info["start_s"] = float(curve["time_s"].min())
            info["end_s"] = float(curve["time_s"].max()) + step
            info["longest_gap_s"] = longest_gap_s(curve, step)
            if info["longest_gap_s"] > max_nan_run_s + 1e-9:
                rep.add("dynamic_nan_run", [tid])
            if np.isfinite(dur):
                info["end_minus_duration_s"] = info["end_s"] - dur
                if abs(info["end_minus_duration_s"]) > length_tolerance_s + 1e-9:
                    rep.add("dynamic_length_mismatch", [tid])
            if (np.abs(values[np.isfinite(values)]) > 1.0).any():
                rep.add("dynamic_out_of_range", [tid])
        if raters and lab.dataset in RATERS_PUBLISHED:
            if lab.raters is not None:
                info["n_raters"] = lab.raters["annotator"].nunique()
                rater_values = lab.raters[["valence", "arousal"]].to_numpy(dtype=float)
                if (np.abs(rater_values[np.isfinite(rater_values)]) > 1.0).any():
                    rep.add("dynamic_out_of_range", [tid])
            else:
                rep.add("dynamic_no_raters", [tid])
            if lab.skipped:
                rep.add("dynamic_rater_file_skipped", [tid])
                for kind, paths in lab.skipped.items():
                    skipped.setdefault(kind, []).extend(paths)
        rows.append(info)
    rep.problems = {k: list(dict.fromkeys(v)) for k, v in rep.problems.items()}
    rep.n_usable = len(df) - len(set().union(*rep.problems.values())) if rep.problems else len(df)
    return DynamicCheck(rep, pd.DataFrame(rows), skipped)
