"""Load a generated config of 1,000 threads and 1,000 processes (3 schedules each); list 1,000 upcoming.

Target (issue 2): both together under 2 s on this machine.

    python bench/config_scale.py [--threads 1000] [--processes 1000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCHEDULES = [
    '"30 2 * * *"',
    "every 6 hours",
    "daily at 10:30",
    "monday at 09:00",
    '"*/15 9-17 * * 1-5"',
    "every 90 minutes",
    "weekdays at 07:45",
    '"0 0 1 * *"',
]


def generate(root: Path, threads: int, processes: int) -> None:
    (root / "config").mkdir(parents=True)
    lines = ["threads:"]
    for i in range(threads):
        name = f"t{i:04d}"
        if i % 3 == 0:
            folder = root / "threads" / name
            folder.mkdir(parents=True)
            (folder / "main.py").write_text("print('hi')\n")
            lines += [f"  {name}:", "    timeout: 10m", "    tags: [bench]"]
        elif i % 3 == 1:
            lines += [f"  {name}:", "    command: [echo, hi]", "    retries: {count: 2, delay: 5s}"]
        else:
            lines += [f"  {name}:", "    code: print('hi')", "    env: {REGION: eu}"]
    (root / "config" / "threads.yaml").write_text("\n".join(lines) + "\n")
    lines = ["processes:"]
    for i in range(processes):
        chain = ", ".join(f"t{(i + k) % threads:04d}" for k in range(3))
        picks = [SCHEDULES[(i + k * 3) % len(SCHEDULES)] for k in range(3)]
        lines += [f"  p{i:04d}:", f"    threads: [{chain}]", "    schedule:"]
        lines += [f"      - {s}" for s in picks]
        if i % 10 == 0:
            lines.append("    timezone: America/New_York")
    (root / "config" / "processes.yaml").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=1000)
    parser.add_argument("--processes", type=int, default=1000)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from taskctl.config import load_config
    from taskctl.upcoming import upcoming
    from taskctl.workspace import Workspace

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "ws"
        generate(root, args.threads, args.processes)
        ws = Workspace(root)
        now = datetime.now(UTC)
        start = time.perf_counter()
        config = load_config(ws, now=now)
        loaded = time.perf_counter()
        items = upcoming(config, now, count=1000)
        done = time.perf_counter()
        assert len(items) == 1000
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        cli_start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "taskctl", "--root", str(root), "upcoming", "--count", "1000"],
            check=True,
            stdout=subprocess.DEVNULL,
            env=env,
        )
        cli = time.perf_counter() - cli_start
    total = done - start
    print(f"config: {args.threads} threads, {args.processes} processes, {3 * args.processes} schedules")
    print(f"load + validate       {1000 * (loaded - start):8.1f} ms")
    print(f"upcoming --count 1000 {1000 * (done - loaded):8.1f} ms")
    print(
        f"both (in process)     {1000 * total:8.1f} ms   target < 2000 ms: {'ok' if total < 2 else 'MISSED'}"
    )
    print(f"CLI wall time of 'taskctl upcoming --count 1000': {1000 * cli:.1f} ms")


if __name__ == "__main__":
    main()
