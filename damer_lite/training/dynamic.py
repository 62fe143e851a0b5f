"""Training and evaluation of dynamic MER (per-step valence, arousal): targets aligned to tokens, the loss,
per-song metrics, track-level splits, the neural runs and the per-frame ridge baseline.

    mel, coch, curves, table = load_dynamic_data(store_dir)          # curves (n, T, 2) NaN where uncovered
    split = split_tracks(table["track_id"], seed=0)                    # by track: test songs never train
    res = train_dynamic_run(mel, coch, curves, split, dynamic_profile("quick"), seed=0,
                            model="dual_scale", token_s=float(table["token_s"].median()))
    res["metrics"]["mean"]["ccc"]; ridge = ridge_baseline(mel, coch, curves, split, cfg, seed=0)

Targets. Token k of a track spans [start + k (end - start) / T, start + (k + 1) (end - start) / T) of the
analysis window [start_s, end_s] in the store's index; its target is the averaged curve's overlap-weighted
mean there (`datasets.dynamic.align`), NaN when less than half covered. NaN steps are masked out of the
loss and of the metrics.

Loss (per song and dimension, over its valid steps; DSAML's combination, weights `cfg.w_*`, default 1/1/1):

    L = w_ccc (1 - CCC) + w_pcc (1 - PCC) + w_rmse RMSE,  averaged over the (song, dimension) pairs with >= 2
    valid steps.

Metrics (`dynamic_metrics`): per song and dimension over its valid steps, then averaged over songs:
    RMSE = sqrt(mean (p - y)^2);  PCC = cov(p, y) / (sd p sd y);
    CCC = 2 cov(p, y) / (var p + var y + (mean p - mean y)^2)
with population (1/n) moments. A song with no valid step is left out of all three; one with < 2 valid
steps or a constant prediction or target is left out of PCC and CCC (both undefined) and counted.
"""

from __future__ import annotations

import copy
import sys
import time

import numpy as np
import pandas as pd
import torch

from damer_lite.config import DYNAMIC_METRICS, DynamicConfig
from damer_lite.datasets import dynamic as dyn
from damer_lite.model.dmer import DIMS, DualScaleDMER, StepHead, radius_steps
from damer_lite.training import runio
from damer_lite.training.data import SealedSplit, Standardiser
from damer_lite.training.precision import autocast, precision_name, resolve_device, seed_everything

MODELS = ("dual_scale", "damer_step")
EPS = 1e-8


# ---------------------------------------------------------------- targets aligned to tokens
def token_targets(curve: pd.DataFrame, n_tokens: int, start_s: float, end_s: float,
                  step_s: float | None = None, min_coverage: float = dyn.MIN_COVERAGE) -> np.ndarray:
    """(T, 2) float32 (valence, arousal) of the T tokens tiling [start_s, end_s); NaN where uncovered."""
    if not end_s > start_s:
        raise ValueError(f"analysis window must have end_s > start_s, got [{start_s}, {end_s}]")
    span = (end_s - start_s) / n_tokens
    starts = dyn.frame_starts(n_tokens, span, offset_s=start_s)
    out = dyn.align(curve, starts, span_s=span, step_s=step_s, min_coverage=min_coverage)
    return out[list(DIMS)].to_numpy(dtype=np.float32)


