"""Character taggers: unseen words get their own vectors, padding changes nothing, Viterbi keeps
BIO valid, and a tagging task decided by suffixes is learned on words never seen in training."""

from __future__ import annotations

import gzip
import itertools
import json

import numpy as np
import pytest
from click.testing import CliRunner

from jazzgen.cli import main
from jazzgen.text.decoding import allowed_moves, transition_scores, viterbi, weighted
from jazzgen.text.metrics import entity_f1_by_type, invalid_bio, split_accuracy

BIO = ["B-loc", "B-person", "I-loc", "I-person", "O"]


def jazzgen(*args):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def last_json(output: str) -> dict:
    return json.loads([line for line in output.splitlines() if line.startswith("{")][-1])


# ---- decoding and metrics (numpy only) ---------------------------------------------------------

@pytest.mark.parametrize("weight", [1.0, 0.5, 0.0])
def test_viterbi_never_outputs_invalid_bio_on_random_scores(weight):
    rng = np.random.default_rng(0)
    train = [list(rng.choice(BIO, size=8)) for _ in range(50)]  # counts from noisy sequences
    start, move = (weighted(a, weight) for a in transition_scores(train, BIO))
    greedy_bad = 0
    for _ in range(300):
        log_probs = np.log(rng.dirichlet(np.ones(len(BIO)), size=int(rng.integers(1, 12))))
        path = [BIO[k] for k in viterbi(log_probs, start, move)]
        assert len(path) == len(log_probs)
        assert invalid_bio(path) == 0, path
        greedy_bad += invalid_bio([BIO[k] for k in log_probs.argmax(axis=1)])
    assert greedy_bad > 0  # the per-word argmax does break BIO on the same scores


def test_viterbi_finds_the_best_path_by_brute_force():
    rng = np.random.default_rng(1)
    start, move = rng.normal(size=3), rng.normal(size=(3, 3))
    log_probs = rng.normal(size=(4, 3))

    def score(path):
        return (start[path[0]] + sum(log_probs[t, k] for t, k in enumerate(path))
                + sum(move[a, b] for a, b in zip(path[:-1], path[1:], strict=True)))

    best = max(itertools.product(range(3), repeat=4), key=score)
    assert viterbi(log_probs, start, move) == list(best)


def test_bio_moves_and_non_bio_tag_sets():
    ok_start, ok_move = allowed_moves(BIO)
    assert not ok_start[BIO.index("I-loc")] and ok_start[BIO.index("B-loc")]
    assert not ok_move[BIO.index("O"), BIO.index("I-loc")]
    assert not ok_move[BIO.index("B-person"), BIO.index("I-loc")]
    assert ok_move[BIO.index("B-loc"), BIO.index("I-loc")]
    assert allowed_moves(["NOUN", "VERB"])[1].all()


def test_per_type_entity_scores_and_known_unknown_accuracy():
    gold = [["B-loc", "I-loc", "O", "B-person"]]
    pred = [["B-loc", "I-loc", "O", "B-loc"]]
    by_type = entity_f1_by_type(gold, pred)
    assert by_type["loc"] == {"precision": 0.5, "recall": 1.0, "f1": 0.6667, "entities": 1}
    assert by_type["person"]["recall"] == 0.0 and by_type["person"]["entities"] == 1
    assert split_accuracy(["a", "b", "c"], ["a", "x", "c"], [True, False, False]) == (1.0, 0.5)
    assert split_accuracy(["a"], ["a"], [True]) == (1.0, None)


# ---- the network --------------------------------------------------------------------------------

keras = pytest.importorskip("keras")


def _tiny(kind: str):
    from jazzgen.core.models import ModelConfig
    from jazzgen.text.char_model import build_char_tagger

    keras.utils.set_random_seed(0)
    cfg = ModelConfig(units=8, layers=2, bidirectional=True, embedding_dim=6, dropout=0.0,
                      head="tag")
    return build_char_tagger(cfg, 20, 40, 16, 5, kind, 5, 7).train


