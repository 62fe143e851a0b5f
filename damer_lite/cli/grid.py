"""`damer-lite grid`: cells of the experiment grid, several seeds in one process, without a notebook kernel.

    damer-lite grid --store DIR --runs results/runs --target arousal --configuration pcl --seeds 0 1 2 3 4
    damer-lite grid --store DIR --runs results/runs_semi --protocol semi --hidden-fraction 0.5 ...
    damer-lite grid ... --test-size 300        # 300 test tracks per seed instead of 30 % of the tracks

Each (target, configuration, seed) is one run folder RUNS/DATASET/TARGET/CONFIGURATION/seedK, the same files
as a run made by notebooks/04_training.ipynb (`experiments.runs.execute`). A folder that already holds a
run.json is kept (printed as done); an unfinished one (a killed job) resumes after its last completed epoch.
The store is read once for all cells. This is how the pipeline trains every cell except the showcase run,
which notebook 04 executes so that its curves can be read.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from damer_lite.config import TARGETS


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("grid", help="train grid cells (configurations x seeds) into run folders",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _arguments(p)
    p.set_defaults(func=run)


def _arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--store", required=True, help="feature store folder (written by `damer-lite features`)")
    ap.add_argument("--runs", required=True, help="runs folder; cells go to RUNS/DATASET/TARGET/CONFIG/seedK")
    ap.add_argument("--dataset", default=None, help="dataset name (default: from the store's folder name)")
    ap.add_argument("--target", nargs="+", required=True, choices=TARGETS, dest="targets",
                    help="one or both binary tasks")
    ap.add_argument("--configuration", nargs="+", required=True, dest="configurations",
                    help="Table V configurations (dsaf pcl saml dsaf+pcl pcl+saml dsaf+saml damer) and/or "
                         "baselines (mel_transformer coch_transformer concat_linear svm)")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0], help="seeds, one run folder each")
    ap.add_argument("--profile", default="quick", choices=["smoke", "quick", "paper"],
                    help="training profile (default: quick)")
    ap.add_argument("--protocol", default="full", choices=["full", "semi"],
                    help="'full': all training labels; 'semi': --hidden-fraction of them hidden (default: full)")
    ap.add_argument("--hidden-fraction", type=float, default=0.5,
                    help="share of training tracks whose labels are hidden under --protocol semi (default: 0.5)")
    ap.add_argument("--test-size", default="0.3",
                    help="test split per seed: a fraction of the tracks or a number of test tracks (default: 0.3, "
                         "the 70/30 split; the pipeline passes the dataset's `test_size` from config/config.yaml)")
    ap.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda when available)")


def run(args) -> int:
    from damer_lite.experiments.runs import BASELINES, CONFIGURATIONS, execute
    from damer_lite.training.data import load_training_data

    unknown = [c for c in args.configurations if c not in CONFIGURATIONS + BASELINES]
    if unknown:
        print(f"damer-lite grid: unknown configuration(s) {', '.join(unknown)}; known: "
              f"{', '.join(CONFIGURATIONS + BASELINES)}", file=sys.stderr)
        return 2
    if not 0.0 < args.hidden_fraction < 1.0:
        print(f"damer-lite grid: --hidden-fraction must be in (0, 1), got {args.hidden_fraction}", file=sys.stderr)
        return 2
    from damer_lite.datasets.manifest import check_test_size

    try:
        test_size = check_test_size(args.test_size)
    except ValueError as err:
        print(f"damer-lite grid: --test-size: {err}", file=sys.stderr)
        return 2
    store = Path(args.store)
    dataset = args.dataset or store.name.rsplit("-", 1)[0]
    try:
        data = load_training_data(store)
    except (ValueError, FileNotFoundError) as err:
        print(f"damer-lite grid: {err}", file=sys.stderr)
        return 2
    cells = [(t, c, s) for t in args.targets for c in args.configurations for s in args.seeds]
    for i, (target, configuration, seed) in enumerate(cells, 1):
        out = Path(args.runs) / dataset / target / configuration / f"seed{seed}"
        tag = f"[{i}/{len(cells)}] {dataset} {target} {configuration} seed {seed}"
        if (out / "run.json").is_file():
            print(f"{tag}: done already ({out})", flush=True)
            continue
        t0 = time.perf_counter()
        m = execute(store, target, configuration, seed, args.profile, out, device=args.device, dataset=dataset,
                    test_size=test_size, protocol=args.protocol, hidden_fraction=args.hidden_fraction, data=data)
        head = m.get("primary", "fuse")
        print(f"{tag}: {head} ACC {m[head]['acc']:.4f} AUC {m[head]['auc']:.4f} "
              f"({time.perf_counter() - t0:.1f} s) -> {out}", flush=True)
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="damer-lite grid", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    _arguments(ap)
    return run(ap.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
