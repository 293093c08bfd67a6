"""The rules for one SKU's fields, with messages written for the person who typed the value.

The rules exist twice, on purpose: `check_row` (Python) is the authority, which cleans a row of CSV text or
says what is wrong with it; `SQL_SUSPECT` and `SQL_VALUES` put them in SQL, so that the import can check a
million clean rows inside SQLite without running Python per row. A property test keeps the two in step.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from taskctl.errors import UsageError

COLUMNS = ("sku", "name", "base_sku", "link", "rating", "review_count")
"""The six columns of an SKU CSV, in the order taskctl writes them."""

MAX_REVIEW_DIGITS = 18  # stays inside SQLite's 64-bit INTEGER

# Surrounding blanks that values lose (only ASCII ones, which SQLite's trim() can match cheaply).
BLANKS = " \t\n\r\x0b\x0c"


def trim(value: str) -> str:
    """`value` without surrounding BLANKS."""
    return value.strip(BLANKS)


_RATING = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_NEGATIVE_NUMBER = re.compile(r"-[0-9]+(?:\.[0-9]+)?")
_WHOLE = re.compile(r"[0-9]+")
_LINK = re.compile(r"[hH][tT][tT][pP][sS]?://[^ \t\n\r\x0b\x0c]+")  # no blank inside

# The rules in SQL, over CSV text bound as ?1..?6 in COLUMNS order. SQL_VALUES converts a row check_row
# accepted (trimmed) exactly as check_row does.
SQL_VALUES = """?1, ?2, coalesce(nullif(?3, ''), ?1), ?4, CAST(nullif(?5, '') AS REAL),
    CAST(nullif(?6, '') AS INTEGER)"""

# SQL_SUSPECT is true for every row check_row would refuse or change, and cheap to evaluate; it is also
# true for some rows that are fine (a link spelling HTTP in capitals), which then take the checked way.
_BLANKS = "' ' || char(9, 10, 11, 12, 13)"
SQL_SUSPECT = f"""?1 = '' OR ?2 = ''
    OR ?1 <> trim(?1, {_BLANKS}) OR ?2 <> trim(?2, {_BLANKS}) OR ?3 <> trim(?3, {_BLANKS})
    OR ?4 <> '' AND (NOT (?4 GLOB 'http://?*' OR ?4 GLOB 'https://?*')
                     OR {" OR ".join(f"instr(?4, char({ord(c)}))" for c in BLANKS)})
    OR ?5 <> '' AND NOT (?5 GLOB '[0-9]*' AND ?5 NOT GLOB '*[^0-9.]*' AND ?5 NOT GLOB '*.*.*'
                         AND ?5 NOT GLOB '*.' AND CAST(?5 AS REAL) <= 5)
    OR ?6 <> '' AND NOT (?6 NOT GLOB '*[^0-9]*' AND length(ltrim(?6, '0')) <= {MAX_REVIEW_DIGITS})"""

# For the quick pass: a suspect row gets a NULL name, which the NOT NULL column refuses, so the first
# suspect row stops the pass at once.
SQL_QUICK_VALUES = SQL_VALUES.replace("?2", f"CASE WHEN {SQL_SUSPECT} THEN NULL ELSE ?2 END", 1)


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
