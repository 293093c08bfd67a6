"""Every process a thread starts ends with it: its process group, the descendants that escaped the group, and
what happens to them if the runner itself dies.

A thread runs in its own session and process group, so one `killpg` stops it and the children it keeps there.
A child that calls setsid() (`setsid cmd &`, a daemonising double fork, `Popen(start_new_session=True)`)
leaves the group. Once its parent exits it would be re-parented to init and outlive the run, holding the
output pipe open. On Linux the runner therefore makes itself a *child subreaper*
(`prctl(PR_SET_CHILD_SUBREAPER)`): orphaned descendants are re-parented to the runner instead. When a thread's
leader has exited the runner looks at its own children that no `Popen` owns, recognises the thread's by the
`TASKCTL_RUN_ID` and `TASKCTL_THREAD` they inherited (in /proc/PID/environ; one process may run several
chains, as the daemon does), stops them as systemd stops a unit's control group, and reaps the zombies.

When the runner dies (SIGKILL, OOM killer) a tiny `/bin/sh` watcher, started once per runner process, stops
the process groups of the threads still running: it waits for end-of-file on a pipe only the runner holds,
then reads their group ids from a small file the runner keeps current, and sends them SIGTERM and, after the
grace period, SIGKILL. This is used instead of the parent-death signal (PR_SET_PDEATHSIG) because that signal
reaches only the leader, not the rest of its group; it fires when the *thread* that forked the child exits,
not the process (a daemon worker thread that ends would take its children with it); and it needs code run in
the child between fork and exec: `preexec_fn`, which is unsafe in a multi-threaded parent and makes every
spawn ~2 ms slower (fork instead of vfork, Python's after-fork hooks), or an exec wrapper such as `setpriv`
(util-linux, ~1 ms per spawn). The watcher costs one `sh` per runner process, and a rewrite of its small file
per thread.

What remains impossible: a descendant that leaves the group *and* starts with a cleared environment (`env -i
setsid cmd &`) cannot be told apart from the runner's other children, so it is left running; so is one that
escapes while the runner is dead, or whose parent never exits (it is not re-parented). Outside Linux there is
no subreaper: only the process group is stopped.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import signal
import subprocess
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path


class _SpawnLock:
    """Many spawns at once, or one scan alone.

    A scan that reaps zombies must not run while a child is started and not yet registered as a leader, or
    it could mistake it for an adopted orphan and reap it (a Popen whose child was reaped by someone else
    reports exit 0). Spawns need not exclude each other: one lock for both made a daemon start its runs one
    at a time, each waiting for the exec of the one before. A waiting scan goes before new spawns.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition(threading.Lock())
        self._spawning = 0
        self._scanning = False
        self._scans_waiting = 0

    @contextlib.contextmanager
    def spawn(self) -> Iterator[None]:
        with self._changed:
            while self._scanning or self._scans_waiting:
                self._changed.wait()
            self._spawning += 1
        try:
            yield
        finally:
            with self._changed:
                self._spawning -= 1
                if not self._spawning:
                    self._changed.notify_all()

    @contextlib.contextmanager
    def scan(self) -> Iterator[None]:
        with self._changed:
            self._scans_waiting += 1
            while self._scanning or self._spawning:
                self._changed.wait()
            self._scans_waiting -= 1
            self._scanning = True
        try:
            yield
        finally:
            with self._changed:
                self._scanning = False
                self._changed.notify_all()


_lock = _SpawnLock()
_leaders: set[int] = set()  # children a Popen owns and reaps itself (changed under _lock.spawn or .scan)

_PR_SET_CHILD_SUBREAPER = 36


@functools.cache
def become_subreaper() -> bool:
    """Make this process the reaper of its orphaned descendants (Linux); False where that is unavailable."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def spawn(argv: Sequence[str], cwd: Path, env: Mapping[str, str], grace: float) -> subprocess.Popen[bytes]:
    """Start a thread's process in its own session, output on a pipe, watched in case the runner dies.

    Call `release` once it has been waited for.
    """
    become_subreaper()
    with _lock.spawn():
        child = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env),
            stdin=_devnull(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            bufsize=0,
        )
        _leaders.add(child.pid)
    _death_watch().add(child.pid, grace)
    return child


def release(child: subprocess.Popen[bytes]) -> None:
    """Forget a thread's process once it has been waited for and its group is gone."""
    _death_watch().remove(child.pid)
    _leaders.discard(child.pid)  # reaped already: no scan can find it among the children any more


def discard(child: subprocess.Popen[bytes]) -> None:
    """Stop and forget a thread's process started ahead of its run's bookkeeping that will not be
    supervised after all (the run failed before it could be): its group is killed, it is reaped."""
    _signal_group(child.pid, signal.SIGKILL)
    if child.stdout is not None:
        child.stdout.close()
    child.wait()
    release(child)


