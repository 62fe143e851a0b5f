"""What a benchmark ran on, printed at its start and end: CPU model, the instruction-set features that change
our numbers (AVX-512, AVX512-BF16, AMX), cores, torch/BLAS threads, load average. Figures from different
machines must not be mixed: every benchmark prints this so that its output names its machine."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import torch

from damer_lite.training.runio import cpu_name

FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")


def cpu_flags() -> list[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                have = set(line.split(":", 1)[1].split())
                return [f for f in FLAGS if f in have]
    except OSError:
        pass
    return []


def load() -> str:
    try:
        return "load average " + " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "load average unknown"


def describe() -> str:
    return (f"machine: {cpu_name()} ({platform.machine()}; {', '.join(cpu_flags()) or 'no AVX-512/AMX flags'}), "
            f"{os.cpu_count()} cores; torch {torch.__version__} with {torch.get_num_threads()} threads; {load()}")
