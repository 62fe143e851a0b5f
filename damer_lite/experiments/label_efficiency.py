"""Label efficiency, beyond the paper: the data-scarcity claim behind PCL.

Keep a fraction f of the training labels; train DAMER with PCL in `pool` mode (the other 1 - f of the
training tracks are an unlabelled pool that gets pseudo-labels) against DAMER without PCL on the labelled
fraction only. Same seeds, same test split; one tidy row per run; the test split is never looked at during
training.

At fraction 1 nothing is hidden: the two runs are the main grid's `damer` and `dsaf+saml` cells of the same
seed. With `reuse_runs` (the grid's runs folder) their metrics are read from there when the runs are exactly
these (`runs.finished_run`), instead of training them again; the `source` column says which.
"""

from __future__ import annotations

import copy

import pandas as pd

from damer_lite.config import load_config
from damer_lite.datasets.manifest import split as make_split
from damer_lite.experiments.runs import finished_run, fused_metrics, protocol_split, semi_config
from damer_lite.training.data import binary_labels, load_training_data
from damer_lite.training.loop import train_run


def label_efficiency(store_dir, target: str, fractions=(0.1, 0.25, 0.5, 1.0), seeds=(0,),
                     profile: str = "quick", device=None, reuse_runs=None,
                     test_size: float | int = 0.3) -> pd.DataFrame:
    """Test metrics vs labelled fraction, DAMER with PCL on an unlabelled pool vs DAMER without PCL.
    `test_size`: the grid's test split per seed (a fraction or a number of tracks, `manifest.split`)."""
    mel, coch, table = load_training_data(store_dir)
    y = binary_labels(table, target)
    base = load_config(profile_name=profile)
    rows = []

    def run(split, cfg, seed, grid_configuration):
        if reuse_runs is not None and grid_configuration is not None:
            m = finished_run(reuse_runs, store_dir, target, grid_configuration, seed, cfg, len(split["train"]))
            if m is not None:
                return fused_metrics(m), f"grid run {grid_configuration}/seed{seed}"
        return fused_metrics(train_run(mel, coch, y, split, cfg, seed=seed, device=device)["metrics"]), "trained"

    for seed in seeds:
        split = make_split(table, target, seed, test_size=test_size)
        for frac in fractions:
            # the semi-supervised protocol's draw (the same stratified draw train_run makes for the pool), with
            # the paper's θ_t range; at frac = 1 nothing is hidden
            protocol = "semi" if frac < 1.0 else "full"
            labelled_split, _ = protocol_split(split, y, protocol, 1.0 - frac, seed)
            no_pcl = copy.deepcopy(base)
            no_pcl.modules.pcl = False
            m, source = run(labelled_split, no_pcl, seed, "dsaf+saml" if frac == 1.0 else None)
            rows.append({"target": target, "seed": seed, "labelled_fraction": frac, "model": "DAMER without PCL",
                         "n_labelled": len(labelled_split["train"]), **m, "source": source})
            with_pcl = semi_config(base, 1.0 - frac, theta_range="paper") if frac < 1.0 else base
            m, source = run(split, with_pcl, seed, "damer" if frac == 1.0 else None)
            rows.append({"target": target, "seed": seed, "labelled_fraction": frac,
                         "model": "DAMER with PCL (unlabelled pool)", "n_labelled": len(labelled_split["train"]),
                         **m, "source": source})
    return pd.DataFrame(rows)
