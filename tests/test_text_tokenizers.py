"""Text input: tokenizers round trip in any script, readers for every line ending and bad files,
metrics by hand, and the generated date pairs."""

from __future__ import annotations

import codecs
import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jazzgen.errors import InputError, UsageError
from jazzgen.text.dates import WEEKDAYS, date_pairs
from jazzgen.text.metrics import MostFrequentTag, bio_spans, class_f1, entity_f1, majority_label
from jazzgen.text.readers import (
    parse_labelled,
    parse_tagged,
    read_text,
    split_blocks,
    split_lines,
)
from jazzgen.text.tokenizers import (
    CharTokenizer,
    WordTokenizer,
    map_unknown,
    tokenizer_from_config,
    word_shape,
)

SCRIPTS = [
    "Hello, world! Don't stop.",
    "Ça coûte 3,50 € — d'accord?",
    "Привет, мир! Как дела?",
    "Γειά σου κόσμε.",
    "مرحبا بالعالم",
    "שלום עולם",
    "हिन्दी भाषा बहुत सुंदर है।",
    "日本語のテキスト、漢字とかな。",
    "안녕하세요 세계",
    "ภาษาไทย",
    "emoji 🎷🎺 jazz",
    "e\u0301 combining accent",
]


@pytest.mark.parametrize("text", SCRIPTS)
def test_char_tokenizer_round_trips_exactly(text):
    tok = CharTokenizer()
    assert tok.decode(tok.encode(text)) == text
    lower = CharTokenizer(lowercase=True)
    assert lower.decode(lower.encode(text)) == text.lower()


@pytest.mark.parametrize("text", SCRIPTS)
def test_word_tokenizer_keeps_every_word_and_re_encodes_the_same(text):
    tok = WordTokenizer()
    tokens = tok.encode(text)
    assert tokens and all(t.strip() == t and t for t in tokens)
    assert tok.encode(tok.decode(tokens)) == tokens
    assert "".join(tokens) == "".join(text.split())  # nothing lost but spaces


def test_word_tokenizer_splits_punctuation_and_keeps_inner_apostrophes():
    tok = WordTokenizer()
    assert tok.encode("Shall I compare thee to a summer's day?") == [
        "Shall", "I", "compare", "thee", "to", "a", "summer's", "day", "?"]
    tokens = ["it", "costs", "3.50", ",", "(", "really", ")", "!"]
    assert tok.encode("it costs 3.50, (really)!") == tokens
    assert tok.decode(tokens) == "it costs 3.50, (really)!"
    assert tok.encode("हिन्दी") == ["हिन्दी"]  # vowel signs (marks) stay inside the word


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_tokenizers_round_trip_any_text(text):
    chars = CharTokenizer()
    assert chars.decode(chars.encode(text)) == text
    words = WordTokenizer()
    tokens = words.encode(text)
    assert words.encode(words.decode(tokens)) == tokens


def test_tokenizer_config_round_trips():
    for tok in (CharTokenizer(lowercase=True), WordTokenizer()):
        again = tokenizer_from_config(tok.config())
        assert type(again) is type(tok) and again.config() == tok.config()
    with pytest.raises(ValueError, match="unknown text tokenizer"):
        tokenizer_from_config({"name": "bytes"})


def test_word_shapes_of_unknown_words():
    assert [word_shape(w) for w in ("London", "NASA", "iphone", "B2B", "@jo", "#tbt",
                                    "https://x.y", "--")] == [
        "<unk:Xx>", "<unk:X>", "<unk:x>", "<unk:d>", "<unk:@>", "<unk:#>", "<unk:url>", "<unk:->"]
    assert map_unknown(["the", "Zorblax"], {"the"}, True) == ["the", "<unk:Xx>"]
    assert map_unknown(["the", "Zorblax"], {"the"}, False) == ["the", "Zorblax"]


# ---- readers -----------------------------------------------------------------------------------

@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_every_line_ending_reads_the_same(tmp_path, newline):
    path = tmp_path / "names.txt"
    path.write_bytes(newline.join(["Aardonyx", "", "  Abelisaurus  ", "Ölsaurus", ""]).encode())
    f = read_text(path)
    assert "\r" not in f.text
    assert split_lines(f.text) == ["Aardonyx", "Abelisaurus", "Ölsaurus"]


def test_byte_order_marks_are_read(tmp_path):
    for bom, codec in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
                       (codecs.BOM_UTF16_BE, "utf-16-be")):
        path = tmp_path / f"{codec}.txt"
        path.write_bytes(bom + "Привет\r\nмир\n".encode(codec))
        assert split_lines(read_text(path).text) == ["Привет", "мир"]


