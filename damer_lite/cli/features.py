"""`damer-lite features`: extract the feature store of one dataset.

    damer-lite features --dataset synthmemo --root data/synthmemo --out features --profile quick --workers 2
"""

from __future__ import annotations

import sys

from damer_lite.features.config import _PROFILES, feature_profile


def add_parser(subparsers) -> None:
    """Register the `features` sub-command on an argparse subparsers object."""
    p = subparsers.add_parser("features", help="extract log-Mel / cochleagram / handcrafted features (resumable)")
    p.add_argument("--dataset", required=True, help="dataset name (memo2496, synthmemo, pmemo, emomusic, deam)")
    p.add_argument("--root", required=True, help="dataset folder")
    p.add_argument("--out", required=True, help="output folder; the store is OUT/<dataset>-<config hash>")
    p.add_argument("--profile", default="paper", choices=sorted(_PROFILES), help="feature settings (default paper)")
    p.add_argument("--workers", type=int, default=1, help="worker processes (one torch thread each)")
    p.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    p.add_argument("--coch-method", choices=["exact", "fft"], default=None, help="override the cochleagram method")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    """Load the manifest, extract, print the summary. Exit code 0 when at least one track succeeded."""
    from damer_lite.datasets import load_manifest
    from damer_lite.features.store import extract

    overrides = {"coch_method": args.coch_method} if getattr(args, "coch_method", None) else {}
    try:
        cfg = feature_profile(args.profile, **overrides)
        manifest = load_manifest(args.dataset, args.root)
    except (ValueError, FileNotFoundError) as e:
        print(f"damer-lite features: {e}", file=sys.stderr)
        return 2
    summary = extract(manifest, args.out, cfg, workers=args.workers, device=args.device, dataset=args.dataset,
                      progress=not getattr(args, "no_progress", False))
    if summary.n_failed or summary.n_set_aside:
        print(f"{summary.n_failed} track(s) failed and {summary.n_set_aside} were set aside by the loader; "
              f"each is listed with its stage and reason in {summary.store_dir}/failures.csv", file=sys.stderr)
    return 0 if summary.n_ok > 0 else 1