def load_dynamic_data(features_dir, manifest: pd.DataFrame | None = None
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray, pd.DataFrame]:
    """(mel (n, N_mel, T), coch (n, N_coch, T), curves (n, T, 2), table) of a feature store.

    The curves are each track's averaged dynamic curve aligned to its T tokens over the window the store
    really analysed (`start_s`, `end_s` of its index). `manifest` (default: the store's snapshot) must have
    `dataset` and `dynamic_ref`. Tracks without a curve or without a single covered token are left out;
    `table` has track_id, row (of the store's arrays), start_s, end_s, token_s and n_valid (tokens with
    both values)."""
    from damer_lite.features import store

    loaded = store.load(features_dir)
    index = loaded["index"].reset_index(drop=True)
    man = loaded["manifest"] if manifest is None else pd.DataFrame(manifest)
    if man is None or not {"track_id", "dataset", "dynamic_ref"} <= set(man.columns):
        raise ValueError(f"{features_dir}: need a manifest with track_id, dataset and dynamic_ref columns")
    man = man.assign(track_id=man["track_id"].astype(str)).drop_duplicates("track_id").set_index("track_id")
    ids = index["track_id"].astype(str)
    known = ids.isin(man.index).to_numpy()
    rows = man.loc[ids[known]].reset_index()
    labels = {lab.track_id: lab for lab in dyn.iter_labels(rows, raters=False)}
    mel, coch = np.asarray(loaded["mel"]), np.asarray(loaded["coch"])
    t = mel.shape[2]
    curves = np.full((len(index), t, len(DIMS)), np.nan, dtype=np.float32)
    for i, tid in enumerate(ids):
        lab = labels.get(tid)
        if lab is None or lab.missing:
            continue
        curves[i] = token_targets(lab.curve, t, float(index.at[i, "start_s"]), float(index.at[i, "end_s"]),
                                  step_s=lab.step_s)
    valid = np.isfinite(curves).all(axis=2).sum(axis=1)
    keep = valid > 0
    if not keep.all():  # nothing dropped silently: say how many and why
        why = {"not in the manifest": int((~known).sum())}
        why["no dynamic curve"] = sum(1 for tid in ids[known] if labels.get(tid) is None or labels[tid].missing)
        why["no token covered by the curve"] = int((~keep).sum()) - why["not in the manifest"] - why["no dynamic curve"]
        detail = ", ".join(f"{v} {k}" for k, v in why.items() if v)
        print(f"{features_dir}: {int((~keep).sum())} of {len(index)} tracks left out of dynamic training ({detail})",
              file=sys.stderr)
    table = pd.DataFrame({"track_id": ids, "row": np.arange(len(index)),
                          "start_s": index["start_s"].astype(float), "end_s": index["end_s"].astype(float)})
    table["token_s"] = (table["end_s"] - table["start_s"]) / t
    table["n_valid"] = valid
    return mel[keep], coch[keep], curves[keep], table.loc[keep].reset_index(drop=True)


# ---------------------------------------------------------------- splits by track
def split_tracks(track_ids, seed: int, test_size: float | int = 0.3,
                 val_size: float = 0.0) -> dict[str, np.ndarray]:
    """Positional train/test(/val) indices with every row of a track on one side (songs in test are never
    in training). Unique track ids are shuffled with `seed`; `test_size` is a fraction of the tracks or a whole
    number of test tracks (int); `val_size` is a fraction of the training ids."""
    count = isinstance(test_size, (int, np.integer)) and not isinstance(test_size, bool)
    if (not count and not 0.0 < test_size < 1.0) or (count and test_size < 1) or not 0.0 <= val_size < 1.0:
        raise ValueError(f"need 0 < test_size < 1 (or a number of test tracks >= 1) and 0 <= val_size < 1, "
                         f"got {test_size}, {val_size}")
    ids = pd.Series(track_ids).astype(str).to_numpy()
    uniq = np.unique(ids)
    if uniq.size < 2:
        raise ValueError("need at least 2 tracks to split")
    perm = np.random.default_rng(seed).permutation(uniq)
    n_test = int(test_size) if count else int(round(test_size * uniq.size))
    n_test = min(max(1, n_test), uniq.size - 1)
    groups = {"test": perm[:n_test], "train": perm[n_test:]}
    if val_size > 0:
        n_val = min(max(1, int(round(val_size * groups["train"].size))), groups["train"].size - 1)
        groups["val"], groups["train"] = groups["train"][:n_val], groups["train"][n_val:]
    return {name: np.flatnonzero(np.isin(ids, g)) for name, g in groups.items()}


def _check(mel, coch, curves, split) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    mel, coch, curves = np.asarray(mel), np.asarray(coch), np.asarray(curves, dtype=np.float32)
    if mel.ndim != 3 or coch.ndim != 3 or curves.ndim != 3 or curves.shape[2] != len(DIMS):
        raise ValueError(f"need mel (n, N_mel, T), coch (n, N_coch, T), curves (n, T, 2); got {mel.shape}, "
                         f"{coch.shape}, {curves.shape}")
    if not (mel.shape[0] == coch.shape[0] == curves.shape[0]) or not (mel.shape[2] == coch.shape[2] == curves.shape[1]):
        raise ValueError(f"mel {mel.shape}, coch {coch.shape} and curves {curves.shape} disagree in n or T")
    if not (np.isfinite(mel).all() and np.isfinite(coch).all()):
        raise ValueError("mel and coch must be finite (same number of frames for every track)")
    if "train" not in split or "test" not in split or set(split) - {"train", "test", "val"}:
        raise ValueError("split must have 'train' and 'test' (and optionally 'val') index arrays")
    out = {k: np.asarray(v, dtype=np.int64).ravel() for k, v in split.items()}
    for a in out:
        for b in out:
            if a < b and np.intersect1d(out[a], out[b]).size:
                raise ValueError(f"splits '{a}' and '{b}' overlap")
    return mel, coch, curves, out


