"""`damer-lite experiments`: the experiments beyond the paper, as the pipeline runs them.

    damer-lite experiments --store DIR --dataset NAME --results DIR [--profile P] [--seeds 0 1]
    damer-lite experiments --store DIR --results DIR --only efficiency --reuse-runs RESULTS/runs
    damer-lite experiments --cross A=STORE_A B=STORE_B --results DIR [--profile P]

Label efficiency and style shift on one feature store (both, or one with --only), or the cross-dataset
transfer over several; the tables go to RESULTS/tables/.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from damer_lite.config import TARGETS


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("experiments", help="label efficiency, style shift, cross-dataset (beyond the paper)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _arguments(p)
    p.set_defaults(func=run)


def _arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--store", help="feature store folder (label efficiency, style shift)")
    ap.add_argument("--dataset", default="synthmemo", help="dataset name of --store (its tracks need a style)")
    ap.add_argument("--results", required=True, help="results folder (tables/ is written below it)")
    ap.add_argument("--profile", default="quick", choices=["smoke", "quick", "paper"], help="training profile")
    ap.add_argument("--targets", nargs="+", default=list(TARGETS), choices=TARGETS, help="binary tasks")
    ap.add_argument("--fractions", nargs="+", type=float, default=[0.1, 0.25, 0.5, 1.0],
                    help="label efficiency: labelled shares of each training split")
    ap.add_argument("--train-styles", nargs="+", default=["piano", "plucked", "mallet"],
                    help="style shift: timbre families trained on (the others are the test)")
    ap.add_argument("--max-train", type=int, default=None,
                    help="style shift: train on a seeded random subset of at most this many tracks of those "
                         "families (default: all of them; make results: config's style_shift_max_train)")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0], help="seeds of every experiment")
    ap.add_argument("--test-size", default="0.3",
                    help="label efficiency's test split per seed, as the grid's: a fraction of the tracks or a "
                         "number of test tracks (default: 0.3)")
    ap.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda when available)")
    ap.add_argument("--only", choices=["efficiency", "shift"], default=None,
                    help="run only label efficiency or only the style shift (default: both)")
    ap.add_argument("--reuse-runs", default=None, metavar="RUNS_DIR",
                    help="the main grid's runs folder: label efficiency at fraction 1 reads the identical finished "
                         "damer and dsaf+saml runs from there instead of training them again (default: train)")
    ap.add_argument("--cross", nargs="*", default=None, metavar="NAME=STORE",
                    help="only the cross-dataset experiment over these stores (at least two)")


def run(args) -> int:
    import pandas as pd

    from damer_lite.experiments.cross_dataset import cross_dataset
    from damer_lite.experiments.label_efficiency import label_efficiency
    from damer_lite.experiments.style_shift import style_shift
    from damer_lite.report import save_table

    if args.cross is not None:
        stores = dict(item.split("=", 1) for item in args.cross)
        if len(stores) < 2:
            print("damer-lite experiments: --cross needs at least two NAME=STORE pairs", file=sys.stderr)
            return 2
        cross = pd.concat([cross_dataset(stores, t, args.seeds, args.profile, args.device) for t in args.targets],
                          ignore_index=True)
        save_table(cross, "cross_dataset", Path(args.results))
        print(cross.to_string(index=False))
        return 0
    if not args.store:
        print("damer-lite experiments: --store is required (or --cross)", file=sys.stderr)
        return 2
    if args.only in (None, "efficiency"):
        from damer_lite.datasets.manifest import check_test_size

        try:
            test_size = check_test_size(args.test_size)
        except ValueError as err:
            print(f"damer-lite experiments: --test-size: {err}", file=sys.stderr)
            return 2
        eff = pd.concat([label_efficiency(args.store, t, args.fractions, args.seeds, args.profile, args.device,
                                          reuse_runs=args.reuse_runs, test_size=test_size) for t in args.targets],
                        ignore_index=True)
        save_table(eff, f"label_efficiency_{args.dataset}", Path(args.results))
        print(eff.to_string(index=False))
    if args.only in (None, "shift"):
        shift = pd.concat([style_shift(args.store, t, tuple(args.train_styles), args.seeds, args.profile,
                                       args.device, max_train=args.max_train) for t in args.targets],
                          ignore_index=True)
        save_table(shift, f"style_shift_{args.dataset}", Path(args.results))
        print(shift.to_string(index=False))
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="damer-lite experiments", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    _arguments(ap)
    return run(ap.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
