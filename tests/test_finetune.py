"""Fine-tuning (`train --from`): the vocabulary grows, trained rows start unchanged, the run works."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from jazzgen.cli import main
from jazzgen.core.corpus import read_corpus
from jazzgen.core.finetune import grow_weights, reindex_corpus
from jazzgen.core.models import ModelConfig, load_export
from jazzgen.core.rundir import open_run
from jazzgen.core.vocab import Vocab

ROOT = Path(__file__).resolve().parent.parent
TINY = str(ROOT / "pipelines" / "tiny.toml")
WJD = ROOT / "data" / "midi" / "wjd"
SOURCE_SOLOS = ["ArtPepper_Anthropology.mid", "CharlieParker_Ornithology.mid"]
NEW_SOLOS = ["MilesDavis_Airegin.mid", "JohnColtrane_GiantSteps-1.mid", "DavidLiebman_Milestones.mid"]


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_union_keeps_ids_and_adds_sorted_new_tokens():
    old = Vocab.from_tokens(["b", "d", "a"])
    new = old.union(Vocab.from_tokens(["c", "a", "e"]))
    assert new.tokens[: len(old)] == old.tokens
    assert new.tokens[len(old):] == ("c", "e")
    assert list(old.id_map(new)) == list(range(len(old)))
    assert new.id_map(old)[new.id("e")] == old.id("<unk>")


@pytest.mark.parametrize("embedding_dim", [4, 0])
def test_grow_weights_copies_trained_rows_exactly(embedding_dim):
    rng = np.random.default_rng(0)
    cfg = ModelConfig(units=3, embedding_dim=embedding_dim)
    old = Vocab.from_tokens(["x", "y"])                     # 6 ids
    new = old.union(Vocab.from_tokens(["x", "z", "w"]))       # 8 ids
    width = embedding_dim or 4 * cfg.units
    first = "embedding" if embedding_dim else "layer0/kernel"
    weights = {first: rng.normal(size=(len(old), width)), "head/kernel": rng.normal(size=(3, len(old))),
               "head/bias": rng.normal(size=len(old)), "layer0/recurrent_kernel": rng.normal(size=(3, 12))}
    grown = grow_weights(weights, cfg, old, new)
    assert grown[first].shape == (len(new), width)
    np.testing.assert_array_equal(grown[first][: len(old)], weights[first])
    np.testing.assert_array_equal(grown["head/kernel"][:, : len(old)], weights["head/kernel"])
    np.testing.assert_array_equal(grown["head/bias"][: len(old)], weights["head/bias"])
    np.testing.assert_array_equal(grown["layer0/recurrent_kernel"], weights["layer0/recurrent_kernel"])
    np.testing.assert_allclose(grown[first][len(old):], np.tile(weights[first].mean(0), (2, 1)))
    assert np.all(grown["head/kernel"][:, len(old):] == 0)
    assert np.all(grown["head/bias"][len(old):] == weights["head/bias"].min())
    with pytest.raises(ValueError, match="lacks"):
        grow_weights(weights, cfg, new, old)


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    """A tiny source run on two solos, then a run fine-tuned from it on three others."""
    tmp = tmp_path_factory.mktemp("finetune")
    for folder, names in (("src_a", SOURCE_SOLOS), ("src_b", NEW_SOLOS)):
        (tmp / folder).mkdir()
        for name in names:
            shutil.copy(WJD / name, tmp / folder / name)
    for folder, corpus in (("src_a", "corpus_a"), ("src_b", "corpus_b")):
        r = invoke("preprocess", tmp / folder, "-o", tmp / corpus)
        assert r.exit_code == 0, r.output
    r = invoke("train", tmp / "corpus_a", "-o", tmp / "source", "--pipeline", TINY, "--epochs", 1)
    assert r.exit_code == 0, r.output
    r = invoke("train", tmp / "corpus_b", "-o", tmp / "tuned", "--from", tmp / "source", "--pipeline", TINY,
               "--epochs", 1)
    assert r.exit_code == 0, r.output
    return tmp, r.output


def test_vocabulary_is_the_union_and_source_rows_start_equal(tuned):
    from jazzgen.core.engine import NumpyEngine
    from jazzgen.stages.finetune import start_from

    tmp, output = tuned
    source, run = open_run(tmp / "source"), open_run(tmp / "tuned")
    corpus = read_corpus(tmp / "corpus_b")
    assert "new get fresh rows" in output
    assert run.vocab.tokens[: len(source.vocab)] == source.vocab.tokens
    assert len(run.vocab) > len(source.vocab)
    assert all(t in run.vocab for t in corpus.vocab.tokens)          # nothing of the corpus is <unk>
    assert run.info["source"]["spec"] == str(tmp / "source")
    assert run.info["source"]["vocab_hash"] == source.vocab.hash
    # Step 0: the Keras model fine-tuning starts from gives the source's logits for every known value.
    start = start_from(str(tmp / "source"), corpus, log=lambda m: None)
    models = start.build(start.model)
    ids = reindex_corpus(corpus, start.vocab).piece_ids(0)[None, :40].astype(np.int32)  # (1, 40)
    known = ids.copy()
    known[known >= len(source.vocab)] = 4                             # inputs the source knows
    keras_logits = models.train(known).numpy()[0]                     # (40, V_new)
    reference = NumpyEngine.from_export(source.export_path).forward(known)[0]   # (40, V_old)
    np.testing.assert_allclose(keras_logits[:, : len(source.vocab)], reference, atol=1e-4)
    # and the export of the trained run has the grown shape
    assert load_export(run.export_path).weights["head/bias"].shape == (len(run.vocab),)


def test_generate_from_tuned_run_both_backends_same_notes(tuned):
    tmp, _ = tuned
    data = {}
    for name, seed, backend in (("a", 3, "numpy"), ("b", 3, "numpy"), ("k", 3, "keras")):
        out = tmp / "gen" / f"{name}.mid"
        r = invoke("generate", tmp / "tuned", "-o", out, "--bars", 8, "--seed", seed, "--backend", backend)
        assert r.exit_code == 0, r.output
        data[name] = out.read_bytes()
    assert data["a"] == data["b"] == data["k"]


def test_resume_and_evaluate_tuned_run(tuned):
    tmp, _ = tuned
    work = tmp / "resumed"
    shutil.copytree(tmp / "tuned", work)
    r = invoke("train", tmp / "corpus_b", "-o", work, "--resume", "--pipeline", TINY, "--epochs", 2)
    assert r.exit_code == 0, r.output
    assert "resuming from epoch 1" in r.output
    assert len((work / "history.csv").read_text().splitlines()) == 3
    # with dropout (chosen for this small corpus) the resumed run equals an uninterrupted one
    assert json.loads((work / "config.json").read_text())["model"]["dropout"] > 0
    r = invoke("train", tmp / "corpus_b", "-o", tmp / "straight", "--from", tmp / "source", "--pipeline", TINY,
               "--epochs", 2)
    assert r.exit_code == 0, r.output
    losses = [[row.split(",")[1:3] for row in (d / "history.csv").read_text().splitlines()[1:]]
              for d in (work, tmp / "straight")]
    assert losses[0] == losses[1]
    assert json.loads((work / "run.json").read_text())["source"]["spec"] == str(tmp / "source")
    r = invoke("evaluate", work, "--samples", 0, "--json")
    assert r.exit_code == 0, r.output
    result = json.loads([line for line in r.output.splitlines() if line.startswith("{")][-1])
    for key in ("loss", "zero_shot_loss", "baseline_loss"):
        assert result[key] is not None and np.isfinite(result[key]), key
    r = invoke("evaluate", work, "--samples", 0)
    assert "source, zero-shot" in r.output and "3-gram" in r.output


def test_mismatched_tokenizer_settings_are_one_line(tuned):
    tmp, _ = tuned
    r = invoke("preprocess", tmp / "src_b", "-o", tmp / "corpus_w3", "--set", "preprocess.window=3")
    assert r.exit_code == 0, r.output
    r = invoke("train", tmp / "corpus_w3", "-o", tmp / "never", "--from", tmp / "source", "--pipeline", TINY)
    assert r.exit_code == 2
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and "window: corpus 3, source 2" in lines[0], r.output
    assert not (tmp / "never" / "run.json").exists()
    r = invoke("train", tmp / "corpus_b", "-o", tmp / "never", "--from", tmp / "nowhere")
    assert r.exit_code == 2 and "no such run directory" in r.output


def test_size_defaults_apply_only_to_unstated_settings():
    from jazzgen.config import Config, apply_overrides
    from jazzgen.music.owndata import apply_size_defaults, size_defaults

    small = size_defaults(5_000, finetune=False)
    cfg, chosen = apply_size_defaults(Config(), 5_000, finetune=False, log=lambda m: None)
    assert chosen and cfg.model.dropout == small["dropout"] and cfg.train.epochs == small["epochs"]
    stated = apply_overrides(Config(), {"model": {"units": 32}, "train": {"batch_size": 8}}, "test")
    cfg, chosen = apply_size_defaults(stated, 5_000, finetune=False, log=lambda m: None)
    assert cfg.model == stated.model and cfg.train.batch_size == 8  # a stated group is kept
    assert cfg.train.patience == small["patience"]
    tuned, _ = apply_size_defaults(Config(), 5_000, finetune=True, log=lambda m: None)
    assert tuned.model.units == Config().model.units  # fine-tuning keeps the source's shape
    off = apply_overrides(Config(), {"train": {"auto_size": False}}, "test")
    assert apply_size_defaults(off, 5_000, finetune=False, log=lambda m: None) == (off, {})
    assert apply_size_defaults(Config(), 216_672, finetune=False, log=lambda m: None) == (Config(), {})


def test_corpus_report_counts_chords_short_pieces_and_warns():
    from jazzgen.music.owndata import corpus_report

    pieces = [{"source": "a.mid", "bars": 8, "chords": [["Dm7", 0.0, 4.0]], "chord_source": "chord symbols"},
              {"source": "b.mid", "bars": 4, "chords": [["NC", 0.0, 16.0]], "chord_source": ""}]
    lines, warnings = corpus_report(pieces, [100, 20], seq_len=64)
    assert lines[0].startswith("pieces: 2, 12 bars, 120 values")
    assert "with chords: 1 of 2 (chord symbols 1)" in lines
    assert any("1 piece shorter than one 64-value" in line for line in lines)
    assert any("1 piece has no chords" in w for w in warnings)
    assert any("--from default" in w for w in warnings)
    _, warnings = corpus_report(pieces[1:], [20], seq_len=64, finetune=True)
    assert any(w.startswith("one piece") for w in warnings) and any("no piece has chords" in w for w in warnings)
    assert not any("--from default" in w for w in warnings)


def test_one_piece_corpus_is_a_clear_error(tmp_path):
    shutil.copy(WJD / SOURCE_SOLOS[0], tmp_path / SOURCE_SOLOS[0])
    r = invoke("preprocess", tmp_path / SOURCE_SOLOS[0], "-o", tmp_path / "one")
    assert r.exit_code == 0 and "warning: one piece" in r.output, r.output
    r = invoke("train", tmp_path / "one", "-o", tmp_path / "run")
    assert r.exit_code == 1 and r.output.count("\n") == 1 and "one piece" in r.output, r.output


def test_learning_curve_script_runs_on_the_shipped_sample(tmp_path):
    import subprocess
    import sys

    cmd = [sys.executable, str(ROOT / "benchmarks" / "learning_curve.py"),
           "--source", str(ROOT / "data" / "leadsheets"), "--test", "2", "--sizes", "all", "--epochs", "1",
           "--work", str(tmp_path), "--png", str(tmp_path / "c.png")]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result["test_pieces"] == 2 and result["pieces"] == 6
    (row,) = result["sizes"]
    assert row["pieces"] == 4
    for key in ("ngram_perplexity", "scratch_perplexity", "finetune_perplexity", "zero_shot_perplexity"):
        assert np.isfinite(row[key]) and row[key] > 1, key
    assert row["finetune_seconds"] > 0 and row["scratch_seconds"] > 0
    assert (tmp_path / "c.png").stat().st_size > 1000
