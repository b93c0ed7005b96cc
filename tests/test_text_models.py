"""The models behind the text tasks: the encoder-decoder's graphs agree, the numpy engine reads
padded classify/tag batches as Keras does, and numpy-trained weights export to the engine."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from jazzgen.core.engine import NumpyEngine  # noqa: E402
from jazzgen.core.models import ModelConfig, build_models, export_weights  # noqa: E402
from jazzgen.core.numpy_lm import export_numpy_params  # noqa: E402
from jazzgen.core.numpy_rnn import FORWARD, init_params  # noqa: E402
from jazzgen.core.numpy_train import output_forward  # noqa: E402
from jazzgen.core.seq2seq import (  # noqa: E402
    build_seq2seq,
    greedy_decode,
    load_seq2seq,
    pack_pairs,
    save_seq2seq,
)

V = 12


def test_pack_pairs_teacher_forcing_layout():
    X, Y = pack_pairs([[5, 6, 7], [8, 9, 10, 11, 5]], [[4, 5], [7]], src_len=4, tgt_len=4,
                      bos_id=2, eos_id=3)
    assert X.tolist() == [[5, 6, 7, 0, 2, 4, 5, 0], [8, 9, 10, 11, 2, 7, 0, 0]]
    assert Y.tolist() == [[4, 5, 3, 0], [7, 3, 0, 0]]  # targets end in <eos>, padding is 0


@pytest.mark.parametrize("cell,bidirectional,attention",
                         [("lstm", False, True), ("gru", True, True), ("lstm", True, False)])
def test_seq2seq_decoder_step_matches_teacher_forcing(tmp_path, cell, bidirectional, attention):
    keras.utils.set_random_seed(0)
    cfg = ModelConfig(cell=cell, units=6, embedding_dim=5, bidirectional=bidirectional,
                      head="tag" if bidirectional else "next")
    models = build_seq2seq(cfg, V, src_len=7, tgt_len=4, attention=attention)
    X, _ = pack_pairs([[5, 6, 7], [8, 9, 10, 11, 5, 6, 7]], [[4, 5, 6], [7]], 7, 4, 2, 3)
    logits = models.train.predict_on_batch(X)                              # (B, Ty, V)
    assert logits.shape == (2, 4, V)
    enc, *states = models.encoder.predict_on_batch(X[:, :7])
    for t in range(4):  # the one-step decoder, fed the same inputs, gives the same logits
        step, *states = models.decoder.predict_on_batch([X[:, 7 + t: 8 + t], enc, *states])
        np.testing.assert_allclose(step, logits[:, t], atol=1e-5)
    shared = {w.path for w in models.decoder.weights} <= {w.path for w in models.train.weights}
    assert shared
    outputs, logp = greedy_decode(models, X[:, :7], bos_id=2, eos_id=3)
    assert len(outputs) == 2 and all(len(o) <= 4 for o in outputs) and (logp <= 0).all()
    save_seq2seq(tmp_path / "m.npz", models, cfg, V, attention)
    again = load_seq2seq(tmp_path / "m.npz")
    np.testing.assert_allclose(again.train.predict_on_batch(X), logits, atol=1e-6)


@pytest.mark.parametrize("head,bidirectional,layers", [("classify", True, 1), ("tag", True, 2),
                                                        ("classify", False, 2)])
def test_numpy_engine_on_unpadded_sentences_matches_the_masked_keras_model(head, bidirectional,
                                                                           layers):
    keras.utils.set_random_seed(1)
    cfg = ModelConfig(units=5, embedding_dim=4, head=head, bidirectional=bidirectional,
                      layers=layers)
    models = build_models(cfg, V, num_outputs=4)
    rng = np.random.default_rng(0)
    lengths = [6, 3, 1]
    x = np.zeros((3, 6), np.int32)                                       # right-padded with 0
    for i, n in enumerate(lengths):
        x[i, :n] = rng.integers(1, V, n)
    keras_out = np.asarray(models.train.predict_on_batch(x))
    engine = NumpyEngine(cfg, export_weights(models, cfg), V)
    for i, n in enumerate(lengths):
        ours = engine.forward(x[i: i + 1, :n])[0]                        # (C,) or (n, C)
        want = keras_out[i] if head == "classify" else keras_out[i, :n]
        np.testing.assert_allclose(ours, want, atol=1e-5)


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_numpy_trained_weights_export_to_the_engine(cell):
    n_a = 5
    rng = np.random.default_rng(2)
    p = init_params(cell, V, n_a, rng, n_y=V)
    p = {k: w + rng.normal(0, 0.1, w.shape) for k, w in p.items()}
    x = rng.integers(0, V, (3, 6))
    a, _ = FORWARD[cell](np.eye(V)[x].transpose(2, 0, 1), np.zeros((n_a, 3)), p)
    logits, _ = output_forward(a, p)                                     # (V, m, T)
    engine = NumpyEngine(ModelConfig(cell=cell, units=n_a, embedding_dim=0),
                         export_numpy_params(cell, p), V, np.float64)
    state = engine.initial_state(3)
    for t in range(6):
        step, state = engine.step(x[:, t], state)
        np.testing.assert_allclose(step, logits[:, :, t].T, atol=1e-10)
