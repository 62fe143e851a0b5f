"""Training and evaluation of DAMER (Algorithm 1; loss Eq. 21-23; optimisation §V-A).

    result = train_run(mel, coch, y, split, cfg, out_dir="runs/a0", seed=0)
    result["metrics"]["fuse"]["acc"]

mel (n, N_mel, T), coch (n, N_coch, T), y (n,) in {0, 1}; split = {'train': idx, 'test': idx[, 'val': idx]}
(positional indices). The test rows are sealed until training has finished (see `SealedSplit`).
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.model_selection import train_test_split
from tqdm.auto import tqdm

from .config import Config
from .metrics import binary_metrics
from .model.damer import DAMER
from .model.pcl import pcl_stats, pcl_step, progress, pseudo_label_loss, tau_schedule, theta_schedule
from .model.saml import MemoryQueue, supcon_queue_loss

HEADS = ("mel", "coch", "fuse")


# ---------------------------------------------------------------- data plumbing
class TestSplitAccessError(RuntimeError):
    """Raised when the test split is read before training has finished."""

    __test__ = False  # not a pytest class


class SealedSplit:
    """Holds the test rows; `arrays()` raises until `unseal()` is called after training."""

    def __init__(self, mel: np.ndarray, coch: np.ndarray, y: np.ndarray, idx: np.ndarray,
                 sealed: bool = True):
        self._mel, self._coch, self._y, self._idx = mel, coch, y, np.asarray(idx)
        self.sealed = sealed

    def __len__(self) -> int:  # the size is not secret
        return len(self._idx)

    def unseal(self) -> None:
        self.sealed = False

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self.sealed:
            raise TestSplitAccessError("the test split was accessed before training finished")
        return self._mel[self._idx], self._coch[self._idx], self._y[self._idx]


class Standardiser:
    """Per-bin standardisation; statistics from the training rows only (mean/std over tracks and frames)."""

    def __init__(self, mel_train: np.ndarray, coch_train: np.ndarray):
        self.mel_mu, self.mel_sd = self._fit(mel_train)
        self.coch_mu, self.coch_sd = self._fit(coch_train)

    @staticmethod
    def _fit(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(x, dtype=np.float64)
        mu = x.mean(axis=(0, 2), keepdims=True)[0]  # (N_bins, 1)
        sd = x.std(axis=(0, 2), keepdims=True)[0]
        return mu, np.maximum(sd, 1e-6)

    def __call__(self, mel: np.ndarray, coch: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        m = ((np.asarray(mel, dtype=np.float64) - self.mel_mu) / self.mel_sd).astype(np.float32)
        c = ((np.asarray(coch, dtype=np.float64) - self.coch_mu) / self.coch_sd).astype(np.float32)
        return torch.from_numpy(m), torch.from_numpy(c)


@dataclass
class Part:
    mel: torch.Tensor  # (n, N_mel, T)
    coch: torch.Tensor  # (n, N_coch, T)
    y: torch.Tensor | None  # (n,) or None for unlabelled rows

    def __len__(self) -> int:
        return self.mel.shape[0]


def check_inputs(mel, coch, y, split) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    mel, coch, y = np.asarray(mel), np.asarray(coch), np.asarray(y)
    if mel.ndim != 3 or coch.ndim != 3:
        raise ValueError(f"mel and coch must be (n, bins, T) arrays, got {mel.shape} and {coch.shape}")
    if not (mel.shape[0] == coch.shape[0] == y.shape[0]) or mel.shape[2] != coch.shape[2]:
        raise ValueError(f"mel {mel.shape}, coch {coch.shape} and y {y.shape} disagree in n or T")
    for name, arr in (("mel", mel), ("coch", coch)):
        if not np.isfinite(arr).all():
            bad = np.unique(np.nonzero(~np.isfinite(arr))[0])
            raise ValueError(f"{name} has NaN/inf values in {bad.size} tracks (rows {bad[:5].tolist()}...); "
                             "features must have the same number of frames for every track")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("y must hold binary labels 0/1")
    if not isinstance(split, dict) or "train" not in split or "test" not in split:
        raise ValueError("split must be a dict with 'train' and 'test' index arrays (optional 'val')")
    unknown = set(split) - {"train", "test", "val"}
    if unknown:
        raise ValueError(f"unknown split names {sorted(unknown)}")
    out = {}
    for name, idx in split.items():
        idx = np.asarray(idx, dtype=np.int64).ravel()
        if idx.size == 0:
            raise ValueError(f"split '{name}' is empty")
        if idx.min() < 0 or idx.max() >= len(y):
            raise ValueError(f"split '{name}' has indices outside [0, {len(y)})")
        out[name] = idx
    for a, b in (("train", "test"), ("val", "test"), ("train", "val")):
        if a in out and b in out and np.intersect1d(out[a], out[b]).size:
            raise ValueError(f"splits '{a}' and '{b}' overlap")
    if np.unique(y[out["train"]]).size < 2:
        raise ValueError("the training split must contain both classes")
    return mel, coch, y.astype(np.int64), out


# ---------------------------------------------------------------- runtime helpers
def resolve_device(device: str | torch.device | None = None) -> torch.device:
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available")
    return dev


def native_bf16_cpu() -> bool:
    """True where this CPU runs bfloat16 matmuls natively (oneDNN with AVX512-BF16 or AMX)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def amp_dtype(cfg: Config, device: torch.device) -> torch.dtype | None:
    """Autocast dtype of the training steps (§V-A mixed precision), or None for fp32.

    'auto'/'on': fp16 (with loss scaling) on CUDA, bf16 on a CPU with native bf16 matmuls, fp32 on other CPUs;
    'bf16': bf16 on any device; 'off': fp32."""
    if cfg.train.amp == "bf16":
        return torch.bfloat16
    if cfg.train.amp in ("auto", "on"):
        if device.type == "cuda":
            return torch.float16
        if device.type == "cpu" and native_bf16_cpu():
            return torch.bfloat16
    return None


