"""Training: the loss falls, a resumed run equals an uninterrupted one, the run dir is complete."""

import dataclasses

import numpy as np
import pytest

from jazzgen.config import Config, apply_overrides
from jazzgen.core.corpus import write_corpus
from jazzgen.core.files import read_json
from jazzgen.core.vocab import Vocab
from jazzgen.errors import UsageError
from jazzgen.stages.train import train

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus")
    rng = np.random.default_rng(0)
    # A learnable pattern: mostly +3 steps through 20 symbols.
    tokens = [[f"t{int(x)}" for x in (np.arange(120) * 3 + rng.integers(0, 2, 120)) % 20] for _ in range(8)]
    vocab = Vocab.from_tokens(t for ts in tokens for t in ts)
    write_corpus(path, "jazz", {"name": "values"}, vocab, tokens,
                 [{"source": f"p{i}", "chords": [], "time_signature": [4, 4], "tempo_qpm": 120} for i in range(8)],
                 {"kept": [], "skipped": []})
    return path


def _config(epochs):
    return apply_overrides(Config(), {"model": {"units": 16, "embedding_dim": 8},
                                      "data": {"seq_len": 16, "stride": 8},
                                      "train": {"epochs": epochs, "batch_size": 16, "learning_rate": 0.01}}, "test")


def test_resume_continues_exactly(corpus_dir, tmp_path):
    logs = []
    straight = train(corpus_dir, tmp_path / "a", _config(4), log=logs.append)
    assert straight.history[-1]["loss"] < straight.history[0]["loss"]
    train(corpus_dir, tmp_path / "b", _config(2), log=logs.append)
    resumed = train(corpus_dir, tmp_path / "b", _config(4), resume=True, log=logs.append)
    assert any("resuming from epoch 2" in line for line in logs)
    assert [h["loss"] for h in resumed.history] == [h["loss"] for h in straight.history]
    for name in ("config.json", "vocab.json", "task.json", "run.json", "export.npz", "checkpoint.npz", "history.csv"):
        assert (tmp_path / "a" / name).is_file(), name
    info = read_json(tmp_path / "a" / "run.json")
    assert info["seed"] == 0 and "numpy" in info["versions"] and info["corpus_hash"]


def test_refuses_to_overwrite_or_resume_another_model(corpus_dir, tmp_path):
    train(corpus_dir, tmp_path / "r", _config(1), log=lambda s: None)
    with pytest.raises(UsageError, match="already holds a run"):
        train(corpus_dir, tmp_path / "r", _config(1), log=lambda s: None)
    other = dataclasses.replace(_config(1), model=dataclasses.replace(_config(1).model, units=8))
    with pytest.raises(UsageError, match="model settings differ"):
        train(corpus_dir, tmp_path / "r", other, resume=True, log=lambda s: None)


def test_tensorboard_logs_every_epoch(corpus_dir, tmp_path):
    import tensorflow as tf

    train(corpus_dir, tmp_path / "t", _config(2), log=lambda s: None)
    events = list((tmp_path / "t" / "tensorboard").glob("events.out.tfevents.*"))
    assert events
    steps = {}
    for event in tf.compat.v1.train.summary_iterator(str(events[0])):
        for value in event.summary.value:
            steps.setdefault(value.tag, set()).add(event.step)
    assert steps["loss"] == {1, 2} and steps["val_loss"] == {1, 2}
    assert (tmp_path / "t" / "curves.png").stat().st_size > 10_000


def test_auto_threads_takes_one_thread_only_for_small_steps():
    from jazzgen.core.models import ModelConfig
    from jazzgen.core.training import auto_threads

    course = ModelConfig(units=64, embedding_dim=0)  # [x; h] 154 wide, 4 x 64 gates, batch 32
    assert auto_threads(course, 90, 32) == 1
    assert auto_threads(ModelConfig(), 2879, 64) == 0  # the default model: TensorFlow decides
    assert auto_threads(ModelConfig(units=512, embedding_dim=0), 90, 32) == 0


