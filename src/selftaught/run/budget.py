"""Planning a round's training: its step budget and its learning-rate schedule, both recomputed from the store so
that a resumed run plans the same."""

from __future__ import annotations

from pathlib import Path

from selftaught.config import Experiment
from selftaught.run.build import build_schedule
from selftaught.run.context import DB_NAME
from selftaught.store import Reader, Store
from selftaught.training.schedules import Scaled, Schedule
from selftaught.training.warmstart import warmup_applies


def round_steps(exp: Experiment, store: Store, r: int) -> int:
    """Training steps in round ``r``: ``train.labelled_steps`` in round 0, ``train.round_steps`` after it, or fewer
    with ``train.round_tokens`` when the round's longest example is long (a flat budget of padded tokens)."""
    t = exp.train
    if r == 0:
        return t.labelled_steps
    if not t.round_tokens:
        return t.round_steps
    examples = store.examples(r)
    if not examples:
        return t.round_steps
    width = max(len(e.prompt) + len(e.answer) + 1 for e in examples)  # a batch pads to about its longest example
    return max(1, min(t.round_steps, round(t.round_tokens / (t.batch_size * width))))


def budget(exp: Experiment, store: Store, r: int) -> int:
    """Round ``r``'s training steps: its own, plus (with the stopping rule on) up to ``stop.carry`` times as many
    from the steps earlier rounds left unused."""
    own = round_steps(exp, store, r)
    st = exp.stop
    if not st.every or not st.carry or r == 0:
        return own
    used = store.round_steps()
    planned = {q: round_steps(exp, store, q) for q in range(r)}
    saved = sum(planned[q] - used.get(q, planned[q]) for q in range(r))
    return own + min(max(saved, 0), int(st.carry * own))


def schedule(exp: Experiment, store: Store, r: int) -> Schedule:
    """Round ``r``'s schedule: without warmup when the round continues; ``refined`` from the gradient norms of the
    previous round, or of the same round of the run named by ``train.refined_from``; self-labelled rounds scaled to
    ``train.round_lr`` when it is set."""
    t = exp.train
    warmup = None if warmup_applies(t.warm_start, r) else 0.0
    if t.schedule != "refined":
        out = build_schedule(exp, warmup)
    else:
        l1 = t.refined_form == "adam"
        if t.refined_from:
            out = build_schedule(exp, warmup, other_run_grad_norms(Path(t.refined_from), r, l1))
        else:
            out = build_schedule(exp, warmup, store.grad_norms(r - 1, l1) if r else [])
    return Scaled(out, t.round_lr / t.lr) if r > 0 and t.round_lr is not None else out


def other_run_grad_norms(run_dir: Path, r: int, l1: bool) -> list[float]:
    """The gradient norms of round ``r`` of the run in ``run_dir``, read through a Reader (another run's store is
    never written)."""
    source = Reader.open(run_dir / DB_NAME)
    try:
        return source.grad_norms(r, l1)
    finally:
        source.close()
