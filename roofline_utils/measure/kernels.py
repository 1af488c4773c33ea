"""The kernels a measurement runs, derived from the operator list: no shape is typed here.

Each operator that carries a :class:`~roofline_utils.operators.Kernel` is measured at the
dimensions its expressions give for the setting (the same symbols as its FLOPs and bytes). The
tensors a kernel needs follow from its kind; a run allocates them for one kernel at a time,
times it and frees them, so a run's peak memory is its largest kernel's, and a setting is
shrunk (batch first, then prefill length) only when that largest kernel exceeds the budget.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from math import prod

from ..models import ModelConfig
from ..operators import operator_list, symbol_values
from ..workload import Workload


@dataclass(frozen=True)
class PlannedKernel:
    """One kernel of one setting: the operator it measures, its kind, dimensions and tensors."""

    operator: str  # "attention" for the fused kernel, which measures qk_matmul and pv_matmul together
    kind: str
    dims: dict[str, int]
    tensors: tuple[tuple[int, ...], ...]  # shapes, inputs first, the output last
    source: str = ""  # the operator list's name of the operator that carries the kernel (qk_matmul for "attention")

    @property
    def elements(self) -> int:
        return sum(prod(shape) for shape in self.tensors)

    @property
    def shapes(self) -> str:
        return " ".join("[" + "x".join(map(str, shape)) + "]" for shape in self.tensors)


def tensor_shapes(kind: str, dims: dict[str, int]) -> tuple[tuple[int, ...], ...]:
    """The tensors a kernel kind reads and writes, from its dimensions."""
    if kind == "gemm":
        m, k, n = dims["m"], dims["k"], dims["n"]
        return (m, k), (k, n), (m, n)
    if kind == "silu_mul":
        rows, cols = dims["rows"], dims["cols"]
        return (rows, cols), (rows, cols), (rows, cols)
    b, kv, g, q, d, s = (dims[name] for name in ("b", "kv_heads", "group", "q_len", "d", "s_kv"))
    # the group of query heads sharing a K/V head is folded into the rows: [g·q × d]·[d × s] per K/V
    # head reads each K and V once (broadcasting a group axis of 1 makes torch copy K and V g times)
    rows = g * q
    scores = (b, kv, rows, s)
    if kind == "qk":  # K^T laid out [d × s] per K/V head
        return (b, kv, rows, d), (b, kv, d, s), scores
    if kind == "softmax":
        return scores, scores
    if kind == "pv":
        return scores, (b, kv, s, d), (b, kv, rows, d)
    if kind == "sdpa":  # q, k, v and the output, as scaled_dot_product_attention takes them
        return (b, kv * g, q, d), (b, kv, s, d), (b, kv, s, d), (b, kv * g, q, d)
    raise ValueError(f"unknown kernel kind {kind!r}")


def plan(model: ModelConfig, workload: Workload, phase: str) -> list[PlannedKernel]:
    """Every measured kernel of one setting (a single batch and length), in execution order."""
    env = symbol_values(model, workload, phase)
    planned = []
    for op in operator_list(model, workload, phase):
        if op.kernel is None:
            continue
        dims = {name: int(round(float(expr(env)))) for name, expr in op.kernel.dims.items()}
        name = "attention" if op.kernel.kind == "sdpa" else op.name
        planned.append(PlannedKernel(name, op.kernel.kind, dims, tensor_shapes(op.kernel.kind, dims), op.name))
    return planned


def fitted(model: ModelConfig, workload: Workload, phase: str, budget_bytes: float, width: int) -> Workload:
    """The workload itself if its largest kernel fits ``budget_bytes``; else halved, batch first,
    then (prefill) the length, until it does. Nothing is shrunk that fits."""
    def largest(work: Workload) -> int:
        return width * max((k.elements for k in plan(model, work, phase)), default=0)

    while largest(workload) > budget_bytes and workload.batch > 1:
        workload = replace(workload, batch=workload.batch // 2)
    while largest(workload) > budget_bytes and workload.seq_len > 1 and phase == "prefill":
        workload = replace(workload, seq_len=workload.seq_len // 2)
    return workload


def build(backend, kernel: PlannedKernel, causal: bool):
    """Allocate the kernel's tensors on ``backend`` and return the call to time (it holds them;
    dropping the call frees them)."""
    tensors = [backend.random(*shape) for shape in kernel.tensors[:-1]] + [backend.empty(*kernel.tensors[-1])]
    if kernel.kind in ("gemm", "qk", "pv"):
        return backend.matmul(*tensors)
    if kernel.kind == "softmax":
        return backend.softmax(*tensors)
    if kernel.kind == "silu_mul":
        return backend.silu_mul(*tensors)
    return backend.attention(*tensors[:3], causal=causal)
