"""Preprocessing split across tasks (`--part K/N`) and merged is byte-identical to one run."""

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from jazzgen.cli import main
from jazzgen.config import PreprocessConfig
from jazzgen.core.parts import parse_part, select_part
from jazzgen.errors import UsageError
from jazzgen.stages.merge import merge_corpora
from jazzgen.stages.preprocess import preprocess

WJD = Path(__file__).resolve().parent.parent / "data" / "midi" / "wjd"
GOOD = ["ArtPepper_Anthropology.mid", "CharlieParker_Ornithology.mid", "MilesDavis_Airegin.mid"]
FILES = ("ids.npy", "offsets.npy", "vocab.json", "pieces.jsonl", "manifest.json", "corpus.json")


@pytest.fixture(scope="module")
def src(tmp_path_factory):
    src = tmp_path_factory.mktemp("src")
    for name in GOOD:
        shutil.copy(WJD / name, src / name)
    (src / "broken.mid").write_bytes(b"MThd garbage")  # skipped, with a reason
    (src / "photo.jpg").write_bytes(b"\xff\xd8\xff")  # not a music file: reported once, by part 1
    return src


def _run(src, out, **kw):
    return preprocess(PreprocessConfig(sources=(str(src),), output=str(out), **kw), log=lambda m: None)


@pytest.mark.parametrize("n", [2, 3])
def test_merged_parts_equal_one_run_byte_for_byte(src, tmp_path, n):
    _run(src, tmp_path / "single")
    parts = [tmp_path / f"part{k}" for k in range(1, n + 1)]
    for k, part in enumerate(parts, 1):
        _run(src, part, part=f"{k}/{n}", workers=2 if k == 1 else 1)
    merge_corpora(list(reversed(parts)), tmp_path / "merged", log=lambda m: None)  # any order
    for name in FILES:
        assert (tmp_path / "single" / name).read_bytes() == (tmp_path / "merged" / name).read_bytes(), name


def test_part_slices_cover_the_inputs_once():
    inputs = [Path(f"f{i}") for i in range(7)]
    for n in (1, 2, 3, 7, 9):
        slices = [select_part(inputs, ["x"], f"{k}/{n}") for k in range(1, n + 1)]
        assert [p for s, _ in slices for p in s] == inputs
        assert [ign for _, ign in slices] == [["x"]] + [[]] * (n - 1)
    for bad in ("0/2", "3/2", "a/b", "2", "1/0", ""):
        with pytest.raises(UsageError, match="K/N"):
            parse_part(bad)


def test_merge_refuses_missing_or_foreign_parts(src, tmp_path):
    _run(src, tmp_path / "p1", part="1/2")
    _run(src, tmp_path / "whole")
    with pytest.raises(UsageError, match="parts 1/2 .. 2/2"):
        merge_corpora([tmp_path / "p1"], tmp_path / "m", log=lambda m: None)
    with pytest.raises(UsageError, match="not a partial corpus"):
        merge_corpora([tmp_path / "p1", tmp_path / "whole"], tmp_path / "m", log=lambda m: None)


def test_cli_part_and_merge_corpora(src, tmp_path):
    runner = CliRunner()
    for k in (1, 2):
        r = runner.invoke(main, ["preprocess", str(src), "-o", str(tmp_path / f"p{k}"), "--part", f"{k}/2"])
        assert r.exit_code == 0, r.output
    r = runner.invoke(
        main,
        [
            "merge-corpora",
            str(tmp_path / "p1"),
            str(tmp_path / "p2"),
            "-o",
            str(tmp_path / "m"),
            "--shard-size",
            "300",
        ],
    )
    assert r.exit_code == 0 and "merged 2 parts" in r.output, r.output
    assert (tmp_path / "m" / "shards.json").is_file()
    r = runner.invoke(main, ["preprocess", str(src), "-o", str(tmp_path / "x"), "--part", "3/2"])
    assert r.exit_code == 2 and "K/N" in r.output
