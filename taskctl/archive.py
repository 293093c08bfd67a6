"""Packing run folders into one zip, tar.gz or tar.zst archive, written atomically to a file or streamed.

Inside the archive each run's files live under a root folder named after its run id, so several runs of one
process nest under the process name. Symlinks are never followed: a link that points inside its run folder is
stored as a link, any other is skipped, so no byte from outside a run folder can end up in an archive.

Deflate (zip, tar.gz) runs at level 1 on every core: each MiB is compressed on its own thread (zlib lets go
of the GIL), primed with the 32 KiB before it and ended on a byte boundary, so the pieces join into one
ordinary deflate stream, as pigz makes them. Level 6 on one thread took seven times as long for an archive
3% smaller. tar.zst (the optional zstandard package) is faster still and smaller than either.
"""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import struct
import tarfile
import threading
import time
import zipfile
import zlib
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import FrameType
from typing import Any, BinaryIO, Protocol, TypeVar

from taskctl.errors import TaskctlError, UsageError

_CHUNK = 1 << 20
_SAMPLE = 64 * 1024
# A file whose first 64 KiB shrink by less than 5% is stored: deflating random or already compressed data
# costs most of the packing time and gains nothing.
_STORE_ABOVE = 0.95
_LEVEL = 1
_WINDOW = 32 * 1024  # deflate's reach back: what primes each piece
_ZSTD_LEVEL = 3  # zstd's default
_T = TypeVar("_T")
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03"  # deflate, no name, no mtime, made on Unix


class ArchiveFormat(StrEnum):
    ZIP = "zip"
    TAR_GZ = "tar.gz"
    TAR_ZST = "tar.zst"


_FORMAT_NAMES = {
    "zip": ArchiveFormat.ZIP,
    "tar.gz": ArchiveFormat.TAR_GZ,
    "tgz": ArchiveFormat.TAR_GZ,
    "tar.zst": ArchiveFormat.TAR_ZST,
    "tzst": ArchiveFormat.TAR_ZST,
}


@dataclass(frozen=True)
class PackedRun:
    """One run to pack: its id (`nightly/2026-11-22_02-30-00`, its root folder in the archive), its folder."""

    run_id: str
    folder: Path


@dataclass
class PackReport:
    """What a pack did: files and links stored, bytes read, bytes written, one sentence per skipped entry."""

    files: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    skipped: list[str] = field(default_factory=list)


def format_for(path: str, explicit: str | None) -> ArchiveFormat:
    """The archive format: from the suffix of `path` (-o) or `explicit` (--format), else zip. UsageError when
    the two disagree (`--format tar.gz -o runs.zip` would write gzip data under a zip's name)."""
    lowered = path.lower()
    by_suffix = next((fmt for suffix, fmt in _FORMAT_NAMES.items() if lowered.endswith("." + suffix)), None)
    if explicit is None:
        return by_suffix or ArchiveFormat.ZIP
    fmt = _FORMAT_NAMES.get(explicit.lower())
    if fmt is None:
        raise UsageError(f"'{explicit}' is not an archive format; use --format zip, tar.gz or tar.zst.")
    if by_suffix is not None and by_suffix is not fmt:
        raise UsageError(
            f"--format {explicit} and -o {path} disagree ('{path}' names a {by_suffix} archive); "
            "drop --format, or give -o a name ending in ." + str(fmt) + "."
        )
    return fmt


