"""An idle daemon: 1,000 processes whose next slot is an hour away.

Over `--seconds` (default 60) after start-up has settled: the daemon's CPU seconds, its wake-ups (voluntary
context switches: of the loop's thread, and of all its threads) and its resident memory. Beside it, in the
same window: the same interpreter importing the same modules and sleeping (the floor for memory), and a
loop that polls every second (what the daemon must not be).

Targets (issue 8): CPU over 60 s < 0.05 s, wake-ups <= 2 a minute, RSS < 80 MB.

    python bench/idle.py [--processes 1000] [--seconds 60]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parents[1]
SETTLE = 8.0  # seconds for start-up (config, first tick, the first retention pass) to be over
IMPORTS = "import taskctl.cli.main, taskctl.daemon.runtime, taskctl.config.loader, taskctl.runner.service"
REFERENCES = {
    "python importing the same, sleeping": f"{IMPORTS}; import time; time.sleep(3600)",
    "a loop polling every second": f"{IMPORTS}; import time\nwhile True: time.sleep(1)",
}


def cpu_seconds(pid: int) -> float:
    """CPU time of all the process's threads, to the nanosecond (schedstat), not in 10 ms clock ticks."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, IndexError, ValueError):
            continue
    return total / 1e9


def switches(pid: int) -> tuple[int, int]:
    """Voluntary context switches of the main thread, and of every thread."""
    main = total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            text = (task / "status").read_text()
        except OSError:
            continue
        count = int(text.split("voluntary_ctxt_switches:")[1].split()[0])
        total += count
        if task.name == str(pid):
            main = count
    return main, total


def rss_mb(pid: int) -> float:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(text.split("VmRSS:")[1].split()[0]) / 1024


def config(processes: int) -> str:
    """Every process on a daily cron an hour and a minute from now (Berlin time)."""
    due = datetime.now(ZoneInfo("Europe/Berlin")) + timedelta(hours=1, minutes=1)
    cron = f"{due.minute} {due.hour} * * *"
    entries = "".join(f"  p{i:04d}: {{threads: [hello], schedule: '{cron}'}}\n" for i in range(processes))
    return f"timezone: Europe/Berlin\nthreads:\n  hello: {{command: [echo, hi]}}\nprocesses:\n{entries}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--processes", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="taskctl-idle-"))
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYDANTIC_DISABLE_PLUGINS": "__all__"}
    children: dict[str, subprocess.Popen[bytes]] = {}
    try:
        (root / "config").mkdir()
        (root / "threads").mkdir()
        (root / "config" / "taskctl.yaml").write_text(config(args.processes))
        log = (root / "daemon.log").open("wb")
        children["taskctl daemon"] = subprocess.Popen(
            [sys.executable, "-m", "taskctl", "--root", str(root), "daemon"], stderr=log, env=env
        )
        for name, code in REFERENCES.items():
            children[name] = subprocess.Popen([sys.executable, "-c", code], env=env)
        time.sleep(SETTLE)
        before = {name: (cpu_seconds(p.pid), switches(p.pid)) for name, p in children.items()}
        time.sleep(args.seconds)
        after = {name: (cpu_seconds(p.pid), switches(p.pid), rss_mb(p.pid)) for name, p in children.items()}
        window = f"{args.seconds:.0f} s idle, {SETTLE:.0f} s after start"
        print(f"{args.processes} processes due in an hour; {window}")
        print(f"{'':40} {'cpu s':>8} {'wake-ups':>9} {'all threads':>12} {'rss MB':>8}")
        per_minute = 60.0 / args.seconds
        for name in children:
            cpu = after[name][0] - before[name][0]
            main_wakes = (after[name][1][0] - before[name][1][0]) * per_minute
            all_wakes = (after[name][1][1] - before[name][1][1]) * per_minute
            print(f"{name:40} {cpu:8.4f} {main_wakes:9.0f} {all_wakes:12.0f} {after[name][2]:8.1f}")
        cpu = (after["taskctl daemon"][0] - before["taskctl daemon"][0]) * per_minute
        wakes = (after["taskctl daemon"][1][0] - before["taskctl daemon"][1][0]) * per_minute
        rss = after["taskctl daemon"][2]
        print(
            f"daemon per minute: cpu {cpu:.4f} s (target < 0.05: {'ok' if cpu < 0.05 else 'MISSED'}), "
            f"loop wake-ups {wakes:.0f} (target <= 2: {'ok' if wakes <= 2 else 'MISSED'}), "
            f"rss {rss:.1f} MB (target < 80: {'ok' if rss < 80 else 'MISSED'})"
        )
    finally:
        for child in children.values():
            child.send_signal(signal.SIGTERM)
        for child in children.values():
            child.wait(60)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
