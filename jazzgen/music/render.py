"""Render a jazzgen MIDI file to something a person can hear (WAV) or see (piano-roll PNG).

jazzgen writes two tracks: `melody` (tenor sax) and `chords` (piano block chords, each chord's
symbol also a MIDI marker at its start). Both renderers read MIDI as a `roll.Roll` (through
`midi_io.read_midi`), so they also render corpus files. The picture is drawn by
`piano_roll.render_png`, offered here too so callers need one module.

Sound comes from the FluidSynth command line with a General MIDI soundfont when both are on the
machine, else from a small built-in numpy synthesizer (a reedy tone for the melody, a decaying
piano-like tone for the chords), so `render_wav` always works without extra dependencies.
"""

from __future__ import annotations

import functools
import importlib.util
import math
import os
import shutil
import subprocess
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

import mido
import numpy as np

from jazzgen.core.files import atomic_path
from jazzgen.errors import JazzgenError
from jazzgen.music.midi_io import DRUM_CHANNEL
from jazzgen.music.piano_roll import render_png
from jazzgen.music.roll import Roll, read_roll

__all__ = ["choose_synth", "find_soundfont", "render_png", "render_wav", "SynthChoice"]

MELODY_PROGRAM = 66  # General MIDI "Tenor Sax" (0-based)
BASS_PROGRAM = 32  # General MIDI "Acoustic Bass"
CHORDS_PROGRAM = 0  # General MIDI "Acoustic Grand Piano"
FLUIDSYNTH_GAIN = 0.2  # above ~0.3 FluidR3_GM clips on block chords
PEAK_DBFS = -1.0  # the built-in synth normalises its peak to this level
RELEASE_TAIL_S = 0.4  # the built-in synth's output runs this long past the last note-off

# Where General MIDI soundfonts live on Debian (fluid-soundfont-gm, timgm6mb-soundfont, and the
# alternatives link); pretty_midi's own TimGM6mb.sf2 is tried after these.
SYSTEM_SOUNDFONTS = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/TimGM6mb.sf2",
    "/usr/share/sounds/sf2/default-GM.sf2",
)


# --------------------------------------------------------------------------------------------
# Choosing a synthesizer


@dataclass(frozen=True)
class SynthChoice:
    """The synthesizer `render_wav` will use, and why.

    Attributes:
        name: "fluidsynth:<soundfont path>" or "builtin" (what `render_wav` returns).
        soundfont: the soundfont file for FluidSynth, else None.
        reason: one line saying why this synthesizer was chosen, for the caller's notice.
    """

    name: str
    soundfont: Path | None
    reason: str


def _pretty_midi_soundfont() -> Path | None:
    """The TimGM6mb.sf2 shipped inside the pretty_midi package, found without importing it."""
    spec = importlib.util.find_spec("pretty_midi")
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / "TimGM6mb.sf2"


def find_soundfont(soundfont: str | os.PathLike | None = None) -> Path | None:
    """Find a General MIDI soundfont.

    Search order: `soundfont`, env JAZZGEN_SOUNDFONT, the Debian paths in SYSTEM_SOUNDFONTS, then
    the TimGM6mb.sf2 inside the pretty_midi package.

    Args:
        soundfont: a soundfont the user named; it must exist.

    Returns:
        The first existing file, or None when there is none.

    Raises:
        JazzgenError: `soundfont` was given but is not a file (a typo should not silently fall
            back to another sound).
    """
    if soundfont is not None:
        if not Path(soundfont).is_file():  # follows links; a FIFO or device is not a soundfont
            raise JazzgenError(f"soundfont not found: {soundfont}")
        return Path(soundfont)
    candidates = [os.environ.get("JAZZGEN_SOUNDFONT"), *SYSTEM_SOUNDFONTS, _pretty_midi_soundfont()]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def choose_synth(soundfont: str | os.PathLike | None = None, synth: str = "auto") -> SynthChoice:
    """Decide between FluidSynth and the built-in synthesizer.

    Args:
        soundfont: an explicit soundfont file (see `find_soundfont`).
        synth: "auto" (FluidSynth when possible, else built-in), "fluidsynth" (fail if it
            cannot be used) or "builtin".

    Returns:
        The choice, with a one-line reason.

    Raises:
        JazzgenError: unknown `synth`, a named soundfont that is missing, or "fluidsynth"
            requested but unavailable.
    """
    if synth not in ("auto", "fluidsynth", "builtin"):
        raise JazzgenError(f"unknown synthesizer {synth!r} (auto, fluidsynth or builtin)")
    if synth == "builtin":
        return SynthChoice("builtin", None, "built-in synthesizer requested")
    # A named soundfont is checked first, with or without FluidSynth: a typo is an error on every
    # machine, not only on those where FluidSynth happens to be installed.
    named = find_soundfont(soundfont) if soundfont is not None else None
    if shutil.which("fluidsynth") is None:
        reason = "fluidsynth is not on PATH (Debian package: fluidsynth)"
    else:
        found = named or find_soundfont()
        if found is not None:
            return SynthChoice(f"fluidsynth:{found}", found, f"FluidSynth with {found}")
        reason = "no General MIDI soundfont found (Debian package: fluid-soundfont-gm)"
    if synth == "fluidsynth":
        raise JazzgenError(f"cannot use FluidSynth: {reason}")
    return SynthChoice("builtin", None, reason)


