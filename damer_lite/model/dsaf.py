"""Dual-Stream Attention Fusion (DSAF), §IV-B, Eq. 1-8 and Algorithm 1 lines 7-11.

Mel tokens (B, N_mel, d_in_mel) and cochleagram tokens (B, N_coch, d_in_coch) are projected to D (Eq. 1-2),
refined by L cross-view layers (bidirectional multi-head cross-attention, Eq. 3-5, post-LN residual blocks,
Eq. 6-7, GELU FFN, Eq. 8), average-pooled to z_mel, z_coch (B, D) and fused by an MLP on the concatenation
into z_fuse (B, D_f).

"Without DSAF" (not defined in the paper) is, here: the same stack with each view attending to *itself*
(self-attention, identical parameter count) and the same fusion MLP on the concatenated pooled features.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from damer_lite.model.ops import Dropout, attention


class MultiHeadAttention(nn.Module):
    """MHA(Q, K, V) with H heads (Eq. 3-5); optionally returns the attention map averaged over heads."""

    def __init__(self, d: int, heads: int):
        super().__init__()
        if d % heads:
            raise ValueError(f"d ({d}) must be divisible by heads ({heads})")
        self.heads, self.d_k = heads, d // heads
        self.q = nn.Linear(d, d)
        self.k = nn.Linear(d, d)
        self.v = nn.Linear(d, d)
        self.out = nn.Linear(d, d)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        return x.view(b, n, self.heads, self.d_k).transpose(1, 2)  # (B, H, N, d_k)

    def forward(self, query: torch.Tensor, context: torch.Tensor, need_weights: bool = False):
        q, k, v = self._split(self.q(query)), self._split(self.k(context)), self._split(self.v(context))
        if need_weights:
            att = (q @ k.transpose(-2, -1)) / math.sqrt(self.d_k)  # (B, H, Nq, Nk), Eq. 5
            att = att.softmax(dim=-1)
            y = att @ v  # (B, H, Nq, d_k)
            weights = att.mean(dim=1)  # (B, Nq, Nk)
        else:
            y = attention(q, k, v)  # (B, H, Nq, d_k), Eq. 5
            weights = None
        b, _, n, _ = y.shape
        y = y.transpose(1, 2).reshape(b, n, self.heads * self.d_k)  # concat heads, (B, Nq, D)
        return self.out(y), weights


class FeedForward(nn.Sequential):
    """FFN(x) = Linear2(GELU(Linear1(x))), expansion factor 4 (Eq. 8)."""

    def __init__(self, d: int, mult: int):
        super().__init__(nn.Linear(d, mult * d), nn.GELU(), nn.Linear(mult * d, d))


class AttentionBlock(nn.Module):
    """One view's half of a layer.

    H' = LN(H + Drop(MHA(H, C, C))) (Eq. 6); H'' = LN(H' + Drop(FFN(H'))) (Eq. 7), C the context tokens.
    """

    def __init__(self, d: int, heads: int, ffn_mult: int, dropout: float):
        super().__init__()
        self.attn = MultiHeadAttention(d, heads)
        self.ln1 = nn.LayerNorm(d)
        self.ffn = FeedForward(d, ffn_mult)
        self.ln2 = nn.LayerNorm(d)
        self.drop = Dropout(dropout)

    def forward(self, h: torch.Tensor, context: torch.Tensor, need_weights: bool = False):
        a, w = self.attn(h, context, need_weights)  # (B, N, D)
        h = self.ln1(h + self.drop(a))  # Eq. 6
        h = self.ln2(h + self.drop(self.ffn(h)))  # Eq. 7-8
        return h, w


class CrossViewLayer(nn.Module):
    """Bidirectional layer: Mel<-Coch (Eq. 3) and Coch<-Mel (Eq. 4), updated simultaneously.

    With cross=False each view attends to itself (the "without DSAF" stack, same parameters).
    """

    def __init__(self, d: int, heads: int, ffn_mult: int, dropout: float, cross: bool = True):
        super().__init__()
        self.cross = cross
        self.mel = AttentionBlock(d, heads, ffn_mult, dropout)
        self.coch = AttentionBlock(d, heads, ffn_mult, dropout)

    def forward(self, h_mel: torch.Tensor, h_coch: torch.Tensor, need_weights: bool = False):
        ctx_mel, ctx_coch = (h_coch, h_mel) if self.cross else (h_mel, h_coch)
        new_mel, w_mel = self.mel(h_mel, ctx_mel, need_weights)  # (B, N_mel, D)
        new_coch, w_coch = self.coch(h_coch, ctx_coch, need_weights)  # (B, N_coch, D)
        return new_mel, new_coch, w_mel, w_coch


class DSAF(nn.Module):
    """Dual-stream encoder: tokens of two views -> z_mel, z_coch (B, D) and z_fuse (B, D_f), plus the
    unpooled token states h_mel (B, N_mel, D) and h_coch (B, N_coch, D).

    n_mel/n_coch: number of tokens per view; d_mel/d_coch: feature size of each token.
    """

    def __init__(self, n_mel: int, d_mel: int, n_coch: int, d_coch: int, d: int = 128, d_fuse: int = 256,
                 heads: int = 4, layers: int = 2, ffn_mult: int = 4, dropout: float = 0.1,
                 cross: bool = True, pos_emb: bool = True):
        super().__init__()
        self.cross = cross
        self.proj_mel = nn.Linear(d_mel, d)  # W_Mel, b_Mel (Eq. 1)
        self.proj_coch = nn.Linear(d_coch, d)  # W_Coch, b_Coch (Eq. 2)
        if pos_emb:
            self.pos_mel = nn.Parameter(torch.zeros(1, n_mel, d))
            self.pos_coch = nn.Parameter(torch.zeros(1, n_coch, d))
            nn.init.normal_(self.pos_mel, std=0.02)
            nn.init.normal_(self.pos_coch, std=0.02)
        else:
            self.pos_mel = self.pos_coch = None
        self.layers = nn.ModuleList(
            CrossViewLayer(d, heads, ffn_mult, dropout, cross=cross) for _ in range(layers)
        )
        self.fusion = nn.Sequential(  # FusionMLP([z_mel || z_coch]) (Algorithm 1, l. 11)
            nn.Linear(2 * d, d_fuse), nn.GELU(), Dropout(dropout), nn.Linear(d_fuse, d_fuse)
        )

    def forward(self, x_mel: torch.Tensor, x_coch: torch.Tensor, return_attention: bool = False) -> dict:
        h_mel = self.proj_mel(x_mel)  # (B, N_mel, D), Eq. 1
        h_coch = self.proj_coch(x_coch)  # (B, N_coch, D), Eq. 2
        if self.pos_mel is not None:
            h_mel = h_mel + self.pos_mel
            h_coch = h_coch + self.pos_coch
        attn_mel, attn_coch = [], []
        for layer in self.layers:
            h_mel, h_coch, w_mel, w_coch = layer(h_mel, h_coch, need_weights=return_attention)
            attn_mel.append(w_mel)
            attn_coch.append(w_coch)
        z_mel = h_mel.mean(dim=1)  # (B, D), AvgPool
        z_coch = h_coch.mean(dim=1)  # (B, D)
        z_fuse = self.fusion(torch.cat([z_mel, z_coch], dim=-1))  # (B, D_f)
        # h_mel (B, N_mel, D), h_coch (B, N_coch, D): the unpooled token states after the last layer (per-step
        # heads read them, model.dmer.StepHead); returning them changes nothing that is computed
        out = {"z_mel": z_mel, "z_coch": z_coch, "z_fuse": z_fuse, "h_mel": h_mel, "h_coch": h_coch}
        if return_attention:
            # per layer: (B, N_mel, N_coch) for Mel<-Coch and (B, N_coch, N_mel) for Coch<-Mel when cross;
            # (B, N, N) self-attention maps otherwise
            out["attn_mel"] = attn_mel
            out["attn_coch"] = attn_coch
        return out
