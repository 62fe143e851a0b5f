"""Acoustic views of §III-C: log-Mel spectrogram (128 bands) and gammatone cochleagram (84 channels),
pooled to T tokens, plus handcrafted descriptors for the SVM baseline and a resumable feature store."""

from damer_lite.features import cochleagram  # the module; its entry point is cochleagram.cochleagram(x, sr, cfg)
from damer_lite.features.audio import AudioError, AudioInfo, load_audio
from damer_lite.features.config import FeatureConfig, feature_profile
from damer_lite.features.handcrafted import handcrafted_features, handcrafted_names
from damer_lite.features.jit_cache import configure as _configure_numba_cache
from damer_lite.features.mel import log_mel
from damer_lite.features.store import extract, load
from damer_lite.features.tokens import pool_time

# No module above imports librosa at import time, so numba is not loaded yet: point its cache at damer-lite's
# folder now (see jit_cache for the cache race this and its lock prevent).
_configure_numba_cache()

__all__ = [
    "AudioError",
    "AudioInfo",
    "FeatureConfig",
    "cochleagram",
    "extract",
    "feature_profile",
    "handcrafted_features",
    "handcrafted_names",
    "load",
    "load_audio",
    "log_mel",
    "pool_time",
]
