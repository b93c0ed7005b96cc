"""Jazz generation: sample a run's tokens one-to-many over chord changes and write MIDI.

The numpy engine is the default backend, so generation never imports TensorFlow; `--backend
keras` runs the Keras one-step graph instead. Both feed the same chooser with the same random
stream, so one seed gives the same notes either way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from jazzgen.config import GenerateConfig
from jazzgen.core.rundir import Run
from jazzgen.errors import JazzgenError, UsageError

DEFAULT_TEMPO_QPM = 160.0  # for typed changes; a corpus piece brings its own tempo


def load_engine(run: Run, backend: str):
    """The sampling engine for a run: numpy (TF-free) or keras (the one-step graph)."""
    from jazzgen.core.engine import load_engine as engine_from_export

    return engine_from_export(run.export_path, backend)


def output_paths(out: Path, count: int) -> list[Path]:
    """OUT.mid for one solo; OUT-1.mid, OUT-2.mid ... for several."""
    if count == 1:
        return [out]
    return [out.with_name(f"{out.stem}-{i}{out.suffix}") for i in range(1, count + 1)]


def choose_changes(run: Run, chords_text: str | None, bars: int | None, rng: np.random.Generator):
    """Chord spans to play over: typed changes, or a corpus piece's (picked by the seed)."""
    from jazzgen.music.chords import parse_progression
    from jazzgen.music.pipeline import loop_changes, piece_changes

    if chords_text:
        spans = parse_progression(chords_text, beats_per_bar=4.0)
        typed_beats = spans[-1].end_beat if spans else 0.0
        total = bars * 4.0 if bars else typed_beats
        return loop_changes(spans, total), (4, 4), DEFAULT_TEMPO_QPM, "typed changes"
    piece = pick_corpus_piece(run, rng, "--chords")
    spans, ts, tempo = piece_changes(piece, bars or 32)
    return spans, ts, tempo, f"the changes of {Path(piece['source']).name}"


def pick_corpus_piece(run: Run, rng: np.random.Generator, options: str) -> dict:
    """A piece of the run's changes.json, picked by the seed; a usage error naming `options` when none."""
    from jazzgen.core.files import read_json
    from jazzgen.music.pipeline import has_changes

    changes_path = run.path / "changes.json"
    pieces = read_json(changes_path) if changes_path.is_file() else []
    pieces = [p for p in pieces if has_changes(p)]  # runs trained before train.py filtered them
    if not pieces:
        raise UsageError(f"{run.path}: keeps no chord changes; give them with {options}")
    return pieces[int(rng.integers(len(pieces)))]


def generate_solos(run: Run, out: str | Path, g: GenerateConfig, chords_text: str | None = None,
                   bars_given: bool = False, log: Callable[[str], None] = print,
                   primer: str | Path | None = None) -> list[Path]:
    """Sample `g.count` solos from an opened jazz run and write them as MIDI; returns the paths.

    With `primer` (a MIDI or MusicXML file), its melody is encoded with the run's tokenizer and
    fed first: every solo starts with the primer's notes and continues over the changes.
    """
    from jazzgen.music.midi_io import write_midi
    from jazzgen.music.tokenizers import tokenizer_from_config
    from jazzgen.music.values import ValuesTokenizer

    out = Path(out)
    if out.suffix.lower() not in (".mid", ".midi"):
        raise UsageError(f"{out}: the output must end in .mid")
    if tokenizer_from_config(run.task["tokenizer"]).writes_structure:
        return _generate_events(run, out, g, chords_text, bars_given, log, primer)
    tokenizer = ValuesTokenizer.from_config(run.task["tokenizer"])
    rng = np.random.default_rng(g.seed)
    spans, ts, tempo, where = choose_changes(run, chords_text, g.bars if (bars_given or not chords_text) else None, rng)
    total_beats = spans[-1].end_beat if spans else g.bars * 4.0
    if primer:
        return _generate_values_primed(run, out, g, tokenizer, rng, spans, ts, tempo, where,
                                       total_beats, primer, log)
    from jazzgen.music.solos import Plan, load_articulation, load_dynamics, play_solos

    # Values that would put the next onset off the grid are masked; notes sound as loud and as
    # long as the training players' (the run's dynamics and articulation tables, when it has them).
    plan = Plan(tuple(spans), ts, tempo, total_beats)
    solos = play_solos(run, load_engine(run, g.backend), [plan] * g.count, g.seed, rng=rng,
                      temperature=g.temperature, top_k=g.top_k, articulation=load_articulation(run),
                      dynamics=load_dynamics(run), chord_tone_bias=g.chord_tone_bias)
    paths = output_paths(out, g.count)
    for solo, path in zip(solos, paths):
        _check_not_empty(solo.notes, path)
        write_midi(solo, path)
    _report(log, paths, total_beats, ts, where, g, None)
    return paths


def _check_not_empty(notes, path: Path) -> None:
    """A solo without a note is a failure to report, never a file to write and call done."""
    if not notes:
        raise JazzgenError(f"{path}: the model played no notes (damaged weights or settings); nothing written")


