"""The one training loop: DAMER (Algorithm 1; loss Eq. 21-23; optimisation §V-A) and the single-view
transformer baselines go through the same code path.

    result = train_run(mel, coch, y, split, cfg, out_dir="runs/a0", seed=0)                  # DAMER
    result = train_run(mel, coch, y, split, cfg, model="mel_transformer", seed=0)             # a baseline
    result["metrics"]["fuse"]["acc"]

mel (n, N_mel, T), coch (n, N_coch, T), y (n,) in {0, 1}; split = {'train': idx, 'test': idx[, 'val': idx]}
(positional indices). The test rows are sealed until training has finished (`data.SealedSplit`); model
selection uses the 'val' split or the last epoch, never the test split. With `out_dir`, the state after every
epoch is saved (`runio.save_epoch_state`) and a killed run started again with the same arguments resumes
after its last completed epoch, ending with the same metrics as an uninterrupted run.
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from damer_lite.config import Config
from damer_lite.model.baselines import SingleViewTransformer
from damer_lite.model.damer import DAMER
from damer_lite.model.pcl import (
    PCLOutput,
    pcl_stats,
    pcl_step,
    progress,
    pseudo_label_loss,
    tau_schedule,
    theta_above_floor,
    theta_schedule,
)
from damer_lite.model.saml import SAML
from damer_lite.progress import tqdm
from damer_lite.training import runio
from damer_lite.training.calibration import calibration_report
from damer_lite.training.data import Part, SealedSplit, Standardiser, check_inputs, on_device, split_pool
from damer_lite.training.metrics import binary_metrics
from damer_lite.training.precision import (
    amp_dtype,
    autocast,
    grad_scaler,
    precision_name,
    resolve_device,
    rng_state,
    seed_everything,
    set_rng_state,
)

MODELS = ("damer", "mel_transformer", "coch_transformer")


def build_model(kind: str, cfg: Config, n_mel: int, n_coch: int, n_t: int) -> torch.nn.Module:
    """DAMER (kind 'damer') or a single-view transformer ('mel_transformer', 'coch_transformer')."""
    if kind == "damer":
        return DAMER(cfg, n_mel, n_coch, n_t)
    if kind in ("mel_transformer", "coch_transformer"):
        return SingleViewTransformer(kind.split("_")[0], cfg, n_mel, n_coch, n_t)
    raise ValueError(f"unknown model {kind!r} (known: {', '.join(MODELS)})")


# ---------------------------------------------------------------- evaluation
@torch.no_grad()
def predict(model, mel: torch.Tensor, coch: torch.Tensor, device: torch.device,
            batch_size: int = 64) -> dict[str, np.ndarray]:
    """Per-head P(class 1), the ensemble (mean of the heads' probabilities, for models with several heads)
    and the embedding (`model.embedding`, e.g. z_fuse); in fp32 whatever precision trained the model (as
    `damer-lite predict`). Also per head `margin_{h}` = z_1 - z_0, the logit margin (P = sigmoid(margin);
    what temperature scaling rescales, `training.calibration`)."""
    model.eval()
    probs = {h: [] for h in model.heads}
    margins = {h: [] for h in model.heads}
    z = []
    for i in range(0, mel.shape[0], batch_size):
        out = model(mel[i:i + batch_size].to(device), coch[i:i + batch_size].to(device))
        for h in model.heads:
            logits = out[f"logits_{h}"].float()  # (B, 2)
            probs[h].append(F.softmax(logits, -1)[:, 1].cpu())
            margins[h].append((logits[:, 1] - logits[:, 0]).cpu())
        z.append(out[model.embedding].float().cpu())
    res = {h: torch.cat(v).numpy() for h, v in probs.items()}
    margin = {f"margin_{h}": torch.cat(v).numpy() for h, v in margins.items()}
    if len(model.heads) > 1:
        res["ensemble"] = sum(res[h] for h in model.heads) / float(len(model.heads))
    res[model.embedding] = torch.cat(z).numpy()
    res.update(margin)
    return res


def head_metrics(y: np.ndarray, pred: dict[str, np.ndarray], heads) -> dict[str, dict[str, float]]:
    return {h: binary_metrics(y, pred[h]) for h in (*heads, "ensemble") if h in pred}


def optimizer_step(loss: torch.Tensor, model: torch.nn.Module, opt, scaler, grad_clip: float) -> None:
    """Backward, gradient-norm clipping (§V-A: 5.0) and an optimiser step, with fp16 loss scaling."""
    opt.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.unscale_(opt)
    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    scaler.step(opt)
    scaler.update()


def _nanmean(values: list[float]) -> float:
    v = [x for x in values if x == x]
    return float(np.mean(v)) if v else float("nan")


def _digest(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.dtype, a.shape)).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


# ---------------------------------------------------------------- the run
def train_run(mel, coch, y, split: dict, cfg: Config, out_dir: str | Path | None = None,
              device: str | torch.device | None = None, seed: int = 0, test_guard: bool = True,
              model: str = "damer", info: dict | None = None, resume: bool = True, _epoch_hook=None) -> dict:
    """Train `model` on split['train'] and evaluate once on split['test'] after training.

    Returns {'metrics', 'history', 'config', 'model', 'embeddings', 'standardiser', 'provenance'}; writes the
    run folder (see `runio`) into out_dir when given, with `info` (what was run) in its run.json, and resumes
    an unfinished run found there when `resume`. The single-view baselines train with PCL and SAML off (they
    have one head and no fused features). `_epoch_hook(epoch, data)` is called after every epoch with the
    run's data dict (tests: the test-split guard, a simulated kill).
    """
    cfg = copy.deepcopy(cfg)
    if model != "damer":
        cfg.modules.pcl = cfg.modules.saml = False
    cfg.validate()
    mel, coch, y, split = check_inputs(mel, coch, y, split)
    dev = resolve_device(device)
    amp = amp_dtype(cfg, dev)
    if cfg.train.select == "val" and "val" not in split:
        raise ValueError("train.select='val' needs a 'val' split")
    prev_det, prev_threads = torch.are_deterministic_algorithms_enabled(), torch.get_num_threads()
    if cfg.train.threads > 0:
        torch.set_num_threads(cfg.train.threads)
    seed_everything(seed, cfg.train.deterministic)
    try:
        return _run(mel, coch, y, split, cfg, out_dir, dev, amp, seed, test_guard, model, info, resume,
                    _epoch_hook)
    finally:
        torch.use_deterministic_algorithms(prev_det)
        torch.set_num_threads(prev_threads)


def _run(mel, coch, y, split, cfg, out_dir, dev, amp, seed, test_guard, kind, info, resume, epoch_hook) -> dict:
    t_start = time.perf_counter()
    use_pcl, use_saml = cfg.modules.pcl, cfg.modules.saml
    train_idx = split["train"]
    pool_idx = np.zeros(0, dtype=np.int64)
    if use_pcl and cfg.pcl.source == "pool":  # hide the labels of a stratified part of train
        train_idx, pool_idx = split_pool(train_idx, y, cfg.pcl.pool_fraction, seed)
    fit_idx = np.concatenate([train_idx, pool_idx])
    std = Standardiser(mel[fit_idx], coch[fit_idx])  # training rows only

    def part(idx, labelled=True) -> Part:
        m, c = std(mel[idx], coch[idx])
        return Part(m, c, torch.from_numpy(y[idx]) if labelled else None)

    data = {"train": on_device(part(train_idx), dev),  # on a GPU: one copy per run, batches gathered there
            "test": SealedSplit(mel, coch, y, split["test"], sealed=test_guard)}
    if pool_idx.size:
        data["pool"] = on_device(part(pool_idx, labelled=False), dev)
    if "val" in split:
        data["val"] = part(split["val"])

    shapes = (mel.shape[1], coch.shape[1], mel.shape[2])
    model = build_model(kind, cfg, *shapes).to(dev)
    init_state = copy.deepcopy(model.state_dict())  # for the epoch-0 embeddings (Fig. 7), read after training
    saml = SAML(model, cfg) if use_saml else None

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
    n_seen, t_train, start = 0, 0.0, 1

    fingerprint = {"model": kind, "config": json.dumps(cfg.to_dict(), sort_keys=True), "seed": int(seed),
                   "data": _digest(mel, coch, y), "split": _digest(*(split[k] for k in sorted(split))),
                   "device": str(dev), "precision": precision_name(amp)}
    saved = runio.load_epoch_state(out_dir, fingerprint) if (out_dir is not None and resume) else None
    if saved is not None:  # continue after the last completed epoch
        model.load_state_dict(saved["model"])
        init_state = saved["init_state"]
        if saml is not None:
            saml.load_state_dict(saved["saml"])
        opt.load_state_dict(saved["optimizer"])
        if sched is not None:
            sched.load_state_dict(saved["scheduler"])
        scaler.load_state_dict(saved["scaler"])
        set_rng_state(saved["rng"], gen)
        best, history = saved["best"], saved["history"]
        n_seen, t_train, start = saved["n_seen"], saved["t_train"], saved["epoch"] + 1

    bar = tqdm(range(start, cfg.train.epochs + 1), desc="train", disable=not cfg.train.progress, leave=False)
    for epoch in bar:
        rho = progress(epoch, cfg.train.epochs, cfg.pcl.progress)
        tau = tau_schedule(rho, cfg.pcl.tau_max, cfg.pcl.tau_min)
        theta = theta_schedule(rho, cfg.theta0, cfg.theta_min, cfg.pcl.theta_form)
        if cfg.pcl.theta_range == "above_floor":  # ours, off by default (see model.pcl.theta_above_floor)
            theta = theta_above_floor(theta, cfg.model.n_classes)
        t0 = time.perf_counter()
        rec = train_epoch(model, saml, data, cfg, opt, scaler, gen, dev, amp, tau, theta, history)
        dt = time.perf_counter() - t0
        t_train += dt
        n_seen += rec.pop("n_samples")
        row = {"epoch": epoch, "lr": opt.param_groups[0]["lr"], "tau": tau, "theta": theta, **rec,
               "seconds": dt, "samples_per_s": len(data["train"]) / dt}
        if sched is not None:
            sched.step()
        if saml is not None:
            row.update(saml.queue.stats())
        if "val" in data:
            vp = predict(model, data["val"].mel, data["val"].coch, dev)
            row["val"] = head_metrics(data["val"].y.numpy(), vp, model.heads)
            if select == "val" and row["val"][model.primary]["acc"] > best["acc"]:
                best = {"acc": row["val"][model.primary]["acc"], "epoch": epoch,
                        "state": copy.deepcopy(model.state_dict())}
        history["epochs"].append(row)
        bar.set_postfix(loss=f"{rec['loss_total']:.3f}", sps=f"{row['samples_per_s']:.0f}")
        if out_dir is not None and epoch < cfg.train.epochs:
            runio.save_epoch_state(out_dir, {
                "fingerprint": fingerprint, "epoch": epoch, "model": model.state_dict(), "init_state": init_state,
                "saml": saml.state_dict() if saml is not None else None, "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict() if sched is not None else None, "scaler": scaler.state_dict(),
                "rng": rng_state(gen), "best": best, "history": history, "n_seen": n_seen, "t_train": t_train})
        if epoch_hook is not None:
            epoch_hook(epoch, data)

    # ---- training has finished: model selection (never on test), then the one look at the test split
    selected = cfg.train.epochs
    if select == "val" and best["state"] is not None:
        model.load_state_dict(best["state"])
        selected = best["epoch"]
    val_pred = predict(model, data["val"].mel, data["val"].coch, dev) if "val" in data else None
    test = data["test"]
    test.unseal()
    tm, tc, ty = test.arrays()
    tm, tc = std(tm, tc)
    pred = predict(model, tm, tc, dev)
    metrics = head_metrics(ty, pred, model.heads)
    if val_pred is not None:  # temperature scaling of the scored head: fitted on val, only scored on test
        metrics["calibration"] = calibration_report(
            val_pred[f"margin_{model.primary}"], data["val"].y.numpy(), pred[f"margin_{model.primary}"], ty)
        metrics["calibration"]["head"] = model.primary
    init_model = build_model(kind, cfg, *shapes).to(dev)
    init_model.load_state_dict(init_state)
    z0 = predict(init_model, tm, tc, dev)[model.embedding]
    metrics.update({
        "primary": model.primary, "selected_epoch": selected, "selection": select, "seed": seed,
        "n_train": int(len(data["train"])), "n_pool": int(pool_idx.size), "n_test": int(len(ty)),
        "n_val": int(len(data["val"])) if "val" in data else 0, "device": str(dev),
        "amp": precision_name(amp) if amp is not None else False, "resumed_from_epoch": start - 1,
        "train_seconds": t_train, "train_samples_per_s": n_seen / max(t_train, 1e-9),
        "wall_seconds": time.perf_counter() - t_start,
    })
    # p_test: P(class 1) of the scored head per test track (paired track-level noise, `ablation.test_noise_se`)
    embeddings = {"z_epoch0": z0, "z_final": pred[model.embedding], "labels": ty, "test_idx": split["test"],
                  "p_test": pred[model.primary]}
    result = {"metrics": metrics, "history": history, "config": cfg, "model": model, "embeddings": embeddings,
              "standardiser": std, "provenance": runio.provenance(dev, precision_name(amp))}
    if out_dir is not None:
        runio.save_run(out_dir, result, {"configuration": kind, "seed": int(seed), **(info or {})})
        runio.clear_epoch_state(out_dir)
    return result


def train_epoch(model, saml: SAML | None, data: dict, cfg: Config, opt, scaler, gen: torch.Generator,
                dev: torch.device, amp, tau: float, theta: float, history: dict) -> dict:
    """One pass over the labelled training rows (Algorithm 1, lines 6-18); returns the epoch's mean losses
    and statistics (+ 'n_samples').

    Batches are gathered on the device from rows moved there once; per-step statistics stay on the device
    and are read once per epoch (one host synchronisation per epoch)."""
    model.train()
    tr, pool = on_device(data["train"], dev), on_device(data.get("pool"), dev)
    lam = cfg.loss
    bs = cfg.train.batch_size
    order = torch.randperm(len(tr), generator=gen)
    pool_order = torch.randperm(len(pool), generator=gen) if pool is not None else None
    if dev.type != "cpu":  # the same permutations (drawn on the CPU generator), indices on the device
        order = order.to(dev)
        pool_order = pool_order.to(dev) if pool_order is not None else None
    sums: dict[str, list[torch.Tensor]] = {}
    n_samples, pool_pos = 0, 0

    def log(**kw):
        for k, v in kw.items():
            sums.setdefault(k, []).append(v.detach().reshape(()))

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
        l_cls = sum(F.cross_entropy(out[f"logits_{h}"][lab].float(), yb) for h in model.heads)  # Eq. 22
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
            log(**pcl_stats(PCLOutput(js=po.js[rows], pseudo_label=po.pseudo_label[rows], **sub)))
        if saml is not None:
            l_cont = saml.loss(out, yb, tau)  # Eq. 19-20
            total = total + lam.lambda_cont * l_cont  # Eq. 21

        optimizer_step(total, model, opt, scaler, cfg.train.grad_clip)

        if saml is not None:  # Algorithm 1 l. 18, after the update
            saml.update(model, out, xm[lab], xc[lab], yb, tau, lambda: autocast(dev, amp))
            ent_steps.append(saml.queue.label_entropy())
        acc = (out[f"logits_{model.primary}"][lab].argmax(-1) == yb).float().mean()
        log(loss_total=total, loss_cls=l_cls, loss_pl=l_pl, loss_cons=l_cons, loss_cont=l_cont, train_acc=acc)
        n_samples += n_lab
    # one host synchronisation per epoch
    if ent_steps:
        history["steps"]["queue_entropy"].extend(torch.stack(ent_steps).tolist())
    rec = {k: _nanmean(torch.stack(v).tolist()) for k, v in sums.items()}
    rec["n_samples"] = n_samples
    return rec
