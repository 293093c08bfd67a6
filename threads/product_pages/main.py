"""Example scraping thread: read product pages listed in a CSV of links and write results.csv.

taskctl passes the input CSV (copied into the run folder) as the first argument and runs this script
with the run folder as its working directory. Links may be http(s) URLs or paths relative to this
thread's folder (the example ships local HTML pages so it works offline).
"""

import csv
import os
import sys
import urllib.request
from html.parser import HTMLParser
from pathlib import Path


class ProductPage(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}
        self._current: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        css = attributes.get("class") or ""
        if "product-title" in css:
            self._current = "title"
        elif "price" in css:
            self._current = "price"
        elif "rating" in css:
            self.fields["rating"] = attributes.get("data-rating") or ""
        elif "reviews" in css:
            self._current = "reviews"

    def handle_data(self, data: str) -> None:
        if self._current and data.strip():
            value = data.strip()
            if self._current == "reviews":
                value = value.split()[0].replace(",", "")
            self.fields[self._current] = value
            self._current = None


def fetch(link: str, base: Path) -> str:
    if link.startswith(("http://", "https://")):
        with urllib.request.urlopen(link, timeout=30) as response:
            return response.read().decode("utf-8", "replace")
    return (base / link).read_text(encoding="utf-8")


def main() -> int:
    input_csv = Path(sys.argv[1])
    thread_dir = Path(os.environ.get("TASKCTL_THREAD_DIR", Path(__file__).parent))
    rows = list(csv.DictReader(input_csv.open(encoding="utf-8-sig", newline="")))
    failures = 0
    with open("results.csv", "w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["sku", "name", "title", "price", "rating", "review_count"])
        for done, row in enumerate(rows, start=1):
            try:
                page = ProductPage()
                page.feed(fetch(row["link"], thread_dir))
                f = page.fields
                writer.writerow([row["sku"], row["name"], f.get("title", ""), f.get("price", ""),
                                 f.get("rating", ""), f.get("reviews", "")])
                print(f"{row['sku']}: {f.get('title', '?')} rated {f.get('rating', '?')}")
            except OSError as exc:
                failures += 1
                print(f"{row['sku']}: cannot read {row['link']}: {exc}", file=sys.stderr)
            print(f"::progress {done}/{len(rows)}", flush=True)
    print(f"wrote results.csv with {len(rows) - failures} of {len(rows)} products")
    return 1 if failures == len(rows) else 0


if __name__ == "__main__":
    sys.exit(main())
