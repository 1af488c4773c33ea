"""Measurement runs: achieved ceilings, the model's operators timed one kernel at a time, CSV I/O.

An analytical roofline is a claim; a run tests it. It measures
  * the achievable ceilings of the device, datasheet-free: large GEMMs for FLOP/s and streaming
    kernels for bandwidth, each the best of several repeats, with working sets far above the
    caches;
  * the model's operators at their real shapes (:mod:`.kernels`, derived from the operator list),
    one kernel at a time: allocate, time, free. A setting is shrunk only when its largest kernel
    does not fit the memory budget, and the row says so;
and predicts each operator's time with the same counting as the report, under the achieved
ceilings. Attention is measured under each IO model the backend has: QK^T, softmax and PV as
separate kernels (what the paper measured) against the unfused counting, and the fused kernel
against the fused counting.
"""
from __future__ import annotations

import platform
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import resources
from io import StringIO
from pathlib import Path

import numpy as np
import pandas as pd

from ..hardware import Hardware, Roof, custom_hardware
from ..models import ModelConfig, load_model
from ..roofline import operator_table
from ..workload import Workload
from .backends import NumpyBackend, last_level_cache_bytes, physical_memory_bytes
from .kernels import build, fitted, plan

CSV_COLUMNS = ["phase", "operator", "group", "batch", "seq_len", "requested_batch", "dtype", "shapes",
               "flops", "bytes", "repeats", "min_s", "median_s", "predicted_s", "ratio", "bound", "note"]
MEDUSA_BATCHES = (1, 2, 4, 8, 16, 32, 64)  # the paper's Figure 14 grid: batch x length, prefill and decode
MEDUSA_LENGTHS = (128, 256, 512, 1024, 2048, 4096, 8192)


def medusa_settings() -> list[tuple[str, int, int]]:
    """The paper's 2 × 49 settings: (phase, batch, length) for batch 1-64 and length 128-8192."""
    return [(phase, b, s) for phase in ("prefill", "decode") for b in MEDUSA_BATCHES for s in MEDUSA_LENGTHS]


@dataclass(frozen=True)
class Ceilings:
    """Achieved (not datasheet) ceilings of the measured device."""

    flops_per_s: float
    bytes_per_s: float
    gemm_n: int
    stream_bytes: int
    kernel_bytes_per_s: dict = field(default_factory=dict)


