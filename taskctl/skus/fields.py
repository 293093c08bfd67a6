"""The rules for one SKU's fields, with messages written for the person who typed the value.

The rules exist twice, on purpose: `check_row` (Python) is the authority, which cleans a row of CSV text or
says what is wrong with it; `SQL_VALUES` and `SQL_BAD_ROW` are the same rules in SQL, so that the import can
check a million clean rows inside SQLite without running Python per row. A test keeps the two in step.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from taskctl.errors import UsageError

COLUMNS = ("sku", "name", "base_sku", "link", "rating", "review_count")
"""The six columns of an SKU CSV, in the order taskctl writes them."""

MAX_REVIEW_DIGITS = 18  # stays inside SQLite's 64-bit INTEGER

# What str.strip() removes: every character for which str.isspace() is true.
WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)

_RATING = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_NEGATIVE_NUMBER = re.compile(r"-[0-9]+(?:\.[0-9]+)?")
_WHOLE = re.compile(r"[0-9]+")
_LINK = re.compile(r"[hH][tT][tT][pP][sS]?://[^ \t\n\r\x0b\x0c]+")  # no ASCII space inside

# The same rules in SQL, over CSV text bound as ?1..?6 in COLUMNS order. A rating or review_count that
# breaks them is stored as the text 'invalid' (its column stays TEXT), which SQL_BAD_ROW then finds.
SQL_VALUES = f"""?1, ?2, coalesce(nullif(?3, ''), ?1), ?4,
    CASE WHEN ?5 = '' THEN NULL
         WHEN ?5 GLOB '[0-9]*' AND ?5 NOT GLOB '*[^0-9.]*' AND ?5 NOT GLOB '*.*.*' AND ?5 NOT GLOB '*.'
              AND CAST(?5 AS REAL) <= 5 THEN CAST(?5 AS REAL)
         ELSE 'invalid' END,
    CASE WHEN ?6 = '' THEN NULL
         WHEN ?6 NOT GLOB '*[^0-9]*' AND length(ltrim(?6, '0')) <= {MAX_REVIEW_DIGITS}
              THEN CAST(?6 AS INTEGER)
         ELSE 'invalid' END"""
_WS = "'" + WHITESPACE + "'"
_LINK_HAS_SPACE = " OR ".join(f"instr(link, char({ord(c)}))" for c in " \t\n\r\x0b\x0c")
SQL_BAD_ROW = f"""(typeof(rating) = 'text' OR typeof(review_count) = 'text'
    OR sku = '' OR name = ''
    OR sku <> trim(sku, {_WS}) OR name <> trim(name, {_WS}) OR base_sku <> trim(base_sku, {_WS})
    OR (link <> '' AND (
        link <> trim(link, {_WS}) OR {_LINK_HAS_SPACE}
        OR NOT (lower(substr(link, 1, 7)) = 'http://' AND length(link) > 7
                OR lower(substr(link, 1, 8)) = 'https://' AND length(link) > 8))))"""
"""True for a row whose stored values SQL_VALUES could not take as clean and valid."""


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
