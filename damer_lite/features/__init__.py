"""Acoustic views of §III-C: log-Mel spectrogram (128 bands) and gammatone cochleagram (84 channels),
pooled to T tokens, plus handcrafted descriptors for the SVM baseline and a resumable feature store."""

from . import cochleagram  # the module; its entry point is cochleagram.cochleagram(x, sr, cfg)
from .audio import AudioError, AudioInfo, load_audio
from .config import FeatureConfig, feature_profile
from .handcrafted import handcrafted_features, handcrafted_names
from .mel import log_mel
from .store import extract, load
from .tokens import Standardizer, pool_time

__all__ = [
    "AudioError",
    "AudioInfo",
    "FeatureConfig",
    "Standardizer",
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
