"""Finding bytes with memmem: the same positions bytes.find gives, in big buffers and small, with or without
the C library."""

from __future__ import annotations

import pytest

import taskctl.fastfind
from taskctl.fastfind import find, find_all


def positions(data: bytes, needle: bytes) -> list[int]:
    return [at for at in range(len(data)) if data.startswith(needle, at)]


@pytest.mark.parametrize("memmem", [True, False], ids=["memmem", "bytes.find"])
@pytest.mark.parametrize("size", [10, 5000, 100_000])
def test_every_position_is_found_overlapping_ones_too(
    memmem: bool, size: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not memmem:
        monkeypatch.setattr(taskctl.fastfind, "_libc_memmem", lambda: None)
    data = (b"abaab\x00" * size)[:size] + b"aba"
    for needle in (b"aba", b"a", b"\x00a", b"b\x00ab", b"zzz", b"aba" * 2):
        assert list(find_all(data, needle)) == positions(data, needle)
        assert find(data, needle) == data.find(needle)
