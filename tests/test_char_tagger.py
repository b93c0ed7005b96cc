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


def _tiny(kind: str, seed: int = 0):
    from jazzgen.core.models import ModelConfig
    from jazzgen.text.char_model import build_char_tagger

    keras.utils.set_random_seed(seed)
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


# ---- the CRF: forward algorithm, gradients, training end to end ---------------------------------

def _brute_force(unary, start, move):
    """Every path's score of one sentence # (C^T,), and the paths."""
    T, C = unary.shape
    paths = list(itertools.product(range(C), repeat=T))
    scores = np.array([start[p[0]] + sum(unary[t, k] for t, k in enumerate(p))
                       + sum(move[a, b] for a, b in zip(p[:-1], p[1:], strict=True))
                       for p in paths])
    return scores, paths


def test_crf_log_partition_and_path_score_match_enumeration_over_all_paths():
    import tensorflow as tf

    from jazzgen.text.crf import log_partition, path_score

    rng = np.random.default_rng(2)
    C, T = 3, 4
    unary, start, move = rng.normal(size=(4, T, C)), rng.normal(size=C), rng.normal(size=(C, C))
    lengths = np.array([4, 2, 1, 0], np.int32)  # padding after each sentence; one empty
    unary[1, 2:] = 50.0  # padding scores must not leak in
    tags = rng.integers(0, C, size=(4, T)).astype(np.int32)
    log_z = log_partition(*map(tf.constant, (unary, lengths, start, move))).numpy()
    score = path_score(*map(tf.constant, (unary, tags, lengths, start, move))).numpy()
    for b, n in enumerate(lengths[:3]):
        scores, paths = _brute_force(unary[b, :n], start, move)
        np.testing.assert_allclose(log_z[b], np.log(np.exp(scores).sum()), rtol=1e-10)
        np.testing.assert_allclose(score[b], scores[paths.index(tuple(tags[b, :n]))], rtol=1e-10)
    assert log_z[3] == 0.0 and score[3] == 0.0


def test_crf_gradients_are_the_expected_tag_and_move_counts():
    """d log Z / d unary[t, k] = P(tag_t = k), d log Z / d move[i, j] = expected i -> j moves
    (by enumeration); and the loss gradient agrees with finite differences."""
    import tensorflow as tf

    from jazzgen.text.crf import log_partition, path_score

    rng = np.random.default_rng(3)
    C, T = 3, 4
    unary, start, move = rng.normal(size=(1, T, C)), rng.normal(size=C), rng.normal(size=(C, C))
    lengths = np.array([T], np.int32)
    u, s, m = tf.Variable(unary), tf.Variable(start), tf.Variable(move)
    with tf.GradientTape() as tape:
        log_z = log_partition(u, lengths, s, m)[0]
    du, dm = tape.gradient(log_z, [u, m])
    scores, paths = _brute_force(unary[0], start, move)
    p = np.exp(scores - scores.max())
    p /= p.sum()
    marginals, pairs = np.zeros((T, C)), np.zeros((C, C))
    for prob, path in zip(p, paths, strict=True):
        marginals[np.arange(T), path] += prob
        for a, b in zip(path[:-1], path[1:], strict=True):
            pairs[a, b] += prob
    np.testing.assert_allclose(du.numpy()[0], marginals, atol=1e-10)
    np.testing.assert_allclose(dm.numpy(), pairs, atol=1e-10)

    tags = tf.constant([[0, 2, 2, 1]], tf.int32)

    def nll(mv):
        return float(log_partition(u, lengths, s, mv)[0] - path_score(u, tags, lengths, s, mv)[0])

    with tf.GradientTape() as tape:
        loss = log_partition(u, lengths, s, m)[0] - path_score(u, tags, lengths, s, m)[0]
    grad = tape.gradient(loss, m).numpy()
    eps, numeric = 1e-6, np.zeros((C, C))
    for i, j in itertools.product(range(C), repeat=2):
        bump = np.zeros((C, C))
        bump[i, j] = eps
        numeric[i, j] = (nll(move + bump) - nll(move - bump)) / (2 * eps)
    np.testing.assert_allclose(grad, numeric, atol=1e-6)


