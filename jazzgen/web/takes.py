"""Takes (a generated solo over a chart) and trades (fours with a person), and their files.

A take's MIDI and WAV are written when it is made (the page plays the WAV at once); its
MusicXML only when first asked for. A trade keeps both players' notes; its recording is one
MIDI file with the person, jazzgen and the chords each on their own track.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from jazzgen.music.score import ChordSpan, Note, Score
from jazzgen.web.studio import roles

SAMPLE_RATE = 22050  # the page's audio: half CD rate keeps files small and rendering quick
PERSON_PROGRAM = 0  # what the person's keys sound like in the recording (piano)


def chords_json(chords) -> list[dict]:
    """Chord spans as the page draws them: lead-sheet spelling, start and length in beats."""
    from jazzgen.music.chords import chord_symbol_text

    return [{"symbol": chord_symbol_text(s.chord), "start": s.start_beat, "duration": s.duration_beats}
            for s in chords]


def notes_json(notes, chords) -> list[dict]:
    """Notes as the page draws them, each with its role against the chord at its onset."""
    return [{"pitch": n.pitch, "start": n.start_beat, "duration": n.duration_beats, "velocity": n.velocity,
             "role": r} for n, r in zip(notes, roles(notes, chords), strict=True)]


@dataclass
class Take:
    """One generated solo over a chart, with what made it (for regenerating a bar range)."""

    number: int
    score: Score
    bars: int
    program: int
    seed: int
    folder: Path

    @property
    def beats_per_bar(self) -> float:
        return self.score.beats_per_bar

    def path(self, suffix: str) -> Path:
        return self.folder / f"take-{self.number}.{suffix}"

    def write(self) -> str:
        """Write the MIDI and WAV; returns the synthesizer used."""
        from jazzgen.music.midi_io import write_midi
        from jazzgen.music.render import render_wav

        write_midi(self.score, self.path("mid"), melody_program=self.program)
        return render_wav(self.path("mid"), self.path("wav"), sample_rate=SAMPLE_RATE)

    def musicxml(self) -> Path:
        """The lead sheet as MusicXML (written on first request: it is the slowest file)."""
        path = self.path("musicxml")
        if not path.is_file():
            from jazzgen.web.leadsheet import write_musicxml

            write_musicxml(self.score, path)
        return path

    def to_json(self) -> dict:
        from jazzgen.web.leadsheet import engrave

        svg, layout = engrave(self.score, self.bars)
        base = f"/api/files/take/{self.number}"
        return {
            "take": self.number, "bars": self.bars, "beats_per_bar": self.beats_per_bar,
            "meter": "{}/{}".format(*self.score.time_signature), "tempo": self.score.tempo_qpm,
            "notes": notes_json(self.score.notes, self.score.chords), "chords": chords_json(self.score.chords),
            "leadsheet": svg, "layout": layout,
            "files": {"midi": f"{base}/mid", "wav": f"{base}/wav", "musicxml": f"{base}/musicxml"},
        }


@dataclass
class Trade:
    """A trading session: the person plays `per_turn` bars, jazzgen answers the next `per_turn`.

    Round r: the person's bars are [2r·T, 2r·T + T), jazzgen's [2r·T + T, 2(r+1)·T) (T =
    per_turn, bars from 0); the count-in bar comes before beat 0.
    """

    number: int
    chords: tuple[ChordSpan, ...]
    per_turn: int
    rounds: int
    time_signature: tuple[int, int]
    tempo: float
    program: int
    seed: int
    temperature: float
    top_k: int
    folder: Path
    person: list[Note] = field(default_factory=list)
    machine: list[Note] = field(default_factory=list)
    answered: set = field(default_factory=set)

    @property
    def beats_per_bar(self) -> float:
        return self.time_signature[0] * 4.0 / self.time_signature[1]

    def turn_beats(self, round_: int) -> tuple[float, float, float]:
        """(person starts, jazzgen starts, jazzgen ends) of round `round_`, in beats."""
        t = self.per_turn * self.beats_per_bar
        return 2 * round_ * t, (2 * round_ + 1) * t, (2 * round_ + 2) * t

    def path(self, suffix: str) -> Path:
        return self.folder / f"trade-{self.number}.{suffix}"

    def answer_path(self, round_: int) -> Path:
        return self.folder / f"trade-{self.number}-answer-{int(round_)}.wav"

    def write_answer(self, round_: int, notes, start: float) -> str:
        """The answer's audio, starting at its first beat (`start`); returns its URL."""
        from jazzgen.web.sound import notes_to_wav
        from jazzgen.web.studio import shift

        notes_to_wav(shift(notes, -start), self.tempo, self.answer_path(round_),
                     length_beats=self.per_turn * self.beats_per_bar, sample_rate=SAMPLE_RATE)
        return f"/api/trades/{self.number}/answers/{int(round_)}.wav"

    def write_band(self) -> Path:
        """The band part (the chords, looped over every round) as MIDI and WAV; returns the WAV."""
        from jazzgen.music.midi_io import write_midi
        from jazzgen.music.render import render_wav

        band = Score(notes=(), chords=self.chords, time_signature=self.time_signature, tempo_qpm=self.tempo)
        write_midi(band, self.path("mid"))
        render_wav(self.path("mid"), self.path("wav"), sample_rate=SAMPLE_RATE)
        return self.path("wav")

    def to_json(self) -> dict:
        turns = []
        for r in range(self.rounds):
            a, b, c = self.turn_beats(r)
            turns.append({"round": r, "person": [a, b], "jazzgen": [b, c]})
        return {"trade": self.number, "per_turn": self.per_turn, "rounds": self.rounds,
                "beats_per_bar": self.beats_per_bar, "tempo": self.tempo, "count_in_beats": self.beats_per_bar,
                "meter": "{}/{}".format(*self.time_signature), "chords": chords_json(self.chords), "turns": turns,
                "band_wav": f"/api/files/trade/{self.number}/wav",
                "recording": f"/api/trades/{self.number}/recording.mid"}

    def write_recording(self, path: Path) -> Path:
        """Both players and the chords on their own named tracks (`you`, `jazzgen`, `chords`)."""
        import mido

        from jazzgen.core.files import atomic_path
        from jazzgen.music.midi_io import chord_voicing

        tpb = 480
        tick = lambda beat: round(beat * tpb)  # noqa: E731

        def track(name: str, channel: int, program: int, notes) -> mido.MidiTrack:
            events = []
            for pitch, start, end, velocity in notes:
                on = mido.Message("note_on", channel=channel, note=pitch, velocity=velocity)
                off = mido.Message("note_off", channel=channel, note=pitch)
                events += [(tick(start), 1, on), (max(tick(start) + 1, tick(end)), 0, off)]
            out = mido.MidiTrack([mido.MetaMessage("track_name", name=name),
                                  mido.Message("program_change", channel=channel, program=program)])
            now = 0
            for t, _, message in sorted(events, key=lambda e: (e[0], e[1])):
                out.append(message.copy(time=t - now))
                now = t
            return out

        chords = [(p, s.start_beat, s.end_beat - 1 / 16, 70) for s in self.chords if s.chord.root is not None
                  for p in chord_voicing(s.chord.root, s.chord.pitch_classes, s.chord.bass)]
        num, den = self.time_signature
        conductor = mido.MidiTrack([mido.MetaMessage("time_signature", numerator=num, denominator=den),
                                    mido.MetaMessage("set_tempo", tempo=round(60e6 / self.tempo))])
        mid = mido.MidiFile(type=1, ticks_per_beat=tpb)
        rows = lambda notes: [(n.pitch, n.start_beat, n.end_beat, n.velocity) for n in notes]  # noqa: E731
        mid.tracks += [conductor, track("you", 0, PERSON_PROGRAM, rows(self.person)),
                       track("jazzgen", 2, self.program, rows(self.machine)), track("chords", 1, 0, chords)]
        with atomic_path(path) as tmp:
            mid.save(tmp)
        return path

