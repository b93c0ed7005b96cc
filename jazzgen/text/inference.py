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

import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from jazzgen.config import GenerateConfig
from jazzgen.core.corpus import Corpus, read_corpus
from jazzgen.core.files import read_json
from jazzgen.core.vocab import BOS, EOS, PAD, UNK
from jazzgen.errors import UsageError
from jazzgen.stages.rundir import Run
from jazzgen.text.tokenizers import map_unknown, tokenizer_from_config

LM_TASKS = ("chars", "words")
TEXT_TASKS = ("chars", "words", "classify", "tag", "dates")


def run_task(run_dir: str | Path | None) -> str | None:
    """The task a run directory was trained for (from task.json), or None when there is none."""
    if not run_dir or not (Path(run_dir) / "task.json").is_file():
        return None
    return read_json(Path(run_dir) / "task.json").get("task")


def _corpus(run: Run, corpus_dir: str | Path | None = None) -> Corpus:
    """The corpus a run was trained on (its held-out pieces are what `evaluate` scores)."""
    path = Path(corpus_dir or run.info.get("corpus", ""))
    if not (path / "corpus.json").is_file():
        raise UsageError(f"{run.path}: its corpus {path} is gone; give it with --corpus DIR")
    corpus = read_corpus(path)
    if corpus.hash != run.info.get("corpus_hash"):
        raise UsageError(f"{path}: not the corpus {run.path} was trained on (hash differs)")
    return corpus


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def token_log_probs(engine, sequences: Sequence[Sequence[int]], bos_id: int, eos_id: int,
                    batch_size: int = 256) -> list[np.ndarray]:
    """log P(y_t | <bos>, y_<t) for every id of every sequence and for the <eos> that ends it.

    Whole sequences, from the zero state (not windows): the same quantity as the probability
    of a sentence, P(y_1 .. y_T, <eos>) = prod_t P(y_t | y_<t). Batched by similar length.

    Returns:
        one array per sequence # (T_i + 1,)
    """
    out: list[np.ndarray] = [np.zeros(0)] * len(sequences)
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
    for b in range(0, len(order), batch_size):
        idx = order[b: b + batch_size]
        T = max(len(sequences[i]) for i in idx) + 1
        inputs = np.full((len(idx), T), bos_id, np.int64)                 # (B, T)
        targets = np.full((len(idx), T), eos_id, np.int64)
        for j, i in enumerate(idx):
            s = np.asarray(sequences[i], np.int64)
            inputs[j, 1: len(s) + 1], targets[j, : len(s)] = s, s
        logp = np.zeros((len(idx), T))
        state = engine.initial_state(len(idx))
        for t in range(T):
            logits, state = engine.step(inputs[:, t], state)              # (B, V)
            logp[:, t] = _log_softmax(logits)[np.arange(len(idx)), targets[:, t]]
        for j, i in enumerate(idx):
            out[i] = logp[j, : len(sequences[i]) + 1]
    return out


def _lm_engine(run: Run, backend: str = "numpy"):
    from jazzgen.stages.generate import load_engine

    return load_engine(run, backend)


def _primer_ids(run: Run, tokenizer, primer: str) -> list[int]:
    tokens = tokenizer.encode(primer)
    unknown = sorted({t for t in tokens if t not in run.vocab})
    if unknown and tokenizer.name == "chars":
        raise UsageError(f"the model never saw {', '.join(map(repr, unknown))}; change the primer")
    return run.vocab.encode(tokens)


def sample_texts(run: Run, g: GenerateConfig, primer: str = "", length: int = 300) -> list[str]:
    """`g.count` samples from a language model, each starting with `primer`, ending at <eos>."""
    from jazzgen.core.sampling import sample_sequences

    tokenizer = tokenizer_from_config(run.task["tokenizer"])
    v = run.vocab
    primer_ids = _primer_ids(run, tokenizer, primer) if primer else []
    allowed = np.ones(len(v), bool)
    allowed[[v.id(PAD), v.id(BOS), v.id(UNK)]] = False                   # never printed
    rng = np.random.default_rng(g.seed)
    sequences = sample_sequences(_lm_engine(run, g.backend), g.count, rng, start_id=v.id(BOS),
                                 max_steps=length, temperature=g.temperature, top_k=g.top_k,
                                 allowed=allowed, stop_id=v.id(EOS), primer=primer_ids)
    return [tokenizer.decode(v.decode(primer_ids + ids)) for ids in sequences]


