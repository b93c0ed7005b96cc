"""`jazzgen evaluate RUN_DIR`: score a run on data it did not train on.

Dispatches on the task recorded in the run: text runs to `jazzgen.text.inference.evaluate_text`,
jazz runs to `jazzgen.music.evaluate.evaluate_jazz`. With `as_json` the text result is printed
as one JSON object (its `loss` is the held-out mean loss in nats per value).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

from jazzgen.errors import UsageError
from jazzgen.stages.rundir import open_run

TEXT_SAMPLES = 100  # language models: samples drawn to measure the share of novel pieces
JAZZ_SAMPLES = 8  # jazz: solos generated to measure


def _human(result: dict, indent: str = "") -> list[str]:
    """`key: value` lines, floats to 4 significant places, nested dicts indented."""
    lines = []
    for key, value in result.items():
        if isinstance(value, dict):
            lines.append(f"{indent}{key}:")
            lines += _human(value, indent + "  ")
        elif isinstance(value, float):
            lines.append(f"{indent}{key}: {value:.4g}")
        elif isinstance(value, list) and value and isinstance(value[0], str):
            lines.append(f"{indent}{key}:")
            lines += [f"{indent}  {item!r}" for item in value]
        else:
            lines.append(f"{indent}{key}: {value}")
    return lines


def _events_report(run, result: dict) -> str:
    """Adds pitch and duration perplexity (events runs) to `result`; returns their report lines."""
    from jazzgen.core.corpus import read_corpus
    from jazzgen.music.events import events_perplexities

    figures = result["events"] = events_perplexities(run, read_corpus(result["corpus_path"]))
    if figures["pitch_perplexity"] is None:
        return "events: no held-out piece in its own key to score"
    mingus = figures["mingus"]
    return (f"\nevents, held-out pieces in their own key ({figures['pieces']}):\n"
            f"  {'':<22}{'targets':>10}{'perplexity':>12}{'MINGUS test':>13}\n"
            f"  {'pitch (and rest)':<22}{figures['pitch_targets']:>10}"
            f"{figures['pitch_perplexity']:>12.3f}{mingus['pitch']:>13.1f}\n"
            f"  {'duration':<22}{figures['duration_targets']:>10}"
            f"{figures['duration_perplexity']:>12.3f}{mingus['duration']:>13.1f}")


def _listening_report(run, result: dict, seed: int) -> str:
    """Adds the two-sample test over the held-out pieces to `result`; returns its report."""
    from jazzgen.core.corpus import read_corpus
    from jazzgen.music.listening import format_listening, heldout_pairs, listening_test
    from jazzgen.music.solos import load_articulation

    print("playing over every held-out piece's changes for the two-sample test", file=sys.stderr)
    generated, human = heldout_pairs(run, read_corpus(result["corpus_path"]), seed=seed,
                                     articulation=load_articulation(run))
    result["two_sample"] = listening_test(generated, human)
    return format_listening(result["two_sample"])


def evaluate(run_dir: str | Path | None, as_json: bool = False, samples: int | None = None,
             sentence: str | None = None, seed: int = 0, corpus_dir: str | Path | None = None,
             files: tuple[str, ...] = (), log: Callable[[str], None] = print) -> dict:
    """Evaluate a run directory and print the result; returns it as a dict.

    Args:
        samples: pieces to generate for sample statistics (default 100 text, 8 jazz; 0 = none).
        sentence: (text language models) also report the probability of this sentence.
        corpus_dir: the training corpus, if it moved since training.
        files: (jazz) MIDI solos to judge instead of generating `samples` of them.
    """
    run = open_run(run_dir, warn=lambda m: print(m, file=sys.stderr))
    task = run.task.get("task")
    if task == "jazz":
        if sentence is not None:
            raise UsageError("--sentence is for text language models")
        from jazzgen.music.evaluate import evaluate_jazz, format_report

        result = evaluate_jazz(run, files, corpus_dir=corpus_dir, seed=seed,
                               n_generate=JAZZ_SAMPLES if samples is None else samples,
                               log=lambda m: print(m, file=sys.stderr))
        report = format_report(result)
        if run.task.get("tokenizer", {}).get("name") == "events" and result.get("corpus_path"):
            report += "\n" + _events_report(run, result)
        if result.get("corpus_path") and not files and (samples is None or samples > 0):
            report += "\n\n" + _listening_report(run, result, seed)
        log(json.dumps(result, ensure_ascii=False) if as_json else report)
        return result
    if files:
        raise UsageError("FILES are MIDI solos to judge with a jazz run")
    from jazzgen.text.inference import evaluate_text

    result = evaluate_text(run, sentence=sentence, seed=seed, corpus_dir=corpus_dir,
                           samples=TEXT_SAMPLES if samples is None else samples)
    if as_json:
        log(json.dumps(result, ensure_ascii=False))
    else:
        for line in _human(result):
            log(line)
    return result
