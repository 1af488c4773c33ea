"""The first run, as a new user makes it: the README's commands, the installed `roofline`, from a
fresh folder with relative paths; a wheel that carries the notebooks; interrupts that leave nothing."""
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from conftest import ROOT
from roofline_utils.params import ReportParameters
from roofline_utils.report import NOTEBOOKS, RenderError, render_report

BIN = Path(sys.executable).parent  # the venv the tests run in: its `roofline` is the installed one
PROGRESS = re.compile(rf"\[\d/{len(NOTEBOOKS)}\] [a-z]+ +\d+\.\d s")


def readme_commands() -> list[str]:
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S)]


def as_installed(command: str) -> list[str]:
    """A README command line with `.venv/bin/` pointing at the venv running the tests."""
    return [str(BIN / word.removeprefix(".venv/bin/")) if word.startswith(".venv/bin/") else word
            for word in shlex.split(command)]


def test_the_readme_opens_with_the_set_up_and_render_command_and_the_test_command_ci_runs():
    render, tests = readme_commands()[:2]
    steps = [step.strip() for step in render.split("&&")]
    assert steps[:2] == ["python3 -m venv .venv", ".venv/bin/pip install -q -e ."]
    assert steps[2] == ".venv/bin/roofline render --out reports/"  # what the next test runs, verbatim
    assert tests == "python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]' && .venv/bin/python -m pytest"
    assert tests in (ROOT / ".ci" / "run").read_text()


