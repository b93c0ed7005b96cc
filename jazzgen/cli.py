"""The `jazzgen` command line: a thin click shell over the stage functions (`jazzgen.stages`).

TensorFlow is imported only inside the commands that need it, so `jazzgen --help` is instant and
`jazzgen generate` (numpy engine) never loads it.
"""

from __future__ import annotations

import os

# Sampling multiplies (1, H) vectors by small matrices: OpenBLAS's thread pool costs far more
# than it saves there (32 bars: 4.0 s with 2 threads vs 1.3 s with 1 on 2 loaded cores).
# Set before numpy is first imported; TensorFlow's own thread pools are not affected.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import sys
from dataclasses import replace
from pathlib import Path

import click

from jazzgen import __version__
from jazzgen.cli_support import (
    at_least,
    holds_locks,
    performance_options,
    pipeline_option,
    quiet_tensorflow,
    reports_errors,
    set_option,
    settings_of,
)
from jazzgen.errors import UsageError
from jazzgen.stages import TASK_NAMES


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="jazzgen")
def main() -> None:
    """Learn jazz improvisation from transcriptions and play new solos over chord changes."""
    quiet_tensorflow()


@main.command()
@click.argument("sources", nargs=-1)
@click.option("-o", "--output", help="Corpus directory to write.")
@click.option("--melody-track", default=None,
              help="Name or #index (as -v lists them) of the melody track (default: detect).")
@click.option("--workers", type=int, default=None, help="Processes reading files (0 = all cores).")
@click.option("--shard-size", type=int, default=None, metavar="N",
              help="Also write whole-piece shards of about N values; training streams them.")
@click.option("--part", default=None, metavar="K/N",
              help="Read only the K-th of N slices of the inputs (cluster task; see merge-corpora).")
@click.option("--task", type=click.Choice(TASK_NAMES),
              default=None, help="What the files hold (default jazz); text: see docs/text.md.")
@click.option("--tokenizer", default=None, help="Jazz: values (chord-relative, default) or events (pitches).")
@click.option("-v", "--verbose", is_flag=True, help="One line per kept file: melody track taken and why.")
@pipeline_option
@set_option
@reports_errors
@holds_locks(lambda p: [p["output"] or settings_of(p).preprocess.output])
def preprocess(sources, output, melody_track, workers, shard_size, part, task, tokenizer, verbose,
               pipeline, sets):
    """Turn jazz files (MIDI, WJD tables) or text files into a corpus."""
    from jazzgen.config import load_config
    from jazzgen.stages.preprocess import preprocess as run_preprocess

    config = load_config(pipeline, sets)
    changes = {k: v for k, v in (("sources", tuple(sources) or None), ("output", output),
                                 ("melody_track", melody_track), ("workers", workers),
                                 ("shard_size", shard_size), ("part", part),
                                 ("task", task), ("tokenizer", tokenizer)) if v is not None}
    run_preprocess(replace(config, preprocess=replace(config.preprocess, **changes)),
                   log=click.echo, verbose=verbose)


@main.command()
@click.argument("corpus_dir")
@click.option("-o", "--output", "run_dir", help="Run directory to write.")
@click.option("--epochs", type=int, default=None, help="Epochs (overrides train.epochs).")
@click.option("--resume", is_flag=True, help="Continue the run in -o from its last completed epoch.")
@click.option("--from", "source", default=None, metavar="default|RUN_DIR",
              help="Fine-tune the bundled model (default) or another run on this corpus.")
@click.option("--strategy", type=click.Choice(["default", "mirrored", "multiworker"]), default=None,
              help="tf.distribute strategy (train.strategy); batch size is then per replica.")
@pipeline_option
@set_option
@reports_errors
@holds_locks(lambda p: [] if (p["strategy"] or settings_of(p).train.strategy) == "multiworker" else [p["run_dir"]])
def train(corpus_dir, run_dir, epochs, resume, source, strategy, pipeline, sets):
    """Fit the shared-layer LSTM on a corpus directory."""
    from jazzgen.config import load_config
    from jazzgen.stages.train import train as run_train

    cfg = load_config(pipeline, sets)
    if epochs is not None:
        cfg = replace(cfg, train=replace(cfg.train, epochs=epochs))
    if strategy is not None:
        cfg = replace(cfg, train=replace(cfg.train, strategy=strategy))
    if not run_dir:
        raise UsageError("train: give the run directory with -o")
    if resume:
        click.echo(f"resuming the run in {run_dir}")
    result = run_train(corpus_dir, run_dir, cfg, resume=resume, log=click.echo, source=source)
    if result.stopped_because == "interrupted":
        sys.exit(130)


