"""workflow/scripts/papermill.sh: kernels on unix-domain sockets (no TCP port to race for), several started at
once; papermill started again when the kernel still dies while starting, and only then (a stand-in `papermill`,
given as PAPERMILL_CMD, plays the failures)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "workflow" / "scripts" / "papermill.sh"
RACE = ("zmq.error.ZMQError: Address already in use (addr='tcp://127.0.0.1:51403')\n"
        "RuntimeError: Kernel died before replying to kernel_info")


def _fake_papermill(tmp_path: Path, failures: int, message: str) -> Path:
    """A `papermill` that fails `failures` times with `message` on stderr, then succeeds; each call is logged."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    calls = tmp_path / "calls"
    exe = bindir / "papermill"
    exe.write_text(f"""#!/usr/bin/env bash
echo "$@" >> {calls}
n=$(wc -l < {calls})
if [ "$n" -le {failures} ]; then printf '%s\\n' "{message}" >&2; exit 1; fi
echo "executed $1 -> $2"
""")
    exe.chmod(0o755)
    return bindir


def _run(tmp_path, failures, message=RACE):
    bindir = _fake_papermill(tmp_path, failures, message)
    env = {**os.environ, "PAPERMILL_CMD": str(bindir / "papermill")}
    res = subprocess.run(["bash", str(SCRIPT), "in.ipynb", "out.ipynb", "-p", "seed", "0"], env=env,
                         capture_output=True, text=True, timeout=60)
    calls = (tmp_path / "calls").read_text().splitlines() if (tmp_path / "calls").exists() else []
    return res, calls


def test_a_kernel_start_race_is_retried_with_the_same_arguments(tmp_path):
    res, calls = _run(tmp_path, failures=1)
    assert res.returncode == 0, res.stderr
    assert calls == ["in.ipynb out.ipynb -p seed 0"] * 2
    assert "Address already in use" in res.stderr and "try 1 of 3" in res.stderr
    assert "executed in.ipynb -> out.ipynb" in res.stdout


def test_three_races_in_a_row_fail(tmp_path):
    res, calls = _run(tmp_path, failures=3)
    assert res.returncode == 1 and len(calls) == 3


@pytest.mark.parametrize("message", ["PapermillExecutionError: An error occurred while executing cell 5",
                                     "FileNotFoundError: No such file or directory: 'in.ipynb'"])
def test_other_failures_are_returned_at_once(tmp_path, message):
    res, calls = _run(tmp_path, failures=1, message=message)
    assert res.returncode == 1 and len(calls) == 1
    assert message.split(":")[0] in res.stderr and "starting it again" not in res.stderr


def test_kernels_started_at_once_run_on_sockets_and_leave_nothing(tmp_path):
    """Four real notebooks through papermill.sh at the same moment: each kernel reports the ipc transport and a
    socket name of its own, all succeed, and no runtime directory or socket file is left behind."""
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {"kernelspec": {"name": "python3", "language": "python",
                                                                         "display_name": "Python 3"}},
          "cells": [{"cell_type": "code", "id": "c1", "metadata": {}, "execution_count": None, "outputs": [],
                     "source": "from ipykernel import get_connection_info\n"
                               "info = get_connection_info(unpack=True)\n"
                               "print(info['transport'], info['ip'])"}]}
    (tmp_path / "in.ipynb").write_text(json.dumps(nb))
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    bindir = Path(sys.executable).parent
    env = {**os.environ, "TMPDIR": str(tmpdir), "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}"}
    env.pop("PAPERMILL_CMD", None)
    procs = [subprocess.Popen(["bash", str(SCRIPT), "in.ipynb", f"out{i}.ipynb", "--no-progress-bar"], cwd=tmp_path,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(4)]
    outs = [p.communicate(timeout=240) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [o[1][-2000:] for o in outs]
    printed = []
    for i in range(4):
        cell = json.loads((tmp_path / f"out{i}.ipynb").read_text())["cells"][0]
        printed.append("".join("".join(o.get("text", "")) for o in cell["outputs"]).split())
    assert {p[0] for p in printed} == {"ipc"}, printed
    assert len({p[1] for p in printed}) == 4, printed           # four different socket names
    assert list(tmpdir.iterdir()) == [], list(tmpdir.iterdir())  # runtime dirs and sockets removed
    assert not list(tmp_path.glob("kernel-ipc*"))                # nothing in the working directory


def test_the_wrapper_refuses_another_engine():
    from damer_lite.report import papermill_ipc

    with pytest.raises(SystemExit, match="--engine is set by this wrapper"):
        papermill_ipc.main(["in.ipynb", "out.ipynb", "--engine", "other"])
