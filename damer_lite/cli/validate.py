"""`damer-lite validate --dataset NAME --root DIR`: check a dataset folder before running anything on it.

Loads the dataset with its loader (any name `damer_lite.datasets.load_manifest` knows: memo2496,
synthmemo, pmemo, emomusic / 1000songs, deam), opens every usable audio file with soundfile and decodes a
few frames, then prints

* counts: tracks in the metadata, labelled, audio present, decodable, too short, usable;
* every problem kind with its count and a few example track ids;
* the dynamic labels (`damer_lite.datasets.dynamic.check`): tracks with a curve, and the dynamic-label
  problems by kind (missing curves, holes longer than 1 s, curves ending more than 2 s before or after
  the audio, values outside [-1, 1]); with `--raters` also the per-annotator curves and the per-rater
  files skipped (DEAM files without a WorkerId column), counted. Dynamic problems do not change the
  exit status.

Exit status: 0 when at least one track is usable, 1 when nothing usable remains, 2 when the folder does
not have the expected layout (a missing file or a renamed column; the message says what was expected and
where the loader looked) or the dataset name is unknown.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import sys

import pandas as pd

from damer_lite.datasets import LOADERS, dynamic, load_manifest
from damer_lite.datasets.common import probe_audio

EXIT_OK, EXIT_NOTHING_USABLE, EXIT_LAYOUT = 0, 1, 2


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register the `validate` sub-command on an `argparse` sub-parser collection."""
    p = subparsers.add_parser(
        "validate",
        help="check a dataset folder: counts, problems by kind, decodable audio",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--dataset", required=True, help=f"dataset name, one of {sorted(LOADERS)} (or 1000songs)")
    p.add_argument("--root", required=True, help="the dataset folder")
    p.add_argument(
        "--min-duration",
        type=float,
        default=None,
        metavar="S",
        help="report tracks shorter than S seconds (default: the loader's own minimum)",
    )
    p.add_argument("--examples", type=int, default=5, metavar="N", help="example ids per problem kind")
    p.add_argument("--no-decode", action="store_true", help="skip opening the audio files with soundfile")
    p.add_argument("--no-dynamic", action="store_true", help="skip the checks of the dynamic (per-step) labels")
    p.add_argument("--raters", action="store_true",
                   help="also read the per-annotator curves (Memo2496/SynthMemo, DEAM) and count skipped files")
    p.set_defaults(func=run)
    return p


def _loader_function(name: str):
    """The loader behind `name` (None when the name is unknown: `load_manifest` then says so)."""
    key = name.lower().replace("-", "").replace("_", "")
    key = "emomusic" if key == "1000songs" else key
    if key not in LOADERS:
        return None
    module, func = LOADERS[key].split(":")
    return getattr(importlib.import_module(module), func)


def _options(name: str, min_duration: float | None) -> dict:
    """Keyword options for the loader, limited to those it accepts."""
    wanted = {"check_audio": True}
    if min_duration is not None:
        wanted["min_duration_s"] = float(min_duration)
    fn = _loader_function(name)
    if fn is None:
        return {}
    params = inspect.signature(fn).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return wanted  # e.g. load_synthmemo, which forwards its options to memo2496.load
    return {k: v for k, v in wanted.items() if k in params}


def _problems(df: pd.DataFrame) -> dict[str, list[str]]:
    """The loader's problem report as kind -> ids, whichever way the loader stored it."""
    probs = df.attrs.get("report_problems")
    if probs is None and df.attrs.get("report") is not None:
        probs = getattr(df.attrs["report"], "problems", None)
    return {k: [str(i) for i in v] for k, v in (probs or {}).items()}


def _n_tracks(df: pd.DataFrame, problems: dict[str, list[str]]) -> int:
    rep = df.attrs.get("report")
    if rep is not None and hasattr(rep, "n_rows"):
        return int(rep.n_rows)
    return len(df) + len(set().union(*problems.values()) if problems else set())


def _examples(ids: list[str], n: int) -> str:
    shown = ", ".join(ids[:n])
    return shown + (", ..." if len(ids) > n else "")


def run(args: argparse.Namespace) -> int:
    """Run the checks for `args.dataset` in `args.root`; print the report; return the exit status."""
    n_examples = max(int(getattr(args, "examples", 5) or 5), 1)
    min_duration = getattr(args, "min_duration", None)
    try:
        df = load_manifest(args.dataset, args.root, **_options(args.dataset, min_duration))
    except (OSError, ValueError) as e:
        print(f"damer-lite validate: {args.dataset} in {args.root}: {e}", file=sys.stderr)
        return EXIT_LAYOUT

    problems = _problems(df)
    counts = dict(df.attrs.get("counts") or {})
    n_tracks = counts.get("tracks", _n_tracks(df, problems))

    def lost(*kinds: str) -> int:
        return len(set().union(*(set(problems.get(k, [])) for k in kinds)))

    labelled = counts.get("labelled", n_tracks - lost("unlabelled", "nan_valence", "nan_arousal"))
    audio_present = counts.get("audio_present", n_tracks - lost("missing_audio"))

    undecodable: list[str] = []
    reasons: dict[str, str] = {}
    decode = not getattr(args, "no_decode", False)
    if decode:
        paths = df["audio_path"].fillna("").astype(str)
        for tid, path in zip(df["track_id"].astype(str), paths, strict=True):
            why = probe_audio(path)
            if why is not None:
                undecodable.append(tid)
                reasons[tid] = why
    if undecodable:
        problems["undecodable"] = undecodable
    usable = len(df) - len(undecodable)

    print(f"dataset {args.dataset!r} in {args.root}")
    rows = [
        ("tracks in metadata", n_tracks),
        ("labelled", labelled),
        ("audio present", audio_present),
        ("decodable", f"{len(df) - len(undecodable)} of {len(df)} checked" if decode else "not checked"),
        ("too short", lost("too_short")),
        ("usable", usable),
    ]
    width = max(len(k) for k, _ in rows)
    for key, val in rows:
        print(f"  {key:<{width}}  {val}")
    if problems:
        print("problems (by kind):")
        for kind in sorted(problems):
            ids = problems[kind]
            print(f"  {kind}: {len(ids)} (e.g. {_examples(ids, n_examples)})")
            if kind == "undecodable":
                for tid in ids[:n_examples]:
                    print(f"      {tid}: {reasons[tid]}")
    else:
        print("problems: none")
    notes = {k: v for k, v in (df.attrs.get("notes") or {}).items() if v}
    if notes:
        print("notes (tracks kept):")
        for kind in sorted(notes):
            ids = [str(i) for i in notes[kind]]
            print(f"  {kind}: {len(ids)} (e.g. {_examples(ids, n_examples)})")
    if not getattr(args, "no_dynamic", False):
        try:
            dyn = dynamic.check(df, raters=bool(getattr(args, "raters", False)))
        except (OSError, ValueError) as e:
            print(f"damer-lite validate: {args.dataset} dynamic labels in {args.root}: {e}", file=sys.stderr)
            return EXIT_LAYOUT
        _print_dynamic(dyn, len(df), n_examples)
    if usable == 0:
        print("nothing usable remains", file=sys.stderr)
        return EXIT_NOTHING_USABLE
    return EXIT_OK


def _print_dynamic(dyn: dynamic.DynamicCheck, n_rows: int, n_examples: int) -> None:
    """The dynamic-label section of the report."""
    with_curve = int((dyn.details["missing"] == "").sum()) if len(dyn.details) else 0
    print("dynamic labels:")
    print(f"  curves  {with_curve} of {n_rows} tracks")
    raters = dyn.details["n_raters"].dropna() if len(dyn.details) else []
    if len(raters):
        print(f"  per-annotator curves  {len(raters)} tracks, {int(sum(raters))} curves")
    for kind in sorted(dyn.skipped):
        files = dyn.skipped[kind]
        print(f"  per-rater files skipped ({kind}): {len(files)} (e.g. {_examples(files, n_examples)})")
    problems = dyn.report.problems
    if problems:
        print("dynamic problems (by kind):")
        for kind in sorted(problems):
            print(f"  {kind}: {len(problems[kind])} (e.g. {_examples(problems[kind], n_examples)})")
    else:
        print("dynamic problems: none")


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry point (`python -m damer_lite.cli.validate --dataset ... --root ...`)."""
    parser = argparse.ArgumentParser(prog="damer-lite")
    sub = parser.add_subparsers(dest="command", required=True)
    add_parser(sub)
    args = parser.parse_args(["validate", *(sys.argv[1:] if argv is None else argv)])
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
