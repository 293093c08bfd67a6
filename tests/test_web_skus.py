"""The SKU table through the HTTP API and the pages (taskctl/web/skus.py): paging, search and sort as
`sku list`, add/edit/delete, CSV import all or nothing with every bad line, export."""

from __future__ import annotations

import io

import pytest

pytest.importorskip("starlette", reason="the web extra (taskctl[web]) is not installed")

from starlette.testclient import TestClient

from taskctl.skus import SkuTable
from taskctl.workspace import Workspace
from tests.web_helpers import cli, cli_json

POST = {"X-Requested-With": "test"}


def skus_in(web_ws: Workspace) -> list[str]:
    with SkuTable.open(web_ws.sku_db) as table:
        return [sku.sku for sku in table.iter_all()]


def test_a_page_is_the_document_of_sku_list(web_ws: Workspace, web: TestClient) -> None:
    first = web.get("/api/v1/skus", params={"limit": 2}).json()
    assert first == cli_json(web_ws, "sku", "list", "--limit", "2")
    assert [s["sku"] for s in first["skus"]] == ["A-1", "A-2"]
    assert first["next_after"] == "A-2"
    second = web.get("/api/v1/skus", params={"limit": 2, "after": "A-2"}).json()
    assert [s["sku"] for s in second["skus"]] == ["B-1", "C/1"]
    assert second["next_after"] is None


def test_search_filters_and_sort_are_those_of_sku_list(web_ws: Workspace, web: TestClient) -> None:
    query = {"search": "apple", "sort": "rating", "desc": "1"}
    found = web.get("/api/v1/skus", params=query).json()
    assert [s["sku"] for s in found["skus"]] == ["A-1", "A-2"]
    assert found == cli_json(web_ws, "sku", "list", "--search", "apple", "--sort", "rating", "--desc")
    assert [s["sku"] for s in web.get("/api/v1/skus", params={"unrated": "1"}).json()["skus"]] == ["B-1"]
    rated = web.get("/api/v1/skus", params={"min_rating": "4.5"}).json()["skus"]
    assert [s["sku"] for s in rated] == ["A-1", "C/1"]
    assert [s["sku"] for s in web.get("/api/v1/skus", params={"base_sku": "A"}).json()["skus"]] == [
        "A-1",
        "A-2",
    ]


def test_bad_listing_options_are_refused(web: TestClient) -> None:
    cases = {
        ("sort", "price"): (400, "cannot sort by 'price'"),
        ("limit", "5000"): (400, "limit '5000' must be a whole number from 1 to 1000."),
        ("min_rating", "high"): (400, "min_rating 'high' is not a number."),
        ("after", "ZZZ"): (404, "no sku named 'ZZZ' to continue after"),
    }
    for (key, value), (status, start) in cases.items():
        answer = web.get("/api/v1/skus", params={key: value})
        assert answer.status_code == status
        assert answer.json()["error"].startswith(start)


def test_the_table_page_pages_with_a_next_link(web: TestClient) -> None:
    page = web.get("/skus", params={"limit": 2}).text
    assert '<a href="/sku/A-1">A-1</a>' in page
    assert 'id="next-page"' in page and "after=A-2" in page
    assert '<a href="/sku/C%2F1">C/1</a>' in web.get("/skus").text


def test_add_show_edit_and_delete_one_sku(web_ws: Workspace, web: TestClient) -> None:
    added = web.post("/api/v1/skus", json={"sku": "D-1", "name": "Date", "rating": 4})
    assert added.status_code == 201
    assert added.json() == cli_json(web_ws, "sku", "show", "D-1")
    assert added.json()["base_sku"] == "D-1"
    assert web.get("/api/v1/sku/C/1").json()["name"] == "Cherry with a slash"
    changed = web.patch("/api/v1/sku/D-1", json={"rating": "", "review_count": 7})
    assert (changed.json()["rating"], changed.json()["review_count"]) == (None, 7)
    assert web.delete("/api/v1/sku/D-1").json() == {"removed": 1}
    assert "D-1" not in skus_in(web_ws)


def test_sku_errors_are_the_cli_sentences(web_ws: Workspace, web: TestClient) -> None:
    taken = web.post("/api/v1/skus", json={"sku": "A-1", "name": "Again"})
    assert taken.status_code == 409
    assert taken.json()["error"] == "sku 'A-1' already exists; change it with 'taskctl sku edit A-1'."
    bad = web.post("/api/v1/skus", json={"sku": "E-1", "name": "Egg", "rating": "9"})
    assert bad.status_code == 400
    _, _, err = cli(web_ws, "sku", "add", "--sku", "E-1", "--name", "Egg", "--rating", "9")
    assert err.strip() == "error: " + bad.json()["error"]
    missing = web.get("/api/v1/sku/A-9")
    assert missing.status_code == 404
    assert missing.json()["error"].startswith("no sku named 'A-9'")
    assert web.patch("/api/v1/sku/A-1", json={}).status_code == 400
    assert web.delete("/api/v1/sku/A-9").status_code == 404


