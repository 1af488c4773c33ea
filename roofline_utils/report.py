"""Render the notebooks with papermill and export them as one self-contained HTML report.

Everything is written into a temporary folder beside the destination and moved into
place only when the whole render succeeded: a failed run leaves no half-written report.
"""
from __future__ import annotations

import os
import platform
import re
import shutil
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import nbformat

from . import __version__
from .errors import RooflineInputError
from .hardware import get_hardware
from .models import load_model
from .workload import Workload, check_positive_integers

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = ("01_hardware.ipynb", "02_operators.ipynb", "03_roofline.ipynb", "04_sweeps.ipynb",
             "05_measured.ipynb")
DEFAULT_MEASUREMENT = "llama-33b_cpu-2core_numpy-float32.csv"
DEFAULT_BATCHES = [1, 2, 4, 8, 16, 32, 64]
DEFAULT_SEQ_LENS = [128, 256, 512, 1024, 2048, 4096, 8192]


class RenderError(RuntimeError):
    """A notebook failed while rendering; the message names the notebook and the cell error."""


@dataclass
class ReportParameters:
    """The parameters every notebook's ``parameters`` cell declares, with their defaults."""

    model: str = "llama-33b"
    hardware: str = "a40"
    batch: int = 1
    seq_len: int = 1024
    output_len: int = 256
    weight_bits: int = 16
    act_bits: int = 16
    kv_bits: int = 16
    attention_io: str = "unfused"
    tp: int = 1
    sweep_batches: list = field(default_factory=lambda: list(DEFAULT_BATCHES))
    sweep_seq_lens: list = field(default_factory=lambda: list(DEFAULT_SEQ_LENS))
    show_other_ops: bool = False
    measurement_run: str = DEFAULT_MEASUREMENT
    remeasure: bool = False
    figure_dir: str | None = None

    def validate(self) -> None:
        """Fail fast, before any kernel starts, with an error that names the field."""
        load_model(self.model)
        hardware = get_hardware(self.hardware)
        workload = self.workload()
        check_positive_integers("output_len", self.output_len)
        for name in ("sweep_batches", "sweep_seq_lens"):
            values = getattr(self, name)
            if not isinstance(values, (list, tuple)) or not values:
                raise RooflineInputError(name, f"must be a non-empty list of positive integers, got {values!r}")
            check_positive_integers(name, list(values))
        from .measure import shipped_runs
        from .roofline import peak_flops

        peak_flops(hardware, workload)
        if not self.remeasure and self.measurement_run not in shipped_runs():
            raise RooflineInputError("measurement_run", f"no shipped run {self.measurement_run!r}",
                                     ", ".join(shipped_runs()) or "none")  # the implied precision must exist on the device

    def workload(self) -> Workload:
        return Workload(batch=self.batch, seq_len=self.seq_len, weight_bits=self.weight_bits,
                        act_bits=self.act_bits, kv_bits=self.kv_bits, attention_io=self.attention_io,
                        tp=self.tp)

    def stem(self) -> str:
        """A file-name stem that tells renders apart: model_hardware_b1_s1024[_w8a8kv8][_tp2]."""
        model = Path(self.model).parent.name if str(self.model).endswith(".json") else Path(self.model).name
        hardware = Path(self.hardware).stem
        bits = "" if (self.weight_bits, self.act_bits, self.kv_bits) == (16, 16, 16) else \
            f"_w{self.weight_bits}a{self.act_bits}kv{self.kv_bits}"
        tp = f"_tp{self.tp}" if self.tp > 1 else ""
        return re.sub(r"[^A-Za-z0-9._-]", "-", f"{model}_{hardware}_b{self.batch}_s{self.seq_len}{bits}{tp}")


