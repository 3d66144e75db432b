"""Paths in a config are taken relative to the folder of the file that gives them (the working directory for a
``--set`` override) and made absolute where they enter, so the run's ``config.toml`` holds them absolute and
``selftaught run RUN_DIR/config.toml`` repeats the run from any directory.

Two kinds of value are paths: a plug-in's ``file.py:Name``, anywhere in the config; and the settings that name a
file or a directory (``PATH_SETTINGS``): a Hugging Face student's ``student.params.model``, a jsonl task's
``params.path`` (in ``[task]`` or a skill), ``train.refined_from``, each run directory of ``stop.prior_from``,
``track.tensorboard``, and ``track.mlflow`` when it is a directory rather than a URI. Which of them applies is read
from the whole config (``student.kind``, the task's name), whichever layer set it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

_PLUGIN_FILE = re.compile(r"^(?P<file>[^:]+\.py):(?P<attr>[A-Za-z_]\w*)$")


def _at(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _hf_student(config: dict[str, Any], value: Any) -> bool:
    return _at(config, "student", "kind") == "hf"


def _jsonl_task(config: dict[str, Any], value: Any) -> bool:
    return _at(config, "task", "name") == "jsonl"


def _always(config: dict[str, Any], value: Any) -> bool:
    return True


def _a_directory(config: dict[str, Any], value: Any) -> bool:
    return urlparse(value).scheme == ""  # not a URI (http:, file:, databricks ...)


# Dotted key -> when the value there is a path, given the whole config and the value.
PATH_SETTINGS: dict[tuple[str, ...], Callable[[dict[str, Any], Any], bool]] = {
    ("student", "params", "model"): _hf_student,
    ("task", "params", "path"): _jsonl_task,
    ("train", "refined_from"): _always,
    ("track", "tensorboard"): _always,
    ("track", "mlflow"): _a_directory,
    ("stop", "prior_from"): _always,  # a list of run directories
}
SKILL_PATH = ("params", "path")  # in a skill whose task is jsonl


def anchor_plugins(value: Any, folder: Path) -> Any:
    """Every ``file.py:Name`` in ``value`` with a relative path made absolute against ``folder`` (the config's)."""
    if isinstance(value, dict):
        return {k: anchor_plugins(v, folder) for k, v in value.items()}
    if isinstance(value, list):
        return [anchor_plugins(v, folder) for v in value]
    if isinstance(value, str) and (m := _PLUGIN_FILE.match(value)) and not Path(m["file"]).expanduser().is_absolute():
        return f"{(folder / m['file']).resolve()}:{m['attr']}"
    return value


def _absolute(value: Any, folder: Path) -> Any:
    """A relative path made absolute against ``folder``; an empty or absolute one, or a non-string, as it is."""
    if not isinstance(value, str) or not value.strip() or Path(value).expanduser().is_absolute():
        return value
    return str((folder / value).resolve())


def _replaced(data: dict[str, Any], keys: tuple[str, ...], fn: Callable[[Any], Any]) -> dict[str, Any]:
    """``data`` with the value at ``keys`` (if there) replaced by ``fn(value)``; tables on the way are copied."""
    head, *rest = keys
    if head not in data:
        return data
    if rest:
        if not isinstance(data[head], dict):
            return data
        return {**data, head: _replaced(data[head], tuple(rest), fn)}
    return {**data, head: fn(data[head])}


def anchor_paths(layer: dict[str, Any], folder: Path, config: dict[str, Any] | None = None) -> dict[str, Any]:
    """``layer`` (one layer of a config: a file's, or a ``--set`` override's) with its plug-in files and its path
    settings made absolute against ``folder``. ``config`` is the whole config the layer is part of, which says what
    a setting is (a Hugging Face student's model, a jsonl task's file); default the layer itself."""
    whole = layer if config is None else config
    out = anchor_plugins(layer, folder)
    for keys, is_path in PATH_SETTINGS.items():
        value = _at(out, *keys)
        if isinstance(value, str) and is_path(whole, value):
            out = _replaced(out, keys, lambda v: _absolute(v, folder))
        elif isinstance(value, list) and is_path(whole, value):
            out = _replaced(out, keys, lambda v: [_absolute(x, folder) for x in v])
    if isinstance(out.get("skills"), list):
        out["skills"] = [
            _replaced(s, SKILL_PATH, lambda v: _absolute(v, folder)) if isinstance(s, dict) and s.get("task") == "jsonl"
            else s
            for s in out["skills"]
        ]  # fmt: skip
    return out
