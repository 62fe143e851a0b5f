"""`damer-lite validate`: counts, problems by kind, exit codes."""

from __future__ import annotations

import argparse
import shutil

import pytest

from damer_lite.cli import validate
from damer_lite.datasets import synth
from tests.conftest import TINY
from tests.fixtures_real import make_deam, make_emomusic, make_pmemo


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="damer-lite")
    validate.add_parser(parser.add_subparsers(dest="command", required=True))
    return parser


def _run(*argv: str) -> int:
    args = _parser().parse_args(["validate", *argv])
    return args.func(args)


def _count(out: str, key: str) -> str:
    line = next(ln for ln in out.splitlines() if ln.strip().startswith(key))
    return line.strip()[len(key) :].strip()


def test_pmemo_counts_and_problems(tmp_path, capsys):
    pm = make_pmemo(tmp_path, corrupt="2")
    code = _run("--dataset", "pmemo", "--root", str(pm["root"]), "--min-duration", "2.5")
    out = capsys.readouterr().out
    assert code == 0
    assert _count(out, "tracks in metadata") == "6"
    assert _count(out, "labelled") == "5"
    assert _count(out, "audio present") == "4"
    assert _count(out, "decodable") == "1 of 2 checked"  # 1 decodes, 2 is garbage; 3 is too short
    assert _count(out, "too short") == "1"
    assert _count(out, "usable") == "1"
    for kind, ids in {"unlabelled": "6", "missing_audio": "4", "nan_valence": "5", "too_short": "3"}.items():
        assert f"{kind}: 1 (e.g. {ids})" in out
    assert "undecodable: 1 (e.g. 2)" in out


def test_namespace_call_for_emomusic_and_deam(tmp_path, capsys):
    em = make_emomusic(tmp_path / "em", layout="annotations")
    ns = argparse.Namespace(
        dataset="1000songs", root=str(em["root"]), min_duration=1.0, examples=3, no_decode=False
    )
    assert validate.run(ns) == 0
    out = capsys.readouterr().out
    assert _count(out, "usable") == str(len(em["usable"]))
    assert "unlabelled: 1 (e.g. 7)" in out and "missing_audio: 1 (e.g. 6)" in out
    dm = make_deam(tmp_path / "deam")
    ns = argparse.Namespace(
        dataset="deam", root=str(dm["root"]), min_duration=1.0, examples=3, no_decode=True
    )
    assert validate.run(ns) == 0
    out = capsys.readouterr().out
    assert _count(out, "decodable") == "not checked"
    assert _count(out, "usable") == str(len(dm["usable"]))


def test_default_minimum_leaves_nothing_usable(tmp_path, capsys):
    em = make_emomusic(tmp_path)  # test clips are a few seconds; the emoMusic minimum is 30 s
    assert _run("--dataset", "emomusic", "--root", str(em["root"])) == 1
    captured = capsys.readouterr()
    assert _count(captured.out, "usable") == "0"
    assert "too_short: 4" in captured.out
    assert "nothing usable" in captured.err


def test_empty_audio_folder_leaves_nothing_usable(tmp_path, capsys):
    pm = make_pmemo(tmp_path)
    shutil.rmtree(pm["root"] / "chorus")
    (pm["root"] / "chorus").mkdir()
    assert _run("--dataset", "pmemo", "--root", str(pm["root"]), "--min-duration", "1") == 1
    assert "missing_audio: 5" in capsys.readouterr().out


@pytest.mark.parametrize("what", ["missing_file", "renamed_column", "unknown_dataset", "no_root"])
def test_layout_errors_exit_2_without_traceback(tmp_path, capsys, what):
    dm = make_deam(tmp_path)
    song_level = dm["root"] / "DEAM_Annotations/annotations/annotations averaged per song/song_level"
    name, root, expect = "deam", dm["root"], ""
    if what == "missing_file":
        (song_level / "static_annotations_averaged_songs_1_2000.csv").unlink()
        expect = "static_annotations_averaged_songs_1_2000.csv"
    elif what == "renamed_column":
        path = song_level / "static_annotations_averaged_songs_1_2000.csv"
        path.write_text(path.read_text().replace("valence_mean", "val_mean"))
        expect = "expected column 'valence_mean'"
    elif what == "unknown_dataset":
        name, expect = "emotify", "unknown dataset 'emotify'"
    else:
        root, expect = tmp_path / "nowhere", "is not a folder"
    assert _run("--dataset", name, "--root", str(root)) == 2
    captured = capsys.readouterr()
    assert expect in captured.err
    assert "Traceback" not in captured.err + captured.out


def test_synthmemo_through_load_manifest(tmp_path, capsys):
    root = tmp_path / "synth"
    synth.generate(root, progress=False, **TINY)
    assert _run("--dataset", "synthmemo", "--root", str(root)) == 0
    out = capsys.readouterr().out
    assert _count(out, "tracks in metadata") == str(TINY["n_tracks"])
    assert _count(out, "usable") == str(TINY["n_tracks"])
    assert _count(out, "decodable") == f"{TINY['n_tracks']} of {TINY['n_tracks']} checked"
