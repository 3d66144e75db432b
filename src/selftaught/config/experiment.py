"""The whole experiment: every section, and the rules that join them; plus ``[track]`` and ``[exec]``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from selftaught.config.base import Strict
from selftaught.config.loop import ControlConfig, EvalConfig, LoopConfig, RefineConfig, SearchConfig, StopConfig
from selftaught.config.parts import SkillConfig, StudentConfig, TaskConfig, TeacherConfig, VerifierConfig
from selftaught.config.training import TrainConfig


class TrackConfig(Strict):
    """Experiment trackers fed live through the loop's callbacks (the ``track`` extra)."""

    mlflow: str = Field("", description="an MLflow tracking URI or a local directory for a file store; '' = off")
    tensorboard: str = Field("", description="a directory for TensorBoard event files; '' = off")
    experiment: str = Field("", description="the MLflow experiment's name; default the run's name")


class ExecConfig(Strict):
    """Where a phase's independent units run (generation, scoring, ensemble members' training)."""

    backend: Literal["local", "process", "ray"] = Field("local", description="in-process, a process pool, or Ray")
    workers: int = Field(1, ge=1, le=4096, description="processes or Ray actors; Ray joins RAY_ADDRESS if set")


class Experiment(Strict):
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
        names = [s.name or s.task for s in self.skills]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"skill names must be unique; repeated: {', '.join(dup)} (set name = ...)")
        return self
