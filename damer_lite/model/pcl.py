"""Progressive Confidence Labelling (PCL), §IV-C, Eq. 9-17 and Algorithm 1 lines 3-5, 13-16.

Epochs are numbered t = 1..T. Progress ρ is t/T (Eq. 9, 16; flag 'eq9') or (t-1)/T (Algorithm 1; 'alg1').
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

LN2 = math.log(2.0)


def progress(t: int, total: int, mode: str = "eq9") -> float:
    """ρ for epoch t of `total` (t = 1..total)."""
    if total <= 0:
        raise ValueError(f"total epochs must be > 0, got {total}")
    if mode == "eq9":
        return t / total
    if mode == "alg1":
        return (t - 1) / total
    raise ValueError(f"progress mode must be 'eq9' or 'alg1', got {mode!r}")


def tau_schedule(rho: float, tau_max: float = 1.5, tau_min: float = 0.7) -> float:
    """τ_t = τ_max - (τ_max - τ_min) ρ  (Eq. 9; Algorithm 1 l. 4 is the same line written from τ_min)."""
    return tau_max - (tau_max - tau_min) * rho


def theta_schedule(rho: float, theta0: float = 0.65, theta_min: float = 0.35, form: str = "linear") -> float:
    """θ_t: 'linear' = θ0 - (θ0 - θmin) ρ (Eq. 16); 'alg1' = max(θmin, θ0 (1 - ρ)) (Algorithm 1 l. 5)."""
    if form == "linear":
        return theta0 - (theta0 - theta_min) * rho
    if form == "alg1":
        return max(theta_min, theta0 * (1.0 - rho))
    raise ValueError(f"theta form must be 'linear' or 'alg1', got {form!r}")


def theta_above_floor(theta: float, n_classes: int = 2) -> float:
    """Ours (flag pcl.theta_range='above_floor'), not the paper's: θ_t mapped onto [1/C, 1].

    Confidence c = r max p^Fuse (Eq. 15) can never fall below r/C, since max p^Fuse >= 1/C; with C = 2 and
    agreeing views (r ~ 1) every sample passes any θ_t < 0.5, so Eq. 16's 0.65 -> 0.35 selects all samples
    from mid-training on by construction. 1/C + (1 - 1/C) θ_t keeps the schedule's shape on the range that
    max p^Fuse spans (C = 2: 0.65 -> 0.825, 0.35 -> 0.675)."""
    if n_classes < 2:
        raise ValueError(f"n_classes must be >= 2, got {n_classes}")
    return 1.0 / n_classes + (1.0 - 1.0 / n_classes) * theta


def js_divergence(p: torch.Tensor, q: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Per-sample JS(p, q) in nats (Eq. 12); p, q (B, C) probabilities -> (B,), within [0, ln 2]."""
    m = 0.5 * (p + q)  # (B, C), mixture M
    kl_pm = (p * (torch.log(p + eps) - torch.log(m + eps))).sum(dim=-1)
    kl_qm = (q * (torch.log(q + eps) - torch.log(m + eps))).sum(dim=-1)
    return (0.5 * kl_pm + 0.5 * kl_qm).clamp(0.0, LN2)


@dataclass
class PCLOutput:
    js: torch.Tensor  # (B,) JS(p^Mel, p^Coch), differentiable (Eq. 23 uses its mean)
    reliability: torch.Tensor  # (B,) r = exp(-JS), detached (Eq. 13)
    confidence: torch.Tensor  # (B,) c = r max(p^Fuse), detached (Eq. 15)
    pseudo_label: torch.Tensor  # (B,) argmax p^Fuse
    mask: torch.Tensor  # (B,) bool, c >= θ_t
    p_fuse: torch.Tensor  # (B, C), detached


def pcl_step(logits_mel: torch.Tensor, logits_coch: torch.Tensor, logits_fuse: torch.Tensor, tau: float,
             theta: float, p_fuse_mode: str = "mean") -> PCLOutput:
    """Eq. 10-16 for one batch of logits (B, C)."""
    p_mel = F.softmax(logits_mel.float() / tau, dim=-1)  # (B, C), Eq. 10
    p_coch = F.softmax(logits_coch.float() / tau, dim=-1)  # (B, C), Eq. 11
    js = js_divergence(p_mel, p_coch)  # (B,), Eq. 12
    r = torch.exp(-js.detach())  # (B,), Eq. 13, in [1/2, 1]
    if p_fuse_mode == "mean":
        p_fuse = 0.5 * (p_mel + p_coch).detach()  # Eq. 14
    elif p_fuse_mode == "head":
        p_fuse = F.softmax(logits_fuse.detach().float() / tau, dim=-1)  # Algorithm 1 l. 14
    else:
        raise ValueError(f"p_fuse mode must be 'mean' or 'head', got {p_fuse_mode!r}")
    top, label = p_fuse.max(dim=-1)  # (B,)
    c = r * top  # Eq. 15
    return PCLOutput(js=js, reliability=r, confidence=c, pseudo_label=label, mask=c >= theta, p_fuse=p_fuse)


def pseudo_label_loss(logits: torch.Tensor, out: PCLOutput) -> torch.Tensor:
    """L_PL = 1/|D_PL| Σ_{D_PL} r CE(logits, y_PL) (Eq. 17); 0 when nothing is selected."""
    if not bool(out.mask.any()):
        return logits.sum() * 0.0
    ce = F.cross_entropy(logits[out.mask].float(), out.pseudo_label[out.mask], reduction="none")  # (|D_PL|,)
    return (out.reliability[out.mask] * ce).mean()


def pcl_stats(out: PCLOutput) -> dict[str, torch.Tensor]:
    """Fig. 5 quantities as 0-d tensors (no host synchronisation; read them with float()): mean confidence,
    mean reliability, pseudo-label strength (mean max p^Fuse of the selected rows, NaN when none) and mask
    ratio."""
    sel = out.mask
    return {
        "confidence": out.confidence.mean(),
        "reliability": out.reliability.mean(),
        "pl_strength": out.p_fuse.max(dim=-1).values[sel].mean(),  # mean of nothing = NaN
        "mask_ratio": sel.float().mean(),
    }


def fuse_probs(out: dict, tau: float, mode: str = "mean") -> torch.Tensor:
    """Differentiable p^Fuse (B, C) from a DAMER output: Eq. 14 ('mean') or the fused head (Algorithm 1, 'head')."""
    if mode == "mean":
        p_mel = F.softmax(out["logits_mel"].float() / tau, -1)
        return 0.5 * (p_mel + F.softmax(out["logits_coch"].float() / tau, -1))
    return F.softmax(out["logits_fuse"].float() / tau, -1)
