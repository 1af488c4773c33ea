"""Measured vs predicted: the empirical roofline, per-operator ratios and their honest reading."""
from __future__ import annotations

import pandas as pd

from ..hardware import get_hardware, hardware_names
from .runs import MeasurementRun
from ..operators import GROUPS
from ..units import si

TIGHT, LOOSE = 1.3, 3.0  # measured/predicted bands: at the roof, within reach, far below it
# The achieved ceilings are themselves measurements, a few percent noisy; a counting bug (a dropped
# factor of 2, a missing tensor) makes an operator look 1.5x or more faster than its bound.
NOISE_MARGIN = 0.85


def measured_points(run: MeasurementRun) -> pd.DataFrame:
    """Chart points per (phase, group, setting): Σ FLOPs / Σ bytes against measured and predicted speed."""
    rows = run.rows[run.rows["group"].isin(GROUPS)]
    sums = rows.groupby(["phase", "group", "batch", "seq_len"], sort=False)[
        ["flops", "bytes", "min_s", "predicted_s"]].sum().reset_index()
    return sums.assign(label=sums["group"], intensity=sums["flops"] / sums["bytes"],
                       measured_flops_per_s=sums["flops"] / sums["min_s"],
                       performance_flops_per_s=sums["flops"] / sums["predicted_s"])


def ratio_table(run: MeasurementRun) -> pd.DataFrame:
    """Per phase and operator: measured / predicted time over the run's settings (min, median, max), each
    ratio written to two decimals with its × (0.90×, not 0.9 beside 0.97)."""
    table = run.rows.groupby(["phase", "operator"], sort=False).agg(
        settings=("ratio", "size"), bound=("bound", "first"), low=("ratio", "min"),
        median=("ratio", "median"), high=("ratio", "max")).reset_index()
    for column in ("low", "median", "high"):
        table[column] = table[column].map(lambda ratio: f"{ratio:.2f}×")
    return table.rename(columns={"low": "measured / predicted: lowest", "median": "median", "high": "highest"})


def markers_sentence(points: pd.DataFrame) -> str:
    """Whether the filled (measured) markers sit on or below their hollow (predicted) ones: a point above ran
    faster than the achieved ceilings allow (by more than 1%), which the sentence counts instead of assuming."""
    above = points[points["measured_flops_per_s"] > 1.01 * points["performance_flops_per_s"]]
    if above.empty:
        return (f"All {len(points):,} filled markers sit on or below their hollow ones: no group ran faster than "
                "the achieved ceilings predict.")
    groups = ", ".join(sorted({f"`{g}` {p}" for g, p in zip(above["group"], above["phase"])}))
    return (f"{len(above):,} of {len(points):,} filled markers sit above their hollow ones ({groups}): those settings "
            "ran faster than the achieved ceilings predict. The ceilings are the best of a few benchmark kernels, not "
            "limits the machine cannot pass: a GEMM of another shape, or data partly held in cache, can beat them.")


def datasheet_device(run: MeasurementRun):
    """The catalog entry whose name matches the measured device (GPU runs), else None."""
    measured = run.metadata.get("device", "").lower()
    for key in hardware_names():
        name = get_hardware(key).name.lower().removeprefix("nvidia ").split(" (")[0]
        if name.split()[0] in measured and all(word in measured for word in name.split()[:2]):
            return get_hardware(key)
    return None


def _kind(row: pd.Series) -> str:
    if row["operator"].endswith("_proj"):
        return f"{row['phase']} GEMMs" if row["phase"] == "prefill" else \
            ("decode GEMVs (batch 1)" if row["batch"] == 1 else "decode GEMMs with a few rows (batch > 1)")
    if row["operator"] in ("qk_matmul", "pv_matmul", "attention"):
        return "attention matmuls"
    return "elementwise (softmax, SwiGLU)"


WHY = {
    "prefill GEMMs": "large GEMMs are what BLAS is tuned for; the achieved GEMM ceiling was measured on the same kind of kernel",
    "decode GEMVs (batch 1)": "a matrix-vector product streams its weights once, exactly the roofline's memory model",
    "decode GEMMs with a few rows (batch > 1)": "with 2 to 64 rows, BLAS GEMM kernels neither stream at full bandwidth "
                                                "nor reach their large-matrix rate: kernel efficiency, not the counting",
    "attention matmuls": "one small matmul per head; they stream the KV cache or the score matrix and pay a "
                         "per-head overhead",
    "elementwise (softmax, SwiGLU)": "the kernels make several passes (softmax: max, subtract, exp, sum, divide) where the roofline counts one read and one write, and small tensors pay call overhead",
}


def reading(run: MeasurementRun, last_level_cache_bytes: float | None = None) -> list[str]:
    """Sentences computed from the run: ceilings, whether the bound held, where it is tight and why."""
    flops, bandwidth = run.ceilings
    llc = last_level_cache_bytes or float(run.metadata.get("last_level_cache_bytes", 32 * 2**20))
    rows = run.rows.assign(kind=run.rows.apply(_kind, axis=1))
    big = rows[rows["bytes"] > llc]
    below = big[big["ratio"] < NOISE_MARGIN]
    at_roof = big[(big["ratio"] >= NOISE_MARGIN) & (big["ratio"] < 1)]
    sentences = [
        f"Achieved ceilings on {run.metadata.get('device', 'the device')}: {si(flops, 'FLOP/s')} "
        f"({run.metadata.get('gemm', 'GEMM')} GEMM) and {si(bandwidth, 'B/s')} (best streaming kernel); "
        f"ridge {run.roof.ridge:.1f} FLOP/byte.",
        f"{len(big) - len(below)} of {len(big)} operator timings whose working set exceeds the "
        f"{llc / 2**20:.0f} MiB last-level cache took at least their roofline time (within the "
        f"{1 - NOISE_MARGIN:.0%} noise margin of the measured ceilings)"
        + (": the bound held." if below.empty else
           f"; {len(below)} ran faster ({', '.join(sorted(set(below['operator'])))}), which points at a counting error."),
    ]
    if len(at_roof):
        sentences.append(
            f"{len(at_roof)} of them ran at {at_roof['ratio'].min():.2f} to {at_roof['ratio'].max():.2f} of their "
            "predicted time: these operators sit on the roof, and the separately measured ceilings came out "
            "slightly below what the best operator reached (a ceiling is an estimate, not a law).")
    for kind, part in rows.groupby("kind", sort=False):
        median = part["ratio"].median()
        band = "tight" if median <= TIGHT else "loose" if median <= LOOSE else "very loose"
        sentences.append(f"{kind}: measured/predicted {part['ratio'].min():.2f} to {part['ratio'].max():.2f} "
                         f"(median {median:.2f}, {band}); {WHY[kind]}.")
    return sentences
