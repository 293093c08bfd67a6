"""Reading one config file: the value rules (YAML 1.2 core), what YAML 1.1 reads differently, and the bounds."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from taskctl.config.yamlfile import (
    MAX_FILE_BYTES,
    UnreadableFile,
    float_text,
    parse_yaml,
    read_config_bytes,
    read_yaml,
    same_value,
)
from tests.conftest import write

WARN = "warning"
ERROR = "error"

# The value-meaning table of the README: what `key: <text>` reads as, and whether YAML 1.1 tools disagree.
VALUE_TABLE: list[tuple[str, Any, str | None]] = [
    ("10:30", "10:30", WARN),  # YAML 1.1: 630 (base 60)
    ("12:30:45", "12:30:45", WARN),
    ("on", "on", WARN),  # YAML 1.1: true
    ("off", "off", WARN),
    ("yes", "yes", WARN),
    ("no", "no", WARN),  # YAML 1.1: false
    ("2026-12-24", "2026-12-24", WARN),  # YAML 1.1: a date
    ("1_000", "1_000", WARN),  # YAML 1.1: 1000
    ("0777", 777, ERROR),  # YAML 1.1: 511
    ("0o17", 15, ERROR),  # YAML 1.1: the text '0o17'
    ("1e3", 1000.0, ERROR),  # YAML 1.1: the text '1e3'
    ("2026-12-24 18:00", "2026-12-24 18:00", None),  # a timestamp needs seconds in YAML 1.1 too
    ("daily at 10:30", "daily at 10:30", None),
    ("a # b", "a", None),  # ' #' starts a comment
    ("true", True, None),
    ("False", False, None),
    ("~", None, None),
    ("null", None, None),
    ("", None, None),
    ("12", 12, None),
    ("-3", -3, None),
    ("0x1F", 31, None),
    ("1.5", 1.5, None),
    ("1.0e+3", 1000.0, None),
    ("'0777'", "0777", None),
    ('"on"', "on", None),
]


@pytest.mark.parametrize(("text", "value", "reported"), VALUE_TABLE)
def test_the_value_meaning_table(text: str, value: Any, reported: str | None) -> None:
    doc = parse_yaml(f"key: {text}\n", "config/a.yaml")
    if reported == ERROR:
        assert len(doc.problems) == 1
        assert doc.problems[0].render().startswith(f"config/a.yaml:1: key: {text} means ")
        return
    assert doc.problems == []
    assert same_value(doc.data, {"key": value})
    assert [w.line for w in doc.warnings] == ([1] if reported == WARN else [])


def test_a_yaml_11_difference_names_the_line_and_both_readings() -> None:
    doc = parse_yaml("threads:\n  t:\n    env:\n      START: 10:30\n      MODE: 0777\n", "config/a.yaml")
    assert [w.render() for w in doc.warnings] == [
        "config/a.yaml:4: threads.t.env.START: 10:30 is read as the text '10:30', but YAML 1.1 tools read it "
        'as the number 630; quote it ("10:30") so that every tool reads the same'
    ]
    assert [p.render() for p in doc.problems] == [
        "config/a.yaml:5: threads.t.env.MODE: 0777 means the number 777 in YAML 1.2 but the number 511 in "
        'YAML 1.1; write 777 for the number or "0777" for the text'
    ]


def test_keys_are_text_as_written() -> None:
    doc = parse_yaml("on: 1\n0777: 2\n1e3: 3\nnull: 4\n", "a.yaml")
    assert doc.data == {"on": 1, "0777": 2, "1e3": 3, "null": 4}
    assert doc.problems == doc.warnings == []


def test_merge_keys_work() -> None:
    doc = parse_yaml("base: &base {timeout: 5m}\nt: {<<: *base, code: x}\n", "a.yaml")
    assert doc.data["t"] == {"timeout": "5m", "code": "x"}


def test_an_alias_bomb_is_refused_without_expanding_it() -> None:
    lines = ['a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 9) + "]")
    doc = parse_yaml("\n".join(lines) + "\n", "config/bomb.yaml")
    assert doc.data is None
    assert [p.render() for p in doc.problems] == [
        "config/bomb.yaml:8: aliases (*name) repeat more than 100,000 values in this file; write the values out "
        "or use fewer aliases"
    ]


def test_a_few_aliases_are_fine() -> None:
    doc = parse_yaml("a: &tags [x, y]\nb: *tags\nc: *tags\n", "a.yaml")
    assert doc.problems == []
    assert doc.data == {"a": ["x", "y"], "b": ["x", "y"], "c": ["x", "y"]}


def test_a_value_that_contains_itself_is_refused() -> None:
    doc = parse_yaml("a: &loop [1, *loop]\n", "config/a.yaml")
    assert [p.render() for p in doc.problems] == [
        "config/a.yaml:1: an alias refers to a value that contains it; YAML recursion is not supported"
    ]


def test_deep_nesting_is_refused_not_a_recursion_error() -> None:
    doc = parse_yaml("a: " + "[" * 500 + "]" * 500 + "\n", "config/a.yaml")
    assert [p.render() for p in doc.problems] == [
        "config/a.yaml:1: values nest more than 64 levels deep; flatten them"
    ]


def test_only_regular_files_are_read(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo.yaml")
    (tmp_path / "folder.yaml").mkdir()
    (tmp_path / "dangling.yaml").symlink_to(tmp_path / "gone.yaml")
    linked = write(tmp_path / "real.yaml", "a: 1\n")
    (tmp_path / "link.yaml").symlink_to(linked)

    def reason(name: str) -> str:
        with pytest.raises(UnreadableFile) as caught:
            read_config_bytes(tmp_path / name)
        return str(caught.value)

    assert (
        reason("fifo.yaml")
        == "is a named pipe (FIFO), not a regular file; replace it with a YAML file or remove it"
    )
    assert reason("folder.yaml") == "is a folder, not a file; rename it so that it does not end in .yaml"
    assert reason("dangling.yaml") == (
        f"is a link to '{tmp_path / 'gone.yaml'}', which does not exist; fix the link or remove it"
    )
    assert read_config_bytes(tmp_path / "link.yaml") == b"a: 1\n"


def test_a_huge_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    huge = tmp_path / "huge.yaml"
    with huge.open("wb") as out:
        out.truncate(50 * 1024 * 1024)  # sparse: costs no disk
    doc = read_yaml(huge, "config/huge.yaml")
    assert [p.render() for p in doc.problems] == [
        "config/huge.yaml: is larger than 1 MiB, the limit for a config file; split it into several files under "
        "config/"
    ]
    assert (
        len(read_config_bytes(write(tmp_path / "ok.yaml", "#" * (MAX_FILE_BYTES - 1) + "\n")))
        == MAX_FILE_BYTES
    )


def test_same_value_tells_types_apart() -> None:
    assert same_value({"a": [1, "x"]}, {"a": [1, "x"]})
    assert not same_value(1, 1.0)
    assert not same_value(1, True)
    assert not same_value(["1"], [1])


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1000.0, "1000.0"),
        (1e20, "1.0e+20"),
        (1.5e-7, "1.5e-07"),
        (float("inf"), ".inf"),
        (-float("inf"), "-.inf"),
    ],
)
def test_floats_are_written_the_way_both_yaml_versions_read(value: float, text: str) -> None:
    import yaml

    assert float_text(value) == text
    assert yaml.safe_load(f"v: {text}") == {"v": value}
    assert parse_yaml(f"v: {text}").data == {"v": value}


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (
            "threads:\n  a:\n    code: print(1)\n    tags: [x, y\n  b:\n    code: print(2)\n",
            4,
            "invalid YAML: the '[' opened on this line is not closed (add ']')",
        ),
        (
            "threads:\n  a: {code: print(1)\n  b: {}\n",
            2,
            "invalid YAML: the '{' opened on this line is not closed (add '}')",
        ),
        (
            'threads:\n  a:\n    code: "print(1)\n  b: {}\n',
            3,
            "invalid YAML: the quote opened on this line is not closed",
        ),
    ],
    ids=["bracket", "brace", "quote"],
)
def test_a_bracket_or_quote_left_open_is_reported_on_the_line_that_opened_it(
    text: str, line: int, message: str
) -> None:
    (problem,) = parse_yaml(text, "config/t.yaml").problems

    assert (problem.line, problem.message) == (line, message)
