"""Takes (a performance over a chart) and trades (fours with a person), and their files.

A take wraps the library's `Performance` (solo, chart, band parts, instrument, tempo, swing):
its MIDI and WAV are written when it is made (the page plays the WAV at once), its MusicXML
lead sheet when first asked for. A trade keeps both players' notes over a looped chart; its
recording is the library's band MIDI file with jazzgen on the `melody` track and the person on
a track of their own named `you`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

from jazzgen.errors import JazzgenError
from jazzgen.music.band import Part
from jazzgen.music.performance import Performance
from jazzgen.music.score import Note, Score
from jazzgen.web.studio import roles

log = logging.getLogger("jazzgen.web")
SAMPLE_RATE = 22050  # the page's audio: half CD rate keeps files small and rendering quick
PERSON_PROGRAM, PERSON_CHANNEL = 0, 3  # the person's keys, in the recording: piano on channel 4


def chords_json(chords) -> list[dict]:
    """Chord spans as the page draws them: lead-sheet spelling, start and length in beats."""
    from jazzgen.music.charts import spell

    return [{"symbol": spell(s.chord), "start": s.start_beat, "duration": s.duration_beats} for s in chords]


def notes_json(notes, chords) -> list[dict]:
    """Notes as the page draws them, each with its role against the chord at its onset."""
    return [{"pitch": n.pitch, "start": n.start_beat, "duration": n.duration_beats, "velocity": n.velocity,
             "role": r} for n, r in zip(notes, roles(notes, chords), strict=True)]


def _write_audio(performance: Performance, midi: Path, wav: Path) -> None:
    """The performance's band MIDI file, and its audio rendered from it (silence if nothing sounds)."""
    from jazzgen.music.render import render_wav
    from jazzgen.web.sound import notes_to_wav

    performance.write_midi(midi)
    try:
        render_wav(midi, wav, sample_rate=SAMPLE_RATE)
    except JazzgenError as e:
        # A chart too short for any note (a bar of 1/16) still plays: its length in silence.
        if getattr(e, "reason", "") != "no notes" and not str(e).endswith("no notes to render"):
            raise
        notes_to_wav((), performance.tempo_qpm, wav, performance.chart.total_beats, SAMPLE_RATE)


@dataclass
class Take:
    """One performance the page shows, numbered within its session."""

    number: int
    performance: Performance
    folder: Path

    def path(self, suffix: str) -> Path:
        return self.folder / f"take-{self.number}.{suffix}"

    def write(self) -> None:
        """Write the MIDI (every part) and the WAV rendered from it."""
        _write_audio(self.performance, self.path("mid"), self.path("wav"))

    def musicxml(self) -> Path:
        """The lead sheet as MusicXML (written on first request).

        Raises:
            JazzgenError: the notation writer failed on this take (an unusual meter, say).
        """
        path = self.path("musicxml")
        if not path.is_file():
            try:
                self.performance.write_musicxml(path)
            except (KeyError, ValueError, ZeroDivisionError) as e:  # a notation gap, not the request's fault
                log.exception("MusicXML of take %s", self.number)
                raise JazzgenError(f"no MusicXML for this take: the lead-sheet writer cannot notate it "
                                   f"({type(e).__name__}); MIDI and WAV are there") from None
        return path

    def to_json(self) -> dict:
        from jazzgen.web.leadsheet import engrave

        p = self.performance
        svg, layout = engrave(p.solo, p.chart)
        base = f"/api/files/take/{self.number}"
        return {
            "take": self.number, "title": p.title, "bars": p.bars, "bar_starts": p.chart.bar_starts(),
            "total_beats": p.chart.total_beats, "meter": "{}/{}".format(*p.chart.time_signature),
            "tempo": p.tempo_qpm, "swing": round(p.swing, 3), "style": p.style, "band": p.band,
            "key": p.chart.key, "instrument": p.instrument.name,
            "notes": notes_json(p.solo.notes, p.solo.chords), "chords": chords_json(p.solo.chords),
            "leadsheet": svg, "layout": layout,
            "files": {"midi": f"{base}/mid", "wav": f"{base}/wav", "musicxml": f"{base}/musicxml"},
        }


