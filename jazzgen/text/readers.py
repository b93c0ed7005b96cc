"""Reading text files: any script, any line ending, and a clear error for what is not text.

Every reader goes through `read_text`, which decodes the bytes (UTF-8, or UTF-16/32 when the
file starts with a byte-order mark), turns CR LF and lone CR into LF, and refuses a missing,
empty or binary file with one line that names it. The other readers split that text into the
units the tasks use: lines, blocks between blank lines, labelled sentences, tagged sentences.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field
from pathlib import Path

from jazzgen.core.files import read_limited
from jazzgen.errors import InputError, UsageError

_BOMS = (  # longest first: the UTF-32 LE mark starts with the UTF-16 LE one
    (codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
MAX_TEXT_BYTES = 200_000_000  # a larger file is refused: decoded, it would need gigabytes
MAX_BAD_SHARE = 0.01  # more undecodable bytes than this (share of the file): not UTF-8 text
MAX_CONTROL_SHARE = 0.05  # more control characters than this: binary data, not text
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")  # tab, LF, FF and CR are text


@dataclass
class TextFile:
    """A decoded text file.

    Attributes:
        path: the file as given.
        text: its content with LF line endings only (no byte-order mark).
        encoding: the codec that read it.
        replaced: undecodable bytes replaced by U+FFFD (a few stray bytes are tolerated).
    """

    path: Path
    text: str
    encoding: str = "utf-8"
    replaced: int = 0
    warnings: list[str] = field(default_factory=list)


def gunzip(path: Path, data: bytes, max_bytes: int = MAX_TEXT_BYTES) -> bytes:
    """The bytes a gzip file holds, at most `max_bytes` (the cap of a plain text file).

    Raises:
        InputError: corrupt or truncated gzip data, or more than `max_bytes` unpacked.
    """
    import zlib

    unpack = zlib.decompressobj(wbits=31)  # 31: gzip header and trailer
    try:
        out = unpack.decompress(data, max_bytes)
    except zlib.error as e:
        raise InputError(path, "not a text file", f"corrupt gzip data ({e})") from None
    if unpack.unconsumed_tail:
        raise InputError(path, "too long", f"unpacks to more than {max_bytes} bytes")
    if not unpack.eof:
        raise InputError(path, "not a text file", "truncated gzip data")
    return out


def normalize_newlines(text: str) -> str:
    """CR LF and lone CR become LF (old Mac files and mixed endings read the same as Unix ones)."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def read_text(path: str | Path, max_bytes: int = MAX_TEXT_BYTES) -> TextFile:
    """Read and decode one text file of at most `max_bytes`.

    Raises:
        UsageError: the path does not exist or is a folder.
        InputError: the file is empty (or only whitespace), or holds binary data / another
            encoding (reason "empty file" or "not a text file"); a FIFO or device ("not a
            regular file") or more than `max_bytes` ("too long"), refused before reading.
    """
    path = Path(path)
    if not path.exists():
        raise UsageError(f"{path}: no such file")
    if path.is_dir():
        raise UsageError(f"{path}: is a folder; give a text file")
    data = read_limited(path, max_bytes)
    if data[:2] == b"\x1f\x8b":  # gzip: a corpus shipped compressed reads as the text it holds
        data = gunzip(path, data, max_bytes)
    if not data:
        raise InputError(path, "empty file")
    encoding = next((enc for bom, enc in _BOMS if data.startswith(bom)), None)
    if encoding:
        bom = next(b for b, enc in _BOMS if enc == encoding)
        try:
            text, replaced = data[len(bom):].decode(encoding), 0
        except UnicodeDecodeError as e:
            raise InputError(path, "not a text file", f"invalid {encoding}: {e.reason}") from e
    else:
        if b"\x00" in data[:8192]:
            raise InputError(path, "not a text file", "binary data (NUL bytes)")
        encoding = "utf-8"
        try:
            text, replaced = data.decode("utf-8"), 0
        except UnicodeDecodeError:
            text = data.decode("utf-8", errors="replace")
            replaced = text.count("\ufffd") - data.decode("utf-8", errors="ignore").count("\ufffd")
            if replaced > MAX_BAD_SHARE * len(data):
                raise InputError(path, "not a text file",
                                 f"{replaced} byte sequences are not UTF-8") from None
    if len(_CONTROL.findall(text[:65536])) > MAX_CONTROL_SHARE * min(len(text), 65536):
        raise InputError(path, "not a text file", "binary data (control characters)")
    text = normalize_newlines(text)
    if not text.strip():
        raise InputError(path, "empty file", "only whitespace")
    note = f"{path}: {replaced} undecodable byte sequences replaced by U+FFFD"
    return TextFile(path, text, encoding, replaced, [note] if replaced else [])


