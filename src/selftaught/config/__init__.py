"""An experiment's configuration: pydantic models, presets, TOML loading and ``--set`` overrides.

Precedence, lowest first: the model defaults, the preset (``quickstart`` unless a config file or ``--preset`` says
otherwise), the config file, then each ``--set key=value``. Any unknown key, wrong type or bad value is reported as
one line naming the dotted key. Paths in a config file are relative to its folder (``selftaught.config.paths``).

The sections live in modules of their own: ``parts`` ([task], [[skills]], [student], [teacher], [verifier]),
``training`` ([train]), ``loop`` ([loop], [search], [eval], [stop], [control], [refine]) and ``experiment`` (the
whole, with [track] and [exec]); ``presets``, ``paths`` and ``loading`` read them.
"""

from __future__ import annotations

from selftaught.config.base import DEVICE, MAX_COUNT, MAX_STEPS
from selftaught.config.experiment import ExecConfig, Experiment, TrackConfig
from selftaught.config.loading import experiment_toml, load_experiment, one_line, parse_override
from selftaught.config.loop import ControlConfig, EvalConfig, LoopConfig, RefineConfig, SearchConfig, StopConfig
from selftaught.config.parts import (
    BUILTIN_MODEL_KEYS,
    SkillConfig,
    StudentConfig,
    TaskConfig,
    TeacherConfig,
    VerifierConfig,
)
from selftaught.config.paths import anchor_paths, anchor_plugins
from selftaught.config.presets import DEFAULT_PRESET, preset_description, preset_names, preset_text
from selftaught.config.training import GRPOConfig, TrainConfig

_anchor_plugins = anchor_plugins  # the name experiments.sweep imports

__all__ = [
    "BUILTIN_MODEL_KEYS",
    "DEFAULT_PRESET",
    "DEVICE",
    "MAX_COUNT",
    "MAX_STEPS",
    "ControlConfig",
    "EvalConfig",
    "ExecConfig",
    "Experiment",
    "GRPOConfig",
    "LoopConfig",
    "RefineConfig",
    "SearchConfig",
    "SkillConfig",
    "StopConfig",
    "StudentConfig",
    "TaskConfig",
    "TeacherConfig",
    "TrackConfig",
    "TrainConfig",
    "VerifierConfig",
    "anchor_paths",
    "anchor_plugins",
    "experiment_toml",
    "load_experiment",
    "one_line",
    "parse_override",
    "preset_description",
    "preset_names",
    "preset_text",
]
