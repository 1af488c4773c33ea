"""The notebooks are hand-written sources: paired with a text form, clean metadata, one schema."""
import ast
import importlib.util
import json
import sys

import nbformat
import pytest

from conftest import ROOT
from roofline_utils.params import ReportParameters, schema
from roofline_utils.report import NOTEBOOKS

spec = importlib.util.spec_from_file_location("sync_notebooks", ROOT / "scripts" / "sync_notebooks.py")
sync = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sync)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_each_notebook_is_paired_and_in_sync(name):
    ipynb = ROOT / "notebooks" / name
    assert ipynb.with_suffix(".py").is_file()
    assert not sync.out_of_sync(ipynb), f"run: .venv/bin/python scripts/sync_notebooks.py ({name})"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_metadata_is_clean_and_ids_are_stable(name):
    notebook = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    assert sync.volatile(notebook) == []
    assert all(cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"
               and "parameters" not in cell.metadata.get("tags", []) and "import " not in cell.source)


def test_a_pair_out_of_sync_is_caught(tmp_path):
    for suffix in (".ipynb", ".py"):
        (tmp_path / f"01_hardware{suffix}").write_text((ROOT / "notebooks" / f"01_hardware{suffix}").read_text())
    edited = tmp_path / "01_hardware.py"
    edited.write_text(edited.read_text().replace("## The device's two numbers", "## The two numbers"))
    assert sync.out_of_sync(tmp_path / "01_hardware.ipynb")


def test_volatile_metadata_is_caught():
    notebook = nbformat.read(ROOT / "notebooks" / NOTEBOOKS[0], as_version=4)
    notebook.metadata["papermill"] = {"start_time": "2026-01-01T00:00:00"}
    notebook.cells[1].metadata["execution"] = {"iopub.status.busy": "2026-01-01"}
    notebook.cells[2]["id"] = "0f3a9c2e-random"
    problems = sync.volatile(notebook)
    assert len(problems) == 3


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_parameters_cells_declare_schema_fields_with_schema_defaults(name):
    notebook = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    cells = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1
    defaults = ReportParameters().values()
    declared = {}
    for statement in ast.parse(cells[0].source).body:
        assert isinstance(statement, ast.Assign), "a parameters cell holds assignments only"
        declared[statement.targets[0].id] = ast.literal_eval(statement.value)
    assert declared and set(declared) <= {f.name for f in schema()}
    for key, value in declared.items():
        assert value == defaults[key], (name, key)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_one_set_up_call_and_no_test_markers(name):
    notebook = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    code = [c.source for c in notebook.cells if c.cell_type == "code"]
    assert sum("rl.notebook.setup(" in source for source in code) == 1
    assert not any("NBVAL" in source for source in code)
    assert not any(".replace(\"**\"" in source or ".replace('**'" in source for source in code)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_every_committed_figure_shows_in_an_untrusted_jupyterlab(name):
    """JupyterLab renders no SVG from a notebook it does not trust (any notebook someone else
    executed): each figure carries a PNG too, or a reader sees only its caption text."""
    notebook = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    figures = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs
               if "image/svg+xml" in output.get("data", {})]
    for output in figures:
        assert output["data"].get("image/png"), f"{name}: a figure without its PNG"
        assert output["metadata"]["alt"] and output["metadata"]["caption"]
    if name not in ("03_operators.ipynb", "07_conclusion.ipynb"):
        assert figures, f"{name} shows no figure"


# What JupyterLab 4 adds when it opens a notebook, runs it and autosaves: its kernel's spec and
# language, and a reader's view state (a scrolled output, a collapsed input).
LAB_KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
LAB_LANGUAGE_INFO = {"codemirror_mode": {"name": "ipython", "version": 3}, "file_extension": ".py",
                     "mimetype": "text/x-python", "name": "python", "nbconvert_exporter": "python",
                     "pygments_lexer": "ipython3", "version": "3.12.7"}


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_a_jupyterlab_save_leaves_the_pair_and_the_checks_as_they_were(name, tmp_path):
    """The editor's round trip, through jupytext's contents manager as JupyterLab saves a paired
    notebook: the text form is unchanged byte for byte, and the checks the tests run still pass."""
    jupytext = pytest.importorskip("jupytext")
    for suffix in (".ipynb", ".py"):
        (tmp_path / name).with_suffix(suffix).write_bytes((ROOT / "notebooks" / name).with_suffix(suffix).read_bytes())
    (tmp_path / "jupytext.toml").write_bytes((ROOT / "notebooks" / "jupytext.toml").read_bytes())
    manager = jupytext.TextFileContentsManager(root_dir=str(tmp_path))
    notebook = manager.get(name, content=True)["content"]
    notebook.metadata["kernelspec"] = dict(LAB_KERNELSPEC)
    notebook.metadata["language_info"] = dict(LAB_LANGUAGE_INFO)
    code = next(cell for cell in notebook.cells if cell.cell_type == "code")
    code.metadata["scrolled"] = True
    code.metadata["jupyter"] = {"source_hidden": True}
    manager.save({"type": "notebook", "format": "json", "content": notebook}, name)

    assert (tmp_path / name).with_suffix(".py").read_text() == (ROOT / "notebooks" / name).with_suffix(".py").read_text()
    saved = nbformat.read(tmp_path / name, as_version=4)
    assert saved.metadata["language_info"]["version"] == "3.12.7"  # the save did happen
    assert not sync.out_of_sync(tmp_path / name)
    assert sync.volatile(saved) == []
    sync.clean(saved)  # and the next sync drops what the editor wrote
    assert set(saved.metadata) == {"jupytext", "kernelspec"} and saved.metadata["kernelspec"] == LAB_KERNELSPEC
    assert all(set(cell.metadata) <= {"tags"} for cell in saved.cells)
