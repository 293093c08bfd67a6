"""Round-trip edits of one YAML config file: only the edited entry's text changes.

The file is never serialised again as a whole. The parser's positions say which lines hold an entry (its
key, its value, and the comments indented deeper than its key that follow it); an edit replaces, inserts or
deletes those lines and leaves every other byte as it was: comments, key order, quoting, blank lines and
line breaks. Within an entry, a changed key is edited alone, a scalar in place (its end-of-line comment
stays), and items appended to or removed from a block list alone.

New text is written by ruamel.yaml (plain words, numbers and booleans by `render` itself, exactly as ruamel
would write them), with quotes wherever YAML 1.1 or 1.2 would read a plain value as something else, so that
taskctl, ruamel.yaml and PyYAML all read back exactly the value asked for: every snippet is read back under
both rule sets, and the whole result is parsed again and compared with the data expected, before it can be
written.

Writing is atomic (a temporary file in the same folder, fsync, rename) and refused if the file changed on
disk since it was read.
"""

from __future__ import annotations

import contextlib
import difflib
import io
import os
import re
from pathlib import Path
from typing import Any, NamedTuple

from taskctl.config.models import same_value
from taskctl.config.pyyaml import yaml
from taskctl.config.yamlfile import (
    STR_TAG,
    UnreadableFile,
    YamlDocument,
    _Loader,
    float_text,
    parse_yaml,
    read_config_bytes,
)
from taskctl.errors import TaskctlError

KeyPath = tuple[str, ...]

_BOM = "\ufeff"
# YAML's line breaks (str.splitlines would also split at form feeds and other control characters).
_LINE = re.compile(r"[^\r\n\x85\u2028\u2029]*(?:\r\n|[\r\n\x85\u2028\u2029])?")
_BREAK = re.compile(r"\r\n|[\r\n\x85\u2028\u2029]")
_BREAKS = ("\n", "\r", "\x85", "\u2028", "\u2029")
_ALWAYS_BLOCK = {"schedule"}  # lists read one item per line
_FLOW_WIDTH = 72  # a list or mapping of scalars shorter than this is written `[a, b]` / `{k: v}`


class EditError(TaskctlError):
    """The file cannot be edited as asked (its layout, or a change on disk); nothing was written."""


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()  # "no such key": as a value to set, it removes the key


# -- the file as lines and nodes --------------------------------------------------------------------------


