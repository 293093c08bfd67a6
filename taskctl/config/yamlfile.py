"""Reading one YAML file into plain Python data plus the line of every key path.

YAML 1.1 quirks that bite schedule files are switched off: `on`/`off`/`yes`/`no` stay strings (only
`true`/`false` are booleans) and dates stay strings (a one-shot `2026-12-24 18:00:00` is a schedule,
not a datetime).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from taskctl.errors import ConfigProblem

PathKey = tuple[str | int, ...]


# libyaml's parser when PyYAML was built with it (several times faster on big configs), else pure Python.
_Base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):  # type: ignore[valid-type,misc]
    pass


_Loader.yaml_implicit_resolvers = {
    first: [
        (tag, rx)
        for tag, rx in resolvers
        if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp")
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


@dataclass
class YamlDocument:
    """One parsed file: its data, and the 1-based line of each key path (`()` is the document)."""

    data: Any
    lines: dict[PathKey, int] = field(default_factory=dict)
    problems: list[ConfigProblem] = field(default_factory=list)

    def line_of(self, path: PathKey) -> int | None:
        """The line of `path`, or of its nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return None


def format_path(path: PathKey) -> str:
    """`('processes', 'nightly', 'schedule', 2)` -> `processes.nightly.schedule[2]`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _hint_for(problem: str, snippet: str) -> str:
    stripped = snippet.strip().lstrip("-").strip()
    if stripped[:1] in ("*", "@", "`", "%", "&", "!", "|", ">"):
        return f" (values starting with '{stripped[:1]}' must be quoted, e.g. \"{stripped}\")"
    if "\t" in snippet:
        return " (YAML does not allow tabs for indentation; use spaces)"
    return " (check the indentation and quoting on this line)"


def read_yaml(path: Path, display: str) -> YamlDocument:
    """Parse `path`; syntax errors become a problem naming `display` and the line, with a hint."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        return YamlDocument(
            None, problems=[ConfigProblem(display, None, "", "is not UTF-8 text; save it as UTF-8")]
        )
    except OSError as exc:
        return YamlDocument(
            None, problems=[ConfigProblem(display, None, "", f"cannot be read ({exc.strerror})")]
        )
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return YamlDocument({}, {(): 1})
        doc = YamlDocument(None)
        _collect_lines(node, (), doc)
        doc.data = loader.construct_document(node)
        return doc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        lines = text.splitlines()
        snippet = lines[mark.line] if mark and mark.line < len(lines) else ""
        reason = (exc.problem or exc.context or "invalid YAML").strip()
        message = f"invalid YAML: {reason}{_hint_for(reason, snippet)}"
        return YamlDocument(None, problems=[ConfigProblem(display, line, "", message)])
    except yaml.YAMLError as exc:
        return YamlDocument(None, problems=[ConfigProblem(display, None, "", f"invalid YAML: {exc}")])
    finally:
        loader.dispose()


def _collect_lines(node: yaml.Node, path: PathKey, doc: YamlDocument) -> None:
    doc.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            key_line = key_node.start_mark.line + 1
            if key in seen:
                doc.problems.append(
                    ConfigProblem(
                        None,
                        key_line,
                        format_path((*path, key)),
                        f"key '{key}' appears twice in this mapping (first on line {seen[key]}); keep one",
                    )
                )
            seen[key] = key_line
            doc.lines[(*path, key)] = key_line
            _collect_lines(value_node, (*path, key), doc)
            doc.lines[(*path, key)] = key_line
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _collect_lines(item, (*path, index), doc)
