"""Benchmark: capturing a thread's output (LogCapture: stamped lines, progress marks, a 50 MB cap keeping
head and tail) against a bare Python copy of the pipe to a file, in the same run, interleaved.

The writer puts 1 MB blocks of 200-byte lines on its stdout (500 of them: 477 MiB), as fast as it can. Each
side runs in a process of its own that starts the writer, reads the pipe a MiB at a time (as the runner
does) and either writes the bytes to a file or feeds them to LogCapture; its time and its peak RSS growth
are measured. Pairs alternate which side goes first; the median ratio is shown with the spread.
Targets (issue 10): capture <= 1.2x the bare copy, RSS growth <= 20 MB.

    python bench/output_capture.py [--blocks 500] [--pairs 3]
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

RATIO_TARGET = 1.2
RSS_TARGET_MB = 20
CAP = 50 * 1024 * 1024
WRITER = """\
import sys
block = (b"x" * 199 + b"\\n") * 5000  # 1 MB
for _ in range({blocks}):
    sys.stdout.buffer.write(block)
"""


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def side(name: str, blocks: int, folder: Path) -> dict[str, float]:
    """One side, in this process: start the writer, read its pipe to the end, return time and RSS growth."""
    from taskctl.clock import SYSTEM_CLOCK
    from taskctl.runner.capture import CHUNK, LogCapture

    before = peak_rss_mb()
    started = time.perf_counter()
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER.format(blocks=blocks)], stdout=subprocess.PIPE, bufsize=0
    )
    assert writer.stdout is not None
    pipe = writer.stdout.fileno()
    with contextlib.suppress(OSError):
        fcntl.fcntl(pipe, fcntl.F_SETPIPE_SZ, CHUNK)
    if name == "copy":
        with (folder / "copy.log").open("wb") as out:
            while data := os.read(pipe, CHUNK):
                out.write(data)
    else:
        with (folder / "console.log").open("ab") as console:
            capture = LogCapture(
                folder, "noisy", console, CAP, ZoneInfo("Europe/Berlin"), SYSTEM_CLOCK, on_progress=print
            )
            while data := os.read(pipe, CHUNK):
                capture.feed(data)
            capture.close()
    writer.wait()
    elapsed = time.perf_counter() - started
    kept = sum(path.stat().st_size for path in folder.iterdir()) / 2**20
    return {"seconds": elapsed, "rss_growth_mb": peak_rss_mb() - before, "kept_mb": kept}


def run_side(name: str, blocks: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as temp:
        os.sync()
        done = subprocess.run(
            [sys.executable, __file__, "--side", name, "--blocks", str(blocks), "--folder", temp],
            capture_output=True,
            text=True,
            check=True,
        )
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=500, help="1 MB blocks the writer puts out")
    parser.add_argument("--pairs", type=int, default=7, help="interleaved pairs (>= 3)")
    parser.add_argument("--side", choices=["copy", "capture"], help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.side:
        print(json.dumps(side(options.side, options.blocks, options.folder)))
        return
    mib = options.blocks * 1_000_000 / 2**20
    print(
        f"writer: {options.blocks} blocks of 1 MB ({mib:.0f} MiB) in 200-byte lines; log cap {CAP >> 20} MB; "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start"
    )
    ratios, growths = [], []
    for pair in range(options.pairs):
        order = ["copy", "capture"] if pair % 2 == 0 else ["capture", "copy"]
        results = {name: run_side(name, options.blocks) for name in order}
        copy, capture = results["copy"], results["capture"]
        ratios.append(capture["seconds"] / copy["seconds"])
        growths.append(capture["rss_growth_mb"])
        print(
            f"  pair {pair + 1} ({order[0]} first): pipe copy {copy['seconds']:.2f} s"
            f" ({mib / copy['seconds']:.0f} MiB/s), capture {capture['seconds']:.2f} s"
            f" ({mib / capture['seconds']:.0f} MiB/s, RSS +{capture['rss_growth_mb']:.1f} MB,"
            f" logs kept {capture['kept_mb']:.1f} MiB), ratio {ratios[-1]:.2f}x"
        )
    median = statistics.median(ratios)
    verdict = "met" if median <= RATIO_TARGET else "NOT met"
    spread = f"{min(ratios):.2f}-{max(ratios):.2f}"
    print(f"median ratio {median:.2f}x (spread {spread}); target <= {RATIO_TARGET}x: {verdict}")
    print(
        f"peak RSS growth {max(growths):.1f} MB; target <= {RSS_TARGET_MB} MB: "
        f"{'met' if max(growths) <= RSS_TARGET_MB else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
