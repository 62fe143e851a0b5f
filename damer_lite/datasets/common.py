"""Helpers shared by the loaders of the published datasets (PMEmo2019, 1000songs/emoMusic, DEAM).

Everything here deals with the quirks of files as they are distributed:

* the same CSV sits in different folders in different copies of a dataset -> `find_file` tries a list of
  candidate places (then a shallow search) and, when it fails, names what it expected and where it looked;
* CSV values and column names padded with spaces or tabs -> `read_csv` strips both, `pick_columns` maps
  published column names (case/space-insensitive) onto canonical ones or raises `LayoutError`;
* audio shipped as mp3 but often converted to flac/wav/ogg -> `audio_index` finds a file for a stem with
  any of `AUDIO_EXTS`;
* every loader ends with `finish`, which runs `manifest.clean` and attaches the problem report to the
  returned table (`df.attrs`), so that nothing is dropped silently.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from damer_lite.datasets import manifest

AUDIO_EXTS = ("mp3", "flac", "wav", "ogg")
SEARCH_DEPTH = 4  # how many folder levels below the root `find_file` searches after its candidates


class LayoutError(ValueError):
    """The files on disk do not have the layout a loader expects (missing file, renamed column, ...)."""


# ----------------------------------------------------------------------------------------------- files
def resolve_root(root, markers: Sequence[str], nested: Sequence[str] = ()) -> Path:
    """The dataset folder: `root`, or one of its `nested` sub-folders when only that one holds a marker.

    Lets a user point at either `.../PMEmo2019` or the folder that contains it.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"dataset root {str(root)!r} is not a folder")
    root = root.resolve()
    if any((root / m).exists() for m in markers):
        return root
    for name in nested:
        sub = root / name
        if sub.is_dir() and any((sub / m).exists() for m in markers):
            return sub
    return root


def _shallow_search(root: Path, name: str, want_dir: bool, depth: int = SEARCH_DEPTH) -> list[Path]:
    """Every path called `name` (case-insensitive) at most `depth` levels below `root`, shallowest first."""
    hits: list[Path] = []
    target = name.lower()
    base_depth = len(root.parts)
    for dirpath, dirnames, filenames in os.walk(root):
        level = len(Path(dirpath).parts) - base_depth
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        if level >= depth:
            dirnames[:] = []
        pool = dirnames if want_dir else filenames
        hits.extend(Path(dirpath) / p for p in pool if p.lower() == target)
    return sorted(hits, key=lambda p: (len(p.parts), str(p)))


def _find(root, candidates: Sequence[str], what: str, want_dir: bool, search: bool) -> Path:
    root = Path(root)
    check = Path.is_dir if want_dir else Path.is_file
    for cand in candidates:
        p = root / cand
        if check(p):
            return p
    if search:
        names = []
        for cand in candidates:
            name = Path(cand).name
            if name not in names:
                names.append(name)
        for name in names:
            hits = _shallow_search(root, name, want_dir)
            if hits:
                return hits[0]
    kind = "folder" if want_dir else "file"
    tried = "\n  ".join(str(root / c) for c in candidates)
    extra = f" (and searched {SEARCH_DEPTH} levels below {root} for it)" if search else ""
    raise FileNotFoundError(f"{what}: expected {kind} not found. Looked in:\n  {tried}{extra}")


def find_file(root, candidates: Sequence[str], what: str, search: bool = True) -> Path:
    """The first of `candidates` (paths relative to `root`) that is a file.

    When none is, and `search` is true, the first file with the same base name found at most
    `SEARCH_DEPTH` levels below `root`. Raises `FileNotFoundError` naming `what` and every place tried.
    """
    return _find(root, candidates, what, want_dir=False, search=search)


def find_dir(root, candidates: Sequence[str], what: str, search: bool = True) -> Path:
    """Like `find_file`, for a folder."""
    return _find(root, candidates, what, want_dir=True, search=search)


def find_optional(
    root, candidates: Sequence[str], want_dir: bool = False, search: bool = True
) -> Path | None:
    """Like `find_file` / `find_dir`, but None when nothing is found."""
    try:
        return _find(root, candidates, "", want_dir=want_dir, search=search)
    except FileNotFoundError:
        return None


# ------------------------------------------------------------------------------------------------- CSV
def _norm_name(name) -> str:
    return re.sub(r"\s+", " ", str(name).replace("\ufeff", "")).strip().lower()