def amp_enabled(cfg: Config, device: torch.device) -> bool:
    return amp_dtype(cfg, device) is not None


def autocast(device: torch.device, amp: torch.dtype | None):
    """torch.autocast for `amp` (a dtype, or None for fp32)."""
    return torch.autocast(device.type, dtype=amp or torch.bfloat16, enabled=amp is not None)


def grad_scaler(device: torch.device, amp: torch.dtype | None):
    """Loss scaling is needed for fp16 only."""
    return torch.amp.GradScaler(device.type, enabled=amp == torch.float16)


def optimizer_step(loss: torch.Tensor, model: torch.nn.Module, opt, scaler, grad_clip: float) -> None:
    """Backward, gradient-norm clipping (§V-A: 5.0) and an optimiser step, with fp16 loss scaling."""
    opt.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.unscale_(opt)
    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    scaler.step(opt)
    scaler.update()


def seed_everything(seed: int, deterministic: bool = True) -> None:
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        if torch.backends.cudnn.is_available():
            torch.backends.cudnn.benchmark = False


def _fuse_probs(out: dict, tau: float, mode: str) -> torch.Tensor:
    """Differentiable p^Fuse (B, C): Eq. 14 ('mean') or the fused head (Algorithm 1, 'head')."""
    if mode == "mean":
        p_mel = F.softmax(out["logits_mel"].float() / tau, -1)
        return 0.5 * (p_mel + F.softmax(out["logits_coch"].float() / tau, -1))
    return F.softmax(out["logits_fuse"].float() / tau, -1)


@torch.no_grad()
def predict(model: DAMER, mel: torch.Tensor, coch: torch.Tensor, device: torch.device,
            batch_size: int = 64) -> dict[str, np.ndarray]:
    """Per-head P(class 1), the 3-head ensemble (mean of the heads' probabilities) and z_fuse; in fp32
    whatever precision trained the model (as `damer-lite predict`)."""
    model.eval()
    probs = {h: [] for h in HEADS}
    z = []
    for i in range(0, mel.shape[0], batch_size):
        out = model(mel[i:i + batch_size].to(device), coch[i:i + batch_size].to(device))
        for h in HEADS:
            probs[h].append(F.softmax(out[f"logits_{h}"].float(), -1)[:, 1].cpu())
        z.append(out["z_fuse"].float().cpu())
    res = {h: torch.cat(v).numpy() for h, v in probs.items()}
    res["ensemble"] = (res["mel"] + res["coch"] + res["fuse"]) / 3.0
    res["z_fuse"] = torch.cat(z).numpy()
    return res


