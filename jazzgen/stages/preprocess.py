"""`jazzgen preprocess`: files -> corpus directory, built by the task the settings name."""

from __future__ import annotations

from collections.abc import Callable

from jazzgen.config import Config, PreprocessConfig
from jazzgen.errors import UsageError
from jazzgen.tasks import get_task


def preprocess(cfg: Config | PreprocessConfig, log: Callable[[str], None] = print,
               verbose: bool = False) -> dict:
    """Build the corpus `cfg.preprocess.output` from `cfg.preprocess.sources`; returns a summary.

    Args:
        cfg: the whole config (text tasks read [text] and [data]), or just its [preprocess].
        verbose: one line per kept file (tasks that read music files).

    Raises:
        UsageError: an unknown task, a setting the task does not read, no output directory.
        JazzgenError: no usable input at all.
    """
    config = cfg if isinstance(cfg, Config) else Config(preprocess=cfg)
    task = get_task(config.preprocess.task)
    task.check_preprocess(config, verbose)
    if not config.preprocess.output:
        raise UsageError("preprocess: give the corpus directory with -o")
    return task.preprocess(config, log=log, verbose=verbose)
