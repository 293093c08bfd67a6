"""The quick pass of an import: a block of CSV rows split into fields and checked a column at a time.

The csv module and check_row cost a Python call per row or per value; a million rows take tens of seconds.
Here each step is one call over a whole block: `str.split` on the quote character separates quoted values from
the text between them, in which every delimiter and newline is structure; those become FIELD_END and ROW_END,
and one more split yields every value. Each column is then checked by joining its values and searching the
joined text once. A block that is unusual in any way (a doubled quote, a blank line, a carriage return inside
a value, a row of the wrong width, a value check_row would change or refuse) is left to the csv module and
check_row, row by row. The rules are kept in step with check_row by tests: the quick check passes no row that
check_row refuses or would change, and SQLite converts every rating and count it passes to the number
check_row gives.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from itertools import chain
from operator import itemgetter

from taskctl.skus.fields import BLANKS, COLUMNS, MAX_REVIEW_DIGITS, QUICK_RATING_DECIMALS

FIELD_END, ROW_END = "\x1f", "\x1e"
_MARK = "\x00"  # stands for each quoted value while the text between them is rewritten
_OWN = (
    _MARK,
    FIELD_END,
    ROW_END,
)  # characters the quick pass gives a meaning: a block holding one is not quick

_RATINGS = re.compile(rf"(?:(?:[0-4](?:\.[0-9]{{1,{QUICK_RATING_DECIMALS}}}+)?|5(?:\.0++)?)?{ROW_END})*+")
_COUNTS = re.compile(rf"(?:[0-9]{{0,{MAX_REVIEW_DIGITS}}}+{ROW_END})*+")
_last, _first = itemgetter(-1), itemgetter(0)
_ALL_BUT_SEPARATORS = bytes(byte for byte in range(256) if chr(byte) not in (FIELD_END, ROW_END))


def split_block(text: str, delimiter: str, width: int) -> list[str] | None:
    """Every value of every row in `text` (whole rows, the last ending in a newline), row after row, exactly
    as the csv module reads them; None if the block needs the csv module: a quote that does not open or
    close a value, a doubled quote, a carriage return that does not end a line, a blank line, a row that
    does not have `width` values, or one of the quick pass's own separator characters."""
    if delimiter in _OWN or any(own in text for own in _OWN):
        return None
    parts = text.split('"')
    if len(parts) % 2 == 0 or "" in parts[2:-1:2]:
        return None  # an odd number of quotes, or a doubled quote (inside a value, or closing and reopening)
    # The text between quoted values, each stretch ending in _MARK, after a newline that starts the block.
    between = "\n" + _MARK.join(parts[0::2])
    if "\r" in text:
        if text.count("\r") != between.count("\r\n"):
            return None  # a carriage return inside a value or on its own: the csv module keeps it
        between = between.replace("\r\n", "\n")
    if len(parts) > 1:
        stretches = between.split(_MARK)
        before = "".join(map(_last, stretches[:-1]))  # the character before each opening quote
        after = "".join(map(_first, stretches[1:]))  # and after each closing quote
        ends = delimiter + "\n"
        if before.strip(ends) or after.strip(ends):
            return None
    structure = between.replace(delimiter, FIELD_END).replace("\n", ROW_END)
    parts[0::2] = structure[1:].split(_MARK)
    joined = "".join(parts)
    if joined.startswith(ROW_END) or ROW_END + ROW_END in joined:
        return None  # a blank line, which the csv module skips
    # Every row must have `width` values: the separators alone, in order, must read (FIELD_END * (width - 1)
    # + ROW_END) once per row.
    separators = joined.encode().translate(None, _ALL_BUT_SEPARATORS)
    if separators != (FIELD_END * (width - 1) + ROW_END).encode() * separators.count(b"\x1e"):
        return None
    return joined.replace(ROW_END, FIELD_END).split(FIELD_END)[:-1]


def check_columns(values: list[str], header: Sequence[str | None]) -> bool:
    """True if every row of `values` (split_block's result for a file laid out as `header`) passes check_row
    unchanged, with ratings and counts that SQLite converts exactly as check_row does (SQL_VALUES)."""
    width = len(header)

    def column(name: str) -> list[str]:
        return values[header.index(name) :: width]

    sku, name = column("sku"), column("name")
    return (
        "" not in sku
        and "" not in name
        and _trimmed(sku)
        and _trimmed(name)
        and _trimmed(column("base_sku"))
        and _plain_links(column("link"))
        and _RATINGS.fullmatch(ROW_END.join(column("rating")) + ROW_END) is not None
        and _COUNTS.fullmatch(ROW_END.join(column("review_count")) + ROW_END) is not None
    )


def in_column_order(values: list[str], header: Sequence[str | None]) -> list[str]:
    """`values` with each row's values in COLUMNS order (and columns outside COLUMNS left out)."""
    if tuple(header) == COLUMNS:
        return values
    width = len(header)
    columns = [values[header.index(name) :: width] for name in COLUMNS]
    return list(chain.from_iterable(zip(*columns, strict=True)))


def _trimmed(column: list[str]) -> bool:
    """No value of `column` starts or ends with a blank."""
    text = ROW_END + ROW_END.join(column) + ROW_END
    return not any(blank in text and (blank + ROW_END in text or ROW_END + blank in text) for blank in BLANKS)


def _plain_links(column: list[str]) -> bool:
    """Every value is empty or http(s):// in lower case followed by something, without a blank anywhere
    (check_row also takes HTTPS:// and the like: those rows go the checked way)."""
    text = ROW_END + ROW_END.join(column) + ROW_END
    if any(blank in text for blank in BLANKS) or "://" + ROW_END in text:
        return False
    given = len(column) - column.count("")
    return text.count(ROW_END + "https://") + text.count(ROW_END + "http://") == given