def head_metrics(y: np.ndarray, pred: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    return {h: binary_metrics(y, pred[h]) for h in (*HEADS, "ensemble")}


def _nanmean(values: list[float]) -> float:
    v = [x for x in values if x == x]
    return float(np.mean(v)) if v else float("nan")


# ---------------------------------------------------------------- the run
def train_run(mel, coch, y, split: dict, cfg: Config, out_dir: str | Path | None = None,
              device: str | torch.device | None = None, seed: int = 0, test_guard: bool = True,
              _epoch_hook=None) -> dict:
    """Train DAMER on split['train'] and evaluate once on split['test'] after training.

    Returns {'metrics', 'history', 'config', 'model', 'embeddings'}; writes metrics.json, history.json,
    config.json, model.pt and embeddings.npz into out_dir when given. `_epoch_hook(epoch, data)` is called
    after every epoch with the run's data dict (used by the tests of the test-split guard).
    """
    cfg.validate()
    mel, coch, y, split = check_inputs(mel, coch, y, split)
    dev = resolve_device(device)
    amp = amp_dtype(cfg, dev)
    select = cfg.train.select
    if select == "val" and "val" not in split:
        raise ValueError("train.select='val' needs a 'val' split")
    prev_det, prev_threads = torch.are_deterministic_algorithms_enabled(), torch.get_num_threads()
    if cfg.train.threads > 0:
        torch.set_num_threads(cfg.train.threads)
    seed_everything(seed, cfg.train.deterministic)
    try:
        return _run(mel, coch, y, split, cfg, out_dir, dev, amp, seed, test_guard, _epoch_hook)
    finally:
        torch.use_deterministic_algorithms(prev_det)
        torch.set_num_threads(prev_threads)


def _run(mel, coch, y, split, cfg, out_dir, dev, amp, seed, test_guard, epoch_hook) -> dict:
    t_start = time.perf_counter()
    use_pcl, use_saml = cfg.modules.pcl, cfg.modules.saml
    train_idx = split["train"]
    pool_idx = np.zeros(0, dtype=np.int64)
    if use_pcl and cfg.pcl.source == "pool":  # hide the labels of a stratified part of train
        train_idx, pool_idx = train_test_split(train_idx, test_size=cfg.pcl.pool_fraction, random_state=seed,
                                               stratify=y[train_idx])
    fit_idx = np.concatenate([train_idx, pool_idx])
    std = Standardiser(mel[fit_idx], coch[fit_idx])  # training rows only

    def part(idx, labelled=True) -> Part:
        m, c = std(mel[idx], coch[idx])
        return Part(m, c, torch.from_numpy(y[idx]) if labelled else None)

    data = {"train": _on_device(part(train_idx), dev),  # on a GPU: one copy per run, batches gathered there
            "test": SealedSplit(mel, coch, y, split["test"], sealed=test_guard)}
    if pool_idx.size:
        data["pool"] = _on_device(part(pool_idx, labelled=False), dev)
    if "val" in split:
        data["val"] = part(split["val"])

    n_mel, n_coch, n_t = mel.shape[1], coch.shape[1], mel.shape[2]
    model = DAMER(cfg, n_mel, n_coch, n_t).to(dev)
    init_state = copy.deepcopy(model.state_dict())  # for the epoch-0 embeddings (Fig. 7), read after training
    key_model = None
    if use_saml and cfg.saml.momentum_mode == "ema":
        key_model = copy.deepcopy(model).requires_grad_(False)
    queue = None
    if use_saml:
        qdim = cfg.model.d_fuse if cfg.saml.stores == "z_fuse" else cfg.model.n_classes
        queue = MemoryQueue(cfg.saml.queue_size, qdim, cfg.model.n_classes).to(dev)

    opt = torch.optim.Adam(model.parameters(), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
    sched = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.train.epochs)
             if cfg.train.scheduler == "cosine" else None)
    scaler = grad_scaler(dev, amp)
    gen = torch.Generator().manual_seed(seed)
    select = cfg.train.select
    if select == "auto":
        select = "val" if "val" in data else "last"
    best = {"acc": -1.0, "epoch": 0, "state": None}
    history: dict = {"epochs": [], "steps": {"queue_entropy": []}}
    n_seen, t_train = 0, 0.0

    bar = tqdm(range(1, cfg.train.epochs + 1), desc="train", disable=not cfg.train.progress, leave=False)
    for epoch in bar:
        rho = progress(epoch, cfg.train.epochs, cfg.pcl.progress)
        tau = tau_schedule(rho, cfg.pcl.tau_max, cfg.pcl.tau_min)
        theta = theta_schedule(rho, cfg.theta0, cfg.theta_min, cfg.pcl.theta_form)
        t0 = time.perf_counter()
        rec = _train_epoch(model, key_model, queue, data, cfg, opt, scaler, gen, dev, amp, tau, theta,
                           history)
        dt = time.perf_counter() - t0
        t_train += dt
        n_seen += rec.pop("n_samples")
        row = {"epoch": epoch, "lr": opt.param_groups[0]["lr"], "tau": tau, "theta": theta, **rec,
               "seconds": dt, "samples_per_s": len(data["train"]) / dt}
        if sched is not None:
            sched.step()
        if queue is not None:
            row.update(queue.stats())
        if "val" in data:
            vp = predict(model, data["val"].mel, data["val"].coch, dev)
            row["val"] = head_metrics(data["val"].y.numpy(), vp)
            if select == "val" and row["val"]["fuse"]["acc"] > best["acc"]:
                best = {"acc": row["val"]["fuse"]["acc"], "epoch": epoch,
                        "state": copy.deepcopy(model.state_dict())}
        history["epochs"].append(row)
        bar.set_postfix(loss=f"{rec['loss_total']:.3f}", sps=f"{row['samples_per_s']:.0f}")
        if epoch_hook is not None:
            epoch_hook(epoch, data)

    # ---- training has finished: model selection (never on test), then the one look at the test split
    selected = cfg.train.epochs
    if select == "val" and best["state"] is not None:
        model.load_state_dict(best["state"])
        selected = best["epoch"]
    test = data["test"]
    test.unseal()
    tm, tc, ty = test.arrays()
    tm, tc = std(tm, tc)
    pred = predict(model, tm, tc, dev)
    metrics = head_metrics(ty, pred)
    init_model = DAMER(cfg, n_mel, n_coch, n_t).to(dev)
    init_model.load_state_dict(init_state)
    z0 = predict(init_model, tm, tc, dev)["z_fuse"]
    metrics.update({
        "primary": "fuse", "selected_epoch": selected, "selection": select, "seed": seed,
        "n_train": int(len(data["train"])), "n_pool": int(pool_idx.size), "n_test": int(len(ty)),
        "n_val": int(len(data["val"])) if "val" in data else 0, "device": str(dev),
        "amp": str(amp).replace("torch.", "") if amp is not None else False,
        "train_seconds": t_train, "train_samples_per_s": n_seen / max(t_train, 1e-9),
        "wall_seconds": time.perf_counter() - t_start,
    })
    embeddings = {"z_epoch0": z0, "z_final": pred["z_fuse"], "labels": ty, "test_idx": split["test"]}
    result = {"metrics": metrics, "history": history, "config": cfg, "model": model, "embeddings": embeddings,
              "standardiser": std}
    if out_dir is not None:
        save_run(out_dir, result, seed=seed, device=dev)
    return result


