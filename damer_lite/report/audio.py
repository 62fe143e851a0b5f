"""Listening in the notebooks: short excerpts embedded as MP3, so that they play in the saved notebooks and in
the static site without the audio files beside them.

`excerpt(path, start_s, duration_s)` decodes a window with the features stage's decoder (any format it reads),
mixes to mono, resamples to `sr` and peak-normalises gently; `mp3_bytes` encodes it (libsndfile's MPEG layer
III writer, ~6 kB per second at 22.05 kHz); `player(...)` returns an `IPython.display.Audio` with the bytes
embedded (a data: URI in the HTML), `players(...)` a labelled row of them for a notebook cell.

Excerpts are short on purpose: ten seconds of each track keep a notebook with a dozen players under ~1 MB.
"""

from __future__ import annotations

import html
import io
from pathlib import Path

import numpy as np

from damer_lite.features.audio import load_audio

EXCERPT_SR = 22050  # Hz: the excerpts' rate (SynthMemo's own rate; speech-band and timbre stay audible)
EXCERPT_S = 10.0  # s: default excerpt length
PEAK = 0.9  # excerpts quieter than this peak are left as they are; louder ones are scaled down to it


def excerpt(path, start_s: float = 0.0, duration_s: float = EXCERPT_S, sr: int = EXCERPT_SR) -> np.ndarray:
    """Mono float32 samples of [start_s, start_s + duration_s) of `path` at `sr` (shorter if the file ends).

    Raises features.audio.AudioError (naming the file and the reason) for an unreadable or silent file.
    """
    if duration_s <= 0:
        raise ValueError(f"duration_s must be > 0, got {duration_s}")
    x, _ = load_audio(path, sr, start_s=max(0.0, float(start_s)), end_s=max(0.0, float(start_s)) + duration_s)
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak > PEAK:
        x = x * (PEAK / peak)
    return x.astype(np.float32, copy=False)


def mp3_bytes(x: np.ndarray, sr: int = EXCERPT_SR) -> bytes:
    """MP3 encoding of mono samples in [-1, 1] (libsndfile >= 1.1)."""
    import soundfile as sf

    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"expected a non-empty mono signal, got shape {x.shape}")
    buf = io.BytesIO()
    sf.write(buf, np.clip(x, -1.0, 1.0), sr, format="MP3", subtype="MPEG_LAYER_III")
    return buf.getvalue()


def player(path, start_s: float = 0.0, duration_s: float = EXCERPT_S, sr: int = EXCERPT_SR):
    """An embedded IPython audio player for an excerpt of `path`."""
    from IPython.display import Audio

    data = mp3_bytes(excerpt(path, start_s, duration_s, sr), sr)
    audio = Audio(data=data, embed=True, autoplay=False)
    audio.mimetype = "audio/mpeg"  # IPython labels raw bytes audio/wav; these are MP3
    return audio


def players(items, duration_s: float = EXCERPT_S, sr: int = EXCERPT_SR):
    """A labelled column of players: items = [(label, path) or (label, path, start_s)]; one HTML block.

    The labels are escaped; each player is the `<audio controls>` element IPython would draw, with the MP3
    embedded as a data: URI.
    """
    from IPython.display import HTML

    rows = []
    for item in items:
        label, path = item[0], Path(item[1])
        start = float(item[2]) if len(item) > 2 else 0.0
        audio = player(path, start, duration_s, sr)
        rows.append(
            "<div style='margin:0.3em 0'><div><b>" + html.escape(str(label)) + "</b> "
            f"<span style='color:#666'>({html.escape(path.name)}, {start:.0f}–{start + duration_s:.0f} s)</span>"
            "</div>" + audio._repr_html_() + "</div>"
        )
    return HTML("\n".join(rows))
