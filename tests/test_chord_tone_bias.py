"""The chord-tone bias at decoding: which values it favours, what it does to solos, 0 changes nothing."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from jazzgen.config import GenerateConfig
from jazzgen.core.sampling import sample_sequences
from jazzgen.core.vocab import Vocab
from jazzgen.errors import UsageError
from jazzgen.music.chords import parse_chord
from jazzgen.music.line import REACH, chord_tone_values, landing_kinds, playable_values, value_kinds
from jazzgen.music.score import ChordSpan
from jazzgen.music.values import Decoding, ValuesTokenizer, note_type

SPANS = (ChordSpan(parse_chord("Dm7"), 0.0, 4.0), ChordSpan(parse_chord("G7"), 4.0, 4.0),
         ChordSpan(parse_chord("Cmaj7"), 8.0, 8.0))
SPECIALS = ["<pad>", "<unk>", "<bos>", "<eos>"]
VALUES = [f"{t},1/2,<{i - 2},{i + 2}>" for t in "CSAX" for i in range(-5, 6)] + ["C,1/2", "S,1/2", "R,1/2"]


def test_chord_tone_values_are_the_playable_values_that_land_on_chord_tones():
    tokens = tuple(SPECIALS + VALUES)
    favoured = chord_tone_values(tokens)
    assert [t for t, f in zip(tokens, favoured) if f] == [t for t in tokens if t.startswith("C,")]
    kinds, leaps = value_kinds(tokens)
    named = kinds >= 0
    for previous, symbol in [(60, "G7"), (71, "Dm7b5"), (49, "Cmaj7#11"), (66, "Ebm7")]:
        chord = parse_chord(symbol)
        playable = playable_values(tokens, previous, chord, 48, 84)
        lands_on_chord_tone = landing_kinds(previous, chord, 48, 84)[leaps + REACH] == 0
        # where the line model may draw an interval, it lands on a chord tone exactly when its TYPE is C
        np.testing.assert_array_equal((playable & named & lands_on_chord_tone), playable & named & favoured)


class _Flat:
    """An engine whose every logit is 0: the sampled shares are the bias's alone."""

    def __init__(self, vocab_size: int):
        self.vocab_size = vocab_size

    def initial_state(self, batch_size):
        return None

    def step(self, ids, state):
        return np.zeros((len(ids), self.vocab_size), np.float32), state


def test_logit_bias_multiplies_the_odds_by_e_to_its_nats():
    favoured = np.zeros(10, bool)
    favoured[:3] = True
    rng = np.random.default_rng(0)
    draws = np.array(sample_sequences(_Flat(10), 20000, rng, start_id=0, max_steps=1,
                                      logit_bias=np.where(favoured, np.float32(1.0), np.float32(0.0))))[:, 0]
    share = favoured[draws].mean()
    want = 3 * np.e / (3 * np.e + 7)                                     # 0.538; unbiased 0.3
    assert share == pytest.approx(want, abs=0.015)


def _tiny_values_run():
    from jazzgen.core.engine import NumpyEngine
    from jazzgen.core.models import ModelConfig, build_models, export_weights
    from jazzgen.music.conditioning import N_FEATURES

    tokens = SPECIALS + VALUES
    cfg = ModelConfig(units=8, embedding_dim=4, condition_dim=N_FEATURES)
    engine = NumpyEngine(cfg, export_weights(build_models(cfg, len(tokens)), cfg), len(tokens))

    class Run:
        vocab = Vocab(tokens)

    return Run(), engine


def _solos(run, engine, bias: float, seed: int = 3, count: int = 12) -> list:
    from jazzgen.music.solos import sample_values

    decodings = [Decoding(ValuesTokenizer(), SPANS, (seed, b)) for b in range(count)]
    kwargs = {} if bias is None else {"chord_tone_bias": bias}
    ids = sample_values(run, engine, ValuesTokenizer(), [16.0] * count, np.random.default_rng(seed),
                        spans=[SPANS] * count, decodings=decodings, **kwargs)
    return ids, [d.decode(run.vocab.decode(x)) for x, d in zip(ids, decodings)]


