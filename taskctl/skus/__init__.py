"""The SKU table in skus.db: validation, CSV import/export, queries — and the API thread scripts use.

    import taskctl.skus

    with taskctl.skus.connect() as table:          # $TASKCTL_SKU_DB, set for every thread
        shirt = table.get("B07-RED-M")
        table.update("B07-RED-M", rating=4.6, review_count=131)
        for sku in table.query(taskctl.skus.SkuQuery(base_sku="B07", limit=None)).skus:
            print(sku.sku, sku.rating)

`SkuTable.open(path)` opens a given file instead.
"""

from taskctl.skus.csvio import ImportRejected, ImportSummary, OnConflict, parse_delimiter
from taskctl.skus.fields import COLUMNS, InvalidSkuError
from taskctl.skus.model import Sku, SkuPage, SkuStats
from taskctl.skus.schema import SORT_EXPRESSIONS
from taskctl.skus.table import KEEP, SKU_DB_ENV, SkuExistsError, SkuQuery, SkuTable, connect

SORT_COLUMNS = tuple(SORT_EXPRESSIONS)

__all__ = [
    "COLUMNS",
    "KEEP",
    "SKU_DB_ENV",
    "SORT_COLUMNS",
    "ImportRejected",
    "ImportSummary",
    "InvalidSkuError",
    "OnConflict",
    "Sku",
    "SkuExistsError",
    "SkuPage",
    "SkuQuery",
    "SkuStats",
    "SkuTable",
    "connect",
    "parse_delimiter",
]
