"""`jazzgen preprocess`: files -> corpus directory (ids, vocabulary, pieces, manifest).

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
from jazzgen.core.files import atomic_open
from jazzgen.core.vocab import Vocab
from jazzgen.errors import InputError, JazzgenError, UsageError

CACHE_VERSION = "1"


class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout()


def _tokenizer(cfg: PreprocessConfig):
    from jazzgen.music.values import ValuesTokenizer

    if cfg.tokenizer != "values":
        raise UsageError(f"unknown tokenizer {cfg.tokenizer!r} for jazz (known: values)")
    return ValuesTokenizer(window=cfg.window)


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
        tokens = tokenizer.encode(quantized)
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
        "chord_source": meta.get("chord_source", ""),
        "timing": {k: (round(v, 4) if isinstance(v, float) else v) for k, v in report.items()},
    }
    return {"status": "kept", "tokens": tokens, "piece": piece}


def _cache_key(path: Path, cfg: PreprocessConfig) -> str:
    h = hashlib.sha256()
    h.update(CACHE_VERSION.encode())
    h.update(json.dumps(_tokenizer(cfg).config(), sort_keys=True).encode())
    h.update(f"{cfg.melody_track}|{cfg.max_notes}|{cfg.max_file_mb}".encode())
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:32]


def _process_cached(args: tuple[Path, PreprocessConfig, Path]) -> tuple[dict, bool]:
    path, cfg, cache_dir = args
    try:
        key = _cache_key(path, cfg)
    except OSError as e:
        return {"status": "skipped", "reason": "unreadable", "detail": str(e)}, False
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


def _progress_line(done: int, total: int, kept: int, skipped: int) -> str:
    width = 30
    filled = int(width * done / max(total, 1))
    return f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} files, {kept} kept, {skipped} skipped"


def preprocess(cfg: PreprocessConfig, log: Callable[[str], None] = print) -> dict:
    """Run the stage; returns a summary dict. Raises JazzgenError when no file is usable."""
    from jazzgen.music.pipeline import find_inputs

    if not cfg.sources:
        raise UsageError("preprocess: give at least one SOURCE file or folder")
    missing = [s for s in cfg.sources if not Path(s).exists()]
    if missing:
        raise UsageError(f"{missing[0]}: no such file or folder")
    if not cfg.output:
        raise UsageError("preprocess: give the corpus directory with -o")
    out = Path(cfg.output)
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out}: exists and is not a directory")
    t0 = time.perf_counter()
    inputs, ignored = find_inputs(list(cfg.sources))
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
        with ProcessPoolExecutor(max_workers=workers) as pool:  # map keeps input order
            for r in pool.map(_process_cached, jobs, chunksize=4):
                results.append(r)
                note(r[0])
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
            kept_rows.append({"file": str(path), "melody_track": piece["melody_track"],
                              "chord_source": piece["chord_source"], "bars": piece["bars"],
                              "notes": piece["notes"], "values": len(result["tokens"])})
        else:
            skipped_rows.append({"file": str(path), "reason": result["reason"], "detail": result.get("detail", "")})
    for row in skipped_rows:
        log(f"skipped {row['file']}: {row['reason']}" + (f" ({row['detail']})" if row["detail"] else ""))
    reasons = Counter(r["reason"] for r in skipped_rows)
    n_read = len(inputs) + len(ignored)
    if not pieces:
        raise JazzgenError(
            f"no usable music among {n_read} files in {', '.join(cfg.sources)}"
            + (f" (skipped: {', '.join(f'{k} {v}' for k, v in sorted(reasons.items()))})" if reasons else "")
        )
    vocab = Vocab.from_tokens(t for tokens in token_lists for t in tokens)
    manifest = {"kept": kept_rows, "skipped": skipped_rows,
                "skipped_by_reason": dict(sorted(reasons.items()))}
    tokenizer_config = _tokenizer(cfg).config()
    info = write_corpus(out, "jazz", tokenizer_config, vocab, token_lists, pieces, manifest)
    cached = sum(1 for _, hit in results if hit)
    seconds = time.perf_counter() - t0
    by_reason = ", ".join(f"{k}: {v}" for k, v in sorted(reasons.items()))
    log(f"read {n_read} files: {len(pieces)} kept, {len(skipped_rows)} skipped"
        + (f" ({by_reason})" if by_reason else "") + f"; {cached} from cache")
    log(f"{info['tokens']} values, vocabulary {len(vocab)}, {seconds:.1f} s -> {out}")
    return {"read": n_read, "kept": len(pieces), "skipped": len(skipped_rows), "by_reason": dict(reasons),
            "tokens": info["tokens"], "vocab_size": len(vocab), "seconds": seconds, "cached": cached}
