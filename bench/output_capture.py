"""Output capture: a thread writing 500 MB of lines. The runner's peak RSS growth must stay < 20 MB and its
throughput >= 50% of the same writer redirected straight to a file.

    python bench/output_capture.py [MEGABYTES]
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from taskctl.config import load_config
from taskctl.runner import run_chain
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


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    megabytes = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    for label, writer in (("1 MB blocks", BLOCK_WRITER), ("print() per line", PRINT_WRITER)):
        measure(label, writer, megabytes)


def measure(label: str, writer: str, megabytes: int) -> None:
    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp)
        script = root / "threads" / "noisy" / "main.py"
        script.parent.mkdir(parents=True)
        script.write_text(writer.format(megabytes=megabytes))
        (root / "config").mkdir()
        (root / "config" / "threads.yaml").write_text("threads:\n  noisy: {}\n")

        start = time.perf_counter()
        with (root / "direct.log").open("wb") as out:
            env = {**os.environ, "PYTHONUNBUFFERED": "1"}
            subprocess.run([sys.executable, str(script)], stdout=out, check=True, env=env)
        direct = time.perf_counter() - start
        (root / "direct.log").unlink()

        config = load_config(Workspace(root))
        before = peak_rss_mb()
        start = time.perf_counter()
        record = run_chain(config, "noisy")
        ours = time.perf_counter() - start
        growth = peak_rss_mb() - before
        size = (record.folder / "noisy.log").stat().st_size / 2**20
    mb = megabytes * 5000 * 200 / 2**20
    print(f"writer              : {label}")
    print(f"output              : {mb:.0f} MB in lines of 200 bytes, log cap 50 MB (kept {size:.1f} MB)")
    print(f"direct redirect     : {direct:.2f}s ({mb / direct:.0f} MB/s)")
    print(
        f"taskctl capture     : {ours:.2f}s ({mb / ours:.0f} MB/s) = {direct / ours:.0%} of direct"
        " (target >= 50%)"
    )
    print(f"runner peak RSS     : +{growth:.1f} MB during the run (target < 20 MB)")


if __name__ == "__main__":
    main()
