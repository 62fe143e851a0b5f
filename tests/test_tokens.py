import numpy as np
import pytest
import torch

from damer_lite.features.config import FeatureConfig, feature_profile
from damer_lite.features.tokens import pool_time
from damer_lite.training.data import Standardiser


def test_pool_time_shapes_and_values():
    x = np.arange(2 * 3 * 12, dtype=np.float32).reshape(2, 3, 12)
    out = pool_time(x, 4)
    assert out.shape == (2, 3, 4) and out.dtype == np.float32
    assert np.allclose(out, x.reshape(2, 3, 4, 3).mean(-1))
    assert pool_time(x, None) is x
    t = pool_time(torch.from_numpy(x[0]), 87)
    assert isinstance(t, torch.Tensor) and t.shape == (3, 87)
    with pytest.raises(ValueError):
        pool_time(np.zeros((3, 0)), 4)


def test_standardiser_uses_train_rows_only(tmp_path):
    rng = np.random.default_rng(0)
    mel = rng.normal(size=(10, 5, 7)).astype(np.float32)
    coch = rng.normal(size=(10, 3, 7)).astype(np.float32)
    mel[8:] += 100.0  # "test" rows far away
    st = Standardiser(mel[:8], coch[:8])
    assert np.allclose(st.stats()["mel_mean"], mel[:8].mean(axis=(0, 2)), atol=1e-5)
    assert np.allclose(st.stats()["mel_std"], mel[:8].std(axis=(0, 2)), atol=1e-5)
    zm, zc = st(mel[:8], coch[:8])
    assert zm.dtype == torch.float32 and zm.shape == (8, 5, 7) and zc.shape == (8, 3, 7)
    assert np.allclose(zm.mean(dim=(0, 2)), 0, atol=1e-5)
    assert np.allclose(zm.std(dim=(0, 2), correction=0), 1, atol=1e-4)
    assert float(st(mel[8:], coch[8:])[0].mean()) > 50  # test rows are not standardised to 0
    st.save(tmp_path / "stats.npz")
    back = Standardiser.load(tmp_path / "stats.npz")
    again = Standardiser.from_stats(**st.stats())
    for other in (back, again):
        om, oc = other(mel, coch)
        assert torch.equal(om, st(mel, coch)[0]) and torch.equal(oc, st(mel, coch)[1])


def test_config_hash_and_from_dict():
    a, b = FeatureConfig(), FeatureConfig()
    assert a.hash() == b.hash() and len(a.hash()) == 12
    assert FeatureConfig(n_tokens=32).hash() != a.hash()
    c = FeatureConfig.from_dict({"sr": 22050, "frame_length": 1024.0, "coch_fmin": 40, "n_tokens": None})
    assert c.frame_length == 1024 and isinstance(c.coch_fmin, float) and c.n_tokens is None
    assert c.hop_length == 512 and c.fft_size == 2048
    with pytest.raises(ValueError, match="unknown"):
        FeatureConfig.from_dict({"hop": 3})
    with pytest.raises(ValueError, match="sr"):
        FeatureConfig.from_dict({"sr": "44100"})
    with pytest.raises(ValueError, match="handcrafted"):
        FeatureConfig.from_dict({"handcrafted": 1})
    with pytest.raises(ValueError, match="frame_length"):
        FeatureConfig(frame_length=1023)
    with pytest.raises(ValueError, match="coch_method"):
        FeatureConfig(coch_method="gpu")
    assert feature_profile("smoke").sr == 16000
    with pytest.raises(ValueError):
        feature_profile("huge")
