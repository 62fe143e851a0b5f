"""Training dynamics of one DAMER run (Figs. 5-6 analogues) and t-SNE of its fused features (Fig. 7 analogue).

Reads what `train.train_run` writes into a run folder (`runs.py`): history.json (per-epoch PCL / SAML
statistics and per-step queue entropy), config.json (the schedule flags) and embeddings.npz (fused test
embeddings at epoch 0 and after training, with their labels).

    dyn = load_dynamics("results/runs", "synthmemo", "damer", seed=0)   # {target: Dynamics}
    fig5(dyn); fig6(dyn); dynamics_summary(dyn)
    tsne = tsne_by_target(load_embeddings_by_target(...)); tsne_figure(tsne); separation_table(tsne)
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from damer_lite.config import TARGETS

TARGET_COLORS = {"arousal": "C0", "valence": "C2"}
CLASS_NAMES = {"arousal": ("low (≤ 0)", "high (> 0)"), "valence": ("negative (≤ 0)", "positive (> 0)")}
LN2 = math.log(2.0)

# Values the paper reports for Memo2496 (§V-D, §V-E, Figs. 5-6), quoted, for reference lines and the summary.
PAPER_DYNAMICS = {
    "confidence": 0.90, "reliability": 0.90, "pl_strength": 0.87, "mask_ratio": 0.92, "tau": 0.70,
    "theta": 0.35, "queue_entropy": 0.685, "queue_entropy_sd": 0.007, "coverage_c0": 0.55, "coverage_c1": 0.45,
    "dist_c0": 0.60, "dist_c1": 0.65,
}
PAPER_NOTE = ("Memo2496, quoted from §V-D/E: confidence and reliability 'near 0.90', mask ratio 'above 0.92', "
              "PL strength 'exceeding 0.87', τ 1.50→0.70, θ 0.65→0.35, entropy 0.685 ± 0.007, coverage "
              "55/45 %, median centroid distances ≈ 0.60 / 0.65")


@dataclass
class Dynamics:
    """One run's logged dynamics: a per-epoch table, per-step queue entropy and the resolved config."""

    run_dir: Path
    epochs: pd.DataFrame
    step_entropy: np.ndarray
    config: dict = field(default_factory=dict)


def run_dir_of(runs_dir, dataset: str, target: str, configuration: str, seed: int) -> Path | None:
    """The folder of a complete run (one holding run.json), or None. Looks at the standard layout
    {runs_dir}/{dataset}/{target}/{configuration}/seed{seed} first, then at every run.json below runs_dir."""
    runs_dir = Path(runs_dir)
    p = runs_dir / dataset / target / configuration / f"seed{seed}"
    if (p / "run.json").is_file():
        return p
    if not runs_dir.is_dir():
        return None
    for info_path in sorted(runs_dir.rglob("run.json")):
        info = json.loads(info_path.read_text())
        if (info.get("dataset"), info.get("target"), info.get("configuration"), int(info.get("seed", -1))) == (
                dataset, target, configuration, int(seed)):
            return info_path.parent
    return None


def epoch_frame(history: dict) -> pd.DataFrame:
    """history['epochs'] as a DataFrame; the per-class lists become coverage_c{k} and dist_c{k} columns."""
    rows = []
    for e in history.get("epochs", []):
        r = {k: v for k, v in e.items() if not isinstance(v, list)}
        for k, v in enumerate(e.get("queue_coverage", []) or []):
            r[f"coverage_c{k}"] = v
        for k, v in enumerate(e.get("queue_centroid_dist", []) or []):
            r[f"dist_c{k}"] = v
        rows.append(r)
    return pd.DataFrame(rows)


def load_dynamics(runs_dir, dataset: str, configuration: str = "damer", seed: int = 0,
                  targets=TARGETS) -> dict[str, Dynamics]:
    """{target: Dynamics} for the targets that have a run with a DAMER-style history (PCL/SAML statistics)."""
    out = {}
    for target in targets:
        d = run_dir_of(runs_dir, dataset, target, configuration, seed)
        if d is None or not (d / "history.json").is_file():
            continue
        history = json.loads((d / "history.json").read_text())
        ep = epoch_frame(history)
        if ep.empty or "tau" not in ep:
            continue
        steps = np.asarray((history.get("steps") or {}).get("queue_entropy", []), dtype=float)
        cfg = json.loads((d / "config.json").read_text()) if (d / "config.json").is_file() else {}
        out[target] = Dynamics(d, ep, steps, cfg)
    return out


