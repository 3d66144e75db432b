"""The output vote: attempts grouped by what they compute on the example inputs, never by the expected outputs."""

from __future__ import annotations

import random

import pytest

from selftaught.errors import SelftaughtError
from selftaught.tasks.list_functions import ListFunctions
from selftaught.types import Problem
from selftaught.verifiers.output_vote import OutputVote, example_inputs

TASK = ListFunctions()


def test_the_behaviour_most_attempts_share_is_accepted_whatever_the_spelling():
    p = TASK.sample(random.Random(2), 2)  # x[::-1][1:]
    same = ["x[::-1][1:]", "list(reversed(x))[1:]", "x[::-1][1:]"]
    scores = OutputVote(TASK).score(p, [*same, "x", "x[::-1][1:", "1/0"])
    assert [s.reward for s in scores] == pytest.approx([0.5, 0.5, 0.5, 1 / 6, 0.0, 0.0])
    assert [s.accepted for s in scores] == [True, True, True, False, False, False]
    assert scores[4].feedback == "output-vote: failed on an input"
    assert OutputVote(TASK).judge(p, [*same, "x"]).answer == "x[::-1][1:]"


def test_it_never_reads_the_expected_outputs():
    p = TASK.sample(random.Random(2), 2)
    wrong = {**p.meta, "tests": [t.split("==")[0] + "== 'nonsense'" for t in p.meta["tests"]]}
    q = Problem(p.task, p.difficulty, p.prompt, p.target, p.seed, None, wrong)
    attempts = ["x[::-1][1:]", "x[::-1][1:]", "x"]
    assert OutputVote(TASK).score(p, attempts) == OutputVote(TASK).score(q, attempts)


def test_batch_equals_one_by_one_and_problems_without_inputs_are_refused():
    rng = random.Random(5)
    batch = [(TASK.sample(rng, 1 + i % 2), ["x", "sorted(x)", "x[::-1]", "x"]) for i in range(6)]
    verifier = OutputVote(TASK)
    assert verifier.score_many(batch) == [verifier.score(p, a) for p, a in batch]
    entry, inputs = example_inputs(batch[0][0], batch[0][0].meta)
    assert entry == "f" and len(inputs) == len(batch[0][0].meta["tests"])
    with pytest.raises(SelftaughtError, match="no example inputs"):
        verifier.score(Problem("list-functions", 1, "L:=", "x", 0, None, {"tests": ["True"], "ops": []}), ["x"])
