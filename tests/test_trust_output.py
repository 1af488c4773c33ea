"""Output a user can trust: a report appears whole or not at all, names are resolved once, every
distinct input has its own files, staging is owned by a lock, bad names fail before any notebook."""
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from roofline_utils import output, report
from roofline_utils.errors import RooflineInputError
from roofline_utils.models import _preset_files
from roofline_utils.output import STAGING_PREFIX, check_names_fit
from roofline_utils.params import ReportParameters
from test_cli import _err_line, run

STEM = "llama-33b_a40_b1_s1024"  # the default render's files
NAMES = [f"{STEM}_operators.csv", f"{STEM}_roofline.png", f"{STEM}_roofline.svg", f"{STEM}.html"]


def _everything(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.fixture
def fake_render(monkeypatch):
    """The render without a kernel: what the chart cell leaves in staging, and a one-line page.
    Records the parameters the notebooks would receive."""
    received = []

    def executed(parameters, notebook_dir, workdir, *_):
        received.append(parameters.resolved().values())
        for suffix in (".png", ".svg"):
            (workdir / f"roofline{suffix}").write_text("new")
        return []

    monkeypatch.setattr(report, "execute_notebooks", executed)
    monkeypatch.setattr(report, "notebooks_to_html", lambda *_, **__: "new")
    return received


def _old_report(folder):
    folder.mkdir(parents=True, exist_ok=True)
    for name in NAMES:
        (folder / name).write_text("old")


def test_a_failed_third_move_restores_the_old_report_whole(tmp_path, fake_render, monkeypatch):
    out = tmp_path / "out"
    _old_report(out)
    real_replace, moves = os.replace, []

    def failing_replace(source, target):
        if Path(target).parent == out and Path(source).name in NAMES:  # a new file moving into place
            moves.append(Path(target).name)
            if len(moves) == 3:
                raise OSError(28, "No space left on device")
        return real_replace(source, target)

    monkeypatch.setattr(output.os, "replace", failing_replace)
    code, _, err = run("render", "--out", str(out))
    assert code == 2 and "out: cannot write to" in _err_line(err) and err.count("\n") == 1
    assert moves == NAMES[:3]
    assert _everything(out) == sorted(NAMES)  # no staging, no backup left behind
    assert [(out / name).read_text() for name in NAMES] == ["old"] * 4


def test_a_failed_move_with_no_old_report_leaves_no_file(tmp_path, fake_render, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    real_replace, moves = os.replace, []

    def failing_replace(source, target):
        if Path(target).parent == out:
            moves.append(target)
            if len(moves) == 3:
                raise OSError(5, "Input/output error")
        return real_replace(source, target)

    monkeypatch.setattr(output.os, "replace", failing_replace)
    code, _, err = run("render", "--out", str(out))
    assert code == 2 and _err_line(err).endswith("Input/output error")
    assert _everything(out) == []


def test_a_folder_where_the_page_goes_is_refused_before_any_notebook(tmp_path, fake_render):
    out = tmp_path / "out"
    out.mkdir()
    (out / f"{STEM}.html").mkdir()
    (out / f"{STEM}_operators.csv").write_text("old")
    code, _, err = run("render", "--out", str(out))
    assert code == 2 and fake_render == []  # no notebook ran
    assert _err_line(err) == (f"roofline: error: out: '{out / (STEM + '.html')}' is a folder, where the report "
                              "would write a file (allowed: a folder whose report files are absent or regular files)")
    assert _everything(out) == [f"{STEM}.html", f"{STEM}_operators.csv"]
    assert (out / f"{STEM}_operators.csv").read_text() == "old"


def test_a_signal_during_the_publish_waits_until_the_report_is_whole(tmp_path, fake_render, monkeypatch):
    out = tmp_path / "out"
    _old_report(out)
    real_replace, moves = os.replace, []

    def interrupted_replace(source, target):
        if Path(target).parent == out:
            moves.append(target)
            if len(moves) == 2:
                os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C between the second and third move
        return real_replace(source, target)

    monkeypatch.setattr(output.os, "replace", interrupted_replace)
    code, _, err = run("render", "--out", str(out))
    assert code == 128 + signal.SIGINT
    assert _err_line(err) == f"roofline: interrupted after writing {out / (STEM + '.html')}"
    assert "old" not in [(out / name).read_text() for name in NAMES]  # replaced whole, not half
    assert _everything(out) == sorted(NAMES)


# --- one name, one meaning -------------------------------------------------------------------------

def _preset_text(name):
    return _preset_files()[name].read_text()


def test_a_file_named_like_a_preset_or_device_does_not_replace_it(tmp_path, fake_render, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "llama-33b").write_text(_preset_text("llama-7b"))  # cp llama-7b.json llama-33b
    (tmp_path / "a40").write_text("not a device")
    (tmp_path / "llama-7b").mkdir()  # a folder too: the preset name still wins
    (tmp_path / "llama-7b" / "config.json").write_text(_preset_text("llama-2-70b"))
    code, _, err = run("render", "--out", str(tmp_path / "out"))
    assert code == 0, err
    assert fake_render[0]["model"] == "llama-33b" and fake_render[0]["hardware"] == "a40"
    assert ReportParameters(model="llama-7b").resolved().model == "llama-7b"
    assert _everything(tmp_path / "out") == sorted(NAMES)


def test_a_path_reaches_the_notebooks_absolute(tmp_path, fake_render, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "config.json").write_text(_preset_text("llama-7b"))
    (tmp_path / "draft").mkdir()
    (tmp_path / "draft" / "config.json").write_text(_preset_text("llama-7b"))
    code, _, err = run("render", "--model", "mine", "--draft-model", "./draft", "--out", "out")
    assert code == 0, err
    assert fake_render[0]["model"] == str(tmp_path / "mine")  # a folder that is not a preset: a path
    assert fake_render[0]["draft_model"] == str(tmp_path / "draft")  # against the user's folder, not staging


def test_two_model_folders_get_two_file_names(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for folder in ("col/a/b-c", "col/a-b/c"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "config.json").write_text(_preset_text("llama-7b"))
    first, second = (ReportParameters(model=folder).stem() for folder in ("col/a/b-c", "col/a-b/c"))
    assert first != second
    assert first.startswith("b-c_a40_b1_s1024_") and second.startswith("c_a40_b1_s1024_")
    # the same folder named two ways is one input: one set of files
    assert ReportParameters(model="col/a/b-c").stem() == ReportParameters(model=str(tmp_path / "col/a/b-c")).stem()


def test_the_default_stem_is_unchanged_by_the_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a40").write_text("x")
    (tmp_path / "llama-33b").mkdir()
    assert ReportParameters().stem() == STEM


# --- staging owned by a lock -----------------------------------------------------------------------

def test_strange_staging_entries_are_skipped_never_fatal(tmp_path, fake_render):
    out = tmp_path / "out"
    out.mkdir()
    (out / f"{STAGING_PREFIX}dangling").symlink_to(tmp_path / "nowhere")
    (out / f"{STAGING_PREFIX}file").write_text("someone's")
    (out / f"{STAGING_PREFIX}linked-folder").symlink_to(tmp_path)
    code, _, err = run("render", "--out", str(out))
    assert code == 0, err
    assert _everything(out) == sorted([*NAMES, f"{STAGING_PREFIX}dangling", f"{STAGING_PREFIX}file",
                                       f"{STAGING_PREFIX}linked-folder"])
    assert (tmp_path / "out").exists()


def test_a_staging_folder_being_made_is_not_taken_for_stale(tmp_path):
    fresh = tmp_path / f"{STAGING_PREFIX}1-abc"  # no lock file yet: a render between mkdtemp and its lock
    fresh.mkdir()
    assert output.remove_stale_staging(tmp_path) == []
    hour_ago = os.stat(fresh).st_mtime - output.STALE_AFTER_S - 1
    os.utime(fresh, (hour_ago, hour_ago))  # an older version's, or one that died in that instant
    assert output.remove_stale_staging(tmp_path) == [fresh]


def test_a_render_holds_its_staging_lock_while_it_runs(tmp_path, monkeypatch):
    seen = []

    def executed(parameters, notebook_dir, workdir, *_):
        seen.append(output.remove_stale_staging(workdir.parent))  # another render looking meanwhile
        seen.append(sorted(p.name for p in workdir.parent.iterdir()))
        for suffix in (".png", ".svg"):
            (workdir / f"roofline{suffix}").write_text("new")
        return []

    monkeypatch.setattr(report, "execute_notebooks", executed)
    monkeypatch.setattr(report, "notebooks_to_html", lambda *_, **__: "new")
    code, _, err = run("render", "--out", str(tmp_path))
    assert code == 0, err
    assert seen[0] == [] and len(seen[1]) == 1 and seen[1][0].startswith(STAGING_PREFIX)


# --- bad names fail first, naming the field --------------------------------------------------------

@pytest.mark.parametrize("flag, field", [("--model", "model"), ("--hardware", "hardware"),
                                         ("--draft-model", "draft_model"), ("--measurement-run", "measurement_run")])
@pytest.mark.parametrize("value, message", [
    ("x" * 300, "is 300 characters long"),
    ("bad\x01name", "contains the control character U+0001"),
    ("tab\tname", "contains the control character U+0009"),
    ("nul\x00name", "contains the control character U+0000"),
    ("caf\udce9", "is not valid UTF-8"),  # os.fsdecode(b"caf\xe9"): a Latin-1 folder name
    ("dir/" + "y" * 300 + ".json", "has a file or folder name of 305 bytes"),
])
def test_a_bad_name_is_one_line_before_any_notebook(tmp_path, fake_render, flag, field, value, message):
    code, out, err = run("render", flag, value, "--out", str(tmp_path / "out"))
    assert code == 2 and out == "" and err.count("\n") == 1 and fake_render == []
    assert _err_line(err).startswith(f"roofline: error: {field}: {message}")
    assert len(err) < 300  # the value is cut in the message
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", ["table", "render"])
def test_a_long_name_is_not_an_os_error(command):
    code, _, err = run(command, "--model", "m" * 300)
    assert code == 2 and "File name too long" not in err and _err_line(err).startswith("roofline: error: model: ")


def test_a_dollar_in_a_name_fails_only_as_an_unknown_preset():
    code, _, err = run("table", "--model", "$\\frac{1}{0}$")
    assert code == 2 and _err_line(err).startswith("roofline: error: model: unknown preset '$\\\\frac{1}{0}$'")


def test_a_staged_name_longer_than_the_file_system_allows_names_out(tmp_path):
    name_max = os.pathconf(tmp_path, "PC_NAME_MAX")
    with pytest.raises(RooflineInputError, match=r"^out: cannot create 'x{10}.*File name too long"):
        check_names_fit(tmp_path, ["ok.csv", "x" * (name_max + 1)])
    assert list(tmp_path.iterdir()) == []


def test_an_output_path_longer_than_the_system_allows_fails_before_any_notebook(tmp_path, fake_render):
    path_max = os.pathconf(tmp_path, "PC_PATH_MAX")
    # a folder whose staging folder fits (about 35 characters more) but whose report files do not (70 more)
    deep, part = tmp_path, "d" * 200
    while len(str(deep / part)) < path_max - 55:
        deep = deep / part
        deep.mkdir()
    deep = deep / ("e" * (path_max - 55 - len(str(deep)) - 1))
    deep.mkdir()
    code, _, err = run("render", "--out", str(deep))
    assert code == 2 and fake_render == [] and err.count("\n") == 1
    assert _err_line(err).startswith(f"roofline: error: out: cannot create '{NAMES[0]}'")
    assert list(deep.iterdir()) == []


# --- interrupts ------------------------------------------------------------------------------------

INTERRUPT_WHILE_IMPORTING = """
import importlib.abc, os, signal, sys

class Interrupt(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "roofline_utils.params":  # the CLI is loading: the moment Ctrl-C used to print a traceback
            os.kill(os.getpid(), signal.SIGINT)
        return None

sys.meta_path.insert(0, Interrupt())
sys.argv = ["roofline", "list", "models"]
from roofline_utils._entry import main
main()
"""


def test_ctrl_c_while_the_cli_imports_is_one_line():
    done = subprocess.run([sys.executable, "-c", INTERRUPT_WHILE_IMPORTING], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 128 + signal.SIGINT and done.stdout == ""
    assert done.stderr == "roofline: interrupted; nothing was written\n"


def test_the_console_script_goes_through_the_quiet_entry():
    import tomllib

    project = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())
    assert project["project"]["scripts"]["roofline"] == "roofline_utils._entry:main"


KILLED_PUBLISH = """
import os, signal, sys
from pathlib import Path
from roofline_utils import output

folder, kill_after = Path(sys.argv[1]), int(sys.argv[2])
staging = folder / (output.STAGING_PREFIX + "killed")
staging.mkdir()
lock = output._lock(staging)  # held until the kill, as a render holds it
names = ["r_operators.csv", "r_roofline.png", "r_roofline.svg", "r.html"]
for name in names:
    (staging / name).write_text("new " + name)
real_replace, moves = os.replace, [0]

def replace_then_die(source, target):
    real_replace(source, target)
    moves[0] += 1
    if moves[0] == kill_after:
        os.kill(os.getpid(), signal.SIGKILL)  # what no handler can defer

os.replace = replace_then_die
output.publish(staging, folder, names)
"""


@pytest.mark.parametrize("previous", [True, False])
@pytest.mark.parametrize("kill_after", [1, 2, 3, 4])
def test_a_render_killed_while_publishing_is_undone_by_the_next_one(tmp_path, previous, kill_after):
    names = ["r_operators.csv", "r_roofline.png", "r_roofline.svg", "r.html"]
    if previous:
        for name in names:
            (tmp_path / name).write_text("old " + name)
    done = subprocess.run([sys.executable, "-c", KILLED_PUBLISH, str(tmp_path), str(kill_after)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == -signal.SIGKILL, done.stderr
    left = {p.name for p in tmp_path.iterdir() if not p.name.startswith(STAGING_PREFIX)}
    assert 0 < len({n for n in left if (tmp_path / n).read_text().startswith("new")}) == min(kill_after, 4)
    output.remove_stale_staging(tmp_path)  # what the next render does first
    after = {p.name: p.read_text() for p in tmp_path.iterdir()}
    # the previous report whole again, or (there was none) nothing: never a mix of two reports
    assert after == ({name: "old " + name for name in names} if previous else {})
