"""Jazz corpus building: music files -> corpus directory (ids, vocabulary, pieces, manifest).

Bad files never stop the stage: each is skipped with a one-line reason, counted, and listed in the
manifest. Results are cached per file content in `CORPUS_DIR/cache/`, so re-running after adding
files reads only the new ones.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from jazzgen.config import PreprocessConfig
from jazzgen.core.corpus import write_corpus
from jazzgen.core.files import atomic_open, read_limited
from jazzgen.core.parts import select_part
from jazzgen.core.rundir import directory_path
from jazzgen.core.shards import write_shards
from jazzgen.core.vocab import Vocab
from jazzgen.errors import InputError, JazzgenError, UsageError

CACHE_VERSION = "5"  # 2: pieces carry melody_reason (and repeats, pickup_beats); 3: articulation; 4: dynamics;
#                     5: articulation counted per tick with held notes (articulation_layout 2)


class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout()


def _tokenizer(cfg: PreprocessConfig):
    from jazzgen.music.tokenizers import tokenizer_for_preprocess

    try:
        return tokenizer_for_preprocess(cfg)
    except ValueError as e:
        raise UsageError(str(e)) from None


def process_file(path: Path, cfg: PreprocessConfig) -> dict:
    """Read, quantize and tokenize one file. Returns a JSON-able result, kept or skipped."""
    from jazzgen.music.pipeline import chords_to_json, read_score

    use_alarm = cfg.file_timeout_s > 0 and hasattr(signal, "SIGALRM")
    if use_alarm:
        previous = signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, cfg.file_timeout_s)
    try:
        score = read_score(path, cfg.melody_track, cfg.max_file_mb, cfg.max_notes)
        tokenizer = _tokenizer(cfg)
        quantized, report = tokenizer.quantize_score(score)
        if not quantized.notes:
            raise InputError(path, "no notes", "nothing left after quantization")
        tokens = tokenizer.tokens(quantized)  # quantized once: encode() would do it again
    except _Timeout:
        return {"status": "skipped", "reason": "parse timeout", "detail": f"> {cfg.file_timeout_s:g} s"}
    except InputError as e:
        return {"status": "skipped", "reason": e.reason, "detail": e.detail}
    except JazzgenError as e:
        return {"status": "skipped", "reason": "unreadable", "detail": str(e)}
    except (ValueError, KeyError, IndexError, OSError, UnicodeDecodeError, RecursionError) as e:
        # A reader met data it does not understand: skip the file, keep the reason.
        return {"status": "skipped", "reason": "unreadable", "detail": f"{type(e).__name__}: {e}"}
    finally:
        if use_alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    from jazzgen.music.articulation import LAYOUT, articulation_counts
    from jazzgen.music.dynamics import dynamics_notes

    beats_per_bar = quantized.beats_per_bar
    meta = dict(score.meta)
    piece = {
        "chords": chords_to_json(quantized.chords),
        "time_signature": list(quantized.time_signature),
        "tempo_qpm": round(quantized.tempo_qpm, 3),
        "first_pitch": quantized.notes[0].pitch,
        "bars": int(-(-quantized.end_beat // beats_per_bar)),
        "notes": len(quantized.notes),
        "melody_track": meta.get("melody_track", ""),
        "melody_reason": meta.get("melody_reason", ""),
        "chord_source": meta.get("chord_source", ""),
        **{k: meta[k] for k in ("melody_index", "repeats", "pickup_beats") if k in meta},
        "timing": {k: (round(v, 4) if isinstance(v, float) else v) for k, v in report.items()},
        "articulation": articulation_counts(score, quantized),  # how long notes sound (recorded)
        "articulation_layout": LAYOUT,
    }
    dynamics = dynamics_notes(quantized)  # how loud notes sound (when the file's velocities vary)
    if dynamics is not None:
        piece["dynamics"] = dynamics
    result = {"status": "kept", "tokens": tokens, "piece": piece}
    keys = tokenizer.other_keys(tokens, cfg.all_keys)  # e.g. events in the other 11 keys
    if keys:
        result["keys"] = keys
    return result


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _cache_key(path: Path, cfg: PreprocessConfig) -> str:
    h = hashlib.sha256()
    h.update(CACHE_VERSION.encode())
    h.update(json.dumps(_tokenizer(cfg).config(), sort_keys=True).encode())
    h.update(f"{cfg.melody_track}|{cfg.max_notes}|{cfg.max_file_mb}|{cfg.all_keys}".encode())
    h.update(read_limited(path, int(cfg.max_file_mb * 1e6)))  # no FIFO, device or oversize file
    return h.hexdigest()[:32]


def _process_cached(args: tuple[Path, PreprocessConfig, Path]) -> tuple[dict, bool]:
    path, cfg, cache_dir = args
    try:
        key = _cache_key(path, cfg)
    except InputError as e:
        return {"status": "skipped", "reason": e.reason, "detail": e.detail}, False
    cached = cache_dir / f"{key}.json"
    if cached.is_file():
        try:
            return json.loads(cached.read_text(encoding="utf-8")), True
        except (json.JSONDecodeError, OSError):
            pass  # a damaged cache entry is simply recomputed
    result = process_file(path, cfg)
    if result.get("reason") != "parse timeout":  # a slow machine may manage next time
        with atomic_open(cached, "w", encoding="utf-8") as f:
            json.dump(result, f, sort_keys=True)
    return result, False


def transposed_piece(piece: dict, semitones: int) -> dict:
    """A corpus piece's record for its copy `semitones` higher (chords renamed, "transpose" set)."""
    from jazzgen.music.events import transpose_symbol

    chords = [[transpose_symbol(symbol, semitones), start, length] for symbol, start, length in piece["chords"]]
    # The dynamics model's classes do not change with the key: one copy (the original's) is enough.
    kept = {k: v for k, v in piece.items() if k != "dynamics"}
    return {**kept, "chords": chords, "first_pitch": piece["first_pitch"] + semitones, "transpose": semitones}


