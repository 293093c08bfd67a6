"""From a form's values to the edit the CLI's planner applies (taskctl/web/edits.py)."""

from __future__ import annotations

import pytest

pytest.importorskip("starlette", reason="the web extra (taskctl[web]) is not installed")

from taskctl.config.edits import EntryEdit
from taskctl.errors import UsageError
from taskctl.web.edits import entry_edit, json_edit

CURRENT = {"threads": ["a", "b"], "schedule": ["hourly", "daily at 06:00"], "timeout": "1h", "tags": ["x"]}


def test_nothing_changed_is_an_empty_edit() -> None:
    wanted = {"threads": ["a", "b"], "schedule": ["hourly", "daily at 06:00"], "timeout": "1h", "tags": ["x"]}
    assert entry_edit(CURRENT, wanted, enabled=True).empty


def test_items_added_and_removed_are_edited_one_by_one() -> None:
    edit = entry_edit(CURRENT, {"schedule": ["daily at 06:00", "monday at 09:00"]}, enabled=None)
    assert edit == EntryEdit(
        remove_items=(("schedule", "hourly"),), add_items=(("schedule", "monday at 09:00"),)
    )


def test_a_reordered_list_and_the_chain_are_set_whole() -> None:
    assert entry_edit(CURRENT, {"schedule": ["daily at 06:00", "hourly"]}, None).set == (
        ("schedule", ["daily at 06:00", "hourly"]),
    )
    assert entry_edit(CURRENT, {"threads": ["a", "b", "c"]}, None).set == (("threads", ["a", "b", "c"]),)


def test_an_emptied_value_removes_its_key_and_a_new_one_is_set() -> None:
    edit = entry_edit(CURRENT, {"timeout": "", "tags": [], "description": "hi", "timezone": ""}, None)
    assert edit.unset == ("timeout", "tags")
    assert edit.set == (("description", "hi"),)


def test_enabled_changes_only_when_it_differs() -> None:
    assert entry_edit(CURRENT, {}, enabled=True).enabled is None
    assert entry_edit(CURRENT, {}, enabled=False).enabled is False
    assert entry_edit({**CURRENT, "enabled": False}, {}, enabled=True).enabled is True


def test_a_patch_body_reads_as_an_entry_edit() -> None:
    body = {"set": {"retries.count": 2}, "unset": ["tags"], "add": {"schedule": "hourly"}, "enabled": False}
    assert json_edit(body) == EntryEdit(
        unset=("tags",), set=(("retries.count", 2),), add_items=(("schedule", "hourly"),), enabled=False
    )
    with pytest.raises(UsageError, match="'enabled' must be true or false"):
        json_edit({"enabled": "no"})
    with pytest.raises(UsageError, match=r"'set' must be an object"):
        json_edit({"set": ["timeout"]})
    with pytest.raises(UsageError, match="'unset' must be a list"):
        json_edit({"unset": "tags"})
