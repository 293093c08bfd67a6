"""Runner overhead: 200 runs of a one-thread process whose script does nothing, through the library API
(run folder, run.json, logs, run index), against 200 bare `subprocess.run([python, "-c", "pass"])` each
writing to a new file in a new folder. Target: <= 1.5x the bare time.

    python bench/run_overhead.py [RUNS]
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from taskctl.config import load_config
from taskctl.runner import run_chain
from taskctl.store import Store
from taskctl.workspace import Workspace


def bare(root: Path, runs: int) -> float:
    start = time.perf_counter()
    for index in range(runs):
        folder = root / f"bare-{index}"
        folder.mkdir()
        with (folder / "out.log").open("wb") as out:
            subprocess.run([sys.executable, "-c", "pass"], stdout=out, stderr=subprocess.STDOUT, check=True)
    return time.perf_counter() - start


def through_runner(root: Path, runs: int) -> float:
    (root / "config").mkdir()
    (root / "threads" / "noop").mkdir(parents=True)
    (root / "threads" / "noop" / "main.py").write_text("")
    (root / "config" / "threads.yaml").write_text("threads:\n  noop: {}\n")
    workspace = Workspace(root)
    config = load_config(workspace)
    with Store(workspace.state_db) as store:
        start = time.perf_counter()
        for _ in range(runs):
            record = run_chain(config, "noop", store=store, force=True)
            assert record.status == "succeeded", record.status
        return time.perf_counter() - start


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    with tempfile.TemporaryDirectory() as temp:
        base = bare(Path(temp), runs)
    with tempfile.TemporaryDirectory() as temp:
        ours = through_runner(Path(temp), runs)
    print(f"bare subprocess.run : {runs} runs in {base:.2f}s ({1000 * base / runs:.1f} ms/run)")
    print(f"taskctl run_chain   : {runs} runs in {ours:.2f}s ({1000 * ours / runs:.1f} ms/run)")
    print(f"ratio               : {ours / base:.2f}x (target <= 1.5x)")


if __name__ == "__main__":
    main()