def test_crf_batch_sums_skip_padding_sentences_and_match_the_sentence_likelihoods():
    import tensorflow as tf

    from jazzgen.text.crf import TagTransitions, crf_sums, log_partition, path_score

    rng = np.random.default_rng(4)
    layer = TagTransitions()
    layer.build((None, None, 4))  # padding column + 3 tags
    layer.move.assign(rng.normal(size=(3, 3)).astype(np.float32))
    logits = rng.normal(size=(1, 3, 5, 4)).astype(np.float32)             # (R, B, T, 1 + C)
    y = np.array([[[1, 3, 2, 0, 0], [2, 2, 2, 1, 3], [0, 0, 0, 0, 0]]], np.int32)
    loss, n, _ = (float(v) for v in crf_sums(layer)(tf.constant(logits), tf.constant(y)))
    assert n == 8
    expected = 0.0
    for b, k in ((0, 3), (1, 5)):
        u = tf.constant(logits[0, b:b + 1, :k, 1:])
        tags, lengths = tf.constant(y[0, b:b + 1, :k] - 1), tf.constant([k])
        expected += float(log_partition(u, lengths, layer.start, layer.move)[0]
                          - path_score(u, tags, lengths, layer.start, layer.move)[0])
    np.testing.assert_allclose(loss, expected, rtol=1e-5)


def test_word_shape_column_reads_the_spelling_as_written():
    from jazzgen.text.char_tagger import MAX_CHARS, SHAPE_ID, sentence_array

    words = ["Hello", "@bob", "#tag", "http://x.co", "NASA", "42nd", "word", "!!"]
    arr = sentence_array(list(range(1, 9)), words, {}, shapes=True)
    assert arr.shape == (8, 1 + MAX_CHARS + 1)
    by_id = {k: shape for shape, k in SHAPE_ID.items()}
    assert [by_id[k] for k in arr[:, -1]] == [
        "<unk:Xx>", "<unk:@>", "<unk:#>", "<unk:url>", "<unk:X>", "<unk:d>", "<unk:x>", "<unk:->"]
    assert sentence_array([1], ["Hello"], {}).shape == (1, 1 + MAX_CHARS)  # off: no column
    assert len(set(SHAPE_ID.values())) == len(SHAPE_ID) and min(SHAPE_ID.values()) == 1


def _name_corpus(path, rng, names, n_sentences):
    filler = ["the", "a", "saw", "met", "with", "today", "and", "so", "lol", "at"]
    lines = []
    for _ in range(n_sentences):
        for _ in range(int(rng.integers(2, 6))):
            lines.append(f"{rng.choice(filler)}\tO")  # names never touch: their span is clear
            if rng.random() < 0.4:
                for k in range(int(rng.integers(1, 3))):  # a name of one or two words
                    lines.append(f"{rng.choice(names)}\t{'B' if k == 0 else 'I'}-person")
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def test_crf_ensemble_with_word_shapes_finds_unseen_names_end_to_end(tmp_path):
    rng = np.random.default_rng(0)
    names = sorted({"".join(rng.choice(list("bcdfgkmprstvz"), 1)).upper()
                    + "".join(rng.choice(list("aeioubcdfgkmprstvz"), 4)) for _ in range(300)})
    train = _name_corpus(tmp_path / "train.conll", rng, names[:150], 250)
    dev = _name_corpus(tmp_path / "dev.conll", rng, names[:150], 30)
    test = _name_corpus(tmp_path / "test.conll", rng, names[150:], 60)  # names never seen
    jazzgen("preprocess", train, dev, test, "--task", "tag", "--set", "text.split=official",
            "--set", "text.unknown=shape", "--set", "text.lowercase=true", "-o", tmp_path / "c")
    settings = ["--set", "model.head=tag", "--set", "model.bidirectional=true",
                "--set", "model.units=12", "--set", "model.embedding_dim=8",
                "--set", "model.layers=1", "--set", "text.char_features=cnn",
                "--set", "text.char_units=12", "--set", "text.char_dim=8",
                "--set", "train.batch_size=16", "--set", "train.learning_rate=0.01",
                "--set", "text.decode=crf", "--set", "text.word_shape=true",
                "--set", "text.ensemble=2"]
    jazzgen("train", tmp_path / "c", "-o", tmp_path / "run", "--epochs", 6, *settings)
    result = last_json(jazzgen("evaluate", tmp_path / "run", "--json"))
    assert result["decode"] == "crf" and result["invalid_bio"] == 0
    assert result["entity_f1"] >= 0.9, result
    from jazzgen.core.rundir import open_run
    from jazzgen.text.char_tagger import CharTagger

    run = open_run(tmp_path / "run")
    start, move = CharTagger(run.export_path).transitions(run.task["labels"])
    b, i, o = (run.task["labels"].index(t) for t in ("B-person", "I-person", "O"))
    assert move[b, i] > move[b, b]  # learned: names never touch, so B B never occurs
    assert move[o, i] < -1e8  # BIO kept
    out = jazzgen("predict", tmp_path / "run", "so saw Bakom Durik today")
    assert [line.split("\t")[1] for line in out.splitlines() if "\t" in line] == [
        "O", "O", "B-person", "I-person", "O"]


