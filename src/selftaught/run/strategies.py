"""The round's strategies, chosen by config as the other parts are: a built-in name from a registry
(``ATTEMPTS``, ``UPDATES``, ``CONTROLS``) or ``module:Class`` / ``file.py:Class`` of a subclass of the base.

``choose`` resolves ``loop.attempts`` (``"auto"``: split when every task splits its problems, else direct),
``train.method`` and ``control.kind``, and lets each strategy refuse what it cannot do before the run begins."""

from __future__ import annotations

from dataclasses import dataclass

from selftaught.config import Experiment
from selftaught.registry import resolve
from selftaught.run.attempts import ATTEMPTS, AttemptStrategy
from selftaught.run.build import Parts
from selftaught.run.control import CONTROLS, ControlStrategy
from selftaught.run.updates import UPDATES, UpdateStrategy
from selftaught.tasks.base import provides


@dataclass
class Strategies:
    attempts: AttemptStrategy
    update: UpdateStrategy
    control: ControlStrategy


def choose(exp: Experiment, parts: Parts) -> Strategies:
    """The strategies ``exp`` names, each checked against ``exp`` and ``parts``."""
    name = exp.loop.attempts
    if name == "auto":
        splits = all(provides(task, "split") for task in parts.skills.tasks.values())
        name = "split" if splits else "direct"
    attempts = resolve(name, ATTEMPTS, "loop.attempts", AttemptStrategy)
    update = resolve(exp.train.method, UPDATES, "train.method", UpdateStrategy)
    control = resolve(exp.control.kind, CONTROLS, "control.kind", ControlStrategy)
    for cls in (attempts, update, control):
        cls.check(exp, parts)
    return Strategies(attempts(), update(), control())
