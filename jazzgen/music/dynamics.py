"""How loud players play each note: a small additive model learned from the corpus, used when decoding.

The WJD release MIDI gives every note a velocity (`music.wjd_release` writes it into the bundled
corpus). Players differ in overall level, so the model predicts a note's velocity *relative to its
solo's mean* from what decoding knows once a solo is decoded (`CLASSES`): where the note falls in
the bar, its value's length, its pitch against the last few notes, the solo's register and its
phrase, its place in the phrase (a phrase ends at a rest of `PHRASE_GAP_BEATS`), the interval
from the previous note and whether it is a chord tone. The model is additive (one weight per
class of each group, ridge least squares over the training pieces' notes); what it leaves
unexplained is kept as two spreads, one per phrase and one per note, and drawn when rendering,
so a generated solo varies as much as a player's does.

Measured on the bundled model's 46 held-out WJD pieces (`benchmarks/dynamics.py`): transcribed
loudness is mostly unexplained by any of this; the mean absolute error of a note's velocity
relative to its solo's mean is 7.12 for a constant, 9.33 for the hand-shaped phrase dynamics
(`instruments.shape_dynamics`) and 6.66 for this model (R^2 0.073).

Preprocess stores each piece's note classes and velocities (`dynamics_notes`); training fits the
table a run keeps (`dynamics.json`) on the training pieces (`dynamics_table`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import replace

import numpy as np

from jazzgen.music.articulation import POOLED_CLASSES, duration_class
from jazzgen.music.score import Score, phrase_numbers

PHRASE_GAP_BEATS = 1.0  # a rest this long or longer ends a phrase (as `shape_dynamics` has it)
RECENT = 8  # notes before this one that "its recent pitch" averages
RIDGE = 1.0  # least-squares penalty: one-hot groups are collinear without one; small, rare classes keep their effect
GRID = 12  # ticks per quarter note
# group: number of classes (see `note_classes`)
CLASSES = {"metric": 6, "duration": 6, "recent_pitch": 5, "phrase_edge": 4, "contour": 6, "chord": 3,
           "register": 7, "phrase_place": 5, "phrase_pitch": 5}
_RADIX = np.cumprod([1] + list(CLASSES.values())[:-1])  # mixed-radix code of a note's classes


def _phrases(score: Score) -> np.ndarray:
    """Phrase number of every note: a new phrase after a rest of PHRASE_GAP_BEATS or more # (N,)."""
    return np.array(phrase_numbers(score.notes, PHRASE_GAP_BEATS), int)


def note_classes(score: Score) -> np.ndarray:
    """The class of every note in each group of `CLASSES` # (N, len(CLASSES)) int.

    metric: bar downbeat, the middle beat of an even bar (beat 3 of 4/4), another beat, an
        offbeat eighth, a triplet, anything else;
    duration: the value's length class (`articulation.POOLED_CLASSES`);
    recent_pitch: pitch against the mean of the RECENT notes before it (<= -5, <= -1.5, <= 1.5,
        <= 5 semitones, higher); the first note counts as level;
    phrase_edge: alone, first, last, inside its phrase; contour: the interval from the previous
        note of the phrase (<= -3, -2..-1, 0, 1..2, >= 3) or the phrase's first note;
    chord: no chord, another tone, a chord tone; register: pitch against the solo's mean
        (edges -9, -5, -2, 2, 5, 9); phrase_place: fifth of the phrase it falls in;
    phrase_pitch: pitch against the phrase's mean (edges -5, -2, 2, 5).
    Each edge belongs to the class below it.
    """
    notes = score.notes
    n = len(notes)
    if n == 0:
        return np.zeros((0, len(CLASSES)), int)
    pitch = np.array([x.pitch for x in notes], float)
    phrase = _phrases(score)
    bar_ticks = round(score.beats_per_bar * GRID)
    out = np.zeros((n, len(CLASSES)), int)
    csum = np.concatenate([[0.0], np.cumsum(pitch)])
    first = np.r_[True, phrase[1:] != phrase[:-1]]
    last = np.r_[phrase[1:] != phrase[:-1], True]
    starts = np.flatnonzero(first)
    sizes = np.diff(np.r_[starts, n])
    index_in = np.arange(n) - starts[phrase]
    phrase_mean = np.add.reduceat(pitch, starts) / sizes
    for k, note in enumerate(notes):
        tick = round(note.start_beat * GRID) % bar_ticks
        in_beat = tick % GRID
        if tick == 0:
            metric = 0
        elif in_beat == 0 and bar_ticks % (2 * GRID) == 0 and tick == bar_ticks // 2:
            metric = 1
        else:
            metric = 2 if in_beat == 0 else 3 if in_beat == 6 else 4 if in_beat in (4, 8) else 5
        lo = max(0, k - RECENT)
        recent = pitch[k] - (csum[k] - csum[lo]) / (k - lo) if k else 0.0
        chord = score.chord_at(note.start_beat)
        tone = 0 if chord is None or chord.root is None else 1 + (note.pitch % 12 in chord.pitch_classes)
        step = pitch[k] - pitch[k - 1] if not first[k] else None
        out[k] = (metric, duration_class(note.duration_beats, POOLED_CLASSES),
                  int(np.digitize(recent, (-5, -1.5, 1.5, 5), right=True)),
                  0 if first[k] and last[k] else 1 if first[k] else 2 if last[k] else 3,
                  5 if step is None else int(np.digitize(step, (-3, -1, 0, 2), right=True)),
                  tone, 0, min(4, int(5 * index_in[k] / sizes[phrase[k]])), 0)
    out[:, 6] = np.digitize(pitch - pitch.mean(), (-9, -5, -2, 2, 5, 9), right=True)
    out[:, 8] = np.digitize(pitch - phrase_mean[phrase], (-5, -2, 2, 5), right=True)
    return out


