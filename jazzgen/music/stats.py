"""Statistics of melodies on a `Score`, including the measures published for jazz generation.

Every function takes a `Score` (times in quarter-note beats, bars of `score.beats_per_bar`) and
returns a float; NaN where the measure is undefined for that piece (no notes, no chords, a single
bar). Pitch-class counts count note onsets: durations are not weighted, as in the sources below.

Sources of the published definitions:
- H1, H4 (pitch-class histogram entropy over 1- and 4-bar windows) and GS (grooving pattern
  similarity): S.-L. Wu and Y.-H. Yang, "The Jazz Transformer on the Front Line: Exploring the
  Shortcomings of AI-composed Music through Quantitative Measures", ISMIR 2020,
  https://arxiv.org/abs/2008.01307, with the authors' reference code MusDr,
  https://github.com/slSeanWU/MusDr (musdr/eval_metrics.py, musdr/side_utils.py).
- chord_tone_ratio and chord_scale_ratio ("harmonic coherence"): V. Madaghiele, P. Lisena and
  R. Troncy, "MINGUS: Melodic Improvisation Neural Generator Using Seq2Seq", ISMIR 2021, code
  https://github.com/vincenzomadaghiele/MINGUS (D_evaluate/eval_funct.py, HarmonicCoherence).
- scale_consistency: O. Mogren, "C-RNN-GAN: Continuous recurrent neural networks with adversarial
  training", NIPS 2016 workshop, https://arxiv.org/abs/1611.09904 (code: midi_statistics.py).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from jazzgen.music.chords import Chord
from jazzgen.music.score import Score

GRID = 64  # onset positions per bar for GS, as in the Jazz Transformer (Q = 64)
_MAJOR = (0, 2, 4, 5, 7, 9, 11)
_NATURAL_MINOR = (0, 2, 3, 5, 7, 8, 10)
_HARMONIC_MINOR = (0, 2, 3, 5, 7, 8, 11)
# (36, 12) membership masks: Mogren's three scale kinds on all 12 tonics. Natural minor repeats
# its relative major, so these are 24 distinct pitch-class sets.
_SCALES = np.array(
    [[(pc - tonic) % 12 in kind for pc in range(12)]
     for kind in (_MAJOR, _NATURAL_MINOR, _HARMONIC_MINOR) for tonic in range(12)],
    dtype=float,
)
NAN = float("nan")


# ---- helpers --------------------------------------------------------------------------------

def _pitches(score: Score) -> np.ndarray:
    return np.array([n.pitch for n in score.notes], dtype=np.int64)


def _entropy_bits(counts: np.ndarray) -> np.ndarray:
    """Entropy in bits of each row of non-negative counts (last axis)."""
    p = counts / counts.sum(axis=-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.where(p > 0, p * np.log2(p), 0.0).sum(axis=-1)


def _grid(score: Score) -> tuple[np.ndarray, np.ndarray, int]:
    """Each note's (bar, position 0..63) on the 64-per-bar grid, and the number of bars."""
    bpb = score.beats_per_bar
    starts = np.array([n.start_beat for n in score.notes], dtype=float)
    q = np.floor(starts * GRID / bpb + 0.5).astype(np.int64)  # nearest grid step
    bars, pos = q // GRID, q % GRID
    n_bars = max(math.ceil(score.end_beat / bpb - 1e-6), int(bars.max()) + 1 if len(q) else 0)
    return bars, pos, n_bars


def _onset_chords(score: Score) -> list[Chord | None]:
    """The chord sounding at each note's onset."""
    return [score.chord_at(note.start_beat) for note in score.notes]


def intervals(score: Score) -> list[int]:
    """Semitone steps between consecutive melody notes (len = notes - 1)."""
    return np.diff(_pitches(score)).tolist()


# ---- pitch ----------------------------------------------------------------------------------

def note_count(score: Score) -> int:
    """Number of melody notes."""
    return len(score.notes)


