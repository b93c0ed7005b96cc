"""Character and word tokenizers: text <-> token strings, for every script.

Both implement `jazzgen.core.tokenizer.Tokenizer`, so the corpus, training and sampling code
that serves the jazz values serves text unchanged. Text reaches them with LF line endings
(`readers.read_text` normalizes CR and CR LF).

- `CharTokenizer`: one token per Unicode code point; `decode(encode(s)) == s` exactly (after
  the optional case folding).
- `WordTokenizer`: runs of word characters (with inner apostrophes: "don't", "o'er") and single
  punctuation marks. Decoding joins with spaces, closing punctuation attached to the word before
  it, so `encode(decode(tokens)) == tokens`; the original spacing is not kept. Scripts written
  without spaces (Chinese, Japanese, Thai) come out as one token per run of letters.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from jazzgen.core.tokenizer import Tokenizer
from jazzgen.core.vocab import SPECIALS

APOSTROPHES = "'’"  # inside a word they belong to it ("don't"); elsewhere they are marks
_NO_SPACE_BEFORE = set(".,;:!?)]}%…。、，！？」』")
_NO_SPACE_AFTER = set("([{「『")


def _is_word_char(ch: str) -> bool:
    """Letters, digits and combining marks of any script (vowel signs stay in their word), and _."""
    return unicodedata.category(ch)[0] in "LNM" or ch == "_"


def split_words(text: str) -> list[str]:
    """Words (with inner apostrophes; numbers with inner . or ,) and single marks, in order."""
    tokens: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif _is_word_char(ch):
            j = i + 1
            while j < n and (_is_word_char(text[j]) or (j + 1 < n and (
                    (text[j] in APOSTROPHES and _is_word_char(text[j + 1]))
                    or (text[j] in ".," and text[j - 1].isdigit() and text[j + 1].isdigit())))):
                j += 1
            tokens.append(text[i:j])
            i = j
        else:
            tokens.append(ch)
            i += 1
    return tokens


class CharTokenizer(Tokenizer):
    """One token per character (code point).

    Args:
        lowercase: fold case first (`str.casefold` is not used: it changes "ß" into "ss").
    """

    name = "chars"
    unknown_ok = False  # a character the model never saw cannot be fed (no <unk> was trained)

    def __init__(self, lowercase: bool = False):
        self.lowercase = lowercase

    def encode(self, item: str) -> list[str]:
        return list(item.lower() if self.lowercase else item)

    def decode(self, tokens: list[str], **context: Any) -> str:
        return "".join(t for t in tokens if t not in SPECIALS)

    def config(self) -> dict:
        return {"name": self.name, "lowercase": self.lowercase}


class WordTokenizer(Tokenizer):
    """Words and punctuation marks as tokens.

    Args:
        lowercase: fold case first.
    """

    name = "words"
    unknown_ok = True  # a word the model never saw is read as <unk>

    def __init__(self, lowercase: bool = False):
        self.lowercase = lowercase

    def encode(self, item: str) -> list[str]:
        return split_words(item.lower() if self.lowercase else item)

    def decode(self, tokens: list[str], **context: Any) -> str:
        out: list[str] = []
        previous = ""
        for token in tokens:
            if token in SPECIALS and token != "<unk>":
                continue
            glue = not out or token in _NO_SPACE_BEFORE or previous in _NO_SPACE_AFTER
            out.append(token if glue else " " + token)
            previous = token
        return "".join(out)

    def config(self) -> dict:
        return {"name": self.name, "lowercase": self.lowercase}


TOKENIZERS: dict[str, type[Tokenizer]] = {"chars": CharTokenizer, "words": WordTokenizer}


def word_shape(word: str) -> str:
    """The class of a word the vocabulary lacks, from its spelling: <unk:Xx> (capitalised),
    <unk:X> (all capitals), <unk:x> (lower case), <unk:d> (has a digit), <unk:@>, <unk:#>,
    <unk:url>, <unk:-> (anything else). A tagger learns more from "an unseen capitalised
    word" than from a bare <unk> (the Berkeley parser's unknown-word signatures, simplified)."""
    if word.lower().startswith(("http", "www.")):
        return "<unk:url>"
    if word[0] in "@#":
        return f"<unk:{word[0]}>"
    if any(c.isdigit() for c in word):
        return "<unk:d>"
    letters = [c for c in word if c.isalpha()]
    if not letters:
        return "<unk:->"
    if all(c.isupper() for c in letters) and len(letters) > 1:
        return "<unk:X>"
    if letters[0].isupper():
        return "<unk:Xx>"
    return "<unk:x>"


def map_unknown(tokens: list[str], known, shapes: bool) -> list[str]:
    """Tokens the vocabulary `known` lacks become their `word_shape` (if `shapes`) or stay as
    they are (the vocabulary then maps them to <unk>)."""
    if not shapes:
        return list(tokens)
    return [t if t in known else word_shape(t) for t in tokens]


def tokenizer_from_config(config: dict) -> Tokenizer:
    """Rebuild the tokenizer that a corpus or run recorded (`{"name": "chars", ...}`)."""
    try:
        return TOKENIZERS[config["name"]].from_config(config)
    except KeyError:
        raise ValueError(f"unknown text tokenizer {config.get('name')!r} "
                         f"(known: {', '.join(TOKENIZERS)})") from None