def _check_generate(g: GenerateConfig, length: int) -> None:
    if g.temperature <= 0:
        raise UsageError(f"--temperature must be > 0 (got {g.temperature})")
    if g.top_k < 0 or g.count <= 0 or length <= 0:
        raise UsageError("--top-k must be >= 0, and -n and --length > 0")


def generate_text(run: Run, g: GenerateConfig, primer: str = "", length: int = 300,
                  out: str | Path | None = None, echo: Callable[[str], None] = print) -> list[str]:
    """Print (or write to `out`) `g.count` samples of a text run, one per line.

    Samples that hold newlines (blocks, e.g. speeches) are separated by a blank line. A dates
    run translates `primer` if given, else `g.count` test inputs ("input<TAB>output").
    """
    _check_generate(g, length)
    task = run.task["task"]
    if task in LM_TASKS:
        samples = sample_texts(run, g, primer, length)
    elif task == "dates":
        if primer:
            sources = [primer]
        else:
            corpus = _corpus(run)
            test = run.info.get("test_pieces") or run.info.get("val_pieces") or []
            pick = np.random.default_rng(g.seed).permutation(test)[: g.count]
            sources = [_source_text(run, corpus, int(i)) for i in pick]
        outputs = translate(run, sources)
        samples = [f"{s}\t{o}" for s, (o, _) in zip(sources, outputs, strict=True)]
    else:
        raise UsageError(f"{run.path}: a {task} run labels text and generates none; "
                         f"use `jazzgen predict {run.path} \"some text\"`")
    text = ("\n\n" if any("\n" in s for s in samples) else "\n").join(samples) + "\n"
    if out:
        from jazzgen.core.files import atomic_open

        with atomic_open(out, "w", encoding="utf-8") as f:
            f.write(text)
        echo(f"wrote {len(samples)} samples to {out}")
    else:
        echo(text.rstrip("\n"))
    return samples


def _source_text(run: Run, corpus: Corpus, i: int) -> str:
    tokenizer = tokenizer_from_config(run.task["tokenizer"])
    return tokenizer.decode(corpus.vocab.decode(corpus.piece_ids(i)))


# ---- labelled tasks ---------------------------------------------------------------------------

def _label_probs(run: Run, sequences: Sequence[Sequence[int]]) -> list[np.ndarray]:
    """Label probabilities per sentence (classify: (C,)) or per token (tag: (T, C)), padding
    class dropped. Sentences of equal length run together, unpadded, as the masked model saw."""
    from jazzgen.core.engine import NumpyEngine

    engine = NumpyEngine.from_export(run.export_path)
    out: list[np.ndarray] = [np.zeros(0)] * len(sequences)
    by_length: dict[int, list[int]] = {}
    for i, s in enumerate(sequences):
        by_length.setdefault(len(s), []).append(i)
    for length, idx in by_length.items():
        if length == 0:
            continue
        logits = engine.forward(np.asarray([sequences[i] for i in idx], np.int64))
        probs = np.exp(_log_softmax(np.asarray(logits)[..., 1:]))      # drop padding class 0
        for j, i in enumerate(idx):
            out[i] = probs[j]
    return out


def _held_out(run: Run) -> tuple[list[int], str]:
    """The test pieces and "test", or the validation pieces when there is no test split."""
    test = run.info.get("test_pieces") or []
    return (test, "test") if test else (run.info.get("val_pieces") or [], "validation")


def _evaluate_classify(run: Run, corpus: Corpus) -> dict:
    from jazzgen.text.metrics import accuracy, class_f1, majority_label

    labels = run.task["labels"]
    idx, split = _held_out(run)
    seq_len = run.config.data.seq_len
    probs = _label_probs(run, [corpus.piece_ids(i)[:seq_len] for i in idx])
    gold = [corpus.pieces[i]["label"] for i in idx]
    pred = [labels[int(p.argmax())] for p in probs]
    nll = [-math.log(max(p[labels.index(g)], 1e-12)) for p, g in zip(probs, gold, strict=True)]
    train_labels = [corpus.pieces[i]["label"] for i in run.info["train_pieces"]]
    majority = majority_label(train_labels)
    f1, base_f1 = class_f1(gold, pred, labels), class_f1(gold, [majority] * len(gold), labels)
    loss = float(np.mean(nll))
    return {"split": split, "pieces": len(idx), "loss": loss, "perplexity": math.exp(loss),
            "accuracy": accuracy(gold, pred), "macro_f1": f1["macro_f1"], "f1": f1["f1"],
            "baseline": "majority class", "majority_label": majority,
            "baseline_accuracy": accuracy(gold, [majority] * len(gold)),
            "baseline_macro_f1": base_f1["macro_f1"]}


