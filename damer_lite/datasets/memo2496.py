"""Memo2496 loader (Li, Chen, Zhang, arXiv 2512.13998) — also reads SynthMemo, which uses the same layout.

Expected layout under `root` (as used by third-party code that reads the figshare release; not yet checked
against a real download from this project, see docs/paper_notes.md):

    MusicRawData/{uuid}.mp3            audio (any of .mp3/.flac/.wav/.ogg is accepted for the same stem)
    songs_info_all.csv                 song_id -> file_name (other columns are kept out of the manifest)
    valence_all_average.csv            wide: song_id, sample_0ms, sample_1000ms, ... (1 Hz, [-1, 1],
    arousal_all_average.csv                  NaN after the song ends)
    valence_all_std.csv, arousal_all_std.csv   same shape, the raters' standard deviation (optional)
    Label_pseudonymous.json            [{MID, AnnotatorID, V: [...], A: [...]}] per-annotator, 1 Hz (optional)

Static label = mean of the 1 Hz average curve over the analysis window (paper §III-C: 15-75 s; a track of
d < 75 s gets [15·d/75, d], the same share of skipped onset to the track's end, by
`manifest.analysis_window`; recorded per track). SynthMemo's loader asks for 3-63 s instead, so its ~20 s
tracks get [3·d/63, d]: about the first second skipped.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from damer_lite.datasets import common, manifest
from damer_lite.datasets.common import LayoutError

AUDIO_DIR = "MusicRawData"
INFO_FILE = "songs_info_all.csv"
AUDIO_EXTS = (".mp3", ".flac", ".wav", ".ogg")
DEFAULT_WINDOW = (15.0, 60.0)  # (start_s, length_s), paper §III-C
SYNTH_WINDOW = (3.0, 60.0)  # SynthMemo: its ~20 s tracks are < 63 s, so they get [3·d/63, d] (about 1 s skipped)
MIN_DURATION_S = 3.0
_SAMPLE_COL = re.compile(r"^sample_(\d+)ms$")


def _need(path: Path, what: str) -> Path:
    if not path.exists():
        raise LayoutError(f"Memo2496 layout: expected {what} at {path}, but it does not exist")
    return path


def _read_csv(path: Path, required: list[str]) -> pd.DataFrame:
    df = pd.read_csv(path, skipinitialspace=True)
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise LayoutError(f"{path}: expected column(s) {missing}; found {list(df.columns)}")
    return df


def read_wide(path: Path, strict: bool = False) -> tuple[pd.DataFrame, np.ndarray]:
    """A wide 1 Hz label table: returns (values indexed by song_id, sample times in seconds).

    Cells that are not numbers become NaN; with `strict` they raise `LayoutError` naming the file,
    the column and the song instead."""
    df = _read_csv(path, ["song_id"])
    cols = [c for c in df.columns if _SAMPLE_COL.match(c)]
    if not cols:
        found = list(df.columns)[:6]
        raise LayoutError(f"{path}: expected columns named sample_<ms>ms (e.g. sample_0ms); found {found}")
    times = np.array([int(_SAMPLE_COL.match(c).group(1)) / 1000.0 for c in cols])
    vals = df[cols].apply(pd.to_numeric, errors="coerce")
    if strict:
        bad = vals.isna() & df[cols].notna()
        if bad.any().any():
            col = bad.any().idxmax()
            row = bad[col].idxmax()
            raise LayoutError(f"{path}: column {col!r}, song_id {df.at[row, 'song_id']!r}: "
                              f"{df.at[row, col]!r} is not a number ({int(bad.sum().sum())} such cell(s))")
    vals.index = df["song_id"].astype(str)
    vals.columns = times
    return vals, times


def _find_audio(audio_dir: Path, file_name: str) -> str:
    cand = audio_dir / str(file_name)
    if cand.is_file():
        return str(cand.resolve())
    stem = Path(str(file_name)).stem
    for ext in AUDIO_EXTS:
        c = audio_dir / f"{stem}{ext}"
        if c.is_file():
            return str(c.resolve())
    return ""


def _duration(path: str) -> float:
    if not path:
        return float("nan")
    try:
        return float(sf.info(path).duration)
    except Exception:  # unreadable header: reported later by feature extraction / validate
        return float("nan")


def load(
    root,
    window: tuple[float, float] = DEFAULT_WINDOW,
    min_duration_s: float = MIN_DURATION_S,
    check_audio: bool = True,
    dataset: str = "memo2496",
    drop_invalid: bool = True,
) -> pd.DataFrame:
    """Read Memo2496 (or a copy in its layout) into the canonical manifest.

    Problems (missing audio, NaN or out-of-range labels, too short) are counted in a
    `ValidationReport` stored in `df.attrs['report']` and, with `drop_invalid`, removed from the table —
    never silently kept. A missing file or column raises `LayoutError` naming what was expected and where.
    """
    root = Path(root)
    _need(root, "the dataset folder")
    audio_dir = _need(root / AUDIO_DIR, f"the audio folder {AUDIO_DIR}/")
    info = _read_csv(_need(root / INFO_FILE, INFO_FILE), ["song_id", "file_name"])
    curves = {}
    for dim in ("valence", "arousal"):
        curves[dim], _ = read_wide(_need(root / f"{dim}_all_average.csv", f"{dim}_all_average.csv"))
        std_path = root / f"{dim}_all_std.csv"
        curves[f"{dim}_std"] = read_wide(std_path)[0] if std_path.exists() else None

    rows = []
    for sid, fname in zip(info["song_id"].astype(str), info["file_name"].astype(str), strict=True):
        path = _find_audio(audio_dir, fname)
        row = {"track_id": sid, "audio_path": path, "dataset": dataset}
        v = curves["valence"].loc[sid] if sid in curves["valence"].index else None
        a = curves["arousal"].loc[sid] if sid in curves["arousal"].index else None
        annotated = float("nan")  # seconds covered by the 1 Hz label curve: sample t covers [t, t + 1)
        if v is not None and v.notna().any():
            annotated = float(v.index[v.notna()].max() + 1.0)
        audio_dur = _duration(path) if check_audio else float("nan")
        row["duration_s"] = audio_dur if np.isfinite(audio_dur) else annotated
        span = np.nanmin([audio_dur, annotated]) if np.isfinite([audio_dur, annotated]).any() else 0.0
        w0, w1 = manifest.analysis_window(span, *window)
        row["window_start_s"], row["window_end_s"] = w0, w1
        for dim, curve in (("valence", v), ("arousal", a)):
            row[dim] = _window_mean(curve, w0, w1)
            sd = curves[f"{dim}_std"]
            row[f"{dim}_std"] = _window_mean(sd.loc[sid], w0, w1) if sd is not None and sid in sd.index else np.nan
        row["dynamic_ref"] = f"{root.resolve()}::{sid}"
        rows.append(row)
    df = pd.DataFrame(rows)
    style_path = root / "synth_truth" / "tracks.csv"
    if style_path.exists():  # SynthMemo: the style nuisance (timbre family) is known
        styles = pd.read_csv(style_path).set_index("song_id")["timbre"]
        styles.index = styles.index.astype(str)
        df["style"] = df["track_id"].map(styles)
    else:
        df["style"] = ""
    df = manifest.canonical(df)
    report = manifest.validate(df, check_audio=check_audio, min_duration_s=min_duration_s)
    missing_labels = df.loc[df["valence"].isna() & df["arousal"].isna(), "track_id"]
    report.add("unlabelled", missing_labels)
    if drop_invalid:
        df, _ = manifest.clean(df, check_audio=check_audio, min_duration_s=min_duration_s)
    df.attrs["report"] = report
    df.attrs["validation"] = report.summary()
    return df


def load_synthmemo(root, **options) -> pd.DataFrame:
    """SynthMemo through the same loader, with its own default window (tracks are ~20 s, not 75+)."""
    options.setdefault("window", SYNTH_WINDOW)
    options.setdefault("dataset", "synthmemo")
    return load(root, **options)


def _window_mean(curve: pd.Series | None, start: float, end: float) -> float:
    if curve is None:
        return float("nan")
    t = curve.index.to_numpy(dtype=float)
    sel = curve[(t >= start) & (t < end)]
    if sel.notna().sum() == 0:
        return float("nan")
    return float(sel.mean())


def dynamic_table(root) -> pd.DataFrame:
    """The per-second average (and sd where present) V-A of every track, in [-1, 1]: columns track_id,
    time_s, valence, [valence_std,] arousal[, arousal_std]. Seconds where both valence and arousal are
    empty (after the song's end) are dropped; a cell that is not a number raises `LayoutError`."""
    root = Path(root)
    parts = {}
    for dim in ("valence", "arousal"):
        for kind in ("average", "std"):
            path = root / f"{dim}_all_{kind}.csv"
            if kind == "std" and not path.exists():
                continue
            vals, _ = read_wide(_need(path, path.name), strict=True)
            long = vals.rename_axis("track_id").reset_index().melt(
                id_vars="track_id", var_name="time_s", value_name="value")
            parts[dim if kind == "average" else f"{dim}_std"] = long.astype({"time_s": float})
    out = common.join_dims(parts).dropna(subset=["valence", "arousal"], how="all")
    return out.reset_index(drop=True)


def dynamic_labels(root, track_id) -> pd.DataFrame:
    """Per-second average (and sd where present) V-A of one track: columns time_s, valence, arousal, ..."""
    table = dynamic_table(root)
    out = table[table["track_id"] == str(track_id)]
    if out.empty:
        raise KeyError(f"{Path(root) / 'valence_all_average.csv'}: no row for song_id {track_id}")
    return out.drop(columns="track_id").dropna(subset=["valence", "arousal"]).reset_index(drop=True)


def annotator_labels(root) -> pd.DataFrame:
    """Per-annotator ratings in long form: song_id, annotator_id, time_s, valence, arousal.

    An entry whose V and A curves differ in length keeps every second of the longer one, the shorter
    padded with NaN (nothing is cut), and the number of such entries is reported on stderr."""
    path = _need(Path(root) / "Label_pseudonymous.json", "Label_pseudonymous.json")
    entries = json.loads(path.read_text())
    rows = []
    uneven = []
    for i, e in enumerate(entries):
        missing = [k for k in ("MID", "AnnotatorID", "V", "A") if k not in e]
        if missing:
            raise LayoutError(f"{path}: entry {i} lacks key(s) {missing}")
        v_curve, a_curve = list(e["V"]), list(e["A"])
        if len(v_curve) != len(a_curve):
            uneven.append(f"{e['MID']}/{e['AnnotatorID']} (V {len(v_curve)}, A {len(a_curve)})")
        n = max(len(v_curve), len(a_curve))
        v_curve += [float("nan")] * (n - len(v_curve))
        a_curve += [float("nan")] * (n - len(a_curve))
        for s, (v, a) in enumerate(zip(v_curve, a_curve, strict=True)):
            rows.append((str(e["MID"]), str(e["AnnotatorID"]), float(s), v, a))
    if uneven:
        print(f"{path}: {len(uneven)} rating entries have V and A curves of different lengths (the shorter is "
              f"padded with NaN), e.g. {', '.join(uneven[:3])}", file=sys.stderr)
    return pd.DataFrame(rows, columns=["song_id", "annotator_id", "time_s", "valence", "arousal"])
