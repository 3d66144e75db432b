"""What the benchmark scripts share (not a benchmark itself): their options, their start and their last line.

Contract (DESIGN.md, "Benchmarks contract"): ``python benchmarks/NAME.py [--quick]`` compares side by side in one
run (A B A B ..., medians, ratios) and its last line of standard output is one JSON object,
``{"benchmark": NAME, "metric": ..., "value": ..., "unit": ..., ...details}``. A benchmark builds its options on
``parser``, starts with ``Bench`` (threads set, the load noted, the clock started) and ends with ``Bench.emit``.
Progress goes to standard error so that standard output holds only the final JSON line. The runs of the loop that
several benchmarks make are in ``_runs.py``.

Nothing here imports torch or selftaught at the top: the sandbox benchmark forks a process per candidate in one of its
arms, and a parent that carries torch makes each fork dearer. torch is imported where threads are set or reported.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

DEFAULT_THREADS = 2


def set_threads() -> int:
    """Use 2 threads unless ``BENCH_THREADS`` (or else ``OMP_NUM_THREADS``) says otherwise; return the count."""
    raw = os.environ.get("BENCH_THREADS") or os.environ.get("OMP_NUM_THREADS")
    try:
        n = int(raw) if raw else DEFAULT_THREADS
    except ValueError:
        n = DEFAULT_THREADS
    n = max(1, n)
    import torch

    torch.set_num_threads(n)
    return n


def parser(description: str, *, out: bool = False, sets: bool = False) -> argparse.ArgumentParser:
    """The options benchmarks share: ``--quick`` always; with ``out``, ``--out`` (keep the runs there); with ``sets``,
    ``--set`` (an extra override for every run). A benchmark adds its own options after these."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--quick", action="store_true", help="a smaller run (under a minute on 2 cores), same metric")
    if out:
        ap.add_argument("--out", type=Path, default=None, help="keep the runs here (default: a temporary directory)")
    if sets:
        ap.add_argument("--set", action="append", default=[], help="an extra override (KEY=VALUE) for every run")
    return ap


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def median(xs: list[float]) -> float:
    return float(statistics.median(xs))


def alternate(runs: dict[str, Callable[[], float]], repeats: int, label: str = "repeat") -> dict[str, list[float]]:
    """Call each of ``runs`` (name -> function returning a measurement) in turn, A B A B ..., ``repeats`` times."""
    out: dict[str, list[float]] = {name: [] for name in runs}
    for r in range(repeats):
        parts = []
        for name, fn in runs.items():
            value = fn()
            out[name].append(value)
            parts.append(f"{name}={value:.4g}")
        log(f"  {label} {r + 1}/{repeats}: " + "  ".join(parts))
    return out


def load_average() -> float | None:
    return round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None


def check_idle() -> float | None:
    """Warn when other work is running: with 2 threads on 2 busy cores, timings can be off by an order of magnitude."""
    load = load_average()
    if load is not None and load > (os.cpu_count() or 1):
        log(f"warning: 1-minute load average is {load} on {os.cpu_count()} cpus; timings will be noisy")
    return load


def environment(threads: int, load_start: float | None) -> dict:
    import torch

    return {
        "threads": threads,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_avg_1m_start": load_start,
        "load_avg_1m_end": load_average(),
    }


def mixed_problems(task, n: int, difficulties: range, seed: int) -> list:
    """``n`` problems of ``task``, difficulties drawn uniformly from ``difficulties``, reproducible from ``seed``."""
    rng = random.Random(seed)
    return [task.sample(rng, rng.choice(difficulties)) for _ in range(n)]


def deepest(accuracy: dict[int, float], threshold: float = 0.9) -> int:
    """The largest difficulty d with every difficulty 1..d at ``threshold`` or more (0: not even difficulty 1)."""
    best = 0
    for d in sorted(accuracy):
        if d != best + 1 or accuracy[d] < threshold:
            break
        best = d
    return best


class Bench:
    """One run of a benchmark: its name and arguments, its threads, the load and the time when it started.

    ``threads``: the count to report when the work runs in worker processes (each sets its own); by default this
    process takes ``set_threads()``'s count. A load over the cpu count is warned about on standard error.
    """

    def __init__(self, name: str, args: argparse.Namespace, threads: int | None = None) -> None:
        self.name, self.args = name, args
        self.quick: bool = args.quick
        self.threads = set_threads() if threads is None else threads
        self.load = check_idle()
        self.t0 = time.perf_counter()

    def seconds(self) -> float:
        """Wall seconds since the start, to a tenth."""
        return round(time.perf_counter() - self.t0, 1)

    @contextmanager
    def workdir(self) -> Iterator[Path]:
        """``--out`` when given (the runs stay there), else a temporary directory removed afterwards."""
        out = getattr(self.args, "out", None)
        if out is not None:
            yield out
            return
        with tempfile.TemporaryDirectory(prefix=f"selftaught-{self.name}-") as d:
            yield Path(d)

    def emit(self, metric: str, value: float | None, unit: str, **details: Any) -> None:
        """Print the last line of standard output: ``{"benchmark", "metric", "value", "unit", ...details, "quick",
        ...environment}`` as one JSON object."""
        result = {"benchmark": self.name, "metric": metric, "value": value, "unit": unit, **details}
        result |= {"quick": self.quick, **environment(self.threads, self.load)}
        sys.stdout.flush()
        print(json.dumps(result), flush=True)