def pack_runs(runs: Sequence[PackedRun], dest: Path | BinaryIO, fmt: ArchiveFormat) -> PackReport:
    """Pack the folders of `runs` into one archive at `dest`, a path or a binary stream such as stdout.

    A path is written to a temporary file next to it and renamed into place: on any failure (or Ctrl-C)
    neither the temporary file nor a partial archive is left. A stream is written as it goes (zip uses data
    descriptors, so it need not be seekable); after a failure it holds no valid archive. Files are added in
    sorted order with their mtime and permission bits. FIFOs, sockets, devices, unreadable files and symlinks
    pointing outside their run folder are skipped, each with one sentence in the report's `skipped`.
    """
    if fmt is ArchiveFormat.TAR_ZST:
        _zstandard()  # missing: say so before anything is written
    for run in runs:
        if not run.folder.is_dir():
            raise TaskctlError(
                f"the run folder of {run.run_id} is missing ({run.folder}); nothing was packed."
            )
    if not isinstance(dest, Path):
        counter = _CountingStream(dest)
        name = getattr(dest, "name", None)
        where = name if isinstance(name, str) else "the output stream"
        report = _guarded(
            lambda: _write(runs, counter, fmt), where, "what was written is not a valid archive."
        )
        report.bytes_out = counter.position
        return report
    if not dest.parent.is_dir():
        raise TaskctlError(
            f"cannot write {dest}: the folder {dest.parent} does not exist; create it or choose another path."
        )
    if dest.exists() and not dest.is_file() and not dest.is_dir():
        # A device or FIFO such as /dev/null: write into it, never rename over it.
        with dest.open("wb") as stream:
            return pack_runs(runs, stream, fmt)
    if dest.is_dir():
        raise TaskctlError(
            f"cannot write {dest}: it is a folder; give a file name such as {dest / 'runs.zip'}."
        )
    temp = dest.parent / f".{dest.name}.{os.getpid()}-{os.urandom(4).hex()}.part"
    fd = -1
    try:
        # O_EXCL with mode 0o666 (not mkstemp's 0o600): the archive gets the same permissions as any new file.
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        out = _FileOutput(fd)
        report = _guarded(lambda: _write(runs, out, fmt), str(dest), "nothing was written.")

        def finish() -> None:
            out.flush()
            os.fsync(fd)  # the rename must not reach the disk before the data does
            os.close(fd)
            os.replace(temp, dest)

        _guarded(finish, str(dest), "nothing was written.")
    except BaseException as error:
        if fd < 0 and isinstance(error, OSError):  # the temporary file could not be created
            raise TaskctlError(f"cannot write {dest}: {error.strerror}.") from None
        if fd >= 0:
            with contextlib.suppress(OSError):
                os.close(fd)
        # also when fd < 0: a signal can interrupt between the file's creation and the assignment
        temp.unlink(missing_ok=True)
        raise
    report.bytes_out = out.tell()
    return report


def _guarded(write: Callable[[], _T], where: str, outcome: str) -> _T:
    try:
        return write()
    except OSError as error:
        raise TaskctlError(f"packing into {where} failed ({error}); {outcome}") from None


