"""The text tasks: language models (chars, words), classify, tag and dates.

Everything about text lives in `jazzgen.text`; these objects only connect it to the stages.
"""

from __future__ import annotations

from collections.abc import Sequence

from jazzgen.config import Config
from jazzgen.core.corpus import Corpus
from jazzgen.core.plan import TrainingPlan
from jazzgen.core.rundir import Run
from jazzgen.errors import UsageError
from jazzgen.tasks.base import EvaluateRequest, GenerateRequest, Log, Task, dict_report

LM_SAMPLES = 100  # language models: samples drawn to measure the share of novel pieces


class TextTask(Task):
    """What the text tasks share: corpus building, settings checks, the report layout."""

    head = "next"  # the model.head the task trains
    preprocess_settings = frozenset({"max_file_mb"})  # the text readers' size cap

    def preprocess(self, cfg: Config, log: Log, verbose: bool = False) -> dict:
        from jazzgen.text.preprocess import preprocess_text

        return preprocess_text(self.text_kind(), cfg, log=log)

    def text_kind(self):
        """How this task reads its files (`jazzgen.text.preprocess.TextKind`)."""
        raise NotImplementedError

    def check_train(self, cfg: Config) -> None:
        """Refuse settings this task cannot train with, naming the key."""
        from jazzgen.text.train import check_text_train

        check_text_train(cfg)
        if cfg.model.head != self.head:
            raise UsageError(f"a {self.name} run needs model.head = '{self.head}' (got '{cfg.model.head}')")
        if cfg.text.backend == "numpy" and not isinstance(self, LanguageModelTask):
            raise UsageError(f"text.backend = 'numpy' does not apply to the {self.name} task "
                             "(it trains one-layer chars/words models)")

    def evaluate(self, run: Run, request: EvaluateRequest, log: Log) -> tuple[dict, str]:
        from jazzgen.text.inference import held_out_corpus

        body = self.score(run, held_out_corpus(run, request.corpus_dir), request)
        result = {"task": self.name, "run": str(run.path), **body}
        return result, dict_report(result)

    def score(self, run: Run, corpus: Corpus, request: EvaluateRequest) -> dict:
        """The held-out figures of a run (see `evaluate`)."""
        raise NotImplementedError


class LanguageModelTask(TextTask):
    generate_options = frozenset({"primer", "length"})
    evaluate_options = frozenset({"sentence", "samples"})
    samples_file = "samples.txt"

    def training_plan(self, corpus: Corpus, cfg: Config) -> TrainingPlan:
        from jazzgen.text.train import lm_plan

        self.check_train(cfg)
        if cfg.text.backend == "numpy" and cfg.model.layers != 1:
            raise UsageError("text.backend = 'numpy' trains one-layer chars/words models "
                             "(set model.layers = 1)")
        return lm_plan(corpus, cfg)

    def generate(self, run: Run, cfg: Config, request: GenerateRequest, log: Log) -> list:
        from jazzgen.text.inference import check_generate, write_samples
        from jazzgen.text.lm import sample_texts

        length = request.length or run.config.text.length
        check_generate(cfg.generate, length)
        primer = run.config.text.primer if request.primer is None else request.primer
        samples = sample_texts(run, cfg.generate, primer, length)
        write_samples(samples, request.out, log)
        return samples

    def score(self, run: Run, corpus: Corpus, request: EvaluateRequest) -> dict:
        from jazzgen.text.lm import evaluate_lm

        samples = LM_SAMPLES if request.samples is None else request.samples
        return evaluate_lm(run, corpus, request.sentence, samples, request.seed)

    def predict(self, run: Run, texts: Sequence[str]) -> list[str]:
        raise UsageError(f"{run.path}: predict labels text with a classify, tag or dates run; "
                         f"for a {self.name} model use `jazzgen evaluate {run.path} --sentence \"...\"`")


class CharsTask(LanguageModelTask):
    name = "chars"

    def text_kind(self):
        from jazzgen.text.preprocess import TextKind, char_tokenizer, read_units

        return TextKind(self.name, char_tokenizer, read_units)


