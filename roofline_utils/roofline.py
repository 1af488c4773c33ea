"""Attainable performance, bound and time for every operator; totals per phase.

attainable FLOP/s = min(peak, intensity × bandwidth), intensity = FLOPs / bytes moved.
time = max(FLOPs / peak, bytes / bandwidth, link bytes / link bandwidth): the operator
can go no faster than its slowest resource.

An operator that moves nothing through memory but does cross the link (the tensor-parallel
all-reduce) is taken against the traffic that bounds it: intensity = FLOPs / link bytes,
attainable = min(peak, intensity × link bandwidth), bound "link". Every operator moves bytes
through one or the other (a fused softmax is counted inside its attention kernel), so every
number in the tables is finite and non-negative. Every number here is an upper bound on
performance (a lower bound on time): real kernels reach a fraction of each ceiling.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pandas loads only when a DataFrame is asked for: `roofline table --format csv` never is
    import pandas as pd

from .errors import RooflineInputError
from .hardware import PRECISION_BITS, Hardware, Roof, get_hardware
from .models import ModelConfig, load_model
from .engine import TOTALS, phase_function
from .operators import QUANTISED, MEMORY_TRAFFIC, PHASES, TRAFFIC_BITS, check_phases, operator_costs, symbol_values
from .workload import Workload, check_compute_precision, check_workload, compute_precision, element_bytes, is_number

BYTE_COLUMNS = [f"{kind}_bytes" for kind in TRAFFIC_BITS]
TABLE_COLUMNS = ["phase", "operator", "group", "count", "batch", "seq_len", "flops", "flops_full_square",
                 *BYTE_COLUMNS, "bytes", "intensity", "attainable_flops_per_s", "bound", "time_s", "peak_flops_per_s"]


def peak_flops(hardware: Hardware, workload: Workload) -> np.ndarray:
    """The linear layers' compute roof (FLOP/s): ``compute_precision``, or the one the bit widths imply,
    broadcast over the workload's grid. A float for single bit widths, an array when they vary."""
    if workload.compute_precision is not None:
        check_compute_precision(hardware, workload)
        return hardware.peak(workload.compute_precision)
    if is_number(workload.weight_bits) and is_number(workload.act_bits):
        return hardware.peak(compute_precision(hardware, int(workload.weight_bits), int(workload.act_bits)))
    weight_bits, act_bits = np.broadcast_arrays(np.asarray(workload.weight_bits), np.asarray(workload.act_bits))
    widest = np.maximum(weight_bits, act_bits)  # the roof depends on the wider operand only
    peaks = np.empty(widest.shape)
    for bits in np.unique(widest):  # at most the four bit widths: one mask each, not a loop over the grid
        where = widest == bits
        first = np.flatnonzero(where)[0]  # a real (weight, act) pair for the error message
        peaks[where] = hardware.peak(compute_precision(hardware, int(weight_bits.flat[first]),
                                                       int(act_bits.flat[first])))
    return peaks


def full_peak_flops(hardware: Hardware, workload: Workload) -> np.ndarray:
    """The compute roof of the operators kept at 16 bits or more (norms, attention, the head unless
    quantised: operators.WIDTHS): the roof their widths, max(bits, 16), imply, or a 16-bit-or-wider
    ``compute_precision``; with ``quantize_stream`` the linear layers' roof. A float, or an array when
    the bit widths vary over the grid (16-bit and 32-bit operands are its only two cases)."""
    explicit = workload.compute_precision
    if workload.quantize_stream or (explicit is not None and PRECISION_BITS[explicit] >= 16):
        return peak_flops(hardware, workload)
    single = is_number(workload.weight_bits) and is_number(workload.act_bits)
    widths = ((32 if max(workload.weight_bits, workload.act_bits) == 32 else 16,) if single else (16, 32))
    try:
        peaks = {bits: hardware.peak(compute_precision(hardware, bits, bits)) for bits in widths}
    except RooflineInputError:  # a device with no 16-bit path (an INT8-only accelerator) runs them at its own
        return peak_flops(hardware, workload)
    if single:
        return peaks[widths[0]]
    return np.where(np.maximum(workload.weight_bits, workload.act_bits) == 32, peaks[32], peaks[16])