# ---- dates (encoder-decoder) -----------------------------------------------------------------

def _seq2seq(run: Run):
    from jazzgen.core.seq2seq import load_seq2seq

    return load_seq2seq(run.export_path)


def translate(run: Run, sources: Sequence[str], models=None) -> list[tuple[str, float]]:
    """Greedy decoding of each source text -> (output text, its probability under the model)."""
    from jazzgen.core.seq2seq import greedy_decode

    models = models or _seq2seq(run)
    tokenizer = tokenizer_from_config(run.task["tokenizer"])
    v = run.vocab
    X = np.zeros((len(sources), models.src_len), np.int32)
    for i, s in enumerate(sources):
        ids = v.encode(tokenizer.encode(s))[: models.src_len]
        X[i, : len(ids)] = ids
    results = []
    for b in range(0, len(sources), 512):
        ids, logp = greedy_decode(models, X[b: b + 512], v.id(BOS), v.id(EOS))
        results += [(tokenizer.decode(v.decode(o)), float(np.exp(lp)))
                    for o, lp in zip(ids, logp, strict=True)]
    return results


def _evaluate_dates(run: Run, corpus: Corpus) -> dict:
    from jazzgen.core.seq2seq import pack_pairs

    models = _seq2seq(run)
    idx, split = _held_out(run)
    v = corpus.vocab
    sources = [_source_text(run, corpus, i) for i in idx]
    targets = [corpus.pieces[i]["target"] for i in idx]
    outputs = [o for o, _ in translate(run, sources, models)]
    X, Y = pack_pairs([corpus.piece_ids(i) for i in idx], [v.encode(list(t)) for t in targets],
                      models.src_len, models.tgt_len, v.id(BOS), v.id(EOS))
    logp = _log_softmax(models.train.predict(X, batch_size=512, verbose=0))  # (N, Ty, V)
    picked = np.take_along_axis(logp, Y[..., None].astype(np.int64), axis=-1)[..., 0]
    mask = Y != 0
    loss = float(-(picked * mask).sum() / mask.sum())
    pairs = list(zip(outputs, targets, strict=True))
    chars = [a == b for o, t in pairs for a, b in zip(o.ljust(len(t)), t, strict=False)]
    wrong = [f"{s} -> {o} (want {t})" for s, (o, t) in zip(sources, pairs, strict=True) if o != t]
    return {"split": split, "pieces": len(idx), "loss": loss, "perplexity": math.exp(loss),
            "exact_match": sum(o == t for o, t in pairs) / max(len(idx), 1),
            "char_accuracy": sum(chars) / max(len(chars), 1), "errors": wrong[:5]}


# ---- language models ---------------------------------------------------------------------------

def _evaluate_lm(run: Run, corpus: Corpus, sentence: str | None, samples: int,
                 seed: int) -> dict:
    from jazzgen.core.ngram import NGramModel

    v = corpus.vocab
    bos, eos = v.id(BOS), v.id(EOS)
    val = [corpus.piece_ids(i) for i in run.info.get("val_pieces", [])]
    if not val:
        raise UsageError(f"{run.path}: no validation pieces to score (data.val_fraction = 0)")
    train = [corpus.piece_ids(i) for i in run.info["train_pieces"]]
    engine = _lm_engine(run)
    logp = token_log_probs(engine, val, bos, eos)
    n_tokens = sum(len(lp) for lp in logp)
    loss = float(-sum(lp.sum() for lp in logp) / n_tokens)
    order = run.config.text.ngram_order
    ngram = NGramModel(order, len(v), bos_id=bos).fit([list(s) + [eos] for s in train])
    base = ngram.mean_nll([list(s) + [eos] for s in val])
    result = {"split": "validation", "pieces": len(val), "tokens": n_tokens, "loss": loss,
              "perplexity": math.exp(loss), "bits_per_token": loss / math.log(2),
              "baseline": f"{order}-gram Kneser-Ney", "baseline_loss": base,
              "baseline_perplexity": math.exp(base)}
    if samples > 0:
        tokenizer = tokenizer_from_config(run.task["tokenizer"])
        seen = {tokenizer.decode(v.decode(s)) for s in train}
        texts = sample_texts(run, GenerateConfig(count=samples, seed=seed),
                             length=run.config.text.length)
        result["samples"] = len(texts)
        result["novel_fraction"] = sum(t not in seen for t in texts) / len(texts)
        result["examples"] = texts[:5]
    if sentence is not None:
        result["sentence"] = sentence_probability(run, sentence, engine, ngram)
    return result


