"""Hostile inputs and reproducibility: every bad file explained, caches, limits, run-dir checks."""

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jazzgen.config import PreprocessConfig
from jazzgen.core.files import read_json, write_json
from jazzgen.core.rundir import open_run
from jazzgen.errors import InputError, JazzgenError
from jazzgen.music.chords import parse_chord
from jazzgen.music.score import ChordSpan
from jazzgen.music.values import ValuesTokenizer
from jazzgen.stages import preprocess as preprocess_stage
from jazzgen.stages.preprocess import preprocess

ROOT = Path(__file__).resolve().parent.parent
WJD = ROOT / "data" / "midi" / "wjd"
GOOD = ["ArtPepper_Anthropology.mid", "CharlieParker_Ornithology.mid", "MilesDavis_Airegin.mid"]


def _folder(tmp_path, names=GOOD):
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    for name in names:
        shutil.copy(WJD / name, src / name)
    return src


def _run(src, out, **kw):
    lines = []
    summary = preprocess(PreprocessConfig(sources=(str(src),), output=str(out), **kw), log=lines.append)
    return summary, "\n".join(lines)


def test_bad_files_are_skipped_with_reasons_and_good_ones_kept(tmp_path):
    src = _folder(tmp_path)
    good = (src / GOOD[0]).read_bytes()
    (src / "zero.mid").write_bytes(b"")
    (src / "notes.mid").write_text("these are my notes, saved as .mid\n")
    (src / "cut.mid").write_bytes(good[: len(good) // 3])
    (src / "sub").mkdir()
    (src / "sub" / "garbage.midi").write_bytes(bytes(range(256)) * 4)
    (src / "photo.jpg").write_bytes(b"\xff\xd8\xff")
    summary, log = _run(src, tmp_path / "c")
    assert summary["kept"] == 3 and summary["skipped"] == 5
    manifest = read_json(tmp_path / "c" / "manifest.json")
    reasons = {Path(r["file"]).name: r["reason"] for r in manifest["skipped"]}
    assert reasons == {"zero.mid": "empty file", "notes.mid": "not a MIDI file", "cut.mid": "truncated",
                       "garbage.midi": "not a MIDI file", "photo.jpg": "not a music file"}
    for name in reasons:
        assert name in log


def test_nothing_usable_is_an_error(tmp_path):
    (tmp_path / "a.mid").write_bytes(b"")
    with pytest.raises(JazzgenError, match="no usable music"):
        _run(tmp_path, tmp_path / "c")


def test_same_inputs_give_byte_identical_corpus_and_cache_is_incremental(tmp_path):
    src = _folder(tmp_path, GOOD[:2])
    first, _ = _run(src, tmp_path / "a")
    _run(src, tmp_path / "b", workers=2)  # worker count does not change the output
    for name in ("ids.npy", "offsets.npy", "vocab.json", "pieces.jsonl", "corpus.json"):
        a, b = ((tmp_path / d / name).read_bytes() for d in ("a", "b"))
        # Output paths differ between the two corpora; everything else must be byte-identical.
        assert a == b.replace(str(tmp_path / "b").encode(), str(tmp_path / "a").encode()), name
    shutil.copy(WJD / GOOD[2], src / GOOD[2])
    again, _ = _run(src, tmp_path / "a")
    assert first["cached"] == 0 and again["cached"] == 2 and again["kept"] == 3  # only the new file was read


def test_a_file_over_the_time_limit_is_skipped(tmp_path, monkeypatch):
    src = _folder(tmp_path, GOOD[:2])
    import jazzgen.music.pipeline as pipeline

    real = pipeline.read_score

    def slow(path, *args, **kwargs):
        if path.name == GOOD[1]:
            time.sleep(5)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(pipeline, "read_score", slow)
    summary, log = _run(src, tmp_path / "c", file_timeout_s=0.5)
    assert summary["kept"] == 1 and "parse timeout" in log
    assert preprocess_stage  # the stage module stays importable after the alarm


def test_too_many_notes_is_too_long(tmp_path):
    src = _folder(tmp_path, GOOD[:1])
    (src / "b.mid").write_bytes((WJD / GOOD[1]).read_bytes())
    with pytest.raises(JazzgenError, match="too long 2"):
        _run(src, tmp_path / "c", max_notes=50)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(["<bos>", "<unk>", "R,1", "C,1/2,<-2,2>", "X,1/3,<10,14>", "S,4",
                                           "A,1/6,<-14,-10>", "C,0", "Q,1", "C,1/2,<", ",,", "R,-1"]),
                          st.text(max_size=12)), max_size=40))
def test_decoding_any_tokens_never_crashes(tokens):
    spans = [ChordSpan(parse_chord("Dm7"), 0.0, 4.0), ChordSpan(parse_chord("G7"), 4.0, 4.0)]
    score = ValuesTokenizer().decode(tokens, chords=spans, rng=np.random.default_rng(0))
    assert all(48 <= n.pitch <= 84 for n in score.notes)


def test_run_dir_checks_vocabulary_hash_and_warns_on_versions(tmp_path):
    from jazzgen.tasks import default_run_dir as default_model_dir

    if not (default_model_dir() / "run.json").is_file():
        pytest.skip("no bundled model")
    run = tmp_path / "run"
    shutil.copytree(default_model_dir(), run)
    info = read_json(run / "run.json")
    info["versions"]["numpy"] = "0.0.1"
    write_json(run / "run.json", info)
    warnings = []
    open_run(run, warn=warnings.append)
    assert warnings and "numpy 0.0.1" in warnings[0]
    vocab = json.loads((run / "vocab.json").read_text())
    vocab["tokens"].append("C,9,<0,4>")
    (run / "vocab.json").write_text(json.dumps(vocab))
    with pytest.raises(InputError, match="vocab.json: does not match"):  # damaged data: exit 1
        open_run(run)
