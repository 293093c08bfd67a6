"""Reading a config file's bytes, bounded and safely, and naming places in it (key paths).

Kept apart from the YAML parser, so that a load that finds every file unchanged (`taskctl.config.cache`)
reads the bytes without importing it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

PathKey = tuple[str | int, ...]

MAX_FILE_BYTES = 1024 * 1024  # 12,000 threads in one file: ~9 s, ~160 MB (the 1,000 + 1,000 bench: 190 KB)


def format_path(path: PathKey) -> str:
    """`('processes', 'nightly', 'schedule', 2)` -> `processes.nightly.schedule[2]`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


class UnreadableFile(Exception):
    """A config path that is not a readable regular file of bounded size; `str()` completes '<file> ...'."""


def read_config_bytes(path: Path, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of `path` if it is a regular file (or a link to one) of at most `limit` bytes.

    Never blocks on a FIFO or device and never reads more than `limit + 1` bytes; anything else raises
    UnreadableFile with the rest of a sentence that starts with the file's name.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        if path.is_symlink():
            raise UnreadableFile(
                f"is a link to '{os.readlink(path)}', which does not exist; fix the link or remove it"
            ) from None
        raise UnreadableFile("does not exist") from None
    except PermissionError:
        raise UnreadableFile("cannot be read (permission denied); fix its permissions") from None
    except OSError as exc:
        raise UnreadableFile(f"cannot be read ({exc.strerror})") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise UnreadableFile("is a folder, not a file; rename it so that it does not end in .yaml")
        if not stat.S_ISREG(info.st_mode):
            kind = "a named pipe (FIFO)" if stat.S_ISFIFO(info.st_mode) else "not a regular file"
            raise UnreadableFile(f"is {kind}, not a regular file; replace it with a YAML file or remove it")
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise UnreadableFile(f"cannot be read ({exc.strerror})") from None
    finally:
        os.close(fd)
    if size > limit:
        raise UnreadableFile(
            f"is larger than {limit // (1024 * 1024)} MiB, the limit for a config file; "
            "split it into several files under config/"
        )
    return b"".join(chunks)