def _on_device(part: Part | None, dev: torch.device) -> Part | None:
    """The whole part on `dev` (one copy per run instead of one per batch; a few hundred MB at most for the
    paper's datasets). On CPU the part itself."""
    if part is None or dev.type == "cpu":
        return part
    return Part(part.mel.to(dev), part.coch.to(dev), part.y.to(dev) if part.y is not None else None)


def _pcl_stats_t(out) -> dict[str, torch.Tensor]:
    """`pcl_stats` as 0-d tensors (no host synchronisation; converted once per epoch)."""
    sel = out.mask
    return {
        "confidence": out.confidence.mean(),
        "reliability": out.reliability.mean(),
        "pl_strength": out.p_fuse.max(dim=-1).values[sel].mean(),  # NaN when nothing is selected
        "mask_ratio": sel.float().mean(),
    }


def _train_epoch(model, key_model, queue, data, cfg: Config, opt, scaler, gen, dev, amp, tau, theta,
                 history, fast: bool = True) -> dict:
    """One pass over the labelled training rows (Algorithm 1, lines 6-18).

    fast=True (default) gives the same numbers as fast=False (the original step-by-step code, kept as the
    reference of benchmarks/bench_train.py --compare) with less overhead: batches are gathered on the device
    from training rows moved there once (no per-batch host-to-device copies), per-step statistics stay on the device
    and are read once per epoch (one host synchronisation instead of ~10 per step), and the momentum
    encoder is updated with fused multi-tensor (foreach) ops."""
    model.train()
    tr, pool = data["train"], data.get("pool")
    if fast:
        tr, pool = _on_device(tr, dev), _on_device(pool, dev)
    lam = cfg.loss
    bs = cfg.train.batch_size
    order = torch.randperm(len(tr), generator=gen)
    pool_order = torch.randperm(len(pool), generator=gen) if pool is not None else None
    if fast and dev.type != "cpu":  # the same permutations (drawn on the CPU generator), indices on the device
        order = order.to(dev)
        pool_order = pool_order.to(dev) if pool_order is not None else None
    sums: dict[str, list] = {}
    n_samples, pool_pos = 0, 0

    def log(**kw):
        for k, v in kw.items():
            if fast and isinstance(v, torch.Tensor):
                sums.setdefault(k, []).append(v.detach().reshape(()))
            else:
                sums.setdefault(k, []).append(float(v))

    ent_steps = []
    for start in range(0, len(tr), bs):
        idx = order[start:start + bs]
        xm, xc, yb = tr.mel[idx], tr.coch[idx], tr.y[idx].to(dev)
        n_lab = len(idx)
        if pool is not None:  # an unlabelled batch of the same size, cycling through the pool
            pidx = pool_order[(pool_pos + torch.arange(n_lab, device=pool_order.device)) % len(pool)]
            pool_pos += n_lab
            xm, xc = torch.cat([xm, pool.mel[pidx]]), torch.cat([xc, pool.coch[pidx]])
        xm, xc = xm.to(dev), xc.to(dev)
        with autocast(dev, amp):
            out = model(xm, xc)
        lab = slice(0, n_lab)
        l_cls = sum(F.cross_entropy(out[f"logits_{h}"][lab].float(), yb) for h in HEADS)  # Eq. 22
        total = lam.lambda_cls * l_cls
        l_pl = l_cons = l_cont = torch.zeros((), device=dev)
        if cfg.modules.pcl:
            po = pcl_step(out["logits_mel"], out["logits_coch"], out["logits_fuse"], tau, theta,
                          cfg.pcl.p_fuse)  # Eq. 10-16
            rows = slice(n_lab, None) if pool is not None else lab  # which rows may get pseudo-labels
            eligible = torch.zeros_like(po.mask)
            eligible[rows] = True
            po.mask = po.mask & eligible
            l_pl = pseudo_label_loss(out["logits_fuse"], po)  # Eq. 17
            l_cons = po.js.mean()  # Eq. 23, over every row of the step
            total = total + lam.lambda_pl * l_pl + lam.lambda_cons * l_cons
            sub = {k: getattr(po, k)[rows] for k in ("confidence", "reliability", "mask", "p_fuse")}
            po_rows = type(po)(js=po.js[rows], pseudo_label=po.pseudo_label[rows], **sub)
            log(**(_pcl_stats_t(po_rows) if fast else pcl_stats(po_rows)))
        if queue is not None:
            if cfg.saml.stores == "z_fuse":
                q = out["z_fuse"][lab]  # (B, D_f)
            else:
                q = _fuse_probs(out, tau, cfg.pcl.p_fuse)[lab]  # (B, C)
            keys, key_labels = queue.contents()
            l_cont = supcon_queue_loss(q, yb, keys, key_labels, cfg.saml.tau_cont,
                                       cfg.saml.positives)  # Eq. 19-20
            total = total + lam.lambda_cont * l_cont  # Eq. 21

        optimizer_step(total, model, opt, scaler, cfg.train.grad_clip)

        if queue is not None:  # Algorithm 1 l. 18, after the update
            _update_queue(model, key_model, queue, out, xm[lab], xc[lab], yb, cfg, tau, amp, dev, fast)
            if fast:
                ent_steps.append(queue.label_entropy_t())
            else:
                history["steps"]["queue_entropy"].append(queue.label_entropy())
        acc = (out["logits_fuse"][lab].argmax(-1) == yb).float().mean()
        if fast:
            log(loss_total=total, loss_cls=l_cls, loss_pl=l_pl, loss_cons=l_cons, loss_cont=l_cont, train_acc=acc)
        else:
            log(loss_total=total.item(), loss_cls=l_cls.item(), loss_pl=l_pl.item(), loss_cons=l_cons.item(),
                loss_cont=l_cont.item(), train_acc=acc.item())
        n_samples += n_lab
    if fast:  # one host synchronisation per epoch: the same Python floats as per-step float()/.item()
        if ent_steps:
            history["steps"]["queue_entropy"].extend(torch.stack(ent_steps).tolist())
        sums = {k: (torch.stack(v).tolist() if v and isinstance(v[0], torch.Tensor) else v)
                for k, v in sums.items()}
    rec = {k: _nanmean(v) for k, v in sums.items()}
    rec["n_samples"] = n_samples
    return rec


