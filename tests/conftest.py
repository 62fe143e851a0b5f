"""Shared fixtures: small SynthMemo datasets generated once per test session."""

from __future__ import annotations

import pytest

from damer_lite.datasets import synth

TINY = {"n_tracks": 12, "duration": 4.0, "sr": 8000, "seed": 7}


@pytest.fixture(scope="session")
def smoke_synth(tmp_path_factory):
    """The `smoke` SynthMemo (48 tracks of ~6 s)."""
    out = tmp_path_factory.mktemp("synth_smoke")
    synth.generate(out, seed=synth.DEFAULT_SEED, progress=False, **synth.SIZES["smoke"])
    return out


@pytest.fixture(scope="session")
def quick_synth(tmp_path_factory):
    """The `quick` SynthMemo (810 tracks of ~20 s), as used by `make results`."""
    out = tmp_path_factory.mktemp("synth_quick")
    synth.generate(out, seed=synth.DEFAULT_SEED, progress=False, **synth.SIZES["quick"])
    return out
