"""Outcomes as data: one Result per candidate, one TestResult per test."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from selftaught.types import NO_VALUE

# passed: the test held; failed: an assertion did not; error: an exception (or the program did not load or
# finish); timeout: wall-clock or CPU limit; killed: stopped by a signal or the output cap; memory: MemoryError.
STATUSES = ("passed", "failed", "error", "timeout", "killed", "memory")


@dataclass(frozen=True)
class TestResult:
    status: str
    message: str = ""


@dataclass(frozen=True)
class Result:
    """status: "passed" when every test passed; "failed" when the tests ran and some did not pass; "error" when the
    program did not load or did not finish; else the reason the candidate was stopped (timeout, killed, memory).

    values (``Sandbox.call_many`` only): each call's value, decoded here from the plain data the sandbox sent (None,
    bool, int, float, str, and lists, tuples and str-keyed dicts of them, nothing else), or ``NO_VALUE`` where the
    call raised, was stopped or returned something else; ``tests[i]`` says which."""

    status: str
    tests: list[TestResult] = field(default_factory=list)
    stdout: str = ""
    stderr: str = ""
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    message: str = ""
    values: list = field(default_factory=list)

    @property
    def passed(self) -> int:
        return sum(t.status == "passed" for t in self.tests)

    @property
    def total(self) -> int:
        return len(self.tests)

    @property
    def reward(self) -> float:
        return self.passed / self.total if self.tests else 0.0

    def feedback(self, limit: int = 1000) -> str:
        """A short text for a model: the first problem found, then the tail of stderr."""
        if self.status == "passed":
            return "all tests passed"
        first = self.message or next((t.message for t in self.tests if t.status != "passed"), self.status)
        text = f"{self.status}: {first}"
        if self.stderr.strip():
            text += "\nstderr: " + self.stderr.strip()[-max(0, limit - len(text) - 9) :]
        return text[:limit]


_MAX_DEPTH = 250  # the harness sends values nested at most 100 deep (a tuple or a dict adds one level of tags)


def decode_value(encoded: Any, depth: int = 0) -> Any:
    """A value the harness sent (JSON, a tuple tagged {"t": [...]}, a dict {"d": {...}}) as the Python value, of
    built-in types only; ValueError for anything else."""
    t = type(encoded)
    if encoded is None or t is bool or t is int or t is float or t is str:
        return encoded
    if depth > _MAX_DEPTH:
        raise ValueError("a value nested too deep")
    if t is list:
        return [decode_value(x, depth + 1) for x in encoded]
    if t is dict and len(encoded) == 1:
        if type(encoded.get("t")) is list:
            return tuple(decode_value(x, depth + 1) for x in encoded["t"])
        inner = encoded.get("d")
        if type(inner) is dict and all(type(k) is str for k in inner):
            return {k: decode_value(x, depth + 1) for k, x in inner.items()}
    raise ValueError(f"not a value the sandbox sends: {str(encoded)[:80]}")


def _decode_values(raw: dict, tests: list[TestResult]) -> list:
    """Each call's decoded value or NO_VALUE; a passed call whose value is missing or malformed becomes an error."""
    values = []
    for i, encoded in enumerate(raw["values"]):
        value = NO_VALUE
        if tests[i].status == "passed":
            try:
                if type(encoded) is not list or len(encoded) != 1:  # the server boxes each value: [value]
                    raise ValueError("no value was reported")
                value = decode_value(encoded[0])
            except (ValueError, RecursionError) as e:
                tests[i] = TestResult("error", f"the sandbox sent no usable value: {e}")
        values.append(value)
    return values


def summarise(raw: dict) -> Result:
    """Build a Result from a fork server's answer."""
    tests = [TestResult(s, m) for s, m in raw["tests"]]
    values = _decode_values(raw, tests) if "values" in raw else []
    stopped = raw.get("stopped")
    if stopped is not None:
        status, message = stopped
    elif tests and all(t.status == "passed" for t in tests):
        status, message = "passed", ""
    else:
        bad = [t for t in tests if t.status != "passed"]
        loaded = not (bad and len(bad) == len(tests) and bad[0].message.startswith("the program did not load"))
        if any(t.status == "memory" for t in bad):
            status = "memory"
        else:
            status = "failed" if loaded else "error"
        message = bad[0].message if bad else ""
    return Result(
        status=status,
        tests=tests,
        stdout=raw["stdout"],
        stderr=raw["stderr"],
        seconds=raw["seconds"],
        cpu_seconds=raw["cpu_seconds"],
        message=message,
        values=values,
    )