class WordsTask(LanguageModelTask):
    name = "words"

    def text_kind(self):
        from jazzgen.text.preprocess import TextKind, read_units, word_tokenizer

        return TextKind(self.name, word_tokenizer, read_units)


class LabelTask(TextTask):
    """classify and tag: labels from the numpy engine; `generate` points to `predict`."""

    many_to_one = False  # one label per sentence (classify), else one per word (tag)

    def training_plan(self, corpus: Corpus, cfg: Config) -> TrainingPlan:
        from jazzgen.text.train import label_plan

        self.check_train(cfg)
        return label_plan(corpus, cfg, self.many_to_one)

    def generate(self, run: Run, cfg: Config, request: GenerateRequest, log: Log) -> list:
        raise UsageError(f"{run.path}: a {self.name} run labels text and generates none; "
                         f"use `jazzgen predict {run.path} \"some text\"`")

    def predict(self, run: Run, texts: Sequence[str]) -> list[str]:
        from jazzgen.text.labels import predict_labels

        return predict_labels(run, texts)


class ClassifyTask(LabelTask):
    name = head = "classify"
    many_to_one = True

    def text_kind(self):
        from jazzgen.text.preprocess import TextKind, read_labelled, sentence_labels, word_tokenizer

        return TextKind(self.name, word_tokenizer, read_labelled, empty="no labelled lines",
                        held_out=True, labels=sentence_labels, shapes=True)

    def score(self, run: Run, corpus: Corpus, request: EvaluateRequest) -> dict:
        from jazzgen.text.labels import evaluate_classify

        return evaluate_classify(run, corpus)


class TagTask(LabelTask):
    name = head = "tag"

    def text_kind(self):
        from jazzgen.text.preprocess import TextKind, read_tagged, word_tags, word_tokenizer

        return TextKind(self.name, word_tokenizer, read_tagged, empty="no tagged sentences",
                        held_out=True, labels=word_tags, shapes=True)

    def training_plan(self, corpus: Corpus, cfg: Config) -> TrainingPlan:
        """Word-id windows, or (text.char_features) the character tagger's own plan."""
        from jazzgen.text.char_tagger import char_tagger_plan, check_tagger_config
        from jazzgen.text.train import describe_plan, training_splits

        self.check_train(cfg)
        check_tagger_config(cfg)
        if cfg.text.char_features != "none":
            return char_tagger_plan(corpus, training_splits(corpus), cfg, describe_plan)
        return super().training_plan(corpus, cfg)

    def score(self, run: Run, corpus: Corpus, request: EvaluateRequest) -> dict:
        from jazzgen.text.labels import evaluate_tag

        return evaluate_tag(run, corpus)


class DatesTask(TextTask):
    name = "dates"
    generate_options = frozenset({"primer"})
    samples_file = "samples.txt"

    def text_kind(self):
        from jazzgen.text.preprocess import TextKind, generated_dates, lowercase_chars, read_pairs

        return TextKind(self.name, lowercase_chars, read_pairs, empty="no source<TAB>target lines",
                        held_out=True, target_chars=True, generated=generated_dates)

    def training_plan(self, corpus: Corpus, cfg: Config) -> TrainingPlan:
        from jazzgen.text.train import dates_plan

        self.check_train(cfg)
        if cfg.model.layers != 1:
            raise UsageError("the dates encoder-decoder has one layer each side (model.layers = 1)")
        return dates_plan(corpus, cfg)

    def generate(self, run: Run, cfg: Config, request: GenerateRequest, log: Log) -> list:
        from jazzgen.text.inference import check_generate, write_samples
        from jazzgen.text.translate import date_samples

        check_generate(cfg.generate, run.config.text.length)
        primer = run.config.text.primer if request.primer is None else request.primer
        samples = date_samples(run, cfg.generate, primer)
        write_samples(samples, request.out, log)
        return samples

    def score(self, run: Run, corpus: Corpus, request: EvaluateRequest) -> dict:
        from jazzgen.text.translate import evaluate_dates

        return evaluate_dates(run, corpus)

    def predict(self, run: Run, texts: Sequence[str]) -> list[str]:
        from jazzgen.text.translate import predict_dates

        return predict_dates(run, texts)
