"""One-to-many sampling, batched, for any engine with `initial_state` / `step`.

Both the numpy engine and the Keras engine plug in here, and both hand their logits to the same
chooser with the same random stream, so one seed gives the same sequence on either backend.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from jazzgen.core.engine import choose


def sample_sequences(
    engine,
    batch_size: int,
    rng: np.random.Generator,
    *,
    start_id: int,
    max_steps: int,
    temperature: float = 1.0,
    top_k: int = 0,
    allowed: np.ndarray | None = None,
    cost: np.ndarray | None = None,
    budget: float | np.ndarray | None = None,
    stop_id: int | None = None,
    primer: Sequence[int] = (),
    phase_masks: np.ndarray | None = None,
    phase_step: np.ndarray | None = None,
    start_phase: int = 0,
    condition=None,
    logit_bias: np.ndarray | None = None,
) -> list[list[int]]:
    """Draw `batch_size` sequences at once, feeding each draw back as the next input.

    Args:
        engine: object with `initial_state(B)` and `step(ids (B,), state) -> (logits (B, V), state)`.
        start_id: the first input (e.g. `<bos>`).
        allowed: boolean mask of ids that may be drawn # (V,)
        cost, budget: a sequence ends once the summed `cost[id]` of its draws reaches `budget`
            (e.g. beats per value and the beats wanted); one budget for all or one per
            sequence (B,).
        stop_id: a sequence also ends when it draws this id (not included in the output).
        primer: ids fed first (their draws are not sampled; they are not in the output).
        phase_masks, phase_step, start_phase: a constraint that depends on where a sequence
            is in a cycle of P phases: each sequence starts at `start_phase`, a drawn id moves
            it on by `phase_step[id]` (modulo P), and at phase k only the ids True in
            `phase_masks[k]` (and in `allowed`) may be drawn. # (P, V), (V,) int
            (Music: P grid ticks per beat, an id's duration in ticks, and the ids whose
            duration lands the next onset where onsets may fall.)
        condition: for a model with `condition_dim` (its step takes rows [id, features]): an
            object with `start() -> (B, F)`, the features beside the start id, and
            `advance(ids (B,)) -> (B, F)`, the features beside the ids just fed or drawn; and
            `allowed() -> (B, V) bool or None`: which ids the state the features describe admits.
        logit_bias: added to every step's logits before the temperature divides them # (V,)
            (a decoding preference, e.g. for chord tones; None = the model as it is).

    Returns:
        one list of ids per sequence (without start, primer and stop ids).
    """
    state = engine.initial_state(batch_size)
    ids = np.full(batch_size, start_id, dtype=np.int64)
    features = None if condition is None else condition.start()       # (B, F)

    def rows(ids: np.ndarray) -> np.ndarray:  # what the engine reads: ids, or [id, features]
        return ids if features is None else np.column_stack([ids, features])

    for p in primer:  # condition on the primer: step through it without sampling
        _, state = engine.step(rows(ids), state)
        ids = np.full(batch_size, p, dtype=np.int64)
        if condition is not None:
            features = condition.advance(ids)
    out = np.zeros((batch_size, max_steps), dtype=np.int64)
    spent = np.zeros(batch_size)
    length = np.full(batch_size, max_steps)
    done = np.zeros(batch_size, dtype=bool)
    phase = np.full(batch_size, start_phase, dtype=np.int64)
    if phase_masks is not None:
        phase_masks = np.asarray(phase_masks, bool) & (True if allowed is None else allowed)
        phase %= len(phase_masks)
    for t in range(max_steps):
        logits, state = engine.step(rows(ids), state)  # (B, V)
        if logit_bias is not None:
            logits = logits + logit_bias
        mask = allowed if phase_masks is None else phase_masks[phase]  # (V,) or (B, V)
        if condition is not None:
            admitted = condition.allowed()                                # (B, V) or None
            if admitted is not None:
                mask = admitted if mask is None else admitted & mask
        ids = choose(logits, rng, temperature=temperature, top_k=top_k or None, mask=mask)
        if phase_masks is not None:
            phase = (phase + phase_step[ids]) % len(phase_masks)
        if condition is not None:
            features = condition.advance(ids)
        out[:, t] = ids
        if stop_id is not None:
            stopped = (ids == stop_id) & ~done
            length[stopped] = t
            done |= stopped
        if cost is not None and budget is not None:
            spent += np.where(done, 0.0, cost[ids])
            reached = (spent >= budget - 1e-9) & ~done
            length[reached] = t + 1
            done |= reached
        if done.all():
            break
    return [out[b, : length[b]].tolist() for b in range(batch_size)]


Guide = Callable[[int, list[int]], "int | np.ndarray | None"]


def sample_guided(
    engine,
    batch_size: int,
    rng: np.random.Generator,
    *,
    start_id: int,
    max_steps: int,
    guide: Guide | Sequence[Guide],
    temperature: float = 1.0,
    top_k: int = 0,
    primer: Sequence[int] = (),
) -> list[list[int]]:
    """Like `sample_sequences`, but a guide may force each step's id or restrict its choices.

    Before every step, each live sequence b asks its guide `guide(b, history)`, where `history`
    is what b holds so far (primer excluded). The answer is one of:

    - an int: that id is taken without sampling (a forced token, e.g. a chord given by the user);
    - a boolean mask (V,): the id is drawn among the True ids only;
    - None: the sequence is finished (nothing more is added to it).

    The random stream is the same as `sample_sequences`' (one `rng.random(B)` per step, forced
    or not), so a seed gives one result on every engine.

    Args:
        engine: object with `initial_state(B)` and `step(ids (B,), state) -> (logits (B, V), state)`.
        guide: one guide per sequence (a sequence of callables), or one callable for all.
        start_id, max_steps, temperature, top_k, primer: as in `sample_sequences`.

    Returns:
        one list of ids per sequence (forced ids included; start and primer ids not).
    """
    guides = list(guide) if isinstance(guide, Sequence) else [guide] * batch_size
    state = engine.initial_state(batch_size)
    ids = np.full(batch_size, start_id, dtype=np.int64)
    for p in primer:
        _, state = engine.step(ids, state)
        ids = np.full(batch_size, p, dtype=np.int64)
    out: list[list[int]] = [[] for _ in range(batch_size)]
    live = np.ones(batch_size, dtype=bool)
    for _ in range(max_steps):
        logits, state = engine.step(ids, state)  # (B, V)
        masks = np.ones(np.shape(logits), dtype=bool)  # (B, V)
        forced = np.full(batch_size, -1, dtype=np.int64)
        for b in np.flatnonzero(live):
            answer = guides[b](int(b), out[b])
            if answer is None:
                live[b] = False
            elif isinstance(answer, (int, np.integer)):
                forced[b] = answer
            else:
                masks[b] = answer
        if not live.any():
            break
        drawn = choose(logits, rng, temperature=temperature, top_k=top_k or None, mask=masks)
        ids = np.where(forced >= 0, forced, drawn)
        for b in np.flatnonzero(live):
            out[b].append(int(ids[b]))
    return out