class _Layout(NamedTuple):
    """A file's text as YAML sees its lines, its nodes, and the indentation style it uses."""

    text: str
    lines: list[str]  # each with its line break
    starts: list[int]  # the offset of each line, and the length of the text at the end
    doc: YamlDocument
    newline: str
    step: int  # indentation of a nested block mapping
    dash: int  # column of a block list's '-' relative to its key

    @classmethod
    def parse(cls, text: str, display: str) -> _Layout:
        doc = parse_yaml(text, display)
        if doc.data is None and doc.problems:
            raise EditError(f"{doc.problems[0].render()}; fix the file first (nothing was written)")
        root = doc.node
        if root is not None and not (isinstance(root, yaml.MappingNode) and not root.flow_style):
            raise EditError(
                f"{display} must be a block mapping (one 'key:' per line at the top) for taskctl to edit "
                "it; nothing was written"
            )
        lines = [m.group(0) for m in _LINE.finditer(text) if m.group(0)]
        starts = [0]
        for line in lines:
            starts.append(starts[-1] + len(line))
        first_break = _BREAK.search(text)
        step, dash = _indentation(root)
        return cls(text, lines, starts, doc, first_break.group(0) if first_break else "\n", step, dash)

    def offset(self, mark: Any) -> int:
        return int(self.starts[mark.line] + mark.column)

    def indent_of(self, line: int) -> int:
        return len(self.lines[line]) - len(self.lines[line].lstrip(" "))

    def is_blank(self, line: int) -> bool:
        return self.lines[line].strip() == ""

    def is_comment(self, line: int) -> bool:
        return self.lines[line].lstrip(" \t").startswith("#")

    def last_line(self, node: yaml.Node) -> int:
        """The last line holding `node`'s own text (an alias inside it counts as its key's or dash's line)."""
        if isinstance(node, yaml.MappingNode) and not node.flow_style and node.value:
            key, value = node.value[-1]
            return int(key.start_mark.line) if _is_alias(key, value) else self.last_line(value)
        if isinstance(node, yaml.SequenceNode) and not node.flow_style and node.value:
            return self._item_last_line(node, len(node.value) - 1)
        start, end = node.start_mark, node.end_mark
        line = int(end.line if end.column > 0 or end.line == start.line else end.line - 1)
        line = min(line, len(self.lines) - 1)
        while line > start.line and self.is_blank(line):  # a block scalar's trailing blank lines
            line -= 1
        return line

    def pair_lines(self, key: yaml.Node, value: yaml.Node) -> tuple[int, int]:
        """The lines [start, end) of the pair `key: value`."""
        last = int(key.start_mark.line) if _is_alias(key, value) else self.last_line(value)
        return key.start_mark.line, self._end_after(last, key.start_mark.column)

    def item_lines(self, seq: yaml.SequenceNode, index: int) -> tuple[int, int]:
        """The lines [start, end) of item `index` of the block list `seq`."""
        last = self._item_last_line(seq, index)
        return self._dash_line(seq, index), self._end_after(last, seq.start_mark.column)

    def _dash_line(self, seq: yaml.SequenceNode, index: int) -> int:
        """The line of the `-` of item `index` (from the lines: an alias has no position of its own)."""
        if index == 0:
            return int(seq.start_mark.line)
        line = self._item_last_line(seq, index - 1) + 1
        column = seq.start_mark.column
        while line < len(self.lines) - 1 and not (
            self.indent_of(line) == column and self.lines[line].lstrip(" ").startswith("-")
        ):
            line += 1
        return line

    def _item_last_line(self, seq: yaml.SequenceNode, index: int) -> int:
        item, dash = seq.value[index], self._dash_line(seq, index)
        if (item.start_mark.line, item.start_mark.column) < (dash, seq.start_mark.column):
            return dash  # an alias: its text is `- *name` on the dash's line
        return self.last_line(item)

    def _end_after(self, last: int, column: int) -> int:
        """The line after `last` and the comments indented deeper than `column` that follow it."""
        end = scan = last + 1
        while scan < len(self.lines):
            if self.is_blank(scan):
                scan += 1
            elif self.is_comment(scan) and self.indent_of(scan) > column:
                scan += 1
                end = scan
            else:
                break
        return end


def _indentation(root: yaml.Node | None) -> tuple[int, int]:
    """(mapping step, list dash offset) of the file, from its first nested block mapping and block list."""
    step: int | None = None
    dash: int | None = None
    stack = [root] if root is not None else []
    while stack and (step is None or dash is None):
        node = stack.pop()
        if not isinstance(node, yaml.MappingNode) or node.flow_style:
            continue
        for key, value in node.value:
            below = value.start_mark.line > key.start_mark.line
            if not isinstance(value, yaml.MappingNode | yaml.SequenceNode) or value.flow_style or not below:
                continue
            if isinstance(value, yaml.MappingNode):
                step = value.start_mark.column - key.start_mark.column if step is None else step
                stack.append(value)
            elif dash is None:
                dash = value.start_mark.column - key.start_mark.column
    return (step if step and 0 < step <= 8 else 2), (dash if dash is not None and 0 <= dash <= 8 else 2)


def _is_alias(key: yaml.Node, value: yaml.Node) -> bool:
    """An alias (`*name`) is composed as the anchored node, whose text comes before the key."""
    return bool((value.start_mark.line, value.start_mark.column) < (key.end_mark.line, key.end_mark.column))


# -- writing values -----------------------------------------------------------------------------------


_RESOLVER_11 = yaml.resolver.Resolver()
_RESOLVER_12 = _Loader("")


