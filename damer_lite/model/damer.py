"""DAMER assembly (§IV-A, Fig. 4): DSAF encoder + three classification heads (Mel, Coch, Fuse).

Inputs are always (B, n_mel_bins, T) and (B, n_coch_bins, T) arrays; `model.token_axis` decides whether the
frequency bins ('freq', default) or the frames ('time') are the tokens.
"""

from __future__ import annotations

import torch
from torch import nn

from damer_lite.config import Config
from damer_lite.model.dsaf import DSAF

HEADS = ("mel", "coch", "fuse")  # the three classification heads (Fig. 4); 'fuse' is the one scored (§V)


class DAMER(nn.Module):
    heads = HEADS  # logits of head h are out[f"logits_{h}"]
    primary = "fuse"
    embedding = "z_fuse"  # the fused feature (t-SNE, Fig. 7)

    def __init__(self, cfg: Config, n_mel_bins: int = 128, n_coch_bins: int = 84, n_frames: int = 87):
        super().__init__()
        m = cfg.model
        self.token_axis = m.token_axis
        if m.token_axis == "freq":  # tokens = bands, each a T-dim vector
            shapes = dict(n_mel=n_mel_bins, d_mel=n_frames, n_coch=n_coch_bins, d_coch=n_frames)
        else:  # tokens = frames, each a bins-dim vector
            shapes = dict(n_mel=n_frames, d_mel=n_mel_bins, n_coch=n_frames, d_coch=n_coch_bins)
        self.input_shape = (n_mel_bins, n_coch_bins, n_frames)
        self.encoder = DSAF(
            **shapes, d=m.d, d_fuse=m.d_fuse, heads=m.heads, layers=m.layers, ffn_mult=m.ffn_mult,
            dropout=m.dropout, cross=cfg.modules.dsaf, pos_emb=m.pos_emb == "learned",
        )
        self.head_mel = nn.Linear(m.d, m.n_classes)  # z^Mel logits
        self.head_coch = nn.Linear(m.d, m.n_classes)  # z^Coch logits
        self.head_fuse = nn.Linear(m.d_fuse, m.n_classes)  # z^Fuse logits

    def check_input(self, mel: torch.Tensor, coch: torch.Tensor) -> None:
        nm, nc, t = self.input_shape
        if mel.dim() != 3 or tuple(mel.shape[1:]) != (nm, t):
            raise ValueError(f"mel must be (B, {nm}, {t}), got {tuple(mel.shape)}")
        if coch.dim() != 3 or tuple(coch.shape[1:]) != (nc, t):
            raise ValueError(f"coch must be (B, {nc}, {t}), got {tuple(coch.shape)}")

    def forward(self, mel: torch.Tensor, coch: torch.Tensor, return_attention: bool = False) -> dict:
        """mel (B, N_mel, T), coch (B, N_coch, T) -> dict of logits (B, 2) and features."""
        self.check_input(mel, coch)
        if self.token_axis == "time":
            mel, coch = mel.transpose(1, 2), coch.transpose(1, 2)  # (B, T, N_mel), (B, T, N_coch)
        out = self.encoder(mel, coch, return_attention=return_attention)
        out["logits_mel"] = self.head_mel(out["z_mel"])  # (B, 2)
        out["logits_coch"] = self.head_coch(out["z_coch"])  # (B, 2)
        out["logits_fuse"] = self.head_fuse(out["z_fuse"])  # (B, 2)
        return out


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
