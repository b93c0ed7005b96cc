"""`jazzgen generate` with charts, tunes, the band and notation, and `jazzgen tunes`, end to end."""

from __future__ import annotations

import mido
import pytest
from click.testing import CliRunner

from jazzgen.cli import main


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_chart_file_with_lead_sheet_and_performance_options(tmp_path):
    chart = tmp_path / "tune.txt"
    chart.write_text("title: Little Tune\nkey: F\nstyle: waltz\n|: F | D7 | Gm7 | C7 :|\n")
    out = tmp_path / "tune.mid"
    r = invoke("generate", "-o", out, "--chart", chart, "--musicxml", "--key", "G", "--instrument", "trumpet",
               "--tempo", "180", "--seed", "2")
    assert r.exit_code == 0, r.output
    assert "wrote 1 solo of 8 bars over Little Tune (trumpet, band trio, waltz at 180 bpm, seed 2)" in r.output
    mid = mido.MidiFile(out)
    assert [t.name for t in mid.tracks] == ["conductor", "melody", "chords", "bass", "drums"]
    markers = [m.text for t in mid.tracks for m in t if m.type == "marker"]
    assert markers[:4] == ["G", "E7", "Am7", "D7"]  # transposed from F to G, lead-sheet spelling
    assert any(m.type == "time_signature" and (m.numerator, m.denominator) == (3, 4) for m in mid.tracks[0])
    programs = {m.program for m in mid.tracks[1] if m.type == "program_change"}
    assert programs == {56}  # trumpet
    assert "<work-title>Little Tune</work-title>" in out.with_suffix(".musicxml").read_text()


def test_musicxml_output_alone_and_tunes(tmp_path):
    out = tmp_path / "sheet.musicxml"
    r = invoke("generate", "-o", out, "--tune", "Oleo", "--bars", "4", "--band", "none")
    assert r.exit_code == 0, r.output
    assert out.is_file() and not out.with_suffix(".mid").exists()
    assert "over Oleo" in r.output
    r = invoke("tunes", "blues for")
    assert r.exit_code == 0 and "Blues for Alice" in r.output and "F    4/4     12" in r.output
    r = invoke("tunes", "--chart", "Oleo")
    assert r.exit_code == 0 and r.output.startswith("title: Oleo\nkey: Bb\n| Bbmaj7 G7 |")


def test_corpus_changes_name_the_tune():
    with CliRunner().isolated_filesystem():
        r = invoke("generate", "--bars", "4", "--seed", "5")
        assert r.exit_code == 0, r.output
        assert "over the changes of " in r.output and ".mid)" in r.output


@pytest.mark.parametrize("args, code, words", [
    (["--chords", "C7 | F7 | H7"], 2, "error: bar 3: unknown chord symbol 'H7'"),
    (["--chords", "C7 . . | F7"], 2, "error: bar 1: 3 beats in a 4/4 bar"),
    (["--tune", "Blues for"], 2, "matches"),
    (["--chords", "C7", "--tune", "Oleo"], 2, "one way"),
    (["--chords", "C7", "--instrument", "kazoo"], 2, "kazoo"),
    (["--chords", "C7", "--band", "quartet"], 2, "quartet"),
    (["--chords", "C7", "--swing", "9"], 2, "--swing"),
    (["--chart", "no-such-chart.txt"], 2, "no-such-chart.txt: no such chart file"),
])
def test_bad_options_exit_2_with_one_line(tmp_path, args, code, words):
    r = invoke("generate", "-o", tmp_path / "x.mid", *args)
    assert r.exit_code == code, r.output
    assert words in r.output and "Traceback" not in r.output
    assert not (tmp_path / "x.mid").exists()


def test_pdf_without_an_engraver_says_what_to_install(tmp_path, monkeypatch):
    from jazzgen.music import engraving

    monkeypatch.setattr(engraving, "engravers", lambda: [])  # as on a machine with none installed
    out = tmp_path / "x.mid"
    r = invoke("generate", "-o", out, "--chords", "C7 | F7", "--pdf")
    assert r.exit_code == 0, r.output
    assert "note: --pdf: no engraver for PDF found; install an engraver: `apt-get install -y musescore3`" \
        in r.output
    assert out.is_file() and out.with_suffix(".musicxml").is_file() and not out.with_suffix(".pdf").exists()
