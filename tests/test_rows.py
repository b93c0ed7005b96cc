"""Packed training rows: exact float32 rows back, flags in a byte; conditioned windows of real solos."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from jazzgen.config import PreprocessConfig
from jazzgen.core.corpus import read_corpus
from jazzgen.core.rows import PackedRows
from jazzgen.core.vocab import BOS, EOS
from jazzgen.music.conditioning import (
    EVENTS_VERSION,
    VERSION,
    conditioned_windows,
    n_features,
    real_columns,
    rows_function,
)
from jazzgen.stages.preprocess import preprocess

ROOT = Path(__file__).resolve().parent.parent
SOLOS = ("ArtPepper_Anthropology.mid", "ArtPepper_BluesForBlanche.mid", "ArtPepper_Desafinado.mid")


def test_rows_come_back_exactly_as_put():
    rng = np.random.default_rng(0)
    n, seq_len, width, real = 7, 5, 9, [3, 8]
    reference = (rng.random((n, seq_len, width)) < 0.3).astype(np.float32)
    reference[..., 0] = rng.integers(0, 400, (n, seq_len))           # ids
    reference[..., real] = rng.normal(size=(n, seq_len, len(real)))  # fractions
    lengths = [5, 5, 2, 5, 1, 5, 3]
    for k, length in enumerate(lengths):
        reference[k, length:] = 0.0                                   # padding rows stay zero
    rows = PackedRows(n, seq_len, width, real)
    for k, length in enumerate(lengths):
        rows.put(k, reference[k, :length])
    assert len(rows) == n and rows.shape == reference.shape
    pick = np.array([6, 0, 2, 2, 5])
    for got, want in ((rows[pick], reference[pick]), (rows[1:4], reference[1:4]), (rows[:], reference)):
        assert got.dtype == np.float32 and np.array_equal(got, want)
    # the id and 2 fraction columns as float32, the 6 flag columns a byte each
    assert rows.nbytes == PackedRows.bytes_for(n, seq_len, width, len(real)) == n * seq_len * (3 * 4 + 6)


def test_a_fraction_in_a_flag_column_is_refused():
    rows = PackedRows(1, 2, 4, real_columns=[2])
    rows.put(0, np.array([[5, 1, 0.25, 0]], np.float32))
    with pytest.raises(ValueError, match="column 3 holds values other than 0 and 1"):
        rows.put(0, np.array([[5, 1, 0.25, 0.5]], np.float32))


@pytest.mark.parametrize(("tokenizer", "version"), [("values", VERSION), ("events", EVENTS_VERSION)])
def test_conditioned_windows_hold_each_pieces_rows(tmp_path, tokenizer, version):
    sources = tmp_path / "solos"
    sources.mkdir()
    for name in SOLOS:
        shutil.copy(ROOT / "data" / "midi" / "wjd" / name, sources / name)
    preprocess(PreprocessConfig(sources=(str(sources),), output=str(tmp_path / "corpus"),
                                tokenizer=tokenizer, all_keys=False), log=lambda m: None)
    corpus = read_corpus(tmp_path / "corpus")
    bos, eos = corpus.vocab.id(BOS), corpus.vocab.id(EOS)
    seq_len, stride = 32, 24
    x, y = conditioned_windows(corpus, [0, 2], seq_len, stride, bos, eos, version)
    rows_of = rows_function(version, corpus.info["tokenizer"])
    k = 0
    for i in (0, 2):
        framed = np.concatenate([[bos], corpus.piece_ids(i), [eos]])
        rows = rows_of(framed, corpus.vocab.tokens, corpus.pieces[i])
        last = len(framed) - (seq_len + 1)
        starts = sorted(set(range(0, last + 1, stride)) | {last})
        for s in starts:
            assert np.array_equal(x[[k]][0], rows[s: s + seq_len].astype(np.float32))
            assert np.array_equal(y[k], framed[s + 1: s + seq_len + 1])
            k += 1
    assert k == len(x) == len(y)
    # every flag column of the real rows fits a byte: a quarter of the float32 rows and a little
    assert x.nbytes < 0.3 * len(x) * seq_len * (1 + n_features(version)) * 4
    assert len(real_columns(version)) == 2
