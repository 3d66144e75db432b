"""The rows of a HumanEval / MBPP-format JSON-lines file, read into the records ``JsonlProblems`` serves: the prompt
(HumanEval's as it is, MBPP's description with the function to write and its tests), the tests, the reference
solution, and the types the property verifier draws inputs of."""

from __future__ import annotations

import ast
import builtins
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from selftaught.errors import SelftaughtError
from selftaught.tasks.properties import resolve_properties

_TYPE = re.compile(r"\s*(int|bool|str|list\[(.+)\]|tuple\[(.+)\])\s*")
_BUILTINS = frozenset(dir(builtins))


def strategy_for(spec: str, where: str) -> Any:
    """A Hypothesis strategy for a type written as ``int``, ``bool``, ``str``, ``list[T]`` or ``tuple[T, ...]``."""
    from hypothesis import strategies as st

    m = _TYPE.fullmatch(spec)
    if m is None:
        raise SelftaughtError(f"{where}: input type {spec!r} is not int, bool, str, list[T] or tuple[T, U, ...]")
    head = m.group(1)
    if head == "int":
        return st.integers(-10, 10)
    if head == "bool":
        return st.booleans()
    if head == "str":
        return st.text("abcdefghijklmnopqrstuvwxyz ", max_size=10)
    if m.group(2) is not None:
        return st.lists(strategy_for(m.group(2), where), max_size=6)  # short lists already break most programs
    return st.tuples(*(strategy_for(part, where) for part in _split_types(m.group(3))))


