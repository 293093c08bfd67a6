"""Finding bytes in big buffers with the C library's memmem: several times faster than `bytes.find` (Python
3.11's search touches every byte; glibc's skips ahead), which matters where a search runs over hundreds of MB
of output or over a whole table's text.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator

# Below this many bytes the ctypes call costs more than it saves.
_MEMMEM_FROM = 4096

_Memmem = Callable[[int, int, bytes, int], int | None]


def find(data: bytes, needle: bytes, start: int = 0) -> int:
    """`data.find(needle, start)` (with 0 <= start), found faster in a big buffer."""
    return next(find_all(data, needle, start), -1)


def find_all(data: bytes, needle: bytes, start: int = 0) -> Iterator[int]:
    """Every position from `start` (>= 0) on where `needle` (not empty) starts in `data`, in order
    (overlapping ones too)."""
    memmem = _libc_memmem() if len(data) - start >= _MEMMEM_FROM else None
    if memmem is None:
        position = data.find(needle, start)
        while position >= 0:
            yield position
            position = data.find(needle, position + 1)
        return
    import ctypes

    base = ctypes.cast(ctypes.c_char_p(data), ctypes.c_void_p).value  # a bytes object never moves
    assert base is not None
    end = base + len(data)
    hit = memmem(base + start, len(data) - start, needle, len(needle))
    while hit is not None:
        yield hit - base
        hit = memmem(hit + 1, end - hit - 1, needle, len(needle))


@functools.cache
def _libc_memmem() -> _Memmem | None:
    try:
        import ctypes

        memmem = ctypes.CDLL(None).memmem
    except (ImportError, OSError, AttributeError, TypeError):
        return None
    memmem.restype = ctypes.c_void_p
    memmem.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t]
    function: _Memmem = memmem
    return function
