"""``train.method = "grpo"``: in rounds >= 1: model 0 learns from rewards instead of accepted answers.

Two sources of rollouts (``train.grpo.on_policy``):

- 0, offline: the round's own attempts (model 0's, from ATTEMPT) with the rewards VERIFY gave them, grouped by
  problem. The sampling policy is the round-start weights, which are also the KL reference;
- K > 0, on-policy: every K steps the current weights sample ``verifier.samples`` answers to each of the next
  ``groups`` problems of the round (more problems, up to three draws, while groups without signal are dropped), the
  skill's verifier scores them (code runs in its sandbox), and the K steps learn from them. Every rollout is recorded
  with its reward and the oracle's correctness.

Rewards come from the verifiers, or from ``train.grpo.reward`` (a TRL-style function) when set. The answers trained
on are the extracted answers the verifier scored (as supervised rounds train on them). Everything is seeded from
(run seed, round), and all records are written in TRAIN's transaction, so a killed round repeats itself exactly.
"""

from __future__ import annotations

from typing import Any

from selftaught.config import Experiment
from selftaught.errors import SelftaughtError
from selftaught.run import budget as planning
from selftaught.run.context import Context, writing
from selftaught.run.updates.base import StepRelay, UpdateStrategy, checkpoint_dirs, finish_checkpoint
from selftaught.run.updates.grpo_batches import Offline, OnPolicy, sampling_temperature
from selftaught.run.updates.sft import Sft
from selftaught.seeding import derive_seed
from selftaught.students.base import Student
from selftaught.training import grpo
from selftaught.training.trainer import OptimConfig
from selftaught.verifiers.reward_function import load_reward_function


class Grpo(UpdateStrategy):
    """Round 0 learns the labels (``Sft``); later rounds learn from rewards (see the module docstring)."""

    name = "grpo"

    @classmethod
    def check(cls, exp: Experiment, parts: Any) -> None:
        """What GRPO rounds cannot do, refused in one line before any training (before the run begins)."""
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
                "train.method = 'grpo' does not support stop.every or teacher.every (decisions inside a round) yet"
            )
        for s in parts.students:
            if type(s).answer_logprobs is Student.answer_logprobs or type(s).trainable is Student.trainable:
                s.answer_logprobs([], [])  # raises the student's one-line refusal
        if exp.train.grpo.reward:
            load_reward_function(exp.train.grpo.reward)

    def train(self, ctx: Context, r: int) -> None:
        if r == 0:
            Sft().train(ctx, r)
        else:
            train_grpo(ctx, r)


def train_grpo(ctx: Context, r: int) -> None:
    """TRAIN of a GRPO round (r >= 1): model 0 learns, its checkpoint is written, and every record is stored in
    the phase's transaction."""
    exp, store = ctx.exp, ctx.store
    student = ctx.parts.students[0]
    cfg, t = exp.train.grpo, exp.train
    reward_fn = load_reward_function(cfg.reward) if cfg.reward else None
    steps = planning.budget(exp, store, r)
    schedule = planning.schedule(exp, store, r)
    final, tmp = checkpoint_dirs(ctx, r)
    ctx.load_weights(r - 1)
    temperature = sampling_temperature(ctx, r)
    seed = derive_seed(exp.seed, r, "TRAIN", 0)
    kind = OnPolicy if cfg.on_policy else Offline
    source = kind(ctx, r, student, temperature, reward_fn, derive_seed(exp.seed, r, "GRPO", "order"))
    stats, series = None, []
    if not source.empty():
        ctx.weights_round = -2  # the student's weights are neither a checkpoint's nor fresh while it trains
        optim = OptimConfig(lr=t.lr, weight_decay=t.weight_decay, grad_clip=t.grad_clip)
        stats, series = grpo.train(
            student,
            source,
            steps,
            schedule,
            optim,
            epsilon=cfg.epsilon,
            beta=cfg.beta,
            temperature=temperature,
            callbacks=[StepRelay(ctx.callbacks, r)],
            seed=seed,
        )
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
