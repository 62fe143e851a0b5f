"""`damer-lite personal`: the k-shot personalisation experiment (tasks by annotator), as the pipeline runs it.

    damer-lite personal --store data/features/synthmemo-<hash> --dataset synthmemo --results results \\
        --profile quick --seeds 0 1 2

Holds out a share of the annotators per seed, trains the global dynamic model on the other annotators' mean
curves, meta-trains a copy with first-order MAML over their tasks, and scores the held-out annotators' query
songs after adapting on k of their songs (global, finetune, maml, offset and, on SynthMemo, the two oracles). Writes the
tables RESULTS/tables/personal_{dataset}[_tasks|_paired|_runs]. See docs/personalize.md.
"""

from __future__ import annotations

import argparse
import sys


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("personal", help="personalised dynamic MER: the k-shot curve over held-out annotators",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _arguments(p)
    p.set_defaults(func=run)


def _arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--store", required=True, help="feature store folder (its dataset must publish per-annotator "
                                                   "curves: memo2496, synthmemo, deam)")
    ap.add_argument("--dataset", required=True, help="dataset name (table names)")
    ap.add_argument("--results", required=True, help="results folder (tables/ is written below it)")
    ap.add_argument("--profile", default="quick", choices=["smoke", "quick", "paper"],
                    help="dynamic model and meta-learning profile (config.DYNAMIC_PROFILES, config.META_PROFILES)")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="seeds (annotator split, models)")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="override a meta-learning setting, e.g. --set iterations=100 (see config.MetaConfig)")
    ap.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda when available)")
    ap.add_argument("--no-progress", action="store_true", help="no progress messages")


def run(args) -> int:
    from pathlib import Path

    from damer_lite.cli.dynamic import _overrides
    from damer_lite.config import dynamic_profile, meta_profile
    from damer_lite.experiments.personal import k_shot_curve, run_personal
    from damer_lite.report import save_table

    try:
        meta = meta_profile(args.profile, _overrides(args.overrides))
        tables = run_personal(args.store, args.dataset, dynamic_profile(args.profile), meta, args.seeds,
                              device=args.device, progress=not args.no_progress)
    except (ValueError, FileNotFoundError) as err:
        print(f"damer-lite personal: {err}", file=sys.stderr)
        return 2
    for name, frame in tables.items():
        save_table(frame, name, Path(args.results))
    curve = k_shot_curve(tables[f"personal_{args.dataset}"])
    print("k-shot curve (mean CCC over valence and arousal, mean over held-out annotators and seeds):")
    print(curve.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="damer-lite personal", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    _arguments(ap)
    return run(ap.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