@main.command()
@click.argument("run_dir", required=False)
@click.option("-o", "--output", default=None,
              help="MIDI file (default solo.mid) or lead sheet (.musicxml) to write; text runs: a text file.")
@click.option("--bars", type=int, default=None,
              help="Bars to play, the form looped or cut (default: the chart or tune once; corpus changes 32).")
@click.option("--chords", default=None,
              help='Chord chart text, e.g. "Dm7 G7 Cmaj7" or "|: Bb7 | Eb7 :| Dm7 G7 x2" (docs/charts.md).')
@click.option("--temperature", type=float, default=None, help="1.0 = as learned, < 1 = safer.")
@click.option("--top-k", type=int, default=None, help="Sample among the k likeliest values (0 = all).")
@click.option("--chord-tone-bias", type=float, default=None,
              help="Nats added to the logits of values that play a chord tone (values runs; 0 = as learned).")
@click.option("--seed", type=int, default=None, help="Same seed, same file.")
@click.option("-n", "count", type=int, default=None, help="Number of solos (OUT-1.mid, OUT-2.mid ...).")
@click.option("--backend", type=click.Choice(["numpy", "keras"]), default=None, help="Sampling engine.")
@click.option("--primer", default=None,
              help='Jazz: a MIDI/MusicXML file whose melody each solo starts with; text: the text '
                   'each sample continues, e.g. "ROMEO:".')
@click.option("--length", type=int, default=None, help="Text runs: most tokens per sample.")
@click.option("--wav", is_flag=True, help="Also write audio beside each MIDI (FluidSynth, else built-in).")
@click.option("--png", is_flag=True, help="Also write a piano-roll picture beside each MIDI.")
@performance_options
@pipeline_option
@set_option
@reports_errors
def generate(run_dir, output, bars, chords, temperature, top_k, chord_tone_bias, seed, count, backend, primer,
             length, wav, png, pipeline, sets, **performance):
    """Play new solos over chord changes (no RUN_DIR: the bundled model), or sample text."""
    from jazzgen.config import load_config
    from jazzgen.stages.generate import generate as run_generate

    at_least(("--length", length, 1))
    if chords is not None and not chords.replace("|", "").strip():
        raise UsageError('--chords: no chords given (e.g. --chords "Dm7 G7 | Cmaj7"; leave it out to '
                         "play over a corpus piece's changes)")
    config = load_config(pipeline, sets)  # checks the recipe and every --set first
    changes = {k: v for k, v in (("bars", bars), ("temperature", temperature), ("top_k", top_k),
                                 ("chord_tone_bias", chord_tone_bias), ("seed", seed), ("count", count),
                                 ("backend", backend)) if v is not None}
    # Without a recipe a run samples as its own recipe said (its [generate]: temperature, top-k,
    # chord-tone bias...), as the Python API does; --set and the options above go on top.
    run_generate(run_dir, output, config.generate if pipeline else None,
                 chords_text=chords, bars_given=bars is not None, log=click.echo, primer=primer,
                 length=length, wav=wav, png=png, sets=sets, changes=changes,
                 **{k: v for k, v in performance.items() if v not in (None, False)})


@main.command()
@click.argument("files", nargs=-1, required=True)
@click.option("--wav/--no-wav", default=True, help="Write audio (default on).")
@click.option("--png/--no-png", default=True, help="Write a piano roll (default on).")
@reports_errors
def render(files, wav, png):
    """Write audio and a piano-roll picture beside existing MIDI files."""
    from jazzgen.stages.tools import render as run_render

    run_render(files, wav, png, log=click.echo)


