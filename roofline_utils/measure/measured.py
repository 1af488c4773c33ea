"""The report's operators timed by measured GPU kernels: per operator, per setting, end to end.

The kernels come from the operator list (:func:`.kernels.plan`: each operator's ``Kernel`` evaluated
at the setting), never from a second copy of the shapes. A GEMM operator takes the GEMM table's time
for its [m × k]·[k × n]; fused attention (the workload's ``attention_io="fused"``, what servers run)
takes the attention table's time for the whole kernel, which the fused counting splits over
``qk_matmul`` (with the softmax) and ``pv_matmul``: the measured time sits on ``qk_matmul`` and
``pv_matmul`` gets 0 from the same kernel, so sums over operators count it once. Everything else
(norms, RoPE, SwiGLU, residual adds, the embedding gather, experts, all-reduce) has no table here
and keeps its roofline time where a total needs one; the report says which.

Only the 16-bit case is measured (the tables read are bf16 with a bf16 KV cache); sliding-window
attention and speculative verify steps are not in them either.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from ..hardware import Hardware
from ..models import ModelConfig
from ..operators import ATTN, PHASES, operator_list
from ..roofline import operator_table, roofline
from ..workload import Workload
from .kernels import plan
from .lookup import KernelTime, KernelTimes


def uncovered_reason(model: ModelConfig, workload: Workload) -> str | None:
    """Why no measured kernel applies to this model and workload at all (None: some do)."""
    if (workload.weight_bits, workload.act_bits, workload.kv_bits) != (16, 16, 16):
        return "the measured tables are 16-bit (bf16 weights, activations and KV cache)"
    if workload.compute_precision not in (None, "bf16", "fp16"):
        return f"the measured tables are bf16, not {workload.compute_precision}"
    return None


def operator_times(model: ModelConfig, workload: Workload, phase: str, times: KernelTimes) -> dict[str, KernelTime]:
    """Operator name -> measured time, for the operators of one setting that a measured kernel covers."""
    if phase not in PHASES or uncovered_reason(model, workload):
        return {}
    found = {}
    for kernel in plan(model, workload, phase):
        dims = kernel.dims
        if kernel.kind == "gemm":
            time = times.gemm(dims["m"], dims["n"], dims["k"])
        elif kernel.kind == "sdpa" and model.sliding_window is None:
            time = times.attention(phase, dims["b"], dims["kv_heads"] * dims["group"], dims["kv_heads"], dims["d"],
                                   dims["s_kv"])
        else:
            continue
        if time is not None:
            found[kernel.source] = time
    return found


def _fused_partner(name: str) -> str:
    return name.replace("pv_matmul", "qk_matmul")


def measured_columns(model: ModelConfig, workload: Workload, phases: tuple[str, ...], times: KernelTimes
                     ) -> dict[str, np.ndarray]:
    """``measured_s`` and ``measured_from`` for the rows of ``operator_columns`` (same phases, same order):
    seconds per occurrence and "grid", "interpolated" or "extrapolated"; '' where nothing measured applies."""
    seconds, sources = [], []
    for phase in phases:
        found = operator_times(model, workload, phase, times)
        for op in operator_list(model, workload, phase):
            partner = found.get(_fused_partner(op.name)) if op.name.endswith("pv_matmul") else None
            if op.name in found:
                seconds.append(found[op.name].seconds)
                sources.append(found[op.name].source)
            elif partner is not None and workload.attention_io == "fused":
                seconds.append(0.0)  # the fused kernel's time is on qk_matmul
                sources.append(partner.source)
            else:
                seconds.append("")
                sources.append("")
    return {"measured_s": np.array(seconds, dtype=object), "measured_from": np.array(sources, dtype=object)}


@dataclass(frozen=True)
class PhaseTime:
    """One phase's time two ways: every operator at its roofline, and measured where a kernel covers it."""

    bound_s: float
    measured_s: float  # measured kernels where covered, the roofline time for the rest
    covered_bound_s: float  # the roofline time of the covered operators (the rest is bound in both)
    uncovered: tuple[str, ...]  # operators kept at their roofline time
    outside_grid: tuple[str, ...] = ()  # of them, those with a kernel table whose grid does not reach their shape


