"""Loading an experiment: preset, TOML file and ``--set`` overrides in layers, validated into one ``Experiment``;
and writing the resolved experiment back as TOML."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import tomli_w
from pydantic import ValidationError

from selftaught.config.experiment import Experiment
from selftaught.config.parts import BUILTIN_MODEL_KEYS
from selftaught.config.paths import anchor_paths
from selftaught.config.presets import DEFAULT_PRESET, preset_text
from selftaught.errors import SelftaughtError


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
    """The resolved experiment as TOML: every key with its value, so loading it alone reproduces the run. Paths are
    absolute (see ``selftaught.config.paths``); the built-in model's settings are left out for another student, which
    takes its model's settings in ``student.params``."""
    data = _drop_none(exp.model_dump(mode="json"))
    if exp.skills:  # a mix names its tasks in [[skills]]; the unused [task] would be a second way of naming
        data.pop("task", None)
    if exp.student.kind != "gpt":
        for key in BUILTIN_MODEL_KEYS:
            data["student"].pop(key, None)
    return tomli_w.dumps(data)


def load_experiment(
    path: Path | None = None, preset: str | None = None, overrides: list[str] | None = None
) -> tuple[Experiment, str]:
    """The validated experiment and the text it came from (preset, file, then overrides, noted as comments).

    Paths in the config file (``file.py:Class``, a jsonl task's file, a Hugging Face model's directory, ...: see
    ``selftaught.config.paths``) are taken relative to the file's folder, those in ``--set`` overrides relative to
    the working directory, and kept absolute. Without a ``name``, the run is named after the preset or, with a
    config file and no preset, after the file.
    """
    layers: list[tuple[dict[str, Any], Path | None]] = []  # each with the folder its paths are relative to
    texts = []
    default_name = ""
    if preset is not None or path is None:
        name = preset or DEFAULT_PRESET
        text = preset_text(name)
        layers.append((_parse_toml(text, f"preset {name!r}"), None))
        texts.append(f"# preset: {name}\n{text}")
        default_name = name
    if path is not None:
        text = _read_config_file(path)
        layers.append((_parse_toml(text, str(path)), path.resolve().parent))
        texts.append(f"# file: {path}\n{text}")
        default_name = default_name if preset is not None else path.stem
    for item in overrides or []:
        layers.append((parse_override(item), Path.cwd()))
        texts.append(f"# --set {item}")
    whole: dict[str, Any] = {}  # what each setting is (the student's kind, a task's name) is read from all layers
    for layer, _ in layers:
        whole = _layer(whole, layer)
    data: dict[str, Any] = {}
    for layer, folder in layers:
        data = _layer(data, layer if folder is None else anchor_paths(layer, folder, whole))
    data.setdefault("name", default_name or DEFAULT_PRESET)
    try:
        exp = Experiment.model_validate(data)
    except ValidationError as e:
        raise SelftaughtError(f"config error: {one_line(e)}") from None
    return exp, "\n".join(texts)
