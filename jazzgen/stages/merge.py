"""Preprocessing on a cluster: `preprocess --part K/N` on N tasks, then `merge-corpora`.

Task K reads the K-th of N contiguous slices of the sorted input list and writes a partial
corpus (its own vocabulary; corpus.json says "part": "K/N"). `merge-corpora` joins the parts in
order of K: pieces, manifest rows and token strings are concatenated, the vocabulary is rebuilt
from all tokens and the ids re-encoded, so the merged corpus is byte for byte the corpus one
machine writes from the same sources (the vocabulary is sorted, never in reading order).

    jazzgen preprocess data/midi -o parts/1 --part 1/2      # on host A
    jazzgen preprocess data/midi -o parts/2 --part 2/2      # on host B
    jazzgen merge-corpora parts/1 parts/2 -o corpora/all
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from jazzgen.core.corpus import write_corpus
from jazzgen.core.files import read_json
from jazzgen.core.parts import parse_part
from jazzgen.core.shards import write_shards
from jazzgen.core.vocab import Vocab
from jazzgen.errors import JazzgenError, UsageError


def _read_part(path: Path) -> dict:
    """One partial corpus, read whole (parts are small; an empty part has an empty ids.npy)."""
    if not (path / "corpus.json").is_file():
        raise UsageError(f"{path}: not a corpus directory (no corpus.json)")
    info = read_json(path / "corpus.json")
    if "part" not in info:
        raise UsageError(f"{path}: not a partial corpus (write it with `jazzgen preprocess --part K/N`)")
    with open(path / "pieces.jsonl", encoding="utf-8") as f:
        pieces = [json.loads(line) for line in f if line.strip()]
    return {
        "path": path,
        "info": info,
        "pieces": pieces,
        "manifest": read_json(path / "manifest.json"),
        "vocab": Vocab.from_json((path / "vocab.json").read_text(encoding="utf-8")),
        "ids": np.load(path / "ids.npy"),
        "offsets": np.load(path / "offsets.npy"),
    }


def merge_corpora(
    parts: Sequence[str | Path],
    output: str | Path,
    shard_size: int = 0,
    log: Callable[[str], None] = print,
) -> dict:
    """Merge partial corpora 1/N .. N/N (given in any order) into one corpus; returns corpus.json.

    Raises:
        UsageError: a part is missing, repeated, or made with other settings.
        JazzgenError: no part kept any piece.
    """
    if any(Path(p).resolve() == Path(output).resolve() for p in parts):
        raise UsageError(f"merge-corpora: -o {output} is one of the parts it reads; write the merged corpus elsewhere")
    read = sorted((_read_part(Path(p)) for p in parts), key=lambda r: parse_part(r["info"]["part"]))
    if not read:
        raise UsageError("merge-corpora: give the partial corpora to merge")
    n = parse_part(read[0]["info"]["part"])[1]
    if [r["info"]["part"] for r in read] != [f"{k}/{n}" for k in range(1, n + 1)]:
        found = ", ".join(r["info"]["part"] for r in read)
        raise UsageError(f"merge-corpora: want parts 1/{n} .. {n}/{n} once each, got {found}")
    first = read[0]["info"]
    for r in read[1:]:
        if (r["info"]["task"], r["info"]["tokenizer"]) != (first["task"], first["tokenizer"]):
            raise UsageError(f"{r['path']}: made with other settings than {read[0]['path']}")
    token_lists, pieces, kept, skipped = [], [], [], []
    for r in read:
        offsets = r["offsets"]
        token_lists += [r["vocab"].decode(r["ids"][offsets[i] : offsets[i + 1]]) for i in range(len(r["pieces"]))]
        pieces += r["pieces"]
        kept += r["manifest"]["kept"]
        skipped += r["manifest"]["skipped"]
    if not pieces:
        raise JazzgenError(f"no usable music in any of the {n} parts")
    vocab = Vocab.from_tokens(t for tokens in token_lists for t in tokens)
    reasons = Counter(row["reason"] for row in skipped)
    manifest = {
        "kept": kept,
        "skipped": skipped,
        "skipped_by_reason": dict(sorted(reasons.items())),
    }
    info = write_corpus(output, first["task"], first["tokenizer"], vocab, token_lists, pieces, manifest)
    write_shards(output, shard_size)
    log(f"merged {n} parts: {info['pieces']} pieces, {info['tokens']} values, vocabulary {len(vocab)} -> {output}")
    return info