def measure_ceilings(backend, gemm_n: int = 4096, stream_bytes: int | None = None, repeats: int = 5) -> Ceilings:
    """Best-of-``repeats`` GEMM FLOP/s (n×n×n, 2n³ FLOPs) and streaming bandwidth.

    On a GPU the GEMM ceiling is the better of n and 2n (4096³ and 8192³ by default) in the run's
    dtype, and the streams cover at least 2 GiB per array (far above any L2). On a CPU the stream
    working set defaults to 16× the last-level cache (at least 256 MiB, at most an eighth of RAM per
    array) so the caches cannot serve it. The bandwidth ceiling is the best of the stream kernels.
    """
    on_gpu = getattr(backend, "on_gpu", False)
    best_flops_per_s = 0.0
    for n in (gemm_n, 2 * gemm_n) if on_gpu else (gemm_n,):
        a, b, out = backend.random(n, n), backend.random(n, n), backend.empty(n, n)
        best_flops_per_s = max(best_flops_per_s, 2 * n**3 / backend.time(backend.matmul(a, b, out), repeats).min())
        del a, b, out
    # three arrays of this size are live at once: an eighth of RAM each at most (a 480 MiB L3
    # would otherwise ask for 3 × 7.5 GiB on a 23 GiB machine)
    default = 2 * 2**30 if on_gpu else min(max(16 * last_level_cache_bytes(), 256 * 2**20), physical_memory_bytes() // 8)
    stream_bytes = stream_bytes or default
    elements = stream_bytes // (backend.dtype_bits // 8)
    kernels = backend.stream_kernels(elements)
    rates = {name: moved / backend.time(fn, repeats).min() for name, (fn, moved) in kernels.items()}
    return Ceilings(flops_per_s=float(best_flops_per_s), bytes_per_s=float(max(rates.values())),
                    gemm_n=gemm_n, stream_bytes=int(stream_bytes),
                    kernel_bytes_per_s={k: float(v) for k, v in rates.items()})


def achieved_hardware(ceilings: Ceilings, backend, memory_bytes: float) -> Hardware:
    """A Hardware whose ceilings are the measured ones, at the backend's precision."""
    precision = {32: "fp32", 16: "fp16"}[backend.dtype_bits]
    peaks = {precision: ceilings.flops_per_s / 1e12, **({"bf16": ceilings.flops_per_s / 1e12} if precision == "fp16" else {})}
    return custom_hardware(f"{backend.device_name} (measured)", bandwidth_gb_s=ceilings.bytes_per_s / 1e9,
                           peak_tflops=peaks, memory_gb=memory_bytes / 2**30)


@dataclass
class MeasurementRun:
    """One run: metadata (device, versions, date, ceilings) and one row per measured operator."""

    metadata: dict
    rows: pd.DataFrame

    @property
    def ceilings(self) -> tuple[float, float]:
        return float(self.metadata["achieved_flops_per_s"]), float(self.metadata["achieved_bytes_per_s"])

    @property
    def roof(self) -> Roof:
        """The achieved roofline: the measured GEMM FLOP/s and streaming bandwidth."""
        return Roof(*self.ceilings)


def measure_model(model: ModelConfig | str, settings: list[tuple[str, int, int]], backend=None,
                  repeats: int = 3, ceilings: Ceilings | None = None, memory_budget_bytes: float | None = None,
                  gemm_n: int = 4096, stream_bytes: int | None = None) -> MeasurementRun:
    """Time every measured operator of ``model`` for each (phase, batch, seq_len) setting and predict it.

    Kernels run one at a time (allocate, time, free): a run's peak memory is its largest kernel's.
    A setting whose largest kernel exceeds the memory budget (a quarter of RAM, or of the GPU's
    free memory, by default) is shrunk (batch first), and its rows say so. The prediction is the
    report's counting at the backend's bit width under the measured ceilings (not the datasheet):
    the separate attention kernels against the unfused counting without the causal saving (a
    plain matmul computes the whole square), the fused kernel against the fused, causal counting.
    Without given ``ceilings`` they are measured before and after the operators, best of both.
    """
    backend = backend or NumpyBackend()
    model = load_model(model)
    measured_here = ceilings is None
    ceilings = ceilings or measure_ceilings(backend, gemm_n=gemm_n, stream_bytes=stream_bytes)
    memory = physical_memory_bytes()
    budget = memory_budget_bytes or backend.memory_budget_bytes()
    bits = backend.dtype_bits
    timings = []
    for phase, batch, seq_len in settings:
        for io in backend.attention_ios:
            work = fitted(model, _workload(bits, io, batch, seq_len), phase, budget, bits // 8)
            for kernel in plan(model, work, phase):
                if io == "fused" and kernel.kind != "sdpa":
                    continue  # everything but attention was measured with the unfused plan
                call = build(backend, kernel, causal=phase == "prefill")
                timings.append((phase, batch, seq_len, work, kernel, backend.time(call, repeats)))
                del call  # frees the kernel's tensors before the next one is allocated
    if measured_here:  # best of before and after: a transient disturbance cannot lower a ceiling
        after = measure_ceilings(backend, gemm_n=gemm_n, stream_bytes=stream_bytes)
        ceilings = Ceilings(max(ceilings.flops_per_s, after.flops_per_s), max(ceilings.bytes_per_s, after.bytes_per_s),
                            ceilings.gemm_n, ceilings.stream_bytes,
                            {k: max(v, after.kernel_bytes_per_s[k]) for k, v in ceilings.kernel_bytes_per_s.items()})
    device = achieved_hardware(ceilings, backend, memory)
    rows, predictions = [], {}
    for phase, batch, seq_len, work, kernel, times in timings:
        key = (phase, work)
        if key not in predictions:
            table = operator_table(model, device, work, phases=(phase,)).set_index("operator")
            if work.attention_io == "fused":  # the fused kernel is qk_matmul + pv_matmul (softmax counted inside)
                table.loc["attention"] = table.loc[table["group"] == "qk/pv"].sum(numeric_only=True)
                table.loc["attention", ["group", "bound"]] = ["qk/pv", "fused"]
            predictions[key] = table
        expected = predictions[key].loc[kernel.operator]
        shrunk = (work.batch, work.seq_len) != (batch, seq_len)
        rows.append({
            "phase": phase, "operator": kernel.operator, "group": expected["group"], "batch": work.batch,
            "seq_len": work.seq_len, "requested_batch": batch, "dtype": f"float{bits}", "shapes": kernel.shapes,
            "flops": float(expected["flops"]), "bytes": float(expected["bytes"]), "repeats": len(times),
            "min_s": float(times.min()), "median_s": float(np.median(times)),
            "predicted_s": float(expected["time_s"]), "ratio": float(times.min() / expected["time_s"]),
            "bound": expected["bound"],
            "note": f"shrunk from batch {batch}, length {seq_len} to fit memory" if shrunk else ""})
    metadata = {
        "device": backend.device_name, "backend": backend.name, "model": model.name,
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "python": platform.python_version(),
        "numpy": np.__version__, "pandas": pd.__version__,
        # full precision (repr round-trips exactly): the predictions were made with these very numbers
        "achieved_flops_per_s": repr(float(ceilings.flops_per_s)),
        "achieved_bytes_per_s": repr(float(ceilings.bytes_per_s)),
        "gemm": f"{ceilings.gemm_n}x{ceilings.gemm_n}x{ceilings.gemm_n}",
        "stream_bytes": str(ceilings.stream_bytes),
        "stream_kernels_bytes_per_s": ", ".join(f"{k} {v:.4g}" for k, v in ceilings.kernel_bytes_per_s.items()),
        "last_level_cache_bytes": str(last_level_cache_bytes()), "repeats": str(repeats),
        "prediction": f"report counting at {bits} bits, attention_io={'+'.join(backend.attention_ios)}, "
                      "under the achieved ceilings",
        **backend.metadata(),
    }
    return MeasurementRun(metadata, pd.DataFrame(rows, columns=CSV_COLUMNS))


def _workload(bits: int, io: str, batch: int, seq_len: int) -> Workload:
    return Workload(batch=batch, seq_len=seq_len, weight_bits=bits, act_bits=bits, kv_bits=bits,
                    attention_io=io, causal=io == "fused")


def save_run(run: MeasurementRun, path: str | Path) -> Path:
    """CSV with the metadata as leading '# key: value' lines; written atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = "".join(f"# {key}: {value}\n" for key, value in run.metadata.items())
    staging = path.with_suffix(path.suffix + ".tmp")
    staging.write_text(header + run.rows.to_csv(index=False))
    staging.replace(path)
    return path


def load_run(path: str | Path) -> MeasurementRun:
    """Read a run written by :func:`save_run` (or shipped in the package)."""
    text = Path(path).read_text()
    metadata, body = {}, []
    for line in text.splitlines(keepends=True):
        if line.startswith("# ") and ": " in line and not body:
            key, value = line[2:].rstrip("\n").split(": ", 1)
            metadata[key] = value
        else:
            body.append(line)
    rows = pd.read_csv(StringIO("".join(body)), keep_default_na=False, na_values=[])
    return MeasurementRun(metadata, rows[CSV_COLUMNS])


def shipped_runs() -> list[str]:
    """File names of the measurement runs shipped in ``roofline_utils/data/measurements``."""
    folder = resources.files("roofline_utils").joinpath("data/measurements")
    return sorted(f.name for f in folder.iterdir() if f.name.endswith(".csv")) if folder.is_dir() else []


def load_shipped(name: str) -> MeasurementRun:
    from ..errors import RooflineInputError

    if name not in shipped_runs():
        raise RooflineInputError("measurement_run", f"no shipped run {name!r}", ", ".join(shipped_runs()) or "none")
    return load_run(Path(str(resources.files("roofline_utils").joinpath("data/measurements", name))))
