"""Embedded audio excerpts for the notebooks (report.audio)."""

import base64
import io
import re

import numpy as np
import pytest
import soundfile as sf

from damer_lite.features.audio import AudioError
from damer_lite.report import audio


@pytest.fixture()
def tone(tmp_path):
    sr = 44100
    t = np.arange(int(sr * 4.0)) / sr
    x = 0.5 * np.sin(2 * np.pi * 440 * t)
    path = tmp_path / "tone.flac"
    sf.write(path, np.stack([x, x], axis=1), sr)
    return path


def test_excerpt_window_rate_and_peak(tone):
    x = audio.excerpt(tone, start_s=1.0, duration_s=2.0, sr=22050)
    assert x.dtype == np.float32 and x.ndim == 1
    assert abs(x.size - 2 * 22050) <= 2
    assert 0.45 < np.max(np.abs(x)) <= audio.PEAK  # quiet enough: left as it is
    tail = audio.excerpt(tone, start_s=3.0, duration_s=5.0, sr=22050)  # the file ends at 4 s
    assert abs(tail.size - 22050) <= 2


def test_mp3_round_trip(tone):
    x = audio.excerpt(tone, duration_s=2.0)
    data = audio.mp3_bytes(x)
    assert 0 < len(data) < x.size * 2  # compressed, not PCM
    y, sr = sf.read(io.BytesIO(data))
    assert sr == audio.EXCERPT_SR and abs(y.shape[0] - x.size) < 4096
    with pytest.raises(ValueError, match="mono"):
        audio.mp3_bytes(np.zeros((2, 10), np.float32))


def test_players_html_embeds_mp3(tone):
    h = audio.players([("low <arousal>", tone), ("later", tone, 2.0)], duration_s=1.0).data
    srcs = re.findall(r'src="data:audio/mpeg;base64,([^"]+)"', h)
    assert len(srcs) == 2
    assert sf.info(io.BytesIO(base64.b64decode(srcs[0]))).format == "MP3"
    assert "low &lt;arousal&gt;" in h and "tone.flac, 2–3 s" in h


def test_bad_file_named(tmp_path):
    bad = tmp_path / "broken.mp3"
    bad.write_bytes(b"not audio at all" * 10)
    with pytest.raises(AudioError, match="broken.mp3"):
        audio.player(bad)
