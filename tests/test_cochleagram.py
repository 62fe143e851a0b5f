import numpy as np
import pytest
import torch
from gammatone.fftweight import fft_gtgram
from gammatone.gtgram import gtgram

from damer_lite.features.cochleagram import (
    cochleagram,
    erb_centre_freqs,
    exact_rms,
    fft_nfft,
    fft_rms,
    reference_rms,
)
from damer_lite.features.config import FeatureConfig

SR = 16000
CFG = FeatureConfig(sr=SR, frame_length=512, coch_fmin=50.0)
FLOOR = 1e-5  # RMS floor of the paper pipeline (log_floor 1e-10 on energy)


def _pre(x):
    return np.concatenate([x[:1], x[1:] - 0.97 * x[:-1]])


def _signals(seconds=2.0):
    n = int(SR * seconds) + 77
    t = np.arange(n) / SR
    rng = np.random.default_rng(1)
    return {
        "noise": 0.1 * rng.standard_normal(n),
        "chirp": 0.3 * np.sin(2 * np.pi * (40 * t + (SR / 2 - 200) / (2 * t[-1]) * t**2)),
        "harmonic": sum(0.3 / k * np.sin(2 * np.pi * 196 * k * t) for k in range(1, 9)),
    }


def _dlog(a, b):
    return np.abs(np.log10(np.maximum(a, FLOOR)) - np.log10(np.maximum(b, FLOOR)))


@pytest.mark.parametrize("name", ["noise", "chirp", "harmonic"])
def test_exact_matches_gtgram(name):
    x = _pre(_signals()[name])
    n = CFG.frame_length
    ref = gtgram(x, SR, n / SR, (n // 2) / SR, CFG.n_coch, CFG.coch_fmin)  # (84, frames), ascending cf
    ours = exact_rms(x, CFG, device="cpu")[0].numpy()
    assert ours.shape == ref.shape
    d = _dlog(ours, ref)
    assert np.percentile(d, 99) <= 1e-3
    assert d.max() <= 1e-6  # in practice round-off


def test_exact_matches_slow_reference():
    x = _pre(_signals(1.0)["harmonic"])
    ours = exact_rms(x, CFG, device="cpu")[0].numpy()
    assert np.allclose(ours, reference_rms(x, CFG), rtol=1e-6, atol=1e-12)


def test_centre_frequencies_span_and_order():
    cf = erb_centre_freqs(84, 50.0, SR / 2)
    assert np.all(np.diff(cf) > 0) and cf[0] == pytest.approx(50.0) and cf[-1] < SR / 2


@pytest.mark.parametrize("name", ["noise", "harmonic"])
def test_fft_matches_fft_gtgram_except_buggy_column(name):
    x = _pre(_signals()[name])
    n = CFG.frame_length
    ref = fft_gtgram(x, SR, n / SR, (n // 2) / SR, CFG.n_coch, CFG.coch_fmin)
    ours = fft_rms(x, CFG, device="cpu")[0].numpy()
    assert ours.shape == ref.shape
    assert _dlog(ours[:, :-1], ref[:, :-1]).max() <= 1e-6


def test_fft_has_no_empty_last_column():
    nfft, hop = fft_nfft(CFG), CFG.hop_length
    x = _pre(np.random.default_rng(2).standard_normal(nfft + 20 * hop) * 0.1)  # (n - nfft) % hop == 0
    n = CFG.frame_length
    ref = fft_gtgram(x, SR, n / SR, hop / SR, CFG.n_coch, CFG.coch_fmin)
    assert np.all(ref[:, -1] == 0)  # the reference's bug: log10 -> -inf
    ours = fft_rms(x, CFG, device="cpu")[0].numpy()
    assert ours.shape == ref.shape and np.all(ours[:, -1] > 0)
    # one more sample does not change the frames but avoids the bug: the last column must match it
    ref_ok = fft_gtgram(np.append(x, 0.0), SR, n / SR, hop / SR, CFG.n_coch, CFG.coch_fmin)
    assert _dlog(ours, ref_ok).max() <= 1e-6


@pytest.mark.parametrize("method", ["exact", "fft"])
def test_cochleagram_shapes_batch_and_values(method):
    sig = _signals(1.0)
    x = np.stack([sig["noise"], sig["harmonic"]]).astype(np.float32)  # (2, n)
    out = cochleagram(x, SR, CFG, method=method, device="cpu")
    assert out.ndim == 3 and out.shape[:2] == (2, 84) and out.dtype == torch.float32
    assert torch.isfinite(out).all()
    single = cochleagram(x[1], SR, CFG, method=method, device="cpu")
    assert single.shape == out.shape[1:] and torch.allclose(single, out[1], atol=1e-5)
    # power law + log10 with the floor: C = 0.3 log10(max(rms, 1e-5))
    rms = (exact_rms if method == "exact" else fft_rms)(_pre(x[1].astype(np.float64)), CFG, device="cpu")[0]
    expect = CFG.coch_power * torch.log10(torch.clamp(rms, min=FLOOR))
    assert torch.allclose(single.double(), expect, atol=1e-5)


def test_cochleagram_rejects_wrong_rate_and_method():
    with pytest.raises(ValueError, match="sample rate"):
        cochleagram(np.zeros(8000), 8000, CFG)
    with pytest.raises(ValueError, match="method"):
        cochleagram(np.zeros(8000), SR, CFG, method="bogus")


def test_torch_path_matches_numpy_path():
    """The batched torch implementation (used on GPUs) gives the numpy (CPU) numbers."""
    from damer_lite.features.cochleagram import block_energies

    x = np.stack([_pre(s) for s in _signals(1.0).values()])  # (3, n)
    n_blocks = CFG.n_frames(x.shape[1]) + 1
    a = block_energies(x, CFG, n_blocks)
    b = block_energies(torch.from_numpy(x), CFG, n_blocks).numpy()
    assert a.shape == b.shape == (3, 84, n_blocks)
    assert np.allclose(a, b, rtol=1e-9, atol=1e-20)