def read_primer(path: str | Path, spans, ts: tuple[int, int], total_beats: float):
    """The melody of a primer file, quantized, as a score over the changes (cut at their end)."""
    from jazzgen.music.pipeline import read_score
    from jazzgen.music.score import ChordSpan, Score
    from jazzgen.music.solos import cut
    from jazzgen.music.values import ValuesTokenizer

    score, _ = ValuesTokenizer().quantize_score(read_score(Path(path)))
    notes = cut(score, total_beats).notes
    if not notes:
        raise UsageError(f"{path}: the primer has no notes before beat {total_beats:g}")
    end = notes[-1].end_beat
    chords = tuple(ChordSpan(s.chord, s.start_beat, min(s.end_beat, end) - s.start_beat)
                   for s in spans if s.start_beat < end - 1e-9)
    return Score(notes=notes, chords=chords, time_signature=ts, source=str(path))


def _write_solos(solos, spans, ts, tempo, total_beats, out: Path) -> list[Path]:
    """Cut each solo at the end of the changes and write it over them."""
    from jazzgen.music.midi_io import write_midi
    from jazzgen.music.score import Score
    from jazzgen.music.solos import cut

    paths = output_paths(out, len(solos))
    for solo, path in zip(solos, paths, strict=True):
        notes = cut(solo, total_beats).notes
        _check_not_empty(notes, path)
        write_midi(Score(notes=notes, chords=tuple(spans), time_signature=ts, tempo_qpm=tempo), path)
    return paths


def _report(log, paths, total_beats, ts, where, g, primer) -> None:
    bars = int(round(total_beats / (ts[0] * 4.0 / ts[1])))
    primed = f", after the primer {Path(primer).name}" if primer else ""
    log(f"wrote {len(paths)} solo{'s' if len(paths) != 1 else ''} of {bars} bar{'s' if bars != 1 else ''} "
        f"over {where}{primed} "
        f"({g.backend} backend, seed {g.seed}): " + ", ".join(str(p) for p in paths))


def _generate_values_primed(run, out, g, tokenizer, rng, spans, ts, tempo, where, total_beats, primer, log):
    """Values with a primer: its values are fed first, the continuation decoded from its last pitch."""
    from jazzgen.music.solos import chords_from, load_articulation, load_dynamics, render_solo, sample_values
    from jazzgen.music.values import Decoding

    start = read_primer(primer, spans, ts, total_beats)
    values = tokenizer.encode(start)
    end = start.notes[-1].end_beat
    engine = load_engine(run, g.backend)
    budget = total_beats - end
    sequences = [[] for _ in range(g.count)]
    later = tuple(chords_from(spans, end))
    decodings = [Decoding(tokenizer, later, (g.seed, i), start.notes[-1].pitch) for i in range(g.count)]
    if budget > 1e-9:
        sequences = sample_values(run, engine, tokenizer, [budget] * g.count, rng,
                                  temperature=g.temperature, top_k=g.top_k,
                                  primer=run.vocab.encode(values), start_beat=end, spans=[spans] * g.count,
                                  beats_per_bar=ts[0] * 4 / ts[1], tempo_qpm=tempo, decodings=decodings,
                                  primer_pitch=start.notes[0].pitch, chord_tone_bias=g.chord_tone_bias)
    table, dynamics = load_articulation(run), load_dynamics(run)
    solos = []
    for i, (ids, decoding) in enumerate(zip(sequences, decodings, strict=True)):
        rest = decoding.decode(run.vocab.decode(ids), time_signature=ts, tempo_qpm=tempo)
        rest = render_solo(rest, dynamics, table, g.seed, i)
        moved = tuple(replace(n, start_beat=n.start_beat + end) for n in rest.notes)
        solos.append(replace(rest, notes=start.notes + moved, chords=tuple(spans)))
    paths = _write_solos(solos, spans, ts, tempo, total_beats, out)
    _report(log, paths, total_beats, ts, where, g, primer)
    return paths


def _generate_events(run, out, g, chords_text, bars_given, log, primer) -> list[Path]:
    """Events runs: pitches and durations sampled, the changes' structure forced (EventsGuide)."""
    from jazzgen.music.events import EventsTokenizer, refuse_chord_tone_bias
    from jazzgen.music.events_guide import sample_events
    from jazzgen.music.solos import load_articulation, load_dynamics, render_solo

    refuse_chord_tone_bias(g.chord_tone_bias)
    tokenizer = EventsTokenizer.from_config(run.task["tokenizer"])
    rng = np.random.default_rng(g.seed)
    spans, ts, tempo, where = choose_changes(run, chords_text, g.bars if (bars_given or not chords_text) else None, rng)
    total_beats = spans[-1].end_beat if spans else g.bars * 4.0
    # the primer is played at the changes' tempo (a tokenizer naming tempo classes writes it)
    start = tokenizer.encode(replace(read_primer(primer, spans, ts, total_beats), tempo_qpm=tempo)) if primer else []
    engine = load_engine(run, g.backend)
    sequences = sample_events(engine, run.vocab, tokenizer, spans, ts, total_beats, g.count, rng,
                              temperature=g.temperature, top_k=g.top_k, primer=start, tempo_qpm=tempo)
    solos = [tokenizer.decode(start + tokens, chords=spans, time_signature=ts, tempo_qpm=tempo)
             for tokens in sequences]
    table, dynamics = load_articulation(run), load_dynamics(run)
    if table is not None or dynamics is not None:  # the primer's notes keep their lengths
        primed = len(tokenizer.decode(start, chords=spans).notes) if start else 0
        solos = [replace(s, notes=s.notes[:primed] + render_solo(
            replace(s, notes=s.notes[primed:]), dynamics, table, g.seed, i).notes)
            for i, s in enumerate(solos)]
    paths = _write_solos(solos, spans, ts, tempo, total_beats, out)
    _report(log, paths, total_beats, ts, where, g, primer)
    return paths