def _ambiguous_plain(text: str) -> bool:
    """Whether `text`, written without quotes, would read as something else in YAML 1.1 or 1.2."""
    ours = _RESOLVER_12.resolve(yaml.ScalarNode, text, (True, False))
    theirs = _RESOLVER_11.resolve(yaml.ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
    return bool(ours != STR_TAG or theirs != STR_TAG)


def _dumper(step: int, dash: int) -> Any:
    from ruamel.yaml import YAML
    from ruamel.yaml.representer import RoundTripRepresenter

    class Representer(RoundTripRepresenter):
        def represent_str(self, data: str) -> Any:
            style = '"' if not data.isprintable() else "'" if _ambiguous_plain(data) else None
            return self.represent_scalar(STR_TAG, data, style=style)

        def represent_float(self, data: float) -> Any:
            return self.represent_scalar("tag:yaml.org,2002:float", float_text(data))

    Representer.add_representer(str, Representer.represent_str)
    Representer.add_representer(float, Representer.represent_float)
    dumper = YAML(typ="rt")
    dumper.Representer = Representer
    dumper.width = 4096  # never fold a long value over several lines
    dumper.indent(mapping=step, sequence=dash + 2, offset=dash)
    return dumper


def _styled(value: Any, key: str | None, depth: int) -> Any:
    """`value` as ruamel objects: entries in block style; short lists and mappings of scalars in flow style.

    `depth` is the depth of `value` in the file (the document is 0, a section 1, an entry 2). A mapping
    without a `key` is the one being written as lines, so it stays in block style.
    """
    from ruamel.yaml.comments import CommentedMap, CommentedSeq
    from ruamel.yaml.scalarstring import LiteralScalarString

    if isinstance(value, dict):
        mapping = CommentedMap((k, _styled(v, k, depth + 1)) for k, v in value.items())
        if depth >= 3 and key is not None and _short_scalars([*value, *value.values()]):
            mapping.fa.set_flow_style()
        return mapping
    if isinstance(value, list):
        seq = CommentedSeq(_styled(v, None, depth + 1) for v in value)
        if key not in _ALWAYS_BLOCK and _short_scalars(value):
            seq.fa.set_flow_style()
        return seq
    if isinstance(value, str) and "\n" in value and all(c.isprintable() or c in "\n\t" for c in value):
        return LiteralScalarString(value)
    return value


# Characters with a meaning inside a flow collection. ruamel and PyYAML disagree on where some of them may
# stand unquoted there (`[?0]` reads in ruamel and is an error in PyYAML), so values holding them go in
# block style, where both read them alike.
_FLOW_INDICATORS = frozenset("?:,[]{}#")


def _short_scalars(values: list[Any]) -> bool:
    scalars = all(
        isinstance(v, str | int | float | bool) and "\n" not in str(v) and _FLOW_INDICATORS.isdisjoint(str(v))
        for v in values
    )
    return scalars and sum(len(str(v)) + 2 for v in values) <= _FLOW_WIDTH


def render(mapping: dict[str, Any], step: int = 2, dash: int = 2, depth: int = 1) -> str:
    """`mapping` as block YAML at column 0 that reads back as exactly `mapping` under YAML 1.1 and 1.2.

    `depth` is the depth of its keys in the file (1: top-level keys), which decides flow style.
    """
    text = _plain_mapping(mapping, step, dash, depth, "")
    if text is None:
        return _checked(ruamel_render(mapping, step, dash, depth), mapping, yaml.SafeLoader)
    return _checked(text, mapping, _YAML11_READER)


def render_items(items: list[Any], step: int = 2, depth: int = 3) -> str:
    """`items` as block list items (`- ...` at column 0) of a list at `depth`, read back exactly."""
    text = _plain_items(items, "")
    if text is None:
        return _checked(ruamel_render_items(items, step, depth), items, yaml.SafeLoader)
    return _checked(text, items, _YAML11_READER)


def ruamel_render(mapping: dict[str, Any], step: int = 2, dash: int = 2, depth: int = 1) -> str:
    """`render` by ruamel.yaml, for any value (`render` writes plain values itself, as this would)."""
    return _dump(_styled(mapping, None, depth - 1), step, dash)


def ruamel_render_items(items: list[Any], step: int = 2, depth: int = 3) -> str:
    """`render_items` by ruamel.yaml, for any value."""
    from ruamel.yaml.comments import CommentedSeq

    return _dump(CommentedSeq(_styled(item, None, depth + 1) for item in items), step, 0)


# Plain values are written without ruamel.yaml (importing it was a tenth of an edit's start-up): text made of
# these characters, not read as anything but a string, numbers and booleans, in the layout `_styled` gives
# them. Anything else goes to ruamel; a test checks that both write the same text.
_PLAIN_TEXT = re.compile(r"[A-Za-z0-9_(][A-Za-z0-9_.()/+=]*(?: [A-Za-z0-9_.()/+=]+)*")
_PLAIN_TEXT_MAX = 200  # far below the dumper's width: never folded


def _plain_scalar(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return float_text(value)
    if (
        isinstance(value, str)
        and len(value) <= _PLAIN_TEXT_MAX
        and _PLAIN_TEXT.fullmatch(value)
        and not _ambiguous_plain(value)
    ):
        return value
    return None


def _plain_flow(values: list[Any]) -> str | None:
    """`a, b` (the inside of a flow list), or None."""
    texts = [_plain_scalar(v) for v in values]
    return None if None in texts else ", ".join(t for t in texts if t is not None)


def _plain_items(items: list[Any], indent: str) -> str | None:
    """Block list items of scalars at `indent`, or None."""
    texts = [_plain_scalar(item) for item in items]
    if not texts or None in texts:
        return None
    return "".join(f"{indent}- {text}\n" for text in texts)


def _plain_mapping(mapping: dict[str, Any], step: int, dash: int, depth: int, indent: str) -> str | None:
    """A block mapping at `indent` whose keys are at `depth`, as `_dumper` writes `_styled(mapping)`; None
    when any part of it is not plain."""
    lines: list[str] = []
    for key, value in mapping.items():
        key_text = _plain_scalar(key) if isinstance(key, str) else None
        if key_text is None:
            return None
        if isinstance(value, list):
            if key not in _ALWAYS_BLOCK and _short_scalars(value):
                inner = _plain_flow(value)
                text = None if inner is None else f"{indent}{key_text}: [{inner}]\n"
            else:
                items = _plain_items(value, indent + " " * dash)
                text = None if items is None else f"{indent}{key_text}:\n{items}"
        elif isinstance(value, dict):
            if depth >= 3 and _short_scalars([*value, *value.values()]):
                pairs = [(_plain_scalar(k), _plain_scalar(v)) for k, v in value.items()]
                inner = ", ".join(f"{k}: {v}" for k, v in pairs)
                text = None if any(None in pair for pair in pairs) else f"{indent}{key_text}: {{{inner}}}\n"
            else:
                below = _plain_mapping(value, step, dash, depth + 1, indent + " " * step) if value else None
                text = None if below is None else f"{indent}{key_text}:\n{below}"
        else:
            scalar = _plain_scalar(value)
            text = None if scalar is None else f"{indent}{key_text}: {scalar}\n"
        if text is None:
            return None
        lines.append(text)
    return "".join(lines) if lines else None


def _dump(styled: Any, step: int, dash: int) -> str:
    out = io.StringIO()
    _dumper(step, dash).dump(styled, out)
    return out.getvalue()


# What ruamel writes is read back by PyYAML's own `safe_load` (its pure-Python reader). Plain text (words,
# numbers, booleans, `[a, b]`) reads alike in every YAML parser; only how YAML 1.1 resolves it is in doubt,
# which is PyYAML's resolver in either of its loaders: libyaml's spares compiling the pure reader's pattern.
_YAML11_READER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _checked(text: str, expected: Any, yaml11: type[yaml.SafeLoader]) -> str:
    """`text`, after checking that taskctl and PyYAML (with `yaml11`) read it as `expected`."""
    if not (same_value(parse_yaml(text).data, expected) and same_value(yaml.load(text, yaml11), expected)):
        raise AssertionError(f"the YAML writer wrote {text!r}, which does not read back as {expected!r}")
    return text


# -- edits --------------------------------------------------------------------------------------------


class YamlEdit:
    """The text of one file under edit; each change re-reads it, and is checked against the data expected."""

    def __init__(self, text: str, display: str) -> None:
        self.text = text
        self.display = display
        self._parsed: dict[str, _Layout] = {}

    def _layout(self) -> _Layout:
        """The current text parsed (once: the last parse is kept; callers never change its data)."""
        layout = self._parsed.get(self.text)
        if layout is None:
            layout = _Layout.parse(self.text, self.display)
            self._parsed = {self.text: layout}
        return layout

    def data(self) -> Any:
        return self._layout().doc.data

    def get(self, path: KeyPath) -> Any:
        """The value at `path`, or MISSING."""
        return _lookup(self.data(), path)

    def set(self, path: KeyPath, value: Any) -> None:
        """Make `path` hold `value` (MISSING removes it), changing as little text as possible."""
        data = self.data()
        if same_value(_lookup(data, path), value):
            return
        parent = _lookup(data, path[:-1])
        if value is MISSING and len(path) > 1 and isinstance(parent, dict) and list(parent) == [path[-1]]:
            self.set(path[:-1], {})  # removing the last key leaves an empty mapping, not a null
            return
        expected = _with(data, path, value)
        text = self.text
        self._set(path, value)
        try:
            after = self.data()
        except EditError:
            after = MISSING  # e.g. an alias left without its anchor
        if not same_value(after, expected):
            self.text = text
            verb = "remove" if value is MISSING else "change"
            raise EditError(
                f"{self.display}: taskctl cannot {verb} {'.'.join(path)} without changing other values too "
                "(they share text through an anchor, an alias or a merge key); edit the file by hand"
            )

    def source(self, path: KeyPath) -> str:
        """The text of the pair at `path` (its key line to its last line), moved to column 0."""
        layout, start, end, column = self._pair_at(path)
        lines = layout.lines[start:end]
        if any(line[:column].strip() for line in lines):
            raise EditError(
                f"{self.display}:{start + 1}: the lines of {'.'.join(path)} are not indented under it"
            )
        return "".join(line[column:] if line.strip() else _line_break(line) for line in lines)

    def replace_source(self, path: KeyPath, source: str) -> None:
        """Put `source` (a pair written at column 0) in place of the pair at `path`."""
        layout, start, end, column = self._pair_at(path)
        self.text = _splice(layout, start, end, _indented(source, column, layout.newline))

    def _pair_at(self, path: KeyPath) -> tuple[_Layout, int, int, int]:
        layout = self._layout()
        key: Any = None
        node: Any = layout.doc.node
        for depth, name in enumerate(path):
            pair = _pair(node, name) if isinstance(node, yaml.MappingNode) and not node.flow_style else None
            if pair is None:
                raise EditError(f"{self.display} has no {'.'.join(path[: depth + 1])}")
            key, node = pair
            _check_own_line(layout, key, self.display)
        start, end = layout.pair_lines(key, node)
        return layout, start, end, key.start_mark.column

    def _set(self, path: KeyPath, value: Any) -> None:
        layout = self._layout()
        parent = layout.doc.node
        end = len(layout.lines)  # where the text of `parent` ends
        for depth, key in enumerate(path):
            if parent is None:  # the file holds no value yet
                if value is not MISSING:
                    self.text = _append(layout, render(_nest(path, value), layout.step, layout.dash), 0)
                return
            assert isinstance(parent, yaml.MappingNode)
            pair = _pair(parent, key)
            if pair is None:
                if value is not MISSING:
                    self._insert(layout, parent, end, path[depth:], value, depth + 1)
                return
            key_node, value_node = pair
            _check_own_line(layout, key_node, self.display)
            block = isinstance(value_node, yaml.MappingNode) and not value_node.flow_style
            if depth < len(path) - 1 and block and not _is_alias(key_node, value_node):
                parent, end = value_node, layout.pair_lines(key_node, value_node)[1]
                continue
            if depth < len(path) - 1:  # a flow mapping or an empty value on the way: rewrite that pair
                if value is MISSING and _lookup(layout.doc.data, path) is MISSING:
                    return
                current = _lookup(layout.doc.data, path[: depth + 1])
                where = f"{self.display}:{key_node.start_mark.line + 1}: {'.'.join(path[: depth + 1])}"
                if current is not None and not isinstance(current, dict):
                    raise EditError(f"{where} is not a mapping")
                if depth == 0 and set(current or {}) - {path[1]}:
                    raise EditError(
                        f"{where} is written in flow style ({{...}}); write one entry per line for taskctl "
                        "to edit it; nothing was written"
                    )
                value = _with(current or {}, path[depth + 1 :], value)
            self._replace(layout, key_node, value_node, value, depth + 1)
            return

    def _insert(
        self, layout: _Layout, parent: yaml.MappingNode, end: int, path: KeyPath, value: Any, depth: int
    ) -> None:
        """Add `path` = `value` at the end of the block mapping `parent` (keys at `depth`), whose text
        (with the deeper comments after it) ends before line `end`."""
        column = parent.value[0][0].start_mark.column
        last_key, last_value = parent.value[-1]
        at = max(layout.pair_lines(last_key, last_value)[1], end if depth > 1 else 0)
        while at > 0 and layout.is_blank(at - 1):
            at -= 1
        text = _indented(render(_nest(path, value), layout.step, layout.dash, depth), column, layout.newline)
        if depth == 1 or _separated_by_blank_lines(layout, parent):
            text = layout.newline + text
        self.text = _splice(layout, at, at, text)

    def _replace(self, layout: _Layout, key: yaml.Node, node: yaml.Node, value: Any, depth: int) -> None:
        """Make the pair `key: node` (key at `depth`) hold `value`, or remove it if `value` is MISSING."""
        start, end = layout.pair_lines(key, node)
        if value is MISSING:
            self.text = _remove_lines(layout, start, end)
            return
        own_text = not _is_alias(key, node)
        block = isinstance(node, yaml.MappingNode | yaml.SequenceNode) and not node.flow_style
        if own_text and block and isinstance(value, list) and isinstance(node, yaml.SequenceNode):  # noqa: SIM102
            if self._edit_items(layout, node, value, depth):
                return
        if own_text and block and value and isinstance(value, dict) and isinstance(node, yaml.MappingNode):
            base = _data_path(layout.doc.node, node)
            current = _lookup(layout.doc.data, base)
            for name in [k for k in current if k not in value]:
                self.set((*base, name), MISSING)
            for name, item in value.items():
                if name not in current or not same_value(current[name], item):
                    self.set((*base, name), item)
            return
        snippet = render({key.value: value}, layout.step, layout.dash, depth)
        # The key stays as the file writes it (its quotes, if any); only the value is new.
        snippet = (
            layout.text[layout.offset(key.start_mark) : layout.offset(key.end_mark)]
            + snippet[_key_length(snippet) :]
        )
        one_line = (
            snippet.count("\n") == 1 and node.start_mark.line == node.end_mark.line == key.start_mark.line
        )
        if own_text and one_line and node.end_mark.column > node.start_mark.column:
            # A one-line value on its key's line: replace the value alone, so an end-of-line comment stays.
            new_value = snippet.rstrip("\n")[_key_length(snippet) + 2 :]
            before, after = layout.offset(node.start_mark), layout.offset(node.end_mark)
            self.text = layout.text[:before] + new_value + layout.text[after:]
            return
        self.text = _splice(layout, start, end, _indented(snippet, key.start_mark.column, layout.newline))

    def _edit_items(self, layout: _Layout, seq: yaml.SequenceNode, value: list[Any], depth: int) -> bool:
        """Remove items of a block list and append new ones, leaving the other items' lines alone.

        False when `value` is not some of the old items, in their order, followed by new ones.
        """
        old = _lookup(layout.doc.data, _data_path(layout.doc.node, seq))
        for split in range(len(value), 0, -1):
            kept = _subsequence(old, value[:split])
            if kept is not None:
                break
        else:
            return False
        edits: list[tuple[int, int, str]] = []  # (first line, end line, new text), applied bottom-up
        for index in range(len(old)):
            if index not in kept:
                edits.append((*layout.item_lines(seq, index), ""))
        if split < len(value):
            at = layout.item_lines(seq, kept[-1])[1]
            items = render_items(value[split:], layout.step, depth)
            edits.append((at, at, _indented(items, seq.start_mark.column, layout.newline)))
        text = layout.text
        for start, end, new in sorted(edits, reverse=True):
            text = text[: layout.starts[start]] + new + text[layout.starts[end] :]
        self.text = text
        return True


# -- nodes and data -----------------------------------------------------------------------------------


def _pair(mapping: yaml.MappingNode, key: str) -> tuple[yaml.Node, yaml.Node] | None:
    found = None
    for key_node, value_node in mapping.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
            found = (key_node, value_node)  # the last one wins, as when reading
    return found


def _check_own_line(layout: _Layout, key: yaml.Node, display: str) -> None:
    if layout.lines[key.start_mark.line][: key.start_mark.column].strip():
        raise EditError(
            f"{display}:{key.start_mark.line + 1}: '{key.value}' does not start its own line (flow style "
            "{...} or a list item); write one 'key:' per line for taskctl to edit it; nothing was written"
        )


def _data_path(root: Any, target: yaml.Node) -> tuple[Any, ...]:
    """The keys and indexes that lead from `root` to `target`."""
    stack: list[tuple[Any, tuple[Any, ...]]] = [(root, ())]
    while stack:
        node, path = stack.pop()
        if node is target:
            return path
        if isinstance(node, yaml.MappingNode):
            stack.extend((v, (*path, k.value)) for k, v in node.value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((v, (*path, i)) for i, v in enumerate(node.value))
    raise AssertionError("the node is not in the document")


def _lookup(data: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        in_mapping = isinstance(data, dict) and part in data
        if not (in_mapping or (isinstance(data, list) and isinstance(part, int) and part < len(data))):
            return MISSING
        data = data[part]
    return data


def _with(data: Any, path: KeyPath, value: Any) -> Any:
    """A copy of `data` with `path` set to `value` (MISSING removes it)."""
    if not path:
        return value
    copy = dict(data) if isinstance(data, dict) else {}
    head, rest = path[0], path[1:]
    if not rest and value is MISSING:
        copy.pop(head, None)
    elif rest and value is MISSING and head not in copy:
        pass
    else:
        copy[head] = _with(copy.get(head), rest, value)
    return copy


def _nest(path: KeyPath, value: Any) -> dict[str, Any]:
    for key in reversed(path[1:]):
        value = {key: value}
    return {path[0]: value}


def _subsequence(old: list[Any], new: list[Any]) -> list[int] | None:
    """The indexes of `old` whose items make up `new` in order (`new` is `old` minus some items), or None."""
    kept: list[int] = []
    index = 0
    for item in new:
        while index < len(old) and not same_value(old[index], item):
            index += 1
        if index == len(old):
            return None
        kept.append(index)
        index += 1
    return kept


def _key_length(snippet: str) -> int:
    """The length of the key that starts `snippet` (`name`, `'no'`, `"a: b"`)."""
    if not snippet.startswith(("'", '"')):
        found = re.match(r"[^\n]*?:(?=[ \n])", snippet)
        assert found is not None, snippet
        return found.end() - 1
    quote = snippet[0]
    index = 1
    while index < len(snippet):
        if snippet[index] == quote:
            if quote == "'" and snippet[index + 1 : index + 2] == "'":
                index += 2
                continue
            return index + 1
        index += 2 if quote == '"' and snippet[index] == "\\" else 1
    raise AssertionError(f"unterminated key in {snippet!r}")


# -- lines --------------------------------------------------------------------------------------------


def _separated_by_blank_lines(layout: _Layout, mapping: yaml.MappingNode) -> bool:
    """Whether the pairs of `mapping` are separated by blank lines (judged by its first two)."""
    if len(mapping.value) < 2:
        return False
    second = mapping.value[1][0].start_mark.line
    return bool(layout.is_blank(second - 1))


def _line_break(line: str) -> str:
    found = _BREAK.search(line)
    return found.group(0) if found else ""


def _indented(snippet: str, column: int, newline: str) -> str:
    """`snippet` (at column 0, '\\n' line breaks) moved to `column`, with the file's line breaks."""
    pad = " " * column
    lines = _BREAK.split(snippet)
    if lines and lines[-1] == "":
        lines.pop()
    return "".join((pad + line if line.strip() else "") + newline for line in lines)


def _splice(layout: _Layout, start: int, end: int, text: str) -> str:
    """The file with lines [start, end) replaced by `text`."""
    before = layout.text[: layout.starts[start]]
    if before and not before.endswith(_BREAKS):
        before += layout.newline
    return before + text + layout.text[layout.starts[end] :]


def _append(layout: _Layout, snippet: str, column: int) -> str:
    """The file with `snippet` added at its end (a file with only comments keeps them first)."""
    text = layout.text
    if text and not text.endswith(_BREAKS):
        text += layout.newline
    return text + _indented(snippet, column, layout.newline)


def _remove_lines(layout: _Layout, start: int, end: int) -> str:
    """The file without lines [start, end), nor the blank lines that the removal would leave doubled."""
    after = end
    while after < len(layout.lines) and layout.is_blank(after):
        after += 1
    before = start
    while before > 0 and layout.is_blank(before - 1):
        before -= 1
    first_below_its_key = start > 0 and layout.lines[start - 1].rstrip().endswith(":")
    if after > end and (before < start or first_below_its_key):
        end = after
    elif after == len(layout.lines) and before < start:
        start = before
    return layout.text[: layout.starts[start]] + layout.text[layout.starts[end] :]


# -- files --------------------------------------------------------------------------------------------


class FileText(NamedTuple):
    """A config file as read for an edit: its text (without a BOM) and its bytes (None: no such file)."""

    path: Path
    display: str
    text: str
    raw: bytes | None

    @property
    def bom(self) -> bool:
        return self.raw is not None and self.raw.startswith(_BOM.encode())


def read_file_text(path: Path, display: str) -> FileText:
    """Read a config file for an edit (bounded, regular files only); a missing file reads as empty."""
    if not path.exists() and not path.is_symlink():
        return FileText(path, display, "", None)
    try:
        raw = read_config_bytes(path)
    except UnreadableFile as exc:
        raise EditError(f"{display} {exc}") from None
    try:
        return FileText(path, display, raw.decode("utf-8-sig"), raw)
    except UnicodeDecodeError:
        raise EditError(f"{display} is not UTF-8 text; save it as UTF-8") from None


def unified_diff(before: FileText, after: str | None) -> str:
    """The change as a unified diff from `a/<file>` to `b/<file>` (`/dev/null` for a new or removed file)."""
    lines = difflib.unified_diff(
        before.text.splitlines(True) if before.raw is not None else [],
        after.splitlines(True) if after is not None else [],
        fromfile=f"a/{before.display}" if before.raw is not None else "/dev/null",
        tofile=f"b/{before.display}" if after is not None else "/dev/null",
    )
    return "".join(
        line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines
    )


def write_atomically(before: FileText, text: str) -> None:
    """Replace the file with `text`: a temporary file in the same folder, fsync, rename, fsync the folder.

    Refused (EditError, nothing written) when the file on disk is no longer what `before` read. A symbolic
    link stays a link (its target is replaced); the file keeps its permissions, a new one gets the umask's.
    """
    import tempfile  # only when writing (it imports random)

    target = before.path.resolve() if before.path.is_symlink() else before.path
    data = ((_BOM if before.bom else "") + text).encode("utf-8")
    temp: str | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".taskctl-tmp", dir=target.parent)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fchmod(out.fileno(), _mode_for(target))
            os.fsync(out.fileno())
        check_unchanged(before)
        os.replace(temp, target)
        temp = None
    except OSError as exc:
        raise EditError(f"cannot write {before.display} ({exc.strerror}); nothing was written") from None
    finally:
        if temp is not None:
            Path(temp).unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # the file is written; this only makes the rename durable sooner
        _fsync_folder(target.parent)


def check_unchanged(before: FileText) -> None:
    """Raise EditError if the file on disk is no longer what `before` read."""
    try:
        current = read_config_bytes(before.path) if before.path.exists() or before.path.is_symlink() else None
    except UnreadableFile:
        current = None if before.raw is not None else b""
    if current != before.raw:
        raise EditError(
            f"{before.display} changed on disk since taskctl read it; nothing was written (run the command "
            "again to apply it to the new text)"
        )


def _mode_for(target: Path) -> int:
    try:
        return target.stat().st_mode & 0o7777
    except OSError:
        umask = os.umask(0o022)
        os.umask(umask)
        return 0o666 & ~umask


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
