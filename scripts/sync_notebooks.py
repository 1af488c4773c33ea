"""Keep each notebook and its text form in step, execute the notebooks, and strip what varies per run.

The notebooks are edited in JupyterLab (jupytext pairs `notebooks/NN_name.ipynb` with
`notebooks/NN_name.py`); after an edit, run

    .venv/bin/python scripts/sync_notebooks.py          # sync both ways, execute, clean metadata
    .venv/bin/python scripts/sync_notebooks.py --check  # only check (the tests run this)

Cell ids are derived from each cell's content, so they change only when the cell does; committed
metadata keeps the kernel spec, the jupytext pairing and cell tags, and nothing else (no timestamps,
execution records or machine paths).
"""
from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
from pathlib import Path

import jupytext
import nbformat

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
KEEP_NOTEBOOK_METADATA = ("kernelspec", "jupytext")
KEEP_CELL_METADATA = ("tags",)
# What JupyterLab writes when it opens, runs and saves a notebook: the kernel it ran (the committed
# kernelspec is JupyterLab's own, so a save leaves both files as they were), the kernel's language
# and the reader's view state. None of it changes a cell, an output or a test: ignored by the
# checks, dropped by `clean`.
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
EDITOR_NOTEBOOK_METADATA = ("language_info", "widgets")
EDITOR_CELL_METADATA = ("scrolled", "collapsed", "jupyter", "editable", "deletable", "trusted")


def _cells(notebook) -> list[tuple[str, str, tuple[str, ...]]]:
    return [(cell.cell_type, cell.source.strip(), tuple(cell.metadata.get("tags", []))) for cell in notebook.cells]


def out_of_sync(ipynb: Path) -> bool:
    """True when the .ipynb and its paired .py differ in any cell's type, source or tags."""
    return _cells(nbformat.read(ipynb, as_version=4)) != _cells(jupytext.read(ipynb.with_suffix(".py")))


def stable_id(cell, taken: set) -> str:
    digest = hashlib.sha1(f"{cell.cell_type}\n{cell.source}".encode()).hexdigest()[:8]
    candidate, n = digest, 1
    while candidate in taken:
        n += 1
        candidate = f"{digest}-{n}"
    taken.add(candidate)
    return candidate


def volatile(notebook) -> list[str]:
    """What committed metadata must not hold: timestamps, execution records, absolute paths, unstable ids."""
    problems = [f"notebook metadata {key!r}" for key in notebook.metadata
                if key not in KEEP_NOTEBOOK_METADATA + EDITOR_NOTEBOOK_METADATA]
    if notebook.metadata.get("kernelspec", KERNELSPEC).get("name") != KERNELSPEC["name"]:
        problems.append(f"kernel {notebook.metadata['kernelspec'].get('name')!r} (nbval runs {KERNELSPEC['name']!r})")
    taken: set = set()
    for index, cell in enumerate(notebook.cells):
        problems += [f"cell {index} metadata {key!r}" for key in cell.metadata
                     if key not in KEEP_CELL_METADATA + EDITOR_CELL_METADATA]
        if cell.get("id") != stable_id(cell, taken):
            problems.append(f"cell {index} id {cell.get('id')!r} is not derived from its content")
        for output in cell.get("outputs", []):
            text = str(output)
            if str(ROOT) in text or "/tmp/" in text:
                problems.append(f"cell {index} output holds a machine path")
    return problems


def clean(notebook) -> None:
    notebook.metadata = {key: value for key, value in notebook.metadata.items() if key in KEEP_NOTEBOOK_METADATA}
    notebook.metadata["kernelspec"] = dict(KERNELSPEC)
    notebook.metadata.get("jupytext", {}).pop("text_representation", None)
    taken: set = set()
    for cell in notebook.cells:
        cell.metadata = {key: value for key, value in cell.metadata.items() if key in KEEP_CELL_METADATA}
        cell["id"] = stable_id(cell, taken)


def execute(ipynb: Path) -> None:
    import nbclient

    notebook = nbformat.read(ipynb, as_version=4)
    nbclient.NotebookClient(notebook, kernel_name="python3", timeout=600,
                            resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    clean(notebook)
    nbformat.write(notebook, ipynb)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report notebooks out of sync or with volatile metadata")
    args = parser.parse_args()
    pairs = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py"))
    if args.check:
        problems = [f"{p.with_suffix('.ipynb').name}: out of sync with {p.name}" for p in pairs
                    if out_of_sync(p.with_suffix(".ipynb"))]
        problems += [f"{p.with_suffix('.ipynb').name}: {problem}" for p in pairs
                     for problem in volatile(nbformat.read(p.with_suffix(".ipynb"), as_version=4))]
        print("\n".join(problems) or "notebooks in sync, metadata clean")
        return 1 if problems else 0
    bin_dir = Path(sys.executable).parent
    for pair in pairs:  # newer side wins, outputs kept (jupytext --sync)
        subprocess.run([str(bin_dir / "jupytext"), "--sync", "--quiet", str(pair)], check=True)
    import os

    os.environ["PATH"] = f"{bin_dir}{os.pathsep}{os.environ['PATH']}"  # the kernel runs this interpreter
    for pair in pairs:
        execute(pair.with_suffix(".ipynb"))
        print("executed", pair.with_suffix(".ipynb").relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
