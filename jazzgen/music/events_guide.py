"""Sampling the events grammar over given changes: structure forced, notes and durations sampled.

`EventsGuide` plays the changes into a sequence the network extends token by token (through
`jazzgen.core.sampling.sample_guided`); `sample_events` runs it for a batch; `events_end` reads
where sampled notes end. The grammar itself is in `jazzgen.music.events`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction

import numpy as np

from jazzgen.music.events import _CHORD_TOKEN, _FALLBACK, EventsTokenizer, _fraction, _is_event, token_kinds
from jazzgen.music.score import ChordSpan


class EventsGuide:
    """Plays the given changes into a sampled sequence: structure forced, notes sampled.

    Called as `guide(b, history)` by `jazzgen.core.sampling.sample_guided` for one sequence:
    returns the id to force (TS, BAR, POS, CH), a mask of the ids the network may choose from
    (pitches and R when a note is due; durations after it), or None once `total` beats are
    filled. Typed chords whose token never occurred in training fall back to a simpler quality
    of the same root, else `<unk>`.
    """

    def __init__(self, tokenizer: EventsTokenizer, tokens: Sequence[str], spans: Sequence[ChordSpan],
                 time_signature: tuple[int, int], total_beats: float,
                 primer: Sequence[str] = (), tempo_qpm: float = 120.0):
        self.t = tokenizer
        self.index = {token: i for i, token in enumerate(tokens)}
        self.unk = self.index.get("<unk>", 1)
        self.bar = Fraction(time_signature[0] * 4, time_signature[1])
        self.total = tokenizer._beat(total_beats)
        self.changes = tokenizer.changes(spans, self.total)
        self.items = tokenizer.structure(self.changes, self.bar, self.total,
                                         bar_token=tokenizer.bar_token(tempo_qpm))
        is_event, pitch_of, _ = token_kinds(tuple(tokens))
        in_range = (tokenizer.low_pitch <= pitch_of) & (pitch_of <= tokenizer.high_pitch)
        pitch = is_event & ((pitch_of < 0) | in_range)                   # the rest has no pitch
        self.durations: dict[int, Fraction] = {
            i: d for i, token in enumerate(tokens) if token.startswith("D") and (d := _fraction(token[1:])) and d > 0}
        self.pitch_mask = pitch  # the notes (in range) and the rest
        self.note_mask = pitch.copy()
        if "R" in self.index:
            self.note_mask[self.index["R"]] = False
        self.rest_next = True  # may the next event be a rest
        g = tokenizer.grid_per_beat
        self.onsets = {Fraction(k, g) for k in range(g) if (4 * k) % g == 0 or (6 * k) % g == 0}
        self.rest_id = self.index.get("R")
        self.time = Fraction(0)
        self.next_item = 0  # items before this one are written
        self.queue: list[int] = [self.id(f"TS:{time_signature[0]}/{time_signature[1]}")]
        self.expect = "event"  # or "duration"
        self.last_kind = ""  # "P" or "R": what the duration now due belongs to
        self.seen = 0  # history entries taken in
        self.forced_last = False  # the last answer forced a token (the network chose nothing)
        if primer:
            self._replay(primer)
        self._plan()

    def id(self, token: str) -> int:
        """The id of a forced token; a CH token unknown to the vocabulary falls back."""
        if token in self.index:
            return self.index[token]
        m = _CHORD_TOKEN.fullmatch(token)
        quality = m.group(2) if m else None
        while quality is not None and quality in _FALLBACK:
            quality = _FALLBACK[quality]
            if f"CH:{m.group(1)}{quality}" in self.index:
                return self.index[f"CH:{m.group(1)}{quality}"]
            if quality == "":
                break
        return self.unk

    def _replay(self, primer: Sequence[str]) -> None:
        """Take up the state after a primer encoded over the same changes (its tokens are fed)."""
        self.time = events_end(primer)
        self.queue = []  # the primer wrote TS and all the structure before its end
        self.next_item = sum(1 for t, _, _ in self.items if t < self.time)

    def _plan(self) -> None:
        """Queue the structure due before the next event, which starts at `self.time`."""
        due = []
        while self.next_item < len(self.items) and self.items[self.next_item][0] <= self.time:
            due.append(self.items[self.next_item])
            self.next_item += 1
        if self.time % self.bar and not any(t == self.time and order == 1 for t, order, _ in due):
            due.append((self.time, 1, f"POS{self.time % self.bar}"))
        self.queue += [self.id(token) for _, _, token in sorted(due)]

    def __call__(self, b: int, history: list[int]) -> int | np.ndarray | None:
        if len(history) > self.seen and not self.forced_last:  # the network chose history[-1]
            chosen = history[-1]
            if self.expect == "duration" and chosen in self.durations:
                self.time += self.durations[chosen]
                self.expect = "event"
                # Encoding writes one rest per gap (cut only at bar lines and at the longest
                # duration): a rest follows a rest only there.
                self.rest_next = self.last_kind == "P" or not self.time % self.bar or (
                    self.durations[chosen] >= self.t._beat(self.t.max_duration_beats))
                if self.time < self.total:
                    self._plan()
            elif self.expect == "event" and self.pitch_mask[chosen]:
                self.expect, self.last_kind = "duration", "R" if chosen == self.rest_id else "P"
        self.seen = len(history)
        if self.expect == "event" and self.time >= self.total:
            return None
        self.forced_last = bool(self.queue)
        if self.queue:
            return self.queue.pop(0)
        if self.expect == "event":
            return self.pitch_mask if self.rest_next or self.rest_id is None else self.note_mask
        mask = np.zeros(len(self.pitch_mask), bool)
        room = (self.time // self.bar + 1) * self.bar - self.time  # a rest stops at the bar line
        for i, d in self.durations.items():
            # the next onset lands where quantized onsets do (sixteenths and triplets)
            mask[i] = (self.last_kind == "P" or d <= room) and (self.time + d) % 1 in self.onsets
        if not mask.any():
            mask[list(self.durations)] = True
        return mask


def sample_events(engine, vocab, tokenizer: EventsTokenizer, spans: Sequence[ChordSpan],
                  time_signature: tuple[int, int], total_beats: float, count: int,
                  rng: np.random.Generator, *, temperature: float = 1.0, top_k: int = 0,
                  primer: Sequence[str] = (), tempo_qpm: float = 120.0) -> list[list[str]]:
    """Sample `count` event sequences over the changes `spans` (the primer's tokens excluded).

    The TS, BAR, POS and CH tokens are forced where the changes put them and never sampled; the
    network picks pitches or rests, then durations (`EventsGuide`). `tempo_qpm` picks the bar
    token of a tokenizer that names tempo classes (`EventsTokenizer.bar_token`).
    """
    from jazzgen.core.sampling import sample_guided
    from jazzgen.core.vocab import BOS

    guides = [EventsGuide(tokenizer, vocab.tokens, spans, time_signature, total_beats, primer, tempo_qpm)
              for _ in range(count)]
    if getattr(getattr(engine, "cfg", None), "condition_dim", 0):  # told where it is and what sounds
        from jazzgen.music.events_conditioning import ConditionedEvents

        engine = ConditionedEvents(engine, vocab.tokens, guides, tempo_qpm, tokenizer)
    shortest = min(guides[0].durations.values(), default=Fraction(1, tokenizer.grid_per_beat))
    bars = math.ceil(total_beats * time_signature[1] / (4 * time_signature[0]))
    max_steps = int(3 * total_beats / shortest) + 2 * len(guides[0].changes) + bars + 8
    ids = sample_guided(engine, count, rng, start_id=vocab.id(BOS), max_steps=max_steps,
                        guide=guides, temperature=temperature, top_k=top_k,
                        primer=vocab.encode(list(primer)))
    return [vocab.decode(x) for x in ids]


def events_end(tokens: Sequence[str]) -> Fraction:
    """Where the notes and rests of `tokens` end, in quarter notes (the sum of their durations)."""
    end, pending = Fraction(0), False
    for token in tokens:
        if _is_event(token):
            pending = True
        elif pending and token.startswith("D") and (d := _fraction(token[1:])):
            end, pending = end + d, False
    return end
