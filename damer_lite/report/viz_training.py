"""Helpers and plots for the training notebook (04): the loss terms as they enter the total loss (Eq. 21),
the run's training speed, and training against test accuracy.

    epochs = pd.DataFrame(history["epochs"])                     # a run folder's history.json
    parts = weighted_losses(epochs, config["loss"])             # lambda_k * L_k per epoch, summing to loss_total
    fig = training_figure(parts, epochs, metrics, title=...)    # stacked weighted terms | train acc vs test acc
    speed(epochs, metrics)                                       # samples/s from the history and metrics
    generalisation_gap(epochs, metrics)                          # last epoch's training accuracy vs test
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

# (history column, loss-config weight, label) in the order of Eq. 21
LOSS_TERMS = (
    ("loss_cls", "lambda_cls", "λ1·L_cls (Eq. 22, 3 heads)"),
    ("loss_pl", "lambda_pl", "λ2·L_PL (Eq. 17)"),
    ("loss_cons", "lambda_cons", "λ3·L_cons (Eq. 23)"),
    ("loss_cont", "lambda_cont", "λ4·L_cont (Eq. 19-20)"),
)
TOTAL = "loss_total"


def weighted_losses(epochs: pd.DataFrame, loss_weights: dict) -> pd.DataFrame:
    """The loss terms as they enter the total loss of Eq. 21: λ_k · L_k per epoch.

    epochs: history['epochs'] of a run (columns epoch, loss_total, loss_cls, loss_pl, loss_cons, loss_cont;
    each the epoch's mean over its batches). loss_weights: the run's config['loss'] ({'lambda_cls': 1.0, ...}).
    Returns columns epoch, one per term that was ever non-zero (labelled as in LOSS_TERMS), 'total' (the logged
    loss_total) and 'residual' = total - the sum of the weighted terms (0 up to rounding: the total is that sum,
    batch by batch). Terms of modules that were off are logged as 0 and left out."""
    missing = [c for c in ("epoch", TOTAL) if c not in epochs]
    if missing:
        raise ValueError(f"history epochs lack {missing}: not a loop run's history")
    out = pd.DataFrame({"epoch": epochs["epoch"].to_numpy()})
    weighted_sum = np.zeros(len(epochs))
    for column, weight, label in LOSS_TERMS:
        if column not in epochs:
            continue
        if weight not in loss_weights:
            raise ValueError(f"loss weights lack {weight!r} for the logged term {column!r}")
        part = float(loss_weights[weight]) * epochs[column].to_numpy(dtype=float)
        weighted_sum += part
        if np.any(part != 0):
            out[label] = part
    out["total"] = epochs[TOTAL].to_numpy(dtype=float)
    out["residual"] = out["total"] - weighted_sum
    return out


def term_shares(parts: pd.DataFrame, epoch: int | None = None) -> pd.Series:
    """Each weighted term's share of the total at `epoch` (default: the last), from `weighted_losses`."""
    row = parts.iloc[-1] if epoch is None else parts.set_index("epoch").loc[epoch]
    terms = [c for c in parts.columns if c not in ("epoch", "total", "residual")]
    return pd.Series({t: float(row[t]) / float(row["total"]) for t in terms})


def speed(epochs: pd.DataFrame, metrics: dict) -> dict:
    """Training speed of a run: the whole run's samples/s (metrics' train_samples_per_s: samples seen over the
    training time) and the per-epoch samples/s of the history (first epoch, median, last), with the
    training time and epochs."""
    per_epoch = epochs["samples_per_s"].to_numpy(dtype=float) if "samples_per_s" in epochs else np.array([])
    return {
        "epochs": len(epochs),
        "train_seconds": float(metrics.get("train_seconds", np.nan)),
        "samples_per_s": float(metrics.get("train_samples_per_s", np.nan)),
        "first_epoch_samples_per_s": float(per_epoch[0]) if per_epoch.size else np.nan,
        "median_epoch_samples_per_s": float(np.median(per_epoch)) if per_epoch.size else np.nan,
        "last_epoch_samples_per_s": float(per_epoch[-1]) if per_epoch.size else np.nan,
        "device": metrics.get("device", ""),
        "precision": metrics.get("amp", ""),
    }


def generalisation_gap(epochs: pd.DataFrame, metrics: dict, head: str | None = None) -> dict:
    """Training accuracy of the last epoch beside the test accuracy of the scored head.

    The training accuracy is the history's train_acc: the running accuracy of the scored head over the last
    epoch's training batches, in training mode (dropout on, weights still changing), not a re-evaluation of
    the final model. The test accuracy is measured once, after training, on n_test tracks; its standard
    error is sqrt(p (1 - p) / n_test)."""
    head = head or metrics.get("primary", "fuse")
    test = float(metrics[head]["acc"])
    n_test = int(metrics["n_test"])
    train = float(epochs["train_acc"].iloc[-1]) if "train_acc" in epochs and len(epochs) else math.nan
    return {
        "head": head,
        "train_acc": train,
        "test_acc": test,
        "gap": train - test,
        "n_train": int(metrics.get("n_train", 0)),
        "n_test": n_test,
        "test_se": math.sqrt(test * (1 - test) / n_test) if n_test > 0 else math.nan,
        "test_errors": int(round((1 - test) * n_test)),
    }


def training_figure(parts: pd.DataFrame, epochs: pd.DataFrame, metrics: dict | None = None, title: str = ""):
    """Left: the weighted loss terms per epoch stacked (their sum is the total loss, drawn as a line).
    Right: the training accuracy per epoch and, when `metrics` is given, the test accuracy of the scored head
    (measured once, after the last epoch) as a point with a ±1 standard error bar. One run: n = 1."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6), layout="constrained")
    terms = [c for c in parts.columns if c not in ("epoch", "total", "residual")]
    ax = axes[0]
    if terms:
        ax.stackplot(parts["epoch"], *[parts[t] for t in terms], labels=terms, alpha=0.8)
    ax.plot(parts["epoch"], parts["total"], color="black", lw=1.5, label="total loss (Eq. 21)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("weighted loss (mean over batches)")
    ax.set_title("loss terms as they enter the total, λ·L", fontsize=10)
    ax.legend(fontsize=7, loc="upper right")
    ax = axes[1]
    if "train_acc" in epochs:
        ax.plot(epochs["epoch"], epochs["train_acc"], marker=".", label="training batches (running, dropout on)")
    if metrics is not None:
        gap = generalisation_gap(epochs, metrics)
        ax.errorbar([epochs["epoch"].iloc[-1]], [gap["test_acc"]], yerr=[gap["test_se"]], fmt="s", color="C3",
                    capsize=4, label=f"test, once after training ({gap['head']} head, n = {gap['n_test']}, ±1 SE)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0.4, 1.02)
    ax.set_title("training vs test accuracy", fontsize=10)
    for a in axes:
        a.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize=7, loc="lower right")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig
