"""Writing results atomically: all of a result appears at once, or nothing does.

A report is written into a staging folder inside the destination and moved into place only
when complete, all its files or none (a failed move puts back what was there); a table goes to
a temporary file renamed over its target. Errors name the ``out`` field and say what is
accepted. A staging folder is owned by an advisory lock on a file inside it, held for the
render's lifetime: a process id says nothing about a render on another host or in another
container sharing the folder, a lock does. A run killed before it could clean up leaves a
staging folder whose lock anyone can take; the next render removes it. A run killed while it
moved a report into place (SIGKILL cannot be deferred) leaves a journal in its staging folder:
the next render first puts the previous report back whole, then removes the folder.
"""
from __future__ import annotations

import errno
import fcntl
import os
import shutil
import stat
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from .errors import RooflineInputError

STAGING_PREFIX = ".roofline-render-"
LOCK_NAME = ".lock"
BACKUP_PREFIX = ".previous-"  # a replaced file, kept in staging until the whole report is in place
JOURNAL_NAME = ".publishing"  # the names being moved into place; present only while a publish is under way
STALE_AFTER_S = 3600  # a staging folder with no lock file (being created, or an older version's) waits an hour


def _failure(path: Path | str, exc: OSError) -> RooflineInputError:
    reason = exc.strerror or exc.__class__.__name__
    return RooflineInputError("out", f"cannot write to {str(path)!r}: {reason}")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _missing_ancestors(folder: Path) -> list[Path]:
    """The folders ``mkdir -p folder`` would create, outermost first."""
    missing = []
    for candidate in [folder, *folder.parents]:
        if candidate.exists() or candidate.is_symlink():
            break
        missing.append(candidate)
    return missing[::-1]


def _remove_created(created: list[Path]) -> None:
    for folder in reversed(created):
        try:
            folder.rmdir()  # only if still empty: never remove what someone else put there
        except OSError:
            break


