"""`jazzgen run pipelines/<text recipe>.toml`: preprocess, train, then samples or an evaluation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from jazzgen.config import Config


def run_text_pipeline(cfg: Config, corpus_dir: str, run_dir: Path, resume: bool,
                      log: Callable[[str], None] = print) -> None:
    """Every stage of a text recipe; resumes training when the run directory already exists."""
    from jazzgen.stages.evaluate import evaluate
    from jazzgen.stages.rundir import open_run
    from jazzgen.stages.train import train
    from jazzgen.text.inference import LM_TASKS, generate_text
    from jazzgen.text.preprocess import preprocess_text

    preprocess_text(replace(cfg, preprocess=replace(cfg.preprocess, output=corpus_dir)), log=log)
    train(corpus_dir, run_dir, cfg, resume=resume or (run_dir / "run.json").is_file(), log=log)
    if cfg.preprocess.task in LM_TASKS + ("dates",):
        run = open_run(run_dir)
        generate_text(run, cfg.generate, cfg.text.primer, cfg.text.length,
                      run_dir / "samples.txt", echo=log)
    evaluate(run_dir, samples=0, log=log)
