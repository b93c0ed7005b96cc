"""The events grammar: absolute pitches and durations on a bar grid, with the chord changes inline.

Where the values grammar names notes relative to the chord (and so cannot say which pitch was
played), this one writes what was played, in the time order of a lead sheet:

    TS:4/4  BAR CH:Dm7 P62 D1/2 P65 D1/2 POS1 P69 D1 POS2 CH:G7 R D1/2 POS5/2 P67 D3/2  BAR ...

- ``TS:n/d`` once, first: the time signature.
- ``BAR`` at every bar line (bar lines are every `beats_per_bar` quarter notes from beat 0);
  with `EventsTokenizer.tempo_edges_qpm` set, ``BAR:<lo>-<hi>`` names the piece's tempo class
  too (``BAR:150-190``, ``BAR:-110``, ``BAR:290-``), so every training window knows the tempo.
- ``POS<beats>`` the position in the bar, in quarter notes, of whatever follows (a chord change
  or a note) when it does not sit on the bar line: ``POS1/2``, ``POS5/2``.
- ``CH:<root><quality>`` at each chord change: the root and one of `QUALITIES` (tensions and slash
  basses are dropped: ``G7(b9)`` -> ``CH:G7``, ``C/E`` -> ``CH:C``); ``CH:NC`` where no chord sounds.
- a note is ``P<midi pitch>`` then ``D<quarter notes>``; a rest is ``R`` then ``D...``. Notes and
  rests are laid end to end (rests fill every gap, split at bar lines), so the durations alone
  give every onset; BAR and POS say it again, for the network.

Order at one moment: BAR, POS, CH, then the note. Decoding is exact: a quantized score encodes
and decodes to the same notes, and to the chord spans reduced to root and quality (up to the
end of the last note). Because the tokens name pitches, a model learns keys: `transpose_tokens`
writes a piece in another key, and preprocess stores all 12 (see `PreprocessConfig`).

At generation the chords are not sampled: `events_guide.EventsGuide` forces TS, BAR, POS and CH tokens from the
given changes and lets the network choose only pitches/rests and durations (see
`jazzgen.core.sampling.sample_guided`).
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import ClassVar

import numpy as np

from jazzgen.core.tokenizer import Tokenizer
from jazzgen.errors import UsageError
from jazzgen.music.chords import Chord, parse_chord
from jazzgen.music.score import ChordSpan, Note, Score

QUALITIES = ("", "m", "7", "maj7", "m7", "m7b5", "dim7", "dim", "aug", "6", "m6", "7sus4", "sus4")
ROOT_NAMES = ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
NO_CHORD_TOKEN = "CH:NC"
# Tempo classes (quarter notes per minute) the bar token can name: WJD solos' tempos have
# quartiles 125 / 171 / 225 qpm. Given the beat phase and the previous duration, the tempo class
# lowers the corpus's in-sample duration perplexity from 7.3 to 6.3: at 280 qpm a line moves in
# eighths, in a ballad in sixteenths and triplets, which the durations alone say only slowly.
TEMPO_EDGES_QPM = (110.0, 150.0, 190.0, 240.0, 290.0)
KEYS = tuple(range(-5, 7))  # the 12 transpositions, in semitones (0 = as written)
# Simpler qualities to fall back on when a typed chord's token never occurred in training.
_FALLBACK = {"m7b5": "m7", "dim7": "dim", "dim": "m", "m6": "m", "m7": "m", "maj7": "",
             "6": "", "7sus4": "7", "sus4": "", "aug": "", "7": "", "m": ""}
_CHORD_TOKEN = re.compile(r"CH:([A-G][b#]?)(.*)")


def refuse_chord_tone_bias(chord_tone_bias: float) -> None:
    """Events runs draw pitches, not chord-relative values: a chord-tone bias is a usage error."""
    if chord_tone_bias:
        raise UsageError(f"--chord-tone-bias applies to values runs (got {chord_tone_bias} for an "
                         "events run, whose tokens name pitches, not chord tones)")


def chord_quality(chord: Chord) -> str:
    """One of `QUALITIES` for a parsed chord, from its third, fifth, sixth and seventh."""
    root = chord.root
    steps = {(pc - root) % 12 for pc in chord.pitch_classes}
    third = 4 if 4 in steps else 3 if 3 in steps else None
    seventh = 11 if 11 in steps else 10 if 10 in steps else None
    if third is None:  # suspended
        return "7sus4" if seventh else "sus4"
    if third == 3:
        if seventh == 10:
            return "m7b5" if 6 in steps and 7 not in steps else "m7"
        if 6 in steps and 7 not in steps:
            return "dim7" if 9 in steps else "dim"
        return "m6" if 9 in steps else "m"  # m(maj7) counts as minor
    if seventh == 10:
        return "7"  # altered dominants too
    if seventh == 11:
        return "maj7"
    if 8 in steps and 7 not in steps:
        return "aug"
    return "6" if 9 in steps else ""


def chord_token(chord: Chord | None) -> str:
    """'CH:Dm7', 'CH:Bb7', 'CH:F#m7b5'; 'CH:NC' for no chord."""
    if chord is None or chord.root is None:
        return NO_CHORD_TOKEN
    return f"CH:{ROOT_NAMES[chord.root]}{chord_quality(chord)}"


def token_chord(token: str) -> Chord | None:
    """The chord a CH token names (None for CH:NC or anything else)."""
    m = _CHORD_TOKEN.fullmatch(token)
    return parse_chord(m.group(1) + m.group(2)) if m else None


def transpose_tokens(tokens: Sequence[str], semitones: int) -> list[str] | None:
    """The same piece `semitones` higher (lower if negative); None if a pitch leaves 0..127."""
    out = []
    for token in tokens:
        if token.startswith("P") and token[1:].isdigit():
            pitch = int(token[1:]) + semitones
            if not 0 <= pitch <= 127:
                return None
            token = f"P{pitch}"
        elif token.startswith("CH:") and token != NO_CHORD_TOKEN:
            m = _CHORD_TOKEN.fullmatch(token)
            root = parse_chord(m.group(1)).root
            token = f"CH:{ROOT_NAMES[(root + semitones) % 12]}{m.group(2)}"
        out.append(token)
    return out


def transpose_symbol(symbol: str, semitones: int) -> str:
    """A chord symbol in another key, root and slash bass renamed ('Bb7/D', 2 -> 'C7/E')."""
    def move(m: re.Match) -> str:
        return ROOT_NAMES[(parse_chord(m.group(1)).root + semitones) % 12]

    if parse_chord(symbol).root is None:
        return symbol
    head, slash, bass = symbol.partition("/")
    head = re.sub(r"^([A-G][b#]?)", move, head)
    bass = re.sub(r"^([A-G][b#]?)", move, bass)
    return head + slash + bass


def _fraction(text: str) -> Fraction | None:
    try:
        value = Fraction(text)
    except (ValueError, ZeroDivisionError):
        return None
    return value


@dataclass(frozen=True)
class EventsTokenizer(Tokenizer):
    """Melody + chords <-> events; settings round-trip through `config()`.

    Attributes:
        grid_per_beat: onsets snap to sixteenths and sixteenth triplets on this grid, exactly as
            the values tokenizer does (the same `quantize_score`).
        max_duration_beats: longer notes are cut (and followed by rests); longer rests split.
        low_pitch, high_pitch: the pitches generation may choose (the corpus may hold more).
        tempo_edges_qpm: class edges for ``BAR:<lo>-<hi>`` bar tokens ((), the default: plain
            ``BAR``, as runs made before this setting were written).
    """

    name: ClassVar[str] = "events"
    grid_per_beat: int = 12
    max_duration_beats: float = 4.0
    low_pitch: int = 36
    high_pitch: int = 96
    tempo_edges_qpm: tuple[float, ...] = ()

    unit: ClassVar[str] = "events tokens"  # what one token is called in reports
    # TS, BAR, POS and CH tokens carry the changes: generation forces them (`events_guide`).
    writes_structure: ClassVar[bool] = True

    def __post_init__(self):
        object.__setattr__(self, "tempo_edges_qpm", tuple(float(e) for e in self.tempo_edges_qpm))  # JSON lists

    def config(self) -> dict:
        return {"name": self.name, **asdict(self)}

    @classmethod
    def from_settings(cls, cfg) -> EventsTokenizer:
        """The tokenizer `preprocess` makes from [preprocess] settings (`events_tempo` adds the
        tempo class to bar tokens)."""
        return cls(tempo_edges_qpm=TEMPO_EDGES_QPM if cfg.events_tempo else ())

    def bar_token(self, tempo_qpm: float) -> str:
        """'BAR', or with `tempo_edges_qpm` the bar token of that tempo's class ('BAR:150-190')."""
        edges = self.tempo_edges_qpm
        if not edges:
            return "BAR"
        k = int(np.searchsorted(edges, tempo_qpm, side="right"))
        low = f"{edges[k - 1]:g}" if k else ""
        high = f"{edges[k]:g}" if k < len(edges) else ""
        return f"BAR:{low}-{high}"

    def other_keys(self, tokens: list[str], all_keys: bool) -> dict[int, list[str]]:
        """With `all_keys`, the piece in the other 11 keys {semitones: tokens} (pitches that
        would leave 0..127 drop that key)."""
        if not all_keys:
            return {}
        return {k: moved for k in KEYS if k and (moved := transpose_tokens(tokens, k))}

    def play(self, run, engine, plans, seed: int, rng: np.random.Generator, *, temperature: float = 1.0,
             top_k: int = 0, meter: bool = True, chord_tone_bias: float = 0.0) -> list[Score]:
        """One solo per plan (`solos.Plan`), each through the guide (`sample_events`), whose
        grammar keeps onsets on the grid already (`meter` changes nothing).

        Raises:
            UsageError: a `chord_tone_bias` (events name pitches, not chord tones).
        """
        from jazzgen.music.events_guide import sample_events

        refuse_chord_tone_bias(chord_tone_bias)

        solos = []
        for p in plans:
            tokens = sample_events(engine, run.vocab, self, p.spans, p.time_signature, p.total_beats, 1, rng,
                                   temperature=temperature, top_k=top_k, tempo_qpm=p.tempo_qpm)[0]
            solos.append(self.decode(tokens, chords=p.spans, time_signature=p.time_signature,
                                     tempo_qpm=p.tempo_qpm))
        return solos

    def evaluation(self, run, corpus) -> tuple[str, dict, str]:
        """("events", pitch and duration perplexities, their report lines) (`events_perplexities`)."""
        figures = events_perplexities(run, corpus)
        if figures["pitch_perplexity"] is None:
            return "events", figures, "events: no held-out piece in its own key to score"
        mingus = figures["mingus"]
        return "events", figures, (
            f"\nevents, held-out pieces in their own key ({figures['pieces']}):\n"
            f"  {'':<22}{'targets':>10}{'perplexity':>12}{'MINGUS test':>13}\n"
            f"  {'pitch (and rest)':<22}{figures['pitch_targets']:>10}"
            f"{figures['pitch_perplexity']:>12.3f}{mingus['pitch']:>13.1f}\n"
            f"  {'duration':<22}{figures['duration_targets']:>10}"
            f"{figures['duration_perplexity']:>12.3f}{mingus['duration']:>13.1f}\n"
            f"  {'  on MINGUS classes':<22}{figures['duration_targets']:>10}"
            f"{figures['duration_perplexity_mingus_classes']:>12.3f}{mingus['duration']:>13.1f}")

    def quantize_score(self, score: Score) -> tuple[Score, dict]:
        """Snap the melody to the grid (see `ValuesTokenizer.quantize_score`); returns the report too."""
        from jazzgen.music.values import ValuesTokenizer

        grid = ValuesTokenizer(grid_per_beat=self.grid_per_beat, max_duration_beats=self.max_duration_beats)
        return grid.quantize_score(score)

    def _beat(self, beats: float) -> Fraction:
        return Fraction(round(beats * self.grid_per_beat), self.grid_per_beat)

    def changes(self, chords: Sequence[ChordSpan], end: Fraction) -> list[tuple[Fraction, str]]:
        """(time, CH token) at each change of chord token before `end`; NC where a gap starts."""
        raw: dict[Fraction, str] = {}
        for span, following in zip(chords, list(chords[1:]) + [None]):
            raw[self._beat(span.start_beat)] = chord_token(span.chord)
            stop = self._beat(span.end_beat)
            if following is None or self._beat(following.start_beat) > stop:
                raw.setdefault(stop, NO_CHORD_TOKEN)
        out, current = [], NO_CHORD_TOKEN
        for time in sorted(raw):
            if time < end and raw[time] != current:
                out.append((time, raw[time]))
                current = raw[time]
        return out

    def structure(self, changes: list[tuple[Fraction, str]], bar: Fraction, end: Fraction,
                  onsets: Sequence[Fraction] = (), bar_token: str = "BAR") -> list[tuple[Fraction, int, str]]:
        """BAR, POS and CH items as (time, order, token) before `end`, sorted.

        POS is written where a chord change or one of `onsets` falls off the bar line;
        `bar_token` is what marks each bar line (`bar_token`).
        """
        items = [(k * bar, 0, bar_token) for k in range(math.ceil(end / bar))]
        items += [(t, 2, token) for t, token in changes]
        for t in sorted({t for t, _ in changes} | set(onsets)):
            if t % bar and t < end:
                items.append((t, 1, f"POS{t % bar}"))
        return sorted(items)

    def events(self, score: Score) -> list[tuple[Fraction, Fraction, int | None]]:
        """(onset, duration, pitch or None for a rest) of a quantized score, end to end.

        Rests fill every gap from beat 0, split at bar lines and at `max_duration_beats`.
        """
        bar = Fraction(score.time_signature[0] * 4, score.time_signature[1])
        longest = self._beat(self.max_duration_beats)
        out: list[tuple[Fraction, Fraction, int | None]] = []
        time = Fraction(0)
        for note in score.notes:
            start = self._beat(note.start_beat)
            while time < start:  # a rest, cut at the next bar line
                step = min(start, (time // bar + 1) * bar, time + longest) - time
                out.append((time, step, None))
                time += step
            length = self._beat(note.duration_beats)
            out.append((start, length, note.pitch))
            time = start + length
        return out

    def encode(self, score: Score) -> list[str]:
        """A score -> its events (quantizing it first); see the module docstring."""
        return self.tokens(self.quantize_score(score)[0])

    def tokens(self, quantized: Score) -> list[str]:
        """The events of a score whose notes are on the grid already (no quantization)."""
        bar = Fraction(quantized.time_signature[0] * 4, quantized.time_signature[1])
        events = self.events(quantized)
        end = events[-1][0] + events[-1][1] if events else Fraction(0)
        items = self.structure(self.changes(quantized.chords, end), bar, end, [e[0] for e in events],
                               self.bar_token(quantized.tempo_qpm))
        items += [(onset, 3, ("R" if pitch is None else f"P{pitch}") + f" D{length}")
                  for onset, length, pitch in events]
        num, den = quantized.time_signature
        return [f"TS:{num}/{den}"] + [t for _, _, text in sorted(items) for t in text.split(" ")]

    def decode(self, tokens: Sequence[str], *, chords: Sequence[ChordSpan] | None = None,
               time_signature: tuple[int, int] = (4, 4), tempo_qpm: float = 120.0,
               **_context) -> Score:
        """Events -> a score; other tokens (specials) are skipped.

        Args:
            tokens: events, as `encode` writes them or a model samples them.
            chords: the changes to put in the score instead of those the CH tokens name (what
                generation does: the typed changes keep their full symbols).
            time_signature: used when the tokens hold no TS token.
            tempo_qpm: copied into the score.

        Returns:
            The score: notes (velocity 90) from the P/R and D tokens, laid end to end from beat 0.
        """
        changes, _, time_signature = token_changes(tokens, time_signature)
        notes: list[Note] = []
        time, pending = Fraction(0), None
        for token in tokens:
            if _is_event(token):
                pending = -1 if token == "R" else int(token[1:])
            elif token.startswith("D") and pending is not None and (d := _fraction(token[1:])):
                if pending >= 0:
                    notes.append(Note(pending, float(time), float(d)))
                time += d
                pending = None
        if chords is None:
            chords = change_spans(changes, time)
        return Score(tuple(notes), tuple(chords), time_signature, tempo_qpm)


def _is_event(token: str) -> bool:
    """A note's pitch or a rest: what a duration follows."""
    return token == "R" or (token.startswith("P") and token[1:].isdigit())


@functools.lru_cache(maxsize=8)  # once per vocabulary
def token_kinds(tokens: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per vocabulary id: is it a pitch or a rest (`_is_event`), its MIDI pitch (-1: none), its
    duration in quarter notes (0: not a duration) # 3 x (V,)."""
    is_event = np.array([_is_event(t) for t in tokens], bool)
    pitch = np.array([int(t[1:]) if e and t != "R" else -1 for t, e in zip(tokens, is_event, strict=True)],
                     np.int64)
    beats = np.array([float(d) if t.startswith("D") and (d := _fraction(t[1:])) else 0.0 for t in tokens])
    return is_event, pitch, beats


def token_changes(tokens: Sequence[str], time_signature: tuple[int, int] = (4, 4)
                  ) -> tuple[list[tuple[Fraction, str]], Fraction, tuple[int, int]]:
    """(changes as (beat, CH token), where the notes end, time signature) of events tokens, each
    change at the time its BAR/POS marker gives (a change may fall inside a held note);
    `time_signature` when the tokens hold no TS token."""
    for token in tokens:
        if token.startswith("TS:"):
            num, _, den = token[3:].partition("/")
            time_signature = (int(num), int(den))
            break
    bar = Fraction(time_signature[0] * 4, time_signature[1])
    changes: list[tuple[Fraction, str]] = []
    time = bar_start = marker = Fraction(0)
    bars_seen, pending = 0, False
    for token in tokens:
        if token == "BAR" or token.startswith("BAR:"):
            bar_start = bars_seen * bar
            marker, bars_seen = bar_start, bars_seen + 1
        elif token.startswith("POS") and (p := _fraction(token[3:])) is not None:
            marker = bar_start + p
        elif token.startswith("CH:"):
            changes.append((marker, token))
        elif _is_event(token):
            pending = True
        elif pending and token.startswith("D") and (d := _fraction(token[1:])):
            time += d
            marker, pending = time, False
    return changes, time, time_signature


def change_spans(changes: Sequence[tuple[Fraction, str]], end: Fraction) -> list[ChordSpan]:
    """Chord spans of (beat, CH token) changes, the last ending at `end`; CH:NC and anything
    not a chord token leave a gap (no chord)."""
    spans = []
    for (start, token), following in zip(changes, list(changes[1:]) + [(end, "")]):
        chord = token_chord(token)
        if chord is not None and following[0] > start:
            spans.append(ChordSpan(chord, float(start), float(following[0] - start)))
    return spans


# ---- evaluation -------------------------------------------------------------------------------

MINGUS_TEST_PERPLEXITY = {"pitch": 11.0, "duration": 4.1}
# MINGUS's duration vocabulary, in quarter notes and in its order (whole, half, quarter, eighth,
# sixteenth, 32nd, dotted half, dotted quarter, dotted eighth, half- and quarter-note triplets):
# `possible_durations` of its WJD preprocessing (A_preprocessData/wjazzDB_preprocessing.py), each
# note or rest given the nearest class, the first listed on a tie (numpy argmin).
MINGUS_DURATIONS = (4, 2, 1, 1 / 2, 1 / 4, 1 / 8, 3, 3 / 2, 3 / 4, 1 / 6, 1 / 12)


def mingus_duration_classes(beats: np.ndarray) -> np.ndarray:
    """The MINGUS duration class (index into `MINGUS_DURATIONS`) of every duration token, -1 for
    other tokens # (V,) int64; `beats` as `token_kinds` gives them (quarter notes, 0: none)."""
    distance = np.abs(beats[:, None] - np.asarray(MINGUS_DURATIONS)[None, :])
    return np.where(beats > 0, distance.argmin(axis=1), -1)


def class_log_probs(log_p: np.ndarray, classes: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """log P(the class of each row's target token) # (N,): the probabilities of every token in
    that class summed. log_p # (N, V); `classes` per token # (V,), -1 for none; targets # (N,)."""
    members = (classes[:, None] == np.arange(classes.max() + 1)[None, :]).astype(np.float64)  # (V, C)
    top = log_p.max(axis=1, keepdims=True)  # shifted so the sums cannot underflow
    in_class = (np.exp(log_p - top) @ members)[np.arange(len(targets)), classes[targets]]
    return top[:, 0] + np.log(in_class)


def events_perplexities(run, corpus) -> dict:
    """Held-out pitch and duration perplexity of an events model, to compare with MINGUS.

    MINGUS (Madaghiele, Lisena & Troncy, ISMIR 2021) trains one network for pitch and one for
    duration on Weimar Jazz Database solos in 4/4, split 70/10/20 by song, and reports test
    perplexity 11.0 for pitch and 4.1 for duration. Here one network predicts every token; its
    pitch perplexity is exp(mean NLL) over the pitch and rest targets with the softmax
    renormalised over those tokens (the grammar says a note is due, as it does to MINGUS's pitch
    network and to our sampler), and likewise over the duration targets. Structure tokens (TS, BAR,
    POS, CH) are forced at generation and not scored. Only the held-out pieces in their own key
    (transposition 0) are scored, so no song is counted twelve times.

    Args:
        run: an opened events run (`jazzgen.core.rundir.open_run`).
        corpus: the corpus it was trained on (`jazzgen.core.corpus.read_corpus`).

    Returns:
        {"pitch_perplexity", "duration_perplexity", "duration_perplexity_mingus_classes",
        "pitch_targets", "duration_targets", "pieces", "mingus": MINGUS_TEST_PERPLEXITY};
        perplexities None without held-out pieces.
    """
    from jazzgen.core.engine import NumpyEngine
    from jazzgen.core.vocab import BOS, EOS

    tokens = run.vocab.tokens
    is_pitch, _, beats = token_kinds(tuple(tokens))
    is_duration = beats > 0
    mingus_classes = mingus_duration_classes(beats)
    val = [i for i in run.info.get("val_pieces", []) if corpus.pieces[i].get("transpose", 0) == 0]
    result = {"pitch_perplexity": None, "duration_perplexity": None,
              "duration_perplexity_mingus_classes": None, "pitch_targets": 0,
              "duration_targets": 0, "pieces": len(val), "mingus": MINGUS_TEST_PERPLEXITY}
    if not val:
        return result
    from jazzgen.core.scoring import log_softmax, stepped_targets
    from jazzgen.music.conditioning import for_scoring

    sums = {"pitch": [0.0, 0], "duration": [0.0, 0], "duration_mingus": [0.0, 0]}
    pieces = [corpus.piece_ids(i) for i in val]
    engine = for_scoring(NumpyEngine.from_export(run.export_path), tokens, pieces,
                         [corpus.pieces[i] for i in val], run.vocab.id(BOS), run.vocab.id(EOS),
                         run.task["tokenizer"])
    for _, _, z, y in stepped_targets(engine, pieces, run.vocab.id(BOS), run.vocab.id(EOS)):
        for name, members in (("pitch", is_pitch), ("duration", is_duration)):
            rows = np.flatnonzero(members[y])
            if rows.size:
                log_p = log_softmax(z[rows], allowed=members)           # renormalised over the class
                sums[name][0] -= float(log_p[np.arange(rows.size), y[rows]].sum())
                sums[name][1] += int(rows.size)
                if name == "duration":
                    sums["duration_mingus"][0] -= float(class_log_probs(log_p, mingus_classes, y[rows]).sum())
                    sums["duration_mingus"][1] += int(rows.size)
    for name in ("pitch", "duration"):
        total, count = sums[name]
        result[f"{name}_targets"] = count
        result[f"{name}_perplexity"] = math.exp(total / count) if count else None
    total, count = sums["duration_mingus"]
    result["duration_perplexity_mingus_classes"] = math.exp(total / count) if count else None
    return result

