"""Taggers that see inside words: data, training set-up, export and inference.

With `text.char_features = "cnn"` or `"lstm"` a tag run feeds each word as its vocabulary id
plus its characters (`char_model.py` builds the network), so a word never seen in training is
still represented by its spelling: `Zorblaxian` and `Quentinville` get different vectors,
though both are `<unk:Xx>` to the vocabulary.

Arrays: a sentence of T words is (T, 1 + MAX_CHARS) int32: column 0 the word id (0 = padding),
then the character ids (0 = padding, 1 = a character never seen in training), and with
`text.word_shape` one more column, the word's spelling class (`SHAPES`). Words longer
than MAX_CHARS keep their first and last MAX_CHARS / 2 characters: prefixes (capitals, `un-`)
and suffixes (`-ing`, `-ly`, `-ville`) carry the signal.

The export (`export.npz`) holds the Keras weights in build order with the settings needed to
rebuild the network (`char_tagger` metadata), and the character table; the run's task.json
says `"features": "chars"`, which is how `evaluate` and `predict` know to load it here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from jazzgen.config import Config
from jazzgen.core.corpus import Corpus
from jazzgen.core.files import atomic_open, read_npz
from jazzgen.core.models import ModelConfig
from jazzgen.core.scoring import log_softmax
from jazzgen.errors import UsageError
from jazzgen.text.decoding import NEVER, allowed_moves, transition_scores, viterbi, weighted
from jazzgen.text.metrics import accuracy, entity_f1, is_bio
from jazzgen.text.tokenizers import word_shape

MAX_CHARS = 16   # characters kept per word (first 8 + last 8 of a longer word)
UNK_CHAR = 1     # a character not seen in training; 0 is padding
EXPORT_KIND = "char_tagger/1"
# Spelling classes (`tokenizers.word_shape`, read on the word as written, capitals kept): an
# explicit casing/shape input, which the folded word ids lose (ids 1..8; 0 is padding)
SHAPES = ("<unk:x>", "<unk:Xx>", "<unk:X>", "<unk:d>", "<unk:@>", "<unk:#>", "<unk:url>", "<unk:->")
SHAPE_ID = {s: k + 1 for k, s in enumerate(SHAPES)}


def check_tagger_config(cfg: Config) -> None:
    """Refuse tagger settings that cannot work, naming the key."""
    t = cfg.text
    if t.char_features not in ("none", "cnn", "lstm"):
        raise UsageError(f"text.char_features must be 'none', 'cnn' or 'lstm' "
                         f"(got {t.char_features!r})")
    if t.decode not in ("argmax", "viterbi", "crf"):
        raise UsageError(f"text.decode must be 'argmax', 'viterbi' or 'crf' (got {t.decode!r})")
    for name in ("char_dim", "char_units", "entity_repeat", "ensemble"):
        if getattr(t, name) < 1:
            raise UsageError(f"text.{name} must be >= 1 (got {getattr(t, name)})")
    if t.transition_weight < 0:
        raise UsageError(f"text.transition_weight must be >= 0 (got {t.transition_weight})")
    if not 0 <= t.class_balance <= 2:
        raise UsageError(f"text.class_balance must be in [0, 2] (got {t.class_balance})")
    if t.char_features == "none" and (t.decode == "crf" or t.word_shape):
        raise UsageError("text.decode = 'crf' and text.word_shape need a character tagger "
                         "(text.char_features = 'cnn' or 'lstm')")
    if t.char_features != "none" and cfg.model.embedding_dim < 1:
        raise UsageError("a character tagger needs model.embedding_dim >= 1")


def char_table(words: Sequence[str]) -> list[str]:
    """The characters of the training words, sorted; character i has id i + 2."""
    return sorted({c for w in words for c in w})


def char_ids(words: Sequence[str], index: dict[str, int], max_chars: int = MAX_CHARS) -> np.ndarray:
    """Character ids of each word, padded with 0 # (len(words), max_chars) int32."""
    out = np.zeros((len(words), max_chars), np.int32)
    head = max_chars // 2
    for i, w in enumerate(words):
        if len(w) > max_chars:
            w = w[:head] + w[len(w) - (max_chars - head):]
        out[i, : len(w)] = [index.get(c, UNK_CHAR) for c in w]
    return out


def sentence_array(word_ids: Sequence[int], words: Sequence[str], index: dict[str, int],
                   shapes: bool = False) -> np.ndarray:
    """One sentence as the network reads it # (T, 1 + MAX_CHARS [+ 1 with `shapes`]) int32."""
    out = np.zeros((len(word_ids), 1 + MAX_CHARS + shapes), np.int32)
    out[:, 0] = word_ids
    out[:, 1: 1 + MAX_CHARS] = char_ids(words, index)
    if shapes:
        out[:, -1] = [SHAPE_ID[word_shape(w)] for w in words]
    return out


