"""Four adjustments to typer, kept in this one module, each with its reason.

1. Command-line values are converted without pydantic. typer (0.2x) converts every parameter through a
   pydantic `TypeAdapter`; importing pydantic and building the adapters costs about 100 ms, more than the
   rest of most commands. taskctl's parameters are text, numbers, flags and paths, converted here with
   click's rules and messages; any other annotation (choices, dates, files, parsers) still goes to typer.
2. Flags show no `<bool>` type in `--help`: they take no value.
3. `--help` and usage errors do not import Markdown and traceback rendering. typer's rich help module
   imports rich's Markdown (markdown-it) and Traceback (pygments) at the top, about 90 ms, though it uses
   Markdown only with `rich_markup_mode="markdown"` and Traceback only for pretty exceptions, neither of
   which taskctl uses. While that module loads, the two names are stand-ins that import the real class on
   first use, so nothing behaves differently.
4. A function's parameters are read once. typer reads them (evaluating every annotation, which is text in
   modules with `from __future__ import annotations`) each time it needs them: two to four times per
   command, and once per option for shared callbacks; `--help`, which builds every command, spent about a
   third of its time there. What typer gets back is what it got the first time; it never changes it.

`apply()` installs both where typer has the hook they replace; another typer keeps its own behaviour.
"""

from __future__ import annotations

import functools
import importlib
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.machinery import ModuleSpec, PathFinder
from pathlib import Path
from types import ModuleType
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
    if "typer.rich_utils" not in sys.modules:
        sys.meta_path.insert(0, _LighterRichHelp())
    from typer import main

    read_parameters = getattr(main, "get_params_from_function", None)
    if read_parameters is not None:
        setattr(main, "get_params_from_function", functools.cache(read_parameters))  # noqa: B010
    _applied.append(True)
    return True


# module -> the name typer's rich help module imports from it
_DEFERRED = {"rich.markdown": "Markdown", "rich.traceback": "Traceback"}
_RICH_HELP = "typer.rich_utils"


class _Deferred(type):
    """A class of a module not imported yet: calling it or reading an attribute imports the real one (a
    class itself, so that annotations such as `Markdown | Text` still evaluate)."""

    _module: str
    _class: str

    def _real(cls) -> Any:
        return getattr(importlib.import_module(cls._module), cls._class)

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        return cls._real()(*args, **kwargs)

    def __getattr__(cls, attribute: str) -> Any:
        return getattr(cls._real(), attribute)


class _LighterRichHelp:
    """Finds typer's rich help module, and loads it with stand-ins for the classes it does not need."""

    def find_spec(
        self, name: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if name != _RICH_HELP:
            return None
        sys.meta_path.remove(self)
        spec = PathFinder.find_spec(name, path)
        loader: Any = spec.loader if spec is not None else None
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        load = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            standing_in = {}
            for module_name, class_name in _DEFERRED.items():
                if module_name not in sys.modules:
                    stand_in = ModuleType(module_name)
                    deferred = _Deferred(class_name, (), {"_module": module_name, "_class": class_name})
                    setattr(stand_in, class_name, deferred)
                    standing_in[module_name] = sys.modules[module_name] = stand_in
            try:
                load(module)
            finally:
                for module_name, stand_in in standing_in.items():
                    if sys.modules.get(module_name) is stand_in:
                        del sys.modules[module_name]

        loader.exec_module = exec_module
        return spec


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
