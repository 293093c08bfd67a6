"""`--search`: the rows whose name or sku contains a text, in any case, as SQL that checks each row exactly.

A row matches when `needle.lower()` is a substring of `name.lower()` or `sku.lower()` (Python's lower case).
SQLite's LIKE folds only ASCII letters, which is the same thing for an ASCII needle except in rows holding
one of the few non-ASCII letters whose lower case contains an ASCII one (FOLDS_TO_ASCII); those rows, and
every row for a needle that is not ASCII, are checked by `contains` in Python, registered as a SQL function.
"""

from __future__ import annotations

import sqlite3
from typing import Any

SQL_FUNCTION = "sku_contains"

# The non-ASCII characters whose str.lower() holds an ASCII letter: 'İ' -> 'i̇', KELVIN SIGN -> 'k'.
# tests/test_skus.py checks this against every code point of the running Python.
FOLDS_TO_ASCII = {"i": "\u0130", "k": "\u212a"}

# Any character outside ASCII (GLOB compares code points; SQLite text holds no NUL).
_NOT_ASCII = "*[^\x01-\x7f]*"


def contains(needle: str, name: str, sku: str) -> bool:
    """The exact rule: `needle` (already lower case) is in the lower-cased name or sku."""
    return needle in name.lower() or needle in sku.lower()


def register(conn: sqlite3.Connection) -> None:
    """Make `sku_contains(needle, name, sku)` callable from SQL on `conn`."""
    conn.create_function(SQL_FUNCTION, 3, contains, deterministic=True)


def match_condition(text: str) -> tuple[str, list[Any]]:
    """A SQL condition (and its parameters) true for exactly the rows whose name or sku contains `text`."""
    needle = text.lower()
    exact = f"{SQL_FUNCTION}(?, name, sku)"
    if not needle.isascii():
        # Lowering ASCII text gives ASCII text, so only a row with a non-ASCII character can match.
        return f"((name GLOB ? OR sku GLOB ?) AND {exact})", [_NOT_ASCII, _NOT_ASCII, needle]
    pattern = "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    condition = "name LIKE ? ESCAPE '\\' OR sku LIKE ? ESCAPE '\\'"
    params: list[Any] = [pattern, pattern]
    unfolded = [letter for ascii_letter, letter in FOLDS_TO_ASCII.items() if ascii_letter in needle]
    if unfolded:
        holds = " OR ".join("instr(name, ?) OR instr(sku, ?)" for _ in unfolded)
        condition += f" OR (({holds}) AND {exact})"
        params += [letter for letter in unfolded for _ in (0, 1)] + [needle]
    return f"({condition})", params