# --------------------------------------------------------------------------------------------
# FluidSynth


FLUIDSYNTH_TICKS_PER_BEAT = 480


def _prepare_for_fluidsynth(roll: Roll) -> mido.MidiFile:
    """A MIDI file in which melody and chords play distinct GM programs on distinct channels.

    The melody goes to channel 0 (with the tenor sax, unless its own program differs from the
    chords'), the chords to channel 1 with the piano, a bass to channel 2 and drums to channel
    10 with their own programs, so one part's program change can never re-voice another; the
    division is 480 (mido cannot write the 55440 some files have).
    """
    def tick(t: int) -> int:
        return round(t * FLUIDSYNTH_TICKS_PER_BEAT / roll.ticks_per_beat)

    def track(name: str, events: list[tuple[int, int, mido.Message]]) -> mido.MidiTrack:
        out, now = mido.MidiTrack([mido.MetaMessage("track_name", name=name, time=0)]), 0
        for at, _, msg in sorted(events, key=lambda e: (e[0], e[1])):  # note-offs before note-ons
            out.append(msg.copy(time=at - now))
            now = at
        return out

    conductor = [(tick(t), 0, mido.MetaMessage("set_tempo", tempo=us)) for t, us in roll.tempos]
    conductor += [(tick(t), 0, mido.MetaMessage("time_signature", numerator=n, denominator=d))
                  for t, n, d in roll.time_signatures]
    mid = mido.MidiFile(type=1, ticks_per_beat=FLUIDSYNTH_TICKS_PER_BEAT)
    mid.tracks.append(track("conductor", conductor))
    own = dict(roll.programs)
    melody = own["melody"] if own.get("melody", CHORDS_PROGRAM) != own.get("chords", CHORDS_PROGRAM) else MELODY_PROGRAM
    voices = ((0, "melody", melody), (1, "chords", CHORDS_PROGRAM), (2, "bass", own.get("bass", BASS_PROGRAM)),
              (DRUM_CHANNEL, "drums", own.get("drums", 0)))
    for channel, part, program in voices:
        events = [(0, 0, mido.Message("program_change", channel=channel, program=program))]
        for n in roll.notes:
            if n.part == part:
                events.append((tick(n.start_tick), 1, mido.Message("note_on", channel=channel, note=n.pitch,
                                                                   velocity=n.velocity)))
                events.append((tick(n.end_tick), 0, mido.Message("note_off", channel=channel, note=n.pitch)))
        if len(events) > 1:
            mid.tracks.append(track(part, events))
    return mid


def _render_fluidsynth(roll: Roll, wav_path: Path, soundfont: Path, sample_rate: int, length_s: float) -> None:
    """Render with the FluidSynth command line into `wav_path` (a temporary path)."""
    with tempfile.TemporaryDirectory(prefix="jazzgen-render-") as tmp:
        prepared = Path(tmp) / "in.mid"
        _prepare_for_fluidsynth(roll).save(prepared)
        cmd = ["fluidsynth", "-ni", "-q", "-g", str(FLUIDSYNTH_GAIN), "-r", str(sample_rate)]
        # The temporary output name ends in .tmp, so name the file type.
        cmd += ["-T", "wav", "-F", str(wav_path), str(soundfont), str(prepared)]
        try:
            # Renders at ~27x real time; the timeout only catches a hung process.
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=60 + 2 * length_s)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise JazzgenError(f"fluidsynth failed: {e}") from e
    # FluidSynth may exit 0 after failing to load a soundfont, so check the output too.
    if done.returncode != 0 or not wav_path.is_file() or wav_path.stat().st_size <= 44:
        lines = f"{done.stdout}\n{done.stderr}".strip().splitlines() or ["no output"]
        raise JazzgenError(f"fluidsynth failed (exit {done.returncode}): {lines[-1]}")


