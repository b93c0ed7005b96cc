"""From options to performances: pick the changes, sample the solos in range, add the band.

`perform` is what `jazzgen.generate` and `jazzgen generate` both call. The changes come from
chart text, a chart file, the tune book or (with none of them) a corpus piece of the model
picked by the seed; they are transposed to `key`, looped or cut to `bars`, and every solo keeps
to the instrument's range and gets dynamics, then the band is added over the same chart.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np

from jazzgen.errors import JazzgenError, UsageError
from jazzgen.music.band import BANDS, accompany, default_swing
from jazzgen.music.chart_writer import chart_from_spans
from jazzgen.music.charts import MAX_PLAYED_BARS, STYLES, Chart, key_semitones, parse_chart, parse_meter
from jazzgen.music.instruments import Instrument, find_instrument, shape_dynamics
from jazzgen.music.performance import Performance
from jazzgen.music.score import Score
from jazzgen.music.tokenizers import music_tokenizer, tokenizer_from_config

STYLE_TEMPOS = {"swing": 160.0, "ballad": 72.0, "bossa": 140.0, "waltz": 150.0}  # when nothing says
CORPUS_BARS = 32  # bars over a corpus piece's changes when --bars is not given


def perform(count: int = 1, chords: str | None = None, chart=None, tune: str | None = None,
            bars: int | None = None, seed: int = 0, model=None, temperature: float = 1.0, top_k: int = 0,
            tempo: float | None = None, time: str | None = None, key: str | None = None,
            instrument: str | int | None = None, band: str = "trio", style: str | None = None,
            swing: float | None = None, primer=None, backend: str = "numpy",
            corpus_bars: int = CORPUS_BARS, chord_tone_bias: float | None = None) -> list[Performance]:
    """`count` performances (see `jazzgen.generate` for the options); deterministic for a seed.

    `corpus_bars` is how long to play over a corpus piece's changes when `bars` is not given
    (a recipe's generate.bars); `chord_tone_bias` None is the run's recipe's (values runs).
    """
    run = open_model(model)
    if chord_tone_bias is None:
        chord_tone_bias = recipe_chord_tone_bias(run)
    _check(count, bars, temperature, top_k, tempo, band, style, swing, chords, chart, tune, chord_tone_bias)
    soloist = find_instrument(instrument)
    rng = np.random.default_rng(seed)
    played, description, found_tempo = choose_chart(run, chords, chart, tune, time, style, rng, corpus_bars)
    style = style or played.style or "swing"
    if key:
        from jazzgen.music.tunes import estimate_key

        played = replace(played.transposed(key_semitones(played.key or estimate_key(played), key)), key=key)
    if bars:
        played = played.looped(bars)
    elif found_tempo is not None:  # a corpus piece: 32 bars of its changes (or the recipe's)
        played = played.looped(corpus_bars)
    tempo = tempo or played.tempo_qpm or (round(found_tempo) if found_tempo else 0) or STYLE_TEMPOS[style]
    played = replace(played, style=style, tempo_qpm=tempo)
    swing = default_swing(tempo, style) if swing is None else swing
    solos, primed = sample_solos(run, played, count, seed, rng, soloist, temperature=temperature, top_k=top_k,
                                 backend=backend, primer=primer, chord_tone_bias=chord_tone_bias)
    parts = tuple(accompany(played, band, style, seed))
    if primer:
        description += f", after the primer {Path(primer).name}"
    return [Performance(solo, played, parts, soloist, tempo, swing, style, band, seed, description, primed)
            for solo in solos]


def _check(count, bars, temperature, top_k, tempo, band, style, swing, chords, chart, tune,
           chord_tone_bias=0.0) -> None:
    if count <= 0:
        raise UsageError(f"-n must be > 0 (got {count})")
    if bars is not None and bars <= 0:
        raise UsageError(f"--bars must be > 0 (got {bars})")
    if bars is not None and bars > MAX_PLAYED_BARS:
        raise UsageError(f"--bars {bars}: at most {MAX_PLAYED_BARS}")
    if temperature <= 0:
        raise UsageError(f"--temperature must be > 0 (got {temperature})")
    if top_k < 0:
        raise UsageError(f"--top-k must be >= 0 (got {top_k})")
    if not (chord_tone_bias >= 0 and np.isfinite(chord_tone_bias)):
        raise UsageError(f"--chord-tone-bias must be a finite number >= 0 (got {chord_tone_bias})")
    if tempo is not None and not 20 <= tempo <= 400:
        raise UsageError(f"--tempo {tempo:g}: want 20 to 400 beats per minute")
    if band not in BANDS:
        raise UsageError(f"--band {band!r}: want one of {', '.join(BANDS)}")
    if style is not None and style not in STYLES:
        raise UsageError(f"--style {style!r}: want one of {', '.join(STYLES)}")
    if swing is not None and not 1.0 <= swing <= 4.0:
        raise UsageError(f"--swing {swing:g}: want a long-short ratio from 1.0 (straight) to 4.0")
    if sum(x is not None for x in (chords, chart, tune)) > 1:
        raise UsageError("give the changes one way: --chords, --chart or --tune")


def recipe_chord_tone_bias(run) -> float:
    """The chord-tone bias a values run's recipe sampled with (`generate.chord_tone_bias`); 0 for
    events runs, whose tokens name pitches."""
    return run.config.generate.chord_tone_bias if music_tokenizer(run.task).name == "values" else 0.0


def open_model(model):
    """The run of `model` (a run directory, an opened Run, None: the bundled model), checked to be jazz."""
    import sys

    from jazzgen.core.rundir import Run, open_run

    run = model if isinstance(model, Run) else open_run(model, warn=lambda m: print(m, file=sys.stderr))
    if music_tokenizer(run.task) is None:
        raise UsageError(f"{run.path}: a {run.task.get('task')} run; jazz generation needs a jazz run")
    return run


def choose_chart(run, chords, chart, tune, time, style, rng,
                 corpus_bars: int = CORPUS_BARS) -> tuple[Chart, str, float | None]:
    """(the chart, where it came from, the corpus piece's tempo or None)."""
    meter = parse_meter(time) if time else ((3, 4) if style == "waltz" else None)
    if chords is not None:
        typed = parse_chart(chords, time_signature=meter)
        return typed, typed.title or "typed changes", None
    if chart is not None:
        if isinstance(chart, Chart):
            return chart, chart.title or "a chart", None
        from jazzgen.music.charts import read_chart_file

        read = read_chart_file(chart, meter)
        return read, read.title or Path(chart).name, None
    if time:
        raise UsageError("--time sets the meter of typed changes and charts; a tune brings its own")
    if tune is not None:
        from jazzgen.music.tunes import find_tune, tune_chart

        entry = find_tune(tune)
        return tune_chart(entry), entry["title"], None
    return _corpus_chart(run, rng, corpus_bars)


def _corpus_chart(run, rng, bars: int) -> tuple[Chart, str, float]:
    """A corpus piece's changes, picked by the seed (as jazzgen always did)."""
    from jazzgen.music.generate import pick_corpus_piece
    from jazzgen.music.pipeline import piece_changes
    from jazzgen.music.tunes import title_of

    piece = pick_corpus_piece(run, rng, "--chords, --chart or --tune")
    stem = Path(piece["source"]).stem
    spans, ts, tempo = piece_changes(piece, bars)
    title = title_of(stem)
    played = chart_from_spans(spans, tuple(ts), title=title)
    return played, f"the changes of {title} ({Path(piece['source']).name})", tempo


def sample_solos(run, played: Chart, count: int, seed: int, rng: np.random.Generator, soloist: Instrument, *,
                 temperature: float = 1.0, top_k: int = 0, backend: str = "numpy",
                 primer: str | os.PathLike | None = None,
                 chord_tone_bias: float = 0.0) -> tuple[list[Score], int]:
    """`count` solos over the chart's spans, in the soloist's range, with the run's learned dynamics
    (or shaped ones), and how many notes each starts with from the primer."""
    from jazzgen.config import GenerateConfig
    from jazzgen.music.solos import cut, load_dynamics

    g = GenerateConfig(bars=max(1, len(played.bars)), temperature=temperature, top_k=top_k, seed=seed,
                       count=count, backend=backend, chord_tone_bias=chord_tone_bias)
    spans, ts = played.spans(), played.time_signature
    total = played.total_beats
    start = _read_primer(primer, spans, ts, total, played) if primer else None
    dynamics = load_dynamics(run)  # None (older runs): the phrase dynamics shape the velocities
    if tokenizer_from_config(run.task["tokenizer"]).writes_structure:
        solos = _events_solos(run, g, spans, ts, total, rng, start, soloist, played.tempo_qpm or 120.0, dynamics)
    else:
        solos = _values_solos(run, g, spans, ts, total, rng, start, soloist, played.tempo_qpm or 120.0, dynamics)
    out = []
    for solo in solos:
        notes = cut(solo, total).notes
        kept = len(start.notes) if start else 0  # the primer keeps its own dynamics
        # An empty solo over four bars or more is a failure to report, never a file called done
        # (over a bar or two, a player may well rest).
        if not notes and len(played.bars) >= 4:
            raise JazzgenError("the model played no notes (damaged weights or settings); nothing written")
        if dynamics is None:
            notes = notes[:kept] + shape_dynamics(notes[kept:], played.bars[0].beats)
        out.append(Score(notes=notes, chords=tuple(spans), time_signature=ts, tempo_qpm=played.tempo_qpm or 120.0))
    return out, len(start.notes) if start else 0


def _read_primer(primer, spans, ts, total: float, played: Chart) -> Score:
    """The primer's melody; a usage error when it leaves less than a bar to continue."""
    from jazzgen.music.generate import read_primer

    start = read_primer(primer, spans, ts, total)
    end = start.notes[-1].end_beat
    bar = played.bars[0].beats
    if total - end < bar - 1e-9:
        primer_bars = int(np.ceil(end / bar - 1e-9))
        raise UsageError(f"--primer {Path(primer).name}: it fills {end / bar:.3g} of the {len(played.bars)} bars, "
                         f"leaving {max(total - end, 0) / bar:.2g} to continue; give at least --bars "
                         f"{primer_bars + 1} (or more changes)")
    return start


def _values_solos(run, g, spans, ts, total, rng, start: Score | None, soloist: Instrument,
                  tempo: float, dynamics: dict | None = None) -> list[Score]:
    """Values runs: sample values to fill the beats, decode them in the soloist's range."""
    from jazzgen.music.generate import load_engine
    from jazzgen.music.solos import chords_from, load_articulation, render_solo, sample_values
    from jazzgen.music.values import Decoding, ValuesTokenizer

    tokenizer = replace(ValuesTokenizer.from_config(run.task["tokenizer"]),
                        low_pitch=soloist.low, high_pitch=soloist.high)
    begin = start.notes[-1].end_beat if start else 0.0
    primed = run.vocab.encode(tokenizer.encode(start)) if start else []
    budget = total - begin
    # The meter mask keeps every onset on the corpus grid (specials are never drawn).
    later = tuple(chords_from(spans, begin))
    decodings = [Decoding(tokenizer, later, (g.seed, i), start.notes[-1].pitch if start else None)
                 for i in range(g.count)]
    sequences = sample_values(run, load_engine(run, g.backend), tokenizer, [budget] * g.count, rng,
                              temperature=g.temperature, top_k=g.top_k, primer=primed, start_beat=begin,
                              spans=[spans] * g.count, beats_per_bar=ts[0] * 4 / ts[1], tempo_qpm=tempo,
                              decodings=decodings, primer_pitch=start.notes[0].pitch if start else None,
                              chord_tone_bias=g.chord_tone_bias)
    table = load_articulation(run)
    solos = []
    for i, (ids, decoding) in enumerate(zip(sequences, decodings, strict=True)):
        solo = decoding.decode(run.vocab.decode(ids), time_signature=ts)
        solo = render_solo(solo, dynamics, table, g.seed, i)
        moved = tuple(replace(n, start_beat=n.start_beat + begin) for n in solo.notes)
        solos.append(Score(notes=(start.notes if start else ()) + moved, chords=tuple(spans), time_signature=ts))
    return solos


def _events_solos(run, g, spans, ts, total, rng, start: Score | None, soloist: Instrument,
                  tempo_qpm: float, dynamics: dict | None = None) -> list[Score]:
    """Events runs: pitches sampled with the changes' structure forced, then kept in range by octaves."""
    from jazzgen.music.events import EventsTokenizer, refuse_chord_tone_bias
    from jazzgen.music.events_guide import sample_events
    from jazzgen.music.generate import load_engine
    from jazzgen.music.solos import load_articulation, render_solo

    refuse_chord_tone_bias(g.chord_tone_bias)
    tokenizer = EventsTokenizer.from_config(run.task["tokenizer"])
    primed = tokenizer.encode(replace(start, tempo_qpm=tempo_qpm)) if start else []  # at the chart's tempo
    sequences = sample_events(load_engine(run, g.backend), run.vocab, tokenizer, spans, ts, total, g.count, rng,
                              temperature=g.temperature, top_k=g.top_k, primer=primed, tempo_qpm=tempo_qpm)
    solos = []
    n_primed = len(tokenizer.decode(primed, chords=spans).notes) if primed else 0
    table = load_articulation(run)
    for i, tokens in enumerate(sequences):
        solo = tokenizer.decode(primed + tokens, chords=spans, time_signature=ts)
        later = render_solo(replace(solo, notes=solo.notes[n_primed:]), dynamics, table, g.seed, i)
        notes = tuple(replace(n, pitch=_fold(n.pitch, soloist)) for n in solo.notes[:n_primed] + later.notes)
        solos.append(replace(solo, notes=notes))
    return solos


def _fold(pitch: int, soloist: Instrument) -> int:
    while pitch > soloist.high:
        pitch -= 12
    while pitch < soloist.low:
        pitch += 12
    return pitch


MIDI_SUFFIXES, XML_SUFFIXES = (".mid", ".midi"), (".musicxml", ".xml")


def write_files(performances: list[Performance], out: str | os.PathLike, *, musicxml: bool = False,
                pdf: bool = False, svg: bool = False, wav: bool = False, png: bool = False,
                log=print) -> list[Path]:
    """Write each performance as `out` (OUT-1, OUT-2 ... for several) and the files asked beside it.

    `out` ending in .mid writes the band MIDI (and with `musicxml` the lead sheet beside it);
    ending in .musicxml or .xml writes the lead sheet alone. `pdf`/`svg` engrave the lead sheet
    (saying what to install when no engraver is found), `wav` renders audio, `png` a piano roll.

    Returns:
        Every file written, the main ones first.
    """
    from jazzgen.music.generate import output_paths
    from jazzgen.music.notation import engrave

    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in MIDI_SUFFIXES + XML_SUFFIXES:
        raise UsageError(f"{out}: the output must end in .mid or .musicxml")
    paths = output_paths(out, len(performances))
    written: list[Path] = []
    engrave_note = None
    for song, path in zip(performances, paths, strict=True):
        if suffix in MIDI_SUFFIXES:
            written.append(song.write_midi(path))
        xml = path if suffix in XML_SUFFIXES else path.with_suffix(".musicxml")
        if suffix in XML_SUFFIXES or musicxml or pdf or svg:
            written.append(song.write_musicxml(xml))
        for wanted, ext in ((pdf, ".pdf"), (svg, ".svg")):
            if wanted and engrave_note is None:
                try:
                    engrave(xml, path.with_suffix(ext))
                    written.append(path.with_suffix(ext))
                except JazzgenError as err:
                    engrave_note = str(err)  # say it once; the other files are still written
        if wav:
            written.append(song.to_wav(path.with_suffix(".wav")))
        if png:
            written.append(song.piano_roll(path.with_suffix(".png")))
    first = performances[0]
    bars = f"{first.bars} bar{'s' if first.bars != 1 else ''}"
    log(f"wrote {len(paths)} solo{'s' if len(paths) != 1 else ''} of {bars} over {first.description} "
        f"({first.instrument.name}, band {first.band}, {first.style} at {first.tempo_qpm:g} bpm, "
        f"seed {first.seed}): " + ", ".join(str(p) for p in written))
    if engrave_note:
        log(f"note: {engrave_note}")
    return written
