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
                    and the scored head's P(class 1) per test track (`p_test`, paired track-level noise)
    model.pt, standardiser.npz   weights and train-split feature statistics (not committed)
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pandas as pd

from damer_lite.config import METRICS, load_config
from damer_lite.datasets.manifest import split as make_split
from damer_lite.experiments import ablation
from damer_lite.training import baselines
from damer_lite.training.data import binary_labels, load_training_data, split_pool
from damer_lite.training.loop import train_run

CONFIGURATIONS = tuple(ablation.ABLATIONS)
BASELINES = tuple(baselines.KINDS)
RUN_KEYS = ("dataset", "target", "configuration", "seed")
# 'full': every training label is used (Table V as the paper runs it). 'semi': a stratified `hidden_fraction`
# of the training tracks loses its labels (the same tracks for every configuration of a seed, `split_pool`);
# configurations with PCL train on the labelled rest and pseudo-label the hidden tracks (pcl.source='pool'),
# every other configuration and baseline trains on the labelled rest only.
PROTOCOLS = ("full", "semi")


def protocol_split(split: dict, y, protocol: str, hidden_fraction: float, seed: int) -> tuple[dict, np.ndarray]:
    """(the split a configuration without PCL trains on, the hidden training rows) under `protocol`."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; known: {PROTOCOLS}")
    if protocol == "full":
        return split, np.zeros(0, dtype=np.int64)
    labelled, hidden = split_pool(split["train"], y, hidden_fraction, seed)
    return {**split, "train": labelled}, hidden


def semi_config(cfg, hidden_fraction: float, theta_range: str = "above_floor"):
    """`cfg` for a PCL configuration under the 'semi' protocol: pseudo-labels on the hidden tracks only.

    theta_range 'above_floor' (ours, see `model.pcl.theta_above_floor`) keeps selection dependent on the
    model's confidence in the binary task, where c >= r/2 passes every sample once θ_t < r/2."""
    cfg = copy.deepcopy(cfg)
    cfg.pcl.source, cfg.pcl.pool_fraction, cfg.pcl.theta_range = "pool", float(hidden_fraction), theta_range
    cfg.validate()
    return cfg


def fused_metrics(metrics: dict) -> dict:
    """ACC/F1/AUC of DAMER's fused head from a run's metrics."""
    return {k: float(metrics["fuse"][k]) for k in METRICS}


def execute(store_dir, target: str, configuration: str, seed: int, profile: str, run_dir,
            device: str | None = None, test_size: float | int = 0.3, dataset: str | None = None,
            protocol: str = "full", hidden_fraction: float = 0.5, data=None) -> dict:
    """Train and evaluate one grid cell on a feature store; write the run folder; return the metrics.

    `protocol` 'full' or 'semi' (see PROTOCOLS). `data` = (mel, coch, table) of `load_training_data(store_dir)`
    when the caller has it already (several cells in one process). An unfinished run in `run_dir` (a killed
    job) resumes after its last completed epoch."""
    if configuration not in CONFIGURATIONS + BASELINES:
        raise ValueError(f"unknown configuration {configuration!r}; known: {CONFIGURATIONS + BASELINES}")
    mel, coch, table = data if data is not None else load_training_data(store_dir)
    split = make_split(table, target, seed, test_size=test_size)
    y = binary_labels(table, target)
    labelled_split, hidden = protocol_split(split, y, protocol, hidden_fraction, seed)
    cfg = load_config(profile_name=profile)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    info = {"dataset": dataset or Path(store_dir).name.rsplit("-", 1)[0], "target": target,
            "configuration": configuration, "seed": int(seed), "profile": profile,
            "feature_store": Path(store_dir).name, "n_train": int(len(split["train"])),
            "n_test": int(len(split["test"])), "protocol": protocol}
    if protocol == "semi":
        info.update(hidden_fraction=float(hidden_fraction), n_labelled=int(len(labelled_split["train"])),
                    n_hidden=int(hidden.size))
    if configuration in CONFIGURATIONS:
        cfg = ablation.ablation_config(cfg, configuration)
        if protocol == "semi" and cfg.modules.pcl:  # train_run hides the same rows (split_pool, same seed)
            cfg, run_split = semi_config(cfg, hidden_fraction), split
        else:
            run_split = labelled_split
        res = train_run(mel, coch, y, run_split, cfg, out_dir=run_dir, device=device, seed=seed, info=info)
    else:
        split = labelled_split
        features = None
        if configuration == "svm":
            from damer_lite.features import store

            hand = store.load(store_dir)["handcrafted"]
            # rows of the store arrays that load_training_data kept, in its order
            features = np.asarray(hand)[table["row"].to_numpy()] if np.size(hand) else None
        res = baselines.run_baseline(configuration, mel, coch, y, split, cfg, seed=seed, out_dir=run_dir,
                                     device=device, features=features, info=info)
    return res["metrics"]


