"""Prune at scale: an index of 100,000 runs over 100 processes, 10,000 of them with real run folders, and
`retention: {keep_runs: 100}` (90,000 runs go, 9,000 of them with a folder).

Timed, interleaved and repeated on fresh copies: `taskctl.retention.prune` against the floor (moving the same
folders away and deleting them, plus one DELETE of the same rows), and the dry run (choosing alone). No target
is set by the issue; the ratio to the floor is printed.

    python bench/prune.py [RUNS] [FOLDERS] [REPEATS]
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from taskctl.clock import SYSTEM_CLOCK  # noqa: E402
from taskctl.config import load_config  # noqa: E402
from taskctl.retention import prune  # noqa: E402
from taskctl.runs import utc_text  # noqa: E402
from taskctl.store import Store  # noqa: E402
from taskctl.workspace import Workspace  # noqa: E402

PROCESSES = 100


def make_workspace(root: Path, runs: int, folders: int) -> list[str]:
    """The config, the index and the folders; returns the ids of the runs that have a folder."""
    (root / "config").mkdir(parents=True)
    processes = "".join(f"  p{n:03d}: {{threads: [t]}}\n" for n in range(PROCESSES))
    (root / "config" / "taskctl.yaml").write_text("retention: {keep_runs: 100}\n")
    (root / "config" / "main.yaml").write_text(f"threads:\n  t: {{code: pass}}\nprocesses:\n{processes}")
    start = datetime(2024, 1, 1, tzinfo=UTC)
    rows, with_folder = [], []
    every = max(1, runs // folders)
    for index in range(runs):
        process = f"p{index % PROCESSES:03d}"
        started = start + timedelta(minutes=index)
        run_id = f"{process}/{started:%Y-%m-%d_%H-%M-%S}"
        rows.append((run_id, process, "schedule", "succeeded", utc_text(started), utc_text(started)))
        if index % every == 0 and len(with_folder) < folders:
            folder = root / "process" / run_id
            folder.mkdir(parents=True)
            (folder / "run.json").write_text(json.dumps({"id": run_id}) + "\n")
            (folder / "console.log").write_text("line\n" * 40)
            with_folder.append(run_id)
    with Store(root / ".taskctl" / "state.db") as store, store.transaction() as db:
        db.execute_many(
            "INSERT INTO runs (id, process, trigger, status, started, finished) VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )
    return with_folder


def time_prune(root: Path, dry_run: bool) -> tuple[float, int]:
    config = load_config(Workspace(root))
    with Store(root / ".taskctl" / "state.db") as store:
        begin = time.perf_counter()
        report = prune(config, store, SYSTEM_CLOCK.now(), dry_run=dry_run)
        return time.perf_counter() - begin, len(report.removed)


def time_floor(root: Path, doomed: list[str], doomed_folders: list[str]) -> float:
    with Store(root / ".taskctl" / "state.db") as store:
        begin = time.perf_counter()
        trash = root / ".taskctl" / "trash"
        trash.mkdir()
        for number, run_id in enumerate(doomed_folders):
            (root / "process" / run_id).rename(trash / str(number))
        with store.transaction() as db:
            db.execute_many("DELETE FROM runs WHERE id = ?", [(i,) for i in doomed])
        shutil.rmtree(trash)
        return time.perf_counter() - begin


def doomed_ids(root: Path) -> list[str]:
    with Store(root / ".taskctl" / "state.db") as store:
        ids = []
        for process in store.processes():
            ids.extend(r.id for r in store.runs(process, limit=None)[100:])
        return ids


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    folders = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
    repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    results: dict[str, list[float]] = {"prune": [], "floor": [], "dry run": []}
    removed = 0
    with tempfile.TemporaryDirectory(dir=REPO / "bench") as temp:
        for repeat in range(repeats):
            base = Path(temp) / str(repeat)
            begin = time.perf_counter()
            with_folder = make_workspace(base / "prune", runs, folders)
            shutil.copytree(base / "prune", base / "floor", symlinks=True)
            print(
                f"[{repeat + 1}/{repeats}] made {runs:,} index rows, {len(with_folder):,} folders twice "
                f"in {time.perf_counter() - begin:.1f}s"
            )
            doomed = doomed_ids(base / "floor")
            doomed_folders = sorted(set(doomed) & set(with_folder))
            results["dry run"].append(time_prune(base / "prune", dry_run=True)[0])
            seconds, removed = time_prune(base / "prune", dry_run=False)
            results["prune"].append(seconds)
            results["floor"].append(time_floor(base / "floor", doomed, doomed_folders))
            assert removed == len(doomed), (removed, len(doomed))
            shutil.rmtree(base)
    print(f"runs removed per prune: {removed:,} (of {runs:,}; {len(doomed_folders):,} with a folder)")
    for label, samples in results.items():
        each = ", ".join(f"{s:.2f}" for s in samples)
        print(f"{label:<8}: median {statistics.median(samples):6.2f}s  (runs: {each})")
    ratio = statistics.median(results["prune"]) / statistics.median(results["floor"])
    print(f"prune / floor (rename + rmtree + one DELETE): {ratio:.2f}x  (no target; the floor is least work)")


if __name__ == "__main__":
    main()
