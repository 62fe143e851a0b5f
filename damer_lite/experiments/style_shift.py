"""Style shift, beyond the paper: the feature-drift claim behind SAML.

Train on some timbre families and test on the others (SynthMemo's style nuisance is independent of emotion),
DAMER with and without SAML; one tidy row per run.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd

from damer_lite.config import load_config
from damer_lite.experiments.runs import fused_metrics
from damer_lite.training.data import binary_labels, load_training_data
from damer_lite.training.loop import train_run


def style_shift(store_dir, target: str, train_styles=("piano", "plucked", "mallet"), seeds=(0,),
                profile: str = "quick", device=None, max_train: int | None = None) -> pd.DataFrame:
    """Train on tracks of `train_styles`, test on the other styles; DAMER with and without SAML.

    `max_train`: train on a random subset of at most this many tracks of `train_styles`, drawn per seed (the
    same for both models of a seed); None: all of them. The test set is always every track of the other styles.
    Needs a `style` column in the store's manifest (SynthMemo's timbre family).
    """
    if max_train is not None and max_train < 2:
        raise ValueError(f"max_train must be >= 2 training tracks (or None: all), got {max_train}")
    mel, coch, table = load_training_data(store_dir)
    if "style" not in table.columns or table["style"].isna().all():
        raise ValueError(f"{store_dir}: the manifest has no style column; the style-shift test needs one")
    y = binary_labels(table, target)
    in_train = table["style"].isin(train_styles).to_numpy()
    base = load_config(profile_name=profile)
    rows = []
    for seed in seeds:
        train = np.flatnonzero(in_train)
        if max_train is not None and train.size > max_train:
            train = np.sort(np.random.default_rng([seed, 5]).choice(train, max_train, replace=False))
        split = {"train": train, "test": np.flatnonzero(~in_train)}
        for saml in (True, False):
            cfg = copy.deepcopy(base)
            cfg.modules.saml = saml
            res = train_run(mel, coch, y, split, cfg, seed=seed, device=device)
            rows.append({"target": target, "seed": seed, "model": "DAMER" if saml else "DAMER without SAML",
                         "train_styles": "+".join(train_styles),
                         "test_styles": "+".join(sorted(set(table["style"][~in_train]))),
                         "n_train": int(train.size), "n_test": int((~in_train).sum()),
                         **fused_metrics(res["metrics"])})
    return pd.DataFrame(rows)
