"""The layout of skus.db: tables, indexes, the search index and the triggers that keep it current.

Versions are counted in `PRAGMA user_version`; MIGRATIONS[n] takes a database from version n to n + 1.
The bulk import drops INDEXES and SEARCH_TRIGGERS and builds them again from these same texts.
"""

from __future__ import annotations

TABLE = """
CREATE TABLE skus (
    id INTEGER PRIMARY KEY,          -- stable row id: the search index refers to it
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

# Trigram index over "name sku", holding only row ids: a candidate filter for substring search.
# A 16 MiB hash (default 1 MiB) halves the time to index a million rows.
SEARCH_TABLE = """
CREATE VIRTUAL TABLE skus_search USING fts5(
    text, content='', tokenize='trigram', detail=none, columnsize=0
)
"""
SEARCH_HASH_SIZE = "INSERT INTO skus_search(skus_search, rank) VALUES ('hashsize', 16777216)"
SEARCH_TEXT = "{row}.name || ' ' || {row}.sku"

# Every index ends in the row id, so (sort expression, id) pages by keyset; unrated rows sort as -1.
INDEXES = {
    "skus_sku": "CREATE UNIQUE INDEX skus_sku ON skus(sku)",
    "skus_base_sku": "CREATE INDEX skus_base_sku ON skus(base_sku)",
    "skus_rating": "CREATE INDEX skus_rating ON skus(ifnull(rating, -1))",
}

_OLD = SEARCH_TEXT.format(row="old")
_NEW = SEARCH_TEXT.format(row="new")
SEARCH_TRIGGERS = {
    "skus_search_insert": f"""
        CREATE TRIGGER skus_search_insert AFTER INSERT ON skus BEGIN
            INSERT INTO skus_search(rowid, text) VALUES (new.id, {_NEW});
        END""",
    "skus_search_delete": f"""
        CREATE TRIGGER skus_search_delete AFTER DELETE ON skus BEGIN
            INSERT INTO skus_search(skus_search, rowid, text) VALUES ('delete', old.id, {_OLD});
        END""",
    "skus_search_update": f"""
        CREATE TRIGGER skus_search_update AFTER UPDATE OF name, sku ON skus BEGIN
            INSERT INTO skus_search(skus_search, rowid, text) VALUES ('delete', old.id, {_OLD});
            INSERT INTO skus_search(rowid, text) VALUES (new.id, {_NEW});
        END""",
}

MIGRATIONS: list[list[str]] = [
    [TABLE, SEARCH_TABLE, SEARCH_HASH_SIZE, *INDEXES.values(), *SEARCH_TRIGGERS.values()],
]
SCHEMA_VERSION = len(MIGRATIONS)

# Sort name -> SQL expression. sku, base_sku and rating have an index; the others sort by a scan.
SORT_EXPRESSIONS = {
    "sku": "sku",
    "name": "name",
    "base_sku": "base_sku",
    "rating": "ifnull(rating, -1)",
    "review_count": "ifnull(review_count, -1)",
    "updated_at": "updated_at",
}
