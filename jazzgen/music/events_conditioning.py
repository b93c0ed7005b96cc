"""What an events model is told at every step besides the previous token: where it is and what sounds.

The events grammar writes bars, positions and chords into its own tokens, but a training window
of 64 tokens starts anywhere in a piece: until the next ``CH`` token comes by, the network does
not know the chord, and until a ``BAR`` or ``POS`` it does not know where the beat is. With
`data.condition` every step's input is a row [previous token id, features...] like the values
grammar's (`music.conditioning`), the features describing the moment the next token belongs to:

- the beat and harmony block of `conditioning.features_at` at the time the notes so far end:
  beat in the bar, position in the beat on the 12-per-beat grid, bar in an 8-bar phrase, the
  chord sounding (root and pitch-class set), the next chord and the beats until it (the last
  chord never ends: while sampling, where the notes will end is not known);
- the tempo and where the line is (`line.MelodyState`: the last pitch against the chord's root,
  its register, its distance from the recent mean);
- one flag: a duration is due (a pitch or rest was just chosen).

The chords are the ones the CH tokens name, at the times BAR and POS give them (a change may fall
inside a held note): in training read from the piece's own tokens (`piece_events_rows`), at
generation from the tokens the guide will force (`ConditionedEvents`), so the two cannot differ.
Both call `EventsLine.feed`, one token at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

import numpy as np

from jazzgen.music.conditioning import EVENTS_VERSION, GRID, WIDTHS, _column, features_at, onset_roots
from jazzgen.music.events import EventsTokenizer, _fraction, _is_event, change_spans, token_changes, token_kinds
from jazzgen.music.line import LOCAL_NOTES, MELODY_WIDTH, REGISTER_BINS, TEMPO_EDGES, MelodyState
from jazzgen.music.score import ChordSpan

N_EVENTS_FEATURES = WIDTHS[EVENTS_VERSION]  # EVENTS_VERSION is kept in task.json, as the values versions are


OPEN_BEATS = 10_000  # the last chord lasts this long: where the notes will end is not known while sampling


def open_spans(changes: Sequence[tuple[Fraction, str]]) -> list[ChordSpan]:
    """Chord spans of (beat, CH token) changes, the last one open-ended (`events.change_spans`)."""
    return change_spans(changes, (changes[-1][0] if changes else 0) + OPEN_BEATS)


class EventsLine:
    """The features after each token of one events sequence, fed one token at a time.

    Args:
        spans: the chords it plays over (`open_spans`), from beat 0.
        beats_per_bar: quarter notes per bar.
        tempo_qpm: quarter notes per minute.
        tokenizer: the run's events tokenizer (its playable range measures the register).
    """

    def __init__(self, spans: Sequence[ChordSpan], beats_per_bar: float, tempo_qpm: float,
                 tokenizer: EventsTokenizer):
        self.spans, self.bar = list(spans), beats_per_bar
        self.melody = MelodyState(tempo_qpm, tokenizer.low_pitch, tokenizer.high_pitch)
        self.time = 0                                                     # ticks where the notes so far end
        self.due = False                                                  # a duration is due
        last = max((round(s.start_beat * GRID) for s in self.spans), default=0)
        self.table = features_at(np.arange(last + round(8 * beats_per_bar * GRID)), self.spans, beats_per_bar)

    def feed(self, token: str) -> np.ndarray:
        """Take in one token (specials and structure change nothing but the row) and return the
        features for predicting the next one # (N_EVENTS_FEATURES,)."""
        if _is_event(token):
            self.due = True
            self.melody.feed(None if token == "R" else int(token[1:]))
        elif self.due and token.startswith("D") and (d := _fraction(token[1:])):
            self.time += round(d * GRID)
            self.due = False
        while self.time >= len(self.table):  # past the changes (a long solo): extend the lookup
            self.table = features_at(np.arange(2 * len(self.table)), self.spans, self.bar)
        base = self.table[self.time]
        root = onset_roots(base[None])[0]
        return np.concatenate([base, self.melody.row(root), [float(self.due)]]).astype(np.float32)


