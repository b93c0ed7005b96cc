"""A corpus in shards, streamed as training windows through `tf.data`.

`jazzgen preprocess --shard-size N` writes, beside the usual corpus files (ids.npy and offsets.npy
stay, so every reader of a corpus works unchanged; the shards cost a second copy of the ids):

    shards/shard-00000.npy   int32, whole pieces back to back, about N values   # (n_values,)
    shards.json              {"shard_size": N, "corpus_hash": ..., "shards": [{"file": name,
                              "pieces": [first, stop], "offsets": [0, ..., n_values]}, ...]}

A shard holds pieces `first .. stop - 1` of the corpus; piece `first + j` is
`shard[offsets[j]:offsets[j + 1]]`. Pieces are never split: a shard closes before the piece that
would take it past N values, so a piece longer than N gets a shard of its own.

`window_dataset` reads the shards a few at a time: a seeded shuffle of the shard order,
interleaved parallel reads (windows from several shards mixed), a bounded shuffle buffer of
windows, batching and prefetch. Its memory is a few shards' windows plus the buffer, whatever
the size of the corpus. The windows are those of `core.corpus.make_windows`, value for value.

TensorFlow is imported only by `window_dataset`: preprocessing writes shards without it.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from jazzgen.core.files import atomic_path, read_json, write_json
from jazzgen.core.vocab import BOS, EOS, Vocab
from jazzgen.errors import UsageError

INDEX = "shards.json"
SHARD_DIR = "shards"
DEFAULT_SHUFFLE_BUFFER = 10_000  # windows held for shuffling (64 values: about 5 MB of x and y)
CYCLE_LENGTH = 4  # shards read (and mixed) at the same time


def write_shards(corpus_dir: str | Path, shard_size: int) -> dict | None:
    """Split a written corpus's ids into whole-piece shards; 0 removes any old shards.

    Reads ids.npy memory-mapped, one shard at a time. Returns the index (None for 0).
    """
    corpus_dir = Path(corpus_dir)
    if shard_size < 0:
        raise UsageError(f"shard size must be >= 0 values (got {shard_size})")
    if shard_size == 0:
        (corpus_dir / INDEX).unlink(missing_ok=True)  # stale shards must never be trained on
        shutil.rmtree(corpus_dir / SHARD_DIR, ignore_errors=True)
        return None
    ids = np.load(corpus_dir / "ids.npy", mmap_mode="r")
    offsets = np.load(corpus_dir / "offsets.npy")
    # The index is written last: its presence marks a complete set of shards.
    (corpus_dir / INDEX).unlink(missing_ok=True)
    shard_dir = corpus_dir / SHARD_DIR
    shard_dir.mkdir(parents=True, exist_ok=True)
    shards, first, n_pieces = [], 0, len(offsets) - 1
    while first < n_pieces:
        stop = first + 1  # at least one piece, however long
        while stop < n_pieces and offsets[stop + 1] - offsets[first] <= shard_size:
            stop += 1
        name = f"shard-{len(shards):05d}.npy"
        with atomic_path(shard_dir / name) as tmp, open(tmp, "wb") as f:
            np.save(f, np.ascontiguousarray(ids[offsets[first] : offsets[stop]], dtype=np.int32))
        local = offsets[first : stop + 1] - offsets[first]
        shards.append({"file": name, "pieces": [first, stop], "offsets": [int(o) for o in local]})
        first = stop
    names = {s["file"] for s in shards}
    for old in shard_dir.glob("shard-*.npy"):  # left by an earlier run with another size
        if old.name not in names:
            old.unlink()
    index = {
        "shard_size": shard_size,
        "corpus_hash": read_json(corpus_dir / "corpus.json")["hash"],
        "pieces": n_pieces,
        "values": int(offsets[-1]),
        "shards": shards,
    }
    write_json(corpus_dir / INDEX, index)
    return index


def read_shard_index(corpus_dir: str | Path) -> dict | None:
    """The shard index of a corpus, or None when it has none (or shards of an older corpus)."""
    corpus_dir = Path(corpus_dir)
    if not (corpus_dir / INDEX).is_file() or not (corpus_dir / "corpus.json").is_file():
        return None
    index = read_json(corpus_dir / INDEX)
    if index.get("corpus_hash") != read_json(corpus_dir / "corpus.json").get("hash"):
        return None  # the corpus was rewritten after its shards: they are stale
    return index


def has_shards(corpus_dir: str | Path) -> bool:
    """True when the corpus has up-to-date shards (training then streams them)."""
    return read_shard_index(corpus_dir) is not None


def _starts(framed_len: int, seq_len: int, stride: int) -> list[int]:
    """Window starts in a framed piece, as `make_windows` takes them (the end is always covered)."""
    last_start = max(framed_len - (seq_len + 1), 0)
    starts = list(range(0, last_start + 1, stride))
    if starts[-1] != last_start:
        starts.append(last_start)
    return starts


def piece_windows(framed: np.ndarray, seq_len: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """Windows of one framed piece [BOS, ids..., EOS], padded with 0: x, y # (n, seq_len) each."""
    starts = _starts(len(framed), seq_len, stride)
    w = np.zeros((len(starts), seq_len + 1), dtype=np.int32)
    for row, s in enumerate(starts):
        chunk = framed[s : s + seq_len + 1]
        w[row, : len(chunk)] = chunk
    return w[:, :-1], w[:, 1:]


