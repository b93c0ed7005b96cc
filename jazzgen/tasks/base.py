"""The Task interface: what the generic stages ask of a task, and the requests they pass it.

A task is one object that owns everything particular about its data: which settings it
accepts, how files become a corpus, what training learns (a `TrainingPlan`), how a run
generates, evaluates and predicts. The stages open corpora and runs, look the task up in the
registry (`jazzgen.tasks.get_task`) and call these methods; they never test a task's name.

An option a task cannot use is a usage error that names the option and the task: the defaults
below refuse everything, and a task lists what it accepts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from jazzgen.config import Config, PreprocessConfig
from jazzgen.core.corpus import Corpus
from jazzgen.core.plan import TrainingPlan
from jazzgen.core.rundir import Run
from jazzgen.errors import UsageError

Log = Callable[[str], None]


@dataclass(frozen=True)
class GenerateRequest:
    """What `jazzgen generate` was asked beyond the [generate] settings (None/False = not given)."""

    out: Path | None = None  # output file (None: the task's default, or stdout for text)
    chords: str | None = None  # --chords: typed changes
    bars: int | None = None  # --bars, when given on the command line
    primer: str | None = None  # --primer: a file (jazz) or text (language models, dates)
    length: int | None = None  # --length: most tokens per text sample
    wav: bool = False  # --wav: audio beside each file written
    png: bool = False  # --png: a picture beside each file written
    # Jazz performance options (docs/charts.md; `jazzgen.generate` documents each)
    chart: str | None = None  # --chart FILE: a chord chart
    tune: str | None = None  # --tune NAME: a tune of the tune book
    tempo: float | None = None  # --tempo BPM
    time: str | None = None  # --time N/D: the meter of typed changes
    key: str | None = None  # --key K: transpose the changes
    instrument: str | None = None  # --instrument NAME|PROGRAM
    band: str | None = None  # --band trio|bass|none
    style: str | None = None  # --style swing|ballad|bossa|waltz
    swing: float | None = None  # --swing R
    musicxml: bool = False  # --musicxml: a lead sheet beside the MIDI
    pdf: bool = False  # --pdf: the lead sheet engraved
    svg: bool = False  # --svg: the lead sheet engraved


@dataclass(frozen=True)
class EvaluateRequest:
    """What `jazzgen evaluate` was asked (None/() = not given)."""

    files: tuple[str, ...] = ()  # FILES: pieces to judge instead of generated ones
    sentence: str | None = None  # --sentence: its probability under a language model
    samples: int | None = None  # --samples: pieces to generate for sample statistics
    seed: int = 0  # --seed of those samples
    corpus_dir: str | None = None  # --corpus: the training corpus, if it moved


# How each request field is spelled on the command line, for error messages.
OPTION_NAMES = {"chords": "--chords", "bars": "--bars", "primer": "--primer", "length": "--length",
                "wav": "--wav", "png": "--png", "chart": "--chart", "tune": "--tune", "tempo": "--tempo",
                "time": "--time", "key": "--key", "instrument": "--instrument", "band": "--band",
                "style": "--style", "swing": "--swing", "musicxml": "--musicxml", "pdf": "--pdf", "svg": "--svg",
                "files": "FILES", "sentence": "--sentence",
                "samples": "--samples", "melody_track": "--melody-track", "workers": "--workers",
                "shard_size": "--shard-size", "part": "--part", "tokenizer": "--tokenizer",
                "verbose": "-v", "all_keys": "preprocess.all_keys",
                "events_tempo": "preprocess.events_tempo", "window": "preprocess.window",
                "max_file_mb": "preprocess.max_file_mb", "max_notes": "preprocess.max_notes",
                "file_timeout_s": "preprocess.file_timeout_s"}
# Settings every task's `preprocess` reads.
COMMON_PREPROCESS = frozenset({"sources", "output", "task"})


def given(request) -> list[str]:
    """Names of the request fields that were given (not None, not False, not empty)."""
    return [f.name for f in dataclasses.fields(request)
            if f.name not in ("out", "seed", "corpus_dir")
            and getattr(request, f.name) not in (None, False, ())]


class Task:
    """One kind of data and model. Subclasses set `name` and the accepted options."""

    name: str = ""
    generate_options: frozenset[str] = frozenset()  # GenerateRequest fields it uses
    evaluate_options: frozenset[str] = frozenset()  # EvaluateRequest fields it uses
    preprocess_settings: frozenset[str] = frozenset()  # [preprocess] keys beyond the common ones
    samples_file: str | None = None  # `jazzgen run`: where generated samples go in the run dir

    # ---- option checks ----------------------------------------------------------------------

    def refuse(self, names: Sequence[str], accepted: frozenset[str], what: str) -> None:
        """UsageError naming the first option in `names` this task does not accept."""
        for name in names:
            if name not in accepted:
                raise UsageError(f"{OPTION_NAMES.get(name, name)} does not apply to the "
                                 f"{self.name} task ({what})")

    def check_preprocess(self, cfg: Config, verbose: bool = False) -> None:
        """Refuse [preprocess] settings (or -v) this task does not read."""
        default = PreprocessConfig()
        changed = [f.name for f in dataclasses.fields(default)
                   if getattr(cfg.preprocess, f.name) != getattr(default, f.name)]
        self.refuse(changed + (["verbose"] if verbose else []),
                    COMMON_PREPROCESS | self.preprocess_settings, "preprocess")

    # ---- the stages' calls ------------------------------------------------------------------

    def preprocess(self, cfg: Config, log: Log, verbose: bool = False) -> dict:
        """Build a corpus directory from `cfg.preprocess.sources`; returns a summary dict."""
        raise NotImplementedError

    def train_settings(self, corpus: Corpus, cfg: Config, finetune: bool, log: Log) -> tuple[Config, dict]:
        """Report what the corpus holds and fill settings chosen from it -> (config, {key: chosen})."""
        return cfg, {}

    def training_plan(self, corpus: Corpus, cfg: Config) -> TrainingPlan:
        """Check the settings and say what to train (splits, data, heads, export)."""
        raise NotImplementedError

    def generate(self, run: Run, cfg: Config, request: GenerateRequest, log: Log) -> list:
        """Write or print samples of a run; returns what was written (paths or texts)."""
        raise UsageError(f"{run.path}: a {self.name} run generates nothing")

    def evaluate(self, run: Run, request: EvaluateRequest, log: Log) -> tuple[dict, str]:
        """Score a run on held-out data -> (JSON-able result, human-readable report)."""
        raise NotImplementedError

    def perform(self, run: Run, count: int, **options) -> list:
        """`count` performances of the opened `run` over chord changes (the Python API's `generate`)."""
        raise UsageError(f"{run.path}: a {self.name} run does not play over chord changes")

    def predict(self, run: Run, texts: Sequence[str]) -> list[str]:
        """Output lines for input texts."""
        raise UsageError(f"{run.path}: predict labels text with a classify, tag or dates run; "
                         f"a {self.name} run does not")


def dict_report(result: dict, indent: str = "") -> str:
    """`key: value` lines, floats to 4 significant places, nested dicts indented."""
    lines = []
    for key, value in result.items():
        if isinstance(value, dict):
            lines.append(f"{indent}{key}:")
            lines.append(dict_report(value, indent + "  "))
        elif isinstance(value, float):
            lines.append(f"{indent}{key}: {value:.4g}")
        elif isinstance(value, list) and value and isinstance(value[0], str):
            lines.append(f"{indent}{key}:")
            lines += [f"{indent}  {item!r}" for item in value]
        else:
            lines.append(f"{indent}{key}: {value}")
    return "\n".join(lines)
