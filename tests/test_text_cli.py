"""The text tasks end to end through the CLI on tiny models and slices of the project's data:
preprocess -> train (1-3 epochs) -> generate / predict -> evaluate --json."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from jazzgen.cli import main

pytest.importorskip("keras")

DATA = Path(__file__).resolve().parent.parent / "data" / "text"
TINY = ["--set", "model.units=8", "--set", "model.embedding_dim=4", "--set", "train.batch_size=16",
        "--set", "data.seq_len=16", "--set", "data.stride=16"]


def jazzgen(*args: str, ok: bool = True):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result


def first_lines(src: Path, dst: Path, n: int, newline: str = "\n") -> Path:
    text = src.read_bytes().decode("utf-8", errors="replace")
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    dst.write_bytes(newline.join(lines[:n]).encode("utf-8"))
    return dst


def last_json(output: str) -> dict:
    return json.loads([line for line in output.splitlines() if line.startswith("{")][-1])


@pytest.fixture(scope="module")
def dinos(tmp_path_factory):
    """A tiny Keras character model of 300 dinosaur names (CR LF line endings)."""
    tmp = tmp_path_factory.mktemp("dinos")
    src = first_lines(DATA / "dinos.txt", tmp / "dinos.txt", 300, newline="\r\n")
    jazzgen("preprocess", src, "--task", "chars", "--set", "text.lowercase=true",
            "-o", tmp / "corpus")
    jazzgen("train", tmp / "corpus", "-o", tmp / "run", "--epochs", 2, *TINY)
    return tmp


def test_char_lm_generates_names_ending_at_eos(dinos):
    out = jazzgen("generate", dinos / "run", "-n", 10, "--seed", 3).output.splitlines()
    names = [line for line in out if not line.startswith(("warning", "I0000", "WARNING"))]
    assert len(names) == 10 and all(re.fullmatch(r"[a-z]+", n) for n in names), names
    again = jazzgen("generate", dinos / "run", "-n", 10, "--seed", 3).output.splitlines()
    assert [line for line in again if re.fullmatch(r"[a-z]+", line)] == names  # same seed
    primed = jazzgen("generate", dinos / "run", "-n", 3, "--primer", "Tyranno",
                     "--length", 5).output
    assert all(line.startswith("tyranno") and len(line) <= 12 for line in primed.splitlines()[-3:])
    jazzgen("generate", dinos / "run", "-n", 4, "-o", dinos / "names.txt")
    assert len((dinos / "names.txt").read_text(encoding="utf-8").splitlines()) == 4


def test_text_generation_and_evaluation_never_import_tensorflow(dinos):
    code = ("import sys; from click.testing import CliRunner; from jazzgen.cli import main; "
            f"run = {str(dinos / 'run')!r}; "
            "a = CliRunner().invoke(main, ['generate', run, '-n', '2']); "
            "b = CliRunner().invoke(main, ['evaluate', run, '--json', '--samples', '5']); "
            "assert a.exit_code == b.exit_code == 0, (a.output, b.output); "
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


def test_char_lm_evaluate_json(dinos):
    result = last_json(jazzgen("evaluate", dinos / "run", "--json", "--samples", 20).output)
    for key in ("loss", "perplexity", "baseline_loss", "baseline_perplexity", "novel_fraction"):
        assert key in result
    assert result["task"] == "chars" and 0 < result["loss"] < math.log(40)
    assert math.isclose(result["perplexity"], math.exp(result["loss"]))
    assert 0 <= result["novel_fraction"] <= 1 and result["samples"] == 20
    human = jazzgen("evaluate", dinos / "run", "--samples", 0).output
    assert "perplexity:" in human and "baseline_perplexity:" in human


def test_numpy_backend_trains_dinos_and_lowers_the_loss(tmp_path):
    src = first_lines(DATA / "dinos.txt", tmp_path / "dinos.txt", 200)
    jazzgen("preprocess", src, "--task", "chars", "--set", "text.lowercase=true",
            "-o", tmp_path / "c")
    log = jazzgen("train", tmp_path / "c", "-o", tmp_path / "run", "--epochs", 3, "--set",
                  "text.backend=numpy", "--set", "model.embedding_dim=0", "--set", "model.cell=rnn",
                  "--set", "train.learning_rate=0.01", *TINY[:2], *TINY[4:],
                  "--set", "data.seq_len=32").output
    assert "numpy" in log
    history = (tmp_path / "run" / "history.csv").read_text().splitlines()[1:]
    losses = [float(row.split(",")[1]) for row in history]
    val = [float(row.split(",")[2]) for row in history]
    assert len(losses) == 3 and losses[-1] < losses[0] and val[-1] < val[0]
    names = jazzgen("generate", tmp_path / "run", "-n", 5).output.splitlines()
    assert len(names) == 5 and all(re.fullmatch(r"[a-z]*", n) for n in names)
    result = last_json(jazzgen("evaluate", tmp_path / "run", "--json", "--samples", 0).output)
    assert math.isclose(result["loss"], min(val), rel_tol=1e-3)  # whole names = one window each


def test_word_lm_sentence_probability(tmp_path):
    src = first_lines(DATA / "sonnets.txt", tmp_path / "sonnets.txt", 300)
    jazzgen("preprocess", src, "--task", "words", "--set", "text.lowercase=true",
            "--set", "text.min_count=2", "-o", tmp_path / "c")
    vocab = json.loads((tmp_path / "c" / "vocab.json").read_text())["tokens"]
    assert "<unk>" in vocab and "thee" in vocab and "," in vocab
    jazzgen("train", tmp_path / "c", "-o", tmp_path / "run", "--epochs", 1, *TINY)
    result = last_json(jazzgen("evaluate", tmp_path / "run", "--json", "--samples", 3,
                               "--sentence", "Shall I compare thee to a summer's day?").output)
    s = result["sentence"]
    assert s["tokens"] == 10 and s["per_token"][-1][0] == "<eos>"  # 9 words and marks + <eos>
    assert math.isclose(s["log_prob"], sum(math.log(p) for _, p in s["per_token"]), rel_tol=1e-4)
    assert s["log_prob"] < 0 and "baseline_log_prob" in s and "baseline_perplexity" in result
    lines = jazzgen("generate", tmp_path / "run", "-n", 3, "--length", 8).output.splitlines()
    assert len(lines) == 3 and "<unk>" not in " ".join(lines)


def test_sentiment_classifier_evaluate_and_predict(tmp_path):
    # The yelp file has CR line endings only; imdb has undecodable bytes in places.
    sources = []
    for name in ("yelp_labelled.txt", "imdb_labelled.txt"):
        data = (DATA / "sentiment" / name).read_bytes()
        (tmp_path / name).write_bytes(data[:12000])
        sources.append(tmp_path / name)
    recipe = tmp_path / "tiny-sentiment.toml"
    recipe.write_text('[preprocess]\ntask = "classify"\n[text]\nlowercase = true\n'
                      'label_names = ["0=negative", "1=positive"]\n'
                      '[model]\nhead = "classify"\nbidirectional = true\n')
    jazzgen("preprocess", *sources, "--pipeline", recipe, "-o", tmp_path / "c")
    jazzgen("train", tmp_path / "c", "-o", tmp_path / "run", "--epochs", 1, *TINY,
            "--pipeline", recipe)
    result = last_json(jazzgen("evaluate", tmp_path / "run", "--json").output)
    for key in ("loss", "accuracy", "macro_f1", "baseline_accuracy", "baseline_macro_f1"):
        assert 0 <= result[key] <= (1 if key != "loss" else 5)
    assert result["split"] == "test" and result["majority_label"] in ("negative", "positive")
    out = jazzgen("predict", tmp_path / "run", "The food was great!", "Awful service.").output
    lines = [line for line in out.splitlines() if "\t" in line]
    assert len(lines) == 2
    assert all(re.fullmatch(r"(negative|positive)\t[01]\.\d{4}", x) for x in lines)


def test_tagger_bidirectional_stacked_entity_f1(tmp_path):
    src = first_lines(DATA / "wnut17" / "wnut17train.conll", tmp_path / "train.conll", 3000)
    test = first_lines(DATA / "wnut17" / "emerging.test.annotated", tmp_path / "test.conll", 800)
    jazzgen("preprocess", src, test, "--task", "tag", "--set", "text.split=files",
            "--set", "text.unknown=shape", "-o", tmp_path / "c")
    jazzgen("train", tmp_path / "c", "-o", tmp_path / "run", "--epochs", 1, *TINY,
            "--set", "model.head=tag", "--set", "model.bidirectional=true",
            "--set", "model.layers=2")
    result = last_json(jazzgen("evaluate", tmp_path / "run", "--json").output)
    for key in ("loss", "accuracy", "baseline_accuracy", "entity_f1", "baseline_entity_f1"):
        assert key in result
    out = jazzgen("predict", tmp_path / "run", "Going to New York with Zorblax").output
    rows = [line.split("\t") for line in out.splitlines() if line.count("\t") == 2]
    assert [r[0] for r in rows] == ["Going", "to", "New", "York", "with", "Zorblax"]
    assert all(re.fullmatch(r"O|[BI]-[a-z-]+", r[1]) for r in rows)


def test_dates_encoder_decoder(tmp_path):
    jazzgen("preprocess", "--task", "dates", "--set", "text.dates=400", "-o", tmp_path / "c")
    jazzgen("train", tmp_path / "c", "-o", tmp_path / "run", "--epochs", 2,
            "--set", "model.units=16", "--set", "model.embedding_dim=8",
            "--set", "train.batch_size=32")
    result = last_json(jazzgen("evaluate", tmp_path / "run", "--json").output)
    assert result["task"] == "dates" and 0 <= result["exact_match"] <= 1 and result["loss"] > 0
    out = jazzgen("predict", tmp_path / "run", "3 May 1979").output.splitlines()[-1]
    assert re.fullmatch(r"[^\t]*\t[01]\.\d{4}", out)
    out = jazzgen("generate", tmp_path / "run", "-n", 3).output
    lines = [x for x in out.splitlines() if "\t" in x]
    assert len(lines) == 3


def test_bad_input_files_fail_in_one_line(tmp_path):
    c = tmp_path / "c"
    r = jazzgen("preprocess", tmp_path / "missing.txt", "--task", "chars", "-o", c, ok=False)
    assert r.exit_code == 2 and r.output.count("\n") == 1 and "no such file" in r.output
    (tmp_path / "empty.txt").write_bytes(b"")
    r = jazzgen("preprocess", tmp_path / "empty.txt", "--task", "words", "-o", c, ok=False)
    assert r.exit_code == 1 and r.output.count("\n") == 1 and "empty file" in r.output
    (tmp_path / "x.bin").write_bytes(bytes(range(256)) * 4)
    r = jazzgen("preprocess", tmp_path / "x.bin", "--task", "chars", "-o", c, ok=False)
    assert r.exit_code == 1 and r.output.count("\n") == 1 and "not a text file" in r.output
    (tmp_path / "nolabels.txt").write_text("just a sentence\nanother one\n")
    r = jazzgen("preprocess", tmp_path / "nolabels.txt", "--task", "classify", "-o", c, ok=False)
    assert r.exit_code == 1 and "no labelled lines" in r.output


def test_jazz_faces_refuse_a_text_run(dinos):
    # The music side recognises a run by its recorded music tokenizer, never by the task's name.
    import jazzgen as api
    from jazzgen.errors import JazzgenError, UsageError
    from jazzgen.music.tokenizers import music_tokenizer
    from jazzgen.web.studio import Studio

    assert music_tokenizer({"task": "chars", "tokenizer": {"name": "chars"}}) is None
    with pytest.raises(UsageError, match="chars run"):
        api.generate(chords="Dm7 G7 | Cmaj7", model=dinos / "run")
    with pytest.raises(JazzgenError, match="values tokenizer"):
        Studio(dinos / "run")
