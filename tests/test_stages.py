"""The generic stages: options a task cannot use are usage errors naming option and task, and
`jazzgen run` ends with an evaluation for text recipes as for jazz ones."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from jazzgen.cli import main
from jazzgen.tasks import TASK_NAMES, get_task

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = ROOT / "jazzgen" / "assets" / "default_model"


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.mark.parametrize(("args", "option", "task"), [
    (["preprocess", "data/text/dinos.txt", "-o", "{tmp}/c", "--task", "chars", "--part", "1/2"], "--part", "chars"),
    (["preprocess", "data/text/dinos.txt", "-o", "{tmp}/c", "--task", "words", "--tokenizer", "events"],
     "--tokenizer", "words"),
    (["preprocess", "data/text/dinos.txt", "-o", "{tmp}/c", "--task", "chars", "--shard-size", "100"],
     "--shard-size", "chars"),
    (["preprocess", "data/text/dinos.txt", "-o", "{tmp}/c", "--task", "tag", "-v"], "-v", "tag"),
    (["preprocess", "data/midi/wjd", "-o", "{tmp}/c", "--set", "text.unit=block"], "text.unit", "jazz"),
    (["generate", DEFAULT_MODEL, "-o", "{tmp}/x.mid", "--length", "5"], "--length", "jazz"),
    (["evaluate", DEFAULT_MODEL, "--sentence", "la la"], "--sentence", "jazz"),
])
def test_an_option_the_task_cannot_use_is_a_usage_error(args, option, task, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    r = invoke(*[str(a).format(tmp=tmp_path) for a in args])
    assert r.exit_code == 2, r.output
    assert r.output.count("\n") == 1 and option in r.output and f"the {task} task" in r.output
    assert not (tmp_path / "c").exists() and not (tmp_path / "x.mid").exists()  # refused before work


def test_every_registered_task_loads_and_names_itself():
    for name in TASK_NAMES:
        assert get_task(name).name == name
    r = invoke("preprocess", "x", "-o", "y", "--set", "preprocess.task=poetry")
    assert r.exit_code == 2 and "unknown task 'poetry'" in r.output


@pytest.mark.slow
def test_run_text_recipe_ends_with_an_evaluation(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    names = (ROOT / "data" / "text" / "dinos.txt").read_text(encoding="utf-8").splitlines()[:150]
    (tmp_path / "dinos.txt").write_text("\n".join(names), encoding="utf-8")
    r = invoke("run", ROOT / "pipelines" / "dinos.toml", "--set", f"preprocess.sources={tmp_path / 'dinos.txt'}",
               "--set", "train.epochs=2", "--set", "model.units=16", "--set", "generate.count=3")
    assert r.exit_code == 0, r.output
    assert len((tmp_path / "runs" / "dinos" / "samples.txt").read_text(encoding="utf-8").splitlines()) == 3
    tail = r.output[r.output.index("wrote 3 samples"):]  # the evaluation comes after the samples
    assert "task: chars" in tail and "perplexity:" in tail and "baseline_perplexity:" in tail