def dynamics_notes(quantized: Score) -> dict | None:
    """What preprocess keeps of one piece: {"cells": [code per note], "velocity": [...]}.

    `quantized` holds the recorded velocities (quantizing keeps them) and the values the network
    sees. None when every note has the same velocity: the file says nothing about dynamics.
    """
    velocity = [n.velocity for n in quantized.notes]
    if len(set(velocity)) < 2:
        return None
    return {"cells": (note_classes(quantized) @ _RADIX).tolist(), "velocity": velocity}


def _decode(cells: np.ndarray) -> np.ndarray:
    """Note classes from their codes # (N, G)."""
    return (np.asarray(cells)[:, None] // _RADIX) % np.array(list(CLASSES.values()))


def _design(classes: np.ndarray) -> np.ndarray:
    """One-hot columns of every group's class # (N, sum of CLASSES)."""
    return np.hstack([np.eye(size)[classes[:, g]] for g, size in enumerate(CLASSES.values())])


def _stack(pieces: Iterable[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[float]]:
    """(classes (N, G), velocity relative to its solo's mean (N,), piece number (N,), solo means)."""
    classes, resid, piece, means = [], [], [], []
    for i, p in enumerate(pieces):
        v = np.asarray(p["velocity"], float)
        classes.append(_decode(p["cells"]))
        resid.append(v - v.mean())
        piece.append(np.full(len(v), i))
        means.append(float(v.mean()))
    if not classes:
        return np.zeros((0, len(CLASSES)), int), np.zeros(0), np.zeros(0, int), []
    return np.vstack(classes), np.concatenate(resid), np.concatenate(piece), means


def _predict_classes(classes: np.ndarray, table: dict) -> np.ndarray:
    return sum(np.asarray(table["weights"][name])[classes[:, g]] for g, name in enumerate(CLASSES))


def dynamics_table(train: Iterable[dict], heldout: Iterable[dict] = ()) -> dict | None:
    """Fit the model a run keeps (`dynamics.json`) on the training pieces' `dynamics_notes`.

    Args:
        train: per training piece, what `dynamics_notes` kept (pieces without dynamics left out).
        heldout: the same for held-out pieces: their figures go into the table's "heldout".

    Returns:
        {"groups": CLASSES, "weights": {group: [velocity offset per class]}, "level": median
        solo mean, "phrase_sd", "note_sd": spreads left unexplained, "phrase_gap_beats",
        "recent", "pieces", "notes", "heldout": {"notes", "mae_constant", "mae_model",
        "r2_model"}}, or None when no piece has dynamics.
    """
    classes, resid, piece, means = _stack(train)
    if not means:
        return None
    design = _design(classes)                                                       # (N, C)
    w = np.linalg.solve(design.T @ design + RIDGE * np.eye(design.shape[1]), design.T @ resid)
    weights, at = {}, 0
    for name, size in CLASSES.items():
        weights[name] = [round(float(x), 3) for x in w[at : at + size]]
        at += size
    table = {"groups": dict(CLASSES), "weights": weights, "level": round(float(np.median(means)), 2),
             "phrase_gap_beats": PHRASE_GAP_BEATS, "recent": RECENT,
             "pieces": len(means), "notes": int(len(resid))}
    left = resid - _predict_classes(classes, table)
    # Unexplained spread, split: within a phrase (notes) and between phrases (their mean level).
    codes = _phrase_codes(classes, piece)
    counts = np.bincount(codes)
    sums = np.bincount(codes, left)
    mean_of = (sums / np.maximum(counts, 1))[codes]
    multi = counts[codes] > 1
    within = float(np.sum((left - mean_of)[multi] ** 2) / max(1, np.sum(multi) - len(np.unique(codes[multi]))))
    table["note_sd"] = round(math.sqrt(within), 3)
    table["phrase_sd"] = round(math.sqrt(max(0.0, float(np.var(left)) - within)), 3)
    h_classes, h_resid, _, h_means = _stack(heldout)
    if h_means:
        err = h_resid - _predict_classes(h_classes, table)
        table["heldout"] = {"pieces": len(h_means), "notes": int(len(h_resid)),
                            "mae_constant": round(float(np.abs(h_resid).mean()), 3),
                            "mae_model": round(float(np.abs(err).mean()), 3),
                            "r2_model": round(1 - float(np.mean(err ** 2) / np.mean(h_resid ** 2)), 4)}
    return table


def _phrase_codes(classes: np.ndarray, piece: np.ndarray) -> np.ndarray:
    """A number per (piece, phrase) from the phrase_edge class: a phrase starts at class 0 or 1."""
    starts = (classes[:, 3] <= 1) | np.r_[True, piece[1:] != piece[:-1]]
    return np.cumsum(starts) - 1


def predict_velocity(score: Score, table: dict) -> np.ndarray:
    """The model's velocity of every note relative to the solo's level # (N,) float."""
    return _predict_classes(note_classes(score), table) if score.notes else np.zeros(0)


def perform_dynamics(score: Score, table: dict, rng: np.random.Generator) -> Score:
    """The score with velocities from the learned table: level + model + phrase and note spreads.

    Give it a decoded score (each note lasting its value, rests as gaps), before articulation
    shortens notes: the table's classes were counted on values.
    """
    if not score.notes:
        return score
    phrase = _phrases(score)
    spread = (rng.normal(0.0, table["phrase_sd"], phrase[-1] + 1)[phrase]
              + rng.normal(0.0, table["note_sd"], len(score.notes)))
    velocity = np.clip(np.round(table["level"] + predict_velocity(score, table) + spread), 1, 127)
    return replace(score, notes=tuple(replace(n, velocity=int(v))
                                      for n, v in zip(score.notes, velocity, strict=True)))


def velocity_figures(scores: Sequence[Score], phrase_bars: int = 4) -> dict[str, float]:
    """Loudness figures pooled over `scores`, to set generated solos beside the players'.

    velocity_mean: mean velocity; velocity_sd_phrase: mean standard deviation of the velocities
    in each `phrase_bars`-bar phrase (3 notes or more); velocity_accent_13: mean velocity of notes
    on beats 1 and 3 (4/4 bars) less that of the other notes; velocity_pitch_corr: mean over
    solos of the correlation of velocity with pitch.
    """
    all_v, sds, strong, weak, corrs = [], [], [], [], []
    for s in scores:
        if not s.notes:
            continue
        v = np.array([n.velocity for n in s.notes], float)
        onsets = np.array([n.start_beat for n in s.notes])
        pitch = np.array([n.pitch for n in s.notes], float)
        all_v.append(v)
        bar = s.beats_per_bar
        for k in np.unique(np.floor(onsets / (phrase_bars * bar) + 1e-9)):
            inside = v[np.floor(onsets / (phrase_bars * bar) + 1e-9) == k]
            if len(inside) >= 3:
                sds.append(inside.std())
        if bar == 4:
            on = np.minimum(np.abs(onsets % 4), np.abs(onsets % 4 - 2)) < 1e-6
            strong.append(v[on])
            weak.append(v[~on])
        if v.std() > 0 and pitch.std() > 0:
            corrs.append(float(np.corrcoef(v, pitch)[0, 1]))
    strong_v = np.concatenate(strong) if strong else np.zeros(0)
    weak_v = np.concatenate(weak) if weak else np.zeros(0)
    return {
        "velocity_mean": float(np.concatenate(all_v).mean()) if all_v else math.nan,
        "velocity_sd_phrase": float(np.mean(sds)) if sds else math.nan,
        "velocity_accent_13": float(strong_v.mean() - weak_v.mean()) if len(strong_v) and len(weak_v) else math.nan,
        "velocity_pitch_corr": float(np.mean(corrs)) if corrs else math.nan,
    }
