"""Reading one YAML config file, safely, into plain data plus the line of every key path.

Values follow the YAML 1.2 core schema, the rules of the YAML writer taskctl uses for edits:
`true`/`false` are booleans; `null`, `~` and nothing are null; `12`, `-3`, `0o17` and `0x1F` are integers;
`1.5`, `1e3`, `.inf` and `.nan` are floats; everything else is text (`on`, `yes`, `no`, `10:30`,
`2026-12-24`, `0777` is the integer 777). Mapping keys are always text, exactly as written. A plain value
that YAML 1.1 tools (PyYAML, older libraries) read differently is reported: a warning when taskctl reads it
as text (`10:30`, `on`), an error when taskctl would read it as a number whose value depends on the YAML
version (`0777`, `1e3`).

Work is bounded on any input: only regular files (or links to them) up to `MAX_FILE_BYTES` are read, a
FIFO, folder or dangling link is a problem naming the file, aliases may repeat at most `MAX_ALIAS_VALUES`
values, and values may nest at most `MAX_DEPTH` levels.
"""

from __future__ import annotations

import math
import re
from datetime import date
from pathlib import Path
from typing import Any

from taskctl.config.models import same_value as same_value
from taskctl.config.pyyaml import yaml
from taskctl.config.rawfile import MAX_FILE_BYTES as MAX_FILE_BYTES
from taskctl.config.rawfile import PathKey as PathKey
from taskctl.config.rawfile import UnreadableFile as UnreadableFile
from taskctl.config.rawfile import format_path as format_path
from taskctl.config.rawfile import read_config_bytes as read_config_bytes
from taskctl.errors import ConfigProblem

MAX_ALIAS_VALUES = 100_000
MAX_DEPTH = 64

STR_TAG = "tag:yaml.org,2002:str"
_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_BOOL_TAG = "tag:yaml.org,2002:bool"
_NULL_TAG = "tag:yaml.org,2002:null"

# libyaml's parser when PyYAML was built with it (several times faster on big configs), else pure Python.
_Base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):  # type: ignore[valid-type,misc]
    """PyYAML with YAML 1.2 core-schema scalars; mapping keys are read as the text written."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        self.flatten_mapping(node)
        mapping: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise yaml.constructor.ConstructorError(
                    None, None, "a key must be text, not a list or a mapping", key_node.start_mark
                )
            mapping[key_node.value] = self.construct_object(value_node, deep=deep)
        return mapping


_Loader.yaml_implicit_resolvers = {}
_Loader.add_implicit_resolver(_BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
_Loader.add_implicit_resolver(_NULL_TAG, re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""])
_Loader.add_implicit_resolver(
    _INT_TAG, re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"), list("-+0123456789")
)
_Loader.add_implicit_resolver(
    _FLOAT_TAG,
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+.0123456789"),
)
_Loader.add_implicit_resolver("tag:yaml.org,2002:merge", re.compile(r"^<<$"), ["<"])


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    text = str(loader.construct_scalar(node))
    if text.startswith("0o"):
        return int(text[2:], 8)
    if text.startswith("0x"):
        return int(text[2:], 16)
    return int(text, 10)  # 0777 is 777: YAML 1.2 has no leading-zero octal


def _construct_float(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> float:
    text = str(loader.construct_scalar(node)).lower()
    if text.endswith(".nan"):
        return math.nan
    if text.endswith(".inf"):
        return -math.inf if text.startswith("-") else math.inf
    return float(text)


_Loader.add_constructor(_INT_TAG, _construct_int)
_Loader.add_constructor(_FLOAT_TAG, _construct_float)

# What a YAML 1.1 reader (PyYAML's safe_load) makes of a plain scalar, to report values that differ.
_YAML11_RESOLVER = yaml.resolver.Resolver()
_YAML11_CONSTRUCTOR = yaml.constructor.SafeConstructor()  # (a SafeLoader without its reader)


class _Unreadable:
    """A YAML 1.1 value that PyYAML itself cannot construct (`=`)."""

    def __repr__(self) -> str:
        return "an unreadable value"


def _construct_plain(tag: str, text: str, constructors: dict[Any, Any]) -> Any:
    if tag == STR_TAG:
        return text
    try:
        return constructors[tag](_YAML11_CONSTRUCTOR, yaml.ScalarNode(tag, text))
    except (KeyError, ValueError, yaml.YAMLError):
        return _Unreadable()


def describe_value(value: Any) -> str:
    """A value as a user reads it in a message: `the text '10:30'`, `the number 630`, `true`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return f"the text '{value}'"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, date):
        return f"the date {value.isoformat()}"
    return repr(value)


