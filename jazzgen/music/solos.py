"""Play solos over given changes with a run's model, as scores (no files written).

Shared by `jazzgen generate` and by evaluation (which plays over every held-out piece's own
changes at once). Values runs are sampled in one batch with one beat budget per solo and the
meter mask (`meter_masks`); events runs through their guide (`events.sample_events`), whose
grammar keeps onsets on the grid already. Decoded notes then get the loudness of the run's
learned dynamics (`dynamics.json`) and are shortened by its articulation table
(`articulation.json`), each when the run has one.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from fractions import Fraction

import numpy as np

from jazzgen.core.files import read_json
from jazzgen.core.vocab import BOS
from jazzgen.music.articulation import articulate
from jazzgen.music.dynamics import CLASSES, perform_dynamics
from jazzgen.music.line import chord_tone_values
from jazzgen.music.score import ChordSpan, Score
from jazzgen.music.values import Decoding, ValuesTokenizer, parse_value


@dataclass(frozen=True)
class Plan:
    """What to play over: chord spans from beat 0, the meter, the tempo and the length in beats."""

    spans: tuple[ChordSpan, ...]
    time_signature: tuple[int, int]
    tempo_qpm: float
    total_beats: float


def meter_masks(tokens: Sequence[str], grid_per_beat: int) -> tuple[np.ndarray, np.ndarray]:
    """Which values may be drawn at each grid position within a beat, and how far each moves.

    A value starting `k` ticks into a beat ends (and the next value starts) at k + its ticks;
    it is allowed only if that lands where the quantized corpus puts onsets (sixteenths and
    triplets: `ValuesTokenizer` snaps to no other position), so a solo never drifts off the
    grid. Tokens that are not values (specials) are never allowed.

    Returns:
        (masks (G, V) bool, ticks (V,) int64): G = grid_per_beat; read-only, shared by calls.
    """
    return _meter_masks(tuple(tokens), grid_per_beat)


# A vocabulary's per-value tables are parsed once, not at every call: parsing 2,879 values
# three times took two thirds of a 4-bar studio answer (140 ms).
@functools.lru_cache(maxsize=8)
def _meter_masks(tokens: tuple[str, ...], grid_per_beat: int) -> tuple[np.ndarray, np.ndarray]:
    g = grid_per_beat
    onsets = {k for k in range(g) if (4 * k) % g == 0 or (6 * k) % g == 0}
    ticks = np.zeros(len(tokens), np.int64)
    is_value = np.zeros(len(tokens), bool)
    for i, token in enumerate(tokens):
        try:
            duration = parse_value(token)[1] * g
        except ValueError:
            continue
        if duration.denominator == 1:
            ticks[i], is_value[i] = int(duration), True
    masks = np.array([[v and (k + t) % g in onsets for t, v in zip(ticks, is_value, strict=True)]
                      for k in range(g)])
    masks.flags.writeable = ticks.flags.writeable = False
    return masks, ticks


@functools.lru_cache(maxsize=8)
def value_costs(tokens: tuple[str, ...]) -> np.ndarray:
    """Beats each token lasts, 0 for specials # (V,); read-only, computed once per vocabulary."""
    from jazzgen.music.values import value_duration

    cost = np.array([value_duration(t) if not t.startswith("<") else 0.0 for t in tokens])
    cost.flags.writeable = False
    return cost


def load_articulation(run) -> dict | None:
    """The run's learned articulation table, or None (then notes sound their full value)."""
    path = run.path / "articulation.json"
    return read_json(path) if path.is_file() else None


def load_dynamics(run) -> dict | None:
    """The run's learned dynamics table, or None (older runs, corpora without velocities).

    A table counted in other classes than this jazzgen's (`dynamics.CLASSES`) is not used either.
    """
    path = run.path / "dynamics.json"
    table = read_json(path, expect=dict) if path.is_file() else None
    return table if table is not None and table.get("groups") == CLASSES else None


def render_solo(solo: Score, dynamics: dict | None, articulation: dict | None, seed: int, i: int) -> Score:
    """A decoded solo (notes lasting their values) as the training players would sound it.

    Velocities from the dynamics table first (its classes are counted on values), then notes
    shortened by the articulation table; solo i draws from seeds [seed, i, 2] and [seed, i, 1].
    """
    if dynamics is not None:
        solo = perform_dynamics(solo, dynamics, np.random.default_rng([seed, i, 2]))
    if articulation is not None:
        solo = articulate(solo, articulation, np.random.default_rng([seed, i, 1]))
    return solo


def chords_from(spans: Sequence[ChordSpan], beat: float) -> list[ChordSpan]:
    """The spans still sounding at `beat`, clipped there and moved to start at beat 0 (a continuation's)."""
    return [ChordSpan(s.chord, max(s.start_beat, beat) - beat, s.end_beat - max(s.start_beat, beat))
            for s in spans if s.end_beat > beat + 1e-9]