def count_windows(lengths: Sequence[int] | np.ndarray, seq_len: int, stride: int) -> int:
    """Windows `make_windows` cuts from pieces of these lengths (values, before framing)."""
    last = np.maximum(np.asarray(lengths, dtype=np.int64) + 2 - (seq_len + 1), 0)
    return int(np.sum(last // stride + 1 + (last % stride != 0)))


def window_count(corpus_dir: str | Path, piece_indices: Sequence[int], seq_len: int, stride: int) -> int:
    """Windows of these pieces, from the shard index alone (no ids are read)."""
    offsets = np.load(Path(corpus_dir) / "offsets.npy")
    idx = np.asarray(piece_indices, dtype=np.int64)
    return count_windows(offsets[idx + 1] - offsets[idx], seq_len, stride)


def window_dataset(
    corpus_dir: str | Path,
    piece_indices: Sequence[int],
    seq_len: int,
    stride: int,
    batch_size: int,
    seed: int,
    shuffle_buffer: int = DEFAULT_SHUFFLE_BUFFER,
):
    """Batches of teacher-forcing windows streamed from the shards.

    Args:
        piece_indices: corpus pieces to cut windows from (e.g. the training split).
        seq_len, stride: as in `make_windows` (validation uses stride = seq_len).
        batch_size: windows per batch; the last batch may be smaller.
        seed: order of shards and windows (same seed, same order).
        shuffle_buffer: windows held for shuffling; 0 = no shuffling (windows in corpus order).
    Returns:
        tf.data.Dataset of (x, y), int32 # (B, seq_len) each, 0 = padding.
    Raises:
        UsageError: the corpus has no (up-to-date) shards.
    """
    import tensorflow as tf

    corpus_dir = Path(corpus_dir)
    index = read_shard_index(corpus_dir)
    if index is None:
        raise UsageError(f"{corpus_dir}: no shards (run `jazzgen preprocess --shard-size N`)")
    vocab = Vocab.from_json((corpus_dir / "vocab.json").read_text(encoding="utf-8"))
    bos, eos = vocab.id(BOS), vocab.id(EOS)
    wanted = np.zeros(index["pieces"], dtype=bool)
    wanted[np.asarray(piece_indices, dtype=np.int64)] = True
    plan = []  # (shard file, offsets, local indices of the wanted pieces)
    for shard in index["shards"]:
        first, stop = shard["pieces"]
        local = np.flatnonzero(wanted[first:stop])
        if len(local):
            plan.append((str(corpus_dir / SHARD_DIR / shard["file"]), shard["offsets"], local))

    def read_shard(k):  # numpy side of tf.numpy_function: one shard -> its windows
        path, offsets, local = plan[int(k)]
        ids = np.load(path, mmap_mode="r")
        xs, ys = [], []
        for j in local:
            framed = np.concatenate([[bos], ids[offsets[j] : offsets[j + 1]], [eos]]).astype(np.int32)
            x, y = piece_windows(framed, seq_len, stride)
            xs.append(x)
            ys.append(y)
        return np.concatenate(xs), np.concatenate(ys)

    def read(k):
        x, y = tf.numpy_function(read_shard, [k], (tf.int32, tf.int32), stateful=False)
        x.set_shape([None, seq_len])  # (n_windows_of_shard, T)
        y.set_shape([None, seq_len])
        return x, y

    shuffle = shuffle_buffer > 0
    ds = tf.data.Dataset.range(len(plan))
    if shuffle:
        ds = ds.shuffle(max(len(plan), 1), seed=seed)
    ds = ds.map(read, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)  # parallel reads
    ds = ds.interleave(
        lambda x, y: tf.data.Dataset.from_tensor_slices((x, y)),  # mix shards
        cycle_length=CYCLE_LENGTH if shuffle else 1,
    )
    if shuffle:
        ds = ds.shuffle(shuffle_buffer, seed=seed)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)
