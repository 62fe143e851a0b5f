"""Training throughput and peak memory of DAMER on CPU, and the projected time of the paper's protocol.

Times the real training loop (forward, Eq. 21 loss with PCL and SAML, backward, Adam step, momentum
encoder and queue update) on random data with T=87 frames (128 Mel + 84 cochleagram tokens), and, as the
reference measured in the same run, the same encoder trained with the classification loss only (all
modules off). Each configuration runs one warm-up epoch, then --repeats epochs interleaved with the
reference's; the median is reported. This is done per precision: fp32 and, where the CPU has native
bfloat16 (AVX512-BF16/AMX) or on CUDA, bf16 autocast (`train.amp=bf16`).

With --compare-kernels, the same epochs are also timed with torch's own dropout and fused attention
(`damer_lite.model.ops.torch_kernels`) against this project's (same run, interleaved).
Projection: epochs x n_train / throughput (paper: 80 epochs, 0.7 x 2496 = 1747 tracks).

    python benchmarks/bench_train.py                       # paper model, fp32 and bf16, 2-core target 10 min
    python benchmarks/bench_train.py --compare-kernels     # + torch's dropout/attention as the before
    python benchmarks/bench_train.py --profile quick --n-train 210 --epochs 20 --target-min 0.5
    python benchmarks/bench_train.py --profile quick,paper --precision bf16 --threads 1 --grid-runs results/runs

--profile takes a comma-separated list (each profile is timed in turn, in the same run). Each line also gives the
arithmetic of one training step (forward + backward, counted by torch.utils.flop_counter) and the rate at
which it was done, to tell per-step overhead from arithmetic. --grid-runs reads the run folders of a finished
grid and prints the median wall time per cell (train_run: data, training, evaluation, saving) per
configuration, with the cells' recorded training samples/s.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time
import tracemalloc
from pathlib import Path

import torch
from machine import describe  # benchmarks/machine.py: what this ran on

from damer_lite.config import apply_overrides, profile
from damer_lite.model.damer import DAMER, count_parameters
from damer_lite.model.ops import torch_kernels
from damer_lite.model.saml import SAML
from damer_lite.training.data import Part
from damer_lite.training.loop import train_epoch
from damer_lite.training.precision import amp_dtype, grad_scaler, native_bf16_cpu


def step_gflop(cfg, n_frames: int) -> float:
    """GFLOP of one forward + backward pass of a training batch (matmuls, as torch.utils.flop_counter counts)."""
    from torch.utils.flop_counter import FlopCounterMode

    model = DAMER(cfg, 128, 84, n_frames)
    b = cfg.train.batch_size
    with FlopCounterMode(display=False) as fc:
        out = model(torch.randn(b, 128, n_frames), torch.randn(b, 84, n_frames))
        sum(out[f"logits_{h}"].sum() for h in model.heads).backward()
    return fc.get_total_flops() / 1e9


def grid_cells(runs_dir) -> None:
    """Median wall seconds per cell and recorded training samples/s, per configuration, of a finished grid."""
    per = {}
    for m in sorted(Path(runs_dir).rglob("metrics.json")):
        d = json.loads(m.read_text())
        cfgname = json.loads((m.parent / "run.json").read_text()).get("configuration", "?")
        per.setdefault(cfgname, []).append((d.get("wall_seconds"), d.get("train_samples_per_s")))
    print(f"grid cells under {runs_dir} (median over cells):")
    for name, v in per.items():
        walls = [w for w, _ in v if w is not None]
        sps = [s for _, s in v if s is not None]
        print(f"  {name:18s} {len(v):3d} cells  wall {statistics.median(walls):6.1f} s/cell"
              + (f"  training {statistics.median(sps):6.0f} samples/s" if sps else ""))


def setup(cfg, n_samples: int, n_frames: int, seed: int = 0):
    """Model, SAML memory (queue + key encoder), optimiser, data and warm-up batch for timing `train_epoch`."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    part = Part(torch.randn(n_samples, 128, n_frames, generator=g), torch.randn(n_samples, 84, n_frames, generator=g),
                torch.randint(0, 2, (n_samples,), generator=g))
    model = DAMER(cfg, 128, 84, n_frames)
    saml = SAML(model, cfg) if cfg.modules.saml else None
    opt = torch.optim.Adam(model.parameters(), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
    dev = torch.device("cpu")
    amp = amp_dtype(cfg, dev)
    scaler = grad_scaler(dev, amp)
    history = {"steps": {"queue_entropy": []}}
    warm = Part(part.mel[: cfg.train.batch_size], part.coch[: cfg.train.batch_size], part.y[: cfg.train.batch_size])
    train_epoch(model, saml, {"train": warm}, cfg, opt, scaler, g, dev, amp, 1.0, 0.5, history)

    def epoch() -> float:
        t0 = time.perf_counter()
        train_epoch(model, saml, {"train": part}, cfg, opt, scaler, g, dev, amp, 1.0, 0.5, history)
        return n_samples / (time.perf_counter() - t0)

    return epoch, count_parameters(model)


def interleaved(epochs: dict, repeats: int) -> dict:
    """Median samples/s of each epoch function, run in turn `repeats` times (one round = one of each)."""
    runs = {k: [] for k in epochs}
    for _ in range(repeats):
        for k, fn in epochs.items():
            runs[k].append(fn())
    return {k: statistics.median(v) for k, v in runs.items()}


def with_torch_kernels(epoch):
    def run() -> float:
        with torch_kernels():
            return epoch()
    return run


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="paper", help="profile(s), comma-separated: smoke, quick, paper")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--frames", type=int, default=87, help="T, frames per track (released features: 87)")
    ap.add_argument("--samples", type=int, default=256, help="tracks timed per configuration")
    ap.add_argument("--n-train", type=int, default=round(0.7 * 2496), help="training tracks to project for")
    ap.add_argument("--epochs", type=int, default=None, help="epochs to project for (default: the profile's)")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--target-min", type=float, default=10.0, help="target wall time of the protocol, minutes")
    ap.add_argument("--precision", default="fp32,bf16", help="comma-separated: fp32, bf16 (bf16 needs native support)")
    ap.add_argument("--compare-kernels", action="store_true", help="also time torch's dropout and attention")
    ap.add_argument("--repeats", type=int, default=5, help="timed epochs per configuration (median)")
    ap.add_argument("--grid-runs", default=None, help="run folders of a finished grid: wall time per cell")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(describe())
    for name in [p for p in args.profile.split(",") if p]:
        bench_profile(args, name)
    if args.grid_runs:
        grid_cells(args.grid_runs)
    return 0


