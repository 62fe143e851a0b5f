"""DEAM, the MediaEval Database for Emotional Analysis in Music (Aljanaki, Yang, Soleymani 2017).

1802 songs: 1744 45-second excerpts (MediaEval 2013 and 2014, ids up to 2000) and 58 full songs
(MediaEval 2015 evaluation set, ids 2001-2058), with static (1-9) and 2 Hz dynamic ([-1, 1]) labels.

Expected layout (the unpacked official archives, side by side; pointing at a parent `DEAM/` also works)::

    DEAM_audio/MEMD_audio/{song_id}.mp3            (.flac/.wav/.ogg with the same stem also work)
    DEAM_Annotations/annotations/annotations averaged per song/
        song_level/static_annotations_averaged_songs_1_2000.csv
        song_level/static_annotations_averaged_songs_2000_2058.csv
              song_id, valence_mean, valence_std, arousal_mean, arousal_std   (names with leading spaces)
        dynamic (per second annotations)/valence.csv, arousal.csv
              song_id, sample_15000ms, sample_15500ms, ...   (2 Hz, [-1, 1]; optional)
    DEAM_Annotations/annotations/annotations per each rater/dynamic (per second annotations)/
        valence/{song_id}.csv, arousal/{song_id}.csv
              WorkerId, sample_15000ms, sample_15500ms, ...  one row per worker (optional; read by
              `rater_curves`; files without a WorkerId column are skipped and counted)

Where the loader looks: the static files under `DEAM_Annotations/annotations/annotations averaged per
song/song_level/`, or the same path starting lower down (when the root is `DEAM_Annotations/` or one of
its sub-folders), or directly in the root, then up to four folder levels below the root; the dynamic
files in `dynamic (per second annotations)/` next to `song_level/`; the audio in
`DEAM_audio/MEMD_audio/` (or `MEMD_audio/`). Both static files are required; a missing one, a missing
(with `check_audio`) audio folder, or a renamed column raises an error naming what was expected and
where the loader looked.

Scales: static means on the 1-9 scale map to [-1, 1] by (x - 5) / 4, standard deviations by std / 4.
Dynamic labels are already in [-1, 1].

Window: the excerpts are 45 s, so by default their analysis window is (0, 45) through
`manifest.analysis_window`. The 58 full songs (2001-2058) are several minutes long and their static
label was given for the whole song, so by default their window is the whole song, (0, duration); the
extra column `full_song` marks them. `window="dynamic"` uses the annotated span (15-45 s for excerpts,
15 s to the end for full songs); an explicit `(start_s, length_s)` applies to every track.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from damer_lite.datasets import common, manifest

NAME = "deam"
CLIP_S = 45.0
DYNAMIC_START_S = 15.0
DEFAULT_MIN_DURATION_S = 30.0  # a '45 s' excerpt shorter than the annotated 15-45 s span is truncated
WINDOW_PRESETS = ("dynamic",)

_AVG = "annotations averaged per song"
_PREFIXES = [
    f"DEAM_Annotations/annotations/{_AVG}",
    f"annotations/{_AVG}",
    _AVG,
    "",
]
STATIC_FILES = (
    "static_annotations_averaged_songs_1_2000.csv",
    "static_annotations_averaged_songs_2000_2058.csv",
)
DYNAMIC_DIR = "dynamic (per second annotations)"
AUDIO_DIRS = ["DEAM_audio/MEMD_audio", "MEMD_audio", "DEAM_audio"]
NESTED = ["DEAM", "deam"]

_STATIC_COLS = {
    "track_id": ["song_id"],
    "valence": ["valence_mean"],
    "valence_std": ["valence_std"],
    "arousal": ["arousal_mean"],
    "arousal_std": ["arousal_std"],
}


def dataset_root(root) -> Path:
    """The DEAM folder: `root` itself or `root/DEAM`."""
    return common.resolve_root(root, markers=["DEAM_Annotations", "DEAM_audio", "MEMD_audio"], nested=NESTED)


def _static_candidates(name: str) -> list[str]:
    return [str(Path(p) / "song_level" / name) for p in _PREFIXES] + [name]


def _dynamic_path(root: Path, dim: str) -> Path | None:
    cands = [str(Path(p) / DYNAMIC_DIR / f"{dim}.csv") for p in _PREFIXES]
    return common.find_optional(root, cands, search=False)


def _window(duration_s: float, full_song: bool, window) -> tuple[float, float]:
    if not np.isfinite(duration_s):
        return float("nan"), float("nan")
    if window is None:
        if full_song:
            return 0.0, float(duration_s)
        return manifest.analysis_window(duration_s, 0.0, CLIP_S)
    if isinstance(window, str):
        if window != "dynamic":
            raise ValueError(f"unknown DEAM window {window!r}; presets: {list(WINDOW_PRESETS)}")
        if full_song:
            rest = max(duration_s - DYNAMIC_START_S, 1e-3)
            return manifest.analysis_window(duration_s, DYNAMIC_START_S, rest)
        return manifest.analysis_window(duration_s, DYNAMIC_START_S, CLIP_S - DYNAMIC_START_S)
    return manifest.analysis_window(duration_s, *common.check_window(window))


def load(
    root,
    window: tuple[float, float] | str | None = None,
    min_duration_s: float | None = DEFAULT_MIN_DURATION_S,
    check_audio: bool = True,
) -> pd.DataFrame:
    """DEAM as the canonical manifest (one row per usable song; see the module docstring).

    `window`: None = excerpts (0, 45), full songs whole; 'dynamic' = the annotated span; or
    `(start_s, length_s)` for every track. `min_duration_s`: shorter tracks are reported as 'too_short'
    and left out (None or 0 = no limit). `check_audio`: when true, the audio folder must exist and songs
    without an audio file are reported as 'missing_audio' and left out; when false, they are kept with
    `audio_path == ""`. Extra column: `full_song` (True for the 2015 full-length songs).
    """
    if isinstance(window, str) and window not in WINDOW_PRESETS:
        raise ValueError(f"unknown DEAM window {window!r}; presets: {list(WINDOW_PRESETS)}")
    if window is not None and not isinstance(window, str):
        common.check_window(window)
    root = dataset_root(root)
    parts, full_ids = [], set()
    for i, name in enumerate(STATIC_FILES):
        path = common.find_file(root, _static_candidates(name), f"DEAM static annotations ({name})")
        part = common.pick_columns(common.read_csv(path), _STATIC_COLS, path)
        part["track_id"] = part["track_id"].map(common.norm_id)
        part = part[part["track_id"] != ""]
        if i == 1:
            full_ids = set(part["track_id"])
        parts.append(part)
    st = pd.concat(parts, ignore_index=True)
    dup_labels = st.loc[st["track_id"].duplicated(), "track_id"].tolist()
    st = st.drop_duplicates("track_id", keep="first").set_index("track_id")
    for c in ("valence", "arousal"):
        st[c] = (common.to_float(st[c]) - 5.0) / 4.0  # 1..9 -> [-1, 1]
        st[f"{c}_std"] = common.to_float(st[f"{c}_std"]) / 4.0

    # dynamic labels: which songs have them, and how far they reach (a duration for full songs)
    dyn_paths = {dim: _dynamic_path(root, dim) for dim in ("valence", "arousal")}
    dyn_ids: set[str] = set()
    dyn_end: dict[str, float] = {}
    dyn_ref = ""
    if all(p is not None for p in dyn_paths.values()):
        for dim, path in dyn_paths.items():
            long = common.read_wide(path)
            ids = set(long["track_id"])
            dyn_ids = ids if not dyn_ids else dyn_ids & ids
            if dim == "arousal":
                dyn_end = (long.groupby("track_id")["time_s"].max() + 0.5).to_dict()
        dyn_ref = str(dyn_paths["valence"].parent / "{valence,arousal}.csv")

    index = common.audio_folder_index(root, AUDIO_DIRS, "DEAM audio folder (DEAM_audio/MEMD_audio/)", check_audio)

    universe = common.ordered_union(st.index, index)
    labelled = set(st.index)
    unlabelled = [t for t in universe if t not in labelled]

    rows, from_meta = [], []
    for tid in st.index:
        full = tid in full_ids
        audio = common.find_audio(index, tid)
        dur = common.audio_duration(audio) if audio else float("nan")
        if not np.isfinite(dur):
            dur = dyn_end.get(tid, float("nan")) if full else CLIP_S
            if np.isfinite(dur):
                from_meta.append(tid)
        ws, we = _window(dur, full, window)
        rows.append(common.manifest_row(
            tid, audio, NAME, st, dur, (ws, we), dynamic_ref=f"{dyn_ref}#{tid}" if tid in dyn_ids else "",
            full_song=full))
    cols = manifest.REQUIRED + manifest.OPTIONAL + ["full_song"]
    return common.finish(
        pd.DataFrame(rows, columns=cols),
        n_tracks=len(universe),
        n_labelled=len(labelled),
        problems={"unlabelled": unlabelled},
        notes={"duration_from_annotations": from_meta, "duplicate_label_rows_ignored": dup_labels},
        check_audio=check_audio,
        min_duration_s=min_duration_s,
    )


def _averaged_path(root: Path, dim: str) -> Path:
    """The averaged `{dim}.csv`; FileNotFoundError naming every place tried when it is absent."""
    path = _dynamic_path(root, dim)
    if path is None:
        path = common.find_file(
            root,
            [str(Path(p) / DYNAMIC_DIR / f"{dim}.csv") for p in _PREFIXES],
            f"DEAM dynamic {dim} ({DYNAMIC_DIR}/{dim}.csv)",
            search=False,
        )
    return path


def dynamic_table(root) -> pd.DataFrame:
    """The 2 Hz averaged dynamic labels of every song: DataFrame(track_id, time_s, valence, arousal).

    Values are already in [-1, 1]. Empty cells (the tails of songs shorter than the widest one) are
    dropped; a time labelled in only one of the two files has NaN in the other column. A cell that is
    not a number raises `LayoutError` naming the file, column and song; FileNotFoundError when
    `valence.csv` / `arousal.csv` are missing. `root`: the DEAM folder or any folder `load` accepts,
    including `annotations averaged per song/`.
    """
    root = dataset_root(root)
    parts = {dim: common.read_wide(_averaged_path(root, dim), strict=True) for dim in ("valence", "arousal")}
    return common.join_dims(parts)


def dynamic_labels(root, track_id) -> pd.DataFrame:
    """The 2 Hz dynamic labels of one song: DataFrame(time_s, valence, arousal), already in [-1, 1].

    `time_s` comes from the column names (`sample_15000ms` -> 15.0); samples past the end of a song
    (empty cells in the wide table) are dropped. Raises FileNotFoundError when `valence.csv` /
    `arousal.csv` are missing, KeyError for a song without dynamic labels.
    """
    root = dataset_root(root)
    tid = common.norm_id(track_id)
    table = dynamic_table(root)
    out = table[table["track_id"] == tid]
    for dim in ("valence", "arousal"):
        if out[dim].isna().all():
            raise KeyError(f"track {tid!r} has no dynamic {dim} labels in {_averaged_path(root, dim)}")
    return out[["time_s", "valence", "arousal"]].reset_index(drop=True)


# ------------------------------------------------------------------------------------ per-rater curves
RATER_DIR = "annotations per each rater"
# relative to the DEAM folder, or (last) to `annotations averaged per song/`, the folder a manifest's
# `dynamic_ref` points into
_RATER_PREFIXES = [
    f"DEAM_Annotations/annotations/{RATER_DIR}",
    f"annotations/{RATER_DIR}",
    RATER_DIR,
    f"../{RATER_DIR}",
]
WORKER_COLUMN = "WorkerId"


def rater_folder(root) -> Path | None:
    """`annotations per each rater/dynamic (per second annotations)/` (holding `valence/`, `arousal/`),
    or None when this copy of DEAM has no per-rater curves."""
    root = dataset_root(root)
    for prefix in _RATER_PREFIXES:
        folder = root / prefix / DYNAMIC_DIR
        if folder.is_dir():
            return folder.resolve()
    return None


def rater_curves(root, track_id, skipped: dict[str, list[str]] | None = None) -> pd.DataFrame | None:
    """The per-rater 2 Hz curves of one song: DataFrame(annotator, time_s, valence, arousal) in [-1, 1].

    Layout (published archive): `annotations per each rater/dynamic (per second annotations)/
    {valence,arousal}/{song_id}.csv`, one row per worker, columns `WorkerId, sample_15000ms,
    sample_15500ms, ...`; empty cells past the end of a worker's annotation are dropped. The
    values are taken to be on the same [-1, 1] scale as the averaged curves (not checked against the
    published documentation; `dynamic.check` reports values outside [-1, 1]).

    Files are never guessed at. Each file not read is appended, by path, to `skipped[kind]`:
    'no_workerid_column' (some published files have none, so their rows cannot be matched across
    valence and arousal or across songs), 'missing_file' (one dimension's file is absent) and
    'duplicate_worker' (a WorkerId on several rows: the first row is kept). A worker present in only one
    dimension has NaN in the other. Returns None when the dataset has no per-rater folder or no file was
    read for this song. A file without `sample_<ms>ms` columns, or with a cell that is not a number,
    raises `LayoutError` naming it.
    """
    folder = rater_folder(root)
    if folder is None:
        return None
    tid = common.norm_id(track_id)
    skipped = skipped if skipped is not None else {}
    parts = {}
    for dim in ("valence", "arousal"):
        path = folder / dim / f"{tid}.csv"
        if not path.is_file():
            skipped.setdefault("missing_file", []).append(str(path))
            continue
        table = common.read_csv(path)
        worker = common.pick_columns(table, {"annotator": [WORKER_COLUMN, "worker_id", "workerID"]}, path,
                                     optional=["annotator"])["annotator"]
        if worker.isna().all():
            skipped.setdefault("no_workerid_column", []).append(str(path))
            continue
        long = common.wide_to_long(table.assign(__worker=worker), "__worker", path, strict=True)
        if long.duplicated(["track_id", "time_s"]).any():
            skipped.setdefault("duplicate_worker", []).append(str(path))
        parts[dim] = long
    if not parts:
        return None
    for dim in ("valence", "arousal"):
        parts.setdefault(dim, pd.DataFrame({"track_id": [], "time_s": [], "value": []}))
    out = common.join_dims(parts).rename(columns={"track_id": "annotator"})
    return out[["annotator", "time_s", "valence", "arousal"]]