def test_missing_empty_and_binary_files_fail_in_one_line(tmp_path):
    with pytest.raises(UsageError, match="no such file"):
        read_text(tmp_path / "nope.txt")
    with pytest.raises(UsageError, match="is a folder"):
        read_text(tmp_path)
    (tmp_path / "empty.txt").write_bytes(b"")
    with pytest.raises(InputError, match="empty file"):
        read_text(tmp_path / "empty.txt")
    (tmp_path / "blank.txt").write_bytes(b" \r\n\r\n\t\n")
    with pytest.raises(InputError, match="empty file"):
        read_text(tmp_path / "blank.txt")
    (tmp_path / "song.mid").write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0MTrk")
    with pytest.raises(InputError, match="not a text file") as e:
        read_text(tmp_path / "song.mid")
    assert "\n" not in str(e.value)
    (tmp_path / "latin1.txt").write_bytes("café ".encode("latin-1") * 50)
    with pytest.raises(InputError, match="not a text file"):
        read_text(tmp_path / "latin1.txt")


def test_a_few_stray_bytes_are_replaced_with_a_warning(tmp_path):
    path = tmp_path / "reviews.txt"
    path.write_bytes(b"A fine film \xe5\xd0 truly.\t1\r" + b"Dull and slow.\t0\r" * 100)
    f = read_text(path)
    assert f.replaced == 2 and "\ufffd" in f.text and f.warnings  # \xe5 and \xd0 each


def test_blocks_keep_inner_newlines():
    text = "First Citizen:\nBefore we proceed.\n\n\nAll:\nSpeak, speak.\n"
    assert split_blocks(text) == ["First Citizen:\nBefore we proceed.", "All:\nSpeak, speak."]


def test_labelled_lines_with_cr_endings():
    rows, bad = parse_labelled("Great phone.\t1\nNo label here\n\nAwful.  \t 0 \n")
    assert rows == [("Great phone.", "1"), ("Awful.", "0")] and bad == 1


def test_tagged_sentences_conll_and_conllu():
    conll = "@paul\tO\nEmpire\tB-location\nState\tI-location\n\t\nhi\tO\n"
    assert parse_tagged(conll) == [
        (["@paul", "Empire", "State"], ["O", "B-location", "I-location"]), (["hi"], ["O"])]
    conllu = ("# text = Don't go\n1-2\tDon't\t_\t_\t_\t_\t_\t_\t_\t_\n"
              "1\tDo\tdo\tAUX\tVBP\t_\t3\taux\t_\t_\n2\tn't\tnot\tPART\tRB\t_\t3\tadvmod\t_\t_\n"
              "3\tgo\tgo\tVERB\tVB\t_\t0\troot\t_\t_\n\n")
    assert parse_tagged(conllu) == [(["Do", "n't", "go"], ["AUX", "PART", "VERB"])]


# ---- metrics -----------------------------------------------------------------------------------

def test_bio_spans_and_entity_f1():
    assert bio_spans(["B-per", "I-per", "O", "I-loc", "B-loc", "B-loc"]) == {
        (0, 2, "per"), (3, 4, "loc"), (4, 5, "loc"), (5, 6, "loc")}
    gold = [["B-per", "I-per", "O", "B-loc"]]
    pred = [["B-per", "O", "O", "B-loc"]]  # one of two entities exactly right
    e = entity_f1(gold, pred)
    assert (e["precision"], e["recall"], e["f1"], e["entities"]) == (0.5, 0.5, 0.5, 2)


def test_class_f1_majority_and_most_frequent_tag():
    f = class_f1(["a", "a", "b", "b"], ["a", "a", "a", "b"], ["a", "b"])
    assert f["f1"] == {"a": 0.8, "b": 0.6667} and abs(f["macro_f1"] - (0.8 + 2 / 3) / 2) < 1e-4
    assert majority_label(["b", "a", "b", "a"]) == "a"
    tagger = MostFrequentTag([(["the", "dog"], ["DET", "NOUN"]), (["the", "run"], ["DET", "VERB"])])
    assert tagger.tag(["the", "cat", "run"]) == ["DET", "DET", "VERB"]


# ---- dates ---------------------------------------------------------------------------------------

def test_date_pairs_are_reproducible_distinct_and_correct():
    pairs = date_pairs(500, seed=3)
    assert pairs == date_pairs(500, seed=3) and pairs != date_pairs(500, seed=4)
    assert len({s for s, _ in pairs}) == 500
    for source, target in pairs:
        date = dt.date.fromisoformat(target)
        assert source == source.lower() and 1930 <= date.year <= 2029
        words = source.replace(",", "").split()
        if words[0] in WEEKDAYS or words[0] in [w[:3] for w in WEEKDAYS]:
            assert date.strftime("%A").lower().startswith(words[0])
        if "/" in source or "." in source:
            numbers = source.split()[-1].replace(".", "/").split("/")
            assert (int(numbers[0]), int(numbers[1])) == (date.day, date.month)
    with pytest.raises(ValueError):
        date_pairs(0, seed=0)
