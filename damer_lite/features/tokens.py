"""From frames to the model's input arrays: time pooling to T tokens.

The released Memo2496 arrays are 128x87 (Mel) and 84x87 (cochleagram): T = 87 time steps. Here the frame
axis is pooled to T by adaptive average pooling (torch's bin edges floor(i n / T) .. ceil((i+1) n / T)).
Per-bin standardisation belongs to training (`damer_lite.training.data.Standardiser`): its statistics
come from the training rows only, so that test tracks never leak into them.
"""

from __future__ import annotations

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
