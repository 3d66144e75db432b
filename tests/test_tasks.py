"""Behaviour of the built-in tasks: reproducible sampling, exact answers, length rules and prompt formats."""

from __future__ import annotations

import random
import re
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selftaught.errors import SelftaughtError
from selftaught.tasks import BUILTIN_TASKS, Task
from selftaught.tasks.arithmetic import Addition, Multiplication, ReversedAddition
from selftaught.tasks.strings import Copy, Reversal, Sorting
from selftaught.types import Problem

# The string and arithmetic tasks: built without arguments, any difficulty (the code tasks have their own tests).
TASK_NAMES = ["reversed-addition", "addition", "multiplication", "copy", "reversal", "sorting"]
seeds = st.integers(min_value=0, max_value=2**32 - 1)
difficulties = st.integers(min_value=1, max_value=60)


def make(name: str) -> Task:
    return BUILTIN_TASKS[name]()


def problem(task: Task, prompt: str, difficulty: int = 3) -> Problem:
    return Problem(task=task.name, difficulty=difficulty, prompt=prompt, target=None, seed=0)


def test_registry_lists_the_builtin_tasks_under_their_names() -> None:
    assert list(BUILTIN_TASKS) == [*TASK_NAMES, "list-functions", "jsonl"]
    for name, cls in BUILTIN_TASKS.items():
        assert issubclass(cls, Task)
        assert cls.name == name
        assert cls.description and "\n" not in cls.description and "=" in cls.description
        assert cls.min_difficulty == 1
        assert cls.example_difficulty == 3 or name in ("list-functions", "jsonl")


@pytest.mark.parametrize("name", TASK_NAMES)
def test_same_seed_gives_the_same_problem(name: str) -> None:
    task = make(name)
    first = [task.sample(random.Random(7), d) for d in (1, 5, 40)]
    again = [task.sample(random.Random(7), d) for d in (1, 5, 40)]
    assert first == again
    others = {task.sample(random.Random(seed), 20).prompt for seed in range(20)}
    assert len(others) == 20


@pytest.mark.parametrize("name", TASK_NAMES)
@settings(max_examples=50, deadline=None)
@given(seed=seeds, difficulty=difficulties)
def test_sampled_problem_fields_and_target(name: str, seed: int, difficulty: int) -> None:
    task = make(name)
    p = task.sample(random.Random(seed), difficulty)
    assert (p.task, p.difficulty, p.seed) == (name, difficulty, 0)
    assert p.target == task.answer(p)
    assert task.check(p, p.target) == 1.0
    assert task.plausible(p, p.target)
    assert len(p.target) <= task.max_answer_len(difficulty)
    assert all(32 <= ord(ch) <= 126 for ch in p.prompt)
    assert p.prompt.endswith("=")


def rev_int(text: str) -> int:
    return int(text[::-1])


@settings(max_examples=200, deadline=None)
@given(seed=seeds, difficulty=difficulties)
def test_reversed_addition_answer_is_the_reversed_sum(seed: int, difficulty: int) -> None:
    p = ReversedAddition().sample(random.Random(seed), difficulty)
    a, b = re.fullmatch(r"(\d+)\+(\d+)=", p.prompt).groups()
    assert len(a) == len(b) == difficulty
    if difficulty > 1:  # reversed, so the most significant digit is the last character
        assert a[-1] != "0" and b[-1] != "0"
    assert rev_int(p.target) == rev_int(a) + rev_int(b)
    assert p.target == str(rev_int(a) + rev_int(b))[::-1]


@settings(max_examples=100, deadline=None)
@given(seed=seeds, difficulty=difficulties)
def test_addition_answer_is_the_sum(seed: int, difficulty: int) -> None:
    p = Addition().sample(random.Random(seed), difficulty)
    a, b = re.fullmatch(r"A:(\d+)\+(\d+)=", p.prompt).groups()
    assert len(a) == len(b) == difficulty
    assert p.target == str(int(a) + int(b))


@settings(max_examples=100, deadline=None)
@given(seed=seeds, difficulty=difficulties)
def test_multiplication_answer_is_the_reversed_product(seed: int, difficulty: int) -> None:
    p = Multiplication().sample(random.Random(seed), difficulty)
    a, m = re.fullmatch(r"(\d+)\*(\d)=", p.prompt).groups()
    assert len(a) == difficulty and 1 <= int(m) <= 9
    assert p.target == str(rev_int(a) * int(m))[::-1]


