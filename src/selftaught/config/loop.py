"""The sections that steer the rounds: ``[loop]``, ``[search]``, ``[eval]``, ``[stop]``, ``[control]`` and
``[refine]``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from selftaught.config.base import MAX_COUNT, MAX_STEPS, Strict


class LoopConfig(Strict):
    labelled_max: int = Field(5, ge=1, le=MAX_COUNT, description="round 0 trains on labelled difficulties 1..this")
    labelled_problems: int = Field(20000, ge=1, le=MAX_COUNT)
    problems_per_round: int = Field(1000, ge=1, le=MAX_COUNT)
    step: int = Field(1, ge=1, le=MAX_COUNT, description="the ladder climbs this many difficulties per round")
    max_rounds: int = Field(5, ge=0, le=100_000, description="self-labelled rounds after round 0")
    max_minutes: float = Field(0.0, ge=0.0, description="wall-time budget; 0 = none")
    stop_accuracy: float = Field(0.5, ge=0.0, le=1.0, description="stop when the newest difficulty falls under this")
    min_accepted: float = Field(0.1, ge=0.0, le=1.0, description="stop when fewer than this share were accepted")
    attempts: str = Field(
        "auto",
        description="'direct': the model answers each problem; 'split': it answers the easier parts the task splits "
        "the problem into, and the task joins their answers; 'refine': it answers, and answers again with the "
        "verifier's feedback in the prompt ([refine]); 'auto': split when every task can, else direct; or "
        "'module:Class' of an AttemptStrategy (run/attempts/base.py)",
    )
    hindsight: bool = Field(
        False,
        description="hindsight relabelling: a failed attempt that ran becomes the problem it does solve (its own "
        "outputs as the examples, the depth of the program it is), kept when the task finds it not degenerate",
    )
    hindsight_share: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="the largest share of a round's fresh examples (before replay) that hindsight relabels may take; "
        "a round with no accepted answer trains on its relabels alone",
    )


class SearchConfig(Strict):
    """Search at the frontier: more samples, at a temperature, where greedy decoding fails, so rare solves are found."""

    samples: int = Field(
        0, ge=0, le=10_000, description="attempts per problem at the frontier; 0 = off (verifier.samples everywhere)"
    )
    temperature: float = Field(1.0, gt=0.0, le=5.0, description="the sampling temperature at the frontier")
    below: float = Field(
        0.9,
        gt=0.0,
        le=1.0,
        description="the frontier: the difficulties whose last held-out greedy accuracy is under this (or unmeasured)",
    )
    compose: int = Field(
        0,
        ge=0,
        le=10_000,
        description="also try up to this many programs per frontier problem made by joining two of the model's own "
        "answers to it (the task's compose: one applied to the other's result); 0 = off",
    )
    eval_samples: int = Field(
        0,
        ge=0,
        le=10_000,
        description="per round, sample this many answers per held-out problem at the frontier and record pass@k "
        "(search.k); 0 = off",
    )
    k: list[int] = Field(default_factory=lambda: [1, 10], min_length=1, description="the k of the frontier's pass@k")

    @model_validator(mode="after")
    def _k_fits(self) -> SearchConfig:
        if self.eval_samples and any(not 1 <= k <= self.eval_samples for k in self.k):
            raise ValueError(f"k = {self.k}: each k must be in 1..eval_samples ({self.eval_samples})")
        return self


class EvalConfig(Strict):
    problems: int = Field(200, ge=1, le=MAX_COUNT, description="held-out problems per difficulty")
    ahead: int = Field(3, ge=0, le=10_000, description="also evaluate this many difficulties past the newest")
    window: int = Field(0, ge=0, description="evaluate only this many difficulties up to the newest; 0 = all")
    slice: int = Field(
        16,
        ge=1,
        le=MAX_COUNT,
        description="held-out problems per skill x difficulty measured during training (teacher.every, stop)",
    )
    samples: int = Field(
        0, ge=0, le=1000, description="also sample this many answers per held-out problem for pass@k; 0 = off"
    )
    temperature: float = Field(0.8, gt=0.0, le=5.0, description="the sampling temperature of pass@k")
    k: list[int] = Field(default_factory=lambda: [1, 5], min_length=1, description="the k of each pass@k reported")
    targets: list[float] = Field(
        default_factory=lambda: [0.5, 0.9], description="accuracies whose time to first reach is recorded per cell"
    )

    @model_validator(mode="after")
    def _targets_are_accuracies(self) -> EvalConfig:
        bad = [t for t in self.targets if not 0.0 < t <= 1.0]
        if bad:
            raise ValueError(f"targets must be accuracies in (0, 1]; got {bad[0]}")
        if self.samples and any(not 1 <= k <= self.samples for k in self.k):
            raise ValueError(f"k = {self.k}: each k must be in 1..samples ({self.samples})")
        return self


class StopConfig(Strict):
    """The stopping rule inside TRAIN and the round budget planner."""

    every: int = Field(0, ge=0, le=MAX_STEPS, description="measure the slice every this many steps and decide; 0 = off")
    curves: list[str] = Field(
        default_factory=lambda: ["pow3", "exp3", "log-power", "logistic", "janoschek", "weibull", "mmf", "template"],
        min_length=1,
        description="curve models of the ensemble: pow3, exp3, log-power (saturating), logistic, janoschek, weibull, "
        "mmf (S-shaped), template (follows an earlier round's curve, see stop.prior), or 'module:Class' of a "
        "CurveModel",
    )
    prior: int = Field(
        4,
        ge=0,
        le=100_000,
        description="give the rule this many earlier rounds' slice curves (the latest; steps rescaled to this round's "
        "budget): the template member follows the latest that rose, the S-shaped members start from where they "
        "rose; 0 = none",
    )
    prior_share: float = Field(
        1.0,
        ge=0.0,
        le=1.0,
        description="the template member's share of the ensemble's weight were its fit as good as the others' (its "
        "inverse residual variance is scaled up to that; a worse fit still counts against it); 1 = the template "
        "alone whenever it fits (measured best: a round's first quarter is too noisy to weigh members by)",
    )
    prior_from: list[str] = Field(
        default_factory=list,
        description="finished run directories of this experiment (earlier runs, other seeds): each one's slice "
        "curve of the same round joins the prior, before this run's own earlier rounds; so round 0, which has none, "
        "follows how round 0 went before",
    )
    rise_weight: float = Field(
        0.25,
        gt=0.0,
        le=1.0,
        description="do not stop while an S-shaped or template member with this share of the weight or more predicts "
        "a gain of epsilon by the budget's end ('rise predicted')",
    )
    target: float = Field(1.0, gt=0.0, le=1.0, description="stop once the slice accuracy reaches this")
    gain: bool = Field(
        True,
        description="also stop when the predicted gain to the budget's end is below epsilon (the curve models); "
        "false = stop at the target only, and fit nothing",
    )
    epsilon: float = Field(
        0.01, ge=0.0, description="stop when the top of the predicted gain's interval to the budget's end is below this"
    )
    confidence: float = Field(0.9, gt=0.0, lt=1.0, description="of the predicted gain's interval")
    min_fraction: float = Field(0.25, ge=0.0, le=1.0, description="no prediction before this share of the budget")
    min_points: int = Field(4, ge=2, le=100_000, description="no prediction from fewer measurements")
    min_accuracy: float = Field(
        0.05, ge=0.0, le=1.0, description="no prediction before some measurement reaches this accuracy"
    )
    bootstrap: int = Field(100, ge=10, le=100_000, description="residual-bootstrap refits for the interval")
    cooldown: float = Field(
        0.1, ge=0.0, le=1.0, description="on a stop, anneal the learning rate to 0 over this share of the steps taken"
    )
    shadow: bool = Field(False, description="decide and record, but let every round run its whole budget")
    carry: float = Field(
        1.0, ge=0.0, description="a round may add up to this times its budget from steps earlier rounds saved"
    )


class ControlConfig(Strict):
    """Per-round sampling control. ``bstar``: before ATTEMPT, sample a held-out slice at every temperature x
    threshold x sample count and keep the setting with the best balance score (B-STaR)."""

    kind: str = Field(
        "none",
        description="'none' (the verifier's samples and temperature), 'bstar', or 'module:Class' of a "
        "ControlStrategy (run/control/base.py)",
    )
    temperatures: list[float] = Field(
        default_factory=lambda: [0.5, 0.7, 0.9, 1.1],
        min_length=1,
        description="the temperatures tried (B-STaR's grid is 0.5-1.2)",
    )
    thresholds: list[float] = Field(
        default_factory=lambda: [0.5, 1.0],
        min_length=1,
        description="reward thresholds tried: an attempt is kept when its reward is at least this",
    )
    samples: list[int] = Field(default_factory=list, description="sample counts tried; default only verifier.samples")
    slice: int = Field(32, ge=1, le=MAX_COUNT, description="held-out problems sampled per setting")
    n_star: int = Field(8, ge=1, le=10_000, description="n*: the unique correct answers per problem worth having")

    @model_validator(mode="after")
    def _grid(self) -> ControlConfig:
        if any(t <= 0.0 or t > 5.0 for t in self.temperatures):
            raise ValueError(f"temperatures must be in (0, 5]; got {self.temperatures}")
        if any(not 0.0 <= t <= 1.0 for t in self.thresholds):
            raise ValueError(f"thresholds must be rewards in [0, 1]; got {self.thresholds}")
        if any(not 1 <= n <= 10_000 for n in self.samples):
            raise ValueError(f"samples must be in 1..10000; got {self.samples}")
        return self


class RefineConfig(Strict):
    """``loop.attempts = "refine"``: answer, get the verifier's feedback, answer again, up to ``turns`` times."""

    turns: int = Field(3, ge=1, le=32, description="attempts per sample, the first included")
    memory: bool = Field(
        False,
        description="put the most useful earlier fixes into the prompt, and train the model on prompts that show "
        "them (on the code task, trained to read it, the fix rate held: 7.8 % against 7.9 %, but first-turn solves "
        "fell from 36 % to 25 %)",
    )
    memory_k: int = Field(2, ge=0, le=64, description="memory entries shown per prompt")
    retrieval: Literal["similarity", "value"] = Field(
        "value", description="rank entries by similarity, or by similarity x learned value (EvoKernel)"
    )
    alpha: float = Field(0.3, gt=0.0, le=1.0, description="step of the value update Q <- Q + alpha (r - Q)")
    feedback_chars: int = Field(80, ge=0, le=100_000, description="feedback kept in a prompt, in characters")
