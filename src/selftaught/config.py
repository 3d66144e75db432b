"""An experiment's configuration: pydantic models, presets, TOML loading and ``--set`` overrides.

Precedence, lowest first: the model defaults, the preset (``quickstart`` unless a config file or ``--preset`` says
otherwise), the config file, then each ``--set key=value``. Any unknown key, wrong type or bad value is reported as
one line naming the dotted key.
"""

from __future__ import annotations

import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from selftaught.errors import SelftaughtError

DEFAULT_PRESET = "quickstart"


# Step counts and sizes past these are mistakes (a run of 2**63 steps never ends), not experiments.
MAX_STEPS = 100_000_000
MAX_COUNT = 10_000_000
DEVICE = r"^(auto|cpu|mps|cuda(:\d+)?)$"


class _Strict(BaseModel):
    # allow_inf_nan=False: an infinite or NaN learning rate (or any other float) is refused where it enters.
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class TaskConfig(_Strict):
    name: str = Field("reversed-addition", description="a built-in task, 'module:Class' or 'path/file.py:Class'")
    params: dict[str, Any] = Field(default_factory=dict, description="keyword arguments for the task's constructor")
    high: int | None = Field(
        None, ge=1, description="the largest difficulty a teacher may ask for; default labelled_max + max_rounds * step"
    )


