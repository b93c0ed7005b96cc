"""What the studio plays beyond `jazzgen.generate`: regenerated bar ranges and trading answers.

A whole take is the library's own `jazzgen.generate` (the same solo the command line writes for
the same options). What the library has no call for is continuing a melody from a beat in the
middle: `Studio.continue_melody` does it with one loaded model (numpy engine, vocabulary,
tokenizer, loaded once so a request only samples). The notes before the beat are encoded with
the model's tokenizer and fed as a primer, then values are sampled for the beats wanted and
decoded over the chords from the primer's last pitch, in the instrument's range. "Regenerate
bars 5-8" is a continuation of bars 1-4 spliced back in front of bars 9 on; a trading answer is
a continuation of the person's phrase. All times are in beats (quarter notes) from the start.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from jazzgen.errors import JazzgenError
from jazzgen.music.score import ChordSpan, Note, Score

ROLE_NAMES = {"C": "chord", "S": "scale", "A": "approach", "X": "other"}
CONTEXT_BARS = 8  # bars of what precedes fed as the primer (longer adds time, not much music)
METERS = {"4/4": (4, 4), "3/4": (3, 4), "5/4": (5, 4), "6/8": (6, 8), "2/4": (2, 4), "12/8": (12, 8)}
KEYS = tuple(r + m for m in ("", "m") for r in ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"))


def read_chart(text: str, meter: str, key: str | None, bars: int | None):
    """Chart text -> the `Chart` as played: in `key` (if given), its form looped or cut to `bars`.

    `meter` applies until the chart names one. Raises the library's ChartError (naming the bar).
    """
    from jazzgen.music.charts import key_semitones, parse_chart
    from jazzgen.music.tunes import estimate_key

    chart = parse_chart(text, time_signature=METERS[meter])
    if key:
        chart = replace(chart.transposed(key_semitones(chart.key or estimate_key(chart), key)), key=key)
    return chart.looped(bars) if bars else chart


def roles(notes, chords) -> list[str]:
    """Each note's class against the chord at its onset: chord, scale, approach or other."""
    from jazzgen.music.values import note_type

    harmony = Score(notes=(), chords=tuple(chords))  # built once: it checks every span
    return [ROLE_NAMES[note_type(n.pitch, harmony.chord_at(n.start_beat))] for n in notes]


def cut(notes, start: float, end: float) -> tuple[Note, ...]:
    """Notes starting in [start, end), each shortened so it ends by `end`."""
    return tuple(replace(n, duration_beats=min(n.duration_beats, end - n.start_beat))
                 for n in notes if start - 1e-9 <= n.start_beat < end - 1e-9)


def shift(notes, beats: float) -> tuple[Note, ...]:
    """Notes moved later by `beats` (earlier when negative)."""
    return tuple(replace(n, start_beat=n.start_beat + beats) for n in notes)


@dataclass(frozen=True)
class Settings:
    """How to sample: the seed, temperature (1.0 = as learned) and top-k (0 = all values)."""

    seed: int = 0
    temperature: float = 1.0
    top_k: int = 0


