"""The round-trip writer: only the edited entry's text changes, values read back the same in every YAML
library, and files are written atomically or not at all."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from taskctl.config.writer import (
    MISSING,
    EditError,
    YamlEdit,
    read_file_text,
    render,
    render_items,
    ruamel_render,
    ruamel_render_items,
    unified_diff,
    write_atomically,
)
from taskctl.config.yamlfile import parse_yaml, same_value


def edited(text: str, path: tuple[str, ...], value: Any) -> str:
    edit = YamlEdit(text, "config/a.yaml")
    edit.set(path, value)
    return edit.text


def read_everywhere(text: str) -> tuple[Any, Any, Any]:
    """The same text as taskctl, PyYAML (YAML 1.1) and ruamel.yaml (YAML 1.2) read it."""
    return parse_yaml(text).data, yaml.safe_load(text), YAML(typ="safe", pure=True).load(io.StringIO(text))


# -- only the entry changes ---------------------------------------------------------------------------


def test_a_scalar_is_replaced_in_place_and_its_comment_stays() -> None:
    text = "threads:\n  a:\n    timeout:   30m   # half an hour\n    code: x\n"
    assert edited(text, ("threads", "a", "timeout"), "45m") == (
        "threads:\n  a:\n    timeout:   45m   # half an hour\n    code: x\n"
    )


def test_a_new_key_goes_after_the_last_one_and_its_deeper_comments() -> None:
    text = "threads:\n  a:\n    code: x\n    # retries: 3\n# footer\n"
    assert edited(text, ("threads", "a", "timeout"), "5m") == (
        "threads:\n  a:\n    code: x\n    # retries: 3\n    timeout: 5m\n# footer\n"
    )


def test_new_entries_copy_the_files_indentation_and_blank_line_style() -> None:
    text = "threads:\n\n    a:\n        schedule:\n        - daily\n\n    b:\n        code: y\n"
    entry = {"code": "z", "schedule": ["hourly", "30 2 * * *"], "tags": ["t"]}
    assert edited(text, ("threads", "c"), entry) == (
        text
        + "\n    c:\n        code: z\n        schedule:\n        - hourly\n        - 30 2 * * *\n        tags: [t]\n"
    )


def test_a_key_is_added_inside_a_nested_block_mapping() -> None:
    text = "threads:\n  a:\n    env:\n      A: '1'   # first\n    code: x\n"
    assert edited(text, ("threads", "a", "env", "B"), "on") == (
        "threads:\n  a:\n    env:\n      A: '1'   # first\n      B: 'on'\n    code: x\n"
    )


def test_list_items_are_added_and_removed_without_touching_the_others() -> None:
    text = "p:\n  schedule:\n    - daily at 06:00   # morning\n    - '30 2 * * *'   # night\n    - hourly\n  x: 1\n"
    assert edited(text, ("p", "schedule"), ["daily at 06:00", "hourly", "monday at 09:00"]) == (
        "p:\n  schedule:\n    - daily at 06:00   # morning\n    - hourly\n    - monday at 09:00\n  x: 1\n"
    )


def test_a_quoted_key_keeps_its_quotes_when_its_value_is_rewritten() -> None:
    text = "threads:\n  'a':\n    \"env\": {A: '1'}\n"
    assert edited(text, ("threads", "a", "env"), {"A": "1", "B": "on"}) == (
        "threads:\n  'a':\n    \"env\": {A: '1', B: 'on'}\n"
    )


def test_removing_an_entry_takes_its_lines_and_one_set_of_blank_lines() -> None:
    text = "threads:\n  a:\n    code: 1\n\n  b:\n    code: 2\n    # old: yes\n\n  c:\n    code: 3\n"
    assert edited(text, ("threads", "b"), MISSING) == "threads:\n  a:\n    code: 1\n\n  c:\n    code: 3\n"
    assert edited(text, ("threads", "a"), MISSING) == (
        "threads:\n  b:\n    code: 2\n    # old: yes\n\n  c:\n    code: 3\n"
    )
    assert edited(text, ("threads", "c"), MISSING) == (
        "threads:\n  a:\n    code: 1\n\n  b:\n    code: 2\n    # old: yes\n"
    )


def test_removing_the_last_entry_leaves_an_empty_mapping() -> None:
    assert (
        edited("# mine\nthreads:\n  a:\n    code: 1\n", ("threads", "a"), MISSING) == "# mine\nthreads: {}\n"
    )


def test_a_flow_entry_is_rewritten_in_block_style_when_it_changes() -> None:
    text = "processes:\n  p: {threads: [a, b]}   # short\n  q: {threads: [a]}\n"
    assert edited(text, ("processes", "p", "enabled"), False) == (
        "processes:\n  p:\n    threads: [a, b]\n    enabled: false\n  q: {threads: [a]}\n"
    )


def test_a_missing_section_is_added_at_the_end() -> None:
    assert edited("threads:\n  a: {code: x}", ("processes", "p"), {"threads": ["a"]}) == (
        "threads:\n  a: {code: x}\n\nprocesses:\n  p:\n    threads: [a]\n"
    )
    assert edited("", ("threads", "a"), {"code": "x"}) == "threads:\n  a:\n    code: x\n"
    assert edited("# only a comment\n", ("threads", "a"), {"code": "x"}) == (
        "# only a comment\nthreads:\n  a:\n    code: x\n"
    )


def test_line_breaks_of_the_file_are_kept() -> None:
    text = "threads:\r\n  a:\r\n    code: x\r\n"
    assert edited(text, ("threads", "b"), {"code": "y"}) == text + "  b:\r\n    code: y\r\n"


def test_multi_line_code_is_written_as_a_block() -> None:
    text = edited("threads: {}\n", ("threads", "a"), {"code": "import sys\nprint(sys.argv)\n"})
    assert text == "threads:\n  a:\n    code: |\n      import sys\n      print(sys.argv)\n"


def test_an_entry_that_shares_text_through_an_alias_is_refused_untouched() -> None:
    text = "threads:\n  a:\n    env: &e {A: '1'}\n  b:\n    env: *e\n"
    edit = YamlEdit(text, "config/a.yaml")
    with pytest.raises(EditError) as caught:
        edit.set(("threads", "a"), MISSING)
    assert caught.value.message == (
        "config/a.yaml: taskctl cannot remove threads.a without changing other values too (they share text "
        "through an anchor, an alias or a merge key); edit the file by hand"
    )
    edit.set(("threads", "b", "code"), "x")  # an alias elsewhere does not stop other edits
    assert edit.text == "threads:\n  a:\n    env: &e {A: '1'}\n  b:\n    env: *e\n    code: x\n"


def test_an_entry_in_flow_style_sections_cannot_be_edited_in_place() -> None:
    edit = YamlEdit("threads: {a: {code: x}, b: {code: y}}\n", "config/a.yaml")
    with pytest.raises(EditError) as caught:
        edit.set(("threads", "a", "code"), "z")
    assert caught.value.message == (
        "config/a.yaml:1: threads is written in flow style ({...}); write one entry per line for taskctl to "
        "edit it; nothing was written"
    )


def test_the_source_of_an_entry_goes_out_and_back_at_its_column() -> None:
    text = "threads:\n    a:   # first\n        code: x\n\n        # note\n    b:\n        code: y\n"
    edit = YamlEdit(text, "config/a.yaml")
    assert edit.source(("threads", "a")) == "a:   # first\n    code: x\n\n    # note\n"
    edit.replace_source(("threads", "a"), "a:   # first\n    code: z\n")
    assert edit.text == "threads:\n    a:   # first\n        code: z\n    b:\n        code: y\n"


# -- one meaning for every value ----------------------------------------------------------------------

TRICKY_TEXT = [
    "10:30",
    "12:30:45",
    "on",
    "no",
    "Yes",
    "y",
    "0777",
    "0o17",
    "1e3",
    "1_000",
    ".5",
    "2026-12-24 18:00",
    "2026-12-24",
    "2026-12-24 18:00:00",
    "a # b",
    "a: b",
    "- x",
    "*x",
    "@x",
    "",
    "~",
    "null",
    "true",
    "=",
    "<<",
    " padded ",
    "it's",
    'say "hi"',
    "tab\there",
    "two\nlines\n",
    "ünïcödé",
]


@pytest.mark.parametrize("text", TRICKY_TEXT)
def test_text_the_writer_emits_reads_back_as_that_text_everywhere(text: str) -> None:
    emitted = render({"v": text, text or "empty": 1})
    for reading in read_everywhere(emitted):
        assert same_value(reading, {"v": text, text or "empty": 1}), emitted


@pytest.mark.parametrize("value", [0, -3, 511, 1000.0, 1e20, 0.1, -2.5, float("inf"), True, False, None])
def test_numbers_and_booleans_read_back_as_the_same_value_everywhere(value: Any) -> None:
    emitted = render({"v": value})
    for reading in read_everywhere(emitted):
        assert same_value(reading, {"v": value}), emitted


scalars = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=20),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=False),
    st.booleans(),
)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.text(min_size=1, max_size=8), st.one_of(scalars, st.lists(scalars, max_size=4)), max_size=5
    )
)
def test_anything_the_writer_emits_reads_back_exactly_in_both_yaml_versions(entry: dict[str, Any]) -> None:
    emitted = render({"threads": {"t": entry}})
    for reading in read_everywhere(emitted):
        assert same_value(reading, {"threads": {"t": entry}}), emitted


# -- files --------------------------------------------------------------------------------------------


def test_a_write_is_refused_when_the_file_changed_since_it_was_read(tmp_path: Path) -> None:
    path = tmp_path / "threads.yaml"
    path.write_text("threads: {}\n")
    before = read_file_text(path, "config/threads.yaml")
    path.write_text("threads: {}\n# someone else\n")
    with pytest.raises(EditError) as caught:
        write_atomically(before, "threads:\n  a: {code: x}\n")
    assert caught.value.message == (
        "config/threads.yaml changed on disk since taskctl read it; nothing was written (run the command again "
        "to apply it to the new text)"
    )
    assert path.read_text() == "threads: {}\n# someone else\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["threads.yaml"]  # no temporary file left


def test_a_write_keeps_the_mode_the_bom_and_a_symbolic_link(tmp_path: Path) -> None:
    real = tmp_path / "shared.yaml"
    real.write_bytes(b"\xef\xbb\xbfthreads: {}\n")
    real.chmod(0o640)
    link = tmp_path / "threads.yaml"
    link.symlink_to(real)
    write_atomically(read_file_text(link, "config/threads.yaml"), "threads:\n  a: {code: x}\n")
    assert link.is_symlink()
    assert real.read_bytes() == b"\xef\xbb\xbfthreads:\n  a: {code: x}\n"
    assert stat.S_IMODE(os.stat(real).st_mode) == 0o640


def test_a_new_file_and_its_folder_are_created(tmp_path: Path) -> None:
    before = read_file_text(tmp_path / "team" / "threads.yaml", "config/team/threads.yaml")
    assert before.raw is None
    write_atomically(before, "threads: {}\n")
    assert (tmp_path / "team" / "threads.yaml").read_text() == "threads: {}\n"
    assert unified_diff(before, "threads: {}\n") == (
        "--- /dev/null\n+++ b/config/team/threads.yaml\n@@ -0,0 +1 @@\n+threads: {}\n"
    )


def test_a_file_that_cannot_be_written_is_one_sentence(tmp_path: Path) -> None:
    write_to = tmp_path / "not-a-folder"
    write_to.write_text("")
    before = read_file_text(write_to / "threads.yaml", "config/threads.yaml")
    with pytest.raises(EditError) as caught:
        write_atomically(before, "threads: {}\n")
    assert caught.value.message == "cannot write config/threads.yaml (File exists); nothing was written"


# -- plain values are written without ruamel.yaml, as it would write them ----------------------------------

plain_words = st.from_regex(r"[a-z0-9_(][a-z0-9_.()/+=]{0,6}( [a-z0-9_.()]{1,4}){0,2}", fullmatch=True)
plain_scalars = st.one_of(
    plain_words, st.integers(-(10**6), 10**6), st.floats(allow_nan=False), st.booleans()
)
plain_values = st.one_of(
    plain_scalars,
    st.lists(plain_scalars, max_size=4),
    st.lists(plain_words, min_size=1, max_size=30),  # too long for one flow line
    st.dictionaries(plain_words, plain_scalars, max_size=3),
    st.dictionaries(plain_words, st.dictionaries(plain_words, plain_scalars, max_size=3), max_size=2),
)


@settings(max_examples=400, deadline=None)
@given(
    entry=st.dictionaries(
        st.one_of(plain_words, st.sampled_from(["schedule", "tags"])), plain_values, max_size=5
    ),
    step=st.sampled_from([2, 4]),
    dash=st.sampled_from([0, 2]),
    depth=st.integers(1, 3),
)
def test_plain_values_are_written_as_ruamel_writes_them(
    entry: dict[str, Any], step: int, dash: int, depth: int
) -> None:
    mapping = {"t": entry}
    assert render(mapping, step, dash, depth) == ruamel_render(mapping, step, dash, depth)
    items = [v for v in entry.values() if not isinstance(v, list | dict)]
    assert render_items(items, step, depth) == ruamel_render_items(items, step, depth)


@pytest.mark.parametrize(
    ("mapping", "expected"),
    [
        ({"extra": {"code": "print(1)"}}, "extra:\n  code: print(1)\n"),
        ({"tags": ["example", "x"]}, "tags: [example, x]\n"),
        ({"schedule": ["daily at 10:00", "hourly"]}, "schedule:\n  - daily at 10:00\n  - hourly\n"),
    ],
)
def test_plain_and_other_values_are_written_alike(mapping: dict[str, Any], expected: str) -> None:
    assert render(mapping) == ruamel_render(mapping) == expected
