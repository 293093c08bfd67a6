"""Schedule latency of the real daemon against a hand-written ideal, N processes `every 1 seconds`.

Each run's only thread records the moment it starts (a bash one-liner, the same on both sides). Latency
is that moment minus the slot (the whole second it was scheduled for). Over a window of `--seconds` slots per
process, after a warm-up: p50/p99/max latency, missed slots (no start recorded by the end: recorded missed,
or still waiting for a worker when the daemon was stopped), duplicates (two starts for one slot) and the
scheduler's own CPU seconds (its children excluded).

The ideal, measured in the same run, interleaved: a loop that sleeps to the next second and starts the N
scripts from 4 threads (`subprocess.Popen`) as a scheduler must, each in its own session with its output on a
pipe that one background thread reads to the end before reaping the child: no run folders, no index.

Targets (issue 8): 0 missed and 0 duplicates at N = 200; p99 <= 1.5x the ideal's at N = 50 and N = 200.

    python bench/latency.py [--sizes 1 50 200] [--seconds 30] [--repeat 1]
"""

from __future__ import annotations

import argparse
import array
import contextlib
import fcntl
import math
import os
import selectors
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WARM_UP = 4  # seconds of slots before the window (the worker pool grows, caches fill)
SETTLE = 3.0  # seconds after the window for the last starts to be recorded
TICKS = os.sysconf("SC_CLK_TCK")
# Where the workspaces of both sides go, removed when the script ends (not between sides). On ext4 creating a
# file scans past every inode deleted in the last minute or so in its block group, one by one (perf on this
# machine, whose ext4 has no journal: after a clean-up of ~25,000 files `find_inode_bit`/`recently_deleted`
# took ~20% of the daemon's CPU, and p50 latency at N = 200 grew from 0.24 to 1.7 s within 40 s). Only the
# daemon creates files (run folders, logs, run.json); the ideal creates none. So the parent is flagged TOPDIR
# (`chattr +T`, a no-op where unsupported), which makes ext4 put each workspace in a block group of its own,
# away from what other work (a test suite, an earlier bench, the side before) deleted in /tmp.
_FS_IOC_GETFLAGS, _FS_IOC_SETFLAGS, _FS_TOPDIR_FL = 0x80086601, 0x40086602, 0x00020000
PARENT: list[Path] = []


def new_workspace(prefix: str) -> Path:
    if not PARENT:
        PARENT.append(Path(tempfile.mkdtemp(prefix="taskctl-latency-bench-")))
        with contextlib.suppress(OSError):
            fd = os.open(PARENT[0], os.O_RDONLY)
            try:
                flags = array.array("l", [0])
                fcntl.ioctl(fd, _FS_IOC_GETFLAGS, flags, True)
                flags[0] |= _FS_TOPDIR_FL
                fcntl.ioctl(fd, _FS_IOC_SETFLAGS, flags, True)
            finally:
                os.close(fd)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=PARENT[0]))


# The thread records "<slot id> <start>" with one append (atomic for a short line): bash's $EPOCHREALTIME, so
# that what is measured is the scheduler and the spawn, not an interpreter's start-up (a Python script costs
# ~20 ms of CPU: 200 of them a second would need more than this machine's two cores).
RECORD = 'echo "${TASKCTL_RUN_ID:-$BENCH_SLOT} $EPOCHREALTIME" >> "$BENCH_OUT"'
# overlap: allow, as the ideal starts every slot whatever still runs
EVERY_SECOND = "schedule: every 1 seconds, overlap: allow, max_instances: 5"


@dataclass
class Figures:
    side: str
    n: int
    starts: int
    missed: int
    duplicates: int
    latencies: list[float]  # seconds
    cpu: float

    def row(self) -> str:
        lat = sorted(self.latencies) or [math.nan]
        p99 = lat[min(len(lat) - 1, math.ceil(0.99 * len(lat)) - 1)]
        p50, worst = statistics.median(lat), lat[-1]
        return (
            f"{self.n:>4} {self.side:7} {self.starts:>6} {self.missed:>6} {self.duplicates:>4} "
            f"{p50 * 1000:>8.1f} {p99 * 1000:>8.1f} {worst * 1000:>8.1f} {self.cpu:>7.2f}"
        )

    @property
    def p99(self) -> float:
        lat = sorted(self.latencies) or [math.nan]
        return lat[min(len(lat) - 1, math.ceil(0.99 * len(lat)) - 1)]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime, children excluded


