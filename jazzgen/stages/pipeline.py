"""`jazzgen run pipelines/NAME.toml`: every stage of a recipe, ending with an evaluation.

preprocess -> corpora/NAME (or preprocess.output), train -> runs/NAME (resumed when it exists),
samples into the run directory (tasks that generate), then `evaluate` on the held-out data
(and, for tasks that judge files, on the samples just written).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from jazzgen.config import Config
from jazzgen.stages.evaluate import evaluate
from jazzgen.stages.generate import generate
from jazzgen.stages.preprocess import preprocess
from jazzgen.stages.train import train
from jazzgen.tasks import get_task


def pipeline_dirs(cfg: Config, name: str, runs_root: str | Path = "runs") -> tuple[str, Path]:
    """(corpus directory, run directory) the recipe `name` writes (the CLI locks both)."""
    return cfg.preprocess.output or f"corpora/{name}", Path(runs_root) / name


def run_pipeline(cfg: Config, name: str, resume: bool = False, log: Callable[[str], None] = print,
                 runs_root: str | Path = "runs") -> dict:
    """Run a recipe named `name`; returns the evaluation's result."""
    task = get_task(cfg.preprocess.task)
    corpus_dir, run_dir = pipeline_dirs(cfg, name, runs_root)
    preprocess(replace(cfg, preprocess=replace(cfg.preprocess, output=corpus_dir)), log=log)
    train(corpus_dir, run_dir, cfg, resume=resume or (run_dir / "run.json").is_file(), log=log)
    written = generate(run_dir, run_dir / task.samples_file, cfg.generate, log=log) if task.samples_file else []
    if "files" in task.evaluate_options:  # judge the pieces just written
        return evaluate(run_dir, files=tuple(str(p) for p in written), log=log)
    samples = 0 if "samples" in task.evaluate_options else None  # the samples above suffice
    return evaluate(run_dir, samples=samples, log=log)
