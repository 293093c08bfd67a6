"""The README and docs/ stand alone: their links resolve, their commands run as written, and nothing a user
reads sends them to a document the repository does not have."""

from __future__ import annotations

import re
from pathlib import Path

import typer.main

from taskctl.cli.main import app

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def test_the_docs_cover_the_contract() -> None:
    names = {page.name for page in PAGES}
    assert {"workspace.md", "config.md", "schedules.md", "runs.md", "cli.md", "json.md"} <= names
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for page in ("workspace", "config", "schedules", "runs", "cli", "json"):
        assert f"(docs/{page}.md)" in readme


def test_every_relative_link_of_the_readme_and_the_docs_resolves() -> None:
    for page in PAGES:
        for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            if "://" not in target:
                assert (page.parent / target).exists(), f"{page.name} links to missing {target}"


def test_nothing_a_user_reads_mentions_the_design_document() -> None:
    texts = {page.name: page.read_text(encoding="utf-8") for page in PAGES}
    texts.update(
        {f"config/{p.name}": p.read_text(encoding="utf-8") for p in (REPO / "config").glob("*.yaml")}
    )

    def helps(command: object, path: str) -> None:
        texts[path] = getattr(command, "help", None) or ""
        for param in getattr(command, "params", []):
            texts[f"{path} {param.name}"] = getattr(param, "help", None) or ""
        for name, sub in getattr(command, "commands", {}).items():
            helps(sub, f"{path} {name}")

    helps(typer.main.get_command(app), "taskctl")
    assert [where for where, text in texts.items() if "DESIGN" in text] == []


def test_the_readme_bench_commands_use_the_python_taskctl_is_installed_in() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    commands = re.findall(r"^(\S+) (bench/\S+\.py)", readme, re.M)

    assert len(commands) >= 10
    assert {python for python, _ in commands} == {".venv/bin/python"}
    benches = [p for p in (REPO / "bench").glob("*.py") if "__main__" in p.read_text(encoding="utf-8")]
    assert sorted(script for _, script in commands) == sorted(f"bench/{p.name}" for p in benches)