@torch.no_grad()
def _update_queue(model, key_model, queue, out, xm, xc, yb, cfg: Config, tau, amp, dev, fast: bool = False) -> None:
    if key_model is None:  # 'none': the detached online features
        if cfg.saml.stores == "z_fuse":
            keys = out["z_fuse"]
        else:
            keys = _fuse_probs(out, tau, cfg.pcl.p_fuse)
        queue.enqueue(keys[: len(yb)].detach(), yb)
        return
    m = cfg.saml.momentum  # 'ema': MoCo-style momentum encoder, θ_k <- m θ_k + (1 - m) θ_q
    if fast:  # the same element-wise ops, fused over all parameters
        pk, pq = list(key_model.parameters()), [p.detach() for p in model.parameters()]
        torch._foreach_mul_(pk, m)
        torch._foreach_add_(pk, pq, alpha=1.0 - m)
    else:
        for pk, pq in zip(key_model.parameters(), model.parameters(), strict=True):
            pk.mul_(m).add_(pq.detach(), alpha=1.0 - m)
    key_model.eval()
    with autocast(dev, amp):
        kout = key_model(xm, xc)
    keys = kout["z_fuse"] if cfg.saml.stores == "z_fuse" else _fuse_probs(kout, tau, cfg.pcl.p_fuse)
    queue.enqueue(keys.float(), yb)


