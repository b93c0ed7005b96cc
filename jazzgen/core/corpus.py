"""The corpus directory: token ids of every piece, its vocabulary, and a manifest.

Layout (all written atomically, all deterministic for the same inputs):

    corpus.json      task, tokenizer settings, counts, vocabulary hash, format version
    vocab.json       the sorted vocabulary
    ids.npy          int32, every piece's ids back to back            # (N_tokens,)
    offsets.npy      int64, piece i is ids[offsets[i]:offsets[i+1]]   # (N_pieces + 1,)
    pieces.jsonl     one JSON line per piece: source and task context (e.g. its chords)
    manifest.json    every input file: kept (what was taken) or skipped (the reason)

`ids.npy` is memory-mapped on read, so training streams windows without loading a big corpus.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jazzgen.core.files import atomic_open, atomic_path, read_json, read_limited, write_json
from jazzgen.core.vocab import Vocab
from jazzgen.errors import InputError, UsageError

FORMAT_VERSION = 1
CORPUS_FILES = ("ids.npy", "offsets.npy", "vocab.json", "pieces.jsonl", "manifest.json", "corpus.json")


@dataclass
class Corpus:
    """A corpus directory opened for reading."""

    path: Path
    info: dict  # corpus.json
    vocab: Vocab
    ids: np.ndarray  # (N_tokens,) int32, memory-mapped
    offsets: np.ndarray  # (N_pieces + 1,) int64
    pieces: list[dict]

    def __len__(self) -> int:
        return len(self.pieces)

    def piece_ids(self, i: int) -> np.ndarray:
        """Ids of piece i. # (T_i,)"""
        return self.ids[self.offsets[i] : self.offsets[i + 1]]

    @property
    def task(self) -> str:
        return self.info["task"]

    @property
    def hash(self) -> str:
        return self.info["hash"]


def write_corpus(
    path: str | Path,
    task: str,
    tokenizer_config: dict,
    vocab: Vocab,
    token_lists: Sequence[Sequence[str]],
    pieces: Sequence[dict],
    manifest: dict,
    extra: dict | None = None,
) -> dict:
    """Write a corpus directory; returns the corpus.json content.

    Args:
        token_lists: one list of token strings per piece, same order as `pieces`.
        pieces: per-piece JSON-able context (source path, chords ...).
        manifest: {"kept": [...], "skipped": [...]} per input file.
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    lengths = [len(t) for t in token_lists]
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum(lengths)
    ids = np.fromiter(
        (i for tokens in token_lists for i in vocab.encode(tokens)), dtype=np.int32, count=int(offsets[-1])
    )
    info = {
        "format_version": FORMAT_VERSION,
        "task": task,
        "tokenizer": tokenizer_config,
        "vocab_size": len(vocab),
        "vocab_hash": vocab.hash,
        "pieces": len(pieces),
        "tokens": int(offsets[-1]),
        "hash": _ids_hash(vocab, ids, offsets),
        **(extra or {}),
    }
    lines = "".join(json.dumps(piece, sort_keys=True, ensure_ascii=False) + "\n" for piece in pieces)
    info["pieces_hash"] = hashlib.sha256(lines.encode()).hexdigest()[:16]
    # The whole new corpus is written into a folder beside the old files first; only when every
    # file is complete are they renamed in (renames need no space). A full disk or a crash while
    # writing leaves the old corpus intact, and the hashes above catch any mix on read.
    stage = Path(tempfile.mkdtemp(prefix=".corpus-", suffix=".tmp", dir=path))
    try:
        with atomic_path(stage / "ids.npy") as tmp, open(tmp, "wb") as f:
            np.save(f, ids)
        with atomic_path(stage / "offsets.npy") as tmp, open(tmp, "wb") as f:
            np.save(f, offsets)
        with atomic_open(stage / "vocab.json", "w", encoding="utf-8") as f:
            f.write(vocab.to_json())
        with atomic_open(stage / "pieces.jsonl", "w", encoding="utf-8") as f:
            f.write(lines)
        write_json(stage / "manifest.json", manifest)
        write_json(stage / "corpus.json", info)
        for name in CORPUS_FILES:  # corpus.json last: its presence marks a complete corpus
            os.replace(stage / name, path / name)
        _fsync_dir(path)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return info


def _ids_hash(vocab: Vocab, ids: np.ndarray, offsets: np.ndarray) -> str:
    """corpus.json's "hash": the vocabulary's hash, the ids and the offsets, as written."""
    digest = hashlib.sha256()
    digest.update(vocab.hash.encode())
    digest.update(memoryview(np.ascontiguousarray(ids)).cast("B"))
    digest.update(memoryview(np.ascontiguousarray(offsets)).cast("B"))
    return digest.hexdigest()[:16]


def _fsync_dir(path: Path) -> None:
    """Make the renames into `path` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_corpus(path: str | Path) -> Corpus:
    """Open a corpus directory and check that its files belong together.

    Raises:
        UsageError: not a corpus directory, or an old format.
        InputError: a file is missing, damaged, or from another write than corpus.json (its hash
            differs), or ids fall outside the vocabulary; the message names the file.
    """
    path = Path(path)
    if not (path / "corpus.json").is_file():
        raise UsageError(f"{path}: not a corpus directory (no corpus.json; run `jazzgen preprocess`)")
    info = read_json(path / "corpus.json")
    if not isinstance(info, dict) or not {"hash", "vocab_hash"} <= info.keys():
        raise InputError(path / "corpus.json", "damaged corpus file", "keys missing; run `jazzgen preprocess` again")
    if info.get("format_version") != FORMAT_VERSION:
        raise UsageError(
            f"{path}: corpus format {info.get('format_version')}, this jazzgen reads "
            f"{FORMAT_VERSION}; run `jazzgen preprocess` again"
        )
    again = "run `jazzgen preprocess` again"
    vocab = read_vocab(path / "vocab.json")
    if vocab.hash != info["vocab_hash"]:
        raise InputError(path / "vocab.json", "does not match corpus.json", f"hash differs; {again}")
    ids = _load_array(path / "ids.npy", np.int32, mmap=True)
    offsets = _load_array(path / "offsets.npy", np.int64)
    try:
        with open(path / "pieces.jsonl", "rb") as f:
            raw = f.read()
        pieces = [json.loads(line) for line in raw.decode("utf-8").splitlines() if line.strip()]
    except FileNotFoundError as e:
        raise InputError(path / "pieces.jsonl", "missing file", again) from e
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(path / "pieces.jsonl", "damaged corpus file", f"{e}; {again}") from e
    if "pieces_hash" in info and hashlib.sha256(raw).hexdigest()[:16] != info["pieces_hash"]:
        raise InputError(path / "pieces.jsonl", "does not match corpus.json", f"hash differs; {again}")
    if (len(pieces) + 1 != len(offsets) or offsets[0] != 0 or int(offsets[-1]) != len(ids)
            or np.any(np.diff(offsets) < 0)):
        raise InputError(path, "corpus files disagree", again)
    if _ids_hash(vocab, ids, offsets) != info["hash"]:
        raise InputError(path / "ids.npy", "does not match corpus.json",
                         f"ids or offsets from another write; {again}")
    if len(ids) and (int(ids.min()) < 0 or int(ids.max()) >= len(vocab)):
        raise InputError(path / "ids.npy", "ids outside the vocabulary", again)
    return Corpus(path, info, vocab, ids, offsets, pieces)


