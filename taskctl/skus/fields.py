"""The rules for one SKU's fields, with messages written for the person who typed the value.

`check_row` is the authority: it cleans a row of CSV text or reports every problem in it.
`fast_row_pattern` is a shortcut for the import's hot loop: one precompiled regex that accepts only rows
that are already clean and valid, so a row it accepts never needs `check_row`. A row it refuses is handed
to `check_row`, which either cleans it (surrounding spaces, `HTTPS://`) or says what is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from taskctl.errors import UsageError

COLUMNS = ("sku", "name", "base_sku", "link", "rating", "review_count")
"""The six columns of an SKU CSV, in the order taskctl writes them."""

MAX_REVIEW_DIGITS = 18  # stays inside SQLite's 64-bit INTEGER

_RATING = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_NEGATIVE_NUMBER = re.compile(r"-[0-9]+(?:\.[0-9]+)?")
_WHOLE = re.compile(r"[0-9]+")
_LINK = re.compile(r"(?i:https?)://\S+")

# Fast-path pieces: no surrounding whitespace, no \x1f (the separator the row is joined with).
_TEXT = r"[^\x1f\s](?:[^\x1f]*[^\x1f\s])?"
_FAST_FIELD: dict[str | None, str] = {
    "sku": _TEXT,
    "name": _TEXT,
    "base_sku": f"(?:{_TEXT})?",
    "link": r"(?:[hH][tT][tT][pP][sS]?://[^\x1f\s]+)?",
    "rating": r"(?:0*(?:[0-4](?:\.[0-9]+)?|5(?:\.0+)?))?",
    "review_count": f"[0-9]{{0,{MAX_REVIEW_DIGITS}}}",
    None: "[^\x1f]*",  # an extra column allowed by --ignore-extra
}
FAST_SEPARATOR = "\x1f"


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
    text = text.strip()
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
    text = text.strip()
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
    text = text.strip()
    if not text or _LINK.fullmatch(text):
        return text, None
    return "", f"link '{text}' is not an http(s) URL (start it with https:// or leave it empty)"


def check_row(
    sku: str, name: str, base_sku: str, link: str, rating: str, review_count: str
) -> CleanRow | list[str]:
    """The cleaned row, or every problem found in it (each a sentence without file or line)."""
    problems: list[str] = []
    sku = sku.strip()
    name = name.strip()
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
    return CleanRow(sku, name, base_sku.strip() or sku, clean_link, clean_rating, clean_count)


def fast_row_pattern(header: Sequence[str | None]) -> re.Pattern[str]:
    """A regex that matches a row (fields joined by FAST_SEPARATOR, in `header` order; None marks an
    ignored extra column) only if it is valid and already clean."""
    return re.compile(FAST_SEPARATOR.join(_FAST_FIELD[column] for column in header) + r"\Z")


def require_text(field: str, value: str) -> str:
    """`value` trimmed; InvalidSkuError if it is empty."""
    value = value.strip()
    if not value:
        raise InvalidSkuError(f"{field} must not be empty.")
    return value


def require_valid(problem: str | None) -> None:
    """Raise InvalidSkuError for a problem found by one of the check_ functions."""
    if problem:
        raise InvalidSkuError(problem + ".")
