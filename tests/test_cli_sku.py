"""`taskctl sku ...` through the Typer runner: exact output, exit codes, formats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from taskctl.cli.main import app
from taskctl.workspace import Workspace
from tests.conftest import on_a_terminal, write

runner = CliRunner()

PRODUCTS = (
    "sku,name,base_sku,link,rating,review_count\n"
    "B07-RED-M,Shirt red M,B07,https://shop.example/b07-red-m,4.5,120\n"
    "B07-BLU-L,Shirt blue L,B07,,3,\n"
    "K12-BLK,Kettle black,,,,7\n"
)


def sku(ws: Workspace, *args: str, input: str | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, ["--root", str(ws.root), "sku", *args], input=input)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def shop(empty_workspace: Workspace) -> Workspace:
    products = write(empty_workspace.root / "products.csv", PRODUCTS)
    assert sku(empty_workspace, "import", str(products)) == (0, "imported 3 rows: 3 new\n", "")
    return empty_workspace


def test_import_reports_every_bad_row_on_stderr_and_exits_1(
    empty_workspace: Workspace, tmp_path: Path
) -> None:
    bad = write(tmp_path / "products.csv", PRODUCTS + "X1,Bad,,,6,\nX2,,,,,\n")
    code, out, err = sku(empty_workspace, "import", str(bad))
    assert (code, out) == (1, "")
    assert err == (
        f"error: {bad}:5: rating '6' is out of range (use 0-5 or leave it empty)\n"
        f"error: {bad}:6: name is empty (every row needs a name)\n"
        f"error: {bad}: 2 errors; nothing was imported.\n"
    )
    assert sku(empty_workspace, "stats", "--json")[1] == (
        '{\n  "count": 0,\n  "families": 0,\n  "rated": 0,\n  "average_rating": null\n}\n'
    )


def test_import_modes_dry_run_and_json_summary(shop: Workspace, tmp_path: Path) -> None:
    changed = write(tmp_path / "changed.csv", PRODUCTS.replace("4.5,120", "4.6,131") + "N1,New,,,,\n")
    assert sku(shop, "import", str(changed), "--on-conflict", "skip", "--dry-run") == (
        0,
        "would import 4 rows: 1 new, 2 unchanged, 1 skipped (dry run: nothing was written)\n",
        "",
    )
    code, out, _ = sku(shop, "import", str(changed), "--json")
    assert (code, json.loads(out)) == (
        0,
        {
            "ok": True,
            "file": str(changed),
            "rows": 4,
            "new": 1,
            "updated": 1,
            "unchanged": 2,
            "skipped": 0,
            "dry_run": False,
        },
    )
    code, _, err = sku(shop, "import", str(changed), "--on-conflict", "error")
    assert code == 1
    assert err.splitlines()[0] == (
        f"error: {changed}:2: sku 'B07-RED-M' already exists (use --on-conflict update or skip to import it)"
    )


def test_import_bad_usage_exits_2_and_a_missing_file_exits_1(shop: Workspace, tmp_path: Path) -> None:
    assert sku(shop, "import", "x.csv", "--on-conflict", "replace")[0::2] == (
        2,
        "error: --on-conflict 'replace' is not a choice (use update, skip or error).\n",
    )
    assert sku(shop, "import", "x.csv", "--delimiter", "ab")[0::2] == (
        2,
        "error: --delimiter 'ab' must be one character, like ',' or ';' (or 'tab').\n",
    )
    assert sku(shop, "import", str(tmp_path / "nope.csv"))[0::2] == (
        1,
        f"error: {tmp_path}/nope.csv: no such file.\n",
    )


def test_import_with_semicolons_given_or_detected(empty_workspace: Workspace, tmp_path: Path) -> None:
    products = write(
        tmp_path / "p.csv", "sku;name;base_sku;link;rating;review_count\nB07;Shirt, red;;;4,5;\n"
    )
    expected = (
        1,
        f"error: {products}:2: rating '4,5' is not a number (use 0-5, like 4.5, or leave it empty)\n"
        f"error: {products}: 1 error; nothing was imported.\n",
    )
    assert sku(empty_workspace, "import", str(products), "--delimiter", ";")[0::2] == expected
    assert sku(empty_workspace, "import", str(products))[0::2] == expected
    assert sku(empty_workspace, "import", str(products), "--delimiter", "tab")[0::2] == (
        1,
        f"error: {products}:1: the header is not separated by tabs; it looks separated by semicolons "
        "(pass --delimiter ';')\n"
        f"error: {products}: 1 error; nothing was imported.\n",
    )


def test_import_json_lists_every_error_with_line_column_and_value(
    empty_workspace: Workspace, tmp_path: Path
) -> None:
    bad = write(
        tmp_path / "bad.csv",
        PRODUCTS + "".join(f"X{n},Bad,,,6,\n" for n in range(25)) + "B07-BLU-L,Again,,,,\nX1,,,,,\n",
    )

    code, out, err = sku(empty_workspace, "import", str(bad), "--json")

    document = json.loads(out)
    assert (code, document["ok"], document["file"], document["error_count"]) == (1, False, str(bad), 27)
    assert len(document["errors"]) == 27
    assert document["errors"][0] == {
        "line": 5,
        "column": "rating",
        "value": "6",
        "message": "rating '6' is out of range (use 0-5 or leave it empty)",
    }
    assert document["errors"][-2:] == [
        {
            "line": 30,
            "column": "sku",
            "value": "B07-BLU-L",
            "message": "sku 'B07-BLU-L' appears twice (first on line 3)",
        },
        {"line": 31, "column": "name", "value": "", "message": "name is empty (every row needs a name)"},
    ]
    assert err == f"error: {bad}: 27 errors; nothing was imported.\n"
    assert sku(empty_workspace, "stats", "--json")[1].startswith('{\n  "count": 0,')


def test_import_json_of_a_bad_header_is_a_document_too(empty_workspace: Workspace, tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.csv", "sku,name\nB07,Shirt\n")

    code, out, _ = sku(empty_workspace, "import", str(bad), "--json")

    assert (code, json.loads(out)["errors"]) == (
        1,
        [
            {
                "line": None,
                "column": None,
                "value": None,
                "message": "missing columns 'base_sku', 'link', 'rating', 'review_count' "
                "(expected: sku, name, base_sku, link, rating, review_count)",
            }
        ],
    )


def test_import_dash_reads_stdin(empty_workspace: Workspace) -> None:
    assert sku(empty_workspace, "import", "-", input=PRODUCTS) == (0, "imported 3 rows: 3 new\n", "")
    assert sku(empty_workspace, "import", "-", input=PRODUCTS.replace("4.5,120", "9,120"))[0::2] == (
        1,
        "error: stdin:2: rating '9' is out of range (use 0-5 or leave it empty)\n"
        "error: stdin: 1 error; nothing was imported.\n",
    )


def test_reading_commands_do_not_create_the_database(empty_workspace: Workspace) -> None:
    ws = empty_workspace

    assert sku(ws, "list") == (0, "no skus\n", "")
    assert sku(ws, "stats", "--json")[0::2] == (0, "")
    assert sku(ws, "show", "B07")[0::2] == (
        1,
        "error: no sku named 'B07'; look for it with 'taskctl sku list --search B07'.\n",
    )
    assert sku(ws, "export", "-") == (0, "sku,name,base_sku,link,rating,review_count\n", "")
    assert sku(ws, "edit", "B07", "--rating", "4")[0] == 1
    assert sku(ws, "rm", "B07")[0] == 1

    assert not ws.sku_db.exists()


def test_edit_new_sku_renames_and_refuses_an_existing_one(shop: Workspace) -> None:
    code, out, _ = sku(shop, "edit", "K12-BLK", "--new-sku", "K12-BLACK")
    assert (code, out.splitlines()[:2]) == (0, ["renamed K12-BLK to K12-BLACK", "sku:          K12-BLACK"])
    assert sku(shop, "edit", "K12-BLACK", "--new-sku", "B07-RED-M")[0::2] == (
        1,
        "error: cannot rename 'K12-BLACK' to 'B07-RED-M': sku 'B07-RED-M' already exists "
        "(choose another --new-sku, or remove 'B07-RED-M' first).\n",
    )
    assert [row["sku"] for row in json.loads(sku(shop, "list", "--json")[1])["skus"]] == [
        "B07-BLU-L",
        "B07-RED-M",
        "K12-BLACK",
    ]


def test_import_and_export_show_a_progress_bar_on_a_terminal_only(shop: Workspace, tmp_path: Path) -> None:
    products = write(tmp_path / "more.csv", PRODUCTS.replace("K12-BLK", "K13-BLK"))

    code, screen = on_a_terminal(shop, "sku", "import", str(products))
    _, quiet = on_a_terminal(shop, "sku", "import", str(products), "--json")
    exported, written = on_a_terminal(shop, "sku", "export", str(tmp_path / "out.csv"))

    assert code == 0
    assert "\r\x1b[K[########################] 100% reading /" in screen  # the name: as wide as the screen
    assert screen.endswith("\x1b[Kimported 3 rows: 1 new, 2 unchanged\r\n")
    assert "[" not in quiet and json.loads(quiet)["ok"] is True
    assert exported == 0
    assert "\r\x1b[K[########################] 100% writing /" in written


def test_add_show_edit_and_their_errors(empty_workspace: Workspace) -> None:
    ws = empty_workspace
    code, out, _ = sku(
        ws, "add", "--sku", "B07-RED-M", "--name", "Shirt red M", "--base-sku", "B07", "--rating", "4.5"
    )
    assert (code, out.splitlines()[:3]) == (
        0,
        ["added B07-RED-M", "sku:          B07-RED-M", "name:         Shirt red M"],
    )
    assert sku(ws, "add", "--sku", "B07-RED-M", "--name", "Again")[0::2] == (
        1,
        "error: sku 'B07-RED-M' already exists; change it with 'taskctl sku edit B07-RED-M'.\n",
    )
    assert sku(ws, "add", "--sku", "X", "--name", "X", "--review-count", "1,234")[0::2] == (
        2,
        "error: review_count '1,234' is not a whole number (write digits only, like 1234, or leave it empty)."
        "\n",
    )
    code, out, _ = sku(ws, "edit", "B07-RED-M", "--rating", "4.6", "--review-count", "131", "--json")
    shown = json.loads(out)
    assert (code, shown["rating"], shown["review_count"], shown["base_sku"]) == (0, 4.6, 131, "B07")
    assert shown["created_at"].endswith("Z")
    assert sku(ws, "edit", "B07-RED-M")[0] == 2
    assert sku(ws, "edit", "B07-RED-M", "--rating", "")[0] == 0
    assert json.loads(sku(ws, "show", "B07-RED-M", "--json")[1])["rating"] is None
    assert sku(ws, "show", "B07-RED")[0::2] == (
        1,
        "error: no sku named 'B07-RED'; did you mean 'B07-RED-M'?\n",
    )


def test_list_formats_filters_and_pages(shop: Workspace) -> None:
    assert sku(shop, "list", "--search", "SHIRT", "--sort", "rating", "--desc") == (
        0,
        "sku        name          base_sku    rating    review_count\n"
        "---------  ------------  ----------  --------  --------------\n"
        "B07-RED-M  Shirt red M   B07         4.5       120\n"
        "B07-BLU-L  Shirt blue L  B07         3.0\n",
        "",
    )
    assert sku(shop, "list", "--base-sku", "B07", "--format", "csv")[1] == (
        "sku,name,base_sku,link,rating,review_count\n"
        "B07-BLU-L,Shirt blue L,B07,,3.0,\n"
        "B07-RED-M,Shirt red M,B07,https://shop.example/b07-red-m,4.5,120\n"
    )
    first = json.loads(sku(shop, "list", "--json", "--limit", "2")[1])
    assert ([s["sku"] for s in first["skus"]], first["next_after"]) == (
        ["B07-BLU-L", "B07-RED-M"],
        "B07-RED-M",
    )
    rest = json.loads(sku(shop, "list", "--json", "--limit", "2", "--after", "B07-RED-M")[1])
    assert ([s["sku"] for s in rest["skus"]], rest["next_after"]) == (["K12-BLK"], None)
    code, _, err = sku(shop, "list", "--limit", "1")
    assert (code, err) == (0, "(more: --after 'B07-BLU-L')\n")
    assert sku(shop, "list", "--unrated", "--json")[1].count('"sku"') == 1
    assert sku(shop, "list", "--json", "--format", "csv")[0::2] == (
        2,
        "error: --json and --format csv disagree; pass one of them.\n",
    )
    assert sku(shop, "list", "--sort", "price")[0] == 2
    assert sku(shop, "list", "--search", "nothing like it") == (0, "no skus\n", "")
    assert sku(shop, "add", "--sku", "Z1", "--name", "Zero", "--review-count", "0")[0] == 0
    assert sku(shop, "list", "--search", "zero")[1].splitlines()[-1] == (
        "Z1     Zero    Z1                    0"
    )


def test_rm_by_sku_and_by_family(shop: Workspace) -> None:
    assert sku(shop, "rm", "K12-BLK", "NOPE")[0] == 1
    assert sku(shop, "rm", "K12-BLK") == (0, "removed 1 sku\n", "")
    assert sku(shop, "rm")[0] == 2
    assert sku(shop, "rm", "--base-sku", "B07")[0::2] == (  # nobody at a terminal to ask
        2,
        "error: removing family 'B07' (2 skus) needs --yes when there is no terminal to ask on.\n",
    )
    assert sku(shop, "rm", "--base-sku", "B07", "--yes") == (0, "removed 2 skus\n", "")
    assert sku(shop, "stats") == (
        0,
        "count:          0\nfamilies:       0\nrated:          0\naverage_rating: -\n",
        "",
    )


def test_export_round_trips_through_import(shop: Workspace, tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    assert sku(shop, "export", str(out)) == (0, f"exported 3 skus to {out}\n", "")
    assert sku(shop, "import", str(out))[1] == "imported 3 rows: 3 unchanged\n"
    assert sku(shop, "export", "-")[1] == out.read_text(encoding="utf-8")
    (tmp_path / "folder").mkdir()
    assert sku(shop, "export", str(tmp_path / "folder"))[0::2] == (
        1,
        f"error: cannot write '{tmp_path}/folder': Is a directory.\n",
    )
    assert not list((tmp_path / "folder").iterdir()) and not list(tmp_path.glob(".folder.*"))  # no leftovers
    exported = json.loads(sku(shop, "export", "-", "--format", "json")[1])
    assert [row["sku"] for row in exported] == ["B07-BLU-L", "B07-RED-M", "K12-BLK"]
    assert sku(shop, "stats", "--json")[1] == (
        '{\n  "count": 3,\n  "families": 2,\n  "rated": 2,\n  "average_rating": 3.75\n}\n'
    )


@pytest.mark.parametrize("command", ["import", "add", "edit", "show", "list", "rm", "export", "stats"])
def test_every_command_has_help_with_an_example(command: str) -> None:
    result = runner.invoke(app, ["sku", command, "--help"])
    assert result.exit_code == 0
    assert "Example:" in result.stdout
