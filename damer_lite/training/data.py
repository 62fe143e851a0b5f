"""The data side of training: feature-store adapter, input checks, the one standardiser, the sealed test split.

    mel, coch, table = load_training_data(store_dir)      # (n, N_mel, T), (n, N_coch, T), labels table
    y = binary_labels(table, "arousal")                   # (n,) in {0, 1}: label > 0 (§V-A)
    mel, coch, y, split = check_inputs(mel, coch, y, split)
    std = Standardiser(mel[train], coch[train])           # statistics of training rows only
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from damer_lite.config import TARGETS


# ---------------------------------------------------------------- the feature store as training arrays
def load_training_data(features_dir: str | Path,
                       manifest=None) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Adapter to the feature store: (mel (n, 128, T), coch (n, 84, T), table with track_id + labels).

    `manifest` is a DataFrame, a CSV path, or None (then the store's manifest snapshot, or its index table,
    must hold the labels). Rows are aligned on track_id; tracks without labels are left out with a message
    naming how many. The table's `row` column (when the store has one) is the row of the store's arrays.
    """
    from damer_lite.features import store  # the store's format belongs to the features package

    features_dir = Path(features_dir)
    loaded = store.load(features_dir)
    if isinstance(loaded, dict):
        mel, coch, index = loaded["mel"], loaded["coch"], loaded["index"]
    else:
        mel, coch, index = loaded[0], loaded[1], loaded[2]
    index = pd.DataFrame(index).reset_index(drop=True)
    if manifest is None and isinstance(loaded, dict) and loaded.get("manifest") is not None:
        manifest = loaded["manifest"]
    if "track_id" not in index.columns:
        raise ValueError(f"{features_dir}: feature index has no track_id column")
    if manifest is not None:
        man = pd.read_csv(manifest) if isinstance(manifest, (str, Path)) else pd.DataFrame(manifest)
        missing = [c for c in ("track_id", *TARGETS) if c not in man.columns]
        if missing:
            raise ValueError(f"{manifest}: manifest lacks columns {missing}")
        keep_cols = ["track_id", *TARGETS] + [c for c in ("style",) if c in man.columns]
        man = man[keep_cols].assign(track_id=lambda d: d["track_id"].astype(str))
        index = index.drop(columns=[c for c in TARGETS if c in index.columns])
        index = index.assign(track_id=index["track_id"].astype(str)).merge(man, on="track_id", how="left")
    missing = [c for c in TARGETS if c not in index.columns]
    if missing:
        raise ValueError(f"{features_dir}: no labels {missing}; pass --manifest")
    keep = index[list(TARGETS)].notna().all(axis=1).to_numpy()
    if not keep.all():
        print(f"{features_dir}: {int((~keep).sum())} tracks without labels are left out", file=sys.stderr)
    mel, coch = np.asarray(mel)[keep], np.asarray(coch)[keep]
    return mel, coch, index.loc[keep].reset_index(drop=True)


def binary_labels(table: pd.DataFrame, target: str) -> np.ndarray:
    """The binary target of §V-A: 1 where the static label is > 0, else 0; (n,) int64."""
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
    return (table[target].to_numpy(dtype=float) > 0).astype(np.int64)


# ---------------------------------------------------------------- checks
def check_inputs(mel, coch, y, split) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Validate (mel (n, N_mel, T), coch (n, N_coch, T), y (n,) in {0, 1}, split) and return them as arrays."""
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


def split_pool(train_idx: np.ndarray, y: np.ndarray, pool_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(labelled, pool): a stratified `pool_fraction` of the training rows whose labels are hidden (PCL's
    semi-supervised reading, pcl.source='pool'); the same draw for every configuration of one seed."""
    from sklearn.model_selection import train_test_split

    labelled, pool = train_test_split(train_idx, test_size=pool_fraction, random_state=seed, stratify=y[train_idx])
    return labelled, pool


# ---------------------------------------------------------------- the sealed test split
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


# ---------------------------------------------------------------- the one standardiser
class Standardiser:
    """Per-bin standardisation of both views; statistics (float64, (N_bins, 1)) over tracks and frames of the
    training rows only. Used by training, checkpoints and prediction alike (same arithmetic everywhere)."""

    def __init__(self, mel_train: np.ndarray | None = None, coch_train: np.ndarray | None = None):
        if mel_train is not None:
            self.mel_mu, self.mel_sd = self._fit(mel_train)
            self.coch_mu, self.coch_sd = self._fit(coch_train)

    @staticmethod
    def _fit(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(x, dtype=np.float64)
        mu = x.mean(axis=(0, 2), keepdims=True)[0]  # (N_bins, 1)
        sd = x.std(axis=(0, 2), keepdims=True)[0]
        return mu, np.maximum(sd, 1e-6)

    @classmethod
    def from_stats(cls, mel_mean, mel_std, coch_mean, coch_std) -> Standardiser:
        """Rebuild from stored per-bin statistics ((N_bins,) or (N_bins, 1) each)."""
        s = cls()
        s.mel_mu, s.mel_sd, s.coch_mu, s.coch_sd = (np.asarray(v, dtype=np.float64).reshape(-1, 1)
                                                    for v in (mel_mean, mel_std, coch_mean, coch_std))
        return s

    def stats(self) -> dict[str, np.ndarray]:
        """{'mel_mean', 'mel_std', 'coch_mean', 'coch_std'}: float64 (N_bins,) each."""
        return {"mel_mean": self.mel_mu.reshape(-1), "mel_std": self.mel_sd.reshape(-1),
                "coch_mean": self.coch_mu.reshape(-1), "coch_std": self.coch_sd.reshape(-1)}

    def save(self, path) -> None:
        np.savez(path, mel_mu=self.mel_mu, mel_sd=self.mel_sd, coch_mu=self.coch_mu, coch_sd=self.coch_sd)

    @classmethod
    def load(cls, path) -> Standardiser:
        with np.load(path) as z:
            return cls.from_stats(z["mel_mu"], z["mel_sd"], z["coch_mu"], z["coch_sd"])

    def __call__(self, mel: np.ndarray, coch: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """(.., N_mel, T), (.., N_coch, T) -> standardised float32 tensors of the same shapes."""
        m = ((np.asarray(mel, dtype=np.float64) - self.mel_mu) / self.mel_sd).astype(np.float32)
        c = ((np.asarray(coch, dtype=np.float64) - self.coch_mu) / self.coch_sd).astype(np.float32)
        return torch.from_numpy(m), torch.from_numpy(c)


# ---------------------------------------------------------------- tensors of one part of the split
@dataclass
class Part:
    mel: torch.Tensor  # (n, N_mel, T)
    coch: torch.Tensor  # (n, N_coch, T)
    y: torch.Tensor | None  # (n,) or None for unlabelled rows

    def __len__(self) -> int:
        return self.mel.shape[0]


def on_device(part: Part | None, dev: torch.device) -> Part | None:
    """The whole part on `dev` (one copy per run instead of one per batch; a few hundred MB at most for the
    paper's datasets). On CPU the part itself."""
    if part is None or dev.type == "cpu":
        return part
    return Part(part.mel.to(dev), part.coch.to(dev), part.y.to(dev) if part.y is not None else None)
