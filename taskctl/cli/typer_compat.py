"""Two adjustments to typer, kept in this one module, each with its reason.

1. Command-line values are converted without pydantic. typer (0.2x) converts every parameter through a
   pydantic `TypeAdapter`; importing pydantic and building the adapters costs about 100 ms, more than the
   rest of most commands. taskctl's parameters are text, numbers, flags and paths, converted here with
   click's rules and messages; any other annotation (choices, dates, files, parsers) still goes to typer.
2. Flags show no `<bool>` type in `--help`: they take no value.

`apply()` installs both where typer has the hook they replace; another typer keeps its own behaviour.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_TRUE = frozenset({"1", "true", "t", "yes", "y", "on"})
_FALSE = frozenset({"0", "false", "f", "no", "n", "off", ""})


_applied: list[bool] = []


def apply() -> bool:
    """Install the adjustments once; False (and nothing changed) if this typer lacks the hooks."""
    if _applied:
        return _applied[0]
    try:
        from typer import core
        from typer._coercion import RuntimeParam
    except ImportError:
        _applied.append(False)
        return False
    builder = getattr(core, "build_runtime_param", None)
    if builder is None:
        _applied.append(False)
        return False
    # typer looks both up on use, so replacing them here changes every parameter built from now on.
    setattr(core, "build_runtime_param", _plain_builder(RuntimeParam, builder))  # noqa: B010
    setattr(core.TyperOption, "display_type_rich", _flag_without_type(core.TyperOption.display_type_rich))  # noqa: B010
    _applied.append(True)
    return True


def _plain_builder(base: type[Any], typer_builder: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """typer's `build_runtime_param`, converting plain values itself."""

    @dataclass(frozen=True)
    class PlainParam(base):  # type: ignore[misc]
        """A parameter converted by `convert` (one value; each item of a list)."""

        convert: Callable[[Any, Any, Any], Any]
        many: bool

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            if self.many and isinstance(value, list | tuple):
                return [self.convert(item, param, ctx) for item in value]
            return self.convert(value, param, ctx)

    def build(descriptor: Any) -> Any:
        info = descriptor.parameter_info
        annotation = descriptor.annotation
        if descriptor.is_list:
            args: tuple[Any, ...] = getattr(annotation, "__args__", ())
            annotation = args[0] if len(args) == 1 else None
        convert = None
        if info.parser is None and descriptor.file_annotation is None and not info.clamp:
            convert = _converter(annotation, info)
        if convert is None:
            return typer_builder(descriptor)
        return PlainParam(
            parameter_info=info, annotation=descriptor.annotation, convert=convert, many=descriptor.is_list
        )

    return build


def _converter(annotation: Any, info: Any) -> Callable[[Any, Any, Any], Any] | None:
    """How to convert one value of this annotation, or None to leave it to typer."""
    if annotation is str:
        return lambda value, param, ctx: value if isinstance(value, str) else str(value)
    if annotation is bool:
        return _to_bool
    if annotation in (int, float):
        return _number(annotation, info.min, info.max)
    if isinstance(annotation, type) and issubclass(annotation, Path):
        return _path(annotation, info)
    return None


def _bad(message: str, param: Any, ctx: Any) -> Exception:
    from typer._click.exceptions import BadParameter

    return BadParameter(message, ctx=ctx, param=param)


def _to_bool(value: Any, param: Any, ctx: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise _bad(f"'{value}' is not true or false.", param, ctx)


def _number(kind: type, low: float | None, high: float | None) -> Callable[[Any, Any, Any], Any]:
    what = "a whole number" if kind is int else "a number"

    def convert(value: Any, param: Any, ctx: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise _bad(f"'{value}' is not {what}.", param, ctx)
        try:
            number = kind(value.strip()) if isinstance(value, str) else kind(value)
        except ValueError:
            raise _bad(f"'{value}' is not {what}.", param, ctx) from None
        if (low is not None and number < low) or (high is not None and number > high):
            from typer._display import describe_number_range

            raise _bad(f"{number} is not in the range {describe_number_range(low, high)}.", param, ctx)
        return number

    return convert


def _path(kind: type, info: Any) -> Callable[[Any, Any, Any], Any]:
    from typer._param_types import coerce_cli_path

    def convert(value: Any, param: Any, ctx: Any) -> Any:
        path: Any = value if isinstance(value, kind) else kind(value)
        return coerce_cli_path(path, info, path_type=kind, param=param, ctx=ctx)

    return convert


def _flag_without_type(display: Callable[[Any, Any], str | None]) -> Callable[[Any, Any], str | None]:
    def display_type_rich(self: Any, ctx: Any) -> str | None:
        return None if self.is_flag else display(self, ctx)

    return display_type_rich
