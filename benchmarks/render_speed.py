"""How long the default report takes to render, against a floor measured in the same run.

The floor is papermill executing one trivial notebook (a kernel start, one cell): what any
notebook-based report pays at least once. The target is a render within 6x that floor.

    .venv/bin/python benchmarks/render_speed.py [--repeats 3]
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from roofline_utils.report import NOTEBOOKS

TARGET_RATIO = 6.0
BIN = Path(sys.executable).parent


def _timed(command: list[str], cwd: str) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        trivial = Path(folder) / "trivial.ipynb"
        notebook = nbformat.v4.new_notebook()
        notebook.cells = [nbformat.v4.new_code_cell("1 + 1")]
        notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(notebook, trivial)
        floor_command = [str(BIN / "papermill"), "--no-progress-bar", "-k", "python3", str(trivial),
                         str(Path(folder) / "out.ipynb")]
        render_command = [str(BIN / "roofline"), "render", "--out", "reports"]
        floors, renders = [], []
        for _ in range(args.repeats):  # interleaved, so drift on a noisy machine hits both alike
            floors.append(_timed(floor_command, folder))
            renders.append(_timed(render_command, folder))
    floor, render = statistics.median(floors), statistics.median(renders)
    ratio = render / floor
    print(f"floor: papermill, one trivial notebook: {floor:.2f} s (median of {args.repeats}: "
          f"{', '.join(f'{t:.2f}' for t in floors)})")
    print(f"render: roofline render (defaults, {len(NOTEBOOKS)} notebooks, HTML + PNG + SVG + CSV): {render:.2f} s "
          f"(median of {args.repeats}: {', '.join(f'{t:.2f}' for t in renders)})")
    print(f"ratio: {ratio:.1f}x the floor (target <= {TARGET_RATIO:g}x): {'met' if ratio <= TARGET_RATIO else 'NOT met'}")


if __name__ == "__main__":
    main()
