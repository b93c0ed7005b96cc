"""Quick audio for trading answers: notes straight to a WAV, no MIDI file in between.

An answer has to be heard on the next downbeat, so its sound is made from a cache of sustained
tones per pitch (the reedy timbre of the library's built-in synthesizer, lengths rounded up to
a power of two): a note is a slice of its pitch's tone with an attack and a release applied.
That costs a few milliseconds for four bars where synthesizing every note afresh costs tens.
Takes (whole solos) keep using `jazzgen.music.render.render_wav`, which also drives FluidSynth
when it is installed.
"""

from __future__ import annotations

import functools
import wave
from pathlib import Path

import numpy as np

ATTACK_S, RELEASE_S = 0.02, 0.12
HARMONICS = (1.0, 0.55, 0.6, 0.3, 0.35, 0.15, 0.18, 0.08)  # strong low partials, odd ones louder
LEVEL = 0.3  # peak of one note at full velocity (the band's WAV is normalised to -1 dBFS)


@functools.lru_cache(maxsize=256)
def _tone(pitch: int, sample_rate: int, n: int) -> np.ndarray:
    """`n` samples of one pitch at full level, with a slow vibrato (float32, read-only)."""
    freq = 440.0 * 2 ** ((pitch - 69) / 12)
    t = np.arange(n) / sample_rate
    vibrato = 1.0 + 0.004 * np.minimum(t / 0.4, 1.0) * np.sin(2 * np.pi * 5.0 * t)
    phase = 2 * np.pi * np.cumsum(freq * vibrato) / sample_rate
    tone = np.zeros_like(t)
    for k, amp in enumerate(HARMONICS, start=1):
        if k * freq < sample_rate / 2:  # above Nyquist a partial would alias to a wrong pitch
            tone += amp * np.sin(k * phase)
    tone = (tone / sum(HARMONICS)).astype(np.float32)
    tone.flags.writeable = False
    return tone


def notes_to_wav(notes, tempo_qpm: float, path: str | Path, length_beats: float, sample_rate: int = 22050) -> Path:
    """Write `notes` (beats from 0) as 16-bit mono audio lasting `length_beats` plus a release."""
    seconds_per_beat = 60.0 / tempo_qpm
    release = int(RELEASE_S * sample_rate)
    out = np.zeros(int(length_beats * seconds_per_beat * sample_rate) + release, dtype=np.float32)
    attack = np.minimum(np.arange(int(ATTACK_S * sample_rate)) / (ATTACK_S * sample_rate), 1.0)
    fade = np.exp(-6.9 * np.arange(release) / release).astype(np.float32)  # -60 dB over the release
    for n in notes:
        start = int(round(n.start_beat * seconds_per_beat * sample_rate))
        hold = max(1, int(round(n.duration_beats * seconds_per_beat * sample_rate)))
        length = min(hold + release, len(out) - start)
        tone = _tone(n.pitch, sample_rate, 1 << max(12, (length - 1).bit_length()))
        sound = tone[:length] * (LEVEL * n.velocity / 127)
        sound[: len(attack)] *= attack[: len(sound)]
        tail = sound[hold:]
        tail *= fade[: len(tail)]
        out[start:start + len(sound)] += sound
    pcm = np.round(np.clip(out, -1.0, 1.0) * 32767).astype("<i2")
    path = Path(path)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm.tobytes())
    return path
