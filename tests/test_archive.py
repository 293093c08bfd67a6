from __future__ import annotations

import gzip
import io
import os
import shutil
import signal
import stat
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

import pytest
import zstandard

from taskctl import archive
from taskctl.archive import ArchiveFormat, PackedRun, format_for, pack_runs
from taskctl.errors import TaskctlError, UsageError

RUN_ID = "nightly/2026-11-22_02-30-00"
MTIME = 1_795_000_000  # 2026-11-18 11:06:40 UTC, an even second: zip's 2-second clock keeps it exactly


def make_run(folder: Path) -> Path:
    """A small run folder: a console log, an executable script, an output in a subfolder."""
    (folder / "out").mkdir(parents=True)
    (folder / "console.log").write_text("02:30:00 starting\n" * 50, encoding="utf-8")
    (folder / "run.json").write_text('{"status": "succeeded"}\n', encoding="utf-8")
    (folder / "go.sh").write_text("#!/bin/sh\necho hi\n", encoding="utf-8")
    (folder / "go.sh").chmod(0o755)
    (folder / "out" / "reviews.csv").write_text("sku,rating\nA1,4.5\n", encoding="utf-8")
    for path in [*folder.rglob("*"), folder]:
        os.utime(path, (MTIME, MTIME))
    return folder


