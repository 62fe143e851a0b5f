"""Feature-extraction settings (§III-C) as one dataclass, with a stable hash that keys the feature store.

The paper fixes: pre-emphasis 0.97, frames of N samples, Hamming window, hop N/2, 2N-point FFT, 128 Mel
filters, natural log (Mel); the same pre-emphasis/framing, 84 gammatone filters, power-law compression and
log10 (cochleagram); a 60 s window from 15 s to 75 s at 44.1 kHz; released arrays of 128x87 and 84x87.
It does not give N, fmin/fmax, the power-law exponent or the log floor: those are choices documented on
the fields below (see also docs/paper_notes.md).

    cfg = FeatureConfig()                       # the paper profile
    cfg = feature_profile("smoke")              # tiny settings for tests
    cfg = FeatureConfig.from_dict({"sr": 22050, "frame_length": 1024})
    cfg.hash()                                  # '3f2a9c1b0d7e' (12 hex digits, stable across runs)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

COCH_METHODS = ("exact", "fft")


@dataclass(frozen=True)
class FeatureConfig:
    """All knobs of the log-Mel / cochleagram / token pipeline.

    sr: target sample rate; every file is resampled to it (paper: 44.1 kHz).
    frame_length: N in samples. Not given in the paper; 2048 at 44.1 kHz (46 ms) is the usual music-analysis
        frame and, with hop N/2 = 1024, gives 2583 frames for the 60 s window (pooled to T tokens below).
        Must be even so that the hop N/2 is an integer.
    n_fft: FFT size; None means 2N as the paper says (§III-C).
    n_mels: number of Mel filters (128, §III-C); Slaney Mel scale and Slaney area normalisation.
    mel_fmin, mel_fmax: Mel filterbank range in Hz (None = sr/2). Not in the paper: librosa's defaults.
    n_coch: number of gammatone channels (84, §III-C).
    coch_fmin, coch_fmax: lowest/highest gammatone centre frequency in Hz (None = sr/2, as the reference
        gammatone toolkit). The paper gives none; 50 Hz covers the lowest musical fundamentals of interest.
    preemphasis: coefficient of x'(n) = x(n) - a x(n-1) (0.97, §III-C).
    log_floor: floor applied to powers before the log: Mel power (natural log) and cochleagram mean-square
        energy (log10). 1e-10 = -100 dB re full scale; not in the paper.
    coch_power: exponent of the power-law compression applied to the framed RMS amplitude of each gammatone
        channel before log10. Not in the paper; 0.3 follows Stevens' power law for loudness.
    coch_method: 'exact' (4th-order gammatone IIR cascade, same numbers as gammatone.gtgram) or 'fft'
        (Ellis's FFT-weight approximation, as gammatone.fft_gtgram without its last-column bug).
    n_tokens: T, number of time tokens after adaptive average pooling (87 = width of the released Memo2496
        arrays); None keeps every frame.
    window_start_s, window_end_s: default analysis window in seconds when the manifest gives none
        (paper: 15-75 s). window_end_s None = to the end of the file.
    min_duration_s: shortest accepted audio (after windowing), in seconds.
    handcrafted: also compute the handcrafted SVM-baseline vector.
    """

    sr: int = 44100
    frame_length: int = 2048
    n_fft: int | None = None
    n_mels: int = 128
    mel_fmin: float = 0.0
    mel_fmax: float | None = None
    n_coch: int = 84
    coch_fmin: float = 50.0
    coch_fmax: float | None = None
    preemphasis: float = 0.97
    log_floor: float = 1e-10
    coch_power: float = 0.3
    coch_method: str = "exact"
    n_tokens: int | None = 87
    window_start_s: float = 15.0
    window_end_s: float | None = 75.0
    min_duration_s: float = 1.0
    handcrafted: bool = True

    def __post_init__(self) -> None:
        problems = []
        if self.sr <= 0:
            problems.append(f"sr must be positive, got {self.sr}")
        if self.frame_length < 16 or self.frame_length % 2:
            problems.append(f"frame_length must be an even integer >= 16, got {self.frame_length}")
        if self.n_fft is not None and self.n_fft < self.frame_length:
            problems.append(f"n_fft ({self.n_fft}) must be >= frame_length ({self.frame_length})")
        if self.n_mels < 1 or self.n_coch < 1:
            problems.append("n_mels and n_coch must be >= 1")
        nyq = self.sr / 2
        if not 0 <= self.mel_fmin < (self.mel_fmax or nyq) <= nyq:
            problems.append(f"need 0 <= mel_fmin < mel_fmax <= sr/2, got {self.mel_fmin}, {self.mel_fmax}")
        if not 0 < self.coch_fmin < (self.coch_fmax or nyq) <= nyq:
            problems.append(f"need 0 < coch_fmin < coch_fmax <= sr/2, got {self.coch_fmin}, {self.coch_fmax}")
        if not 0 <= self.preemphasis < 1:
            problems.append(f"preemphasis must be in [0, 1), got {self.preemphasis}")
        if not self.log_floor > 0:
            problems.append(f"log_floor must be > 0, got {self.log_floor}")
        if not self.coch_power > 0:
            problems.append(f"coch_power must be > 0, got {self.coch_power}")
        if self.coch_method not in COCH_METHODS:
            problems.append(f"coch_method must be one of {COCH_METHODS}, got {self.coch_method!r}")
        if self.n_tokens is not None and self.n_tokens < 1:
            problems.append(f"n_tokens must be >= 1 or None, got {self.n_tokens}")
        if self.window_start_s < 0 or (
            self.window_end_s is not None and self.window_end_s <= self.window_start_s
        ):
            problems.append(f"bad default window [{self.window_start_s}, {self.window_end_s}]")
        if self.min_duration_s < 0:
            problems.append(f"min_duration_s must be >= 0, got {self.min_duration_s}")
        if problems:
            raise ValueError("invalid FeatureConfig: " + "; ".join(problems))

    # derived quantities -------------------------------------------------------------------------------
    @property
    def hop_length(self) -> int:
        """N/2 (50 % overlap, §III-C)."""
        return self.frame_length // 2

    @property
    def fft_size(self) -> int:
        """2N unless n_fft is set (§III-C)."""
        return self.n_fft if self.n_fft is not None else 2 * self.frame_length

    @property
    def mel_fmax_hz(self) -> float:
        return float(self.mel_fmax) if self.mel_fmax is not None else self.sr / 2

    @property
    def coch_fmax_hz(self) -> float:
        return float(self.coch_fmax) if self.coch_fmax is not None else self.sr / 2

    def n_frames(self, n_samples: int) -> int:
        """Frames of N with hop N/2, no padding, last partial frame dropped (0 if shorter than N)."""
        if n_samples < self.frame_length:
            return 0
        return 1 + (n_samples - self.frame_length) // self.hop_length

    # serialisation ------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def hash(self) -> str:
        """Stable 12-hex-digit hash of all fields (sorted JSON, floats as repr)."""
        blob = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FeatureConfig:
        """Build from a plain dict; unknown keys or wrong types raise ValueError naming the key."""
        if not isinstance(d, dict):
            raise ValueError(f"FeatureConfig.from_dict expects a dict, got {type(d).__name__}")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - set(fields))
        if unknown:
            raise ValueError(f"unknown FeatureConfig key(s) {unknown}; known: {sorted(fields)}")
        out = {}
        for key, value in d.items():
            out[key] = _coerce(key, value, fields[key].type)
        return cls(**out)


def _coerce(key: str, value: Any, annotation: str) -> Any:
    """Check `value` against a field annotation string such as 'int | None' and coerce int -> float."""
    kinds = [k.strip() for k in str(annotation).split("|")]
    if value is None:
        if "None" in kinds:
            return None
        raise ValueError(f"FeatureConfig.{key} may not be None")
    if "bool" in kinds:
        if isinstance(value, bool):
            return value
    elif isinstance(value, bool):
        pass  # bool is an int subclass: never accept it for a numeric field
    elif "int" in kinds and isinstance(value, int):
        return value
    elif "int" in kinds and isinstance(value, float) and value.is_integer():
        return int(value)
    elif "float" in kinds and isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    elif "str" in kinds and isinstance(value, str):
        return value
    raise ValueError(f"FeatureConfig.{key} expects {annotation}, got {value!r} ({type(value).__name__})")


_PROFILES: dict[str, dict[str, Any]] = {
    # the paper's settings: 44.1 kHz, 60 s window 15-75 s, T = 87
    "paper": {},
    # CPU pipeline on synthetic tracks: 22.05 kHz, whole (short) file, N = 1024 keeps 46 ms frames
    "quick": {"sr": 22050, "frame_length": 1024, "window_start_s": 0.0, "window_end_s": None},
    # tests / CI: 16 kHz, N = 512 (32 ms), fewer tokens
    "smoke": {
        "sr": 16000,
        "frame_length": 512,
        "window_start_s": 0.0,
        "window_end_s": None,
        "n_tokens": 32,
        "min_duration_s": 0.5,
    },
}


def feature_profile(name: str, **overrides: Any) -> FeatureConfig:
    """Named feature settings: 'paper' (default values), 'quick', 'smoke'; `overrides` replace fields."""
    if name not in _PROFILES:
        raise ValueError(f"unknown feature profile {name!r}; known: {sorted(_PROFILES)}")
    return FeatureConfig.from_dict({**_PROFILES[name], **overrides})
