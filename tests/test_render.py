"""Tests for jazzgen.music.render: WAV through both synthesizers, and the piano-roll PNG."""

from __future__ import annotations

import struct
import subprocess
import sys
import wave
from pathlib import Path

import mido
import numpy as np
import pytest

from jazzgen.errors import JazzgenError
from jazzgen.music import render
from jazzgen.music.roll import read_roll

TPB = 480
QPM = 120  # 0.5 s per beat, 2 s per 4/4 bar
CHORD_BARS = (  # (bar index, symbol, voicing): bars 0-1 chords alone
    (0, "Dm7", (50, 53, 57, 60)),
    (1, "G7", (55, 59, 62, 65)),
    (2, "Cmaj7", (48, 52, 55, 59)),
)
MELODY_START_BAR = 2  # bars 2-3 (4-8 s) melody alone at the end; bar 2 has both
MELODY_END_BAR = 4


def make_midi(
    path: Path, ticks_per_beat: int = TPB, melody_channel: int = 0, chords_channel: int = 1
) -> Path:
    """Write a two-track jazzgen-style MIDI file: 2 bars of chords alone, then melody.

    Timeline (4/4, 120 qpm): chords in bars 1-3 (0-6 s), melody eighth notes in bars 3-4 (4-8 s).
    """
    scale = ticks_per_beat / TPB
    bar = 4 * TPB
    mid = mido.MidiFile(type=1, ticks_per_beat=ticks_per_beat)

    def track_from(events: list[tuple[int, mido.Message | mido.MetaMessage]]) -> mido.MidiTrack:
        track = mido.MidiTrack()
        now = 0
        for tick, msg in sorted(events, key=lambda e: e[0]):
            at = round(tick * scale)
            track.append(msg.copy(time=at - now))
            now = at
        return track

    conductor = [
        (0, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(QPM))),
        (0, mido.MetaMessage("time_signature", numerator=4, denominator=4)),
    ]
    chords: list = [(0, mido.MetaMessage("track_name", name="chords"))]
    chords.append((0, mido.Message("program_change", channel=chords_channel, program=0)))
    for index, symbol, voicing in CHORD_BARS:
        chords.append((index * bar, mido.MetaMessage("marker", text=symbol)))
        for pitch in voicing:
            note = {"channel": chords_channel, "note": pitch}
            chords.append((index * bar, mido.Message("note_on", velocity=70, **note)))
            chords.append(((index + 1) * bar - 1, mido.Message("note_off", **note)))
    melody: list = [(0, mido.MetaMessage("track_name", name="melody"))]
    melody.append((0, mido.Message("program_change", channel=melody_channel, program=66)))
    scale_notes = [72, 74, 76, 77, 79, 81, 83, 84]
    for i in range((MELODY_END_BAR - MELODY_START_BAR) * 8):
        start = MELODY_START_BAR * bar + i * TPB // 2
        pitch = scale_notes[i % len(scale_notes)]
        note = {"channel": melody_channel, "note": pitch}
        melody.append((start, mido.Message("note_on", velocity=100, **note)))
        melody.append((start + TPB // 2 - 10, mido.Message("note_off", **note)))
    for events in (conductor, chords, melody):
        mid.tracks.append(track_from(events))
    if ticks_per_beat > 32767:
        # mido writes the division as a signed short; this puts the unsigned value in the header.
        mid.ticks_per_beat = ticks_per_beat - 65536
    mid.save(path)
    return path


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """Samples as float in [-1, 1] (channels averaged) and the sample rate."""
    with wave.open(str(path), "rb") as w:
        assert w.getsampwidth() == 2
        rate, channels = w.getframerate(), w.getnchannels()
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64)
    return pcm.reshape(-1, channels).mean(axis=1) / 32768, rate


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x**2)))


def check_audio(wav: Path, midi: Path, sample_rate: int, tail_s: float) -> np.ndarray:
    """Length (within 0.5 s + the synth's `tail_s`), rate and both parts audible."""
    audio, rate = read_wav(wav)
    assert rate == sample_rate
    midi_len = mido.MidiFile(midi).length
    assert midi_len == pytest.approx(8.0, abs=0.05)
    assert midi_len - 0.5 <= len(audio) / rate <= midi_len + 0.5 + tail_s
    chords_only = audio[int(0.2 * rate) : int(3.8 * rate)]  # bars 1-2
    melody_only = audio[int(6.2 * rate) : int(7.8 * rate)]  # bar 4
    last = audio[-int(0.1 * rate) :]
    loudest = max(rms(chords_only), rms(melody_only))
    assert rms(chords_only) > 0.1 * loudest
    assert rms(melody_only) > 0.1 * loudest
    assert rms(last) < 0.05 * loudest  # the file ends once the sound has died away
    return audio


@pytest.fixture
def midi_file(tmp_path: Path) -> Path:
    return make_midi(tmp_path / "solo.mid")


def test_builtin_wav(midi_file: Path, tmp_path: Path) -> None:
    wav = tmp_path / "out" / "solo.wav"
    assert render.render_wav(midi_file, wav, synth="builtin") == "builtin"
    audio = check_audio(wav, midi_file, 44100, tail_s=render.RELEASE_TAIL_S)
    assert np.max(np.abs(audio)) * 32768 <= 32767 * 0.9  # -1 dBFS, never clipped
    assert np.max(np.abs(audio)) > 0.5  # normalised, not left quiet
    assert [p.name for p in wav.parent.iterdir()] == ["solo.wav"]  # no temporary left over


