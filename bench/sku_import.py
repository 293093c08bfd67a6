"""Benchmark: `taskctl sku import` against the sqlite3 command line's `.import --csv`, on realistic files.

Both load the same file (bench/skudata.py: shop-style names, families of five, links, ratings, review counts)
into a fresh database; sqlite3 gets the same table with its unique index on sku created first. Each pair runs
both, one after the other, alternating which goes first; the figure is the median ratio of the pairs, with
the spread, beside the target. taskctl runs as a user runs it (a whole `python -m taskctl` process, full
validation on); its peak RSS is read from the kernel.

Targets (issue 10): 1M rows <= 1.2x, 300k rows <= 1.3x, peak RSS <= 150 MB.

    python bench/sku_import.py [--rows 1000000,300000] [--pairs 3] [--keep]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGETS = {1_000_000: 1.2, 300_000: 1.3}
RSS_TARGET_MB = 150


@dataclass
class Run:
    wall: float
    cpu: float
    rss_mb: float
    output: str


def measured(argv: list[str], stdin: str | None = None, env: dict[str, str] | None = None) -> Run:
    """Wall time, CPU time (user + system) and peak RSS of one process, after os.sync() so that the
    previous run's writes are not flushed during this one."""
    os.sync()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        child = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=out, stderr=err, text=True, env=env)
        assert child.stdin is not None
        child.stdin.write(stdin or "")
        child.stdin.close()
        _, status, usage = os.wait4(child.pid, 0)  # not child.wait(): wait4 also gives the child's usage
        child.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        if child.returncode != 0:
            sys.exit(f"{' '.join(argv[:4])} failed: {err.read().strip()}")
        return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, out.read().strip())


def generate(data: Path, rows: int) -> None:
    """bench/skudata.py's file of `rows` rows, written by a child process: on Linux a child's peak RSS
    (ru_maxrss) starts from this process's RSS when it is started, so the memory of generating a million rows
    here would be read as taskctl's peak RSS (118 MB, whatever taskctl itself used)."""
    code = "import sys, pathlib, skudata; skudata.make_csv(pathlib.Path(sys.argv[1]), int(sys.argv[2]))"
    subprocess.run([sys.executable, "-c", code, str(data), str(rows)], check=True, cwd=Path(__file__).parent)


def sqlite3_import(db: Path, data: Path) -> Run:
    script = (
        "CREATE TABLE skus (sku TEXT NOT NULL, name TEXT NOT NULL, base_sku TEXT, link TEXT, rating REAL,"
        " review_count INTEGER);\n"
        "CREATE UNIQUE INDEX skus_sku ON skus(sku);\n"
        f".import --csv --skip 1 {data} skus\n"
    )
    return measured(["sqlite3", str(db)], stdin=script)


def taskctl_import(root: Path, data: Path) -> Run:
    (root / "config").mkdir(parents=True)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    argv = [sys.executable, "-m", "taskctl", "--root", str(root), "sku", "import", str(data)]
    return measured(argv, env=env)


def compare(folder: Path, rows: int, pairs: int) -> None:
    data = folder / f"products-{rows}.csv"
    started = time.perf_counter()
    generate(data, rows)
    size = data.stat().st_size / 1e6
    print(f"\n{rows:,} rows ({size:.0f} MB), generated in {time.perf_counter() - started:.0f} s")
    ratios, rss = [], []
    for pair in range(pairs):
        runs: dict[str, Run] = {}
        order = ["sqlite3", "taskctl"] if pair % 2 == 0 else ["taskctl", "sqlite3"]
        for side in order:
            if side == "sqlite3":
                runs[side] = sqlite3_import(folder / f"reference-{rows}-{pair}.db", data)
            else:
                runs[side] = taskctl_import(folder / f"ws-{rows}-{pair}", data)
        ours, theirs = runs["taskctl"], runs["sqlite3"]
        if ours.output != f"imported {rows:,} rows: {rows:,} new":
            sys.exit(f"unexpected taskctl output: {ours.output}")
        ratios.append(ours.wall / theirs.wall)
        rss.append(ours.rss_mb)
        print(
            f"  pair {pair + 1} ({order[0]} first): sqlite3 {theirs.wall:6.2f} s (cpu {theirs.cpu:5.2f})"
            f"  taskctl {ours.wall:6.2f} s (cpu {ours.cpu:5.2f}, peak RSS {ours.rss_mb:4.0f} MB)"
            f"  ratio {ratios[-1]:.2f}x"
        )
        for path in folder.glob(f"reference-{rows}-{pair}.db*"):
            path.unlink()
        shutil.rmtree(folder / f"ws-{rows}-{pair}")
    median = statistics.median(ratios)
    target = TARGETS.get(rows)
    verdict = ""
    if target is not None:
        verdict = f"  target <= {target:.1f}x: {'met' if median <= target else 'NOT met'}"
    print(f"  median ratio {median:.2f}x (spread {min(ratios):.2f}-{max(ratios):.2f}){verdict}")
    print(
        f"  taskctl peak RSS {max(rss):.0f} MB (target <= {RSS_TARGET_MB} MB:"
        f" {'met' if max(rss) <= RSS_TARGET_MB else 'NOT met'})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="1000000,300000", help="comma-separated row counts")
    parser.add_argument("--pairs", type=int, default=3, help="interleaved pairs per row count (>= 3)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder and print its path")
    options = parser.parse_args()
    if not shutil.which("sqlite3"):
        sys.exit("the sqlite3 command line is needed for the comparison (apt-get install sqlite3)")
    folder = Path(tempfile.mkdtemp(prefix="sku-import-bench-"))
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start")
    try:
        for rows in (int(count) for count in options.rows.split(",")):
            compare(folder, rows, options.pairs)
    finally:
        if options.keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