def _make_folder(folder: Path) -> list[Path]:
    """Create ``folder`` and its parents; returns the folders created (to undo on failure)."""
    if folder.exists() and not folder.is_dir():
        raise RooflineInputError("out", f"{str(folder)!r} exists and is not a folder",
                                 "a folder, or a path where one can be created")
    created = _missing_ancestors(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _remove_created(created)
        raise _failure(folder, exc) from None
    return created


def _lock(staging: Path) -> int:
    """Take the staging folder's lock: the open descriptor, to keep (and close) for its lifetime."""
    descriptor = os.open(staging / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(descriptor)
        raise
    return descriptor


def _stale(entry: Path) -> bool:
    """True when no render owns ``entry``: its lock can be taken (or, with no lock file, it is old)."""
    try:
        descriptor = os.open(entry / LOCK_NAME, os.O_RDWR | os.O_NOFOLLOW)
    except FileNotFoundError:
        return time.time() - entry.lstat().st_mtime > STALE_AFTER_S
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True  # the owner is gone; the lock goes with the descriptor when closed
    except BlockingIOError:
        return False
    finally:
        os.close(descriptor)


def remove_stale_staging(folder: Path) -> list[Path]:
    """Remove staging folders left in ``folder`` by renders that ended without cleaning up.

    Anything else with the staging name (a link, a file, a folder this user cannot open) is
    left alone: it is not ours to judge, and it must never stop a render."""
    removed = []
    try:
        entries = list(folder.glob(f"{STAGING_PREFIX}*"))
    except OSError:
        return removed
    for entry in entries:
        try:
            if not stat.S_ISDIR(entry.lstat().st_mode) or not _stale(entry):
                continue
        except OSError:  # unreadable, vanished meanwhile, a lock file that is itself odd
            continue
        _undo_unfinished_publish(entry, folder)
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
    return removed


def _undo_unfinished_publish(staging: Path, folder: Path) -> None:
    """Put back the report a killed publish was replacing: each listed file that left staging is
    either restored from its kept copy or (a file that had no previous version) removed."""
    try:
        names = (staging / JOURNAL_NAME).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return  # no publish was under way (or it finished): the destination is whole
    for name in names:
        if not name or "/" in name or name.startswith("."):
            continue  # only names publish() writes: a report's own files in this folder
        try:
            if (staging / f"{BACKUP_PREFIX}{name}").exists():
                os.replace(staging / f"{BACKUP_PREFIX}{name}", folder / name)
            elif not (staging / name).exists():  # moved in, and nothing was there before
                os.unlink(folder / name)
        except OSError:
            continue  # the others are still put back


def check_out_folder(out: str | os.PathLike) -> Path:
    """The absolute destination folder of a render (it need not exist yet); a named error otherwise."""
    try:
        return _check_out_folder(out)
    except OSError as exc:  # a name too long, a loop of links, ...
        raise _failure(out, exc) from None


def _check_out_folder(out: str | os.PathLike) -> Path:
    if not str(out).strip():
        raise RooflineInputError("out", "is empty", "a folder path, e.g. reports/")
    folder = Path(out).expanduser().absolute()  # the notebooks run with cwd=staging: never relative
    if folder.exists() and not folder.is_dir():
        raise RooflineInputError("out", f"{str(out)!r} exists and is not a folder",
                                 "a folder, or a path where one can be created")
    for parent in folder.parents:
        if parent.exists():
            if not parent.is_dir():
                raise RooflineInputError("out", f"{str(parent)!r} is not a folder, so {str(out)!r} cannot be "
                                         "created inside it")
            break
    return folder


@contextmanager
def staged_folder(out: str | os.PathLike):
    """Yields a fresh staging folder inside ``out``; on success the caller moves files in with
    :func:`publish`. Whatever happens, the staging folder (and any folder this created) goes away.
    """
    folder = check_out_folder(out)
    created = _make_folder(folder)
    remove_stale_staging(folder)
    staging = lock = None
    try:
        staging = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-", dir=folder))
        lock = _lock(staging)
    except OSError as exc:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        _remove_created(created)
        raise _failure(folder, exc) from None
    published = False
    try:
        yield folder, staging
        published = True
    except OSError as exc:
        raise _failure(folder, exc) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        os.close(lock)  # after the removal: a lock taken by another render finds nothing to remove
        if not published:
            _remove_created(created)


def check_destinations(folder: Path, names: list[str]) -> None:
    """Every name must be free or a regular file we may replace; a named error otherwise.

    Called before the notebooks run and again just before publishing, so a folder (or a FIFO, a
    link) where a file should go stops the render before anything is moved."""
    for name in names:
        target = folder / name
        try:
            mode = target.lstat().st_mode
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise _failure(target, exc) from None
        if not stat.S_ISREG(mode):
            kind = "a symbolic link" if stat.S_ISLNK(mode) else "a folder" if stat.S_ISDIR(mode) else \
                "not a regular file"
            raise RooflineInputError("out", f"{str(target)!r} is {kind}, where the report would write a file",
                                     "a folder whose report files are absent or regular files")


def check_names_fit(staging: Path, names: list[str]) -> None:
    """Create (and remove) each name in staging, beside the destination: a name longer than the file
    system allows, or a path longer than the system allows, is refused now, not after the render."""
    for name in names:
        try:
            (staging / name).touch(exist_ok=False)
            (staging / name).unlink()
        except OSError as exc:
            too_long = exc.errno == errno.ENAMETOOLONG
            raise RooflineInputError("out", f"cannot create {name!r} in {str(staging.parent)!r}: "
                                     f"{exc.strerror or exc}", "a shorter folder path, or shorter model "
                                     "and device names" if too_long else None) from None


def publish(staging: Path, folder: Path, names: list[str]) -> None:
    """Move finished files from staging into place, all or none.

    A file that is replaced is first kept in staging (a hard link, so the destination is never
    missing); if any move fails, the moved files are taken back and the kept ones restored, so an
    existing report stays whole. The caller defers SIGINT/SIGTERM around this (report.py)."""
    check_destinations(folder, names)
    moved = []  # (name, whether an old file was kept, whether the new one is in place)
    journal = staging / JOURNAL_NAME
    try:
        _write_journal(journal, names)  # what a kill during the moves leaves for the next render to undo
        for name in names:
            os.chmod(staging / name, 0o666 & ~_umask())
            kept = _keep_previous(staging, folder, name)
            moved.append([name, kept, False])  # listed before the move: a kept file goes back even if it fails
            os.replace(staging / name, folder / name)
            moved[-1][2] = True
        os.unlink(journal)  # the report is whole: nothing to undo any more
    except OSError as exc:
        _roll_back(staging, folder, moved)
        raise _failure(folder / name if moved else staging, exc) from None


def _write_journal(journal: Path, names: list[str]) -> None:
    """The names, written and flushed to disk before the first move."""
    descriptor = os.open(journal, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.write(descriptor, "".join(f"{name}\n" for name in names).encode("utf-8"))
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _keep_previous(staging: Path, folder: Path, name: str) -> bool:
    target, backup = folder / name, staging / f"{BACKUP_PREFIX}{name}"
    if not target.exists():
        return False
    try:
        os.link(target, backup)
    except OSError:  # a file system without hard links: move it aside instead
        os.replace(target, backup)
    return True


def _roll_back(staging: Path, folder: Path, moved: list) -> None:
    for name, kept, in_place in reversed(moved):
        try:
            if kept:
                os.replace(staging / f"{BACKUP_PREFIX}{name}", folder / name)
            elif in_place:
                os.unlink(folder / name)
        except OSError:  # nothing better to do: the other files are still put back
            pass


def write_text(target: str, text: str) -> Path | None:
    """Write ``text`` to ``target`` atomically ('-' is standard output; returns None then).

    Only a new path or an existing regular file is replaced: a folder, a device, a FIFO or a
    symbolic link is refused rather than turned into a file. A replaced file keeps its mode; a
    new one gets the user's umask.
    """
    if target == "-":
        write_stdout(text)
        return None
    try:
        return _write_file(target, text)
    except OSError as exc:  # a name too long, a loop of links, ...: before anything was written
        raise _failure(target, exc) from None


def _write_file(target: str, text: str) -> Path:
    if not target.strip():
        raise RooflineInputError("out", "is empty", "a file path, or - for standard output")
    path = Path(target).expanduser().absolute()
    if path.is_symlink() or (path.exists() and not path.is_file()):
        kind = "a symbolic link" if path.is_symlink() else "a folder" if path.is_dir() else "not a regular file"
        raise RooflineInputError("out", f"{target!r} is {kind}",
                                 "a new path, an existing regular file, or - for standard output")
    mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else 0o666 & ~_umask()
    if path.parent.exists() and not path.parent.is_dir():
        raise RooflineInputError("out", f"{str(path.parent)!r} is not a folder")
    created = _make_folder(path.parent)
    temporary = None
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except OSError as exc:
        if temporary is not None and os.path.exists(temporary):
            os.unlink(temporary)
        _remove_created(created)
        raise _failure(target, exc) from None
    return path


def write_stdout(text: str) -> None:
    """Write to standard output; a full device is a named error, a closed pipe is quietly the end."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise RooflineInputError("out", f"cannot write to standard output: {exc.strerror or exc}") from None


def csv_text(columns: dict) -> str:
    """Columns (name -> numpy array, equal lengths) as CSV text, written as pandas' ``to_csv(index=False)``
    writes them (floats as their shortest repr, minimal quoting, "\n" line ends), without importing
    pandas: a cold ``roofline table`` would spend most of its time loading it."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(zip(*(values.tolist() for values in columns.values())))
    return buffer.getvalue()
