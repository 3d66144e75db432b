"""The sandbox: one test per protection, asserting what the candidate could not do, plus results and feedback."""

from __future__ import annotations

import os
import socket
import stat
import tempfile
import threading
import time
from pathlib import Path

import pytest

from selftaught.errors import SelftaughtError
from selftaught.sandbox import Limits, Sandbox
from selftaught.sandbox import pool as pool_module

SECRET = "SELFTAUGHT_TEST_SECRET"
ADD = "def add(a, b):\n    return a + b\n"
root_only = pytest.mark.skipif(os.geteuid() != 0, reason="uid drop and namespaces need root")


@pytest.fixture(scope="module")
def box():
    os.environ[SECRET] = "hunter2"  # present when the workers start: they must not pass it on
    try:
        sandbox = Sandbox(Limits(time_s=10, cpu_s=10, memory_mb=256, output_bytes=4096, file_bytes=1 << 20), workers=2)
    finally:
        del os.environ[SECRET]
    with sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def short():
    """For candidates that are meant to time out: a 1 s wall-clock limit."""
    with Sandbox(Limits(time_s=1, cpu_s=10), workers=1) as sandbox:
        yield sandbox


def _candidate_pids(*sandboxes: Sandbox) -> list[int]:
    """Processes running under these sandboxes' candidate uids, anywhere on the machine."""
    uids = {w.uid for box in sandboxes for w in box._workers}
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                uid = os.stat(f"/proc/{entry}").st_uid
            except OSError:
                continue
            if uid in uids:
                pids.append(int(entry))
    return pids


def _snapshot(tree: Path) -> dict[str, tuple[int, int, bytes | None]]:
    out = {}
    for p in sorted(tree.rglob("*")) + [tree]:
        st = p.lstat()
        out[str(p)] = (stat.S_IMODE(st.st_mode), st.st_mtime_ns, p.read_bytes() if p.is_file() else None)
    return out


# ---- arguments ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, key",
    [({"time_s": 0}, "time_s"), ({"cpu_s": -1}, "cpu_s"), ({"memory_mb": 1.5}, "memory_mb"),
     ({"output_bytes": 10}, "output_bytes"), ({"file_bytes": "big"}, "file_bytes"), ({"processes": -1}, "processes")],
)  # fmt: skip
def test_bad_limits_are_user_errors_naming_the_key(kwargs, key):
    with pytest.raises(SelftaughtError, match=key):
        Limits(**kwargs)


def test_bad_sandbox_arguments_are_user_errors():
    with pytest.raises(SelftaughtError, match="isolation"):
        Sandbox(isolation="docker")
    with pytest.raises(SelftaughtError, match="workers"):
        Sandbox(workers=0)


def test_bwrap_missing_is_one_line_user_error(monkeypatch):
    monkeypatch.setattr(pool_module.shutil, "which", lambda name: None)
    with pytest.raises(SelftaughtError, match="bubblewrap") as info:
        Sandbox(isolation="bwrap", workers=1)
    assert "\n" not in str(info.value)


def test_call_limits_cannot_outgrow_the_sandbox(box):
    with pytest.raises(SelftaughtError, match="file_bytes"):
        box.run(ADD, ["True"], limits=Limits(file_bytes=1 << 30))


def test_bad_tests_argument(box):
    with pytest.raises(SelftaughtError, match="tests"):
        box.run(ADD, [])
    with pytest.raises(SelftaughtError, match="entry_point"):
        box.run(ADD, "def check(c): pass", entry_point="not a name")


# ---- results and feedback ----------------------------------------------------------------------------------------


def test_per_test_results_and_feedback(box):
    r = box.run(ADD, ["add(1, 2) == 3", "assert add(2, 2) == 5", "add(1, 0) / 0", "assert add(1, 1) == 2, 'x'"])
    assert [t.status for t in r.tests] == ["passed", "failed", "error", "passed"]
    assert r.status == "failed" and r.passed == 2 and r.total == 4 and r.reward == 0.5
    assert r.tests[1].message == "assert add(2, 2) == 5: got 4 == 5"  # what the candidate returned
    assert "ZeroDivisionError" in r.tests[2].message
    assert r.feedback().startswith("failed: assert add(2, 2) == 5")


def test_all_passing_and_output_captured(box):
    r = box.run("print('hello')\n" + ADD, ["add(1, 2) == 3"])
    assert (r.status, r.reward, r.stdout) == ("passed", 1.0, "hello\n")


def test_program_that_does_not_load_names_the_line(box):
    r = box.run("def add(a, b)\n    return a + b\n", ["add(1, 2) == 3", "add(0, 0) == 0"])
    assert r.status == "error" and r.passed == 0 and r.total == 2
    assert "SyntaxError" in r.message and "line 1" in r.message
    r = box.run("x = 1\ny = undefined_name\n", ["True"])
    assert r.status == "error" and "NameError" in r.message and "<program> line 2" in r.message


