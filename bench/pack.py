"""Pack a generated run folder (half CSV-like text, half random binary) as zip and tar.gz, against `zip -qr`
and `tar czf` on the same folder in the same run.

    python bench/pack.py [--size-mb 300] [--repeat 1]

Target: our throughput >= 0.8x theirs (our time <= 1.25x). Prints one line per archiver and the two ratios.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from taskctl.archive import ArchiveFormat, PackedRun, pack_runs

MB = 1024 * 1024


def make_run_folder(folder: Path, size_mb: int) -> None:
    """Half CSV rows (8 files), half random bytes (4 files), plus a console log, like a scraping run."""
    (folder / "out").mkdir(parents=True)
    rng = random.Random(7)
    words = ["alpha", "beta", "gamma", "delta", "kettle", "lamp", "chair", "desk", "phone", "cable"]
    rows = [
        f"{rng.randrange(10**9)},{rng.choice(words)} {rng.choice(words)} {rng.randrange(1000)},"
        f"{rng.random() * 5:.2f},{rng.randrange(100000)},https://example.com/p/{rng.randrange(10**6)}\n"
        for _ in range(60_000)
    ]
    block = "".join(rows).encode()  # ~4 MB of distinct rows: far beyond deflate's 32 KiB window
    text_bytes = size_mb * MB // 2
    for index in range(8):
        with (folder / "out" / f"reviews_{index}.csv").open("wb") as out:
            left = text_bytes // 8
            while left > 0:
                out.write(block[:left])
                left -= len(block)
    for index in range(4):
        with (folder / "out" / f"images_{index}.bin").open("wb") as out:
            for _ in range(size_mb // 2 // 4):
                out.write(os.urandom(MB))
    (folder / "console.log").write_text("02:30:00 [scrape] page done\n" * 2000, encoding="utf-8")


def best_time(action: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=1, help="runs per archiver; the fastest counts")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="taskctl-bench-pack-"))
    try:
        run = base / "2026-11-22_02-30-00"
        make_run_folder(run, args.size_mb)
        size = sum(path.stat().st_size for path in run.rglob("*") if path.is_file())
        runs = [PackedRun("nightly/2026-11-22_02-30-00", run)]

        def ours(fmt: ArchiveFormat) -> Callable[[], object]:
            return lambda: pack_runs(runs, base / f"ours.{fmt}", fmt)

        def theirs(argv: list[str]) -> Callable[[], object]:
            return lambda: subprocess.run(argv, cwd=base, check=True)

        zip_r = theirs(["zip", "-qr", "theirs.zip", run.name])
        tar_czf = theirs(["tar", "czf", "theirs.tar.gz", run.name])
        pairs = [
            ("zip", ours(ArchiveFormat.ZIP), "zip -qr", zip_r),
            ("tar.gz", ours(ArchiveFormat.TAR_GZ), "tar czf", tar_czf),
        ]

        def line(label: str, seconds: float, archive: Path) -> str:
            out_mb = archive.stat().st_size / MB
            return f"  {label:<15} {seconds:6.2f} s {size / MB / seconds:6.1f} MB/s  {out_mb:6.1f} MB"

        print(f"run folder: {size / MB:.0f} MB (half CSV text, half random), best of {args.repeat}")
        for fmt, our_action, their_name, their_action in pairs:
            our_time = best_time(our_action, args.repeat)
            their_time = best_time(their_action, args.repeat)
            ratio = their_time / our_time
            verdict = "ok" if ratio >= 0.8 else "BELOW TARGET"
            print(line(f"taskctl {fmt}", our_time, base / f"ours.{fmt}"))
            print(line(their_name, their_time, base / f"theirs.{fmt}"))
            print(f"  ratio {fmt}: {ratio:.2f}x of {their_name} (target >= 0.8x) {verdict}")
    finally:
        shutil.rmtree(base)


if __name__ == "__main__":
    main()
