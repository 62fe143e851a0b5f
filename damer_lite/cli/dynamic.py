"""`damer-lite dynamic`: per-step valence/arousal regression (dynamic MER) over seeds, as the pipeline runs it.

    damer-lite dynamic --store data/features/synthmemo-<hash> --dataset synthmemo --results results \\
        --profile quick --seeds 0 1 2 3 4

Trains the dual-scale regressor, DAMER's encoder with a per-step head and the per-frame ridge baseline on the
averaged dynamic curves of the store's tracks (same track-level splits and seeds for all three), scores each
once on its test songs, and writes RESULTS/runs_dynamic/{dataset}/{model}/seed{k}/ and the tables
RESULTS/tables/dynamic_{dataset}.csv (mean ± sd over seeds) and dynamic_{dataset}_seeds.csv. Finished runs
are reused (the same command resumes). See docs/dmer.md.
"""

from __future__ import annotations

import argparse
import sys


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("dynamic", help="dynamic MER: per-step V/A regressors and a ridge baseline over seeds",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _arguments(p)
    p.set_defaults(func=run)


# the models of experiments.dynamic.MODELS (spelled out: building the parser must not import torch)
MODELS = ("dual_scale", "damer_step", "ridge")


def _arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--store", required=True, help="feature store folder (its manifest must have dynamic curves)")
    ap.add_argument("--dataset", required=True, help="dataset name (folder and table names)")
    ap.add_argument("--results", required=True, help="results folder (runs_dynamic/ and tables/ are written below)")
    ap.add_argument("--profile", default="quick", choices=["smoke", "quick", "paper"],
                    help="dynamic model profile (config.DYNAMIC_PROFILES)")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="seeds (split, initialisation, batches)")
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS, help="models to run")
    ap.add_argument("--test-size", default="0.3",
                    help="test split per seed: a share of the tracks or a number of test tracks (default: 0.3)")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="override a dynamic setting, e.g. --set epochs=40 (repeatable; see config.DynamicConfig)")
    ap.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda when available)")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")


def _overrides(items: list[str]) -> dict:
    import yaml

    out = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--set needs KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        out[key.strip()] = yaml.safe_load(value)
    return out


def run(args) -> int:
    from pathlib import Path

    from damer_lite.datasets.manifest import check_test_size
    from damer_lite.experiments.dynamic import run_dynamic
    from damer_lite.report import save_table

    try:
        overrides = _overrides(args.overrides)
        test_size = check_test_size(args.test_size)
        tables = run_dynamic(args.store, args.dataset, args.results, args.profile, args.seeds, args.models,
                             test_size, args.device, overrides, progress=not args.no_progress)
    except (ValueError, FileNotFoundError) as err:
        print(f"damer-lite dynamic: {err}", file=sys.stderr)
        return 2
    for name, frame in tables.items():
        save_table(frame, name, Path(args.results))
    print(tables[f"dynamic_{args.dataset}"].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    per_seed = tables[f"dynamic_{args.dataset}_seeds"]
    failed = int((per_seed["error"].fillna("") != "").sum()) if "error" in per_seed else 0
    return 1 if failed else 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="damer-lite dynamic", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    _arguments(ap)
    return run(ap.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
