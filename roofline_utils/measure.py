"""Measure the machine: achieved ceilings, and the model's own operators at their real shapes.

An analytical roofline is a claim; this module tests it. It measures
  * the achievable ceilings of the device it runs on, datasheet-free: a large GEMM for FLOP/s
    and streaming read / copy / triad kernels for bandwidth, each the best of several repeats,
    with working sets far above the last-level cache;
  * the model's operators at their real shapes (projection and MLP GEMMs, GEMVs for decode,
    the attention matmuls and softmax), shrunk only when memory requires, and marked so;
and predicts each operator's time with the same counting as the report, under the achieved
ceilings. On a CPU the kernels are numpy (float32); where PyTorch with CUDA is present the
same operators run as cuBLAS GEMMs in FP16/BF16 and scaled_dot_product_attention, timed
with CUDA events. PyTorch stays optional.
"""
from __future__ import annotations

import os
import platform
from io import StringIO
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from .hardware import Hardware, custom_hardware
from .models import ModelConfig, load_model
from .roofline import operator_table
from .workload import Workload

LINEAR_OPERATORS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
CSV_COLUMNS = ["phase", "operator", "group", "batch", "seq_len", "requested_batch", "dtype", "shapes",
               "flops", "bytes", "repeats", "min_s", "median_s", "predicted_s", "ratio", "bound", "note"]


def torch_cuda_available() -> bool:
    """True when PyTorch is installed and sees a CUDA device (it is never required)."""
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def last_level_cache_bytes() -> int:
    """The largest CPU cache (Linux sysfs); 32 MiB when it cannot be read."""
    sizes = []
    for index in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*"):
        try:
            text = (index / "size").read_text().strip()
        except OSError:
            continue
        factor = {"K": 2**10, "M": 2**20, "G": 2**30}.get(text[-1], 1)
        sizes.append(int(text.rstrip("KMG")) * factor)
    return max(sizes, default=32 * 2**20)


def physical_memory_bytes() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 8 * 2**30


def best_of(fn, repeats: int, sync=lambda: None, warmup: int = 1, before=lambda: None) -> np.ndarray:
    """Wall times of ``repeats`` calls after ``warmup`` untimed ones (synchronised around each call).

    ``before`` runs untimed ahead of each timed call (the CPU backend evicts the caches there).
    """
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        before()
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return np.array(times)