def read_csv(path) -> pd.DataFrame:
    """Read a published CSV with every value as a stripped string ("" -> NaN) and stripped column names.

    Values padded with spaces or tabs (1000songs' `songs_info.csv`) and column names with leading
    spaces (DEAM's ` valence_mean`) come out clean; a trailing separator at the end of rows is ignored.
    Files that turn out to be tab- or semicolon-separated are re-read with that separator. Columns
    that are empty and unnamed are dropped.
    """
    path = Path(path)

    def _read(sep: str, encoding: str) -> pd.DataFrame:
        # index_col=False: a trailing separator on every row must not turn the ids into the index
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", pd.errors.ParserWarning)
            return pd.read_csv(
                path, sep=sep, dtype=str, keep_default_na=False, encoding=encoding, index_col=False
            )

    try:
        try:
            df = _read(",", "utf-8-sig")
        except UnicodeDecodeError:
            df = _read(",", "latin-1")
    except pd.errors.ParserError as e:
        raise LayoutError(f"{path}: cannot be parsed as a comma-separated file ({e})") from e
    except pd.errors.EmptyDataError as e:
        raise LayoutError(f"{path}: the file is empty") from e
    if df.shape[1] == 1:
        header = str(df.columns[0])
        for sep in ("\t", ";"):
            if sep in header:
                df = _read(sep, "utf-8-sig")
                break
    df.columns = [re.sub(r"\s+", " ", str(c).replace("\ufeff", "")).strip() for c in df.columns]
    for col in df.columns:
        df[col] = df[col].str.strip().replace("", np.nan)
    unnamed = [c for c in df.columns if (c == "" or c.startswith("Unnamed:")) and df[c].isna().all()]
    return df.drop(columns=unnamed)


def pick_columns(
    df: pd.DataFrame,
    spec: dict[str, Sequence[str]],
    path,
    optional: Iterable[str] = (),
) -> pd.DataFrame:
    """Select and rename columns: `spec` maps a canonical name to the accepted published names.

    Names are compared case-, space- and tab-insensitively. A missing column that is not in `optional`
    raises `LayoutError` naming the file, the expected column and the columns the file has; a
    missing optional column comes back as all-NaN.
    """
    optional = set(optional)
    lookup = {_norm_name(c): c for c in df.columns}
    out = {}
    for canon, names in spec.items():
        found = next((lookup[_norm_name(n)] for n in names if _norm_name(n) in lookup), None)
        if found is None:
            if canon in optional:
                out[canon] = pd.Series(np.nan, index=df.index)
                continue
            alts = f" (or {', '.join(repr(n) for n in names[1:])})" if len(names) > 1 else ""
            raise LayoutError(
                f"{path}: expected column {names[0]!r}{alts}; the file has columns {list(df.columns)}"
            )
        out[canon] = df[found]
    return pd.DataFrame(out, index=df.index)


