"""Sweep files: parsing a sweep (grid, random draws, seeds) into its runs, each checked before anything is made.
The sweep file's format is in ``sweep.py``."""

from __future__ import annotations

import itertools
import json
import math
import os
import random
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selftaught.config import Experiment, _anchor_plugins, load_experiment
from selftaught.errors import SelftaughtError
from selftaught.experiments.tracking import build_trackers, open_run_store
from selftaught.run.build import build_parts
from selftaught.run.context import DB_NAME
from selftaught.run.strategies import choose

INDEX = "sweep.json"
_TOP_KEYS = {"name", "base", "preset", "seeds", "report", "cpus_per_run", "set", "grid", "random"}
_NAME_MAX = 200  # characters in a run directory's name (file systems allow 255 bytes)


@dataclass(frozen=True)
class SweepRun:
    """One run of a sweep: point ``point`` (its ``settings``) with ``seed``, in ``SWEEP_DIR/dir``."""

    point: int
    settings: dict[str, Any]
    seed: int
    dir: str
    exp: Experiment
    text: str


@dataclass
class Sweep:
    name: str
    file: Path
    out: Path
    seeds: list[int]
    points: list[dict[str, Any]]
    runs: list[SweepRun]
    spec: dict[str, Any] = field(default_factory=dict)  # what the file said, for the index
    report: bool = True
    cpus_per_run: float = 1.0


# ------------------------------------------------------------------------------------------------- loading
def _flatten(table: dict[str, Any], prefix: str = "", leaf: Callable[[Any], bool] | None = None) -> dict[str, Any]:
    """Nested tables as dotted keys; ``leaf(value)`` says a table is a value (a random range), not a level."""
    out: dict[str, Any] = {}
    for k, v in table.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict) and v and not (leaf and leaf(v)):
            out.update(_flatten(v, key, leaf))
        else:
            out[key] = v
    return out


def _toml_value(v: Any) -> str:
    """``v`` as an inline TOML value, for a ``--set key=value`` override."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return (
            repr(v) if isinstance(v, int) or math.isfinite(v) else ("nan" if v != v else ("inf" if v > 0 else "-inf"))
        )
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {_toml_value(x)}" for k, x in v.items()) + "}"
    raise SelftaughtError(f"sweep: cannot use {v!r} as a setting")


def _shown(v: Any) -> str:
    """A setting's value in a run directory's name."""
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        return f"{v:.6g}"
    text = v if isinstance(v, str) else json.dumps(v, separators=(",", ":"))
    return re.sub(r"[/\\\0\s]", "_", text)


def _is_range(v: Any) -> bool:
    return isinstance(v, dict) and ("low" in v or "high" in v)


def _grid(table: Any) -> dict[str, list[Any]]:
    if not isinstance(table, dict):
        raise SelftaughtError("sweep: [grid] must be a table of dotted key = [values]")
    grid = _flatten(table)
    if not grid:
        raise SelftaughtError("sweep: [grid] is empty; give it dotted keys with lists of values")
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise SelftaughtError(f"sweep: grid key {key!r} needs a non-empty list of values, got {values!r}")
    return grid


def _random_spec(table: Any) -> tuple[int, int, dict[str, Any]]:
    if not isinstance(table, dict):
        raise SelftaughtError("sweep: [random] must be a table")
    table = dict(table)
    draws, seed = table.pop("draws", None), table.pop("seed", 0)
    if not isinstance(draws, int) or isinstance(draws, bool) or draws < 1:
        raise SelftaughtError(f"sweep: random.draws must be a positive integer, got {draws!r}")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise SelftaughtError(f"sweep: random.seed must be an integer, got {seed!r}")
    specs = _flatten(table, leaf=_is_range)
    if not specs:
        raise SelftaughtError("sweep: [random] draws nothing; give it dotted keys with {low, high} or a list")
    for key, spec in specs.items():
        if isinstance(spec, list):
            if not spec:
                raise SelftaughtError(f"sweep: random key {key!r} has an empty list to choose from")
            continue
        if not _is_range(spec) or set(spec) - {"low", "high", "log"}:
            raise SelftaughtError(f"sweep: random key {key!r} needs {{low, high, log}} or a list, got {spec!r}")
        low, high, use_log = spec.get("low"), spec.get("high"), spec.get("log", False)
        numbers = all(isinstance(x, int | float) and not isinstance(x, bool) for x in (low, high))
        if not numbers or not math.isfinite(low) or not math.isfinite(high) or not low < high:
            raise SelftaughtError(f"sweep: random key {key!r} needs numbers low < high, got {spec!r}")
        if not isinstance(use_log, bool) or (use_log and low <= 0):
            raise SelftaughtError(f"sweep: random key {key!r}: log = true needs low > 0, got {spec!r}")
    return draws, seed, specs


def _draw(specs: dict[str, Any], draws: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for _ in range(draws):
        point = {}
        for key, spec in specs.items():
            if isinstance(spec, list):
                point[key] = spec[rng.randrange(len(spec))]
                continue
            low, high, use_log = spec["low"], spec["high"], spec.get("log", False)
            whole = isinstance(low, int) and isinstance(high, int)
            if use_log:
                x = math.exp(rng.uniform(math.log(low), math.log(high + (1 if whole else 0))))
                point[key] = min(int(x), high) if whole else x
            else:
                point[key] = rng.randint(low, high) if whole else rng.uniform(low, high)
        out.append(point)
    return out


def _seeds(value: Any) -> list[int] | None:
    if value is None:
        return None
    ok = isinstance(value, list) and value and all(isinstance(s, int) and not isinstance(s, bool) for s in value)
    if not ok or any(s < 0 for s in value) or len(set(value)) != len(value):
        raise SelftaughtError(f"sweep: seeds must be a non-empty list of distinct integers >= 0, got {value!r}")
    return list(value)


def shown_settings(settings: dict[str, Any]) -> str:
    """A point's settings as ``key=value,key=value`` (its run directories' names, and compare's rows)."""
    return ",".join(f"{k}={_shown(v)}" for k, v in settings.items())


