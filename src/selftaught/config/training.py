"""``[train]``: how each round learns (steps, learning rate, schedule, warm start, replay) and ``[train.grpo]``."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from selftaught.config.base import MAX_COUNT, MAX_STEPS, Strict


class GRPOConfig(Strict):
    """``train.method = "grpo"``: a policy-gradient update from the verifiers' per-attempt rewards (rounds >= 1)."""

    on_policy: bool = Field(
        True,
        description="true: the current weights sample fresh rollouts of the round's problems as the round goes, and "
        "the round makes no ATTEMPT/VERIFY of its own; false (offline): learn from the round's ATTEMPT/VERIFY "
        "records, sampled by the round-start weights (an integer K, as before num_iterations, reads as "
        "on_policy = K > 0 and num_iterations = K)",
    )
    num_iterations: int = Field(
        1,
        ge=1,
        le=MAX_STEPS,
        description="passes over each batch of rollouts, with the log-probabilities of the weights that sampled it "
        "(PPO's epochs, TRL's num_iterations): on-policy, each batch of `groups` problems is trained on this many "
        "steps before the next is sampled (1: every step samples, and no pass is spent on old log-probabilities); "
        "offline, the round's records are passed over this many times, `groups` problems a step, and the round "
        "ends there or at its step budget",
    )
    lr: float = Field(
        3e-4,
        gt=0.0,
        le=10.0,
        description="the learning rate of GRPO rounds (train.round_lr is not used); at 1e-3 on-policy rounds cost "
        "list-functions a third of its depth-2 accuracy",
    )
    temperature: float = Field(
        1.0,
        gt=0.0,
        le=5.0,
        description="on-policy rollouts' sampling temperature (offline learns at the temperature its records were "
        "sampled at)",
    )
    scale: Literal["group", "batch", "unscaled"] = Field(
        "group",
        description="advantage = reward - its group's mean, divided by the std of the group ('group', the GRPO paper) "
        "or of the whole batch ('batch'), or not divided ('unscaled', half of Dr. GRPO: see loss)",
    )
    loss: Literal["sequence", "token", "constant"] = Field(
        "sequence",
        description="how per-token losses become one: 'sequence' (the mean over each answer's tokens, then over the "
        "answers: the GRPO paper), 'token' (the sum over every token of the batch / their number: DAPO) or "
        "'constant' (the sum / (answers x max_len), no division by any answer's length: Dr. GRPO, with scale = "
        "'unscaled')",
    )
    max_len: int = Field(
        0,
        ge=0,
        le=MAX_COUNT,
        description="loss = 'constant': the fixed length it divides by; 0 = the longest answer budget (tokens) of "
        "the round's problems",
    )
    epsilon: float = Field(0.2, gt=0.0, lt=1.0, description="the clip range of the policy ratio: [1 - e, 1 + e]")
    beta: float = Field(
        0.0,
        ge=0.0,
        le=100.0,
        description="weight of the KL (k3) to the round-start weights, measured on the answers trained on; 0 = off",
    )
    std_eps: float = Field(1e-4, gt=0.0, le=1.0, description="added to the std before dividing")
    groups: int = Field(8, ge=1, le=MAX_COUNT, description="groups (problems) per optimiser step")
    drop_equal: bool = Field(
        False,
        description="drop groups whose rewards are all equal (no signal; DAPO's dynamic sampling) and draw more; "
        "false keeps them, with advantage 0 (an all-right group holds its behaviour in place through the loss's "
        "normalisation and the KL); counted either way",
    )
    eval_every: int = Field(
        10,
        ge=0,
        le=MAX_STEPS,
        description="every this many steps (and at the round's start and end) measure model 0's greedy accuracy "
        "on the held-out slice, keep the best weights and end the round with them; stop early when the stopping "
        "rule (stop.*) sees no more to gain (stop.shadow: record only); 0 = off (the round ends with its last "
        "weights)",
    )
    reward: str = Field(
        "",
        description="'' = the verifiers' per-attempt scores; or 'module:function' / 'file.py:function' with TRL's "
        "signature f(prompts, completions, **columns) -> list[float | None]",
    )

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: Any) -> Any:
        """Settings of configs written before ``num_iterations`` and ``unscaled``: refused or read, in one line."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        k = data.get("on_policy")
        if isinstance(k, int) and not isinstance(k, bool):  # on_policy = K: fresh rollouts every K steps
            if k > 1 and data.get("num_iterations", k) != k:
                raise ValueError(f"on_policy = {k} means num_iterations = {k}; num_iterations says otherwise")
            data["on_policy"] = k > 0
            if k > 1:
                data["num_iterations"] = k
        if data.get("scale") == "none":
            raise ValueError(
                "scale = 'none' is now 'unscaled' (it divided by each answer's length, so it was only half of "
                "Dr. GRPO: for all of it, also set loss = 'constant')"
            )
        return data


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
    average: float = Field(
        0.0,
        ge=0.0,
        lt=1.0,
        description="supervised training (the labelled round, sft rounds) keeps a moving average of the weights "
        "with this decay per step (0.99: about the last 100 steps); measurements in the middle of a round (the "
        "stopping rule's, the teacher's) read the average, and a round the stopping rule ends early ends with it "
        "(one that trains its whole budget ends with its own weights, which the schedule annealed); a second copy "
        "of the trainable weights; pair it with stop.gain = false; 0 = off (GRPO rounds keep their best measured "
        "weights instead)",
    )
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
    round_tokens: int = Field(
        0,
        ge=0,
        description="when > 0, a self-labelled round trains fewer than round_steps steps once its examples are long: "
        "steps = round_tokens / (batch_size x its longest example's characters, prompt + answer + 1, the width a batch "
        "pads to), at least 1, so a round's cost stays flat as the difficulty grows; 0 = round_steps at any length",
    )
    round_lr: float | None = Field(
        None,
        gt=0.0,
        le=10.0,
        description="the learning rate of self-labelled rounds; default train.lr (GRPO rounds: train.grpo.lr)",
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
