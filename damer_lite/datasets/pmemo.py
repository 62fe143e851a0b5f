"""PMEmo2019 (Zhang et al., ICMR 2018): 794 pop-song choruses, 767 of them with static V-A labels.

Expected layout (the folder `PMEmo2019/` of the official download; pointing at its parent also works)::

    PMEmo2019/
      metadata.csv                       musicId, fileName, title, artist, album, duration,
                                         chorus_start_time, chorus_end_time
      chorus/{musicId}.mp3               the chorus excerpts (.flac/.wav/.ogg with the same stem also work)
      annotations/static_annotations.csv      musicId, Arousal(mean), Valence(mean)      [0, 1]
      annotations/static_annotations_std.csv  musicId, Arousal(std), Valence(std)        (optional)
      annotations/dynamic_annotations.csv     musicId, frameTime, Arousal(mean), Valence(mean)
                                              2 Hz from 15.5 s                            (optional)

Where the loader looks: each annotation CSV first in `annotations/`, then at the dataset root (some
copies flatten the folder), then up to three folder levels below the root; the audio in `chorus/`
(or `Chorus/`). A missing `metadata.csv`, static-annotation file or (with `check_audio`) audio folder,
or a renamed column, raises an error that names what was expected and where the loader looked.

Scales: static and dynamic labels are in [0, 1] and are mapped to [-1, 1] by 2x - 1; rater standard
deviations are multiplied by 2 (same scale).

Window: the choruses are already cut, so by default the analysis window is the whole clip,
(0, duration). `window=(start_s, length_s)` applies `manifest.analysis_window` instead.

Problems (reported in ``df.attrs``, never dropped silently): choruses without static labels
('unlabelled': 27 in the real set), missing audio, NaN / out-of-range labels, clips shorter than
`min_duration_s`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from damer_lite.datasets import common, manifest

NAME = "pmemo"
DEFAULT_MIN_DURATION_S = 5.0  # a chorus shorter than this is a broken file, not a chorus

METADATA = ["metadata.csv"]
STATIC = ["annotations/static_annotations.csv", "static_annotations.csv"]
STATIC_STD = ["annotations/static_annotations_std.csv", "static_annotations_std.csv"]
DYNAMIC = ["annotations/dynamic_annotations.csv", "dynamic_annotations.csv"]
AUDIO_DIRS = ["chorus", "Chorus", "choruses"]
NESTED = ["PMEmo2019", "PMEmo"]

_META_COLS = {
    "track_id": ["musicId", "music_id", "id"],
    "file_name": ["fileName", "file_name"],
    "title": ["title"],
    "artist": ["artist"],
    "duration": ["duration"],
    "chorus_start": ["chorus_start_time"],
    "chorus_end": ["chorus_end_time"],
}
_STATIC_COLS = {"track_id": ["musicId"], "arousal": ["Arousal(mean)"], "valence": ["Valence(mean)"]}
_STD_COLS = {"track_id": ["musicId"], "arousal_std": ["Arousal(std)"], "valence_std": ["Valence(std)"]}
_DYN_COLS = {
    "track_id": ["musicId"],
    "time_s": ["frameTime"],
    "arousal": ["Arousal(mean)"],
    "valence": ["Valence(mean)"],
}


def dataset_root(root) -> Path:
    """The PMEmo2019 folder: `root` itself or `root/PMEmo2019`."""
    return common.resolve_root(root, markers=["metadata.csv", "chorus"], nested=NESTED)


def _rescale(x: pd.Series) -> pd.Series:
    return 2.0 * common.to_float(x) - 1.0  # [0, 1] -> [-1, 1]


def _read_static(root: Path) -> tuple[pd.DataFrame, Path, list[str]]:
    path = common.find_file(root, STATIC, "PMEmo static annotations (static_annotations.csv)")
    st = common.pick_columns(common.read_csv(path), _STATIC_COLS, path)
    st["track_id"] = st["track_id"].map(common.norm_id)
    st = st[st["track_id"] != ""]
    dups = st.loc[st["track_id"].duplicated(), "track_id"].tolist()
    st = st.drop_duplicates("track_id", keep="first")
    st["valence"], st["arousal"] = _rescale(st["valence"]), _rescale(st["arousal"])
    std_path = common.find_optional(root, STATIC_STD)
    if std_path is not None:
        sd = common.pick_columns(common.read_csv(std_path), _STD_COLS, std_path)
        sd["track_id"] = sd["track_id"].map(common.norm_id)
        sd = sd.drop_duplicates("track_id", keep="first")
        for c in ("valence_std", "arousal_std"):
            sd[c] = 2.0 * common.to_float(sd[c])  # std on [0, 1] -> std on [-1, 1]
        st = st.merge(sd, on="track_id", how="left")
    else:
        st["valence_std"] = np.nan
        st["arousal_std"] = np.nan
    return st, path, dups


def _read_dynamic(root: Path, strict: bool = False) -> tuple[pd.DataFrame, Path] | None:
    """(track_id, time_s, arousal, valence) of every chorus, rescaled; `strict`: a cell that is not a
    number raises `LayoutError` (else it becomes NaN)."""
    path = common.find_optional(root, DYNAMIC)
    if path is None:
        return None
    dyn = common.pick_columns(common.read_csv(path), _DYN_COLS, path)
    dyn["track_id"] = dyn["track_id"].map(common.norm_id)
    if strict:
        for col, name in (("time_s", "frameTime"), ("valence", "Valence(mean)"), ("arousal", "Arousal(mean)")):
            dyn[col] = common.strict_float(dyn[col], path, name, dyn["track_id"])
    dyn["time_s"] = common.to_float(dyn["time_s"])
    dyn["valence"], dyn["arousal"] = _rescale(dyn["valence"]), _rescale(dyn["arousal"])
    return dyn, path


def load(
    root,
    window: tuple[float, float] | None = None,
    min_duration_s: float | None = DEFAULT_MIN_DURATION_S,
    check_audio: bool = True,
) -> pd.DataFrame:
    """PMEmo2019 as the canonical manifest (one row per usable chorus; see the module docstring).

    `window`: None (default) = the whole chorus; `(start_s, length_s)` = `manifest.analysis_window`.
    `min_duration_s`: shorter clips are reported as 'too_short' and left out (None or 0 = no limit).
    `check_audio`: when true, the audio folder must exist and choruses without an audio file are
    reported as 'missing_audio' and left out; when false, they are kept with `audio_path == ""`.
    Extra columns: `title`, `artist`.
    """
    if window is not None:
        common.check_window(window)
    root = dataset_root(root)
    meta_path = common.find_file(root, METADATA, "PMEmo metadata (metadata.csv)")
    meta = common.pick_columns(
        common.read_csv(meta_path),
        _META_COLS,
        meta_path,
        optional=["file_name", "title", "artist", "duration", "chorus_start", "chorus_end"],
    )
    meta["track_id"] = meta["track_id"].map(common.norm_id)
    meta = meta[meta["track_id"] != ""].drop_duplicates("track_id", keep="first").set_index("track_id")
    static, _, dup_labels = _read_static(root)
    dynamic = _read_dynamic(root)

    index = common.audio_folder_index(root, AUDIO_DIRS, "PMEmo chorus audio folder (chorus/)", check_audio)

    # every chorus we know of: metadata rows, audio files, labelled ids
    universe = common.ordered_union(meta.index, index, static["track_id"])
    labelled = set(static["track_id"])
    unlabelled = [t for t in universe if t not in labelled]
    not_in_meta = [t for t in static["track_id"] if t not in meta.index]

    st = static.set_index("track_id")
    dyn_ids = set(dynamic[0]["track_id"]) if dynamic is not None else set()
    dyn_ref = str(dynamic[1]) if dynamic is not None else ""
    rows, from_meta = [], []
    for tid in universe:
        if tid not in labelled:
            continue
        m = meta.loc[tid] if tid in meta.index else None
        audio = common.find_audio(index, m["file_name"] if m is not None else None, tid)
        dur = common.audio_duration(audio) if audio else float("nan")
        if not np.isfinite(dur) and m is not None:
            dur = common.parse_clock(m["chorus_end"]) - common.parse_clock(m["chorus_start"])
            if np.isfinite(dur):
                from_meta.append(tid)
        ws, we = common.window_for(dur, window)
        rows.append(common.manifest_row(
            tid, audio, NAME, st, dur, (ws, we), dynamic_ref=f"{dyn_ref}#{tid}" if tid in dyn_ids else "",
            title=m["title"] if m is not None else np.nan, artist=m["artist"] if m is not None else np.nan))
    cols = manifest.REQUIRED + manifest.OPTIONAL + ["title", "artist"]
    frame = pd.DataFrame(rows, columns=cols)
    return common.finish(
        frame,
        n_tracks=len(universe),
        n_labelled=len(labelled),
        problems={"unlabelled": unlabelled},
        notes={
            "duration_from_metadata": from_meta,
            "labelled_not_in_metadata": not_in_meta,
            "duplicate_label_rows_ignored": dup_labels,
        },
        check_audio=check_audio,
        min_duration_s=min_duration_s,
    )


def dynamic_table(root) -> pd.DataFrame:
    """The 2 Hz dynamic labels of every chorus: DataFrame(track_id, time_s, valence, arousal) in [-1, 1].

    Rows without a `frameTime` are dropped. A cell that is not a number raises `LayoutError` naming
    the file, column and chorus; FileNotFoundError when the dataset has no dynamic-annotation file.
    """
    root = dataset_root(root)
    found = _read_dynamic(root, strict=True)
    if found is None:
        common.find_file(root, DYNAMIC, "PMEmo dynamic annotations (dynamic_annotations.csv)")
    dyn = found[0].dropna(subset=["time_s"]).sort_values(["track_id", "time_s"], kind="stable")
    return dyn[["track_id", "time_s", "valence", "arousal"]].reset_index(drop=True)


def dynamic_labels(root, track_id) -> pd.DataFrame:
    """The 2 Hz dynamic labels of one chorus: DataFrame(time_s, valence, arousal) in [-1, 1].

    `time_s` is PMEmo's `frameTime` (seconds from the start of the chorus; the first 15 s are not
    annotated). Raises FileNotFoundError when the dataset has no dynamic-annotation file and KeyError
    when the chorus has no dynamic labels.
    """
    table = dynamic_table(root)
    tid = common.norm_id(track_id)
    out = table[table["track_id"] == tid]
    if out.empty:
        raise KeyError(f"track {tid!r} has no dynamic labels in {common.find_optional(dataset_root(root), DYNAMIC)}")
    return out[["time_s", "valence", "arousal"]].reset_index(drop=True)