def sentence_probability(run: Run, sentence: str, engine=None, ngram=None) -> dict:
    """P(y_1 .. y_T, <eos>) = prod_t P(y_t | y_<t) under the model (and the n-gram baseline).

    Returns:
        {"text", "tokens", "log_prob" (nats), "prob", "per_token": [[token, P], ...]}
    """
    tokenizer = tokenizer_from_config(run.task["tokenizer"])
    tokens = tokenizer.encode(sentence)
    if not tokens:
        raise UsageError("--sentence is empty")
    ids = _primer_ids(run, tokenizer, sentence)
    v = run.vocab
    lp = token_log_probs(engine or _lm_engine(run), [ids], v.id(BOS), v.id(EOS))[0]
    out = {"text": sentence, "tokens": len(tokens) + 1, "log_prob": float(lp.sum()),
           "prob": float(np.exp(lp.sum())),
           "per_token": [[t, round(float(np.exp(x)), 6)] for t, x in
                         zip(v.decode(ids) + [EOS], lp, strict=True)]}
    if ngram is not None:
        padded = [v.id(BOS)] * (ngram.order - 1) + ids + [v.id(EOS)]
        out["baseline_log_prob"] = float(sum(
            ngram.log_prob(padded[t - ngram.order + 1: t], padded[t])
            for t in range(ngram.order - 1, len(padded))))
    return out


def evaluate_text(run: Run, sentence: str | None = None, samples: int = 100, seed: int = 0,
                  corpus_dir: str | Path | None = None) -> dict:
    """Score a text run on its held-out pieces; returns a JSON-able dict with `loss` first.

    Args:
        sentence: (language models) also report the probability of this sentence.
        samples: (language models) draw this many samples and report the share not in the
            training data (`novel_fraction`); 0 = skip.
        corpus_dir: the corpus, if it moved since training.
    """
    task = run.task["task"]
    if sentence is not None and task not in LM_TASKS:
        raise UsageError("--sentence scores text under a language model (a chars or words run)")
    corpus = _corpus(run, corpus_dir)
    if task in LM_TASKS:
        body = _evaluate_lm(run, corpus, sentence, samples, seed)
    elif task == "classify":
        body = _evaluate_classify(run, corpus)
    elif task == "tag":
        from jazzgen.text.tagging import evaluate_tag

        body = evaluate_tag(run, corpus)
    elif task == "dates":
        body = _evaluate_dates(run, corpus)
    else:
        raise UsageError(f"{run.path}: unknown text task {task!r}")
    return {"task": task, "run": str(run.path), **body}


def predict(run: Run, texts: Sequence[str]) -> list[str]:
    """One output line per input for classify and dates ("label<TAB>probability"); for tag, one
    "token<TAB>tag<TAB>probability" line per token, sentences separated by a blank line."""
    task = run.task["task"]
    if task == "dates":
        return [f"{o}\t{p:.4f}" for o, p in translate(run, texts)]
    if task not in ("classify", "tag"):
        raise UsageError(f"{run.path}: predict labels text with a classify, tag or dates run; "
                         f"for a {task} model use `jazzgen evaluate {run.path} --sentence \"...\"`")
    tokenizer = tokenizer_from_config(run.task["tokenizer"])
    labels = run.task["labels"]
    token_lists = [tokenizer.encode(t) for t in texts]
    if not all(token_lists):
        raise UsageError("predict: an input has no words")
    seq_len = run.config.data.seq_len
    shapes = run.task.get("unknown") == "shape"
    keep = seq_len if task == "classify" else None  # the classifier reads the first seq_len words
    ids = [run.vocab.encode(map_unknown(t, run.vocab, shapes))[:keep] for t in token_lists]
    if task == "classify":
        return [f"{labels[int(p.argmax())]}\t{p.max():.4f}" for p in _label_probs(run, ids)]
    from jazzgen.text.tagging import predict_tags  # word-only or character tagger, Viterbi

    blocks = ["\n".join(f"{tok}\t{tag}\t{p:.4f}" for tok, (tag, p) in zip(tokens, tagged, strict=True))
              for tokens, tagged in zip(token_lists, predict_tags(run, token_lists), strict=True)]
    return "\n\n".join(blocks).split("\n")
