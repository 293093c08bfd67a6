"""The config models' JSON Schema: generated from the models, it accepts exactly the documented config."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from taskctl.config import load_config
from taskctl.config.models import SCHEMA_FILE
from taskctl.config.spec import SettingsFile, config_json_schema, schema_text
from taskctl.config.yamlfile import parse_yaml
from taskctl.errors import ConfigError
from taskctl.workspace import Workspace
from tests.conftest import write

REPO = Path(__file__).resolve().parents[1]
VALIDATOR = jsonschema.Draft202012Validator(config_json_schema())


def yaml_examples() -> list[tuple[str, str]]:
    """Every ```yaml block of the README and the docs, and every file of the example workspace."""
    found = []
    for page in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        text = page.read_text(encoding="utf-8")
        for number, block in enumerate(re.findall(r"```yaml\n(.*?)```", text, re.DOTALL), start=1):
            found.append((f"{page.name} example {number}", block))
    for path in sorted((REPO / "config").glob("*.yaml")):
        found.append((f"config/{path.name}", path.read_text(encoding="utf-8")))
    return found


def load(text: str) -> Any:
    doc = parse_yaml(text, "example.yaml")
    assert not doc.problems, doc.problems
    return doc.data


def schema_errors(data: Any) -> list[str]:
    return [error.message for error in VALIDATOR.iter_errors(data)]


def test_the_readme_the_docs_and_the_example_workspace_have_examples_to_check() -> None:
    names = [name for name, _ in yaml_examples()]
    assert sum(name.startswith("README.md") for name in names) >= 4
    assert sum(name.startswith("config/") for name in names) == 3


@pytest.mark.parametrize(("name", "text"), yaml_examples(), ids=[name for name, _ in yaml_examples()])
def test_every_documented_example_is_valid_for_taskctl_and_for_the_schema(name: str, text: str) -> None:
    data = load(text)
    SettingsFile.model_validate(data)
    assert schema_errors(data) == []


@pytest.mark.parametrize(
    "text",
    [
        "processes:\n  p: {threads: [a], schedule: daily at 10:00}\n",
        "processes:\n  p: {threads: [a], schedule: {every: 6h}}\n",
        "processes:\n  p: {threads: [a], schedule: [{cron: '30 2 * * *'}, {at: '2026-12-24 18:00'}, hourly]}\n",
        "threads:\n  t: {retries: 2}\n",
        "threads:\n  t: {retries: {count: 2, delay: 30s, backoff: 2}}\n",
        "threads:\n  t: {env: {PORT: 8080, DEBUG: true, NAME: x}}\n",
        "threads:\n  t: {timeout: 1h30m}\n",
        "threads:\n  t: {timeout: 1H 30M}\n",
        "threads:\n  t: {timeout: 90}\n",
        "threads:\n  t: {timeout: '2.5'}\n",
        "threads:\n  t: {timeout: 250ms}\n",
        "defaults: {max_log_size: 50MB, kill_grace: 5s}\nretention: {max_total_size: 5GB, keep_runs: 3}\n",
        "notify:\n  ops: {url: 'https://hooks.example.com/x', on: [failure, missed]}\n",
    ],
)
def test_shorthands_taskctl_accepts_are_valid_for_the_schema(text: str) -> None:
    data = load(text)
    SettingsFile.model_validate(data)
    assert schema_errors(data) == []


@pytest.mark.parametrize(
    "text",
    [
        "threads:\n  t: {scirpt: main.py}\n",  # an unknown key
        "threads:\n  Bad Name: {}\n",  # not a valid name
        "threads:\n  t: {type: scrapping}\n",
        "threads:\n  t: {retries: -1}\n",
        "threads:\n  t: {retries: 101}\n",
        "threads:\n  t: {retries: {count: 1, every: 2}}\n",
        "threads:\n  t: {timeout: soon}\n",
        "threads:\n  t: {timeout: -5}\n",
        "threads:\n  t: {env: {A: [1, 2]}}\n",
        "threads:\n  t: {args: --pages}\n",
        "processes:\n  p: {threads: []}\n",
        "processes:\n  p: {schedule: hourly}\n",  # no threads
        "processes:\n  p: {threads: [a], schedule: 42}\n",
        "processes:\n  p: {threads: [a], schedule: {every: 6h, cron: '* * * * *'}}\n",
        "processes:\n  p: {threads: [a], schedule: {evry: 6h}}\n",
        "processes:\n  p: {threads: [a], overlap: sometimes}\n",
        "processes:\n  p: {threads: [a], max_instances: 0}\n",
        "notify:\n  ops: {url: 'ftp://example.com'}\n",
        "max_parallel_runs: many\n",
        "defaults: {catch_up: everything}\n",
        "threads: [a, b]\n",
    ],
)
def test_known_bad_config_is_invalid_for_taskctl_and_for_the_schema(
    text: str, empty_workspace: Workspace
) -> None:
    write(empty_workspace.config_dir / "taskctl.yaml", text)
    with pytest.raises(ConfigError):
        load_config(empty_workspace)
    assert schema_errors(load(text)) != []


def test_the_schema_taskctl_prints_is_the_one_the_models_give() -> None:
    # After a change to the models: .venv/bin/python -c "from taskctl.config.spec import schema_text;
    # from taskctl.config.models import SCHEMA_FILE; SCHEMA_FILE.write_text(schema_text())"
    assert SCHEMA_FILE.read_text(encoding="utf-8") == schema_text()