def bench_profile(args, prof: str) -> None:
    cfg = apply_overrides(profile(prof), [*args.overrides, "train.progress=false"])
    n_epochs = args.epochs or cfg.train.epochs
    ref_cfg = apply_overrides(cfg, ["modules.dsaf=false", "modules.pcl=false", "modules.saml=false"])

    precisions = [p for p in args.precision.split(",") if p]
    if "bf16" in precisions and not native_bf16_cpu():
        print("bf16 skipped: this CPU has no native bfloat16 matmul (AVX512-BF16 or AMX)")
        precisions.remove("bf16")
    m = cfg.model
    print(f"DAMER profile={prof} D={m.d} D_f={m.d_fuse} H={m.heads} L={m.layers} batch={cfg.train.batch_size} "
          f"T={args.frames} tokens={'128+84' if m.token_axis == 'freq' else f'{args.frames}+{args.frames}'} "
          f"threads={torch.get_num_threads()}; median of {args.repeats} interleaved epochs of {args.samples} tracks")
    auto = amp_dtype(apply_overrides(cfg, ["train.amp=auto"]), torch.device("cpu"))
    print(f"train.amp=auto trains in {'bf16' if auto == torch.bfloat16 else 'fp32'} on this CPU")
    for prec in precisions:
        amp = ["train.amp=off"] if prec == "fp32" else ["train.amp=bf16"]
        full, ref = apply_overrides(cfg, amp), apply_overrides(ref_cfg, amp)
        tracemalloc.start()
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        damer, n_params = setup(full, args.samples, args.frames)
        epochs = {"damer": damer, "reference": setup(ref, args.samples, args.frames)[0]}
        if args.compare_kernels:
            epochs["damer, torch kernels"] = with_torch_kernels(damer)
        sps = interleaved(epochs, args.repeats)
        gflop = step_gflop(full, args.frames) / cfg.train.batch_size  # per training sample
        rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        _, py_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"{prec}: params={n_params:,}; process peak RSS so far {rss1 / 1024:.0f} MiB (before this precision "
              f"{rss0 / 1024:.0f} MiB), Python-heap peak {py_peak / 2**20:.1f} MiB")
        for name, v in sps.items():
            minutes = n_epochs * args.n_train / v / 60.0
            note = ""
            if name == "damer":
                note = f"  target <= {args.target_min:g} min: {'MEETS' if minutes <= args.target_min else 'MISSES'}"
            elif name != "reference":
                note = f"  damer is {sps['damer'] / v:.2f}x faster"
            print(f"  {name:28s} {v:8.1f} samples/s -> {n_epochs} epochs x {args.n_train} tracks = "
                  f"{minutes:5.1f} min{note}")
        print(f"  ratio damer / reference (same encoder, CE only): {sps['damer'] / sps['reference']:.2f}")
        print(f"  arithmetic: {gflop * 1e3:.0f} MFLOP per training sample (forward + backward, without the momentum "
              f"encoder) -> {gflop * sps['damer']:.1f} GFLOP/s achieved by damer")


if __name__ == "__main__":
    raise SystemExit(main())
