"""``train.method = "grpo"``: in rounds >= 1: model 0 learns from rewards instead of accepted answers.

Two sources of rollouts (``train.grpo.on_policy``, see ``grpo_batches``):

- on-policy (the default): every ``num_iterations`` steps the current weights sample ``verifier.samples`` answers
  to each of the next ``groups`` problems of the round, at ``train.grpo.temperature``; the skill's verifier scores
  them (code runs in its sandbox) and the steps learn from exactly the tokens sampled. Every rollout is recorded
  with its reward and the oracle's correctness. The round makes no ATTEMPT/VERIFY of its own
  (``needs_attempts``), so it records no attempts and no verdicts;
- offline: the round's own attempts (model 0's, from ATTEMPT) with the rewards VERIFY gave them, grouped by problem,
  passed over ``num_iterations`` times. The sampling policy is the round-start weights, also the KL reference.

Rewards come from the verifiers, or from ``train.grpo.reward`` (a TRL-style function) when set. The round learns at
``train.grpo.lr``. With ``train.grpo.eval_every`` the held-out slice is measured at the start, every that many steps
and at the end; the round ends with the best weights measured (``KeepBest``) and stops early when the stopping rule
(``stop.*``) sees no more to gain. Its records: ``slice_accuracy`` in ``train_series`` at each measured step (the
weights after that many steps), ``kept`` at the step whose weights the checkpoint holds, the slice's counts in
``skill_results`` and the rule's decisions in ``stop_decisions``. Everything is seeded from (run seed, round), and
all records are written in TRAIN's transaction, so a killed round repeats itself exactly.
"""

from __future__ import annotations

from typing import Any

import torch

from selftaught.config import Experiment
from selftaught.errors import SelftaughtError
from selftaught.run import budget as planning
from selftaught.run.build import build_stop_rule
from selftaught.run.context import Context, result_rows, writing
from selftaught.run.updates.base import StepRelay, UpdateStrategy, checkpoint_dirs, finish_checkpoint
from selftaught.run.updates.grpo_batches import Offline, OnPolicy, answer_budget, sampling_temperature
from selftaught.run.updates.sft import Sft
from selftaught.run.updates.steering import SliceCache, Stopper, earlier_curves, measure_slice
from selftaught.seeding import derive_seed
from selftaught.students.base import Student
from selftaught.training import grpo
from selftaught.training.schedules import Cooldown, Scaled
from selftaught.training.trainer import OptimConfig
from selftaught.verifiers.reward_function import load_reward_function


class Grpo(UpdateStrategy):
    """Round 0 learns the labels (``Sft``); later rounds learn from rewards (see the module docstring)."""

    name = "grpo"

    def needs_attempts(self, exp: Experiment) -> bool:
        """Offline rounds learn from ATTEMPT/VERIFY's records; on-policy rounds sample their own."""
        return not exp.train.grpo.on_policy

    @classmethod
    def check(cls, exp: Experiment, parts: Any) -> None:
        """What GRPO rounds cannot do, refused in one line before any training (before the run begins)."""
        cfg = exp.train.grpo
        if exp.verifier.samples < 2:
            raise SelftaughtError(
                f"train.method = 'grpo' needs groups of at least 2 attempts; verifier.samples is {exp.verifier.samples}"
            )
        if exp.student.ensemble > 1:
            raise SelftaughtError(
                f"train.method = 'grpo' trains one model; student.ensemble is {exp.student.ensemble} (set it to 1)"
            )
        if exp.train.warm_start not in ("continue", "re-warm"):
            raise SelftaughtError(
                f"train.method = 'grpo' learns from the weights that sampled the attempts; train.warm_start = "
                f"{exp.train.warm_start!r} would replace them (use 'continue' or 're-warm')"
            )
        if exp.stop.every or exp.teacher.every:
            raise SelftaughtError(
                "train.method = 'grpo' does not support stop.every or teacher.every (decisions inside a round); its "
                "rounds measure the slice every train.grpo.eval_every steps, and the stopping rule decides there"
            )
        if cfg.on_policy and exp.control.kind != "none":
            raise SelftaughtError(
                f"control.kind = {exp.control.kind!r} chooses ATTEMPT's sampling, which an on-policy GRPO round does "
                "not run (its rollouts sample at train.grpo.temperature); set train.grpo.on_policy = false"
            )
        if cfg.on_policy and exp.search.samples:
            raise SelftaughtError(
                "search.samples adds ATTEMPT's samples at the frontier, which an on-policy GRPO round does not run; "
                "set train.grpo.on_policy = false or search.samples = 0"
            )
        for s in parts.students:  # a method the student lacks raises its one-line refusal
            if type(s).answer_logprobs is Student.answer_logprobs:
                s.answer_logprobs([], [])
            if type(s).trainable is Student.trainable:
                s.trainable()
            if cfg.on_policy and type(s).sample_tokens is Student.sample_tokens:
                s.sample_tokens([])
            if not cfg.on_policy and type(s).completion_of is Student.completion_of:
                s.completion_of("")
        if cfg.reward:
            load_reward_function(cfg.reward)

    def train(self, ctx: Context, r: int) -> None:
        if r == 0:
            Sft().train(ctx, r)
        else:
            train_grpo(ctx, r)


