"""Toy feature arrays for training tests: two classes separated in the first 8 bins of both views."""

from __future__ import annotations

import numpy as np


def toy_features(n: int = 48, seed: int = 0, t: int = 12, shift: float = 1.5, val: int = 0):
    """(mel (n, 128, t), coch (n, 84, t), y (n,), split): the first 70 % of the rows train (less `val` rows
    for a validation split when val > 0, taken from a seeded permutation), the rest test."""
    rng = np.random.default_rng(seed)
    y = np.array([0, 1] * (n // 2))
    mel = rng.normal(size=(n, 128, t)).astype(np.float32)
    coch = rng.normal(size=(n, 84, t)).astype(np.float32)
    mel[:, :8] += shift * y[:, None, None]
    coch[:, :8] += shift * y[:, None, None]
    if val:
        idx = rng.permutation(n)
        n_train = int(0.6 * n)
        return mel, coch, y, {"train": idx[:n_train], "val": idx[n_train:n_train + val],
                              "test": idx[n_train + val:]}
    idx = np.arange(n)
    return mel, coch, y, {"train": idx[: int(0.7 * n)], "test": idx[int(0.7 * n):]}