class NumpyBackend:
    """float32 numpy on the CPU: BLAS GEMMs on every core, streaming kernels split over threads."""

    dtype_bits = 32
    attention_io = "unfused"  # QK^T, softmax and PV are separate passes through memory

    def __init__(self):
        self.threads = os.cpu_count() or 1
        self.name = f"numpy {np.__version__} float32 on {platform.processor() or platform.machine()} " \
                    f"({self.threads} cores)"
        self.device_name = f"CPU {platform.machine()} ({self.threads} cores)"

    def sync(self) -> None:
        pass

    def time(self, fn, repeats: int) -> np.ndarray:
        """Cold-cache times: in a forward pass the other layers' weights evict an operator's
        tensors between two calls, so each timed call starts after a pass over 2× the LLC."""
        return best_of(fn, repeats, before=self._evict)

    def _evict(self) -> None:
        if not hasattr(self, "_eviction_buffer"):
            self._eviction_buffer = np.zeros(2 * last_level_cache_bytes() // 4, dtype=np.float32)
        self._eviction_buffer += 1.0

    def random(self, *shape) -> np.ndarray:
        """Normal values, one random block repeated: the values do not change a kernel's time, and
        drawing gigabytes of fresh random numbers would take seconds per tensor."""
        block = np.random.default_rng(0).standard_normal(min(int(np.prod(shape)), 1 << 16), dtype=np.float32)
        return np.resize(block, shape)

    def empty(self, *shape) -> np.ndarray:
        return np.empty(shape, dtype=np.float32)

    def matmul(self, a, b, out):
        return lambda: np.matmul(a, b, out=out)

    def softmax(self, scores, out):
        def run():
            np.subtract(scores, scores.max(axis=-1, keepdims=True), out=out)
            np.exp(out, out=out)
            np.divide(out, out.sum(axis=-1, keepdims=True), out=out)
        return run

    def silu_mul(self, gate, up, out):
        def run():
            np.negative(gate, out=out)
            np.exp(out, out=out)
            np.add(out, 1.0, out=out)
            np.divide(gate, out, out=out)
            np.multiply(out, up, out=out)
        return run

    def stream_kernels(self, elements: int) -> dict:
        """read (sum), copy and triad over ``elements`` float32 per array, split over threads.

        Bytes follow the STREAM convention: read 4·N, copy 2·4·N, triad 3·4·N (write-allocate
        traffic is not counted, so these slightly understate the hardware's bandwidth). "gemv"
        streams the same N floats as a matrix through BLAS's multi-threaded matrix-vector product,
        the access pattern of a decode step.
        """
        elements -= elements % 4096
        a, b, c = (np.full(elements, value, dtype=np.float32) for value in (1.0, 2.0, 3.0))
        chunks = np.array_split(np.arange(elements), self.threads)
        bounds = [(int(ch[0]), int(ch[-1]) + 1) for ch in chunks if len(ch)]
        pool = ThreadPoolExecutor(self.threads)
        vector = np.ones(4096, dtype=np.float32)

        def parallel(kernel):
            return lambda: list(pool.map(lambda lo_hi: kernel(*lo_hi), bounds))

        return {
            "read": (parallel(lambda lo, hi: float(a[lo:hi].sum())), 4 * elements),
            "copy": (parallel(lambda lo, hi: np.copyto(b[lo:hi], a[lo:hi])), 2 * 4 * elements),
            "triad": (parallel(lambda lo, hi: np.add(b[lo:hi], 3.0 * c[lo:hi], out=a[lo:hi])), 3 * 4 * elements),
            "gemv": (lambda: a.reshape(-1, 4096) @ vector, 4 * elements),
        }


class TorchBackend:
    """PyTorch on a CUDA device (cuBLAS GEMMs in FP16/BF16, SDPA attention) or on the CPU."""

    attention_io = "fused"  # scaled_dot_product_attention: scores stay on chip

    def __init__(self, device: str = "cuda", dtype: str = "float16"):
        import torch

        self.torch = torch
        self.device = torch.device(device)
        self.dtype = getattr(torch, dtype)
        self.dtype_bits = torch.finfo(self.dtype).bits
        if self.device.type == "cuda":
            self.device_name = torch.cuda.get_device_name(self.device)
        else:
            self.device_name = f"CPU {platform.machine()} (torch)"
        self.name = f"torch {torch.__version__} {dtype} on {self.device_name}"
        self.threads = 1

    def sync(self) -> None:
        if self.device.type == "cuda":
            self.torch.cuda.synchronize(self.device)

    def time(self, fn, repeats: int) -> np.ndarray:
        """CUDA events around each call on the GPU (after a warm-up); wall clock on the CPU."""
        if self.device.type != "cuda":
            return best_of(fn, repeats)
        fn()
        self.sync()
        times = []
        for _ in range(repeats):
            start, end = (self.torch.cuda.Event(enable_timing=True) for _ in range(2))
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end) / 1e3)
        return np.array(times)

    def random(self, *shape):
        generator = self.torch.Generator(device=self.device).manual_seed(0)
        return self.torch.randn(shape, device=self.device, dtype=self.dtype, generator=generator)

    def empty(self, *shape):
        return self.torch.empty(shape, device=self.device, dtype=self.dtype)

    def matmul(self, a, b, out):
        return lambda: self.torch.matmul(a, b, out=out)

    def silu_mul(self, gate, up, out):
        functional = self.torch.nn.functional
        return lambda: self.torch.mul(functional.silu(gate), up, out=out)

    def attention(self, q, k, v, causal: bool):
        functional = self.torch.nn.functional
        return lambda: functional.scaled_dot_product_attention(q, k, v, is_causal=causal,
                                                               enable_gqa=q.shape[1] != k.shape[1])

    def stream_kernels(self, elements: int) -> dict:
        a, b, c = (self.random(elements) for _ in range(3))
        width = self.dtype_bits // 8
        return {"read": (lambda: a.sum(), width * elements),
                "copy": (lambda: b.copy_(a), 2 * width * elements),
                "triad": (lambda: self.torch.add(b, c, alpha=3.0, out=a), 3 * width * elements)}


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

    The stream working set defaults to 16× the last-level cache (at least 256 MiB, at most an
    eighth of RAM per array) so the caches cannot serve it; the bandwidth ceiling is the best of read, copy and triad.
    """
    a, b, out = backend.random(gemm_n, gemm_n), backend.random(gemm_n, gemm_n), backend.empty(gemm_n, gemm_n)
    gemm_s = backend.time(backend.matmul(a, b, out), repeats).min()
    # three arrays of this size are live at once: an eighth of RAM each at most (a 480 MiB L3
    # would otherwise ask for 3 × 7.5 GiB on a 23 GiB machine)
    stream_bytes = stream_bytes or min(max(16 * last_level_cache_bytes(), 256 * 2**20), physical_memory_bytes() // 8)
    elements = stream_bytes // (backend.dtype_bits // 8)
    kernels = backend.stream_kernels(elements)
    rates = {name: moved / backend.time(fn, repeats).min() for name, (fn, moved) in kernels.items()}
    return Ceilings(flops_per_s=float(2 * gemm_n**3 / gemm_s), bytes_per_s=float(max(rates.values())),
                    gemm_n=gemm_n, stream_bytes=int(stream_bytes),
                    kernel_bytes_per_s={k: float(v) for k, v in rates.items()})


def achieved_hardware(ceilings: Ceilings, backend, memory_bytes: float) -> Hardware:
    """A Hardware whose ceilings are the measured ones, at the backend's precision."""
    precision = {32: "fp32", 16: "fp16"}[backend.dtype_bits]
    peaks = {precision: ceilings.flops_per_s / 1e12, **({"bf16": ceilings.flops_per_s / 1e12} if precision == "fp16" else {})}
    return custom_hardware(f"{backend.device_name} (measured)", bandwidth_gb_s=ceilings.bytes_per_s / 1e9,
                           peak_tflops=peaks, memory_gb=memory_bytes / 2**30)


