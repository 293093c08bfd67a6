"""Catch-up after downtime: 1,000 processes with `* * * * *`, the daemon down for 30 days.

1. The scheduling core: the time from a new `Scheduler` over the saved cursors to its first tick's actions
   (due runs and missed-slot counts), for each catch_up policy, whole (no budget) and with the daemon's
   budget. Beside it, in the same run, the naive way: walking every missed slot (`fires_between`) for a
   sample of processes, scaled to 1,000.
2. The real daemon: `taskctl daemon` started on a workspace whose state DB says every process last ran 30
   days ago; the time from starting the command to the first thread's start (a bash one-liner recording
   its start), for catch_up latest (the default) and all, interleaved, and the time until every process has
   started a run. Beside it, `taskctl --version` (the interpreter and the CLI starting, nothing else).

Target (issue 8): < 1 s from start to the first run.

    python bench/catchup.py [--processes 1000] [--days 30] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from taskctl.config import CatchUp
from taskctl.daemon.runtime import TICK_BUDGET
from taskctl.daemon.scheduler import (
    InMemorySchedulerState,
    ScheduledProcess,
    Scheduler,
    schedule_key,
)
from taskctl.runs import utc_text
from taskctl.schedule import fires_between, parse_schedule
from taskctl.store import open_index
from taskctl.workspace import Workspace

REPO = Path(__file__).resolve().parents[1]
ZONE = ZoneInfo("Europe/Berlin")
NOW = datetime(2027, 3, 31, 8, 0, 20, tzinfo=UTC)  # 30 days back crosses Berlin's spring night
RECORD = 'echo "$TASKCTL_RUN_ID $EPOCHREALTIME" >> "$BENCH_OUT"'


def first_tick_seconds(
    processes: list[ScheduledProcess], down: timedelta, budget: int | None = None
) -> tuple[float, int, int]:
    state = InMemorySchedulerState()
    state.save_cursors({(p.name, schedule_key(p.schedules[0], ZONE)): NOW - down for p in processes})
    start = time.perf_counter()
    scheduler = Scheduler(state, {p.name: p for p in processes}, NOW)
    tick = scheduler.tick(NOW, budget)
    elapsed = time.perf_counter() - start
    return elapsed, len(tick.due), tick.missed_count


def naive_seconds(processes: int, down: timedelta, sample: int = 5) -> float:
    schedule = parse_schedule("* * * * *")
    start = time.perf_counter()
    for _ in range(sample):
        sum(1 for _ in fires_between(schedule, ZONE, NOW - down, NOW))
    return (time.perf_counter() - start) * processes / sample


def core(args: argparse.Namespace) -> None:
    down = timedelta(days=args.days)
    every_minute = (parse_schedule("* * * * *"),)
    print(f"1. the scheduling core: {args.processes} processes '* * * * *', {args.days} days down")
    naive = []
    figures: dict[tuple[CatchUp, int | None], list[float]] = {}
    counts: dict[tuple[CatchUp, int | None], tuple[int, int]] = {}
    for _ in range(args.repeat):  # interleaved: each round measures every side once
        for policy in CatchUp:
            processes = [
                ScheduledProcess(f"p{i:04d}", ZONE, every_minute, policy, timedelta(days=args.days + 1))
                for i in range(args.processes)
            ]
            for budget in (None, TICK_BUDGET):
                elapsed, due, missed = first_tick_seconds(processes, down, budget)
                figures.setdefault((policy, budget), []).append(elapsed)
                counts[(policy, budget)] = (due, missed)
        naive.append(naive_seconds(args.processes, down))
    reference = statistics.median(naive)
    print(f"   {'walking every missed slot (extrapolated)':50} {reference:8.3f} s")
    for (policy, budget), values in figures.items():
        median = statistics.median(values)
        due, missed = counts[(policy, budget)]
        what = f"catch_up: {policy.value}, " + ("whole first tick" if budget is None else f"budget {budget}")
        print(f"   {what:50} {median:8.3f} s  ({due} runs due, {missed} slots missed in that tick)")


# -- the real daemon -------------------------------------------------------------------------------------


def workspace(root: Path, processes: int, policy: CatchUp, days: int) -> Path:
    """A workspace whose state DB says every process last handled a slot `days` ago."""
    out = root / "starts.txt"
    (root / "threads").mkdir(parents=True)
    (root / "config").mkdir()
    (root / "config" / "taskctl.yaml").write_text(
        "timezone: Europe/Berlin\nmax_parallel_runs: 8\n"
        f"defaults: {{catch_up: {policy.value}, misfire_grace: {days + 1}d}}\n"
        f"threads:\n  record: {{command: [bash, -c, '{RECORD}'], env: {{BENCH_OUT: '{out}'}}}}\n"
        "processes:\n"
        + "".join(f"  p{i:04d}: {{threads: [record], schedule: '* * * * *'}}\n" for i in range(processes))
    )
    back = datetime.now(UTC) - timedelta(days=days)
    with open_index(Workspace(root)) as store, store.transaction() as tx:
        tx.execute_many(
            "INSERT INTO schedule_cursors (process, schedule, cursor) VALUES (?, ?, ?)",
            [(f"p{i:04d}", "* * * * * @ Europe/Berlin", utc_text(back)) for i in range(processes)],
        )
    return out


def daemon_seconds(processes: int, policy: CatchUp, days: int) -> tuple[float, float, int]:
    """Seconds from starting `taskctl daemon` to its first run's thread, and to every process having started
    one; and the missed slots it recorded by then."""
    root = Path(tempfile.mkdtemp(prefix="taskctl-catchup-"))
    try:
        out = workspace(root, processes, policy, days)
        log = (root / "daemon.log").open("wb")
        begin = time.time()
        daemon = subprocess.Popen(
            [sys.executable, "-m", "taskctl", "--root", str(root), "daemon"],
            stderr=log,
            stdout=subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        first = every = None
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and every is None:
            time.sleep(0.01)
            if out.exists():
                lines = out.read_text().splitlines()
                if lines and first is None:
                    first = min(float(line.split()[1]) for line in lines)
                if len({line.split("/")[0] for line in lines}) >= processes:
                    every = max(float(line.split()[1]) for line in lines)
        daemon.send_signal(signal.SIGINT)
        daemon.send_signal(signal.SIGINT)  # a second one cancels what still runs
        daemon.wait(120)
        log.close()
        db = sqlite3.connect(root / ".taskctl" / "state.db")
        (missed,) = db.execute(
            "SELECT COALESCE(SUM(COALESCE(m.count, 1)), 0) FROM runs r "
            "LEFT JOIN missed_counts m ON m.id = r.id WHERE r.has_folder = 0"
        ).fetchone()
        db.close()
        assert first is not None and every is not None, "the daemon started no run"
        return first - begin, every - begin, int(missed)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def import_seconds() -> float:
    """Starting Python and importing what the daemon needs, and nothing else."""
    begin = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", "import taskctl.cli.main, taskctl.daemon.runtime"],
        check=True,
        capture_output=True,
        env={**os.environ, "PYTHONPATH": str(REPO), "PYDANTIC_DISABLE_PLUGINS": "__all__"},
    )
    return time.perf_counter() - begin


def real(args: argparse.Namespace) -> None:
    print(f"2. the real daemon: {args.processes} processes '* * * * *', {args.days} days down")
    figures: dict[str, list[tuple[float, float, int]]] = {}
    imports = []
    for _ in range(args.repeat_daemon):
        imports.append(import_seconds())
        for policy in (CatchUp.LATEST, CatchUp.ALL):
            figures.setdefault(policy.value, []).append(daemon_seconds(args.processes, policy, args.days))
    imported = statistics.median(imports)
    print(f"   {'python + importing the daemon (no work)':50} {imported:8.3f} s")
    for policy, values in figures.items():
        first = statistics.median(v[0] for v in values)
        every = statistics.median(v[1] for v in values)
        verdict = "ok" if first < 1 else "MISSED"
        what = f"catch_up: {policy}, start to the first run"
        print(
            f"   {what:50} {first:8.3f} s  target < 1 s: {verdict}"
            f"  ({first - imported:.3f} s after the imports; every process started one after {every:.1f} s;"
            f" {values[-1][2]} slots recorded missed)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--processes", type=int, default=1000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--repeat-daemon", type=int, default=3)
    args = parser.parse_args()
    core(args)
    real(args)


if __name__ == "__main__":
    main()