class Studio:
    """One loaded model and the ways the page asks it to play.

    Args:
        model_dir: a jazz run directory (values tokenizer); None for the bundled default model.
    """

    def __init__(self, model_dir: str | Path | None = None):
        from jazzgen.core.engine import NumpyEngine
        from jazzgen.core.rundir import open_run
        from jazzgen.music.tokenizers import music_tokenizer
        from jazzgen.music.values import ValuesTokenizer

        self.run = open_run(model_dir, warn=lambda m: None)
        tokenizer = music_tokenizer(self.run.task)  # None for a text run
        if not isinstance(tokenizer, ValuesTokenizer):  # the studio costs and primes values
            raise JazzgenError(f"{self.run.path}: the studio plays jazz runs of the values tokenizer")
        self.tokenizer = tokenizer
        self.engine = NumpyEngine.from_export(self.run.export_path)
        from jazzgen.music.solos import load_dynamics

        self.dynamics = load_dynamics(self.run)  # the players' loudness, when the run learned it
        self._lock = threading.Lock()  # one sampling loop at a time: the engine is not re-entrant-proven

    def continue_melody(self, before, chords, start: float, end: float, settings: Settings, beats_per_bar: float,
                        instrument=None, context_bars: int = CONTEXT_BARS,
                        tempo_qpm: float = 120.0) -> tuple[Note, ...]:
        """New notes for [start, end) that follow on from the notes `before` (all in beats).

        Up to `context_bars` bars of `before` (cut at `start`), and the rest after its last note,
        are the primer; values are then sampled for exactly `end - start` beats and decoded in
        the `instrument`'s range (a `jazzgen.music.instruments.Instrument`; None: the model's),
        with the run's learned dynamics (older runs: the library's phrase dynamics).
        """
        from jazzgen.music.improvise import recipe_chord_tone_bias
        from jazzgen.music.instruments import shape_dynamics
        from jazzgen.music.solos import sample_values
        from jazzgen.music.values import Decoding

        chords = tuple(chords)
        origin = max(0.0, np.floor((start - context_bars * beats_per_bar) / beats_per_bar) * beats_per_bar)
        primer_notes = cut(before, origin, start)
        primer_ids: list[int] = []
        start_pitch = primer_pitch = None
        if primer_notes:
            local = Score(notes=shift(primer_notes, -origin), chords=_window(chords, origin, start))
            quantized, _ = self.tokenizer.quantize_score(local)
            if quantized.notes:
                # The silence between the primer's last note and `start` is fed as rests, so
                # the continuation is sampled from `start` on, knowing how long the pause was.
                gap_ticks = round((start - origin - quantized.notes[-1].end_beat) * self.tokenizer.grid_per_beat)
                rests = self.tokenizer.rest_values(max(0, gap_ticks))
                primer_ids = self.run.vocab.encode(self.tokenizer.tokens(quantized) + rests)
                start_pitch, primer_pitch = quantized.notes[-1].pitch, quantized.notes[0].pitch
        budget = end - start
        if budget <= 1e-9:
            return ()
        rng = np.random.default_rng([settings.seed, int(round(start * 12))])
        tokenizer = self.tokenizer
        if instrument is not None:
            tokenizer = replace(tokenizer, low_pitch=instrument.low, high_pitch=instrument.high)
        decoding = Decoding(tokenizer, _window(chords, start, end), (settings.seed, 7), start_pitch)
        with self._lock:  # the meter mask, and the beat and harmony for a conditioned model
            ids = sample_values(self.run, self.engine, self.tokenizer, [budget], rng,
                                temperature=settings.temperature, top_k=settings.top_k, primer=primer_ids,
                                start_beat=start - origin, spans=[_window(chords, origin, end)],
                                beats_per_bar=beats_per_bar, tempo_qpm=tempo_qpm, decodings=[decoding],
                                primer_pitch=primer_pitch,
                                chord_tone_bias=recipe_chord_tone_bias(self.run))[0]
        solo = decoding.decode(self.run.vocab.decode(ids))
        if self.dynamics is not None:  # learned from the corpus; older runs: the phrase dynamics
            from jazzgen.music.dynamics import perform_dynamics

            if float(beats_per_bar).is_integer():  # the bar the metric classes count in
                solo = replace(solo, time_signature=(int(beats_per_bar), 4))
            solo = perform_dynamics(solo, self.dynamics, np.random.default_rng([settings.seed, 8]))
            return cut(shift(solo.notes, start), start, end)
        return shape_dynamics(cut(shift(solo.notes, start), start, end), beats_per_bar)

    def regenerate(self, notes, chords, bar_starts: list[float], total_beats: float, first_bar: int, last_bar: int,
                   settings: Settings, instrument=None, tempo_qpm: float = 120.0) -> tuple[Note, ...]:
        """Bars first_bar..last_bar (from 1, inclusive) sampled anew; every other note kept as is.

        A kept note that sounds into the range is shortened to end where the range starts.
        """
        start = bar_starts[first_bar - 1]
        end = bar_starts[last_bar] if last_bar < len(bar_starts) else total_beats
        beats_per_bar = (end - start) / (last_bar - first_bar + 1)
        before = cut(notes, 0.0, start)
        after = tuple(n for n in notes if n.start_beat >= end - 1e-9)
        middle = self.continue_melody(before, chords, start, end, settings, beats_per_bar, instrument,
                                      tempo_qpm=tempo_qpm)
        return before + middle + after


def _window(chords: tuple[ChordSpan, ...], start: float, end: float) -> tuple[ChordSpan, ...]:
    """The chord spans sounding in [start, end), clipped to it and moved to begin at beat 0."""
    out = []
    for s in chords:
        a, b = max(s.start_beat, start), min(s.end_beat, end)
        if b > a + 1e-9:
            out.append(ChordSpan(s.chord, a - start, b - a))
    return tuple(out)
