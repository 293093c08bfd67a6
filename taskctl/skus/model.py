"""The values the SKU library hands out: one SKU, a page of them, the table's statistics."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any


def to_stamp(moment: datetime) -> int:
    """How instants are stored in skus.db: whole Unix seconds."""
    return int(moment.timestamp())


def from_stamp(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def iso(moment: datetime) -> str:
    """UTC ISO-8601 ending in Z, as JSON shows instants."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def format_rating(rating: float | None) -> str:
    """A rating as CSV text that reads back to the same float ('' when unrated); never in e-notation."""
    return "" if rating is None else format(Decimal(repr(rating)), "f")


@dataclass(frozen=True, slots=True)
class Sku:
    """One row of the SKU table."""

    sku: str
    name: str
    base_sku: str
    link: str
    rating: float | None
    review_count: int | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> Sku:
        """From the columns of SELECT_COLUMNS."""
        sku, name, base_sku, link, rating, review_count, created_at, updated_at = row
        return cls(
            sku, name, base_sku, link, rating, review_count, from_stamp(created_at), from_stamp(updated_at)
        )

    def csv_row(self) -> list[str]:
        """The six CSV columns, as `export` writes them."""
        count = "" if self.review_count is None else str(self.review_count)
        return [self.sku, self.name, self.base_sku, self.link, format_rating(self.rating), count]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields (instants as ISO-8601 UTC with Z)."""
        return {
            "sku": self.sku,
            "name": self.name,
            "base_sku": self.base_sku,
            "link": self.link,
            "rating": self.rating,
            "review_count": self.review_count,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
        }


SELECT_COLUMNS = "sku, name, base_sku, link, rating, review_count, created_at, updated_at"


@dataclass(frozen=True, slots=True)
class SkuPage:
    """One page of a listing; `next_after` is the sku to pass as `after` for the next page, or None."""

    skus: list[Sku]
    next_after: str | None

    def as_dict(self) -> dict[str, Any]:
        """`sku list --json`: the rows, and the sku to continue after (None on the last page)."""
        return {"skus": [sku.as_dict() for sku in self.skus], "next_after": self.next_after}


@dataclass(frozen=True, slots=True)
class SkuStats:
    """Counts over the whole table."""

    count: int
    families: int
    rated: int
    average_rating: float | None

    def as_dict(self) -> dict[str, Any]:
        average = None if self.average_rating is None else round(self.average_rating, 3)
        return {
            "count": self.count,
            "families": self.families,
            "rated": self.rated,
            "average_rating": average,
        }