# ---------------------------------------------------------------- Fig. 5: PCL


def schedule_variants(cfg: dict, epochs: int) -> dict[str, np.ndarray]:
    """τ_t and θ_t over t = 1..epochs under the run's flags and under the other readings of the paper:
    'tau', 'theta' (as configured), 'theta_alg1' (max(θmin, θ0(1-ρ)), Alg. 1 l. 5), 'theta_linear' (Eq. 16),
    'tau_other_progress' / 'theta_other_progress' (ρ = (t-1)/T vs t/T, Eq. 9 vs Alg. 1 l. 3)."""
    from damer_lite.config import THETA_VALUES
    from damer_lite.model.pcl import progress, tau_schedule, theta_schedule

    p = cfg.get("pcl", {})
    tmax, tmin = p.get("tau_max", 1.5), p.get("tau_min", 0.7)
    th0, thmin = THETA_VALUES[p.get("theta_values", "paper_sec5")]
    form, mode = p.get("theta_form", "linear"), p.get("progress", "eq9")
    other = "alg1" if mode == "eq9" else "eq9"
    t = np.arange(1, epochs + 1)
    rho = np.array([progress(int(i), epochs, mode) for i in t])
    rho_o = np.array([progress(int(i), epochs, other) for i in t])
    return {
        "epoch": t,
        "tau": np.array([tau_schedule(r, tmax, tmin) for r in rho]),
        "theta": np.array([theta_schedule(r, th0, thmin, form) for r in rho]),
        "theta_alg1": np.array([theta_schedule(r, th0, thmin, "alg1") for r in rho]),
        "theta_linear": np.array([theta_schedule(r, th0, thmin, "linear") for r in rho]),
        "tau_other_progress": np.array([tau_schedule(r, tmax, tmin) for r in rho_o]),
        "theta_other_progress": np.array([theta_schedule(r, th0, thmin, form) for r in rho_o]),
        "form": form, "progress": mode, "other_progress": other,
    }


def _need(dyn: dict) -> None:
    if not dyn:
        raise ValueError("no DAMER run histories to plot (load_dynamics returned nothing)")


def fig5(dyn: dict[str, Dynamics], title: str = ""):
    """Fig. 5 analogue, three panels over epochs: (a) mean confidence and reliability, (b) pseudo-label
    strength and mask ratio, (c) the τ_t and θ_t schedules with the other readings of the paper dotted.
    One colour per target; dashed grey lines mark the paper's quoted levels."""
    _need(dyn)
    fig, axes = plt.subplots(3, 1, figsize=(9.6, 8.2), sharex=True)
    for target, d in dyn.items():
        e, c = d.epochs, TARGET_COLORS.get(target, "C7")
        axes[0].plot(e["epoch"], e["confidence"], "-o", ms=3, color=c, label=f"{target}: confidence c")
        axes[0].plot(e["epoch"], e["reliability"], "--s", ms=3, color=c, label=f"{target}: reliability r")
        axes[1].plot(e["epoch"], e["pl_strength"], "-o", ms=3, color=c, label=f"{target}: PL strength")
        axes[1].plot(e["epoch"], e["mask_ratio"], "--s", ms=3, color=c, label=f"{target}: mask ratio")
    axes[0].axhline(PAPER_DYNAMICS["confidence"], color="0.5", ls=":", lw=1, label="paper ≈ 0.90")
    axes[0].set_ylabel("mean over samples")
    axes[0].set_title("(a) confidence c = r · max p_fuse and reliability r = exp(−JS)", fontsize=9)
    axes[1].axhline(PAPER_DYNAMICS["mask_ratio"], color="0.5", ls=":", lw=1, label="paper: mask ratio > 0.92")
    axes[1].set_ylabel("mean / fraction")
    axes[1].set_title("(b) pseudo-label strength and mask ratio (share of samples with c ≥ θ_t)", fontsize=9)
    # (c) the schedule is the same for both targets (same config): draw it once, from the first run
    first = next(iter(dyn.values()))
    e = first.epochs
    v = schedule_variants(first.config, int(e["epoch"].max()))
    ax = axes[2]
    ax.plot(e["epoch"], e["tau"], "-o", ms=3, color="C3", label="τ_t (logged)")
    ax.plot(e["epoch"], e["theta"], "-o", ms=3, color="C4", label=f"θ_t (logged, {v['form']} form)")
    alt = "theta_alg1" if v["form"] == "linear" else "theta_linear"
    ax.plot(v["epoch"], v[alt], ":", color="C4", lw=1.5,
            label=f"θ_t if pcl.theta_form={'alg1' if v['form'] == 'linear' else 'linear'}")
    ax.plot(v["epoch"], v["tau_other_progress"], ":", color="C3", lw=1.5,
            label=f"τ_t if pcl.progress={v['other_progress']}")
    ax.set_xlabel("epoch t")
    ax.set_ylabel("value")
    ax.set_title("(c) curriculum: temperature τ_t (Eq. 9) and threshold θ_t (Eq. 16)", fontsize=9)
    for a in axes:
        a.grid(alpha=0.3)
        a.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
        a.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.suptitle(title or "PCL dynamics (Fig. 5 analogue)", fontsize=10)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------- Fig. 6: SAML