@dataclass
class Trade:
    """A trading session: the person plays `per_turn` bars, jazzgen answers the next `per_turn`.

    Round r: the person's bars are [2r·T, 2r·T + T), jazzgen's [2r·T + T, 2(r+1)·T) (T =
    per_turn, bars from 0); the count-in bar comes before beat 0. `band` is the performance
    of the band alone over the whole session (its solo empty).
    """

    number: int
    band: Performance
    per_turn: int
    rounds: int
    temperature: float
    top_k: int
    folder: Path
    person: list[Note] = field(default_factory=list)
    machine: list[Note] = field(default_factory=list)
    answered: set = field(default_factory=set)

    @property
    def chords(self):
        return self.band.solo.chords

    @property
    def beats_per_bar(self) -> float:
        return self.band.chart.bars[0].beats

    def turn_beats(self, round_: int) -> tuple[float, float, float]:
        """(person starts, jazzgen starts, jazzgen ends) of round `round_`, in beats."""
        starts = self.band.chart.bar_starts() + [self.band.chart.total_beats]
        t = self.per_turn
        return starts[2 * round_ * t], starts[(2 * round_ + 1) * t], starts[(2 * round_ + 2) * t]

    def path(self, suffix: str) -> Path:
        return self.folder / f"trade-{self.number}.{suffix}"

    def answer_path(self, round_: int) -> Path:
        return self.folder / f"trade-{self.number}-answer-{int(round_)}.wav"

    def write_band(self) -> None:
        """The band over every round, as MIDI and WAV (what plays under both players)."""
        _write_audio(self.band, self.path("mid"), self.path("wav"))

    def write_answer(self, round_: int, notes, start: float) -> str:
        """The answer's audio, starting at its first beat (`start`); returns its URL."""
        from jazzgen.music.band import swing_notes
        from jazzgen.web.sound import notes_to_wav
        from jazzgen.web.studio import shift

        swung = [Note(*n) for n in swing_notes(((n.pitch, n.start_beat, n.duration_beats, n.velocity)
                                                for n in shift(notes, -start)), self.band.swing)]
        length = self.turn_beats(round_)[2] - start
        notes_to_wav(swung, self.band.tempo_qpm, self.answer_path(round_), length_beats=length, sample_rate=SAMPLE_RATE)
        return f"/api/trades/{self.number}/answers/{int(round_)}.wav"

    def to_json(self) -> dict:
        turns = []
        for r in range(self.rounds):
            a, b, c = self.turn_beats(r)
            turns.append({"round": r, "person": [a, b], "jazzgen": [b, c]})
        chart = self.band.chart
        return {"trade": self.number, "per_turn": self.per_turn, "rounds": self.rounds,
                "beats_per_bar": self.beats_per_bar, "bar_starts": chart.bar_starts(), "tempo": self.band.tempo_qpm,
                "count_in_beats": self.beats_per_bar, "meter": "{}/{}".format(*chart.time_signature),
                "chords": chords_json(self.chords), "turns": turns,
                "band_wav": f"/api/files/trade/{self.number}/wav",
                "recording": f"/api/trades/{self.number}/recording.mid"}

    def write_recording(self, path: Path) -> Path:
        """The session as one band MIDI file: jazzgen on `melody`, the person on `you`, the band."""
        solo = replace(self.band.solo, notes=tuple(sorted(self.machine, key=lambda n: n.start_beat)))
        you = Part("you", PERSON_PROGRAM, PERSON_CHANNEL,
                   tuple((n.pitch, n.start_beat, n.duration_beats, n.velocity) for n in self.person))
        return replace(self.band, solo=solo, parts=(*self.band.parts, you)).write_midi(path)


def empty_performance(chart, parts, instrument, tempo: float, swing: float, style: str, band: str,
                      seed: int) -> Performance:
    """The band alone over `chart` (a performance whose solo has no notes)."""
    solo = Score(notes=(), chords=tuple(chart.spans()), time_signature=chart.time_signature, tempo_qpm=tempo)
    return Performance(solo, chart, tuple(parts), instrument, tempo, swing, style, band, seed, "trading")
