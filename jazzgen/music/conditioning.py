"""What a values model is told at every step besides the previous value: the beat and the harmony.

A value says how long it lasts and what it is against the chord, but the plain model never
learns *where* it is: which beat of the bar, where in the beat, which chord sounds there. So with
`data.condition` every step's input is a row [previous value id, features...], the features
describing the onset of the value about to be predicted (`FEATURE_BLOCKS`, `N_FEATURES` floats):

- beat in the bar (one-hot, beats 1-6), position in the beat on the 12-per-beat grid (one-hot),
  bar within an 8-bar phrase of the form counted from the bar of the first chord (one-hot);
- the chord at that onset: its root (one-hot, absolute) and its pitch-class set relative to the
  root (12 bits), or a no-chord flag;
- the chord after the next change: its root relative to the current root (one-hot) and its
  pitch-class set relative to its own root; beats until that change (/ 8, capped at 1) and a flag
  when the onset is the change itself.

Version 2 (`VERSION`) adds what the line itself is doing, which the values never spell out:

- the tempo (one-hot over `line.TEMPO_EDGES`): players play fewer notes per beat the faster the tune
  (WJD: about 2.6 notes per beat in ballads, 1.1-1.4 above 200 bpm);
- the last note's pitch class against the root of the chord at the onset (one-hot, or none):
  a value names a TYPE and an interval together, and only this says which intervals land on a
  pitch of that TYPE (without it, 55% of the intervals the version-1 default model named were
  bent by decoding to reach the TYPE, and its lines wandered: 4-bar range 22.5 semitones
  against the players' 15.4);
- the last note's register in the playable range (one-hot, `line.REGISTER_BINS`) and how far it is
  from the mean of the last 16 notes (/ 12): values name intervals, not pitches, so without
  these a line cannot know it has climbed and should come back.

The pitches are the ones decoding gives (`values.LineDecoder`): from the piece's first pitch in
training (a corpus piece's values decode back to its own notes), from the solo's `Decoding`
while sampling.

The events grammar has its own rows (`music.events_conditioning`, `EVENTS_VERSION`), built from
the same `features_at` and `MelodyState`.

Training computes the rows from each corpus piece's values and chords (`piece_rows`), generation
from the changes it plays over as values are drawn (`ValuesCondition`): both call
`features_at` and feed a `MelodyState` from a `LineDecoder`, so the two cannot disagree. Version-1 runs keep their
rows (the beat and harmony blocks only).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from fractions import Fraction

import numpy as np

from jazzgen.music.chords import parse_chord
from jazzgen.music.line import INTERVAL_BLOCK, MELODY_BLOCKS, MELODY_WIDTH, MelodyState, playable_values
from jazzgen.music.score import ChordSpan, Score
from jazzgen.music.values import LineDecoder, ValuesTokenizer, parse_value

GRID = 12  # ticks per quarter note
FORM_BARS = 8
MAX_BEATS = 6
CHANGE_BEATS = 8.0  # beats-until-change is scaled by this and capped at 1
BEAT_HARMONY_BLOCKS = (("beat", MAX_BEATS), ("position", GRID), ("bar", FORM_BARS),
                       ("root", 12), ("chord", 12), ("no_chord", 1),
                       ("next_root", 12), ("next_chord", 12), ("until_change", 1), ("change", 1))
FEATURE_BLOCKS = BEAT_HARMONY_BLOCKS + MELODY_BLOCKS + (INTERVAL_BLOCK,)
N_BEAT_HARMONY = sum(n for _, n in BEAT_HARMONY_BLOCKS)
N_FEATURES = sum(n for _, n in FEATURE_BLOCKS)
VERSION_1 = "beat+harmony/1"
VERSION_2 = "beat+harmony+tempo+line/2"
VERSION = "beat+harmony+tempo+line+intervals/3"  # kept in task.json: generation computes the same features
# The events grammar's features (`music.events_conditioning`): the beat and harmony block, the
# melody block, and a flag saying a duration is due.
EVENTS_VERSION = "events:beat+harmony+tempo+line/1"
# Each version's width: the blocks are only ever appended, so a row's first columns mean the same.
# A width names one version (`version_for` reads a model's version from its width).
WIDTHS = {VERSION_1: N_BEAT_HARMONY, VERSION_2: N_BEAT_HARMONY + MELODY_WIDTH, VERSION: N_FEATURES,
          EVENTS_VERSION: N_BEAT_HARMONY + MELODY_WIDTH + 1}


def n_features(version: str) -> int:
    """Features per step of a model trained with conditioning `version` (task.json's "condition")."""
    if version not in WIDTHS:
        raise ValueError(f"unknown conditioning {version!r} (this jazzgen knows {', '.join(WIDTHS)})")
    return WIDTHS[version]


def version_for(condition_dim: int) -> str:
    """The conditioning of a model that reads `condition_dim` features per step (its config's)."""
    for version, width in WIDTHS.items():
        if width == condition_dim:
            return version
    known = ", ".join(f"{w} ({v})" for v, w in WIDTHS.items())
    raise ValueError(f"a model conditioned on {condition_dim} features per step: this jazzgen knows {known}")


def _melody_state(version: str, tempo_qpm: float, tokenizer: ValuesTokenizer) -> MelodyState:
    """A fresh `MelodyState` writing `version`'s melody columns."""
    return MelodyState(tempo_qpm, tokenizer.low_pitch, tokenizer.high_pitch, intervals=version == VERSION)


def _chord_rows(spans: Sequence[ChordSpan]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per span: start and end ticks, root (-1 = none) and pitch-class set relative to the root."""
    starts = np.array([round(s.start_beat * GRID) for s in spans], np.int64)
    ends = np.array([round(s.end_beat * GRID) for s in spans], np.int64)
    roots = np.array([-1 if s.chord.root is None else s.chord.root for s in spans], np.int64)
    sets = np.zeros((len(spans), 12), np.float32)
    for i, s in enumerate(spans):
        if s.chord.root is not None:
            sets[i, [(pc - s.chord.root) % 12 for pc in s.chord.pitch_classes]] = 1.0
    return starts, ends, roots, sets


def features_at(ticks: np.ndarray, spans: Sequence[ChordSpan], beats_per_bar: float) -> np.ndarray:
    """The beat and harmony features of onsets at `ticks` (12 per quarter note) over `spans`
    # (N,) -> (N, N_BEAT_HARMONY)."""
    ticks = np.asarray(ticks, np.int64)
    n = len(ticks)
    out = np.zeros((n, N_BEAT_HARMONY), np.float32)
    bar_ticks = max(1, round(beats_per_bar * GRID))
    starts, ends, roots, sets = _chord_rows(spans)
    first_bar = int(starts[0] // bar_ticks) if len(starts) else 0
    col = 0
    rows = np.arange(n)
    for name, width in BEAT_HARMONY_BLOCKS:
        if name == "beat":
            out[rows, col + np.minimum((ticks % bar_ticks) // GRID, MAX_BEATS - 1)] = 1.0
        elif name == "position":
            out[rows, col + ticks % GRID] = 1.0
        elif name == "bar":
            out[rows, col + (ticks // bar_ticks - first_bar) % FORM_BARS] = 1.0
        col += width
    if not len(starts):
        out[:, _column("no_chord")] = 1.0
        return out
    i = np.searchsorted(starts, ticks, side="right") - 1                  # span at or before
    inside = (i >= 0) & (ticks < ends[np.maximum(i, 0)])
    current = np.where(inside, roots[np.maximum(i, 0)], -1)
    has = current >= 0
    out[has, _column("root") + current[has]] = 1.0
    out[has, _column("chord"):_column("chord") + 12] = sets[i[has]]
    out[~has, _column("no_chord")] = 1.0
    j = np.maximum(i, -1) + 1                                             # the next span
    later = j < len(starts)
    nxt = np.minimum(j, len(starts) - 1)
    next_root = np.where(later, roots[nxt], -1)
    both = later & has & (next_root >= 0)
    out[both, _column("next_root") + (next_root[both] - current[both]) % 12] = 1.0
    out[later, _column("next_chord"):_column("next_chord") + 12] = sets[nxt[later]]
    until = np.where(later, starts[nxt] - ticks, ends[-1] - ticks) / GRID
    out[:, _column("until_change")] = np.clip(until / CHANGE_BEATS, 0.0, 1.0)
    out[:, _column("change")] = (inside & (ticks == starts[np.maximum(i, 0)])).astype(np.float32)
    return out


def output_gates(tokens: Sequence[str]) -> list:
    """The `core.gates` blocks of a version-3 model over vocabulary `tokens`: what sampling allows,
    told to training too.

    - meter: at each position in the beat (the "position" block) only the values whose duration
      lands the next onset on the corpus's grid (`solos.meter_masks`);
    - line: a value naming an interval only where that interval lands on its TYPE (the
      "interval_types" block, `line.interval_types`), as `line.playable_values` allows.

    Tokens that are not values (`<eos>` ends every training piece) and values without an
    interval are never gated.
    """
    from jazzgen.core.gates import GateBlock
    from jazzgen.music.line import REACH, value_kinds
    from jazzgen.music.solos import meter_masks

    masks, _ = meter_masks(tokens, GRID)                                   # (GRID, V)
    is_value = value_ticks(tokens) > 0
    meter = GateBlock(_column("position"), np.where(is_value, masks, False).astype(np.float32),
                      (~is_value).astype(np.float32))
    kinds, leaps = value_kinds(tuple(tokens))
    named = (kinds >= 0) & (np.abs(leaps) <= REACH)
    matrix = np.zeros((INTERVAL_BLOCK[1], len(tokens)), np.float32)
    columns = np.flatnonzero(named)
    matrix[(leaps[columns] + REACH) * 4 + kinds[columns], columns] = 1.0
    line = GateBlock(_column("interval_types"), matrix, (~named).astype(np.float32))
    return [meter, line]


def _column(block: str) -> int:
    col = 0
    for name, width in FEATURE_BLOCKS:
        if name == block:
            return col
        col += width
    raise KeyError(block)


def value_ticks(tokens: Sequence[str]) -> np.ndarray:
    """Grid ticks each token lasts (0 for specials and values off the grid) # (V,); read-only."""
    return _value_ticks(tuple(tokens))


@functools.lru_cache(maxsize=8)  # once per vocabulary: sampling asks at every call
def _value_ticks(tokens: tuple[str, ...]) -> np.ndarray:
    out = np.zeros(len(tokens), np.int64)
    for k, token in enumerate(tokens):
        try:
            ticks = parse_value(token)[1] * GRID
        except ValueError:
            continue
        if isinstance(ticks, Fraction) and ticks.denominator == 1:
            out[k] = int(ticks)
    out.flags.writeable = False
    return out


def onset_roots(beat_harmony: np.ndarray) -> list[int | None]:
    """The root of the chord at each row's onset, read back from its features # (N, F) -> N roots."""
    root = beat_harmony[:, _column("root"):_column("root") + 12]
    return [int(np.argmax(r)) if r.any() else None for r in root]


def piece_rows(framed: np.ndarray, tokens: Sequence[str], piece: dict, version: str = VERSION,
               tokenizer: ValuesTokenizer | None = None) -> np.ndarray:
    """Rows [id, features] of a framed piece [bos, ids..., eos] # (L,) -> (L, 1 + F).

    Row k goes with input framed[k] and describes the onset of framed[k + 1], which starts
    where framed[1..k] end (and, from version 2, the line after framed[0..k], decoded by
    `tokenizer` from the piece's first pitch).
    """
    spans = [ChordSpan(parse_chord(sym), float(start), float(length))
             for sym, start, length in piece.get("chords", ())]
    num, den = piece.get("time_signature", (4, 4))
    onsets = np.cumsum(value_ticks(tokens)[framed])                       # (L,)
    beat_harmony = features_at(onsets, spans, num * 4.0 / den)
    blocks = [framed.astype(np.float32)[:, None], beat_harmony]
    if n_features(version) > N_BEAT_HARMONY:
        tokenizer = tokenizer or ValuesTokenizer()
        line = LineDecoder(tokenizer, spans, np.random.default_rng(0), piece.get("first_pitch"))
        state = _melody_state(version, float(piece.get("tempo_qpm") or 120.0), tokenizer)
        harmony = Score(notes=(), chords=tuple(spans))
        melody = np.zeros((len(framed), state.width), np.float32)
        for k, (token_id, root) in enumerate(zip(framed, onset_roots(beat_harmony), strict=True)):
            note = line.feed(tokens[int(token_id)])
            state.feed(None if note is None else note.pitch)
            melody[k] = state.row(root, harmony.chord_at(onsets[k] / GRID))
        blocks.append(melody)
    return np.concatenate(blocks, axis=1)


def rows_function(version: str, tokenizer_config: dict | None):
    """`rows(framed, tokens, piece)` -> a piece's rows [id, features] # (L, 1 + F) for a model
    conditioned with `version` on a corpus written by the tokenizer `tokenizer_config`."""
    if version == EVENTS_VERSION:
        from jazzgen.music.events_conditioning import piece_events_rows
        from jazzgen.music.tokenizers import tokenizer_from_config

        events = tokenizer_from_config(tokenizer_config or {"name": "events"})
        return lambda framed, tokens, piece: piece_events_rows(framed, tokens, piece, events)
    values = ValuesTokenizer.from_config(tokenizer_config) if tokenizer_config else ValuesTokenizer()
    return lambda framed, tokens, piece: piece_rows(framed, tokens, piece, version, values)


def _available_bytes() -> int | None:
    """Memory the system can still give (Linux MemAvailable), None where it cannot say."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _check_memory(needed: int, available: int | None = None) -> None:
    """Refuse, naming the setting, rows that would not fit in memory (training needs them whole)."""
    from jazzgen.errors import UsageError

    available = _available_bytes() if available is None else available
    if available is not None and needed > 0.8 * available:
        raise UsageError(f"data.condition: this corpus's conditioned windows take {needed / 2**30:.1f} GiB, more "
                         f"than the {available / 2**30:.1f} GiB of memory free (preprocess fewer keys with "
                         "preprocess.all_keys = false, or train on fewer pieces)")


# Blocks holding fractions rather than 0/1 flags: the beats until the change (/ 8) and the line's
# distance from its recent mean (/ 12). Training keeps every other column in a byte (`PackedRows`).
REAL_BLOCKS = ("until_change", "local")


def real_columns(version: str) -> list[int]:
    """The feature columns of `version`'s rows holding fractions (all blocks before the last
    ones are shared by every version, so the same offsets hold in each)."""
    return [c for c in (_column(b) for b in REAL_BLOCKS) if c < n_features(version)]


def conditioned_windows(corpus, indices: Sequence[int], seq_len: int, stride: int, bos: int,
                        eos: int, version: str = VERSION):
    """Training windows like `core.corpus.make_windows`, inputs as rows: (x, y) with x a
    `core.rows.PackedRows` # (N, T, 1 + F) as indexed, y # (N, T) int32.

    The window starts are make_windows' (every `stride`, plus one covering the end); padding
    rows are all zero (id 0, masked in the loss).
    """
    from jazzgen.core.rows import PackedRows

    width = 1 + n_features(version)
    real = [1 + c for c in real_columns(version)]  # the row's column 0 is the id
    rows_of = rows_function(version, corpus.info["tokenizer"])
    pieces = []
    n = 0
    for i in indices:
        framed = np.concatenate([[bos], corpus.piece_ids(int(i)), [eos]]).astype(np.int64)
        last = max(len(framed) - (seq_len + 1), 0)
        starts = list(range(0, last + 1, stride))
        if starts[-1] != last:
            starts.append(last)
        pieces.append((int(i), framed, starts))
        n += len(starts)
    # Filled in place, flags in a byte: the rows of a 12-key events corpus would be 3.3 GB as
    # float32 (0.9 GB so), so no list of windows and no second copy from np.stack.
    _check_memory(PackedRows.bytes_for(n, seq_len, width, len(real)) + n * seq_len * 4)
    x = PackedRows(n, seq_len, width, real)
    y = np.zeros((n, seq_len), np.int32)
    k = 0
    for i, framed, starts in pieces:
        rows = rows_of(framed, corpus.vocab.tokens, corpus.pieces[i])
        for s in starts:
            x.put(k, rows[s: s + seq_len])
            target = framed[s + 1: s + seq_len + 1]
            y[k, : len(target)] = target
            k += 1
    return x, y


class ValuesCondition:
    """Features beside each fed id while sampling values, one sequence per set of changes.

    Args:
        tokens: the vocabulary (durations of the drawn values).
        spans: per sequence, the chord spans it plays over (from beat 0, the primer's beats included).
        beats_per_bar: per sequence.
        tempos: per sequence, quarter notes per minute (version 2).
        version: the model's conditioning (`version_for(its condition_dim)`).
        decodings: version 2: per sequence, how its drawn values become notes (`values.Decoding`).
        primer: version 2: the primer's values and first pitch; the primer is decoded from it.
    """

    def __init__(self, tokens: Sequence[str], spans: Sequence[Sequence[ChordSpan]],
                 beats_per_bar: Sequence[float], tempos: Sequence[float] | None = None,
                 version: str = VERSION, decodings: Sequence | None = None,
                 primer: tuple[Sequence[int], int | None] = ((), None)):
        self.tokens, self.ticks = tokens, value_ticks(tokens)
        self.spans, self.bars = list(spans), list(beats_per_bar)
        self.now = np.zeros(len(self.spans), np.int64)                    # onset ticks
        # Features of every tick up to a length, per sequence, computed once (and again for
        # twice the length when a sequence runs past it): a lookup per step instead of a search.
        self.tables = [self._table(b, self._length(b)) for b in range(len(self.spans))]
        self.melody = None
        if n_features(version) > N_BEAT_HARMONY:
            if decodings is None or len(decodings) != len(self.spans):
                raise ValueError("a model told about its line needs each solo's decoding")
            tempos = [120.0] * len(self.spans) if tempos is None else list(tempos)
            self.melody = [_melody_state(version, t, d.tokenizer) for t, d in zip(tempos, decodings, strict=True)]
            self.harmony = [Score(notes=(), chords=tuple(s)) for s in self.spans]
            self.lines = [d.line() for d in decodings]
            self.primer_left = len(primer[0])
            if self.primer_left:  # the primer's own notes, decoded from its first pitch
                first = decodings[0]
                self.primer_lines = [LineDecoder(d.tokenizer, spans[b], np.random.default_rng(0), primer[1])
                                     for b, d in enumerate(decodings)]
                del first

    def _length(self, b: int) -> int:
        end = max((round(s.end_beat * GRID) for s in self.spans[b]), default=0)
        return end + round(8 * self.bars[b] * GRID)

    def _table(self, b: int, length: int) -> np.ndarray:
        return features_at(np.arange(length), self.spans[b], self.bars[b])   # (length, F)

    def _features(self) -> np.ndarray:
        for b, table in enumerate(self.tables):
            while self.now[b] >= len(table):
                table = self.tables[b] = self._table(b, 2 * len(table))
        rows = np.stack([table[t] for table, t in zip(self.tables, self.now, strict=True)])
        if self.melody is None:
            return rows
        roots = onset_roots(rows)
        melody = [m.row(r, h.chord_at(t / GRID))
                  for m, r, h, t in zip(self.melody, roots, self.harmony, self.now, strict=True)]
        return np.concatenate([rows, np.stack(melody)], axis=1)

    def _feed(self, ids: np.ndarray) -> None:
        if self.melody is None:
            return
        lines = self.lines
        if self.primer_left:
            lines, self.primer_left = self.primer_lines, self.primer_left - 1
        for state, line, token_id in zip(self.melody, lines, ids, strict=True):
            note = line.feed(self.tokens[int(token_id)])
            state.feed(None if note is None else note.pitch)

    def allowed(self) -> np.ndarray | None:
        """Version 2: the values each solo can play as written from where its line is
        (`playable_values`) # (B, V) bool; None for version 1 (it does not follow the line)."""
        if self.melody is None:
            return None
        out = np.ones((len(self.lines), len(self.tokens)), bool)
        for b, line in enumerate(self.lines):
            if line.previous is not None:
                t = line.tokenizer
                out[b] = playable_values(self.tokens, line.previous, line.harmony.chord_at(float(line.time)),
                                         t.low_pitch, t.high_pitch)
        return out

    def start(self) -> np.ndarray:
        """Features beside the start id (a special: the line has not begun): beat 0 # (B, F)."""
        self.now[:] = 0
        return self._features()

    def advance(self, ids: np.ndarray) -> np.ndarray:
        """The ids just fed or drawn move each sequence on by their durations # (B,) -> (B, F)."""
        ids = np.asarray(ids)
        self.now += self.ticks[ids]
        self._feed(ids)
        return self._features()


class ConditionedPieces:
    """An engine over whole held-out pieces that adds each piece's features to the ids it steps.

    `core.scoring` steps pieces longest first, in batches, and drops finished ones from the end
    of a batch; this wrapper sorts its rows the same way (a stable sort by length) and keeps its
    own batch offset and time step.
    """

    def __init__(self, engine, pieces_rows: Sequence[np.ndarray]):
        self.engine, self.cfg = engine, engine.cfg
        self.rows = sorted(pieces_rows, key=len, reverse=True)
        self.t, self.offset, self.next_offset = 0, 0, 0

    def initial_state(self, batch_size: int):
        self.t, self.offset = 0, self.next_offset
        self.next_offset += batch_size
        return self.engine.initial_state(batch_size)

    def step(self, ids: np.ndarray, state):
        rows = np.stack([self.rows[self.offset + b][self.t] for b in range(len(ids))])  # (live, 1 + F)
        rows[:, 0] = ids
        self.t += 1
        return self.engine.step(rows, state)


def for_scoring(engine, tokens: Sequence[str], pieces_ids: Sequence[np.ndarray],
                pieces: Sequence[dict], bos: int, eos: int, tokenizer_config: dict | None = None):
    """`engine` as `core.scoring` can step it over `pieces_ids`: wrapped in `ConditionedPieces`
    (with each piece's features, from its record `pieces[i]`) when it is a conditioned model.
    `tokenizer_config` (the run's) says the grammar and decodes the pieces for a values model
    told about its line."""
    if not getattr(engine.cfg, "condition_dim", 0):
        return engine
    version = version_for(engine.cfg.condition_dim)
    rows_of = rows_function(version, tokenizer_config)
    return ConditionedPieces(engine, [rows_of(np.concatenate([[bos], ids, [eos]]).astype(np.int64), tokens, piece)
                                      for ids, piece in zip(pieces_ids, pieces, strict=True)])