def fig6(dyn: dict[str, Dynamics], title: str = ""):
    """Fig. 6 analogue: (a) queue label entropy per update step (ln 2 = perfectly balanced, the paper's
    0.685 ± 0.007 band shaded), (b) class coverage of the queue per epoch, (c) median L2 distance of queue
    entries to their class centroid per epoch. One colour per target; class 0 solid, class 1 dashed."""
    _need(dyn)
    fig, axes = plt.subplots(3, 1, figsize=(9.6, 8.2))
    ax = axes[0]
    for target, d in dyn.items():
        c = TARGET_COLORS.get(target, "C7")
        if d.step_entropy.size:
            ax.plot(np.arange(1, d.step_entropy.size + 1), d.step_entropy, color=c, lw=1, label=target)
        else:  # no per-step log: fall back to the per-epoch values
            ax.plot(d.epochs["epoch"], d.epochs["queue_entropy"], "-o", color=c, ms=3, label=f"{target} (epoch)")
    ax.axhline(LN2, color="k", lw=1, ls="--", label="ln 2 (50/50 queue)")
    m, s = PAPER_DYNAMICS["queue_entropy"], PAPER_DYNAMICS["queue_entropy_sd"]
    ax.axhspan(m - s, m + s, color="0.8", alpha=0.6, label="paper 0.685 ± 0.007")
    ax.set_xlabel("queue update step")
    ax.set_ylabel("label entropy (nats)")
    ax.set_title("(a) memory label entropy", fontsize=9)
    for target, d in dyn.items():
        e, c = d.epochs, TARGET_COLORS.get(target, "C7")
        names = CLASS_NAMES.get(target, ("class 0", "class 1"))
        for k, ls in ((0, "-"), (1, "--")):
            if f"coverage_c{k}" in e:
                axes[1].plot(e["epoch"], e[f"coverage_c{k}"], ls, marker="o", ms=3, color=c,
                             label=f"{target}: class {k} {names[k]}")
            if f"dist_c{k}" in e:
                axes[2].plot(e["epoch"], e[f"dist_c{k}"], ls, marker="o", ms=3, color=c,
                             label=f"{target}: class {k}")
    axes[1].axhline(0.5, color="k", lw=1, ls="--", label="balanced")
    axes[1].axhline(PAPER_DYNAMICS["coverage_c0"], color="0.5", lw=1, ls=":", label="paper 55 / 45 %")
    axes[1].axhline(PAPER_DYNAMICS["coverage_c1"], color="0.5", lw=1, ls=":")
    axes[1].set_ylabel("share of queue")
    axes[1].set_title("(b) queue class coverage (end of each epoch)", fontsize=9)
    axes[2].axhline(PAPER_DYNAMICS["dist_c0"], color="0.5", lw=1, ls=":", label="paper medians ≈ 0.60 / 0.65")
    axes[2].axhline(PAPER_DYNAMICS["dist_c1"], color="0.5", lw=1, ls=":")
    axes[2].set_ylabel("median L2 distance")
    axes[2].set_title("(c) distance of queue entries to their class centroid (unit-norm features)", fontsize=9)
    for a in axes[1:]:
        a.set_xlabel("epoch")
    for a in axes:
        a.grid(alpha=0.3)
        a.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
        a.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.suptitle(title or "SAML dynamics (Fig. 6 analogue)", fontsize=10)
    fig.tight_layout()
    return fig


