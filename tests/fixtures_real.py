"""Small copies of PMEmo2019, 1000songs/emoMusic and DEAM in their published layouts, for the tests.

Each `make_*` writes a few tracks into a folder and returns a dict describing what a loader should find
(which ids are labelled, which have audio, the expected rescaled labels, ...). The audio is a short
generated clip (2-6 s, 8 kHz) written as WAV or FLAC under the published stem; the loaders accept any
audio extension for a stem. Every quirk the loaders must survive is built in: padded values, column
names with leading spaces, unlabelled tracks, a missing audio file, a NaN label, CSVs at the root or in
`annotations/`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

SR = 8000


def write_clip(path: Path, seconds: float, sr: int = SR, kind: str = "sine", seed: int = 0) -> Path:
    """A mono test clip: a 220-880 Hz sine (`kind='sine'`) or white noise; format from the extension."""
    path.parent.mkdir(parents=True, exist_ok=True)
    n = int(round(seconds * sr))
    t = np.arange(n) / sr
    if kind == "noise":
        y = 0.1 * np.random.default_rng(seed).standard_normal(n)
    else:
        y = 0.3 * np.sin(2 * np.pi * (220.0 + 110.0 * (seed % 7)) * t)
    sf.write(str(path), y.astype(np.float32), sr)
    return path


def write_garbage(path: Path) -> Path:
    """A file with an audio name that no decoder can read."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"this is not audio\x00" * 64)
    return path


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------------------------- PMEmo
def make_pmemo(base: Path, flat: bool = False, corrupt: str | None = None) -> dict:
    """PMEmo2019 under `base/PMEmo2019` (returned as 'root').

    Choruses 1-6 in metadata.csv. Static labels for 1-5 only (6 is unlabelled); 4 has no audio file;
    5 has a NaN valence; 3 is the shortest clip (2 s). `flat=True` puts the annotation CSVs at the
    dataset root instead of `annotations/`. `corrupt='1'` replaces that chorus's audio with garbage.
    """
    root = base / "PMEmo2019"
    ann = root if flat else root / "annotations"
    _write(
        root / "metadata.csv",
        "musicId,fileName,title,artist,album,duration,chorus_start_time,chorus_end_time\n"
        "1,1.mp3,Song One,Artist A,Album,210.5,01:04.50,01:34.00\n"
        "2,2.mp3,Song Two,Artist B,Album,180,00:45,01:15\n"
        "3,3.mp3,Song Three,Artist C,Album,200,00:30,01:00\n"
        "4,4.mp3,Song Four,Artist D,Album,190,01:00,01:31.5\n"
        "5,5.mp3,Song Five,Artist E,Album,220,00:50,01:20\n"
        "6,6.mp3,Song Six,Artist F,Album,230,00:40,01:10\n",
    )
    # arousal, valence in [0, 1]
    static = {"1": (0.75, 0.25), "2": (0.5, 1.0), "3": (0.0, 0.5), "4": (0.6, 0.6), "5": (0.9, "")}
    _write(
        ann / "static_annotations.csv",
        "musicId,Arousal(mean),Valence(mean)\n" + "".join(f"{k},{a},{v}\n" for k, (a, v) in static.items()),
    )
    _write(
        ann / "static_annotations_std.csv",
        "musicId,Arousal(std),Valence(std)\n" + "".join(f"{k},0.1,0.2,\n" for k in static),
    )
    lines = ["musicId,frameTime,Arousal(mean),Valence(mean)"]
    for k in ("1", "2"):
        for i, t in enumerate((15.5, 16.0, 16.5)):
            lines.append(f"{k},{t},{0.5 + 0.1 * i},{0.25 * i}")
    _write(ann / "dynamic_annotations.csv", "\n".join(lines) + "\n")
    durations = {"1": 3.0, "2": 4.0, "3": 2.0, "5": 3.0, "6": 3.0}
    for i, (k, d) in enumerate(durations.items()):
        ext = "flac" if i % 2 else "wav"
        write_clip(root / "chorus" / f"{k}.{ext}", d, kind="noise" if i % 2 else "sine", seed=i)
    if corrupt is not None:
        for p in (root / "chorus").glob(f"{corrupt}.*"):
            p.unlink()
        write_garbage(root / "chorus" / f"{corrupt}.mp3")
    return {
        "root": root,
        "ids": ["1", "2", "3", "4", "5", "6"],
        "labelled": ["1", "2", "3", "4", "5"],
        "unlabelled": ["6"],
        "missing_audio": ["4"],
        "nan_valence": ["5"],
        "usable": ["1", "2", "3"],
        "durations": durations,
        "expected": {"1": (-0.5, 0.5), "2": (1.0, 0.0), "3": (0.0, -1.0)},  # (valence, arousal)
    }


