"""From frames to the model's input arrays: time pooling to T tokens and per-bin standardisation.

The released Memo2496 arrays are 128x87 (Mel) and 84x87 (cochleagram): T = 87 time steps. Here the frame
axis is pooled to T by adaptive average pooling (torch's bin edges floor(i n / T) .. ceil((i+1) n / T)).
Standardisation statistics (mean/std per frequency bin, over tracks and time) are computed from the
training indices only, so that test tracks never leak into them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F


def pool_time(x, n_tokens: int | None) -> torch.Tensor | np.ndarray:
    """Adaptive average pooling of the last (frame) axis to n_tokens.

    x: (F, frames) or (B, F, frames), numpy or torch -> same kind, (.., F, n_tokens). None returns x.
    With fewer frames than tokens, frames are repeated (adaptive pooling's bins then overlap).
    """
    if n_tokens is None:
        return x
    is_np = not isinstance(x, torch.Tensor)
    t = torch.as_tensor(x)
    if t.shape[-1] == 0:
        raise ValueError("cannot pool a view with 0 frames (signal shorter than one frame)")
    squeeze = t.ndim == 2
    t3 = t[None] if squeeze else t  # (B, F, frames)
    out = F.adaptive_avg_pool1d(t3.to(torch.float64), n_tokens).to(t.dtype)  # (B, F, T)
    out = out[0] if squeeze else out
    return out.numpy() if is_np else out


@dataclass
class Standardizer:
    """Per-frequency-bin mean and std. mean, std: (F,) float32."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray, train_idx=None, eps: float = 1e-6) -> Standardizer:
        """x: (n, F, T) array (may be a memmap); statistics over the rows in train_idx and all T."""
        idx = np.arange(len(x)) if train_idx is None else np.asarray(train_idx)
        if idx.size == 0:
            raise ValueError("Standardizer.fit needs at least one training index")
        if idx.dtype == bool:
            idx = np.nonzero(idx)[0]
        # two-pass, float64, one track at a time (x may be larger than memory)
        n_f = x.shape[1]
        total = np.zeros(n_f)
        count = 0
        for i in idx:
            total += np.asarray(x[i], dtype=np.float64).sum(axis=-1)
            count += x.shape[2]
        mean = total / count
        sq = np.zeros(n_f)
        for i in idx:
            sq += ((np.asarray(x[i], dtype=np.float64) - mean[:, None]) ** 2).sum(axis=-1)
        std = np.sqrt(sq / count)
        return cls(mean.astype(np.float32), np.maximum(std, eps).astype(np.float32))

    def apply(self, x):
        """(.., F, T) numpy or torch -> standardised, same kind and shape."""
        if isinstance(x, torch.Tensor):
            m = torch.as_tensor(self.mean, dtype=x.dtype, device=x.device)[:, None]
            s = torch.as_tensor(self.std, dtype=x.dtype, device=x.device)[:, None]
            return (x - m) / s
        return ((np.asarray(x) - self.mean[:, None]) / self.std[:, None]).astype(np.float32)

    def save(self, path) -> None:
        np.savez(Path(path), mean=self.mean, std=self.std)

    @classmethod
    def load(cls, path) -> Standardizer:
        with np.load(Path(path)) as z:
            return cls(z["mean"], z["std"])
