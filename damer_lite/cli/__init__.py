"""damer-lite: the DAMER music-emotion recogniser and the Memo2496 protocol (arXiv 2512.13998), runnable.

The subcommands in the order of a first session: make data (synth) or point at a download (validate), extract
features, train, predict your own music. `grid` and `experiments` are what the pipeline (`make results`) runs."""

from __future__ import annotations

import argparse
import sys

from damer_lite import __version__
from damer_lite.cli import (
    dynamic,
    experiments,
    features,
    grid,
    personal,
    personalize,
    predict,
    synth,
    train,
    validate,
)

WORKFLOW = """\
a first session, in order:
  damer-lite synth --out data/synthmemo_quick --size quick                 1. data (or: validate a download)
  damer-lite validate --dataset synthmemo --root data/synthmemo_quick
  damer-lite features --dataset synthmemo --root data/synthmemo_quick --out data/features --profile quick
                                                                           2. the feature store
  damer-lite train --features data/features/synthmemo-<hash> --target arousal --profile quick --out runs/a
                                                                           3. one model
  damer-lite predict my_music/ --out preds.csv --plot va.png               4. your music (committed checkpoints)

the whole pipeline (every table and figure): make results
`damer-lite COMMAND --help` shows each command's options, defaults and examples."""

EXAMPLES = {
    "synth": """examples:
  damer-lite synth --out data/synthmemo_quick --size quick --workers 2  # make results: 810 tracks of ~20 s, 22.05 kHz
  damer-lite synth --out data/tiny --n-tracks 24 --duration 6 --sr 16000 --seed 1

next: damer-lite validate --dataset synthmemo --root DIR, then damer-lite features""",
    "validate": """examples:
  damer-lite validate --dataset synthmemo --root data/synthmemo_quick
  damer-lite validate --dataset memo2496 --root /data/Memo2496 --examples 10
  damer-lite validate --dataset deam --root /data/DEAM --raters     # also the per-annotator curves

next: damer-lite features --dataset NAME --root DIR --out data/features""",
    "features": """examples:
  damer-lite features --dataset synthmemo --root data/synthmemo_quick --out data/features --profile quick --workers 2
  damer-lite features --dataset memo2496 --root /data/Memo2496 --out data/features      # the paper's settings

Ctrl-C or SIGTERM stops it cleanly; the same command resumes. Every rejected track is listed with its stage
(loader, decode, analysis) and reason in <store>/failures.csv.
next: damer-lite train --features data/features/<dataset>-<hash> --target arousal""",
    "train": """examples:
  damer-lite train --features data/features/synthmemo-<hash> --target arousal --profile quick --out runs/arousal
  damer-lite train --features STORE --target valence --seed 3 --set train.epochs=40 --out runs/v3

next: damer-lite predict (with checkpoints exported by the pipeline) or damer-lite grid for many seeds""",
    "predict": """examples:
  damer-lite predict my_music/ --out preds.csv --plot va.png
  damer-lite predict song.mp3 --window 10 --hop 5 --plot timeline.png
  damer-lite predict a.flac --arousal ckpt_arousal.pt --valence ckpt_valence.pt
  damer-lite predict song.mp3 --dynamic --out curves.csv --plot curves.png     # valence/arousal per step
  damer-lite predict my_music/ --dynamic --dynamic-checkpoint synthmemo_dynamic.pt --max-duration 300

Exit status: 0 when at least one file was predicted, 1 when none could be, 2 for a bad checkpoint or
arguments. See docs/predict.md.""",
    "personalize": """examples:
  damer-lite personalize --audio my_song.mp3 --ratings my_song_ratings.csv --out me.pt
  damer-lite personalize --audio a.flac b.flac --ratings a.csv b.csv --out me.pt --steps 32

The ratings CSV: a header time_s,valence,arousal; values in [-1, 1]. See docs/personalize.md.
next: damer-lite predict --dynamic --checkpoint me.pt SONG""",
    "grid": """examples:
  damer-lite grid --store data/features/synthmemo-<hash> --runs results/runs --target arousal \\
      --configuration pcl dsaf --seeds 0 1 2 3 4 --profile quick
  damer-lite grid --store STORE --runs results/runs_semi --target valence --configuration damer \\
      --protocol semi --hidden-fraction 0.5""",
    "experiments": """examples:
  damer-lite experiments --store data/features/synthmemo-<hash> --dataset synthmemo --results results \\
      --profile quick --seeds 0 1 2
  damer-lite experiments --cross memo2496=STORE_A pmemo=STORE_B --results results --profile quick""",
    "dynamic": """examples:
  damer-lite dynamic --store data/features/synthmemo-<hash> --dataset synthmemo --results results \\
      --profile quick --seeds 0 1 2 3 4
  damer-lite dynamic --store STORE --dataset deam --results out --models dual_scale ridge --set epochs=40

next: damer-lite predict --dynamic (with the dynamic checkpoint the pipeline exports)""",
    "personal": """examples:
  damer-lite personal --store data/features/synthmemo-<hash> --dataset synthmemo --results results \\
      --profile quick --seeds 0 1 2
  damer-lite personal --store STORE --dataset deam --results out --profile paper     # DSAML's recipe""",
}


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions and examples as written; every option's default stated unless its help already says it."""

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        if (
            "default" not in text.lower()
            and default is not None
            and default is not False
            and default is not argparse.SUPPRESS
            and default != []
            and action.option_strings
            and action.nargs != 0
        ):
            text += " (default: %(default)s)"
        return text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="damer-lite", description=__doc__, epilog=WORKFLOW,
                                     formatter_class=HelpFormatter)
    parser.add_argument("--version", action="version", version=f"damer-lite {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # the order of a first session
    modules = (synth, validate, features, train, predict, personalize, grid, experiments, dynamic, personal)
    for command in modules:
        command.add_parser(sub)
    for command in modules:
        name = command.__name__.rsplit(".", 1)[-1]
        p = sub.choices[name]
        p.formatter_class = HelpFormatter
        if not p.description:
            p.description = (command.__doc__ or "").strip()
        p.epilog = EXAMPLES.get(name)
    return parser


class Interrupted(KeyboardInterrupt):
    """SIGTERM (or SIGHUP) received: unwound like Ctrl-C, so that every command stops its workers and keeps
    what it finished."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _raise_interrupted(signum, frame):
    raise Interrupted(signum)


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand. Ctrl-C, SIGTERM and SIGHUP stop it cleanly: workers are ended, finished work is
    kept (resume by running the same command), and the exit code is 128 + the signal number."""
    import signal
    import threading

    args = build_parser().parse_args(argv)
    handlers = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
            if sig is not None:
                handlers[sig] = signal.signal(sig, _raise_interrupted)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt as e:
        signum = e.signum if isinstance(e, Interrupted) else signal.SIGINT
        name = signal.Signals(signum).name
        print(f"damer-lite {args.command}: stopped by {name}; finished work is kept, run the same command to "
              "resume", file=sys.stderr)
        return 128 + int(signum)
    finally:
        for sig, old in handlers.items():
            signal.signal(sig, old)


if __name__ == "__main__":
    sys.exit(main())