@pytest.mark.parametrize("n_windows", [1, 4, 10])
def test_compiled_chunks_equal_the_model_on_all_windows(n_windows):
    """One trace serves any window count, batches split [first, last) exactly, padding is masked."""
    import keras
    import tensorflow as tf

    from jazzgen.core.models import ModelConfig, build_models
    from jazzgen.core.training import build_step_functions

    keras.utils.set_random_seed(0)
    model = build_models(ModelConfig(units=8, embedding_dim=4), 12).train
    optimizer = keras.optimizers.Adam(0.01)
    optimizer.build(model.trainable_variables)
    _, eval_chunk = build_step_functions(model, optimizer, batch_size=4)
    rng = np.random.default_rng(n_windows)
    x = rng.integers(1, 12, (n_windows, 6)).astype(np.int32)
    y = rng.integers(0, 12, (n_windows, 6)).astype(np.int32)  # id 0 = padding, not counted
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=model(x)).numpy()
    mask = y != 0
    n_batches = -(-n_windows // 4)
    for first, last in [(0, n_batches), (n_batches - 1, n_batches)]:
        total, count, _ = eval_chunk(tf.constant(x), tf.constant(y), tf.constant(first), tf.constant(last))
        rows = slice(first * 4, last * 4)
        assert float(count) == mask[rows].sum()
        np.testing.assert_allclose(float(total), (ce * mask)[rows].sum(), rtol=1e-5)


@pytest.mark.parametrize("clip_norm", [0.05, None])
@pytest.mark.parametrize("embedding_dim", [0, 4])  # one-hot: dense gradients; 4: IndexedSlices
def test_adam_step_equals_keras_apply_gradients(clip_norm, embedding_dim):
    """Our Adam update (clip active, and off) matches Keras' over several steps."""
    import keras
    import tensorflow as tf

    from jazzgen.core.models import ModelConfig, build_models
    from jazzgen.core.training import adam_step

    rng = np.random.default_rng(0)
    x = tf.constant(rng.integers(1, 12, (5, 7)).astype(np.int32))
    y = tf.constant(rng.integers(1, 12, (5, 7)).astype(np.int32))
    weights = {}
    for mode in ("keras", "ours"):
        keras.utils.set_random_seed(0)
        model = build_models(ModelConfig(units=6, embedding_dim=embedding_dim), 12).train
        opt = keras.optimizers.Adam(0.01, global_clipnorm=clip_norm)
        opt.build(model.trainable_variables)

        def step(model=model, opt=opt, mode=mode):
            with tf.GradientTape() as tape:
                logits = model(x, training=True)
                loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
            grads = tape.gradient(loss, model.trainable_variables)
            if mode == "keras":
                opt.apply_gradients(zip(grads, model.trainable_variables))
            else:
                adam_step(opt, grads, model.trainable_variables)
            return loss

        step = tf.function(step, autograph=False)
        for _ in range(4):
            step()
        assert int(opt.iterations) == 4
        weights[mode] = [v.numpy() for v in model.trainable_variables + opt.variables]
    for a, b in zip(weights["keras"], weights["ours"], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("shape", [(3, 5), (4,)])  # (B, T) of a next/tag head, (B,) of classify
def test_softmax_loss_equals_tensorflows_cross_entropy_and_its_gradient(shape):
    """Loss, hits and d loss / d logits as TensorFlow's op; no underflow for very unlikely targets."""
    import tensorflow as tf

    from jazzgen.core.training import softmax_loss

    rng = np.random.default_rng(3)
    logits = rng.normal(0, 5, shape + (600,)).astype(np.float32)
    y = rng.integers(0, 600, shape).astype(np.int32)
    logits.reshape(-1, 600)[0, y.reshape(-1)[0]] -= 500.0   # softmax there underflows to 0
    logits, y = tf.constant(logits), tf.constant(y)
    weights = tf.constant(rng.normal(size=shape).astype(np.float32))  # e.g. mask / count
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(logits)
        ref = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)
        ce, hits = softmax_loss(logits, y)
        ref_loss, loss = tf.reduce_sum(ref * weights), tf.reduce_sum(ce * weights)
    assert ce.shape == hits.shape == shape
    assert float(tf.reduce_max(ref)) > 500                  # the underflowing target's loss
    np.testing.assert_allclose(ce.numpy(), ref.numpy(), rtol=1e-6, atol=1e-5)
    np.testing.assert_array_equal(hits.numpy(), np.argmax(logits.numpy(), -1) == y.numpy())
    np.testing.assert_allclose(tape.gradient(loss, logits).numpy(),
                               tape.gradient(ref_loss, logits).numpy(), atol=1e-6)


def test_fast_paths_give_the_reference_loss_and_gradients(monkeypatch):
    """A tiny conditioned model's loss, hits and gradients: split_lstm + softmax_loss (the default
    model's paths) equal BlockLSTM + TensorFlow's cross-entropy (the reference paths)."""
    import keras
    import tensorflow as tf

    import jazzgen.core.fused_lstm as fused_lstm
    from jazzgen.core import training
    from jazzgen.core.models import ModelConfig, build_models

    cfg, vocab = ModelConfig(units=8, embedding_dim=4, condition_dim=3), 12
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.integers(1, vocab, (5, 7, 1)), rng.random((5, 7, 3))], -1)
    x = tf.constant(x.astype(np.float32))                  # rows [id, features]
    y = tf.constant(rng.integers(0, vocab, (5, 7)).astype(np.int32))  # 0: padding, masked
    results = {}
    for name, split_units, loss_classes in (("reference", 10**9, 10**9), ("fast", 1, 1)):
        monkeypatch.setattr(fused_lstm, "SPLIT_MIN_UNITS", split_units)
        monkeypatch.setattr(training, "SOFTMAX_LOSS_MIN_CLASSES", loss_classes)
        keras.utils.set_random_seed(0)
        model = build_models(cfg, vocab).train

        def step(model=model):
            with tf.GradientTape() as tape:
                total, count, hits = training.masked_sums(model(x, training=True), y)
                loss = total / count
            grads = tape.gradient(loss, model.trainable_variables)
            return [loss, hits] + [tf.convert_to_tensor(g) for g in grads]

        graph = tf.function(step, autograph=False).get_concrete_function().graph
        ops = {op.type for op in graph.get_operations()}
        assert ("BlockLSTM" in ops) == (name == "reference")
        if name == "fast":  # (the reference's own ops differ once op determinism is on, as in fit)
            assert "Softmax" in ops and "SparseSoftmaxCrossEntropyWithLogits" not in ops
        results[name] = [t.numpy() for t in tf.function(step, autograph=False)()]
    for a, b in zip(results["reference"], results["fast"], strict=True):
        assert np.abs(a).max() > 0
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
