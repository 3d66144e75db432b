"""Helpers shared by the benchmark scripts (not a benchmark itself).

Contract (DESIGN.md, "Benchmarks contract"): ``python benchmarks/NAME.py [--quick]`` compares side by side in one
run (A B A B ..., medians, ratios) and its last line of standard output is one JSON object.
Progress goes to standard error so that standard output holds only the final JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable

import torch

DEFAULT_THREADS = 2


def set_threads() -> int:
    """Use 2 threads unless ``BENCH_THREADS`` (or else ``OMP_NUM_THREADS``) says otherwise; return the count."""
    raw = os.environ.get("BENCH_THREADS") or os.environ.get("OMP_NUM_THREADS")
    try:
        n = int(raw) if raw else DEFAULT_THREADS
    except ValueError:
        n = DEFAULT_THREADS
    n = max(1, n)
    torch.set_num_threads(n)
    return n


def parser(description: str) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--quick", action="store_true", help="a smaller run (under a minute on 2 cores), same metric")
    return ap


def parse_args(description: str) -> argparse.Namespace:
    return parser(description).parse_args()


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


def emit(result: dict) -> None:
    """Print the result as the last line of standard output."""
    sys.stdout.flush()
    print(json.dumps(result), flush=True)


class Stopwatch:
    def __enter__(self) -> Stopwatch:
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self.t0


def run_experiment(run_dir, overrides: list[str], preset: str = "quickstart"):
    """Run the loop on ``preset`` with ``--set`` style ``overrides`` into ``run_dir``; return the open store."""
    from selftaught.config import load_experiment
    from selftaught.run.loop import Loop

    exp, text = load_experiment(preset=preset, overrides=overrides)
    loop = Loop.create(run_dir, exp, text)
    loop.run()
    return loop.store


def held_out_loss(run_dir, store, difficulties: range) -> float:
    """Mean cross-entropy per answer token of the run's newest model 0 on its held-out problems at
    ``difficulties`` (teacher forcing on the true answers)."""
    from selftaught.students.builtin import GPTStudent
    from selftaught.types import Example

    last = max(r["round"] for r in store.rounds())
    student = GPTStudent.load(run_dir / store.checkpoints(last)[0], device="cpu")
    examples = [
        Example(p.prompt, p.target, p.difficulty, "labelled", 0, p.task)
        for _, p in store.eval_problems()
        if p.difficulty in difficulties and p.target is not None
    ]
    total, tokens = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(examples), 256):
            inputs, targets, _ = student.encode_examples(examples[i : i + 256])
            _, loss = student.model(inputs, targets)
            n = int((targets != -100).sum())
            total += float(loss) * n
            tokens += n
    return total / tokens


def fork_run(src, dst, overrides: list[str]) -> None:
    """A copy of the run in ``src`` at ``dst`` whose remaining rounds follow ``overrides`` (``--set`` items) on top of
    its resolved config: arms of a comparison that start from the same recorded rounds (round 0's checkpoint, say).

    The recorded rounds are the source's; only what runs next changes. Take it between rounds, with the source
    closed (a loop stopped by a callback at the next round's first phase, as ``StopAtRound`` does)."""
    import json
    import shutil
    from pathlib import Path

    from selftaught.config import experiment_toml, load_experiment
    from selftaught.store import Store

    src, dst = Path(src), Path(dst)
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".lock"))
    exp, _ = load_experiment(dst / "config.toml", overrides=overrides)
    store = Store.open(dst / "run.db")
    try:
        with store.transaction():
            store.set_meta(config=json.dumps(exp.model_dump(mode="json")), run_id=f"{store.run_id}-{dst.name}")
    finally:
        store.close()
    (dst / "config.toml").write_text(experiment_toml(exp))


class StopAtRound(Exception):
    """Raised by ``stop_at_round(n)``'s callback when round ``n``'s first phase starts."""


def stop_at_round(n: int):
    """A loop callback that ends a run (by raising ``StopAtRound``) as round ``n`` begins: rounds before it are
    complete, nothing of round ``n`` is recorded."""
    from selftaught.run.loop import LoopCallback

    class _Stop(LoopCallback):
        def on_phase_start(self, round_: int, phase: str) -> None:
            if round_ >= n:
                raise StopAtRound(n)

    return _Stop()


def train_round_zero(run_dir, preset: str, overrides: list[str]) -> float:
    """Round 0 of ``preset`` with ``overrides``, trained once in ``run_dir`` and stopped as round 1 begins (the
    start that ``run_fork`` copies for each arm); its wall seconds."""
    from selftaught.config import load_experiment
    from selftaught.run.loop import Loop

    exp, text = load_experiment(preset=preset, overrides=overrides)
    t0 = time.perf_counter()
    loop = Loop.create(run_dir, exp, text, callbacks=[stop_at_round(1)])
    try:
        loop.run()
    except StopAtRound:
        pass
    finally:
        loop.close()
    return time.perf_counter() - t0


def run_fork(start, run_dir, overrides: list[str]):
    """The remaining rounds of a copy of ``start`` (``fork_run``) with ``overrides``: (stop reason, wall seconds,
    the arm's experiment)."""
    from selftaught.run.loop import Loop

    fork_run(start, run_dir, overrides)
    t0 = time.perf_counter()
    loop = Loop.resume(run_dir)
    try:
        reason = loop.run()
    finally:
        loop.close()
    return reason, time.perf_counter() - t0, loop.exp