def summary_lines(pieces: list[dict]) -> list[str]:
    """What was taken from the kept files: melody tracks, chord sources, repeats, timing moves."""
    if not pieces:
        return []
    lines = []
    tracks = Counter(p.get("melody_track", "") for p in pieces)
    if len(tracks) > 1 or "" not in tracks:
        lines.append("melody tracks: " + ", ".join(f"{name!r} {n}" for name, n in tracks.most_common(6))
                     + (f", {len(tracks) - 6} other names" if len(tracks) > 6 else ""))
    sources = Counter("other tracks' notes" if p.get("chord_source", "").startswith("notes:")
                      else p.get("chord_source") or "none" for p in pieces)
    lines.append("chords from: " + ", ".join(f"{k} {v}" for k, v in sources.most_common()))
    repeats = Counter(p["repeats"].split(":")[0] for p in pieces if "repeats" in p)
    if repeats.get("expanded") or repeats.get("not expanded"):
        lines.append(f"repeats: {repeats.get('expanded', 0)} expanded, "
                     f"{repeats.get('not expanded', 0)} malformed (read once through)")
    timings = [p["timing"] for p in pieces if "timing" in p]
    notes = sum(t.get("notes", 0) for t in timings)
    if notes:
        mean = sum(t.get("mean_abs_shift_beats", 0.0) * t.get("notes", 0) for t in timings) / notes
        worst = max(t.get("max_shift_beats", 0.0) for t in timings)
        dropped = sum(t.get("notes_dropped", 0) for t in timings)
        lines.append(f"timing moved: mean {mean:.3f} beats, max {worst:.3f} beats"
                     + (f"; {dropped} notes dropped (same grid onset)" if dropped else ""))
    return lines


def _progress_line(done: int, total: int, kept: int, skipped: int) -> str:
    width = 30
    filled = int(width * done / max(total, 1))
    return f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} files, {kept} kept, {skipped} skipped"


