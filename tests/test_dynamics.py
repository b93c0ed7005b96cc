"""The learned dynamics: a velocity rule planted in a synthetic corpus is learned, measured and played back."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from jazzgen.music.chords import parse_chord
from jazzgen.music.dynamics import (
    CLASSES,
    dynamics_notes,
    dynamics_table,
    note_classes,
    perform_dynamics,
    velocity_figures,
)
from jazzgen.music.midi_io import write_midi
from jazzgen.music.score import ChordSpan, Note, Score
from jazzgen.music.values import ValuesTokenizer

ROOT = Path(__file__).resolve().parent.parent
CHANGES = ("Dm7", "G7", "Cmaj7", "A7")
ACCENT, GHOST = 24, 12  # the rule: +24 on a bar's downbeat, -12 on a value shorter than an eighth


def played(seed: int, bars: int = 16, level: float = 95.0, noise: float = 3.0) -> Score:
    """A random line (eighths, quarters, triplet eighths, some rests) whose velocities follow the rule."""
    rng = np.random.default_rng(seed)
    notes, beat, pitch = [], 0.0, 64
    while True:
        length = float(rng.choice([0.5, 0.5, 1.0, 1 / 3, 1 / 3, 1 / 3]))
        if beat + length > bars * 4:
            break
        if rng.random() < 0.08:  # a rest
            beat += length
            continue
        pitch = int(np.clip(pitch + rng.integers(-4, 5), 55, 80))
        velocity = level + rng.normal(0, noise)
        velocity += ACCENT if round(beat * 12) % 48 == 0 else 0  # ticks: triplets add up inexactly
        velocity -= GHOST if length < 0.5 else 0
        notes.append(Note(pitch, beat, length, int(np.clip(round(velocity), 1, 127))))
        beat += length
    chords = [ChordSpan(parse_chord(CHANGES[b % 4]), 4.0 * b, 4.0) for b in range(bars)]
    return Score(tuple(notes), tuple(chords), tempo_qpm=160.0)


def accent(score: Score) -> float:
    """Mean velocity on bar downbeats less that elsewhere, measured on a score."""
    v = np.array([n.velocity for n in score.notes], float)
    down = np.array([round(n.start_beat * 12) % round(12 * score.beats_per_bar) == 0 for n in score.notes])
    return float(v[down].mean() - v[~down].mean())


def ghost(score: Score) -> float:
    """Mean velocity of values shorter than an eighth less that of the others (decoded, full values)."""
    v = np.array([n.velocity for n in score.notes], float)
    short = np.array([n.duration_beats < 0.5 - 1e-9 for n in score.notes])
    return float(v[short].mean() - v[~short].mean())


def corpus_notes(seeds, **kw):
    tokenizer = ValuesTokenizer()
    return [dynamics_notes(tokenizer.quantize_score(played(s, level=70 + 5 * (s % 8), **kw))[0]) for s in seeds]


def test_the_model_learns_a_planted_rule_and_beats_the_constant():
    table = dynamics_table(corpus_notes(range(12)), corpus_notes(range(100, 104)))
    held = table["heldout"]
    assert held["mae_model"] < 0.5 * held["mae_constant"]  # near the planted noise (sd 3: MAE 2.4)
    assert held["r2_model"] > 0.8
    metric = table["weights"]["metric"]
    assert metric[0] - np.mean(metric[1:5]) == pytest.approx(ACCENT, abs=3)
    assert table["level"] == pytest.approx(np.median([np.mean(p["velocity"]) for p in corpus_notes(range(12))]),
                                           abs=0.01)  # the median solo's mean
    assert table["note_sd"] == pytest.approx(3.0, abs=1.5)  # the planted noise is what is left


def test_rendered_velocities_follow_the_learned_rule():
    table = dynamics_table(corpus_notes(range(12)))
    flat = replace(played(500, bars=64), notes=tuple(replace(n, velocity=90) for n in played(500, bars=64).notes))
    rendered = perform_dynamics(flat, table, np.random.default_rng(0))
    assert [(n.pitch, n.start_beat, n.duration_beats) for n in rendered.notes] == \
        [(n.pitch, n.start_beat, n.duration_beats) for n in flat.notes]
    assert accent(rendered) == pytest.approx(ACCENT, abs=4)
    assert ghost(rendered) == pytest.approx(-GHOST, abs=4)
    same = perform_dynamics(flat, table, np.random.default_rng(0))
    assert same == rendered  # the seed decides the draw


def test_files_without_varying_velocities_teach_nothing():
    flat = played(0)
    flat = replace(flat, notes=tuple(replace(n, velocity=90) for n in flat.notes))
    assert dynamics_notes(flat) is None
    assert dynamics_table([]) is None


def test_note_classes_name_metre_length_and_phrase():
    notes = (Note(60, 0.0, 1.0), Note(64, 1.0, 0.5), Note(67, 1.5, 0.5), Note(65, 2.0, 1 / 3),
             Note(60, 4.0, 1.0))  # a rest of a beat and more before the last note
    classes = note_classes(Score(notes, (ChordSpan(parse_chord("C"), 0.0, 8.0),)))
    col = {name: classes[:, g].tolist() for g, name in enumerate(CLASSES)}
    assert col["metric"] == [0, 2, 3, 1, 0]
    assert col["duration"] == [4, 2, 2, 1, 4]
    assert col["phrase_edge"] == [1, 3, 3, 2, 0]
    assert col["contour"] == [5, 4, 4, 1, 5]
    assert col["chord"] == [2, 2, 2, 1, 2]


def test_velocity_figures_measure_level_accent_and_pitch():
    notes = tuple(Note(60 + k % 8, 0.5 * k, 0.5, 110 if k % 4 == 0 else 80 + k % 8) for k in range(64))
    figures = velocity_figures([Score(notes)])
    v = np.array([n.velocity for n in notes], float)
    assert figures["velocity_mean"] == pytest.approx(v.mean())
    assert figures["velocity_accent_13"] == pytest.approx(110 - v[[k % 4 != 0 for k in range(64)]].mean())
    assert figures["velocity_sd_phrase"] == pytest.approx(np.mean([v[k:k + 32].std() for k in (0, 32)]))
    assert -1 <= figures["velocity_pitch_corr"] <= 1
    assert np.isnan(velocity_figures([])["velocity_mean"])


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A tiny run trained on 6 synthetic solos that follow the rule (1 epoch)."""
    from jazzgen.config import load_config
    from jazzgen.stages.preprocess import preprocess
    from jazzgen.stages.train import train

    root = tmp_path_factory.mktemp("dynamics")
    sources = root / "solos"
    sources.mkdir()
    for k in range(6):
        write_midi(played(k, level=80 + 5 * k), sources / f"solo{k}.mid")
    cfg = load_config(ROOT / "pipelines" / "tiny.toml")
    cfg = replace(cfg, preprocess=replace(cfg.preprocess, sources=(str(sources),), output=str(root / "corpus")),
                  train=replace(cfg.train, epochs=1))
    preprocess(cfg.preprocess, log=lambda m: None)
    train(root / "corpus", root / "run", cfg, log=lambda m: None)
    return root


