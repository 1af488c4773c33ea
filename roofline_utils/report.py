"""Execute the notebooks with their parameters injected (as papermill does) and export them as
one self-contained HTML report. Output is atomic (see output.py): a failed run leaves nothing."""
from __future__ import annotations

import os
import platform
import signal
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from . import RENDERING_REPORT_ENV, __version__
from .errors import RooflineInputError
from .hardware import get_hardware
from .output import check_destinations, check_names_fit, publish, staged_folder
from .params import ReportParameters, load_resolved_model
from .text import markdown_text


def _import_nbformat():
    """nbformat loads jsonschema, which, when JupyterLab's dependencies put ``rfc3987_syntax`` in
    the environment, compiles 38 grammars on import (6 s here) for an 'iri' format no notebook
    schema uses. Hide that one module while nbformat loads; nothing else changes."""
    hidden = "rfc3987_syntax" not in sys.modules
    if hidden:
        sys.modules["rfc3987_syntax"] = None  # an ImportError, which jsonschema skips
    try:
        import nbformat
    finally:
        if hidden:
            del sys.modules["rfc3987_syntax"]
    return nbformat


nbformat = _import_nbformat()

NOTEBOOKS = ("01_hardware.ipynb", "02_roofline.ipynb", "03_operators.ipynb", "04_sweeps.ipynb",
             "05_measured.ipynb", "06_speculative.ipynb", "07_conclusion.ipynb")
CELL_TIMEOUT_S = 600
STOP_WAIT_S = 0.3  # after an interrupt, how long to wait for the notebook worker to unwind


class RenderError(RuntimeError):
    """A notebook failed while rendering; the message names the notebook and the cell error."""


def notebook_folder() -> Path:
    """Where the notebooks are: inside the installed package (a wheel carries them as
    ``roofline_utils/notebooks``), else the checkout's top-level ``notebooks/`` (editable install)."""
    package = Path(__file__).resolve().parent
    for folder in (package / "notebooks", package.parent / "notebooks"):
        if all((folder / name).is_file() for name in NOTEBOOKS):
            return folder
    raise RenderError(f"the report's notebooks ({', '.join(NOTEBOOKS)}) are missing from {package / 'notebooks'}: "
                      "reinstall the package ('pip install roofline' or 'pip install .' from a checkout)")


def render_report(parameters: ReportParameters, out_dir: str | Path, notebook_dir: Path | None = None,
                  show_code: bool = False, progress=None) -> Path:
    """Execute the notebooks, write ``<stem>.html``, the chart (PNG, SVG) and the operator CSV into ``out_dir``.

    Everything is validated first, then written into a staging folder inside ``out_dir`` and moved
    into place only when complete. ``progress(message)`` is called once per notebook. Returns the
    path of the HTML report.
    """
    parameters = parameters.resolved()  # named once: the checks, the notebooks and the file names agree
    parameters.validate()
    notebook_dir = Path(notebook_dir) if notebook_dir is not None else notebook_folder()
    stem = parameters.stem()
    names = [f"{stem}_operators.csv", f"{stem}_roofline.png", f"{stem}_roofline.svg", f"{stem}.html"]
    path = Path(out_dir) / f"{stem}.html"
    with staged_folder(out_dir) as (folder, staging):
        check_destinations(folder, names)  # a folder where a file goes: refused before any notebook runs
        check_names_fit(staging, names)  # and a name the file system cannot hold
        published = False
        try:
            with _DeferredSignals() as stop:  # a signal caught here stops the render before anything is published
                _warm_up_export()
                executed = execute_notebooks(parameters, notebook_dir, staging, progress, stop)
                stop.check()
                try:
                    html = notebooks_to_html(executed, parameters, show_code=show_code)
                except (RooflineInputError, KeyboardInterrupt):
                    raise
                except Exception as exc:  # a bug while exporting: one line, and nothing published
                    raise RenderError(f"exporting the report failed: {type(exc).__name__}: {exc}") from None
                (staging / f"{stem}.html").write_text(html, encoding="utf-8")
                from .roofline import operator_table

                table = operator_table(load_resolved_model(parameters.model), parameters.hardware,
                                       parameters.workload())
                table.to_csv(staging / f"{stem}_operators.csv", index=False)
                for suffix in (".png", ".svg"):
                    (staging / f"roofline{suffix}").replace(staging / f"{stem}_roofline{suffix}")
                stop.check()  # the last point where an interrupt means nothing is written
                publish(staging, folder, names)  # all or nothing; a signal now waits until it is done
                published = True
        except KeyboardInterrupt as exc:
            if published:  # the signal arrived while publishing: the report is whole, and says so
                exc.published = path
            raise
    return path


