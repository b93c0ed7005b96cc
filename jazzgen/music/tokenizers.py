"""The music tokenizers behind one interface, found by name.

    values   chord-relative values, one per note or rest (`values.py`, the course's grammar)
    events   pitch-exact events with the changes' structure (`events.py`, MINGUS-like)

Each is a `core.tokenizer.Tokenizer` with, beyond `encode` / `decode` / `config`:

    from_settings(preprocess_cfg)    the tokenizer `preprocess` makes from [preprocess] settings
    quantize_score(score)            the melody snapped to its grid, and what moved
    tokens(quantized)                a quantized score's tokens (quantized once, not twice)
    unit                             what one token is called in reports ("values")
    writes_structure                 True when the tokens carry bars, positions and chords
    other_keys(tokens, all_keys)     {semitones: tokens} extra copies a corpus stores
    evaluation(run, corpus)          (result key, figures, report text) of its own, or None

The jazz task and the music modules ask this module for a tokenizer and never test its name.
"""

from __future__ import annotations

import importlib

TOKENIZERS = {
    "values": "jazzgen.music.values:ValuesTokenizer",
    "events": "jazzgen.music.events:EventsTokenizer",
}


def tokenizer_class(name: str):
    """The tokenizer class registered as `name`; ValueError listing the known ones otherwise."""
    if name not in TOKENIZERS:
        raise ValueError(f"unknown tokenizer {name!r} for jazz (known: {', '.join(TOKENIZERS)})")
    module, _, attr = TOKENIZERS[name].partition(":")
    return getattr(importlib.import_module(module), attr)


def tokenizer_from_config(config: dict):
    """The tokenizer a corpus or run recorded (`config()`, e.g. a run's task.json "tokenizer")."""
    return tokenizer_class(config.get("name", "values")).from_config(config)


def tokenizer_for_preprocess(cfg):
    """The tokenizer `preprocess` makes from its [preprocess] settings (`cfg.tokenizer` names it)."""
    return tokenizer_class(cfg.tokenizer).from_settings(cfg)


def music_tokenizer(task_info: dict):
    """The music tokenizer a run's task.json records, or None for a run of another kind (text)."""
    config = task_info.get("tokenizer")
    if not isinstance(config, dict) or config.get("name", "values") not in TOKENIZERS:
        return None
    return tokenizer_from_config(config)
