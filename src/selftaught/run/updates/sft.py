"""``train.method = "sft"``: every ensemble member learns from the round's examples (accepted answers, replay);
the checkpoint is complete before TRAIN is done."""

from __future__ import annotations

from collections import Counter
from typing import Any

from selftaught.run import budget as planning
from selftaught.run.build import build_stop_rule
from selftaught.run.context import Context, result_rows, writing
from selftaught.run.units import FitUnit, fit_unit
from selftaught.run.updates.base import StepRelay, UpdateStrategy, checkpoint_dirs, finish_checkpoint
from selftaught.run.updates.steering import (
    Replay,
    SliceCache,
    StopAt,
    Stopper,
    earlier_curves,
    measure_slice,
    teacher_batches,
)
from selftaught.seeding import derive_seed
from selftaught.training.schedules import Cooldown, Schedule


class Sft(UpdateStrategy):
    """Filtered fine-tuning: every ensemble member trains on the round's examples (round 0: the labels)."""

    name = "sft"

    def train(self, ctx: Context, r: int) -> None:
        exp, store, students = ctx.exp, ctx.store, ctx.parts.students
        examples = store.examples(r)
        budget = planning.budget(exp, store, r)
        t = exp.train
        final, tmp = checkpoint_dirs(ctx, r)
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
            rule = build_stop_rule(
                exp, seed=derive_seed(exp.seed, r, "STOP") % 2**32, prior=earlier_curves(ctx, r, budget)
            )
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
        finish_checkpoint(tmp, final)
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