def preprocess(cfg: PreprocessConfig, log: Callable[[str], None] = print, verbose: bool = False) -> dict:
    """Run the stage; returns a summary dict. Raises JazzgenError when no file is usable.

    With `verbose`, one line per kept file says which melody track was taken and why, and where
    its chords came from; otherwise a summary of the tracks and chord sources is printed.
    """
    from jazzgen.music.pipeline import find_inputs

    if not cfg.sources:
        raise UsageError("preprocess: give at least one SOURCE file or folder")
    missing = [s for s in cfg.sources if not Path(s).exists()]
    if missing:
        raise UsageError(f"{missing[0]}: no such file or folder")
    if not cfg.output:
        raise UsageError("preprocess: give the corpus directory with -o")
    out = directory_path(cfg.output)
    t0 = time.perf_counter()
    inputs, ignored = find_inputs(list(cfg.sources))
    if cfg.part:  # one task of a cluster run (core/parts.py, stages/merge.py)
        inputs, ignored = select_part(inputs, ignored, cfg.part)
    cache_dir = out / "cache"
    cache_dir.mkdir(parents=True, exist_ok=True)
    jobs = [(p, cfg, cache_dir) for p in inputs]
    workers = cfg.workers if cfg.workers > 0 else (os.cpu_count() or 1)
    results: list[tuple[dict, bool]] = []
    kept = skipped = 0
    show = sys.stderr.isatty() or os.environ.get("JAZZGEN_PROGRESS") == "1"

    def note(result: dict) -> None:
        nonlocal kept, skipped
        kept += result["status"] == "kept"
        skipped += result["status"] != "kept"
        if show:
            print(_progress_line(len(results), len(jobs), kept, skipped), end="", file=sys.stderr, flush=True)

    if workers > 1 and len(jobs) > 1:
        # Workers ignore Ctrl-C: on an interrupt the parent cancels what has not started and waits
        # for the files in hand, so every cache entry is whole and no worker prints a traceback.
        pool = ProcessPoolExecutor(max_workers=workers, initializer=_ignore_sigint)
        try:
            for r in pool.map(_process_cached, jobs, chunksize=4):  # map keeps input order
                results.append(r)
                note(r[0])
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown()
    else:
        for job in jobs:
            results.append(_process_cached(job))
            note(results[-1][0])
    if show:
        print(file=sys.stderr)

    token_lists, pieces, kept_rows, skipped_rows = [], [], [], []
    for path, reason in ignored:
        skipped_rows.append({"file": str(path), "reason": reason, "detail": ""})
    for (path, _, _), (result, _) in zip(jobs, results):
        if result["status"] == "kept":
            piece = {"source": str(path), **result["piece"]}
            token_lists.append(result["tokens"])
            pieces.append(piece)
            for k, moved in sorted(result.get("keys", {}).items(), key=lambda kv: int(kv[0])):
                token_lists.append(moved)
                pieces.append(transposed_piece(piece, int(k)))
            kept_rows.append({"file": str(path), "melody_track": piece["melody_track"],
                              "melody_reason": piece.get("melody_reason", ""),
                              "chord_source": piece["chord_source"], "bars": piece["bars"],
                              "notes": piece["notes"], "values": len(result["tokens"])})
        else:
            skipped_rows.append({"file": str(path), "reason": result["reason"], "detail": result.get("detail", "")})
    for row in skipped_rows:
        log(f"skipped {row['file']}: {row['reason']}" + (f" ({row['detail']})" if row["detail"] else ""))
    originals = [p for p in pieces if not p.get("transpose")]  # one per kept file
    if verbose:
        for piece in originals:
            index = f" (#{piece['melody_index']})" if "melody_index" in piece else ""
            log(f"kept {piece['source']}: melody track {piece['melody_track']!r}{index}: "
                f"{piece.get('melody_reason') or 'the only one'}; chords from {piece['chord_source']}")
    reasons = Counter(r["reason"] for r in skipped_rows)
    n_read = len(inputs) + len(ignored)
    if not pieces and not cfg.part:  # a part may be empty; the merge checks the whole
        raise JazzgenError(
            f"no usable music among {n_read} files in {', '.join(cfg.sources)}"
            + (f" (skipped: {', '.join(f'{k} {v}' for k, v in sorted(reasons.items()))})" if reasons else "")
        )
    vocab = Vocab.from_tokens(t for tokens in token_lists for t in tokens)
    manifest = {"kept": kept_rows, "skipped": skipped_rows,
                "skipped_by_reason": dict(sorted(reasons.items()))}
    tokenizer_config = _tokenizer(cfg).config()
    info = write_corpus(out, "jazz", tokenizer_config, vocab, token_lists, pieces, manifest,
                        extra={"part": cfg.part} if cfg.part else None)
    write_shards(out, cfg.shard_size)  # 0: none (and any old ones removed)
    cached = sum(1 for _, hit in results if hit)
    seconds = time.perf_counter() - t0
    by_reason = ", ".join(f"{k}: {v}" for k, v in sorted(reasons.items()))
    log(f"read {n_read} files: {len(originals)} kept, {len(skipped_rows)} skipped"
        + (f" ({by_reason})" if by_reason else "") + f"; {cached} from cache")
    for line in summary_lines(originals):
        log(line)
    if not cfg.part:  # what training will get, and what will not train well (music/owndata.py)
        from jazzgen.config import DataConfig
        from jazzgen.music.owndata import corpus_report

        lines, warnings = corpus_report(pieces, [len(t) for t in token_lists], DataConfig().seq_len)
        for line in lines + [f"warning: {w}" for w in warnings]:
            log(line)
    if len(pieces) > len(originals):
        log(f"all 12 keys: {len(pieces)} pieces ({len(originals)} as written, the rest transposed)")
    unit = _tokenizer(cfg).unit
    log(f"{info['tokens']} {unit}, vocabulary {len(vocab)}, {seconds:.1f} s -> {out}")
    return {"read": n_read, "kept": len(originals), "pieces": len(pieces), "skipped": len(skipped_rows),
            "by_reason": dict(reasons), "tokens": info["tokens"], "vocab_size": len(vocab), "seconds": seconds,
            "cached": cached}
