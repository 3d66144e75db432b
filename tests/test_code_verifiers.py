"""The code verifiers: tests (share of tests passed, the first failure as feedback) and property (Hypothesis inputs,
properties checked on the sandbox's outputs, a shrunk counterexample as feedback)."""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import strategies as st

from selftaught.errors import SelftaughtError
from selftaught.sandbox import Limits, Sandbox
from selftaught.tasks.list_functions import ListFunctions
from selftaught.tasks.properties import PROPERTIES, Property, PropertySpec
from selftaught.types import Problem
from selftaught.verifiers import BUILTIN_VERIFIERS, AllOf, VoteVerifier
from selftaught.verifiers.property import PropertyVerifier, generate_inputs, simplifications
from selftaught.verifiers.tests import TestsVerifier


@pytest.fixture(scope="module")
def box():
    with Sandbox(Limits(time_s=1, cpu_s=1), workers=2) as sandbox:
        yield sandbox


class Spy:
    """A sandbox that records what it was asked to run."""

    def __init__(self, box: Sandbox) -> None:
        self.box = box
        self.batches: list[list] = []

    def run_many(self, items, limits=None):
        self.batches.append(list(items))
        return self.box.run_many(items, limits=limits)

    def call_many(self, items, limits=None):  # data tests (f(x) == literal) run as calls
        self.batches.append(list(items))
        return self.box.call_many(items, limits=limits)


def code_problem(tests=None, **meta) -> Problem:
    if tests is not None:
        meta["tests"] = tests
    return Problem("code", 1, f"write f {sorted(meta)} {tests}", None, 0, meta=meta)


ABS_TESTS = ["f(3) == 3", "assert f(-2) == 2", "f(0) == 0"]
GOOD = "def f(x):\n    return abs(x)\n"
HALF = "def f(x):\n    return x\n"  # right for 3 and 0, wrong for -2
BROKEN = "def f(x)\n    return x\n"
SLOW = "def f(x):\n    while True:\n        pass\n"


def test_tests_verifier_rewards_and_feedback_per_attempt(box) -> None:
    p = code_problem(ABS_TESTS)
    good, half, broken, slow = TestsVerifier(sandbox=box).score(p, [GOOD, HALF, BROKEN, SLOW])
    assert (good.reward, good.accepted, good.feedback) == (1.0, True, "")
    assert half.reward == pytest.approx(2 / 3) and not half.accepted
    assert half.feedback.startswith("tests: 2 of 3 passed; failed: assert f(-2) == 2")
    assert "got -2 == 2" in half.feedback
    assert (broken.reward, broken.accepted) == (0.0, False)
    assert "SyntaxError" in broken.feedback and "line 1: def f(x)" in broken.feedback
    assert (slow.reward, slow.accepted) == (0.0, False)
    assert "timeout" in slow.feedback


def test_tests_verifier_humaneval_style_tests(box) -> None:
    test = "def check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(-1, 1) == 0\n"
    p = code_problem(test=test, entry_point="add")
    right = "def add(a, b):\n    return a + b\n"
    wrong = "def add(a, b):\n    return a - b\n"
    missing = "def plus(a, b):\n    return a + b\n"
    s = TestsVerifier(sandbox=box).score(p, [right, wrong, missing])
    assert [x.reward for x in s] == [1.0, 0.0, 0.0]
    assert [x.accepted for x in s] == [True, False, False]
    assert "AssertionError" in s[1].feedback and "candidate(1, 2) == 3" in s[1].feedback
    assert "does not define 'add'" in s[2].feedback


def test_tests_verifier_runs_each_distinct_program_once_and_batches_equal_single_scores(box) -> None:
    spy = Spy(box)
    verifier = TestsVerifier(sandbox=spy)
    p1 = code_problem(ABS_TESTS)
    p2 = code_problem(["f(2) == 4", "f(3) == 9"])
    square = "def f(x):\n    return x * x\n"
    batch = [(p1, [GOOD, HALF, GOOD, GOOD, BROKEN]), (p2, [square, GOOD, square]), (p1, [HALF])]
    together = verifier.score_many(batch)
    assert len(spy.batches) == 1  # one call for the whole batch
    assert len(spy.batches[0]) == 5  # p1: GOOD, HALF, BROKEN; p2: square, GOOD
    alone = [TestsVerifier(sandbox=box).score(p, a) for p, a in batch]
    assert together == alone
    assert [s.reward for s in together[1]] == [1.0, 0.0, 1.0]