def pitch_class_entropy(score: Score) -> float:
    """Entropy (bits) of the piece's pitch-class histogram of note onsets; NaN without notes.

    The whole-piece case of the Jazz Transformer's H (Wu & Yang 2020, above): 0 for one pitch
    class, log2(12) for all twelve equally often.
    """
    if not score.notes:
        return NAN
    return float(_entropy_bits(np.bincount(_pitches(score) % 12, minlength=12).astype(float)))


def scale_consistency(score: Score) -> float:
    """Share of notes inside the best-fitting major or minor scale (Mogren 2016, above).

    The maximum over major, natural-minor and harmonic-minor scales on the 12 tonics (24
    distinct pitch-class sets) of the fraction of note onsets whose pitch class is in the scale.
    """
    if not score.notes:
        return NAN
    hist = np.bincount(_pitches(score) % 12, minlength=12).astype(float)
    return float((_SCALES @ hist).max() / hist.sum())


def mean_abs_interval(score: Score) -> float:
    """Mean absolute step between consecutive notes, in semitones; NaN below two notes."""
    steps = intervals(score)
    return float(np.mean(np.abs(steps))) if steps else NAN


def pitch_range(score: Score) -> float:
    """Highest minus lowest pitch, in semitones; NaN without notes."""
    p = _pitches(score)
    return float(p.max() - p.min()) if len(p) else NAN


def repeated_4gram_rate(score: Score) -> float:
    """Share of interval 4-grams (4 steps = 5 notes) whose pattern occurs more than once.

    Counted over positions: a pattern seen 3 times contributes 3 repeated positions. NaN when
    the melody has fewer than 5 notes.
    """
    steps = intervals(score)
    grams = [tuple(steps[i : i + 4]) for i in range(len(steps) - 3)]
    if not grams:
        return NAN
    counts = Counter(grams)
    return sum(1 for g in grams if counts[g] > 1) / len(grams)


# ---- harmony (MINGUS harmonic coherence) ----------------------------------------------------

def _harmonic_share(score: Score, use_scale: bool) -> float:
    hits = total = 0
    for note, chord in zip(score.notes, _onset_chords(score), strict=True):
        if chord is None or chord.root is None:
            continue  # no chord sounding: the note is left out, as MINGUS skips "NC"
        allowed = set(chord.pitch_classes) | (set(chord.scale) if use_scale else set())
        hits += note.pitch % 12 in allowed
        total += 1
    return hits / total if total else NAN


def chord_tone_ratio(score: Score) -> float:
    """Share of notes whose pitch class is a tone of the chord sounding at their onset.

    MINGUS's chord coherence (Madaghiele et al. 2021, above). Notes with no chord (gaps, N.C.)
    are left out; NaN when no note has a chord.
    """
    return _harmonic_share(score, use_scale=False)


def chord_scale_ratio(score: Score) -> float:
    """Share of notes whose pitch class is in the sounding chord's scale (chord tones included).

    MINGUS's scale coherence (Madaghiele et al. 2021, above), whose chord scale is the chord
    with its 2nd..7th steps added, so it contains the chord tones; here `Chord.scale` united
    with `Chord.pitch_classes`. Notes with no chord are left out; NaN when none has one.
    """
    return _harmonic_share(score, use_scale=True)


# ---- bar-level measures (Jazz Transformer) --------------------------------------------------

def windowed_pitch_class_entropy(score: Score, window_bars: int) -> float:
    """Mean pitch-class entropy (bits) over every window of `window_bars` consecutive bars.

    As MusDr's `compute_piece_pitch_entropy`: windows start at every bar (stride 1), windows
    with no notes are skipped, and a window longer than the piece shrinks to the whole piece.
    NaN without notes.
    """
    if not score.notes:
        return NAN
    bars, _, n_bars = _grid(score)
    w = min(window_bars, n_bars)
    per_bar = np.zeros((n_bars, 12))
    np.add.at(per_bar, (bars, _pitches(score) % 12), 1.0)
    cum = np.vstack([np.zeros(12), np.cumsum(per_bar, axis=0)])
    windows = cum[w:] - cum[:-w]  # (n_bars - w + 1, 12) counts per window
    windows = windows[windows.sum(axis=1) > 0]
    return float(_entropy_bits(windows).mean())


