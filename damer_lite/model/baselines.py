"""Baselines under the same splits, seeds and metrics as DAMER.

- `mel_transformer` / `coch_transformer`: one view, the same projection + L self-attention layers (sizes of
  `cfg.model`) + average pooling + linear head, trained with CE, Adam, cosine, clipping, as DAMER.
- `concat_linear`: both views flattened and concatenated, standardised, L2 logistic regression.
- `svm`: RBF SVM on standardised handcrafted feature vectors (Table II's SVM row; features given by the
  caller, or per-bin mean/std summaries of the two views when none are given).

Every runner returns {'metrics': {<kind>: {acc, f1, auc}, 'primary': <kind>, ...}, ...} like `train_run`.
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from torch import nn

from ..config import Config
from ..metrics import binary_metrics
from .dsaf import AttentionBlock

KINDS = ("mel_transformer", "coch_transformer", "concat_linear", "svm")


class SingleViewTransformer(nn.Module):
    """tokens (B, N, d_in) -> L self-attention blocks (Eq. 6-8) -> mean pool -> logits (B, 2)."""

    def __init__(self, n_tokens: int, d_in: int, cfg: Config):
        super().__init__()
        m = cfg.model
        self.proj = nn.Linear(d_in, m.d)
        self.pos = nn.Parameter(torch.randn(1, n_tokens, m.d) * 0.02) if m.pos_emb == "learned" else None
        self.blocks = nn.ModuleList(
            AttentionBlock(m.d, m.heads, m.ffn_mult, m.dropout) for _ in range(m.layers)
        )
        self.head = nn.Linear(m.d, m.n_classes)

    def forward(self, x: torch.Tensor) -> dict:
        h = self.proj(x)  # (B, N, D)
        if self.pos is not None:
            h = h + self.pos
        for blk in self.blocks:
            h, _ = blk(h, h)  # self-attention
        z = h.mean(dim=1)  # (B, D)
        return {"z": z, "logits": self.head(z)}


def _tokens(x: torch.Tensor, axis: str) -> torch.Tensor:
    return x if axis == "freq" else x.transpose(1, 2)  # (B, N, d_in)


def train_single_view(view: str, mel, coch, y, split: dict, cfg: Config, seed: int = 0,
                      out_dir: str | Path | None = None, device=None, test_guard: bool = True) -> dict:
    """Train a one-view transformer ('mel' or 'coch') and evaluate on split['test'] after training."""
    from ..train import (
        SealedSplit,
        Standardiser,
        amp_dtype,
        autocast,
        check_inputs,
        grad_scaler,
        optimizer_step,
        resolve_device,
        seed_everything,
    )

    if view not in ("mel", "coch"):
        raise ValueError(f"view must be 'mel' or 'coch', got {view!r}")
    kind = f"{view}_transformer"
    mel, coch, y, split = check_inputs(mel, coch, y, split)
    dev = resolve_device(device)
    amp = amp_dtype(cfg, dev)
    prev = torch.are_deterministic_algorithms_enabled()
    seed_everything(seed, cfg.train.deterministic)
    t_start = time.perf_counter()
    try:
        std = Standardiser(mel[split["train"]], coch[split["train"]])
        pick = 0 if view == "mel" else 1
        x_tr = std(mel[split["train"]], coch[split["train"]])[pick]  # (n, bins, T)
        y_tr = torch.from_numpy(y[split["train"]])
        test = SealedSplit(mel, coch, y, split["test"], sealed=test_guard)
        x_tok = _tokens(x_tr[:1], cfg.model.token_axis)
        model = SingleViewTransformer(x_tok.shape[1], x_tok.shape[2], cfg).to(dev)
        opt = torch.optim.Adam(model.parameters(), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
        sched = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.train.epochs)
                 if cfg.train.scheduler == "cosine" else None)
        scaler = grad_scaler(dev, amp)
        gen = torch.Generator().manual_seed(seed)
        history = []
        for epoch in range(1, cfg.train.epochs + 1):
            model.train()
            order, losses = torch.randperm(len(y_tr), generator=gen), []
            for s in range(0, len(order), cfg.train.batch_size):
                idx = order[s:s + cfg.train.batch_size]
                with autocast(dev, amp):
                    out = model(_tokens(x_tr[idx], cfg.model.token_axis).to(dev))
                loss = F.cross_entropy(out["logits"].float(), y_tr[idx].to(dev))
                optimizer_step(loss, model, opt, scaler, cfg.train.grad_clip)
                losses.append(loss.item())
            if sched is not None:
                sched.step()
            history.append({"epoch": epoch, "loss_total": float(np.mean(losses))})
        test.unseal()
        tm, tc, ty = test.arrays()
        x_te = _tokens(std(tm, tc)[pick], cfg.model.token_axis)
        model.eval()
        with torch.no_grad():
            prob = torch.cat([F.softmax(model(x_te[i:i + 64].to(dev))["logits"].float(), -1)[:, 1].cpu()
                              for i in range(0, len(x_te), 64)]).numpy()
    finally:
        torch.use_deterministic_algorithms(prev)
    metrics = _wrap(kind, binary_metrics(ty, prob), seed, len(y_tr), len(ty), t_start)
    result = {"metrics": metrics, "history": {"epochs": history}, "model": model}
    _save(out_dir, result, cfg)
    return result


def summary_features(mel, coch) -> np.ndarray:
    """Handcrafted fallback: per-bin mean and std over time of both views -> (n, 2 (N_mel + N_coch))."""
    mel, coch = np.asarray(mel, dtype=np.float64), np.asarray(coch, dtype=np.float64)
    return np.concatenate([mel.mean(2), mel.std(2), coch.mean(2), coch.std(2)], axis=1)


def _fit_sklearn(kind: str, estimator, x: np.ndarray, y, split: dict, seed: int, out_dir) -> dict:
    y = np.asarray(y).astype(int)
    tr, te = np.asarray(split["train"]), np.asarray(split["test"])
    t_start = time.perf_counter()
    estimator.fit(x[tr], y[tr])  # the scaler inside the pipeline sees train rows only
    if hasattr(estimator, "predict_proba") and kind != "svm":
        score = estimator.predict_proba(x[te])[:, 1]
        m = binary_metrics(y[te], score)
    else:  # SVM: decision values for AUC, its own decisions for ACC/F1
        m = binary_metrics(y[te], estimator.decision_function(x[te]), y_pred=estimator.predict(x[te]))
    result = {"metrics": _wrap(kind, m, seed, len(tr), len(te), t_start), "history": {"epochs": []}}
    _save(out_dir, result, None)
    return result


def train_concat_linear(mel, coch, y, split: dict, seed: int = 0, out_dir=None, c: float = 1.0) -> dict:
    """Flatten both views, concatenate, standardise (train statistics), L2 logistic regression."""
    mel, coch = np.asarray(mel), np.asarray(coch)
    x = np.concatenate([mel.reshape(len(mel), -1), coch.reshape(len(coch), -1)], axis=1).astype(np.float32)
    est = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000, random_state=seed))
    return _fit_sklearn("concat_linear", est, x, y, split, seed, out_dir)


def train_svm(features, y, split: dict, seed: int = 0, out_dir=None, c: float = 1.0, gamma="scale") -> dict:
    """RBF SVM on standardised handcrafted features (n, F)."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"handcrafted features must be (n, F), got {x.shape}")
    est = make_pipeline(StandardScaler(), SVC(C=c, kernel="rbf", gamma=gamma, random_state=seed))
    return _fit_sklearn("svm", est, x, y, split, seed, out_dir)