def test_tests_verifier_refuses_a_problem_without_tests(box) -> None:
    for p in (code_problem(), code_problem([]), Problem("code", 1, "f", None, 0)):
        with pytest.raises(SelftaughtError) as e:
            TestsVerifier(sandbox=box).score(p, [GOOD])
        assert "has no tests" in str(e.value) and "\n" not in str(e.value)


def test_tests_verifier_composes_with_the_vote(box) -> None:
    p = code_problem(ABS_TESTS)
    verifier = AllOf([TestsVerifier(sandbox=box), VoteVerifier(0.5)])
    attempts = [HALF, HALF, HALF, GOOD]  # the majority fails the tests; the right one has too few votes
    verdict = verifier.judge(p, attempts)
    assert verdict.answer is None
    v = verifier.judge(p, [GOOD, GOOD, HALF])
    assert v.answer == GOOD and v.evidence["tests"]["mean_reward"] == pytest.approx((1 + 1 + 2 / 3) / 3)
    assert BUILTIN_VERIFIERS["tests"] is TestsVerifier and BUILTIN_VERIFIERS["property"] is PropertyVerifier


# ---------------------------------------------------------------------------------------------------- property


class SortTask:
    """A task whose problems ask for a sorting function ``f``; the attempt is the whole program."""

    name = "sort"

    def __init__(self, checks=("sorted", "permutation"), reference=None) -> None:
        self.checks = checks
        self.reference = reference

    def properties(self, problem: Problem) -> PropertySpec:
        return PropertySpec(
            strategy=st.lists(st.integers(0, 9), max_size=6),
            checks=self.checks,
            reference=self.reference,
            assume=lambda xs: all(0 <= v <= 9 for v in xs),
        )


SORT = Problem("sort", 1, "sort x", None, 0)
SORTS = "def f(x):\n    return sorted(x)\n"
FORGETS_PAIRS = "def f(x):\n    return list(x) if len(x) == 2 else sorted(x)\n"


def test_property_verifier_finds_the_shrunk_counterexample(box) -> None:
    verifier = PropertyVerifier(SortTask(), examples=50, sandbox=box)
    right, wrong = verifier.score(SORT, [SORTS, FORGETS_PAIRS])
    assert (right.reward, right.accepted, right.feedback) == (1.0, True, "")
    assert not wrong.accepted and 0.0 < wrong.reward < 1.0
    # the simplest two-element descending list, whatever descending pair the generator hit first
    assert wrong.feedback.endswith("for x = [1, 0]: expected sorted output, got [1, 0]")
    assert wrong.feedback.startswith("property: ") and " of 50 inputs fail" in wrong.feedback


def test_property_verifier_is_deterministic_for_a_seed(box) -> None:
    strategy = st.lists(st.integers(0, 9), max_size=6)
    assert generate_inputs(strategy, 30, seed=3) == generate_inputs(strategy, 30, seed=3)
    assert generate_inputs(strategy, 30, seed=3) != generate_inputs(strategy, 30, seed=4)
    v = PropertyVerifier(SortTask(), examples=20, seed=2, sandbox=box)
    mine = v._inputs(strategy, "problem one")
    assert mine == PropertyVerifier(SortTask(), examples=20, seed=2, sandbox=box)._inputs(strategy, "problem one")
    assert len(mine) == 20 and mine != v._inputs(strategy, "problem two")  # each problem its own share of the pool
    first = PropertyVerifier(SortTask(), seed=1, sandbox=box).score(SORT, [FORGETS_PAIRS, SORTS])
    again = PropertyVerifier(SortTask(), seed=1, sandbox=box).score(SORT, [FORGETS_PAIRS, SORTS])
    assert first == again


def test_property_verifier_reports_errors_and_wrong_types(box) -> None:
    verifier = PropertyVerifier(SortTask(), examples=30, sandbox=box)
    crash = "def f(x):\n    return sorted(x) if x else 1 / 0\n"
    as_tuple = "def f(x):\n    return tuple(sorted(x))\n"
    not_loading = "def f(x) return x\n"
    c, t, n = verifier.score(SORT, [crash, as_tuple, not_loading])
    assert c.feedback.endswith("for x = []: raised ZeroDivisionError: division by zero")
    assert c.reward == pytest.approx(29 / 30)
    assert t.feedback.endswith("for x = []: expected sorted output, got ()")
    assert n.reward == 0.0 and "the program did not load: SyntaxError" in n.feedback


def test_property_verifier_checks_agreement_with_a_reference(box) -> None:
    task = SortTask(checks=(), reference=lambda xs: sorted(xs, reverse=True))
    verifier = PropertyVerifier(task, examples=40, sandbox=box)
    (ascending,) = verifier.score(SORT, [SORTS])
    assert ascending.feedback.endswith("for x = [0, 1]: expected [1, 0], got [0, 1]")
    descending = "def f(x):\n    return sorted(x)[::-1]\n"
    assert verifier.score(SORT, [descending])[0].accepted