class YamlDocument:
    """One parsed file: its data, the 1-based line of each key path (`()` is the document), its problems
    (errors) and warnings, the bytes read, and the composed node tree (for the writer's positions)."""

    # A plain class: a dataclass costs about a millisecond to create at import, and start-up counts.
    def __init__(
        self,
        data: Any,
        lines: dict[PathKey, int] | None = None,
        problems: list[ConfigProblem] | None = None,
        warnings: list[ConfigProblem] | None = None,
        raw: bytes = b"",
        node: yaml.Node | None = None,
    ) -> None:
        self.data = data
        self.lines = {} if lines is None else lines
        self.problems = [] if problems is None else problems
        self.warnings = [] if warnings is None else warnings
        self.raw = raw
        self.node = node

    def line_of(self, path: PathKey) -> int | None:
        """The line of `path`, or of its nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return None


_OPENERS = {
    "while parsing a flow sequence": "the '[' opened on this line is not closed (add ']')",
    "while parsing a flow mapping": "the '{' opened on this line is not closed (add '}')",
    "while scanning a quoted scalar": "the quote opened on this line is not closed",
}


def _unclosed(exc: yaml.MarkedYAMLError) -> tuple[int, str] | None:
    """A bracket or quote left open is noticed where the next thing starts, often a line or more later;
    the line to fix is the one that opened it: (that line, the message), or None for other errors."""
    opened, noticed = exc.context_mark, exc.problem_mark
    message = _OPENERS.get((exc.context or "").strip())
    if message is None or opened is None or noticed is None or noticed.line == opened.line:
        return None
    return opened.line + 1, message


def _hint_for(problem: str, snippet: str) -> str:
    stripped = snippet.strip().lstrip("-").strip()
    if stripped[:1] in ("*", "@", "`", "%", "&", "!", "|", ">"):
        return f" (values starting with '{stripped[:1]}' must be quoted, e.g. \"{stripped}\")"
    if "\t" in snippet:
        return " (YAML does not allow tabs for indentation; use spaces)"
    return " (check the indentation and quoting on this line)"


def read_yaml(path: Path, display: str) -> YamlDocument:
    """Read and parse `path` (bounded, regular files only); problems name `display` and the line."""
    try:
        raw = read_config_bytes(path)
    except UnreadableFile as exc:
        return YamlDocument(None, problems=[ConfigProblem(display, None, "", str(exc))])
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return YamlDocument(
            None, raw=raw, problems=[ConfigProblem(display, None, "", "is not UTF-8 text; save it as UTF-8")]
        )
    doc = parse_yaml(text, display)
    doc.raw = raw
    return doc


def parse_yaml(text: str, display: str | None = None) -> YamlDocument:
    """Parse `text` with taskctl's reading rules; problems name `display` (when given) and the line."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return YamlDocument({}, {(): 1})
        doc = YamlDocument(None, node=node)
        try:
            if "&" in text:  # only anchors make aliases, which can expand or loop
                _check_aliases(node)
            _collect_lines(node, (), doc, set())
        except _OutOfBounds as exc:
            return YamlDocument(None, node=node, problems=[ConfigProblem(display, exc.line, "", exc.message)])
        doc.data = loader.construct_document(node)
        for problem in (*doc.problems, *doc.warnings):
            problem.file = display
        return doc
    except yaml.MarkedYAMLError as exc:
        unclosed = _unclosed(exc)
        if unclosed is not None:
            opened_on, what = unclosed
            return YamlDocument(
                None, problems=[ConfigProblem(display, opened_on, "", f"invalid YAML: {what}")]
            )
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


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