def run_baseline(kind: str, mel, coch, y, split: dict, cfg: Config, seed: int = 0, out_dir=None, device=None,
                 features=None) -> dict:
    """Dispatch one of KINDS with the same arguments as `train_run`."""
    if kind == "mel_transformer":
        return train_single_view("mel", mel, coch, y, split, cfg, seed, out_dir, device)
    if kind == "coch_transformer":
        return train_single_view("coch", mel, coch, y, split, cfg, seed, out_dir, device)
    if kind == "concat_linear":
        return train_concat_linear(mel, coch, y, split, seed, out_dir)
    if kind == "svm":
        x = summary_features(mel, coch) if features is None else features
        return train_svm(x, y, split, seed, out_dir)
    raise ValueError(f"unknown baseline {kind!r} (known: {', '.join(KINDS)})")


def _wrap(kind: str, m: dict, seed: int, n_train: int, n_test: int, t_start: float) -> dict:
    return {kind: m, "primary": kind, "seed": seed, "n_train": int(n_train), "n_test": int(n_test),
            "wall_seconds": time.perf_counter() - t_start}


def _save(out_dir, result: dict, cfg: Config | None) -> None:
    if out_dir is None:
        return
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    from ..train import to_jsonable

    (out / "metrics.json").write_text(json.dumps(to_jsonable(result["metrics"]), indent=2))
    (out / "history.json").write_text(json.dumps(result["history"]))
    if cfg is not None:
        (out / "config.json").write_text(json.dumps(copy.deepcopy(cfg).to_dict(), indent=2))
    if "model" in result:
        torch.save(result["model"].state_dict(), out / "model.pt")
