"""Chord charts: form (repeats, endings, %, xN), meter, uneven bars, headers, errors, round trips."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jazzgen.music.chart_writer import chart_from_spans, chart_text
from jazzgen.music.charts import (
    Chart,
    ChartBar,
    ChartError,
    key_semitones,
    parse_chart,
    spell,
)
from jazzgen.music.chords import parse_chord, parse_progression

WJD_SYMBOLS = (Path(__file__).parent / "fixtures" / "wjd_chord_symbols.txt").read_text().split()


def played(text: str, **kw) -> list[str]:
    """Each bar as played: its chord symbols with their beats, e.g. 'C7:3 F7:1'."""
    return [" ".join(f"{c.symbol}:{b:g}" for c, b in bar.chords) for bar in parse_chart(text, **kw).bars]


def test_plain_bars_give_the_same_spans_as_the_old_progression_reader():
    for text in ("| Bb7 |  Eb7 | Dm7   G7 | Cmaj7 |", "Dm7 G7  Cmaj7",
                 "Bb7 | F-7 | Ebj7 | D79b | C7alt | Fsus7 | G-7 | NC"):
        old = parse_progression(text)
        new = parse_chart(text).spans()
        assert [(s.chord, s.start_beat, s.duration_beats) for s in new] == \
               [(s.chord, s.start_beat, s.duration_beats) for s in old]


def test_repeats_endings_and_times():
    assert played("|: Cm7 | F7 :|") == ["Cm7:4", "F7:4"] * 2
    assert played("|: Cm7 | F7 :| x3 Bb") == ["Cm7:4", "F7:4"] * 3 + ["Bb:4"]
    assert played("|: A | 1. B :|2. C | D ||") == ["A:4", "B:4", "A:4", "C:4", "D:4"]
    assert played("|: A |1. B | E :|2. C ||") == ["A:4", "B:4", "E:4", "A:4", "C:4"]
    assert played("|: A | [1 B :| [2 C |") == ["A:4", "B:4", "A:4", "C:4"]
    assert played("Cm7 :| C") == ["Cm7:4", "Cm7:4", "C:4"]  # no |: repeats from the start
    assert played("|: C | D :| |: E | F :|") == ["C:4", "D:4"] * 2 + ["E:4", "F:4"] * 2


def test_percent_times_dots_and_meters():
    assert played("C7 . . F7 | % | 3/4 Bb . F | Gm7 x2 | N.C.") == [
        "C7:3 F7:1", "C7:3 F7:1", "Bb:2 F:1", "Gm7:3", "Gm7:3", "N.C.:3"]
    assert played("6/8 C . . F . . | C F") == ["C:1.5 F:1.5"] * 2
    assert played("5/4 Ebm7 . . Bbm7 . | %") == ["Ebm7:3 Bbm7:2"] * 2
    chart = parse_chart("| C | 3/4 F | G | 4/4 C |")
    assert chart.meter_changes() == [(0.0, (4, 4)), (4.0, (3, 4)), (10.0, (4, 4))]
    assert chart.bar_starts() == [0.0, 4.0, 7.0, 10.0]
    assert parse_chart("C", time_signature=(3, 4)).total_beats == 3


def test_header_lines():
    chart = parse_chart("title: Blue Monk\nkey: Bb\ntempo: 120\nstyle: ballad\ntime: 3/4\n"
                        "# a comment\n| Bb7 | Eb7 |\n| Bb7 | % |\n")
    assert (chart.title, chart.key, chart.tempo_qpm, chart.style) == ("Blue Monk", "Bb", 120.0, "ballad")
    assert chart.time_signature == (3, 4) and len(chart.bars) == 4


@pytest.mark.parametrize("text, bar, symbol, words", [
    ("Dm7 | G7 | C | C | C | C | H7 | C", 7, "H7", "unknown chord symbol 'H7'"),
    ("Dm7 | Dm7 G7 G | C . . |", 3, "C . .", "3 beats in a 4/4 bar"),
    ("| % | C", 1, "%", "'%'"),
    ("Dm7 | | G7", 2, "", "no chord"),
    ("A | 2. B", 2, "2.", "outside a repeat"),
    ("C | 7/5 D", 2, "7/5", "time signature"),
    ("C | . D", 2, ".", "holds the chord"),
    ("|: C |: D :|", 2, "|:", "inside a repeat"),
])
def test_errors_name_the_bar_and_the_symbol(text, bar, symbol, words):
    with pytest.raises(ChartError) as info:
        parse_chart(text, source="tune.txt")
    err = info.value
    assert (err.bar, err.symbol) == (bar, symbol)
    assert str(err).startswith(f"tune.txt: bar {bar}: ") and words in str(err)


@pytest.mark.parametrize("text, words", [
    ("|: C x999 | D :| x999", "more than 10000 bars"),
    ("", "empty"), ("foo: bar\nC", "unknown header 'foo'"), ("tempo: fast\nC", "tempo"),
    ("style: polka\nC", "style"), ("key: H\nC", "key"),
])
def test_header_and_empty_errors(text, words):
    with pytest.raises(ChartError, match=words):
        parse_chart(text)


@pytest.mark.parametrize("symbol", WJD_SYMBOLS)
def test_every_wjd_spelling_reads_in_a_chart_and_spells_back_the_same_chord(symbol):
    (bar,) = parse_chart(f"| {symbol} |").bars
    chord = bar.chords[0][0]
    assert chord == parse_chord(symbol)
    again = parse_chord(spell(chord))
    assert set(again.pitch_classes) == set(chord.pitch_classes) and again.bass == chord.bass


@pytest.mark.parametrize("given_, wanted", [
    ("Cj7", "Cmaj7"), ("E-7", "Em7"), ("Abo7", "Abo7"), ("Fsus7", "F7sus4"), ("Db7#11", "Db7#11"),
    ("D79b", "D7b9"), ("Bbm7b5", "Bbm7b5"), ("C69", "C6/9"), ("NC", "N.C."), ("C/E", "C/E"),
])
def test_lead_sheet_spelling(given_, wanted):
    assert spell(parse_chord(given_)) == wanted


def test_transpose_and_key_semitones():
    chart = parse_chart("key: Bb\n| Bb7 | F-7 Bb7 | Ebj7 |").transposed(key_semitones("Bb", "C"))
    assert [c.symbol for c, _ in (p for bar in chart.bars for p in bar.chords)] == ["C7", "Gm7", "C7", "Fmaj7"]
    assert chart.key == "C"
    assert key_semitones("C", "Bb") == -2 and key_semitones("Am", "F#m") == -3


# -- round trips: text -> bars -> text, and spans -> chart text -> spans ------------------------

SYMBOLS = ["C7", "F-7", "Ebj7", "D79b", "Bbmaj7#11", "Am7b5", "N.C.", "G13", "C/E", "Abo7", "Fsus7", "E7alt"]
METERS = [(4, 4), (3, 4), (6, 8), (5, 4), (2, 2)]


@st.composite
def bars(draw):
    meter = draw(st.sampled_from(METERS))
    slot = 4.0 / meter[1]
    if draw(st.booleans()):  # chords split the bar evenly
        k = draw(st.integers(1, 3))
        lengths = [meter[0] * slot / k] * k
    else:  # chords held a whole number of beats ('C7 . . F7')
        cuts = sorted(draw(st.sets(st.integers(1, meter[0] - 1), max_size=3))) if meter[0] > 1 else []
        edges = [0, *cuts, meter[0]]
        lengths = [(b - a) * slot for a, b in zip(edges, edges[1:])]
    chords = tuple((parse_chord(draw(st.sampled_from(SYMBOLS))), n) for n in lengths)
    return ChartBar(chords, meter)


@settings(max_examples=150, deadline=None)
@given(st.lists(bars(), min_size=1, max_size=12))
def test_chart_text_round_trips_bars_and_spans(bar_list):
    chart = Chart(tuple(bar_list))
    again = parse_chart(chart_text(chart))
    assert again.bars == chart.bars
    assert again.spans() == chart.spans()


@settings(max_examples=100, deadline=None)
@given(st.lists(bars(), min_size=1, max_size=8), st.sampled_from(METERS))
def test_spans_round_trip_through_chart_text(bar_list, meter):
    bar_list = [ChartBar(b.chords, meter) for b in bar_list if b.time_signature == meter] or \
        [ChartBar(((parse_chord("C7"), meter[0] * 4.0 / meter[1]),), meter)]
    spans = Chart(tuple(bar_list)).spans()
    text = chart_text(chart_from_spans(spans, meter, title="t"))
    back = parse_chart(text).spans()
    # Neighbouring equal chords inside a bar merge; the chord sounding at every beat is kept.
    for beat in [k / 2 + 0.01 for k in range(int(round(spans[-1].end_beat * 2)))]:
        at = [s.chord for s in spans if s.start_beat <= beat < s.end_beat]
        again = [s.chord for s in back if s.start_beat <= beat < s.end_beat]
        assert at == again, beat
    assert back[-1].end_beat == pytest.approx(spans[-1].end_beat)


def test_the_documented_example_chart_reads_as_described():
    doc = (Path(__file__).parent.parent / "docs" / "charts.md").read_text()
    text = doc.split("```text\n", 1)[1].split("```", 1)[0]
    chart = parse_chart(text)
    assert (chart.title, chart.key, chart.tempo_qpm, chart.style) == ("Autumn in Bb", "Gm", 140.0, "swing")
    names = [" ".join(c.symbol for c, _ in bar.chords) for bar in chart.bars]
    assert names == ["Cm7", "F7", "Bbmaj7", "Ebmaj7", "Am7b5", "D7b9", "Gm6", "Gm6",
                     "Cm7", "F7", "Bbmaj7", "Ebmaj7", "Am7b5", "D7b9", "Gm6", "G7",
                     "C7 F7", "N.C.", "Bb", "Bb"]
    assert [bar.time_signature for bar in chart.bars][-4:] == [(3, 4), (3, 4), (4, 4), (4, 4)]
    assert [b for _, b in chart.bars[16].chords] == [2.0, 1.0]


def test_spans_changing_between_beats_move_to_the_nearest_beat():
    from jazzgen.music.score import ChordSpan

    c7, f7 = parse_chord("C7"), parse_chord("F7")
    spans = [ChordSpan(c7, 0, 2.4), ChordSpan(f7, 2.4, 1.6), ChordSpan(f7, 4, 4)]
    chart = chart_from_spans(spans)
    assert [[(c.symbol, b) for c, b in bar.chords] for bar in chart.bars] == [
        [("C7", 2.0), ("F7", 2.0)], [("F7", 4.0)]]
    assert parse_chart(chart_text(chart)).bars == chart.bars


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="|:%.x123456789/ \nABCDEFGbm#-j7o+N()^tile:y", max_size=60))
def test_any_text_is_a_chart_or_one_chart_error(text):
    try:
        chart = parse_chart(text)
    except ChartError as err:
        assert "\n" not in str(err)  # one line, naming what is wrong
        return
    assert chart.bars and chart.total_beats > 0


def test_headers_typed_on_one_line():
    one_line = parse_chart("title: Blues | C7 | F7 |")
    assert one_line.title == "Blues" and len(one_line.bars) == 2
    typed = parse_chart("title: T\\nstyle: waltz\\n| C7 | F7 |")  # backslash-n as a shell passes it
    assert (typed.title, typed.style, typed.time_signature, len(typed.bars)) == ("T", "waltz", (3, 4), 2)
