"""Hot reload: the time from saving a config file to the daemon having applied it.

A running `taskctl daemon` over `--processes` processes; `--edits` edits saved in place (the file rewritten)
and as many saved by rename (a new file renamed over it, as many editors do), interleaved. Each edit changes
one process's schedule; the time is taken from just before the save to the moment the daemon's log line
"config revision ... applied" reaches this script (read from its stderr as it is written). Beside it, the
time watchdog (inotify) takes to report the same kind of save to a bare observer in this script: the floor
that debouncing, reading and validating the config add to.

Targets (issue 8): median < 300 ms, max < 1 s.

    python bench/reload.py [--processes 50] [--edits 20]
"""

from __future__ import annotations

import argparse
import os
import queue
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

REPO = Path(__file__).resolve().parents[1]
PAUSE = 0.4  # seconds between edits, so that each one is its own reload


def config(processes: int, minutes: int) -> str:
    entries = "".join(
        f"  p{i:03d}: {{threads: [hello], schedule: '30 2 * * *'}}\n" for i in range(1, processes)
    )
    return (
        "timezone: Europe/Berlin\nthreads:\n  hello: {command: [echo, hi]}\nprocesses:\n"
        f"  p000: {{threads: [hello], schedule: every {minutes} minutes}}\n{entries}"
    )


def save(path: Path, text: str, by_rename: bool) -> None:
    if by_rename:
        temporary = path.with_name(f".{path.name}.tmp")
        temporary.write_text(text)
        os.replace(temporary, path)
    else:
        with path.open("w") as file:
            file.write(text)


class _Heard(FileSystemEventHandler):
    def __init__(self, heard: queue.SimpleQueue[float]) -> None:
        self.heard = heard

    def on_any_event(self, event: FileSystemEvent) -> None:
        paths = (str(event.src_path), str(event.dest_path))
        if event.event_type not in ("opened", "closed_no_write") and any(p.endswith(".yaml") for p in paths):
            self.heard.put(time.perf_counter())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--processes", type=int, default=50)
    parser.add_argument("--edits", type=int, default=20)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="taskctl-reload-"))
    (root / "config").mkdir()
    (root / "threads").mkdir()
    path = root / "config" / "taskctl.yaml"
    path.write_text(config(args.processes, 1))
    applied: queue.SimpleQueue[float] = queue.SimpleQueue()
    daemon = subprocess.Popen(
        [sys.executable, "-m", "taskctl", "--root", str(root), "daemon"],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(REPO), "PYDANTIC_DISABLE_PLUGINS": "__all__"},
    )

    def read_log() -> None:
        assert daemon.stderr is not None
        for line in daemon.stderr:
            if b"applied (" in line:
                applied.put(time.perf_counter())

    threading.Thread(target=read_log, daemon=True).start()
    heard: queue.SimpleQueue[float] = queue.SimpleQueue()
    observer = Observer()
    observer.schedule(_Heard(heard), str(root / "config"), recursive=True)
    observer.start()
    times: dict[str, list[float]] = {"in place": [], "by rename": []}
    floors: dict[str, list[float]] = {"in place": [], "by rename": []}
    try:
        applied.get(timeout=60)  # the config applied at start
        time.sleep(1.0)
        for edit in range(2 * args.edits):
            mode = "by rename" if edit % 2 else "in place"
            while not heard.empty():
                heard.get()
            begin = time.perf_counter()
            save(path, config(args.processes, 2 + edit), mode == "by rename")
            done = applied.get(timeout=30)
            times[mode].append(done - begin)
            floor = heard.get(timeout=30)
            while floor < begin:  # an event of the edit before
                floor = heard.get(timeout=30)
            floors[mode].append(floor - begin)
            time.sleep(PAUSE)
    finally:
        observer.stop()
        observer.join()
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(60)
        shutil.rmtree(root, ignore_errors=True)
    print(f"{args.edits} edits saved each way, {args.processes} processes; time from save to applied")
    print(f"{'':12} {'median ms':>10} {'max ms':>8}   {'watchdog alone: median ms':>26} {'max ms':>8}")
    for mode, values in times.items():
        median, worst = statistics.median(values), max(values)
        floor = floors[mode]
        verdict = "ok" if median < 0.3 and worst < 1 else "MISSED"
        print(
            f"{mode:12} {median * 1000:10.0f} {worst * 1000:8.0f}   {statistics.median(floor) * 1000:26.1f} "
            f"{max(floor) * 1000:8.1f}   target median < 300, max < 1000: {verdict}"
        )


if __name__ == "__main__":
    main()