def window_figures(
    side: str,
    n: int,
    starts: dict[str, list[float]],
    slots: dict[str, tuple[str, float]],
    window: range,
    cpu: float,
) -> Figures:
    """`starts`: slot id -> recorded starts; `slots`: slot id -> (process, slot second)."""
    latencies, missed, duplicates, counted = [], 0, 0, 0
    seen: Counter[tuple[str, int]] = Counter()
    for slot_id, moments in starts.items():
        process, second = slots.get(slot_id, ("?", math.nan))
        if not math.isnan(second) and int(second) in window:
            seen[(process, int(second))] += len(moments)
            latencies.extend(moment - second for moment in moments)
            counted += len(moments)
    duplicates = sum(count - 1 for count in seen.values() if count > 1)
    missed = n * len(window) - len(seen)
    return Figures(side, n, counted, missed, duplicates, latencies, cpu)


def read_starts(path: Path) -> dict[str, list[float]]:
    starts: dict[str, list[float]] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            slot_id, _, moment = line.rpartition(" ")
            starts.setdefault(slot_id, []).append(float(moment))
    return starts


# -- the daemon ----------------------------------------------------------------------------------------


def run_daemon(n: int, seconds: int) -> Figures:
    root = new_workspace("daemon-")
    out = root / "starts.txt"
    (root / "threads").mkdir()
    (root / "config").mkdir()
    (root / "config" / "taskctl.yaml").write_text(
        f"max_parallel_runs: {max(4, 2 * n)}\n"
        f"threads:\n  record:\n    command: [bash, -c, '{RECORD}']\n    env: {{BENCH_OUT: '{out}'}}\n"
        "processes:\n" + "".join(f"  p{i:03d}: {{threads: [record], {EVERY_SECOND}}}\n" for i in range(n))
    )
    log = (root / "daemon.log").open("wb")
    daemon = subprocess.Popen(
        [sys.executable, "-m", "taskctl", "--root", str(root), "daemon"],
        stderr=log,
        stdout=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    first = math.ceil(time.time()) + WARM_UP + 1
    window = range(first, first + seconds)
    time.sleep(max(0.0, first - time.time() - 0.5))
    cpu_before = cpu_seconds(daemon.pid)
    time.sleep(max(0.0, window.stop - time.time()))
    cpu = cpu_seconds(daemon.pid) - cpu_before
    time.sleep(SETTLE)
    daemon.send_signal(signal.SIGTERM)
    daemon.wait(120)
    log.close()
    db = sqlite3.connect(root / ".taskctl" / "state.db")
    rows = db.execute("SELECT id, process, scheduled_for FROM runs WHERE has_folder = 1").fetchall()
    slots = {
        run_id: (process, datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp())
        for run_id, process, at in rows
    }
    db.close()
    return window_figures("daemon", n, read_starts(out), slots, window, cpu)


# -- the ideal -----------------------------------------------------------------------------------------


def run_ideal(n: int, seconds: int) -> Figures:
    root = new_workspace("ideal-")
    out = root / "starts.txt"
    slots: dict[str, tuple[str, float]] = {}
    output = _Drain(root / "output.log")

    def spawn(process: str, second: int) -> None:
        slot_id = f"{process}@{second}"
        env = {**os.environ, "BENCH_OUT": str(out), "BENCH_SLOT": slot_id}
        # what a scheduler must do too: its own session, output captured on a pipe, read to the end
        child = subprocess.Popen(
            ["bash", "-c", RECORD],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            bufsize=0,
        )
        output.add(child)

    first = math.ceil(time.time()) + WARM_UP + 1
    window = range(first, first + seconds)
    cpu_before = time.process_time()
    with ThreadPoolExecutor(4) as pool:
        second = math.ceil(time.time())
        while second < window.stop:
            time.sleep(max(0.0, second - time.time()))
            for i in range(n):
                process = f"p{i:03d}"
                slots[f"{process}@{second}"] = (process, float(second))
                pool.submit(spawn, process, second)
            second += 1
    cpu = time.process_time() - cpu_before
    time.sleep(SETTLE)
    output.close()
    return window_figures("ideal", n, read_starts(out), slots, window, cpu)


class _Drain:
    """One thread reading the output of every child to its end (into one log file), then reaping it."""

    def __init__(self, log: Path) -> None:
        self._log = log.open("ab")
        self._selector = selectors.DefaultSelector()
        self._wake_read, self._wake_write = os.pipe()
        self._selector.register(self._wake_read, selectors.EVENT_READ, None)
        self._lock = threading.Lock()
        self._added: list[subprocess.Popen[bytes]] = []
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def add(self, child: subprocess.Popen[bytes]) -> None:
        with self._lock:
            self._added.append(child)
        os.write(self._wake_write, b"x")

    def close(self) -> None:
        self._stop = True
        os.write(self._wake_write, b"x")
        self._thread.join(60)
        self._log.close()

    def _run(self) -> None:
        open_pipes = 0
        while not (self._stop and open_pipes == 0 and not self._added):
            for key, _ in self._selector.select(1.0):
                if key.data is None:
                    os.read(self._wake_read, 4096)
                    with self._lock:
                        added, self._added = self._added, []
                    for child in added:
                        assert child.stdout is not None
                        self._selector.register(child.stdout, selectors.EVENT_READ, child)
                        open_pipes += 1
                    continue
                child = key.data
                data = os.read(key.fd, 65536)
                if data:
                    self._log.write(data)
                    continue
                self._selector.unregister(key.fd)
                child.stdout.close()
                child.wait()
                open_pipes -= 1


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 50, 200])
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    print(f"N processes 'every 1 seconds', {args.seconds} s window; latency = thread start - slot")
    columns = ("starts", "missed", "dup", "p50 ms", "p99 ms", "max ms", "cpu s")
    widths = (6, 6, 4, 8, 8, 8, 7)
    print(
        f"{'N':>4} {'side':7} "
        + " ".join(f"{name:>{width}}" for name, width in zip(columns, widths, strict=True))
    )
    results: dict[int, dict[str, list[Figures]]] = {}
    try:
        for _ in range(args.repeat):
            for n in args.sizes:  # interleaved: each size measures both sides in turn
                for side, measure in (("daemon", run_daemon), ("ideal", run_ideal)):
                    figures = measure(n, args.seconds)
                    results.setdefault(n, {}).setdefault(side, []).append(figures)
                    print(figures.row(), flush=True)
    finally:
        for parent in PARENT:
            shutil.rmtree(parent, ignore_errors=True)
    print()
    for n, sides in results.items():
        daemon_p99 = statistics.median(f.p99 for f in sides["daemon"])
        ideal_p99 = statistics.median(f.p99 for f in sides["ideal"])
        ratio = daemon_p99 / ideal_p99
        missed = sum(f.missed for f in sides["daemon"])
        duplicates = sum(f.duplicates for f in sides["daemon"])
        verdicts = [f"p99 {daemon_p99 * 1000:.0f} ms vs ideal {ideal_p99 * 1000:.0f} ms = {ratio:.2f}x"]
        if n >= 50:
            verdicts.append(f"target <= 1.5x: {'ok' if ratio <= 1.5 else 'MISSED'}")
        verdicts.append(f"missed {missed}, duplicates {duplicates}")
        if n >= 200:
            verdicts.append(f"target 0 and 0: {'ok' if missed == duplicates == 0 else 'MISSED'}")
        print(f"N = {n:>3}: " + "; ".join(verdicts))


if __name__ == "__main__":
    main()
