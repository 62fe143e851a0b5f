"""Benchmark the §III-C feature extractors against their references, measured in the same run.

    python benchmarks/bench_features.py                    # 60 s at 44.1 kHz, median of 3 runs
    python benchmarks/bench_features.py --seconds 20 --repeats 5 --device cuda
    python benchmarks/bench_features.py --threads 1            # torch + BLAS limited to one thread
    python benchmarks/bench_features.py --folder my_audio/  # + end-to-end store throughput
    python benchmarks/bench_features.py --make-folder 8 --e2e-only   # synthesise 8 x 60 s FLAC/MP3, end to end

Prints, for ours (log-Mel; cochleagram 'exact' and 'fft', both the inner RMS functions and the public
`cochleagram()` from the raw signal to the log-compressed output) and the references (librosa Mel,
gammatone.gtgram, gammatone.fft_gtgram): median wall time, x real time, the speed-up ratios, and parity
(p99 / max |delta log10 RMS| against gtgram and fft_gtgram; max |delta ln| against librosa Mel).
Everything is measured in the same run, interleaved (one round of every extractor per repeat), so that
load from other jobs affects all of them alike. Ours is called once on a short signal before timing
(filter plans are built once per process, as in the feature store). Besides wall time, the process CPU
time of each extractor is reported (core-seconds: less sensitive to other jobs on a shared machine).

End to end (--folder or --make-folder): `store.extract` over the folder with --workers 1 and 2 (processes
with one BLAS/torch thread each; workers=1 is pinned to one thread too), with and without the handcrafted
SVM descriptors, reporting x real time, x real time per core, and the projected time of Memo2496
(2496 x 60 s) on 2 cores; and a per-stage profile (decode+resample, Mel, cochleagram, pooling,
handcrafted, write) of single-threaded `compute_track` calls.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from machine import describe  # benchmarks/machine.py: what this ran on

from damer_lite.features.cochleagram import cochleagram, exact_rms, fft_rms
from damer_lite.features.config import FeatureConfig
from damer_lite.features.mel import default_device, log_mel


def music_like(seconds: float, sr: int, seed: int = 0) -> np.ndarray:
    """Harmonic notes with vibrato and decays over a pink-ish noise bed, peak about 0.5."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    x = np.zeros(n)
    note = 0.5
    for start in np.arange(0, seconds, note):
        f0 = 55 * 2 ** (rng.integers(0, 48) / 12)
        i0, i1 = int(start * sr), min(n, int((start + 2 * note) * sr))
        tt = t[i0:i1] - start
        env = np.exp(-tt * rng.uniform(1, 6))
        phase = 2 * np.pi * f0 * tt + 0.3 * np.sin(2 * np.pi * 5 * tt)
        for k in range(1, 10):
            if f0 * k < sr / 2:
                x[i0:i1] += env * 0.3 / k * np.sin(k * phase)
    white = np.fft.rfft(rng.standard_normal(n))
    white /= np.sqrt(np.maximum(np.arange(white.size), 1))
    x += 0.02 * np.fft.irfft(white, n) / np.std(np.fft.irfft(white, n))
    return (0.5 * x / np.abs(x).max()).astype(np.float32)


