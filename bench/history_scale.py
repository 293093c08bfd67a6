"""History at scale: an index of 1,000,000 runs over 200 processes. Latest 50, latest 50 failed of one
process, and counts by status must each take < 50 ms in-process; the CLI wall time of `history` is reported.

    python bench/history_scale.py [RUNS]
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from taskctl.runs import RunStatus, utc_text  # noqa: E402
from taskctl.store import Store  # noqa: E402

STATUSES = ["succeeded"] * 90 + ["failed"] * 6 + ["timed_out", "cancelled", "interrupted", "skipped"]


def fill(store: Store, runs: int) -> None:
    rng = random.Random(7)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    rows = []
    for index in range(runs):
        process = f"process-{index % 200:03d}"
        started = start + timedelta(seconds=60 * index)
        stamp = started.strftime("%Y-%m-%d_%H-%M-%S")
        status = rng.choice(STATUSES)
        rows.append((f"{process}/{stamp}", process, "schedule", status, utc_text(started), 12.5))
    with store.transaction() as tx:
        tx.execute_many(
            "INSERT INTO runs (id, process, trigger, status, started, duration) VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )


def timed(label: str, action: object) -> None:
    assert callable(action)
    action()  # warm the page cache as a second `history` call would find it
    samples = []
    for _ in range(5):
        begin = time.perf_counter()
        result = action()
        samples.append(time.perf_counter() - begin)
    samples.sort()
    print(f"{label:<34}: {1000 * samples[2]:7.2f} ms (median of 5; {len(result)} rows) target < 50 ms")


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp)
        (root / "config").mkdir()
        db = root / ".taskctl" / "state.db"
        with Store(db) as store:
            begin = time.perf_counter()
            fill(store, runs)
            print(f"indexed {runs:,} runs over 200 processes in {time.perf_counter() - begin:.1f}s")
            timed("latest 50", lambda: store.runs(limit=50))
            timed(
                "latest 50 failed of one process",
                lambda: store.runs("process-042", [RunStatus.FAILED], limit=50),
            )
            timed("counts by status (all time)", lambda: store.counts_by_status())
            timed("counts by status of one process", lambda: store.counts_by_status("process-042"))
            since = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(seconds=60 * runs) - timedelta(days=1)
            timed("counts by status, last 24 h", lambda: store.counts_by_status(since=since))
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        for args in (
            ["history", "--limit", "50"],
            ["history", "process-042", "--status", "failed", "--json"],
        ):
            command = [sys.executable, "-m", "taskctl", "--root", str(root), *args]
            subprocess.run(command, env=env, capture_output=True, check=True)
            begin = time.perf_counter()
            subprocess.run(command, env=env, capture_output=True, check=True)
            print(f"CLI taskctl {' '.join(args):<40}: {1000 * (time.perf_counter() - begin):.0f} ms wall")


if __name__ == "__main__":
    main()