# ---------------------------------------------------------------- loss (torch) and metrics (numpy)
def _masked_moments(pred: torch.Tensor, target: torch.Tensor):
    """Per (song, dimension): n, means, variances, covariance and MSE over the finite target steps.
    pred, target (B, T, 2) -> each (B, 2)."""
    m = torch.isfinite(target)
    w = m.to(pred.dtype)
    y = torch.where(m, target, torch.zeros_like(target))
    n = w.sum(1)  # (B, 2)
    nn_ = n.clamp_min(1.0)
    mp, my = (pred * w).sum(1) / nn_, (y * w).sum(1) / nn_
    dp, dy = (pred - mp[:, None]) * w, (y - my[:, None]) * w
    vp, vy, cov = (dp * dp).sum(1) / nn_, (dy * dy).sum(1) / nn_, (dp * dy).sum(1) / nn_
    mse = (((pred - y) * w) ** 2).sum(1) / nn_
    return n, mp, my, vp, vy, cov, mse


def dynamic_loss(pred: torch.Tensor, target: torch.Tensor, w_ccc: float = 1.0, w_pcc: float = 1.0,
                 w_rmse: float = 1.0) -> dict[str, torch.Tensor]:
    """L = w_ccc (1 - CCC) + w_pcc (1 - PCC) + w_rmse RMSE per (song, dimension), averaged over the pairs
    with >= 2 finite target steps. pred, target (B, T, 2); NaN targets are masked. Returns 'loss' and the
    averaged 'ccc', 'pcc', 'rmse'."""
    pred = pred.float()
    n, mp, my, vp, vy, cov, mse = _masked_moments(pred, target.float())
    ccc = 2 * cov / (vp + vy + (mp - my) ** 2 + EPS)
    pcc = cov / torch.sqrt(vp * vy + EPS)
    rmse = torch.sqrt(mse + EPS)
    ok = (n >= 2).to(pred.dtype)  # (B, 2)
    k = ok.sum().clamp_min(1.0)
    mean = {name: (v * ok).sum() / k for name, v in (("ccc", ccc), ("pcc", pcc), ("rmse", rmse))}
    mean["loss"] = w_ccc * (1 - mean["ccc"]) + w_pcc * (1 - mean["pcc"]) + w_rmse * mean["rmse"]
    return mean


def song_metrics(pred, target) -> dict[str, float]:
    """RMSE, PCC, CCC of one song and dimension over the steps where `target` is finite (population moments);
    NaN where undefined (RMSE: no valid step; PCC/CCC: < 2 valid steps or a constant pred or target)."""
    p, y = np.asarray(pred, dtype=np.float64).ravel(), np.asarray(target, dtype=np.float64).ravel()
    if p.shape != y.shape:
        raise ValueError(f"pred {p.shape} and target {y.shape} differ in shape")
    ok = np.isfinite(y)
    p, y = p[ok], y[ok]
    if y.size == 0:
        return {"rmse": float("nan"), "pcc": float("nan"), "ccc": float("nan")}
    rmse = float(np.sqrt(np.mean((p - y) ** 2)))
    vp, vy = p.var(), y.var()
    if y.size < 2 or vp <= 1e-12 or vy <= 1e-12:
        return {"rmse": rmse, "pcc": float("nan"), "ccc": float("nan")}
    cov = float(np.mean((p - p.mean()) * (y - y.mean())))
    return {"rmse": rmse, "pcc": cov / float(np.sqrt(vp * vy)),
            "ccc": 2 * cov / float(vp + vy + (p.mean() - y.mean()) ** 2)}


