"""Training throughput and peak memory of DAMER on CPU, and the projected time of the paper's protocol.

Times the real training loop (forward, Eq. 21 loss with PCL and SAML, backward, Adam step, momentum
encoder and queue update) on random data with T=87 frames (128 Mel + 84 cochleagram tokens), and, as the
reference measured in the same run, the same encoder trained with the classification loss only (all
modules off). With --compare, the full DAMER epoch is also timed with the original step-by-step code
(`_train_epoch(fast=False)`: per-step .item() statistics, per-batch host-to-device copies, per-parameter
momentum update) and the optimised one (fast=True, the default; same numbers), interleaved, median of
--repeats epochs each. Projection: epochs x n_train / throughput (paper: 80 epochs, 0.7 x 2496 = 1747 tracks).

    python benchmarks/bench_train.py                       # paper model, 2-core target of 10 min
    python benchmarks/bench_train.py --compare --repeats 3 # + original vs optimised epoch code, same run
    python benchmarks/bench_train.py --profile quick --n-train 210 --epochs 20 --target-min 0.5
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
import tracemalloc

import torch

from damer_lite.config import apply_overrides, profile
from damer_lite.model.damer import DAMER, count_parameters
from damer_lite.model.saml import MemoryQueue
from damer_lite.train import Part, _train_epoch, amp_dtype, grad_scaler


def setup(cfg, n_samples: int, n_frames: int, seed: int = 0):
    """Model, key model, queue, optimiser, data and warm-up batch for timing `_train_epoch`."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    part = Part(torch.randn(n_samples, 128, n_frames, generator=g), torch.randn(n_samples, 84, n_frames, generator=g),
                torch.randint(0, 2, (n_samples,), generator=g))
    model = DAMER(cfg, 128, 84, n_frames)
    key_model = None
    if cfg.modules.saml and cfg.saml.momentum_mode == "ema":
        key_model = DAMER(cfg, 128, 84, n_frames).requires_grad_(False)
    queue = MemoryQueue(cfg.saml.queue_size, cfg.model.d_fuse) if cfg.modules.saml else None
    opt = torch.optim.Adam(model.parameters(), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
    dev = torch.device("cpu")
    amp = amp_dtype(cfg, dev)
    scaler = grad_scaler(dev, amp)
    history = {"steps": {"queue_entropy": []}}
    warm = Part(part.mel[: cfg.train.batch_size], part.coch[: cfg.train.batch_size], part.y[: cfg.train.batch_size])
    args = (model, key_model, queue)
    _train_epoch(*args, {"train": warm}, cfg, opt, scaler, g, dev, amp, 1.0, 0.5, history)

    def epoch(fast: bool = True) -> float:
        t0 = time.perf_counter()
        _train_epoch(*args, {"train": part}, cfg, opt, scaler, g, dev, amp, 1.0, 0.5, history, fast=fast)
        return n_samples / (time.perf_counter() - t0)

    return epoch, count_parameters(model)


def time_loop(cfg, n_samples: int, n_frames: int, seed: int = 0) -> tuple[float, int]:
    """Samples/s of `_train_epoch` over n_samples random tracks (after a warm-up epoch), and #params."""
    epoch, n_params = setup(cfg, n_samples, n_frames, seed)
    return epoch(), n_params


def compare(cfg, n_samples: int, n_frames: int, repeats: int) -> tuple[float, float]:
    """Median samples/s of the original (fast=False) and optimised (fast=True) epoch code, interleaved."""
    epoch, _ = setup(cfg, n_samples, n_frames)
    old, new = [], []
    for _ in range(repeats):
        old.append(epoch(fast=False))
        new.append(epoch(fast=True))
    return statistics.median(old), statistics.median(new)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="paper", choices=["smoke", "quick", "paper"])
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--frames", type=int, default=87, help="T, frames per track (released features: 87)")
    ap.add_argument("--samples", type=int, default=256, help="tracks timed per configuration")
    ap.add_argument("--n-train", type=int, default=round(0.7 * 2496), help="training tracks to project for")
    ap.add_argument("--epochs", type=int, default=None, help="epochs to project for (default: the profile's)")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--target-min", type=float, default=10.0, help="target wall time of the protocol, minutes")
    ap.add_argument("--compare", action="store_true", help="also time the original vs the optimised epoch code")
    ap.add_argument("--repeats", type=int, default=3, help="epochs per code path for --compare")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = apply_overrides(profile(args.profile), [*args.overrides, "train.progress=false"])
    epochs = args.epochs or cfg.train.epochs
    ref_cfg = apply_overrides(cfg, ["modules.dsaf=false", "modules.pcl=false", "modules.saml=false"])

    tracemalloc.start()
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    sps, n_params = time_loop(cfg, args.samples, args.frames)
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    _, py_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    ref_sps, _ = time_loop(ref_cfg, args.samples, args.frames)

    minutes = epochs * args.n_train / sps / 60.0
    m = cfg.model
    print(f"DAMER profile={args.profile} D={m.d} D_f={m.d_fuse} H={m.heads} L={m.layers} batch={cfg.train.batch_size} "
          f"T={args.frames} tokens={'128+84' if m.token_axis == 'freq' else f'{args.frames}+{args.frames}'} "
          f"params={n_params:,} threads={torch.get_num_threads()} amp={cfg.train.amp}")
    print(f"  training throughput: {sps:8.1f} samples/s (full DAMER: DSAF + PCL + SAML, momentum encoder)")
    print(f"  reference          : {ref_sps:8.1f} samples/s (same encoder, self-attention, CE only); "
          f"ratio DAMER/reference = {sps / ref_sps:.2f}")
    print(f"  peak RSS {rss1 / 1024:.0f} MiB (before the timed loop {rss0 / 1024:.0f} MiB); "
          f"peak Python-heap allocations {py_peak / 2**20:.1f} MiB")
    if args.compare:
        old, new = compare(cfg, args.samples, args.frames, args.repeats)
        print(f"  epoch code, same run (median of {args.repeats} interleaved epochs of {args.samples} tracks):")
        print(f"    original (fast=False): {old:8.1f} samples/s -> {epochs * args.n_train / old / 60:.1f} min "
              f"for {epochs} epochs")
        print(f"    optimised (fast=True): {new:8.1f} samples/s -> {epochs * args.n_train / new / 60:.1f} min "
              f"for {epochs} epochs; speed-up {new / old:.2f}x")
    ok = minutes <= args.target_min
    print(f"  projected: {epochs} epochs x {args.n_train} tracks = {minutes:.1f} min "
          f"(target <= {args.target_min:g} min): {'MEETS' if ok else 'MISSES'} the target")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