def norm_id(value) -> str:
    """A track id as a clean string: '  12 ' -> '12', '12.0' -> '12', NaN -> ''."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    s = str(value).strip()
    if re.fullmatch(r"\d+\.0*", s):
        s = s.split(".")[0]
    return s


def to_float(series: pd.Series) -> pd.Series:
    """Numeric values; anything unparsable becomes NaN (and is then reported by `manifest.validate`)."""
    return pd.to_numeric(series, errors="coerce").astype(float)


def strict_float(series: pd.Series, what, column, ids: pd.Series | None = None) -> pd.Series:
    """Numeric values; empty cells become NaN, but a cell that is not a number raises `LayoutError`
    naming `what` (the file), the column, the row (its id in `ids` when given) and the value."""
    out = to_float(series)
    bad = out.isna() & series.notna() & (series.astype(str).str.strip().str.lower() != "nan")
    if bad.any():
        i = bad.idxmax()
        where = f"row {ids.loc[i]!r}" if ids is not None else f"line {int(i) + 2}"
        raise LayoutError(
            f"{what}: column {column!r}, {where}: {series.loc[i]!r} is not a number "
            f"({int(bad.sum())} such cell(s) in the column)"
        )
    return out


def parse_clock(value) -> float:
    """Seconds from '75.3', '1:15.3', '01:15' or '0:01:15' (NaN when empty or unparsable)."""
    if value is None:
        return float("nan")
    s = str(value).strip()
    if not s or s.lower() == "nan":
        return float("nan")
    try:
        parts = [float(p) for p in s.split(":")]
    except ValueError:
        return float("nan")
    secs = 0.0
    for p in parts:
        secs = secs * 60.0 + p
    return secs


def wide_to_long(
    df: pd.DataFrame, id_col: str, what, prefix: str = "sample_", strict: bool = False
) -> pd.DataFrame:
    """A wide dynamic-annotation table (`song_id, sample_15000ms, ...`) as (track_id, time_s, value).

    Missing samples (songs shorter than the widest one) are dropped. With `strict`, a cell that is not
    a number raises `LayoutError` naming `what`, the column and the row; without, it becomes NaN and is
    dropped like an empty cell.
    """
    cols = {}
    for c in df.columns:
        m = re.fullmatch(rf"{prefix}(\d+(?:\.\d+)?)\s*ms", str(c).strip(), flags=re.IGNORECASE)
        if m:
            cols[c] = float(m.group(1)) / 1000.0
    if not cols:
        raise LayoutError(
            f"{what}: expected columns like '{prefix}15000ms'; the file has {list(df.columns)[:6]}"
        )
    if strict:
        ids = df[id_col].map(norm_id)
        wide = pd.DataFrame({c: strict_float(df[c], what, c, ids) for c in cols}, index=df.index)
    else:
        wide = df[list(cols)].apply(to_float)
    wide.insert(0, "track_id", df[id_col].map(norm_id).to_numpy())
    out = wide.melt(id_vars="track_id", var_name="column", value_name="value")
    out["time_s"] = out["column"].map(cols).astype(float)
    out = out.dropna(subset=["value"])
    return out[["track_id", "time_s", "value"]].sort_values(["track_id", "time_s"]).reset_index(drop=True)


def read_wide(path, id_names: Sequence[str] = ("song_id",), strict: bool = False) -> pd.DataFrame:
    """Read a wide dynamic-annotation CSV (`song_id, sample_15000ms, ...`) as (track_id, time_s, value).

    `strict`: a cell that is not a number raises `LayoutError` (see `wide_to_long`)."""
    table = read_csv(path)
    ids = pick_columns(table, {"track_id": list(id_names)}, path)["track_id"]
    return wide_to_long(table.assign(__track_id=ids), "__track_id", path, strict=strict)


def join_dims(parts: dict[str, pd.DataFrame], key: str = "track_id") -> pd.DataFrame:
    """Long per-dimension tables (`key`, time_s, value) as one table (`key`, time_s, <dim>, ...).

    A (key, time) present in only some dimensions gets NaN in the others; a repeated (key, time) within
    one dimension keeps its first value (a caller that must report such repeats counts them first).
    """
    cols = []
    for dim, long in parts.items():
        long = long.drop_duplicates([key, "time_s"], keep="first")
        cols.append(long.set_index([key, "time_s"])["value"].rename(dim))
    out = pd.concat(cols, axis=1).sort_index()
    return out.reset_index()


# ----------------------------------------------------------------------------------------------- audio
def audio_folder_index(root, candidates, what: str, check_audio: bool) -> dict[str, Path]:
    """Stem -> audio file of a dataset's audio folder. With `check_audio` a missing folder is a
    LayoutError naming `what`; without, a missing folder gives an empty index."""
    if check_audio:
        folder = find_dir(root, candidates, what)
    else:
        folder = find_optional(root, candidates, want_dir=True)
    return audio_index(folder)


def ordered_union(*groups) -> list:
    """Every id of `groups` once, in first-seen order (metadata first, then audio files, then labels)."""
    return list(dict.fromkeys(tid for group in groups for tid in group))


def audio_index(directory, exts: Sequence[str] = AUDIO_EXTS) -> dict[str, Path]:
    """Map each stem in `directory` to its audio file, for any extension in `exts` (case-insensitive).

    When a stem exists with several extensions the first in `exts` wins (mp3 before flac, ...).
    """
    if directory is None:
        return {}
    rank = {e.lower(): i for i, e in enumerate(exts)}
    best: dict[str, tuple[int, Path]] = {}
    with os.scandir(directory) as it:
        for entry in it:
            if not entry.is_file():
                continue
            stem, dot, ext = entry.name.rpartition(".")
            if not dot or ext.lower() not in rank:
                continue
            key = norm_id(stem)
            r = rank[ext.lower()]
            if key not in best or r < best[key][0]:
                best[key] = (r, Path(entry.path))
    return {k: v[1] for k, v in best.items()}


def find_audio(index: dict[str, Path], *stems) -> str:
    """The audio path for the first of `stems` present in `index` ('' when none is)."""
    for stem in stems:
        if stem is None or (isinstance(stem, float) and np.isnan(stem)):
            continue
        s = str(stem).strip()
        for key in (norm_id(s), norm_id(s.rpartition(".")[0]) if "." in s else None):
            if key and key in index:
                return str(index[key])
    return ""


def audio_duration(path) -> float:
    """Duration in seconds from the file header (NaN when the file is missing or unreadable)."""
    if not path:
        return float("nan")
    try:
        info = sf.info(str(path))
    except Exception:  # any decoder failure means "unknown"
        return float("nan")
    if info.samplerate <= 0 or info.frames <= 0:
        return float("nan")
    return float(info.frames) / float(info.samplerate)


def probe_audio(path, n_frames: int = 2048) -> str | None:
    """Open `path` with soundfile and decode a few frames; None if that works, else the reason."""
    if not path or not Path(path).is_file():
        return "file not found"
    try:
        with sf.SoundFile(str(path)) as f:
            data = f.read(min(n_frames, max(f.frames, 1)), dtype="float32")
            if f.frames > 0 and len(data) == 0:
                return "no frames could be decoded"
    except Exception as e:  # report any decoder error as text
        return f"{type(e).__name__}: {e}"
    return None


# ---------------------------------------------------------------------------------------------- finish
def window_for(duration_s: float, window) -> tuple[float, float]:
    """`window=None` -> the whole track; `(start_s, length_s)` -> `manifest.analysis_window`."""
    if duration_s is None or not np.isfinite(duration_s):
        return float("nan"), float("nan")
    if window is None:
        return 0.0, float(duration_s)
    start, length = check_window(window)
    return manifest.analysis_window(float(duration_s), start, length)


def check_window(window) -> tuple[float, float]:
    """Validate a `(start_s, length_s)` pair."""
    try:
        start, length = (float(w) for w in window)
    except (TypeError, ValueError) as e:
        raise ValueError(f"window must be (start_s, length_s) or a named preset, got {window!r}") from e
    if start < 0 or length <= 0:
        raise ValueError(f"window needs start_s >= 0 and length_s > 0, got {window!r}")
    return start, length


def manifest_row(tid: str, audio: str, dataset: str, static: pd.DataFrame, duration: float,
                 window: tuple[float, float], style: str = "", dynamic_ref: str = "", **extra) -> dict:
    """One canonical manifest row from a loader's static-label table (indexed by track id, columns
    valence, arousal, valence_std, arousal_std, already rescaled to [-1, 1]) plus loader-specific extras."""
    return {
        "track_id": tid,
        "audio_path": audio,
        "dataset": dataset,
        "valence": static.at[tid, "valence"],
        "arousal": static.at[tid, "arousal"],
        "valence_std": static.at[tid, "valence_std"],
        "arousal_std": static.at[tid, "arousal_std"],
        "duration_s": duration,
        "window_start_s": window[0],
        "window_end_s": window[1],
        "style": style,
        "dynamic_ref": dynamic_ref,
        **extra,
    }


def finish(
    rows: pd.DataFrame,
    *,
    n_tracks: int,
    n_labelled: int,
    problems: dict[str, list[str]] | None = None,
    notes: dict[str, list[str]] | None = None,
    check_audio: bool = True,
    min_duration_s: float | None = None,
) -> pd.DataFrame:
    """Clean the labelled rows with `manifest.clean` and attach the full report to the result.

    `problems` are what the loader already set aside (e.g. 'unlabelled' tracks, which are not in
    `rows`); they are merged with what `manifest.clean` finds. The returned table carries:

    * ``attrs['report']``          the `manifest.ValidationReport`, counted over all `n_tracks` tracks;
    * ``attrs['validation']``      its summary (str);
    * ``attrs['report_problems']`` dict kind -> list of track ids that were set aside;
    * ``attrs['counts']``          tracks / labelled / audio_present / usable;
    * ``attrs['notes']``           observations about tracks that were kept (e.g. duration taken from
                                   the metadata because the audio header was unreadable).
    """
    cols = manifest.REQUIRED + manifest.OPTIONAL
    extra = [c for c in rows.columns if c not in cols]
    rows = rows[cols + extra].reset_index(drop=True)
    clean_kwargs = {"check_audio": check_audio}
    if min_duration_s is not None and min_duration_s > 0:
        clean_kwargs["min_duration_s"] = float(min_duration_s)
    out, rep = manifest.clean(rows, **clean_kwargs)
    report = manifest.ValidationReport(n_rows=int(n_tracks))
    for kind, ids in (problems or {}).items():
        report.add(kind, ids)
    for kind, ids in rep.problems.items():
        report.add(kind, ids)
    try:
        report.n_usable = len(out)
    except AttributeError:  # a read-only property computed from the problems
        pass
    kept = set(out["track_id"].astype(str))
    present = rows["audio_path"].fillna("").astype(str).map(lambda p: bool(p) and Path(p).is_file())
    out = out.copy()
    out.attrs = {
        "report": report,
        "validation": report.summary(),
        "report_problems": {k: list(v) for k, v in report.problems.items()},
        "counts": {
            "tracks": int(n_tracks),
            "labelled": int(n_labelled),
            "audio_present": int(present.sum()),
            "usable": len(out),
        },
        "notes": {k: kept_ids for k, v in (notes or {}).items() if (kept_ids := [i for i in v if i in kept])},
    }
    return out