class _OutOfBounds(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def _too_deep(node: yaml.Node) -> _OutOfBounds:
    return _OutOfBounds(
        node.start_mark.line + 1, f"values nest more than {MAX_DEPTH} levels deep; flatten them"
    )


def _check_aliases(root: yaml.Node) -> None:
    """Raise _OutOfBounds when aliases make the node graph loop, nest too deep or expand too far.

    Walks each distinct node once (aliases share their node), so the check itself is linear in the file.
    """
    sizes: dict[int, int] = {}  # id -> values in the expanded subtree
    heights: dict[int, int] = {}
    uses: dict[int, int] = {}
    nodes: dict[int, yaml.Node] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 1, False)]
    while stack:
        node, depth, finished = stack.pop()
        key = id(node)
        if finished:
            on_path.discard(key)
            children = _children(node)
            sizes[key] = 1 + sum(sizes[id(c)] for c in children)
            heights[key] = 1 + max((heights[id(c)] for c in children), default=0)
            continue
        if key in on_path:
            message = "an alias refers to a value that contains it; YAML recursion is not supported"
            raise _OutOfBounds(node.start_mark.line + 1, message)
        if depth > MAX_DEPTH or (key in sizes and depth - 1 + heights[key] > MAX_DEPTH):
            raise _too_deep(node)
        if key in sizes:
            continue
        nodes[key] = node
        on_path.add(key)
        stack.append((node, depth, True))
        for child in _children(node):
            uses[id(child)] = uses.get(id(child), 0) + 1
            stack.append((child, depth + 1, False))
    if sizes[id(root)] - len(sizes) > MAX_ALIAS_VALUES:
        worst = max((k for k, n in uses.items() if n > 1), key=lambda k: sizes[k] * (uses[k] - 1))
        raise _OutOfBounds(
            nodes[worst].start_mark.line + 1,
            f"aliases (*name) repeat more than {MAX_ALIAS_VALUES:,} values in this file; "
            "write the values out or use fewer aliases",
        )


def _collect_lines(node: yaml.Node, path: PathKey, doc: YamlDocument, checked: set[int]) -> None:
    if len(path) >= MAX_DEPTH and isinstance(node, yaml.MappingNode | yaml.SequenceNode):
        raise _too_deep(node)
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
            _collect_lines(value_node, (*path, key), doc, checked)
            doc.lines[(*path, key)] = key_line
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _collect_lines(item, (*path, index), doc, checked)
    elif isinstance(node, yaml.ScalarNode) and not node.style and id(node) not in checked:
        checked.add(id(node))
        _compare_with_yaml11(node, path, doc)


def _compare_with_yaml11(node: yaml.ScalarNode, path: PathKey, doc: YamlDocument) -> None:
    """Report a plain value that YAML 1.1 readers see differently from taskctl."""
    text = node.value
    tag11: str = _YAML11_RESOLVER.resolve(yaml.ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
    if tag11 == STR_TAG and node.tag == STR_TAG:
        return
    ours = _construct_plain(node.tag, text, _Loader.yaml_constructors)
    theirs = _construct_plain(tag11, text, yaml.SafeLoader.yaml_constructors)
    if same_value(ours, theirs) or node.tag.endswith(":merge"):
        return
    line = node.start_mark.line + 1
    where = format_path(path)
    if isinstance(ours, str):
        doc.warnings.append(
            ConfigProblem(
                None,
                line,
                where,
                f"{text} is read as {describe_value(ours)}, but YAML 1.1 tools read it as "
                f'{describe_value(theirs)}; quote it ("{text}") so that every tool reads the same',
            )
        )
        return
    doc.problems.append(
        ConfigProblem(
            None,
            line,
            where,
            f"{text} means {describe_value(ours)} in YAML 1.2 but {describe_value(theirs)} in YAML 1.1; "
            f'write {_unambiguous(ours)} for the number or "{text}" for the text',
        )
    )


def _unambiguous(value: Any) -> str:
    """How to write a number so that YAML 1.1 and 1.2 read the same."""
    if isinstance(value, float):
        return float_text(value)
    return str(value)


def float_text(value: float) -> str:
    """A float written so that YAML 1.1 and 1.2 both read it back: `1000.0`, `1.0e+20`, `.inf`."""
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    text = repr(value)
    mantissa, _, exponent = text.partition("e")
    if "." not in mantissa:
        mantissa += ".0"
    if exponent and exponent[0] not in "+-":
        exponent = "+" + exponent
    return f"{mantissa}e{exponent}" if exponent else mantissa
