"""Two experiments beyond the paper, testing its two motivating claims on SynthMemo.

* Label efficiency (the data-scarcity claim behind PCL): keep a fraction f of the training labels; train
  DAMER with PCL in `pool` mode (the other 1 - f of the training tracks are an unlabelled pool that gets
  pseudo-labels) against DAMER without PCL on the labelled fraction only. Same seeds, same test split.
* Style shift (the feature-drift claim behind SAML): train on some timbre families, test on the others
  (SynthMemo's style nuisance is independent of emotion), with and without SAML.

Both return tidy DataFrames (one row per run) and never look at the test split during training.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from damer_lite.config import load_config
from damer_lite.datasets.manifest import split as make_split
from damer_lite.train import train_run
from damer_lite.train_command import load_training_data


def _fused(metrics: dict) -> dict:
    return {k: float(metrics["fuse"][k]) for k in ("acc", "f1", "auc")}


def label_efficiency(store_dir, target: str, fractions=(0.1, 0.25, 0.5, 1.0), seeds=(0,),
                     profile: str = "quick", device=None) -> pd.DataFrame:
    """Test metrics vs labelled fraction, DAMER with PCL on an unlabelled pool vs DAMER without PCL."""
    mel, coch, table = load_training_data(store_dir)
    y = (table[target].to_numpy(dtype=float) > 0).astype(np.int64)
    base = load_config(profile_name=profile)
    rows = []
    for seed in seeds:
        split = make_split(table, target, seed)
        for frac in fractions:
            if frac >= 1.0:
                labelled = split["train"]
            else:  # the same stratified draw that train_run makes for the pool (pcl.source='pool')
                labelled, _ = train_test_split(split["train"], test_size=1.0 - frac, random_state=seed,
                                               stratify=y[split["train"]])
            no_pcl = copy.deepcopy(base)
            no_pcl.modules.pcl = False
            res = train_run(mel, coch, y, {"train": labelled, "test": split["test"]}, no_pcl, seed=seed,
                            device=device)
            rows.append({"target": target, "seed": seed, "labelled_fraction": frac, "model": "DAMER without PCL",
                         "n_labelled": len(labelled), **_fused(res["metrics"])})
            with_pcl = copy.deepcopy(base)
            if frac < 1.0:
                with_pcl.pcl.source, with_pcl.pcl.pool_fraction = "pool", 1.0 - frac
            res = train_run(mel, coch, y, split, with_pcl, seed=seed, device=device)
            rows.append({"target": target, "seed": seed, "labelled_fraction": frac,
                         "model": "DAMER with PCL (unlabelled pool)", "n_labelled": len(labelled),
                         **_fused(res["metrics"])})
    return pd.DataFrame(rows)


def style_shift(store_dir, target: str, train_styles=("piano", "plucked", "mallet"), seeds=(0,),
                profile: str = "quick", device=None) -> pd.DataFrame:
    """Train on tracks of `train_styles`, test on the other styles; DAMER with and without SAML.

    Needs a `style` column in the store's manifest (SynthMemo's timbre family).
    """
    mel, coch, table = load_training_data(store_dir)
    if "style" not in table.columns or table["style"].isna().all():
        raise ValueError(f"{store_dir}: the manifest has no style column; the style-shift test needs one")
    y = (table[target].to_numpy(dtype=float) > 0).astype(np.int64)
    in_train = table["style"].isin(train_styles).to_numpy()
    split = {"train": np.flatnonzero(in_train), "test": np.flatnonzero(~in_train)}
    base = load_config(profile_name=profile)
    rows = []
    for seed in seeds:
        for saml in (True, False):
            cfg = copy.deepcopy(base)
            cfg.modules.saml = saml
            res = train_run(mel, coch, y, split, cfg, seed=seed, device=device)
            rows.append({"target": target, "seed": seed, "model": "DAMER" if saml else "DAMER without SAML",
                         "train_styles": "+".join(train_styles),
                         "test_styles": "+".join(sorted(set(table["style"][~in_train]))),
                         "n_train": int(in_train.sum()), "n_test": int((~in_train).sum()), **_fused(res["metrics"])})
    return pd.DataFrame(rows)


def cross_dataset(stores: dict, target: str, seeds=(0,), profile: str = "quick", device=None) -> pd.DataFrame:
    """Zero-shot transfer: train DAMER on dataset A's training split, test on dataset B's test split.

    `stores` maps dataset name -> feature store (all made with the same feature profile, so the arrays
    have the same shapes). Every ordered pair (A, B) is run, A == B included as the within-dataset
    reference. Labels of B are used only to score the predictions.
    """
    data = {}
    for name, sdir in stores.items():
        mel, coch, table = load_training_data(sdir)
        data[name] = (np.asarray(mel), np.asarray(coch), (table[target].to_numpy(dtype=float) > 0).astype(np.int64),
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
                             "n_train": len(split["train"]), "n_test": len(test_b), **_fused(res["metrics"])})
    return pd.DataFrame(rows)


def main(argv=None) -> int:
    """python -m damer_lite.experiments --store DIR --dataset NAME --results DIR [--profile P] [--seeds 0 1]
    python -m damer_lite.experiments --cross A=STORE_A B=STORE_B --results DIR [--profile P]"""
    import argparse
    from pathlib import Path

    from damer_lite import report

    ap = argparse.ArgumentParser(description="label-efficiency and style-shift experiments (beyond the paper)")
    ap.add_argument("--store", help="feature store folder (label efficiency, style shift)")
    ap.add_argument("--dataset", default="synthmemo")
    ap.add_argument("--results", required=True, help="results folder (tables/ is written below it)")
    ap.add_argument("--profile", default="quick", help="training profile")
    ap.add_argument("--targets", nargs="+", default=["arousal", "valence"])
    ap.add_argument("--fractions", nargs="+", type=float, default=[0.1, 0.25, 0.5, 1.0])
    ap.add_argument("--train-styles", nargs="+", default=["piano", "plucked", "mallet"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0])
    ap.add_argument("--device", default=None)
    ap.add_argument("--cross", nargs="*", default=None, metavar="NAME=STORE",
                    help="only the cross-dataset experiment over these stores (at least two)")
    args = ap.parse_args(argv)
    if args.cross is not None:
        stores = dict(item.split("=", 1) for item in args.cross)
        if len(stores) < 2:
            ap.error("--cross needs at least two NAME=STORE pairs")
        cross = pd.concat([cross_dataset(stores, t, args.seeds, args.profile, args.device) for t in args.targets],
                          ignore_index=True)
        report.save_table(cross, "cross_dataset", Path(args.results))
        print(cross.to_string(index=False))
        return 0
    if not args.store:
        ap.error("--store is required (or --cross)")
    eff = pd.concat([label_efficiency(args.store, t, args.fractions, args.seeds, args.profile, args.device)
                     for t in args.targets], ignore_index=True)
    report.save_table(eff, f"label_efficiency_{args.dataset}", Path(args.results))
    shift = pd.concat([style_shift(args.store, t, tuple(args.train_styles), args.seeds, args.profile, args.device)
                       for t in args.targets], ignore_index=True)
    report.save_table(shift, f"style_shift_{args.dataset}", Path(args.results))
    print(eff.to_string(index=False))
    print(shift.to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


def summary(df: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Mean ± sd (over seeds) of the fused-head metrics, grouped by `by`."""
    g = df.groupby(by)[["acc", "f1", "auc"]]
    out = g.mean().add_suffix("_mean").join(g.std(ddof=0).add_suffix("_sd")).join(g.size().rename("n_seeds"))
    return out.reset_index()


def efficiency_figure(df: pd.DataFrame):
    """Test accuracy vs labelled fraction, with and without PCL, one panel per target."""
    import matplotlib.pyplot as plt

    targets = sorted(df["target"].unique())
    fig, axes = plt.subplots(1, len(targets), figsize=(4.5 * len(targets), 3.2), squeeze=False)
    s = summary(df, ["target", "model", "labelled_fraction"])
    for ax, tgt in zip(axes[0], targets, strict=True):
        for model, g in s[s["target"] == tgt].groupby("model"):
            ax.errorbar(g["labelled_fraction"], 100 * g["acc_mean"], yerr=100 * g["acc_sd"], marker="o",
                        capsize=3, label=model)
        ax.set_xscale("log")
        ax.set_xlabel("labelled fraction of the training split")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(tgt)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
