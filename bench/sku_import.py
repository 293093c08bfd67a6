"""Benchmark: `taskctl sku import` of N generated rows against the sqlite3 command line's `.import --csv`.

Both load the same file into a fresh database; sqlite3 gets an equivalent table with the same unique index
on sku. Then the same file is imported again with `--on-conflict update` (every row unchanged). Target: the
first taskctl import takes at most 2x the sqlite3 time, with full validation on.

    python bench/sku_import.py [--rows 1000000] [--keep]
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RARE_WORD = "zanzibar"
_COLORS = ["red", "blue", "green", "black", "white", "grey", "navy", "olive", "pink", "yellow"]
_SIZES = ["XS", "S", "M", "L", "XL", "XXL"]
_KINDS = ["Shirt", "Kettle", "Lamp", "Chair", "Table", "Mug", "Jacket", "Sock", "Boot", "Scarf", "Pillow"]
_WORDS = ["classic", "slim", "cosy", "modern", "vintage", "sturdy", "soft", "bold", "light", "warm"]


def generate_csv(path: Path, rows: int, seed: int = 1) -> None:
    """`rows` valid SKUs in random order: families of six sizes, some unrated, a rare word in 1 of 200,000."""
    rnd = random.Random(seed)
    order = list(range(rows))
    rnd.shuffle(order)
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["sku", "name", "base_sku", "link", "rating", "review_count"])
        for i in order:
            family = i // 6
            color, size, kind = _COLORS[family % 10], _SIZES[i % 6], _KINDS[family % 11]
            base = f"{kind[0]}{family:06d}"
            sku = f"{base}-{color[:3].upper()}-{size}"
            word = RARE_WORD if i % 200_000 == 7 else _WORDS[(family // 11) % 10]
            rating = "" if i % 7 == 0 else f"{rnd.randint(0, 50) / 10:g}"
            count = "" if i % 11 == 0 else str(rnd.randint(0, 20_000))
            writer.writerow(
                [
                    sku,
                    f"{kind} {word} {color} {size}",
                    base,
                    f"https://shop.example/p/{sku.lower()}",
                    rating,
                    count,
                ]
            )


def make_workspace(folder: Path) -> Path:
    (folder / "config").mkdir(parents=True, exist_ok=True)
    return folder


def taskctl(root: Path, *args: str) -> tuple[float, str]:
    """Wall time of one whole `taskctl` process, and its stdout."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "taskctl", "--root", str(root), *args], env=env, capture_output=True, text=True
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"taskctl {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
    return elapsed, done.stdout.strip()


def sqlite3_import(db: Path, data: Path) -> float:
    script = (
        "CREATE TABLE skus (sku TEXT PRIMARY KEY, name TEXT, base_sku TEXT, link TEXT, rating REAL,"
        " review_count INTEGER);\n"
        f".import --csv --skip 1 {data} skus\n"
    )
    started = time.perf_counter()
    subprocess.run(["sqlite3", str(db)], input=script, text=True, check=True)
    return time.perf_counter() - started


def best_of(repeat: int, run: Callable[[int], tuple[float, str]]) -> tuple[float, str]:
    """The fastest of `repeat` runs (the machine is shared), each started after os.sync() so that one
    run's writes are not flushed during the next."""
    results = []
    for attempt in range(repeat):
        os.sync()
        results.append(run(attempt))
    return min(results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=2, help="runs of each step; the best is shown")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder and print its path")
    options = parser.parse_args()
    if not shutil.which("sqlite3"):
        sys.exit("the sqlite3 command line is needed for the comparison (apt-get install sqlite3)")
    folder = Path(tempfile.mkdtemp(prefix="sku-bench-"))
    try:
        data = folder / "products.csv"
        started = time.perf_counter()
        generate_csv(data, options.rows)
        print(
            f"generated {options.rows:,} rows ({data.stat().st_size / 1e6:.0f} MB) in "
            f"{time.perf_counter() - started:.1f} s; best of {options.repeat} runs each"
        )
        reference, _ = best_of(
            options.repeat, lambda n: (sqlite3_import(folder / f"reference-{n}.db", data), "")
        )
        print(f"sqlite3 .import --csv (unique index on sku):      {reference:6.2f} s")

        def first_import(n: int) -> tuple[float, str]:
            return taskctl(make_workspace(folder / f"ws-{n}"), "sku", "import", str(data))

        first, said = best_of(options.repeat, first_import)
        print(
            f"taskctl sku import (empty table):                 {first:6.2f} s   "
            f"{first / reference:.2f}x  [{said}]"
        )
        root = folder / "ws-0"
        again, said = best_of(
            options.repeat, lambda n: taskctl(root, "sku", "import", str(data), "--on-conflict", "update")
        )
        print(
            f"taskctl sku import again (--on-conflict update):  {again:6.2f} s   "
            f"{again / reference:.2f}x  [{said}]"
        )
        size = sum(path.stat().st_size for path in root.glob("skus.db*"))
        print(f"skus.db: {size / 1e6:.0f} MB. Target: the first import <= 2.00x sqlite3.")
    finally:
        if options.keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
