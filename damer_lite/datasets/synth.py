"""SynthMemo: a synthetic, deterministic miniature of Memo2496 written in Memo2496's published layout.

Per track: a latent V-A trajectory at 1 Hz with slow section changes -> audio rendered from documented
cues (`synth_audio.py`) with an emotion-independent style nuisance -> per-second ratings from a simulation
of the paper's expert protocol (`annotation.py`) -> the Memo2496 files:

    MusicRawData/{uuid}.flac          audio (FLAC or WAV; the loader accepts any existing extension)
    songs_info_all.csv                song_id, file_name, duration_s
    valence_all_average.csv, arousal_all_average.csv, valence_all_std.csv, arousal_all_std.csv
                                      wide tables song_id, sample_0ms, sample_1000ms, ... (1 Hz, NaN after
                                      the song ends, values in [-1, 1]; mean / sd over the 20 raters)
    Label_pseudonymous.json           [{MID, AnnotatorID, V: [...], A: [...]}], one value per second
    synth_truth/                      SynthMemo only: latent V-A, style and cue parameters, annotators
                                      (demographics, cohort, calibration), generation parameters

Same seed and arguments => byte-identical files. Tracks are generated from per-track random streams,
so a track does not depend on how many others are generated.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from contextlib import closing
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from scipy.ndimage import uniform_filter1d

from damer_lite import __version__
from damer_lite.datasets import annotation as ann
from damer_lite.datasets.synth_audio import TIMBRES, render_track, section_cues
from damer_lite.progress import tqdm
from damer_lite.workers import in_worker, process_pool, stop_workers

# Named sizes. `quick` is the set of `make results` on 2 CPU cores, sized for a powered ablation: with
# DESIGN_TEST_SIZE its splits are 210 train / 600 test tracks. The training size (and so the cost of every grid
# cell) is that of the first 300-track set with its 70/30 split. The test set is what sets the power: the
# paired accuracy difference of two configurations on one seed varies over seeds about as much as sampling its
# test tracks alone makes it vary (table5_paired's `test_noise_sd_acc_pp` next to `sd_diff_acc_pp`; on 300
# test tracks the valence comparisons' test noise was 1.3-2.4 points against an observed sd of 1.1-2.8), so
# the minimum detectable difference (5 seeds, 80 % power) shrinks as 1/sqrt(test tracks): 600 test tracks
# are sized for <= 3 points where 300 gave up to 4.7. 20 s at 22.05 kHz keeps generation + feature extraction
# to a few minutes, leaving most of the budget to training.
SIZES = {
    "smoke": {"n_tracks": 48, "duration": 6.0, "sr": 16000},
    "quick": {"n_tracks": 810, "duration": 20.0, "sr": 22050},
}
# The test split per seed each size is designed for (a fraction, or a number of test tracks): what the
# pipeline uses for SynthMemo when `datasets.synthmemo.test_size` is null. The CLIs default to 0.3 (70/30).
DESIGN_TEST_SIZE = {"smoke": 0.3, "quick": 600}
DEFAULT_SEED = 2496
FORMATS = ("flac", "wav")


def _rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, *keys]))


def latent_trajectory(rng: np.random.Generator, seconds: int) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """A slowly varying latent V-A trajectory (S, 2) at 1 Hz with section boundaries [(start, end)]."""
    base = rng.uniform(-0.8, 0.8, size=2)
    n_sec = int(min(1 + rng.poisson(seconds / 12.0), max(1, seconds // 4)))
    cuts = np.sort(rng.choice(np.arange(4, max(5, seconds - 3)), size=n_sec - 1, replace=False)) if n_sec > 1 else []
    bounds = [0, *[int(c) for c in cuts], seconds]
    sections = list(zip(bounds[:-1], bounds[1:], strict=True))
    steps = np.zeros((seconds, 2))
    for s, e in sections:
        steps[s:e] = base + rng.normal(0, 0.2, size=2)
    smooth = uniform_filter1d(steps, size=3, axis=0, mode="nearest")
    wander = np.cumsum(rng.normal(0, 0.02, size=(seconds, 2)), axis=0)
    return np.clip(smooth + wander, -0.95, 0.95), sections


def make_style(rng: np.random.Generator) -> dict:
    """Emotion-independent style nuisance: timbre family, percussion on/off, reverb."""
    return {
        "timbre": str(TIMBRES[int(rng.integers(len(TIMBRES)))]),
        "percussion": bool(rng.random() < 0.5),
        "reverb_s": float(rng.choice([0.0, 0.8, 1.6])),
    }


def make_track(seed: int, index: int, duration: float, sr: int) -> dict:
    """Everything about one track: id, style, latent, cue parameters and audio."""
    rng = _rng(seed, 1, index)
    dur = round(float(duration * rng.uniform(0.85, 1.15)), 1)
    seconds = int(np.ceil(dur))
    latent, sections = latent_trajectory(rng, seconds)
    style = make_style(rng)
    offsets = {  # per-track cue noise: performers and arrangements differ
        "tempo": rng.normal(0, 14),
        "loudness": rng.normal(0, 3.5),
        "attack": rng.normal(0, 0.02),
        "rolloff": rng.normal(0, 0.35),
        "mode": rng.normal(0, 1.0),
        "register": rng.normal(0, 4.0),
    }
    cue_rows, render_sections = [], []
    for k, (s, e) in enumerate(sections):
        e_s = min(float(e), dur)
        v, a = latent[s:e].mean(axis=0)
        cues = section_cues(float(v), float(a), rng, offsets)
        render_sections.append((float(s), e_s, cues))
        cue_rows.append({"section": k, "start_s": float(s), "end_s": e_s, "valence": float(v), "arousal": float(a),
                         **cues})
    audio = render_track(render_sections, dur, style, sr, rng)
    return {
        "song_id": index + 1,
        "file_stem": str(uuid.UUID(bytes=rng.bytes(16), version=4)),
        "duration_s": dur,
        "latent": latent,
        "style": style,
        "cues": cue_rows,
        "audio": audio,
    }


def _render_track(seed: int, index: int, duration: float, sr: int, fmt: str, audio_dir: str) -> tuple[dict, float]:
    """Make track `index` and write its audio file atomically; (the track without its audio, seconds spent
    making it). Run in the generating process or in a worker (`generate(workers=...)`)."""
    r0 = time.perf_counter()
    tr = make_track(seed, index, duration, sr)
    seconds = time.perf_counter() - r0
    audio = tr.pop("audio")
    tr["file_name"] = f"{tr['file_stem']}.{fmt}"
    _write_atomic(Path(audio_dir) / tr["file_name"],
                  lambda p: sf.write(p, audio, sr, subtype="PCM_16", format=fmt.upper()))
    return tr, seconds


def _render_in_worker(*args) -> tuple[dict, float]:
    return in_worker(_render_track, *args)


def _rendered(seed, n_tracks, duration, sr, fmt, audio_dir: Path, workers: int, progress: bool):
    """Yield `_render_track`'s result for every track in index order; `workers` > 1 renders them in that many
    worker processes (each track has its own random stream, so the files are the same either way). Interrupted
    (Ctrl-C, SIGTERM through the CLI): the workers are stopped and half-written audio files removed."""
    bar = tqdm(total=n_tracks, desc="SynthMemo", unit="track", disable=not progress)
    pool = None
    try:
        if workers <= 1 or n_tracks < 2:
            for i in range(n_tracks):
                out = _render_track(seed, i, duration, sr, fmt, str(audio_dir))
                bar.update()
                yield out
        else:
            pool, others = process_pool(min(workers, n_tracks), torch_threads=False)
            futures = [pool.submit(_render_in_worker, seed, i, duration, sr, fmt, str(audio_dir))
                       for i in range(n_tracks)]
            for fut in futures:
                out = fut.result()
                bar.update()
                yield out
            pool.shutdown()
            pool = None
    except BaseException:
        if pool is not None:
            stop_workers(pool, others)
        for stray in audio_dir.glob("*.tmp"):
            stray.unlink(missing_ok=True)
        raise
    finally:
        bar.close()


def _write_atomic(path: Path, write) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def _wide(curves: dict[int, np.ndarray], n_cols: int) -> pd.DataFrame:
    cols = [f"sample_{1000 * k}ms" for k in range(n_cols)]
    rows = np.full((len(curves), n_cols), np.nan)
    for i, c in enumerate(curves.values()):
        rows[i, : c.size] = c
    df = pd.DataFrame(np.round(rows, 4), columns=cols)
    df.insert(0, "song_id", list(curves))
    return df


def generate(
    out: str | os.PathLike,
    n_tracks: int = SIZES["smoke"]["n_tracks"],
    seed: int = DEFAULT_SEED,
    duration: float = SIZES["smoke"]["duration"],
    sr: int = SIZES["smoke"]["sr"],
    fmt: str = "flac",
    progress: bool = True,
    workers: int = 1,
) -> dict:
    """Write a SynthMemo dataset into `out` and return a summary (counts, timings, × real time). `workers` > 1
    renders the tracks' audio in that many processes; the files are byte-identical to those of one process."""
    if n_tracks < 6:
        raise ValueError(f"n_tracks must be >= 6 (3 annotation groups x 2 classes), got {n_tracks}")
    if duration < 3:
        raise ValueError(f"duration must be >= 3 s, got {duration}")
    if sr < 8000:
        raise ValueError(f"sr must be >= 8000 Hz, got {sr}")
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
    out = Path(out)
    (out / "MusicRawData").mkdir(parents=True, exist_ok=True)
    (out / "synth_truth").mkdir(exist_ok=True)
    t0 = time.perf_counter()

    # annotators and calibration (one stream, independent of the tracks)
    arng = _rng(seed, 0)
    annotators = ann.make_annotators(arng)
    ann.calibrate(annotators, arng)
    groups = ann.assign_groups(n_tracks, arng)

    info, truth, cue_rows, latent_rows, labels = [], [], [], [], []
    avg = {"valence": {}, "arousal": {}}
    std = {"valence": {}, "arousal": {}}
    audio_seconds = 0.0
    render_time = 0.0
    with closing(_rendered(seed, n_tracks, duration, sr, fmt, out / "MusicRawData", workers, progress)) as rendered:
        for i, (tr, seconds) in enumerate(rendered):
            render_time += seconds
            audio_seconds += tr["duration_s"]
            fname = tr["file_name"]
            sid = tr["song_id"]
            info.append({"song_id": sid, "file_name": fname, "duration_s": tr["duration_s"]})
            truth.append({"song_id": sid, "file_name": fname, "group": int(groups[i]), **tr["style"],
                          "latent_valence_mean": float(tr["latent"][:, 0].mean()),
                          "latent_arousal_mean": float(tr["latent"][:, 1].mean()), "duration_s": tr["duration_s"]})
            cue_rows += [{"song_id": sid, **c} for c in tr["cues"]]
            latent_rows += [{"song_id": sid, "time_s": s, "valence": round(float(v), 4), "arousal": round(float(a), 4)}
                            for s, (v, a) in enumerate(tr["latent"])]
            # ratings by the 20 annotators of the two cohorts assigned to this track's group, each with their own
            # reading (interpretation) of the track, scaled by the track's ambiguity
            cohorts = ann.raters_for_group(int(groups[i]))
            ambiguity = ann.track_ambiguity(_rng(seed, 3, i))
            truth[-1]["ambiguity"] = ambiguity
            ratings = []
            for j, an in enumerate(annotators):
                if an.cohort not in cohorts:
                    continue
                rrng = _rng(seed, 2, i, j)
                rr = ann.rate(an, tr["latent"], rrng, offset=ann.interpretation(rrng, ambiguity))
                ratings.append(rr)
                labels.append({"MID": sid, "AnnotatorID": an.annotator_id,
                               "V": [round(float(x), 4) for x in rr[:, 0]],
                               "A": [round(float(x), 4) for x in rr[:, 1]]})
            ratings = np.stack(ratings)  # (20, S, 2)
            for d, name in enumerate(("valence", "arousal")):
                avg[name][sid] = ratings[:, :, d].mean(axis=0)
                std[name][sid] = ratings[:, :, d].std(axis=0)

    n_cols = max(c.size for c in avg["valence"].values())
    w = lambda df, name: _write_atomic(out / name, lambda p: df.to_csv(p, index=False))  # noqa: E731
    w(pd.DataFrame(info), "songs_info_all.csv")
    for name in ("valence", "arousal"):
        w(_wide(avg[name], n_cols), f"{name}_all_average.csv")
        w(_wide(std[name], n_cols), f"{name}_all_std.csv")
    _write_atomic(out / "Label_pseudonymous.json", lambda p: p.write_text(json.dumps(labels)))
    w(pd.DataFrame(truth), "synth_truth/tracks.csv")
    w(pd.DataFrame(cue_rows), "synth_truth/sections.csv")
    w(pd.DataFrame(latent_rows), "synth_truth/latent_va.csv")
    w(pd.DataFrame([a.to_row() for a in annotators]), "synth_truth/annotators.csv")
    params = {"generator": "damer_lite.datasets.synth", "version": __version__, "n_tracks": n_tracks,
              "seed": seed, "duration": duration, "sr": sr, "format": fmt}
    _write_atomic(out / "synth_truth" / "params.json", lambda p: p.write_text(json.dumps(params, indent=1)))
    elapsed = time.perf_counter() - t0
    return {
        "out": str(out),
        "n_tracks": n_tracks,
        "audio_seconds": audio_seconds,
        "elapsed_s": elapsed,
        "x_realtime": audio_seconds / max(elapsed, 1e-9),
        "render_x_realtime": audio_seconds / max(render_time, 1e-9),  # per rendering process
        "workers": max(1, min(workers, n_tracks)),
        "annotators_passed_first_round": sum(a.calibration_rounds == 1 for a in annotators),
        "annotators_retrained": sum(a.calibration_rounds > 1 for a in annotators),
        "params": params,
    }


def existing_params(out: str | os.PathLike) -> dict | None:
    """The parameters of a complete SynthMemo in `out` (params.json is written last), else None."""
    p = Path(out) / "synth_truth" / "params.json"
    return json.loads(p.read_text()) if p.is_file() else None


def ensure(out: str | os.PathLike, size: str = "quick", seed: int = DEFAULT_SEED, progress: bool = True) -> Path:
    """Generate the named SynthMemo size into `out` unless a complete copy with the same parameters is there."""
    if size not in SIZES:
        raise ValueError(f"unknown SynthMemo size {size!r}; known: {sorted(SIZES)}")
    want = {**SIZES[size], "seed": seed, "format": "flac"}
    old = existing_params(out)
    if old is None or any(old.get(k) != v for k, v in want.items()):
        generate(out, seed=seed, progress=progress, **SIZES[size])
    return Path(out)
