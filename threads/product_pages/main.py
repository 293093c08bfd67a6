"""Example scraping thread: visit each product page in the input CSV and write results.csv.

taskctl builds the input CSV from the SKU table when the thread starts (`input: {skus: ...}` in
config/threads.yaml), passes its path as the first argument and runs this script in the run folder. The
columns of results.csv that are SKU columns (sku, name, rating, review_count) go back into the SKU table
after the thread succeeds (`output:`); title and price are for the summary and are ignored by the table.

The example's links point at shop.example, a name reserved for examples that never resolves: such pages are
read from the copies in pages/, so the example works offline. Any other http(s) link is fetched.
"""

import csv
import os
import sys
import urllib.parse
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

OFFLINE_HOST = "shop.example"


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


def fetch(link: str, pages: Path) -> str:
    url = urllib.parse.urlsplit(link)
    if url.hostname == OFFLINE_HOST:
        return (pages / Path(url.path).name).read_text(encoding="utf-8")
    with urllib.request.urlopen(link, timeout=30) as response:
        return response.read().decode("utf-8", "replace")


def main() -> int:
    input_csv = Path(sys.argv[1])
    pages = Path(os.environ.get("TASKCTL_THREAD_DIR", Path(__file__).parent)) / "pages"
    rows = list(csv.DictReader(input_csv.open(encoding="utf-8-sig", newline="")))
    failures = 0
    with open("results.csv", "w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["sku", "name", "title", "price", "rating", "review_count"])
        for done, row in enumerate(rows, start=1):
            try:
                page = ProductPage()
                page.feed(fetch(row["link"], pages))
                f = page.fields
                writer.writerow([row["sku"], row["name"], f.get("title", ""), f.get("price", ""),
                                 f.get("rating", ""), f.get("reviews", "")])
                print(f"{row['sku']}: {f.get('title', '?')} rated {f.get('rating', '?')}")
            except OSError as exc:
                failures += 1
                print(f"{row['sku']}: cannot read {row['link']}: {exc}", file=sys.stderr)
            print(f"::progress {done}/{len(rows)}", flush=True)
    print(f"wrote results.csv with {len(rows) - failures} of {len(rows)} products")
    return 1 if rows and failures == len(rows) else 0


if __name__ == "__main__":
    sys.exit(main())
