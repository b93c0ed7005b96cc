"""The events tokenizer: exact round trips, chord tokens, 12 keys, forced-chord sampling, primers."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from jazzgen.cli import main
from jazzgen.core.corpus import read_corpus, split_pieces
from jazzgen.core.sampling import sample_guided
from jazzgen.core.vocab import SPECIALS, Vocab
from jazzgen.music.chords import parse_chord, parse_progression
from jazzgen.music.events import (
    MINGUS_DURATIONS,
    EventsTokenizer,
    chord_token,
    class_log_probs,
    mingus_duration_classes,
    token_kinds,
    transpose_symbol,
    transpose_tokens,
)
from jazzgen.music.events_guide import EventsGuide, sample_events
from jazzgen.music.midi_io import read_midi
from jazzgen.music.pipeline import read_score
from jazzgen.music.score import ChordSpan, Note, Score
from jazzgen.music.tracks import score_from_midi

ROOT = Path(__file__).resolve().parent.parent
TINY = str(ROOT / "pipelines" / "tiny.toml")
WJD = ROOT / "data" / "midi" / "wjd"
TOKENIZER = EventsTokenizer()


def notes_of(score: Score) -> list[tuple[int, float, float]]:
    """(pitch, onset, length), rounded to the microbeat: a file stores ticks, a quantizer floats."""
    return [(n.pitch, round(n.start_beat, 6), round(n.duration_beats, 6)) for n in score.notes]


def reduced(score: Score, end: float) -> list[tuple[str, float]]:
    """(chord token, start) at each change of token before `end`, no-chord stretches left out."""
    out, last = [], None
    for span in score.chords:
        token = chord_token(span.chord)
        if span.start_beat < end - 1e-9 and token != last:
            out.append((token, round(span.start_beat, 6)))
        last = token
    return [(t, s) for t, s in out if t != "CH:NC"]


def test_round_trip_in_three_four_with_a_pickup_triplets_and_a_change_inside_a_note():
    notes = (Note(67, 2.0, 1.0), Note(72, 3.0, 1 / 3), Note(71, 10 / 3, 1 / 3), Note(69, 11 / 3, 1 / 3),
             Note(67, 4.0, 3.0), Note(65, 9.5, 0.5), Note(64, 10.0, 2.0))  # rest 7..9.5
    chords = (ChordSpan(parse_chord("C7"), 3.0, 3.0), ChordSpan(parse_chord("F/A"), 6.0, 3.0),
              ChordSpan(parse_chord("Bbo7"), 9.0, 3.0))
    score = Score(notes, chords, time_signature=(3, 4))
    tokens = TOKENIZER.encode(score)
    assert tokens[:9] == ["TS:3/4", "BAR", "R", "D2", "POS2", "P67", "D1", "BAR", "CH:C7"]
    assert "POS1/3" in tokens and "POS2/3" in tokens  # triplets keep their places
    assert tokens[tokens.index("CH:F") - 1] == "BAR"  # F/A at the bar line, while G4 sounds on
    back = TOKENIZER.decode(tokens)
    assert notes_of(back) == notes_of(TOKENIZER.quantize_score(score)[0])
    assert back.time_signature == (3, 4)
    assert reduced(back, 12.0) == [("CH:C7", 3.0), ("CH:F", 6.0), ("CH:Bbdim7", 9.0)]


@pytest.mark.parametrize("symbol, token", [
    ("G7(b9)", "CH:G7"), ("C/E", "CH:C"), ("F#m7b5", "CH:F#m7b5"), ("Bbo7", "CH:Bbdim7"),
    ("C7alt", "CH:C7"), ("Csus4", "CH:Csus4"), ("D7sus4", "CH:D7sus4"), ("Ebj7", "CH:Ebmaj7"),
    ("A-7", "CH:Am7"), ("Db6", "CH:Db6"), ("Cm6", "CH:Cm6"), ("C+", "CH:Caug"), ("NC", "CH:NC"),
])
def test_chord_tokens_are_root_and_quality(symbol, token):
    assert chord_token(parse_chord(symbol)) == token


def test_transposition_moves_pitches_and_roots():
    tokens = ["TS:4/4", "BAR", "CH:Bb7", "P70", "D1", "CH:NC", "R", "D1"]
    assert transpose_tokens(tokens, 3) == ["TS:4/4", "BAR", "CH:Db7", "P73", "D1", "CH:NC", "R", "D1"]
    assert transpose_tokens(["P126", "D1"], 3) is None
    assert transpose_symbol("Bb7/D", 2) == "C7/E" and transpose_symbol("F#m7b5", -6) == "Cm7b5"


@pytest.mark.parametrize("name", ["ArtPepper_Anthropology.mid", "JohnColtrane_GiantSteps-1.mid"])
def test_round_trip_on_bundled_solos(name):
    path = WJD / name
    score = TOKENIZER.quantize_score(score_from_midi(read_midi(path), path))[0]
    back = TOKENIZER.decode(TOKENIZER.encode(score))
    assert notes_of(back) == notes_of(score)
    end = score.notes[-1].end_beat
    assert reduced(back, end) == reduced(score, end)


def test_round_trip_on_lead_sheets():
    for path in sorted((ROOT / "data" / "leadsheets" / "openewld-sample").glob("*.mxl"))[:3]:
        score = TOKENIZER.quantize_score(read_score(path))[0]
        back = TOKENIZER.decode(TOKENIZER.encode(score))
        assert notes_of(back) == notes_of(score) and back.time_signature == score.time_signature


class RandomEngine:
    """A stand-in network: fixed random logits, whatever the input."""

    def __init__(self, vocab_size: int, seed: int = 0):
        self.logits = np.random.default_rng(seed).normal(size=vocab_size)

    def initial_state(self, batch_size):
        return [np.zeros((batch_size, 1))]

    def step(self, ids, state):
        return np.tile(self.logits, (len(ids), 1)), state


def test_sample_guided_forces_masks_and_stops():
    calls = []

    def guide(b, history):
        calls.append(len(history))
        if len(history) == 0:
            return 5  # forced
        if len(history) >= 4:
            return None  # finished
        mask = np.zeros(8, bool)
        mask[[2, 3]] = True
        return mask

    out = sample_guided(RandomEngine(8), 2, np.random.default_rng(1), start_id=0, max_steps=10, guide=guide)
    for seq in out:
        assert len(seq) == 4 and seq[0] == 5 and set(seq[1:]) <= {2, 3}


def events_vocab() -> Vocab:
    tokens = ["TS:4/4", "BAR", "R"] + [f"P{p}" for p in range(55, 80)]
    tokens += [f"D{d}" for d in ("1/3", "1/2", "1", "3/2", "2")]
    tokens += [f"POS{Fraction(k, 6)}" for k in range(1, 24)]
    tokens += [f"CH:{r}{q}" for r in ("C", "D", "F", "G", "Bb", "Eb") for q in ("", "m7", "7", "maj7")]
    return Vocab(SPECIALS + tuple(sorted(set(tokens))))


def test_guided_sampling_plays_exactly_the_given_changes():
    vocab = events_vocab()
    spans = parse_progression("Dm7 G7 | Cmaj7 | Bb7 | Eb7 Ebmaj7", 4.0)
    seqs = sample_events(RandomEngine(len(vocab), 3), vocab, TOKENIZER, spans, (4, 4), 16.0, 3,
                         np.random.default_rng(0))
    for seq in seqs:
        assert seq[:3] == ["TS:4/4", "BAR", "CH:Dm7"]
        assert [t for t in seq if t.startswith("CH:")] == ["CH:Dm7", "CH:G7", "CH:Cmaj7", "CH:Bb7",
                                                           "CH:Eb7", "CH:Ebmaj7"]
        assert seq.count("BAR") == 4
        solo = TOKENIZER.decode(seq)
        assert solo.notes and solo.notes[-1].start_beat < 16.0
        again = TOKENIZER.tokens(solo)  # the forced structure is what encoding writes
        assert again[: len(seq)] == seq
        assert reduced(solo, 16.0) == [("CH:Dm7", 0.0), ("CH:G7", 2.0), ("CH:Cmaj7", 4.0),
                                       ("CH:Bb7", 8.0), ("CH:Eb7", 12.0), ("CH:Ebmaj7", 14.0)]


def test_tempo_bars_name_the_class_and_decode_as_bars():
    timed = EventsTokenizer(tempo_edges_qpm=(110, 150, 190, 240, 290))
    assert [timed.bar_token(q) for q in (60, 110, 170, 240, 300)] == [
        "BAR:-110", "BAR:110-150", "BAR:150-190", "BAR:240-290", "BAR:290-"]
    assert TOKENIZER.bar_token(300) == "BAR"  # the default writes plain bars, as before
    notes = (Note(60, 0.5, 1.0), Note(62, 1.5, 2 / 3), Note(64, 4.0, 3.5), Note(65, 9.0, 1.0))
    score = Score(notes, (ChordSpan(parse_chord("C7"), 0.0, 12.0),), tempo_qpm=265.0)
    tokens = timed.encode(score)
    assert [t for t in tokens if t.startswith("BAR")] == ["BAR:240-290"] * 3
    assert notes_of(timed.decode(tokens)) == notes_of(TOKENIZER.decode(TOKENIZER.encode(score)))
    assert EventsTokenizer.from_config(json.loads(json.dumps(timed.config()))) == timed


def test_preprocess_setting_turns_tempo_bars_on():
    from jazzgen.config import PreprocessConfig

    assert EventsTokenizer.from_settings(PreprocessConfig()) == TOKENIZER
    assert EventsTokenizer.from_settings(PreprocessConfig(events_tempo=True)).bar_token(100) == "BAR:-110"


def test_guided_sampling_forces_the_bar_of_the_given_tempo():
    timed = EventsTokenizer(tempo_edges_qpm=(110, 150, 190, 240, 290))
    vocab = Vocab(tuple(t if t != "BAR" else "BAR:190-240" for t in events_vocab().tokens) + ("BAR:-110",))
    spans = parse_progression("Dm7 G7 | Cmaj7", 4.0)
    for tempo, bar in ((200.0, "BAR:190-240"), (80.0, "BAR:-110")):
        seq = sample_events(RandomEngine(len(vocab), 3), vocab, timed, spans, (4, 4), 8.0, 1,
                            np.random.default_rng(0), tempo_qpm=tempo)[0]
        assert [t for t in seq if t.startswith("BAR")] == [bar, bar]
        assert timed.tokens(replace(timed.decode(seq), tempo_qpm=tempo))[: len(seq)] == seq


def test_an_unknown_typed_chord_falls_back_to_a_simpler_token():
    guide = EventsGuide(TOKENIZER, events_vocab().tokens, [], (4, 4), 4.0)
    assert guide.id("CH:Cm7b5") == events_vocab().id("CH:Cm7")
    assert guide.id("CH:Ddim7") == events_vocab().id("CH:D")  # dim7 -> dim -> m -> triad
    assert guide.id("CH:F#7") == events_vocab().id("<unk>")


def test_a_primer_is_continued_from_where_it_ends():
    vocab = events_vocab()
    spans = parse_progression("C | F7 | C | G7", 4.0)
    primer_score = Score((Note(60, 0.0, 1.0), Note(64, 1.0, 0.5), Note(67, 3.0, 2.0)),
                         tuple(ChordSpan(s.chord, s.start_beat, min(s.end_beat, 5.0) - s.start_beat)
                               for s in spans if s.start_beat < 5.0))
    primer = TOKENIZER.encode(primer_score)
    seqs = sample_events(RandomEngine(len(vocab), 4), vocab, TOKENIZER, spans, (4, 4), 16.0, 2,
                         np.random.default_rng(2), primer=primer)
    for seq in seqs:
        solo = TOKENIZER.decode(primer + seq)
        assert notes_of(solo)[:3] == [(60, 0.0, 1.0), (64, 1.0, 0.5), (67, 3.0, 2.0)]
        assert seq[0] == "POS1"  # the next note at beat 5 is on beat 2 of bar 2
        assert TOKENIZER.tokens(solo)[: len(primer) + len(seq)] == primer + seq


def test_split_by_song_keeps_every_key_of_a_song_together():
    groups = [f"song{i // 12}" for i in range(12 * 10)]
    train, val = split_pieces(len(groups), 0.2, 0, groups=groups)
    assert len(val) == 24 and len(train) == 96
    assert not {groups[i] for i in train} & {groups[i] for i in val}
    assert np.array_equal(split_pieces(30, 0.1, 0)[1], split_pieces(30, 0.1, 0, groups=None)[1])


@pytest.fixture(scope="module")
def events_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("events")
    src = tmp / "src"
    src.mkdir()
    for name in ("ArtPepper_Anthropology.mid", "CharlieParker_Ornithology.mid"):
        shutil.copy(WJD / name, src / name)
    r = CliRunner().invoke(main, ["preprocess", str(src), "-o", str(tmp / "corpus"), "--tokenizer", "events"],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert "2 kept" in r.output and "all 12 keys: 24 pieces" in r.output
    r = CliRunner().invoke(main, ["train", str(tmp / "corpus"), "-o", str(tmp / "run"), "--pipeline", TINY,
                                  "--epochs", "1", "--set", "data.val_fraction=0.5"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return tmp


@pytest.mark.slow
def test_events_corpus_is_split_by_song(events_run):
    pieces = [json.loads(line) for line in (events_run / "corpus" / "pieces.jsonl").read_text().splitlines()]
    info = json.loads((events_run / "run" / "run.json").read_text())
    val_songs = {pieces[i]["source"] for i in info["val_pieces"]}
    train_songs = {pieces[i]["source"] for i in info["train_pieces"]}
    assert len(val_songs) == 1 and not val_songs & train_songs
    assert sorted(pieces[i].get("transpose", 0) for i in info["val_pieces"]) == sorted(range(-5, 7))


@pytest.mark.slow
def test_events_generate_over_typed_changes_with_a_primer(events_run, tmp_path):
    args = ["generate", str(events_run / "run"), "--chords", "Dm7 G7 | Cmaj7 | F7 | Bb7 Eb7", "--bars", "8"]
    out = {}
    for name, seed, backend in (("a", 5, "numpy"), ("b", 5, "numpy"), ("k", 5, "keras")):
        out[name] = tmp_path / f"{name}.mid"
        r = CliRunner().invoke(main, args + ["-o", str(out[name]), "--seed", str(seed), "--backend", backend],
                               catch_exceptions=False)
        assert r.exit_code == 0, r.output
    assert out["a"].read_bytes() == out["b"].read_bytes() == out["k"].read_bytes()
    score = score_from_midi(read_midi(out["a"]), out["a"])
    assert [(s.chord.symbol, s.start_beat) for s in score.chords][:6] == [
        ("Dm7", 0.0), ("G7", 2.0), ("Cmaj7", 4.0), ("F7", 8.0), ("Bb7", 12.0), ("Eb7", 14.0)]
    assert score.notes and all(36 <= n.pitch <= 96 for n in score.notes)
    short, primed = tmp_path / "short.mid", tmp_path / "primed.mid"
    r = CliRunner().invoke(main, args[:-1] + ["2", "-o", str(short), "--seed", "9"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, args + ["-o", str(primed), "--primer", str(short)], catch_exceptions=False)
    assert r.exit_code == 0 and "after the primer short.mid" in r.output
    start = notes_of(TOKENIZER.quantize_score(score_from_midi(read_midi(short), short))[0])
    whole = notes_of(score_from_midi(read_midi(primed), primed))
    assert start and whole[: len(start)] == start and len(whole) > len(start)


def test_our_durations_fall_in_mingus_classes_by_nearest_length():
    beats = np.array([0, 1 / 12, 2 / 12, 3 / 12, 4 / 12, 5 / 12, 6 / 12, 8 / 12, 15 / 12, 4.0])
    got = [MINGUS_DURATIONS[c] if c >= 0 else None for c in mingus_duration_classes(beats)]
    # a triplet eighth is nearest the sixteenth; 1.25 is as near a quarter as a dotted quarter,
    # and the quarter is listed first
    assert got == [None, 1 / 12, 1 / 6, 1 / 4, 1 / 4, 1 / 2, 1 / 2, 3 / 4, 1, 4]


def test_class_log_probs_sum_each_class_and_never_score_below_the_token():
    rng = np.random.default_rng(0)
    classes = np.array([-1, 0, 0, 1, 2, 2, 2, -1])
    logits = rng.normal(size=(5, classes.size)) * 3
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    targets = np.array([1, 3, 6, 2, 4])
    got = class_log_probs(log_p, classes, targets)
    for row, target, value in zip(log_p, targets, got, strict=True):
        assert value == pytest.approx(np.log(np.exp(row[classes == classes[target]]).sum()))
        assert value >= row[target]


def test_every_duration_token_of_the_grammar_has_a_mingus_class():
    durations = [f"D{Fraction(ticks, 12)}" for ticks in range(1, 49)]
    _, _, beats = token_kinds(tuple(["BAR", "R", "P60"] + durations))
    classes = mingus_duration_classes(beats)
    assert list(classes[:3]) == [-1, -1, -1] and (classes[3:] >= 0).all()


@pytest.mark.slow
def test_events_perplexities_for_evaluate(events_run):
    r = CliRunner().invoke(main, ["evaluate", str(events_run / "run"), "--samples", "0", "--json"],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout.strip().splitlines()[-1])
    figures = result["events"]
    assert figures["pieces"] == 1 and figures["pitch_targets"] > 100
    # the held-out song once, in its own key (its 11 copies are held out too, but not scored),
    # and the training song read once from its file
    assert result["val_pieces"] == 1 and result["corpus_pieces"] == 1
    corpus = read_corpus(events_run / "corpus")
    val = json.loads((events_run / "run" / "run.json").read_text())["val_pieces"]
    own = [i for i in val if not corpus.pieces[i].get("transpose")]
    assert len(val) == 12 and result["val_values"] == len(corpus.piece_ids(own[0])) + 1  # + <eos>
    assert 1 < figures["pitch_perplexity"] < 200 and 1 < figures["duration_perplexity"] < 50
    # coarser classes can only be likelier: each class holds the target token and maybe more
    assert 1 <= figures["duration_perplexity_mingus_classes"] <= figures["duration_perplexity"]
    r = CliRunner().invoke(main, ["evaluate", str(events_run / "run"), "--samples", "0"], catch_exceptions=False)
    line = next(x for x in r.output.splitlines() if "on MINGUS classes" in x)
    assert f"{figures['duration_perplexity_mingus_classes']:.3f}" in line and line.endswith("4.1")
    assert figures["mingus"] == {"pitch": 11.0, "duration": 4.1}


@pytest.mark.slow
def test_conditioned_events_run_trains_generates_and_evaluates(events_run, tmp_path):
    from jazzgen.music.conditioning import EVENTS_VERSION

    r = CliRunner().invoke(main, ["train", str(events_run / "corpus"), "-o", str(tmp_path / "run"), "--pipeline",
                                  TINY, "--epochs", "1", "--set", "data.val_fraction=0.5",
                                  "--set", "data.condition=true"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "run" / "task.json").read_text())["condition"] == EVENTS_VERSION
    args = ["generate", str(tmp_path / "run"), "--chords", "Dm7 G7 | Cmaj7 | F7 | Bb7 Eb7", "--bars", "4",
            "--seed", "3"]
    out = {}
    for backend in ("numpy", "keras"):
        out[backend] = tmp_path / f"{backend}.mid"
        r = CliRunner().invoke(main, args + ["-o", str(out[backend]), "--backend", backend],
                               catch_exceptions=False)
        assert r.exit_code == 0, r.output
    assert out["numpy"].read_bytes() == out["keras"].read_bytes()  # numpy and Keras draw the same solo
    assert score_from_midi(read_midi(out["numpy"]), out["numpy"]).notes
    r = CliRunner().invoke(main, ["evaluate", str(tmp_path / "run"), "--samples", "0", "--json"],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    figures = json.loads(r.stdout.strip().splitlines()[-1])["events"]
    assert 1 < figures["pitch_perplexity"] < 200 and 1 < figures["duration_perplexity"] < 50


@pytest.mark.slow
def test_gate_is_refused_for_events(events_run, tmp_path):
    r = CliRunner().invoke(main, ["train", str(events_run / "corpus"), "-o", str(tmp_path / "run"), "--pipeline",
                                  TINY, "--epochs", "1", "--set", "data.condition=true", "--set", "data.gate=true"])
    assert r.exit_code == 2 and "data.gate is for the values grammar" in r.output