@functools.cache
def _devnull() -> int:
    """/dev/null opened once for the stdin of every thread (not inherited: each child gets it as its fd 0)."""
    return os.open(os.devnull, os.O_RDONLY)


class Leftovers:
    """The processes that must end with one thread attempt: its process group and its escaped descendants."""

    def __init__(self, group: int, run_id: str, thread: str) -> None:
        self.group = group
        self.markers = {f"TASKCTL_RUN_ID={run_id}".encode(), f"TASKCTL_THREAD={thread}".encode()}
        self.escaped: set[int] = set()
        self._signal: int | None = None  # what every process found from now on gets

    def stop(self, signum: int, scan: bool = True) -> None:
        """Send `signum` to the group and to every escaped descendant found now (unless not `scan`: the
        caller calls `remaining` next) or later."""
        self._signal = signum
        _signal_group(self.group, signum)
        if scan:
            self._find_escaped()
        for pid in self.escaped:
            _signal_tree(pid, signum)

    def remaining(self) -> bool:
        """True while the group or an escaped descendant is alive (reaping the zombies among them)."""
        self._find_escaped()
        if self.escaped:
            return True
        return _group_alive(self.group)

    def _find_escaped(self) -> None:
        children = _children()
        if children is None:
            return
        zombies: list[int] = []
        for pid in children:
            if pid in _leaders:
                continue
            stat = _stat(pid)
            if stat is None:
                self.escaped.discard(pid)
                continue
            state, group = stat
            if state == "Z":
                if group == self.group or pid in self.escaped:
                    zombies.append(pid)
            elif pid not in self.escaped and group != self.group and _has_markers(pid, self.markers):
                self.escaped.add(pid)
                if self._signal is not None:
                    _signal_tree(pid, self._signal)
        self.escaped.difference_update(_reap_orphans(zombies))
        self.escaped = {pid for pid in self.escaped if _stat(pid) is not None}


def stop_run_processes(run_id: str, group: int | None, grace: float = 2.0) -> None:
    """Stop whatever is left of a run whose runner died: its last thread's group and every process that
    inherited its TASKCTL_RUN_ID. SIGTERM, then SIGKILL after `grace` (waits at most that long)."""
    import time

    marker = {f"TASKCTL_RUN_ID={run_id}".encode()}
    targets = [pid for pid in _all_pids() if pid != os.getpid() and _has_markers(pid, marker)]
    groups = [group] if group else []
    if not targets and not any(_group_alive(g) for g in groups):
        return
    for g in groups:
        _signal_group(g, signal.SIGTERM)
    for pid in targets:
        _signal_tree(pid, signal.SIGTERM)
    end = time.monotonic() + grace
    while time.monotonic() < end:
        targets = [pid for pid in targets if _live(pid)]
        groups = [g for g in groups if _group_alive(g)]
        if not targets and not groups:
            return
        time.sleep(0.05)
    for g in groups:
        _signal_group(g, signal.SIGKILL)
    for pid in targets:
        _signal_tree(pid, signal.SIGKILL)


# -- the watcher that outlives a killed runner ---------------------------------------------------------

# $1 is a file holding "GRACE GROUP...": the runner rewrites it whenever a thread starts or ends, and the
# watcher reads it only once the runner is gone (so nothing wakes it up while the runner lives).
_WATCH_SCRIPT = r"""
trap '' INT HUP TERM
while read -r _; do :; done
read -r grace groups < "$1"
rm -f "$1"
[ -z "$groups" ] && exit 0
for g in $groups; do kill -TERM -$g 2>/dev/null; done
sleep "$grace"
for g in $groups; do kill -KILL -$g 2>/dev/null; done
"""


