"""Audio decoding for feature extraction: one function, `load_audio`, with clear errors.

Decoding uses soundfile (libsndfile: wav, flac, ogg, mp3 ...); librosa/audioread is only a fallback for
formats libsndfile cannot open. Only the frames of the requested window are read where the format allows
seeking. Multi-channel audio is mixed to mono by averaging; resampling uses soxr (high quality).
"""

from __future__ import annotations

import os
import sys
import threading
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

SILENCE_RMS = 1e-6  # below this RMS (-120 dBFS) a file counts as silent


class AudioError(Exception):
    """A file that cannot be used for features; `path` and `reason` are kept for failure tables."""

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{Path(self.path).name}: {reason}")


_QUIET_LOCK = threading.Lock()
_QUIET = {"depth": 0, "saved": None}


@contextmanager
def quiet_decoders():
    """Silence what C decoders print straight to file descriptor 2 (libmpg123 inside libsndfile prints "Note:
    Illegal Audio-MPEG-Header ..." for a corrupt mp3): the reason reaches the user in the AudioError instead.
    Python's own warnings and errors are unaffected once the block ends. Nested and threaded uses share one
    redirection."""
    try:
        fd = sys.__stderr__.fileno() if sys.__stderr__ is not None else 2
    except (OSError, ValueError):  # no real stderr (e.g. some notebook front ends): nothing to silence
        yield
        return
    with _QUIET_LOCK:
        if _QUIET["depth"] == 0:
            sys.__stderr__.flush()
            saved = os.dup(fd)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, fd)
            os.close(devnull)
            _QUIET["saved"] = saved
        _QUIET["depth"] += 1
    try:
        yield
    finally:
        with _QUIET_LOCK:
            _QUIET["depth"] -= 1
            if _QUIET["depth"] == 0:
                os.dup2(_QUIET["saved"], fd)
                os.close(_QUIET["saved"])
                _QUIET["saved"] = None


def unreadable_reason(path, err: Exception) -> str:
    """A reason for a file no decoder could open. libsndfile reports a corrupt mp3 as "File does not exist or
    is not a regular file (possibly a pipe?)" although the file is there: say what is wrong instead."""
    msg = str(err).strip() or type(err).__name__
    p = Path(path)
    if "does not exist or is not a regular file" in msg and p.is_file():
        kind = p.suffix.lstrip(".").upper() or "audio"
        return (f"not decodable as {kind}: no valid audio frames found (corrupt, truncated or not really "
                f"{kind}; {p.stat().st_size} bytes)")
    return f"not readable as audio ({msg})"


@dataclass
class AudioInfo:
    path: str
    orig_sr: int
    orig_channels: int
    orig_duration_s: float  # of the whole file
    start_s: float  # window actually read
    end_s: float
    sr: int  # sample rate of the returned signal
    decoder: str  # 'soundfile' or 'librosa'


def _read_soundfile(path, start_s, end_s):
    with sf.SoundFile(str(path)) as f:
        orig_sr, channels, frames = f.samplerate, f.channels, f.frames
        start = 0 if start_s is None else int(round(start_s * orig_sr))
        stop = frames if end_s is None else min(frames, int(round(end_s * orig_sr)))
        if start > 0 and f.seekable():
            f.seek(min(start, frames))
            data = f.read(max(stop - start, 0), dtype="float32", always_2d=True)
        else:
            data = f.read(stop, dtype="float32", always_2d=True)[start:]
    return data, orig_sr, channels, frames / orig_sr if orig_sr else 0.0


def _read_librosa(path, start_s, end_s):
    import librosa

    offset = start_s or 0.0
    duration = None if end_s is None else max(end_s - offset, 0.0)
    with warnings.catch_warnings():  # librosa warns that soundfile failed: we know, that is why we are here
        warnings.simplefilter("ignore")
        y, orig_sr = librosa.load(str(path), sr=None, mono=False, offset=offset, duration=duration)
    y = np.atleast_2d(y).T  # (n, channels)
    try:
        total = float(librosa.get_duration(path=str(path)))
    except Exception:
        total = offset + y.shape[0] / orig_sr
    return y.astype(np.float32), int(orig_sr), y.shape[1], total


def load_audio(
    path,
    sr: int,
    start_s: float | None = None,
    end_s: float | None = None,
    mono: bool = True,
    min_duration_s: float = 0.0,
) -> tuple[np.ndarray, AudioInfo]:
    """Decode `path`, cut [start_s, end_s) (seconds; None = file start / end), mix to mono, resample to sr.

    Returns (signal, info): float32 (n,) when mono, else (channels, n). When the file is shorter than the
    window the available part is returned. Raises AudioError(path, reason) for a missing, unreadable or
    non-audio file, an empty file or window, fewer than min_duration_s seconds, NaN/inf samples, zero
    channels, or silence (RMS below 1e-6).
    """
    p = Path(path)
    if not p.is_file():
        raise AudioError(path, "file not found")
    if p.stat().st_size == 0:
        raise AudioError(path, "empty file (0 bytes)")
    if start_s is not None and (not np.isfinite(start_s) or start_s < 0):
        raise AudioError(path, f"bad window start {start_s}")
    if end_s is not None and start_s is not None and end_s <= start_s:
        raise AudioError(path, f"empty window [{start_s}, {end_s}) s")
    with quiet_decoders():
        try:
            data, orig_sr, channels, total = _read_soundfile(p, start_s, end_s)
            decoder = "soundfile"
        except Exception as sf_err:  # libsndfile could not open it: try audioread/ffmpeg via librosa
            try:
                data, orig_sr, channels, total = _read_librosa(p, start_s, end_s)
                decoder = "librosa"
            except Exception:
                raise AudioError(path, unreadable_reason(p, sf_err)) from None
    if channels == 0 or data.ndim != 2 or data.shape[1] == 0:
        raise AudioError(path, "no audio channels")
    if data.shape[0] == 0:
        where = "" if not start_s else f" after {start_s:.2f} s (file is {total:.2f} s long)"
        raise AudioError(path, f"no audio samples{where}")
    if not np.all(np.isfinite(data)):
        raise AudioError(path, "NaN or infinite samples")
    duration = data.shape[0] / orig_sr
    if duration < min_duration_s:
        raise AudioError(path, f"too short: {duration:.2f} s < {min_duration_s:.2f} s")
    x = data.mean(axis=1, keepdims=True) if mono else data  # (n, ch)
    if orig_sr != sr:
        import soxr

        x = soxr.resample(x, orig_sr, sr, quality="HQ").astype(np.float32, copy=False)
    x = np.ascontiguousarray(x.T)  # (ch, n)
    if float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) < SILENCE_RMS:
        raise AudioError(path, "silent (RMS below 1e-6)")
    s0 = start_s or 0.0
    info = AudioInfo(str(p), int(orig_sr), int(channels), float(total), s0, s0 + duration, int(sr), decoder)
    return (x[0] if mono else x), info