def test_property_verifier_timeout_is_feedback_not_a_hang(box) -> None:
    slow = "def f(x):\n    while len(x) > 3:\n        pass\n    return sorted(x)\n"
    (s,) = PropertyVerifier(SortTask(), examples=30, sandbox=box).score(SORT, [slow])
    assert not s.accepted and 0.0 < s.reward < 1.0
    # Wall-clock and CPU time are both limited to 1 s: which is reached first depends on the machine's load.
    assert re.search(r"timeout: (wall-clock|CPU time) limit of 1 s reached", s.feedback), s.feedback


def test_property_verifier_batches_equal_single_scores(box) -> None:
    task = ListFunctions(sandbox=box)
    problems = [task.sample(random.Random(seed), 2) for seed in range(3)]
    batch = [(p, [p.target, "x", "sorted(x)", p.target, "x[::-1]"]) for p in problems]
    spy = Spy(box)
    verifier = PropertyVerifier(task, examples=30, sandbox=spy)
    together = verifier.score_many(batch)
    assert len(spy.batches[0]) == sum(len(set(a)) for _, a in batch)  # each distinct attempt once, one batch
    alone = [PropertyVerifier(task, examples=30, sandbox=box).score(p, a) for p, a in batch]
    assert together == alone
    for scores in together:
        assert scores[0].accepted and scores[3].accepted


def test_property_verifier_on_list_functions_uses_the_hidden_composition(box) -> None:
    task = ListFunctions(sandbox=box)
    p = Problem("list-functions", 2, "L:[3,1,2]>[3,2] [5,0]>[5] [4,9]>[9]=", "sorted(x)[::-1][:2]", 0)
    p = Problem(p.task, p.difficulty, p.prompt, p.target, 0, meta=task.meta_of(p))
    verifier = PropertyVerifier(task, examples=40, sandbox=box)
    right, equivalent, wrong = verifier.score(p, [p.target, "sorted(x,reverse=True)[:2]", "sorted(x)[::-1][:1]"])
    assert right.accepted and equivalent.accepted
    assert wrong.feedback.endswith("for x = [0, 0]: expected [0, 0], got [0]")


def test_property_verifier_refuses_unknown_properties_and_tasks_without_them(box) -> None:
    with pytest.raises(SelftaughtError) as e:
        PropertyVerifier(SortTask(checks=("sorted", "sortd")), sandbox=box).score(SORT, [SORTS])
    assert "unknown property 'sortd'" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(SelftaughtError) as e:
        PropertyVerifier(object(), sandbox=box)
    assert "declares no properties" in str(e.value)

    class NoSpec(SortTask):
        def properties(self, problem):
            return None

    with pytest.raises(SelftaughtError, match="declares no properties for problem 'sort x'"):
        PropertyVerifier(NoSpec(), sandbox=box).score(SORT, [SORTS])


def test_custom_properties_and_simplifications() -> None:
    even = Property("even-length", lambda x, y: len(y) % 2 == 0, "an output of even length")
    assert even.holds([1], [1, 2]) and not even.holds([1], [1])
    assert {"sorted", "permutation", "subsequence", "elements"} <= set(PROPERTIES)
    assert PROPERTIES["subsequence"].holds([3, 1, 2], [3, 2]) and not PROPERTIES["subsequence"].holds([3, 1], [1, 3])
    steps = simplifications([5, 3])
    assert [] in steps and [3] in steps and [0, 3] in steps and [5, 0] in steps
    assert all(len(s) == 2 for s in simplifications((5, "ab"), keep_length=True))
    assert simplifications(0) == [] and -3 in simplifications(-6) and 3 in simplifications(-3)


def test_config_names_build_the_code_verifiers_with_the_task() -> None:
    from selftaught.config import load_experiment
    from selftaught.run.build import build_verifier

    exp, _ = load_experiment(
        preset="smoke",
        overrides=[
            "task.name=selftaught.tasks.list_functions:ListFunctions",
            'verifier.filters=["tests","property","vote"]',
        ],
    )
    task = ListFunctions()
    verifier = build_verifier(exp, task)
    assert isinstance(verifier, AllOf)
    tests, prop, vote = verifier.verifiers
    assert isinstance(tests, TestsVerifier) and tests.task is task
    assert isinstance(prop, PropertyVerifier) and prop.task is task
    assert isinstance(vote, VoteVerifier)
