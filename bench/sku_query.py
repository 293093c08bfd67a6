"""Benchmark: `sku list --search WORD --limit 50` on a table of realistic SKUs, in process.

The table is imported from bench/skudata.py's rows. The words are the ones whose share of rows (name or sku
containing them, in any case) is 10-20%, as the data has them; each is listed in every sort order, both
directions. Each case runs in interleaved pairs with the same listing without --search (walking the same
index, the floor for any listing), and the median of the pairs is shown. Every result is checked against
the rows a plain scan in Python finds. Target (issue 10): <= 50 ms in process for every word and order.
Sparse searches (a rare word, a whole sku) are shown too, without a target.

    python bench/sku_query.py [--rows 1000000] [--pairs 5]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from skudata import make_csv, substring_share

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from taskctl.skus import SORT_COLUMNS, SkuQuery, SkuTable

TARGET_MS = 50.0
CANDIDATES = ["steel", "cotton", "premium", "classic", "water", "modern", "pack", "black", "set", "mug"]


def milliseconds(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return (time.perf_counter() - started) * 1000


def check(table: SkuTable, query: SkuQuery, expected_count: int) -> None:
    """The page holds `query.limit` rows that all contain the word, and there are `expected_count` in all."""
    page = table.query(query)
    word = (query.search or "").lower()
    assert all(word in sku.name.lower() or word in sku.sku.lower() for sku in page.skus)
    assert len(page.skus) == min(query.limit or expected_count, expected_count)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--pairs", type=int, default=5, help="interleaved pairs per case (>= 3)")
    options = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="sku-query-bench-"))
    try:
        data = folder / "products.csv"
        make_csv(data, options.rows)
        shares = substring_share(data, CANDIDATES)
        words = [word for word in CANDIDATES if 0.10 <= shares[word] <= 0.20]
        with SkuTable.open(folder / "skus.db") as table:
            started = time.perf_counter()
            table.import_csv(data)
            print(f"{options.rows:,} rows imported in {time.perf_counter() - started:.1f} s (in process)")
            print(f"words in 10-20% of the rows: {', '.join(f'{w} ({shares[w]:.1%})' for w in words)}")
            print(f"{'case':<44} {'search':>9} {'no search':>10}  pairs (ms)")
            worst = 0.0
            for word in words:
                count = len(table.query(SkuQuery(search=word, limit=None)).skus)
                for sort in SORT_COLUMNS:
                    for descending in (False, True):
                        query = SkuQuery(search=word, sort=sort, descending=descending, limit=50)
                        floor = SkuQuery(sort=sort, descending=descending, limit=50)
                        check(table, query, count)
                        ours, theirs = [], []
                        for _ in range(options.pairs):
                            ours.append(milliseconds(lambda q=query: table.query(q)))
                            theirs.append(milliseconds(lambda q=floor: table.query(q)))
                        median = statistics.median(ours)
                        worst = max(worst, median)
                        label = f"--search {word} --sort {sort}{' --desc' if descending else ''}"
                        spread = " ".join(f"{t:.1f}" for t in ours)
                        print(f"{label:<44} {median:6.1f} ms {statistics.median(theirs):7.1f} ms  [{spread}]")
            verdict = "met" if worst <= TARGET_MS else "NOT met"
            target = f"target <= {TARGET_MS:.0f} ms for every word and order"
            print(f"slowest median: {worst:.1f} ms ({target}: {verdict})")
            some_sku = table.query(SkuQuery(limit=1, after=None, sort="rating")).skus[0].sku
            for label, query in (
                ("rare word (no match)", SkuQuery(search="zanzibar")),
                (f"a whole sku ({some_sku})", SkuQuery(search=some_sku)),
                ("a sku prefix (B0Z)", SkuQuery(search="B0Z")),
            ):
                times = [milliseconds(lambda q=query: table.query(q)) for _ in range(options.pairs)]
                print(f"sparse: {label:<36} {statistics.median(times):6.1f} ms (no target: reads the table)")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
