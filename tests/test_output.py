"""Where results go: `table --out` and `render --out` targets, atomic writes, nothing left behind."""
import errno
import os
import stat
import subprocess

import pytest

from roofline_utils.errors import RooflineInputError
from roofline_utils.output import LOCK_NAME, STAGING_PREFIX, remove_stale_staging, staged_folder, write_text
from test_cli import _err_line, run


def _everything(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize("make, kind", [
    (lambda p: p.mkdir(), "a folder"),
    (lambda p: os.mkfifo(p), "not a regular file"),
    (lambda p: p.symlink_to(p.parent / "elsewhere.csv"), "a symbolic link"),
])
def test_table_refuses_a_target_that_is_not_a_regular_file(tmp_path, make, kind):
    target = tmp_path / "target"
    make(target)
    before = _everything(tmp_path)
    code, out, err = run("table", "--out", str(target))
    assert code == 2 and out == ""
    assert _err_line(err) == (f"roofline: error: out: '{target}' is {kind} (allowed: a new path, an existing "
                              "regular file, or - for standard output)")
    assert _everything(tmp_path) == before  # no tmp*.tmp left, the target untouched
    assert not (tmp_path / "elsewhere.csv").exists()


def test_table_refuses_a_device_node(tmp_path):
    node = tmp_path / "full"
    try:
        os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(1, 7))  # a private /dev/full
    except PermissionError:
        pytest.skip("creating a device node needs root")
    code, _, err = run("table", "--out", str(node))
    assert code == 2 and "is not a regular file" in _err_line(err)
    assert stat.S_ISCHR(node.stat().st_mode)


@pytest.mark.parametrize("target, message", [
    ("", "out: is empty (allowed: a file path, or - for standard output)"),
    ("/proc/roofline/ops.csv", "out: cannot write to '/proc/roofline'"),
])
def test_table_bad_paths(target, message):
    code, _, err = run("table", "--out", target)
    assert code == 2 and message in _err_line(err)


def test_table_under_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    code, _, err = run("table", "--out", str(tmp_path / "file" / "ops.csv"))
    assert code == 2 and "is not a folder" in _err_line(err)
    assert _everything(tmp_path) == ["file"]


def test_table_keeps_the_umask_for_a_new_file_and_the_mode_of_a_replaced_one(tmp_path):
    previous = os.umask(0o027)
    try:
        assert run("table", "--out", str(tmp_path / "new.csv"))[0] == 0
        existing = tmp_path / "old.csv"
        existing.write_text("old")
        existing.chmod(0o604)
        assert run("table", "--out", str(existing))[0] == 0
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "new.csv").stat().st_mode) == 0o640
    assert stat.S_IMODE(existing.stat().st_mode) == 0o604 and existing.read_text().startswith("phase,")
    assert _everything(tmp_path) == ["new.csv", "old.csv"]


def test_table_creates_missing_folders_and_removes_them_on_failure(tmp_path, monkeypatch):
    assert run("table", "--out", str(tmp_path / "a" / "b" / "ops.csv"))[0] == 0
    assert (tmp_path / "a" / "b" / "ops.csv").is_file()

    def full(*_):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(os, "replace", full)
    code, _, err = run("table", "--out", str(tmp_path / "c" / "d" / "ops.csv"))
    assert code == 2 and _err_line(err).endswith("No space left on device")
    assert not (tmp_path / "c").exists()


def test_a_full_disk_leaves_nothing(tmp_path):
    """A real 4 KiB tmpfs where the system allows mounting one (root), else skipped (the mocked case above)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4k", "tmpfs", str(disk)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        code, _, err = run("table", "--out", str(disk / "ops.csv"))
        assert code == 2 and _err_line(err).endswith("No space left on device")
        assert _everything(disk) == []
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def test_render_out_problems_are_one_line_and_write_nothing(tmp_path):
    (tmp_path / "file").write_text("x")
    cases = [("", "out: is empty"), (str(tmp_path / "file"), "exists and is not a folder"),
             (str(tmp_path / "file" / "sub"), "is not a folder, so"),
             ("/proc/roofline-reports", "out: cannot write to '/proc/roofline-reports'")]
    for target, message in cases:
        code, out, err = run("render", "--out", target)
        assert code == 2 and out == "" and message in _err_line(err), (target, err)
    assert _everything(tmp_path) == ["file"]


def test_staged_folder_removes_staging_and_created_folders_on_failure(tmp_path):
    target = tmp_path / "new" / "reports"
    with pytest.raises(RooflineInputError, match="out: cannot write to .*No space left on device"):
        with staged_folder(target) as (folder, staging):
            assert staging.parent == folder == target and staging.name.startswith(f"{STAGING_PREFIX}{os.getpid()}-")
            (staging / "half.html").write_text("<html>")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert _everything(tmp_path) == []


def test_stale_staging_is_judged_by_its_lock_not_by_a_process_id(tmp_path):
    import fcntl

    dead = subprocess.Popen(["true"])
    dead.wait()
    abandoned, elsewhere = tmp_path / f"{STAGING_PREFIX}{os.getpid()}-abc", tmp_path / f"{STAGING_PREFIX}{dead.pid}-def"
    for staging in (abandoned, elsewhere):
        staging.mkdir()
        (staging / LOCK_NAME).write_text("")
    # a render on another host or in another container: its pid means nothing here, its lock is held
    holder = os.open(elsewhere / LOCK_NAME, os.O_RDWR)
    fcntl.flock(holder, fcntl.LOCK_EX)
    (tmp_path / "report.html").write_text("keep")
    try:
        removed = remove_stale_staging(tmp_path)
    finally:
        os.close(holder)
    assert removed == [abandoned]  # nobody holds its lock, though the pid in its name is alive
    assert _everything(tmp_path) == [elsewhere.name, f"{elsewhere.name}/{LOCK_NAME}", "report.html"]


def test_write_text_to_standard_output(capsys):
    assert write_text("-", "a,b\n") is None
    assert capsys.readouterr().out == "a,b\n"


@pytest.mark.parametrize("command", ["table", "render"])
def test_a_name_too_long_is_one_line(tmp_path, command):
    code, _, err = run(command, "--out", str(tmp_path / ("x" * 300) / "ops.csv"))
    assert code == 2 and _err_line(err).endswith("File name too long")
    assert list(tmp_path.iterdir()) == []


def test_a_failure_while_exporting_is_one_line_and_publishes_nothing(tmp_path, monkeypatch):
    from roofline_utils import report

    def executed(parameters, notebook_dir, workdir, *_):
        for suffix in (".png", ".svg"):  # what the chart cell leaves in the staging folder
            (workdir / f"roofline{suffix}").write_text("x")
        return []

    def broken(*_, **__):
        raise ValueError("a bug in the export")
    monkeypatch.setattr(report, "execute_notebooks", executed)
    monkeypatch.setattr(report, "notebooks_to_html", broken)
    code, out, err = run("render", "--out", str(tmp_path / "reports"))
    assert code == 2 and out == "" and err.count("\n") == 1
    assert _err_line(err).endswith("exporting the report failed: ValueError: a bug in the export")
    assert not (tmp_path / "reports").exists() or _everything(tmp_path / "reports") == []
