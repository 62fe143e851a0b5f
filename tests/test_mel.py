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
