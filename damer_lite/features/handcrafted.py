"""Handcrafted descriptors for the SVM/SVR baseline (§II: MFCC and chroma aggregates and friends).

One fixed-length float32 vector per track; `handcrafted_names()` gives the column names in order.

The descriptors are librosa's (STFT of n_fft = 2048, hop 512, Hann window, centred frames): MFCC (20, of
the dB 128-band Mel spectrogram), tuning-corrected chroma, spectral contrast (7 bands), centroid, rolloff
(85 %), RMS, zero-crossing rate and the global tempo (autocorrelation tempogram with librosa's log-normal
prior around 120 BPM). Two implementations (`method`):

* 'fast' (default): one float32 STFT computed frame-major and shared by every descriptor; the Mel product
  skips the zeros of the banded filter matrix; contrast uses a partial sort; the zero-crossing rate is a
  running sum over the signal; the tempogram is a batched FFT autocorrelation; the tuning used by chroma is
  estimated from every k-th frame, k = frames // 1500 (a histogram statistic; all frames for tracks up to
  ~17 s at 44.1 kHz). Same formulas as librosa otherwise; ~3x faster than the warmed-up librosa calls
  on a 60 s track.
* 'librosa': the direct librosa calls (the reference the tests compare 'fast' against).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from damer_lite.features.jit_cache import librosa_lock

N_MFCC = 20
N_CHROMA = 12
N_CONTRAST = 7  # librosa: n_bands=6 -> 7 rows
TUNING_FRAMES = 1500  # 'fast': chroma tuning estimated from about this many evenly spaced STFT frames


def handcrafted_names() -> list[str]:
    names = [f"mfcc{i}_mean" for i in range(N_MFCC)] + [f"mfcc{i}_std" for i in range(N_MFCC)]
    names += [f"chroma{i}_mean" for i in range(N_CHROMA)]
    names += [f"contrast{i}_mean" for i in range(N_CONTRAST)]
    for base in ("centroid", "rolloff", "rms", "zcr"):
        names += [f"{base}_mean", f"{base}_std"]
    names.append("tempo")
    return names


def _n_fft_for(n: int, n_fft: int) -> int:
    return min(n_fft, max(256, 1 << int(np.floor(np.log2(max(n, 256))))))


def handcrafted_features(x: np.ndarray, sr: int, n_fft: int = 2048, hop: int = 512,
                         method: str = "fast") -> np.ndarray:
    """x: (n,) mono float signal -> (d,) float32, d = len(handcrafted_names()) = 68."""
    y = np.asarray(x, dtype=np.float32)
    n_fft = _n_fft_for(len(y), n_fft)
    if method == "fast":
        parts = _fast_parts(y, sr, n_fft, hop)
    elif method == "librosa":
        with librosa_lock():  # may compile librosa's numba helpers (see jit_cache)
            parts = _librosa_parts(y, sr, n_fft, hop)
    else:
        raise ValueError(f"method must be 'fast' or 'librosa', got {method!r}")
    out = np.concatenate(parts).astype(np.float32)
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)


def _summary(mfcc, chroma, contrast, centroid, rolloff, rms, zcr, tempo) -> list[np.ndarray]:
    """Per-descriptor aggregates in `handcrafted_names()` order; 2-D inputs are (rows, frames)."""
    parts = [mfcc.mean(1), mfcc.std(1), chroma.mean(1), contrast.mean(1)]
    for v in (centroid, rolloff, rms, zcr):
        parts.append(np.array([v.mean(), v.std()]))
    parts.append(np.array([tempo]))
    return parts


# --------------------------------------------------------------------------------------------------------
# reference: librosa calls
def _librosa_parts(y: np.ndarray, sr: int, n_fft: int, hop: int) -> list[np.ndarray]:
    import librosa

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
    return _summary(mfcc, chroma, contrast, centroid, rolloff, rms, zcr, tempo)


# --------------------------------------------------------------------------------------------------------
# fast path (frame-major arrays: (frames, bins))
@lru_cache(maxsize=8)
def _mel_blocks(sr: int, n_fft: int) -> list:
    import librosa

    from damer_lite.features.mel import banded_blocks

    basis = librosa.filters.mel(sr=sr, n_fft=n_fft)  # librosa.feature.melspectrogram's default filters
    return banded_blocks(basis, 8, np.float32)


@lru_cache(maxsize=8)
def _hann(n_fft: int) -> np.ndarray:
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)).astype(np.float32)  # periodic


def _stft_power(y: np.ndarray, sr: int, n_fft: int, hop: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """librosa.stft(y, n_fft, hop) (centred, zero padding, Hann), frame-major: |S|, |S|^2 (T, F) and the
    Mel power (T, 128) of librosa.feature.melspectrogram(S=|S|^2), computed chunk by chunk in cache."""
    from scipy import fft as sfft

    yp = np.pad(y, n_fft // 2)
    frames = np.lib.stride_tricks.sliding_window_view(yp, n_fft)[::hop]  # (T, n_fft) view
    win = _hann(n_fft)
    blocks = _mel_blocks(sr, n_fft)
    t, f = frames.shape[0], n_fft // 2 + 1
    power = np.empty((t, f), np.float32)
    mel = np.empty((t, blocks[-1][1]), np.float32)
    buf = np.empty((min(t, 128), n_fft), np.float32)
    for s0 in range(0, t, 128):  # cache-sized chunks
        s1 = min(t, s0 + 128)
        b = buf[: s1 - s0]
        np.multiply(frames[s0:s1], win, out=b)
        ri = sfft.rfft(b, axis=-1).view(np.float32).reshape(s1 - s0, f, 2)
        p = power[s0:s1]
        np.multiply(ri[..., 0], ri[..., 0], out=p)
        p += ri[..., 1] * ri[..., 1]
        m = mel[s0:s1]
        for r0, r1, lo, hi, blk in blocks:
            m[:, r0:r1] = p[:, lo:hi] @ blk
    return np.sqrt(power), power, mel


def _power_to_db(s: np.ndarray, top_db: float = 80.0) -> np.ndarray:
    """librosa.power_to_db(s) (ref 1, amin 1e-10, top_db 80 below the array's maximum)."""
    db = 10.0 * np.log10(np.maximum(s, 1e-10))
    return np.maximum(db, db.max() - top_db)


def _contrast(spec: np.ndarray, sr: int, n_fft: int, quantile: float = 0.02, n_bands: int = 6,
              fmin: float = 200.0) -> np.ndarray:
    """librosa.feature.spectral_contrast(S=spec.T, sr) with a partial sort: (7, T)."""
    freq = np.fft.rfftfreq(n_fft, 1.0 / sr)
    octa = np.zeros(n_bands + 2)
    octa[1:] = fmin * (2.0 ** np.arange(0, n_bands + 1))
    t = spec.shape[0]
    valley, peak = np.zeros((n_bands + 1, t)), np.zeros((n_bands + 1, t))
    for k, (f_low, f_high) in enumerate(zip(octa[:-1], octa[1:], strict=True)):
        band = np.logical_and(freq >= f_low, freq <= f_high)
        idx = np.flatnonzero(band)
        if k > 0:
            band[idx[0] - 1] = True
        if k == n_bands:
            band[idx[-1] + 1 :] = True
        cols = np.flatnonzero(band)
        if k < n_bands:
            cols = cols[:-1]
        q = max(int(np.rint(quantile * np.sum(band))), 1)
        sub = spec[:, cols[0] : cols[-1] + 1]  # (T, bins), contiguous columns
        m = sub.shape[1]
        lo = np.partition(sub, q - 1, axis=1)[:, :q] if q < m else sub
        hi = np.partition(sub, m - q, axis=1)[:, m - q :] if q < m else sub
        valley[k], peak[k] = lo.mean(axis=1), hi.mean(axis=1)
    return _power_to_db(peak) - _power_to_db(valley)


def _zcr(y: np.ndarray, frame_length: int, hop: int) -> np.ndarray:
    """librosa.feature.zero_crossing_rate(y, frame_length, hop) via one pass and a running sum: (T,)."""
    yp = np.pad(y, frame_length // 2, mode="edge")
    sign = np.signbit(np.where(np.abs(yp) <= 1e-10, 0.0, yp))
    cross = np.concatenate([[0], np.cumsum(sign[1:] != sign[:-1])])  # cross[i] = crossings in yp[0..i]
    t = 1 + (len(yp) - frame_length) // hop
    starts = np.arange(t) * hop
    return (cross[starts + frame_length - 1] - cross[starts]) / frame_length


def _tempo(onset: np.ndarray, sr: int, hop: int, ac_size: float = 8.0) -> float:
    """librosa.feature.tempo(onset_envelope=onset, sr, hop_length) with a batched FFT tempogram."""
    import librosa
    from scipy import fft as sfft

    win = int(librosa.time_to_frames(ac_size, sr=sr, hop_length=hop))
    n = onset.shape[-1]
    env = np.pad(onset.astype(np.float32), win // 2, mode="linear_ramp", end_values=(0, 0))
    frames = np.lib.stride_tricks.sliding_window_view(env, win)[:n]  # (n, win) view
    w = _hann_f64(win).astype(np.float32)
    n_pad = sfft.next_fast_len(2 * win - 1, real=True)
    tg = np.zeros(win)
    for s0 in range(0, n, 512):
        p = sfft.rfft(frames[s0 : s0 + 512] * w, n=n_pad, axis=-1)
        ac = sfft.irfft(p.real**2 + p.imag**2, n=n_pad, axis=-1)[:, :win]
        norm = np.abs(ac).max(axis=1, keepdims=True)
        norm[norm < np.finfo(ac.dtype).tiny] = 1.0  # librosa.util.normalize leaves silent frames at 0
        tg += (ac / norm).sum(axis=0, dtype=np.float64)  # the mean tempogram, accumulated
    return float(np.atleast_1d(librosa.feature.tempo(tg=(tg / n)[:, None], sr=sr, hop_length=hop))[0])


@lru_cache(maxsize=4)
def _hann_f64(n: int) -> np.ndarray:
    import scipy.signal

    return scipy.signal.get_window("hann", n, fftbins=True)


def _fast_parts(y: np.ndarray, sr: int, n_fft: int, hop: int) -> list[np.ndarray]:
    import librosa
    from scipy import fft as sfft

    spec, power, mel = _stft_power(y, sr, n_fft, hop)  # (T, F), (T, F), (T, 128) float32
    t = power.shape[0]
    mel_db = _power_to_db(mel)  # (T, 128)
    mfcc = sfft.dct(mel_db, type=2, norm="ortho", axis=1)[:, :N_MFCC].T  # (20, T)
    # chroma: tuning from a subset of frames, librosa's chroma filters, per-frame max normalisation
    step = max(1, t // TUNING_FRAMES)
    with librosa_lock():  # estimate_tuning compiles numba helpers into a cache shared by all jobs (jit_cache)
        tuning = librosa.estimate_tuning(S=power[::step].T, sr=sr, n_fft=n_fft)
    fb = librosa.filters.chroma(sr=sr, n_fft=n_fft, tuning=tuning, n_chroma=N_CHROMA).astype(np.float32)
    raw = power @ fb.T  # (T, 12)
    mx = np.abs(raw).max(axis=1, keepdims=True)
    chroma = np.divide(raw, mx, out=np.zeros_like(raw), where=mx >= np.finfo(np.float32).tiny).T
    contrast = _contrast(spec, sr, n_fft)
    freq = np.fft.rfftfreq(n_fft, 1.0 / sr)
    cum = np.cumsum(spec, axis=1)  # (T, F) float32, as librosa
    tot = cum[:, -1]
    centroid = np.divide(spec @ freq.astype(np.float32), tot, out=np.zeros(t, np.float32),
                         where=tot >= np.finfo(np.float32).tiny)
    rolloff = freq[np.argmax(cum >= np.float32(0.85) * cum[:, -1:], axis=1)]
    edge = 0.5 * (power[:, 0] + power[:, -1]) if n_fft % 2 == 0 else 0.0
    rms = np.sqrt(2 * (power.sum(axis=1, dtype=np.float64) - edge) / n_fft**2)
    zcr = _zcr(y, n_fft, hop)
    with librosa_lock():
        onset = librosa.onset.onset_strength(S=mel_db.T, sr=sr)  # (T,)
        tempo = _tempo(onset, sr, hop)
    return _summary(mfcc, chroma, contrast, centroid, rolloff, rms, zcr, tempo)
