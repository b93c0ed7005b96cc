"""The stages, task-agnostic: preprocess, train, generate, evaluate, predict, and `run` for all.

Each is a short function over config data: open the corpus or run, look its task up in the
registry (`jazzgen.tasks`), call it, write the result. `jazzgen/cli.py` is a thin shell over them.
"""

from jazzgen.core.lock import dir_lock  # a stage's output directory is held while it writes
from jazzgen.tasks import DEFAULT_TASK, TASK_NAMES

__all__ = ["DEFAULT_TASK", "TASK_NAMES", "dir_lock"]
