"""Clean shutdown of `damer-lite features --workers 2` under real signals: SIGTERM and Ctrl-C (SIGINT) stop
the workers, leave no orphan process and no temporary file, and the same command resumes to a complete
store; SIGKILL of the parent (no clean-up possible) still ends the workers. And SIGTERM of `synth --workers 2`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from damer_lite.datasets import synth
from damer_lite.features import store

N_TRACKS = 24


@pytest.fixture(scope="module")
def songs(tmp_path_factory):
    out = tmp_path_factory.mktemp("songs")
    synth.generate(out, n_tracks=N_TRACKS, duration=6.0, sr=16000, seed=21, progress=False)
    return out


def _children(pid: int) -> list[int]:
    """Live (non-zombie) child processes of `pid`, from /proc."""
    out = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(pid) and not fields.get("State", "").startswith("Z"):
            out.append(int(status.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text().split("State:\t", 1)[1][:1]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _start(root: Path, out: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "damer_lite", "features", "--dataset", "synthmemo", "--root", str(root),
           "--out", str(out), "--profile", "quick", "--workers", "2", "--no-progress"]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_tracks(proc, out: Path, n: int = 2, timeout: float = 240) -> tuple[list[int], Path]:
    """Wait until the job has `n` finished track files; return its worker pids and the store's track folder."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tracks = list(out.glob("*/tracks/*.npz"))
        if len(tracks) >= n:
            return _children(proc.pid), tracks[0].parent
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    raise AssertionError("no track finished in time")


pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_the_workers_and_the_store_resumes(songs, tmp_path, sig):
    out = tmp_path / "features"
    proc = _start(songs, out)
    workers, tracks = _wait_for_tracks(proc, out)
    assert len(workers) >= 2, workers  # two workers (+ multiprocessing's resource tracker)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, err
    assert "run the same command to resume" in err
    time.sleep(0.5)
    assert not [p for p in workers if _alive(p)], "orphaned workers"
    assert not list(tracks.glob("*.tmp-*")), "temporary files left"
    n_done = len(list(tracks.glob("*.npz")))
    # the same command resumes: only the missing tracks are computed
    again = _start(songs, out)
    stdout, err = again.communicate(timeout=600)
    assert again.returncode == 0, err
    res = store.load(out)
    assert len(res["index"]) + len(res["failures"]) == N_TRACKS
    assert f"{N_TRACKS - n_done} computed now" in stdout


def test_sigkill_of_the_parent_ends_the_workers(songs, tmp_path):
    out = tmp_path / "features"
    proc = _start(songs, out)
    workers, _ = _wait_for_tracks(proc, out)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and [p for p in workers if _alive(p)]:
        time.sleep(0.2)
    assert not [p for p in workers if _alive(p)], "workers outlived a killed parent"


def test_sigterm_stops_the_synth_workers(tmp_path):
    """`damer-lite synth --workers 2`: SIGTERM ends both rendering workers and leaves no half-written audio."""
    out = tmp_path / "synth"
    cmd = [sys.executable, "-m", "damer_lite", "synth", "--out", str(out), "--n-tracks", "400", "--duration", "6",
           "--sr", "16000", "--workers", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(out.glob("MusicRawData/*.flac"))) < 4:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    workers = _children(proc.pid)
    assert len(workers) >= 2, workers
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    time.sleep(0.5)
    assert not [p for p in workers if _alive(p)], "orphaned workers"
    assert not list(out.glob("MusicRawData/*.tmp")), "half-written audio left"
    assert not (out / "synth_truth" / "params.json").exists()  # an interrupted set is never marked complete
