"""What steers a supervised round from inside its training: the teacher's batch picker, the held-out slice
measured once per step however many ask, the stopping rule as a ``fit`` stop check, and the replays that make the
other ensemble members follow model 0."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from selftaught.curves import StopRule, run_prior
from selftaught.run.context import DB_NAME, Context, tally
from selftaught.run.picking import TeacherBatches
from selftaught.seeding import rng_for
from selftaught.store.reader import Reader
from selftaught.teachers import Outcome
from selftaught.training.schedules import Cooldown
from selftaught.types import Example


def teacher_batches(
    ctx: Context, r: int, examples: list[Example], steps: int, measure: Callable[[int], list[Outcome]]
) -> TeacherBatches | None:
    """The teacher's batch picker for this round's training, or None when batches are drawn uniformly."""
    t = ctx.exp.teacher
    if not (t.labelled if r == 0 else t.every) or not any(e.source != "replay" for e in examples):
        return None
    rng = rng_for(ctx.exp.seed, r, "TRAIN", "teacher")
    return TeacherBatches(examples, ctx.parts.teacher, rng, steps, t.every, measure if t.every else None)


def measure_slice(ctx: Context, cells: set[tuple[str, int]]) -> list[Outcome]:
    """Greedy accuracy of model 0 on the held-out slice at ``cells`` (skill, difficulty)."""
    problems = [(pid, p) for pid, p in ctx.slice_problems() if (p.task, p.difficulty) in cells]
    return tally(((p, ok) for _, p, _, ok in ctx.sampler.greedy(ctx.parts.students[0], problems)), "slice")


def earlier_curves(ctx: Context, r: int, budget: int) -> list[list[tuple[float, float]]] | None:
    """The stopping rule's prior: the slice curves of round ``r`` in the runs of ``stop.prior_from`` (in the order
    given), then those this run measured in the ``stop.prior`` rounds before ``r`` (oldest first, so that members
    which follow the latest curve follow this run's own), each with steps rescaled to this round's ``budget``;
    None when there are none."""
    st = ctx.exp.stop
    others = [c for c in (other_run_curve(Path(d), r) for d in st.prior_from) if c is not None]
    rounds: dict[int, tuple[int, list[tuple[float, float]]]] = {}
    for d in ctx.store.stop_decisions() if st.prior else []:
        if d["round"] < r:
            rounds.setdefault(d["round"], (d["budget"], []))[1].append((d["step"], d["value"]))
    return run_prior(others, [rounds[q] for q in sorted(rounds)], st.prior, budget)


def other_run_curve(run_dir: Path, r: int) -> tuple[int, list[tuple[float, float]]] | None:
    """(budget, slice curve) of round ``r`` in the run in ``run_dir`` (read through a Reader: another run's store
    is never written); None when that run measured none there."""
    with Reader.open(run_dir / DB_NAME) as source:
        decisions = source.stop_decisions(r)
    return (decisions[0]["budget"], [(d["step"], d["value"]) for d in decisions]) if decisions else None


class SliceCache:
    """Slice measurements by step (the model's state after that many steps), taken once however many ask."""

    def __init__(self, measure: Callable[[int], list[Outcome]]) -> None:
        self.measure = measure
        self.taken: dict[int, list[Outcome]] = {}

    def __call__(self, step: int) -> list[Outcome]:
        if step not in self.taken:
            self.taken[step] = self.measure(step)
        return self.taken[step]


class Stopper:
    """The stopping rule as a ``Student.fit`` ``stop`` check: every ``every`` steps it measures the slice's accuracy
    and asks the rule; ``records`` keeps each decision for the store. When the rule says stop, the round's
    ``schedule`` cools down and training ends after it. In ``shadow`` mode it never stops."""

    def __init__(
        self, rule: StopRule, measure: SliceCache, every: int, budget: int, shadow: bool, schedule: Cooldown
    ) -> None:
        self.rule, self.measure, self.every, self.budget, self.shadow = rule, measure, every, budget, shadow
        self.schedule = schedule
        self.records: list[dict[str, Any]] = []

    def __call__(self, done: int) -> bool:
        if self.schedule.end is not None:  # cooling down after a stop
            return done >= self.schedule.end
        if done % self.every and done != self.budget:
            return False
        outcomes = self.measure(done)
        trials = sum(o.trials for o in outcomes)
        if not trials:
            return False
        value = sum(o.successes for o in outcomes) / trials
        steps = [*(rec["step"] for rec in self.records), done]
        decision = self.rule.decide(steps, [*(rec["value"] for rec in self.records), value], self.budget)
        stop = decision.stop and done < self.budget
        self.records.append(
            {
                "step": done,
                "value": value,
                "current": decision.current,
                "mean": decision.mean,
                "low": decision.low,
                "high": decision.high,
                "stop": stop,
                "reason": decision.reason,
            }
        )
        if stop and not self.shadow:
            self.schedule.begin(done)
            return done >= self.schedule.end
        return False


class Replay:
    """A ``pick`` that repeats the batches model 0 was given, step by step (for the other ensemble members)."""

    def __init__(self, picked: list[list[int]]) -> None:
        self.picked = picked

    def __call__(self, step: int, size: int) -> list[int]:
        return self.picked[step]


class StopAt:
    """A ``stop`` check that ends training after ``steps`` steps (where model 0 stopped)."""

    def __init__(self, steps: int) -> None:
        self.steps = steps

    def __call__(self, done: int) -> bool:
        return done >= self.steps
