"""Events conditioning: the features, training rows = sampling rows (a tiny conditioned run end to
end is in test_events.py, on its corpus)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from jazzgen.core.vocab import BOS, EOS, SPECIALS, Vocab
from jazzgen.music.chords import parse_progression
from jazzgen.music.conditioning import EVENTS_VERSION, FEATURE_BLOCKS, N_BEAT_HARMONY, _column, version_for
from jazzgen.music.events import EventsTokenizer, token_changes
from jazzgen.music.events_conditioning import (
    N_EVENTS_FEATURES,
    ConditionedEvents,
    EventsLine,
    open_spans,
    piece_events_rows,
)
from jazzgen.music.events_guide import EventsGuide, sample_events
from jazzgen.music.midi_io import read_midi
from jazzgen.music.score import Note, Score
from jazzgen.music.tracks import score_from_midi

ROOT = Path(__file__).resolve().parent.parent
WJD = ROOT / "data" / "midi" / "wjd"
TOKENIZER = EventsTokenizer()


def block(row: np.ndarray, name: str) -> np.ndarray:
    return row[_column(name): _column(name) + dict(FEATURE_BLOCKS)[name]]


class Recording:
    """A conditioned stand-in engine: records the rows it is stepped with, fixed random logits."""

    def __init__(self, vocab_size: int):
        self.cfg = type("Cfg", (), {"condition_dim": N_EVENTS_FEATURES})()
        self.logits = np.random.default_rng(0).normal(size=vocab_size)
        self.rows: list[np.ndarray] = []

    def initial_state(self, batch_size):
        return [np.zeros((batch_size, 1))]

    def step(self, rows, state):
        rows = np.asarray(rows)
        assert rows.shape[1:] == (1 + N_EVENTS_FEATURES,)
        self.rows.append(rows)
        return np.tile(self.logits, (len(rows), 1)), state


def solo(name: str = "CharlieParker_Ornithology.mid") -> Score:
    path = WJD / name
    return TOKENIZER.quantize_score(score_from_midi(read_midi(path), path))[0]


def test_width_names_the_events_version():
    assert version_for(N_EVENTS_FEATURES) == EVENTS_VERSION
    assert N_EVENTS_FEATURES == N_BEAT_HARMONY + 28 + 1


def test_features_follow_the_notes_and_the_changes():
    # Dm7 for a bar, G7 from beat 4, a note held across the change: the row after its duration
    # sits at beat 5 (bar 2, beat 2) under G7, with Cmaj7 next.
    spans = parse_progression("Dm7 | G7 | Cmaj7", 4.0)
    score = Score((Note(62, 0.0, 1.0), Note(65, 3.0, 2.0), Note(67, 5.0, 1.0 / 3)), tuple(spans))
    tokens = TOKENIZER.tokens(score)
    changes, end, ts = token_changes(tokens)
    assert [(float(t), c) for t, c in changes] == [(0.0, "CH:Dm7"), (4.0, "CH:G7")]  # up to the notes' end
    assert float(end) == 5 + 1 / 3 and ts == (4, 4)
    line = EventsLine(open_spans(changes), 4.0, 200.0, TOKENIZER)
    rows = {}
    for k, token in enumerate(tokens):
        rows[k] = line.feed(token)
    at = tokens.index("P65")
    assert rows[at][-1] == 1.0                                   # a duration is due
    assert np.argmax(block(rows[at], "beat")) == 3               # the note starts on beat 4
    assert np.argmax(block(rows[at], "root")) == 2               # under Dm7
    after = rows[at + 1]                                         # its duration moved time to beat 5
    assert after[-1] == 0.0
    assert np.argmax(block(after, "beat")) == 1 and np.argmax(block(after, "position")) == 0
    assert np.argmax(block(after, "root")) == 7                  # G7 came in under the held note
    # the melody block: the last pitch (F) against the current root (G) is 10 semitones up
    melody = after[N_BEAT_HARMONY:-1]
    assert np.argmax(melody[6:19]) == (65 - 7) % 12


def test_sampling_rows_are_the_training_rows():
    score = solo()
    tokens = TOKENIZER.tokens(score)
    vocab = Vocab(SPECIALS + tuple(sorted(set(tokens))))
    framed = np.array([vocab.id(BOS)] + vocab.encode(tokens) + [vocab.id(EOS)])
    piece = {"tempo_qpm": score.tempo_qpm}
    rows = piece_events_rows(framed, vocab.tokens, piece, TOKENIZER)
    assert rows.shape == (len(framed), 1 + N_EVENTS_FEATURES)
    assert rows[:, 1:].any(axis=0).sum() > 40                   # the blocks are filled in
    # At generation the chords come from the guide's changes (the same piece, the same end).
    _, end, _ = token_changes(tokens)
    guide = EventsGuide(TOKENIZER, vocab.tokens, score.chords, (4, 4), float(end), tempo_qpm=score.tempo_qpm)
    engine = Recording(len(vocab))
    conditioned = ConditionedEvents(engine, vocab.tokens, [guide], score.tempo_qpm, TOKENIZER)
    state = conditioned.initial_state(1)
    for i in framed:
        _, state = conditioned.step(np.array([i]), state)
    np.testing.assert_array_equal(np.concatenate(engine.rows), rows)


def test_guided_sampling_feeds_the_rows_it_draws():
    score = solo()
    tokens = TOKENIZER.tokens(score)
    spans = parse_progression("Dm7 G7 | Cmaj7 | F7 | Bb7", 4.0)
    chords = {"CH:Dm7", "CH:G7", "CH:Cmaj7", "CH:F7", "CH:Bb7"}  # none forced as <unk>
    vocab = Vocab(SPECIALS + tuple(sorted(set(tokens) | chords)))
    engine = Recording(len(vocab))
    seqs = sample_events(engine, vocab, TOKENIZER, spans, (4, 4), 16.0, 2, np.random.default_rng(1))
    # what the engine saw, replayed as a training piece, gives the same rows
    for b, seq in enumerate(seqs):
        assert set(seq) & chords and "<unk>" not in seq
        framed = np.array([vocab.id(BOS)] + vocab.encode(seq))
        fed = np.stack([r[b] for r in engine.rows[: len(framed)]])
        np.testing.assert_array_equal(fed, piece_events_rows(framed, vocab.tokens, {"tempo_qpm": 120.0},
                                                             TOKENIZER))


def test_rows_that_would_not_fit_in_memory_are_refused_naming_the_setting():
    from jazzgen.errors import UsageError
    from jazzgen.music.conditioning import _check_memory

    _check_memory(3 * 2**30, available=8 * 2**30)
    with pytest.raises(UsageError, match=r"data.condition: .* 3.7 GiB, more than the 4.0 GiB of memory free"):
        _check_memory(int(3.7 * 2**30), available=4 * 2**30)
