"""Benchmark the §III-C feature extractors against their references, measured in the same run.

    python benchmarks/bench_features.py                    # 60 s at 44.1 kHz, median of 3 runs
    python benchmarks/bench_features.py --seconds 20 --repeats 5 --device cuda
    python benchmarks/bench_features.py --threads 1            # torch + BLAS limited to one thread
    python benchmarks/bench_features.py --folder my_audio/  # + end-to-end store throughput

Prints, for ours (log-Mel; cochleagram 'exact' and 'fft') and the references (librosa Mel,
gammatone.gtgram, gammatone.fft_gtgram): median wall time, x real time, the speed-up ratios, and parity
(p99 / max |delta log10 RMS| against gtgram and fft_gtgram; max |delta ln| against librosa Mel).
Everything is measured in the same run, interleaved (one round of every extractor per repeat), so that
load from other jobs affects all of them alike. Ours is called once on a short signal before timing
(filter plans are built once per process, as in the feature store).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from damer_lite.features.cochleagram import exact_rms, fft_rms
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


def timeit_all(fns: dict, repeats: int) -> tuple[dict, dict]:
    """Median wall time of each fn over `repeats` interleaved rounds, and each fn's last output."""
    times: dict = {k: [] for k in fns}
    outs: dict = {}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            outs[name] = fn()
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            times[name].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}, outs


def blas_threads() -> str:
    try:
        from threadpoolctl import threadpool_info

        return ",".join(str(i["num_threads"]) for i in threadpool_info() if i.get("user_api") == "blas") or "?"
    except Exception:
        return "?"


def dlog10(a, b, floor=1e-5) -> np.ndarray:
    return np.abs(np.log10(np.maximum(a, floor)) - np.log10(np.maximum(b, floor)))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--sr", type=int, default=44100)
    ap.add_argument("--frame-length", type=int, default=2048)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default=None, help="torch device for ours (default cuda if available)")
    ap.add_argument("--skip-gtgram", action="store_true", help="do not time gammatone.gtgram (slow)")
    ap.add_argument("--folder", default=None, help="audio folder for end-to-end store throughput")
    ap.add_argument("--workers", type=int, default=1)
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

    import librosa
    from gammatone.fftweight import fft_gtgram
    from gammatone.gtgram import gtgram

    cfg = FeatureConfig(sr=args.sr, frame_length=args.frame_length)
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
        "gammatone.fft_gtgram": lambda: fft_gtgram(xp, args.sr, n / args.sr, hop / args.sr, cfg.n_coch,
                                                   cfg.coch_fmin),
    }
    if not args.skip_gtgram:
        fns["gammatone.gtgram"] = lambda: gtgram(xp, args.sr, n / args.sr, hop / args.sr, cfg.n_coch,
                                                 cfg.coch_fmin)
    warm = xp[: min(xp.size, 5 * args.sr)]
    log_mel(x[: warm.size], cfg, device=dev), exact_rms(warm, cfg, device=dev), fft_rms(warm, cfg, device=dev)
    rows, outs = timeit_all(fns, args.repeats)
    mel, lmel, ex, ff, rff = (outs[k] for k in ("ours log-Mel", "librosa Mel", "ours coch exact", "ours coch fft",
                                                "gammatone.fft_gtgram"))
    rg = outs.get("gammatone.gtgram")

    print(f"\n{'extractor':<24}{'median s':>10}{'x real time':>14}")
    for name, t in rows.items():
        print(f"{name:<24}{t:>10.3f}{args.seconds / t:>14.1f}")
    print("\nspeed-ups (same run):")
    print(f"  ours log-Mel / librosa Mel         {rows['librosa Mel'] / rows['ours log-Mel']:8.1f}x")
    if rg is not None:
        print(f"  ours coch exact / gtgram           {rows['gammatone.gtgram'] / rows['ours coch exact']:8.1f}x")
    print(f"  ours coch fft / fft_gtgram         {rows['gammatone.fft_gtgram'] / rows['ours coch fft']:8.1f}x")

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

    if args.folder:
        import pandas as pd

        from damer_lite.features.store import extract

        files = sorted(p for p in Path(args.folder).rglob("*") if p.suffix.lower() in
                       {".wav", ".flac", ".mp3", ".ogg"})
        man = pd.DataFrame({"track_id": [str(p.relative_to(args.folder)) for p in files],
                            "audio_path": [str(p) for p in files]})
        with tempfile.TemporaryDirectory() as tmp:
            s = extract(man, tmp, cfg, workers=args.workers, device=args.device, dataset="bench")
        print(f"\nend to end ({len(files)} files, {args.workers} workers): {s.x_realtime:.1f}x real time")


if __name__ == "__main__":
    main()
