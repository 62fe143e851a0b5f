import numpy as np
import pytest
import soundfile as sf

from damer_lite.features.audio import AudioError, load_audio


def _tone(sr, seconds, channels=1, f=440.0):
    t = np.arange(int(sr * seconds)) / sr
    x = 0.3 * np.sin(2 * np.pi * f * t)
    return np.stack([x * (1 - 0.1 * c) for c in range(channels)], axis=1) if channels > 1 else x


def test_wav_mono_same_rate(tmp_path):
    p = tmp_path / "a.wav"
    sf.write(p, _tone(16000, 2.0), 16000)
    x, info = load_audio(p, 16000)
    assert x.dtype == np.float32 and x.shape == (32000,)
    assert info.orig_sr == 16000 and info.orig_channels == 1 and info.orig_duration_s == pytest.approx(2.0)


def test_stereo_flac_resampled_and_mixed(tmp_path):
    p = tmp_path / "s.flac"
    sf.write(p, _tone(44100, 1.0, channels=2), 44100)
    x, info = load_audio(p, 22050)
    assert x.shape == (22050,) and info.orig_channels == 2
    xs, _ = load_audio(p, 22050, mono=False)
    assert xs.shape == (2, 22050)
    assert np.allclose(x, xs.mean(0), atol=1e-6)


def test_other_rate_and_six_channels(tmp_path):
    p8, p6 = tmp_path / "low.wav", tmp_path / "six.flac"
    sf.write(p8, _tone(8000, 2.0, f=300.0), 8000)
    sf.write(p6, _tone(16000, 2.0, channels=6), 16000)
    x8, i8 = load_audio(p8, 16000)
    assert x8.shape == (32000,) and i8.orig_sr == 8000
    x6, i6 = load_audio(p6, 16000)
    assert x6.shape == (32000,) and i6.orig_channels == 6


def test_window_is_cut(tmp_path):
    p = tmp_path / "long.flac"
    sig = np.arange(16000 * 10) / (16000 * 10)  # ramp: sample value tells its time
    sf.write(p, 0.5 * sig, 16000, subtype="PCM_24")
    x, info = load_audio(p, 16000, start_s=3.0, end_s=5.0)
    assert x.shape == (32000,) and info.start_s == 3.0 and info.end_s == pytest.approx(5.0)
    assert x[0] == pytest.approx(0.5 * 0.3, abs=1e-4)
    # window past the end: what remains is returned
    x, info = load_audio(p, 16000, start_s=9.0, end_s=20.0)
    assert x.shape == (16000,)


@pytest.mark.parametrize(
    "kind,reason",
    [
        ("empty", "empty file"),
        ("corrupt", "not readable"),
        ("text", "not readable"),
        ("silent", "silent"),
        ("short", "too short"),
        ("nan", "NaN"),
        ("missing", "not found"),
        ("past_end", "no audio samples"),
    ],
)
def test_bad_inputs_raise_audio_error(tmp_path, kind, reason):
    p = tmp_path / f"{kind}.wav"
    start = None
    if kind == "empty":
        p.write_bytes(b"")
    elif kind == "corrupt":
        sf.write(p, _tone(16000, 1.0), 16000)
        p.write_bytes(p.read_bytes()[:20] + b"\x00garbage" * 50)
    elif kind == "text":
        p = tmp_path / "notes.txt"
        p.write_text("this is not audio\n" * 20)
    elif kind == "silent":
        sf.write(p, np.zeros(16000 * 3), 16000)
    elif kind == "short":
        sf.write(p, _tone(16000, 2.0), 16000)
    elif kind == "nan":
        x = _tone(16000, 3.0)
        x[100] = np.nan
        sf.write(p, x, 16000, subtype="FLOAT")
    elif kind == "past_end":
        sf.write(p, _tone(16000, 3.0), 16000)
        start = 15.0
    with pytest.raises(AudioError) as err:
        load_audio(p, 16000, start_s=start, min_duration_s=3.0)
    assert reason in str(err.value) and p.name in str(err.value)
    assert err.value.path == str(p) and reason in err.value.reason


def test_a_corrupt_mp3_gets_a_true_reason_and_no_decoder_noise(tmp_path, capfd):
    """libsndfile calls a corrupt mp3 "File does not exist or is not a regular file (possibly a pipe?)" and its
    mp3 decoder prints "Note: Illegal Audio-MPEG-Header" lines on the process's stderr; neither reaches the user."""
    p = tmp_path / "broken.mp3"
    p.write_bytes(b"ID3\x03\x00\x00\x00\x00\x00\x00" + np.random.default_rng(0).bytes(5000))
    with pytest.raises(AudioError) as err:
        load_audio(p, 16000)
    assert "not decodable as MP3" in err.value.reason and "possibly a pipe" not in err.value.reason
    captured = capfd.readouterr()
    assert "MPEG" not in captured.err and "libmpg123" not in captured.err, captured.err