# --------------------------------------------------------------------------------------------
# Built-in synthesizer: one tone per note, summed, normalised


def _envelope(
    n: int,
    sr: int,
    hold_s: float,
    attack_s: float,
    release_s: float,
    decay_per_s: float,
    sustain: float,
) -> np.ndarray:
    """Envelope of `n` samples: attack, decay towards `sustain`, release after `hold_s`."""
    t = np.arange(n) / sr
    env = sustain + (1.0 - sustain) * np.exp(-decay_per_s * t)
    env *= np.minimum(t / attack_s, 1.0)
    # After note-off, fall exponentially to ~0 (-60 dB) over the release, from where it stood.
    after = t >= hold_s
    env[after] *= np.exp(-6.9 * (t[after] - hold_s) / release_s)
    return env


# Note timbres: (release in seconds, harmonic amplitudes, attack s, decay per s, sustain level).
_TIMBRES = {
    # Reedy: strong low harmonics, odd ones a little louder, a delayed 5 Hz vibrato.
    "melody": (0.12, (1.0, 0.55, 0.6, 0.3, 0.35, 0.15, 0.18, 0.08), 0.03, 8.0, 0.75),
    # Piano-like: a fast attack, then every harmonic dies away, the high ones sooner; a
    # plucked bass is the same with fewer, quicker harmonics.
    "chords": (0.3, (1.0, 0.45, 0.25, 0.12, 0.06, 0.03), 0.005, 1.5, 0.0),
    "bass": (0.08, (1.0, 0.5, 0.2), 0.005, 1.5, 0.0),
}


# Bounded, and float32: an entry holds up to a whole held note (a few hundred KB).
@functools.lru_cache(maxsize=256)
def _held(pitch: int, part: str, sr: int, n: int) -> np.ndarray:
    """The first `n` samples of a note never released: harmonics under attack and decay.

    Every sample depends only on the time since the onset, so one buffer serves every note of
    this pitch that is shorter: lengths are rounded up to a power of two to share buffers.
    """
    freq = 440.0 * 2 ** ((pitch - 69) / 12)
    _, harmonics, attack_s, decay_per_s, sustain = _TIMBRES[part]
    t = np.arange(n) / sr
    if part == "melody":
        vibrato = 1.0 + 0.004 * np.minimum(t / 0.4, 1.0) * np.sin(2 * np.pi * 5.0 * t)
        phase = 2 * np.pi * np.cumsum(freq * vibrato) / sr
        decays = (0.0,) * len(harmonics)
    else:
        phase = 2 * np.pi * freq * t
        decays = tuple(1.2 * k for k in range(len(harmonics)))
    env = _envelope(n, sr, np.inf, attack_s, 1.0, decay_per_s=decay_per_s, sustain=sustain)
    wave_ = np.zeros(n)
    for k, (amp, decay) in enumerate(zip(harmonics, decays, strict=True), start=1):
        if k * freq >= sr / 2:  # above Nyquist it would alias into a wrong pitch
            break
        wave_ += amp * np.exp(-decay * t) * np.sin(k * phase)
    wave_ = (wave_ * env / sum(harmonics)).astype(np.float32)
    wave_.flags.writeable = False  # shared through the cache
    return wave_


def _tone(pitch: int, n_hold: int, part: str, sr: int) -> np.ndarray:
    """The waveform of one note at full velocity: held for `n_hold` samples, then released.

    Sliced from the cached held tone (notes of one pitch differ only in where the release
    starts), so a long piece costs a multiply per note instead of its harmonics afresh.
    """
    if part == "drums":
        return _drum(pitch, sr)
    release = _TIMBRES[part][0]
    n = n_hold + int(release * sr)
    wave_ = _held(pitch, part, sr, 1 << max(12, (n - 1).bit_length()))[:n].copy()
    # After note-off, fall exponentially to ~0 (-60 dB) over the release, from where it stood.
    wave_[n_hold:] *= np.exp(-6.9 * np.arange(n - n_hold) / (release * sr)).astype(np.float32)
    return wave_