@contextlib.contextmanager
def interrupted_by_signals() -> Iterator[None]:
    """While the block runs, SIGTERM and SIGHUP (a closed terminal) interrupt it as Ctrl-C does, raising
    KeyboardInterrupt, so that a pack removes its temporary file on the way out instead of leaving it to
    the signals' default, which ends the process on the spot. Outside the main thread it changes nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = {number: signal.signal(number, interrupt) for number in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _write(runs: Sequence[PackedRun], out: _Output, fmt: ArchiveFormat) -> PackReport:
    with ThreadPoolExecutor(os.cpu_count() or 1, thread_name_prefix="taskctl-deflate") as pool:
        try:
            return _write_members(runs, _members(fmt, out, pool))
        finally:
            pool.shutdown(cancel_futures=True)


def _members(fmt: ArchiveFormat, out: _Output, pool: ThreadPoolExecutor) -> _Members:
    if fmt is ArchiveFormat.ZIP:
        return _ZipMembers(out, pool)
    if fmt is ArchiveFormat.TAR_GZ:
        return _TarMembers(_GzipMembers(out, pool))
    return _TarMembers(_ZstdStream(out))


def _write_members(runs: Sequence[PackedRun], members: _Members) -> PackReport:
    report = PackReport()
    try:
        for run in runs:
            try:
                _add_folder(members, run.folder, os.stat(run.folder), run.run_id.strip("/"), "", report)
            except FileNotFoundError:
                raise FileNotFoundError(f"the run folder of {run.run_id} vanished") from None
    except BaseException:
        # Only a complete pack is finished: an unfinished zip has no central directory, an unfinished tar.gz
        # no end-of-archive blocks nor gzip trailer, so a broken stream is never mistaken for a whole archive.
        members.abandon()
        raise
    members.finish()
    return report


def _add_folder(
    members: _Members, folder: Path, folder_stat: os.stat_result, root: str, relative: str, report: PackReport
) -> None:
    """Add `folder` and everything below it in sorted order, never following a symlink."""
    name = f"{root}/{relative}" if relative else root
    with os.scandir(folder) as listing:
        entries = sorted(listing, key=lambda entry: entry.name)
    members.add_dir(name, folder_stat)
    for entry in entries:
        inner = f"{relative}/{entry.name}" if relative else entry.name
        member = f"{root}/{inner}"
        try:
            member.encode()
            st = entry.stat(follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                _add_folder(members, Path(entry.path), st, root, inner, report)
            elif stat.S_ISLNK(st.st_mode):
                _add_link(members, entry.path, st, member, inner, report)
            elif stat.S_ISREG(st.st_mode):
                _add_file(members, entry.path, member, report)
            else:
                report.skipped.append(f"skipped {member}: it is a {_kind(st.st_mode)}, not a regular file.")
        except UnicodeEncodeError:
            report.skipped.append(f"skipped {member!r}: its name is not valid UTF-8.")
        except FileNotFoundError:
            report.skipped.append(f"skipped {member}: it vanished while packing.")


def _add_link(
    members: _Members, path: str, st: os.stat_result, member: str, inner: str, report: PackReport
) -> None:
    target = os.readlink(path)
    landing = os.path.normpath(os.path.join(os.path.dirname(inner), target))
    if os.path.isabs(target) or landing == ".." or landing.startswith("../"):
        report.skipped.append(f"skipped {member}: it is a symlink to {target}, outside the run folder.")
        return
    members.add_link(member, st, target)
    report.files += 1


def _add_file(members: _Members, path: str, member: str, report: PackReport) -> None:
    try:
        # O_NOFOLLOW: a file swapped for a symlink after listing is not followed; O_NONBLOCK: nor does a file
        # swapped for a FIFO hang the pack (it has no effect on regular files).
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        raise
    except OSError as error:
        report.skipped.append(f"skipped {member}: it could not be read ({error.strerror}).")
        return
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            report.skipped.append(f"skipped {member}: it is a {_kind(st.st_mode)}, not a regular file.")
            return
        sample = os.pread(fd, _SAMPLE, 0)
        # Small files are always compressed: cheap, and in tar.gz their headers and padding shrink with them.
        compress = len(sample) < _SAMPLE or len(zlib.compress(sample, 1)) < _STORE_ABOVE * len(sample)
        members.add_file(member, st, fd, compress)
    finally:
        os.close(fd)
    report.files += 1
    report.bytes_in += st.st_size


def _kind(mode: int) -> str:
    kinds = {stat.S_ISFIFO: "FIFO", stat.S_ISSOCK: "socket", stat.S_ISCHR: "character device"}
    return next((kind for test, kind in kinds.items() if test(mode)), "block device")


class _Output(Protocol):
    def write(self, data: bytes, /) -> int: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...


class _Members(Protocol):
    def add_dir(self, name: str, st: os.stat_result) -> None: ...
    def add_link(self, name: str, st: os.stat_result, target: str) -> None: ...
    def add_file(self, name: str, st: os.stat_result, fd: int, compress: bool) -> None: ...
    def finish(self) -> None: ...
    def abandon(self) -> None: ...


class _ParallelDeflate:
    """A raw deflate stream made a MiB at a time on the pool's threads, with the two methods of zlib's
    compressobj that zipfile and _GzipMembers call. Each piece is primed with the 32 KiB before it (so it
    may refer back into them) and, but for the last, ends with a sync flush on a byte boundary, so the
    pieces join into one stream. At most two pieces per thread wait, which bounds the memory."""

    def __init__(self, pool: ThreadPoolExecutor) -> None:
        self._pool = pool
        self._pending: deque[Future[bytes]] = deque()
        self._buffer = bytearray()
        self._window = b""
        self._backlog = 2 * (os.cpu_count() or 1)

    def compress(self, data: bytes) -> bytes:
        self._buffer += data
        while len(self._buffer) >= _CHUNK:
            self._submit(bytes(self._buffer[:_CHUNK]), last=False)
            del self._buffer[:_CHUNK]
        done = []
        while self._pending and (self._pending[0].done() or len(self._pending) > self._backlog):
            done.append(self._pending.popleft().result())
        return b"".join(done)

    def flush(self, mode: int = zlib.Z_FINISH) -> bytes:
        self._submit(bytes(self._buffer), last=True)
        self._buffer.clear()
        done = b"".join(piece.result() for piece in self._pending)
        self._pending.clear()
        return done

    def _submit(self, piece: bytes, last: bool) -> None:
        window, self._window = self._window, (self._window + piece)[-_WINDOW:]
        self._pending.append(self._pool.submit(_deflate_piece, piece, window, last))


def _deflate_piece(piece: bytes, window: bytes, last: bool) -> bytes:
    primed = {"zdict": window} if window else {}
    deflate = zlib.compressobj(_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS, **primed)  # type: ignore[arg-type]
    return deflate.compress(piece) + deflate.flush(zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH)


class _ZipMembers:
    def __init__(self, out: _Output, pool: ThreadPoolExecutor) -> None:
        self.zip = zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=_LEVEL)
        self.pool = pool

    def add_dir(self, name: str, st: os.stat_result) -> None:
        info = _zip_info(name + "/", st, stat.S_IFDIR)
        info.external_attr |= 0x10  # the MS-DOS directory flag
        info.CRC = info.compress_size = info.file_size = 0
        self.zip.mkdir(info)

    def add_link(self, name: str, st: os.stat_result, target: str) -> None:
        # As Info-ZIP stores links: Unix mode S_IFLNK, the target path as the content.
        self.zip.writestr(_zip_info(name, st, stat.S_IFLNK), os.fsencode(target))

    def add_file(self, name: str, st: os.stat_result, fd: int, compress: bool) -> None:
        info = _zip_info(name, st, stat.S_IFREG)
        info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        info.file_size = st.st_size  # lets zipfile decide on zip64 before it writes the header
        with self.zip.open(info, "w") as member:
            # zipfile keeps its compressor in this attribute (3.11-3.13); without it, one thread deflates
            if compress and st.st_size > _CHUNK and hasattr(member, "_compressor"):
                member._compressor = _ParallelDeflate(self.pool)
            _copy(fd, st.st_size, name, member.write)

    def finish(self) -> None:
        self.zip.close()

    def abandon(self) -> None:
        self.zip.fp = None  # or ZipFile.__del__ would write the central directory of a partial archive


def _copy(fd: int, size: int, name: str, write: Callable[[bytes], object]) -> None:
    """Pass the `size` bytes of the open file `fd` to `write`, a MiB at a time."""
    remaining = size
    while remaining > 0:
        chunk = os.read(fd, min(_CHUNK, remaining))
        if not chunk:
            raise OSError(f"{name} shrank while it was being packed")
        write(chunk)
        remaining -= len(chunk)


def _zip_info(name: str, st: os.stat_result, kind: int) -> zipfile.ZipInfo:
    moment = time.localtime(st.st_mtime)  # zip keeps local time, by convention, and starts in 1980
    when = (moment.tm_year, moment.tm_mon, moment.tm_mday, moment.tm_hour, moment.tm_min, moment.tm_sec)
    if not 1980 <= moment.tm_year <= 2107:
        when = (1980, 1, 1, 0, 0, 0)
    info = zipfile.ZipInfo(name, when)
    info.external_attr = (kind | stat.S_IMODE(st.st_mode)) << 16
    return info


class _TarStream(Protocol):
    """What a tar archive is written into: gzip members or a zstd frame."""

    compress: bool  # whether what comes next is worth compressing (a hint)

    def write(self, data: bytes, /) -> int: ...
    def tell(self) -> int: ...
    def close(self) -> None: ...


class _TarMembers:
    def __init__(self, stream: _TarStream) -> None:
        self.stream = stream
        # tarfile only ever writes and tells in mode "w"; its type asks for a readable, seekable file.
        fileobj: tarfile._Fileobj = stream  # type: ignore[assignment]
        self.tar = tarfile.TarFile(fileobj=fileobj, mode="w", format=tarfile.PAX_FORMAT, copybufsize=_CHUNK)

    def add_dir(self, name: str, st: os.stat_result) -> None:
        self.tar.addfile(_tar_info(name, st, tarfile.DIRTYPE))

    def add_link(self, name: str, st: os.stat_result, target: str) -> None:
        info = _tar_info(name, st, tarfile.SYMTYPE)
        info.linkname = target
        self.tar.addfile(info)

    def add_file(self, name: str, st: os.stat_result, fd: int, compress: bool) -> None:
        info = _tar_info(name, st, tarfile.REGTYPE)
        info.size = st.st_size
        self.stream.compress = compress
        with open(fd, "rb", buffering=0, closefd=False) as source:
            self.tar.addfile(info, source)
        self.stream.compress = True

    def finish(self) -> None:
        self.tar.close()
        self.stream.close()

    def abandon(self) -> None:
        """Nothing to undo: only finish() writes the end-of-archive blocks and the stream's trailer."""