def phase_time(model: ModelConfig, hardware: Hardware, workload: Workload, phase: str, times: KernelTimes) -> PhaseTime:
    """Σ count × time over the operators: roofline time, and measured time where a kernel covers it."""
    table = operator_table(model, hardware, workload, phase)
    measured = measured_columns(model, workload, (phase,), times)["measured_s"]
    covered = np.array([value != "" for value in measured])
    bound = (table["count"] * table["time_s"]).to_numpy()
    mixed = np.where(covered, [float(v) if v != "" else 0.0 for v in measured], table["time_s"]) * table["count"]
    uncovered = tuple(table.loc[~covered, "operator"])
    tabled = set()  # operators whose kernel kind the tables hold (GEMMs; global fused attention, both halves)
    if not uncovered_reason(model, workload):
        for kernel in plan(model, workload, phase):
            if kernel.kind == "gemm" or (kernel.kind == "sdpa" and model.sliding_window is None):
                tabled |= {kernel.source, kernel.source.replace("qk_matmul", "pv_matmul")}
    return PhaseTime(float(bound.sum()), float(mixed.sum()), float(bound[covered].sum()), uncovered,
                     tuple(name for name in uncovered if name in tabled))


@dataclass(frozen=True)
class MeasuredEndToEnd:
    """Time to first token and mean time per output token, at the roofline and from measured kernels."""

    ttft: PhaseTime
    tpot_bound_s: float
    tpot_measured_s: float
    decode: PhaseTime  # the middle decode step, for which operators are covered


