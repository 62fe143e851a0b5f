"""The `damer-lite` command line: synth | validate | features | train | predict | grid | experiments (one module
per subcommand)."""

from __future__ import annotations

import argparse
import sys

from damer_lite import __version__
from damer_lite.cli import experiments, features, grid, predict, synth, train, validate


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="damer-lite", description=__doc__)
    parser.add_argument("--version", action="version", version=f"damer-lite {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in (synth, validate, features, train, predict, grid, experiments):  # the order of a first session
        command.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