def link_latency_s(hardware: Hardware, workload: Workload) -> float:
    """The latency of one ring all-reduce over ``tp`` devices: 2·(p−1) steps, each a hop of the
    device's link latency α (0 where the catalog gives none, or without tensor parallelism)."""
    return 2 * (workload.tp - 1) * (hardware.link_latency_s or 0.0)


def memory_bytes(cost: dict[str, np.ndarray]) -> np.ndarray:
    """Bytes an operator moves through memory: weights + activations + KV cache (not the link)."""
    return sum(cost[f"{kind}_bytes"] for kind in MEMORY_TRAFFIC)


def link_bandwidth(hardware: Hardware, workload: Workload) -> float | None:
    """The per-direction link bandwidth tensor parallelism needs; a named error if the device has none."""
    check_workload(workload)
    if workload.tp > 1 and hardware.link_bytes_per_s is None:
        raise RooflineInputError("tp", f"{hardware.name} has no interconnect figure for tensor parallelism")
    return hardware.link_bytes_per_s


def _seconds(flops, memory_bytes, link_bytes, peak, bandwidth, link_bandwidth, link_latency_s=0.0):
    """The three times an operator needs: compute, memory, link (latency + bytes / bandwidth; 0 without
    link traffic)."""
    link_s = np.zeros_like(link_bytes) if link_bandwidth is None else \
        np.where(link_bytes > 0, link_bytes / link_bandwidth + link_latency_s, 0.0)
    return flops / peak, memory_bytes / bandwidth, link_s


def roofline(flops, memory_bytes, link_bytes, peak, bandwidth, link_bandwidth=None,
             link_latency_s=0.0) -> dict[str, np.ndarray]:
    """Intensity, attainable FLOP/s, time and bound for arrays of operator costs.

    intensity   = flops / memory_bytes; for link-only operators flops / link_bytes (0 when
                  nothing moves at all)
    attainable  = min(peak, intensity · bandwidth), the link's bandwidth for link-only operators
    time_s      = max(flops / peak, memory_bytes / bandwidth, link_latency_s + link_bytes / link_bandwidth)
    bound       = which of the three terms sets the time ("compute", "memory" or "link").
    """
    flops, memory_bytes, link_bytes = (np.asarray(x, dtype=float) for x in (flops, memory_bytes, link_bytes))
    link_only = (memory_bytes == 0) & (link_bytes > 0)
    moved = np.where(link_only, link_bytes, memory_bytes)
    roof_bandwidth = np.where(link_only, link_bandwidth or 0.0, bandwidth)
    with np.errstate(divide="ignore", invalid="ignore"):
        intensity = np.where(moved > 0, flops / moved, 0.0)
    compute_s, memory_s, link_s = _seconds(flops, memory_bytes, link_bytes, peak, bandwidth, link_bandwidth,
                                           link_latency_s)
    time_s = np.maximum(np.maximum(compute_s, memory_s), link_s)
    bound = np.where(compute_s >= memory_s, "compute", "memory")
    bound = np.where((link_bytes > 0) & (link_s >= np.maximum(compute_s, memory_s)), "link", bound)
    return {"intensity": intensity, "attainable_flops_per_s": Roof(peak, roof_bandwidth).attainable(intensity),
            "time_s": time_s, "bound": bound}


def phase_arrays(model: ModelConfig, hardware: Hardware, workload: Workload, phase: str) -> dict[str, np.ndarray]:
    """Model totals for one phase: flops, bytes, link_bytes, time_s (see :func:`totals`)."""
    return totals(model, hardware, workload, check_phases(phase))[phase]


