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
    assert np.percentile(d, 99) <= 1e-3  # the contract
    assert d.max() <= 1e-4  # in practice float32 round-off (~1e-6)


def _music_like(sr, seconds, seed=0):
    """Loud low notes (bass + harmonics, decays) over a quiet high band (hi-hat-like noise bursts ~60 dB
    down) and a pink-ish noise bed: the dynamic range stresses log-domain errors of quiet channels."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    x = np.zeros(n)
    for start in np.arange(0, seconds, 0.25):
        f0 = 41.2 * 2 ** (rng.integers(0, 24) / 12)
        i0, i1 = int(start * sr), min(n, int((start + 0.5) * sr))
        tt = t[i0:i1] - start
        env = np.exp(-tt * rng.uniform(2, 8))
        for k in range(1, 7):
            x[i0:i1] += env * 0.4 / k**1.5 * np.sin(2 * np.pi * f0 * k * tt + 0.2 * np.sin(2 * np.pi * 5 * tt))
    hiss = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / sr)
    hiss[freqs < 6000] = 0
    hiss = np.fft.irfft(hiss, n)
    gate = (np.sin(2 * np.pi * 8 * t) > 0.7).astype(float)
    x += 3e-4 * hiss / hiss.std() * gate
    bed = np.fft.rfft(rng.standard_normal(n)) / np.sqrt(np.maximum(np.arange(n // 2 + 1), 1))
    x += 1e-4 * np.fft.irfft(bed, n) / np.fft.irfft(bed, n).std()
    return 0.5 * x / np.abs(x).max()


def test_exact_matches_gtgram_on_music_like_44k():
    """Realistic setting: 44.1 kHz, N = 2048, channels from 50 Hz, loud bass and quiet treble."""
    cfg = FeatureConfig(sr=44100, frame_length=2048, coch_fmin=50.0)
    x = _pre(_music_like(44100, 1.5))
    n = cfg.frame_length
    ref = gtgram(x, 44100, n / 44100, (n // 2) / 44100, cfg.n_coch, cfg.coch_fmin)
    ours = exact_rms(x, cfg, device="cpu")[0].numpy()
    assert ours.shape == ref.shape
    d = _dlog(ours, ref)
    assert np.ptp(np.log10(np.maximum(ref, FLOOR))) > 2.5  # > 50 dB of RMS range across channels
    assert np.percentile(d, 99) <= 1e-3
    assert d.max() <= 1e-3


def test_exact_matches_slow_reference():
    x = _pre(_signals(1.0)["harmonic"])
    ours = exact_rms(x, CFG, device="cpu")[0].numpy()
    ref = reference_rms(x, CFG)
    assert np.allclose(ours, ref, rtol=1e-4, atol=1e-9)
    assert _dlog(ours, ref).max() <= 1e-4


def test_centre_frequencies_span_and_order():
    cf = erb_centre_freqs(84, 50.0, SR / 2)
    assert np.all(np.diff(cf) > 0) and cf[0] == pytest.approx(50.0) and cf[-1] < SR / 2


@pytest.mark.parametrize("name", ["noise", "harmonic"])
def test_fft_matches_fft_gtgram_except_buggy_column(name):
    x = _pre(_signals()[name])
    n = CFG.frame_length
    ref = fft_gtgram(x, SR, n / SR, (n // 2) / SR, CFG.n_coch, CFG.coch_fmin)
    ours = fft_rms(x, CFG, device="cpu")[0].numpy()  # float32 numpy path on CPU
    assert ours.shape == ref.shape
    d = _dlog(ours[:, :-1], ref[:, :-1])
    assert np.percentile(d, 99) <= 1e-5 and d.max() <= 1e-4  # float32 FFT round-off in the far tails
    exact = fft_rms(x, CFG, device="cpu", backend="torch")[0].numpy()  # float64 torch path
    assert _dlog(exact[:, :-1], ref[:, :-1]).max() <= 1e-6


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
    assert _dlog(ours, ref_ok).max() <= 1e-4
    ours_t = fft_rms(x, CFG, device="cpu", backend="torch")[0].numpy()
    assert ours_t.shape == ref.shape and _dlog(ours_t, ref_ok).max() <= 1e-6


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


def test_public_fft_cochleagram_cpu_path_matches_the_torch_path():
    """cochleagram(method='fft') on CPU runs in float32 numpy end to end; the float64 torch path (GPUs) agrees."""
    sig = _signals(1.0)
    x = np.stack([sig["noise"], sig["harmonic"]])  # (2, n) float64
    fast = cochleagram(x, SR, CFG, method="fft", device="cpu")
    ref = cochleagram(x, SR, CFG, method="fft", device="cpu", backend="torch")
    assert fast.dtype == ref.dtype == torch.float32 and fast.shape == ref.shape
    assert (fast - ref).abs().max().item() < 1e-5  # log10 units x 0.3: float32 round-off


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
    a = block_energies(x, CFG, n_blocks)  # float32 FFTs
    b = block_energies(torch.from_numpy(x), CFG, n_blocks).numpy()  # float64 FFTs
    assert a.shape == b.shape == (3, 84, n_blocks)
    c = block_energies(torch.from_numpy(x).float(), CFG, n_blocks).numpy()  # float32 torch
    hop = CFG.hop_length
    for e in (a, c):  # compared as block RMS in log10 with the pipeline's floor (float32 round-off)
        d = _dlog(np.sqrt(e / hop), np.sqrt(b / hop))
        assert np.percentile(d, 99) <= 1e-5 and d.max() <= 5e-4


def test_exact_is_independent_of_threads_and_length_plan():
    """Threads split segment chunks; the plan is shared by signals of different lengths."""
    x = _pre(_signals(3.0)["noise"])
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = exact_rms(x, CFG, device="cpu")[0].numpy()
        torch.set_num_threads(2)
        two = exact_rms(x, CFG, device="cpu")[0].numpy()
        assert torch.get_num_threads() == 2  # the one-thread FFT tasks restore the caller's setting
    finally:
        torch.set_num_threads(old)
    assert np.array_equal(one, two)
    short = exact_rms(x[: x.size - 700], CFG, device="cpu")[0].numpy()
    assert np.allclose(short, one[:, : short.shape[1]], rtol=1e-4)
    # ... and so is the multirate plan (decimations, Parseval matrix, block-sum weights): computing it for every
    # new length made extraction of a folder of tracks of different lengths ~1.7x slower
    from damer_lite.features import cochleagram as coch

    coch._multirate_plan_cached.cache_clear()
    exact_rms(x[: x.size - 300], CFG, device="cpu")
    made = coch._multirate_plan_cached.cache_info().misses
    for cut in (2300, 4300):  # other lengths, other numbers of frames
        assert exact_rms(x[: x.size - cut], CFG, device="cpu").shape[-1] < one.shape[-1]
    assert made > 0 and coch._multirate_plan_cached.cache_info().misses == made
