"""Temperature scaling of a binary head (Guo et al., ICML 2017) and the reliability statistics that check it.

Not part of the DAMER paper: its softmax outputs are used as scores only. A user who reads P(high arousal)
= 0.999 as certainty needs probabilities that mean what they say, so the exported checkpoints carry one
temperature T per head, fitted on a validation split carved from the training split (never on test):

    m  = z_1 - z_0                       the head's logit margin (B,), uncalibrated
    p  = sigmoid(m)                      = softmax(z)[1], the uncalibrated P(class 1)
    p_T = sigmoid(m / T)                 = softmax(z / T)[1], the calibrated P(class 1)

T > 1 softens over-confident outputs, T < 1 sharpens; T never changes which class is predicted (accuracy,
F1 and AUC are the same), only how sure the output says it is.

    T = fit_temperature(margins_val, y_val)             # minimises the validation NLL over log T
    reliability(sigmoid(margins_test / T), y_test)      # bins, mean predicted vs observed, counts
    expected_calibration_error(p, y)                    # ECE over the same bins
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

# T is searched on [T_MIN, T_MAX] (log scale). A validation split the head separates perfectly drives the NLL
# down as T -> 0; the bound stops there and the fit reports it (`at_bound`).
T_MIN, T_MAX = 0.05, 100.0
N_BINS = 10


def sigmoid(x) -> np.ndarray:
    """1 / (1 + e^-x) in float64, without overflow for large |x|."""
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(-np.abs(x))  # in (0, 1]
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def nll(margins, y, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood (nats) of binary labels y under sigmoid(margins / temperature)."""
    m = np.asarray(margins, dtype=np.float64) / float(temperature)
    y = np.asarray(y).astype(np.float64)
    # -log sigmoid(m) = softplus(-m); -log(1 - sigmoid(m)) = softplus(m), computed stably
    return float(np.mean(y * np.logaddexp(0.0, -m) + (1.0 - y) * np.logaddexp(0.0, m)))


def _check(margins, y) -> tuple[np.ndarray, np.ndarray]:
    m = np.asarray(margins, dtype=np.float64).ravel()
    y = np.asarray(y).ravel()
    if m.shape != y.shape:
        raise ValueError(f"margins {m.shape} and labels {y.shape} differ in shape")
    if m.size == 0:
        raise ValueError("cannot calibrate on an empty set")
    if not np.isfinite(m).all():
        raise ValueError("margins hold NaN or inf")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0 or 1")
    return m, y.astype(np.int64)


def fit_temperature(margins, y) -> dict:
    """The temperature that minimises the NLL of `y` under sigmoid(margins / T), T in [T_MIN, T_MAX].

    Returns {'temperature', 'nll_before', 'nll_after', 'n', 'at_bound'}; a bounded 1-D search over log T
    (the NLL is convex in 1/T, so the minimum found is the global one on the interval).
    """
    from scipy.optimize import minimize_scalar

    m, y = _check(margins, y)
    res = minimize_scalar(lambda lt: nll(m, y, math.exp(lt)), bounds=(math.log(T_MIN), math.log(T_MAX)),
                          method="bounded", options={"xatol": 1e-6})
    t = float(math.exp(res.x))
    at_bound = bool(min(abs(math.log(t / T_MIN)), abs(math.log(t / T_MAX))) < 1e-3)
    return {"temperature": t, "nll_before": nll(m, y, 1.0), "nll_after": nll(m, y, t), "n": int(m.size),
            "at_bound": at_bound}


def reliability(prob_pos, y, n_bins: int = N_BINS) -> pd.DataFrame:
    """Reliability table of P(class 1): equal-width bins on [0, 1]; per bin the count, the mean predicted
    probability and the observed share of class 1 (NaN for empty bins)."""
    p = np.asarray(prob_pos, dtype=np.float64).ravel()
    y = np.asarray(y).astype(np.float64).ravel()
    if p.shape != y.shape:
        raise ValueError(f"probabilities {p.shape} and labels {y.shape} differ in shape")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    b = np.clip(np.digitize(p, edges[1:-1], right=False), 0, n_bins - 1)  # bin of each prediction
    rows = []
    for k in range(n_bins):
        sel = b == k
        n = int(sel.sum())
        rows.append({"bin_low": float(edges[k]), "bin_high": float(edges[k + 1]), "n": n,
                     "mean_predicted": float(p[sel].mean()) if n else float("nan"),
                     "observed": float(y[sel].mean()) if n else float("nan")})
    return pd.DataFrame(rows)


def expected_calibration_error(prob_pos, y, n_bins: int = N_BINS) -> float:
    """ECE = sum over bins of (n_bin / n) |mean predicted - observed|, on the bins of `reliability`."""
    t = reliability(prob_pos, y, n_bins)
    t = t[t["n"] > 0]
    return float((t["n"] / t["n"].sum() * (t["mean_predicted"] - t["observed"]).abs()).sum())


def calibration_report(val_margins, val_y, test_margins=None, test_y=None, n_bins: int = N_BINS) -> dict:
    """Fit T on the validation margins; describe the fit on validation and, for reporting only, on test.

    The temperature is fitted on the validation rows alone; the test rows are only scored with it.
    Returns plain JSON-able values: temperature, at_bound, n_val, NLL and ECE before/after on each split, and
    the reliability tables (list of row dicts) before/after on each split.
    """
    fit = fit_temperature(val_margins, val_y)
    t = fit["temperature"]
    out: dict = {"method": "temperature scaling", "temperature": t, "at_bound": fit["at_bound"],
                 "fitted_on": "val", "n_val": fit["n"], "n_bins": int(n_bins)}
    splits = {"val": (val_margins, val_y)}
    if test_margins is not None:
        splits["test"] = (test_margins, test_y)
    for name, (m, y) in splits.items():
        m, y = _check(m, y)
        for tag, temp in (("raw", 1.0), ("calibrated", t)):
            p = sigmoid(m / temp)
            out[f"{name}_nll_{tag}"] = nll(m, y, temp)
            out[f"{name}_ece_{tag}"] = expected_calibration_error(p, y, n_bins)
            out[f"{name}_reliability_{tag}"] = [
                {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}
                for row in reliability(p, y, n_bins).to_dict("records")]
    return out
