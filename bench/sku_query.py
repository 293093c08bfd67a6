"""Benchmark: `sku list --search TEXT --limit 50` on a table of realistic SKUs, in process.

The table is imported from bench/skudata.py's rows. Dense texts: the words whose share of rows (name or sku
containing them, in any case) is 10-20%, as the data has them. Sparse texts: rare words and phrases (none to
a few hundred rows), whole skus (as stored and in lower case) and sku fragments (a prefix, a middle, an end).
Each is listed in every sort order, both directions; each case runs in interleaved pairs with the same
listing without --search (the floor for any listing), and the median of the pairs is shown with the spread.
Every page is checked against the number of matching rows counted in the CSV file.
Target (issue 10): <= 50 ms in process for every dense word (10-20% of the rows) and every order. The sparse
texts have no target of their own; they are held to the same 50 ms, and the verdict says so.

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


RARE = ["zanzibar", "vintage bamboo", "oak wood wall", "rechargeable linen"]


def timed_case(table: SkuTable, label: str, query: SkuQuery, expected: int, pairs: int) -> float:
    """Run `query` and the same listing without --search in interleaved pairs; print and return the median."""
    floor = SkuQuery(sort=query.sort, descending=query.descending, limit=query.limit)
    check(table, query, expected)
    ours, theirs = [], []
    for _ in range(pairs):
        ours.append(milliseconds(lambda: table.query(query)))
        theirs.append(milliseconds(lambda: table.query(floor)))
    median = statistics.median(ours)
    order = f"--sort {query.sort}{' --desc' if query.descending else ''}"
    spread = " ".join(f"{t:.1f}" for t in ours)
    print(f"{label + ' ' + order:<58} {median:6.1f} ms {statistics.median(theirs):7.1f} ms  [{spread}]")
    return median


def every_order(table: SkuTable, label: str, text: str, expected: int, pairs: int) -> float:
    """The slowest median of `text` over every sort order and direction."""
    return max(
        timed_case(table, label, SkuQuery(search=text, sort=sort, descending=descending), expected, pairs)
        for sort in SORT_COLUMNS
        for descending in (False, True)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--pairs", type=int, default=5, help="interleaved pairs per case (>= 3)")
    options = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="sku-query-bench-"))
    try:
        data = folder / "products.csv"
        make_csv(data, options.rows)
        with SkuTable.open(folder / "skus.db") as table:
            started = time.perf_counter()
            table.import_csv(data)
            print(f"{options.rows:,} rows imported in {time.perf_counter() - started:.1f} s (in process)")
            skus = [table.query(SkuQuery(sort="rating", limit=1, after=None)).skus[0].sku]
            skus += [table.query(SkuQuery(sort="name", descending=True, limit=1)).skus[0].sku]
            sparse = {f"whole sku {sku}": sku for sku in skus}
            sparse |= {f"whole sku in lower case {skus[0].lower()}": skus[0].lower()}
            sparse |= {
                f"sku prefix {skus[0][:6]}": skus[0][:6],
                f"sku middle {skus[0][3:8]}": skus[0][3:8],
                f"sku end {skus[1][-5:]}": skus[1][-5:],
            }
            sparse |= {f"rare text {text!r}": text for text in RARE}
            texts = CANDIDATES + list(sparse.values())
            shares = substring_share(data, list(dict.fromkeys(text.lower() for text in texts)))
            words = [word for word in CANDIDATES if 0.10 <= shares[word] <= 0.20]
            print(f"dense: words in 10-20% of the rows: {', '.join(f'{w} ({shares[w]:.1%})' for w in words)}")
            print(f"{'case':<58} {'search':>9} {'no search':>10}  pairs (ms)")
            count = {
                text: round(shares[text.lower()] * options.rows)
                for text in CANDIDATES + list(sparse.values())
            }
            dense = max(every_order(table, f"--search {w}", w, count[w], options.pairs) for w in words)
            print("sparse: " + ", ".join(f"{text!r} {count[text]:,} rows" for text in sparse.values()))
            rare = max(
                every_order(table, label, text, count[text], options.pairs) for label, text in sparse.items()
            )
            for kind, worst in (("dense", dense), ("sparse", rare)):
                bar = "target" if kind == "dense" else "no target; the same bar"
                verdict = "met" if worst <= TARGET_MS else "NOT met"
                print(f"{kind}: slowest median {worst:.1f} ms ({bar} <= {TARGET_MS:.0f} ms: {verdict})")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
