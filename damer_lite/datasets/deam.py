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


def dynamic_labels(root, track_id) -> pd.DataFrame:
    """The 2 Hz dynamic labels of one song: DataFrame(time_s, valence, arousal), already in [-1, 1].

    `time_s` comes from the column names (`sample_15000ms` -> 15.0); samples past the end of a song
    (empty cells in the wide table) are dropped. Raises FileNotFoundError when `valence.csv` /
    `arousal.csv` are missing, KeyError for a song without dynamic labels.
    """
    root = dataset_root(root)
    tid = common.norm_id(track_id)
    parts = []
    for dim in ("valence", "arousal"):
        path = _dynamic_path(root, dim)
        if path is None:
            common.find_file(
                root,
                [str(Path(p) / DYNAMIC_DIR / f"{dim}.csv") for p in _PREFIXES],
                f"DEAM dynamic {dim} ({DYNAMIC_DIR}/{dim}.csv)",
                search=False,
            )
        long = common.read_wide(path)
        long = long[long["track_id"] == tid]
        if long.empty:
            raise KeyError(f"track {tid!r} has no dynamic {dim} labels in {path}")
        parts.append(long.set_index("time_s")["value"].rename(dim))
    out = pd.concat(parts, axis=1).sort_index()
    out.index.name = "time_s"
    return out.reset_index()