def test_check_style_reports_the_failing_assertion(box):
    test = "def check(candidate):\n    assert candidate(2, 2) == 4\n    assert candidate(2, 3) == 6\n"
    good = box.run("def mul(a, b):\n    return a * b\n", test, entry_point="mul")
    bad = box.run("def mul(a, b):\n    return a + b\n", test, entry_point="mul")
    assert good.status == "passed" and good.total == 1
    assert bad.status == "failed" and bad.reward == 0.0
    assert "got 5 == 6" in bad.message and "<test> line 3: assert candidate(2, 3) == 6" in bad.message
    missing = box.run("def other(): pass\n", test, entry_point="mul")
    assert missing.status == "failed" and "'mul'" in missing.message


def test_exiting_early_does_not_pass(box):
    r = box.run("import os\n" + ADD, ["add(1, 2) == 3", "os._exit(0)", "add(2, 2) == 4"])
    assert [t.status for t in r.tests] == ["passed", "error", "error"] and r.status == "error"


def test_run_many_keeps_order(box):
    items = [(f"def f():\n    return {i}\n", [f"f() == {i if i % 3 else -1}"], None) for i in range(12)]
    statuses = [r.status for r in box.run_many(items)]
    assert statuses == ["failed" if i % 3 == 0 else "passed" for i in range(12)]


# ---- protections -------------------------------------------------------------------------------------------------


def test_infinite_loop_times_out(short):
    r = short.run(ADD, ["add(1, 2) == 3", "[0 for _ in iter(int, 1)]", "add(1, 1) == 2"])
    assert r.status == "timeout" and [t.status for t in r.tests] == ["passed", "timeout", "timeout"]
    assert r.message == "wall-clock limit of 1 s reached (in test 2)"  # the feedback names the test that hung
    assert r.tests[2].message.startswith("not run")
    assert r.seconds < 30


def test_cpu_limit(box):
    r = box.run("while True:\n    pass\n", ["True"], limits=Limits(time_s=60, cpu_s=1, file_bytes=1 << 20))
    assert r.status == "timeout" and "CPU time limit of 1 s" in r.message and r.seconds < 30


def test_memory_hog_is_stopped(box):
    r = box.run("x = bytearray(4 * 1024**3)\n", ["True"])
    assert r.status == "memory"
    roomy = Limits(time_s=60, cpu_s=60, memory_mb=256, file_bytes=1 << 20)  # a slow machine still gets there
    hog = "def hog():\n    x = []\n    while True:\n        x.append(bytearray(8 * 1024**2))\n"
    r = box.run(hog, ["hog()"], limits=roomy)
    assert r.status == "memory" and r.tests[0].status == "memory"


@root_only
def test_fork_bomb_is_contained(box):
    before = len([p for p in os.listdir("/proc") if p.isdigit()])
    r = box.run("import os\nwhile True:\n    os.fork()\n", ["True"])
    assert r.status == "error" and "BlockingIOError" in r.message
    r = box.run("import subprocess\nsubprocess.run(['true'])\n", ["True"])
    assert r.status == "error"
    assert _candidate_pids(box) == []
    assert len([p for p in os.listdir("/proc") if p.isdigit()]) < before + 20


@root_only
def test_fork_bomb_with_some_processes_allowed_is_capped_and_cleaned_up():
    bomb = "import os, time\nfor _ in range(100):\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    bomb += "time.sleep(30)\n"
    with Sandbox(Limits(time_s=3, processes=4), workers=1) as sandbox:
        r = sandbox.run(bomb, ["True"])
        assert r.status == "timeout"
        assert _candidate_pids(sandbox) == []
        assert sandbox.run(ADD, ["add(1, 2) == 3"]).status == "passed"
        r = sandbox.run(bomb, ["True"], limits=Limits(time_s=3))  # this call's limits: no processes at all
        assert r.status == "timeout" and _candidate_pids(sandbox) == []


def test_dangerous_system_calls_are_refused():
    # The harness's audit hook refuses ctypes itself (see test_forged_rewards); off here, to reach the layer below.
    libc = "ctypes.CDLL(None, use_errno=True)"
    with Sandbox(Limits(time_s=10, cpu_s=10), workers=1) as box:
        box._harden = False
        r = box.run("import ctypes, os\n", [f"{libc}.{call}" for call in [
            "shmget(0, 1 << 20, 0o1600) == -1",  # System V memory would outlive the candidate
            "unshare(0x10000000) == -1",  # a user namespace
            "ptrace(16, os.getppid(), 0, 0) == -1",
            "mount(b'none', b'.', b'tmpfs', 0, None) == -1",
            "syscall(57) == -1",  # raw fork
            "execv(b'/bin/true', None) == -1",
            "prctl(1, 0, 0, 0, 0) == -1",  # it would outlive a dead fork server
            "prctl(15, b'renamed', 0, 0, 0) == 0",  # other prctl calls still work
            # rt_sigaction: a handler would be handed the harness's frames; reading one still works
            "syscall(13, 14, ctypes.create_string_buffer(152), 0, 8) == -1",
            "syscall(13, 14, 0, ctypes.create_string_buffer(152), 8) == 0",
        ]])  # fmt: skip
    assert r.status == "passed", r.tests


