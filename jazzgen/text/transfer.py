"""Start a character tagger from another one's encoder (`text.pretrained = "RUN_DIR"`).

A tagger trained on a larger corpus of the same kind of text (UD English-EWT's 205k web-text
tokens tagged with parts of speech, PROPN among them) has learnt word vectors, character
filters and BiLSTM states that a small task (WNUT-17, 62k tokens) cannot learn alone. The new
tagger starts from them and fine-tunes everything; only its output head (other labels) starts
fresh:

    embedding    rows of words both vocabularies hold (by spelling, `<unk:Xx>` classes too)
    chars        character vectors of characters both tables hold, the CNN or character LSTM
    shapes       the spelling-class embedding, when both have one
    lstm_i       every recurrent layer

Everything not copied keeps its fresh initial value. The two taggers must have the same shape
(embedding, units, layers, character features); `check_source` names the first difference.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jazzgen.core.files import read_npz
from jazzgen.errors import UsageError

# Export metadata that must agree between source and target for the layers to fit
SHAPE_KEYS = ("char_features", "char_dim", "char_units", "max_chars")
MODEL_KEYS = ("embedding_dim", "units", "layers", "bidirectional")


@dataclass
class Source:
    """A trained character tagger read from its run directory (no TensorFlow needed)."""

    path: Path
    meta: dict                   # the export's `char_tagger` metadata
    tokens: tuple[str, ...]      # its vocabulary, id order
    chars: list[str]             # its character table (character k has id k + 2)
    weights: list[np.ndarray]    # its Keras weights in build order
    sha256: str                  # the export file's identity (run.json records it)

    def record(self, tokens: Sequence[str], chars: Sequence[str]) -> dict:
        """What task.json keeps about the source: where, which export, how much it shares."""
        known = set(self.tokens)
        return {"path": str(self.path.resolve()), "export_sha256": self.sha256,
                "words_shared": sum(1 for t in tokens if t in known),
                "chars_shared": len(set(chars) & set(self.chars))}


def read_source(path: str | Path) -> Source:
    """The character tagger in run directory `path`; UsageError if it is none."""
    from jazzgen.core.finetune import file_sha256
    from jazzgen.core.rundir import open_run
    from jazzgen.text.char_tagger import EXPORT_KIND

    try:
        run = open_run(path, warn=lambda m: None)
    except UsageError as e:  # most often: the source recipe has not been run yet
        raise UsageError(f"text.pretrained: {e}; train the source tagger first") from e
    if run.task.get("features") != "chars":
        raise UsageError(f"text.pretrained {path}: not a character tagger run")
    data = read_npz(run.export_path)
    meta = json.loads(data["char_tagger"].item())
    if meta.get("kind") != EXPORT_KIND or meta.get("ensemble", 1) != 1:
        raise UsageError(f"text.pretrained {path}: a single character tagger ({EXPORT_KIND}) is needed")
    n = sum(1 for k in data if k.startswith("w"))
    return Source(Path(path), meta, run.vocab.tokens, [str(c) for c in data["chars"].tolist()],
                  [data[f"w{k}"] for k in range(n)], file_sha256(run.export_path))


def check_source(source: Source, meta: dict) -> None:
    """UsageError naming the first setting in which `source` and the tagger `meta` differ."""
    if meta.get("ensemble", 1) != 1:
        raise UsageError("text.pretrained starts a single tagger (text.ensemble = 1)")
    pairs = [(f"text.{k}", source.meta[k], meta[k]) for k in SHAPE_KEYS]
    pairs += [(f"model.{k}", source.meta["model"][k], meta["model"][k]) for k in MODEL_KEYS]
    for name, theirs, ours in pairs:
        if theirs != ours:
            raise UsageError(f"text.pretrained {source.path}: {name} is {theirs} there, {ours} here; "
                             "the encoder must have the same shape")


def copy_rows(rows: np.ndarray, fresh: np.ndarray, theirs: Sequence[str], ours: Sequence[str],
              keep: int) -> np.ndarray:
    """`fresh` (V_ours, D) with the rows of entries both tables hold taken from `rows` (V_theirs,
    D); the first `keep` rows (padding, unknown) are copied by position."""
    out = fresh.copy()
    out[:keep] = rows[:keep]
    where = {t: k for k, t in enumerate(theirs)}
    pairs = [(i, where[t]) for i, t in enumerate(ours) if i >= keep and t in where]
    if pairs:
        mine, their = np.array(pairs).T
        out[mine] = rows[their]
    return out


def load_encoder(tagger, source: Source, tokens: Sequence[str], chars: Sequence[str]) -> list[str]:
    """Copy `source`'s encoder into `tagger` (a fresh `build_char_tagger` model whose vocabulary
    is `tokens` and character table `chars`); returns the names of the layers copied."""
    from jazzgen.text.char_tagger import _build

    model = _build(source.meta)[0]
    model.set_weights(source.weights)
    names = {layer.name for layer in model.layers} & {layer.name for layer in tagger.layers}
    copied = []
    if "embedding" in names:
        (rows,) = model.get_layer("embedding").get_weights()                 # (V_theirs, E)
        target = tagger.get_layer("embedding")
        (fresh,) = target.get_weights()
        # specials by position; words (and <unk:Xx> classes) by spelling
        target.set_weights([copy_rows(rows, fresh, source.tokens, tokens, 4)])
        copied.append("embedding")
    if "chars" in names:
        theirs, ours = model.get_layer("chars"), tagger.get_layer("chars")
        (rows,) = theirs.embed.get_weights()                                  # (2 + chars, D)
        (fresh,) = ours.embed.get_weights()
        ours.embed.set_weights([copy_rows(rows, fresh, ["", ""] + source.chars, ["", ""] + list(chars), 2)])
        ours.encoder.set_weights(theirs.encoder.get_weights())
        copied.append("chars")
    for name in sorted(names):
        if name == "shape_embedding" or name.startswith("lstm_"):
            tagger.get_layer(name).set_weights(model.get_layer(name).get_weights())
            copied.append(name)
    return copied