def _chord_tone_share(solos) -> float:
    kinds = [note_type(n.pitch, s.chord_at(n.start_beat)) for s in solos for n in s.notes]
    return float(np.mean([k == "C" for k in kinds]))


def test_chord_tone_bias_raises_the_chord_tone_share_of_sampled_solos():
    run, engine = _tiny_values_run()
    _, plain = _solos(run, engine, 0.0)
    _, biased = _solos(run, engine, 2.0)
    assert _chord_tone_share(biased) > _chord_tone_share(plain) + 0.2   # about 0.3 -> 0.7


def test_no_bias_samples_exactly_what_was_sampled_without_the_option():
    run, engine = _tiny_values_run()
    ids, _ = _solos(run, engine, None)
    assert _solos(run, engine, 0.0)[0] == ids
    assert _solos(run, engine, 0.3)[0] != ids


@pytest.mark.parametrize("value", [-0.5, float("nan"), float("inf")])
def test_a_bad_bias_is_a_usage_error_naming_the_option(value):
    with pytest.raises(UsageError, match="--chord-tone-bias"):
        GenerateConfig(chord_tone_bias=value)


def test_the_command_line_refuses_a_negative_bias_in_one_line(tmp_path):
    from jazzgen.cli import main

    r = CliRunner().invoke(main, ["generate", "-o", str(tmp_path / "x.mid"), "--chord-tone-bias", "-1"])
    assert r.exit_code == 2, r.output
    assert r.output.strip() == "error: --chord-tone-bias must be >= 0 (got -1.0)"


@pytest.fixture
def seen(spy_sample_values) -> list:
    """The chord_tone_bias of every `solos.sample_values` call made while the test runs."""
    return spy_sample_values("chord_tone_bias")


def test_the_bias_reaches_sampling_from_the_command_line_and_the_api(seen, tmp_path):
    import jazzgen
    from jazzgen.cli import main

    jazzgen.generate("Dm7 | G7 | Cmaj7 | Cmaj7", bars=4, band="none", seed=1, chord_tone_bias=0.25)
    r = CliRunner().invoke(main, ["generate", "-o", str(tmp_path / "x.mid"), "--chords", "Dm7 | G7",
                                  "--band", "none", "--chord-tone-bias", "0.4"])
    assert r.exit_code == 0, r.output
    assert seen == [0.25, 0.4]


def test_runs_without_chord_relative_values_refuse_a_bias():
    from jazzgen.music.events import refuse_chord_tone_bias
    from jazzgen.text.inference import check_generate

    refuse_chord_tone_bias(0.0)
    with pytest.raises(UsageError, match="--chord-tone-bias applies to values runs"):
        refuse_chord_tone_bias(0.2)
    with pytest.raises(UsageError, match="--chord-tone-bias does not apply to text runs"):
        check_generate(GenerateConfig(chord_tone_bias=0.2), 10)


def test_a_run_samples_with_its_recipes_bias_unless_told_otherwise(seen, tmp_path):
    import jazzgen
    from jazzgen.cli import main
    from jazzgen.core.rundir import open_run

    recipe = open_run(None, warn=lambda m: None).config.generate.chord_tone_bias
    assert recipe > 0  # the bundled model's recipe (pipelines/wjd.toml) sets one
    jazzgen.generate("Dm7 | G7 | Cmaj7 | Cmaj7", bars=4, band="none", seed=1)
    args = ["generate", "-o", str(tmp_path / "x.mid"), "--chords", "Dm7 | G7", "--band", "none"]
    assert CliRunner().invoke(main, args).exit_code == 0
    assert CliRunner().invoke(main, args + ["--set", "generate.chord_tone_bias=0.3"]).exit_code == 0
    assert CliRunner().invoke(main, args + ["--chord-tone-bias", "0"]).exit_code == 0
    assert seen[:4] == [recipe, recipe, 0.3, 0.0]
