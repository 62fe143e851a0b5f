"""Evaluation metrics of §V-A: accuracy, F1 and ROC AUC, with class 1 (label > 0) as the positive class."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score


def predicted_class(prob_pos, threshold: float = 0.5) -> np.ndarray:
    """Class 1 where P(class 1) >= threshold, else 0 (the decision every accuracy here is computed from)."""
    return (np.asarray(prob_pos, dtype=float) >= threshold).astype(int)


def binary_metrics(y_true, prob_pos, threshold: float = 0.5, y_pred=None) -> dict[str, float]:
    """ACC, F1 (positive class 1) and AUC from P(class 1) scores; AUC is NaN when one class is missing.

    `y_pred` overrides the thresholded predictions (e.g. an SVM's own decisions with decision scores).
    """
    y_true = np.asarray(y_true).astype(int).ravel()
    score = np.asarray(prob_pos, dtype=float).ravel()
    if y_true.shape != score.shape:
        raise ValueError(f"y_true {y_true.shape} and scores {score.shape} differ in shape")
    if y_true.size == 0:
        raise ValueError("cannot compute metrics on an empty set")
    pred = predicted_class(score, threshold) if y_pred is None else np.asarray(y_pred).astype(int).ravel()
    auc = float(roc_auc_score(y_true, score)) if len(np.unique(y_true)) == 2 else float("nan")
    return {
        "acc": float(accuracy_score(y_true, pred)),
        "f1": float(f1_score(y_true, pred, pos_label=1, zero_division=0)),
        "auc": auc,
    }
