"""The command line explains itself: the workflow order at the top, examples and stated defaults in every
subcommand's help, and no subcommand listed that does not exist."""

from __future__ import annotations

import argparse

import pytest

from damer_lite.cli import build_parser

COMMANDS = ["synth", "validate", "features", "train", "predict", "personalize", "grid", "experiments", "dynamic",
            "personal"]


def _sub(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices


def test_top_level_help_gives_the_workflow_order():
    parser = build_parser()
    assert list(_sub(parser)) == COMMANDS
    text = parser.format_help()
    order = [text.index(f"damer-lite {c} ") for c in ("synth", "features", "train", "predict")]
    assert order == sorted(order), text
    assert "make results" in text and "bench" not in text


@pytest.mark.parametrize("name", COMMANDS)
def test_every_subcommand_has_examples_and_states_its_defaults(name):
    parser = _sub(build_parser())[name]
    text = parser.format_help()
    assert "examples:" in text and f"damer-lite {name} " in text.split("examples:", 1)[1], text
    for action in parser._actions:
        if not action.option_strings or action.help == argparse.SUPPRESS or action.nargs == 0:
            continue
        assert action.help, f"{name} {action.option_strings}: no help"
        if action.default not in (None, []) and not action.required:
            assert "default" in parser._get_formatter()._get_help_string(action).lower(), (name, action.dest)