def test_huge_output_is_capped(box):
    r = box.run("while True:\n    print('x' * 1000)\n", ["True"])
    assert r.status == "killed" and "output limit" in r.message
    assert 0 < len(r.stdout) <= 4096


def test_big_file_write_is_stopped(box):
    r = box.run("with open('big', 'wb') as f:\n    f.write(b'x' * (8 * 1024**2))\n", ["True"])
    assert r.status == "error" and "File too large" in r.message


@root_only
def test_nothing_outside_the_working_directory_changes(box):
    outside = Path(tempfile.mkdtemp(prefix="sandbox-sentinel-"))
    try:
        outside.chmod(0o755)
        (outside / "sentinel.txt").write_text("keep me")
        (outside / "sentinel.txt").chmod(0o644)
        before = _snapshot(outside)
        d = str(outside)
        attacks = [
            f"open('{d}/sentinel.txt', 'w').write('changed')",
            f"os.remove('{d}/sentinel.txt')",
            f"open('{d}/new.txt', 'w').write('x')",
            f"os.chmod('{d}/sentinel.txt', 0o777)",
            f"os.rename('{d}/sentinel.txt', '{d}/moved.txt')",
            f"os.symlink('{d}/sentinel.txt', 'link') or open('link', 'w').write('via link')",
            "open('/tmp/sandbox-escape.txt', 'w').write('x')",
            "open(os.path.expanduser('~') + '/../escape.txt', 'w').write('x')",
        ]
        r = box.run("import os\n", attacks)
        assert r.passed == 0 and all(t.status == "error" for t in r.tests), r.tests
        assert _snapshot(outside) == before
        assert not Path("/tmp/sandbox-escape.txt").exists()
    finally:
        for p in outside.iterdir():
            p.unlink()
        outside.rmdir()


def test_working_directory_is_private_and_writable(box):
    r = box.run("import os\nopen('scratch.txt', 'w').write('ok')\n", ["open('scratch.txt').read() == 'ok'"])
    assert r.status == "passed"
    assert box.run("import os\n", ["not os.path.exists('scratch.txt')"]).status == "passed"  # fresh each time


@root_only
def test_dev_shm_is_private_and_emptied(box):
    r = box.run("import multiprocessing.pool\nopen('/dev/shm/sandbox-test', 'w').write('x')\n", [
        "multiprocessing.pool.ThreadPool(2).map(abs, [-1, -2]) == [1, 2]",  # semaphores live in /dev/shm
        "open('/dev/shm/sandbox-test').read() == 'x'",
    ])  # fmt: skip
    assert r.status == "passed"
    assert not Path("/dev/shm/sandbox-test").exists()
    after = box.run_many([("import os\n", ["os.listdir('/dev/shm') == []"], None)] * 4)  # on every worker
    assert [x.status for x in after] == ["passed"] * 4


def test_network_connect_fails(box):
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    try:
        prog = "import socket\ndef go():\n"
        prog += f"    socket.create_connection(('127.0.0.1', {port}), timeout=0.5).sendall(b'hi')\n"
        r = box.run(prog, ["go()"])
        assert r.status == "failed" and r.tests[0].status == "error"
        with pytest.raises(TimeoutError):
            listener.accept()
    finally:
        listener.close()


def test_environment_is_scrubbed(box):
    r = box.run(
        "import os\n", [f"'{SECRET}' not in os.environ", "not any('hunter2' in v for v in os.environ.values())"]
    )
    assert r.status == "passed"
    for w in box._workers:  # nor did the fork servers ever have it
        assert b"hunter2" not in Path(f"/proc/{w.proc.pid}/environ").read_bytes()


@root_only
def test_other_processes_are_out_of_sight(box):
    r = box.run("import os\n", ["[p for p in os.listdir('/proc') if p.isdigit()] == [str(os.getpid())]"])
    assert r.status == "passed"


@root_only
def test_killing_the_parent_does_not_kill_the_pool(box):
    servers = [w.proc.pid for w in box._workers]
    r = box.run("import os, signal\n", ["os.kill(os.getppid(), signal.SIGKILL)", "os.kill(-1, signal.SIGKILL)"])
    assert r.status == "failed" and r.tests[0].status == "error"
    assert [w.proc.pid for w in box._workers] == servers and all(w.proc.poll() is None for w in box._workers)
    assert [x.status for x in box.run_many([(ADD, ["add(1, 2) == 3"], None)] * 4)] == ["passed"] * 4


