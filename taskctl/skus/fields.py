"""The rules for one SKU's fields, with messages written for the person who typed the value.

`check_row` is the authority: it cleans a row of CSV text or says what is wrong with it. For speed the import
first checks whole columns at once (quickcsv.py) and lets SQLite convert the values with `sql_values`; every
other row is stored with the values check_row returns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from taskctl.errors import UsageError

COLUMNS = ("sku", "name", "base_sku", "link", "rating", "review_count")
"""The six columns of an SKU CSV, in the order taskctl writes them."""

MAX_REVIEW_DIGITS = 18  # stays inside SQLite's 64-bit INTEGER
# SQLite's text-to-REAL conversion is not always correctly rounded (3.40 reads '0.002877' one bit off, with
# 80-bit long doubles), so the quick check leaves ratings with more decimals to check_row and Python's float.
QUICK_RATING_DECIMALS = 3

# Surrounding blanks that values lose (only ASCII ones, which SQLite's trim() can match cheaply).
BLANKS = " \t\n\r\x0b\x0c"


def trim(value: str) -> str:
    """`value` without surrounding BLANKS."""
    return value.strip(BLANKS)


_RATING = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_NEGATIVE_NUMBER = re.compile(r"-[0-9]+(?:\.[0-9]+)?")
_WHOLE = re.compile(r"[0-9]+")
_LINK = re.compile(r"[hH][tT][tT][pP][sS]?://[^ \t\n\r\x0b\x0c]+")  # no blank inside


def sql_values(first: int = 1) -> str:
    """SQL for the values stored from one row bound as ?first .. ?first+5 in COLUMNS order. Bound to the CSV
    text of a row the quick check passed, it converts exactly as check_row does; bound to a CleanRow's values,
    it stores them unchanged."""
    sku, name, base_sku, link, rating, count = (f"?{first + offset}" for offset in range(6))
    return (
        f"{sku}, {name}, coalesce(nullif({base_sku}, ''), {sku}), {link}, "
        f"CAST(nullif({rating}, '') AS REAL), CAST(nullif({count}, '') AS INTEGER)"
    )


SQL_VALUES = sql_values()


class InvalidSkuError(UsageError):
    """A field value given to add/edit (or the library) breaks the rules."""


@dataclass(frozen=True, slots=True)
class CleanRow:
    """A valid row, cleaned: text trimmed, base_sku filled in, numbers parsed."""

    sku: str
    name: str
    base_sku: str
    link: str
    rating: float | None
    review_count: int | None


def check_rating(text: str) -> tuple[float | None, str | None]:
    """(value, None) for a valid rating ('' is no rating), or (None, problem)."""
    text = trim(text)
    if not text:
        return None, None
    if _RATING.fullmatch(text):
        value = float(text)
        if value <= 5:
            return value, None
    elif not _NEGATIVE_NUMBER.fullmatch(text):
        return None, f"rating '{text}' is not a number (use 0-5, like 4.5, or leave it empty)"
    return None, f"rating '{text}' is out of range (use 0-5 or leave it empty)"


def check_review_count(text: str) -> tuple[int | None, str | None]:
    """(value, None) for a valid review count ('' is unknown), or (None, problem)."""
    text = trim(text)
    if not text:
        return None, None
    if _WHOLE.fullmatch(text):
        if len(text.lstrip("0")) > MAX_REVIEW_DIGITS:
            return None, f"review_count '{text}' is too large (at most {MAX_REVIEW_DIGITS} digits)"
        return int(text), None
    if text.startswith("-") and _WHOLE.fullmatch(text[1:]):
        return None, f"review_count '{text}' is negative (use 0 or more, or leave it empty)"
    return None, (
        f"review_count '{text}' is not a whole number (write digits only, like 1234, or leave it empty)"
    )


def check_link(text: str) -> tuple[str, str | None]:
    """(link, None) for '' or an http(s) URL, or ('', problem)."""
    text = trim(text)
    if not text or _LINK.fullmatch(text):
        return text, None
    return "", f"link '{text}' is not an http(s) URL (start it with https:// or leave it empty)"


def check_row(
    sku: str, name: str, base_sku: str, link: str, rating: str, review_count: str
) -> CleanRow | list[str]:
    """The cleaned row, or every problem found in it (each a sentence without file or line)."""
    problems: list[str] = []
    sku = trim(sku)
    name = trim(name)
    if not sku:
        problems.append("sku is empty (every row needs a sku)")
    if not name:
        problems.append("name is empty (every row needs a name)")
    clean_link, problem = check_link(link)
    if problem:
        problems.append(problem)
    clean_rating, problem = check_rating(rating)
    if problem:
        problems.append(problem)
    clean_count, problem = check_review_count(review_count)
    if problem:
        problems.append(problem)
    if problems:
        return problems
    return CleanRow(sku, name, trim(base_sku) or sku, clean_link, clean_rating, clean_count)


def require_text(field: str, value: str) -> str:
    """`value` trimmed; InvalidSkuError if it is empty."""
    value = trim(value)
    if not value:
        raise InvalidSkuError(f"{field} must not be empty.")
    return value


def require_valid(problem: str | None) -> None:
    """Raise InvalidSkuError for a problem found by one of the check_ functions."""
    if problem:
        raise InvalidSkuError(problem + ".")
