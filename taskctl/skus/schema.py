"""The layout of skus.db: the table and its indexes.

Versions are counted in `PRAGMA user_version`; MIGRATIONS[n] takes a database from version n to n + 1 and is
never edited once released (a fresh database runs them all). The bulk import drops INDEXES and builds them
again from these same texts.
"""

from __future__ import annotations

TABLE = """
CREATE TABLE skus (
    id INTEGER PRIMARY KEY,          -- stable row id: indexes end in it, so equal keys keep file order
    sku TEXT NOT NULL,               -- unique: skus_sku (an index the bulk import can drop)
    name TEXT NOT NULL,
    base_sku TEXT NOT NULL,
    link TEXT NOT NULL DEFAULT '',
    rating REAL,
    review_count INTEGER,
    created_at INTEGER NOT NULL,     -- Unix seconds (small rows make a million-row import fast)
    updated_at INTEGER NOT NULL
)
"""

# One index per sort order, so that a listing (with or without --search) walks its order and stops after
# `limit` rows. Every index ends in the row id, so (sort expression, id) pages by keyset; unrated rows and
# rows without a review count sort as -1. skus_sku comes first: the bulk import builds it first, as the
# check for duplicate skus. skus_name also holds the sku: names cluster (a brand, a product line), so a
# search in name order can walk far between matches, and it then checks each row without reading the table.
INDEXES = {
    "skus_sku": "CREATE UNIQUE INDEX skus_sku ON skus(sku)",
    "skus_base_sku": "CREATE INDEX skus_base_sku ON skus(base_sku)",
    "skus_rating": "CREATE INDEX skus_rating ON skus(ifnull(rating, -1))",
    "skus_name": "CREATE INDEX skus_name ON skus(name, id, sku)",
    "skus_review_count": "CREATE INDEX skus_review_count ON skus(ifnull(review_count, -1))",
    "skus_updated_at": "CREATE INDEX skus_updated_at ON skus(updated_at)",
}

_OLD_TEXT = "old.name || ' ' || old.sku"
_VERSION_1 = [
    TABLE,
    """CREATE VIRTUAL TABLE skus_search USING fts5(
        text, content='', tokenize='trigram', detail=none, columnsize=0
    )""",
    "INSERT INTO skus_search(skus_search, rank) VALUES ('hashsize', 16777216)",
    "CREATE UNIQUE INDEX skus_sku ON skus(sku)",
    "CREATE INDEX skus_base_sku ON skus(base_sku)",
    "CREATE INDEX skus_rating ON skus(ifnull(rating, -1))",
    """CREATE TRIGGER skus_search_insert AFTER INSERT ON skus BEGIN
        INSERT INTO skus_search(rowid, text) VALUES (new.id, new.name || ' ' || new.sku);
    END""",
    f"""CREATE TRIGGER skus_search_delete AFTER DELETE ON skus BEGIN
        INSERT INTO skus_search(skus_search, rowid, text) VALUES ('delete', old.id, {_OLD_TEXT});
    END""",
    f"""CREATE TRIGGER skus_search_update AFTER UPDATE OF name, sku ON skus BEGIN
        INSERT INTO skus_search(skus_search, rowid, text) VALUES ('delete', old.id, {_OLD_TEXT});
        INSERT INTO skus_search(rowid, text) VALUES (new.id, new.name || ' ' || new.sku);
    END""",
]

# Version 2 drops the trigram search index: building it was a third of a million-row import, and its case
# folding differs from Python's for some letters (İ, Cherokee), so it could miss rows. Search now walks the
# requested order (an index per sort) or scans, checking each row exactly.
_VERSION_2 = [
    "DROP TRIGGER skus_search_insert",
    "DROP TRIGGER skus_search_delete",
    "DROP TRIGGER skus_search_update",
    "DROP TABLE skus_search",
    INDEXES["skus_name"],
    INDEXES["skus_review_count"],
    INDEXES["skus_updated_at"],
]

MIGRATIONS: list[list[str]] = [_VERSION_1, _VERSION_2]
SCHEMA_VERSION = len(MIGRATIONS)

# The sort orders whose index holds name and sku: a search walks them without reading the table.
COVERING_SORTS = frozenset({"name"})

# Sort name -> SQL expression; each has an index in INDEXES.
SORT_EXPRESSIONS = {
    "sku": "sku",
    "name": "name",
    "base_sku": "base_sku",
    "rating": "ifnull(rating, -1)",
    "review_count": "ifnull(review_count, -1)",
    "updated_at": "updated_at",
}