@main.command()
@click.argument("run_dir")
@click.argument("files", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--sentence", default=None, help="Text language models: probability of this sentence.")
@click.option("--samples", type=int, default=None, help="Pieces to generate for sample statistics.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of those samples.")
@click.option("--corpus", "corpus_dir", default=None, help="The training corpus, if it moved.")
@reports_errors
def evaluate(run_dir, files, as_json, sentence, samples, seed, corpus_dir):
    """Score a run on held-out data: loss (nats per value), perplexity, task metrics, baselines.

    FILES (jazz runs): MIDI solos to judge instead of generated ones."""
    from jazzgen.stages.evaluate import evaluate as run_evaluate

    at_least(("--seed", seed, 0), ("--samples", samples, 0))

    run_evaluate(run_dir, as_json=as_json, samples=samples, sentence=sentence, seed=seed,
                 corpus_dir=corpus_dir, files=files, log=click.echo)


@main.command()
@click.argument("run_dir")
@click.argument("texts", nargs=-1)
@reports_errors
def predict(run_dir, texts):
    """Label text with a classify, tag or dates run (no TEXTS: one per line from stdin)."""
    from jazzgen.stages.predict import predict as run_predict

    texts = list(texts) or [line for line in sys.stdin.read().splitlines() if line.strip()]
    for line in run_predict(run_dir, texts):
        click.echo(line)


@main.command("import-wjd")
@click.argument("src")
@click.option("-o", "--output", required=True, help="Folder for the two-track MIDI files.")
@reports_errors
def import_wjd(src, output):
    """Convert Weimar Jazz Database melody + beat tables into two-track MIDI files."""
    from jazzgen.stages.tools import import_tables

    import_tables(src, output, log=click.echo)


@main.command("learn-dynamics")
@click.argument("corpus")
@click.argument("run")
@reports_errors
@holds_locks(lambda p: [p["run"]] if Path(p["run"]).is_dir() else [])  # no lock file in a typo's folder
def learn_dynamics(corpus, run):
    """Write dynamics.json (how loud the players played) into an existing jazz run from its corpus."""
    from jazzgen.stages.tools import learn_dynamics as run_learn

    run_learn(corpus, run, log=click.echo)


@main.command("merge-corpora")
@click.argument("parts", nargs=-1, required=True)
@click.option("-o", "--output", required=True, help="Corpus directory to write.")
@click.option("--shard-size", type=int, default=0, show_default=True, metavar="N",
              help="Also write whole-piece shards of about N values.")
@reports_errors
@holds_locks(lambda p: [p["output"]])
def merge_corpora(parts, output, shard_size):
    """Join the partial corpora of `preprocess --part K/N` into the corpus one machine writes."""
    from jazzgen.stages.merge import merge_corpora as run_merge

    run_merge(parts, output, shard_size, log=click.echo)


@main.command()
@click.option("--model", "model_dir", default=None, help="Jazz run directory to play (default: the bundled model).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; 0.0.0.0 opens the studio to the network (a warning is printed).")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True, help="TCP port.")
@reports_errors
def serve(model_dir, host, port):
    """Start the studio in the browser: generate, listen, regenerate bars, trade fours."""
    from jazzgen.web import serve as run_serve

    run_serve(model_dir, host=host, port=port, echo=click.echo)


@main.command("run")
@click.argument("pipeline", type=click.Path(dir_okay=False))
@click.option("--set", "sets", multiple=True, metavar="SECTION.KEY=VALUE", help="Override one setting.")
@click.option("--resume", is_flag=True, help="Resume training if the run exists.")
@reports_errors
@holds_locks(lambda p: _pipeline_dirs(settings_of(p), Path(p["pipeline"]).stem))
def run_pipeline(pipeline, sets, resume):
    """Run every stage of a recipe: preprocess, train, generate, evaluate."""
    from jazzgen.config import load_config
    from jazzgen.stages.pipeline import run_pipeline as run_all

    run_all(load_config(pipeline, sets), Path(pipeline).stem, resume=resume, log=click.echo)


def _pipeline_dirs(cfg, name: str):
    """The corpus and run directories `jazzgen run` writes (held while it runs)."""
    from jazzgen.stages.pipeline import pipeline_dirs

    return [str(d) for d in pipeline_dirs(cfg, name)]


@main.command()
@click.argument("query", required=False, default="")
@click.option("--chart", "show_chart", is_flag=True, help="Print the chart of the one tune QUERY names.")
@reports_errors
def tunes(query, show_chart):
    """List the tune book (the tunes of the bundled WJD solos) whose titles contain QUERY."""
    from jazzgen.stages.tools import tune
    from jazzgen.stages.tools import tunes as search_tunes

    if show_chart:
        click.echo(tune(query)["chart"], nl=False)
        return
    found = search_tunes(query)
    if not found:
        raise UsageError(f"no tune title contains {query!r} (jazzgen tunes lists them all)")
    width = max(len(t["title"]) for t in found)
    click.echo(f"{'title':<{width}}  {'key':<4} {'meter':<5} {'bars':>4} {'solos':>5}")
    for t in found:
        click.echo(f"{t['title']:<{width}}  {t['key']:<4} {t['time_signature']:<5} {t['bars']:>4} {t['solos']:>5}")
    click.echo(f"{len(found)} tune{'s' if len(found) != 1 else ''}")
