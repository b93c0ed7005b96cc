"""Config is data: frozen dataclasses with defaults, overridden by TOML recipes and `--set`.

A recipe in `pipelines/` states only what differs from these defaults, e.g.

    [train]
    epochs = 40
    [model]
    units = 128

`--set train.epochs=3` overrides one key from the command line. Unknown sections or keys are an
error that names them, so a typo never silently trains the wrong model.
"""

from __future__ import annotations

import dataclasses
import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jazzgen.core.models import ModelConfig
from jazzgen.errors import UsageError


@dataclass(frozen=True)
class PreprocessConfig:
    sources: tuple[str, ...] = ()  # files or folders, read recursively
    output: str = ""  # corpus directory
    task: str = "jazz"  # jazz | chars | words | classify | tag | dates
    tokenizer: str = "values"  # jazz: values (chord-relative course grammar) | events (pitches)
    all_keys: bool = True  # events: also store every piece in the other 11 keys (pieces carry
    #                        "transpose"; training splits by song). Values are key-free: no effect
    events_tempo: bool = False  # events: bar tokens name the piece's tempo class (BAR:150-190),
    #                            so every window knows how fast the line moves (events.TEMPO_EDGES_QPM);
    #                            no gain measured yet at 13 min of training (pipelines/wjd-events.toml)
    window: int = 2  # values: semitones the interval window is widened each way
    melody_track: str = ""  # name or index of the melody track; "" = detect
    max_file_mb: float = 20.0  # larger files are skipped as "too long"
    max_notes: int = 200_000  # files with more notes are skipped as "too long"
    file_timeout_s: float = 60.0  # per-file parse time limit
    workers: int = 1  # processes reading files in parallel
    shard_size: int = 0  # also write whole-piece shards of about this many values, streamed by
    #                      training through tf.data (0 = none; ids.npy is written either way)
    part: str = ""  # "K/N": read only the K-th of N slices of the inputs (one cluster task);
    #                 `jazzgen merge-corpora` joins the N partial corpora ("" = all inputs)

    def __post_init__(self) -> None:
        _check_ranges(self, "preprocess", {
            "window": ">=0", "max_file_mb": ">0", "max_notes": ">0", "file_timeout_s": ">=0",
            "workers": ">=0", "shard_size": ">=0"})


@dataclass(frozen=True)
class DataConfig:
    seq_len: int = 64  # values per training window (Tx)
    stride: int = 32  # step between window starts within a piece
    val_fraction: float = 0.1  # share of pieces (not windows) held out for validation
    seed: int = 0  # split seed
    condition: bool = False  # jazz: also feed the beat position and the harmony at every step
    #                          (values: music/conditioning.py; events: music/events_conditioning.py)
    gate: bool = False  # with condition: train on the choices sampling leaves (the meter, the
    #                     line's playable values; jazzgen/core/gates.py). Measured on the default:
    #                     held-out loss 4.503 -> 4.365 but solos easier to tell (AUC 0.60 -> 0.67)

    def __post_init__(self) -> None:
        _check_ranges(self, "data", {
            "seq_len": ">0", "stride": ">0", "val_fraction": "[0,1)", "seed": ">=0"})


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 30
    batch_size: int = 64
    learning_rate: float = 0.002  # Adam
    clip_norm: float = 1.0  # gradient clipping by global norm
    patience: int = 5  # early stopping: epochs without a better validation loss
    seed: int = 0  # weights init and shuffling
    max_minutes: float = 0.0  # stop after this wall time (0 = no limit)
    lr_decay: float = 1.0  # < 1: after an epoch without a better validation loss, go on from the
    #                        best weights with the learning rate times this (reduce on plateau);
    #                        1 = never. Keras backend, one device.
    auto_size: bool = True  # jazz: settings left at these defaults (model size and dropout,
    #                         learning rate, batch size, epochs and patience, data.stride) are chosen
    #                         from the corpus size, logged and stored in the run
    #                         (jazzgen/music/owndata.py); false = exactly as written here
    checkpoint_every_s: float = 10.0  # write checkpoint + history at most this often (0 = every epoch)
    threads: int = 0  # TensorFlow intra-op threads; 0 = auto: 1 for small models (one step's
    #                   matmuls too small to split across cores), else TensorFlow's default
    strategy: str = "default"  # default (one device) | mirrored (all GPUs of this machine) |
    #                            multiworker (TF_CONFIG); batch_size is then PER REPLICA: a step
    #                            takes batch_size x replicas windows (docs/scaling.md)

    def __post_init__(self) -> None:
        _check_ranges(self, "train", {
            "epochs": ">0", "batch_size": ">0", "learning_rate": ">0", "clip_norm": ">0",
            "patience": ">=0", "seed": ">=0", "max_minutes": ">=0", "checkpoint_every_s": ">=0",
            "threads": ">=0"})


