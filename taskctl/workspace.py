"""Finding the workspace (like git finds a repository) and the paths inside it."""

from __future__ import annotations

import contextlib
import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from taskctl.errors import WorkspaceError

if TYPE_CHECKING:  # commands that only read the config do not need the run module
    from taskctl.runs import RunId

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


def bad_name(name: str) -> str:
    """Why `name` cannot name a thread or process (it would be a folder name), with a name that could."""
    suggestion = "".join(c if c.isalnum() or c in "_-" else "_" for c in name.lower()).strip("_-")
    tail = (
        f" (try '{suggestion}')"
        if suggestion and NAME_PATTERN.fullmatch(suggestion) and suggestion.isascii()
        else ""
    )
    return (
        f"'{name}' is not a valid name: use lower-case letters, digits, '_' and '-', "
        f"starting with a letter or digit{tail}"
    )


@dataclass(frozen=True)
class Workspace:
    """A workspace folder and the well-known places inside it (docs/workspace.md)."""

    root: Path

    @functools.cached_property
    def config_dir(self) -> Path:
        return self.root / "config"

    @functools.cached_property
    def threads_dir(self) -> Path:
        return self.root / "threads"

    @functools.cached_property
    def process_dir(self) -> Path:
        return self.root / "process"

    @functools.cached_property
    def state_dir(self) -> Path:
        return self.root / ".taskctl"

    @functools.cached_property
    def state_db(self) -> Path:
        return self.state_dir / "state.db"

    @functools.cached_property
    def sku_db(self) -> Path:
        return self.root / "skus.db"

    def thread_dir(self, name: str) -> Path:
        return self.threads_dir / name

    def runs_dir(self, process: str) -> Path:
        return self.process_dir / process

    def run_folder(self, run_id: RunId) -> Path:
        """The folder of the run `run_id`: `process/<process>/<stamp>/`."""
        return self.process_dir / run_id  # `<process>/<stamp>`: one join (the daemon makes several per run)

    def relative(self, path: Path) -> str:
        """`path` relative to the root when inside it, for messages; absolute otherwise."""
        try:
            return str(path.resolve().relative_to(self.root.resolve()))
        except ValueError:
            return str(path)


def find_workspace(root: str | Path | None = None, cwd: Path | None = None) -> Workspace:
    """The workspace: `root` if given, else $TASKCTL_ROOT, else the nearest folder at or above `cwd`
    that has `config/`."""
    explicit = root if root is not None else os.environ.get("TASKCTL_ROOT") or None
    if explicit is not None:
        path = Path(explicit).expanduser().resolve()
        if not (path / "config").is_dir():
            source = "--root" if root is not None else "TASKCTL_ROOT"
            raise WorkspaceError(
                f"{source} points to '{path}', which has no config/ folder; "
                f"run 'taskctl init {path}' to create a workspace there."
            )
        return Workspace(path)
    start = (cwd or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if (folder / "config").is_dir():
            return Workspace(folder)
    raise WorkspaceError(
        f"no taskctl workspace at or above '{start}' (a folder with config/); "
        "run 'taskctl init' to create one, or pass --root DIR."
    )


# What `taskctl init` keeps out of git: the runtime output of a workspace.
GITIGNORE_ENTRIES = ("/process/", "/skus.db", "/skus.db-*", "/.taskctl/")
_GITIGNORE_HEADER = "# taskctl runtime output"


def example_dir() -> Path:
    """The example workspace shipped with the package (the repository root's config/ and threads/)."""
    return Path(__file__).parent / "example"


EXAMPLE_SKUS = "threads/seed_skus/skus.csv"  # the example's SKU table, imported by `init`


def create_workspace(dest: Path) -> Workspace:
    """Create a workspace at `dest` holding the working example, its SKU table seeded from the example's CSV,
    and make its .gitignore ignore taskctl's runtime output (adding to a .gitignore that is there). Refuses to
    touch an existing workspace; a place that is not a folder or cannot be written is a WorkspaceError, and
    nothing is left half-made."""
    import shutil

    dest = dest.expanduser().absolute()
    if dest.exists() and not dest.is_dir():
        raise WorkspaceError(
            f"'{dest}' is a file, not a folder; choose a new or empty folder for the workspace."
        )
    for part in ("config", "threads"):
        if (dest / part).exists():
            raise WorkspaceError(
                f"'{dest}' already has a {part}/ folder; taskctl init does not overwrite a workspace "
                "(choose an empty folder)."
            )
    source = example_dir()
    if not (source / "config").is_dir():
        raise WorkspaceError(
            f"the example workspace is missing from the installation ({source}); reinstall taskctl."
        )
    created = [p for p in (dest, *dest.parents) if not p.exists()]
    try:
        dest.mkdir(parents=True, exist_ok=True)
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
        shutil.copytree(source / "config", dest / "config", ignore=ignore)
        shutil.copytree(source / "threads", dest / "threads", ignore=ignore)
        _ignore_runtime_output(dest / ".gitignore")
    except OSError as exc:
        for part in ("config", "threads"):
            shutil.rmtree(dest / part, ignore_errors=True)
        for folder in created:  # innermost first
            with contextlib.suppress(OSError):
                folder.rmdir()
        where = exc.filename or dest
        reason = exc.strerror or str(exc)
        raise WorkspaceError(
            f"cannot create the workspace in '{dest}': {where}: {reason}; choose a folder you can write to."
        ) from None
    workspace = Workspace(dest.resolve())
    seed = dest / EXAMPLE_SKUS
    if seed.is_file() and not workspace.sku_db.exists():
        from taskctl.skus import SkuTable

        with SkuTable.open(workspace.sku_db) as table:
            table.import_csv(seed)
    return workspace


def _ignore_runtime_output(gitignore: Path) -> None:
    """Add the taskctl entries `gitignore` lacks (creating the file), leaving its own lines as they are."""
    text = gitignore.read_text(encoding="utf-8") if gitignore.exists() else ""
    present = {line.strip().strip("/") for line in text.splitlines()}
    missing = [entry for entry in GITIGNORE_ENTRIES if entry.strip("/") not in present]
    if not missing:
        return
    block = "\n".join([_GITIGNORE_HEADER, *missing]) + "\n"
    if text and not text.endswith("\n"):
        text += "\n"
    gitignore.write_text(text + ("\n" if text else "") + block, encoding="utf-8")
