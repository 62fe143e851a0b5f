"""`damer-lite synth`: generate SynthMemo, the project's synthetic miniature of Memo2496, in its layout.

    damer-lite synth --out data/synthmemo_quick --size quick
"""

from __future__ import annotations

import sys


def add_parser(sub) -> None:
    p = sub.add_parser("synth", help="generate SynthMemo, a synthetic miniature of Memo2496, in its layout")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--size", choices=["smoke", "quick"], default=None,
                   help="a named size that sets --n-tracks, --duration, --sr unless given (default: smoke = 48 "
                        "tracks of ~6 s at 16 kHz; quick = 810 tracks of ~20 s at 22.05 kHz, as `make results`)")
    p.add_argument("--n-tracks", type=int, default=None, help="number of tracks (default: the size's)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default 2496)")
    p.add_argument("--duration", type=float, default=None,
                   help="mean track duration in seconds, ±15%% (default: the size's)")
    p.add_argument("--sr", type=int, default=None, help="sample rate in Hz (default: the size's)")
    p.add_argument("--format", choices=["flac", "wav"], default="flac", help="audio format")
    p.add_argument("--workers", type=int, default=1,
                   help="processes rendering the audio (default 1); the files are byte-identical for any number")
    p.add_argument("--if-absent", action="store_true",
                   help="do nothing when OUT already holds a complete SynthMemo made with the same arguments")
    p.set_defaults(func=run)


def run(args) -> int:
    from damer_lite.datasets import synth

    size = synth.SIZES[args.size or "smoke"]
    params = {
        "n_tracks": args.n_tracks if args.n_tracks is not None else size["n_tracks"],
        "seed": args.seed if args.seed is not None else synth.DEFAULT_SEED,
        "duration": args.duration if args.duration is not None else size["duration"],
        "sr": args.sr if args.sr is not None else size["sr"],
        "fmt": args.format,
    }
    if args.if_absent:
        old = synth.existing_params(args.out)
        want = {k if k != "fmt" else "format": v for k, v in params.items()}
        if old is not None and all(old.get(k) == v for k, v in want.items()):
            print(f"SynthMemo already present in {args.out} with the same parameters; nothing to do")
            return 0
    try:
        if args.workers < 1:
            raise ValueError(f"--workers must be >= 1, got {args.workers}")
        s = synth.generate(args.out, **params, workers=args.workers)
    except ValueError as e:
        print(f"damer-lite synth: {e}", file=sys.stderr)
        return 2
    print(
        f"SynthMemo: {s['n_tracks']} tracks, {s['audio_seconds'] / 60:.1f} min of audio in {s['elapsed_s']:.1f} s "
        f"({s['x_realtime']:.0f}x real time overall with {s['workers']} rendering process(es), rendering "
        f"{s['render_x_realtime']:.0f}x real time per process); "
        f"annotators: {s['annotators_passed_first_round']} passed calibration first time, "
        f"{s['annotators_retrained']} retrained; written to {s['out']}"
    )
    return 0