@pytest.mark.parametrize("kind", ["cnn", "lstm"])
def test_unseen_words_of_different_spelling_get_different_vectors(kind):
    from jazzgen.text.char_tagger import char_table, sentence_array

    index = {c: k + 2 for k, c in enumerate(char_table(["abcdefghijklmnopqrstuvwxyz"]))}
    unk = 3  # both words are the same <unk> class to the vocabulary
    x = np.stack([sentence_array([unk], ["quentinville"], index),
                  sentence_array([unk], ["zorblaxian"], index)])         # (2, 1, 17)
    for name, differ in ((kind, True), ("none", False)):
        model = _tiny(name)
        layer = "word_and_chars" if name != "none" else "embedding"
        rep = keras.Model(model.input, model.get_layer(layer).output)(x).numpy()  # (2, 1, E)
        assert (np.abs(rep[0] - rep[1]).max() > 1e-4) == differ


@pytest.mark.parametrize("kind", ["cnn", "lstm"])
def test_padding_never_changes_a_real_words_tag_scores(kind):
    model = _tiny(kind)
    rng = np.random.default_rng(0)
    x = np.zeros((1, 5, 17), np.int32)
    x[0, :, 0] = rng.integers(1, 20, 5)
    for t, n in enumerate([3, 1, 16, 7, 2]):
        x[0, t, 1: 1 + n] = rng.integers(2, 40, n)
    padded = np.zeros((2, 9, 17), np.int32)
    padded[0, :5] = x[0]
    padded[1, :9, 0] = 1  # a longer sentence beside it in the batch
    a, b = model(x, training=False).numpy(), model(padded, training=False).numpy()
    np.testing.assert_allclose(a[0], b[0, :5], atol=1e-5)


# ---- end to end: a task only spelling can solve --------------------------------------------------

SUFFIXES = {"NOUN": "ness", "VERB": "ing", "ADV": "ly", "ADJ": "ous"}


def _suffix_corpus(path, rng, stems, n_sentences):
    lines = []
    for _ in range(n_sentences):
        for _ in range(int(rng.integers(3, 8))):
            tag = str(rng.choice(list(SUFFIXES)))
            lines.append(f"{rng.choice(stems)}{SUFFIXES[tag]}\t{tag}")
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def test_suffix_decided_tags_are_learned_on_unseen_words(tmp_path):
    rng = np.random.default_rng(0)
    letters = list("bcdfgkmprstvz")
    stems = list({"".join(rng.choice(letters, 2)) + str(rng.choice(list("aeiu")))
                  + "".join(rng.choice(letters, 2)) for _ in range(400)})
    train_stems, test_stems = stems[:200], stems[200:]  # test words never occur in training
    train = _suffix_corpus(tmp_path / "train.conll", rng, train_stems, 300)
    with gzip.open(tmp_path / "train.conll.gz", "wb") as f:  # read through gzip, as the POS data
        f.write(train.read_bytes())
    dev = _suffix_corpus(tmp_path / "dev.conll", rng, train_stems, 40)
    test = _suffix_corpus(tmp_path / "test.conll", rng, test_stems, 60)
    jazzgen("preprocess", tmp_path / "train.conll.gz", dev, test, "--task", "tag",
            "--set", "text.split=official", "--set", "text.unknown=shape", "-o", tmp_path / "c")
    info = json.loads((tmp_path / "c" / "corpus.json").read_text())
    assert info["splits"] == {"train": 300, "val": 40, "test": 60}  # dev validates
    settings = ["--set", "model.head=tag", "--set", "model.bidirectional=true",
                "--set", "model.units=16", "--set", "model.embedding_dim=8",
                "--set", "text.char_features=cnn", "--set", "text.char_units=24",
                "--set", "text.char_dim=12", "--set", "data.seq_len=8",
                "--set", "train.batch_size=16", "--set", "train.learning_rate=0.01",
                "--set", "text.decode=viterbi"]
    jazzgen("train", tmp_path / "c", "-o", tmp_path / "run", "--epochs", 8, *settings)
    result = last_json(jazzgen("evaluate", tmp_path / "run", "--json"))
    assert result["unknown_words"] == result["tokens"]  # every test word is new
    assert result["unknown_accuracy"] >= 0.95, result
    assert result["baseline_unknown_accuracy"] < 0.5  # a word-level table can only guess
    out = jazzgen("predict", tmp_path / "run", "zadkuness zadkuly")
    assert [line.split("\t")[1] for line in out.splitlines() if "\t" in line] == ["NOUN", "ADV"]