def test_an_ensemble_decodes_its_members_mean_probabilities():
    from jazzgen.text.char_model import build_char_ensemble

    members = [_tiny("cnn", seed) for seed in range(2)]
    for k, m in enumerate(members):
        m.name = f"member_{k}"
    tagger, per_member = build_char_ensemble(members, 17)
    x = np.random.default_rng(5).integers(1, 20, size=(2, 4, 17)).astype(np.int32)
    logits = [m(x, training=False).numpy() for m in members]
    assert np.abs(logits[0] - logits[1]).max() > 1e-3  # own weights each
    log_p = [z - np.log(np.exp(z).sum(-1, keepdims=True)) for z in logits]
    np.testing.assert_allclose(tagger(x, training=False).numpy(),
                               np.log((np.exp(log_p[0]) + np.exp(log_p[1])) / 2), atol=1e-5)
    np.testing.assert_allclose(per_member(x, training=False).numpy(), np.stack(logits, axis=-2),
                               atol=1e-5)


def test_logit_shift_favours_rare_tags_and_can_leave_types_alone():
    from jazzgen.text.char_tagger import logit_shift

    y = np.array([[5] * 90 + [1] * 6 + [2] * 3 + [3] * 1 + [0] * 7])  # O, B-loc, B-person, I-loc
    by_type = logit_shift(y, BIO, 0.5)
    assert by_type[0] == 0.0 and by_type[5] > by_type[1] > by_type[2] > by_type[3]
    counts = np.array([6, 3, 1, 0, 90]) + 1.0
    np.testing.assert_allclose(by_type[1:], 0.5 * np.log(counts / counts.sum()))
    shared = logit_shift(y, BIO, 0.5, by_type=False)
    assert np.allclose(shared[1:5], shared[1]) and shared[5] == by_type[5]
    assert shared[5] > shared[1]


# ---- transfer: a tagger starts from another one's encoder (text.pretrained) -------------------

TINY = ["--set", "model.head=tag", "--set", "model.bidirectional=true", "--set", "model.units=8",
        "--set", "model.embedding_dim=6", "--set", "model.layers=1",
        "--set", "text.char_features=cnn", "--set", "text.char_units=8", "--set", "text.char_dim=4",
        "--set", "train.batch_size=16"]


