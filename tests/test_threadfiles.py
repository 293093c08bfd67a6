"""Copying a thread's files in, undoably, and removing its folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from taskctl.config.threadfiles import FileCopy, check_file_name, copy_files, remove_folder
from taskctl.errors import UsageError
from tests.conftest import write


def test_copies_can_be_undone_or_kept(tmp_path: Path) -> None:
    folder = tmp_path / "threads" / "t"
    old = write(folder / "main.py", "print('old')\n")
    new = write(tmp_path / "main.py", "print('new')\n")
    csv = write(tmp_path / "links.csv", "url\n")
    copies = [
        FileCopy(new, old, "threads/t/main.py"),
        FileCopy(csv, folder / "links.csv", "threads/t/links.csv"),
    ]

    copied = copy_files(copies)
    assert old.read_text() == "print('new')\n"
    copied.undo()
    assert old.read_text() == "print('old')\n"
    assert sorted(p.name for p in folder.iterdir()) == ["main.py"]

    copy_files(copies).keep()
    assert old.read_text() == "print('new')\n"
    assert sorted(p.name for p in folder.iterdir()) == ["links.csv", "main.py"]  # no backups left


def test_a_failed_copy_puts_back_the_ones_before_it(tmp_path: Path) -> None:
    good = write(tmp_path / "a.py", "print(1)\n")
    target = tmp_path / "threads" / "t"
    with pytest.raises(Exception) as caught:
        copy_files(
            [FileCopy(good, target / "a.py", "a"), FileCopy(tmp_path / "gone.csv", target / "b.csv", "b")]
        )
    assert "cannot copy" in str(caught.value)
    assert list(target.iterdir()) == []


@pytest.mark.parametrize("name", ["", ".", "..", "../x.py", "a/b.py", "/etc/passwd", "a\\b.py"])
def test_only_plain_file_names(name: str) -> None:
    with pytest.raises(UsageError):
        check_file_name(name, "--as")


def test_a_linked_thread_folder_is_unlinked_not_emptied(tmp_path: Path) -> None:
    elsewhere = write(tmp_path / "elsewhere" / "keep.py", "print(1)\n")
    link = tmp_path / "threads" / "t"
    link.parent.mkdir()
    link.symlink_to(elsewhere.parent)
    remove_folder(link)
    assert not link.exists() and elsewhere.exists()