def _tar_info(name: str, st: os.stat_result, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = stat.S_IMODE(st.st_mode)
    info.mtime = int(st.st_mtime)  # whole seconds, as tar keeps them: a float adds a PAX header per file
    info.uid, info.gid = st.st_uid, st.st_gid
    return info


class _GzipMembers:
    """A gzip stream made of several members (RFC 1952 2.2), so that whether to compress can change between
    files: a member is deflated (on the pool's threads) or stored.

    Python's zlib cannot change the level inside one deflate stream; gzip, tar, Python and libarchive read
    concatenated members as one stream, so incompressible files are stored without losing compatibility.
    """

    def __init__(self, out: _Output, pool: ThreadPoolExecutor) -> None:
        self.out = out
        self.pool = pool
        self.compress = True
        self.position = 0
        self._deflate: _ParallelDeflate | zlib._Compress | None = None
        self._compressing = True
        self._crc = self._size = 0

    def write(self, data: bytes) -> int:
        if self._deflate is not None and self.compress != self._compressing:
            self._end_member()
        if self._deflate is None:
            self.out.write(_GZIP_HEADER)
            self._compressing = self.compress
            if self.compress:
                self._deflate = _ParallelDeflate(self.pool)
            else:
                self._deflate = zlib.compressobj(0, zlib.DEFLATED, -zlib.MAX_WBITS)
            self._crc = self._size = 0
        self.out.write(self._deflate.compress(data))
        self._crc = zlib.crc32(data, self._crc)
        self._size += len(data)
        self.position += len(data)
        return len(data)

    def tell(self) -> int:
        return self.position

    def close(self) -> None:
        self._end_member()

    def _end_member(self) -> None:
        if self._deflate is not None:
            self.out.write(self._deflate.flush())
            self.out.write(struct.pack("<II", self._crc, self._size & 0xFFFFFFFF))
            self._deflate = None


def _zstandard() -> Any:
    try:
        import zstandard
    except ImportError:
        raise UsageError(
            "tar.zst needs the zstandard package: pip install 'taskctl[zstd]' "
            "(or use --format zip or tar.gz)."
        ) from None
    return zstandard


class _ZstdStream:
    """One zstd frame (level 3, on every core), as `tar --zstd` and `zstd -d` read it."""

    def __init__(self, out: _Output) -> None:
        compressor = _zstandard().ZstdCompressor(level=_ZSTD_LEVEL, threads=-1, write_checksum=True)
        self._writer = compressor.stream_writer(out, closefd=False)
        self.compress = True  # zstd passes over incompressible data quickly by itself
        self.position = 0

    def write(self, data: bytes) -> int:
        self._writer.write(data)
        self.position += len(data)
        return len(data)

    def tell(self) -> int:
        return self.position

    def close(self) -> None:
        self._writer.close()


class _FileOutput:
    """The temporary file an archive goes to: written in full (a short write is retried), in pieces of at
    least a MiB, and closed after a failure without writing what is still buffered (on a full disk that
    fails again)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.position = 0
        self._buffer = bytearray()

    def write(self, data: bytes) -> int:
        if len(data) >= _CHUNK:
            self.flush()
            self._write_all(data)
        else:
            self._buffer += data
            if len(self._buffer) >= _CHUNK:
                self.flush()
        self.position += len(data)
        return len(data)

    def flush(self) -> None:
        if self._buffer:
            self._write_all(bytes(self._buffer))
            self._buffer.clear()

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]

    def tell(self) -> int:
        return self.position

    def close(self) -> None:
        """Leaves the file open: pack_runs closes it."""


class _CountingStream:
    """A write-only view of a stream that counts bytes; without seek() zipfile uses data descriptors."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.position = 0

    def write(self, data: bytes) -> int:
        self.out.write(data)
        self.position += len(data)
        return len(data)

    def tell(self) -> int:
        return self.position

    def flush(self) -> None:
        self.out.flush()

    def close(self) -> None:
        """Leaves the stream open: it belongs to the caller."""