class KeepBest:
    """The stop check of a GRPO round watched on the held-out slice: the stopping rule (``Stopper``) decides every
    ``eval_every`` steps; the slice is also measured at the start and where training ends; the trainable weights
    of the best measurement (the later of equals) are kept in memory and ``restore`` puts them back."""

    def __init__(self, student: Student, measure: SliceCache, stopper: Stopper, steps: int) -> None:
        self.module: torch.nn.Module = student.trainable()
        self.measure, self.stopper, self.steps = measure, stopper, steps
        self.best: tuple[float, int] | None = None  # (accuracy, step)
        self.weights: dict[str, torch.Tensor] = {}
        self.series: list[tuple[int, str, float | None]] = []
        self.look(0)

    def look(self, done: int) -> None:
        """Measure the weights after ``done`` steps (once) and keep them if they are the best so far."""
        if any(step == done for step, _, _ in self.series):
            return
        outcomes = self.measure(done)
        trials = sum(o.trials for o in outcomes)
        value = sum(o.successes for o in outcomes) / trials if trials else None
        self.series.append((done, "slice_accuracy", value))
        if value is not None and (self.best is None or value >= self.best[0]):
            self.best = (value, done)
            params = self.module.named_parameters()
            self.weights = {k: p.detach().clone() for k, p in params if p.requires_grad}

    def __call__(self, done: int) -> bool:
        stop = self.stopper(done)
        if done in self.measure.taken or stop or done == self.steps:
            self.look(done)
        return stop

    def restore(self, done: int) -> list[tuple[int, str, float | None]]:
        """Back to the best weights measured (training ended after ``done`` steps); the series rows to record."""
        self.look(done)
        if self.best is None:
            return self.series
        with torch.no_grad():
            for k, p in self.module.named_parameters():
                if k in self.weights:
                    p.copy_(self.weights[k])
        return [*self.series, (self.best[1], "kept", self.best[0])]


def train_grpo(ctx: Context, r: int) -> None:
    """TRAIN of a GRPO round (r >= 1): model 0 learns, its checkpoint is written, and every record is stored in
    the phase's transaction."""
    exp, store = ctx.exp, ctx.store
    student = ctx.parts.students[0]
    cfg, t = exp.train.grpo, exp.train
    reward_fn = load_reward_function(cfg.reward) if cfg.reward else None
    problems = store.problems(r, "train")
    schedule = planning.schedule(exp, store, r)
    if isinstance(schedule, Scaled):  # train.round_lr scales supervised rounds; GRPO's own is train.grpo.lr
        schedule = schedule.base
    final, tmp = checkpoint_dirs(ctx, r)
    ctx.load_weights(r - 1)
    temperature = cfg.temperature if cfg.on_policy else sampling_temperature(ctx, r)
    seed = derive_seed(exp.seed, r, "TRAIN", 0)
    kind = OnPolicy if cfg.on_policy else Offline
    source = kind(ctx, r, student, temperature, reward_fn, derive_seed(exp.seed, r, "GRPO", "order"))
    steps = source.steps(planning.budget(exp, store, r))
    stats, series, keeper = None, [], None
    if not source.empty():
        ctx.weights_round = -2  # the student's weights are neither a checkpoint's nor fresh while it trains
        if cfg.eval_every:
            cells = {(p.task, p.difficulty) for _, p in problems}
            measure = SliceCache(lambda step: measure_slice(ctx, cells))
            schedule = Cooldown(schedule, exp.stop.cooldown)
            rule = build_stop_rule(
                exp, seed=derive_seed(exp.seed, r, "STOP") % 2**32, prior=earlier_curves(ctx, r, steps)
            )
            stopper = Stopper(rule, measure, cfg.eval_every, steps, exp.stop.shadow, schedule)
            keeper = KeepBest(student, measure, stopper, steps)
        optim = OptimConfig(lr=cfg.lr, weight_decay=t.weight_decay, grad_clip=t.grad_clip)
        objective = grpo.Objective(
            cfg.epsilon, cfg.beta, temperature, cfg.loss, cfg.max_len or answer_budget(ctx, problems)
        )
        stats, series = grpo.train(
            student,
            source,
            steps,
            schedule,
            optim,
            objective,
            callbacks=[StepRelay(ctx.callbacks, r)],
            stop=keeper,
            seed=seed,
        )
        if keeper is not None:
            series += keeper.restore(stats.steps)
    with writing(tmp / "model-0", cleanup=tmp):
        student.save(tmp / "model-0")
    finish_checkpoint(tmp, final)
    ctx.weights_round = r
    with ctx.phase(r, "TRAIN"):
        store.set_round_budget(r, steps)
        if stats is not None:
            store.add_train_metrics(r, 0, stats.losses, stats.lrs, stats.grad_norms, stats.grad_l1s)
        store.add_checkpoint(r, 0, str((final / "model-0").relative_to(ctx.run_dir)))
        store.add_train_series(r, 0, series)
        if isinstance(source, OnPolicy):
            store.add_rollouts(r, source.rows)
        store.add_curriculum(r, 0, source.trained)
        if keeper is not None:
            store.add_stop_decisions(r, steps, keeper.stopper.records)
            for step, outcomes in keeper.measure.taken.items():
                store.add_skill_results(r, step, "slice", result_rows(outcomes))
