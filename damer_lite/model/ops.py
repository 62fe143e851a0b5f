"""Two training-time kernels of the DSAF encoder, chosen per device for speed; same maths everywhere.

* `Dropout`: inverted dropout (Eq. 6-7, fusion MLP). On CUDA it is torch's fused dropout. On CPU, torch's
  dropout draws one Bernoulli sample per element from a serial generator and costs more than a 128x128
  linear layer on the same tensor; here the keep mask is read from 16 random bits per element (one 64-bit
  draw gives four elements), i.e. an element is dropped with probability round(p * 2^16) / 2^16
  (|error| <= 2^-17, e.g. 0.100006 for p = 0.1) and kept ones are scaled by 1 / (1 - p), a factor held in
  the activation's dtype (in bf16 1.109 instead of 1.111 for p = 0.1; LayerNorm follows). It uses the
  global torch generator, so `torch.manual_seed` makes it repeatable.
* `attention`: softmax(Q K^T / sqrt(d_k)) V (Eq. 5). fp32: torch's fused scaled_dot_product_attention.
  bf16/fp16 on CPU (autocast): the fused kernel's backward is ~5x slower in bf16 than in fp32 there, so q, k
  and v (small: d_k per token) are cast to fp32 and the fp32 fused kernel runs with autocast off; the output
  is cast back. This never materialises the (B, H, Nq, Nk) scores (the earlier path -- two bf16 matmuls
  around an fp32 softmax -- spent most of its time casting and re-reading them): 1.08-1.14x the quick
  model's training samples/s on an Intel Xeon (AMX) core, old and new side by side (docs/performance.md).

`torch_kernels()` switches both back to torch's own (nn.Dropout's Bernoulli mask, fused attention) inside a
`with` block: the reference that benchmarks/bench_train.py times against these.
"""

from __future__ import annotations

import math
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

_BITS = 16
_LEVELS = 1 << _BITS
_TORCH_KERNELS = False


@contextmanager
def torch_kernels():
    """Use torch's dropout and scaled_dot_product_attention everywhere inside the block (reference timing)."""
    global _TORCH_KERNELS
    old, _TORCH_KERNELS = _TORCH_KERNELS, True
    try:
        yield
    finally:
        _TORCH_KERNELS = old


def dropout_mask(shape: torch.Size, p: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Keep mask scaled by 1/(1-p) (shape, dtype): 0 with probability round(p * 2^16) / 2^16."""
    n = math.prod(shape)
    words = torch.empty((n + 3) // 4, dtype=torch.int64, device=device).random_(-(2**63), None)  # full 64 bits
    r = words.view(torch.int16)[:n].view(shape)  # uniform on [-2^15, 2^15), four per 64-bit word
    threshold = round(p * _LEVELS) - _LEVELS // 2
    return (r >= threshold).to(dtype).mul_(1.0 / (1.0 - p))


class Dropout(nn.Module):
    """nn.Dropout with a cheaper mask on CPU (see the module docstring); identity in eval mode or at p = 0."""

    def __init__(self, p: float = 0.1):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout p must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        if x.device.type != "cpu" or _TORCH_KERNELS:
            return F.dropout(x, self.p, training=True)
        return x * dropout_mask(x.shape, self.p, x.dtype, x.device)

    def extra_repr(self) -> str:
        return f"p={self.p}"


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Eq. 5 per head: q (B, H, Nq, d_k), k and v (B, H, Nk, d_k) -> (B, H, Nq, d_k)."""
    if q.device.type == "cpu" and q.dtype in (torch.bfloat16, torch.float16) and not _TORCH_KERNELS:
        with torch.autocast("cpu", enabled=False):
            return F.scaled_dot_product_attention(q.float(), k.float(), v.float()).to(q.dtype)
    return F.scaled_dot_product_attention(q, k, v)
