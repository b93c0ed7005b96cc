"""A generated performance: the solo, the chart it was played over, the band, and how it is played.

`Performance` is what `jazzgen.generate` returns. It writes a band MIDI file (a conductor track
with the tempo and every meter change, the solo on the track named `melody`, chord symbols in
lead-sheet spelling as markers on the track named `chords`, which the comping piano plays, then
`bass` and `drums` on channel 10), a MusicXML lead sheet, audio and a piano roll, and shows
itself in a notebook as an audio player over the picture.
"""

from __future__ import annotations

import base64
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import mido

from jazzgen.core.files import atomic_path
from jazzgen.music.band import Part, swing_notes
from jazzgen.music.chart_writer import chart_text
from jazzgen.music.charts import Chart, spell
from jazzgen.music.instruments import Instrument
from jazzgen.music.midi_io import (
    CHORD_RELEASE_BEATS,
    MidiNote,
    _note_events,
    _track,
    chord_voicing,
)
from jazzgen.music.score import Score

TICKS_PER_BEAT = 480
MELODY_CHANNEL = 0


@dataclass(frozen=True)
class Performance:
    """One solo over a chart, with its band and the way it is played.

    Attributes:
        solo: the melody (beats, straight, velocities shaped) over the chart's chord spans.
        chart: the bars as played (form looped to the length asked for).
        parts: the band's parts (empty for --band none).
        instrument: the soloist, whose range the melody keeps to.
        tempo_qpm: quarter notes per minute.
        swing: long-short ratio of eighth pairs when played (1.0 = straight).
        style: swing, ballad, bossa or waltz.
        band: trio, bass or none.
        seed: the seed that made it.
        description: where the changes came from ("typed changes", "All the Things You Are").
        primer_notes: how many of the solo's first notes came from a primer file; they keep
            their own timing (they are not swung again).
    """

    solo: Score
    chart: Chart
    parts: tuple[Part, ...] = ()
    instrument: Instrument = field(default_factory=lambda: Instrument("tenor sax", 66, 44, 76))
    tempo_qpm: float = 160.0
    swing: float = 1.0
    style: str = "swing"
    band: str = "trio"
    seed: int = 0
    description: str = ""
    primer_notes: int = 0

    @property
    def notes(self):
        """The solo's notes (pitch, start_beat, duration_beats, velocity), in beats."""
        return self.solo.notes

    @property
    def title(self) -> str:
        return self.chart.title or self.description or "jazzgen solo"

    @property
    def bars(self) -> int:
        return len(self.chart.bars)

    def chart_text(self) -> str:
        """The chart played, as chart text in lead-sheet spelling (repeats written out)."""
        return chart_text(self.chart, spelled=True)

    # -- files ---------------------------------------------------------------------------------

    def write_midi(self, path: str | os.PathLike) -> Path:
        """Write the band MIDI file (atomically); returns its path."""
        path = Path(path)
        with atomic_path(path) as tmp:
            self._midi().save(tmp)
        return path

    def midi_bytes(self) -> bytes:
        """The MIDI file's bytes."""
        import io

        buffer = io.BytesIO()
        self._midi().save(file=buffer)
        return buffer.getvalue()

    def musicxml(self) -> str:
        """The lead sheet as MusicXML text (see `jazzgen.music.notation`)."""
        from jazzgen.music.notation import lead_sheet_xml

        return lead_sheet_xml(self)

    def write_musicxml(self, path: str | os.PathLike) -> Path:
        """Write the lead sheet (.musicxml); returns its path."""
        path = Path(path)
        with atomic_path(path) as tmp:
            Path(tmp).write_text(self.musicxml(), encoding="utf-8")
        return path

    def to_wav(self, path: str | os.PathLike | None = None, synth: str = "auto") -> Path | bytes:
        """Audio of every part (FluidSynth with a GM soundfont, else the built-in synthesizer).

        Returns:
            the path written, or the WAV bytes when `path` is None.
        """
        from jazzgen.music.render import render_wav

        with tempfile.TemporaryDirectory(prefix="jazzgen-") as tmp:
            midi = self.write_midi(Path(tmp) / "performance.mid")
            wav = Path(path) if path is not None else Path(tmp) / "performance.wav"
            render_wav(midi, wav, synth=synth)
            return wav if path is not None else wav.read_bytes()

    def piano_roll(self, path: str | os.PathLike | None = None) -> Path | bytes:
        """A piano-roll picture (PNG) with bar lines and chord symbols; bytes when `path` is None."""
        from jazzgen.music.render import render_png

        with tempfile.TemporaryDirectory(prefix="jazzgen-") as tmp:
            midi = self.write_midi(Path(tmp) / "performance.mid")
            png = Path(path) if path is not None else Path(tmp) / "roll.png"
            render_png(midi, png, title=self.title)
            return png if path is not None else png.read_bytes()

    def _repr_html_(self) -> str:
        """Notebook display: an audio player above the piano roll."""
        audio = base64.b64encode(self.to_wav()).decode("ascii")
        picture = base64.b64encode(self.piano_roll()).decode("ascii")
        return (f"<div><b>{_escape(self.title)}</b> &mdash; {self.bars} bars, {self.tempo_qpm:g} bpm, "
                f"{_escape(self.instrument.name)}, {self.band}<br>"
                f'<audio controls src="data:audio/wav;base64,{audio}"></audio><br>'
                f'<img src="data:image/png;base64,{picture}" style="max-width:100%"></div>')

    def __repr__(self) -> str:
        return (f"<Performance {self.title!r}: {len(self.solo.notes)} notes, {self.bars} bars, "
                f"{self.tempo_qpm:g} bpm, {self.instrument.name}, band {self.band}, seed {self.seed}>")

    # -- MIDI ------------------------------------------------------------------------------------

    def _midi(self) -> mido.MidiFile:
        """Conductor, melody, chords (markers + piano or block chords), then the other parts."""

        def ticks(beat: float) -> int:
            return round(beat * TICKS_PER_BEAT)

        conductor = [(0, 1, "set_tempo", (("tempo", round(60e6 / self.tempo_qpm)),))]
        for beat, (num, den) in self.chart.meter_changes():
            conductor.append((ticks(beat), 0, "time_signature", (("denominator", den), ("numerator", num))))
        tracks = [("conductor", conductor)]

        notes = [(n.pitch, n.start_beat, n.duration_beats, n.velocity) for n in self.solo.notes]
        melody = notes[:self.primer_notes] + list(swing_notes(notes[self.primer_notes:], self.swing))
        tracks.append(("melody", _events(melody, MELODY_CHANNEL, self.instrument.program, ticks)))

        parts = {p.name: p for p in self.parts}
        chords_part = parts.pop("chords", None)
        if chords_part is not None:
            chord_notes, channel, program = chords_part.notes, chords_part.channel, chords_part.program
        else:
            channel, program = 1, 0
            chord_notes = () if self.band != "none" else _block_chords(self.solo)
        chords = _events(swing_notes(chord_notes, self.swing), channel, program, ticks)
        for span in self.solo.chords:
            text = spell(span.chord).encode("latin-1", "replace").decode("latin-1")
            chords.append((ticks(span.start_beat), 1, "marker", (("text", text),)))
        tracks.append(("chords", chords))
        for part in parts.values():
            tracks.append((part.name, _events(swing_notes(part.notes, self.swing), part.channel, part.program,
                                              ticks)))

        end = ticks(self.chart.total_beats)
        mid = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_BEAT)
        for name, events in tracks:
            mid.tracks.append(_track(name, events, end))
        return mid


def _events(notes, channel: int, program: int, ticks) -> list[tuple]:
    events = [(0, 0, "program_change", (("channel", channel), ("program", program)))]
    for pitch, start, duration, velocity in notes:
        a = ticks(start)
        events += _note_events(channel, pitch, velocity, a, max(a + 1, ticks(start + duration)))
    return events


def _block_chords(score: Score) -> tuple[MidiNote, ...]:
    """The plain accompaniment of `--band none`: each chord held as a block (as jazzgen always wrote)."""
    notes = []
    for span in score.chords:
        if span.chord.root is None:
            continue
        release = min(CHORD_RELEASE_BEATS, span.duration_beats / 2)
        for pitch in chord_voicing(span.chord.root, span.chord.pitch_classes, span.chord.bass):
            notes.append(MidiNote(pitch, span.start_beat, span.duration_beats - release, 70))
    return tuple(notes)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
