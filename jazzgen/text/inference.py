"""Using a trained text run: `generate`, `evaluate` and `predict`.

Language models (chars, words) and the classify/tag models run on the numpy engine, so these
never import TensorFlow; the dates encoder-decoder runs its Keras graphs. Every figure
`evaluate` reports is measured on pieces the model did not train on: the validation split for
language models (used only to pick the best epoch), the test split for the other tasks.

Losses are mean negative log-likelihoods in nats per predicted value (a character, a word
or a tag; for language models each line's closing <eos> is a predicted value too), and
perplexity is exp(loss): the number of equally likely choices that would be as uncertain.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from jazzgen.config import GenerateConfig
from jazzgen.core.corpus import Corpus, read_corpus
from jazzgen.core.rundir import Run
from jazzgen.errors import UsageError
from jazzgen.text.tokenizers import tokenizer_from_config


def held_out_corpus(run: Run, corpus_dir: str | Path | None = None) -> Corpus:
    """The corpus a run was trained on (its held-out pieces are what `evaluate` scores)."""
    path = Path(corpus_dir or run.info.get("corpus", ""))
    if not (path / "corpus.json").is_file():
        raise UsageError(f"{run.path}: its corpus {path} is gone; give it with --corpus DIR")
    corpus = read_corpus(path)
    if corpus.hash != run.info.get("corpus_hash"):
        raise UsageError(f"{path}: not the corpus {run.path} was trained on (hash differs)")
    return corpus


def held_out_pieces(run: Run) -> tuple[list[int], str]:
    """The test pieces and "test", or the validation pieces when there is no test split."""
    test = run.info.get("test_pieces") or []
    return (test, "test") if test else (run.info.get("val_pieces") or [], "validation")


def source_text(run: Run, corpus: Corpus, i: int) -> str:
    tokenizer = tokenizer_from_config(run.task["tokenizer"])
    return tokenizer.decode(corpus.vocab.decode(corpus.piece_ids(i)))


def check_generate(g: GenerateConfig, length: int) -> None:
    if g.temperature <= 0:
        raise UsageError(f"--temperature must be > 0 (got {g.temperature})")
    if g.top_k < 0 or g.count <= 0 or length <= 0:
        raise UsageError("--top-k must be >= 0, and -n and --length > 0")
    if g.chord_tone_bias:
        raise UsageError(f"--chord-tone-bias does not apply to text runs (got {g.chord_tone_bias})")


def check_text_output(out: str | Path | None) -> None:
    """A text run writes text: an -o named like audio, MIDI or a picture is a mistake, said now."""
    if out and Path(out).suffix.lower() in (".mid", ".midi", ".wav", ".png", ".npz", ".json"):
        raise UsageError(f"{out}: a text run writes text samples; give a .txt file, or no -o for the screen")


def write_samples(samples: Sequence[str], out: str | Path | None,
                  echo: Callable[[str], None] = print) -> None:
    """Samples one per line (a blank line between samples that hold newlines), to `out` or echo."""
    check_text_output(out)
    text = ("\n\n" if any("\n" in s for s in samples) else "\n").join(samples) + "\n"
    if out:
        from jazzgen.core.files import atomic_open

        with atomic_open(out, "w", encoding="utf-8") as f:
            f.write(text)
        echo(f"wrote {len(samples)} sample{'s' if len(samples) != 1 else ''} to {out}")
    else:
        echo(text.rstrip("\n"))
