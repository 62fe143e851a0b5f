"""Device, precision and seeding of a training run (§V-A: mixed precision; device-agnostic torch).

    dev = resolve_device("auto")          # cuda when present, else cpu
    amp = amp_dtype(cfg, dev)             # torch.float16 | torch.bfloat16 | None (fp32)
    with autocast(dev, amp): out = model(mel, coch)
"""

from __future__ import annotations

import random

import numpy as np
import torch

from damer_lite.config import Config


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """'auto'/None: cuda when available, else cpu; an explicit cuda device without CUDA is an error."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available")
    return dev


def native_bf16_cpu() -> bool:
    """True where this CPU runs bfloat16 matmuls natively (oneDNN with AVX512-BF16 or AMX)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def amp_dtype(cfg: Config, device: torch.device) -> torch.dtype | None:
    """Autocast dtype of the training steps (§V-A mixed precision), or None for fp32.

    'auto'/'on': fp16 (with loss scaling) on CUDA, bf16 on a CPU with native bf16 matmuls, fp32 on other CPUs;
    'bf16': bf16 on any device; 'off': fp32."""
    if cfg.train.amp == "bf16":
        return torch.bfloat16
    if cfg.train.amp in ("auto", "on"):
        if device.type == "cuda":
            return torch.float16
        if device.type == "cpu" and native_bf16_cpu():
            return torch.bfloat16
    return None


def precision_name(amp: torch.dtype | None) -> str:
    """'fp32', 'bfloat16' or 'float16': the precision the training steps actually ran in."""
    return "fp32" if amp is None else str(amp).replace("torch.", "")


def autocast(device: torch.device, amp: torch.dtype | None):
    """torch.autocast for `amp` (a dtype, or None for fp32)."""
    return torch.autocast(device.type, dtype=amp or torch.bfloat16, enabled=amp is not None)


def grad_scaler(device: torch.device, amp: torch.dtype | None):
    """Loss scaling is needed for fp16 only."""
    return torch.amp.GradScaler(device.type, enabled=amp == torch.float16)


def seed_everything(seed: int, deterministic: bool = True) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        if torch.backends.cudnn.is_available():
            torch.backends.cudnn.benchmark = False


def rng_state(generator: torch.Generator) -> dict:
    """Every random state a run draws from (python, numpy, torch CPU and CUDA, the run's batch-order
    generator), as tensors and plain values only (loadable with torch.load(weights_only=True))."""
    version, words, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state = {"python": [version, torch.tensor(words, dtype=torch.int64), gauss],
             "numpy": [name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)],
             "torch": torch.get_rng_state(), "generator": generator.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict, generator: torch.Generator) -> None:
    """Restore what `rng_state` recorded."""
    version, words, gauss = state["python"]
    random.setstate((version, tuple(int(w) for w in words.tolist()), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    generator.set_state(state["generator"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
