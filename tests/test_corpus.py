"""The corpus directory: deterministic bytes, split by piece, teacher-forcing windows."""

import numpy as np
import pytest

from jazzgen.core.corpus import make_windows, read_corpus, split_pieces, write_corpus
from jazzgen.core.vocab import BOS, EOS, Vocab
from jazzgen.errors import UsageError


def _write(path, token_lists):
    vocab = Vocab.from_tokens(t for tokens in token_lists for t in tokens)
    pieces = [{"source": f"p{i}"} for i in range(len(token_lists))]
    return write_corpus(path, "test", {"name": "x"}, vocab, token_lists, pieces, {"kept": [], "skipped": []})


def test_vocab_is_sorted_and_stable():
    a = Vocab.from_tokens(["b", "a", "c", "a"])
    b = Vocab.from_tokens(["c", "a", "b"])
    assert a.tokens == b.tokens and a.hash == b.hash
    assert list(a.tokens[4:]) == ["a", "b", "c"]
    assert a.decode(a.encode(["a", "zzz"])) == ["a", "<unk>"]


def test_corpus_round_trip_and_identical_bytes(tmp_path):
    tokens = [["x", "y", "x"], ["y", "z"], ["z"]]
    _write(tmp_path / "a", tokens)
    _write(tmp_path / "b", tokens)
    for name in ("ids.npy", "offsets.npy", "vocab.json", "pieces.jsonl", "corpus.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    corpus = read_corpus(tmp_path / "a")
    assert [corpus.vocab.decode(corpus.piece_ids(i)) for i in range(3)] == tokens


def test_not_a_corpus_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="not a corpus directory"):
        read_corpus(tmp_path)


def test_split_is_by_piece_and_seeded():
    train, val = split_pieces(20, 0.25, seed=3)
    assert len(val) == 5 and not set(train) & set(val) and len(train) + len(val) == 20
    assert np.array_equal(split_pieces(20, 0.25, seed=3)[1], val)
    assert not np.array_equal(split_pieces(20, 0.25, seed=4)[1], val)


def test_windows_predict_the_next_value(tmp_path):
    _write(tmp_path / "c", [[f"t{i}" for i in range(10)], ["t1"]])
    corpus = read_corpus(tmp_path / "c")
    bos, eos = corpus.vocab.id(BOS), corpus.vocab.id(EOS)
    x, y = make_windows(corpus, [0, 1], seq_len=4, stride=2, bos_id=bos, eos_id=eos)
    assert x.shape == y.shape and x.shape[1] == 4
    assert np.array_equal(x[:, 1:], y[:, :-1])  # y is x shifted by one
    assert x[0, 0] == bos
    framed = [bos, *corpus.piece_ids(0), eos]
    covered = {int(t) for row in y for t in row} - {0}
    assert set(framed[1:]) <= covered  # every value of the piece is a target somewhere
    short = x[-1], y[-1]  # the one-value piece: one padded window
    assert short[0][0] == bos and short[1][1] == eos and short[1][2] == 0
