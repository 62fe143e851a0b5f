"""The performance paths give the reference numbers: multirate cochleagram, batched torch feature path
(the GPU code, run here on CPU), fast handcrafted descriptors, batched store extraction, and the
training epoch."""


import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from damer_lite.features import cochleagram as coch_mod
from damer_lite.features import store
from damer_lite.features.cochleagram import _block_sum_weights, block_energies, cochleagram, exact_rms
from damer_lite.features.config import FeatureConfig, feature_profile
from damer_lite.features.handcrafted import handcrafted_features, handcrafted_names
from damer_lite.features.mel import log_mel

SR = 16000
CFG = FeatureConfig(sr=SR, frame_length=512, coch_fmin=50.0)


def _music(sr, seconds, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(sr * seconds)) / sr
    x = np.zeros_like(t)
    for start in np.arange(0, seconds, 0.25):
        f0 = 55 * 2 ** (rng.integers(0, 36) / 12)
        m = (t >= start) & (t < start + 0.4)
        tt = t[m] - start
        x[m] += sum(0.3 / k * np.sin(2 * np.pi * f0 * k * tt) for k in range(1, 6)) * np.exp(-4 * tt)
    return (x + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def _pre(x):
    return np.concatenate([x[:1], x[1:] - 0.97 * x[:-1]])


def test_block_sum_weights_are_exact_for_band_limited_signals():
    s, d, tail, hop, nb = 960, 4, 64, 100, 8
    w = _block_sum_weights(s, d, tail, hop, nb)
    rng = np.random.default_rng(0)
    spec = np.zeros(s // 2 + 1, complex)
    k = (s // d - 2) // 4  # y band-limited to k bins -> y^2 to 2k < S / (2D)
    spec[1 : k + 1] = rng.standard_normal(k) + 1j * rng.standard_normal(k)
    y = np.fft.irfft(spec, s)
    z = y * y
    ref = np.array([z[tail + j * hop : tail + (j + 1) * hop].sum() for j in range(nb)])
    assert np.allclose(z[::d] @ w, ref, rtol=1e-12, atol=1e-15)


def test_multirate_matches_full_rate_and_guard_triggers():
    cfg = FeatureConfig(sr=22050, frame_length=1024, coch_fmin=50.0)
    x = _pre(_music(22050, 3.0))[None].astype(np.float32)
    nb = cfg.n_frames(x.shape[1]) + 1
    plan = coch_mod._channel_plan(cfg.sr, cfg.n_coch, 50.0, cfg.coch_fmax_hz, cfg.hop_length, nb * cfg.hop_length)
    stats: dict = {}
    a = coch_mod._block_energies_numpy(x, cfg, nb, plan, multirate=True, stats=stats)
    b = coch_mod._block_energies_numpy(x, cfg, nb, plan, multirate=False)
    assert stats["decimated"] > 0
    d = np.abs(np.log10(np.maximum(a, 1e-10 * 512)) - np.log10(np.maximum(b, 1e-10 * 512)))
    assert d.max() <= 2e-4
    # a strong high tone makes the low channels' dropped bins matter: the guard recomputes those segments
    t = np.arange(x.shape[1]) / cfg.sr
    loud = (x + 0.5 * np.sin(2 * np.pi * 3000 * t)).astype(np.float32)
    old = coch_mod.MULTIRATE_DELTA
    try:
        coch_mod.MULTIRATE_DELTA = 1e-2  # a deliberately coarse cut, so the guard must step in
        stats = {}
        a = coch_mod._block_energies_numpy(loud, cfg, nb, plan, multirate=True, stats=stats)
    finally:
        coch_mod.MULTIRATE_DELTA = old
    b = coch_mod._block_energies_numpy(loud, cfg, nb, plan, multirate=False)
    assert stats["guard_fallback"] > 0
    d = np.abs(np.log10(np.maximum(a, 1e-10 * 512)) - np.log10(np.maximum(b, 1e-10 * 512)))
    assert d.max() <= 5e-4  # the guard's bound: relative energy error <= 2 sqrt(tol) + tol


def test_torch_backend_batches_on_cpu():
    """The GPU code path (backend='torch') on a (B, n) batch equals the numpy path track by track."""
    xs = np.stack([_music(SR, 1.5, s) for s in range(3)])  # (3, n)
    mel_t = log_mel(xs, CFG, device="cpu", backend="torch")
    coch_t = cochleagram(xs, SR, CFG, device="cpu", backend="torch")
    assert mel_t.shape[0] == coch_t.shape[0] == 3
    for i in range(3):
        assert torch.allclose(mel_t[i], log_mel(xs[i], CFG, device="cpu"), atol=1e-3)
        assert torch.allclose(coch_t[i], cochleagram(xs[i], SR, CFG, device="cpu"), atol=1e-4)
    r32 = exact_rms(_pre(xs.astype(np.float64)), CFG, device="cpu", backend="torch", dtype=torch.float32)
    r64 = exact_rms(_pre(xs.astype(np.float64)), CFG, device="cpu", backend="torch")
    assert r32.dtype == torch.float64 and torch.allclose(r32, r64, rtol=1e-3, atol=1e-7)
    with pytest.raises(ValueError, match="numpy backend"):
        exact_rms(xs, CFG, device="meta", backend="numpy")


def test_block_energies_torch_accepts_batches():
    x = torch.from_numpy(np.stack([_pre(_music(SR, 1.0, s)) for s in range(2)]))
    nb = CFG.n_frames(x.shape[1]) + 1
    e = block_energies(x, CFG, nb)
    assert e.shape == (2, 84, nb) and torch.isfinite(e).all()


@pytest.mark.parametrize("sr", [16000, 22050])
def test_fast_handcrafted_matches_librosa(sr):
    x = _music(sr, 3.0, 1)
    fast = handcrafted_features(x, sr)
    ref = handcrafted_features(x, sr, method="librosa")
    assert fast.shape == ref.shape == (len(handcrafted_names()),)
    names = handcrafted_names()
    tempo = names.index("tempo")
    assert fast[tempo] == pytest.approx(ref[tempo], rel=1e-6)
    assert np.allclose(fast, ref, rtol=2e-3, atol=2e-3), [
        (n, a, b) for n, a, b in zip(names, fast, ref, strict=True) if not np.isclose(a, b, rtol=2e-3, atol=2e-3)]


def test_batched_store_equals_per_track(tmp_path):
    cfg = feature_profile("smoke", min_duration_s=1.0, n_tokens=8, handcrafted=False)
    rows = []
    for i, secs in enumerate([2.0, 2.0, 2.5]):  # two of equal length share a batch
        p = tmp_path / f"t{i}.flac"
        sf.write(p, _music(SR, secs, i), SR)
        rows.append({"track_id": f"t{i}", "audio_path": str(p)})
    rows.append({"track_id": "bad", "audio_path": str(tmp_path / "missing.wav")})
    man = pd.DataFrame(rows)
    one = store.extract(man, tmp_path / "a", cfg, progress=False, dataset="x")
    bat = store.extract(man, tmp_path / "b", cfg, progress=False, dataset="x", batch_size=4, backend="torch")
    assert (one.n_ok, one.n_failed) == (bat.n_ok, bat.n_failed) == (3, 1)
    ra, rb = store.load(tmp_path / "a"), store.load(tmp_path / "b")
    assert np.allclose(np.asarray(ra["mel"]), np.asarray(rb["mel"]), atol=1e-3)
    assert np.allclose(np.asarray(ra["coch"]), np.asarray(rb["coch"]), atol=1e-4)
    timings: dict = {}
    store.compute_track(rows[0]["audio_path"], cfg, timings=timings)
    assert {"decode", "mel", "coch", "pool"} <= set(timings)