class _DeferredSignals:
    """SIGINT and SIGTERM recorded while a render runs, and acted on at safe points.

    A KeyboardInterrupt raised at an arbitrary instant can land inside the import machinery's
    own bookkeeping while other threads import (the export warm-up, nbclient's worker): the
    lock it held is never released, both threads wait forever and the interrupt is lost. So the
    handlers only record the signal; ``check()`` (called between steps and while the kernel runs)
    raises, and on the way out the signal is raised again for the caller's own handling (the CLI
    turns it into one line and exit 128 + signum; a script without handlers gets the default)."""

    def __init__(self):
        self.received = None
        self.previous = {}

    def __enter__(self):
        import threading

        if threading.current_thread() is threading.main_thread():  # handlers live only there
            for signum in (signal.SIGINT, signal.SIGTERM):
                if signal.getsignal(signum) is not signal.SIG_IGN:  # ignored stays ignored (`nohup`, `&`)
                    self.previous[signum] = signal.signal(signum, self._record)
        return self

    def _record(self, signum, frame):
        if self.received is None:
            self.received = signum

    def check(self) -> None:
        if self.received is not None:
            raise KeyboardInterrupt

    def __exit__(self, *exc_info):
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        if self.received is not None:
            signal.raise_signal(self.received)  # the caller's handler raises here, at a safe point
        return False


def _warm_up_export() -> None:
    """Load and exercise the HTML export (nbconvert's templates, its regexes, the MathML
    converter: about 2 s) on a spare thread while the kernel runs the notebooks: the
    render process only waits on the kernel meanwhile."""
    import threading

    def warm():
        try:
            from .export import to_html

            cell = nbformat.v4.new_markdown_cell("$x$")
            to_html([cell], {}, "warm-up", "# warm-up")
        except Exception:  # a real failure shows, with its message, in the real export
            pass

    threading.Thread(target=warm, name="export warm-up", daemon=True).start()


def execute_notebooks(parameters: ReportParameters, notebook_dir: Path, workdir: Path, progress=None,
                      stop: _DeferredSignals | None = None) -> list:
    """Run the notebooks one after another in ONE kernel (a kernel start and the imports cost
    about a second each, more than most notebooks), each with its parameters injected as
    papermill does. Returns the executed notebooks."""
    import nbclient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
    from papermill.parameterize import parameterize_notebook

    def check():  # between steps: a Ctrl-C while the kernel is not yet started stops here, not later
        if stop is not None:
            stop.check()

    check()
    # exactly what was resolved: names stay names, paths are absolute (the kernel runs in staging)
    values = {**parameters.resolved().values(), "figure_dir": str(workdir)}
    notebooks, owner, last_code_cells = [], [], set()
    merged = nbformat.v4.new_notebook()
    for name in NOTEBOOKS:
        check()
        notebook = nbformat.read(notebook_dir / name, as_version=4)
        notebook.metadata.setdefault("papermill", {})  # papermill's parameterize records the values there
        for cell in notebook.cells:
            cell.metadata.setdefault("tags", [])  # and reads every cell's tags
        notebook = parameterize_notebook(notebook, values)
        code = [i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code"]
        last_code_cells.add(len(owner) + code[-1])
        notebooks.append(notebook)
        owner += [len(notebooks) - 1] * len(notebook.cells)
        merged.cells.extend(notebook.cells)
    merged.metadata = notebooks[0].metadata
    started, current = [time.perf_counter()], [0, 0]

    def cell_done(cell, cell_index, **_):
        index = owner[cell_index]
        if progress is not None and cell_index in last_code_cells:
            now = time.perf_counter()
            label = NOTEBOOKS[index].removesuffix(".ipynb").split("_", 1)[1]
            progress(f"[{index + 1}/{len(NOTEBOOKS)}] {label:11s} {now - started[0]:4.1f} s")
            started[0] = now

    def cell_start(cell, cell_index, **_):
        current[0] = owner[cell_index]
        current[1] = cell_index - owner.index(current[0]) + 1

    check()
    _use_this_interpreter_for_kernels()
    client = nbclient.NotebookClient(merged, kernel_name="python3", timeout=CELL_TIMEOUT_S,
                                     resources={"metadata": {"path": str(workdir)}},
                                     on_cell_start=cell_start, on_cell_executed=cell_done)
    kernel_log = workdir / "kernel.log"  # the kernel's own chatter stays out of the user's terminal
    try:
        with open(kernel_log, "w") as log:
            # the kernel knows it renders the report: figures skip the PNG only a notebook shows
            _execute_interruptibly(client, stop, stderr=log, env={**os.environ, RENDERING_REPORT_ENV: "1"})
    except CellExecutionError as exc:
        raise RenderError(f"{NOTEBOOKS[current[0]]} failed in cell {current[1]}: {exc.ename}: {exc.evalue}") \
            from None
    except DeadKernelError:
        raise RenderError(f"{NOTEBOOKS[current[0]]}: the notebook kernel died (out of memory?) "
                          f"{_last_line(kernel_log)}".rstrip()) from None
    except CellTimeoutError:
        raise RenderError(f"{NOTEBOOKS[current[0]]}: a cell ran longer than {CELL_TIMEOUT_S} s") from None
    except RuntimeError as exc:  # the kernel did not start
        raise RenderError(f"the notebook kernel could not start: {exc}") from None
    return notebooks


def _execute_interruptibly(client, stop: _DeferredSignals | None = None, **kwargs) -> None:
    """``client.execute`` in a worker thread, so that Ctrl-C and SIGTERM stay with the main thread
    (nbclient otherwise takes both over and crashes on its own clean-up): on an interrupt (a
    signal recorded in ``stop``, or a KeyboardInterrupt) the kernel's process group is killed,
    the worker unwinds, and the KeyboardInterrupt goes on up."""
    import threading

    failures = []

    def work():
        try:
            client.execute(**kwargs)
        except BaseException as exc:  # handed to the main thread as is
            failures.append(exc)

    worker = threading.Thread(target=work, name="notebooks", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.1)
            if stop is not None:
                stop.check()
    except KeyboardInterrupt:
        # kill the kernel's group and give the worker a moment to unwind; one still waiting for a
        # kernel to start is left behind (a daemon thread): a kernel it starts late exits with its
        # parent (ipykernel watches it), and a Ctrl-C should not wait on nbclient's start-up timeouts
        deadline = time.monotonic() + STOP_WAIT_S
        while worker.is_alive() and time.monotonic() < deadline:
            _kill_kernel(client)
            worker.join(0.1)
        raise
    finally:
        import atexit

        # nbclient registers a kernel clean-up to run at exit and forgets it when the kernel's
        # start fails (as when it is killed while starting): it would print a traceback at exit
        atexit.unregister(client._cleanup_kernel)
    if failures:
        raise failures[0]


def _kill_kernel(client) -> None:
    pid = getattr(getattr(client.km, "provisioner", None), "pid", None)
    if pid is not None:
        try:
            os.killpg(pid, signal.SIGKILL)  # the kernel runs in its own session: its group is its pid
        except (ProcessLookupError, PermissionError):
            pass


def _last_line(path: Path) -> str:
    lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()] \
        if path.exists() else []
    return lines[-1][:200] if lines else ""