@settings(max_examples=100, deadline=None)
@given(seed=seeds, difficulty=difficulties)
def test_string_tasks_answers(seed: int, difficulty: int) -> None:
    copy = Copy().sample(random.Random(seed), difficulty)
    s = copy.prompt[2:-1]
    assert copy.prompt == f"C:{s}=" and len(s) == difficulty and set(s) <= set(string.ascii_lowercase)
    assert copy.target == s
    reversal = Reversal().sample(random.Random(seed), difficulty)
    assert reversal.target == reversal.prompt[2:-1][::-1]
    sorting = Sorting().sample(random.Random(seed), difficulty)
    digits = sorting.prompt[2:-1]
    assert len(digits) == difficulty and digits.isdigit()
    assert sorting.target == "".join(sorted(digits))


@pytest.mark.parametrize(
    ("task", "prompt", "answer"),
    [
        (ReversedAddition(), "821+054=", "875"),  # 128 + 450 = 578
        (ReversedAddition(), "99+99=", "891"),  # 99 + 99 = 198
        (ReversedAddition(), "0+0=", "0"),
        (ReversedAddition(), "5+5=", "01"),
        (Addition(), "A:128+450=", "578"),
        (Addition(), "A:999+1=", "1000"),
        (Multiplication(), "821*4=", "215"),  # 128 * 4 = 512
        (Multiplication(), "999*9=", "1998"),  # 999 * 9 = 8991
        (Multiplication(), "0*7=", "0"),
        (Copy(), "C:abc=", "abc"),
        (Reversal(), "R:abc=", "cba"),
        (Sorting(), "S:3141=", "1134"),
    ],
)
def test_hand_written_answers(task: Task, prompt: str, answer: str) -> None:
    p = problem(task, prompt)
    assert task.answer(p) == answer
    assert task.check(p, answer) == 1.0
    assert task.check(p, answer + "0") == 0.0
    assert task.check(p, " " + answer) == 0.0


def test_operand_ranges_cover_zero_at_difficulty_one_and_no_leading_zero_above() -> None:
    rng = random.Random(0)
    one_digit = {ReversedAddition().sample(rng, 1).prompt[0] for _ in range(500)}
    assert one_digit == set("0123456789")
    two_digit_high = {ReversedAddition().sample(rng, 2).prompt[1] for _ in range(500)}
    assert two_digit_high == set("123456789")


def test_very_long_operands_beyond_int_string_limits() -> None:
    # 5000 digits is past Python's default int/str conversion limit (4300 digits).
    task = ReversedAddition()
    p = task.sample(random.Random(3), 5000)
    assert task.plausible(p, p.target)
    a, b = p.prompt[:-1].split("+")
    k = 1000  # the low k digits of a sum depend only on the low k digits of its operands
    low = (rev_int(a[:k]) + rev_int(b[:k])) % 10**k
    assert p.target[:k] == str(low).zfill(k)[::-1]


@pytest.mark.parametrize(
    ("task", "prompt", "good", "bad"),
    [
        (ReversedAddition(), "821+054=", ["875", "8751", "000"], ["87", "87512", "87a", "", "87 ", "8\u00b25", "-875"]),
        (Addition(), "A:128+450=", ["578", "1578"], ["57", "15789", "5x8", ""]),
        (Multiplication(), "821*4=", ["215", "2150"], ["21", "21500", "2.5", ""]),
        (Copy(), "C:abc=", ["abc", "zzz"], ["ab", "abcd", "ABC", "a1c", ""]),
        (Reversal(), "R:abc=", ["cba", "qqq"], ["cb", "cbaa", "CBA", "c c", ""]),
        (Sorting(), "S:3141=", ["1134", "9999"], ["113", "11344", "11a4", ""]),
    ],
)
def test_plausible_accepts_right_length_and_alphabet_only(
    task: Task, prompt: str, good: list[str], bad: list[str]
) -> None:
    p = problem(task, prompt)
    assert task.plausible(p, task.answer(p))
    for answer in good:
        assert task.plausible(p, answer), answer
    for answer in bad:
        assert not task.plausible(p, answer), answer


def test_integer_like_difficulty_becomes_a_plain_int() -> None:
    class Index:
        def __index__(self) -> int:
            return 4

    p = ReversedAddition().sample(random.Random(0), Index())  # type: ignore[arg-type]
    assert type(p.difficulty) is int and p.difficulty == 4 and len(p.target) in (4, 5)


@pytest.mark.parametrize("name", TASK_NAMES)
def test_max_answer_len(name: str) -> None:
    task = make(name)
    arithmetic = name in ("reversed-addition", "addition", "multiplication")
    assert task.max_answer_len(7) == (8 if arithmetic else 7)
    with pytest.raises(ValueError):
        task.max_answer_len(0)


@pytest.mark.parametrize("name", TASK_NAMES)
@pytest.mark.parametrize("difficulty", [0, -1])
def test_difficulty_below_one_raises(name: str, difficulty: int) -> None:
    with pytest.raises(ValueError, match=rf"difficulty {difficulty} out of range for task {name} \(>= 1\)"):
        make(name).sample(random.Random(0), difficulty)


