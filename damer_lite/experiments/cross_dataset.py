"""Cross-dataset transfer: train DAMER on one dataset, test on another (zero-shot)."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd

from damer_lite.config import load_config
from damer_lite.datasets.manifest import split as make_split
from damer_lite.experiments.runs import fused_metrics
from damer_lite.training.data import binary_labels, load_training_data
from damer_lite.training.loop import train_run


def cross_dataset(stores: dict, target: str, seeds=(0,), profile: str = "quick", device=None) -> pd.DataFrame:
    """Zero-shot transfer: train DAMER on dataset A's training split, test on dataset B's test split.

    `stores` maps dataset name -> feature store (all made with the same feature profile, so the arrays
    have the same shapes). Every ordered pair (A, B) is run, A == B included as the within-dataset
    reference. Labels of B are used only to score the predictions.
    """
    data = {}
    for name, sdir in stores.items():
        mel, coch, table = load_training_data(sdir)
        data[name] = (np.asarray(mel), np.asarray(coch), binary_labels(table, target),
                      table)
    shapes = {n: (d[0].shape[1:], d[1].shape[1:]) for n, d in data.items()}
    if len(set(shapes.values())) != 1:
        raise ValueError(f"feature stores differ in shape, use one feature profile for all: {shapes}")
    base = load_config(profile_name=profile)
    rows = []
    for seed in seeds:
        splits = {n: make_split(d[3], target, seed) for n, d in data.items()}
        for a, (mel_a, coch_a, y_a, _) in data.items():
            for b, (mel_b, coch_b, y_b, _) in data.items():
                test_b = splits[b]["test"]
                mel = np.concatenate([mel_a, mel_b[test_b]])
                coch = np.concatenate([coch_a, coch_b[test_b]])
                y = np.concatenate([y_a, y_b[test_b]])
                split = {"train": splits[a]["train"], "test": len(y_a) + np.arange(len(test_b))}
                res = train_run(mel, coch, y, split, copy.deepcopy(base), seed=seed, device=device)
                rows.append({"target": target, "seed": seed, "train_dataset": a, "test_dataset": b,
                             "n_train": len(split["train"]), "n_test": len(test_b), **fused_metrics(res["metrics"])})
    return pd.DataFrame(rows)