def timeit_all(fns: dict, repeats: int) -> tuple[dict, dict, dict]:
    """Median wall time and median process CPU time of each fn over `repeats` interleaved rounds, and each
    fn's last output."""
    times: dict = {k: [] for k in fns}
    cpu: dict = {k: [] for k in fns}
    outs: dict = {}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0, c0 = time.perf_counter(), time.process_time()
            outs[name] = fn()
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            times[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
    med = statistics.median
    return {k: med(v) for k, v in times.items()}, {k: med(v) for k, v in cpu.items()}, outs


def blas_threads() -> str:
    try:
        from threadpoolctl import threadpool_info

        return ",".join(str(i["num_threads"]) for i in threadpool_info() if i.get("user_api") == "blas") or "?"
    except Exception:
        return "?"


def dlog10(a, b, floor=1e-5) -> np.ndarray:
    return np.abs(np.log10(np.maximum(a, floor)) - np.log10(np.maximum(b, floor)))


def make_folder(folder: Path, n: int, seconds: float, sr: int, formats: list[str], unique: int = 3) -> list[Path]:
    """Synthesise n stereo music-like tracks of `seconds` at `sr` into `folder`, cycling through `formats`
    ('flac': 16-bit FLAC; 'mp3': MPEG layer III via libsndfile); `unique` distinct tracks per format, the
    others are file copies (each is still decoded and analysed separately)."""
    import soundfile as sf

    folder.mkdir(parents=True, exist_ok=True)
    subtype = {"flac": "PCM_16", "mp3": "MPEG_LAYER_III", "wav": "PCM_16"}
    out = []
    for i in range(n):
        fmt = formats[i % len(formats)]
        path = folder / f"track{i:04d}.{fmt}"
        if i >= unique * len(formats):  # a copy of an earlier file of the same format (encoding is slow)
            shutil.copyfile(out[i % (unique * len(formats))], path)
        else:
            left = music_like(seconds, sr, seed=100 + i)
            right = np.roll(left, 37) * np.float32(0.9)
            sf.write(path, np.stack([left, right], axis=1), sr, format=fmt.upper(), subtype=subtype[fmt])
        out.append(path)
    return out


def _one_thread() -> None:
    torch.set_num_threads(1)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:
        pass


def end_to_end(folder: Path, cfg: FeatureConfig, workers_list: list[int], device, seconds: float,
               memo_tracks: int = 2496, memo_seconds: float = 60.0, profile_tracks: int = 3) -> None:
    """store.extract over `folder` with each worker count, with and without handcrafted descriptors, and a
    per-stage profile of single-threaded compute_track calls."""
    import pandas as pd

    from damer_lite.features.store import compute_track, extract

    files = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in {".wav", ".flac", ".mp3", ".ogg"})
    if not files:
        raise SystemExit(f"no audio files in {folder}")
    man = pd.DataFrame({"track_id": [str(p.relative_to(folder)) for p in files],
                        "audio_path": [str(p) for p in files],
                        "window_start_s": 0.0, "window_end_s": seconds})
    old_threads = torch.get_num_threads()
    print(f"\nend to end: {len(files)} files in {folder} ({', '.join(sorted({p.suffix for p in files}))}), "
          f"window [0, {seconds:g}) s, resampled to {cfg.sr} Hz, exact cochleagram, T={cfg.n_tokens}")

    # per-stage profile, one thread, after one warm-up track (filter plans, librosa imports)
    _one_thread()
    compute_track(files[0], cfg, 0.0, seconds, device=device)
    timings: dict = {}
    n_prof = min(profile_tracks, len(files))
    t_write = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for f in files[:n_prof]:
            res = compute_track(f, cfg, 0.0, seconds, device=device, timings=timings)
            t0 = time.perf_counter()
            with open(Path(tmp) / "t.npz", "wb") as fh:
                np.savez(fh, **res)
            t_write += time.perf_counter() - t0
    timings["write npz"] = t_write
    total = sum(timings.values())
    print(f"\nper-stage time, one thread, mean of {n_prof} tracks:")
    print(f"  {'stage':<14}{'s/track':>9}{'share':>8}")
    for k in ("decode", "mel", "coch", "pool", "handcrafted", "write npz"):
        if k in timings:
            print(f"  {k:<14}{timings[k] / n_prof:>9.3f}{timings[k] / total:>8.0%}")
    print(f"  {'total':<14}{total / n_prof:>9.3f}   -> {seconds * n_prof / total:.0f}x real time on one core")

    rows = []
    for hand in (True, False):
        c = dataclasses.replace(cfg, handcrafted=hand)
        for w in workers_list:
            if w == 1:
                _one_thread()
            with tempfile.TemporaryDirectory() as tmp:
                s = extract(man, tmp, c, workers=w, device=device, dataset="bench", progress=False)
            rows.append((hand, w, s.x_realtime, s.steady_x_realtime, s.wall_s, s.n_ok))
    torch.set_num_threads(old_threads)
    print(f"\n{'handcrafted':<12}{'workers':>8}{'wall s':>9}{'x RT':>8}{'x RT steady':>13}{'steady / core':>15}"
          f"{'Memo2496, 2 cores':>19}{'ok':>7}")
    for hand, w, xrt, steady, wall, n_ok in rows:
        per_core = (steady if steady == steady else xrt) / w
        memo_min = memo_tracks * memo_seconds / (per_core * 2) / 60
        print(f"{'yes' if hand else 'no':<12}{w:>8}{wall:>9.1f}{xrt:>8.1f}{steady:>13.1f}{per_core:>15.1f}"
              f"{memo_min:>15.1f} min{n_ok:>4}/{len(files)}")
    print("(x RT: over the whole call, incl. worker start-up; steady: after each worker's first track. Memo2496:"
          " 2496 x 60 s / (2 x steady per-core rate); goal <= 15 min, i.e. >= 100x real time per core)")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--sr", type=int, default=44100)
    ap.add_argument("--frame-length", type=int, default=2048)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default=None, help="torch device for ours (default cuda if available)")
    ap.add_argument("--skip-gtgram", action="store_true", help="do not time gammatone.gtgram (slow)")
    ap.add_argument("--folder", default=None, help="audio folder for end-to-end store throughput")
    ap.add_argument("--make-folder", type=int, default=0, metavar="N",
                    help="synthesise N tracks of --seconds (FLAC/MP3, see --formats) in a temp dir, end to end")
    ap.add_argument("--formats", default="flac,mp3", help="formats cycled by --make-folder")
    ap.add_argument("--workers", default="1,2", help="comma-separated worker counts for the end-to-end run")
    ap.add_argument("--e2e-only", action="store_true", help="skip the extractor comparison")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch intra-op threads (our CPU paths use as many) and BLAS threads; default: as is")
    args = ap.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
        try:
            from threadpoolctl import threadpool_limits

            threadpool_limits(args.threads)
        except ImportError:
            pass
    cfg = FeatureConfig(sr=args.sr, frame_length=args.frame_length)
    print(describe())
    if not args.e2e_only:
        compare(args, cfg)
    workers = [int(w) for w in str(args.workers).split(",") if w]
    if args.folder:
        end_to_end(Path(args.folder), cfg, workers, args.device, args.seconds)
    if args.make_folder:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            make_folder(Path(tmp), args.make_folder, args.seconds, args.sr, args.formats.split(","))
            print(f"\nsynthesised {args.make_folder} tracks in {time.perf_counter() - t0:.1f} s")
            end_to_end(Path(tmp), cfg, workers, args.device, args.seconds)
    print(f"end: {describe()}")


