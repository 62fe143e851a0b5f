"""Two feature jobs at once on a fresh numba cache: neither crashes, and the cache they leave works.

Without the lock of `features/jit_cache.py` a job that starts while another is compiling librosa's numba
helpers loads a half-written cache and dies with SIGSEGV (measured at start offsets of 12 s and 16 s), and
every later run on that cache dies too."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from damer_lite.datasets import synth
from damer_lite.features import jit_cache


def _features_job(root: Path, out: Path, env: dict) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "damer_lite", "features", "--dataset", "synthmemo", "--root", str(root),
           "--out", str(out), "--profile", "smoke", "--workers", "1"]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_two_feature_jobs_on_a_fresh_cache(tmp_path):
    root = tmp_path / "synth"
    synth.generate(root, n_tracks=6, duration=4.0, sr=16000, seed=3, progress=False)
    cache = tmp_path / "numba"
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache)}
    first = _features_job(root, tmp_path / "a", env)
    # start the second job while the first is writing the cache: its first index file is on disk
    deadline = time.monotonic() + 300
    while not any(cache.rglob("*.nbi")) and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert first.poll() is None, "the first job ended before it wrote the cache: " + first.communicate()[0]
    second = _features_job(root, tmp_path / "b", env)
    outs = [p.communicate(timeout=600)[0] for p in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], outs
    assert (cache / jit_cache.LOCK_NAME).exists()
    # the cache left behind is whole: a third job reads it and succeeds
    third = _features_job(root, tmp_path / "c", env)
    out = third.communicate(timeout=600)[0]
    assert third.returncode == 0, out
    for name in "abc":
        index = pd.read_csv(next((tmp_path / name).glob("*/index.csv")))
        assert len(index) == 6, (name, index)


def test_the_cache_folder_is_the_users_unless_set(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert jit_cache.default_cache_dir() == tmp_path / "damer-lite" / "numba"
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "mine"))
    assert jit_cache.cache_dir() == tmp_path / "mine"
    with jit_cache.librosa_lock():
        assert (tmp_path / "mine" / jit_cache.LOCK_NAME).exists()
