"""Baselines under the same splits, seeds, metrics and run folders as DAMER.

- `mel_transformer` / `coch_transformer`: `model.baselines.SingleViewTransformer`, trained by the one loop
  (`loop.train_run(model=...)`): CE, Adam, cosine, clipping, precision and sealed test split as DAMER.
- `concat_linear`: both views flattened and concatenated, standardised, L2 logistic regression.
- `svm`: RBF SVM on standardised handcrafted feature vectors (Table II's SVM row; features given by the
  caller, or per-bin mean/std summaries of the two views when none are given).

The scikit-learn estimators are fitted on the training rows only and score the test rows once.
Every runner returns {'metrics': {<kind>: {acc, f1, auc}, 'primary': <kind>, ...}, ...} like `train_run`.
"""

from __future__ import annotations

import time

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from damer_lite.config import SKLEARN_BASELINES, Config
from damer_lite.training import runio
from damer_lite.training.loop import train_run
from damer_lite.training.metrics import binary_metrics

KINDS = ("mel_transformer", "coch_transformer", *SKLEARN_BASELINES)


def summary_features(mel, coch) -> np.ndarray:
    """Handcrafted fallback: per-bin mean and std over time of both views -> (n, 2 (N_mel + N_coch))."""
    mel, coch = np.asarray(mel, dtype=np.float64), np.asarray(coch, dtype=np.float64)
    return np.concatenate([mel.mean(2), mel.std(2), coch.mean(2), coch.std(2)], axis=1)


def _fit_sklearn(kind: str, estimator, x: np.ndarray, y, split: dict, seed: int, out_dir, info) -> dict:
    y = np.asarray(y).astype(int)
    tr, te = np.asarray(split["train"]), np.asarray(split["test"])
    t_start = time.perf_counter()
    estimator.fit(x[tr], y[tr])  # the scaler inside the pipeline sees train rows only
    if kind != "svm":
        m = binary_metrics(y[te], estimator.predict_proba(x[te])[:, 1])
    else:  # SVM: decision values for AUC, its own decisions for ACC/F1
        m = binary_metrics(y[te], estimator.decision_function(x[te]), y_pred=estimator.predict(x[te]))
    metrics = {kind: m, "primary": kind, "seed": seed, "n_train": int(len(tr)), "n_test": int(len(te)),
               "wall_seconds": time.perf_counter() - t_start}
    result = {"metrics": metrics, "history": {"epochs": []},
              "provenance": runio.provenance("cpu", "float64 (scikit-learn)")}
    if out_dir is not None:
        runio.save_run(out_dir, result, {"configuration": kind, "seed": int(seed), **(info or {})})
    return result


def train_concat_linear(mel, coch, y, split: dict, seed: int = 0, out_dir=None, c: float = 1.0,
                        info: dict | None = None) -> dict:
    """Flatten both views, concatenate, standardise (train statistics), L2 logistic regression."""
    mel, coch = np.asarray(mel), np.asarray(coch)
    x = np.concatenate([mel.reshape(len(mel), -1), coch.reshape(len(coch), -1)], axis=1).astype(np.float32)
    est = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000, random_state=seed))
    return _fit_sklearn("concat_linear", est, x, y, split, seed, out_dir, info)


def train_svm(features, y, split: dict, seed: int = 0, out_dir=None, c: float = 1.0, gamma="scale",
              info: dict | None = None) -> dict:
    """RBF SVM on standardised handcrafted features (n, F)."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"handcrafted features must be (n, F), got {x.shape}")
    est = make_pipeline(StandardScaler(), SVC(C=c, kernel="rbf", gamma=gamma, random_state=seed))
    return _fit_sklearn("svm", est, x, y, split, seed, out_dir, info)


def run_baseline(kind: str, mel, coch, y, split: dict, cfg: Config, seed: int = 0, out_dir=None, device=None,
                 features=None, info: dict | None = None) -> dict:
    """Dispatch one of KINDS with the same arguments as `train_run`."""
    if kind in ("mel_transformer", "coch_transformer"):
        return train_run(mel, coch, y, split, cfg, out_dir=out_dir, device=device, seed=seed, model=kind,
                         info=info)
    if kind == "concat_linear":
        return train_concat_linear(mel, coch, y, split, seed, out_dir, info=info)
    if kind == "svm":
        x = summary_features(mel, coch) if features is None else features
        return train_svm(x, y, split, seed, out_dir, info=info)
    raise ValueError(f"unknown baseline {kind!r} (known: {', '.join(KINDS)})")