def _use_this_interpreter_for_kernels() -> None:
    """The 'python3' kernel spec runs 'python' from PATH: make that the interpreter running us,
    so a venv's ``roofline`` works without activating the venv."""
    bin_dir = str(Path(sys.executable).parent)
    if os.environ.get("PATH", "").split(os.pathsep)[0] != bin_dir:
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")


def header_markdown(parameters: ReportParameters) -> str:
    """The report's title, when and with what it was made, and every parameter (folded)."""
    model, hardware = load_resolved_model(parameters.model), get_hardware(parameters.hardware)
    rows = "\n".join(f"| `{key}` | `{value}` |" for key, value in parameters.values().items()
                     if key != "figure_dir")
    import pandas

    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (f"# Roofline report: {markdown_text(model.display_name)} on {markdown_text(hardware.name)}\n\n"
            f"Generated by **roofline {__version__}** on {stamp} (Python {platform.python_version()}, "
            f"pandas {pandas.__version__}). Every number is a roofline bound: the fastest the hardware "
            "could possibly run each operator; measured kernels are slower.\n\n"
            f"<details><summary>Parameters of this report</summary>\n\n| parameter | value |\n|---|---|\n{rows}\n\n"
            "</details>")


def abstract_markdown(parameters: ReportParameters) -> str:
    """The headline numbers and verdicts, from the findings (empty if they cannot be computed)."""
    try:
        from .findings import abstract
    except ImportError:
        return ""
    return abstract(parameters)


def notebooks_to_html(notebooks: list, parameters: ReportParameters, show_code: bool = False) -> str:
    """The executed notebooks as one offline HTML page (see export.py)."""
    from .export import to_html

    title = f"Roofline report: {load_resolved_model(parameters.model).display_name}, {get_hardware(parameters.hardware).name}"
    cells = [cell for notebook in notebooks for cell in notebook.cells]
    return to_html(cells, notebooks[0].metadata, title, header_markdown(parameters),
                   abstract_markdown(parameters), show_code=show_code)