def read_vocab(path: Path) -> Vocab:
    """A vocab.json (of a corpus or a run), or an InputError naming it."""
    try:
        vocab = Vocab.from_json(read_limited(path, 1 << 30).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise InputError(path, "damaged vocabulary file", f"{type(e).__name__}: {e}"[:200]) from e
    if not all(isinstance(token, str) for token in vocab.tokens):
        raise InputError(path, "damaged vocabulary file", "tokens must be strings")
    return vocab


def _load_array(path: Path, dtype, mmap: bool = False) -> np.ndarray:
    """A 1-D array of `dtype` saved by np.save, or an InputError naming the file."""
    try:
        array = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except FileNotFoundError as e:
        raise InputError(path, "missing file", "run `jazzgen preprocess` again") from e
    except (ValueError, OSError, EOFError) as e:  # truncated, garbage, pickled objects
        raise InputError(path, "damaged corpus file", f"{e}"[:200]) from e
    if not isinstance(array, np.ndarray) or array.ndim != 1 or array.dtype != dtype:
        raise InputError(path, "damaged corpus file", f"want a 1-D {np.dtype(dtype).name} array")
    return array


def split_pieces(n_pieces: int, val_fraction: float, seed: int,
                 groups: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Split piece indices into train and validation by piece (never by window).

    With `groups` (one label per piece, e.g. its source file), pieces sharing a label fall on
    the same side: copies of one song in other keys never straddle the split. Without them the
    split is exactly as before.
    """
    if groups is not None:
        labels = sorted(set(groups))
        g_train, g_val = split_pieces(len(labels), val_fraction, seed)
        val_labels = {labels[i] for i in g_val}
        val = np.array([i for i in range(n_pieces) if groups[i] in val_labels], dtype=np.int64)
        train = np.array([i for i in range(n_pieces) if groups[i] not in val_labels], dtype=np.int64)
        return train, val
    order = np.random.default_rng(seed).permutation(n_pieces)
    n_val = int(round(n_pieces * val_fraction)) if n_pieces > 1 else 0
    if val_fraction > 0 and n_pieces > 1:
        n_val = min(max(n_val, 1), n_pieces - 1)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def make_windows(
    corpus: Corpus, piece_indices: Sequence[int], seq_len: int, stride: int, bos_id: int, eos_id: int
) -> tuple[np.ndarray, np.ndarray]:
    """Teacher-forcing windows: inputs x and next-value targets y, padded with id 0.

    Each piece is framed as [BOS, ids..., EOS]; windows of seq_len + 1 ids start every `stride`
    values, x = w[:-1], y = w[1:]. Short pieces give one padded window (padding is masked).

    Returns:
        x, y: int32 arrays # (N_windows, seq_len)
    """
    xs, ys = [], []
    for i in piece_indices:
        framed = np.concatenate([[bos_id], corpus.piece_ids(int(i)), [eos_id]]).astype(np.int32)
        last_start = max(len(framed) - (seq_len + 1), 0)
        starts = list(range(0, last_start + 1, stride))
        if starts[-1] != last_start:
            starts.append(last_start)  # cover the end of the piece too
        for s in starts:
            w = np.zeros(seq_len + 1, dtype=np.int32)
            chunk = framed[s : s + seq_len + 1]
            w[: len(chunk)] = chunk
            xs.append(w[:-1])
            ys.append(w[1:])
    if not xs:
        return np.zeros((0, seq_len), np.int32), np.zeros((0, seq_len), np.int32)
    return np.stack(xs), np.stack(ys)