def totals(model: ModelConfig | str, hardware: Hardware | str, workload: Workload,
           phases: tuple[str, ...] | str = PHASES) -> dict[str, dict[str, np.ndarray]]:
    """Model totals per phase: flops, bytes, link_bytes and time_s, each summed with its counts.

    The fast path for sweeps, sliders and single settings: the same operators as
    :func:`operator_table`, compiled into one function (:mod:`roofline_utils.engine`),
    without building a DataFrame. Floats for a single setting, arrays over the workload's
    grid otherwise. ``rl.totals("llama-33b", "a40", rl.Workload())["decode"]["time_s"]``.
    """
    model, hardware = load_model(model), get_hardware(hardware)
    check_workload(workload)
    widths = element_bytes(workload)
    peak, full_peak = peak_flops(hardware, workload), full_peak_flops(hardware, workload)
    # the widths and roofs are arrays exactly when a bit width is
    arrays = not all(map(is_number, (workload.batch, workload.seq_len, workload.weight_bits, workload.act_bits,
                                     workload.kv_bits)))
    constants = {**widths, "peak": peak, "full_peak": full_peak, "bandwidth": hardware.bandwidth_bytes_per_s,
                 "link_bandwidth": link_bandwidth(hardware, workload),
                 "link_latency_s": link_latency_s(hardware, workload)}
    return {phase: dict(zip(TOTALS, phase_function(model, workload, arrays, phase)(
        symbol_values(model, workload, phase), **constants))) for phase in check_phases(phases)}


def operator_table(model: ModelConfig | str, hardware: Hardware | str, workload: Workload,
                   phases: tuple[str, ...] | str = PHASES) -> pd.DataFrame:
    """:func:`operator_columns` as a DataFrame."""
    import pandas as pd

    return pd.DataFrame(operator_columns(model, hardware, workload, phases))


def operator_columns(model: ModelConfig | str, hardware: Hardware | str, workload: Workload,
                     phases: tuple[str, ...] | str = PHASES) -> dict[str, np.ndarray]:
    """The per-operator table as columns (TABLE_COLUMNS, in order): one row per (phase, operator[, grid
    point]) with FLOPs, bytes, intensity, bound and time. No pandas needed.

    Numbers are per occurrence; ``count`` says how often the operator runs in one forward
    pass (num_hidden_layers for decoder-layer operators, 1 for embedding, final_norm and
    lm_head). ``bytes`` is the memory traffic (weights + activations + KV cache); ``link_bytes``
    (tensor-parallel all-reduce) travels over the interconnect instead. ``phases`` is one phase
    name or a sequence of them.
    """
    model, hardware, workload = load_model(model), get_hardware(hardware), check_workload(workload)
    phases = check_phases(phases)
    peak, full_peak = peak_flops(hardware, workload), full_peak_flops(hardware, workload)
    link = link_bandwidth(hardware, workload)
    batch, seq_len = np.broadcast_arrays(np.asarray(workload.batch), np.asarray(workload.seq_len))
    rows = [(phase, op, cost) for phase in phases for op, cost in operator_costs(model, workload, phase)]
    # one column per quantity, every (phase, operator) block stacked: one DataFrame, not one per operator
    stacked = lambda values: np.concatenate([np.broadcast_to(v, batch.shape).ravel() for v in values])  # noqa: E731
    columns = {key: stacked(cost[key] for *_, cost in rows) for key in ("flops", "flops_full_square", *BYTE_COLUMNS)}
    columns["bytes"] = stacked(memory_bytes(cost) for *_, cost in rows)
    peaks = stacked(peak if op.precision == QUANTISED else full_peak for _, op, _ in rows)
    point = roofline(columns["flops"], columns["bytes"], columns["link_bytes"], peaks,
                     hardware.bandwidth_bytes_per_s, link, link_latency_s(hardware, workload))
    repeat = lambda values: np.repeat(np.array(list(values)), batch.size)  # noqa: E731
    table = {
        "phase": repeat(phase for phase, *_ in rows), "operator": repeat(op.name for _, op, _ in rows),
        "group": repeat(op.group for _, op, _ in rows),
        "count": repeat(model.layer_count(op.layers) for _, op, _ in rows),
        "batch": np.tile(batch.ravel(), len(rows)), "seq_len": np.tile(seq_len.ravel(), len(rows)),
        **columns, **point, "peak_flops_per_s": peaks}
    return {name: table[name] for name in TABLE_COLUMNS}


