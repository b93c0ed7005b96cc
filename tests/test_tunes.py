"""The tune book: bundled entries parse, titles are found, keys estimated, the book rebuilt from tables."""

from __future__ import annotations

import pytest

from jazzgen.errors import UsageError
from jazzgen.music.charts import parse_chart
from jazzgen.music.tunes import (
    build_tune_book,
    estimate_key,
    find_tune,
    search_tunes,
    title_from_stem,
    tune_book,
    tune_chart,
)


def test_every_bundled_tune_parses_to_its_form_length():
    book = tune_book()
    assert len(book) > 250
    for entry in book:
        chart = tune_chart(entry)
        assert len(chart.bars) == entry["bars"] == chart.form_bars
        assert entry["solos"] == len(entry["sources"]) >= 1
        assert chart.title == entry["title"] and chart.key == entry["key"]


def test_find_by_exact_title_prefix_or_word_and_list_candidates():
    assert find_tune("All the Things You Are")["title"] == "All the Things You Are"
    assert find_tune("all the things")["title"] == "All the Things You Are"
    assert find_tune("body and soul")["solos"] > 10
    with pytest.raises(UsageError, match=r"matches \d+ tunes: Blues for Alice, Blues for Bela"):
        find_tune("Blues for")
    assert find_tune("Impressions")["solos"] >= 2  # two takes, one tune
    with pytest.raises(UsageError, match="no such tune"):
        find_tune("Zzzz Not A Tune")
    found = search_tunes("BLUES")
    assert len(found) > 20 and all("blues" in t["title"].lower().replace(" ", "") for t in found)


def test_titles_from_file_stems():
    assert title_from_stem("JohnColtrane_GiantSteps-1") == "Giant Steps"
    assert title_from_stem("CharlieParker_I'llRememberApril") == "I'll Remember April"
    assert title_from_stem("MilesDavis_SoWhat_1959") == "So What"
    assert title_from_stem("X_BodyAndSoul") == "Body and Soul"
    assert title_from_stem("X_SoftlyAsInAMorningSunrise") == "Softly as in a Morning Sunrise"
    assert title_from_stem("X_D.B.Blues") == "D.B. Blues"


@pytest.mark.parametrize("text, key", [
    ("| Dm7 | G7 | Cmaj7 | % |", "C"),
    ("| Dm7 | G7 | Cmaj7 | A7alt |", "C"),  # the turnaround at the end does not move the key
    ("| Cm7 | F7 | Bbmaj7 | Ebmaj7 | Am7b5 | D7 | Gm6 | % |", "Gm"),
    ("| Bb7 | Eb7 | Bb7 | % | Eb7 | % | Bb7 | G7 | Cm7 | F7 | Bb7 | F7 |", "Bb"),
])
def test_estimate_key(text, key):
    assert estimate_key(parse_chart(text)) == key


def test_build_tune_book_from_beat_tables(tmp_path):
    beats = tmp_path / "beats"
    beats.mkdir()
    rows = ["bar,bass_pitch,beat,chord,chorus_id,form,onset,signature", "0,40,1,F7,0,,0.0,"]
    onset = 0.5
    for bar, chords in enumerate((["F7"], ["Bb7"], ["F7", "D7"], ["Gm7", "C7"]), start=1):
        for beat in range(4):
            chord = chords[0] if beat == 0 else (chords[1] if beat == 2 and len(chords) > 1 else "")
            rows.append(f"{bar},40,{beat + 1},{chord},1,{'A1' if bar == 1 and beat == 0 else ''},{onset},"
                        f"{'4/4' if bar == 1 and beat == 0 else ''}")
            onset += 0.5
    rows.append(f"5,40,1,F7,2,,{onset},")
    (beats / "SomePlayer_BluesForTests_Solo.csv").write_text("\n".join(rows) + "\n")
    (beats / "OtherPlayer_BluesForTests-2_Solo.csv").write_text("\n".join(rows) + "\n")
    (entry,) = build_tune_book(beats)
    assert (entry["title"], entry["bars"], entry["solos"], entry["key"]) == ("Blues for Tests", 4, 2, "F")
    chart = parse_chart(entry["chart"])
    assert [[(c.symbol, b) for c, b in bar.chords] for bar in chart.bars] == [
        [("F7", 4.0)], [("Bb7", 4.0)], [("F7", 2.0), ("D7", 2.0)], [("Gm7", 2.0), ("C7", 2.0)]]