def test_pretrained_encoder_is_loaded_word_by_word_and_the_head_starts_fresh(tmp_path):
    from jazzgen.config import load_config
    from jazzgen.core.corpus import read_corpus
    from jazzgen.core.rundir import open_run
    from jazzgen.errors import UsageError
    from jazzgen.text.char_tagger import CharTagger, char_table, char_tagger_plan, piece_words
    from jazzgen.text.train import describe_plan, training_splits

    rng = np.random.default_rng(0)
    names = ["Bakom", "Durik", "Zefa", "Tomlo", "Quib"]
    source_files = [_name_corpus(tmp_path / f"s_{n}.conll", rng, names[:3], 40) for n in ("train", "test")]
    source_files[0].write_text(source_files[0].read_text() + "\nquux\tO\n")  # seen once: <unk:x>
    jazzgen("preprocess", *source_files, "--task", "tag", "--set", "text.split=files",
            "--set", "text.lowercase=true", "--set", "text.unknown=shape", "--set", "text.min_count=2",
            "-o", tmp_path / "sc")
    jazzgen("train", tmp_path / "sc", "-o", tmp_path / "source", "--epochs", 1, *TINY)
    # the target knows other names (one shared) and other labels
    target_file = tmp_path / "t_train.conll"
    _name_corpus(target_file, rng, names[2:], 40)
    target_file.write_text(target_file.read_text().replace("-person", "-place") + "\nÉmile\tB-place\n")
    jazzgen("preprocess", target_file, "--task", "tag", "--set", "text.lowercase=true",
            "--set", "text.unknown=shape", "--set", "text.min_count=2", "-o", tmp_path / "tc")

    sets = [a for a in TINY if a != "--set"] + [f"text.pretrained={tmp_path / 'source'}"]
    cfg = load_config(None, tuple(sets))
    corpus = read_corpus(tmp_path / "tc")
    plan = char_tagger_plan(corpus, training_splits(corpus), cfg, describe_plan)
    tagger = plan.build().train.get_layer("batch").tagger
    source_run = open_run(tmp_path / "source")
    source = CharTagger(source_run.export_path)
    sv, tv = source_run.vocab, corpus.vocab

    (ours,) = tagger.get_layer("embedding").get_weights()
    (theirs,) = source.model.get_layer("embedding").get_weights()
    for word in ("zefa", "the", "<unk:x>", "<pad>"):  # shared words: the source's vectors
        assert word in tv and word in sv
        np.testing.assert_array_equal(ours[tv.id(word)], theirs[sv.id(word)])
    assert "tomlo" in tv and "tomlo" not in sv  # a word the source never saw keeps a fresh row
    assert not any(np.allclose(ours[tv.id("tomlo")], row) for row in theirs)
    ours_c, theirs_c = tagger.get_layer("chars"), source.model.get_layer("chars")
    (oc,), (tc,) = ours_c.embed.get_weights(), theirs_c.embed.get_weights()
    assert oc.shape[0] != tc.shape[0]  # other character tables ...
    chars = char_table([w for i in training_splits(corpus)["train"] for w in piece_words(corpus, i)])
    for ch in "Ze":  # ... shared characters by spelling
        np.testing.assert_array_equal(oc[chars.index(ch) + 2], tc[source.index[ch]])
    for name in ("lstm_0",):
        for a, b in zip(tagger.get_layer(name).get_weights(), source.model.get_layer(name).get_weights(),
                        strict=True):
            np.testing.assert_array_equal(a, b)
    for a, b in zip(ours_c.encoder.get_weights(), theirs_c.encoder.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert tagger.get_layer("head").get_weights()[0].shape[1] == len(corpus.info["labels"]) + 1
    assert plan.task_info["pretrained"]["words_shared"] >= 4

    wider = load_config(None, tuple(sets[:-1] + ["model.units=9", sets[-1]]))
    with pytest.raises(UsageError, match="model.units is 8 there, 9 here"):
        char_tagger_plan(corpus, training_splits(corpus), wider, describe_plan)
    missing = load_config(None, tuple(sets[:-1] + [f"text.pretrained={tmp_path / 'nowhere'}"]))
    with pytest.raises(UsageError, match="text.pretrained: .*no such run directory; train the source"):
        char_tagger_plan(corpus, training_splits(corpus), missing, describe_plan)
