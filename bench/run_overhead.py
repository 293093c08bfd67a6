"""Runner overhead: a one-thread process whose script does nothing, run through the run service (run folder,
run.json, logs, run index, overlap check), against a bare `subprocess.run([python, script])` writing its
output to a new file in a new folder. Both sides run in this process, interleaved run by run, so a machine
busy with other work slows both alike. Target: <= 1.1x the bare time.

    python bench/run_overhead.py [RUNS]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from taskctl.config import load_config
from taskctl.runner import RunRequest, RunService
from taskctl.store import open_index
from taskctl.workspace import Workspace

TARGET = 1.1


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp)
        (root / "config").mkdir()
        (root / "threads" / "noop").mkdir(parents=True)
        script = root / "threads" / "noop" / "main.py"
        script.write_text("")
        (root / "config" / "threads.yaml").write_text("threads:\n  noop: {}\n")
        (root / "bare").mkdir()
        workspace = Workspace(root)
        definition = load_config(workspace).resolved("noop")
        bare_times: list[float] = []
        ours_times: list[float] = []
        with open_index(workspace) as store:
            service = RunService(workspace, store)
            for index in range(runs):
                started = time.perf_counter()
                folder = root / "bare" / f"run-{index}"
                folder.mkdir()
                with (folder / "out.log").open("wb") as out:
                    subprocess.run(
                        [sys.executable, str(script)], stdout=out, stderr=subprocess.STDOUT, check=True
                    )
                bare_times.append(time.perf_counter() - started)

                started = time.perf_counter()
                record = service.run(definition, RunRequest(force=True))
                ours_times.append(time.perf_counter() - started)
                assert record.status == "succeeded", record.status
    bare, ours = sum(bare_times), sum(ours_times)
    print(f"bare subprocess.run : {runs} runs, {1000 * statistics.median(bare_times):.1f} ms/run (median)")
    print(f"taskctl run service : {runs} runs, {1000 * statistics.median(ours_times):.1f} ms/run (median)")
    print(f"ratio of medians    : {statistics.median(ours_times) / statistics.median(bare_times):.2f}x")
    print(f"ratio of totals     : {ours / bare:.2f}x (target <= {TARGET}x)")


if __name__ == "__main__":
    main()