def end_to_end(model: ModelConfig, hardware: Hardware, workload: Workload, prompt_len: int, output_len: int,
               times: KernelTimes) -> MeasuredEndToEnd:
    """Prefill of ``prompt_len`` tokens, then ``output_len - 1`` decode steps attending to prompt_len + j
    positions (as :func:`roofline_utils.e2e.end_to_end`); fused attention, as servers run it."""
    work = replace(workload, attention_io="fused")
    ttft = phase_time(model, hardware, replace(work, seq_len=prompt_len), "prefill", times)
    steps = [phase_time(model, hardware, replace(work, seq_len=prompt_len + j), "decode", times)
             for j in range(1, max(output_len, 2))]
    return MeasuredEndToEnd(ttft, float(np.mean([s.bound_s for s in steps])), float(np.mean([s.measured_s for s in steps])),
                            steps[len(steps) // 2])


def measured_rows(model: ModelConfig, hardware: Hardware, settings: list[tuple[str, int, int]], times: KernelTimes
                  ) -> pd.DataFrame:
    """One row per covered operator and setting (``runs.CSV_COLUMNS``): the measured kernel against the
    report's counting under the catalog's figures (16-bit, fused attention). The fused kernel is one
    row, ``attention`` (qk_matmul and pv_matmul together), as a fused measurement of this machine is."""
    from .runs import CSV_COLUMNS

    rows = []
    for phase, batch, seq_len in settings:
        work = Workload(batch=batch, seq_len=seq_len, attention_io="fused")
        found = operator_times(model, work, phase, times)
        table = operator_table(model, hardware, work, phase).set_index("operator")
        for name, time in found.items():
            if table.loc[name, "group"] == ATTN:
                expected = table.loc[[name, name.replace("qk_matmul", "pv_matmul")]].sum(numeric_only=True)
                operator, group, bound = "attention", ATTN, "fused"
            else:
                expected, operator, group, bound = table.loc[name], name, table.loc[name, "group"], table.loc[name, "bound"]
            rows.append({"phase": phase, "operator": operator, "group": group, "batch": batch, "seq_len": seq_len,
                         "requested_batch": batch, "dtype": "bf16", "shapes": time.shape,
                         "flops": float(expected["flops"]), "bytes": float(expected["bytes"]), "repeats": 0,
                         "min_s": time.seconds, "median_s": time.seconds, "predicted_s": float(expected["time_s"]),
                         "ratio": time.seconds / float(expected["time_s"]), "bound": bound, "note": time.source})
    return pd.DataFrame(rows, columns=CSV_COLUMNS)


# --- the bound against every kernel of a table -------------------------------------------------------

WELL_ABOVE_L2 = 4  # a working set at least this many times the L2 cannot be served from it
UNKNOWN_L2_BYTES = 256 * 2**20  # where the catalog gives no L2: above any listed GPU's (the largest is 126 MiB)
TIMER_RESOLUTION_S = 1e-6  # CUDA events resolve about 0.5 us; a collector's median of a few calls is good to ~1 us
CLOCK_MARGIN = 0.02  # datasheet roofs are at the boost clock; a timing's run-to-run spread is a percent or two


# Tables in which kernels with working sets far above the L2 run faster than the datasheet bandwidth allows
# (benchmarks/kernel_interpolation.py --framework finds them): a finding about the collection, not the bound.
SUSPECT_TABLES = {
    ("a100-80gb-sxm", "trtllm", "decode_attention"):
        "TensorRT-LLM 1.0.0's decode attention on the A100 (kernel source torch_flow) would need up to 3.5 TB/s "
        "from a 2.0 TB/s memory (323 kernels, down to 0.59 of the bound); its time stops growing with batch × "
        "length near 1.25 ms, so the kernel cannot have read a KV cache of that size: the collector's KV pool is "
        "smaller than batch × length and its blocks repeat (served from the L2), a property of the collection",
    ("h100-sxm", "sglang", "decode_attention"):
        "SGLang 0.5.14's decode attention on the H100 with one K/V head at 2-4 million cached positions runs at up "
        "to 1.07× the datasheet bandwidth (21 kernels, down to 0.94 of the bound): the same flattening at the "
        "largest batch × length, so repeated KV blocks again, not a counting error",
}


def kernel_costs(rows: pd.DataFrame) -> pd.DataFrame:
    """FLOPs and bytes of each table kernel, counted as the operator list counts them (16-bit elements):
    GEMM 2·m·n·k FLOPs, (m·k + k·n + m·n)·2 bytes; fused attention 4·d·scores + 5·scores FLOPs (QK^T, PV and
    the softmax) with scores b·H·s·(s+1)/2 causal in prefill and b·H·L in decode, and Q, K, V read and the
    output written once: (2·T·H·d + 2·b·L·Hkv·d)·2 bytes with T = b·s (prefill) or b (decode)."""
    m, n, k = (rows[c].astype(float) for c in ("m", "n", "k"))
    b, s, heads, kv, d = (rows[c].astype(float) for c in ("batch", "length", "heads", "kv_heads", "head_dim"))
    gemm = rows["kind"] == "gemm"
    prefill = rows["kind"] == "prefill_attention"
    scores = np.where(prefill, b * heads * s * (s + 1) / 2, b * heads * s)
    tokens = np.where(prefill, b * s, b)
    flops = np.where(gemm, 2 * m * n * k, 4 * d * scores + 5 * scores)
    bytes_ = np.where(gemm, 2 * (m * k + k * n + m * n), 2 * (2 * tokens * heads * d + 2 * b * s * kv * d))
    return pd.DataFrame({"flops": flops, "bytes": bytes_}, index=rows.index)


def bound_check(rows: pd.DataFrame, hardware: Hardware) -> pd.DataFrame:
    """Each kernel's measured time against its roofline time under the catalog's bf16 peak and bandwidth.

    ratio = measured / bound; ``checked``: the working set (every tensor the kernel reads or writes) is
    at least WELL_ABOVE_L2 times the L2, so the L2 cannot hold it; ``tolerance``: the ratio below which a
    checked kernel breaks the bound, 1 − CLOCK_MARGIN − TIMER_RESOLUTION_S / bound time (timing noise
    and the clock, never more). ``below``: checked and under the tolerance.
    """
    costs = kernel_costs(rows)
    point = roofline(costs["flops"], costs["bytes"], np.zeros(len(rows)), hardware.peak("bf16"),
                     hardware.bandwidth_bytes_per_s)
    measured_s = rows["latency_ms"].to_numpy(dtype=float) / 1e3
    l2 = hardware.l2_bytes or UNKNOWN_L2_BYTES
    tolerance = 1 - CLOCK_MARGIN - TIMER_RESOLUTION_S / point["time_s"]
    checked = costs["bytes"].to_numpy() >= WELL_ABOVE_L2 * l2
    ratio = measured_s / point["time_s"]
    return rows.assign(flops=costs["flops"], bytes=costs["bytes"], bound_s=point["time_s"], bound=point["bound"],
                       measured_s=measured_s, ratio=ratio, checked=checked, tolerance=tolerance,
                       below=checked & (ratio < tolerance), fits_l2=costs["bytes"].to_numpy() <= l2)


# --- the end to end, in words ------------------------------------------------------------------------

def _covered_share(phase: PhaseTime) -> str:
    """The share of a phase's bound the measured kernels time, as a percentage that never rounds to 0 or 100
    when it is neither."""
    share = phase.covered_bound_s / phase.bound_s if phase.bound_s else 0.0
    if 0.995 <= share < 1:
        return "over 99%"
    if 0 < share < 0.005:
        return "under 1%"
    return f"{share:.0%}"


def end_to_end_sentences(e2e: MeasuredEndToEnd, gpu: str, batch: int, prompt_len: int, output_len: int,
                         reason: str | None = None) -> list[str]:
    """'At least X by the roofline; Y from NVIDIA's measured kernels', for the first token and each next
    one, and which operators keep their roofline time. ``reason``: why no measured kernel applies."""
    from ..units import seconds

    def pair(name: str, bound: float, measured: float) -> str:
        ratio = measured / bound if bound else float("nan")
        side = "" if measured >= bound else ", below the bound: kernels served from the L2 beat the HBM roof"
        return (f"{name} at least {seconds(bound)} by the roofline; {seconds(measured)} from NVIDIA's measured "
                f"kernels ({ratio:.2f}× the bound{side})")

    setting = (f"On the {gpu}, batch {batch}, a {prompt_len:,}-token prompt and {output_len:,} output "
               f"token{'s' if output_len != 1 else ''}")
    if reason is not None:
        return [f"{setting}: no measured kernel applies, as {reason}; the roofline bound stands alone."]
    parts = [pair("time to first token", e2e.ttft.bound_s, e2e.ttft.measured_s)]
    if output_len > 1:
        parts.append(pair("time per output token", e2e.tpot_bound_s, e2e.tpot_measured_s))
    phases = {"prefill": e2e.ttft, "decode": e2e.decode} if output_len > 1 else {"prefill": e2e.ttft}
    shares = [f"{_covered_share(e2e.ttft)} of the prefill's bound"]
    if output_len > 1:
        shares.append(f"{_covered_share(e2e.decode)} of a decode step's")
    coverage = "Measured kernels time " + " and ".join(shares)

    def rest_of(phase) -> list[str]:
        outside = list(dict.fromkeys(phase.outside_grid))
        untabled = [name for name in dict.fromkeys(phase.uncovered) if name not in outside]
        rest = []
        if outside:
            rest.append(f"{', '.join(outside)} {'lies' if len(outside) == 1 else 'lie'} outside the measured grid "
                        "(a shape the tables do not reach)")
        if untabled:
            rest.append(f"{', '.join(untabled)} {'has' if len(untabled) == 1 else 'have'} no kernel table")
        return rest

    # each phase's own list: an operator measured in decode but not in prefill is named for prefill only
    by_phase = {name: rest_of(phase) for name, phase in phases.items()}
    lists = list(by_phase.values())
    if not any(lists):
        tail = "; every operator is measured"
    elif all(rest == lists[0] for rest in lists):
        tail = "; " + "; ".join(lists[0]) + (": these keep their roofline time in both phases" if len(lists) > 1
                                             else ": these keep their roofline time")
    else:
        tail = "".join(f"; in {name}, " + "; ".join(rest) for name, rest in by_phase.items() if rest) + \
            ": these keep their roofline time there"
    return [f"{setting}: " + "; ".join(parts) + ".", coverage + tail + "."]
