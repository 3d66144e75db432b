"""What a candidate may use: time, CPU, memory, output, file size and processes."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from selftaught.errors import SelftaughtError

# key: (lowest, highest) accepted
_RANGES: dict[str, tuple[float, float]] = {
    "time_s": (0.01, 3600.0),
    "cpu_s": (0.01, 3600.0),
    "memory_mb": (32, 1 << 20),
    "output_bytes": (1024, 1 << 30),
    "file_bytes": (4096, 1 << 34),
    "processes": (0, 1024),
}


@dataclass(frozen=True)
class Limits:
    """Per-candidate limits, all enforced by default.

    time_s: wall-clock seconds for the program and all its tests (then SIGKILL, status "timeout").
    cpu_s: CPU seconds (RLIMIT_CPU; status "timeout").
    memory_mb: address space (RLIMIT_AS); a Python MemoryError gives status "memory".
    output_bytes: stdout and stderr each; more and the candidate is killed (status "killed").
    file_bytes: the largest file (RLIMIT_FSIZE) and, with the private tmpfs, everything written in total.
    processes: extra processes the candidate may start (0: fork and exec are refused; threads stay allowed).
    """

    time_s: float = 5.0
    cpu_s: float = 5.0
    memory_mb: int = 512
    output_bytes: int = 65536
    file_bytes: int = 16 * 1024 * 1024
    processes: int = 0

    def __post_init__(self) -> None:
        for key, (low, high) in _RANGES.items():
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
                raise SelftaughtError(f"sandbox limit {key}={value!r} is out of range [{low:g}, {high:g}]")
            if key not in ("time_s", "cpu_s") and value != int(value):
                raise SelftaughtError(f"sandbox limit {key}={value!r} must be a whole number")
        for key in ("memory_mb", "output_bytes", "file_bytes", "processes"):
            object.__setattr__(self, key, int(getattr(self, key)))

    def as_dict(self) -> dict:
        return asdict(self)