def phase_totals(table: pd.DataFrame) -> pd.DataFrame:
    """Model-level sums per phase (and grid point): count-weighted FLOPs, bytes and time.

    The time is the sum of each operator at its own roofline: every operator is charged
    for its slowest resource, then the operators run one after another.
    """
    _check_table(table, ["phase", "batch", "seq_len", "count", "flops", "flops_full_square", *BYTE_COLUMNS,
                         "bytes", "time_s"])
    weighted = table.assign(**{col: table[col] * table["count"]
                               for col in ["flops", "flops_full_square", *BYTE_COLUMNS, "bytes", "time_s"]})
    sums = weighted.groupby(["phase", "batch", "seq_len"], sort=False)[
        ["flops", "flops_full_square", *BYTE_COLUMNS, "bytes", "time_s"]].sum()
    return sums.reset_index()


def group_points(table: pd.DataFrame, groups: tuple[str, ...] | None = None) -> pd.DataFrame:
    """One chart point per (phase, group, grid point): the group's operators taken together.

    intensity = Σ FLOPs / Σ bytes and performance = Σ FLOPs / Σ time over the operators of a
    group (q/k/v_proj; gate/up/down_proj; qk/pv_matmul), each weighted by how often it runs, and
    given per occurrence of the group's most frequent operator (per layer, for a layer's group).
    A model whose layers differ (DeepSeek-V3: 3 dense MLPs, 58 mixtures of experts) thus weighs
    each kind by its layers; where every operator runs equally often this is the plain per-occurrence
    sum. For operators on the same side of the ridge this is exactly the roofline at that intensity.
    With ``groups=None`` every operator outside the three groups becomes its own point.
    """
    _check_table(table, ["phase", "operator", "group", "count", "batch", "seq_len", "flops", "bytes", "link_bytes",
                         "time_s"])
    labelled = table.assign(label=np.where(table["group"] == "other", table["operator"], table["group"]))
    if groups is not None:
        labelled = labelled[labelled["label"].isin(groups)]
    keys = ["phase", "label", "batch", "seq_len"]
    weight = labelled["count"] / labelled.groupby(keys, sort=False)["count"].transform("max")
    quantities = ["flops", "bytes", "link_bytes", "time_s"]
    sums = labelled[keys].join(labelled[quantities].mul(weight, axis=0)).groupby(keys, sort=False)[
        quantities].sum().reset_index()
    moved = np.where(sums["bytes"] > 0, sums["bytes"], sums["link_bytes"])  # all-reduce: its link bytes
    with np.errstate(divide="ignore", invalid="ignore"):
        sums["intensity"] = np.where(moved > 0, sums["flops"] / moved, 0.0)
        sums["performance_flops_per_s"] = np.where(sums["time_s"] > 0, sums["flops"] / sums["time_s"], 0.0)
    return sums.drop(columns="link_bytes")


def _check_table(table: object, columns: list[str]) -> None:
    """phase_totals and group_points take what operator_table returns, nothing else."""
    import pandas as pd

    if not isinstance(table, pd.DataFrame) or not set(columns) <= set(table.columns):
        missing = sorted(set(columns) - set(getattr(table, "columns", [])))
        raise RooflineInputError("table", f"expected the DataFrame operator_table returns, got "
                                 f"{type(table).__name__}" + (f" without {', '.join(missing)}" if missing else ""),
                                 "operator_table(model, hardware, workload)")