def entropy_after_fill(d: Dynamics) -> tuple[float, float]:
    """Mean and sd of the per-step queue entropy after the first epoch (while the queue fills it is not
    comparable); all steps when the run has a single epoch. The sd of a single step is undefined (NaN)."""
    s = d.step_entropy[~np.isnan(d.step_entropy)] if d.step_entropy.size else d.step_entropy
    n_ep = max(len(d.epochs), 1)
    if s.size == 0:
        return float("nan"), float("nan")
    per_epoch = max(s.size // n_ep, 1)
    tail = s[per_epoch:] if n_ep > 1 and s.size > per_epoch else s
    return float(tail.mean()), float(tail.std(ddof=1)) if tail.size > 1 else float("nan")  # one step: no sd


def dynamics_summary(dyn: dict[str, Dynamics], dataset: str = "") -> pd.DataFrame:
    """Final-epoch values per target (ours, measured) and the paper's quoted Memo2496 values in their own
    row (`source` column). Queue entropy: final epoch, and mean ± sd over update steps after the first epoch."""
    cols = ["epoch", "tau", "theta", "confidence", "reliability", "pl_strength", "mask_ratio", "queue_entropy",
            "coverage_c0", "coverage_c1", "dist_c0", "dist_c1"]
    rows = []
    for target, d in dyn.items():
        last = d.epochs.iloc[-1]
        m, s = entropy_after_fill(d)
        rows.append({"source": "ours (measured, final epoch)", "dataset": dataset, "target": target,
                     **{c: last.get(c, np.nan) for c in cols}, "step_entropy_mean": m, "step_entropy_sd": s,
                     "note": ""})
    p = PAPER_DYNAMICS
    rows.append({"source": "paper (quoted)", "dataset": "memo2496", "target": "(not stated)", "epoch": 80,
                 **{c: p.get(c, np.nan) for c in cols[1:]}, "step_entropy_mean": p["queue_entropy"],
                 "step_entropy_sd": p["queue_entropy_sd"], "note": PAPER_NOTE})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- when does PCL select everything?


MASK_FULL = 1.0 - 1e-9  # a logged mask ratio at or above this is "every eligible row passed" (float rounding)


def seed_run_dirs(runs_dir, dataset: str, target: str, configuration: str = "damer") -> dict[int, Path]:
    """{seed: run folder} of every complete run (run.json) of (dataset, target, configuration) below runs_dir."""
    out = {}
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return out
    for info_path in sorted(runs_dir.rglob("run.json")):
        info = json.loads(info_path.read_text())
        if (info.get("dataset"), info.get("target"), info.get("configuration")) == (dataset, target, configuration):
            out.setdefault(int(info.get("seed", -1)), info_path.parent)
    return dict(sorted(out.items()))


def saturation_epochs(epochs: pd.DataFrame) -> dict:
    """From one run's per-epoch log (epoch, theta, reliability, mask_ratio): the first epoch at which θ_t < r̄_t/2
    (r̄_t: the epoch's mean reliability), with θ_t and r̄_t there, and the first epoch at which the mask ratio
    is 1 (every eligible row passed in every step) and the epoch from which it stays 1 to the end. NaN where
    it never happens.

    Why r̄/2: with two classes max p_fuse ≥ 1/2, so a sample's confidence c = r · max p_fuse ≥ r/2; once
    θ_t < r/2 it passes whatever the model predicts. For the batch as a whole that is θ_t < min r/2; r̄/2 is the
    typical sample's bound, so the mask ratio may reach 1 earlier (most max p_fuse are well above 1/2) or a
    little later (a few samples with r below the mean)."""
    e = epochs.sort_values("epoch")
    ep = e["epoch"].to_numpy(dtype=int)
    theta, r, mask = (e[c].to_numpy(dtype=float) for c in ("theta", "reliability", "mask_ratio"))
    below = np.flatnonzero(theta < r / 2)
    full = np.flatnonzero(mask >= MASK_FULL)
    not_full = np.flatnonzero(~(mask >= MASK_FULL))
    stays = (not_full[-1] + 1 if not_full.size else 0) if full.size else mask.size  # start of the final run of 1s
    i = below[0] if below.size else None
    return {"epochs": int(ep.max()) if ep.size else 0,
            "first_epoch_theta_below_r_half": int(ep[i]) if i is not None else np.nan,
            "theta_there": float(theta[i]) if i is not None else np.nan,
            "r_mean_there": float(r[i]) if i is not None else np.nan,
            "first_epoch_mask_1": int(ep[full[0]]) if full.size else np.nan,
            "mask_1_from_epoch": int(ep[stays]) if stays < mask.size else np.nan,
            "mask_last": float(mask[-1]) if mask.size else np.nan}


def saturation_table(runs_dir, dataset: str, configuration: str = "damer", targets=TARGETS) -> pd.DataFrame:
    """Per target and seed (every run of `configuration` below runs_dir with PCL statistics): the epoch at which
    θ_t first falls below r̄_t/2 and the epoch at which the mask ratio first reaches 1 (`saturation_epochs`)."""
    rows = []
    for target in targets:
        for seed, d in seed_run_dirs(runs_dir, dataset, target, configuration).items():
            if not (d / "history.json").is_file():
                continue
            ep = epoch_frame(json.loads((d / "history.json").read_text()))
            if ep.empty or not {"theta", "reliability", "mask_ratio"} <= set(ep.columns):
                continue
            rows.append({"dataset": dataset, "target": target, "configuration": configuration, "seed": seed,
                         **saturation_epochs(ep)})
    cols = ["dataset", "target", "configuration", "seed", "epochs", "first_epoch_theta_below_r_half", "theta_there",
            "r_mean_there", "first_epoch_mask_1", "mask_1_from_epoch", "mask_last"]
    out = pd.DataFrame(rows, columns=cols)
    epochs = ["first_epoch_theta_below_r_half", "first_epoch_mask_1", "mask_1_from_epoch"]
    return out.astype({c: "Int64" for c in epochs})  # epochs stay integers; <NA> where it never happens


# ---------------------------------------------------------------- Fig. 7: t-SNE


def load_embeddings_by_target(runs_dir, dataset: str, configuration: str = "damer", seed: int = 0,
                              targets=TARGETS) -> dict[str, dict]:
    """{target: {'z_epoch0', 'z_final', 'labels'}} from each run's embeddings.npz (runs without one skipped)."""
    out = {}
    for target in targets:
        d = run_dir_of(runs_dir, dataset, target, configuration, seed)
        if d is None or not (d / "embeddings.npz").is_file():
            continue
        with np.load(d / "embeddings.npz") as z:
            out[target] = {k: np.asarray(z[k]) for k in ("z_epoch0", "z_final", "labels")}
    return out


def clip_perplexity(perplexity: float, n_samples: int) -> float:
    """t-SNE needs perplexity < n_samples; keep it at most (n - 1) / 3 (each point then has ~3·perplexity
    neighbours available), and at least 1."""
    return float(max(1.0, min(perplexity, (n_samples - 1) / 3.0)))


def tsne_2d(z: np.ndarray, perplexity: float = 30.0, random_state: int = 0) -> tuple[np.ndarray, float]:
    """2-D t-SNE of z (n, d) with a fixed random_state and PCA initialisation; returns (xy (n, 2), perplexity)."""
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    z = np.asarray(z, dtype=np.float64)
    if z.ndim != 2 or z.shape[0] < 4:
        raise ValueError(f"t-SNE needs a (n >= 4, d) array, got shape {z.shape}")
    p = clip_perplexity(perplexity, z.shape[0])
    # one OpenMP thread: for a few hundred points it is as fast, reproducible across machines, and avoids the
    # many-fold slow-down of oversubscribed threads on a busy machine
    with threadpool_limits(limits=1):
        xy = TSNE(n_components=2, perplexity=p, random_state=random_state, init="pca",
                  learning_rate="auto").fit_transform(z)
    return xy, p


def separation(x: np.ndarray, labels: np.ndarray, k: int = 5) -> dict:
    """How well classes separate in a representation x (n, d): silhouette score (euclidean, in [-1, 1]) and
    leave-one-out k-NN accuracy (majority of the k nearest other points). Needs both classes present."""
    from sklearn.metrics import silhouette_score
    from sklearn.neighbors import NearestNeighbors

    x, y = np.asarray(x, dtype=np.float64), np.asarray(labels)
    if len(np.unique(y)) < 2:
        return {"silhouette": float("nan"), "knn_acc": float("nan")}
    k = int(min(k, len(y) - 1))
    idx = NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x, return_distance=False)[:, 1:]  # drop self
    votes = y[idx]  # (n, k)
    pred = np.array([np.bincount(v, minlength=int(y.max()) + 1).argmax() for v in votes])
    return {"silhouette": float(silhouette_score(x, y)), "knn_acc": float((pred == y).mean())}


