import librosa
import numpy as np
import pytest
import torch

from damer_lite.features.config import FeatureConfig
from damer_lite.features.mel import log_mel, mel_power, preemphasis


def _signal(sr, seconds, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(sr * seconds)) / sr
    tone = sum(0.2 / k * np.sin(2 * np.pi * 220 * k * t) for k in range(1, 6))
    return (tone + 0.05 * rng.standard_normal(t.size)).astype(np.float32)


@pytest.mark.parametrize("sr,n", [(22050, 1024), (16000, 512)])
def test_log_mel_matches_librosa(sr, n):
    cfg = FeatureConfig(sr=sr, frame_length=n)
    x = _signal(sr, 3.0)
    ours = log_mel(x, cfg, device="cpu").numpy()  # (128, T)
    xp = np.concatenate([x[:1], x[1:] - 0.97 * x[:-1]]).astype(np.float32)
    ref = librosa.feature.melspectrogram(
        y=np.pad(xp, (n // 2, n // 2)), sr=sr, n_fft=2 * n, hop_length=n // 2, win_length=n,
        window="hamming", center=False, power=2.0, n_mels=128,
    )
    ref = np.log(np.maximum(ref, 1e-10))
    assert ours.shape == ref.shape == (128, 1 + (x.size - n) // (n // 2))
    assert np.abs(ours[:, 1:-1] - ref[:, 1:-1]).max() <= 1e-3


@pytest.mark.parametrize("n_fft", [None, 3000])
def test_numpy_and_torch_backends_agree(n_fft):
    """The CPU (numpy, banded Mel product) and torch (GPU) implementations give the same numbers."""
    cfg = FeatureConfig(sr=22050, frame_length=1024, n_fft=n_fft, mel_fmin=30.0, mel_fmax=9000.0)
    x = np.stack([_signal(22050, 2.0, s) for s in range(2)])
    a = log_mel(x, cfg, device="cpu", backend="numpy")
    b = log_mel(x, cfg, device="cpu", backend="torch")
    assert a.shape == b.shape and a.dtype == b.dtype == torch.float32 and a.is_contiguous()
    assert torch.allclose(a, b, atol=1e-3)
    p64 = mel_power(x, cfg, device="cpu", dtype=torch.float64, backend="numpy")
    assert p64.dtype == torch.float64
    assert torch.allclose(p64, mel_power(x, cfg, device="cpu", dtype=torch.float64, backend="torch"), rtol=1e-9)
    with pytest.raises(ValueError, match="backend"):
        log_mel(x, cfg, device="cpu", backend="bogus")


def test_threads_do_not_change_results():
    cfg = FeatureConfig(sr=16000, frame_length=256)
    x = _signal(16000, 5.0)  # 624 frames: several chunks
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = log_mel(x, cfg, device="cpu")
        torch.set_num_threads(2)
        two = log_mel(x, cfg, device="cpu")
    finally:
        torch.set_num_threads(old)
    assert torch.equal(one, two)


def test_shapes_batch_and_dtype():
    cfg = FeatureConfig(sr=16000, frame_length=512)
    x = np.stack([_signal(16000, 1.0, s) for s in range(3)])  # (3, n)
    out = log_mel(x, cfg, device="cpu")
    assert out.shape == (3, 128, 1 + (16000 - 512) // 256) and out.dtype == torch.float32
    single = log_mel(x[1], cfg, device="cpu")
    assert torch.allclose(out[1], single, atol=1e-4)
    assert torch.isfinite(out).all()


def test_silence_hits_floor_and_short_signal_has_no_frames():
    cfg = FeatureConfig(sr=16000, frame_length=512)
    out = log_mel(np.zeros(4000, np.float32), cfg, device="cpu")
    assert torch.allclose(out, torch.full_like(out, float(np.log(1e-10))))
    assert mel_power(np.zeros((2, 100), np.float32), cfg, device="cpu").shape == (2, 128, 0)


def test_preemphasis():
    x = torch.tensor([[1.0, 2.0, 3.0]])
    assert torch.allclose(preemphasis(x, 0.97), torch.tensor([[1.0, 2 - 0.97, 3 - 1.94]]))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu():
    cfg = FeatureConfig(sr=16000, frame_length=512)
    x = _signal(16000, 2.0)
    assert torch.allclose(log_mel(x, cfg, device="cuda").cpu(), log_mel(x, cfg, device="cpu"), atol=1e-3)
