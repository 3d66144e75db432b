"""Votes over outputs: run every attempt on the problem's example inputs and accept the behaviour most attempts share.

The expected outputs are never read: programs are grouped by what they compute on the inputs (the idea of
clustering samples by behaviour, as in AlphaCode and CodeT), and an attempt's reward is the share of the problem's
attempts that compute exactly what it computes. It is accepted when that share reaches ``threshold`` and it ran
cleanly on every input. It is the self-consistency of code: a check with no oracle and no expected output, for
comparison with the ``tests`` verifier.

The inputs are the arguments of the problem's asserts of the form ``f(ARGS) == ...`` (``meta["tests"]``); the entry
point is ``meta["entry_point"]`` or ``f``. Attempts run only in the sandbox.
"""

from __future__ import annotations

import ast
import secrets
from collections import Counter
from collections.abc import Sequence
from typing import Any

from selftaught.errors import SelftaughtError
from selftaught.sandbox import Limits, Sandbox
from selftaught.sandbox.jobs import problem_meta, program_for, run_jobs
from selftaught.types import Problem
from selftaught.verifiers.base import Score, Verifier
from selftaught.verifiers.outputs import driver, read_outputs


def example_inputs(problem: Problem, meta: dict) -> tuple[str, list[tuple[Any, ...]]]:
    """The entry point and the argument tuple of each ``entry(ARGS) == ...`` assert in ``meta["tests"]``."""
    entry = meta.get("entry_point") or "f"
    inputs = []
    for test in meta.get("tests") or []:
        try:
            node = ast.parse(test.removeprefix("assert ").strip(), mode="eval").body
            if not (isinstance(node, ast.Compare) and isinstance(node.left, ast.Call)):
                continue
            call = node.left
            if isinstance(call.func, ast.Name) and call.func.id == entry and not call.keywords:
                inputs.append(tuple(ast.literal_eval(a) for a in call.args))
        except (SyntaxError, ValueError):
            continue
    if not inputs:
        raise SelftaughtError(
            f"output-vote: problem {problem.prompt[:60]!r} of task {problem.task!r} has no example inputs "
            f"(asserts of the form {entry}(ARGS) == ... in meta['tests'])"
        )
    return entry, inputs


class OutputVote(Verifier):
    """Accepts the most common behaviour on the example inputs when its share reaches ``threshold``."""

    name = "output-vote"

    def __init__(
        self, task: Any = None, threshold: float = 0.5, sandbox: Sandbox | None = None, limits: Limits | None = None
    ) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold {threshold!r} for the output vote must be in (0, 1]")
        self.task, self.threshold, self.sandbox = task, threshold, sandbox
        self.limits = limits if limits is not None else getattr(task, "limits", None)

    def score(self, problem: Problem, attempts: list[str]) -> list[Score]:
        return self.score_many([(problem, attempts)])[0]

    def score_many(self, batch: Sequence[tuple[Problem, list[str]]]) -> list[list[Score]]:
        nonce = secrets.token_hex(8)
        jobs, shapes = [], []
        for problem, attempts in batch:
            entry, inputs = example_inputs(problem, problem_meta(problem, self.task))
            test = driver(inputs, entry, True, nonce)
            jobs.extend((program_for(self.task, problem, a), test, None) for a in attempts)
            shapes.append(len(inputs))
        results = run_jobs(jobs, self.sandbox, self.limits)
        out, k = [], 0
        for (_, attempts), n in zip(batch, shapes, strict=True):
            behaviours = []
            for r in results[k : k + len(attempts)]:
                outcomes = read_outputs(r, n, nonce)
                behaviours.append(repr(outcomes) if all(kind == "ok" for kind, _ in outcomes) else None)
            k += len(attempts)
            votes = Counter(b for b in behaviours if b is not None)
            scores = []
            for b in behaviours:
                share = votes[b] / len(attempts) if b is not None else 0.0
                ok = b is not None and share >= self.threshold
                why = (
                    ""
                    if ok
                    else ("output-vote: failed on an input" if b is None else f"output-vote: {share:.0%} agree")
                )
                scores.append(Score(share, ok, why))
            out.append(scores)
        return out

    def __repr__(self) -> str:
        return f"OutputVote(threshold={self.threshold!r})"