def dynamic_metrics(pred, target) -> dict:
    """Per-song metrics averaged over songs: {dim: {rmse, pcc, ccc, n_songs, n_undefined}, 'mean': {rmse,
    pcc, ccc}} for pred, target (n, T, 2). `n_songs`: songs with >= 1 valid step (RMSE's songs);
    `n_undefined`: those of them left out of PCC and CCC."""
    pred, target = np.asarray(pred, dtype=np.float64), np.asarray(target, dtype=np.float64)
    if pred.shape != target.shape or pred.ndim != 3 or pred.shape[2] != len(DIMS):
        raise ValueError(f"pred {pred.shape} and target {target.shape} must both be (n, T, 2)")
    out: dict = {}
    for j, dim in enumerate(DIMS):
        per = [song_metrics(pred[i, :, j], target[i, :, j]) for i in range(len(pred))]
        per = [m for m in per if m["rmse"] == m["rmse"]]
        res = {}
        for name in DYNAMIC_METRICS:
            vals = [m[name] for m in per if m[name] == m[name]]
            res[name] = float(np.mean(vals)) if vals else float("nan")
        res["n_songs"] = len(per)
        res["n_undefined"] = sum(1 for m in per if m["pcc"] != m["pcc"])
        out[dim] = res
    out["mean"] = {name: float(np.mean([out[d][name] for d in DIMS])) for name in DYNAMIC_METRICS}
    return out


def summarise_seeds(metrics: list[dict]) -> pd.DataFrame:
    """Mean and sd (ddof 1) over seeds of each (dimension, metric): one row each, with n_seeds."""
    rows = []
    for dim in (*DIMS, "mean"):
        for name in DYNAMIC_METRICS:
            v = np.array([m[dim][name] for m in metrics], dtype=float)
            rows.append({"dim": dim, "metric": name, "mean": float(np.nanmean(v)),
                         "sd": float(np.nanstd(v, ddof=1)) if np.isfinite(v).sum() > 1 else float("nan"),
                         "n_seeds": int(np.isfinite(v).sum())})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- models
def build_dynamic_model(kind: str, cfg: DynamicConfig, n_mel: int, n_coch: int, n_steps: int,
                        token_s: float = 0.5) -> torch.nn.Module:
    """'dual_scale' (DualScaleDMER, radii mapped from seconds to tokens of `token_s` s) or 'damer_step'."""
    if kind == "dual_scale":
        return DualScaleDMER(n_mel, n_coch, d=cfg.d, heads=cfg.heads,
                             local_radius=radius_steps(cfg.local_radius_s, token_s),
                             wide_radius=radius_steps(cfg.wide_radius_s, token_s),
                             lstm_hidden=cfg.lstm_hidden, ffn_mult=cfg.ffn_mult, dropout=cfg.dropout,
                             local_encoder=cfg.local_encoder, cnn_channels=cfg.cnn_channels)
    if kind == "damer_step":
        return StepHead(n_mel, n_coch, n_steps, d=cfg.d, heads=cfg.heads, layers=cfg.layers,
                        ffn_mult=cfg.ffn_mult, dropout=cfg.dropout)
    raise ValueError(f"unknown dynamic model {kind!r} (known: {', '.join(MODELS)})")


@torch.no_grad()
def predict_steps(model, mel: torch.Tensor, coch: torch.Tensor, device, batch_size: int = 64) -> np.ndarray:
    """(n, T, 2) per-step predictions in fp32, eval mode."""
    model.eval()
    out = [model(mel[i:i + batch_size].to(device), coch[i:i + batch_size].to(device))["va"].float().cpu()
           for i in range(0, mel.shape[0], batch_size)]
    return torch.cat(out).numpy()


# ---------------------------------------------------------------- training crops (DSAML: 30 s)
def crop_steps(cfg: DynamicConfig, kind: str, token_s: float, n_steps: int) -> int:
    """Tokens per training crop: round(crop_s / token_s) for 'dual_scale' when that is shorter than the window
    of `n_steps` tokens, else 0 (whole windows). 'damer_step' always trains on whole windows: its learned
    positions are tied to the window's T tokens."""
    if kind != "dual_scale" or cfg.crop_s <= 0:
        return 0
    n = radius_steps(cfg.crop_s, token_s)
    return n if n < n_steps else 0


