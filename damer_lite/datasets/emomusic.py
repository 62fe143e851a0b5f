"""1000 Songs for Emotional Analysis of Music / emoMusic (Soleymani et al., CrowdMM 2013).

1000 45-second clips from the Free Music Archive; after removing duplicates 744 carry labels
(crowd-sourced, MediaEval 2013 "Emotion in Music" task).

Expected layout (the unpacked official download; pointing at a parent folder `emoMusic/` also works)::

    clips_45seconds/{song_id}.mp3      the clips (.flac/.wav/.ogg with the same stem also work)
    songs_info.csv                     song_id, file_name, Artist, Song title,
                                       start of the segment (min.sec), end of the segment (min.sec),
                                       Genre, Mediaeval 2013 set            values padded with spaces/tabs
    static_annotations.csv             song_id, mean_arousal, std_arousal, mean_valence, std_valence  (1-9)
    valence_cont_average.csv, arousal_cont_average.csv      song_id, sample_15000ms ... sample_44500ms
    valence_cont_std.csv,     arousal_cont_std.csv          (2 Hz, already in [-1, 1]; optional)

Where the loader looks: the CSVs sit at the root in some copies and in `annotations/` (next to
`default_features/`) in others; each is looked for at the root, in `annotations/`, then up to three
folder levels below the root. The audio in `clips_45seconds/` (or `clips_45sec/`, `clips/`). A missing
`songs_info.csv` / `static_annotations.csv` / (with `check_audio`) audio folder, or a renamed column,
raises an error naming what was expected and where the loader looked.

Scales: static means on the 1-9 scale map to [-1, 1] by (x - 5) / 4, standard deviations by std / 4.
Dynamic labels are already in [-1, 1].

Window: the clips are 45 s, so the default analysis window is (0, 45) through
`manifest.analysis_window`. `window="dynamic"` uses the span of the dynamic annotations, 15-45 s
(`(15, 30)`); any `(start_s, length_s)` is accepted.

Extra columns: `mediaeval_set` ('development' / 'evaluation'; `official_split` turns it into the
official MediaEval split, an alternative to the paper's stratified 70/30), `artist`, `title`.
`style` is the `Genre` column.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from damer_lite.datasets import common, manifest

NAME = "emomusic"
CLIP_S = 45.0
WINDOWS = {"clip": (0.0, 45.0), "dynamic": (15.0, 30.0)}
DEFAULT_WINDOW = "clip"
DEFAULT_MIN_DURATION_S = 30.0  # a '45 s' clip shorter than the 15-45 s annotated span is truncated

_PLACES = ["", "annotations", "Annotations", "annotation"]
SONGS_INFO = [str(Path(p) / "songs_info.csv") for p in _PLACES]
STATIC = [str(Path(p) / "static_annotations.csv") for p in _PLACES]
AUDIO_DIRS = ["clips_45seconds", "clips_45sec", "clips"]
NESTED = ["emoMusic", "emomusic", "1000songs", "1000_songs"]

_INFO_COLS = {
    "track_id": ["song_id"],
    "file_name": ["file_name"],
    "artist": ["Artist"],
    "title": ["Song title", "title"],
    "genre": ["Genre"],
    "mediaeval_set": ["Mediaeval 2013 set", "MediaEval 2013 set", "set"],
}
_STATIC_COLS = {
    "track_id": ["song_id"],
    "arousal": ["mean_arousal"],
    "arousal_std": ["std_arousal"],
    "valence": ["mean_valence"],
    "valence_std": ["std_valence"],
}


def dataset_root(root) -> Path:
    """The emoMusic folder: `root` itself or one of `root/emoMusic`, `root/1000songs`."""
    markers = AUDIO_DIRS + ["songs_info.csv", "static_annotations.csv", "annotations"]
    return common.resolve_root(root, markers=markers, nested=NESTED)


def resolve_window(window) -> tuple[float, float]:
    """None -> the default (0, 45); 'clip' / 'dynamic' presets; or a `(start_s, length_s)` pair."""
    if window is None:
        window = DEFAULT_WINDOW
    if isinstance(window, str):
        if window not in WINDOWS:
            raise ValueError(f"unknown emoMusic window {window!r}; presets: {sorted(WINDOWS)}")
        return WINDOWS[window]
    return common.check_window(window)


def _dynamic_paths(root: Path, static_path: Path | None) -> dict[str, Path | None]:
    """The four dynamic CSVs (None for a missing one); looked for next to the static file first."""
    out = {}
    for dim in ("valence", "arousal"):
        for stat in ("average", "std"):
            name = f"{dim}_cont_{stat}.csv"
            cands = ([str(static_path.parent.relative_to(root) / name)] if static_path else []) + [
                str(Path(p) / name) for p in _PLACES
            ]
            out[f"{dim}_{stat}"] = common.find_optional(root, cands)
    return out


def load(
    root,
    window: tuple[float, float] | str | None = None,
    min_duration_s: float | None = DEFAULT_MIN_DURATION_S,
    check_audio: bool = True,
) -> pd.DataFrame:
    """emoMusic as the canonical manifest (one row per usable clip; see the module docstring).

    `window`: None / 'clip' = (0, 45); 'dynamic' = 15-45 s; or `(start_s, length_s)`.
    `min_duration_s`: shorter clips are reported as 'too_short' and left out (None or 0 = no limit).
    `check_audio`: when true, the audio folder must exist and clips without an audio file are
    reported as 'missing_audio' and left out; when false, they are kept with `audio_path == ""`.
    """
    win = resolve_window(window)
    root = dataset_root(root)
    info_path = common.find_file(root, SONGS_INFO, "emoMusic song list (songs_info.csv)")
    info = common.pick_columns(
        common.read_csv(info_path),
        _INFO_COLS,
        info_path,
        optional=["file_name", "artist", "title", "genre", "mediaeval_set"],
    )
    info["track_id"] = info["track_id"].map(common.norm_id)
    info = info[info["track_id"] != ""].drop_duplicates("track_id", keep="first").set_index("track_id")

    static_path = common.find_file(root, STATIC, "emoMusic static annotations (static_annotations.csv)")
    st = common.pick_columns(common.read_csv(static_path), _STATIC_COLS, static_path)
    st["track_id"] = st["track_id"].map(common.norm_id)
    st = st[st["track_id"] != ""]
    dup_labels = st.loc[st["track_id"].duplicated(), "track_id"].tolist()
    st = st.drop_duplicates("track_id", keep="first").set_index("track_id")
    for c in ("valence", "arousal"):
        st[c] = (common.to_float(st[c]) - 5.0) / 4.0  # 1..9 -> [-1, 1]
        st[f"{c}_std"] = common.to_float(st[f"{c}_std"]) / 4.0

    dyn = _dynamic_paths(root, static_path)
    dyn_ids: set[str] = set()
    if dyn["valence_average"] is not None and dyn["arousal_average"] is not None:
        for key in ("valence_average", "arousal_average"):
            ids = common.read_wide(dyn[key])["track_id"]
            dyn_ids = set(ids) if not dyn_ids else dyn_ids & set(ids)
        dyn_ref = str(dyn["valence_average"].parent / "{valence,arousal}_cont_average.csv")
    else:
        dyn_ref = ""

    index = common.audio_folder_index(root, AUDIO_DIRS, "emoMusic clip folder (clips_45seconds/)", check_audio)

    universe = common.ordered_union(info.index, index, st.index)
    labelled = set(st.index)
    unlabelled = [t for t in universe if t not in labelled]
    not_in_info = [t for t in st.index if t not in info.index]

    rows, from_meta = [], []
    for tid in universe:
        if tid not in labelled:
            continue
        m = info.loc[tid] if tid in info.index else None
        audio = common.find_audio(index, m["file_name"] if m is not None else None, tid)
        dur = common.audio_duration(audio) if audio else float("nan")
        if not np.isfinite(dur):
            dur = CLIP_S  # the published clips are all 45 s long
            from_meta.append(tid)
        ws, we = manifest.analysis_window(dur, *win)
        mset = m["mediaeval_set"] if m is not None else np.nan
        rows.append(common.manifest_row(
            tid, audio, NAME, st, dur, (ws, we),
            style=m["genre"] if m is not None and isinstance(m["genre"], str) else "",
            dynamic_ref=f"{dyn_ref}#{tid}" if tid in dyn_ids else "",
            mediaeval_set=mset.lower() if isinstance(mset, str) else "",
            artist=m["artist"] if m is not None else np.nan, title=m["title"] if m is not None else np.nan))
    cols = manifest.REQUIRED + manifest.OPTIONAL + ["mediaeval_set", "artist", "title"]
    return common.finish(
        pd.DataFrame(rows, columns=cols),
        n_tracks=len(universe),
        n_labelled=len(labelled),
        problems={"unlabelled": unlabelled},
        notes={
            "duration_assumed_45s": from_meta,
            "labelled_not_in_songs_info": not_in_info,
            "duplicate_label_rows_ignored": dup_labels,
        },
        check_audio=check_audio,
        min_duration_s=min_duration_s,
    )


def official_split(df: pd.DataFrame) -> dict[str, np.ndarray]:
    """Positional indices of the official MediaEval 2013 split: 'development' -> train, 'evaluation' -> test.

    An alternative to the paper's stratified 70/30 (`manifest.split`). Rows with any other value of
    `mediaeval_set` are in neither part.
    """
    if "mediaeval_set" not in df.columns:
        raise ValueError("official_split needs the 'mediaeval_set' column that emomusic.load adds")
    sets = df["mediaeval_set"].fillna("").astype(str).str.strip().str.lower().to_numpy()
    out = {"train": np.flatnonzero(sets == "development"), "test": np.flatnonzero(sets == "evaluation")}
    for part, idx in out.items():
        if len(idx) == 0:
            raise ValueError(
                f"official_split: no rows in the {part} part; mediaeval_set values are {sorted(set(sets))}"
            )
    return out


def dynamic_table(root, with_std: bool = False) -> pd.DataFrame:
    """The 2 Hz dynamic labels of every clip: DataFrame(track_id, time_s, valence, arousal), in [-1, 1].

    `with_std=True` adds `valence_std` and `arousal_std` from the `*_cont_std.csv` files (NaN where
    those are absent). Empty cells are dropped; a cell that is not a number raises `LayoutError` naming
    the file, column and clip. FileNotFoundError when the average files are missing.
    """
    root = dataset_root(root)
    paths = _dynamic_paths(root, common.find_optional(root, STATIC))
    parts = {}
    for dim in ("valence", "arousal"):
        path = paths[f"{dim}_average"]
        if path is None:
            common.find_file(
                root,
                [str(Path(p) / f"{dim}_cont_average.csv") for p in _PLACES],
                f"emoMusic dynamic {dim} ({dim}_cont_average.csv)",
            )
        parts[dim] = common.read_wide(path, strict=True)
    if with_std:
        for dim in ("valence", "arousal"):
            spath = paths[f"{dim}_std"]
            parts[f"{dim}_std"] = (
                common.read_wide(spath, strict=True) if spath is not None
                else pd.DataFrame({"track_id": [], "time_s": [], "value": []})
            )
    return common.join_dims(parts)


def dynamic_labels(root, track_id, with_std: bool = False) -> pd.DataFrame:
    """The 2 Hz dynamic labels of one clip: DataFrame(time_s, valence, arousal), already in [-1, 1].

    `time_s` comes from the column names (`sample_15000ms` -> 15.0). `with_std=True` adds
    `valence_std` and `arousal_std` from the `*_cont_std.csv` files (NaN where those are absent).
    Raises FileNotFoundError when the average files are missing, KeyError for a clip without them.
    """
    tid = common.norm_id(track_id)
    table = dynamic_table(root, with_std=with_std)
    out = table[table["track_id"] == tid]
    for dim in ("valence", "arousal"):
        if out[dim].isna().all():
            raise KeyError(f"track {tid!r} has no dynamic {dim} labels ({dim}_cont_average.csv in {root})")
    cols = ["time_s", "valence", "arousal"] + (["valence_std", "arousal_std"] if with_std else [])
    return out[cols].reset_index(drop=True)