def split_lines(text: str) -> list[str]:
    """Non-empty lines, stripped of surrounding whitespace (a line is one piece, e.g. a name)."""
    return [line.strip() for line in text.split("\n") if line.strip()]


def split_blocks(text: str) -> list[str]:
    """Blocks of lines between blank lines (e.g. one speech), inner newlines kept."""
    blocks, current = [], []
    for line in text.split("\n"):
        if line.strip():
            current.append(line.rstrip())
        elif current:
            blocks.append("\n".join(current))
            current = []
    if current:
        blocks.append("\n".join(current))
    return blocks


def parse_labelled(text: str) -> tuple[list[tuple[str, str]], int]:
    """`sentence<TAB>label` lines -> [(sentence, label)], and the count of lines without a tab."""
    rows, bad = [], 0
    for line in text.split("\n"):
        if not line.strip():
            continue
        sentence, tab, label = line.rpartition("\t")
        if not tab or not sentence.strip() or not label.strip():
            bad += 1
            continue
        rows.append((sentence.strip(), label.strip()))
    return rows, bad


def parse_tagged(text: str) -> list[tuple[list[str], list[str]]]:
    """CoNLL-style tagged sentences -> [(tokens, tags)].

    One token a line, sentences separated by blank lines. Two layouts are read:
    `token<TAB>tag` (e.g. WNUT-17, BIO tags: the last column is the tag) and CoNLL-U (ten
    columns: FORM is column 2, UPOS column 4; comments, multi-word ranges "3-4" and empty nodes
    "5.1" are skipped).
    """
    sentences, tokens, tags = [], [], []
    for line in text.split("\n"):
        if line.startswith("#"):
            continue
        cols = line.rstrip("\n").split("\t")
        if not line.strip() or not cols[0].strip():
            if tokens:
                sentences.append((tokens, tags))
                tokens, tags = [], []
            continue
        if len(cols) == 10:  # CoNLL-U
            if "-" in cols[0] or "." in cols[0]:
                continue
            token, tag = cols[1], cols[3]
        elif len(cols) >= 2:
            token, tag = cols[0], cols[-1].strip()
        else:
            token, tag = cols[0], ""
        if not tag:
            raise ValueError(f"line {line!r} has no tag column (want token<TAB>tag)")
        tokens.append(token.strip())
        tags.append(tag)
    if tokens:
        sentences.append((tokens, tags))
    return sentences


def input_files(sources: list[str] | tuple[str, ...]) -> list[Path]:
    """The files named, and every non-hidden file inside named folders (sorted, recursive)."""
    files: list[Path] = []
    for source in sources:
        path = Path(source)
        if not path.exists():
            raise UsageError(f"{path}: no such file or folder")
        if path.is_dir():
            # Not only regular files: a FIFO inside is named and refused, never skipped unseen.
            files += sorted(p for p in path.rglob("*")
                            if not p.is_dir() and not any(part.startswith(".") for part in p.parts))
        else:
            files.append(path)
    if not files:
        raise UsageError(f"no files in {', '.join(sources)}")
    return files