def test_generated_solos_play_the_learned_rule(run_dir):
    from jazzgen.music.improvise import perform

    assert (run_dir / "run" / "dynamics.json").is_file()
    songs = perform(count=3, chords="Dm7 | G7 | Cmaj7 | A7", bars=32, seed=1, model=run_dir / "run")
    solos = [s.solo for s in songs]
    assert np.mean([accent(s) for s in solos]) == pytest.approx(ACCENT, abs=6)
    assert velocity_figures(solos)["velocity_mean"] == pytest.approx(90, abs=8)  # the players' median level


def test_evaluation_solos_play_the_learned_rule(run_dir):
    from jazzgen.core.engine import NumpyEngine
    from jazzgen.core.rundir import open_run
    from jazzgen.music.solos import Plan, load_articulation, load_dynamics, play_solos

    run = open_run(run_dir / "run")
    spans = tuple(ChordSpan(parse_chord(CHANGES[b % 4]), 4.0 * b, 4.0) for b in range(32))
    solos = play_solos(run, NumpyEngine.from_export(run.export_path), [Plan(spans, (4, 4), 160.0, 128.0)] * 3, 0,
                       articulation=load_articulation(run), dynamics=load_dynamics(run))
    assert np.mean([accent(s) for s in solos]) == pytest.approx(ACCENT, abs=6)


def test_runs_without_the_table_keep_the_shaped_dynamics_and_can_learn_it(run_dir, tmp_path):
    from jazzgen.core.files import read_json
    from jazzgen.music.improvise import perform
    from jazzgen.music.instruments import shape_dynamics
    from jazzgen.stages.tools import learn_dynamics

    old = tmp_path / "old-run"
    shutil.copytree(run_dir / "run", old)
    (old / "dynamics.json").unlink()
    song = perform(count=1, chords="Dm7 | G7 | Cmaj7 | A7", bars=8, seed=1, model=old)[0]
    assert [n.velocity for n in song.solo.notes] == [n.velocity for n in shape_dynamics(song.solo.notes)]
    learned = learn_dynamics(run_dir / "corpus", old, log=lambda m: None)
    assert learned == read_json(run_dir / "run" / "dynamics.json")  # what training wrote
