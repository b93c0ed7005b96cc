"""The band measured on its output: bass range and downbeats, piano voice leading, drums, swing."""

from __future__ import annotations

import io

import mido
import numpy as np
import pytest

from jazzgen.music.band import (
    BASS_RANGE,
    DRUM_CHANNEL,
    RIDE,
    accompany,
    default_swing,
    guide_tones,
    swing_beat,
)
from jazzgen.music.charts import parse_chart
from jazzgen.music.chords import parse_chord
from jazzgen.music.instruments import find_instrument
from jazzgen.music.performance import Performance
from jazzgen.music.score import Score
from jazzgen.music.tunes import find_tune, tune_chart

RHYTHM = "|: Bb7 | Eb7 | Bb7 | Fm7 Bb7 | Eb7 | Edim7 | Bb7 G7 | Cm7 F7 :| Bbmaj7 | Am7b5 D7b9 | Gm7 C7 | F7sus4 |"


def chart(text: str = RHYTHM, bars: int = 48):
    return parse_chart(text).looped(bars)


def part(parts, name):
    return next(p for p in parts if p.name == name)


@pytest.mark.parametrize("style", ["swing", "ballad", "bossa", "waltz"])
def test_bass_stays_in_range_and_plays_roots_or_fifths_on_downbeats(style):
    played = chart("title: x\n" + RHYTHM if style != "waltz" else "style: waltz\n" + RHYTHM)
    bass = part(accompany(played, "trio", style, seed=4), "bass").notes
    assert all(BASS_RANGE[0] <= n.pitch <= BASS_RANGE[1] for n in bass)
    spans = played.spans()
    hits = total = 0
    for start in played.bar_starts():
        chord = next(s.chord for s in spans if s.start_beat <= start < s.end_beat)
        on_one = [n for n in bass if abs(n.start_beat - start) < 1e-6]
        assert on_one, f"no bass note on the downbeat at {start}"
        total += 1
        hits += (on_one[0].pitch - chord.root) % 12 in (0, 7)
    assert hits / total >= 0.9


def test_walking_bass_walks_quarters_and_approaches_the_next_root():
    played = chart()
    bass = part(accompany(played, "bass", "swing", seed=1), "bass").notes
    assert {round(n.start_beat % 1, 6) for n in bass} == {0.0}  # quarter notes
    spans = played.spans()
    approaches = 0
    changes = 0
    for span in spans[1:]:
        before = [n for n in bass if abs(n.start_beat - (span.start_beat - 1)) < 1e-6]
        if not before or span.chord.root is None:
            continue
        changes += 1
        distance = (before[0].pitch - span.chord.root) % 12
        approaches += distance in (1, 2, 10, 11, 7)  # chromatic or scale step, or its dominant
    assert approaches / changes >= 0.9


def test_ballad_bass_is_in_two():
    bass = part(accompany(chart(), "bass", "ballad", seed=2), "bass").notes
    assert {round(n.start_beat % 2, 6) for n in bass} == {0.0}


def test_piano_voicings_keep_guide_tones_and_move_by_small_steps():
    played = tune_chart(find_tune("All the Things You Are")).looped(72)
    piano = part(accompany(played, "trio", "swing", seed=5), "chords").notes
    spans = played.spans()
    tops, last_start = [], None
    for span in spans:
        struck = [n for n in piano if abs(n.start_beat - span.start_beat) < 1e-6]
        if span.chord.root is None:
            assert not struck
            continue
        pcs = {n.pitch % 12 for n in struck}
        assert set(guide_tones(span.chord)) <= pcs and span.chord.root in pcs
        tops.append(max(n.pitch for n in struck))
        last_start = span.start_beat
    assert last_start is not None
    moves = np.abs(np.diff(tops))
    assert moves.mean() <= 4.0, moves.mean()


def test_piano_comps_on_syncopated_rhythms():
    piano = part(accompany(chart(), "trio", "swing", seed=6), "chords").notes
    onsets = sorted({round(n.start_beat, 6) for n in piano})
    offbeat = [t for t in onsets if abs(t % 1 - 0.5) < 1e-6]
    assert len(offbeat) / len(onsets) >= 0.25


def test_drums_are_on_channel_10_with_a_fill_at_each_chorus_end():
    played = parse_chart(RHYTHM).looped(30)  # a 20-bar form (8 bars twice, then 4)
    form = played.form_bars
    assert form == 20 and played.chorus_starts() == [0, 20]
    drums = part(accompany(played, "trio", "swing", seed=0), "drums")
    assert drums.channel == DRUM_CHANNEL == 9
    toms = [n.start_beat for n in drums.notes if n.pitch in (45, 47, 50)]
    assert any((form - 1) * 4 <= t < form * 4 for t in toms)  # the fill before chorus 2
    assert not any(4 <= t < (form - 1) * 4 for t in toms)  # and none inside the chorus
    assert any(n.pitch == 49 and n.start_beat == form * 4 for n in drums.notes)  # crash on its downbeat


