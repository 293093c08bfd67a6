"""Entries validated without pydantic: what passes reads exactly as the models make it, and anything the models
reject or convert is left to them."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from types import UnionType
from typing import Any, Union, get_args, get_origin

import pytest

from taskctl.config import plaincheck, spec
from taskctl.config.plaincheck import Unsure, plain_entry, plain_file_entries
from taskctl.config.yamlfile import parse_yaml
from tests.test_spec import yaml_examples

MODELS: dict[str, Any] = {"threads": spec.ThreadConfig, "processes": spec.ProcessConfig}

# Entries the models accept: each must pass here too, reading the same.
VALID: list[tuple[str, Any]] = [
    ("threads", None),
    ("threads", {"code": "print(1)"}),
    ("threads", {"script": "main.py", "timeout": "1m", "tags": ["example"], "description": "d"}),
    ("threads", {"timeout": 90, "retries": 2}),
    ("threads", {"timeout": 1.5, "retries": {"count": 1, "delay": "5s", "backoff": 2}}),
    ("threads", {"type": "scraping", "input": "links.csv", "output": {"file": "r.csv"}}),
    (
        "threads",
        {"type": "scraping", "input": {"skus": {}}, "output": {"file": "r.csv", "into_skus": "update"}},
    ),
    ("threads", {"input": {"skus": None, "required": True}}),
    ("threads", {"input": {"skus": {"search": "red", "min_rating": 4, "limit": 5, "stale": "7d"}}}),
    ("threads", {"input": {"skus": {"unrated": True, "base_sku": None}}}),
    ("threads", {"command": "echo hi", "args": ["{run_dir}", 3, None], "env": {"A": "x", "PORT": 8080}}),
    ("threads", {"command": ["echo", "hi"], "env": {"ON": True, "F": 1.5}}),
    (
        "threads",
        {"func": "m:f", "args": [1, {"a": [2]}], "kwargs": {"k": {"n": 1}, "d": dt.date(2026, 1, 2)}},
    ),
    ("threads", {"test": "tests", "requirements": ["requests==2.32.3"], "enabled": False}),
    ("threads", {"schedule": "daily at 06:00", "timezone": "Europe/Berlin"}),
    ("threads", {"schedule": {"every": "6h"}, "script": None, "timeout": None}),
    ("threads", {"schedule": ["hourly", {"cron": "0 * * * *"}, "2027-01-04 09:00"]}),
    ("processes", {"threads": ["a"]}),
    ("processes", {"threads": ["a", "b"], "schedule": "daily at 06:30", "on_failure": "continue"}),
    ("processes", {"threads": ["a"], "overlap": "queue", "catch_up": "all", "max_instances": 100}),
    ("processes", {"threads": ["a"], "misfire_grace": "10m", "timeout": 3600, "notify": ["ops"]}),
    (
        "processes",
        {"threads": ["a"], "retention": {"keep_runs": 3, "max_age": "30d", "max_total_size": "1GB"}},
    ),
    ("processes", {"threads": ["a"], "retention": {"max_total_size": 1024}, "enabled": True}),
    ("processes", {"threads": ["a"], "retention": None, "on_failure": None, "tags": [], "description": "x"}),
]

# Entries the models reject or convert: never plainly valid.
NOT_PLAIN: list[tuple[str, Any]] = [
    ("threads", {"scrypt": "main.py"}),
    ("threads", {"type": "Scraping"}),
    ("threads", {"timeout": "soon"}),
    ("threads", {"timeout": -1}),
    ("threads", {"timeout": True}),
    ("threads", {"retries": True}),
    ("threads", {"retries": 101}),
    ("threads", {"retries": {"count": 1, "backoff": 0.5}}),
    ("threads", {"retries": {"count": "2"}}),
    ("threads", {"script": 3}),
    ("threads", {"command": ["echo", 1]}),
    ("threads", {"tags": "example"}),
    ("threads", {"tags": [1]}),
    ("threads", {"enabled": "yes"}),
    ("threads", {"env": {"A": [1]}}),
    ("threads", {"env": {"A": None}}),
    ("threads", {"env": {1: "x"}}),
    ("threads", {"kwargs": {1: "x"}}),
    ("threads", {"args": "a b"}),
    ("threads", {"input": 3}),
    ("threads", {"input": {"skus": {"min_rating": 6}}}),
    ("threads", {"input": {"skus": {"unrated": True, "min_rating": 4}}}),
    ("threads", {"input": {"skus": {"limit": 0}}}),
    ("threads", {"input": {"required": True}}),
    ("threads", {"input": {"skus": {}, "extra": 1}}),
    ("threads", {"output": {"into_skus": "update"}}),
    ("threads", {"output": {"file": "r.csv", "into_skus": "merge"}}),
    ("threads", {"schedule": [None]}),
    ("threads", {"schedule": 5}),
    ("threads", {"schedule": [{1: "x"}]}),
    ("threads", {"timezone": "Mars/Olympus"}),
    ("threads", {"timezone": "Europe"}),
    ("threads", "main.py"),
    ("threads", ["a"]),
    ("processes", None),
    ("processes", {}),
    ("processes", {"threads": []}),
    ("processes", {"threads": "a"}),
    ("processes", {"threads": ["a"], "max_instances": 0}),
    ("processes", {"threads": ["a"], "max_instances": 2.0}),
    ("processes", {"threads": ["a"], "overlap": "skipp"}),
    ("processes", {"threads": ["a"], "retention": {"keep_runs": 0}}),
    ("processes", {"threads": ["a"], "retention": {"max_total_size": "lots"}}),
    ("processes", {"threads": ["a"], "retention": {"max_total_size": 1.5}}),
    ("processes", {"threads": ["a"], "script": "x.py"}),
]


def models_plain(section: str, entry: Any) -> dict[str, Any] | None:
    """What validating with the models gives, or None if they reject the entry."""
    try:
        return spec.plain(MODELS[section].model_validate({} if entry is None else entry))
    except Exception:
        return None


@pytest.mark.parametrize(("section", "entry"), VALID, ids=repr)
def test_a_plainly_valid_entry_reads_as_the_models_make_it(section: str, entry: Any) -> None:
    expected = models_plain(section, entry)

    assert expected is not None
    got = plain_entry(section, entry)
    assert got == expected
    assert list(got) == list(expected)  # the models' key order
    assert repr(got) == repr(expected)  # 5.0, not 5


@pytest.mark.parametrize(("section", "entry"), NOT_PLAIN, ids=repr)
def test_an_entry_the_models_reject_or_convert_is_left_to_them(section: str, entry: Any) -> None:
    with pytest.raises(Unsure):
        plain_entry(section, entry)


@pytest.mark.parametrize(("name", "text"), yaml_examples(), ids=[n for n, _ in yaml_examples()])
def test_every_documented_entry_passing_here_reads_as_the_models_make_it(name: str, text: str) -> None:
    data = parse_yaml(text, name).data
    for section in ("threads", "processes"):
        entries = data.get(section) if isinstance(data, dict) else None
        for entry in (entries or {}).values():
            try:
                got = plain_entry(section, entry)
            except Unsure:
                continue
            assert got == models_plain(section, entry)


def test_the_example_workspace_is_plainly_valid() -> None:
    examples = dict(yaml_examples())
    for file in ("config/threads.yaml", "config/processes.yaml"):
        assert plain_file_entries(parse_yaml(examples[file], file).data) is not None


@pytest.mark.parametrize(
    "text",
    [
        "threads:\n  Bad Name:\n    code: x\n",
        "threads: [a]\n",
        "timezone: Europe/Berlin\n",
        "thread:\n  a:\n    code: x\n",
        "[1, 2]\n",
    ],
)
def test_a_file_with_anything_unusual_is_left_to_the_models(text: str) -> None:
    assert plain_file_entries(parse_yaml(text, "x.yaml").data) is None


def test_a_file_reads_section_by_section() -> None:
    text = "processes:\n  p:\n    threads: [a]\nthreads:\n  a:\n    timeout: 1m\n  b:\n"

    assert plain_file_entries(parse_yaml(text, "x.yaml").data) == {
        "threads": {"a": {"timeout": 60.0}, "b": {}},
        "processes": {"p": {"threads": ["a"]}},
    }
    assert plain_file_entries(None) == {}


# -- the tables the edit planner reads ---------------------------------------------------------------


def test_the_keys_are_the_models_keys_in_their_order() -> None:
    assert list(plaincheck.THREAD_FIELDS) == list(spec.ThreadConfig.model_fields)
    assert list(plaincheck.PROCESS_FIELDS) == list(spec.ProcessConfig.model_fields)


def _unwrap(annotation: Any) -> Any:
    while get_origin(annotation) in (Union, UnionType):
        members = [a for a in get_args(annotation) if a is not type(None)]
        if len(members) != 1:
            return annotation
        annotation = members[0]
    return annotation


@pytest.mark.parametrize("section", ["threads", "processes"])
def test_the_keys_of_a_few_words_are_the_models_enum_keys(section: str) -> None:
    model = MODELS[section]
    expected = {}
    for key, field in model.model_fields.items():
        kind = _unwrap(field.annotation)
        if isinstance(kind, type) and issubclass(kind, StrEnum):
            expected[key] = kind

    assert plaincheck.CHOICES[section] == expected


def _models_take_text(model: Any, key: list[str]) -> bool:
    annotation: Any = model
    for part in key:
        annotation = _unwrap(annotation)
        if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
            if part not in annotation.model_fields:
                return False
            annotation = annotation.model_fields[part].annotation
        elif get_origin(annotation) is dict:
            annotation = get_args(annotation)[1]
        else:
            return False
    annotation = _unwrap(annotation)
    return annotation is str or (isinstance(annotation, type) and issubclass(annotation, StrEnum))


@pytest.mark.parametrize("section", ["threads", "processes"])
def test_the_text_keys_are_those_the_models_type_as_text(section: str) -> None:
    from taskctl.config.edits import Section, _is_text_key

    model = MODELS[section]
    subkeys = ["count", "delay", "skus", "file", "into_skus", "keep_runs", "max_age", "search", "PATH", "x"]
    paths = [[key] for key in model.model_fields]
    paths += [[key, sub] for key in model.model_fields for sub in subkeys]
    paths += [[key, sub, "search"] for key in model.model_fields for sub in subkeys]

    for path in paths:
        assert _is_text_key(Section(section), path) == _models_take_text(model, path), path
