"""workflow/scripts/papermill.sh: papermill started again when the kernel dies while starting (two kernels drew the
same free TCP port), and only then; a stand-in `papermill` on PATH plays the failures."""

import os
import subprocess
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
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}"}
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