# ------------------------------------------------------------------------------------------ emoMusic
def make_emomusic(base: Path, layout: str = "root") -> dict:
    """1000songs/emoMusic in `base` (returned as 'root').

    `layout='root'`: the CSVs next to `clips_45seconds/`; `layout='annotations'`: in `annotations/`
    beside a `default_features/` folder. Songs 2-7 in songs_info.csv (values padded with spaces and
    tabs); static labels for 2-6 (7 unlabelled); 6 has no audio file. MediaEval sets: 2-4 development,
    5-7 evaluation.
    """
    root = base
    ann = root if layout == "root" else root / "annotations"
    if layout != "root":
        (root / "default_features").mkdir(parents=True, exist_ok=True)
        _write(root / "default_features" / "2.csv", "frameTime;F0final_sma_amean\n0.0;1.0\n")
    info = [
        "song_id,file_name,Artist,Song title,start of the segment (min.sec),end of the segment (min.sec),"
        "Genre,Mediaeval 2013 set"
    ]
    sets = {"2": "development", "3": "development", "4": "development", "5": "evaluation"}
    sets |= {"6": "evaluation", "7": "evaluation"}
    genres = {"2": "Blues", "3": "Rock", "4": "Pop", "5": "Electronic", "6": "Classical", "7": "Jazz"}
    for k in sets:
        info.append(
            f"{k}\t,\t{k}.mp3\t, Artist {k}\t,Title {k}  ,0.30\t,1.15\t,  {genres[k]}\t,\t{sets[k]}  \t"
        )
    _write(ann / "songs_info.csv", "\n".join(info) + "\n")
    # mean_arousal, std_arousal, mean_valence, std_valence on 1..9
    static = {
        "2": (7.0, 2.0, 3.0, 1.0),
        "3": (5.0, 1.0, 9.0, 0.4),
        "4": (1.0, 0.8, 5.0, 0.8),
        "5": (6.0, 1.2, 4.0, 1.6),
        "6": (3.0, 1.0, 7.0, 1.0),
    }
    _write(
        ann / "static_annotations.csv",
        "song_id,mean_arousal,std_arousal,mean_valence,std_valence\n"
        + "".join(f"{k},{a},{sa},{v},{sv}\n" for k, (a, sa, v, sv) in static.items()),
    )
    cols = ["sample_15000ms", "sample_15500ms", "sample_16000ms"]
    for dim, stat, base_val in (
        ("valence", "average", 0.1),
        ("arousal", "average", -0.2),
        ("valence", "std", 0.05),
        ("arousal", "std", 0.07),
    ):
        rows = ["song_id," + ",".join(cols)]
        for j, k in enumerate(static):
            rows.append(f"{k}," + ",".join(f"{base_val + 0.01 * (j + i):.3f}" for i in range(len(cols))))
        _write(ann / f"{dim}_cont_{stat}.csv", "\n".join(rows) + "\n")
    durations = {"2": 4.0, "3": 5.0, "4": 6.0, "5": 3.0, "7": 2.5}
    for i, (k, d) in enumerate(durations.items()):
        write_clip(root / "clips_45seconds" / f"{k}.{'flac' if i % 2 else 'wav'}", d, seed=i)
    return {
        "root": root,
        "ids": list(sets),
        "labelled": list(static),
        "unlabelled": ["7"],
        "missing_audio": ["6"],
        "usable": ["2", "3", "4", "5"],
        "durations": durations,
        "expected": {"2": (-0.5, 0.5), "3": (1.0, 0.0), "4": (0.0, -1.0), "5": (-0.25, 0.25)},
        "expected_std": {"2": (0.25, 0.5)},  # (valence_std, arousal_std)
        "sets": sets,
        "genres": genres,
    }


# ---------------------------------------------------------------------------------------------- DEAM
DEAM_AVG = Path("DEAM_Annotations") / "annotations" / "annotations averaged per song"


