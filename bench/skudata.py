"""Realistic SKU files for the benches: shop-style product names, families of five variants, links, ratings
and review counts, in the order a shop export lists them (family by family).

    make_csv(path, rows)       # deterministic for a given row count and seed
    substring_share(path, needles) -> {needle: share of rows whose name or sku contains it}
"""

from __future__ import annotations

import csv
import random
import string
from pathlib import Path

# Weights put several everyday words in 10-20% of the rows (the case the search targets are about).
BRANDS = [
    "Acme", "Kitchara", "Nordvik", "Solace", "Brightwell", "Hearthstone", "Urbanic", "Vantor", "Lumo",
    "Cresta", "Orvell", "Pinecrest", "Tidewater", "Maison Rue", "Quillon", "Zephra", "Halden", "Corvo",
]  # fmt: skip
ADJECTIVES = {
    "Premium": 14, "Classic": 12, "Compact": 6, "Heavy Duty": 5, "Portable": 8, "Ergonomic": 3,
    "Vintage": 4, "Modern": 9, "Ultra Slim": 2, "Foldable": 3, "Waterproof": 5, "Rechargeable": 3,
    "Non-Stick": 3, "Insulated": 4, "Wireless": 5, "": 14,
}  # fmt: skip
MATERIALS = {
    "Stainless Steel": 16, "Cotton": 13, "Bamboo": 6, "Ceramic": 7, "Leather": 5, "Glass": 6,
    "Aluminium": 4, "Oak Wood": 3, "Silicone": 6, "Wool": 4, "Linen": 3, "Cast Iron": 3, "": 24,
}  # fmt: skip
PRODUCTS = {
    "Electric Kettle": 5, "T-Shirt": 8, "Desk Lamp": 4, "Office Chair": 3, "Coffee Mug": 6,
    "Rain Jacket": 4, "Hiking Socks": 4, "Chelsea Boots": 3, "Throw Pillow": 4, "Frying Pan": 4,
    "Cutting Board": 3, "Water Bottle": 6, "Backpack": 5, "Bath Towel": 4, "Phone Case": 7,
    "Table Runner": 2, "Knife Set": 3, "Wall Clock": 2, "Yoga Mat": 3, "Bluetooth Speaker": 4,
    "Duvet Cover": 3, "Plant Pot": 3, "Storage Box": 4, "Lunch Box": 3, "Travel Mug": 3,
}  # fmt: skip
SPECS = ["1.7 L", "500 ml", "750 ml", "20 x 30 cm", "40 x 40 cm", "12 in", "28 cm", "2 Pieces", "Set of 4"]
COLORS = [
    "Black", "White", "Navy Blue", "Red", "Forest Green", "Grey", "Beige", "Pink", "Mustard Yellow",
    "Charcoal", "Teal", "Burgundy",
]  # fmt: skip
SIZES = ["XS", "S", "M", "L", "XL", "XXL"]
PACKS = ["Pack of 1", "Pack of 2", "Pack of 3", "Pack of 4", "Pack of 6"]
_CODE = string.ascii_uppercase + string.digits
HEADER = ["sku", "name", "base_sku", "link", "rating", "review_count"]


def _pick(rnd: random.Random, weighted: dict[str, int]) -> str:
    return rnd.choices(list(weighted), weights=list(weighted.values()))[0]


def make_csv(path: Path, rows: int, seed: int = 1) -> None:
    """`rows` valid rows in families of five: Amazon-style codes (sku and base_sku), titles of 30-70
    characters, a variant (colour, size or pack) after a comma (so the names are quoted), a shop link,
    a rating for 85% of them and a review count that follows the family's popularity."""
    rnd = random.Random(seed)
    used: set[str] = set()

    def code() -> str:
        while True:
            made = "B0" + "".join(rnd.choices(_CODE, k=8))
            if made not in used:
                used.add(made)
                return made

    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(HEADER)
        written = 0
        while written < rows:
            base = code()
            words = [rnd.choice(BRANDS), _pick(rnd, ADJECTIVES), _pick(rnd, MATERIALS), _pick(rnd, PRODUCTS)]
            if rnd.random() < 0.6:
                words.append(rnd.choice(SPECS))
            title = " ".join(word for word in words if word)
            kind = rnd.random()
            if kind < 0.45:
                variants = rnd.sample(COLORS, 5)
            elif kind < 0.8:
                variants = [f"Size {size}" for size in (SIZES[:5] if rnd.random() < 0.5 else SIZES[1:])]
            else:
                variants = PACKS
            quality = rnd.gauss(4.2, 0.5)
            popularity = rnd.lognormvariate(4, 1.6)
            slug = "-".join(title.lower().replace(".", "-").split())
            for variant in variants[: rows - written]:
                sku = code()
                rated = rnd.random() < 0.85
                rating = f"{min(5.0, max(1.0, rnd.gauss(quality, 0.3))):.1f}" if rated else ""
                if rated:
                    count = str(int(popularity * rnd.uniform(0.2, 1.5)))
                else:
                    count = "0" if rnd.random() < 0.5 else ""
                link = f"https://shop.example.com/products/{slug}?variant={sku}"
                writer.writerow([sku, f"{title}, {variant}", base, link, rating, count])
                written += 1


def substring_share(path: Path, needles: list[str]) -> dict[str, float]:
    """The share of rows whose name or sku contains each needle, in any case (what --search finds)."""
    found = dict.fromkeys(needles, 0)
    rows = 0
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        next(reader)
        for sku, name, *_ in reader:
            rows += 1
            text = name.lower() + "\n" + sku.lower()
            for needle in needles:
                if needle in text:
                    found[needle] += 1
    return {needle: count / rows for needle, count in found.items()}