def tsne_by_target(emb: dict[str, dict], perplexity: float = 30.0, random_state: int = 0, k: int = 5) -> dict:
    """{target: {stage: {'xy', 'labels', 'perplexity', separation scores}}}, stage in ('epoch 0', 'trained').
    Separation is measured both in the fused feature space (the evidence) and in the 2-D map (the picture)."""
    out = {}
    for target, e in emb.items():
        y = np.asarray(e["labels"])
        out[target] = {}
        for stage, key in (("epoch 0", "z_epoch0"), ("trained", "z_final")):
            xy, p = tsne_2d(e[key], perplexity, random_state)
            feat, emb2 = separation(e[key], y, k), separation(xy, y, k)
            out[target][stage] = {"xy": xy, "labels": y, "perplexity": p, "n": len(y), "k": k,
                                  "silhouette_features": feat["silhouette"], "knn_acc_features": feat["knn_acc"],
                                  "silhouette_tsne": emb2["silhouette"], "knn_acc_tsne": emb2["knn_acc"]}
    return out


def separation_table(tsne: dict, dataset: str = "") -> pd.DataFrame:
    """One row per (target, stage) with n, perplexity used, majority-class share and the separation scores."""
    rows = []
    for target, stages in tsne.items():
        for stage, r in stages.items():
            y = r["labels"]
            rows.append({"dataset": dataset, "target": target, "stage": stage, "n_test": r["n"],
                         "perplexity": r["perplexity"], "majority_share": float(max(y.mean(), 1 - y.mean())),
                         "silhouette_features": r["silhouette_features"], f"knn{r['k']}_acc_features":
                         r["knn_acc_features"], "silhouette_tsne": r["silhouette_tsne"],
                         f"knn{r['k']}_acc_tsne": r["knn_acc_tsne"]})
    return pd.DataFrame(rows)