def make_deam(base: Path) -> dict:
    """DEAM under `base` (returned as 'root'), with both static files and the dynamic wide tables.

    Excerpts 2, 3, 5, 7 in the 1-2000 file (leading-space column names and values); full song 2001 in
    the 2000-2058 file (with the extra max/min columns of that file). 7 has no audio file; an audio
    file 9.wav has no labels; 2001 is the longest clip (6 s).
    """
    root = base
    song_level = root / DEAM_AVG / "song_level"
    # valence_mean, valence_std, arousal_mean, arousal_std on 1..9
    clips = {
        "2": (3.0, 1.0, 7.0, 2.0),
        "3": (5.0, 0.8, 5.0, 0.8),
        "5": (9.0, 0.4, 1.0, 0.4),
        "7": (4, 1, 4, 1),
    }
    _write(
        song_level / "static_annotations_averaged_songs_1_2000.csv",
        "song_id, valence_mean, valence_std, arousal_mean, arousal_std\n"
        + "".join(f"{k}, {v}, {sv}, {a}, {sa}\n" for k, (v, sv, a, sa) in clips.items()),
    )
    _write(
        song_level / "static_annotations_averaged_songs_2000_2058.csv",
        "song_id, valence_mean, valence_std, valence_max_mean, valence_max_std, valence_min_mean, "
        "valence_min_std, arousal_mean, arousal_std, arousal_max_mean, arousal_max_std, arousal_min_mean, "
        "arousal_min_std\n"
        "2001, 6.0, 1.0, 7.0, 1.0, 5.0, 1.0, 2.0, 0.8, 3.0, 1.0, 1.0, 1.0\n",
    )
    dyn = root / DEAM_AVG / "dynamic (per second annotations)"
    n_full = 10
    cols = [f"sample_{15000 + 500 * i}ms" for i in range(n_full)]
    for dim, val in (("valence", 0.2), ("arousal", -0.3)):
        rows = ["song_id," + ",".join(cols)]
        for k in list(clips) + ["2001"]:
            n = n_full if k == "2001" else 3
            rows.append(f"{k}," + ",".join(f"{val:.2f}" if i < n else "" for i in range(n_full)))
        _write(dyn / f"{dim}.csv", "\n".join(rows) + "\n")
    audio = root / "DEAM_audio" / "MEMD_audio"
    durations = {"2": 3.0, "3": 4.0, "5": 2.0, "2001": 6.0, "9": 3.0}
    for i, (k, d) in enumerate(durations.items()):
        write_clip(audio / f"{k}.{'flac' if i % 2 else 'wav'}", d, seed=i)
    return {
        "root": root,
        "labelled": list(clips) + ["2001"],
        "unlabelled": ["9"],
        "missing_audio": ["7"],
        "usable": ["2", "3", "5", "2001"],
        "full_songs": ["2001"],
        "durations": durations,
        "expected": {"2": (-0.5, 0.5), "3": (0.0, 0.0), "5": (1.0, -1.0), "2001": (0.25, -0.75)},
        "expected_std": {"2": (0.25, 0.5)},
        "dynamic_end_s": {"2": 16.0, "2001": 19.5},
    }


def pmemo_from_memo_layout(memo_root: Path, base: Path) -> Path:
    """A PMEmo2019-layout copy of a dataset in the Memo2496 layout (e.g. a small SynthMemo): metadata.csv,
    chorus/{musicId}.wav and annotations/static_annotations.csv with labels mapped back to [0, 1].
    Used to run the pipeline on two datasets of different published layouts."""
    import pandas as pd

    from damer_lite.datasets import memo2496

    df = memo2496.load(memo_root, window=(0.0, 600.0))
    root = base / "PMEmo2019"
    (root / "chorus").mkdir(parents=True, exist_ok=True)
    (root / "annotations").mkdir(exist_ok=True)
    meta, static = [], []
    for i, row in enumerate(df.itertuples(), start=1):
        y, sr = sf.read(row.audio_path, dtype="float32")
        sf.write(str(root / "chorus" / f"{i}.wav"), y, sr)
        meta.append({"musicId": i, "fileName": f"{i}.mp3", "title": f"t{i}", "artist": "a", "album": "b",
                     "duration": round(len(y) / sr, 2), "chorus_start_time": "0:00",
                     "chorus_end_time": f"0:{int(len(y) / sr):02d}"})
        static.append({"musicId": i, "Arousal(mean)": (row.arousal + 1) / 2, "Valence(mean)": (row.valence + 1) / 2})
    pd.DataFrame(meta).to_csv(root / "metadata.csv", index=False)
    pd.DataFrame(static).to_csv(root / "annotations" / "static_annotations.csv", index=False)
    return root