def h1(score: Score) -> float:
    """H1: mean 1-bar pitch-class histogram entropy (Wu & Yang 2020)."""
    return windowed_pitch_class_entropy(score, 1)


def h4(score: Score) -> float:
    """H4: mean 4-bar pitch-class histogram entropy (Wu & Yang 2020)."""
    return windowed_pitch_class_entropy(score, 4)


def grooving_similarity(score: Score) -> float:
    """GS: mean over all pairs of bars of 1 - (onset-vector XOR count) / 64 (Wu & Yang 2020).

    Each bar is a binary vector of 64 onset positions (onsets rounded to the nearest 1/64 bar).
    All pairs of bars are used, empty bars included (MusDr samples 1000 pairs when there are
    more; here every pair is counted, so the value is deterministic). NaN without notes or
    below two bars.
    """
    bars, pos, n_bars = _grid(score)
    if not score.notes or n_bars < 2:
        return NAN
    onsets = np.zeros((n_bars, GRID))
    onsets[bars, pos] = 1.0
    shared = onsets @ onsets.T  # (n_bars, n_bars) onsets in common
    per_bar = onsets.sum(axis=1)
    xor = per_bar[:, None] + per_bar[None, :] - 2.0 * shared
    i, j = np.triu_indices(n_bars, k=1)
    return float(np.mean(1.0 - xor[i, j] / GRID))


# ---- originality: the longest interval run shared with the training set ---------------------

_BASE = 0x9E3779B97F4A7C15  # odd, so invertible modulo 2**64
_BASE_INV = pow(_BASE, -1, 2**64)


def _powers(base: int, n: int) -> np.ndarray:
    """base**0 .. base**n modulo 2**64 (uint64 arithmetic wraps)."""
    return np.concatenate([np.ones(1, np.uint64), np.cumprod(np.full(n, base, np.uint64))])


