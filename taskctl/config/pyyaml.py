"""PyYAML, imported without compiling the pattern only its pure-Python reader uses.

Importing PyYAML compiles the set of characters its pure-Python reader refuses (`yaml.reader.Reader`): a set
that spans most of Unicode, which Python's regular expression compiler takes ~10 ms to build, a twentieth of
an edit's start-up. taskctl reads its files with libyaml (`yaml.CSafeLoader`), which never uses it. So while
PyYAML is imported here, `re.compile` gives it a stand-in that compiles the pattern the first time it is used
(`yaml.safe_load` still refuses the same characters). taskctl imports PyYAML only through this module.
"""

from __future__ import annotations

import re
import sys
from typing import Any

_NON_PRINTABLE = "[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"


class CompiledOnFirstUse:
    """A regular expression compiled when one of its methods is first looked up."""

    def __init__(self, pattern: str) -> None:
        self.text = pattern
        self._compiled: re.Pattern[str] | None = None

    def __getattr__(self, name: str) -> Any:
        if self._compiled is None:
            self._compiled = re.compile(self.text)
        return getattr(self._compiled, name)


def _import_pyyaml() -> None:
    if "yaml" in sys.modules:
        return
    # `re.compile` answers from this cache first (CPython's `re`; if it has none of that form, PyYAML simply
    # compiles the pattern itself); the stand-in is taken out again once PyYAML holds it.
    cache = getattr(re, "_cache", None)
    key = (str, _NON_PRINTABLE, 0)
    if isinstance(cache, dict) and key not in cache:
        cache[key] = CompiledOnFirstUse(_NON_PRINTABLE)
        try:
            import yaml  # noqa: F401
        finally:
            if isinstance(cache.get(key), CompiledOnFirstUse):
                del cache[key]


_import_pyyaml()

import yaml as yaml  # noqa: E402  (PyYAML itself, imported above)
