"""`damer-lite personalize`: adapt the dynamic model to one listener from their ratings of one or a few songs.

    damer-lite personalize --audio my_song.mp3 --ratings my_song_ratings.csv --out me.pt
    damer-lite predict --dynamic --checkpoint me.pt other_song.mp3 --out curves.csv --plot curves.png

The ratings file is a CSV with a header time_s,valence,arousal (seconds from the song's start; values in
[-1, 1]); give --audio and --ratings once per song, in the same order. Exit status: 0 when the personalised
checkpoint was written, 2 for a bad ratings file, audio file, checkpoint or argument (nothing is written).
See docs/personalize.md.
"""

from __future__ import annotations

import sys
from pathlib import Path


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("personalize", help="adapt the dynamic model to one listener from their ratings of "
                                                  "a song (or a few)")
    p.add_argument("--audio", nargs="+", required=True, metavar="FILE", help="the rated song(s)")
    p.add_argument("--ratings", nargs="+", required=True, metavar="CSV",
                   help="one ratings CSV per song (time_s, valence, arousal in [-1, 1]), same order as --audio")
    p.add_argument("--out", required=True, help="the personalised dynamic checkpoint to write, e.g. me.pt")
    src = p.add_argument_group("the dynamic checkpoint to start from (default: {dataset}_dynamic.pt in "
                               "$DAMER_LITE_CHECKPOINTS, else the repository's results/checkpoints)")
    src.add_argument("--checkpoint", default=None, metavar="CKPT", help="a dynamic checkpoint file")
    src.add_argument("--checkpoint-dir", default=None, help="folder with {dataset}_dynamic.pt")
    src.add_argument("--dataset", default=None, help="which dataset's dynamic checkpoint in --checkpoint-dir")
    p.add_argument("--steps", type=int, default=16, help="SGD steps of the adaptation (DSAML's inner loop: 16)")
    p.add_argument("--lr", type=float, default=5e-3, help="SGD learning rate (DSAML's inner loop: 5e-3)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda when available)")
    p.set_defaults(func=run)


def _err(msg: str) -> int:
    print(f"damer-lite personalize: {msg}", file=sys.stderr)
    return 2


def run(args) -> int:
    from damer_lite.cli.predict import default_checkpoint_dir
    from damer_lite.predict.checkpoint import CheckpointError
    from damer_lite.predict.dynamic import find_dynamic
    from damer_lite.predict.personalize import RatingsError, personalize

    if len(args.audio) != len(args.ratings):
        return _err(f"give one --ratings file per --audio file ({len(args.audio)} audio, {len(args.ratings)} "
                    "ratings)")
    if args.steps < 1 or not args.lr > 0:
        return _err("--steps must be >= 1 and --lr > 0")
    try:
        if args.checkpoint:
            if args.checkpoint_dir or args.dataset:
                return _err("give either --checkpoint or --checkpoint-dir/--dataset, not both")
            ckpt = Path(args.checkpoint)
        else:
            ckpt = find_dynamic(args.checkpoint_dir or default_checkpoint_dir(), args.dataset)
        report = personalize(ckpt, list(zip(args.audio, args.ratings, strict=True)), args.out, steps=args.steps,
                             lr=args.lr, device=args.device)
    except (RatingsError, CheckpointError, ValueError) as e:
        return _err(f"{e} (nothing written)")
    print(f"personalised from {', '.join(report['songs'])}: {report['n_rated_steps']} rated steps in "
          f"{report['n_windows']} window(s), {report['steps']} steps at lr {report['lr']:g}; support loss "
          f"{report['support_loss_before']:.3f} -> {report['support_loss_after']:.3f} -> {args.out}", file=sys.stderr)
    print(f"next: damer-lite predict --dynamic --checkpoint {args.out} SONG", file=sys.stderr)
    return 0