class _DeathWatch:
    """Keeps a `/bin/sh` watcher informed of the thread process groups running; see the module docstring."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._groups: dict[int, int] = {}  # group -> grace in whole seconds
        self._texts: dict[int, str] = {}  # group -> the group as text (the file is rewritten on each change)
        self._changes = 0  # how many times the groups changed
        self._written = 0  # how many of those changes the file holds
        self._writing = threading.Lock()  # held by the one thread writing the file
        self._watcher: subprocess.Popen[bytes] | None = None
        self._pipe: int | None = None  # its stdin: end-of-file when this process is gone
        self._file: int | None = None

    def add(self, group: int, grace: float) -> None:
        with self._lock:
            self._groups[group] = max(1, math.ceil(grace))
            self._texts[group] = str(group)
            self._changes += 1
        self._flush()

    def remove(self, group: int) -> None:
        with self._lock:
            if self._groups.pop(group, None) is None:
                return
            del self._texts[group]
            self._changes += 1
        self._flush()

    def _flush(self) -> None:
        """Bring the file up to date, unless another thread is writing it: that one writes again once done.

        No change waits for another's write (with runs starting and ending by the hundred, threads waiting
        in turn to write this file made a convoy), and a burst of changes costs a few writes.
        """
        while self._written != self._changes:
            if not self._writing.acquire(blocking=False):
                return  # the writer checks `_changes` again after it lets go
            try:
                with self._lock:
                    changes = self._changes
                    grace = max(self._groups.values(), default=1)
                    line = " ".join([str(grace), *self._texts.values()]) + "\n"
                self._write(line)
                self._written = changes
            finally:
                self._writing.release()

    def _write(self, line: str) -> None:
        """Write `line`, "<grace> <group> <group>...", for the watcher to read."""
        if (self._watcher is None or self._watcher.poll() is not None) and not self._start():
            return
        assert self._file is not None
        with contextlib.suppress(OSError):
            os.ftruncate(self._file, 0)
            os.pwrite(self._file, line.encode(), 0)

    def _start(self) -> bool:
        """Start a watcher (again, if the last one was killed)."""
        import tempfile

        for fd in (self._pipe, self._file):
            if fd is not None:
                os.close(fd)
        self._pipe = self._file = None
        try:
            self._file, path = tempfile.mkstemp(prefix="taskctl-runner-", suffix=".groups")
            read, self._pipe = os.pipe()
            try:
                with _lock.spawn():
                    self._watcher = subprocess.Popen(
                        ["/bin/sh", "-c", _WATCH_SCRIPT, "taskctl-runner-watch", path],
                        stdin=read,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                        start_new_session=True,
                    )
                    _leaders.add(self._watcher.pid)
            finally:
                os.close(read)
        except OSError:
            return False
        return True


@functools.cache
def _death_watch() -> _DeathWatch:
    return _DeathWatch()


# -- /proc -----------------------------------------------------------------------------------------------


def _children() -> list[int] | None:
    """This process's children that can be adopted orphans, or None where /proc cannot tell.

    The kernel re-parents an orphan to the first live thread of the subreaper (the main thread while it
    lives), so the main thread's children and the caller's are enough; a daemon with hundreds of worker
    threads, each with a thread leader of its own (known to Popen, skipped by the scans), would otherwise
    read hundreds of files per scan. Once the main thread has ended, every thread's children are read.
    """
    pids: list[int] = []
    try:
        if threading.main_thread().is_alive():
            tasks = list(dict.fromkeys([str(os.getpid()), str(threading.get_native_id())]))
        else:
            tasks = os.listdir("/proc/self/task")
        for task in tasks:
            with open(f"/proc/self/task/{task}/children", "rb") as file:
                pids.extend(int(pid) for pid in file.read().split())
    except FileNotFoundError:
        if not Path("/proc").is_dir():
            return None
        me = str(os.getpid())
        return [pid for pid in _all_pids() if (_fields(pid) or ["", ""])[1] == me]
    except OSError:
        return None
    return pids


def _all_pids() -> list[int]:
    try:
        return [int(name) for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return []


def _fields(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name: state, ppid, pgrp, ..."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as file:
            stat = file.read().decode("ascii", "replace")
    except OSError:
        return None
    return stat[stat.rfind(")") + 2 :].split()


def _stat(pid: int) -> tuple[str, int] | None:
    fields = _fields(pid)
    if fields is None or len(fields) < 3:
        return None
    return fields[0], int(fields[2])


def _live(pid: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[0] != "Z"


def _has_markers(pid: int, markers: set[bytes]) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as file:
            entries = set(file.read().split(b"\0"))
    except OSError:
        return False
    return markers <= entries


def _reap_orphans(zombies: list[int]) -> list[int]:
    """Reap these zombies found among this process's children; returns those reaped.

    They were found without the scan lock (most scans find none, and a scan holding it would keep every
    spawn waiting); each is reaped under it, if it is still no `Popen`'s child: one found between a spawn's
    fork and its registration as a leader is left to its `Popen`.
    """
    if not zombies:
        return []
    with _lock.scan():
        reaped = [pid for pid in zombies if pid not in _leaders]
        for pid in reaped:
            _reap(pid)
    return reaped


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def _signal_group(group: int, signum: int) -> bool:
    """Send `signum` to the process group; False if the group no longer exists."""
    try:
        os.killpg(group, signum)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal_tree(pid: int, signum: int) -> None:
    """Signal an escaped process, and its whole group when it leads one (as `setsid` makes it)."""
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, signum)
        else:
            os.kill(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def _group_alive(group: int) -> bool:
    """True while some process of the group is alive. Its zombies re-parented to this process (a subreaper)
    are reaped; elsewhere zombies left to a non-reaping init do not count."""
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    children = _children()
    if not become_subreaper() or children is None:
        return _has_live_member(group)
    zombies = [pid for pid in children if pid not in _leaders and _stat(pid) == ("Z", group)]
    if not _reap_orphans(zombies):
        return True
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def _has_live_member(group: int) -> bool:
    if not Path("/proc").is_dir():
        return True  # nothing tells a zombie from a live process: trust killpg
    for pid in _all_pids():
        stat = _stat(pid)
        if stat is not None and stat[1] == group and stat[0] != "Z":
            return True
    return False