def tsne_figure(tsne: dict, title: str = ""):
    """Fig. 7 analogue: rows = targets, columns = epoch 0 | trained; points coloured by class."""
    if not tsne:
        raise ValueError("no embeddings to plot")
    fig, axes = plt.subplots(len(tsne), 2, figsize=(8.4, 3.9 * len(tsne)), squeeze=False)
    for i, (target, stages) in enumerate(tsne.items()):
        names = CLASS_NAMES.get(target, ("class 0", "class 1"))
        for j, (stage, r) in enumerate(stages.items()):
            ax = axes[i, j]
            for cls, (color, marker) in enumerate((("C0", "o"), ("C3", "^"))):
                m = r["labels"] == cls
                ax.scatter(r["xy"][m, 0], r["xy"][m, 1], s=16, c=color, marker=marker, alpha=0.75,
                           edgecolors="none", label=f"class {cls}: {names[cls]}")
            ax.set_title(f"{target} · {stage}: silhouette {r['silhouette_features']:.2f}, "
                         f"{r['k']}-NN acc {r['knn_acc_features']:.2f} (features)", fontsize=8.5)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.legend(fontsize=7, loc="best")
    fig.suptitle(title or "t-SNE of fused test features before and after training (Fig. 7 analogue)",
                 fontsize=10)
    fig.tight_layout()
    return fig
