"""`damer-lite train`: one DAMER run on cached features.

    damer-lite train --features DIR --target arousal --profile quick --set train.epochs=10 --seed 0 --out DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

TARGETS = ("arousal", "valence")


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("train", help="train DAMER on cached features and evaluate on the test split")
    p.add_argument("--features", required=True,
                   help="feature store folder (written by `damer-lite features`)")
    p.add_argument("--manifest", default=None,
                   help="manifest CSV with track_id, valence, arousal (default: the snapshot kept in the store)")
    p.add_argument("--target", required=True, choices=TARGETS)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--config", default=None, help="YAML config (on top of the 'paper' profile)")
    g.add_argument("--profile", default=None, choices=["smoke", "quick", "paper"], help="named profile")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set model.d=64 (repeatable)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--test-size", type=float, default=0.3, help="stratified test fraction (paper: 0.3)")
    p.add_argument("--val-size", type=float, default=0.0,
                   help="fraction of train held out for model selection (0: use the last epoch)")
    p.add_argument("--out", required=True, help="run folder for metrics.json, history.json, model.pt, ...")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda when available)")
    p.set_defaults(func=run)


def load_training_data(features_dir: str | Path,
                       manifest=None) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Adapter to the feature store: (mel (n, 128, T), coch (n, 84, T), table with track_id + labels).

    `manifest` is a DataFrame, a CSV path, or None (then the store's manifest snapshot, or its index table,
    must hold the labels).
    Rows are aligned on track_id; tracks without labels are dropped with a message.
    """
    from .features import store  # the store's format belongs to the features package

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


def run(args) -> int:
    from .config import load_config
    from .datasets.manifest import split as make_split
    from .train import train_run

    try:
        cfg = load_config(args.config, args.profile, args.overrides)
        mel, coch, table = load_training_data(args.features, args.manifest)
        split = make_split(table, args.target, args.seed, test_size=args.test_size, val_size=args.val_size)
    except (ValueError, FileNotFoundError) as err:
        print(f"damer-lite train: {err}", file=sys.stderr)
        return 2
    y = (table[args.target].to_numpy(dtype=float) > 0).astype(np.int64)  # binarised at zero (§V-A)
    res = train_run(mel, coch, y, split, cfg, out_dir=args.out, device=args.device, seed=args.seed)
    m = res["metrics"]
    print(f"{args.target} seed {args.seed}: fused ACC {m['fuse']['acc']:.4f} F1 {m['fuse']['f1']:.4f} "
          f"AUC {m['fuse']['auc']:.4f} | ensemble ACC {m['ensemble']['acc']:.4f} "
          f"({m['n_train']} train, {m['n_test']} test, {m['wall_seconds']:.1f} s) -> {args.out}")
    return 0
