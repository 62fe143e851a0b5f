"""Handcrafted descriptors for the SVM/SVR baseline (§II: MFCC and chroma aggregates and friends).

One fixed-length float32 vector per track; `handcrafted_names()` gives the column names in order.
"""

from __future__ import annotations

import numpy as np

N_MFCC = 20
N_CHROMA = 12
N_CONTRAST = 7  # librosa: n_bands=6 -> 7 rows


def handcrafted_names() -> list[str]:
    names = [f"mfcc{i}_mean" for i in range(N_MFCC)] + [f"mfcc{i}_std" for i in range(N_MFCC)]
    names += [f"chroma{i}_mean" for i in range(N_CHROMA)]
    names += [f"contrast{i}_mean" for i in range(N_CONTRAST)]
    for base in ("centroid", "rolloff", "rms", "zcr"):
        names += [f"{base}_mean", f"{base}_std"]
    names.append("tempo")
    return names


def handcrafted_features(x: np.ndarray, sr: int, n_fft: int = 2048, hop: int = 512) -> np.ndarray:
    """x: (n,) mono float signal -> (d,) float32, d = len(handcrafted_names()) = 68."""
    import librosa

    y = np.asarray(x, dtype=np.float32)
    n_fft = min(n_fft, max(256, 1 << int(np.floor(np.log2(max(len(y), 256))))))
    spec = np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop))  # (F, frames)
    power = spec**2
    mel = librosa.feature.melspectrogram(S=power, sr=sr)
    mfcc = librosa.feature.mfcc(S=librosa.power_to_db(mel), n_mfcc=N_MFCC)  # (20, frames)
    chroma = librosa.feature.chroma_stft(S=power, sr=sr)  # (12, frames)
    contrast = librosa.feature.spectral_contrast(S=spec, sr=sr)  # (7, frames)
    centroid = librosa.feature.spectral_centroid(S=spec, sr=sr)[0]
    rolloff = librosa.feature.spectral_rolloff(S=spec, sr=sr)[0]
    rms = librosa.feature.rms(S=spec, frame_length=n_fft)[0]
    zcr = librosa.feature.zero_crossing_rate(y, frame_length=n_fft, hop_length=hop)[0]
    onset = librosa.onset.onset_strength(S=librosa.power_to_db(mel), sr=sr)
    tempo = np.atleast_1d(librosa.feature.tempo(onset_envelope=onset, sr=sr, hop_length=hop))[0]
    parts = [mfcc.mean(1), mfcc.std(1), chroma.mean(1), contrast.mean(1)]
    for v in (centroid, rolloff, rms, zcr):
        parts.append(np.array([v.mean(), v.std()]))
    parts.append(np.array([tempo]))
    out = np.concatenate(parts).astype(np.float32)
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)
