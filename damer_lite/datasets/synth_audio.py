"""SynthMemo's audio renderer: emotion carried by documented music-psychology cues.

Pure numpy, no external synthesiser. A track is a sequence of sections; each section gets cue values
from its latent (valence, arousal) through `section_cues` (the cue table, also in the README), plus a
style nuisance (timbre family, percussion on/off, reverb) drawn independently of emotion.

Cue table (u = (arousal + 1) / 2, w = (valence + 1) / 2, each cue also gets per-track noise):

    arousal  tempo            66 + 100 u bpm                 faster when aroused
    arousal  note density     1..4 notes per beat, mean 1 + 3 u
    arousal  loudness         -26 + 14 u dBFS RMS
    arousal  attack           3 ms + 120 ms (1 - u)^2          sharper when aroused
    arousal  brightness       harmonic roll-off k^-(2.6 - 1.6 u)
    arousal  percussion       (if the style has drums) hat density and level rise with u
    valence  mode             P(major) = sigmoid(4 v)
    valence  chord quality    P(diminished / added semitone cluster) = 0.8 sigmoid(-4 v - 1)
    valence  roughness        doubled chord voice detuned 3 + 25 sigmoid(-3 v) cents (beating)
    valence  register         melody centred on MIDI 62 + 10 v
    valence  contour          phrase steps drift up with P = sigmoid(2.5 v), down otherwise
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.signal import fftconvolve

TIMBRES = ("piano", "plucked", "bowed", "organ", "mallet", "pad")

MAJOR = np.array([0, 2, 4, 5, 7, 9, 11])
MINOR = np.array([0, 2, 3, 5, 7, 8, 10])
# chord progressions as scale degrees (0-based) of the chord roots
PROG_MAJOR = [[0, 4, 5, 3], [0, 3, 4, 0], [0, 5, 3, 4]]
PROG_MINOR = [[0, 3, 4, 0], [0, 5, 2, 6], [0, 3, 6, 4]]


def _sigmoid(x: float) -> float:
    return float(1.0 / (1.0 + np.exp(-x)))


def midi_to_hz(m):
    return 440.0 * 2.0 ** ((np.asarray(m, dtype=float) - 69.0) / 12.0)


def section_cues(v: float, a: float, rng: np.random.Generator, track_offsets: dict) -> dict:
    """Cue values for one section with mean latent (v, a). `track_offsets` holds per-track cue noise."""
    u = (a + 1.0) / 2.0
    k = np.arange(4)
    p = np.exp(-((k - 3.0 * u) ** 2) / 1.2)
    return {
        "tempo_bpm": float(np.clip(66 + 100 * u + track_offsets["tempo"] + rng.normal(0, 6), 48, 196)),
        "notes_per_beat": int(rng.choice(k, p=p / p.sum()) + 1),
        "loudness_db": float(-26 + 14 * u + track_offsets["loudness"] + rng.normal(0, 1.0)),
        "attack_s": float(max(0.002, 0.003 + 0.12 * (1 - u) ** 2 + track_offsets["attack"])),
        "rolloff": float(np.clip(2.6 - 1.6 * u + track_offsets["rolloff"], 0.6, 3.5)),
        "major": bool(rng.random() < _sigmoid(4.0 * v + track_offsets["mode"])),
        "dissonance_p": float(0.8 * _sigmoid(-4.0 * v - 1.0)),
        "detune_cents": float(3 + 25 * _sigmoid(-3.0 * v) + rng.normal(0, 2)),
        "register_midi": float(62 + 10 * v + track_offsets["register"]),
        "ascend_p": float(_sigmoid(2.5 * v)),
        "perc_level": float(0.25 + 0.6 * u),
    }


TABLE_SIZE = 4096  # wavetable length (power of two)


@lru_cache(maxsize=4096)
def _tables(family: str, rolloff_q: int, k_max: int) -> tuple[np.ndarray, np.ndarray]:
    """Single-cycle wavetables (low partials 1-2, upper partials 3..k_max) of a timbre family.

    Wavetable synthesis renders a note with two table look-ups per sample instead of one sine per
    partial; splitting low and upper partials lets the upper ones decay faster (brightness fades).
    """
    rolloff = rolloff_q / 20.0
    k = np.arange(1, k_max + 1, dtype=float)
    amps = k**-rolloff
    if family == "organ":
        amps = k ** -(0.6 * rolloff)
    elif family == "bowed":
        amps[1::2] *= 0.6
    x = np.arange(TABLE_SIZE) / TABLE_SIZE
    waves = np.sin(2 * np.pi * k[:, None] * x[None, :]) * amps[:, None]  # (K, L)
    return waves[:2].sum(axis=0), waves[2:].sum(axis=0) if k_max > 2 else np.zeros(TABLE_SIZE)


def render_note(freq: float, dur: float, amp: float, family: str, attack: float, rolloff: float, sr: int,
                rng: np.random.Generator) -> np.ndarray:
    """One note of a timbre family (wavetable oscillator with an attack and a family envelope)."""
    if family in ("bowed", "pad"):
        attack = attack * 3 + 0.04
    decaying = family in ("piano", "plucked", "mallet")
    tail = 0.4 if decaying else 0.06
    n = max(1, int((dur + tail) * sr))
    t = np.arange(n) / sr
    att = np.minimum(1.0, t / max(attack, 1e-4))
    if family == "mallet":  # inharmonic bar partials: three sines
        ratios = np.array([1.0, 3.93, 9.54])
        amps = np.array([1.0, 0.35, 0.12]) ** (rolloff / 2.0)
        ph = rng.uniform(0, 2 * np.pi, size=3)
        sig = np.zeros(n)
        for r, a, p in zip(ratios, amps, ph, strict=True):
            if freq * r < 0.45 * sr:
                sig += a * np.sin(2 * np.pi * freq * r * t + p)
        return amp * att * np.exp(-t / 0.5) * sig
    k_max = int(min(8, max(1, 0.45 * sr // freq)))
    low, high = _tables(family, int(round(rolloff * 20)), k_max)
    cycles = freq * t + rng.random()
    if family == "bowed":  # vibrato 5.5 Hz, 0.4 %
        cycles = cycles + 0.004 * freq / (2 * np.pi * 5.5) * np.sin(2 * np.pi * 5.5 * t)
    idx = (cycles * TABLE_SIZE).astype(np.int64) & (TABLE_SIZE - 1)
    if decaying:
        tau = {"piano": 0.9, "plucked": 0.35}[family]
        sig = att * (np.exp(-t / tau) * low[idx] + np.exp(-t * 2.0 / tau) * high[idx])
    else:  # sustained families: release over the last 60 ms of the note
        sig = att * np.clip((dur + 0.06 - t) / 0.06, 0.0, 1.0) * (low[idx] + high[idx])
        if family == "pad":  # chorus: a second, slightly detuned copy
            idx2 = (cycles * 1.004 * TABLE_SIZE).astype(np.int64) & (TABLE_SIZE - 1)
            sig = sig + 0.7 * att * np.clip((dur + 0.06 - t) / 0.06, 0.0, 1.0) * (low[idx2] + high[idx2])
    return amp * sig


def _drums(sr: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    t = np.arange(int(0.3 * sr)) / sr
    kick = np.sin(2 * np.pi * (45 * t + 75 * 0.04 * (1 - np.exp(-t / 0.04)))) * np.exp(-t / 0.12)
    noise = rng.normal(0, 1, t.size)
    snare = (0.7 * noise + 0.5 * np.sin(2 * np.pi * 185 * t)) * np.exp(-t / 0.07)
    hat = np.diff(noise, prepend=0.0) * np.exp(-t / 0.025) * 0.5
    return {"kick": kick, "snare": snare, "hat": hat}


def _add(buf: np.ndarray, sig: np.ndarray, start: int) -> None:
    if start >= buf.size:
        return
    end = min(buf.size, start + sig.size)
    buf[start:end] += sig[: end - start]


def render_section(cues: dict, dur: float, style: dict, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Render one section of `dur` seconds (plus a ringing tail of 0.5 s)."""
    buf = np.zeros(int((dur + 0.5) * sr))
    family = style["timbre"]
    beat = 60.0 / cues["tempo_bpm"]
    scale = MAJOR if cues["major"] else MINOR
    root_midi = 48 + int(rng.integers(0, 12))
    centre = cues["register_midi"]
    # melody: random walk on the scale, phrase-wise drift from the contour cue
    n_beats = int(np.ceil(dur / beat))
    step = beat / cues["notes_per_beat"]
    degree = int(round((centre - root_midi) / 12 * 7))
    t = 0.0
    i = 0
    drift = 1
    while t < dur:
        if i % 8 == 0:
            drift = 1 if rng.random() < cues["ascend_p"] else -1
        if i > 0:
            degree += int(rng.choice([0, 1, 1, 2])) * drift * (1 if rng.random() < 0.8 else -1)
        midi = root_midi + 12 * (degree // 7) + scale[degree % 7]
        # keep the melody within an octave of its register centre
        if abs(midi - centre) > 9:
            degree -= 7 * int(np.sign(midi - centre))
            midi = root_midi + 12 * (degree // 7) + scale[degree % 7]
        accent = 1.0 if i % cues["notes_per_beat"] == 0 else 0.75
        note = render_note(midi_to_hz(midi), 0.9 * step, 0.5 * accent, family, cues["attack_s"], cues["rolloff"],
                           sr, rng)
        _add(buf, note, int(t * sr))
        t += step
        i += 1
    # harmony: one chord per bar of 4 beats, with a bass note
    prog = (PROG_MAJOR if cues["major"] else PROG_MINOR)[int(rng.integers(0, 3))]
    bar = 4 * beat
    chord_family = "pad" if family == "pad" else ("organ" if family == "organ" else family)
    for b in range(int(np.ceil(dur / bar))):
        deg = prog[b % len(prog)]
        notes = [root_midi - 12 + 12 * ((deg + j) // 7) + scale[(deg + j) % 7] for j in (0, 2, 4)]
        if rng.random() < cues["dissonance_p"]:
            if rng.random() < 0.5:
                notes[2] -= 1  # diminished fifth
            else:
                notes.append(notes[0] + 1)  # semitone cluster
        length = min(bar, dur - b * bar)
        for m in notes:
            f = midi_to_hz(m)
            sig = render_note(f, length, 0.22, chord_family, cues["attack_s"], cues["rolloff"] + 0.5, sr, rng)
            detuned = render_note(f * 2 ** (cues["detune_cents"] / 1200), length, 0.12, chord_family,
                                  cues["attack_s"], cues["rolloff"] + 0.5, sr, rng)
            _add(buf, sig + detuned[: sig.size], int(b * bar * sr))
        bass = render_note(midi_to_hz(notes[0] - 12), length, 0.35, "plucked", 0.01, 2.5, sr, rng)
        _add(buf, bass, int(b * bar * sr))
    if style["percussion"]:
        kit = style["kit"]
        lvl = cues["perc_level"]
        hats_per_beat = cues["notes_per_beat"]
        for bt in range(n_beats):
            pos = int(bt * beat * sr)
            if bt % 2 == 0 or cues["tempo_bpm"] < 100:
                _add(buf, 0.9 * lvl * kit["kick"], pos)
            if bt % 2 == 1:
                _add(buf, 0.5 * lvl * kit["snare"], pos)
            for h in range(hats_per_beat):
                _add(buf, 0.3 * lvl * kit["hat"], pos + int(h * beat / hats_per_beat * sr))
    return buf


def render_track(sections: list[tuple[float, float, dict]], duration: float, style: dict, sr: int,
                 rng: np.random.Generator) -> np.ndarray:
    """Render sections [(start_s, end_s, cues)] into a float32 mono track of `duration` seconds."""
    style = dict(style, kit=_drums(sr, rng))
    out = np.zeros(int(round(duration * sr)) + int(0.5 * sr))
    fade = int(0.05 * sr)
    for start, end, cues in sections:
        sec = render_section(cues, end - start, style, sr, rng)
        rms = np.sqrt(np.mean(sec[: int((end - start) * sr)] ** 2)) + 1e-12
        sec *= 10 ** (cues["loudness_db"] / 20) / rms
        sec[:fade] *= np.linspace(0, 1, fade)
        _add(out, sec, int(start * sr))
    out = out[: int(round(duration * sr))]
    if style["reverb_s"] > 0:
        n_ir = int(style["reverb_s"] * sr)
        t = np.arange(n_ir) / sr
        ir = rng.normal(0, 1, n_ir) * np.exp(-6.9 * t / style["reverb_s"])
        ir /= np.sqrt(np.sum(ir**2))
        wet = fftconvolve(out, ir)[: out.size]
        out = 0.8 * out + 0.35 * wet
    out = out + rng.normal(0, 10 ** (-72 / 20), out.size)  # a faint noise floor: never digital silence
    peak = np.max(np.abs(out))
    if peak > 0.97:  # soft limiter keeps loudness cues without clipping
        out = 0.97 * np.tanh(out / 0.97)
    return out.astype(np.float32)