def _kernels(backend, model: ModelConfig, phase: str, batch: int, seq_len: int) -> dict:
    """name -> (callable, shapes text, bytes allocated) for every measured operator of one setting."""
    h, inter, d = model.hidden_size, model.intermediate_size, model.head_dim
    heads, kv_heads = model.num_attention_heads, model.num_key_value_heads
    group = heads // kv_heads
    q_len = seq_len if phase == "prefill" else 1
    tokens = batch * q_len
    width = backend.dtype_bits // 8
    kernels = {}
    for name, n_in, n_out in (("q_proj", h, heads * d), ("k_proj", h, kv_heads * d), ("v_proj", h, kv_heads * d),
                              ("o_proj", heads * d, h), ("gate_proj", h, inter), ("up_proj", h, inter),
                              ("down_proj", inter, h)):
        x, w, y = backend.random(tokens, n_in), backend.random(n_in, n_out), backend.empty(tokens, n_out)
        kernels[name] = (backend.matmul(x, w, y), f"[{tokens}x{n_in}]@[{n_in}x{n_out}]",
                         width * (tokens * n_in + n_in * n_out + tokens * n_out))
    gate, up, act = backend.random(tokens, inter), backend.random(tokens, inter), backend.empty(tokens, inter)
    kernels["act_mul"] = (backend.silu_mul(gate, up, act), f"silu([{tokens}x{inter}])*[{tokens}x{inter}]",
                          3 * width * tokens * inter)
    if backend.attention_io == "fused":
        q = backend.random(batch, heads, q_len, d)
        k, v = backend.random(batch, kv_heads, seq_len, d), backend.random(batch, kv_heads, seq_len, d)
        kernels["attention"] = (backend.attention(q, k, v, causal=phase == "prefill"),
                                f"sdpa q[{batch},{heads},{q_len},{d}] kv[{batch},{kv_heads},{seq_len},{d}]",
                                width * (2 * batch * heads * q_len * d + 2 * batch * kv_heads * seq_len * d))
        return kernels
    q = backend.random(batch, kv_heads, group, q_len, d)
    k_t = backend.random(batch, kv_heads, 1, d, seq_len)
    v = backend.random(batch, kv_heads, 1, seq_len, d)
    scores = backend.empty(batch, kv_heads, group, q_len, seq_len)
    probs = backend.empty(batch, kv_heads, group, q_len, seq_len)
    out = backend.empty(batch, kv_heads, group, q_len, d)
    score_bytes = width * batch * heads * q_len * seq_len
    kernels["qk_matmul"] = (backend.matmul(q, k_t, scores), f"[{batch},{heads},{q_len},{d}]@K^T[{seq_len}]",
                            score_bytes + width * batch * (heads * q_len + kv_heads * seq_len) * d)
    kernels["softmax"] = (backend.softmax(scores, probs), f"softmax [{batch},{heads},{q_len},{seq_len}]",
                          2 * score_bytes)
    kernels["pv_matmul"] = (backend.matmul(probs, v, out), f"P[{q_len}x{seq_len}]@V[{seq_len}x{d}]",
                            score_bytes + width * batch * (heads * q_len + kv_heads * seq_len) * d)
    return kernels


def _fitted(model: ModelConfig, phase: str, batch: int, seq_len: int, budget_bytes: float, width: int) -> tuple[int, int]:
    """Halve the batch (then the length) until the largest operator's tensors fit ``budget_bytes``."""
    def largest(b, s):
        q_len = s if phase == "prefill" else 1
        tokens = b * q_len
        linear = tokens * model.hidden_size + model.hidden_size * model.intermediate_size + tokens * model.intermediate_size
        scores = 2 * b * model.num_attention_heads * q_len * s
        kv = 2 * b * s * model.kv_dim
        return width * max(linear, 3 * tokens * model.intermediate_size, scores + kv)

    while largest(batch, seq_len) > budget_bytes and batch > 1:
        batch //= 2
    while largest(batch, seq_len) > budget_bytes and seq_len > 1 and phase == "prefill":
        seq_len //= 2
    return batch, seq_len


