"""Choosing threads, processes and runs by their tags (`tags: [nightly]` in the config).

`--tag` on `thread list`, `process list`, `upcoming` and `history` (and `status`) goes through `TagFilter`,
so that every listing means the same by it: the things carrying any of the tags given (`--tag a --tag b` is
a or b, as a repeated `--status` is); no tags given, everything.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from taskctl.config import LoadedConfig


@dataclass(frozen=True)
class TagFilter:
    """The tags asked for; empty means no filtering."""

    tags: frozenset[str] = frozenset()

    @classmethod
    def of(cls, tags: Iterable[str] | None) -> TagFilter:
        return cls(frozenset(tag.strip() for tag in tags or () if tag.strip()))

    def matches(self, tags: Iterable[str]) -> bool:
        """True if an entry with `tags` is chosen."""
        return not self.tags or not self.tags.isdisjoint(tags)

    def threads(self, config: LoadedConfig) -> list[str]:
        """The chosen threads, by name."""
        return sorted(name for name, thread in config.threads.items() if self.matches(thread.tags))

    def processes(self, config: LoadedConfig) -> list[str]:
        """The chosen processes, by name; a scheduled thread is a process with the thread's tags."""
        return sorted(name for name, process in config.processes.items() if self.matches(process.tags))

    def runnables(self, config: LoadedConfig) -> set[str]:
        """The names whose runs are chosen (a run's `process`): the chosen processes, and the chosen threads,
        whose runs alone are one-thread processes of their own name."""
        return {*self.processes(config), *self.threads(config)}

    def unknown(self, config: LoadedConfig) -> list[str]:
        """The tags asked for that no thread or process has (most likely misspelt)."""
        known = known_tags(config)
        return sorted(tag for tag in self.tags if tag not in known)


def known_tags(config: LoadedConfig) -> set[str]:
    """Every tag a thread or process of the config has."""
    threads = {tag for thread in config.threads.values() for tag in thread.tags}
    return threads | {tag for process in config.processes.values() for tag in process.tags}
