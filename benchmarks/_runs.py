"""Runs of the loop that several benchmarks make (not a benchmark itself): a run of a preset, round 0 trained once
and copied into arms that continue from it, and a run's held-out loss."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import torch

from selftaught.config import experiment_toml, load_experiment
from selftaught.run.loop import Loop, LoopCallback
from selftaught.store import Store
from selftaught.students.builtin import GPTStudent
from selftaught.types import Example


def run_experiment(run_dir, overrides: list[str], preset: str = "quickstart"):
    """Run the loop on ``preset`` with ``--set`` style ``overrides`` into ``run_dir``; return the open store."""
    exp, text = load_experiment(preset=preset, overrides=overrides)
    loop = Loop.create(run_dir, exp, text)
    loop.run()
    return loop.store


def held_out_loss(run_dir, store, difficulties: range) -> float:
    """Mean cross-entropy per answer token of the run's newest model 0 on its held-out problems at
    ``difficulties`` (teacher forcing on the true answers)."""
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
    """Raised by ``StopAt(n)`` when round ``n``'s first phase starts."""


class StopAt(LoopCallback):
    """A loop callback that ends a run (by raising ``StopAtRound``) as round ``n`` begins: rounds before it are
    complete, nothing of round ``n`` is recorded."""

    def __init__(self, n: int) -> None:
        self.n = n

    def on_phase_start(self, round_: int, phase: str) -> None:
        if round_ >= self.n:
            raise StopAtRound(self.n)


def train_round_zero(run_dir, preset: str, overrides: list[str]) -> float:
    """Round 0 of ``preset`` with ``overrides``, trained once in ``run_dir`` and stopped as round 1 begins (the
    start that ``run_fork`` copies for each arm); its wall seconds."""
    exp, text = load_experiment(preset=preset, overrides=overrides)
    t0 = time.perf_counter()
    loop = Loop.create(run_dir, exp, text, callbacks=[StopAt(1)])
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
    fork_run(start, run_dir, overrides)
    t0 = time.perf_counter()
    loop = Loop.resume(run_dir)
    try:
        reason = loop.run()
    finally:
        loop.close()
    return reason, time.perf_counter() - t0, loop.exp
