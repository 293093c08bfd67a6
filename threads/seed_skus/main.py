"""Example thread: fill the SKU table from skus.csv when it is empty (a fresh workspace).

It uses taskctl's SKU API, which every thread can import: `taskctl.skus.connect()` opens the table named by
$TASKCTL_SKU_DB (skus.db in the workspace). Once the table has rows, it leaves them alone.
"""

from pathlib import Path

import taskctl.skus


def main() -> None:
    with taskctl.skus.connect() as table:
        count = table.count()
        if count:
            print(f"the SKU table has {count} skus; nothing to seed")
            return
        summary = table.import_csv(Path(__file__).parent / "skus.csv")
        print(f"seeded the SKU table from skus.csv: {summary.sentence()}")


if __name__ == "__main__":
    main()