def cut(score: Score, total_beats: float) -> Score:
    """The score's notes that start before `total_beats`, none sounding past it."""
    notes = tuple(replace(n, duration_beats=min(n.duration_beats, total_beats - n.start_beat))
                  for n in score.notes if n.start_beat < total_beats - 1e-9)
    return replace(score, notes=notes)


def play_solos(run, engine, plans: Sequence[Plan], seed: int, *, rng: np.random.Generator | None = None,
              temperature: float = 1.0, top_k: int = 0, meter: bool = True,
              articulation: dict | None = None, dynamics: dict | None = None,
              chord_tone_bias: float = 0.0) -> list[Score]:
    """One solo per plan, sampled with `engine`; solo i's decoding draws from seed [seed, i].

    Args:
        run: an opened jazz run (its vocabulary and tokenizer settings).
        engine: a sampling engine (`jazzgen.core.engine`).
        plans: what to play over.
        seed: seeds each solo's decoding, and the sampler when no `rng` is given.
        rng: the sampler's random stream (default `default_rng(seed)`).
        meter: values runs: mask values that would put the next onset off the grid.
        articulation: a table from `articulation.articulation_table` (None: full values).
        dynamics: a table from `dynamics.dynamics_table` (None: the decoder's constant velocity).
        chord_tone_bias: values runs: nats added to the logits of chord-tone values (`sample_values`).
    """
    from jazzgen.music.tokenizers import tokenizer_from_config

    rng = np.random.default_rng(seed) if rng is None else rng
    tokenizer = tokenizer_from_config(run.task["tokenizer"])  # each samples in its own way
    solos = tokenizer.play(run, engine, plans, seed, rng, temperature=temperature, top_k=top_k, meter=meter,
                           chord_tone_bias=chord_tone_bias)
    out = []
    for i, (solo, p) in enumerate(zip(solos, plans, strict=True)):
        solo = replace(cut(solo, p.total_beats), chords=tuple(p.spans))  # the chord at each note counts
        out.append(render_solo(solo, dynamics, articulation, seed, i))
    return out


def sample_values(run, engine, tokenizer: ValuesTokenizer, budgets: Sequence[float],
                  rng: np.random.Generator, *, temperature: float = 1.0, top_k: int = 0,
                  meter: bool = True, primer: Sequence[int] = (), start_beat: float = 0.0,
                  spans: Sequence[Sequence[ChordSpan]] | None = None,
                  beats_per_bar: float = 4.0,
                  tempo_qpm: float | Sequence[float] = 120.0,
                  decodings: Sequence[Decoding] | None = None,
                  primer_pitch: int | None = None, chord_tone_bias: float = 0.0) -> list[list[int]]:
    """Value ids for one solo per budget (beats), sampled in one batch.

    `start_beat` is where the first drawn value starts (after a primer), for the meter mask.
    `spans` (per solo, from beat 0, the primer's beats included) and `tempo_qpm` are what a
    conditioned model (`data.condition`) is told about at every step (one tempo, or one per solo);
    a model told about its line also follows each solo's `decodings` (pass the ones its ids will
    be decoded with) and the primer decoded from `primer_pitch`, its first note.
    `chord_tone_bias` (nats, 0 = off) is added to the logits of the values that play a chord
    tone (`line.chord_tone_values`) at every draw.
    """
    from jazzgen.core.sampling import sample_sequences

    tokens = run.vocab.tokens
    cost = value_costs(tuple(tokens))
    allowed = cost > 0  # specials (<pad>, <bos>, <eos>, <unk>) are never drawn
    masks = steps = None
    phase = 0
    if meter:
        masks, steps = meter_masks(tokens, tokenizer.grid_per_beat)
        phase = int(Fraction(start_beat).limit_denominator(1000) * tokenizer.grid_per_beat
                    ) % tokenizer.grid_per_beat
    budgets = np.asarray(budgets, float)
    condition = None
    if getattr(getattr(engine, "cfg", None), "condition_dim", 0):
        from jazzgen.music.conditioning import ValuesCondition, version_for

        spans = [()] * len(budgets) if spans is None else spans
        condition = ValuesCondition(tokens, spans, [beats_per_bar] * len(budgets),
                                    np.broadcast_to(np.asarray(tempo_qpm, float), len(budgets)),
                                    version_for(engine.cfg.condition_dim), decodings, (primer, primer_pitch))
    bias = None
    if chord_tone_bias:
        bias = np.where(chord_tone_values(tuple(tokens)), np.float32(chord_tone_bias), np.float32(0.0))
    return sample_sequences(engine, len(budgets), rng, start_id=run.vocab.id(BOS),
                            max_steps=int(budgets.max() / cost[allowed].min()) + 1,
                            temperature=temperature, top_k=top_k, allowed=allowed, cost=cost,
                            budget=budgets, primer=primer, phase_masks=masks, phase_step=steps,
                            start_phase=phase, condition=condition, logit_bias=bias)
