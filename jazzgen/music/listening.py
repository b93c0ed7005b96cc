"""A two-sample test on 4-bar phrases: can a classifier tell generated solos from the players'?

The closest thing to a listening test we can run. Held-out solos and solos generated over the
same pieces' changes are cut into 4-bar phrases on the same bar lines, each phrase is described
by rhythm, pitch, articulation and harmony features (`FEATURES`), and a logistic regression is
cross-validated with folds grouped by piece (a piece's human and generated phrases are always in
the same fold, so the classifier cannot learn a piece). The ROC AUC of its held-out scores says
how separable the two are: 0.5 = cannot tell, 1.0 = always can.

Besides, `solo_figures` gives the single figures that gave generated solos away (off-grid
onsets, repeated and tied-repeated pitches, sounding share, 4-bar range, chord tones on beats 1
and 3) so that each can be set beside the players' own figure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from jazzgen.music.score import Note, Score
from jazzgen.music.values import note_type

PHRASE_BARS = 4
GRID = 12  # ticks per quarter note
ON_GRID = frozenset(k for k in range(GRID) if (4 * k) % GRID == 0 or (6 * k) % GRID == 0)
TOUCH_BEATS = 1 / 24  # a note ending closer than this to the next onset is heard as tied to it
LEGATO = 0.9  # a note sounding this share of the time to the next onset is held (legato)
MIN_NOTES = 3  # phrases with fewer notes (a player resting) are not compared
FOLDS = 5
L2 = 1.0  # ridge penalty of the logistic regression, on standardised features

FEATURES = {  # name: what it measures (one value per phrase)
    "density": "rhythm: notes per beat",
    "off_grid": "rhythm: share of onsets off the sixteenth/triplet grid",
    "on_beat": "rhythm: share of onsets on a beat",
    "on_offbeat_eighth": "rhythm: share of onsets half a beat after a beat",
    "on_triplet": "rhythm: share of onsets a third or two thirds into a beat",
    "on_sixteenth": "rhythm: share of onsets a quarter or three quarters into a beat",
    "ioi_mean": "rhythm: mean beats from onset to onset",
    "ioi_cv": "rhythm: spread of onset-to-onset times (std / mean)",
    "rests": "rhythm: gaps of a beat or more, per note",
    "range": "pitch: semitones from lowest to highest",
    "register": "pitch: mean MIDI pitch",
    "abs_interval": "pitch: mean absolute interval (semitones)",
    "interval_sd": "pitch: spread of intervals",
    "repeats": "pitch: share of intervals that repeat the pitch",
    "steps": "pitch: share of intervals of 1-2 semitones",
    "leaps": "pitch: share of intervals of 5 semitones or more",
    "chromatic_up": "pitch: share of intervals of +1",
    "turns": "pitch: share of intervals that change direction",
    "sounding": "articulation: share of the time from first onset to last end that sounds",
    "hold": "articulation: mean duration / time to the next onset",
    "legato": "articulation: share of notes held to the next onset (LEGATO of the way)",
    "tied_repeats": "articulation: share of intervals repeating a pitch that touches it",
    "chord_tones": "harmony: share of chord tones",
    "chord_tones_13": "harmony: share of chord tones among notes on beats 1 and 3",
    "scale_tones": "harmony: share of scale (not chord) tones",
    "approach_tones": "harmony: share of approach tones",
}


def on_grid(score: Score, snap) -> Score:
    """A recorded solo with onsets snapped to the tokenizer grid, recorded durations kept.

    Generated solos are on the grid; the players' micro-timing would give them away for
    nothing. Of notes snapping to one onset the longest stays; a note is cut where the next
    one starts. `snap`: beats -> ticks (12 per quarter note).
    """
    kept: dict[int, Note] = {}
    for note in score.notes:
        tick = snap(note.start_beat)
        if tick not in kept or note.duration_beats > kept[tick].duration_beats:
            kept[tick] = note
    ticks = sorted(kept)
    notes = []
    for i, tick in enumerate(ticks):
        end = tick / GRID + kept[tick].duration_beats
        if i + 1 < len(ticks):
            end = min(end, ticks[i + 1] / GRID)
        notes.append(replace(kept[tick], start_beat=tick / GRID,
                             duration_beats=max(end - tick / GRID, 1 / GRID / 2)))
    return replace(score, notes=tuple(notes))


def _share(flags) -> float:
    flags = list(flags)
    return float(np.mean(flags)) if flags else math.nan


def phrase_features(score: Score, start_beat: float, beats: float) -> dict[str, float] | None:
    """FEATURES of the notes starting in [start_beat, start_beat + beats); None if too few."""
    notes = [n for n in score.notes if start_beat - 1e-6 <= n.start_beat < start_beat + beats - 1e-6]
    if len(notes) < MIN_NOTES:
        return None
    onsets = np.array([n.start_beat for n in notes])
    ends = np.array([n.end_beat for n in notes])
    pitches = np.array([n.pitch for n in notes])
    ticks = np.round((onsets % 1.0) * GRID, 6)
    ioi = np.diff(onsets)
    steps = np.diff(pitches)
    touching = onsets[1:] - ends[:-1] < TOUCH_BEATS
    bar = score.beats_per_bar
    types = [note_type(n.pitch, score.chord_at(n.start_beat)) for n in notes]
    strong = [t for t, o in zip(types, onsets, strict=True)
              if abs(o % bar) < 1e-6 or (bar == 4 and abs(o % bar - 2) < 1e-6)]
    signs = np.sign(steps[steps != 0])
    return {
        "density": len(notes) / beats,
        "off_grid": _share(round(t) % GRID not in ON_GRID or abs(t - round(t)) > 1e-3 for t in ticks),
        "on_beat": _share(t == 0 for t in ticks),
        "on_offbeat_eighth": _share(t == 6 for t in ticks),
        "on_triplet": _share(t in (4, 8) for t in ticks),
        "on_sixteenth": _share(t in (3, 9) for t in ticks),
        "ioi_mean": float(ioi.mean()),
        "ioi_cv": float(ioi.std() / ioi.mean()),
        "rests": float(np.mean(onsets[1:] - ends[:-1] >= 1.0 - 1e-6)),
        "range": float(pitches.max() - pitches.min()),
        "register": float(pitches.mean()),
        "abs_interval": float(np.abs(steps).mean()),
        "interval_sd": float(steps.std()),
        "repeats": float(np.mean(steps == 0)),
        "steps": float(np.mean((np.abs(steps) >= 1) & (np.abs(steps) <= 2))),
        "leaps": float(np.mean(np.abs(steps) >= 5)),
        "chromatic_up": float(np.mean(steps == 1)),
        "turns": float(np.mean(signs[1:] != signs[:-1])) if len(signs) > 1 else 0.0,
        "sounding": float((ends - onsets).sum() / (ends.max() - onsets.min())),
        "hold": float(np.mean((ends[:-1] - onsets[:-1]) / ioi)),
        "legato": float(np.mean((ends[:-1] - onsets[:-1]) / ioi >= LEGATO)),
        "tied_repeats": float(np.mean((steps == 0) & touching)),
        "chord_tones": _share(t == "C" for t in types),
        "chord_tones_13": _share(t == "C" for t in strong),
        "scale_tones": _share(t == "S" for t in types),
        "approach_tones": _share(t == "A" for t in types),
    }


def phrases(score: Score, end_beat: float | None = None) -> list[dict[str, float]]:
    """Features of every PHRASE_BARS-bar phrase of a score from beat 0 (too sparse ones left out)."""
    length = PHRASE_BARS * score.beats_per_bar
    end = score.end_beat if end_beat is None else end_beat
    found = (phrase_features(score, k * length, length) for k in range(int(math.ceil(end / length))))
    return [f for f in found if f is not None]


def solo_figures(scores: Sequence[Score]) -> dict[str, float]:
    """The figures that tell solos apart, pooled over `scores` (notes, intervals or phrases).

    off_grid_onsets: share of onsets off the sixteenth/triplet grid; repeated_pitches: share of
    intervals of 0; tied_repeats: share of those where the first note lasts to the second;
    sounding_share: sounding time / time from each solo's first onset to its last end;
    range_4bars: mean pitch range of 4-bar phrases; chord_tones: chord-tone share;
    chord_tones_beats_1_3: chord-tone share of notes starting on beats 1 and 3 (4/4 bars);
    and the loudness figures of `dynamics.velocity_figures` (not classifier features: the
    two-sample AUC stays comparable with earlier runs').
    """
    from jazzgen.music.dynamics import velocity_figures

    onsets = repeats = tied = intervals = 0
    off, sound, span, ranges, types, strong = 0, 0.0, 0.0, [], [], []
    for s in scores:
        notes = s.notes
        if not notes:
            continue
        for a, b in zip(notes, notes[1:]):
            intervals += 1
            if a.pitch == b.pitch:
                repeats += 1
                tied += b.start_beat - a.end_beat < TOUCH_BEATS
        for n in notes:
            onsets += 1
            t = round(n.start_beat % 1.0 * GRID, 6)
            off += round(t) % GRID not in ON_GRID or abs(t - round(t)) > 1e-3
            kind = note_type(n.pitch, s.chord_at(n.start_beat))
            types.append(kind == "C")
            if s.beats_per_bar == 4 and min(abs(n.start_beat % 4), abs(n.start_beat % 4 - 2)) < 1e-6:
                strong.append(kind == "C")
        sound += sum(n.duration_beats for n in notes)
        span += max(n.end_beat for n in notes) - notes[0].start_beat
        ranges += [p["range"] for p in phrases(s)]
    return {
        "off_grid_onsets": off / onsets if onsets else math.nan,
        "repeated_pitches": repeats / intervals if intervals else math.nan,
        "tied_repeats": tied / repeats if repeats else math.nan,
        "sounding_share": sound / span if span else math.nan,
        "range_4bars": float(np.mean(ranges)) if ranges else math.nan,
        "chord_tones": _share(types),
        "chord_tones_beats_1_3": _share(strong),
        **velocity_figures(scores),
    }


# ---- the classifier -----------------------------------------------------------------------------

def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = L2, iterations: int = 25) -> np.ndarray:
    """Ridge logistic regression by Newton's method: x (N, F), y (N,) in {0, 1} -> w (F + 1,).

    The last weight is the intercept (not penalised). Newton on a convex, penalised loss needs
    a few dozen steps at most; F is small, so each step solves an (F+1)-square system.
    """
    xb = np.hstack([x, np.ones((len(x), 1))])                             # (N, F+1)
    w = np.zeros(xb.shape[1])
    penalty = np.full(xb.shape[1], l2)
    penalty[-1] = 0.0
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-xb @ w))                                 # (N,)
        grad = xb.T @ (p - y) + penalty * w
        hess = (xb * (p * (1 - p))[:, None]).T @ xb + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w


def roc_auc(scores: np.ndarray, y: np.ndarray) -> float:
    """Area under the ROC curve: P(score of a 1 > score of a 0), ties counted half."""
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    s = scores[order]
    i = 0
    while i < len(s):  # average ranks over ties
        j = i
        while j + 1 < len(s) and s[j + 1] == s[i]:
            j += 1
        ranks[order[i: j + 1]] = (i + j) / 2 + 1
        i = j + 1
    n1, n0 = int(y.sum()), int(len(y) - y.sum())
    return float((ranks[y == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def two_sample_test(generated: Sequence[list[dict]], human: Sequence[list[dict]],
                    folds: int = FOLDS, top: int = 6) -> dict:
    """Cross-validated AUC of telling generated phrases (1) from human ones (0).

    Args:
        generated, human: per piece, the feature dicts of its phrases (same piece order).
        folds: pieces are dealt round-robin into this many folds.
        top: how many of the most different features to report.

    Returns:
        {"auc", "phrases_generated", "phrases_human", "pieces", "folds",
         "most_different": [{"feature", "generated", "human", "effect"}...]} where effect is
         the difference of means in pooled standard deviations; "auc_by_group" gives the AUC
         with only the rhythm, pitch, articulation or harmony features.
    """
    names = list(FEATURES)
    rows, labels, groups = [], [], []
    for piece, (gen, hum) in enumerate(zip(generated, human, strict=True)):
        for label, found in ((1, gen), (0, hum)):
            rows += [[f[n] for n in names] for f in found]
            labels += [label] * len(found)
            groups += [piece] * len(found)
    x, y, g = np.array(rows, float), np.array(labels, float), np.array(groups)
    result = {"phrases_generated": int(y.sum()), "phrases_human": int(len(y) - y.sum()),
              "pieces": len(generated), "folds": folds, "auc": None, "auc_by_group": {},
              "most_different": []}
    if len(y) == 0 or y.min() == y.max():
        return result
    x = np.where(np.isnan(x), np.nanmean(x, axis=0), x)   # an undefined share: the pool's mean
    x = np.nan_to_num(x)
    result["auc"] = _cross_validated_auc(x, y, g, folds)
    if result["auc"] is None:
        return result
    for group in ("rhythm", "pitch", "articulation", "harmony"):
        cols = [i for i, n in enumerate(names) if FEATURES[n].startswith(group)]
        result["auc_by_group"][group] = _cross_validated_auc(x[:, cols], y, g, folds)
    gen_mean, hum_mean = x[y == 1].mean(axis=0), x[y == 0].mean(axis=0)
    pooled = np.sqrt((x[y == 1].var(axis=0) + x[y == 0].var(axis=0)) / 2) + 1e-12
    effect = (gen_mean - hum_mean) / pooled
    for i in np.argsort(-np.abs(effect))[:top]:
        result["most_different"].append({"feature": names[i], "generated": float(gen_mean[i]),
                                         "human": float(hum_mean[i]), "effect": float(effect[i])})
    return result


def _cross_validated_auc(x: np.ndarray, y: np.ndarray, groups: np.ndarray,
                         folds: int) -> float | None:
    """AUC of out-of-fold scores; folds by piece, features standardised on each training part.

    None when no phrase of one side could be scored (fewer than two pieces: nothing to hold out).
    """
    pieces = np.unique(groups)
    fold_of = {p: i % folds for i, p in enumerate(pieces)}
    fold = np.array([fold_of[p] for p in groups])
    scores = np.zeros(len(y))
    scored = np.zeros(len(y), bool)
    for k in range(min(folds, len(pieces))):
        train, test = fold != k, fold == k
        if not test.any() or not train.any() or y[train].min() == y[train].max():
            continue
        mu, sd = x[train].mean(axis=0), x[train].std(axis=0) + 1e-9
        w = fit_logistic((x[train] - mu) / sd, y[train])
        scores[test] = ((x[test] - mu) / sd) @ w[:-1] + w[-1]
        scored |= test
    if not scored.any() or y[scored].min() == y[scored].max():
        return None
    return roc_auc(scores[scored], y[scored])


# ---- over a run's held-out pieces ---------------------------------------------------------------

def heldout_pairs(run, corpus, *, seed: int = 0, meter: bool = True,
                  articulation: dict | None = None, engine=None,
                  dynamics: dict | None = None,
                  pieces: Sequence[int] | None = None) -> tuple[list[Score], list[Score]]:
    """(generated, human) solos over the run's held-out 4/4 pieces with real chords.

    Each generated solo plays over its piece's own changes from the first bar line of its first
    chord to the end of the piece; the player's solo is cut to the same bars, moved to start at
    beat 0 like the generated one, onsets snapped to the grid (`on_grid`). `pieces`: corpus
    indices to play over instead (training pieces, say, to see whether the model plays as the
    players it learned from); the same 4/4, changes and length rules apply.
    """
    from jazzgen.core.engine import NumpyEngine
    from jazzgen.errors import InputError
    from jazzgen.music.pipeline import has_changes, piece_changes, read_score
    from jazzgen.music.solos import Plan, play_solos
    from jazzgen.music.values import ValuesTokenizer

    snap = ValuesTokenizer()._snap
    plans, human = [], []
    p = run.config.preprocess
    for i in run.info.get("val_pieces", []) if pieces is None else pieces:
        piece = corpus.pieces[i]
        if tuple(piece.get("time_signature", (4, 4))) != (4, 4) or not has_changes(piece):
            continue
        if piece.get("transpose"):
            continue
        try:
            score = read_score(Path(piece["source"]), p.melody_track, p.max_file_mb, p.max_notes)
        except InputError:
            continue
        first = min(c[1] for c in piece["chords"])
        bar0 = math.ceil(first / 4 - 1e-9) * 4
        bars = int(piece["bars"]) - bar0 // 4
        if bars < PHRASE_BARS:
            continue
        spans, ts, tempo = piece_changes(piece, bars)
        total = bars * 4.0
        moved = tuple(replace(n, start_beat=n.start_beat - bar0) for n in on_grid(score, snap).notes
                      if bar0 - 1e-6 <= n.start_beat < bar0 + total - 1e-6)
        if len(moved) < MIN_NOTES:
            continue
        human.append(Score(notes=moved, chords=tuple(spans), time_signature=(4, 4),
                           tempo_qpm=tempo, source=piece["source"]))
        plans.append(Plan(tuple(spans), (4, 4), tempo, total))
    engine = engine or NumpyEngine.from_export(run.export_path)
    g = run.config.generate
    generated = play_solos(run, engine, plans, seed, temperature=g.temperature, top_k=g.top_k,
                          meter=meter, articulation=articulation, dynamics=dynamics,
                          chord_tone_bias=g.chord_tone_bias) if plans else []
    return generated, human


def listening_test(generated: Sequence[Score], human: Sequence[Score]) -> dict:
    """`two_sample_test` on the phrases of paired solos, plus `solo_figures` for both sides."""
    test = two_sample_test([phrases(s, h.end_beat) for s, h in zip(generated, human, strict=True)],
                           [phrases(h) for h in human])
    return {**test, "generated_figures": _clean(solo_figures(generated)),
            "human_figures": _clean(solo_figures(human))}


def _clean(figures: dict[str, float]) -> dict[str, float | None]:
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in figures.items()}


def format_listening(result: dict) -> str:
    """The two-sample test and the giveaway figures as a readable report."""
    if result.get("auc") is None:
        return ("two-sample test: skipped (it needs held-out 4/4 pieces with chords, "
                f"at least two to cross-validate; found {result.get('pieces', 0)})")
    groups = ", ".join(f"{k} {v:.2f}" for k, v in result["auc_by_group"].items())
    lines = [f"two-sample test: {result['pieces']} held-out pieces, {result['phrases_generated']} "
             f"generated vs {result['phrases_human']} players' {PHRASE_BARS}-bar phrases, "
             f"{result['folds']} folds by piece",
             f"  ROC AUC {result['auc']:.3f} (0.5 = cannot tell); by features: {groups}",
             f"  {'most different':<22}{'generated':>10}{'players':>10}{'effect':>8}"]
    lines += [f"  {d['feature']:<22}{d['generated']:>10.3f}{d['human']:>10.3f}{d['effect']:>+8.2f}"
              for d in result["most_different"]]
    lines.append(f"  {'figure':<22}{'generated':>10}{'players':>10}")
    for name, value in result["generated_figures"].items():
        lines.append(f"  {name:<22}{_fmt(value):>10}{_fmt(result['human_figures'].get(name)):>10}")
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