def _split_types(text: str) -> list[str]:
    """'int, list[int]' -> ['int', 'list[int]'] (commas inside brackets kept)."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += ch == "["
        depth -= ch == "]"
        if ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    return [*parts, text[start:]]


def is_code(text: str) -> bool:
    try:
        ast.parse(text)
    except (SyntaxError, ValueError):
        return False
    return True


def mbpp_prompt(text: str, signature: str, tests: Sequence[str]) -> str:
    """An MBPP row's prompt: its description, the function to write and the tests it must pass, one a line (the
    tests come last, so a relabelled problem shows its own tests in their place)."""
    head = f"{text.strip()}\nYour code should define {signature} and pass these tests:\n"
    return head + test_block(tests)


def test_block(tests: Sequence[str]) -> str:
    return "".join(f"{t.strip()}\n" for t in tests)


def _signature(tests: Sequence[str], solution: str | None, entry: str | None) -> str:
    """``name(args)`` of the function an MBPP row asks for, from its reference code when it has one; else its name
    (the ``entry_point``, or the first function the tests call that is not a built-in)."""
    called: list[str] = []
    for test in tests:
        try:
            tree = ast.parse(test)
        except (SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id not in called:
                called.append(node.func.id)
    defined: dict[str, ast.FunctionDef] = {}
    if solution:
        try:
            tree = ast.parse(solution)
        except (SyntaxError, ValueError):
            tree = None
        for node in tree.body if tree is not None else []:
            if isinstance(node, ast.FunctionDef):
                defined.setdefault(node.name, node)
    names = [entry] if entry else [n for n in called if n in defined] or [n for n in called if n not in _BUILTINS]
    if not names:
        return "the function"
    node = defined.get(names[0])
    return f"{names[0]}({ast.unparse(node.args)})" if node is not None else names[0]


def read_row(path: Path, line: str, number: int) -> dict:
    """Line ``number`` of the file at ``path`` as a record (prompt, tests in its meta, solution, difficulty,
    properties); a row that is not a problem is a one-line ``SelftaughtError`` naming the line."""
    where = f"{path} line {number}"
    try:
        raw = json.loads(line)
    except json.JSONDecodeError as e:
        raise SelftaughtError(f"{where}: not valid JSON ({e.msg} at column {e.colno})") from None
    if not isinstance(raw, dict):
        raise SelftaughtError(f"{where}: expected a JSON object, got {type(raw).__name__}")
    name = str(raw.get("task_id", f"line {number}"))
    prompt = raw.get("prompt", raw.get("text"))
    if not isinstance(prompt, str) or not prompt.strip():
        raise SelftaughtError(f"{where}: problem {name!r} has no 'prompt' (or 'text')")
    described = "prompt" not in raw  # MBPP: a description, shown with the function to write and its tests
    meta: dict[str, Any] = {"task_id": name}
    tests = raw.get("test_list", raw.get("tests"))
    test, entry = raw.get("test"), raw.get("entry_point")
    if entry is not None and not (isinstance(entry, str) and entry.isidentifier()):
        raise SelftaughtError(f"{where}: problem {name!r} has entry_point {entry!r}, not a Python name")
    if isinstance(entry, str):
        meta["entry_point"] = entry
    if isinstance(test, str) and test.strip() and isinstance(entry, str):
        # A HumanEval test may call helpers its prompt defines (poly, is_palindrome); a completion could redefine
        # them, so the test program defines them itself, from the trusted prompt, before its check.
        meta["test"] = _with_helpers(prompt, entry, test) if not described else test
    elif isinstance(tests, list) and tests and all(isinstance(t, str) and t.strip() for t in tests):
        setup = raw.get("test_setup_code") or ""
        meta["tests"] = [f"{setup}\n{t}" if setup.strip() else t for t in tests]
    else:
        raise SelftaughtError(
            f"{where}: problem {name!r} has no tests ('test' with 'entry_point', or a non-empty 'test_list')"
        )
    difficulty = raw.get("difficulty", 1)
    if isinstance(difficulty, bool) or not isinstance(difficulty, int) or difficulty < 1:
        raise SelftaughtError(f"{where}: problem {name!r} has difficulty {difficulty!r}, not a whole number >= 1")
    solution = raw.get("canonical_solution", raw.get("code"))
    if solution is not None and not isinstance(solution, str):
        raise SelftaughtError(f"{where}: problem {name!r} has a canonical_solution that is not a string")
    if described and "tests" in meta:
        prompt = mbpp_prompt(prompt, _signature(tests, solution, meta.get("entry_point")), tests)
    elif described:  # a description checked by a test program: the function it calls is named
        sig = _signature([], solution, meta.get("entry_point"))
        prompt = f"{prompt.strip()}\nYour code should define {sig}.\n"
    record = {
        "prompt": prompt,
        "code": not described and is_code(prompt),
        "solution": solution,
        "difficulty": difficulty,
        "meta": meta,
        "where": where,
        "properties": raw.get("properties"),
        "inputs": raw.get("inputs"),
    }
    if record["properties"] is not None:
        _check_properties(record, name)
    return record


def _check_properties(record: dict, name: str) -> None:
    where = f"{record['where']}: problem {name!r}"
    props = record["properties"]
    if not isinstance(props, list) or not all(isinstance(p, str) for p in props):
        raise SelftaughtError(f"{where}: 'properties' must be a list of property names")
    try:
        resolve_properties(props)
    except SelftaughtError as e:
        raise SelftaughtError(f"{where}: {e}") from None
    inputs = record["inputs"]
    types = inputs if isinstance(inputs, list) else [inputs]
    if not types or not all(isinstance(t, str) for t in types):
        raise SelftaughtError(f"{where}: 'properties' needs 'inputs', the argument type(s), e.g. \"list[int]\"")
    for t in types:
        strategy_for(t, where)
    if "entry_point" not in record["meta"]:
        raise SelftaughtError(f"{where}: 'properties' needs 'entry_point', the function they are stated for")


def _with_helpers(prompt: str, entry: str, test: str) -> str:
    """``test`` after what the code ``prompt`` defines besides the function to write (imports, helpers, constants),
    so the test calls the prompt's own helpers, not the candidate's; ``test`` alone when there is nothing else or
    the prompt does not parse. The entry point stays the program's: a test may call it by name (HumanEval/33)."""
    try:
        tree = ast.parse(prompt)
    except (SyntaxError, ValueError):
        return test
    kept = [n for n in tree.body if not (isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == entry)]
    if not any(isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Assign) for n in kept):
        return test
    return f"{ast.unparse(ast.Module(body=kept, type_ignores=[]))}\n\n{test}"


def arg_names(sources: Sequence[str], entry: str, n: int) -> tuple[str, ...]:
    """The entry point's parameter names as the prompt (or else the solution) declares them ('x', 'arg0', ...
    when neither does)."""
    for source in sources:
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node.name == entry and len(node.args.args) == n:
                return tuple(a.arg for a in node.args.args)
    return ("x",) if n == 1 else tuple(f"arg{i}" for i in range(n))
