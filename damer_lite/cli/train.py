"""`damer-lite train`: one DAMER run on cached features.

    damer-lite train --features DIR --target arousal --profile quick --set train.epochs=10 --seed 0 --out DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

from damer_lite.config import TARGETS


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("train", help="train DAMER on cached features and evaluate on the test split")
    p.add_argument("--features", required=True,
                   help="feature store folder (written by `damer-lite features`)")
    p.add_argument("--manifest", default=None,
                   help="manifest CSV with track_id, valence, arousal (default: the snapshot kept in the store)")
    p.add_argument("--target", required=True, choices=TARGETS,
                   help="the binary task: high vs low arousal, or positive vs negative valence (label > 0)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--config", default=None, help="YAML config (on top of the 'paper' profile)")
    g.add_argument("--profile", default=None, choices=["smoke", "quick", "paper"],
                   help="named profile (default: paper, the paper's settings: 80 epochs, D = 128; quick: 20 "
                        "epochs, D = 64, minutes on a CPU; smoke: 2 epochs, for tests)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set model.d=64 (repeatable)")
    p.add_argument("--seed", type=int, default=0, help="seed of the split, initialisation and batch order")
    p.add_argument("--test-size", default="0.3",
                   help="stratified test split: a fraction of the tracks or a number of test tracks (default: 0.3, "
                        "the paper's 70/30)")
    p.add_argument("--val-size", type=float, default=0.0,
                   help="fraction of train held out as a validation split: model selection (train.select=auto/val) "
                        "and the fused head's temperature (calibrated probabilities); 0: none, last epoch")
    p.add_argument("--out", required=True, help="run folder for metrics.json, history.json, model.pt, ...")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda when available)")
    p.set_defaults(func=run)


def run(args) -> int:
    from damer_lite.config import load_config
    from damer_lite.datasets.manifest import check_test_size
    from damer_lite.datasets.manifest import split as make_split
    from damer_lite.training.data import binary_labels, load_training_data
    from damer_lite.training.loop import train_run

    try:
        test_size = check_test_size(args.test_size)
    except ValueError as err:
        print(f"damer-lite train: --test-size: {err}", file=sys.stderr)
        return 2
    try:
        cfg = load_config(args.config, args.profile, args.overrides)
        mel, coch, table = load_training_data(args.features, args.manifest)
        split = make_split(table, args.target, args.seed, test_size=test_size, val_size=args.val_size)
    except (ValueError, FileNotFoundError) as err:
        print(f"damer-lite train: {err}", file=sys.stderr)
        return 2
    y = binary_labels(table, args.target)  # binarised at zero (§V-A)
    info = {"dataset": Path(args.features).name.rsplit("-", 1)[0], "target": args.target, "configuration": "damer",
            "seed": args.seed, "feature_store": Path(args.features).name, "n_train": int(len(split["train"])),
            "n_test": int(len(split["test"])), "n_val": int(len(split.get("val", ()))),
            "profile": args.profile or ("custom" if args.config else "paper"), "command": "damer-lite train"}
    res = train_run(mel, coch, y, split, cfg, out_dir=args.out, device=args.device, seed=args.seed, info=info)
    m = res["metrics"]
    print(f"{args.target} seed {args.seed}: fused ACC {m['fuse']['acc']:.4f} F1 {m['fuse']['f1']:.4f} "
          f"AUC {m['fuse']['auc']:.4f} | ensemble ACC {m['ensemble']['acc']:.4f} "
          f"({m['n_train']} train, {m['n_test']} test, {m['wall_seconds']:.1f} s) -> {args.out}")
    if "calibration" in m:
        c = m["calibration"]
        print(f"calibration: temperature {c['temperature']:.3f} fitted on {c['n_val']} validation tracks; "
              f"ECE on test {c['test_ece_raw']:.3f} raw -> {c['test_ece_calibrated']:.3f} calibrated")
    return 0
