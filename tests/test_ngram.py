"""The n-gram baseline: a proper distribution, smoothing, and that context helps."""

from __future__ import annotations

import math

import numpy as np
import pytest

from jazzgen.core.ngram import NGramModel


def markov_sequences(n_seqs: int, length: int, seed: int) -> list[list[int]]:
    """Sequences from a peaked second-order Markov chain over ids 4..11 (structure to learn)."""
    rng = np.random.default_rng(seed)
    table = np.random.default_rng(0).integers(4, 12, size=(12, 12))  # the likely next id
    seqs = []
    for _ in range(n_seqs):
        seq = [int(rng.integers(4, 12)), int(rng.integers(4, 12))]
        while len(seq) < length:
            nxt = table[seq[-2], seq[-1]] if rng.random() < 0.85 else rng.integers(4, 12)
            seq.append(int(nxt))
        seqs.append(seq)
    return seqs


@pytest.fixture(scope="module")
def trigram() -> NGramModel:
    return NGramModel(order=3, vocab_size=16).fit(markov_sequences(40, 60, seed=1))


@pytest.mark.parametrize("context", [[], [5], [5, 6], [7, 7, 7], [15, 15], [2, 2], [4, 9, 11]])
def test_probabilities_sum_to_one(trigram: NGramModel, context: list[int]) -> None:
    total = sum(trigram.prob(context, w) for w in range(trigram.vocab_size))
    assert total == pytest.approx(1.0, abs=1e-9)
    dist = trigram.distribution(context)
    assert dist.sum() == pytest.approx(1.0, abs=1e-9)
    assert np.allclose(dist, [trigram.prob(context, w) for w in range(16)])


@pytest.mark.parametrize("order", [1, 2, 4])
def test_every_order_is_normalised(order: int) -> None:
    model = NGramModel(order=order, vocab_size=16).fit(markov_sequences(10, 30, seed=2))
    for context in ([], [4], [8, 9, 10]):
        assert model.distribution(context).sum() == pytest.approx(1.0, abs=1e-9)


def test_trigram_beats_unigram_on_held_out_data() -> None:
    train, test = markov_sequences(40, 60, seed=1), markov_sequences(10, 60, seed=99)
    uni = NGramModel(order=1, vocab_size=16).fit(train)
    tri = NGramModel(order=3, vocab_size=16).fit(train)
    assert tri.mean_nll(test) < uni.mean_nll(test) - 0.5
    assert tri.perplexity(test) == pytest.approx(math.exp(tri.mean_nll(test)))


def test_unseen_ids_and_contexts_get_finite_probability(trigram: NGramModel) -> None:
    # Ids 12..15 never occur in training; context [13, 14] was never seen.
    for context, w in (([5, 6], 15), ([13, 14], 15), ([13, 14], 5), ([], 0)):
        lp = trigram.log_prob(context, w)
        assert math.isfinite(lp) and lp < 0
    assert math.isfinite(trigram.mean_nll([[12, 13, 14, 15]]))


def test_seen_continuation_beats_unseen(trigram: NGramModel) -> None:
    train = markov_sequences(40, 60, seed=1)
    a, b, c = train[0][:3]
    assert trigram.prob([a, b], c) > trigram.prob([a, b], 15)


def test_mean_nll_of_a_uniform_model_is_log_v() -> None:
    model = NGramModel(order=2, vocab_size=8).fit([])
    assert model.mean_nll([[1, 2, 3]]) == pytest.approx(math.log(8))


def test_bad_ids_and_arguments_are_refused() -> None:
    with pytest.raises(ValueError):
        NGramModel(order=0, vocab_size=4)
    with pytest.raises(ValueError):
        NGramModel(order=2, vocab_size=4).fit([[0, 4]])
    model = NGramModel(order=2, vocab_size=4).fit([[0, 1]])
    with pytest.raises(ValueError):
        model.log_prob([0], 7)
    with pytest.raises(ValueError):
        model.mean_nll([[]])
