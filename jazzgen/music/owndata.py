"""Training on your own (small) corpus: what went in, and settings chosen from its size.

`corpus_report` says what a jazz corpus holds (pieces, bars, values, which pieces have chords and
where the chords came from, pieces shorter than one training window) and warns about what will
not train well; `preprocess` and `train` both print it.

`size_defaults` picks the model size, dropout, learning rate and stopping from the number of
values a corpus holds. Only settings left at their `jazzgen/config.py` defaults are replaced (a
recipe or `--set` that gives one another value keeps it, and the other settings of its group;
a value equal to the default counts as not given: `train.auto_size = false` keeps them all),
the choice is logged, and it lands in the run's config.json like any setting. A large corpus (the
bundled WJD's 216,672 values) gets exactly the defaults of config.py. Measured on OpenEWLD
subsets in `benchmarks/learning_curve.py` (README: "Training on your own corpus").
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace

from jazzgen.config import Config
from jazzgen.errors import JazzgenError

BUNDLED_VALUES = 216_672  # values of the 456 WJD solos the bundled model learned from
SMALL_VALUES = 30_000  # below this, training from scratch trails fine-tuning the bundled model

# Settings by corpus size in values: (fewer than this many values, settings). Measured on
# OpenEWLD subsets against one held-out set of 50 lead sheets (benchmarks/learning_curve.py).
# From scratch on 60 pieces (7,000 values): the default 256-unit model with dropout 0.5,
# batches of 32 and windows every 16 values reached a held-out perplexity of 174, where
# config.py's defaults reached 208, a 128-unit model 194 and a 64-unit one 204 (3-gram: 216).
# Fine-tuning keeps the source's shape; on 30 pieces, batches of 16 at learning rate 0.003
# stopped after 7 epochs at 107, where 0.001 took 17 epochs to reach 113 (batches of 32: 25
# epochs, 108), against the 3-gram's 244 and the source's zero-shot 196.
SCRATCH_TABLE: tuple[tuple[float, dict], ...] = (
    (SMALL_VALUES, {"dropout": 0.5, "batch_size": 32, "stride": 16, "epochs": 100, "patience": 6}),
    (120_000, {"dropout": 0.3, "epochs": 60, "patience": 5}),
    (float("inf"), {}),  # config.py's defaults
)
FINETUNE_TABLE: tuple[tuple[float, dict], ...] = (
    (SMALL_VALUES, {"dropout": 0.3, "learning_rate": 0.003, "batch_size": 16, "epochs": 100, "patience": 3}),
    (float("inf"), {"dropout": 0.2, "epochs": 100, "patience": 3}),
)
_SECTIONS = {"units": "model", "embedding_dim": "model", "dropout": "model", "learning_rate": "train",
             "batch_size": "train", "epochs": "train", "patience": "train", "stride": "data"}
# Settings that only make sense together: one of them stated keeps the whole group as stated.
_GROUPS = (("units", "embedding_dim", "dropout"), ("epochs", "patience"), ("learning_rate",),
           ("batch_size",), ("stride",))


def size_defaults(values: int, finetune: bool) -> dict:
    """The settings `apply_size_defaults` would choose for a corpus of `values` values."""
    for limit, settings in (FINETUNE_TABLE if finetune else SCRATCH_TABLE):
        if values < limit:
            return dict(settings)
    return {}


def apply_size_defaults(cfg: Config, values: int, finetune: bool,
                        log: Callable[[str], None] = print) -> tuple[Config, dict]:
    """`cfg` with the size-chosen settings applied where it holds config.py's defaults.

    Returns the new config and {"section.key": value} of what was chosen (empty when none).
    Fine-tuning never changes the model's shape (it is the source's), only its dropout.
    """
    if not cfg.train.auto_size:
        return cfg, {}
    base = Config()
    chosen = size_defaults(values, finetune)
    now = {k: getattr(getattr(cfg, s), k) for k, s in _SECTIONS.items()}
    default = {k: getattr(getattr(base, s), k) for k, s in _SECTIONS.items()}
    if finetune:
        now.update(units=default["units"], embedding_dim=default["embedding_dim"])  # not the group's
    applied = {}
    for group in _GROUPS:
        if any(now[k] != default[k] for k in group):
            continue  # stated by the user: kept as stated
        applied.update({k: chosen[k] for k in group if k in chosen and chosen[k] != now[k]})
    if not applied:
        return cfg, {}
    model = replace(cfg.model, **{k: v for k, v in applied.items() if _SECTIONS[k] == "model"})
    train = replace(cfg.train, **{k: v for k, v in applied.items() if _SECTIONS[k] == "train"})
    data = replace(cfg.data, **{k: v for k, v in applied.items() if _SECTIONS[k] == "data"})
    named = {f"{_SECTIONS[k]}.{k}": v for k, v in applied.items()}
    log(f"settings for {values:,} values{' (fine-tuning)' if finetune else ''}: "
        + ", ".join(f"{k}={v}" for k, v in named.items())
        + " (chosen from the corpus size for settings left at their defaults; "
        "train.auto_size=false turns this off)")
    return replace(cfg, model=model, train=train, data=data), named


def corpus_report(pieces: Sequence[dict], lengths: Sequence[int], seq_len: int, unit: str = "values",
                  finetune: bool = False) -> tuple[list[str], list[str]]:
    """(lines, warnings) describing a jazz corpus: its pieces, chords and what will train badly.

    Args:
        pieces: the corpus's piece records (pieces.jsonl), transposed copies included.
        lengths: values per piece, same order.
        seq_len: values in one training window.
        finetune: the corpus fine-tunes a model (no advice to do so).
    """
    from jazzgen.music.pipeline import has_changes

    originals = [(p, n) for p, n in zip(pieces, lengths, strict=True) if not p.get("transpose")]
    songs = len({p.get("source") for p, _ in originals})
    values = sum(lengths)
    bars = sum(p.get("bars", 0) for p, _ in originals)
    sizes = [n for _, n in originals]
    lines = [f"pieces: {len(originals)}" + (f" ({len(pieces)} with the transposed copies)"
                                            if len(pieces) > len(originals) else "")
             + (f", {bars:,} bars" if bars else "") + f", {values:,} {unit} (per piece: median "
             f"{statistics.median(sizes):.0f}, {min(sizes)}-{max(sizes)})"]
    chorded = [p for p, _ in originals if has_changes(p)]
    where = Counter("other tracks' notes" if p.get("chord_source", "").startswith("notes:")
                    else p.get("chord_source") or "unknown" for p in chorded)
    lines.append(f"with chords: {len(chorded)} of {len(originals)}"
                 + (f" ({', '.join(f'{k} {v}' for k, v in where.most_common())})" if where else ""))
    short = sum(1 for n in sizes if n + 1 < seq_len)
    if short:
        lines.append(f"{short} piece{'s' * (short != 1)} shorter than one {seq_len}-value training "
                     "window (each trains as one padded window)")
    warnings = []
    if songs < 2:
        warnings.append("one piece: nothing can be held out to tell when to stop training; "
                        "add more pieces")
    if not chorded:
        warnings.append("no piece has chords: every value is typed against N.C., so the model learns "
                        "nothing about playing over changes; give files with chord symbols or a "
                        "chord track")
    elif len(chorded) < len(originals):
        free = len(originals) - len(chorded)
        warnings.append(f"{free} piece{' has' if free == 1 else 's have'} no chords (played over N.C.)")
    if values < SMALL_VALUES and not finetune:
        warnings.append(f"{values:,} {unit} is little to train from scratch (the bundled model learned "
                        f"from {BUNDLED_VALUES:,}); fine-tuning it usually does much better: "
                        "jazzgen train CORPUS -o RUN --from default")
    return lines, warnings


def check_trainable(corpus_path, pieces: Sequence[dict]) -> None:
    """JazzgenError (exit 1) for a corpus training cannot use: a single piece (or song)."""
    songs = {p.get("source") for p in pieces}
    if len(songs) < 2:
        raise JazzgenError(f"{corpus_path}: one piece; training holds pieces out to know when to "
                           "stop, so it needs at least 2 (add files and preprocess again)")
