"""The sections that choose the loop's parts: ``[task]`` or ``[[skills]]``, ``[student]``, ``[teacher]`` and
``[verifier]``."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from selftaught.config.base import DEVICE, MAX_COUNT, Strict

# The built-in model's settings in [student]; another kind of student takes its model's settings in params.
BUILTIN_MODEL_KEYS = ("n_layer", "n_head", "n_embd", "pos", "rope_scale", "dropout", "block_size")


class TaskConfig(Strict):
    name: str = Field("reversed-addition", description="a built-in task, 'module:Class' or 'path/file.py:Class'")
    params: dict[str, Any] = Field(default_factory=dict, description="keyword arguments for the task's constructor")
    high: int | None = Field(
        None, ge=1, description="the largest difficulty a teacher may ask for; default labelled_max + max_rounds * step"
    )


class SkillConfig(Strict):
    """One skill of a mix: a task over a range of difficulties."""

    task: str = Field(description="a built-in task, 'module:Class' or 'path/file.py:Class'")
    name: str = Field("", description="unique name in this experiment; defaults to the task's")
    params: dict[str, Any] = Field(default_factory=dict, description="keyword arguments for the task's constructor")
    low: int = Field(1, ge=0, description="smallest difficulty")
    high: int | None = Field(
        None, ge=0, description="largest difficulty a teacher may ask for; default labelled_max + max_rounds * step"
    )
    labelled_max: int | None = Field(
        None, ge=0, description="round 0 is labelled from low to this; default loop.labelled_max"
    )


class StudentConfig(Strict):
    """Which student, and the built-in model's settings: ``n_layer`` to ``block_size`` apply to ``kind = "gpt"`` only;
    another student takes its model's settings in ``params``."""

    kind: str = Field("gpt", description="'gpt' (built in), 'hf' (a Hugging Face causal LM) or 'module:Class'")
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="keyword arguments for the student's constructor (for 'hf': model or architecture, positions, "
        "lora, ...)",
    )
    n_layer: int = Field(2, ge=1, le=256)
    n_head: int = Field(4, ge=1, le=256)
    n_embd: int = Field(64, ge=8, le=65536)
    pos: Literal["none", "rope", "learned", "index"] = "index"
    rope_scale: float = Field(0.6, gt=0.0, description="multiplies the rotary frequencies (rope and index)")
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    block_size: int = Field(
        256, ge=8, le=1_000_000, description="longest sequence (a hard limit for learned positions only)"
    )
    device: str = Field("auto", pattern=DEVICE, description="'auto' (CUDA when present), 'cpu', 'cuda[:N]' or 'mps'")
    ensemble: int = Field(1, ge=1, le=64, description="models trained from different seeds; their answers are pooled")
    gen_batch: int = Field(2048, ge=1, le=MAX_COUNT, description="rows decoded at once (prompts x samples)")

    @model_validator(mode="after")
    def _heads_divide_width(self) -> StudentConfig:
        if self.kind == "gpt" and self.n_embd % self.n_head:
            raise ValueError(f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})")
        return self


class TeacherConfig(Strict):
    kind: str = Field(
        "ladder",
        description="uniform, ladder, progress, ucb, alp-gmm, skill-it, mastery, syllabus-lp (selftaught[syllabus]), "
        "or 'module:Class' of a Teacher",
    )
    labelled: bool = Field(False, description="also choose the labelled batches of round 0")
    every: int = Field(
        0, ge=0, description="update every this many training steps from an evaluation slice; 0 = between rounds"
    )
    params: dict[str, Any] = Field(default_factory=dict, description="keyword arguments for the teacher")


class VerifierConfig(Strict):
    filters: list[str] = Field(default_factory=lambda: ["vote", "length"], description="all must accept")
    samples: int = Field(4, ge=1, le=10_000, description="answers sampled per problem and model")
    temperature: float = Field(0.5, ge=0.0)
    vote_threshold: float = Field(0.6, gt=0.0, le=1.0)