def piece_words(corpus: Corpus, i: int) -> list[str]:
    """The spelled words of tag piece i (corpora older than character taggers lack them)."""
    words = corpus.pieces[i].get("words")
    if words is None:
        raise UsageError(f"{corpus.path}: made before character taggers; run preprocess again")
    return words


def tag_batches(corpus: Corpus, indices: Sequence[int], labels: Sequence[str], seq_len: int,
                index: dict[str, int], batch_size: int, repeat: int = 1, seed: int = 0,
                shapes: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Sentences in batches of similar length, one batch a row, for `char_model.batch_trainer`.

    Sentences longer than seq_len are cut into chunks of seq_len; a chunk holding an entity (a
    `B-` tag) appears `repeat` times (weighting the rare entity tags). Chunks are sorted by length
    (ties in a seeded random order) and cut into batches; the loop shuffles the batches.

    Returns:
        x (N, batch_size, T, K) ids (K = 1 + MAX_CHARS [+ 1 with `shapes`]), y (N, batch_size,
        T) label ids (1-based, 0 = padding); T is the longest chunk.
    """
    label_id = {label: k + 1 for k, label in enumerate(labels)}
    chunks = []
    for i in indices:
        arr = sentence_array(corpus.piece_ids(i), piece_words(corpus, i), index, shapes)
        tags = corpus.pieces[i]["tags"]
        for s in range(0, len(arr), seq_len):
            y = np.array([label_id[t] for t in tags[s: s + seq_len]], np.int32)
            copies = repeat if any(t.startswith("B-") for t in tags[s: s + seq_len]) else 1
            chunks += [(arr[s: s + seq_len], y)] * copies
    order = np.random.default_rng(seed).permutation(len(chunks))
    order = sorted(order, key=lambda k: len(chunks[k][1]))
    n = -(-len(chunks) // batch_size)
    T = max((len(y) for _, y in chunks), default=1)
    X = np.zeros((n, batch_size, T, 1 + MAX_CHARS + shapes), np.int32)
    Y = np.zeros((n, batch_size, T), np.int32)
    for k, c in enumerate(order):
        x, y = chunks[c]
        X[k // batch_size, k % batch_size, : len(y)] = x
        Y[k // batch_size, k % batch_size, : len(y)] = y
    return X, Y


def char_tagger_plan(corpus: Corpus, splits: dict[str, list[int]], cfg: Config, describe):
    """The `TrainingPlan` of a character tagger: batches of sentences as array rows (so the
    loop's batch size is 1), its own build and export, and the validation score that picks the
    best epoch (entity F1 for BIO tags, else tag accuracy). `describe(splits, shape)` makes the
    plan's corpus line."""
    from jazzgen.core.plan import TrainingPlan

    check_tagger_config(cfg)
    labels = corpus.info["labels"]
    chars = char_table([w for i in splits["train"] for w in piece_words(corpus, i)])
    index = {c: k + 2 for k, c in enumerate(chars)}
    t, m, seq_len = cfg.text, cfg.model, cfg.data.seq_len
    batch = cfg.train.batch_size
    arrays = {name: tag_batches(corpus, idx, labels, seq_len, index, batch,
                                t.entity_repeat if name == "train" else 1, cfg.data.seed,
                                t.word_shape)
              for name, idx in splits.items() if name != "test"}  # the loop needs no test
    meta = {"kind": EXPORT_KIND, "model": m.to_dict(), "vocab_size": len(corpus.vocab),
            "num_chars": len(chars) + 2, "max_chars": MAX_CHARS, "num_outputs": len(labels) + 1,
            "char_features": t.char_features, "char_dim": t.char_dim, "char_units": t.char_units,
            "word_shape": t.word_shape, "crf": t.decode == "crf", "ensemble": t.ensemble}

    source = None
    if t.pretrained:
        from jazzgen.text.transfer import check_source, read_source

        source = read_source(t.pretrained)
        check_source(source, meta)
    shift = (logit_shift(arrays["train"][1], labels, t.class_balance, t.balance_types)
             if t.class_balance else None)

    built = {}  # the tagger (ensemble mean) of the training graph, for export and selection

    def build():
        from jazzgen.text.char_model import batch_trainer

        built["tagger"], per_member = _build(meta)
        if source is not None:
            from jazzgen.text.transfer import load_encoder

            load_encoder(built["tagger"], source, corpus.vocab.tokens, chars)
        n, c = meta["ensemble"], meta["num_outputs"]
        return batch_trainer(per_member, input_width(meta), (c,) if n == 1 else (n, c), shift)

    def export(models, path: Path) -> None:  # the tagger's own weights, read by `CharTagger`
        tagger = built["tagger"]
        arrays_out = {f"w{k}": w for k, w in enumerate(tagger.get_weights())}
        with atomic_open(path, "wb") as f:
            np.savez(f, char_tagger=np.array(json.dumps(meta)), chars=np.array(chars),
                     **arrays_out)

    start, move = transition_scores([corpus.pieces[i]["tags"] for i in splits["train"]], labels)
    task_info = {"labels": labels, "unknown": corpus.info.get("text", {}).get("unknown", "unk"),
                 "features": "chars", "char_features": t.char_features, "decode": t.decode,
                 "transitions": {"start": start.round(5).tolist(), "move": move.round(5).tolist()}}
    shape = (f"{'bidirectional ' if m.bidirectional else ''}{m.layers}-layer lstm {m.units}, "
             f"word embedding {m.embedding_dim} + characters ({t.char_features}, "
             f"{t.char_units}), {len(labels)} labels, {len(arrays['train'][0])} batches of {batch} "
             "sentences of similar length")
    if source is not None:
        task_info["pretrained"] = record = source.record(corpus.vocab.tokens, chars)
        shape += (f"; encoder from {source.path} ({record['words_shared']} of {len(corpus.vocab)} "
                  f"words, {record['chars_shared']} of {len(chars)} characters shared)")

    def select(models) -> float:  # the best epoch finds entities (F1), or tags right
        tagger = built["tagger"]
        if meta["crf"]:
            s, m = learned_transitions(tagger, labels, meta["ensemble"])
        else:
            s, m = weighted(start, t.transition_weight), weighted(move, t.transition_weight)
        return validation_score(tagger, *arrays["val"], labels, s, m, t.decode)

    def sums(models):  # each member's own loss: the CRF's sentence NLL, or cross-entropy
        from jazzgen.core.training import masked_sums
        from jazzgen.text.crf import crf_sums

        if meta["ensemble"] == 1:
            return crf_sums(built["tagger"].get_layer("transitions"))
        return member_sums([crf_sums(layer) if meta["crf"] else masked_sums
                            for layer in member_layers(built["tagger"], meta["ensemble"])])
    return TrainingPlan(splits, describe(corpus, splits, shape), task_info=task_info,
                        arrays=arrays, build=build, export=export, batch_size=1,
                        select=select if len(arrays["val"][0]) else None,
                        sums=sums if meta["crf"] or meta["ensemble"] > 1 else None)


def member_layers(tagger, n: int) -> list:
    """Each ensemble member's `TagTransitions` layer (None for a member without one)."""
    out = []
    for k in range(n):
        member = tagger.get_layer(f"member_{k}")
        names = {layer.name for layer in member.layers}
        out.append(member.get_layer("transitions") if "transitions" in names else None)
    return out


def member_sums(per_member: list):
    """Batch sums of an ensemble: member k's `sums` on its logits (..., k, C), added up (the
    counts too, so the loop's loss is the members' mean per tag)."""
    def sums(logits, y):
        parts = [f(logits[..., k, :], y) for k, f in enumerate(per_member)]
        return tuple(sum(p[i] for p in parts) for i in range(3))
    return sums


def logit_shift(y: np.ndarray, labels: Sequence[str], tau: float, by_type: bool = True
                ) -> np.ndarray:
    """The logit-adjusted loss's shift # (1 + C,): tau log(prior) of each tag, counted on the
    training targets y (ids 1..C, 0 = padding, which gets 0); `by_type` False gives every tag
    but O the same shift (their mean log prior): O vs entity moves, one type vs another not."""
    counts = np.bincount(y.ravel(), minlength=len(labels) + 1)[1:] + 1.0
    log_prior = np.log(counts / counts.sum())
    if not by_type:
        entity = np.array([tag != "O" for tag in labels])
        log_prior[entity] = log_prior[entity].mean()
    return np.concatenate([[0.0], tau * log_prior])


def input_width(meta: dict) -> int:
    """Columns per word of the tagger's input: id, characters, spelling class if any."""
    return 1 + meta["max_chars"] + (1 if meta.get("word_shape") else 0)


def learned_transitions(tagger, labels: Sequence[str], members: int = 1
                        ) -> tuple[np.ndarray, np.ndarray]:
    """A CRF tagger's learned start (C,) and move (C, C) scores (an ensemble's: the members'
    mean), BIO's forbidden moves (if the tags are BIO) set to `NEVER` so that Viterbi never
    outputs them."""
    layers = ([tagger.get_layer("transitions")] if members == 1
              else member_layers(tagger, members))
    ok_start, ok_move = allowed_moves(labels)
    start = np.mean([np.asarray(layer.start, np.float64) for layer in layers], axis=0)
    move = np.mean([np.asarray(layer.move, np.float64) for layer in layers], axis=0)
    return np.where(ok_start, start, NEVER), np.where(ok_move, move, NEVER)


def validation_score(tagger, x: np.ndarray, y: np.ndarray, labels: Sequence[str],
                     start: np.ndarray, move: np.ndarray, method: str) -> float:
    """Entity F1 (BIO tags) or tag accuracy of the tagger on batched sentences x (N, B, T, K),
    gold y (N, B, T), decoded by `method` ("argmax" or "viterbi")."""
    gold, pred = [], []
    for r in range(len(x)):
        n_words = (y[r] > 0).sum(axis=1)                                    # (B,)
        longest = max(int(n_words.max()), 1)
        logits = np.asarray(tagger(x[r, :, :longest], training=False))     # (B, T', C + 1)
        for row, ids, n in zip(logits, y[r], n_words, strict=True):
            if not n:
                continue
            scores = row[:n, 1:]                                            # (n, C)
            if method in ("viterbi", "crf"):
                path = viterbi(log_softmax(scores), start, move)
            else:
                path = scores.argmax(axis=-1).tolist()
            gold.append([labels[k - 1] for k in ids[:n]])
            pred.append([labels[k] for k in path])
    if is_bio(labels):
        return entity_f1(gold, pred)["f1"]
    return accuracy([g for s in gold for g in s], [p for s in pred for p in s])


def _build(meta: dict):
    """(tagger, per_member): the tagger maps (B, T, K) ids to logits (B, T, C) (an ensemble: to
    the log of its mean probabilities); per_member is the graph training reads (the tagger itself,
    or for an ensemble each member's logits (B, T, N, C))."""
    from jazzgen.text.char_model import build_char_ensemble, build_char_tagger

    def one(name: str):
        return build_char_tagger(ModelConfig.from_dict(meta["model"]), meta["vocab_size"],
                                 meta["num_chars"], meta["max_chars"], meta["num_outputs"],
                                 meta["char_features"], meta["char_dim"], meta["char_units"],
                                 num_shapes=len(SHAPES) if meta.get("word_shape") else 0,
                                 crf=bool(meta.get("crf")), name=name).train

    n = meta.get("ensemble", 1)
    if n == 1:
        tagger = one("char_tagger")
        return tagger, tagger
    return build_char_ensemble([one(f"member_{k}") for k in range(n)], input_width(meta))


class CharTagger:
    """A trained character tagger, loaded from a run's export.npz (imports TensorFlow)."""

    def __init__(self, export_path: str | Path):
        data = read_npz(export_path)  # size-checked; a damaged file is an InputError naming it
        if "char_tagger" not in data:
            raise UsageError(f"{export_path}: not a character tagger export")
        self.meta = json.loads(data["char_tagger"].item())
        if self.meta.get("kind") != EXPORT_KIND:
            raise UsageError(f"{export_path}: export {self.meta.get('kind')}, "
                             f"this jazzgen reads {EXPORT_KIND}")
        self.index = {str(c): k + 2 for k, c in enumerate(data["chars"].tolist())}
        n = sum(1 for k in data if k.startswith("w"))
        weights = [data[f"w{k}"] for k in range(n)]
        self.model = _build(self.meta)[0]
        self.model.set_weights(weights)

    def transitions(self, labels: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """The learned CRF transitions, BIO-constrained (see `learned_transitions`)."""
        if not self.meta.get("crf"):
            raise UsageError("this character tagger has no learned transitions (decode is not 'crf')")
        return learned_transitions(self.model, labels, self.meta.get("ensemble", 1))

    def probabilities(self, word_ids: Sequence[Sequence[int]], words: Sequence[Sequence[str]],
                      batch_size: int = 64) -> list[np.ndarray]:
        """Tag probabilities of each sentence, padding class dropped # one (T_i, C) each.

        Sentences are batched by length; padding does not change a real word's result.
        """
        out: list[np.ndarray] = [np.zeros((0, self.meta["num_outputs"] - 1))] * len(word_ids)
        order = sorted(range(len(word_ids)), key=lambda i: len(word_ids[i]))
        order = [i for i in order if len(word_ids[i])]
        for b in range(0, len(order), batch_size):
            idx = order[b: b + batch_size]
            T = max(len(word_ids[i]) for i in idx)
            x = np.zeros((len(idx), T, input_width(self.meta)), np.int32)
            for j, i in enumerate(idx):
                x[j, : len(word_ids[i])] = sentence_array(word_ids[i], words[i], self.index,
                                                          bool(self.meta.get("word_shape")))
            logits = np.asarray(self.model(x, training=False))                # (B, T, C + 1)
            z = logits[..., 1:] - logits[..., 1:].max(axis=-1, keepdims=True)
            probs = np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True)
            for j, i in enumerate(idx):
                out[i] = probs[j, : len(word_ids[i])]
        return out