def contents(path: Path) -> dict[str, bytes]:
    """Every member of a zip, tar.gz or tar.zst archive, in archive order: name -> content (b"" for folders)."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zipped:
            return {info.filename: zipped.read(info) for info in zipped.infolist()}
    if path.name.endswith(".zst"):
        raw: io.BytesIO | None = io.BytesIO(
            zstandard.ZstdDecompressor().stream_reader(path.read_bytes()).read()
        )
    else:
        raw = None
    with tarfile.open(path if raw is None else None, "r:gz" if raw is None else "r:", fileobj=raw) as tar:
        found = {}
        for info in tar.getmembers():
            data = tar.extractfile(info) if info.isfile() else None
            found[info.name + ("/" if info.isdir() else "")] = data.read() if data else b""
        return found


@pytest.mark.parametrize("fmt", list(ArchiveFormat))
def test_a_run_round_trips_under_a_root_folder_named_after_its_id(tmp_path: Path, fmt: ArchiveFormat) -> None:
    run = make_run(tmp_path / "process" / "nightly" / "2026-11-22_02-30-00")
    dest = tmp_path / f"out.{fmt}"

    report = pack_runs([PackedRun(RUN_ID, run)], dest, fmt)

    assert contents(dest) == {
        f"{RUN_ID}/": b"",
        f"{RUN_ID}/console.log": b"02:30:00 starting\n" * 50,
        f"{RUN_ID}/go.sh": b"#!/bin/sh\necho hi\n",
        f"{RUN_ID}/out/": b"",
        f"{RUN_ID}/out/reviews.csv": b"sku,rating\nA1,4.5\n",
        f"{RUN_ID}/run.json": b'{"status": "succeeded"}\n',
    }
    assert list(contents(dest)) == sorted(contents(dest))  # walked in sorted order
    assert (report.files, report.bytes_in, report.skipped) == (4, 900 + 18 + 18 + 24, [])
    assert report.bytes_out == dest.stat().st_size


def test_zip_keeps_mtime_and_executable_bit(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    pack_runs([PackedRun(RUN_ID, run)], tmp_path / "out.zip", ArchiveFormat.ZIP)

    with zipfile.ZipFile(tmp_path / "out.zip") as zipped:
        script = zipped.getinfo(f"{RUN_ID}/go.sh")
        log = zipped.getinfo(f"{RUN_ID}/console.log")
    assert script.date_time == (2026, 11, 18, 12, 6, 40)  # local time, Europe/Berlin
    assert stat.S_IMODE(script.external_attr >> 16) == 0o755
    assert stat.S_IMODE(log.external_attr >> 16) == 0o644


def test_tar_gz_keeps_mtime_and_executable_bit(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    pack_runs([PackedRun(RUN_ID, run)], tmp_path / "out.tar.gz", ArchiveFormat.TAR_GZ)

    with tarfile.open(tmp_path / "out.tar.gz") as tar:
        script = tar.getmember(f"{RUN_ID}/go.sh")
        log = tar.getmember(f"{RUN_ID}/console.log")
    assert (script.mtime, script.mode, log.mode) == (MTIME, 0o755, 0o644)


def test_several_runs_nest_under_their_process_name(tmp_path: Path) -> None:
    first = make_run(tmp_path / "a")
    second = make_run(tmp_path / "b")
    other = make_run(tmp_path / "c")
    runs = [
        PackedRun("nightly/2026-11-21_02-30-00", first),
        PackedRun("nightly/2026-11-22_02-30-00", second),
        PackedRun("weekly/2026-11-22_04-00-00", other),
    ]

    report = pack_runs(runs, tmp_path / "week.tar.gz", ArchiveFormat.TAR_GZ)

    roots = [
        name for name in contents(tmp_path / "week.tar.gz") if name.count("/") == 2 and name.endswith("/")
    ]
    assert roots == [
        "nightly/2026-11-21_02-30-00/",
        "nightly/2026-11-22_02-30-00/",
        "weekly/2026-11-22_04-00-00/",
    ]
    assert report.files == 12


@pytest.mark.parametrize("fmt", list(ArchiveFormat))
def test_a_symlink_to_a_file_outside_never_brings_its_content_in(tmp_path: Path, fmt: ArchiveFormat) -> None:
    (tmp_path / "secret.txt").write_text("hunter2-TOP-SECRET", encoding="utf-8")
    (tmp_path / "private").mkdir()
    (tmp_path / "private" / "key").write_text("hunter2-TOP-SECRET", encoding="utf-8")
    run = make_run(tmp_path / "run")
    (run / "leak.txt").symlink_to(tmp_path / "secret.txt")
    (run / "sneaky").symlink_to("../secret.txt")
    (run / "out" / "keys").symlink_to("../../private")
    dest = tmp_path / f"out.{fmt}"

    report = pack_runs([PackedRun(RUN_ID, run)], dest, fmt)

    raw = dest.read_bytes()
    everything = raw + (gzip.decompress(raw) if fmt is ArchiveFormat.TAR_GZ else b"")
    assert b"hunter2" not in everything
    assert not any(b"hunter2" in data for data in contents(dest).values())
    assert report.skipped == [
        f"skipped {RUN_ID}/leak.txt: it is a symlink to {tmp_path / 'secret.txt'}, outside the run folder.",
        f"skipped {RUN_ID}/out/keys: it is a symlink to ../../private, outside the run folder.",
        f"skipped {RUN_ID}/sneaky: it is a symlink to ../secret.txt, outside the run folder.",
    ]


def test_a_symlink_inside_the_run_folder_is_stored_as_a_link_in_tar(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    (run / "latest.csv").symlink_to("out/reviews.csv")
    (run / "results").symlink_to("out")  # a linked folder: stored as a link, not descended

    pack_runs([PackedRun(RUN_ID, run)], tmp_path / "out.tar.gz", ArchiveFormat.TAR_GZ)

    with tarfile.open(tmp_path / "out.tar.gz") as tar:
        links = {info.name: info.linkname for info in tar.getmembers() if info.issym()}
        names = tar.getnames()
    assert links == {f"{RUN_ID}/latest.csv": "out/reviews.csv", f"{RUN_ID}/results": "out"}
    assert not [name for name in names if name.startswith(f"{RUN_ID}/results/")]


def test_a_symlink_inside_the_run_folder_is_stored_as_a_link_in_zip(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    (run / "latest.csv").symlink_to("out/reviews.csv")

    pack_runs([PackedRun(RUN_ID, run)], tmp_path / "out.zip", ArchiveFormat.ZIP)

    with zipfile.ZipFile(tmp_path / "out.zip") as zipped:
        link = zipped.getinfo(f"{RUN_ID}/latest.csv")
        assert stat.S_ISLNK(link.external_attr >> 16)
        assert zipped.read(link) == b"out/reviews.csv"


@pytest.mark.parametrize("fmt", list(ArchiveFormat))
def test_a_fifo_is_skipped_with_a_warning(tmp_path: Path, fmt: ArchiveFormat) -> None:
    run = make_run(tmp_path / "run")
    os.mkfifo(run / "progress.pipe")

    report = pack_runs([PackedRun(RUN_ID, run)], tmp_path / f"out.{fmt}", fmt)

    assert report.skipped == [f"skipped {RUN_ID}/progress.pipe: it is a FIFO, not a regular file."]
    assert f"{RUN_ID}/progress.pipe" not in contents(tmp_path / f"out.{fmt}")


def test_an_unreadable_file_is_skipped_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Skipped rather than fatal: one file a script locked away should not cost the whole pack; the warning
    # names it. chmod 000 does not stop root, so the refusal is simulated at os.open.
    run = make_run(tmp_path / "run")
    real_open = os.open

    def refuse_run_json(path: str, flags: int, mode: int = 0o777) -> int:
        if str(path).endswith("run.json"):
            raise PermissionError(13, "Permission denied", path)
        return real_open(path, flags, mode)

    monkeypatch.setattr(archive.os, "open", refuse_run_json)

    report = pack_runs([PackedRun(RUN_ID, run)], tmp_path / "out.zip", ArchiveFormat.ZIP)

    assert report.skipped == [f"skipped {RUN_ID}/run.json: it could not be read (Permission denied)."]
    assert report.files == 3


def test_dest_in_a_missing_folder_names_the_folder_and_what_to_do(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")

    with pytest.raises(TaskctlError) as caught:
        pack_runs([PackedRun(RUN_ID, run)], tmp_path / "exports" / "out.zip", ArchiveFormat.ZIP)

    assert str(caught.value) == (
        f"cannot write {tmp_path}/exports/out.zip: the folder {tmp_path}/exports does not exist; "
        "create it or choose another path."
    )


def test_dest_that_is_a_folder_is_refused(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    (tmp_path / "exports").mkdir()

    with pytest.raises(TaskctlError) as caught:
        pack_runs([PackedRun(RUN_ID, run)], tmp_path / "exports", ArchiveFormat.ZIP)

    assert str(caught.value) == (
        f"cannot write {tmp_path}/exports: it is a folder; "
        f"give a file name such as {tmp_path}/exports/runs.zip."
    )


def test_a_missing_run_folder_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    with pytest.raises(TaskctlError) as caught:
        pack_runs([PackedRun(RUN_ID, tmp_path / "gone")], tmp_path / "out.zip", ArchiveFormat.ZIP)

    assert (
        str(caught.value) == f"the run folder of {RUN_ID} is missing ({tmp_path}/gone); nothing was packed."
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fmt", list(ArchiveFormat))
def test_ctrl_c_midway_leaves_the_old_archive_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: ArchiveFormat
) -> None:
    first = make_run(tmp_path / "runs" / "a")
    second = make_run(tmp_path / "runs" / "b")
    (tmp_path / "out").mkdir()
    dest = tmp_path / "out" / "week.zip"
    dest.write_bytes(b"last week's archive")
    writer = archive._ZipMembers if fmt is ArchiveFormat.ZIP else archive._TarMembers
    real_add_file = writer.add_file

    def interrupted(self: object, name: str, *args: object) -> None:
        if name.startswith("nightly/2"):
            raise KeyboardInterrupt
        real_add_file(self, name, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(writer, "add_file", interrupted)
    runs = [PackedRun("nightly/1", first), PackedRun("nightly/2", second)]

    with pytest.raises(KeyboardInterrupt):
        pack_runs(runs, dest, fmt)

    assert list((tmp_path / "out").iterdir()) == [dest]
    assert dest.read_bytes() == b"last week's archive"


def test_a_run_folder_vanishing_midway_is_an_error_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = make_run(tmp_path / "runs" / "a")
    second = make_run(tmp_path / "runs" / "b")
    (tmp_path / "out").mkdir()
    real_add_dir = archive._ZipMembers.add_dir

    def prune_second(self: archive._ZipMembers, name: str, st: os.stat_result) -> None:
        shutil.rmtree(second, ignore_errors=True)  # `taskctl prune` running at the same time
        real_add_dir(self, name, st)

    monkeypatch.setattr(archive._ZipMembers, "add_dir", prune_second)

    with pytest.raises(TaskctlError) as caught:
        pack_runs(
            [PackedRun("nightly/1", first), PackedRun("nightly/2", second)],
            tmp_path / "out" / "x.zip",
            ArchiveFormat.ZIP,
        )

    assert str(caught.value) == (
        f"packing into {tmp_path}/out/x.zip failed (the run folder of nightly/2 vanished); "
        "nothing was written."
    )
    assert list((tmp_path / "out").iterdir()) == []


def test_a_write_error_becomes_one_sentence_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = make_run(tmp_path / "run")
    (tmp_path / "out").mkdir()

    def disk_full(self: object, *args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(archive._TarMembers, "add_file", disk_full)

    with pytest.raises(TaskctlError) as caught:
        pack_runs([PackedRun(RUN_ID, run)], tmp_path / "out" / "x.tar.gz", ArchiveFormat.TAR_GZ)

    assert str(caught.value) == (
        f"packing into {tmp_path}/out/x.tar.gz failed ([Errno 28] No space left on device); "
        "nothing was written."
    )
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize("fmt", list(ArchiveFormat))
def test_packs_to_a_pipe_that_cannot_seek(tmp_path: Path, fmt: ArchiveFormat) -> None:
    run = make_run(tmp_path / "run")
    (run / "out" / "noise.bin").write_bytes(os.urandom(300_000))
    with (tmp_path / "piped").open("wb") as sink:
        cat = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=sink)
        assert cat.stdin is not None
        report = pack_runs([PackedRun(RUN_ID, run)], cat.stdin, fmt)
        cat.stdin.close()
        assert cat.wait() == 0
    (tmp_path / f"piped.{fmt}").write_bytes((tmp_path / "piped").read_bytes())

    unpacked = contents(tmp_path / f"piped.{fmt}")

    assert unpacked[f"{RUN_ID}/out/noise.bin"] == (run / "out" / "noise.bin").read_bytes()
    assert unpacked[f"{RUN_ID}/console.log"] == b"02:30:00 starting\n" * 50
    assert report.bytes_out == (tmp_path / "piped").stat().st_size


def test_random_data_is_stored_and_text_deflated_in_zip(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    (run / "out" / "photo.jpg").write_bytes(os.urandom(200_000))

    pack_runs([PackedRun(RUN_ID, run)], tmp_path / "out.zip", ArchiveFormat.ZIP)

    with zipfile.ZipFile(tmp_path / "out.zip") as zipped:
        assert zipped.getinfo(f"{RUN_ID}/out/photo.jpg").compress_type == zipfile.ZIP_STORED
        assert zipped.getinfo(f"{RUN_ID}/console.log").compress_type == zipfile.ZIP_DEFLATED
        assert zipped.testzip() is None


@pytest.mark.skipif(shutil.which("tar") is None, reason="needs the tar command")
def test_tar_gz_with_stored_and_deflated_parts_reads_with_tar(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    (run / "out" / "photo.jpg").write_bytes(os.urandom(200_000))
    pack_runs([PackedRun(RUN_ID, run)], tmp_path / "out.tar.gz", ArchiveFormat.TAR_GZ)
    (tmp_path / "x").mkdir()

    subprocess.run(["tar", "xzf", str(tmp_path / "out.tar.gz"), "-C", str(tmp_path / "x")], check=True)

    assert (tmp_path / "x" / RUN_ID / "out" / "photo.jpg").read_bytes() == (
        run / "out" / "photo.jpg"
    ).read_bytes()
    assert (tmp_path / "x" / RUN_ID / "go.sh").stat().st_mode & 0o111 == 0o111
    assert (tmp_path / "out.tar.gz").stat().st_size < 200_000 + 4_000  # the text still got compressed


@pytest.mark.parametrize(
    ("path", "explicit", "expected"),
    [
        ("week.zip", None, ArchiveFormat.ZIP),
        ("week.tar.gz", None, ArchiveFormat.TAR_GZ),
        ("WEEK.TGZ", None, ArchiveFormat.TAR_GZ),
        ("week", None, ArchiveFormat.ZIP),
        ("-", None, ArchiveFormat.ZIP),
        ("-", "tar.gz", ArchiveFormat.TAR_GZ),
        ("week.zip", "tar.gz", ArchiveFormat.TAR_GZ),
        ("week.tar.gz", "ZIP", ArchiveFormat.ZIP),
        ("week", "tgz", ArchiveFormat.TAR_GZ),
    ],
)
def test_format_comes_from_the_option_then_the_suffix_then_zip(
    path: str, explicit: str | None, expected: ArchiveFormat
) -> None:
    assert format_for(path, explicit) is expected


def test_an_unknown_format_is_a_usage_error() -> None:
    with pytest.raises(UsageError) as caught:
        format_for("week.rar", "rar")

    assert str(caught.value) == "'rar' is not an archive format; use --format zip, tar.gz or tar.zst."


@pytest.mark.parametrize("fmt", list(ArchiveFormat))
def test_a_stream_cut_off_by_a_failure_holds_no_valid_archive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: ArchiveFormat
) -> None:
    run = make_run(tmp_path / "run")
    writer = archive._ZipMembers if fmt is ArchiveFormat.ZIP else archive._TarMembers
    real_add_file = writer.add_file

    def fail_on_run_json(self: object, name: str, *args: object) -> None:
        if name.endswith("run.json"):
            raise OSError(5, "Input/output error")
        real_add_file(self, name, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(writer, "add_file", fail_on_run_json)
    stream = io.BytesIO()

    with pytest.raises(TaskctlError) as caught:
        pack_runs([PackedRun(RUN_ID, run)], stream, fmt)

    assert str(caught.value) == (
        "packing into the output stream failed ([Errno 5] Input/output error); "
        "what was written is not a valid archive."
    )
    if fmt is ArchiveFormat.ZIP:
        assert stream.getvalue()  # some members went out before the failure...
        assert not zipfile.is_zipfile(stream)  # ...but no central directory
    elif fmt is ArchiveFormat.TAR_GZ:
        assert stream.getvalue()
        with pytest.raises(EOFError):  # ...and no gzip trailer
            gzip.decompress(stream.getvalue())
    else:  # zstd still holds so little data in its buffer: nothing went out, not even a frame header
        assert stream.getvalue() == b""


def test_a_fifo_as_dest_is_written_into_not_renamed_over(tmp_path: Path) -> None:
    # Like -o /dev/null or a named pipe: the archive goes through it and the node stays what it was.
    run = make_run(tmp_path / "run")
    fifo = tmp_path / "archive.pipe"
    os.mkfifo(fifo)
    with (tmp_path / "received.zip").open("wb") as sink:
        cat = subprocess.Popen(["cat", str(fifo)], stdout=sink)
        report = pack_runs([PackedRun(RUN_ID, run)], fifo, ArchiveFormat.ZIP)
        assert cat.wait() == 0

    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    assert contents(tmp_path / "received.zip")[f"{RUN_ID}/go.sh"] == b"#!/bin/sh\necho hi\n"
    assert report.bytes_out == (tmp_path / "received.zip").stat().st_size
    assert sorted(path.name for path in tmp_path.iterdir()) == ["archive.pipe", "received.zip", "run"]


def test_a_file_name_that_is_not_utf8_is_skipped_with_a_warning(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    with open(os.fsencode(run) + b"/caf\xe9.csv", "wb") as latin1:
        latin1.write(b"written by a script that spoke Latin-1\n")

    report = pack_runs([PackedRun(RUN_ID, run)], tmp_path / "out.zip", ArchiveFormat.ZIP)

    assert report.skipped == [f"skipped '{RUN_ID}/caf\\udce9.csv': its name is not valid UTF-8."]


def test_big_files_deflated_on_several_threads_extract_to_the_same_bytes_with_other_tools(
    tmp_path: Path,
) -> None:
    run = make_run(tmp_path / "process" / "nightly" / "2026-11-22_02-30-00")
    rows = b"".join(b"%d,kettle %d,%d.%d\n" % (n, n % 977, n % 5, n % 10) for n in range(300_000))
    (run / "out" / "rows.csv").write_bytes(rows)  # ~6 MB: six pieces, each primed with the one before
    (run / "out" / "noise.bin").write_bytes(os.urandom(3_000_000))
    for fmt in (ArchiveFormat.ZIP, ArchiveFormat.TAR_GZ, ArchiveFormat.TAR_ZST):
        dest = tmp_path / f"out.{fmt}"
        pack_runs([PackedRun(RUN_ID, run)], dest, fmt)
        assert contents(dest)[f"{RUN_ID}/out/rows.csv"] == rows
        unpacked = tmp_path / f"unpacked-{fmt}"
        unpacked.mkdir()
        tools = {
            ArchiveFormat.ZIP: ["unzip", "-q", str(dest), "-d", str(unpacked)],
            ArchiveFormat.TAR_GZ: ["tar", "xzf", str(dest), "-C", str(unpacked)],
            ArchiveFormat.TAR_ZST: ["tar", "--zstd", "-xf", str(dest), "-C", str(unpacked)],
        }
        command = tools[fmt]
        if shutil.which(command[0]) and (fmt is not ArchiveFormat.TAR_ZST or shutil.which("zstd")):
            subprocess.run(command, check=True)
            assert (unpacked / RUN_ID / "out" / "rows.csv").read_bytes() == rows
            assert (unpacked / RUN_ID / "out" / "noise.bin").read_bytes() == (
                run / "out" / "noise.bin"
            ).read_bytes()
    assert (tmp_path / "out.zip").stat().st_size < len(
        rows
    ) // 3 + 3_100_000  # the text shrank, the noise did not


def test_tar_zst_without_the_zstandard_package_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = make_run(tmp_path / "run")
    (tmp_path / "out").mkdir()
    monkeypatch.setitem(sys.modules, "zstandard", None)  # import fails, as when it is not installed

    with pytest.raises(UsageError) as caught:
        pack_runs([PackedRun(RUN_ID, run)], tmp_path / "out" / "x.tar.zst", ArchiveFormat.TAR_ZST)

    assert str(caught.value) == (
        "tar.zst needs the zstandard package: pip install 'taskctl[zstd]' (or use --format zip or tar.gz)."
    )
    assert list((tmp_path / "out").iterdir()) == []


def test_a_full_disk_at_the_last_write_is_one_sentence_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What is still buffered goes out only at the end: that write fails, and closing must not retry it.
    run = make_run(tmp_path / "run")
    (tmp_path / "out").mkdir()
    real_write = os.write

    def full(fd: int, data: bytes) -> int:
        if fd > 2:
            raise OSError(28, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(archive.os, "write", full)

    with pytest.raises(TaskctlError) as caught:
        pack_runs([PackedRun(RUN_ID, run)], tmp_path / "out" / "x.zip", ArchiveFormat.ZIP)

    assert str(caught.value) == (
        f"packing into {tmp_path}/out/x.zip failed ([Errno 28] No space left on device); nothing was written."
    )
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_signal_during_a_pack_leaves_no_temporary_file(tmp_path: Path, signum: int) -> None:
    run = tmp_path / "run"
    run.mkdir()
    for index in range(40):
        (run / f"part-{index}.csv").write_bytes(b"sku,name,rating\n" * 200_000)  # ~3 MB of text each
    (tmp_path / "out").mkdir()
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from taskctl.archive import ArchiveFormat, PackedRun, interrupted_by_signals, pack_runs\n"
        "print('packing', flush=True)\n"
        "with interrupted_by_signals():\n"
        f"    pack_runs([PackedRun('p/r', Path({str(run)!r}))], Path({str(tmp_path / 'out' / 'x.zip')!r}),"
        " ArchiveFormat.ZIP)\n"
    )
    packer = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path
    )
    assert packer.stdout is not None
    assert packer.stdout.readline() == b"packing\n"
    deadline = time.monotonic() + 30
    while not list((tmp_path / "out").iterdir()) and time.monotonic() < deadline:
        time.sleep(0.01)  # until the temporary file exists
    packer.send_signal(signum)

    _, stderr = packer.communicate(timeout=60)

    assert packer.returncode != 0 and b"KeyboardInterrupt" in stderr
    assert list((tmp_path / "out").iterdir()) == []