def _dir_names(points: list[dict[str, Any]], seeds: list[int]) -> list[list[str]]:
    """Per point, per seed: the run directory's name, from the settings; ``point-NNN`` where names would clash."""
    names = [shown_settings(p) for p in points]
    clash = len(set(names)) != len(names) or any(len(n) > _NAME_MAX or n.startswith(".") for n in names)
    if clash:
        names = [f"point-{i:03d}" for i in range(len(points))]
    return [[f"{n},seed={s}" if n else f"seed={s}" for s in seeds] for n in names]


def load_sweep(path: Path, out: Path | None = None) -> Sweep:
    """Read and check a sweep file; every run's experiment is validated and its parts built once per point. Creates
    nothing. ``out`` defaults to ``sweeps/<name>``; a directory there must be this sweep's (or empty)."""
    if path.is_dir() or not path.is_file():
        raise SelftaughtError(f"sweep file {path} " + ("is a directory" if path.is_dir() else "does not exist"))
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise SelftaughtError(f"sweep file {path} is not valid TOML: {e}") from None
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise SelftaughtError(f"sweep file {path}: unknown key {unknown[0]!r} (known: {', '.join(sorted(_TOP_KEYS))})")
    folder = path.resolve().parent
    data = _anchor_plugins(data, folder)
    name = data.get("name", path.stem)
    if not isinstance(name, str) or not re.fullmatch(r"[\w.\-]+", name):
        raise SelftaughtError(f"sweep: name must be letters, digits, '.', '-' or '_', got {name!r}")
    base = data.get("base")
    if base is not None and not isinstance(base, str):
        raise SelftaughtError(f"sweep: base must be a path to an experiment file, got {base!r}")
    base_path = (folder / base) if base else None
    preset = data.get("preset")
    if preset is not None and not isinstance(preset, str):
        raise SelftaughtError(f"sweep: preset must be a preset's name, got {preset!r}")
    fixed = data.get("set", {})
    if not isinstance(fixed, dict):
        raise SelftaughtError("sweep: [set] must be a table of dotted key = value")
    fixed = _flatten(fixed)
    grid = _grid(data["grid"]) if "grid" in data else {}
    draws, draw_seed, specs = _random_spec(data["random"]) if "random" in data else (0, 0, {})
    for key in [*grid, *specs]:
        if key == "seed":
            raise SelftaughtError("sweep: sweep seeds with seeds = [...], not in [grid] or [random]")
    both = sorted(set(grid) & set(specs))
    if both:
        raise SelftaughtError(f"sweep: key {both[0]!r} is in both [grid] and [random]")
    report, cpus = data.get("report", True), data.get("cpus_per_run", 1)
    if not isinstance(report, bool):
        raise SelftaughtError(f"sweep: report must be true or false, got {report!r}")
    if not isinstance(cpus, int | float) or isinstance(cpus, bool) or not 0 < cpus <= 1024:
        raise SelftaughtError(f"sweep: cpus_per_run must be a number of CPUs > 0, got {cpus!r}")
    seeds = _seeds(data.get("seeds"))

    combos = [dict(zip(grid, values)) for values in itertools.product(*grid.values())] or [{}]
    drawn = _draw(specs, draws, draw_seed) if specs else [{}]
    points = [{**g, **d} for g in combos for d in drawn]

    def experiment(settings: dict[str, Any], seed: int | None, where: str) -> tuple[Experiment, str]:
        items = {"name": name, **fixed, **settings, **({} if seed is None else {"seed": seed})}
        overrides = [f"{k}={_toml_value(v)}" for k, v in items.items()]
        try:
            return load_experiment(base_path, preset, overrides)
        except SelftaughtError as e:
            raise SelftaughtError(f"sweep {where}: {e}") from None

    if seeds is None:
        seeds = [experiment(points[0], None, "base")[0].seed]
    dirs = _dir_names(points, seeds)
    runs = []
    for i, settings in enumerate(points):
        for seed, d in zip(seeds, dirs[i]):
            exp, text = experiment(settings, seed, f"run {d}")
            runs.append(SweepRun(i, settings, seed, d, exp, f"# sweep: {path} ({name}), run {d}\n{text}"))
        first = runs[-len(seeds)]
        try:  # parts do not depend on the seed: built once per point, so a bad task or plug-in fails now
            choose(first.exp, build_parts(first.exp))
            build_trackers(first.exp)
        except SelftaughtError as e:
            raise SelftaughtError(f"sweep run {first.dir}: {e}") from None
    out = Path("sweeps") / name if out is None else out
    spec = {
        "name": name,
        "file": str(path.resolve()),
        "base": str(base_path.resolve()) if base_path else None,
        "preset": preset,
        "set": fixed,
        "grid": grid,
        "random": {"draws": draws, "seed": draw_seed, **specs} if specs else {},
        "seeds": seeds,
    }
    sweep = Sweep(name, path, out, seeds, points, runs, spec, report, float(cpus))
    _check_out(sweep)
    return sweep


def _check_out(sweep: Sweep) -> None:
    """The output directory is this sweep's, a new one, or empty; runs already in it hold this sweep's configs."""
    out = sweep.out
    for p in (out, *out.parents):
        if p.exists():
            if not p.is_dir():
                raise SelftaughtError(f"sweep directory {out}: {p} is not a directory")
            if not os.access(p, os.W_OK | os.X_OK):
                raise SelftaughtError(f"sweep directory {out}: {p} is not writable")
            break
    if not out.is_dir() or not any(out.iterdir()):
        return
    if not (out / INDEX).is_file():
        raise SelftaughtError(f"sweep directory {out} is not empty and holds no {INDEX}: not a sweep's directory")
    for run in sweep.runs:
        if not (out / run.dir / DB_NAME).is_file():
            continue
        try:
            store = open_run_store(out / run.dir)
        except SelftaughtError:
            continue  # resume will say what is wrong with it, for this run alone
        try:
            stored = store.config()
        finally:
            store.close()
        if stored != run.exp.model_dump(mode="json"):
            raise SelftaughtError(
                f"sweep directory {out}: run {run.dir} was made with another config; use another --out for a changed "
                "sweep"
            )


# ------------------------------------------------------------------------------------------------- running
