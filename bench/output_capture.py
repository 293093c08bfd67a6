"""Output capture: a thread writing 500 MB of lines. The runner's peak RSS growth must stay < 20 MB and its
throughput >= 50% of the same writer redirected straight to a file.

A third figure, a plain Python loop copying the pipe to a file (1 MiB reads, no prefixing), is the practical
ceiling for any capture that reads a pipe. Each figure is the best of REPEATS runs (the machine is shared).

    python bench/output_capture.py [MEGABYTES] [REPEATS]
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from taskctl.config import load_config
from taskctl.runner import open_service
from taskctl.workspace import Workspace

# the worst case for the runner: 1 MB blocks written straight to the binary stdout
BLOCK_WRITER = """\
import sys
line = b"x" * 199 + b"\\n"
block = line * 5000  # ~1 MB
for _ in range({megabytes}):
    sys.stdout.buffer.write(block)
"""
# what scripts do: print() line by line (with PYTHONUNBUFFERED=1, as taskctl runs them)
PRINT_WRITER = """\
line = "x" * 199
for _ in range({megabytes} * 5000):
    print(line)
"""
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    megabytes = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    for label, writer in (("1 MB blocks", BLOCK_WRITER), ("print() per line", PRINT_WRITER)):
        measure(label, writer, megabytes, repeats)


def measure(label: str, writer: str, megabytes: int, repeats: int) -> None:
    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp)
        script = root / "threads" / "noisy" / "main.py"
        script.parent.mkdir(parents=True)
        script.write_text(writer.format(megabytes=megabytes))
        (root / "config").mkdir()
        (root / "config" / "threads.yaml").write_text("threads:\n  noisy: {}\n")
        config = load_config(Workspace(root))
        ours, direct, copy, growth, kept = [], [], [], 0.0, 0.0
        for _ in range(repeats):
            before = peak_rss_mb()
            start = time.perf_counter()
            with open_service(config.workspace) as service:
                record = service.run(config.resolved("noisy"))
            ours.append(time.perf_counter() - start)
            growth = max(growth, peak_rss_mb() - before)
            kept = (record.folder / "noisy.log").stat().st_size / 2**20
            direct.append(redirect(script, root / "direct.log"))
            copy.append(pipe_copy(script, root / "copy.log"))
    mb = megabytes * 5000 * 200 / 2**20
    print(f"writer              : {label}")
    print(f"output              : {mb:.0f} MB in lines of 200 bytes, log cap 50 MB (kept {kept:.1f} MB)")
    print(f"direct redirect     : {min(direct):.2f}s ({mb / min(direct):.0f} MB/s)")
    print(
        f"python pipe copy    : {min(copy):.2f}s ({mb / min(copy):.0f} MB/s)"
        f" = {min(direct) / min(copy):.0%} of direct (the ceiling for a pipe)"
    )
    print(
        f"taskctl capture     : {min(ours):.2f}s ({mb / min(ours):.0f} MB/s) = {min(direct) / min(ours):.0%}"
        f" of direct (target >= 50%), {min(copy) / min(ours):.0%} of the pipe copy"
    )
    print(f"runner peak RSS     : +{growth:.1f} MB during the run (target < 20 MB)")


def redirect(script: Path, target: Path) -> float:
    """The writer with its output redirected straight to a file."""
    start = time.perf_counter()
    with target.open("wb") as out:
        subprocess.run([sys.executable, str(script)], stdout=out, check=True, env=ENV)
    elapsed = time.perf_counter() - start
    target.unlink()
    return elapsed


def pipe_copy(script: Path, target: Path) -> float:
    """The writer's output read from a pipe in 1 MiB reads and written to a file as it is: no prefixes."""
    start = time.perf_counter()
    with target.open("wb") as out:
        child = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, env=ENV, bufsize=0)
        assert child.stdout is not None
        pipe = child.stdout.fileno()
        with contextlib.suppress(OSError):
            fcntl.fcntl(pipe, fcntl.F_SETPIPE_SZ, 1024 * 1024)
        while data := os.read(pipe, 1024 * 1024):
            out.write(data)
        child.stdout.close()
        child.wait()
    elapsed = time.perf_counter() - start
    target.unlink()
    return elapsed


if __name__ == "__main__":
    main()
