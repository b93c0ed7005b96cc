"""`jazzgen generate [RUN_DIR]`: samples of a run (no RUN_DIR: the bundled default model).

The run's task decides what a sample is (a MIDI solo over chord changes, a line of text) and
which options apply; an option it cannot use is a usage error naming it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from jazzgen.config import GenerateConfig, apply_overrides, parse_set_options
from jazzgen.core.rundir import open_run
from jazzgen.tasks import default_run_dir, get_task
from jazzgen.tasks.base import GenerateRequest, given


def generate(run_dir: str | Path | None, out: str | Path | None = None, g: GenerateConfig | None = None,
             chords_text: str | None = None, bars_given: bool = False,
             log: Callable[[str], None] = print, primer: str | Path | None = None, *,
             length: int | None = None, wav: bool = False, png: bool = False,
             sets: tuple[str, ...] = (), changes: dict | None = None, **performance) -> list:
    """Sample from a run as its task does; returns what was written (paths, or the texts).

    Args:
        g: the [generate] settings (None: the run's own, with `sets` (--set pairs) applied);
        changes: fields given as options, applied on top of either.
        chords_text, primer, length, wav, png: the command-line options of the same names
            (None/False = not given); `bars_given` says whether `g.bars` was given as --bars.
        performance: the jazz performance options (chart, tune, tempo, time, key, instrument,
            band, style, swing, musicxml, pdf, svg), fields of `GenerateRequest`.
    """
    run = open_run(run_dir or default_run_dir(), warn=lambda m: print(m, file=sys.stderr))
    task = get_task(run.task.get("task"))
    if g is None:
        g = (apply_overrides(run.config, parse_set_options(sets), "--set") if sets else run.config).generate
    g = replace(g, **(changes or {}))
    request = GenerateRequest(out=Path(out) if out else None, chords=chords_text,
                              bars=g.bars if bars_given else None,
                              primer=str(primer) if primer is not None else None,
                              length=length, wav=wav, png=png, **performance)
    task.refuse(given(request), task.generate_options, "generate")
    return task.generate(run, replace(run.config, generate=g), request, log)


def perform(count: int = 1, model: str | Path | None = None, **options) -> list:
    """`count` performances of the run `model` (None: the bundled one) over chord changes,
    with a band (the Python API's `generate`; options as `jazzgen.api.generate`)."""
    run = open_run(model or default_run_dir(), warn=lambda m: print(m, file=sys.stderr))
    return get_task(run.task.get("task")).perform(run, count, **options)
