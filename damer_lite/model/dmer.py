"""Dynamic MER (per-step valence and arousal): a DSAML-style dual-scale regressor and a DSAF per-step baseline.

DSAML (arXiv 2412.19200; its public code read, not copied): local features every 0.5 s, a band-masked
local self-attention (+-5 steps) and a wider one (+-30 steps) whose outputs are summed, global features of a
large pretrained audio model fused in, a BiLSTM and A, V per step. Here, on damer-lite's feature tokens:

    mel (B, N_mel, T), coch (B, N_coch, T)            frames of one analysis window, time = token axis
      -> transpose: (B, T, N_mel), (B, T, N_coch)
      -> per-step projection, the two views summed:   x = P_mel(m_t) + P_coch(c_t)          (B, T, D)
         P = a linear map (local_encoder 'linear'), or a small CNN over each token's frequency axis
         ('cnn', `LocalCNN`: DSAML computes its local features with a small CNN)
      -> dual-scale attention (post-LN residual):     a = LN(x + Drop(A_local(x) + A_wide(x)))  (B, T, D)
         A_r = multi-head self-attention with keys j allowed for query i iff |i - j| <= r
                                                      h = LN(a + Drop(FFN(a)))              (B, T, D)
      -> global summary, added per step:              g = W_g [mean_t(m, c) || sd_t(m, c)]  (B, D)
                                                      s_t = h_t + g                         (B, T, D)
      -> BiLSTM:                                      (B, T, 2 H)
      -> linear head, tanh:                           (B, T, 2) = (valence, arousal) in [-1, 1]

The global summary is our substitution for DSAML's pretrained global model (not available here): the mean
and standard deviation over the whole window of every Mel band and cochleagram channel, one linear map.
Radii are in steps (tokens); `radius_steps` maps DSAML's +-2.5 s / +-15 s to a store's token span.

`StepHead` is the second neural baseline: the DSAF encoder of DAMER with frames as tokens (token_axis
'time') and a linear per-step head on its unpooled states [h_mel || h_coch] -> (B, T, 2), tanh.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from damer_lite.config import DYNAMIC_DIMS
from damer_lite.model.dsaf import DSAF, FeedForward, MultiHeadAttention
from damer_lite.model.ops import Dropout

DIMS = DYNAMIC_DIMS  # (valence, arousal): the last axis of every per-step output and target


def radius_steps(seconds: float, token_s: float) -> int:
    """A radius in seconds as a number of tokens of `token_s` seconds each (at least 1).

    DSAML's +-5 / +-30 steps of 0.5 s are +-2.5 s / +-15 s; with the paper's 60 s window in T = 87 tokens
    (0.69 s) that is +-4 / +-22 tokens, with 0.5 s tokens +-5 / +-30."""
    if seconds <= 0 or token_s <= 0:
        raise ValueError(f"need seconds > 0 and token_s > 0, got {seconds}, {token_s}")
    return max(1, int(round(seconds / token_s)))


def band_mask(t: int, radius: int, device=None) -> torch.Tensor:
    """(T, T) bool: True where key j may be attended from query i, i.e. |i - j| <= radius."""
    i = torch.arange(t, device=device)
    return (i[:, None] - i[None, :]).abs() <= radius


class BandSelfAttention(MultiHeadAttention):
    """Multi-head self-attention restricted to a band |i - j| <= radius (DSAML's local / wide attention).

    Shares the projections of `dsaf.MultiHeadAttention`; softmax(Q K^T / sqrt(d_k) + M) V with M = -inf
    outside the band. The diagonal is always inside, so no row is empty."""

    def __init__(self, d: int, heads: int, radius: int):
        super().__init__(d, heads)
        if radius < 0:
            raise ValueError(f"radius must be >= 0, got {radius}")
        self.radius = int(radius)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, D) -> (B, T, D)
        q, k, v = self._split(self.q(x)), self._split(self.k(x)), self._split(self.v(x))  # (B, H, T, d_k)
        mask = band_mask(x.shape[1], self.radius, x.device)  # (T, T)
        if x.device.type == "cpu" and q.dtype in (torch.bfloat16, torch.float16):
            with torch.autocast(x.device.type, enabled=False):  # fp32 kernel, as model.ops.attention
                y = F.scaled_dot_product_attention(q.float(), k.float(), v.float(), attn_mask=mask).to(q.dtype)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (B, H, T, d_k)
        b, _, t, _ = y.shape
        return self.out(y.transpose(1, 2).reshape(b, t, -1))  # (B, T, D)

    def extra_repr(self) -> str:
        return f"radius={self.radius}"


class LocalCNN(nn.Module):
    """A small CNN over the frequency axis of every token, shared over time: (B, T, F) -> (B, T, D).

    Per token, its F bins as one channel: Conv1d(1 -> C, k 5, stride 2) - GELU - Conv1d(C -> C, k 5,
    stride 2) - GELU - adaptive average pooling to 8 positions - Linear(8 C -> D). Our stand-in for DSAML's
    small CNN over the spectrogram of each 0.5 s step (we have pooled tokens, not spectrogram patches)."""

    def __init__(self, n_bins: int, d: int, channels: int = 8, bias: bool = True):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv1d(1, channels, 5, stride=2, padding=2), nn.GELU(),
                                  nn.Conv1d(channels, channels, 5, stride=2, padding=2), nn.GELU(),
                                  nn.AdaptiveAvgPool1d(8))
        self.out = nn.Linear(8 * channels, d, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, F) -> (B, T, D)
        b, t, f = x.shape
        z = self.conv(x.reshape(b * t, 1, f))  # (B T, C, 8)
        return self.out(z.reshape(b, t, -1))  # (B, T, D)


class DualScaleDMER(nn.Module):
    """Per-step (valence, arousal) from frame tokens: mel (B, n_mel, T), coch (B, n_coch, T) -> (B, T, 2).

    The output dict also holds the states after the dual-scale attention ('h', (B, T, D)), before the global
    summary and the BiLSTM: the only stage whose reach in time is bounded (by wide_radius)."""

    def __init__(self, n_mel: int, n_coch: int, d: int = 64, heads: int = 4, local_radius: int = 5,
                 wide_radius: int = 30, lstm_hidden: int = 32, ffn_mult: int = 2, dropout: float = 0.1,
                 global_summary: bool = True, local_encoder: str = "cnn", cnn_channels: int = 8):
        super().__init__()
        if wide_radius < local_radius:
            raise ValueError(f"wide_radius ({wide_radius}) must be >= local_radius ({local_radius})")
        self.n_mel, self.n_coch = n_mel, n_coch
        if local_encoder == "linear":
            self.proj_mel = nn.Linear(n_mel, d)
            self.proj_coch = nn.Linear(n_coch, d, bias=False)  # one bias for the sum
        elif local_encoder == "cnn":
            self.proj_mel = LocalCNN(n_mel, d, cnn_channels)
            self.proj_coch = LocalCNN(n_coch, d, cnn_channels, bias=False)
        else:
            raise ValueError(f"local_encoder must be 'linear' or 'cnn', got {local_encoder!r}")
        self.local = BandSelfAttention(d, heads, local_radius)
        self.wide = BandSelfAttention(d, heads, wide_radius)
        self.ln1 = nn.LayerNorm(d)
        self.ffn = FeedForward(d, ffn_mult)
        self.ln2 = nn.LayerNorm(d)
        self.drop = Dropout(dropout)
        self.glob = nn.Linear(2 * (n_mel + n_coch), d) if global_summary else None
        self.lstm = nn.LSTM(d, lstm_hidden, batch_first=True, bidirectional=True)
        self.head = nn.Linear(2 * lstm_hidden, len(DIMS))

    def check_input(self, mel: torch.Tensor, coch: torch.Tensor) -> None:
        if mel.dim() != 3 or coch.dim() != 3 or mel.shape[1] != self.n_mel or coch.shape[1] != self.n_coch \
                or mel.shape[0] != coch.shape[0] or mel.shape[2] != coch.shape[2]:
            raise ValueError(f"need mel (B, {self.n_mel}, T) and coch (B, {self.n_coch}, T), got "
                             f"{tuple(mel.shape)} and {tuple(coch.shape)}")

    def attend(self, mel: torch.Tensor, coch: torch.Tensor) -> torch.Tensor:
        """The per-step projection and the dual-scale attention block: (B, T, D)."""
        x = self.proj_mel(mel.transpose(1, 2)) + self.proj_coch(coch.transpose(1, 2))  # (B, T, D)
        a = self.ln1(x + self.drop(self.local(x) + self.wide(x)))  # local + wide, summed
        return self.ln2(a + self.drop(self.ffn(a)))  # (B, T, D)

    def forward(self, mel: torch.Tensor, coch: torch.Tensor) -> dict:
        self.check_input(mel, coch)
        h = self.attend(mel, coch)  # (B, T, D)
        s = h
        if self.glob is not None:
            both = torch.cat([mel, coch], dim=1)  # (B, N_mel + N_coch, T)
            g = self.glob(torch.cat([both.mean(-1), both.std(-1, unbiased=False)], dim=-1))  # (B, D)
            s = h + g[:, None, :]  # (B, T, D)
        with torch.autocast(s.device.type, enabled=False):  # the recurrence in fp32 under any autocast
            r, _ = self.lstm(s.float())  # (B, T, 2 H)
        y = torch.tanh(self.head(r))  # (B, T, 2): valence, arousal
        return {"va": y, "h": h}


class StepHead(nn.Module):
    """DAMER's DSAF encoder over frame tokens (token_axis 'time') + a per-step linear regression head.

    mel (B, n_mel, T), coch (B, n_coch, T) -> DSAF with T tokens per view (features n_mel / n_coch, learned
    positions) -> h_mel, h_coch (B, T, D) -> Linear([h_mel || h_coch]) -> tanh -> (B, T, 2). DSAF's pooled
    and fused outputs are computed but unused."""

    def __init__(self, n_mel: int, n_coch: int, n_steps: int, d: int = 64, heads: int = 4, layers: int = 1,
                 ffn_mult: int = 2, dropout: float = 0.1):
        super().__init__()
        self.n_mel, self.n_coch, self.n_steps = n_mel, n_coch, n_steps
        self.encoder = DSAF(n_mel=n_steps, d_mel=n_mel, n_coch=n_steps, d_coch=n_coch, d=d, d_fuse=d,
                            heads=heads, layers=layers, ffn_mult=ffn_mult, dropout=dropout)
        self.head = nn.Linear(2 * d, len(DIMS))

    def forward(self, mel: torch.Tensor, coch: torch.Tensor) -> dict:
        if tuple(mel.shape[1:]) != (self.n_mel, self.n_steps) or tuple(coch.shape[1:]) != (self.n_coch, self.n_steps):
            raise ValueError(f"need mel (B, {self.n_mel}, {self.n_steps}) and coch (B, {self.n_coch}, "
                             f"{self.n_steps}), got {tuple(mel.shape)} and {tuple(coch.shape)}")
        out = self.encoder(mel.transpose(1, 2), coch.transpose(1, 2))  # tokens = frames
        h = torch.cat([out["h_mel"], out["h_coch"]], dim=-1)  # (B, T, 2 D)
        return {"va": torch.tanh(self.head(h)), "h": h}  # (B, T, 2)
