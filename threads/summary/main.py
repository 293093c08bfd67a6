"""Example "others" thread: summarise the results.csv written by the thread before it."""

import csv
import sys
from pathlib import Path


def main() -> int:
    results = Path("results.csv")
    if not results.exists():
        print("results.csv is missing: run this thread after product_pages", file=sys.stderr)
        return 1
    rows = list(csv.DictReader(results.open(encoding="utf-8", newline="")))
    ratings = [float(r["rating"]) for r in rows if r["rating"]]
    average = sum(ratings) / len(ratings) if ratings else 0.0
    best = max(rows, key=lambda r: float(r["rating"] or 0), default=None)
    lines = [
        f"products: {len(rows)}",
        f"rated: {len(ratings)}",
        f"average rating: {average:.2f}",
        f"best rated: {best['name']} ({best['rating']})" if best else "best rated: -",
    ]
    Path("summary.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