def render_report(parameters: ReportParameters, out_dir: str | Path, notebook_dir: Path = NOTEBOOK_DIR) -> Path:
    """Execute the notebooks, write ``<stem>.html``, the chart (PNG, SVG) and the operator CSV.

    Returns the path of the HTML report.
    """
    import papermill

    parameters.validate()
    missing = [name for name in NOTEBOOKS if not (notebook_dir / name).is_file()]
    if missing:
        raise RooflineInputError("notebooks", f"{', '.join(missing)} not found in {notebook_dir} "
                                 "(install the project with 'pip install -e .' from its checkout)")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".roofline-render-", dir=out_dir))
    try:
        stem = parameters.stem()
        values = {**asdict(parameters), "figure_dir": str(staging)}
        _use_this_interpreter_for_kernels()
        executed = []
        for name in NOTEBOOKS:
            target = staging / name
            try:
                papermill.execute_notebook(str(notebook_dir / name), str(target), parameters=values,
                                           kernel_name="python3", progress_bar=False, cwd=str(staging))
            except papermill.PapermillExecutionError as exc:
                raise RenderError(f"{name} failed in cell {exc.exec_count}: {exc.ename}: {exc.evalue}") from None
            executed.append(nbformat.read(target, as_version=4))
        html = notebooks_to_html(executed, parameters)
        (staging / f"{stem}.html").write_text(html, encoding="utf-8")
        from .roofline import operator_table

        table = operator_table(parameters.model, parameters.hardware, parameters.workload())
        table.to_csv(staging / f"{stem}_operators.csv", index=False)
        for suffix in (".png", ".svg"):
            (staging / f"roofline{suffix}").replace(staging / f"{stem}_roofline{suffix}")
        outputs = [f"{stem}.html", f"{stem}_operators.csv", f"{stem}_roofline.png", f"{stem}_roofline.svg"]
        for name in outputs[1:] + outputs[:1]:  # the report last: its presence means the render finished
            os.replace(staging / name, out_dir / name)
        return out_dir / f"{stem}.html"
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _use_this_interpreter_for_kernels() -> None:
    """The 'python3' kernel spec runs 'python' from PATH: make that the interpreter running us,
    so a venv's ``roofline`` works without activating the venv."""
    bin_dir = str(Path(sys.executable).parent)
    if os.environ.get("PATH", "").split(os.pathsep)[0] != bin_dir:
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")


def header_cell(parameters: ReportParameters) -> nbformat.NotebookNode:
    """The report's first cell: title, every parameter, package and tool versions."""
    model, hardware = load_model(parameters.model), get_hardware(parameters.hardware)
    rows = "\n".join(f"| `{key}` | `{value}` |" for key, value in asdict(parameters).items()
                     if key != "figure_dir")
    import pandas
    import papermill

    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    text = (f"# Roofline report: {model.display_name} on {hardware.name}\n\n"
            f"Generated by **roofline {__version__}** on {stamp} (Python {platform.python_version()}, "
            f"papermill {papermill.__version__}, pandas {pandas.__version__}).\n\n"
            f"| parameter | value |\n|---|---|\n{rows}\n\n"
            "Every number below is a roofline bound: the fastest the hardware could possibly run "
            "each operator. Measured kernels are slower.")
    return nbformat.v4.new_markdown_cell(text)


WIDGET_NOTE = ("Interactive explorer: open notebooks/04_sweeps.ipynb in JupyterLab to use the controls. "
               "A static HTML page cannot run widgets; the charts above show the report's parameters.")


def _static(cell: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A cell with its live-widget outputs replaced by a note (they need a running kernel)."""
    if cell.cell_type != "code" or not any("application/vnd.jupyter.widget-view+json" in o.get("data", {})
                                           for o in cell.outputs):
        return cell
    cell = nbformat.from_dict(cell)  # a copy: the executed notebook stays as it ran
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=WIDGET_NOTE)]
    return cell


def _without_repeats(cells: list) -> list:
    """The cells a reader of the merged report needs: no parameters cells (the header lists the
    values), each identical code cell (the shared set-up) once, live widgets as a note."""
    seen, kept = set(), []
    for cell in cells:
        tags = set(cell.get("metadata", {}).get("tags", []))
        if tags & {"parameters", "injected-parameters"}:
            continue
        if cell.cell_type == "code":
            if cell.source in seen:
                continue
            seen.add(cell.source)
        kept.append(_static(cell))
    return kept


def notebooks_to_html(notebooks: list, parameters: ReportParameters) -> str:
    """Concatenate executed notebooks under a header cell and export one offline HTML page.

    Parameters cells are dropped (the header cell lists every value) and the shared set-up cell
    appears once.

    Images are already embedded (base64) in the outputs; script tags that load from the
    network (MathJax, require.js, widget managers) are dropped so the file opens offline.
    """
    from nbconvert import HTMLExporter

    merged = nbformat.v4.new_notebook()
    merged.metadata = notebooks[0].metadata
    merged.cells = [header_cell(parameters)] + _without_repeats([cell for nb in notebooks for cell in nb.cells])
    exporter = HTMLExporter(template_name="lab")
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    html, _ = exporter.from_notebook_node(merged)
    html = re.sub(r"<script[^>]*\bsrc=\"https?://[^\"]*\"[^>]*>\s*</script>", "", html)
    html = re.sub(r"<link[^>]*\bhref=\"https?://[^\"]*\"[^>]*>", "", html)
    html = re.sub(r"<script type=\"module\">(?:(?!</script>).)*?https?://cdn(?:(?!</script>).)*</script>", "",
                  html, flags=re.S)  # the mermaid loader: this report draws no mermaid diagrams
    title = f"Roofline report: {load_model(parameters.model).display_name}, {get_hardware(parameters.hardware).name}"
    return re.sub(r"<title>.*?</title>", f"<title>{title}</title>", html, count=1, flags=re.S)
