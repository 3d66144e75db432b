"""OS-level confinement: namespaces for a fork server, and limits + privilege drop + seccomp for each child.

Standalone on purpose (standard library only, no package imports): the fork server runs this file's directory as
a script directory, so it starts without importing selftaught (or torch).
"""

from __future__ import annotations

import ctypes
import os
import platform
import resource
import struct

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
CLONE_NEWIPC = 0x08000000
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
PR_SET_PDEATHSIG = 1
PR_SET_NO_NEW_PRIVS = 38
PR_SET_CHILD_SUBREAPER = 36
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
M_ARENA_MAX = -8

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = [None if s is None else s.encode() for s in (source, target, fstype, data)]
    _check(_libc.mount(enc[0], enc[1], enc[2], flags, enc[3]), f"mount {target}")


SHM = "/dev/shm"


def _mount_points() -> list[tuple[str, int]]:
    """(mount point, per-mount flags to keep) from /proc/self/mountinfo, parents before children."""
    keep = {"nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC}
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            point = fields[4].encode().decode("unicode_escape")
            flags = 0
            for opt in fields[5].split(","):
                flags |= keep.get(opt, 0)
            out.append((point, flags))
    return sorted(out, key=lambda p: p[0].count("/") if p[0] != "/" else 0)


def _blocked_ancestor(path: str) -> str | None:
    """The highest ancestor of ``path`` that other users cannot traverse (mode without o+x), if any."""
    parts = os.path.abspath(path).split("/")[1:]
    cur = ""
    for part in parts[:-1]:
        cur += "/" + part
        try:
            if not os.stat(cur).st_mode & 0o001:
                return cur
        except OSError:
            return None
    return None


def expose_paths(paths: list[str], stage: str) -> list[str]:
    """Make ``paths`` (the interpreter's prefix and sys.path) reachable by an unprivileged uid in this mount
    namespace: an ancestor such as /root (mode 0700) is covered by an empty tmpfs holding only read-only binds of
    those paths. The host's directories are untouched. Returns the covered ancestors."""
    groups: dict[str, list[str]] = {}
    for p in paths:
        if p and os.path.isdir(p):
            top = _blocked_ancestor(p)
            if top is not None and p not in groups.setdefault(top, []):
                groups[top].append(p)
    for k, (top, members) in enumerate(groups.items()):
        # keep only outermost members (a path inside another is already covered by its bind)
        members = [m for m in members if not any(m != o and m.startswith(o + "/") for o in members)]
        staged = []
        for j, m in enumerate(members):
            s = os.path.join(stage, f"{k}-{j}")
            os.mkdir(s)
            mount(m, s, None, MS_BIND | MS_REC)
            staged.append((s, m))
        mount("tmpfs", top, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=64k")
        for s, m in staged:
            os.makedirs(m, exist_ok=True)
            mount(s, m, None, MS_BIND | MS_REC)
    return list(groups)


def isolate_server(base: str, tmpfs_bytes: int, net: bool, python_paths: list[str]) -> dict[str, str]:
    """Run once in a fork server (as root): private mount namespace with every mount read-only except a private
    size-capped tmpfs at ``base`` (the candidates' working directories), and a network namespace with no
    interfaces up. Returns what applied, for the isolation report."""
    applied: dict[str, str] = {}
    flags = CLONE_NEWNS | CLONE_NEWIPC | (CLONE_NEWNET if net else 0)
    unshare(flags)
    applied["network"] = "namespace (no interfaces up)" if net else "host network"
    applied["ipc"] = "namespace of its own; System V IPC and message queues refused by seccomp"
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    mount("tmpfs", base, "tmpfs", MS_NOSUID | MS_NODEV, f"mode=0711,size={tmpfs_bytes},nr_inodes=20000")
    try:  # a procfs of our own where other users' processes are invisible (their command lines may hold secrets)
        mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=2")
        applied["process list"] = "other users' processes hidden in /proc (hidepid=2)"
    except OSError:
        applied["process list"] = "other processes visible in /proc"
    if os.path.isdir(SHM):  # POSIX semaphores (multiprocessing's locks, ThreadPool) need a writable /dev/shm
        mount("tmpfs", SHM, "tmpfs", MS_NOSUID | MS_NODEV, f"mode=1777,size={tmpfs_bytes},nr_inodes=1000")
    stage = os.path.join(base, ".stage")
    os.mkdir(stage, 0o755)
    covered = expose_paths(python_paths, stage)
    for point, keep in _mount_points():
        if point in (base, SHM):
            continue
        try:
            mount(None, point, None, MS_REMOUNT | MS_BIND | MS_RDONLY | keep)
        except OSError:
            pass  # a mount we cannot remount (e.g. under a covered path) stays as it is; the uid drop still holds
    applied["filesystem"] = "every mount read-only; working directory and /dev/shm on private tmpfs mounts"
    if covered:
        applied["hidden"] = ", ".join(covered) + " (covered by a tmpfs holding only the interpreter's paths)"
    return applied


def set_child_subreaper() -> None:
    _check(_libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), "subreaper")


# ---- seccomp (x86_64 only) -------------------------------------------------------------------------------------

_X86_64 = 0xC000003E
_NR = {  # x86_64 syscall numbers
    "socket": 41, "clone": 56, "fork": 57, "vfork": 58, "execve": 59, "ptrace": 101, "chroot": 161, "acct": 163,
    "settimeofday": 164, "mount": 165, "umount2": 166, "swapon": 167, "swapoff": 168, "reboot": 169,
    "init_module": 175, "delete_module": 176, "pivot_root": 155, "clock_settime": 227, "kexec_load": 246,
    "add_key": 248, "request_key": 249, "keyctl": 250, "unshare": 272, "perf_event_open": 298,
    "name_to_handle_at": 303, "open_by_handle_at": 304, "setns": 308, "process_vm_readv": 310,
    "process_vm_writev": 311, "finit_module": 313, "kexec_file_load": 320, "bpf": 321, "execveat": 322,
    "userfaultfd": 323, "io_uring_setup": 425, "clone3": 435, "syslog": 103,
    # System V IPC and POSIX message queues: objects that outlive the candidate (POSIX semaphores use /dev/shm)
    "shmget": 29, "shmat": 30, "shmctl": 31, "semget": 64, "semop": 65, "semctl": 66, "msgget": 68, "msgsnd": 69,
    "msgrcv": 70, "msgctl": 71, "semtimedop": 220, "mq_open": 240, "mq_unlink": 241, "mq_timedsend": 242,
    "mq_timedreceive": 243, "mq_notify": 244, "mq_getsetattr": 245,
}  # fmt: skip
_PRCTL = 157
_RT_SIGACTION = 13
_ALLOW = 0x7FFF0000
_KILL = 0x80000000
_EPERM, _EAGAIN, _EACCES, _ENOSYS = 1, 11, 13, 38
CLONE_THREAD = 0x10000


def _stmt(code: int, k: int) -> bytes:
    return struct.pack("HBBI", code, 0, 0, k)


def _jump(code: int, k: int, jt: int, jf: int) -> bytes:
    return struct.pack("HBBI", code, jt, jf, k)


def seccomp_program(processes: bool) -> list[bytes]:
    """A BPF filter: only x86_64 syscalls; no socket() of any family (socketpair stays: a Unix socket with a path
    could reach a world-writable host socket); no fork/exec unless ``processes``; no namespace, mount, ptrace,
    module, key or bpf calls. Threads stay allowed (clone with CLONE_THREAD; clone3 says ENOSYS so
    the C library falls back to clone, whose flags a filter can read). Without processes, rt_sigaction may not
    install a handler (it may read one): a Python signal handler is handed the frame it interrupts, a way around
    the harness's audit hook to the frames that judge the candidate; the fork server sets every handler the child
    needs before it installs this filter."""
    ld, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06
    deny = {n: _EPERM for n in _NR if n not in ("socket", "clone", "clone3", "fork", "vfork", "execve", "execveat")}
    deny.update(socket=_EACCES, clone3=_ENOSYS)
    if not processes:
        deny.update(fork=_EAGAIN, vfork=_EAGAIN, execve=_EPERM, execveat=_EPERM)
    prog = [_stmt(ld, 4), _jump(jeq, _X86_64, 1, 0), _stmt(ret, _KILL), _stmt(ld, 0)]
    prog += [_jump(jge, 0x40000000, 0, 1), _stmt(ret, _KILL)]  # the x32 ABI
    for name, errno in deny.items():
        prog += [_jump(jeq, _NR[name], 0, 1), _stmt(ret, 0x00050000 | errno)]
    # prctl(PR_SET_PDEATHSIG): the candidate keeps the SIGKILL it gets when its fork server dies
    prog += [_jump(jeq, _PRCTL, 0, 4), _stmt(ld, 16), _jump(jeq, PR_SET_PDEATHSIG, 0, 1)]
    prog += [_stmt(ret, 0x00050000 | _EPERM), _stmt(ret, _ALLOW)]
    if not processes:
        prog += [_jump(jeq, _NR["clone"], 0, 4), _stmt(ld, 16), _jump(jset, CLONE_THREAD, 0, 1), _stmt(ret, _ALLOW)]
        prog += [_stmt(ret, 0x00050000 | _EAGAIN)]
        # rt_sigaction(sig, act, ...): act (args[1], 64 bits at offsets 24 and 28) must be NULL
        prog += [_jump(jeq, _RT_SIGACTION, 0, 6), _stmt(ld, 24), _jump(jeq, 0, 0, 2), _stmt(ld, 28)]
        prog += [_jump(jeq, 0, 1, 0), _stmt(ret, 0x00050000 | _EPERM), _stmt(ret, _ALLOW)]
    prog.append(_stmt(ret, _ALLOW))
    return prog


def seccomp_available() -> bool:
    return platform.machine() == "x86_64"


_PROGRAMS: dict[bool, bytes] = {}


def install_seccomp(processes: bool) -> None:
    if processes not in _PROGRAMS:
        _PROGRAMS[processes] = b"".join(seccomp_program(processes))
    prog = _PROGRAMS[processes]
    buf = ctypes.create_string_buffer(prog, len(prog))
    fprog = struct.pack("HxxxxxxP", len(prog) // 8, ctypes.addressof(buf))
    fbuf = ctypes.create_string_buffer(fprog, len(fprog))
    _check(_libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(fbuf), 0, 0), "seccomp")


# ---- one child ---------------------------------------------------------------------------------------------------


def prepare_server() -> None:
    """Work done once in the fork server that every child inherits."""
    _libc.mallopt(M_ARENA_MAX, 1)  # one malloc arena: threads would otherwise reserve 64 MB of address space each
    for processes in (False, True):
        _PROGRAMS[processes] = b"".join(seccomp_program(processes))


def confine_child(limits: dict, uid: int | None, seccomp: bool) -> None:
    """Apply limits, drop to ``uid`` (when root), forbid new privileges, install seccomp. Irreversible."""
    mem = limits["memory_mb"] * 1024 * 1024
    cpu = max(1, int(limits["cpu_s"] + 0.999))
    procs = limits["processes"]
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits["file_bytes"], limits["file_bytes"]))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
    resource.setrlimit(resource.RLIMIT_MEMLOCK, (0, 0))
    # Threads count as processes for RLIMIT_NPROC. Without processes, seccomp refuses fork, so the limit can leave
    # room for threads; with processes, it is the one cap on processes and threads together.
    nproc = 1 + procs if procs else 1 + 64
    resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
    if uid is not None:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    _check(_libc.prctl(PR_SET_PDEATHSIG, 9, 0, 0, 0), "pdeathsig")  # after the uid change, which clears it
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    if seccomp:
        install_seccomp(procs > 0)
