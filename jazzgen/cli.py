"""The `jazzgen` command line: a thin click shell over the stage functions.

TensorFlow is imported only inside the commands that need it, so `jazzgen --help` is instant and
`jazzgen generate` (numpy engine) never loads it.
"""

from __future__ import annotations

import functools
import os
import sys
from dataclasses import replace
from pathlib import Path

import click

from jazzgen import __version__
from jazzgen.errors import ChordParseError, JazzgenError, UsageError

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up chatter out


def reports_errors(fn):
    """Turn the project's own errors into one line on stderr and an exit code (2: usage)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (UsageError, ChordParseError) as e:
            click.echo(f"error: {e}", err=True)
            sys.exit(2)
        except JazzgenError as e:
            click.echo(f"error: {e}", err=True)
            sys.exit(1)

    return wrapper


pipeline_option = click.option("--pipeline", "pipeline", type=click.Path(dir_okay=False),
                               help="TOML recipe from pipelines/ (its settings, then --set, apply).")
set_option = click.option("--set", "sets", multiple=True, metavar="SECTION.KEY=VALUE",
                          help="Override one setting, e.g. --set train.epochs=3 (repeatable).")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="jazzgen")
def main() -> None:
    """Learn jazz improvisation from transcriptions and play new solos over chord changes."""


@main.command()
@click.argument("sources", nargs=-1)
@click.option("-o", "--output", help="Corpus directory to write.")
@click.option("--melody-track", default=None, help="Name or index of the melody track (default: detect).")
@click.option("--workers", type=int, default=None, help="Processes reading files (0 = all cores).")
@pipeline_option
@set_option
@reports_errors
def preprocess(sources, output, melody_track, workers, pipeline, sets):
    """Turn jazz files (MIDI, WJD tables) into a corpus of value sequences."""
    from jazzgen.config import load_config
    from jazzgen.stages.preprocess import preprocess as run_preprocess

    cfg = load_config(pipeline, sets).preprocess
    changes = {k: v for k, v in (("sources", tuple(sources) or None), ("output", output),
                                 ("melody_track", melody_track), ("workers", workers)) if v is not None}
    run_preprocess(replace(cfg, **changes), log=click.echo)


@main.command()
@click.argument("corpus_dir")
@click.option("-o", "--output", "run_dir", help="Run directory to write.")
@click.option("--epochs", type=int, default=None, help="Epochs (overrides train.epochs).")
@click.option("--resume", is_flag=True, help="Continue the run in -o from its last completed epoch.")
@pipeline_option
@set_option
@reports_errors
def train(corpus_dir, run_dir, epochs, resume, pipeline, sets):
    """Fit the shared-layer LSTM on a corpus directory."""
    from jazzgen.config import load_config
    from jazzgen.stages.train import train as run_train

    cfg = load_config(pipeline, sets)
    if epochs is not None:
        cfg = replace(cfg, train=replace(cfg.train, epochs=epochs))
    if not run_dir:
        raise UsageError("train: give the run directory with -o")
    if resume:
        click.echo(f"resuming the run in {run_dir}")
    result = run_train(corpus_dir, run_dir, cfg, resume=resume, log=click.echo)
    if result.stopped_because == "interrupted":
        sys.exit(130)


@main.command()
@click.argument("run_dir", required=False)
@click.option("-o", "--output", default="solo.mid", show_default=True, help="MIDI file to write.")
@click.option("--bars", type=int, default=None, help="Bars to generate (default 32, or the typed changes).")
@click.option("--chords", default=None, help='Changes, e.g. "Dm7 G7 Cmaj7" or "Bb7 | Eb7 | Dm7 G7".')
@click.option("--temperature", type=float, default=None, help="1.0 = as learned, < 1 = safer.")
@click.option("--top-k", type=int, default=None, help="Sample among the k likeliest values (0 = all).")
@click.option("--seed", type=int, default=None, help="Same seed, same file.")
@click.option("-n", "count", type=int, default=None, help="Number of solos (OUT-1.mid, OUT-2.mid ...).")
@click.option("--backend", type=click.Choice(["numpy", "keras"]), default=None, help="Sampling engine.")
@pipeline_option
@set_option
@reports_errors
def generate(run_dir, output, bars, chords, temperature, top_k, seed, count, backend, pipeline, sets):
    """Play new solos over chord changes (no RUN_DIR: the bundled model)."""
    from jazzgen.config import load_config
    from jazzgen.stages.generate import generate as run_generate

    g = load_config(pipeline, sets).generate
    changes = {k: v for k, v in (("bars", bars), ("temperature", temperature), ("top_k", top_k),
                                 ("seed", seed), ("count", count), ("backend", backend)) if v is not None}
    run_generate(run_dir, Path(output), replace(g, **changes), chords_text=chords,
                 bars_given=bars is not None, log=click.echo)


@main.command("import-wjd")
@click.argument("src")
@click.option("-o", "--output", required=True, help="Folder for the two-track MIDI files.")
@reports_errors
def import_wjd(src, output):
    """Convert Weimar Jazz Database melody + beat tables into two-track MIDI files."""
    from jazzgen.music.wjd import import_wjd as run_import

    if not Path(src).is_dir():
        raise UsageError(f"{src}: no such folder (want the WJD folder holding melody/ and beats/)")
    report = run_import(Path(src), Path(output))
    click.echo(f"wrote {report.get('written')} MIDI files to {output}; skipped {report.get('skipped')}")


@main.command("run")
@click.argument("pipeline", type=click.Path(dir_okay=False))
@click.option("--set", "sets", multiple=True, metavar="SECTION.KEY=VALUE", help="Override one setting.")
@click.option("--resume", is_flag=True, help="Resume training if the run exists.")
@reports_errors
def run_pipeline(pipeline, sets, resume):
    """Run every stage of a recipe: preprocess, train, generate."""
    from jazzgen.config import load_config
    from jazzgen.stages.generate import generate as run_generate
    from jazzgen.stages.preprocess import preprocess as run_preprocess
    from jazzgen.stages.train import train as run_train

    cfg = load_config(pipeline, sets)
    name = Path(pipeline).stem
    corpus_dir = cfg.preprocess.output or f"corpora/{name}"
    run_dir = Path("runs") / name
    run_preprocess(replace(cfg.preprocess, output=corpus_dir), log=click.echo)
    run_train(corpus_dir, run_dir, cfg, resume=resume or (run_dir / "run.json").is_file(), log=click.echo)
    run_generate(run_dir, run_dir / "samples" / "solo.mid", cfg.generate, log=click.echo)