@pytest.mark.parametrize("difficulty", [2.0, "3", True, None])
def test_non_int_difficulty_raises(difficulty: object) -> None:
    with pytest.raises(TypeError, match="must be an int"):
        ReversedAddition().sample(random.Random(0), difficulty)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", TASK_NAMES)
@settings(max_examples=30, deadline=None)
@given(seed=seeds, difficulty=difficulties)
def test_prompts_are_printable_ascii_and_no_other_task_accepts_them(name: str, seed: int, difficulty: int) -> None:
    p = make(name).sample(random.Random(seed), difficulty)
    assert all(32 <= ord(ch) <= 126 for ch in p.prompt + p.target)
    for other in TASK_NAMES:
        if other != name:
            with pytest.raises(SelftaughtError):
                make(other).answer(p)


@pytest.mark.parametrize(
    ("name", "marker"),
    [("addition", "A:"), ("copy", "C:"), ("reversal", "R:"), ("sorting", "S:")],
)
def test_prefixed_tasks_start_with_their_marker(name: str, marker: str) -> None:
    rng = random.Random(1)
    assert all(make(name).sample(rng, d).prompt.startswith(marker) for d in range(1, 30))


def test_unmarked_arithmetic_prompts_differ_by_operator() -> None:
    rng = random.Random(1)
    for d in range(1, 30):
        assert re.fullmatch(r"[0-9]+\+[0-9]+=", ReversedAddition().sample(rng, d).prompt)
        assert re.fullmatch(r"[0-9]+\*[1-9]=", Multiplication().sample(rng, d).prompt)


@pytest.mark.parametrize("name", TASK_NAMES)
def test_malformed_prompt_is_a_user_error(name: str) -> None:
    task = make(name)
    with pytest.raises(SelftaughtError, match=name):
        task.answer(problem(task, "hello"))
    with pytest.raises(SelftaughtError):
        task.plausible(problem(task, ""), "1")


# ------------------------------------------------------------------------------------- splitting into parts
@given(st.integers(2, 40), st.integers(0, 2**32))
def test_reversed_addition_splits_into_two_shorter_problems_of_its_own_kind(digits: int, seed: int) -> None:
    task = ReversedAddition()
    p = task.sample(random.Random(seed), digits)
    parts = task.split(p, random.Random(seed + 1))
    if parts is None:  # only when every cut would leave a low part with a leading zero
        a, b = task._operands(p.prompt)
        assert all(a[k - 1] == "0" or b[k - 1] == "0" for k in range(1, digits))
        return
    low, high = parts
    assert low.difficulty + high.difficulty == digits and low.difficulty >= 1 and high.difficulty >= 1
    for part in parts:
        a, b = task._operands(part.prompt)  # the task's own format, parsed back
        assert len(a) == len(b) == part.difficulty
        assert part.difficulty == 1 or (a[-1] != "0" and b[-1] != "0")  # no leading zero (numbers are reversed)
        assert part.target is None
    # Joined from the true part answers: the true answer exactly when no carry crosses the cut, else nothing.
    answers = [task.answer(part) for part in parts]
    joined = task.join(p, parts, answers)
    if len(answers[0]) == low.difficulty:
        assert joined == p.target
    else:
        assert joined is None


def test_split_cut_depends_only_on_the_rng() -> None:
    task = ReversedAddition()
    p = task.sample(random.Random(0), 12)
    assert task.split(p, random.Random(5)) == task.split(p, random.Random(5))
    assert len({task.split(p, random.Random(s))[0].difficulty for s in range(40)}) > 3


def test_split_of_one_digit_or_all_zero_low_digits_is_none() -> None:
    task = ReversedAddition()
    assert task.split(Problem(task.name, 1, "7+8=", "51", 0), random.Random(0)) is None
    # 10 + 10 is written 01+01: the only cut would leave low parts ending in a zero, which split never makes.
    assert task.split(Problem(task.name, 2, "01+01=", "02", 0), random.Random(0)) is None


def test_join_rejects_malformed_part_answers() -> None:
    task = ReversedAddition()
    p = Problem(task.name, 4, "1234+5678=", None, 0)
    parts = task.split(p, random.Random(0))
    k = parts[0].difficulty
    assert task.join(p, parts, ["x" * k, "12"]) is None
    assert task.join(p, parts, ["1" * k, ""]) is None
    assert task.join(p, parts, ["1" * (k + 1), "12"]) is None  # a carry crosses the cut


def test_tasks_without_a_split_rule_return_none() -> None:
    for cls in (Addition, Multiplication, Copy, Reversal, Sorting):
        task = cls()
        p = task.sample(random.Random(0), 4)
        assert task.split(p, random.Random(0)) is None
        assert task.join(p, [], []) is None
