"""Single-view transformer baselines: one view through the same blocks as DAMER, trained by the same loop.

`SingleViewTransformer('mel' | 'coch', cfg, n_mel_bins, n_coch_bins, n_frames)`: the view's tokens, the same
projection + L self-attention layers (Eq. 6-8, sizes of `cfg.model`) + average pooling + a linear head. It
takes the same (mel, coch) inputs as DAMER and ignores the other view, so `training.loop.train_run` trains
both with one code path (CE, Adam, cosine, clipping, precision, sealed test split). The scikit-learn
baselines (concatenated-views linear model, SVM) live in `training.baselines`.
"""

from __future__ import annotations

import torch
from torch import nn

from damer_lite.config import Config
from damer_lite.model.dsaf import AttentionBlock

VIEWS = ("mel", "coch")


class SingleViewTransformer(nn.Module):
    """tokens (B, N, d_in) of one view -> L self-attention blocks (Eq. 6-8) -> mean pool -> logits (B, 2)."""

    def __init__(self, view: str, cfg: Config, n_mel_bins: int = 128, n_coch_bins: int = 84, n_frames: int = 87):
        super().__init__()
        if view not in VIEWS:
            raise ValueError(f"view must be 'mel' or 'coch', got {view!r}")
        m = cfg.model
        self.view, self.token_axis = view, m.token_axis
        self.name = f"{view}_transformer"
        self.heads = (self.name,)  # the loop's head names: one head, scored on its own
        self.primary = self.name
        self.embedding = "z"
        self.input_shape = (n_mel_bins, n_coch_bins, n_frames)
        bins = n_mel_bins if view == "mel" else n_coch_bins
        n_tokens, d_in = (bins, n_frames) if m.token_axis == "freq" else (n_frames, bins)
        self.proj = nn.Linear(d_in, m.d)
        self.pos = nn.Parameter(torch.randn(1, n_tokens, m.d) * 0.02) if m.pos_emb == "learned" else None
        self.blocks = nn.ModuleList(
            AttentionBlock(m.d, m.heads, m.ffn_mult, m.dropout) for _ in range(m.layers)
        )
        self.head = nn.Linear(m.d, m.n_classes)

    def forward(self, mel: torch.Tensor, coch: torch.Tensor) -> dict:
        """mel (B, N_mel, T), coch (B, N_coch, T) -> {'z': (B, D), 'logits_<name>': (B, 2)}."""
        x = mel if self.view == "mel" else coch  # (B, bins, T)
        if self.token_axis == "time":
            x = x.transpose(1, 2)  # (B, T, bins)
        h = self.proj(x)  # (B, N, D)
        if self.pos is not None:
            h = h + self.pos
        for blk in self.blocks:
            h, _ = blk(h, h)  # self-attention
        z = h.mean(dim=1)  # (B, D)
        return {"z": z, f"logits_{self.name}": self.head(z)}