@dataclass
class MeasurementRun:
    """One run: metadata (device, versions, date, ceilings) and one row per measured operator."""

    metadata: dict
    rows: pd.DataFrame

    @property
    def ceilings(self) -> tuple[float, float]:
        return float(self.metadata["achieved_flops_per_s"]), float(self.metadata["achieved_bytes_per_s"])


def measure_model(model: ModelConfig | str, settings: list[tuple[str, int, int]], backend=None,
                  repeats: int = 3, ceilings: Ceilings | None = None, memory_budget_bytes: float | None = None,
                  gemm_n: int = 4096, stream_bytes: int | None = None) -> MeasurementRun:
    """Time every operator of ``model`` for each (phase, batch, seq_len) setting and predict it.

    The prediction is the report's counting at the backend's bit width, under the measured
    ceilings (not the datasheet): causal=False for the unfused numpy path (a plain matmul
    computes the whole square), causal prefill for SDPA. A setting whose tensors exceed the
    memory budget (a quarter of RAM by default) is shrunk (batch first), and the row says so.
    Without given ``ceilings`` they are measured before and after the operators, best of both.
    """
    backend = backend or NumpyBackend()
    model = load_model(model)
    measured_here = ceilings is None
    ceilings = ceilings or measure_ceilings(backend, gemm_n=gemm_n, stream_bytes=stream_bytes)
    memory = physical_memory_bytes()
    budget = memory_budget_bytes or memory / 4
    if getattr(backend, "device", None) is not None and backend.device.type == "cuda":
        budget = memory_budget_bytes or backend.torch.cuda.mem_get_info(backend.device)[0] / 4
    bits = backend.dtype_bits
    timings = []
    for phase, batch, seq_len in settings:
        run_batch, run_len = _fitted(model, phase, batch, seq_len, budget, bits // 8)
        for name, (fn, shapes, _) in _kernels(backend, model, phase, run_batch, run_len).items():
            timings.append((phase, batch, seq_len, run_batch, run_len, name, shapes, backend.time(fn, repeats)))
    if measured_here:  # best of before and after: a transient disturbance cannot lower a ceiling
        after = measure_ceilings(backend, gemm_n=gemm_n, stream_bytes=stream_bytes)
        ceilings = Ceilings(max(ceilings.flops_per_s, after.flops_per_s), max(ceilings.bytes_per_s, after.bytes_per_s),
                            ceilings.gemm_n, ceilings.stream_bytes,
                            {k: max(v, after.kernel_bytes_per_s[k]) for k, v in ceilings.kernel_bytes_per_s.items()})
    device = achieved_hardware(ceilings, backend, memory)
    rows, predictions = [], {}
    for phase, batch, seq_len, run_batch, run_len, name, shapes, times in timings:
        key = (phase, run_batch, run_len)
        if key not in predictions:
            work = Workload(batch=run_batch, seq_len=run_len, weight_bits=bits, act_bits=bits, kv_bits=bits,
                            attention_io=backend.attention_io, causal=backend.attention_io == "fused")
            table = operator_table(model, device, work, phases=(phase,)).set_index("operator")
            # the fused SDPA kernel is qk_matmul + pv_matmul (the fused softmax is counted in qk_matmul)
            parts = table.index.isin(["qk_matmul", "softmax", "pv_matmul"])
            table.loc["attention"] = table.loc[parts].sum(numeric_only=True)
            table.loc["attention", ["group", "bound"]] = ["qk/pv", "fused"]
            predictions[key] = table
        expected = predictions[key].loc[name]
        rows.append({
            "phase": phase, "operator": name, "group": expected["group"], "batch": run_batch,
            "seq_len": run_len, "requested_batch": batch, "dtype": f"float{bits}", "shapes": shapes,
            "flops": float(expected["flops"]), "bytes": float(expected["bytes"]), "repeats": repeats,
            "min_s": float(times.min()), "median_s": float(np.median(times)),
            "predicted_s": float(expected["time_s"]), "ratio": float(times.min() / expected["time_s"]),
            "bound": expected["bound"],
            "note": "" if (run_batch, run_len) == (batch, seq_len) else
            f"shrunk from batch {batch}, length {seq_len} to fit memory"})
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
        "prediction": f"report counting at {bits} bits, attention_io={backend.attention_io}, under the achieved ceilings",
    }
    if hasattr(backend, "torch"):
        metadata["torch"] = backend.torch.__version__
    return MeasurementRun(metadata, pd.DataFrame(rows, columns=CSV_COLUMNS))


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
    from .errors import RooflineInputError

    if name not in shipped_runs():
        raise RooflineInputError("measurement_run", f"no shipped run {name!r}", ", ".join(shipped_runs()) or "none")
    return load_run(Path(str(resources.files("roofline_utils").joinpath("data/measurements", name))))
