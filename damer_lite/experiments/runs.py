"""One cell of the experiment grid, and the gathering of all cells into one table.

A run is (dataset, target, configuration, seed). `configuration` is one of the 7 module combinations of
Table V (`ablation.ABLATIONS`: dsaf, pcl, saml, dsaf+pcl, pcl+saml, dsaf+saml, damer) or a baseline
(`training.baselines.KINDS`: mel_transformer, coch_transformer, concat_linear, svm). Each run folder holds
(written by `training.runio.save_run`, run.json last):

    run.json        what was run (dataset, target, configuration, seed, profile, feature store, split sizes)
                    and its provenance (git commit, versions, device, precision actually used)
    metrics.json    test metrics per head (DAMER: mel, coch, fuse, ensemble; baselines: their own name)
    history.json    per-epoch losses and PCL/SAML statistics (DAMER and the transformer baselines)
    config.json     the resolved training config (DAMER and the transformer baselines)
    embeddings.npz  fused test embeddings at epoch 0 and at the end (t-SNE, Fig. 7)
    model.pt, standardiser.npz   weights and train-split feature statistics (not committed)
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from damer_lite.config import METRICS, load_config
from damer_lite.datasets.manifest import split as make_split
from damer_lite.experiments import ablation
from damer_lite.training import baselines
from damer_lite.training.data import binary_labels, load_training_data
from damer_lite.training.loop import train_run

CONFIGURATIONS = tuple(ablation.ABLATIONS)
BASELINES = tuple(baselines.KINDS)
RUN_KEYS = ("dataset", "target", "configuration", "seed")


def fused_metrics(metrics: dict) -> dict:
    """ACC/F1/AUC of DAMER's fused head from a run's metrics."""
    return {k: float(metrics["fuse"][k]) for k in METRICS}


def execute(store_dir, target: str, configuration: str, seed: int, profile: str, run_dir,
            device: str | None = None, test_size: float = 0.3, dataset: str | None = None) -> dict:
    """Train and evaluate one grid cell on a feature store; write the run folder; return the metrics.

    An unfinished run in `run_dir` (a killed job) resumes after its last completed epoch."""
    if configuration not in CONFIGURATIONS + BASELINES:
        raise ValueError(f"unknown configuration {configuration!r}; known: {CONFIGURATIONS + BASELINES}")
    mel, coch, table = load_training_data(store_dir)
    split = make_split(table, target, seed, test_size=test_size)
    y = binary_labels(table, target)
    cfg = load_config(profile_name=profile)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    info = {"dataset": dataset or Path(store_dir).name.rsplit("-", 1)[0], "target": target,
            "configuration": configuration, "seed": int(seed), "profile": profile,
            "feature_store": Path(store_dir).name, "n_train": int(len(split["train"])),
            "n_test": int(len(split["test"]))}
    if configuration in CONFIGURATIONS:
        res = train_run(mel, coch, y, split, ablation.ablation_config(cfg, configuration), out_dir=run_dir,
                        device=device, seed=seed, info=info)
    else:
        features = None
        if configuration == "svm":
            from damer_lite.features import store

            hand = store.load(store_dir)["handcrafted"]
            # rows of the store arrays that load_training_data kept, in its order
            features = np.asarray(hand)[table["row"].to_numpy()] if np.size(hand) else None
        res = baselines.run_baseline(configuration, mel, coch, y, split, cfg, seed=seed, out_dir=run_dir,
                                     device=device, features=features, info=info)
    return res["metrics"]


def primary_head(metrics: dict) -> str:
    """The head a run is scored by: the fused head for DAMER (paper), the model itself for baselines."""
    return metrics.get("primary", "fuse")


def collect(runs_dir) -> pd.DataFrame:
    """Every complete run under `runs_dir` as one tidy row per (run, head):
    dataset, target, configuration, seed, head, primary (bool), acc, f1, auc."""
    rows = []
    for info_path in sorted(Path(runs_dir).rglob("run.json")):
        info = json.loads(info_path.read_text())
        missing = [k for k in RUN_KEYS if k not in info]
        if missing:
            raise ValueError(f"{info_path}: not a grid run (no {missing}); keep other runs outside {runs_dir}")
        metrics = json.loads((info_path.parent / "metrics.json").read_text())
        primary = primary_head(metrics)
        for head, m in metrics.items():
            if not isinstance(m, dict) or not all(k in m for k in METRICS):
                continue
            rows.append({**{k: info[k] for k in ("dataset", "target", "configuration", "seed")},
                         "head": head, "primary": head == primary, **{k: float(m[k]) for k in METRICS},
                         "run_dir": str(info_path.parent)})
    cols = ["dataset", "target", "configuration", "seed", "head", "primary", *METRICS, "run_dir"]
    return pd.DataFrame(rows, columns=cols)


def ensure_store(dataset: str, root, features_dir, feature_profile: str, synth_size: str | None = None,
                 workers: int = 1, progress: bool = True) -> Path:
    """The feature store of `dataset` for a feature profile; generated/extracted only when absent.

    SynthMemo is generated first when `synth_size` is given. Extraction runs only when the store has not
    been consolidated yet, so parallel training jobs never rewrite a finished store.
    """
    from damer_lite.datasets import load_manifest, synth
    from damer_lite.features import store
    from damer_lite.features.config import feature_profile as make_profile

    cfg = make_profile(feature_profile)
    sdir = store.store_dir(features_dir, dataset, cfg)
    if (sdir / "index.csv").exists():
        return sdir
    if dataset == "synthmemo" and synth_size:
        synth.ensure(root, synth_size, progress=progress)
    manifest = load_manifest(dataset, root)
    return Path(store.extract(manifest, features_dir, cfg, workers=workers, dataset=dataset,
                              progress=progress).store_dir)
