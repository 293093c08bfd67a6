"""Benchmark: listing queries on a table of N generated SKUs, inside the process and as whole CLI calls.

Measures `sku list --search` of a rare word, `--base-sku`, `--sort rating --desc --limit 50` and a deep page
via `--after` (half-way down the rating order). Target: each under 100 ms inside the process.

    python bench/sku_query.py [--rows 1000000]
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sku_import import RARE_WORD, REPO, generate_csv, make_workspace

sys.path.insert(0, str(REPO))
from taskctl.skus import SkuQuery, SkuTable


def in_process(table: SkuTable, query: SkuQuery, runs: int = 7) -> tuple[float, int]:
    """Median milliseconds of `table.query(query)` (after one warm-up), and the rows it returned."""
    count = len(table.query(query).skus)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        table.query(query)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), count


def cli_wall(root: Path, args: list[str]) -> float:
    """Milliseconds of one whole `taskctl sku list ...` process (best of 3)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "taskctl", "--root", str(root), "sku", "list", *args],
            env=env,
            check=True,
            capture_output=True,
        )
        best = min(best, (time.perf_counter() - started) * 1000)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    options = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="sku-query-bench-"))
    try:
        data = folder / "products.csv"
        generate_csv(data, options.rows)
        root = make_workspace(folder / "ws")
        with SkuTable.open(root / "skus.db") as table:
            started = time.perf_counter()
            table.import_csv(data)
            print(f"imported {options.rows:,} rows in {time.perf_counter() - started:.1f} s (in process)")
            halfway = table.query(
                SkuQuery(sort="rating", descending=True, limit=options.rows // 2)
            ).next_after
            family = table.query(SkuQuery(limit=1, after=halfway)).skus[0].base_sku
            cases = [
                (f"--search {RARE_WORD} (rare word)", SkuQuery(search=RARE_WORD), ["--search", RARE_WORD]),
                ("--search shirt --limit 50 (common word)", SkuQuery(search="shirt"), ["--search", "shirt"]),
                (f"--base-sku {family}", SkuQuery(base_sku=family), ["--base-sku", family]),
                (
                    "--sort rating --desc --limit 50",
                    SkuQuery(sort="rating", descending=True),
                    ["--sort", "rating", "--desc", "--limit", "50"],
                ),
                (
                    f"--sort rating --desc --after {halfway} (row {options.rows // 2:,})",
                    SkuQuery(sort="rating", descending=True, after=halfway),
                    ["--sort", "rating", "--desc", "--after", str(halfway)],
                ),
                ("--sort name --limit 50 (no index: scan)", SkuQuery(sort="name"), ["--sort", "name"]),
            ]
            print(f"{'query':<62} {'in process':>10} {'rows':>5} {'CLI wall':>9}")
            for label, query, args in cases:
                median, count = in_process(table, query)
                wall = cli_wall(root, args)
                print(f"{label:<62} {median:7.1f} ms {count:>5} {wall:6.0f} ms")
        print("Target: each under 100 ms in process (the CLI adds Python and typer start-up).")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
