"""Where and how operators are timed: one small interface, a numpy (CPU) and a PyTorch backend.

A backend allocates tensors, builds a callable for each kernel kind and times it. Everything
else (which kernels, at which shapes, what they should cost) comes from the operator list.
"""
from __future__ import annotations

import os
import platform
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Protocol

import numpy as np


class Backend(Protocol):
    """What the measurement needs from a device."""

    name: str
    device_name: str
    dtype_bits: int
    threads: int
    attention_ios: tuple[str, ...]  # "unfused": QK^T, softmax, PV apart; "fused": one attention kernel

    def memory_budget_bytes(self) -> float: ...
    def metadata(self) -> dict[str, str]: ...
    def sync(self) -> None: ...
    def time(self, fn: Callable[[], object], repeats: int) -> np.ndarray: ...
    def random(self, *shape): ...
    def empty(self, *shape): ...
    def matmul(self, a, b, out) -> Callable[[], object]: ...
    def softmax(self, scores, out) -> Callable[[], object]: ...
    def silu_mul(self, gate, up, out) -> Callable[[], object]: ...
    def stream_kernels(self, elements: int) -> dict: ...
    def attention(self, q, k, v, causal: bool) -> Callable[[], object]: ...


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


def evict_cpu_caches() -> None:
    """A write over twice the last-level cache: the next timed call starts with cold caches."""
    global _EVICTION_BUFFER
    if _EVICTION_BUFFER is None:
        _EVICTION_BUFFER = np.zeros(2 * last_level_cache_bytes() // 4, dtype=np.float32)
    _EVICTION_BUFFER += 1.0


_EVICTION_BUFFER = None


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
    on_gpu = False
    attention_ios = ("unfused",)  # QK^T, softmax and PV as separate passes through memory; no fused kernel

    def __init__(self):
        self.threads = os.cpu_count() or 1
        self.name = f"numpy {np.__version__} float32 on {platform.processor() or platform.machine()} " \
                    f"({self.threads} cores)"
        self.device_name = f"CPU {platform.machine()} ({self.threads} cores)"

    def sync(self) -> None:
        pass

    def memory_budget_bytes(self) -> float:
        """A quarter of RAM: the largest kernel of a setting must fit it."""
        return physical_memory_bytes() / 4

    def metadata(self) -> dict[str, str]:
        return {}

    def time(self, fn, repeats: int) -> np.ndarray:
        """Cold-cache times: in a forward pass the other layers' weights evict an operator's
        tensors between two calls, so each timed call starts after a pass over 2× the LLC."""
        return best_of(fn, repeats, before=evict_cpu_caches)

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

    attention_ios = ("unfused", "fused")  # the paper's separate matmuls, and scaled_dot_product_attention
    min_repeats = 10
    launch_bound_s = 50e-6  # below this a single call's time is mostly launch overhead

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
        self.on_gpu = self.device.type == "cuda"

    def sync(self) -> None:
        if self.device.type == "cuda":
            self.torch.cuda.synchronize(self.device)

    def memory_budget_bytes(self) -> float:
        """A quarter of the GPU's free memory (of RAM on the CPU)."""
        if self.device.type == "cuda":
            return self.torch.cuda.mem_get_info(self.device)[0] / 4
        return physical_memory_bytes() / 4

    def metadata(self) -> dict[str, str]:
        """GPU, clocks, driver, torch and CUDA versions: what a GPU run must say about itself."""
        info = {"torch": self.torch.__version__, "dtype": str(self.dtype).removeprefix("torch.")}
        if self.device.type != "cuda":
            return info
        props = self.torch.cuda.get_device_properties(self.device)
        info.update({"gpu": props.name, "gpu_memory_bytes": str(props.total_memory),
                     "l2_bytes": str(self._l2_bytes()), "multiprocessors": str(props.multi_processor_count),
                     "cuda": str(self.torch.version.cuda)})
        for key, read in (("sm_clock_mhz", lambda: self.torch.cuda.clock_rate(self.device)),
                          ("driver", lambda: __import__("pynvml").nvmlSystemGetDriverVersion())):
            try:
                info[key] = str(read())
            except Exception:  # noqa: BLE001 - optional: pynvml may be missing or the call unsupported
                info[key] = "unknown"
        return info

    def _l2_bytes(self) -> int:
        return int(getattr(self.torch.cuda.get_device_properties(self.device), "L2_cache_size", 50 * 2**20))

    def time(self, fn, repeats: int) -> np.ndarray:
        """Cold times on the GPU: before each of at least ten timed calls, a write over twice the L2
        (sized from the device) evicts it, outside the CUDA events that time the call. A kernel
        faster than ``launch_bound_s`` is timed instead as 100 back-to-back calls between two events
        (per call, L2 warm), so launch overhead is amortised as in a real forward pass. Wall
        clock on the CPU, caches evicted as for numpy."""
        repeats = max(repeats, self.min_repeats)
        if self.device.type != "cuda":
            return best_of(fn, repeats, before=evict_cpu_caches)
        if not hasattr(self, "_flush"):
            self._flush = self.torch.empty(2 * self._l2_bytes(), dtype=self.torch.uint8, device=self.device)
        event = lambda: self.torch.cuda.Event(enable_timing=True)  # noqa: E731
        fn()
        self.sync()
        times = []
        for _ in range(repeats):
            self._flush.fill_(1)
            start, end = event(), event()
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end) / 1e3)
        if np.median(times) >= self.launch_bound_s:
            return np.array(times)
        batched = []
        for _ in range(repeats):
            start, end = event(), event()
            start.record()
            for _ in range(100):
                fn()
            end.record()
            end.synchronize()
            batched.append(start.elapsed_time(end) / 1e3 / 100)
        return np.array(batched)

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

    def softmax(self, scores, out):
        return lambda: self.torch.softmax(scores, -1, out=out)

    def attention(self, q, k, v, causal: bool):
        """Fused attention; q is [b, heads, q_len, d], k and v [b, kv_heads, s, d] (GQA when fewer)."""
        functional = self.torch.nn.functional
        gqa = {"enable_gqa": True} if q.shape[1] != k.shape[1] else {}  # the flag needs torch >= 2.5
        return lambda: functional.scaled_dot_product_attention(q, k, v, is_causal=causal, **gqa)

    def stream_kernels(self, elements: int) -> dict:
        a, b, c = (self.random(elements) for _ in range(3))
        width = self.dtype_bits // 8
        return {"read": (lambda: a.sum(), width * elements),
                "copy": (lambda: b.copy_(a), 2 * width * elements),
                "triad": (lambda: self.torch.add(b, c, alpha=3.0, out=a), 3 * width * elements)}