def compare(args, cfg: FeatureConfig) -> None:
    import librosa
    from gammatone.fftweight import fft_gtgram
    from gammatone.gtgram import gtgram

    dev = default_device(args.device)
    n, hop = cfg.frame_length, cfg.hop_length
    x = music_like(args.seconds, args.sr)
    xp = np.concatenate([x[:1], x[1:] - cfg.preemphasis * x[:-1]]).astype(np.float64)
    print(f"signal: {args.seconds:.0f} s music-like at {args.sr} Hz; N={n}, hop={hop}, 128 Mel, 84 gammatone "
          f"channels from {cfg.coch_fmin:.0f} Hz; device={dev}; threads: torch={torch.get_num_threads()}, "
          f"BLAS={blas_threads()}, cores={os.cpu_count()}; median of {args.repeats} interleaved runs")

    def lib_mel():
        s = librosa.feature.melspectrogram(
            y=np.pad(xp.astype(np.float32), (n // 2, n // 2)), sr=args.sr, n_fft=2 * n, hop_length=hop,
            win_length=n, window="hamming", center=False, power=2.0, n_mels=128)
        return np.log(np.maximum(s, 1e-10))

    fns = {
        "ours log-Mel": lambda: log_mel(x, cfg, device=dev),
        "librosa Mel": lib_mel,
        "ours coch exact": lambda: exact_rms(xp, cfg, device=dev)[0].cpu().numpy(),
        "ours coch fft": lambda: fft_rms(xp, cfg, device=dev)[0].cpu().numpy(),
        # the public entry point: pre-emphasis + filterbank + RMS + power law + log10 from the raw signal
        "cochleagram(exact)": lambda: cochleagram(x, args.sr, cfg, method="exact", device=dev),
        "cochleagram(fft)": lambda: cochleagram(x, args.sr, cfg, method="fft", device=dev),
        "gammatone.fft_gtgram": lambda: fft_gtgram(xp, args.sr, n / args.sr, hop / args.sr, cfg.n_coch,
                                                   cfg.coch_fmin),
    }
    if not args.skip_gtgram:
        fns["gammatone.gtgram"] = lambda: gtgram(xp, args.sr, n / args.sr, hop / args.sr, cfg.n_coch,
                                                 cfg.coch_fmin)
    warm = xp[: min(xp.size, 5 * args.sr)]
    log_mel(x[: warm.size], cfg, device=dev), exact_rms(warm, cfg, device=dev), fft_rms(warm, cfg, device=dev)
    for method in ("exact", "fft"):
        cochleagram(x[: warm.size], args.sr, cfg, method=method, device=dev)
    rows, cpu, outs = timeit_all(fns, args.repeats)
    mel, lmel, ex, ff, rff = (outs[k] for k in ("ours log-Mel", "librosa Mel", "ours coch exact", "ours coch fft",
                                                "gammatone.fft_gtgram"))
    rg = outs.get("gammatone.gtgram")

    print(f"\n{'extractor':<24}{'median s':>10}{'x real time':>14}{'CPU s':>10}")
    for name, t in rows.items():
        print(f"{name:<24}{t:>10.3f}{args.seconds / t:>14.1f}{cpu[name]:>10.3f}")
    print("\nspeed-ups (same run):")
    print(f"  ours log-Mel / librosa Mel         {rows['librosa Mel'] / rows['ours log-Mel']:8.1f}x")
    if rg is not None:
        print(f"  ours coch exact / gtgram           {rows['gammatone.gtgram'] / rows['ours coch exact']:8.1f}x"
              f"   (CPU time: {cpu['gammatone.gtgram'] / cpu['ours coch exact']:.1f}x)")
    print(f"  ours coch fft / fft_gtgram         {rows['gammatone.fft_gtgram'] / rows['ours coch fft']:8.1f}x"
          f"   (CPU time: {cpu['gammatone.fft_gtgram'] / cpu['ours coch fft']:.1f}x)")
    print("  public cochleagram(), raw signal in, log-compressed cochleagram out (references: RMS only):")
    if rg is not None:
        print(f"    cochleagram(exact) / gtgram      {rows['gammatone.gtgram'] / rows['cochleagram(exact)']:8.1f}x"
              f"   (CPU time: {cpu['gammatone.gtgram'] / cpu['cochleagram(exact)']:.1f}x)")
    print(f"    cochleagram(fft) / fft_gtgram    {rows['gammatone.fft_gtgram'] / rows['cochleagram(fft)']:8.1f}x"
          f"   (CPU time: {cpu['gammatone.fft_gtgram'] / cpu['cochleagram(fft)']:.1f}x)")

    print("\nparity:")
    d_mel = np.abs(mel.cpu().numpy()[:, 1:-1] - lmel[:, 1:-1])
    print(f"  log-Mel vs librosa: max |d ln| = {d_mel.max():.2e} (frames 1..-2)")
    if rg is not None:
        d = dlog10(ex, rg)
        print(f"  exact vs gtgram: p99 |d log10 RMS| = {np.percentile(d, 99):.2e}, max = {d.max():.2e}")
    d = dlog10(ff[:, :-1], rff[:, :-1])
    bug = bool(np.all(rff[:, -1] == 0))
    print(f"  fft vs fft_gtgram (all but last column): p99 = {np.percentile(d, 99):.2e}, max = {d.max():.2e}; "
          f"fft_gtgram last column empty: {bug}")


if __name__ == "__main__":
    main()