def _prefix_hashes(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """P[i] = sum_{k<i} x[k] B^k and B^-i for i = 0..len(x), both modulo 2**64."""
    terms = x * _powers(_BASE, len(x))[:-1]
    prefix = np.concatenate([np.zeros(1, np.uint64), np.cumsum(terms, dtype=np.uint64)])
    return prefix, _powers(_BASE_INV, len(x))


def _window_hashes(prefix: np.ndarray, inv: np.ndarray, starts: np.ndarray, length: int):
    """Position-independent hash of x[s : s + length] for each start s."""
    return (prefix[starts + length] - prefix[starts]) * inv[starts]


class IntervalIndex:
    """The interval sequences of a training corpus, hashed for longest-shared-run queries.

    Build once, query many samples: each query is a binary search over the run length, each
    step a vectorised comparison of 64-bit rolling hashes (a false match needs a 64-bit
    collision, ~1e-9 for a corpus of this size).
    """

    def __init__(self, training_scores: Iterable[Score]):
        seqs = [intervals(s) for s in training_scores]
        lengths = np.array([len(s) for s in seqs], dtype=np.int64)
        self.piece_of = np.repeat(np.arange(len(seqs), dtype=np.int64), lengths)  # per interval
        self.end_of = np.repeat(np.cumsum(lengths), lengths)  # end of the interval's piece
        x = np.array([i + 256 for s in seqs for i in s], dtype=np.uint64)  # > 0, no zero steps
        self.prefix, self.inv = _prefix_hashes(x)
        self.max_len = max((len(s) for s in seqs), default=0)
        self._sorted: dict[int, np.ndarray] = {}  # run length -> sorted training hashes

    def _training_hashes(self, length: int) -> tuple[np.ndarray, np.ndarray]:
        """Hashes of every training run of `length` inside one piece, and their starts."""
        starts = np.nonzero(np.arange(len(self.end_of)) + length <= self.end_of)[0]
        return _window_hashes(self.prefix, self.inv, starts, length), starts

    def _shared(self, sample: tuple[np.ndarray, np.ndarray], m: int, length: int) -> np.ndarray:
        """Sample start positions whose run of `length` intervals occurs in training."""
        if length not in self._sorted:
            if len(self._sorted) > 64:
                self._sorted.clear()
            self._sorted[length] = np.sort(self._training_hashes(length)[0])
        table = self._sorted[length]
        h = _window_hashes(*sample, np.arange(m - length + 1), length)
        if len(table) == 0:
            return np.zeros(0, dtype=np.int64)
        idx = np.minimum(np.searchsorted(table, h), len(table) - 1)
        return np.nonzero(table[idx] == h)[0]

    def longest_run(self, steps: Sequence[int]) -> tuple[int, int | None]:
        """Longest run of consecutive `steps` found in one training piece, and that piece's index.

        Returns:
            (length in intervals, index of a training piece holding it, or None when length 0).
        """
        m = len(steps)
        sample = _prefix_hashes(np.array([i + 256 for i in steps], dtype=np.uint64))
        lo, hi = 0, min(m, self.max_len)
        while lo < hi:  # a shared run of L implies one of L - 1: binary search on L
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if len(self._shared(sample, m, mid)) else (lo, mid - 1)
        if lo == 0:
            return 0, None
        j = self._shared(sample, m, lo)[0]
        h = _window_hashes(*sample, np.array([j]), lo)[0]
        train_h, starts = self._training_hashes(lo)
        return lo, int(self.piece_of[starts[np.nonzero(train_h == h)[0][0]]])


def _index(training: Sequence[Score] | IntervalIndex) -> IntervalIndex:
    return training if isinstance(training, IntervalIndex) else IntervalIndex(training)


def longest_shared_interval_run(sample: Score, training: Sequence[Score] | IntervalIndex) -> int:
    """Length (in intervals) of the longest run of `sample`'s steps found in a training piece.

    Interval runs ignore transposition: a lick copied a third higher still counts. Pass an
    `IntervalIndex` to check many samples against the same corpus without re-hashing it.
    """
    return _index(training).longest_run(intervals(sample))[0]


@dataclass(frozen=True)
class Originality:
    """Result of `originality`: the longest shared run and whether it counts as a copy."""

    longest_run: int  # intervals shared in a row with one training piece
    copied: bool  # longest_run >= threshold
    source_index: int | None  # which training piece (None when nothing is shared)
    threshold: int


def originality(
    sample: Score, training: Sequence[Score] | IntervalIndex, threshold: int = 20
) -> Originality:
    """Flag a sample that repeats `threshold` or more consecutive intervals of a training piece.

    Args:
        sample: the generated melody.
        training: the training scores, or an `IntervalIndex` built from them.
        threshold: run length (in intervals) from which the sample counts as copied.
    """
    run, source = _index(training).longest_run(intervals(sample))
    return Originality(run, run >= threshold, source, threshold)


# ---- summaries ------------------------------------------------------------------------------

STATS = {
    "note_count": note_count,
    "pitch_class_entropy": pitch_class_entropy,
    "scale_consistency": scale_consistency,
    "mean_abs_interval": mean_abs_interval,
    "pitch_range": pitch_range,
    "repeated_4gram_rate": repeated_4gram_rate,
    "chord_tone_ratio": chord_tone_ratio,
    "chord_scale_ratio": chord_scale_ratio,
    "h1": h1,
    "h4": h4,
    "grooving_similarity": grooving_similarity,
}


def score_stats(score: Score) -> dict[str, float]:
    """Every per-piece statistic, keyed by its function's name (NaN where undefined)."""
    return {name: float(fn(score)) for name, fn in STATS.items()}


def corpus_stats(scores: Iterable[Score]) -> dict[str, float]:
    """Mean of each statistic over pieces, ignoring pieces where it is NaN (e.g. no chords).

    A statistic that is NaN for every piece (or an empty corpus) stays NaN.
    """
    rows = [score_stats(s) for s in scores]
    out = {}
    for name in STATS:
        vals = np.array([r[name] for r in rows], dtype=float)
        vals = vals[~np.isnan(vals)]
        out[name] = float(vals.mean()) if len(vals) else NAN
    return out