@dataclass(frozen=True)
class GenerateConfig:
    bars: int = 32  # bars to generate
    temperature: float = 1.0  # 1.0 = the model's distribution, < 1.0 = less random
    top_k: int = 0  # sample among the k most likely values (0 = all)
    seed: int = 0
    count: int = 1  # number of solos (-n)
    backend: str = "numpy"  # numpy (no TensorFlow import) | keras
    chord_tone_bias: float = 0.0  # values runs: nats added to the logits of values that play a
    #                               chord tone of the chord at their onset (0 = as learned)

    def __post_init__(self) -> None:
        _check_ranges(self, "generate", {
            "bars": ">0", "temperature": ">0", "top_k": ">=0", "seed": ">=0", "count": ">0",
            "chord_tone_bias": ">=0"})


@dataclass(frozen=True)
class TextConfig:
    """Settings of the text tasks (chars, words, classify, tag, dates); the jazz task ignores them."""

    unit: str = "line"  # chars/words: a piece is a "line" (its end is <eos>) or a "block" of
    #                     lines between blank lines (newlines inside it are tokens)
    lowercase: bool = False  # fold case before tokenizing (dinosaur names, sentiment, dates)
    min_count: int = 1  # words seen fewer times than this in training become <unk>
    unknown: str = "unk"  # classify/tag: a word not in the vocabulary becomes "unk" (<unk>) or
    #                       "shape" (<unk:Xx>, <unk:d>, <unk:@> ... by its spelling)
    label_names: tuple[str, ...] = ()  # classify: "raw=name" renames, e.g. ["0=negative", ...]
    split: str = "random"  # classify/tag/dates: "random", or "files" (a source whose name holds
    #                        "test" is the test set; the others are split into train/validation),
    #                        or "official" (as "files", and a source named "dev" validates)
    test_fraction: float = 0.1  # classify/tag/dates: share of pieces kept for `evaluate` only
    char_features: str = "none"  # tag: what each word's characters add to its embedding:
    #                              "none", "cnn" (Ma & Hovy) or "lstm" (a character BiLSTM)
    char_dim: int = 32  # tag: size of the learned character vectors
    char_units: int = 64  # tag: CNN filters, or character LSTM units per direction
    ensemble: int = 1  # tag (character taggers): members trained side by side (own weights,
    #                    own loss), whose mean probabilities (and CRF transitions) decode
    word_shape: bool = False  # tag (character taggers): each word also gets an embedding of
    #                           its spelling class (Xx, X, x, digits, @, #, url, other)
    pretrained: str = ""  # tag (character taggers): a character tagger's run directory whose
    #                       encoder (word and character vectors, LSTMs) this one starts from
    #                       (`text/transfer.py`); "" = a fresh start
    decode: str = "argmax"  # tag: "argmax" per word, or "viterbi" over tag transitions counted
    #                         in training (BIO moves such as O -> I-x are never output), or
    #                         "crf" (character taggers): transitions learned with the tagger by
    #                         a sentence-level CRF loss, then Viterbi (BIO kept too)
    transition_weight: float = 0.5  # tag, viterbi: weight of the counted transition log-probs
    #                                 (0 = only the BIO rules)
    entity_repeat: int = 1  # tag (BIO): training sentences holding an entity count this many
    #                         times per epoch (most tags are O)
    class_balance: float = 0.0  # tag (character taggers): tau of the logit-adjusted loss, which
    #                             trains with tau log(tag prior) added to the logits, so rare
    #                             tags are predicted more often; 0 = plain cross-entropy
    balance_types: bool = True  # class_balance shifts each tag by its own prior; false: all
    #                             tags but O share one shift (their mean log prior), so the
    #                             loss favours entities over O without favouring rare types
    backend: str = "keras"  # chars/words training: "keras" or "numpy" (the course's reference
    #                         RNN: one layer, one-hot input, numpy BPTT, clipping, Adam)
    ngram_order: int = 3  # evaluate: order of the Kneser-Ney n-gram baseline
    length: int = 300  # generate: most tokens per sample (a sample also ends at <eos>)
    primer: str = ""  # generate: text every sample starts with and continues
    dates: int = 20000  # dates: distinct (input, ISO date) pairs generated from data.seed
    attention: bool = True  # dates: the decoder attends over the encoder outputs

    def __post_init__(self) -> None:
        _check_ranges(self, "text", {
            "min_count": ">0", "test_fraction": "[0,1)", "ngram_order": ">0", "length": ">0",
            "dates": ">0"})


@dataclass(frozen=True)
class Config:
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    generate: GenerateConfig = field(default_factory=GenerateConfig)
    text: TextConfig = field(default_factory=TextConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: dict, origin: str = "config") -> Config:
        return apply_overrides(cls(), raw, origin)