def finished_run(runs_dir, store_dir, target: str, configuration: str, seed: int, cfg, n_train: int,
                 dataset: str | None = None) -> dict | None:
    """The metrics of a finished 'full'-protocol grid run that is exactly the run (store, target, seed,
    resolved config, training-set size) a caller is about to train, else None (then train it).

    Looks in runs_dir/{dataset}/{target}/{configuration}/seed{seed}: run.json must name the same feature store,
    the full protocol and n_train, and config.json must equal `cfg` field by field. The grid's split for a seed
    is `datasets.manifest.split(table, target, seed)`, the one the experiments draw, so such a run has the
    same training rows, initialisation and batch order: its metrics are the ones training would give."""
    dataset = dataset or Path(store_dir).name.rsplit("-", 1)[0]
    rd = Path(runs_dir) / dataset / target / configuration / f"seed{seed}"
    try:
        info = json.loads((rd / "run.json").read_text())
        conf = json.loads((rd / "config.json").read_text())
        metrics = json.loads((rd / "metrics.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None
    conf.pop("run", None)
    same = (info.get("feature_store") == Path(store_dir).name and info.get("protocol", "full") == "full"
            and info.get("target") == target and int(info.get("seed", -1)) == int(seed)
            and int(info.get("n_train", -1)) == int(n_train) and conf == cfg.to_dict())
    return metrics if same else None


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


def pcl_selection(runs_dir) -> pd.DataFrame:
    """How many rows PCL selected, per run with PCL on: one row per (dataset, target, configuration, seed) with
    the protocol, the θ_t range used, the mask ratio (share of the eligible rows whose confidence passed
    θ_t: the labelled batch under Algorithm 1, the hidden tracks under the 'semi' protocol) at the first,
    middle and last epoch, the mean over epochs, and the first epoch at which every eligible row passed
    (NaN if none did)."""
    rows = []
    for info_path in sorted(Path(runs_dir).rglob("run.json")):
        run = info_path.parent
        if not (run / "config.json").is_file() or not (run / "history.json").is_file():
            continue
        cfg = json.loads((run / "config.json").read_text())
        if not cfg["modules"]["pcl"]:
            continue
        info = json.loads(info_path.read_text())
        epochs = json.loads((run / "history.json").read_text())["epochs"]
        ratio = np.array([e.get("mask_ratio", np.nan) for e in epochs], dtype=float)
        if ratio.size == 0:
            continue
        full = np.flatnonzero(ratio >= 1.0)
        rows.append({**{k: info[k] for k in RUN_KEYS}, "protocol": info.get("protocol", "full"),
                     "pcl_source": cfg["pcl"]["source"], "theta_range": cfg["pcl"].get("theta_range", "paper"),
                     "mask_first": ratio[0], "mask_mid": ratio[len(ratio) // 2], "mask_last": ratio[-1],
                     "mask_mean": float(np.nanmean(ratio)),
                     "first_epoch_all_selected": int(epochs[full[0]]["epoch"]) if full.size else np.nan})
    return pd.DataFrame(rows)
