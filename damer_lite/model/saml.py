"""Style-Anchored Memory Learning (SAML), §IV-D, Eq. 18-20 and Algorithm 1 line 18.

A label-aware circular memory queue (MoCo-style buffers), a supervised InfoNCE loss of L2-normalised
queries against it, and `SAML`, the one builder that keeps the queue, the momentum key encoder and the
enqueue policy together (as MoCo's builder does):

    saml = SAML(model, cfg)                        # model: the online DAMER encoder
    loss = saml.loss(out, y, tau)                  # Eq. 19-20 for the labelled rows of a step
    ... optimiser step on the online model ...
    saml.update(model, out, mel, coch, y, tau)     # Algorithm 1 l. 18: momentum update, then enqueue keys
"""

from __future__ import annotations

import copy
from contextlib import nullcontext

import torch
import torch.nn.functional as F
from torch import nn

from damer_lite.config import Config
from damer_lite.model.pcl import fuse_probs


class MemoryQueue(nn.Module):
    """Queue Q of K L2-normalised features (K, dim) with labels (K,), a circular pointer and a fill count."""

    def __init__(self, size: int = 512, dim: int = 256, n_classes: int = 2):
        super().__init__()
        if size <= 0 or dim <= 0:
            raise ValueError(f"queue size and dim must be > 0, got {size}, {dim}")
        self.size, self.dim, self.n_classes = size, dim, n_classes
        self.register_buffer("features", torch.zeros(size, dim))  # (K, dim)
        self.register_buffer("labels", torch.full((size,), -1, dtype=torch.long))  # (K,), -1 = empty
        self.register_buffer("ptr", torch.zeros((), dtype=torch.long))  # P_Q
        self.register_buffer("filled", torch.zeros((), dtype=torch.long))

    def __len__(self) -> int:
        return int(self.filled)

    @torch.no_grad()
    def enqueue(self, feats: torch.Tensor, labels: torch.Tensor) -> None:
        """Q[P_Q] = L2-normalise(feats) (Eq. 18); the pointer wraps around modulo K."""
        if feats.dim() != 2 or feats.shape[1] != self.dim:
            raise ValueError(f"features must be (B, {self.dim}), got {tuple(feats.shape)}")
        if labels.shape != feats.shape[:1]:
            raise ValueError(f"labels must be ({feats.shape[0]},), got {tuple(labels.shape)}")
        feats = F.normalize(feats.detach().float(), dim=-1)[-self.size:]  # (B', dim), B' <= K
        labels = labels.detach().long()[-self.size:]
        n = feats.shape[0]
        idx = (int(self.ptr) + torch.arange(n, device=self.features.device)) % self.size  # (B',)
        self.features[idx] = feats.to(self.features.device)
        self.labels[idx] = labels.to(self.labels.device)
        self.ptr.fill_((int(self.ptr) + n) % self.size)
        self.filled.fill_(min(self.size, int(self.filled) + n))

    def contents(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The filled entries: features (n, dim) and labels (n,)."""
        n = int(self.filled)
        return self.features[:n], self.labels[:n]

    @torch.no_grad()
    def label_entropy(self) -> torch.Tensor:
        """Entropy (nats) of the label distribution of the filled entries, a 0-d float32 tensor on the queue's
        device (no host synchronisation; read it with float()); NaN when empty."""
        filled = self.filled.clamp_min(1)
        valid = torch.arange(self.size, device=self.labels.device) < self.filled  # (K,)
        counts = torch.zeros(self.n_classes, device=self.labels.device).index_add_(
            0, self.labels.clamp_min(0), valid.float())  # (C,)
        frac = counts / filled  # (C,)
        ent = -(torch.where(frac > 0, frac * frac.clamp_min(1e-30).log(), torch.zeros_like(frac))).sum()
        return torch.where(self.filled > 0, ent, torch.full_like(ent, float("nan")))

    @torch.no_grad()
    def stats(self) -> dict:
        """Fig. 6 quantities: label entropy (nats), class coverage, median L2 distance to class centroid."""
        feats, labels = self.contents()
        n = feats.shape[0]
        out: dict = {"queue_filled": n}
        if n == 0:
            out.update(queue_entropy=float("nan"), queue_coverage=[float("nan")] * self.n_classes,
                       queue_centroid_dist=[float("nan")] * self.n_classes)
            return out
        frac = torch.bincount(labels, minlength=self.n_classes).float() / n  # (C,)
        out["queue_entropy"] = float(self.label_entropy())
        out["queue_coverage"] = [float(f) for f in frac]
        dists = []
        for c in range(self.n_classes):
            fc = feats[labels == c]  # (n_c, dim)
            if fc.shape[0] == 0:
                dists.append(float("nan"))
                continue
            d = (fc - fc.mean(dim=0, keepdim=True)).norm(dim=-1)  # (n_c,)
            dists.append(float(d.median()))
        out["queue_centroid_dist"] = dists
        return out


def supcon_queue_loss(query: torch.Tensor, query_labels: torch.Tensor, keys: torch.Tensor,
                      key_labels: torch.Tensor, tau: float = 0.07, positives: str = "mean") -> torch.Tensor:
    """Supervised InfoNCE of queries against a memory (Eq. 19-20).

    query (B, dim) and keys (K, dim) are L2-normalised inside; labels (B,), (K,).
    positives='sum': Eq. 19 as written, -Σ_{j: y_j = y_q} log softmax_j; 'mean': the same sum divided by the
    number of positives (SupCon). Queries without a positive in the memory contribute 0; an empty memory
    gives 0 (with a graph, so it can be added to a loss).
    """
    if positives not in ("sum", "mean"):
        raise ValueError(f"positives must be 'sum' or 'mean', got {positives!r}")
    if tau <= 0:
        raise ValueError(f"tau must be > 0, got {tau}")
    if query.dim() != 2 or keys.dim() != 2 or query.shape[1] != keys.shape[1]:
        raise ValueError(f"query (B, d) and keys (K, d) must share d, got {tuple(query.shape)}, "
                         f"{tuple(keys.shape)}")
    if keys.shape[0] == 0 or query.shape[0] == 0:
        return query.sum() * 0.0
    q = F.normalize(query.float(), dim=-1)  # (B, dim)
    k = F.normalize(keys.float(), dim=-1)  # (K, dim)
    log_prob = F.log_softmax(q @ k.t() / tau, dim=-1)  # (B, K)
    pos = (query_labels.view(-1, 1) == key_labels.view(1, -1)).float()  # (B, K)
    per_query = -(pos * log_prob).sum(dim=-1)  # (B,), Eq. 19
    if positives == "mean":
        per_query = per_query / pos.sum(dim=-1).clamp_min(1.0)
    return per_query.mean()  # Eq. 20


class SAML(nn.Module):
    """Queue + key encoder + enqueue policy of one training run (Algorithm 1 l. 18; §V-A "momentum 0.95").

    cfg.saml.stores: what is queued and queried, 'z_fuse' (Algorithm 1, (B, D_f)) or 'p_fuse' (Eq. 18, (B, C),
    p^Fuse at temperature τ_t as chosen by cfg.pcl.p_fuse). cfg.saml.momentum_mode: 'ema' = keys from a
    momentum copy of the encoder, θ_k <- m θ_k + (1 - m) θ_q after every step (MoCo); 'none' = keys are the
    detached online features of the step. The state dict holds the queue and the key encoder (resume).
    """

    def __init__(self, model: nn.Module, cfg: Config):
        super().__init__()
        s = cfg.saml
        self.stores, self.mode, self.momentum = s.stores, s.momentum_mode, s.momentum
        self.tau_cont, self.positives, self.p_fuse_mode = s.tau_cont, s.positives, cfg.pcl.p_fuse
        dim = cfg.model.d_fuse if s.stores == "z_fuse" else cfg.model.n_classes
        self.queue = MemoryQueue(s.queue_size, dim, cfg.model.n_classes)
        device = next(model.parameters()).device
        self.queue.to(device)
        # the key encoder is a frozen copy (not a parameter of the online model)
        self.key_encoder = copy.deepcopy(model).requires_grad_(False) if s.momentum_mode == "ema" else None

    def features(self, out: dict, tau: float) -> torch.Tensor:
        """What the queue holds, from a model output: z^Fuse (B, D_f) or p^Fuse (B, C)."""
        return out["z_fuse"] if self.stores == "z_fuse" else fuse_probs(out, tau, self.p_fuse_mode)

    def loss(self, out: dict, labels: torch.Tensor, tau: float) -> torch.Tensor:
        """Eq. 19-20: queries = the first len(labels) rows of `out` (the labelled batch) against the queue."""
        q = self.features(out, tau)[: labels.shape[0]]  # (B, dim)
        keys, key_labels = self.queue.contents()  # (n, dim), (n,)
        return supcon_queue_loss(q, labels, keys, key_labels, self.tau_cont, self.positives)

    @torch.no_grad()
    def momentum_update(self, model: nn.Module) -> None:
        """θ_k <- m θ_k + (1 - m) θ_q over all parameters at once (fused foreach ops)."""
        pk, pq = list(self.key_encoder.parameters()), [p.detach() for p in model.parameters()]
        torch._foreach_mul_(pk, self.momentum)
        torch._foreach_add_(pk, pq, alpha=1.0 - self.momentum)

    @torch.no_grad()
    def update(self, model: nn.Module, out: dict, mel: torch.Tensor, coch: torch.Tensor, labels: torch.Tensor,
               tau: float, forward_context=nullcontext) -> None:
        """After the optimiser step (Algorithm 1 l. 18): enqueue the keys of the labelled batch.

        out: the online model's output of this step (used when mode='none'); mel (B, N_mel, T), coch
        (B, N_coch, T), labels (B,): the labelled rows; forward_context: e.g. the step's autocast.
        """
        if self.key_encoder is None:
            self.queue.enqueue(self.features(out, tau)[: labels.shape[0]].detach(), labels)
            return
        self.momentum_update(model)
        self.key_encoder.eval()
        with forward_context():
            kout = self.key_encoder(mel, coch)
        self.queue.enqueue(self.features(kout, tau).float(), labels)
