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
    edited.write_text(edited.read_text().replace("## The datasheet", "## The data sheet"))
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
    if name != "02_operators.ipynb":
        assert figures, f"{name} shows no figure"