def test_builtin_parts_sound_different(midi_file: Path, tmp_path: Path) -> None:
    """The reedy melody is richer in upper harmonics than the decaying piano chords."""
    wav = tmp_path / "solo.wav"
    render.render_wav(midi_file, wav, sample_rate=22050, synth="builtin")
    audio, rate = read_wav(wav)
    assert rate == 22050

    def brightness(x: np.ndarray) -> float:  # spectral centroid over fundamental-ish energy
        spectrum = np.abs(np.fft.rfft(x))
        freqs = np.fft.rfftfreq(len(x), 1 / rate)
        return float((spectrum * freqs).sum() / spectrum.sum())

    assert brightness(audio[int(6.2 * rate) : int(7.8 * rate)]) > 1.5 * brightness(
        audio[int(0.2 * rate) : int(3.8 * rate)]
    )


def test_large_division_is_read(tmp_path: Path) -> None:
    """A 55440 ticks/beat header (which mido reads as negative) renders at the right length."""
    midi = make_midi(tmp_path / "big.mid", ticks_per_beat=55440)
    assert midi.read_bytes()[12:14] == struct.pack(">H", 55440)
    wav = tmp_path / "big.wav"
    render.render_wav(midi, wav, synth="builtin")
    audio, rate = read_wav(wav)
    assert 7.5 <= len(audio) / rate <= 8.5 + render.RELEASE_TAIL_S
    png = tmp_path / "big.png"
    render.render_png(midi, png)
    assert png.stat().st_size > 10_000


def test_unreadable_midi_raises(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"MThd\x00\x00\x00\x06garbage")
    with pytest.raises(JazzgenError, match="bad.mid"):
        render.render_wav(bad, tmp_path / "bad.wav", synth="builtin")
    with pytest.raises(JazzgenError):
        render.render_png(tmp_path / "missing.mid", tmp_path / "bad.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.mid"]


@pytest.mark.parametrize("fluidsynth", [None, "/usr/bin/fluidsynth"], ids=["without", "with"])
def test_missing_named_soundfont_raises(midi_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        fluidsynth: str | None) -> None:
    """A mistyped soundfont is an error whether or not FluidSynth is installed, and writes nothing."""
    monkeypatch.setattr(render.shutil, "which", lambda name: fluidsynth)
    with pytest.raises(JazzgenError, match="soundfont not found"):
        render.render_wav(midi_file, tmp_path / "x.wav", soundfont=tmp_path / "nope.sf2")
    assert not (tmp_path / "x.wav").exists()


def test_builtin_chosen_without_fluidsynth(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render.shutil, "which", lambda name: None)
    choice = render.choose_synth()
    assert choice.name == "builtin" and "fluidsynth" in choice.reason
    with pytest.raises(JazzgenError, match="cannot use FluidSynth"):
        render.choose_synth(synth="fluidsynth")


def test_programs_made_distinct(tmp_path: Path) -> None:
    """Both tracks on channel 0 with one program: FluidSynth gets sax and piano apart."""
    midi = make_midi(tmp_path / "shared.mid", melody_channel=0, chords_channel=0)
    prepared = render._prepare_for_fluidsynth(read_roll(midi))
    voices = {}
    for track in prepared.tracks:
        name = " ".join(m.name for m in track if m.type == "track_name")
        channels = {m.channel for m in track if m.type in ("note_on", "note_off")}
        programs = [(m.channel, m.program) for m in track if m.type == "program_change"]
        if channels:
            voices[name] = (channels, programs)
    assert voices == {"chords": ({1}, [(1, 0)]), "melody": ({0}, [(0, 66)])}


@pytest.mark.slow
def test_fluidsynth_wav(midi_file: Path, tmp_path: Path) -> None:
    choice = render.choose_synth()
    if choice.soundfont is None:
        pytest.skip(f"FluidSynth unavailable: {choice.reason}")
    wav = tmp_path / "fs.wav"
    assert render.render_wav(midi_file, wav) == choice.name
    assert choice.name.startswith("fluidsynth:")
    # FluidSynth renders until its voices and reverb die away: about 2.3 s with FluidR3.
    audio = check_audio(wav, midi_file, 44100, tail_s=3.0)
    assert np.max(np.abs(audio)) < 0.999  # the 0.2 gain keeps FluidSynth from clipping


def test_png(midi_file: Path, tmp_path: Path) -> None:
    png = tmp_path / "roll.png"
    render.render_png(midi_file, png, title="test solo")
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 10_000
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1600, 600)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["roll.png", "solo.mid"]


def test_png_leaves_pyplot_alone(midi_file: Path, tmp_path: Path) -> None:
    """Drawing needs no pyplot, so no global backend or open figures change."""
    code = (
        "import sys; from jazzgen.music.render import render_png; "
        f"render_png({str(midi_file)!r}, {str(tmp_path / 'roll.png')!r}); "
        "assert 'matplotlib.pyplot' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
