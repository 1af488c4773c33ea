"""Writing results atomically: all of a result appears at once, or nothing does.

A report is written into a staging folder inside the destination and moved into place only
when complete; a table goes to a temporary file renamed over its target. Errors name the
``out`` field and say what is accepted. A run killed before it could clean up leaves a
staging folder named after its process id; the next render removes it.
"""
from __future__ import annotations

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
STALE_AFTER_S = 3600  # a staging folder with no readable process id is removed after an hour


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


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def remove_stale_staging(folder: Path) -> list[Path]:
    """Remove staging folders left in ``folder`` by renders that were killed (their process is gone)."""
    removed = []
    for entry in folder.glob(f"{STAGING_PREFIX}*"):
        pid_text = entry.name[len(STAGING_PREFIX):].split("-", 1)[0]
        if pid_text.isdigit():
            stale = not _process_alive(int(pid_text))
        else:
            stale = time.time() - entry.stat().st_mtime > STALE_AFTER_S
        if stale and entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


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
    try:
        staging = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-", dir=folder))
    except OSError as exc:
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
        if not published:
            _remove_created(created)


def publish(staging: Path, folder: Path, names: list[str]) -> None:
    """Move finished files from staging into place; the last name last (its presence means done)."""
    for name in names:
        os.chmod(staging / name, 0o666 & ~_umask())
        os.replace(staging / name, folder / name)


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