class StudentConfig(_Strict):
    kind: str = Field("gpt", description="'gpt' (built in), 'hf' (a Hugging Face causal LM) or 'module:Class'")
    params: dict[str, Any] = Field(
        default_factory=dict, description="keyword arguments for the student's constructor (for 'hf': model, lora, ...)"
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


class GRPOConfig(_Strict):
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


class TrainConfig(_Strict):
    method: Literal["sft", "grpo"] = Field(
        "sft", description="how self-labelled rounds learn: 'sft' (train on accepted answers) or 'grpo' (from rewards)"
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


class LoopConfig(_Strict):
    labelled_max: int = Field(5, ge=1, le=MAX_COUNT, description="round 0 trains on labelled difficulties 1..this")
    labelled_problems: int = Field(20000, ge=1, le=MAX_COUNT)
    problems_per_round: int = Field(1000, ge=1, le=MAX_COUNT)
    step: int = Field(1, ge=1, le=MAX_COUNT, description="the ladder climbs this many difficulties per round")
    max_rounds: int = Field(5, ge=0, le=100_000, description="self-labelled rounds after round 0")
    max_minutes: float = Field(0.0, ge=0.0, description="wall-time budget; 0 = none")
    stop_accuracy: float = Field(0.5, ge=0.0, le=1.0, description="stop when the newest difficulty falls under this")
    min_accepted: float = Field(0.1, ge=0.0, le=1.0, description="stop when fewer than this share were accepted")
    attempts: Literal["auto", "direct", "split", "refine"] = Field(
        "auto",
        description="'direct': the model answers each problem; 'split': it answers the easier parts the task splits "
        "the problem into, and the task joins their answers; 'refine': it answers, and answers again with the "
        "verifier's feedback in the prompt ([refine]); 'auto': split when every task can, else direct",
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


class SkillConfig(_Strict):
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


class TeacherConfig(_Strict):
    kind: str = Field(
        "ladder", description="uniform, ladder, progress, ucb, alp-gmm, skill-it, or 'module:Class' of a Teacher"
    )
    labelled: bool = Field(False, description="also choose the labelled batches of round 0")
    every: int = Field(
        0, ge=0, description="update every this many training steps from an evaluation slice; 0 = between rounds"
    )
    params: dict[str, Any] = Field(default_factory=dict, description="keyword arguments for the teacher")


class VerifierConfig(_Strict):
    filters: list[str] = Field(default_factory=lambda: ["vote", "length"], description="all must accept")
    samples: int = Field(4, ge=1, le=10_000, description="answers sampled per problem and model")
    temperature: float = Field(0.5, ge=0.0)
    vote_threshold: float = Field(0.6, gt=0.0, le=1.0)


class SearchConfig(_Strict):
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


class EvalConfig(_Strict):
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


class StopConfig(_Strict):
    """The stopping rule inside TRAIN and the round budget planner."""

    every: int = Field(0, ge=0, le=MAX_STEPS, description="measure the slice every this many steps and decide; 0 = off")
    curves: list[str] = Field(
        default_factory=lambda: ["pow3", "exp3", "log-power"],
        min_length=1,
        description="curve models of the ensemble: pow3, exp3, log-power, or 'module:Class' of a CurveModel",
    )
    target: float = Field(1.0, gt=0.0, le=1.0, description="stop once the slice accuracy reaches this")
    epsilon: float = Field(0.01, ge=0.0, description="stop when the predicted gain to the budget's end is below this")
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


class ControlConfig(_Strict):
    """Per-round sampling control. ``bstar``: before ATTEMPT, sample a held-out slice at every temperature x
    threshold x sample count and keep the setting with the best balance score (B-STaR)."""

    kind: Literal["none", "bstar"] = "none"
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


class RefineConfig(_Strict):
    """``loop.attempts = "refine"``: answer, get the verifier's feedback, answer again, up to ``turns`` times."""

    turns: int = Field(3, ge=1, le=32, description="attempts per sample, the first included")
    memory: bool = Field(
        False,
        description="put the most useful earlier fixes into the prompt (a model trained from scratch never saw such "
        "prompts: on the code task it cut the round's first-turn solves from 36 % to 8 %)",
    )
    memory_k: int = Field(2, ge=0, le=64, description="memory entries shown per prompt")
    retrieval: Literal["similarity", "value"] = Field(
        "value", description="rank entries by similarity, or by similarity x learned value (EvoKernel)"
    )
    alpha: float = Field(0.3, gt=0.0, le=1.0, description="step of the value update Q <- Q + alpha (r - Q)")
    feedback_chars: int = Field(80, ge=0, le=100_000, description="feedback kept in a prompt, in characters")


class TrackConfig(_Strict):
    """Experiment trackers fed live through the loop's callbacks (the ``track`` extra)."""

    mlflow: str = Field("", description="an MLflow tracking URI or a local directory for a file store; '' = off")
    tensorboard: str = Field("", description="a directory for TensorBoard event files; '' = off")
    experiment: str = Field("", description="the MLflow experiment's name; default the run's name")


class ExecConfig(_Strict):
    """Where a phase's independent units run (generation, scoring, ensemble members' training)."""

    backend: Literal["local", "process", "ray"] = Field("local", description="in-process, a process pool, or Ray")
    workers: int = Field(1, ge=1, le=4096, description="processes or Ray actors; Ray joins RAY_ADDRESS if set")


class Experiment(_Strict):
    name: str = Field("run", description="names the run's directory; default the preset's or the config file's name")
    seed: int = 0
    task: TaskConfig = Field(default_factory=TaskConfig)
    skills: list[SkillConfig] = Field(
        default_factory=list, description="a mix of tasks, each with its difficulty range; replaces [task]"
    )
    teacher: TeacherConfig = Field(default_factory=TeacherConfig)
    student: StudentConfig = Field(default_factory=StudentConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    loop: LoopConfig = Field(default_factory=LoopConfig)
    verifier: VerifierConfig = Field(default_factory=VerifierConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    stop: StopConfig = Field(default_factory=StopConfig)
    exec: ExecConfig = Field(default_factory=ExecConfig)
    track: TrackConfig = Field(default_factory=TrackConfig)
    control: ControlConfig = Field(default_factory=ControlConfig)
    refine: RefineConfig = Field(default_factory=RefineConfig)
    search: SearchConfig = Field(default_factory=SearchConfig)

    @model_validator(mode="after")
    def _one_way_to_name_tasks(self) -> Experiment:
        # A stored config holds every field; only a [task] that differs from the default is a second way of naming.
        if self.skills and "task" in self.model_fields_set and self.task != TaskConfig():
            raise ValueError("give either [task] or [[skills]], not both")
        if self.train.method == "grpo" and self.verifier.samples < 2:
            n = self.verifier.samples
            raise ValueError(f"train.method = 'grpo' needs groups of at least 2 attempts; verifier.samples is {n}")
        names = [s.name or s.task for s in self.skills]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"skill names must be unique; repeated: {', '.join(dup)} (set name = ...)")
        return self


# ---------------------------------------------------------------------------------------------------- presets
def preset_names() -> list[str]:
    files = resources.files("selftaught.presets").iterdir()
    return sorted(f.name[:-5] for f in files if f.name.endswith(".toml"))


def preset_text(name: str) -> str:
    if name not in preset_names():
        raise SelftaughtError(f"unknown preset {name!r}; known presets: {', '.join(preset_names())}")
    return resources.files("selftaught.presets").joinpath(f"{name}.toml").read_text()


def preset_description(name: str) -> str:
    lines = preset_text(name).splitlines()
    return lines[0].lstrip("# ").strip() if lines else ""


# ---------------------------------------------------------------------------------------------------- loading
def _parse_toml(text: str, where: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise SelftaughtError(f"{where} is not valid TOML: {e}") from None


def _layer(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` on top of ``base``; a layer naming its tasks one way (``task`` or ``skills``) replaces the other."""
    base = dict(base)
    for mine, other in (("skills", "task"), ("task", "skills")):
        if mine in over and other not in over:
            base.pop(other, None)
    return _merge(base, over)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def parse_override(item: str) -> dict[str, Any]:
    """``a.b.c=value`` -> ``{"a": {"b": {"c": value}}}``; the value is read as TOML, else kept as a string."""
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise SelftaughtError(f"--set {item!r}: expected key=value with a dotted key, e.g. train.lr=0.001")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    for part in reversed(key.split(".")):
        value = {part: value}
    return value


def one_line(err: ValidationError) -> str:
    e = err.errors()[0]
    key = ".".join(str(p) for p in e["loc"]) or "config"
    if e["type"] == "extra_forbidden":
        return f"unknown key {key!r}"
    given = e.get("input")
    shown = f" (got {given!r})" if given is not None and not isinstance(given, dict) else ""
    more = f" (+{len(err.errors()) - 1} more)" if len(err.errors()) > 1 else ""
    return f"{key}: {e['msg']}{shown}{more}"


_PLUGIN_FILE = re.compile(r"^(?P<file>[^:]+\.py):(?P<attr>[A-Za-z_]\w*)$")


def _anchor_plugins(value: Any, folder: Path) -> Any:
    """Every ``file.py:Name`` in ``value`` with a relative path made absolute against ``folder`` (the config's)."""
    if isinstance(value, dict):
        return {k: _anchor_plugins(v, folder) for k, v in value.items()}
    if isinstance(value, list):
        return [_anchor_plugins(v, folder) for v in value]
    if isinstance(value, str) and (m := _PLUGIN_FILE.match(value)) and not Path(m["file"]).expanduser().is_absolute():
        return f"{(folder / m['file']).resolve()}:{m['attr']}"
    return value


def _read_config_file(path: Path) -> str:
    if path.is_dir():
        raise SelftaughtError(f"config file {path} is a directory, not a TOML file")
    if not path.exists():
        raise SelftaughtError(f"config file {path} does not exist")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise SelftaughtError(f"config file {path} is not a text file (it is not UTF-8)") from None
    except OSError as e:
        raise SelftaughtError(f"config file {path} cannot be read: {e.strerror or e}") from None


def _drop_none(value: Any) -> Any:
    """TOML has no null: a None field means "the default", so it is left out."""
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value


def experiment_toml(exp: Experiment) -> str:
    """The resolved experiment as TOML: every key with its value, so loading it alone reproduces the run."""
    data = _drop_none(exp.model_dump(mode="json"))
    if exp.skills:  # a mix names its tasks in [[skills]]; the unused [task] would be a second way of naming
        data.pop("task", None)
    return tomli_w.dumps(data)


def load_experiment(
    path: Path | None = None, preset: str | None = None, overrides: list[str] | None = None
) -> tuple[Experiment, str]:
    """The validated experiment and the text it came from (preset, file, then overrides, noted as comments).

    ``file.py:Class`` paths in the config file are taken relative to the file's folder. Without a ``name``, the
    run is named after the preset or, with a config file and no preset, after the file.
    """
    data: dict[str, Any] = {}
    texts = []
    default_name = ""
    if preset is not None or path is None:
        name = preset or DEFAULT_PRESET
        text = preset_text(name)
        data = _merge(data, _parse_toml(text, f"preset {name!r}"))
        texts.append(f"# preset: {name}\n{text}")
        default_name = name
    if path is not None:
        text = _read_config_file(path)
        data = _layer(data, _anchor_plugins(_parse_toml(text, str(path)), path.resolve().parent))
        texts.append(f"# file: {path}\n{text}")
        default_name = default_name if preset is not None else path.stem
    for item in overrides or []:
        data = _layer(data, _anchor_plugins(parse_override(item), Path.cwd()))
        texts.append(f"# --set {item}")
    data.setdefault("name", default_name or DEFAULT_PRESET)
    try:
        exp = Experiment.model_validate(data)
    except ValidationError as e:
        raise SelftaughtError(f"config error: {one_line(e)}") from None
    return exp, "\n".join(texts)