# Settings a command-line option sets, named as the user typed them in messages.
_FLAGS = {"generate.bars": "--bars", "generate.temperature": "--temperature", "generate.top_k": "--top-k",
          "generate.seed": "--seed", "generate.count": "-n",
          "generate.chord_tone_bias": "--chord-tone-bias", "text.length": "--length",
          "preprocess.workers": "--workers", "preprocess.shard_size": "--shard-size", "train.epochs": "--epochs"}
_RANGES = {">0": (lambda v: v > 0, "must be > 0"), ">=0": (lambda v: v >= 0, "must be >= 0"),
           "[0,1)": (lambda v: 0 <= v < 1, "must be in [0, 1)")}


def _check_ranges(section_config: Any, section: str, rules: dict[str, str]) -> None:
    """Refuse out-of-range or non-finite numbers when a section is built, before any work.

    Every way a setting arrives (defaults, recipe, --set, a command-line option applied with
    `dataclasses.replace`) builds the dataclass again, so this one check covers them all.
    """
    for name, rule in rules.items():
        value = getattr(section_config, name)
        ok, words = _RANGES[rule]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue  # a wrong type is reported by _coerce with the origin of the value
        key = f"{section}.{name}"
        if not math.isfinite(value):
            raise UsageError(f"{_FLAGS.get(key, key)} must be a finite number (got {value!r})")
        if not ok(value):
            raise UsageError(f"{_FLAGS.get(key, key)} {words} (got {value!r})")


def _coerce(value: Any, current: Any, where: str) -> Any:
    """Convert `value` (TOML or a --set string) to the type of the default it replaces."""
    if isinstance(current, tuple):
        items = value if isinstance(value, (list, tuple)) else [value]
        return tuple(str(v) for v in items)
    if isinstance(value, str) and not isinstance(current, str):
        try:
            value = json.loads(value.lower() if isinstance(current, bool) else value)
        except json.JSONDecodeError as e:
            raise UsageError(f"{where}: cannot read {value!r} as {type(current).__name__}") from e
    if isinstance(current, bool):
        if not isinstance(value, bool):
            raise UsageError(f"{where}: want true or false, got {value!r}")
        return value
    if isinstance(current, int) and not isinstance(value, bool):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int):
            raise UsageError(f"{where}: want an integer, got {value!r}")
        return value
    if isinstance(current, float):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise UsageError(f"{where}: want a number, got {value!r}")
        return float(value)
    if isinstance(current, str) and not isinstance(value, str):
        raise UsageError(f"{where}: want a string, got {value!r}")
    return value


def apply_overrides(config: Config, raw: dict, origin: str) -> Config:
    """Return `config` with the nested `raw` dict ({section: {key: value}}) applied."""
    sections = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    for section, values in raw.items():
        if section not in sections:
            raise UsageError(f"{origin}: unknown section [{section}] (known: {', '.join(sections)})")
        if not isinstance(values, dict):
            raise UsageError(f"{origin}: [{section}] must be a table of keys")
        current = sections[section]
        known = {f.name for f in dataclasses.fields(current)}
        changes = {}
        for key, value in values.items():
            if key not in known:
                raise UsageError(
                    f"{origin}: unknown key {section}.{key} (known: {', '.join(sorted(known))})"
                )
            where = f"{origin}: {section}.{key}"
            changes[key] = _coerce(value, getattr(current, key), where)
        try:
            sections[section] = dataclasses.replace(current, **changes)
        except ValueError as e:  # a section that checks itself (ModelConfig) says what is wrong
            raise UsageError(f"{origin}: [{section}] {e}") from e
    return Config(**sections)


def parse_set_options(pairs: tuple[str, ...] | list[str]) -> dict:
    """`["train.epochs=3", "model.cell=gru"]` -> {"train": {"epochs": "3"}, "model": {...}}."""
    raw: dict[str, dict[str, str]] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        section, dot, name = key.strip().partition(".")
        if not sep or not dot or not name:
            raise UsageError(f"--set {pair!r}: want section.key=value, e.g. train.epochs=3")
        raw.setdefault(section, {})[name] = value.strip()
    return raw


def load_config(pipeline: str | Path | None = None, sets: tuple[str, ...] = ()) -> Config:
    """Defaults, then the TOML recipe (if any), then `--set` overrides, in that order."""
    config = Config()
    if pipeline:
        path = Path(pipeline)
        if not path.is_file():
            raise UsageError(f"{path}: no such pipeline file")
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise UsageError(f"{path}: not a valid TOML recipe ({e})") from e
        raw.pop("pipeline", None)  # free-form description table
        config = apply_overrides(config, raw, str(path))
    if sets:
        config = apply_overrides(config, parse_set_options(sets), "--set")
    return config
