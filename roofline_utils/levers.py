"""What a reader can do about each bound, from the report's own numbers.

Four levers, each evaluated against the report's setting (served numbers, fused attention):
batching (more sequences per weight read), quantisation (fewer bytes per weight), speculative
decoding (more tokens per weight read), tensor parallelism (more bandwidth, plus a link). Each
lever is a :class:`Lever`: what was tried, the time per output token before and after, and the
tokens per second per device, so its sentence states a ratio that the numbers beside it hold.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from .errors import RooflineInputError
from .hardware import Hardware
from .models import ModelConfig
from .units import number, seconds


@dataclass(frozen=True)
class Lever:
    name: str
    setting: str  # what was changed, in words
    tpot_s: float | None  # time per output token after (None: not possible here)
    tokens_per_s_per_device: float | None
    why_not: str = ""  # why the lever cannot be pulled here
    fits: bool | None = None  # weights + KV cache + decode activations within what a server may use per device


def _decode(model: ModelConfig, hardware: Hardware, workload) -> dict:
    """Time per output token, output tokens per second per device of one decode step, and the fit."""
    from .memory import _widest, capacity_bytes, needed_bytes
    from .roofline import totals

    tpot = float(totals(model, hardware, workload, ("decode",))["decode"]["time_s"])
    # the fit a server needs to keep decoding, as largest_batch_that_fits counts it (prefills chunked)
    need = float(needed_bytes(model, _widest(workload), phases=("decode",)))
    return {"tpot_s": tpot, "tokens_per_s_per_device": float(workload.batch) / tpot / workload.tp,
            "fits": need <= capacity_bytes(hardware, workload)}


def levers(model: ModelConfig, hardware: Hardware, workload) -> tuple[Lever, tuple[Lever, ...]]:
    """The report's setting and the four levers, each at one concrete setting a server could run."""
    from .memory import largest_batch_that_fits
    from .operators import check_tensor_parallel
    from .roofline import link_bandwidth, peak_flops

    base = Lever("now", f"batch {workload.batch}, {workload.weight_bits}-bit weights, "
                 f"{'1 device' if workload.tp == 1 else f'{workload.tp} devices'}", **_decode(model, hardware, workload))
    found = []

    largest = largest_batch_that_fits(model, hardware, workload)
    if largest > workload.batch:
        found.append(Lever("batching", f"batch {largest:,} (the largest that fits)",
                           **_decode(model, hardware, replace(workload, batch=largest))))
    else:
        found.append(Lever("batching", "a larger batch", None, None, "no larger batch fits in memory"))

    narrower = {16: 8, 32: 8, 8: 4}.get(workload.weight_bits)
    if narrower is None:
        found.append(Lever("quantisation", "narrower weights", None, None, "the weights are already 4-bit"))
    else:
        quantised = replace(workload, weight_bits=narrower)
        try:
            peak_flops(hardware, quantised)
            found.append(Lever("quantisation", f"{narrower}-bit weights (activations as set)",
                               **_decode(model, hardware, quantised)))
        except RooflineInputError as exc:
            found.append(Lever("quantisation", f"{narrower}-bit weights", None, None, str(exc)))

    from .speculative import DEFAULT_ACCEPTANCE, DEFAULT_MEDUSA_HEADS, DEFAULT_TREE_SIZE, verify_curve

    # the paper's tree and its measured acceptance: a smaller tree accepts fewer tokens per step
    curve = verify_curve(model, hardware, workload, [int(workload.batch)], [DEFAULT_TREE_SIZE], DEFAULT_MEDUSA_HEADS,
                         DEFAULT_ACCEPTANCE)
    speedup = float(curve["speedup"].iloc[0])
    medusa = f"Medusa, its {DEFAULT_TREE_SIZE}-token tree, {DEFAULT_ACCEPTANCE:g} tokens accepted per step"
    if speedup > 1:
        tpot = base.tpot_s / speedup
        found.append(Lever("speculative decoding", medusa, tpot, float(workload.batch) / tpot / workload.tp,
                           fits=base.fits))
    else:
        found.append(Lever("speculative decoding", medusa, None, None,
                           f"verifying costs more than it saves at batch {workload.batch}"))

    wider = workload.tp * 2
    try:
        check_tensor_parallel(model, wider)
        split = replace(workload, tp=wider)
        link_bandwidth(hardware, split)
        found.append(Lever("tensor parallelism", f"{wider} devices (tensor parallel)", **_decode(model, hardware, split)))
    except RooflineInputError as exc:
        found.append(Lever("tensor parallelism", f"tp {wider}", None, None, str(exc).split(": ", 1)[-1]))
    return base, tuple(found)


def _compared(ratio: float, better: str, worse: str) -> str:
    """1.8 -> '1.8× faster'; 0.5 -> '2× slower'; within half a percent: 'the same'."""
    if abs(ratio - 1) < 0.005:
        return "the same"
    return f"{number(ratio)}× {better}" if ratio > 1 else f"{number(1 / ratio)}× {worse}"


def _rate(tokens_per_s: float) -> str:
    return f"{tokens_per_s:,.0f}" if tokens_per_s >= 100 else number(tokens_per_s)


def levers_markdown(base: Lever, found: tuple[Lever, ...]) -> str:
    """One row per lever: its setting, time per output token and tokens/s per device against now, and
    whether that setting fits in memory (a lever that does not fit is a number, not an option)."""
    fit = {True: "yes", False: "**no**", None: ""}
    rows = ["| lever | setting | time per output token | vs. now | tokens/s per device | vs. now | fits, decoding |",
            "|---|---|---:|---:|---:|---:|---|",
            f"| now | {base.setting} | {seconds(base.tpot_s)} | | {_rate(base.tokens_per_s_per_device)} | | "
            f"{fit[base.fits]} |"]
    for lever in found:
        if lever.tpot_s is None:
            rows.append(f"| {lever.name} | {lever.setting}: not here ({lever.why_not}) | | | | | |")
            continue
        rows.append(f"| {lever.name} | {lever.setting} | {seconds(lever.tpot_s)} | "
                    f"{_compared(base.tpot_s / lever.tpot_s, 'faster', 'slower')} | "
                    f"{_rate(lever.tokens_per_s_per_device)} | "
                    f"{_compared(lever.tokens_per_s_per_device / base.tokens_per_s_per_device, 'more', 'fewer')} | "
                    f"{fit[lever.fits]} |")
    return "\n".join(rows)
