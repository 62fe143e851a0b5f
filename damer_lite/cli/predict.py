"""`damer-lite predict`: valence/arousal predictions for your own audio files.

    damer-lite predict my_music/ --checkpoint-dir results/checkpoints --out preds.csv --plot va.png
    damer-lite predict song.mp3 --arousal A.pt --valence V.pt --window 5 --hop 2.5

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
        "predict", help="predict P(high arousal) / P(positive valence) for audio files with exported checkpoints",
        description="Predict arousal and valence for audio files (mp3/flac/wav/ogg, any sample rate or channel "
                    "count) with checkpoints exported by the pipeline.")
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
    p.add_argument("--plot", default=None, metavar="PNG", help="save the V-A map (and timelines when windowed)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _err(msg: str) -> None:
    print(f"damer-lite predict: {msg}", file=sys.stderr)


def run(args) -> int:
    from damer_lite.predict.checkpoint import CheckpointError
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
        hint = ("" if args.arousal or args.valence or Path(args.checkpoint_dir or default_checkpoint_dir()).is_dir()
                else f" (name the folder with --checkpoint-dir DIR or ${CHECKPOINT_ENV}; the pipeline writes "
                     "them into the repository's results/checkpoints: `make results`, or `snakemake --cores 2 "
                     "results/checkpoints/synthmemo_arousal.pt results/checkpoints/synthmemo_valence.pt`)")
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