def test_the_readme_render_command_from_a_fresh_folder(tmp_path):
    render = readme_commands()[0].split("&&")[-1].strip()
    done = subprocess.run(as_installed(render), cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    stem = "llama-33b_a40_b1_s1024"
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == sorted(
        [f"{stem}.html", f"{stem}_operators.csv", f"{stem}_roofline.png", f"{stem}_roofline.svg"])
    assert done.stdout.startswith(f"wrote reports/{stem}.html (")
    # quiet: one progress line per notebook and nothing else (no kernel warnings)
    lines = done.stderr.splitlines()
    assert len(lines) == len(NOTEBOOKS) and all(PROGRESS.fullmatch(line) for line in lines), done.stderr
    assert [line[1] for line in lines] == [str(i) for i in range(1, len(NOTEBOOKS) + 1)]


def test_render_with_no_out_writes_reports_in_the_current_folder(tmp_path):
    done = subprocess.run([str(BIN / "roofline"), "render", "--batch", "2", "--sweep-batches", "1",
                           "--sweep-seq-lens", "128"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert len(list((tmp_path / "reports").glob("llama-33b_a40_b2_s1024_*.html"))) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["reports"]


def test_table_with_a_relative_out(tmp_path):
    done = subprocess.run([str(BIN / "roofline"), "table", "--out", "out/ops.csv"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr == "wrote out/ops.csv\n"
    assert (tmp_path / "out" / "ops.csv").read_text().startswith("phase,operator,group,count")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", str(ROOT), "--no-deps", "-w", str(folder)],
                   check=True, capture_output=True, timeout=300)
    return next(folder.glob("roofline-*.whl"))


def test_the_wheel_carries_the_notebooks_and_the_data(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"roofline_utils/notebooks/{name}" for name in NOTEBOOKS} <= names
    assert "roofline_utils/data/hardware.json" in names
    assert any(n.startswith("roofline_utils/data/models/") for n in names)
    assert any(n.startswith("roofline_utils/data/measurements/") for n in names)
    # every module, subpackages included (a package missing from pyproject.toml would be left out)
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "roofline_utils").rglob("*.py")}
    assert modules <= names, sorted(modules - names)


def test_a_wheel_installed_in_a_fresh_venv_renders_from_any_folder(wheel, tmp_path):
    """The slow one (about 30 s): what `pip install roofline` or pipx gives a user."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    install = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(wheel)], capture_output=True,
                             text=True, timeout=600)
    assert install.returncode == 0, install.stderr[-2000:]
    work = tmp_path / "elsewhere"
    work.mkdir()
    done = subprocess.run([str(venv / "bin" / "roofline"), "render", "--out", "out", "--sweep-batches", "1,64",
                           "--sweep-seq-lens", "128"], cwd=work, capture_output=True, text=True, timeout=300,
                          env={k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")})
    assert done.returncode == 0, done.stderr
    html = next((work / "out").glob("llama-33b_a40_b1_s1024_*.html"))
    assert "Llama 33B" in html.read_text()


def _start_render(folder: Path) -> subprocess.Popen:
    # as from a terminal, where Ctrl-C is live: a suite run as a background job inherits SIGINT
    # ignored, and a render honours that (see test_an_ignored_interrupt_stays_ignored)
    return subprocess.Popen([str(BIN / "roofline"), "render", "--out", "out", "--sweep-batches", "1",
                             "--sweep-seq-lens", "128"], cwd=folder, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _wait_for_staging(folder: Path, process: subprocess.Popen, then_s: float = 0.5) -> None:
    deadline = time.monotonic() + 60
    while not list((folder / "out").glob(".roofline-render-*")):
        assert process.poll() is None and time.monotonic() < deadline, "the render never started staging"
        time.sleep(0.05)
    time.sleep(then_s)  # 0.5 s: inside the notebooks by now


# 0.3 s after staging, threads were importing (export warm-up, kernel start): an interrupt raised
# there once deadlocked the import locks and the render hung, or finished as if not interrupted;
# 1 s and 2 s land in the kernel's start-up and its first cells (how fast each stops:
# benchmarks/interrupt_latency.py)
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
@pytest.mark.parametrize("then_s", [0.0, 0.3, 0.5, 1.0, 2.0])
def test_an_interrupted_render_says_one_line_and_leaves_nothing(tmp_path, signum, then_s):
    process = _start_render(tmp_path)
    _wait_for_staging(tmp_path, process, then_s)
    process.send_signal(signum)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 128 + signum
    assert err.splitlines()[-1] == "roofline: interrupted; nothing was written"
    assert "Traceback" not in err and not any("KeyboardInterrupt" in line for line in err.splitlines())
    assert list(tmp_path.iterdir()) == []  # the out folder it created is gone too


def test_an_ignored_interrupt_stays_ignored(tmp_path):
    """A render started with SIGINT ignored (a background job of a script, nohup) runs to the end."""
    process = subprocess.Popen([str(BIN / "roofline"), "render", "--out", "out", "--sweep-batches", "1",
                                "--sweep-seq-lens", "128"], cwd=tmp_path, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    _wait_for_staging(tmp_path, process)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    assert out.startswith("wrote out/") and len(list((tmp_path / "out").glob("*.html"))) == 1


def test_a_killed_render_is_cleaned_up_by_the_next_one(tmp_path):
    process = _start_render(tmp_path)
    _wait_for_staging(tmp_path, process)
    process.kill()
    process.communicate(timeout=60)
    assert list((tmp_path / "out").glob(".roofline-render-*"))  # SIGKILL cannot be caught
    again = subprocess.run([str(BIN / "roofline"), "render", "--out", "out", "--sweep-batches", "1",
                            "--sweep-seq-lens", "128"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert not list((tmp_path / "out").glob(".roofline-render-*"))


def _notebooks_with(tmp_path: Path, source: str) -> Path:
    folder = tmp_path / "notebooks"
    folder.mkdir()
    for name in NOTEBOOKS:
        (folder / name).write_text((ROOT / "notebooks" / name).read_text())
    broken = json.loads((folder / NOTEBOOKS[0]).read_text())
    broken["cells"].append({"cell_type": "code", "id": "boom", "metadata": {}, "execution_count": None,
                            "outputs": [], "source": source})
    (folder / NOTEBOOKS[0]).write_text(json.dumps(broken))
    return folder


def test_a_failing_notebook_is_a_render_error_and_leaves_nothing(tmp_path):
    notebooks = _notebooks_with(tmp_path, "raise RuntimeError('boom')")
    params = ReportParameters(sweep_batches=[1], sweep_seq_lens=[128])
    with pytest.raises(RenderError, match=r"01_hardware.ipynb failed in cell \d+: RuntimeError: boom"):
        render_report(params, tmp_path / "out", notebook_dir=notebooks)
    assert not (tmp_path / "out").exists()


def test_a_dead_kernel_is_a_render_error(tmp_path):
    notebooks = _notebooks_with(tmp_path, "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")
    params = ReportParameters(sweep_batches=[1], sweep_seq_lens=[128])
    with pytest.raises(RenderError, match=r"01_hardware.ipynb: the notebook kernel died"):
        render_report(params, tmp_path / "out", notebook_dir=notebooks)
    assert not (tmp_path / "out").exists()


def test_render_with_relative_model_and_device_files(tmp_path, llama33b_config_json):
    """The notebooks run in a staging folder: files named relative to the user's folder must still be found."""
    (tmp_path / "my_gpu.yaml").write_text("name: My GPU\nbandwidth_gb_s: 1000\nmemory_gb: 32\n"
                                          "peak_tflops: {fp16: 250, int8: 500}\n")
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "config.json").write_text(llama33b_config_json.read_text())
    done = subprocess.run([str(BIN / "roofline"), "render", "--model", "cfg/config.json", "--hardware", "my_gpu.yaml",
                           "--sweep-batches", "1", "--sweep-seq-lens", "128", "--out", "r"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    html = next((tmp_path / "r").glob("cfg_my_gpu_b1_s1024_*.html")).read_text()
    assert "My GPU" in html