def piece_events_rows(framed: np.ndarray, tokens: Sequence[str], piece: dict,
                      tokenizer: EventsTokenizer) -> np.ndarray:
    """Rows [id, features] of a framed piece [bos, ids..., eos] # (L,) -> (L, 1 + N_EVENTS_FEATURES).

    Row k goes with input framed[k]: the features after framed[0..k], what `EventsLine.feed`
    gives token by token (a test holds the two equal), computed for the whole piece at once:
    a 12-key corpus has millions of tokens.
    """
    framed = np.asarray(framed, np.int64)
    n = len(framed)
    changes, _, (num, den) = token_changes([tokens[int(i)] for i in framed])
    is_pitch, pitch_of, beats_of = token_kinds(tuple(tokens))
    ticks_of = np.round(beats_of * GRID).astype(np.int64)
    index = np.arange(n)
    last_pitch = np.maximum.accumulate(np.where(is_pitch[framed], index, -1))
    is_duration = ticks_of[framed] > 0
    last_duration = np.maximum.accumulate(np.where(is_duration, index, -1))
    due = last_pitch > last_duration                                    # after token k
    counted = is_duration & np.r_[False, due[:-1]]                      # a duration that was due
    time = np.cumsum(np.where(counted, ticks_of[framed], 0))            # (L,) ticks
    base = features_at(time, open_spans(changes), num * 4.0 / den)   # (L, N_BEAT_HARMONY)
    # The melody block as `MelodyState.row` writes it, from the notes fed so far.
    state = MelodyState(float(piece.get("tempo_qpm") or 120.0), tokenizer.low_pitch, tokenizer.high_pitch)
    melody = np.zeros((n, state.width), np.float32)
    melody[:, state.tempo] = 1.0
    col = len(TEMPO_EDGES) + 1
    is_note = pitch_of[framed] >= 0
    count = np.cumsum(is_note)                                          # notes fed up to k # (L,)
    pitches = pitch_of[framed[is_note]]
    sums = np.concatenate([[0], np.cumsum(pitches)])
    melody[count == 0, col + 12] = 1.0                                  # no note yet
    rows = np.flatnonzero(count > 0)
    j = count[rows]
    pitch = pitches[j - 1]
    root_block = base[rows, _column("root"):_column("root") + 12]
    root = np.where(root_block.any(axis=1), root_block.argmax(axis=1), -1)
    melody[rows, col + np.where(root >= 0, (pitch - root) % 12, 12)] = 1.0
    share = (pitch - state.low) / max(1, state.high - state.low + 1)
    melody[rows, col + 13 + np.clip(share * REGISTER_BINS, 0, REGISTER_BINS - 1).astype(int)] = 1.0
    recent = np.minimum(j, LOCAL_NOTES)
    mean = (sums[j] - sums[j - recent]) / recent
    melody[rows, MELODY_WIDTH - 1] = np.clip((pitch - mean) / 12.0, -1.5, 1.5)
    return np.concatenate([framed.astype(np.float32)[:, None], base, melody,
                           due.astype(np.float32)[:, None]], axis=1)


class ConditionedEvents:
    """A sampling engine that adds each sequence's `EventsLine` features to the ids it steps.

    `core.sampling.sample_guided` steps it with ids (the start id, the primer, then what was
    forced or drawn); the guides say which chords their CH tokens will name and when.
    """

    def __init__(self, engine, tokens: Sequence[str], guides: Sequence, tempo_qpm: float,
                 tokenizer: EventsTokenizer):
        self.engine, self.cfg, self.tokens = engine, engine.cfg, tokens
        self.lines = []
        for guide in guides:
            # The chords as typed (reduced to CH tokens): one the vocabulary lacks is forced as a
            # simpler token or <unk>, but its features still say what sounds.
            changes = [(t, token) for t, _, token in guide.items if token.startswith("CH:")]
            self.lines.append(EventsLine(open_spans(changes), float(guide.bar), tempo_qpm,
                                         tokenizer))

    def initial_state(self, batch_size: int):
        return self.engine.initial_state(batch_size)

    def step(self, ids: np.ndarray, state):
        ids = np.asarray(ids)
        rows = np.stack([np.concatenate([[float(i)], line.feed(self.tokens[int(i)])])
                         for i, line in zip(ids, self.lines, strict=True)]).astype(np.float32)
        return self.engine.step(rows, state)