def test_threads_that_never_end_are_killed(box, short):
    spin = "import threading\ndef spin():\n    while True:\n        pass\n"
    r = short.run(spin + "t = threading.Thread(target=spin)\nt.start()\nt.join()\n", ["True"])
    assert r.status == "timeout"
    r = box.run(spin + "threading.Thread(target=spin).start()\n" + ADD, ["add(1, 2) == 3"])
    assert r.status == "passed"  # the harness ends the process after the tests; the thread dies with it


@root_only
def test_close_leaves_no_processes_or_directories():
    sandbox = Sandbox(Limits(time_s=60), workers=2)
    base, procs = sandbox._base, [w.proc for w in sandbox._workers]
    assert sandbox.run(ADD, ["add(1, 2) == 3"]).status == "passed"
    running = threading.Thread(target=sandbox.run, args=("while True:\n    pass\n", ["True"]))
    running.start()
    deadline = time.monotonic() + 30
    while not _candidate_pids(sandbox) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _candidate_pids(sandbox)  # closed while a candidate runs
    uids = [w.uid for w in sandbox._workers]
    assert not sandbox.closed
    sandbox.close()
    assert sandbox.closed
    running.join(timeout=30)
    assert not base.exists()
    assert all(p.returncode is not None for p in procs)
    assert _candidate_pids(sandbox) == []  # killed and reaped by its server: not even a zombie left
    assert all(not (pool_module._UID_DIR / str(u - pool_module._UID_BASE)).exists() for u in uids)  # uids freed
    with pytest.raises(SelftaughtError, match="closed"):
        sandbox.run(ADD, ["True"])


@root_only
@pytest.mark.skipif(pool_module.shutil.which("bwrap") is None, reason="bubblewrap not installed")
def test_bwrap_isolation():
    with Sandbox(Limits(time_s=10), workers=1, isolation="bwrap") as sandbox:
        assert "bwrap" in sandbox.isolation_report()
        r = sandbox.run(
            ADD, ["add(1, 2) == 3", "open('/tmp/x', 'w')", "len([p for p in os.listdir('/proc') if p.isdigit()]) < 10"]
        )
        assert [t.status for t in r.tests] == ["passed", "error", "error"]  # no os imported: NameError
        r = sandbox.run("import os\n", ["len([p for p in os.listdir('/proc') if p.isdigit()]) < 10"])
        assert r.status == "passed"  # its own pid namespace: the host's processes are out of sight


def test_isolation_report_says_what_applied(box):
    report = box.isolation_report()
    assert report["isolation"] == "fork" and "seccomp" in report and "network" in report
    if os.geteuid() == 0:
        assert report["network"].startswith("namespace") and "read-only" in report["filesystem"]


@root_only
def test_each_worker_of_every_sandbox_has_its_own_uid(box, short):
    uids = [w.uid for w in box._workers + short._workers]
    assert len(set(uids)) == len(uids) == 3
    r = box.run("import os\n", [f"os.getuid() in {uids[:2]}", "os.getuid() != 0 and os.geteuid() != 0"])
    assert r.status == "passed"


def _running(pid: int) -> bool:
    """The process exists and is not a zombie (one that only waits for init to reap it has stopped running)."""
    try:
        return "(zombie)" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


@root_only
def test_a_dead_worker_is_replaced_and_its_candidate_dies_with_it():
    with Sandbox(Limits(time_s=60), workers=1) as sandbox:
        sandbox._harden = False  # the candidate reaches prctl through ctypes, which the audit hook refuses
        server = sandbox._workers[0].proc
        results = []
        sleeper = "import ctypes, time\nctypes.CDLL(None).prctl(1, 0, 0, 0, 0)\ntime.sleep(120)\n"
        running = threading.Thread(target=lambda: results.append(sandbox.run(sleeper, ["True"])))
        running.start()
        deadline = time.monotonic() + 30
        while not _candidate_pids(sandbox) and time.monotonic() < deadline:
            time.sleep(0.05)
        orphans = _candidate_pids(sandbox)
        assert orphans
        server.kill()  # SIGKILL: the server cannot clean up; the candidate's parent-death signal must
        running.join(timeout=30)
        assert results[0].status == "killed" and "worker died" in results[0].message
        deadline = time.monotonic() + 10
        while any(_running(p) for p in orphans) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(_running(p) for p in orphans)
        assert sandbox._workers[0].proc.pid != server.pid
        assert sandbox.run(ADD, ["add(1, 2) == 3"]).status == "passed"
