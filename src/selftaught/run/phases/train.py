"""TRAIN: every ensemble member learns from the round's examples; the checkpoint is complete before TRAIN is done."""

from __future__ import annotations

import os
import shutil
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from selftaught.curves import StopRule
from selftaught.run.build import build_stop_rule
from selftaught.run.phases import budget as planning
from selftaught.run.phases import train_grpo
from selftaught.run.phases.common import Context, Phase, greedy, result_rows, tally, writing
from selftaught.run.phases.units import FitUnit, fit_unit
from selftaught.run.picking import TeacherBatches
from selftaught.seeding import derive_seed, rng_for
from selftaught.teachers import Outcome
from selftaught.training.schedules import Cooldown, Schedule
from selftaught.types import Example


class Train(Phase):
    name = "TRAIN"

    def run(self, ctx: Context, r: int) -> None:
        exp, store, students = ctx.exp, ctx.store, ctx.parts.students
        if exp.train.method == "grpo" and r > 0:  # round 0 learns the labels; later rounds learn from rewards
            return train_grpo.run(ctx, r)
        examples = store.examples(r)
        budget = planning.budget(exp, store, r)
        t = exp.train
        final = ctx.run_dir / "checkpoints" / f"round-{r:03d}"
        tmp = final.with_name(final.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        ctx.load_weights(r - 1)
        local = ctx.executor.local
        if r > 0 and examples:  # a round with nothing to train on keeps the weights as they are
            for m, student in enumerate(students if local else students[:1]):  # the others restart in their unit
                student.restart(t.warm_start, t.shrink, t.perturb, seed=derive_seed(exp.seed, r, "WARM", m))
            ctx.weights_round = -2  # the students hold neither a checkpoint's weights nor fresh ones now
        schedule: Schedule = planning.schedule(exp, store, r)
        # The teacher watches the cells it chooses among (the fresh ones); the stopping rule every cell trained on.
        fresh = {(e.task, e.difficulty) for e in examples if e.source != "replay"}
        stopping = bool(exp.stop.every and examples)
        cells = {(e.task, e.difficulty) for e in examples} if stopping else fresh
        measure = SliceCache(lambda step: measure_slice(ctx, cells))
        batches = teacher_batches(
            ctx, r, examples, budget, lambda step: [o for o in measure(step) if (o.skill, o.difficulty) in fresh]
        )
        stopper = None
        if stopping:
            schedule = Cooldown(schedule, exp.stop.cooldown)
            st = exp.stop
            rule = build_stop_rule(exp, seed=derive_seed(exp.seed, r, "STOP") % 2**32)
            stopper = Stopper(rule, measure, st.every, budget, st.shadow, schedule)
        stats = []
        if examples:
            # Model 0 trains here (the teacher and the stopping rule watch it); the others replay its batches and
            # stop where it stopped, each as a unit on the executor.
            extra: dict[str, Any] = {}
            if batches is not None:
                extra["pick"] = batches
            if stopper is not None:
                extra["stop"] = stopper
            progress = StepRelay(ctx.callbacks, r)
            seed0 = derive_seed(exp.seed, r, "TRAIN", 0)
            students_ids = range(len(students))
            stats.append(students[0].fit(examples, schedule, budget, seed=seed0, callbacks=[progress], **extra))
            warm = [(t.warm_start, t.shrink, t.perturb, derive_seed(exp.seed, r, "WARM", m)) for m in students_ids]
            units = [
                FitUnit(
                    ctx.where(),
                    local,
                    m,
                    None if local or r == 0 else ctx.replica(r - 1, m),
                    None if local or r == 0 else warm[m],
                    examples,
                    schedule,
                    budget,
                    derive_seed(exp.seed, r, "TRAIN", m),
                    pick=None if batches is None else Replay(batches.picked),
                    stop=None if stopper is None else StopAt(stats[0].steps),
                )
                for m in range(1, len(students))
            ]
            for m, (st, files) in enumerate(ctx.executor.map(fit_unit, units), start=1):
                stats.append(st)
                if files is not None:  # trained elsewhere: the driver's copy takes the weights from its checkpoint
                    with writing(tmp / f"model-{m}", cleanup=tmp):
                        for rel, data in files.items():
                            (tmp / f"model-{m}" / rel).parent.mkdir(parents=True, exist_ok=True)
                            (tmp / f"model-{m}" / rel).write_bytes(data)
                    students[m].load_weights(tmp / f"model-{m}")
        for m, student in enumerate(students):
            if not (tmp / f"model-{m}").exists():
                with writing(tmp / f"model-{m}", cleanup=tmp):
                    student.save(tmp / f"model-{m}")  # nothing accepted: the weights carry over unchanged
        # The checkpoint is complete under its final name before TRAIN is marked done.
        with writing(final, cleanup=tmp):
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
        ctx.weights_round = r
        with ctx.phase(r, "TRAIN"):
            store.set_round_budget(r, budget)
            for m, st in enumerate(stats):
                store.add_train_metrics(r, m, st.losses, st.lrs, st.grad_norms, st.grad_l1s)
            for m in range(len(students)):
                store.add_checkpoint(r, m, str((final / f"model-{m}").relative_to(ctx.run_dir)))
            if stopper is not None:
                store.add_stop_decisions(r, budget, stopper.records)
            if batches is None:  # the sampling share is the make-up of the round's examples
                store.add_curriculum(r, 0, Counter((e.task, e.difficulty) for e in examples))
            else:
                for step, counts in batches.counts.items():
                    store.add_curriculum(r, step, counts)
                for step, outcomes in batches.slices.items():
                    store.add_skill_results(r, step, "slice", result_rows(outcomes))
                for step, scores in batches.scores.items():
                    store.add_teacher_scores(r, step, scores)
                store.set_teacher_state(r, "TRAIN", ctx.parts.teacher.state_dict())
            for step, outcomes in measure.taken.items():  # every slice measured (the teacher's are among them)
                store.add_skill_results(r, step, "slice", result_rows(outcomes))


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
    return tally(((p, ok) for _, p, _, ok in greedy(ctx, ctx.parts.students[0], problems)), "slice")


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


class StepRelay:
    """Forwards the trainer's per-step callback to the loop's callbacks, adding the round."""

    def __init__(self, callbacks: Sequence[Any], r: int) -> None:
        self.callbacks, self.r = callbacks, r

    def __call__(self, step: int, total: int, loss: float) -> None:
        for cb in self.callbacks:
            cb.on_train_step(self.r, step, total, loss)
