"""Running model-written Python safely: limits, isolation and a warm worker pool.

with Sandbox(Limits(time_s=2)) as box:
    result = box.run("def add(a, b):\n    return a + b\n", ["add(1, 2) == 3", "assert add(0, 0) == 0"])
    result.status, result.reward, result.feedback()
    values = box.call("def add(a, b):\n    return a + b\n", ["add(1, 2)", "add([1], [2])"]).values  # [3, [1, 2]]
"""

from selftaught.sandbox.limits import Limits
from selftaught.sandbox.pool import ISOLATIONS, Sandbox
from selftaught.sandbox.result import STATUSES, Result, TestResult

__all__ = ["ISOLATIONS", "STATUSES", "Limits", "Result", "Sandbox", "TestResult"]
