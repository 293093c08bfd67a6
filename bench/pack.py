"""Benchmark: `pack` of a run folder (half CSV text, half random bytes) as zip, tar.gz and tar.zst, against
`tar czf` on the same folder, in interleaved pairs (which side goes first alternates).

For each format: the median of the pairs' speed-up over tar czf, with the spread, and the archive size
against tar czf's. Every archive is unpacked with the system's tools and compared byte for byte.
Targets (issue 10): zip and tar.gz >= 3x faster than tar czf, size <= 1.05x.

    python bench/pack.py [--size-mb 300] [--pairs 3]
"""

from __future__ import annotations

import argparse
import filecmp
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from taskctl.archive import ArchiveFormat, PackedRun, pack_runs

MB = 1024 * 1024
SPEED_TARGET = 3.0
SIZE_TARGET = 1.05
UNPACK = {
    ArchiveFormat.ZIP: ["unzip", "-q"],
    ArchiveFormat.TAR_GZ: ["tar", "xzf"],
    ArchiveFormat.TAR_ZST: ["tar", "--zstd", "-xf"],
}


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


def seconds(action: object) -> float:
    started = time.perf_counter()
    action()  # type: ignore[operator]
    return time.perf_counter() - started


def same_files(packed: Path, unpack: list[str], run: Path, scratch: Path) -> bool:
    """Unpack `packed` with the system's tool and compare every file with the run folder's."""
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    target = ["-d", str(scratch)] if unpack[0] == "unzip" else ["-C", str(scratch)]
    subprocess.run([*unpack, str(packed), *target], check=True)
    unpacked = scratch / "nightly" / run.name
    names = sorted(str(p.relative_to(run)) for p in run.rglob("*") if p.is_file())
    match, mismatch, errors = filecmp.cmpfiles(run, unpacked, names, shallow=False)
    shutil.rmtree(scratch)
    return not mismatch and not errors and len(match) == len(names)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=300)
    parser.add_argument("--pairs", type=int, default=3, help="interleaved pairs per format (>= 3)")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="taskctl-bench-pack-"))
    try:
        run = base / "2026-11-22_02-30-00"
        make_run_folder(run, args.size_mb)
        size = sum(path.stat().st_size for path in run.rglob("*") if path.is_file())
        runs = [PackedRun(f"nightly/{run.name}", run)]
        theirs_path = base / "theirs.tar.gz"
        print(
            f"run folder: {size / MB:.0f} MB (half CSV text, half random); {os.cpu_count()} cores, "
            f"load average {os.getloadavg()[0]:.2f} at start"
        )

        def tar_czf() -> None:
            subprocess.run(["tar", "czf", str(theirs_path), run.name], cwd=base, check=True)

        for fmt in ArchiveFormat:
            if fmt is ArchiveFormat.TAR_ZST and not shutil.which("zstd"):
                print(f"{fmt}: skipped (no zstd to unpack it with)")
                continue
            ours_path = base / f"ours.{fmt}"
            speedups, lines = [], []
            for pair in range(args.pairs):
                ours_first = pair % 2 == 1
                ours = theirs = 0.0
                for side in ("ours", "theirs") if ours_first else ("theirs", "ours"):
                    if side == "ours":
                        ours = seconds(lambda p=ours_path, f=fmt: pack_runs(runs, p, f))
                    else:
                        theirs = seconds(tar_czf)
                speedups.append(theirs / ours)
                lines.append(f"{ours:.2f} s vs {theirs:.2f} s")
            size_ratio = ours_path.stat().st_size / theirs_path.stat().st_size
            same = same_files(ours_path, UNPACK[fmt], run, base / "unpacked")
            median = statistics.median(speedups)
            target = fmt is not ArchiveFormat.TAR_ZST
            verdict = (
                f"target >= {SPEED_TARGET:.0f}x and size <= {SIZE_TARGET}x: "
                + ("met" if median >= SPEED_TARGET and size_ratio <= SIZE_TARGET else "NOT met")
                if target
                else "no target"
            )
            print(f"{fmt}: pairs (taskctl vs tar czf): {'; '.join(lines)}")
            print(
                f"  {median:.2f}x faster than tar czf (spread {min(speedups):.2f}-{max(speedups):.2f}), "
                f"size {ours_path.stat().st_size / MB:.1f} MB = {size_ratio:.3f}x of tar czf's "
                f"{theirs_path.stat().st_size / MB:.1f} MB; unpacks to the same bytes: {same}; {verdict}"
            )
    finally:
        shutil.rmtree(base)


if __name__ == "__main__":
    main()
