"""``[train]``: how each round learns (steps, learning rate, schedule, warm start, replay) and ``[train.grpo]``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from selftaught.config.base import MAX_COUNT, MAX_STEPS, Strict


class GRPOConfig(Strict):
    """``train.method = "grpo"``: a policy-gradient update from the verifiers' per-attempt rewards (rounds >= 1)."""

    scale: Literal["group", "batch", "none"] = Field(
        "group",
        description="advantage = (reward - group mean) / std, the std of the group ('group'), of the whole batch "
        "('batch'), or no division ('none', as Dr. GRPO)",
    )
    epsilon: float = Field(0.2, gt=0.0, lt=1.0, description="the clip range of the policy ratio: [1 - e, 1 + e]")
    beta: float = Field(0.0, ge=0.0, le=100.0, description="weight of the KL to the round-start weights; 0 = off")
    std_eps: float = Field(1e-4, gt=0.0, le=1.0, description="added to the std before dividing")
    groups: int = Field(8, ge=1, le=MAX_COUNT, description="groups (problems) per optimiser step")
    drop_equal: bool = Field(True, description="drop groups whose rewards are all equal (no signal), and count them")
    on_policy: int = Field(
        0,
        ge=0,
        le=MAX_STEPS,
        description="every this many steps generate fresh attempts for the round's problems, score them and learn "
        "from those; 0 = learn from the round's ATTEMPT/VERIFY records only",
    )
    reward: str = Field(
        "",
        description="'' = the verifiers' per-attempt scores; or 'module:function' / 'file.py:function' with TRL's "
        "signature f(prompts, completions, **columns) -> list[float | None]",
    )


class TrainConfig(Strict):
    method: str = Field(
        "sft",
        description="how self-labelled rounds learn: 'sft' (train on accepted answers), 'grpo' (from rewards), or "
        "'module:Class' of an UpdateStrategy (run/updates/base.py)",
    )
    grpo: GRPOConfig = Field(default_factory=GRPOConfig)
    batch_size: int = Field(128, ge=1, le=MAX_COUNT)
    lr: float = Field(1e-2, gt=0.0, le=10.0)
    weight_decay: float = Field(0.1, ge=0.0)
    grad_clip: float = Field(1.0, ge=0.0)
    schedule: str = Field(
        "wsd",
        description="the learning-rate factor over a round: constant, linear, cosine, wsd, rex, step, refined "
        "('selftaught schedules' lists them), or 'module:Class' of a Schedule",
    )
    curator: str = Field(
        "replay", description="how a round's training set is built: 'replay' or 'module:Class' of a Curator"
    )
    warmup: float = Field(0.05, ge=0.0, lt=1.0, description="fraction of each round's steps")
    decay: float = Field(0.3, gt=0.0, le=1.0, description="wsd: fraction of the round spent decaying")
    decay_form: Literal["linear", "sqrt"] = Field("linear", description="wsd: linear or 1 - sqrt decay")
    floor: float = Field(0.0, ge=0.0, lt=1.0, description="wsd: the factor the decay ends at")
    gamma: float = Field(0.5, gt=0.0, le=1.0, description="step: the factor of each drop")
    step_every: float = Field(0.25, gt=0.0, le=1.0, description="step: fraction of the round between drops")
    refined_form: Literal["adam", "sgd"] = Field(
        "adam", description="refined: from the l1 gradient norms (Adam-like optimisers) or the l2 norms (SGD)"
    )
    refined_smooth: float = Field(
        0.05, ge=0.0, lt=1.0, description="refined: median-filter window over the norms, as a fraction of the round"
    )
    refined_from: str = Field(
        "", description="refined: a finished run directory whose same round's norms to use; default the previous round"
    )
    warm_start: Literal["continue", "re-warm", "shrink-perturb", "fresh"] = Field(
        "re-warm",
        description="how each self-labelled round starts: 'continue' (the weights, no warmup), 're-warm' (the "
        "weights, warmup again), 'shrink-perturb' (shrink * weights + perturb * fresh initialisation, warmup again) "
        "or 'fresh' (a new initialisation)",
    )
    shrink: float = Field(0.5, ge=0.0, le=1.0, description="shrink-perturb: lambda, the weights' share")
    perturb: float = Field(0.01, ge=0.0, description="shrink-perturb: sigma, the fresh initialisation's scale")
    labelled_steps: int = Field(2000, ge=1, le=MAX_STEPS, description="steps in round 0")
    round_steps: int = Field(600, ge=1, le=MAX_STEPS, description="steps in each self-labelled round")
    round_lr: float | None = Field(
        None, gt=0.0, le=10.0, description="the learning rate of self-labelled rounds; default train.lr"
    )
    replay_share: float = Field(
        0.5, ge=0.0, lt=1.0, description="share of a round's examples drawn from earlier rounds"
    )
    replay_priority: float = Field(
        0.0,
        ge=0.0,
        le=10.0,
        description="prioritised replay: an example is replayed with probability in proportion to weight ** this, its "
        "weight being 1 / the share of its problem's samples that were accepted (a rare solve weighs more; labels "
        "and hindsight relabels weigh 1); 0 = uniform",
    )

    @model_validator(mode="after")
    def _schedule_fits(self) -> TrainConfig:
        if self.schedule == "wsd" and self.warmup + self.decay > 1.0:
            raise ValueError(f"warmup ({self.warmup}) + decay ({self.decay}) exceed the whole round")
        if self.schedule == "step" and self.warmup >= self.step_every:
            raise ValueError(f"warmup ({self.warmup}) lasts past the first drop (step_every = {self.step_every})")
        return self
