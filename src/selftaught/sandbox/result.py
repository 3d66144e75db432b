"""Outcomes as data: one Result per candidate, one TestResult per test."""

from __future__ import annotations

from dataclasses import dataclass, field

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
    program did not load or did not finish; else the reason the candidate was stopped (timeout, killed, memory)."""

    status: str
    tests: list[TestResult] = field(default_factory=list)
    stdout: str = ""
    stderr: str = ""
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    message: str = ""

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


def summarise(raw: dict) -> Result:
    """Build a Result from a fork server's answer."""
    tests = [TestResult(s, m) for s, m in raw["tests"]]
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
    )
