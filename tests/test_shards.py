"""Sharded corpora: the index, and the tf.data window stream equal to make_windows."""

from collections import Counter

import numpy as np
import pytest
from click.testing import CliRunner

from jazzgen.cli import main
from jazzgen.core.corpus import make_windows, read_corpus, split_pieces
from jazzgen.core.files import read_json
from jazzgen.core.shards import (
    count_windows,
    has_shards,
    window_count,
    window_dataset,
    write_shards,
)
from jazzgen.core.vocab import BOS, EOS, Vocab
from jazzgen.errors import UsageError

LENGTHS = [
    1,
    5,
    30,
    100,
    250,
    7,
    64,
    0,
    63,
    65,
    12,
    180,
    3,
    40,
]  # short, exact, longer than a shard
SEQ_LEN, STRIDE = 16, 8


def _write(path, lengths=LENGTHS, seed=0):
    from jazzgen.core.corpus import write_corpus

    rng = np.random.default_rng(seed)
    tokens = [[f"v{int(t)}" for t in rng.integers(0, 30, n)] for n in lengths]
    vocab = Vocab.from_tokens(t for ts in tokens for t in ts)
    pieces = [{"source": f"p{i}", "chords": []} for i in range(len(lengths))]
    write_corpus(path, "jazz", {"name": "values"}, vocab, tokens, pieces, {"kept": [], "skipped": []})
    return read_corpus(path)


def _windows(corpus, idx, stride=STRIDE):
    v = corpus.vocab
    return make_windows(corpus, idx, SEQ_LEN, stride, v.id(BOS), v.id(EOS))


def _rows(x, y):
    return Counter(map(bytes, np.concatenate([x, y], axis=1).astype(np.int32)))


def _stream(path, idx, **kw):
    batches = list(window_dataset(path, idx, SEQ_LEN, kw.pop("stride", STRIDE), **kw).as_numpy_iterator())
    return np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches]), batches


def test_shards_hold_whole_pieces_in_order(tmp_path):
    corpus = _write(tmp_path)
    index = write_shards(tmp_path, 100)
    assert read_json(tmp_path / "shards.json") == index and has_shards(tmp_path)
    assert index["pieces"] == len(LENGTHS) and index["values"] == sum(LENGTHS)
    expected_first = 0
    for shard in index["shards"]:
        first, stop = shard["pieces"]
        assert first == expected_first and stop > first
        expected_first = stop
        data = np.load(tmp_path / "shards" / shard["file"])
        assert data.dtype == np.int32 and len(data) == shard["offsets"][-1]
        assert len(data) <= 100 or stop - first == 1  # only a single long piece may exceed the size
        for j, i in enumerate(range(first, stop)):
            np.testing.assert_array_equal(data[shard["offsets"][j] : shard["offsets"][j + 1]], corpus.piece_ids(i))
    assert expected_first == len(LENGTHS)


@pytest.mark.parametrize("shard_size", [1, 100, 10_000])
def test_stream_yields_exactly_the_windows_of_make_windows(tmp_path, shard_size):
    corpus = _write(tmp_path)
    write_shards(tmp_path, shard_size)
    train_idx, _ = split_pieces(len(corpus), 0.2, 0)
    x, y, batches = _stream(tmp_path, train_idx, batch_size=7, seed=3, shuffle_buffer=50)
    ref_x, ref_y = _windows(corpus, train_idx)
    assert x.dtype == np.int32 and x.shape == ref_x.shape
    assert _rows(x, y) == _rows(ref_x, ref_y)  # the same multiset of windows
    assert all(len(b[0]) == 7 for b in batches[:-1])
    assert window_count(tmp_path, train_idx, SEQ_LEN, STRIDE) == len(ref_x)


def test_unshuffled_stream_keeps_corpus_order_and_shuffles_follow_the_seed(tmp_path):
    corpus = _write(tmp_path)
    write_shards(tmp_path, 60)
    idx = np.arange(len(corpus))
    x, y, _ = _stream(tmp_path, idx, stride=SEQ_LEN, batch_size=5, seed=0, shuffle_buffer=0)
    ref_x, ref_y = _windows(corpus, idx, stride=SEQ_LEN)
    np.testing.assert_array_equal(x, ref_x)
    np.testing.assert_array_equal(y, ref_y)
    a = _stream(tmp_path, idx, batch_size=5, seed=1, shuffle_buffer=20)[0]
    b = _stream(tmp_path, idx, batch_size=5, seed=1, shuffle_buffer=20)[0]
    c = _stream(tmp_path, idx, batch_size=5, seed=2, shuffle_buffer=20)[0]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_count_windows_matches_make_windows():
    for seq_len, stride in [(16, 8), (16, 16), (4, 3), (64, 32)]:
        for n in range(0, 90):
            framed = np.arange(n + 2)
            last = max(len(framed) - (seq_len + 1), 0)
            starts = list(range(0, last + 1, stride))
            starts += [last] if starts[-1] != last else []
            assert count_windows([n], seq_len, stride) == len(starts), (n, seq_len, stride)


def test_size_zero_removes_shards_and_a_rewritten_corpus_ignores_stale_ones(tmp_path):
    _write(tmp_path)
    write_shards(tmp_path, 50)
    assert has_shards(tmp_path)
    _write(tmp_path, LENGTHS[:5], seed=1)  # the corpus changes, the old shards stay behind
    assert not has_shards(tmp_path)
    with pytest.raises(UsageError, match="no shards"):
        window_dataset(tmp_path, [0], SEQ_LEN, STRIDE, 4, 0)
    write_shards(tmp_path, 0)
    assert not (tmp_path / "shards.json").exists() and not (tmp_path / "shards").exists()


def test_preprocess_shard_size_writes_shards_beside_the_same_corpus(tmp_path):
    from pathlib import Path

    wjd = Path(__file__).resolve().parent.parent / "data" / "midi" / "wjd"
    src = tmp_path / "src"
    src.mkdir()
    for name in ["ArtPepper_Anthropology.mid", "CharlieParker_Ornithology.mid"]:
        (src / name).write_bytes((wjd / name).read_bytes())
    runner = CliRunner()
    for out, extra in (("a", []), ("b", ["--shard-size", "500"])):
        result = runner.invoke(main, ["preprocess", str(src), "-o", str(tmp_path / out), *extra])
        assert result.exit_code == 0, result.output
    for name in ("ids.npy", "offsets.npy", "vocab.json", "pieces.jsonl", "corpus.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert not has_shards(tmp_path / "a") and has_shards(tmp_path / "b")
    index = read_json(tmp_path / "b" / "shards.json")
    assert index["shard_size"] == 500 and len(index["shards"]) >= 2