@functools.lru_cache(maxsize=32)
def _drum(pitch: int, sr: int) -> np.ndarray:
    """A drum hit: a falling sine thump for kicks and toms, filtered noise for snare and cymbals."""
    rng = np.random.default_rng(pitch)  # the same hit always sounds the same
    if pitch in (35, 36, 41, 43, 45, 47, 48, 50):  # bass drums and toms
        n = int(0.25 * sr)
        t = np.arange(n) / sr
        freq = {35: 50.0, 36: 55.0}.get(pitch, 80.0 + 6.0 * (pitch - 41))
        wave_ = np.sin(2 * np.pi * np.cumsum(freq * (1 + 1.5 * np.exp(-t * 30))) / sr) * np.exp(-t * 14)
    else:
        cymbal = pitch in (42, 44, 46, 49, 51, 52, 53, 55, 57, 59)
        n = int((0.6 if pitch in (49, 51, 52, 53, 55, 57, 59) else 0.12) * sr)
        t = np.arange(n) / sr
        noise = rng.standard_normal(n)
        if cymbal:  # keep the hiss: difference of neighbours takes out the low end
            noise = np.diff(noise, prepend=0.0)
        wave_ = 0.4 * noise * np.exp(-t * (9.0 if n > 0.3 * sr else 35.0))
    wave_ = wave_.astype(np.float32)
    wave_.flags.writeable = False
    return wave_


def _synthesize(roll: Roll, sample_rate: int) -> np.ndarray:
    """Mix every note of `roll` into a mono float signal (unnormalised)."""
    starts = roll.seconds(np.array([n.start_tick for n in roll.notes]))
    ends = roll.seconds(np.array([n.end_tick for n in roll.notes]))
    last_s = float(roll.seconds(np.array([roll.end_tick]))[0])
    out = np.zeros(int(math.ceil((last_s + RELEASE_TAIL_S) * sample_rate)))
    # A block chord sums several voices; scale them so the comping sits under the melody.
    gains = {"melody": 1.0, "chords": 0.35, "bass": 0.45, "drums": 0.3}  # the solo over the band
    for note, start_s, end_s in zip(roll.notes, starts, ends, strict=True):
        i = int(round(start_s * sample_rate))
        n_hold = max(1, int(round((end_s - start_s) * sample_rate)))
        tone = _tone(note.pitch, n_hold, note.part, sample_rate)
        tone = tone[: len(out) - i]
        out[i : i + len(tone)] += gains[note.part] * (note.velocity / 127) * tone
    return out


def _write_wav16(path: Path, signal: np.ndarray, sample_rate: int) -> None:
    """Normalise `signal` to PEAK_DBFS and write it as 16-bit mono PCM."""
    peak = float(np.max(np.abs(signal))) if signal.size else 0.0
    if peak > 0:
        signal = signal * (10 ** (PEAK_DBFS / 20) / peak)
    pcm = np.round(signal * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm.tobytes())


def render_wav(
    midi_path: str | os.PathLike,
    wav_path: str | os.PathLike,
    soundfont: str | os.PathLike | None = None,
    sample_rate: int = 44100,
    synth: str = "auto",
) -> str:
    """Render a MIDI file to a WAV file.

    FluidSynth is used when it is on PATH and a soundfont is found (see `find_soundfont`); the
    melody and chords tracks are given distinct GM programs first (tenor sax 66, piano 0). Else
    the built-in synthesizer writes 16-bit mono audio normalised to -1 dBFS. Call `choose_synth`
    for the one-line reason behind the choice (to print when "builtin" is returned).

    Args:
        midi_path: the MIDI file to play.
        wav_path: the WAV file to write (atomically: never left half-written).
        soundfont: a General MIDI .sf2 file to use instead of searching.
        sample_rate: samples per second of the output.
        synth: "auto", "fluidsynth" or "builtin" (see `choose_synth`).

    Returns:
        "fluidsynth:<soundfont path>" or "builtin".

    Raises:
        JazzgenError: unreadable MIDI, no notes, or a FluidSynth failure.
    """
    choice = choose_synth(soundfont, synth)
    roll = read_roll(midi_path)
    with atomic_path(wav_path) as tmp:
        if choice.soundfont is not None:
            length_s = float(roll.seconds(np.array([roll.end_tick]))[0])
            _render_fluidsynth(roll, tmp, choice.soundfont, sample_rate, length_s)
        else:
            _write_wav16(tmp, _synthesize(roll, sample_rate), sample_rate)
    return choice.name