def random_crop(mel: torch.Tensor, coch: torch.Tensor, curves: torch.Tensor, crop: int,
                gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A random contiguous crop of `crop` tokens per sample (start uniform over the window, drawn from `gen`):
    mel (B, N_mel, T), coch (B, N_coch, T), curves (B, T, 2) -> (B, N_mel, crop), (B, N_coch, crop),
    (B, crop, 2). crop = 0 returns the inputs unchanged (and draws nothing)."""
    t = mel.shape[2]
    if crop <= 0 or crop >= t:
        return mel, coch, curves
    start = torch.randint(0, t - crop + 1, (mel.shape[0],), generator=gen)  # (B,)
    take = start[:, None] + torch.arange(crop)  # (B, crop)
    pick = lambda x: torch.gather(x, 2, take[:, None, :].expand(-1, x.shape[1], -1))  # noqa: E731
    return pick(mel), pick(coch), torch.gather(curves, 1, take[:, :, None].expand(-1, -1, curves.shape[2]))


# ---------------------------------------------------------------- the neural run
def fit(net: torch.nn.Module, xm: torch.Tensor, xc: torch.Tensor, yt: torch.Tensor, cfg: DynamicConfig,
        gen: torch.Generator, crop: int = 0, device=None, amp=None) -> list[dict]:
    """Train `net` in place: cfg.epochs of Adam (lr, weight_decay) on the masked loss, shuffled mini-batches
    of cfg.batch_size drawn from `gen`, optional random crops of `crop` tokens, gradient clipping.
    xm (n, N_mel, T), xc (n, N_coch, T) standardised features, yt (n, T, 2) targets (NaN masked), all on the
    CPU. Returns the per-epoch history (loss_total, loss_ccc, loss_pcc, loss_rmse, epoch, seconds)."""
    dev = resolve_device(device)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    history = []
    for epoch in range(1, cfg.epochs + 1):
        net.train()
        t0 = time.perf_counter()
        sums = {"loss": [], "ccc": [], "pcc": [], "rmse": []}
        for idx in torch.randperm(len(yt), generator=gen).split(cfg.batch_size):
            bm, bc, by = random_crop(xm[idx], xc[idx], yt[idx], crop, gen)
            with autocast(dev, amp):
                pred = net(bm.to(dev), bc.to(dev))["va"]  # (B, T or crop, 2)
            parts = dynamic_loss(pred, by.to(dev), cfg.w_ccc, cfg.w_pcc, cfg.w_rmse)
            opt.zero_grad(set_to_none=True)
            parts["loss"].backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip)
            opt.step()
            for k, v in parts.items():
                sums[k].append(v.detach())
        row = {f"loss_{k}" if k != "loss" else "loss_total": float(torch.stack(v).mean()) for k, v in sums.items()}
        row.update(epoch=epoch, seconds=time.perf_counter() - t0)
        history.append(row)
    return history


def train_dynamic_run(mel, coch, curves, split: dict, cfg: DynamicConfig, seed: int = 0,
                      model: str = "dual_scale", token_s: float = 0.5, device=None, track_ids=None,
                      test_guard: bool = True) -> dict:
    """Train a per-step model on split['train'] with Adam on the masked loss, then score split['test'] once.

    mel (n, N_mel, T), coch (n, N_coch, T), curves (n, T, 2) (NaN = no label); `token_s` is the seconds a
    token spans (radii in seconds -> tokens). With `track_ids` (n,), a track in both train and test is an
    error. The test rows stay sealed (`data.SealedSplit`) until training ends; the last epoch is scored.
    Returns {'metrics', 'history', 'config', 'model', 'standardiser', 'predictions' (test, (n_test, T, 2)),
    'provenance'}."""
    if model not in MODELS:
        raise ValueError(f"unknown dynamic model {model!r} (known: {', '.join(MODELS)})")
    cfg = copy.deepcopy(cfg)
    cfg.validate()
    mel, coch, curves, split = _check(mel, coch, curves, split)
    if track_ids is not None:
        ids = np.asarray(pd.Series(track_ids).astype(str))
        shared = set(ids[split["train"]]) & set(ids[split["test"]])
        if shared:
            raise ValueError(f"{len(shared)} track(s) in both train and test, e.g. {sorted(shared)[:3]}")
    dev = resolve_device(device)
    amp = torch.bfloat16 if cfg.amp == "bf16" else None
    prev_det, prev_threads = torch.are_deterministic_algorithms_enabled(), torch.get_num_threads()
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    seed_everything(seed, cfg.deterministic)
    try:
        return _run(mel, coch, curves, split, cfg, seed, model, token_s, dev, amp, test_guard)
    finally:
        torch.use_deterministic_algorithms(prev_det)
        torch.set_num_threads(prev_threads)


def _run(mel, coch, curves, split, cfg, seed, kind, token_s, dev, amp, test_guard) -> dict:
    t_start = time.perf_counter()
    tr = split["train"]
    std = Standardiser(mel[tr], coch[tr])  # training rows only
    xm, xc = std(mel[tr], coch[tr])
    yt = torch.from_numpy(curves[tr])
    test = SealedSplit(mel, coch, curves, split["test"], sealed=test_guard)
    net = build_dynamic_model(kind, cfg, mel.shape[1], coch.shape[1], mel.shape[2], token_s).to(dev)
    crop = crop_steps(cfg, kind, token_s, mel.shape[2])
    history = fit(net, xm, xc, yt, cfg, torch.Generator().manual_seed(seed), crop, dev, amp)

    # ---- training has finished: the one look at the test split
    test.unseal()
    tm, tc, ty = test.arrays()
    tm, tc = std(tm, tc)
    pred = predict_steps(net, tm, tc, dev)
    metrics = dynamic_metrics(pred, ty)
    metrics.update({"model": kind, "seed": int(seed), "n_train": int(len(tr)), "n_test": int(len(ty)),
                    "token_s": float(token_s), "device": str(dev), "precision": precision_name(amp),
                    "wall_seconds": time.perf_counter() - t_start})
    if kind == "dual_scale":
        metrics["radii_steps"] = [net.local.radius, net.wide.radius]
        metrics["crop_steps"] = int(crop)
    return {"metrics": metrics, "history": {"epochs": history}, "config": cfg, "model": net,
            "standardiser": std, "predictions": pred, "provenance": runio.provenance(dev, precision_name(amp))}


# ---------------------------------------------------------------- the per-frame ridge baseline
def token_features(mel: np.ndarray, coch: np.ndarray) -> np.ndarray:
    """(n, T, N_mel + N_coch): each token's Mel and cochleagram vectors concatenated."""
    return np.concatenate([np.asarray(mel), np.asarray(coch)], axis=1).transpose(0, 2, 1)


def ridge_baseline(mel, coch, curves, split: dict, cfg: DynamicConfig, seed: int = 0) -> dict:
    """Per-frame ridge regression (sklearn `Ridge`, alpha `cfg.ridge_alpha`) from each token's mel+coch vector
    (standardised with the training rows' tokens) to each dimension, fitted on the training rows' labelled
    tokens; predictions clipped to [-1, 1]. Same metrics as the neural runs. Deterministic (the seed is
    recorded only). Returns {'metrics', 'predictions'}."""
    from sklearn.linear_model import Ridge

    t0 = time.perf_counter()
    mel, coch, curves, split = _check(mel, coch, curves, split)
    x = token_features(mel, coch).astype(np.float64)  # (n, T, F)
    tr = x[split["train"]].reshape(-1, x.shape[2])
    mu, sd = tr.mean(0), np.maximum(tr.std(0), 1e-6)
    ytr = curves[split["train"]].reshape(-1, len(DIMS))
    test = SealedSplit(x, x, curves, split["test"])
    fits = []
    for j in range(len(DIMS)):
        ok = np.isfinite(ytr[:, j])
        fits.append(Ridge(alpha=cfg.ridge_alpha).fit((tr[ok] - mu) / sd, ytr[ok, j]))
    test.unseal()
    xt, _, yt = test.arrays()
    flat = (xt.reshape(-1, x.shape[2]) - mu) / sd
    pred = np.stack([f.predict(flat) for f in fits], axis=-1).reshape(yt.shape)
    pred = np.clip(pred, -1.0, 1.0)
    metrics = dynamic_metrics(pred, yt)
    metrics.update({"model": "ridge", "seed": int(seed), "n_train": int(len(split["train"])),
                    "n_test": int(len(yt)), "wall_seconds": time.perf_counter() - t0})
    return {"metrics": metrics, "predictions": pred.astype(np.float32)}
