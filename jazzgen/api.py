"""The Python API: the functions the command line calls, for notebooks and programs.

    import jazzgen
    song = jazzgen.generate(chords="|: Dm7 | G7 | Cmaj7 | % :|", bars=16, seed=3)
    song.write_midi("solo.mid"); song.write_musicxml("solo.musicxml"); song.to_wav("solo.wav")
    song            # in a notebook: an audio player over the piano roll

Nothing here imports TensorFlow unless a function that trains or runs Keras is called.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jazzgen.music.charts import Chart
    from jazzgen.music.performance import Performance


def generate(chords: str | None = None, *, chart: str | os.PathLike | Chart | None = None,
             tune: str | None = None, bars: int | None = None, seed: int = 0,
             model: str | os.PathLike | None = None, temperature: float = 1.0, top_k: int = 0,
             tempo: float | None = None, time: str | None = None, key: str | None = None,
             instrument: str | int | None = None, band: str = "trio", style: str | None = None,
             swing: float | None = None, primer: str | os.PathLike | None = None,
             backend: str = "numpy", chord_tone_bias: float | None = None) -> Performance:
    """Play a new solo, with a band, over chord changes.

    Args:
        chords: chart text, inline (``"|: Cm7 | F7 :| Bbmaj7 x2"``, see docs/charts.md).
        chart: a chart file (or a `Chart`); tune: a title from the tune book (`tunes()`).
            With none of the three, the model's corpus gives a piece's changes (picked by seed).
        bars: bars to play, the form looped or cut (default: the chart once; corpus changes 32).
        seed: the same seed gives the same performance.
        model: a run directory (default: the bundled model).
        temperature, top_k, backend: sampling settings (as `jazzgen generate`).
        chord_tone_bias: nats added to the logits of values that play a chord tone (values
            models; 0 = as learned; None: the run's recipe's, e.g. the bundled model's 0.1;
            `--chord-tone-bias`).
        tempo: quarter notes per minute (default: the chart's, else by style).
        time: the meter of typed changes ("3/4"), where the chart names none.
        key: transpose the changes to this key (the solo is generated in it).
        instrument: the soloist ("alto sax", "trumpet" ...) or a GM program; its range is kept.
        band: "trio" (piano, bass, drums), "bass" or "none" (block chords as before).
        style: swing, ballad, bossa or waltz (default: the chart's style:, else swing).
        swing: long-short ratio of eighth pairs (1.0 straight; default by tempo and style).
        primer: a MIDI/MusicXML file whose melody the solo starts with.

    Returns:
        A `Performance` with .write_midi(), .write_musicxml(), .to_wav(), .piano_roll().

    Raises:
        UsageError (bad options, unknown tune), ChartError (naming the bar and symbol).
    """
    return generate_many(1, chords=chords, chart=chart, tune=tune, bars=bars, seed=seed, model=model,
                         temperature=temperature, top_k=top_k, tempo=tempo, time=time, key=key,
                         instrument=instrument, band=band, style=style, swing=swing, primer=primer,
                         backend=backend, chord_tone_bias=chord_tone_bias)[0]


def generate_many(count: int, **options) -> list[Performance]:
    """`count` performances over the same changes and band, sampled together (options as `generate`)."""
    from jazzgen.stages.generate import perform

    return perform(count=count, **options)


def read_chart(text_or_path: str | os.PathLike, time: str | None = None) -> Chart:
    """A chart from chart text, or from a file when given a Path (its name starts every error)."""
    from jazzgen.stages.tools import read_chart as run_read_chart

    return run_read_chart(text_or_path, time)


def tunes(query: str = "") -> list[dict]:
    """The tune book: {title, key, time_signature, bars, solos, chart} for tunes matching `query`."""
    from jazzgen.stages.tools import tunes as search_tunes

    return [dict(t) for t in search_tunes(query)]


def preprocess(sources, output: str | os.PathLike, *, pipeline: str | None = None, sets: tuple[str, ...] = (),
               verbose: bool = False, log=None, **settings) -> dict:
    """`jazzgen preprocess`: music (or text) files -> a corpus directory; returns its summary.

    Args:
        sources: files and folders to read; output: the corpus directory to write.
        pipeline, sets: a TOML recipe and `section.key=value` overrides, as on the command line.
        settings: further [preprocess] keys (task="chars", tokenizer="events", workers=2 ...).
        log: called with each progress line (default: silent).
    """
    from jazzgen.config import load_config
    from jazzgen.stages.preprocess import preprocess as run_preprocess

    config = load_config(pipeline, sets)
    pre = replace(config.preprocess, sources=tuple(str(s) for s in sources), output=str(output), **settings)
    return run_preprocess(replace(config, preprocess=pre), log=log or (lambda m: None), verbose=verbose)


def train(corpus: str | os.PathLike, run: str | os.PathLike, *, pipeline: str | None = None,
          sets: tuple[str, ...] = (), epochs: int | None = None, resume: bool = False,
          source: str | None = None, log=None):
    """`jazzgen train`: fit a model on a corpus directory into a run directory (imports TensorFlow).

    Returns:
        The training result (`stopped_because`, the history ...).
    """
    from jazzgen.config import load_config
    from jazzgen.stages.train import train as run_train

    cfg = load_config(pipeline, sets)
    if epochs is not None:
        cfg = replace(cfg, train=replace(cfg.train, epochs=epochs))
    return run_train(str(corpus), str(run), cfg, resume=resume, log=log or (lambda m: None), source=source)


def evaluate(run: str | os.PathLike, files: tuple[str, ...] = (), *, samples: int | None = None, seed: int = 0,
             sentence: str | None = None, corpus: str | os.PathLike | None = None) -> dict:
    """`jazzgen evaluate --json`: held-out loss, perplexity, baselines and sample statistics."""
    from jazzgen.stages.evaluate import evaluate as run_evaluate

    return run_evaluate(str(run), samples=samples, sentence=sentence, seed=seed, corpus_dir=corpus,
                        files=tuple(str(f) for f in files), log=lambda m: None)