def test_the_forms_add_edit_and_delete(web_ws: Workspace, web: TestClient) -> None:
    token = web.get("/skus/new").cookies["taskctl_csrf"]
    form = {"csrf_token": token, "sku": "F-1", "name": "Fig", "rating": "4.2"}
    answer = web.post("/skus", data=form, follow_redirects=False)
    assert answer.headers["location"] == "/sku/F-1"
    wrong = web.post("/sku/F-1", data={"csrf_token": token, "name": "Fig", "rating": "six"})
    assert wrong.status_code == 400
    assert "rating" in wrong.text and 'value="six"' in wrong.text
    web.post("/sku/F-1", data={"csrf_token": token, "name": "Fresh fig", "rating": "4.3"})
    assert cli_json(web_ws, "sku", "show", "F-1")["name"] == "Fresh fig"
    web.post("/skus/delete", data={"csrf_token": token, "sku": "F-1"})
    assert "F-1" not in skus_in(web_ws)


def test_an_import_is_all_or_nothing_and_names_every_bad_line(web_ws: Workspace, web: TestClient) -> None:
    before = skus_in(web_ws)
    csv = b"sku,name,base_sku,link,rating,review_count\nG-1,Grape,,,4,\nG-2,,,,3,\nG-3,Guava,,,seven,\n"
    answer = web.post(
        "/api/v1/skus/import", files={"file": ("fruit.csv", io.BytesIO(csv), "text/csv")}, headers=POST
    )
    assert answer.status_code == 422
    problems = answer.json()["problems"]
    assert problems[0].startswith("fruit.csv:3: ")
    assert problems[1].startswith("fruit.csv:4: ")
    assert problems[-1] == "fruit.csv: 2 errors; nothing was imported."
    assert skus_in(web_ws) == before
    path = web_ws.root / "fruit.csv"
    path.write_bytes(csv)
    _, _, err = cli(web_ws, "sku", "import", str(path))
    assert [
        line.removeprefix("error: ").replace(str(path), "fruit.csv") for line in err.strip().splitlines()
    ] == problems


def test_a_good_import_reports_like_the_cli(web_ws: Workspace, web: TestClient) -> None:
    csv = b"sku,name,base_sku,link,rating,review_count\nG-1,Grape,,,4,\nA-1,Apple red,A,,4.5,10\n"
    files = {"file": ("fruit.csv", io.BytesIO(csv), "text/csv")}
    dry = web.post("/api/v1/skus/import", files=files, data={"dry_run": "1"}, headers=POST)
    assert dry.json() == {"rows": 2, "new": 1, "updated": 0, "unchanged": 1, "skipped": 0, "dry_run": True}
    assert "G-1" not in skus_in(web_ws)
    files = {"file": ("fruit.csv", io.BytesIO(csv), "text/csv")}
    done = web.post("/api/v1/skus/import", files=files, headers=POST)
    assert done.json()["new"] == 1
    assert "G-1" in skus_in(web_ws)
    assert not list((web_ws.state_dir / "uploads").iterdir())


def test_import_options_are_checked(web: TestClient) -> None:
    nothing = web.post("/api/v1/skus/import", data={"on_conflict": "skip"}, headers=POST)
    assert nothing.json()["error"] == "choose a CSV file to import (form field 'file')."
    files = {"file": ("x.csv", io.BytesIO(b"sku,name\n"), "text/csv")}
    bad = web.post("/api/v1/skus/import", files=files, data={"on_conflict": "merge"}, headers=POST)
    assert bad.json()["error"] == "on_conflict 'merge' is not a choice (use update, skip or error)."


def test_the_import_page_shows_the_line_numbers(web: TestClient) -> None:
    token = web.get("/skus/import").cookies["taskctl_csrf"]
    csv = b"sku,name,base_sku,link,rating,review_count\nH-1,Honeydew,,,4,\nH-2,Hazelnut,,,ten,\n"
    answer = web.post(
        "/skus/import", data={"csrf_token": token}, files={"file": ("nuts.csv", io.BytesIO(csv), "text/csv")}
    )
    assert answer.status_code == 422
    assert "<code>nuts.csv:3: " in answer.text
    assert "nothing was imported" in answer.text


def test_export_is_what_sku_export_writes(web_ws: Workspace, web: TestClient) -> None:
    answer = web.get("/api/v1/skus/export")
    assert answer.headers["content-disposition"] == 'attachment; filename="skus.csv"'
    _, out, _ = cli(web_ws, "sku", "export", "-")
    assert answer.text == out
    assert web.get("/skus/export", params={"format": "json"}).json()[0]["sku"] == "A-1"
    assert web.get("/api/v1/skus/export", params={"format": "xml"}).status_code == 400