def performance(played, band="trio", style="swing", swing=1.6, seed=0):
    return Performance(Score((), tuple(played.spans())), played, tuple(accompany(played, band, style, seed)),
                       find_instrument("tenor sax"), 160.0, swing, style, band, seed)


@pytest.mark.parametrize("ratio", [1.0, 1.6, 2.0, 2.5])
def test_rendered_eighth_pairs_swing_at_the_ratio_asked(ratio):
    perf = performance(chart(bars=8), swing=ratio)
    mid = mido.MidiFile(file=io.BytesIO(perf.midi_bytes()))
    tracks = {t.name: t for t in mid.tracks}
    assert "drums" in tracks and {m.channel for m in tracks["drums"] if m.type == "note_on"} == {9}
    ride, now = [], 0
    for msg in tracks["drums"]:
        now += msg.time
        if msg.type == "note_on" and msg.velocity and msg.note == RIDE:
            ride.append(now / mid.ticks_per_beat)
    ratios = []
    for a in ride:
        offbeat = [b for b in ride if a < b < np.floor(a) + 1 - 1e-9]
        if a == np.floor(a) and offbeat:
            b = offbeat[0]
            ratios.append((b - a) / (np.floor(a) + 1 - b))
    assert ratios and abs(np.mean(ratios) / ratio - 1) <= 0.05


def test_swing_defaults_and_warp():
    assert default_swing(160) == pytest.approx(1.6) and default_swing(300) < 1.3 and default_swing(140, "bossa") == 1.0
    assert swing_beat(2.5, 2.0) == pytest.approx(2 + 2 / 3) and swing_beat(2.25, 2.0) == 2.25


def test_band_is_deterministic_per_seed_and_named_tracks_stay():
    played = chart(bars=16)
    a, b, c = (performance(played, seed=s).midi_bytes() for s in (3, 3, 4))
    assert a == b and a != c
    names = [t.name for t in mido.MidiFile(file=io.BytesIO(a)).tracks]
    assert names == ["conductor", "melody", "chords", "bass", "drums"]


def test_guide_tones_of_common_chords():
    E, G, Bb, B, A, Eb, Gb = 4, 7, 10, 11, 9, 3, 6
    assert set(guide_tones(parse_chord("C7"))) == {E, Bb}
    assert set(guide_tones(parse_chord("Cmaj7"))) == {E, B}
    assert set(guide_tones(parse_chord("Cm6"))) == {Eb, A, G}
    assert set(guide_tones(parse_chord("Cm7b5"))) == {Eb, Bb, Gb}


def test_audio_renders_every_part_on_its_own_channel_and_program(tmp_path):
    from jazzgen.music import render
    from jazzgen.music.roll import read_roll

    perf = performance(chart(bars=4), style="ballad")
    roll = read_roll(perf.write_midi(tmp_path / "band.mid"))
    assert {n.part for n in roll.notes} == {"chords", "bass", "drums"}
    prepared = render._prepare_for_fluidsynth(roll)
    voices = {t.name: ({m.channel for m in t if m.type == "note_on"},
                       [m.program for m in t if m.type == "program_change"]) for t in prepared.tracks[1:]}
    assert voices == {"chords": ({1}, [0]), "bass": ({2}, [32]), "drums": ({9}, [40])}  # brushes
    wav = perf.to_wav(tmp_path / "band.wav", synth="builtin")
    assert wav.stat().st_size > 44100  # 4 bars at 160 bpm: several seconds of audio


def test_builtin_mix_keeps_the_solo_on_top_and_every_part_audible(tmp_path):
    from dataclasses import replace as swap

    import jazzgen
    from jazzgen.music import render
    from jazzgen.music.roll import read_roll

    song = jazzgen.generate(chords=RHYTHM, bars=8, seed=2)
    roll = read_roll(song.write_midi(tmp_path / "mix.mid"))
    level = {}
    for name in ("melody", "chords", "bass", "drums"):
        alone = swap(roll, notes=tuple(n for n in roll.notes if n.part == name))
        signal = render._synthesize(alone, 8000)
        level[name] = 20 * np.log10(np.sqrt(np.mean(signal ** 2)))
    others = [level[p] for p in ("chords", "bass", "drums")]
    assert level["melody"] > max(others)  # the solo leads
    assert level["melody"] - min(others) < 20  # and no part is lost under it (dB)


def test_piano_roll_names_chords_in_lead_sheet_spelling():
    from jazzgen.music.piano_roll import _lead_sheet_name

    assert [_lead_sheet_name(t) for t in ("Ebj7", "F-7", "D79b", "NC", "Chorus 2")] == [
        "Ebmaj7", "Fm7", "D7b9", "N.C.", "Chorus 2"]
