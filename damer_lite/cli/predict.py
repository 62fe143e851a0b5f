"""`damer-lite predict`: valence/arousal predictions for your own audio files.

    damer-lite predict my_music/ --checkpoint-dir results/checkpoints --out preds.csv --plot va.png
    damer-lite predict song.mp3 --arousal A.pt --valence V.pt --window 5 --hop 2.5
    damer-lite predict song.mp3 --dynamic --out curves.csv --plot curves.png     # per-step valence/arousal

Static (default): P(high arousal) and P(positive valence) per track or window from the binary DAMER
checkpoints {dataset}_arousal.pt / {dataset}_valence.pt. Dynamic (--dynamic): valence and arousal per step
(CSV columns file, time_s, valence, arousal, path, window, note, error) from the dynamic checkpoint
{dataset}_dynamic.pt, each file analysed in consecutive windows of the training window length.

Exit status: 0 when at least one file was predicted, 1 when none could be, 2 for a bad checkpoint or
arguments. See docs/predict.md.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

CHECKPOINT_ENV = "DAMER_LITE_CHECKPOINTS"


def default_checkpoint_dir() -> Path:
    """$DAMER_LITE_CHECKPOINTS, else the pipeline's results/checkpoints of the repository this package was
    installed from (not of the current directory: predict works from anywhere)."""
    env = os.environ.get(CHECKPOINT_ENV)
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parents[2] / "results" / "checkpoints"


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "predict", help="predict P(high arousal) / P(positive valence), or with --dynamic valence/arousal curves, "
                        "for audio files with exported checkpoints",
        description="Predict arousal and valence for audio files (mp3/flac/wav/ogg, any sample rate or channel "
                    "count) with checkpoints exported by the pipeline: class probabilities per track or window "
                    "(default), or per-step valence/arousal curves on [-1, 1] (--dynamic).")
    p.add_argument("paths", nargs="+", metavar="PATH", help="audio files, folders (searched recursively) or globs")
    src = p.add_argument_group(
        "checkpoints (default: $DAMER_LITE_CHECKPOINTS, else results/checkpoints of the damer-lite repository)")
    src.add_argument("--checkpoint-dir", default=None,
                     help="folder with {dataset}_arousal.pt and {dataset}_valence.pt")
    src.add_argument("--dataset", default=None,
                     help="which dataset's checkpoints in --checkpoint-dir (needed when it holds several)")
    src.add_argument("--arousal", default=None, metavar="CKPT", help="arousal checkpoint file")
    src.add_argument("--valence", default=None, metavar="CKPT", help="valence checkpoint file")
    p.add_argument("--out", default=None, help="write the predictions as CSV (default: print a table)")
    p.add_argument("--window", type=float, default=None, metavar="SEC",
                   help="cut each file into windows of SEC seconds: one row per window (a timeline)")
    p.add_argument("--hop", type=float, default=None, metavar="SEC", help="hop between windows (default: --window)")
    p.add_argument("--max-span", type=float, default=None, metavar="SEC",
                   help="longest span analysed per track without --window (default 120 s)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda when available)")
    p.add_argument("--batch-size", type=int, default=32, help="windows per model batch")
    p.add_argument("--plot", default=None, metavar="PNG",
                   help="save the V-A map (and timelines when windowed); with --dynamic the valence/arousal curves")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    dyn = p.add_argument_group("dynamic (per-step) predictions")
    dyn.add_argument("--dynamic", action="store_true",
                     help="per-step valence and arousal curves (one row per file and step) from the dynamic "
                          "checkpoint {dataset}_dynamic.pt in --checkpoint-dir; --window/--hop/--max-span and "
                          "--arousal/--valence are static-only")
    dyn.add_argument("--dynamic-checkpoint", "--checkpoint", dest="dynamic_checkpoint", default=None, metavar="CKPT",
                     help="dynamic checkpoint file instead of --checkpoint-dir/--dataset, e.g. one written by "
                          "`damer-lite personalize` (implies --dynamic)")
    dyn.add_argument("--max-duration", type=float, default=None, metavar="SEC",
                     help="with --dynamic: analyse at most the first SEC seconds of each file (default 600)")
    p.set_defaults(func=run)


def _err(msg: str) -> None:
    print(f"damer-lite predict: {msg}", file=sys.stderr)


def _missing_hint(args, name: str) -> str:
    if Path(args.checkpoint_dir or default_checkpoint_dir()).is_dir():
        return ""
    return (f" (name the folder with --checkpoint-dir DIR or ${CHECKPOINT_ENV}; the pipeline writes them into the "
            f"repository's results/checkpoints: `make results`, or `snakemake --cores 2 results/checkpoints/{name}`)")


def run(args) -> int:
    from damer_lite.predict.checkpoint import CheckpointError

    if args.dynamic or args.dynamic_checkpoint:
        return run_dynamic(args)
    if args.max_duration is not None:
        _err("--max-duration is for --dynamic; without it use --max-span")
        return 2
    from damer_lite.predict.predictor import MAX_SPAN_S, Predictor, plot_predictions, summary_line

    if args.window is not None and args.window <= 0:
        _err("--window must be > 0")
        return 2
    if args.hop is not None and (args.window is None or args.hop <= 0):
        _err("--hop needs --window and must be > 0")
        return 2
    if args.batch_size < 1:
        _err("--batch-size must be >= 1")
        return 2
    try:
        if args.arousal or args.valence:
            if args.checkpoint_dir or args.dataset:
                _err("give either --checkpoint-dir/--dataset or --arousal/--valence, not both")
                return 2
            pred = Predictor.from_files(args.arousal, args.valence, device=args.device, batch_size=args.batch_size)
        else:
            ckdir = args.checkpoint_dir or default_checkpoint_dir()
            pred = Predictor.from_dir(ckdir, args.dataset, device=args.device, batch_size=args.batch_size)
    except CheckpointError as e:
        hint = ("" if args.arousal or args.valence
                else _missing_hint(args, "synthmemo_arousal.pt results/checkpoints/synthmemo_valence.pt"))
        _err(f"{e}{hint}")
        return 2
    except ValueError as e:  # e.g. an unavailable device
        _err(str(e))
        return 2
    for c in pred.checkpoints.values():
        print(f"checkpoint: {c.summary()}", file=sys.stderr)
    for w in pred.warnings:
        print(f"warning: {w}", file=sys.stderr)

    df = pred.predict(args.paths, window_s=args.window, hop_s=args.hop,
                      max_span_s=args.max_span or MAX_SPAN_S, progress=not args.no_progress)
    if df.empty:
        from damer_lite.predict.predictor import AUDIO_EXTENSIONS

        skipped = df.attrs.get("skipped_non_audio", 0)
        _err(f"no audio file in {' '.join(args.paths)}: {skipped} file(s) found, none with an audio extension "
             f"({', '.join(AUDIO_EXTENSIONS)}); name a file explicitly to try it anyway")
        return 1
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        df.to_csv(out, index=False, float_format="%.6g")
        print(f"predictions: {len(df)} rows -> {out}", file=sys.stderr)
    else:
        show = df.assign(track=df["track"].str.slice(0, 40)).drop(columns=["path"])
        show = show.drop(columns=[c for c in ("note", "error") if not (show[c].fillna("") != "").any()])
        print(show.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    ok = (df["error"].fillna("") == "").any()
    if args.plot and ok:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        try:
            fig = plot_predictions(df)
        except ValueError as e:
            _err(f"no plot: {e}")
        else:
            Path(args.plot).parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(args.plot, dpi=110, bbox_inches="tight")
            plt.close(fig)
            print(f"plot -> {args.plot}", file=sys.stderr)
    print(summary_line(df), file=sys.stderr)
    return 0 if ok else 1


def run_dynamic(args) -> int:
    """`predict --dynamic`: per-step valence and arousal (see damer_lite.predict.dynamic)."""
    from damer_lite.predict.checkpoint import CheckpointError
    from damer_lite.predict.dynamic import MAX_DURATION_S, DynamicPredictor, plot_curves, summary_line

    static_only = [o for o, v in (("--window", args.window), ("--hop", args.hop), ("--max-span", args.max_span),
                                  ("--arousal", args.arousal), ("--valence", args.valence)) if v is not None]
    if static_only:
        _err(f"{', '.join(static_only)} cannot be combined with --dynamic: the dynamic model analyses each file "
             "in consecutive windows of its training window length (see docs/predict.md)")
        return 2
    if args.max_duration is not None and not args.max_duration > 0:
        _err("--max-duration must be > 0")
        return 2
    if args.batch_size < 1:
        _err("--batch-size must be >= 1")
        return 2
    try:
        if args.dynamic_checkpoint:
            if args.checkpoint_dir or args.dataset:
                _err("give either --checkpoint-dir/--dataset or --dynamic-checkpoint, not both")
                return 2
            pred = DynamicPredictor.from_file(args.dynamic_checkpoint, device=args.device, batch_size=args.batch_size)
        else:
            pred = DynamicPredictor.from_dir(args.checkpoint_dir or default_checkpoint_dir(), args.dataset,
                                             device=args.device, batch_size=args.batch_size)
    except CheckpointError as e:
        ckdir = Path(args.checkpoint_dir or default_checkpoint_dir())
        hint = ("" if args.dynamic_checkpoint or any(ckdir.glob("*_dynamic.pt"))
                else f" (name the folder with --checkpoint-dir DIR or ${CHECKPOINT_ENV}, or export a dynamic run "
                     "into it: `python -m damer_lite.predict.dynamic export --run RESULTS/runs_dynamic/DATASET/"
                     f"dual_scale/seed0 --store STORE --out {ckdir / 'DATASET_dynamic.pt'}`)")
        _err(f"{e}{hint}")
        return 2
    except ValueError as e:  # e.g. an unavailable device
        _err(str(e))
        return 2
    print(f"checkpoint: {pred.checkpoint.summary()}", file=sys.stderr)
    for w in pred.warnings:
        print(f"warning: {w}", file=sys.stderr)

    df = pred.predict(args.paths, max_duration_s=args.max_duration or MAX_DURATION_S,
                      progress=not args.no_progress)
    if df.empty:
        from damer_lite.predict.predictor import AUDIO_EXTENSIONS

        skipped = df.attrs.get("skipped_non_audio", 0)
        _err(f"no audio file in {' '.join(args.paths)}: {skipped} file(s) found, none with an audio extension "
             f"({', '.join(AUDIO_EXTENSIONS)}); name a file explicitly to try it anyway")
        return 1
    ok = df["error"].fillna("") == ""
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        df.to_csv(out, index=False, float_format="%.6g")
        print(f"predictions: {len(df)} rows ({int(ok.sum())} steps) -> {out}", file=sys.stderr)
    else:  # one line per file; the steps themselves need --out
        g = df.assign(ok=ok).groupby("path", sort=False)
        show = g.agg(file=("file", "first"), steps=("ok", "sum"), end_s=("time_s", "max"),
                     valence_mean=("valence", "mean"), arousal_mean=("arousal", "mean"),
                     note=("note", "first"), error=("error", lambda e: next((x for x in e if x), "")))
        show["file"] = show["file"].str.slice(0, 40)
        show = show.drop(columns=[c for c in ("note", "error") if not (show[c].fillna("") != "").any()])
        print(show.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        print("per-step values: add --out FILE.csv", file=sys.stderr)
    if args.plot and ok.any():
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig = plot_curves(df)
        Path(args.plot).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(args.plot, dpi=110, bbox_inches="tight")
        plt.close(fig)
        print(f"plot -> {args.plot}", file=sys.stderr)
    print(summary_line(df), file=sys.stderr)
    return 0 if ok.any() else 1