# ---------------------------------------------------------------- outputs
def to_jsonable(o):
    if isinstance(o, dict):
        return {k: to_jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [to_jsonable(v) for v in o]
    if isinstance(o, (np.floating, float)):
        return None if o != o else float(o)
    if isinstance(o, np.integer):
        return int(o)
    return o


def save_run(out_dir: str | Path, result: dict, seed: int, device) -> None:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(to_jsonable(result["metrics"]), indent=2))
    (out / "history.json").write_text(json.dumps(to_jsonable(result["history"])))
    conf = {**result["config"].to_dict(), "run": {"seed": seed, "device": str(device)}}
    (out / "config.json").write_text(json.dumps(conf, indent=2))
    torch.save(result["model"].state_dict(), out / "model.pt")
    e = result["embeddings"]
    np.savez_compressed(out / "embeddings.npz", **e)
    std = result.get("standardiser")
    if std is not None:  # what `predict` needs for new audio
        np.savez(out / "standardiser.npz", mel_mu=std.mel_mu, mel_sd=std.mel_sd, coch_mu=std.coch_mu,
                 coch_sd=std.coch_sd)


def load_model(run_dir: str | Path, cfg: Config | None = None, n_mel_bins: int = 128, n_coch_bins: int = 84,
               n_frames: int = 87, device: str = "cpu") -> DAMER:
    """Rebuild a trained model from run_dir (config.json + model.pt, loaded with weights_only=True)."""
    run_dir = Path(run_dir)
    if cfg is None:
        d = json.loads((run_dir / "config.json").read_text())
        d.pop("run", None)
        cfg = Config.from_dict(d)
    model = DAMER(cfg, n_mel_bins, n_coch_bins, n_frames)
    model.load_state_dict(torch.load(run_dir / "model.pt", map_location=device, weights_only=True))
    return model.to(device).eval()
