"""The jazz task: music files -> tokens over chord changes -> solos as MIDI.

Everything musical lives in `jazzgen.music`; this object only connects it to the stages.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from jazzgen.config import Config, TextConfig
from jazzgen.core.corpus import Corpus, split_pieces
from jazzgen.core.plan import TrainingPlan
from jazzgen.core.rundir import Run
from jazzgen.errors import UsageError
from jazzgen.tasks.base import EvaluateRequest, GenerateRequest, Log, Task

MAX_CHANGES = 64  # corpus pieces whose changes the run keeps for default generation
SAMPLES = 8  # `evaluate`: solos generated to measure when --samples is not given


def check_no_text_settings(cfg: Config, task: str) -> None:
    """The [text] section belongs to the text tasks: a changed key is a usage error here."""
    default = TextConfig()
    for key, value in cfg.text.__dict__.items():
        if value != getattr(default, key):
            raise UsageError(f"text.{key} does not apply to the {task} task")


class JazzTask(Task):
    name = "jazz"
    generate_options = frozenset({"chords", "bars", "primer", "wav", "png", "chart", "tune", "tempo", "time", "key",
                                  "instrument", "band", "style", "swing", "musicxml", "pdf", "svg"})
    evaluate_options = frozenset({"files", "samples"})
    preprocess_settings = frozenset({"verbose", "tokenizer", "all_keys", "events_tempo", "window", "melody_track",
                                     "max_file_mb", "max_notes", "file_timeout_s", "workers", "shard_size", "part"})
    samples_file = "samples/solo.mid"

    def preprocess(self, cfg: Config, log: Log, verbose: bool = False) -> dict:
        from jazzgen.music.preprocess import preprocess

        check_no_text_settings(cfg, self.name)
        return preprocess(cfg.preprocess, log=log, verbose=verbose)

    def train_settings(self, corpus: Corpus, cfg: Config, finetune: bool, log: Log) -> tuple[Config, dict]:
        """Own-data diagnostics, a one-piece corpus refused, and settings chosen from its size."""
        import numpy as np

        from jazzgen.music.owndata import apply_size_defaults, check_trainable, corpus_report

        check_trainable(corpus.path, corpus.pieces)
        lines, warnings = corpus_report(corpus.pieces, np.diff(corpus.offsets), cfg.data.seq_len,
                                        finetune=finetune)
        for line in lines + [f"warning: {w}" for w in warnings]:
            log(line)
        return apply_size_defaults(cfg, int(corpus.info["tokens"]), finetune, log)

    def training_plan(self, corpus: Corpus, cfg: Config) -> TrainingPlan:
        from jazzgen.music.pipeline import has_changes

        check_no_text_settings(cfg, self.name)
        if cfg.model.head != "next" or cfg.model.bidirectional:
            raise UsageError("the jazz task trains a unidirectional next-value model (model.head = 'next')")
        # A corpus holding each song in 12 keys is split by song, so no key of a held-out song trains.
        songs = ([p["source"] for p in corpus.pieces]
                 if any("transpose" in p for p in corpus.pieces) else None)
        train_idx, val_idx = split_pieces(len(corpus), cfg.data.val_fraction, cfg.data.seed, groups=songs)
        # Validation pieces first: default generation plays over changes the model did not train on.
        order = [int(i) for i in val_idx] + [int(i) for i in train_idx]
        changes = [{k: corpus.pieces[i][k] for k in ("source", "chords", "time_signature", "tempo_qpm")}
                   for i in order if has_changes(corpus.pieces[i]) and not corpus.pieces[i].get("transpose")
                   ][:MAX_CHANGES]

        def describe(n_windows: int) -> str:
            return (f"corpus {corpus.path}: {len(corpus)} pieces ({len(train_idx)} train, {len(val_idx)} "
                    f"validation), {n_windows} training windows of {cfg.data.seq_len} values, "
                    f"vocabulary {len(corpus.vocab)}")
        from jazzgen.music.articulation import articulation_table

        # How long the training players held their notes, drawn from when decoding.
        # (older corpora counted in layout 1, and the table keeps to it)
        articulation = articulation_table((corpus.pieces[int(i)]["articulation"],
                                           corpus.pieces[int(i)].get("articulation_layout", 1))
                                          for i in train_idx if "articulation" in corpus.pieces[int(i)])
        run_files = {"changes.json": changes, "articulation.json": articulation}
        dynamics = corpus_dynamics(corpus, train_idx, val_idx)  # how loud they played (None: not known)
        if dynamics is not None:
            run_files["dynamics.json"] = dynamics
        plan = TrainingPlan({"train": [int(i) for i in train_idx], "val": [int(i) for i in val_idx]},
                            describe, run_files=run_files)
        if cfg.data.gate and not cfg.data.condition:
            raise UsageError("data.gate needs data.condition = true (the gates read the condition features)")
        if cfg.data.condition:
            _condition(plan, corpus, cfg)
        return plan

    def generate(self, run: Run, cfg: Config, request: GenerateRequest, log: Log) -> list:
        """Solos with a band over charts, tunes or corpus changes (`jazzgen.generate`), then files."""
        from jazzgen.music.improvise import perform, write_files

        g = cfg.generate
        songs = perform(count=g.count, chords=request.chords, chart=request.chart, tune=request.tune,
                        bars=request.bars, seed=g.seed, model=run, temperature=g.temperature, top_k=g.top_k,
                        tempo=request.tempo, time=request.time, key=request.key, instrument=request.instrument,
                        band=request.band or "trio", style=request.style, swing=request.swing,
                        primer=request.primer, backend=g.backend, corpus_bars=g.bars,
                        chord_tone_bias=g.chord_tone_bias)
        if request.wav:
            from jazzgen.music.render import choose_synth

            choice = choose_synth()
            if choice.name == "builtin":
                log(f"audio: built-in synthesizer ({choice.reason}; `make audio-deps` installs FluidSynth)")
        return write_files(songs, request.out or "solo.mid", musicxml=request.musicxml, pdf=request.pdf,
                           svg=request.svg, wav=request.wav, png=request.png, log=log)

    def evaluate(self, run: Run, request: EvaluateRequest, log: Log) -> tuple[dict, str]:
        from jazzgen.music.evaluate import evaluate_jazz, format_report

        result = evaluate_jazz(run, request.files, corpus_dir=request.corpus_dir, seed=request.seed,
                               n_generate=SAMPLES if request.samples is None else request.samples,
                               log=log)
        report = format_report(result)
        if not result.get("corpus_path"):
            return result, report
        from jazzgen.core.corpus import read_corpus
        from jazzgen.music.tokenizers import tokenizer_from_config

        corpus = read_corpus(result["corpus_path"])  # once, for both reports below
        # figures of the run's own tokenizer (events: MINGUS's)
        own = tokenizer_from_config(run.task["tokenizer"]).evaluation(run, corpus)
        if own is not None:
            key, figures, text = own
            result[key] = figures
            report += "\n" + text
        if not request.files and request.samples != 0:
            report += "\n\n" + _listening_report(run, corpus, result, request.seed, log)
        return result, report

    def perform(self, run: Run, count: int, **options) -> list:
        from jazzgen.music import improvise

        return improvise.perform(count=count, model=run, **options)  # the run already opened


def corpus_dynamics(corpus: Corpus, train_idx, val_idx) -> dict | None:
    """The dynamics table (`music.dynamics`) fitted on the training pieces, measured on the held-out ones."""
    from jazzgen.music.dynamics import dynamics_table

    def kept(idx):
        return [corpus.pieces[int(i)]["dynamics"] for i in idx if "dynamics" in corpus.pieces[int(i)]]

    return dynamics_table(kept(train_idx), kept(val_idx))


def learn_dynamics(corpus_dir: Path, run_dir: Path, log: Log) -> dict:
    """Write `dynamics.json` into an existing jazz run from its corpus (same ids), on the run's own split.

    For runs trained before corpora kept dynamics: preprocess the velocity-carrying files again
    (the ids do not change), then this fits the table training would have written.
    """
    from jazzgen.core.corpus import read_corpus
    from jazzgen.core.files import write_json
    from jazzgen.core.rundir import open_run

    run = open_run(run_dir)
    corpus = read_corpus(corpus_dir)
    if run.task.get("task") != JazzTask.name:
        raise UsageError(f"{run_dir}: a {run.task.get('task')} run; dynamics are learned for jazz runs")
    if corpus.info["hash"] != run.info.get("corpus_hash"):
        raise UsageError(f"{corpus_dir}: not the corpus {run_dir} was trained on (its ids differ)")
    table = corpus_dynamics(corpus, run.info["train_pieces"], run.info.get("val_pieces", []))
    if table is None:
        raise UsageError(f"{corpus_dir}: no piece has velocities that vary; preprocess files that carry "
                         "the players' velocities (jazzgen import-wjd with the release MIDI)")
    write_json(run.path / "dynamics.json", table)
    held = table.get("heldout", {})
    log(f"wrote {run.path / 'dynamics.json'}: {table['notes']} notes of {table['pieces']} training pieces; "
        f"held-out mean absolute error {held.get('mae_constant', float('nan')):.3f} (constant) -> "
        f"{held.get('mae_model', float('nan')):.3f} (model), velocity relative to the solo's mean")
    return table


def read_chart(text_or_path, time: str | None = None):
    """A chart from chart text, or from a file when given a Path (its name starts every error)."""
    import os

    from jazzgen.music.charts import parse_chart, parse_meter, read_chart_file

    meter = parse_meter(time) if time else None
    if isinstance(text_or_path, os.PathLike):
        return read_chart_file(text_or_path, meter)
    return parse_chart(text_or_path, time_signature=meter)


def _condition(plan: TrainingPlan, corpus: Corpus, cfg: Config) -> None:
    """Train on rows [value, beat and harmony features] (`music.conditioning`) instead of ids."""
    from dataclasses import replace

    from jazzgen.core.models import build_models, export_weights, save_export
    from jazzgen.core.vocab import BOS, EOS
    from jazzgen.music.conditioning import (
        EVENTS_VERSION,
        VERSION,
        conditioned_windows,
        n_features,
        output_gates,
        version_for,
    )
    from jazzgen.music.tokenizers import tokenizer_from_config

    events = tokenizer_from_config(corpus.info["tokenizer"]).writes_structure
    if cfg.train.strategy != "default":
        raise UsageError("data.condition trains on one device (train.strategy = 'default')")
    if events and cfg.data.gate:
        raise UsageError("data.gate is for the values grammar (its gates read the values' TYPEs)")
    # A fine-tuned source (or a resumed run) keeps the conditioning it was trained with.
    version = version_for(cfg.model.condition_dim) if cfg.model.condition_dim else (
        EVENTS_VERSION if events else VERSION)
    if (version == EVENTS_VERSION) != events:
        raise UsageError(f"this model is conditioned with {version!r}, made for the other grammar "
                         f"than this corpus's ({corpus.info['tokenizer'].get('name')})")
    model = replace(cfg.model, condition_dim=n_features(version))
    bos, eos = corpus.vocab.id(BOS), corpus.vocab.id(EOS)
    d = cfg.data
    plan.arrays = {"train": conditioned_windows(corpus, plan.splits["train"], d.seq_len, d.stride, bos, eos,
                                                version),
                   "val": conditioned_windows(corpus, plan.splits["val"], d.seq_len, d.seq_len, bos, eos,
                                              version)}
    # data.gate: trained on the choices sampling leaves it (`conditioning.output_gates`, version 3).
    if cfg.data.gate and version != VERSION:
        raise UsageError(f"data.gate needs conditioning {VERSION!r}; this model has {version!r}")
    gates = output_gates(corpus.vocab.tokens) if cfg.data.gate else None
    plan.build = lambda: build_models(model, len(corpus.vocab), gates=gates)
    plan.export = lambda models, path: save_export(path, model, len(corpus.vocab),
                                                   export_weights(models, model))
    plan.task_info = {**plan.task_info, "condition": version}
    plan.finish = lambda run_dir: calibrate(run_dir, corpus, plan.splits["val"], bos, eos)


def calibrate(run_dir: Path, corpus: Corpus, val: list[int], bos: int, eos: int) -> dict:
    """Divide the exported logits by the temperature that fits the held-out pieces best
    (`core.scoring.fit_temperature`); returns run.json's "calibration" entry.

    Measured on the bundled model: held-out NLL 4.639 at 1.0, lowest near 1.05; sampled at 1.0
    its solos played 1.78 notes per beat against the players' 1.43, calibrated 1.61.
    """
    from jazzgen.core.engine import NumpyEngine
    from jazzgen.core.models import load_export, save_export, scale_head
    from jazzgen.core.scoring import fit_temperature
    from jazzgen.music.conditioning import for_scoring

    if not val:
        return {}
    path = run_dir / "export.npz"
    cfg, vocab_size, weights = load_export(path)
    pieces = [corpus.piece_ids(i) for i in val]
    engine = for_scoring(NumpyEngine(cfg, weights, vocab_size), corpus.vocab.tokens, pieces,
                         [corpus.pieces[i] for i in val], bos, eos, corpus.info["tokenizer"])
    temperature, before, after = fit_temperature(engine, pieces, bos, eos)
    if temperature != 1.0:
        save_export(path, cfg, vocab_size, scale_head(weights, temperature))
    return {"calibration": {"temperature": temperature, "val_nll_before": round(before, 5),
                            "val_nll_after": round(after, 5)}}


def _listening_report(run: Run, corpus: Corpus, result: dict, seed: int, log: Log) -> str:
    """Adds the two-sample test over the held-out pieces of `corpus` to `result`; returns its report."""
    from jazzgen.music.listening import format_listening, heldout_pairs, listening_test
    from jazzgen.music.solos import load_articulation, load_dynamics

    log("playing over every held-out piece's changes for the two-sample test")
    generated, human = heldout_pairs(run, corpus, seed=seed, articulation=load_articulation(run),
                                     dynamics=load_dynamics(run))
    result["two_sample"] = listening_test(generated, human)
    return format_listening(result["two_sample"])


def render_files(paths: Sequence[Path], wav: bool, png: bool, log: Log) -> None:
    """WAV and/or PNG beside each MIDI file, saying which synthesizer made the sound."""
    if not (wav or png):
        return
    from jazzgen.core.files import check_input
    from jazzgen.music.midi_io import MAX_MIDI_BYTES
    from jazzgen.music.render import choose_synth, render_png, render_wav

    for path in paths:  # every input checked before any output: FIFOs, devices, oversize files
        check_input(path, MAX_MIDI_BYTES)

    if wav:
        choice = choose_synth()
        if choice.name == "builtin":
            log(f"audio: built-in synthesizer ({choice.reason}; `make audio-deps` installs FluidSynth)")
    for path in paths:
        if wav:
            render_wav(path, path.with_suffix(".wav"))
            log(f"wrote {path.with_suffix('.wav')}")
        if png:
            render_png(path, path.with_suffix(".png"), title=path.stem)
            log(f"wrote {path.with_suffix('.png')}")


def import_tables(src: Path, output: Path, log: Log) -> dict:
    """Weimar Jazz Database melody + beat tables -> two-track MIDI files."""
    from jazzgen.music.wjd import import_wjd

    if not Path(src).is_dir():
        raise UsageError(f"{src}: no such folder (want the WJD folder holding melody/ and beats/)")
    report = import_wjd(Path(src), Path(output))
    log(f"wrote {report.get('written')} MIDI files to {output}; skipped {report.get('skipped')}")
    v = report["velocities"]
    if v["release_files"]:
        log(f"velocities from {v['release_files']} release MIDI files: {v['exact']} solos paired note for note, "
            f"{v['aligned']} by pitch alignment ({v['notes_paired']} notes paired, {v['notes_filled']} given "
            f"their file's median), {v['unpaired']} unpaired (velocity 90); found by their notes, not their "
            f"name: {', '.join(f'{a} <- {b}' for a, b in v['by_content'].items()) or 'none'}")
    else:
        log("velocities: no release MIDI folder (midi/ beside melody/), every note has velocity 90")
    return report

