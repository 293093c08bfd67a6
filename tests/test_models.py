"""The config values: the same keys and defaults as the pydantic models that validate them, built from the
plain form of a validated entry, and shown as JSON."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from taskctl.config import models, spec
from taskctl.config.models import (
    NotifyEvent,
    Overlap,
    SkuSelection,
    process_from_json,
    settings_from_json,
    thread_from_json,
    to_json,
)

REQUIRED: dict[str, dict[str, Any]] = {
    "NotifyTarget": {"url": "https://hooks.example/x"},
    "SkuInput": {"skus": {}},
    "ThreadOutput": {"file": "results.csv"},
    "ProcessConfig": {"threads": ["a"]},
}
PAIRS = [
    "Retries",
    "Defaults",
    "Retention",
    "NotifyTarget",
    "DaemonSettings",
    "Settings",
    "SkuSelection",
    "SkuInput",
    "ThreadOutput",
    "ThreadConfig",
    "ProcessConfig",
]


@pytest.mark.parametrize("name", PAIRS)
def test_every_value_has_the_keys_of_its_model_in_the_same_order(name: str) -> None:
    value_type = getattr(models, name)
    model: type[BaseModel] = getattr(spec, name)

    assert [f for f in value_type._fields if f != "keys_set"] == list(model.model_fields)


@pytest.mark.parametrize("name", PAIRS)
def test_every_default_is_the_one_the_model_gives(name: str) -> None:
    model: type[BaseModel] = getattr(spec, name)
    validated = model.model_validate(REQUIRED.get(name, {}))
    required = {**REQUIRED.get(name, {}), **({"skus": SkuSelection()} if name == "SkuInput" else {})}

    value = getattr(models, name)(**required)

    assert to_json(value) == validated.model_dump(mode="json")


def test_a_thread_is_built_from_what_the_file_set() -> None:
    thread = thread_from_json(
        spec.plain(
            spec.ThreadConfig.model_validate(
                {
                    "code": "print(1)",
                    "timeout": "5m",
                    "retries": 2,
                    "input": {"skus": {"min_rating": 4}},
                    "output": {"file": "out.csv", "into_skus": "skip"},
                    "schedule": "daily at 06:00",
                }
            )
        )
    )

    assert thread.kind == "code" and thread.timeout == 300.0 and thread.retries.count == 2
    assert thread.sku_input is not None and thread.sku_input.skus == SkuSelection(min_rating=4.0)
    assert thread.output is not None and thread.output.into_skus == "skip"
    assert thread.schedule == ["daily at 06:00"]


def test_settings_keep_which_retention_keys_the_file_set() -> None:
    settings = settings_from_json(
        spec.plain(spec.Settings.model_validate({"retention": {"keep_runs": 3, "max_age": None}}))
    )

    assert settings.retention.keys_set == frozenset({"keep_runs", "max_age"})
    assert "keys_set" not in to_json(settings)["retention"]


def test_values_built_from_a_file_never_share_a_list() -> None:
    first, second = thread_from_json({}), thread_from_json({})

    assert first.tags == [] and first.tags is not second.tags
    assert first.env is not second.env


def test_to_json_shows_enums_as_their_text_and_can_leave_out_defaults() -> None:
    process = process_from_json({"threads": ["a"], "overlap": "queue"})

    assert to_json(process)["overlap"] == "queue" and to_json(process)["on_failure"] is None
    assert to_json(SkuSelection(search="shirt", limit=10), exclude_defaults=True) == {
        "search": "shirt",
        "limit": 10,
    }
    assert to_json(models.NotifyTarget(url="http://h")) == {
        "url": "http://h",
        "on": [NotifyEvent.FAILURE.value],
        "headers": {},
    }
    assert to_json(Overlap.SKIP) == "skip"
