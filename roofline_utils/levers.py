"""What a reader can do about each bound, from the report's own numbers.

Four levers, each evaluated against the report's setting (served numbers, fused attention):
batching (more sequences per weight read), quantisation (fewer bytes per weight), speculative
decoding (more tokens per weight read), tensor parallelism (more bandwidth, plus a link). Each
lever is a :class:`Lever`: what was tried, the time per output token before and after, and the
tokens per second per device, so its sentence states a ratio that the numbers beside it hold.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Mapping

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
    # where the decode step's time goes (TIME_SHARES, adding up to 1); empty where the lever is not a setting
    time_shares: Mapping[str, float] = field(default_factory=dict)
    verify_cost: float | None = None  # speculative decoding: one verify step / one plain decode step


# What bounds each part of a decode step: operators waiting on compute, on the link (the all-reduce), and
# memory-bound operators' time split by what their bytes are (weights, KV cache, activations).
TIME_SHARES = {"compute": "waiting on compute", "link": "the all-reduce over the link",
               "weights": "reading the weights", "kv": "reading and writing each sequence's cache",
               "activations": "moving activations"}
_MEMORY_PARTS = {"weights": ("weight_bytes",), "kv": ("kv_read_bytes", "kv_write_bytes"),
                 "activations": ("act_read_bytes", "act_write_bytes")}


def time_shares(model: ModelConfig, hardware: Hardware, workload) -> dict[str, float]:
    """The decode step's time split by what bounds it (TIME_SHARES): each operator's time goes to compute
    or the link when that bounds it, else to its weight, KV-cache and activation bytes in proportion."""
    from .roofline import operator_table

    table = operator_table(model, hardware, workload, phases=("decode",))
    time_s = table["time_s"] * table["count"]
    total_s = float(time_s.sum())
    memory = table["bound"] == "memory"
    shares = {kind: float(time_s[table["bound"] == kind].sum()) / total_s for kind in ("compute", "link")}
    for part, columns in _MEMORY_PARTS.items():
        share_of_bytes = table.loc[memory, list(columns)].sum(axis=1) / table.loc[memory, "bytes"]
        shares[part] = float((time_s[memory] * share_of_bytes).sum()) / total_s
    return shares


def _decode(model: ModelConfig, hardware: Hardware, workload) -> dict:
    """Time per output token, output tokens per second per device of one decode step, and the fit."""
    from .memory import _widest, capacity_bytes, needed_bytes
    from .roofline import totals

    tpot = float(totals(model, hardware, workload, ("decode",))["decode"]["time_s"])
    # the fit a server needs to keep decoding, as largest_batch_that_fits counts it (prefills chunked)
    need = float(needed_bytes(model, _widest(workload), phases=("decode",)))
    return {"tpot_s": tpot, "tokens_per_s_per_device": float(workload.batch) / tpot / workload.tp,
            "fits": need <= capacity_bytes(hardware, workload), "time_shares": time_shares(model, hardware, workload)}


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
    cost = float(curve["t_verify_s"].iloc[0] / curve["t_decode_s"].iloc[0])
    medusa = f"Medusa, its {DEFAULT_TREE_SIZE}-token tree, {DEFAULT_ACCEPTANCE:g} tokens accepted per step"
    if speedup > 1:
        tpot = base.tpot_s / speedup
        found.append(Lever("speculative decoding", medusa, tpot, float(workload.batch) / tpot / workload.tp,
                           fits=base.fits, verify_cost=cost))
    else:
        found.append(Lever("speculative decoding", medusa, None, None,
                           f"verifying costs more than it saves at batch {workload.batch}", verify_cost=cost))

    wider = workload.tp * 2
    try:
        check_tensor_parallel(model, wider)
        split = replace(workload, tp=wider)
        link_bandwidth(hardware, split)
        found.append(Lever("tensor parallelism", f"{wider} devices (tensor parallel)", **_decode(model, hardware, split)))
    except RooflineInputError as exc:
        found.append(Lever("tensor parallelism", f"tp {wider}", None, None, str(exc).split(": ", 1)[-1]))
    return base, tuple(found)


SAME_WITHIN = 0.02  # two settings within 2% of each other read as "about the same"


def _compared(ratio: float, better: str, worse: str) -> str:
    """1.8 -> '1.8× faster'; 0.5 -> '2× slower'; within 2%: 'about the same' (a '1.01× fewer' is not read)."""
    if abs(ratio - 1) < SAME_WITHIN:
        return "about the same"
    return f"{number(ratio)}× {better}" if ratio > 1 else f"{number(1 / ratio)}× {worse}"


def _rate(tokens_per_s: float) -> str:
    return f"{tokens_per_s:,.0f}" if tokens_per_s >= 100 else number(tokens_per_s)


def levers_markdown(base: Lever, found: tuple[Lever, ...]) -> str:
    """One row per lever: its setting, time per output token and tokens/s per device against now, and
    whether that setting fits in memory (a lever that does not fit is a number, not an option)."""
    fit = {True: "yes", False: "**no**", None: ""}
    rows = ["| lever | setting | time per output token | vs. now | tokens/s per device | vs. now | fits, decoding |",
            "|:---|:---|---:|---:|---:|---:|:---|",
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


NEARLY = 0.8  # a lever "nearly" reaches its ideal (the bytes' ratio, the devices' ratio) at 80% of it or more
ALMOST_FREE = 1.15  # batching is "almost free" for a user while the time per token grows under 15%
PAYS = 1.05  # a speed-up under 5% is "barely" one


def _pct(share: float) -> str:
    return "under 1%" if 0 < share < 0.005 else f"{share:.0%}"


def _largest_other(shares: Mapping[str, float], leave_out: str) -> str:
    """What, besides leave_out, takes the largest share of the step: 'reading and writing the KV cache (38%)'."""
    kind = max((k for k in shares if k != leave_out), key=lambda k: shares[k])
    return f"{TIME_SHARES[kind]} ({_pct(shares[kind])})"


def _fit_note(base: Lever, lever: Lever) -> str:
    if lever.fits is False:
        return (" This setting does not fit in memory on this device: read the number as what the lever would buy "
                "on one that holds it.")
    if base.fits is False and lever.fits:
        return " It also makes the model fit in memory, where the report's setting does not."
    return ""


def _batching(base: Lever, lever: Lever, batch: int, cache: str = "KV cache") -> str:
    if lever.tpot_s is None:
        if base.fits is False:
            return (f"**Batching**: not here. Even batch {batch:,} does not fit in memory, so no larger one does; "
                    "the levers that free memory (narrower weights, more devices) come first.")
        return (f"**Batching**: not here. No batch larger than {batch:,} fits in memory; more sequences need more "
                "memory per device (narrower weights, a shorter context, more devices).")
    more = lever.tokens_per_s_per_device / base.tokens_per_s_per_device
    longer = lever.tpot_s / base.tpot_s
    head = f"**Batching** to {lever.setting} gives **{number(more)}×** the tokens per second per device"
    if longer < ALMOST_FREE:
        wait = "no longer" if longer < 1 + SAME_WITHIN / 2 else f"only {(longer - 1):.0%} longer"
        return (f"{head} while each user waits {wait} per token: decode is memory-bound, the weights are read once "
                "for the whole batch and each extra sequence adds only its own KV-cache reads. While memory holds "
                "the batch, this is the cheapest lever.")
    # what added the most time per step from the report's batch to this one (the weights grow only when the
    # batch's tokens wake more of a mixture's experts)
    added_s = {kind: lever.tpot_s * lever.time_shares[kind] - base.tpot_s * base.time_shares[kind]
               for kind in TIME_SHARES}
    grows = max(added_s, key=added_s.get)
    shares = lever.time_shares
    why = {"compute": f"at that batch the step is past the critical batch of chapter 2, {_pct(shares['compute'])} of "
                      "its time waiting on compute, so each extra sequence adds FLOPs, not free reuse",
           "kv": f"every sequence's own {cache} is read every step, and at that batch reading and writing it takes "
                 f"{_pct(shares['kv'])} of the step",
           "link": f"the all-reduce carries every sequence's activations over the link, and at that batch it takes "
                   f"{_pct(shares['link'])} of the step",
           "activations": f"every sequence's activations move through memory, and at that batch they take "
                          f"{_pct(shares['activations'])} of the step",
           "weights": f"the batch's tokens are routed to more of the experts, so a step reads "
                      f"{number(lever.tpot_s * shares['weights'] / (base.tpot_s * base.time_shares['weights']))}× "
                      f"the weight bytes it reads at batch {batch:,}"}[grows]
    return (f"{head}, but each user waits **{number(longer)}×** as long per token: {why}. Batching buys throughput "
            "with latency here; a server picks its batch between the two.")


def _quantisation(base: Lever, lever: Lever, bits: int) -> str:
    if lever.tpot_s is None:
        if bits == 4:
            return ("**Quantisation**: the weights are already 4-bit, the narrowest this report offers; what is left "
                    "to shrink is the KV cache and the activations.")
        return f"**Quantisation** to {lever.setting}: not here ({lever.why_not})."
    narrower = {16: 8, 32: 8, 8: 4}[bits]
    fewer = bits / narrower  # the quantised weights' bytes fall by this (their group scales aside)
    faster = base.tpot_s / lever.tpot_s
    weights = base.time_shares["weights"]
    head = f"**Quantisation** to {narrower}-bit weights reads {fewer:g}× fewer bytes per quantised weight"
    if faster >= NEARLY * fewer:
        body = (f"and a token comes **{number(faster)}×** faster, nearly in proportion: reading the weights took "
                f"{_pct(weights)} of the step.")
    elif faster >= PAYS:
        body = (f"but a token comes only **{number(faster)}×** faster: reading the weights took {_pct(weights)} of the "
                f"step, and the rest does not shrink, the largest part being {_largest_other(base.time_shares, 'weights')}.")
    else:
        body = (f"yet the time per token barely changes ({_compared(faster, 'faster', 'slower')}): reading the weights "
                f"took only {_pct(weights)} of the step; {_largest_other(base.time_shares, 'weights')} bounds it.")
    share = {2: "half", 4: "a quarter"}[int(fewer)]
    return f"{head}, {body} The quantised layers' weights also take {share} the memory.{_fit_note(base, lever)}"


def _speculative(base: Lever, lever: Lever, batch: int) -> str:
    from .speculative import DEFAULT_ACCEPTANCE, DEFAULT_TREE_SIZE

    cost = f"one verify step of its {DEFAULT_TREE_SIZE}-token tree costs {number(lever.verify_cost)}× a plain decode step"
    if lever.tpot_s is None:
        return (f"**Speculative decoding** (chapter 6): not here. At batch {batch:,} {cost}, more than the "
                f"{DEFAULT_ACCEPTANCE:g} tokens it accepts per step repay; chapter 6 follows it against the batch.")
    faster = base.tpot_s / lever.tpot_s
    size = f"**{number(faster)}×**" if faster >= PAYS else f"only {number(faster)}×"
    return (f"**Speculative decoding** (chapter 6) with Medusa makes a token {size} faster at batch {batch:,}: {cost} "
            f"and yields {DEFAULT_ACCEPTANCE:g} tokens on average, because one pass over the weights checks every "
            f"candidate.{_fit_note(base, lever)}")


def _tensor_parallel(base: Lever, lever: Lever, tp: int) -> str:
    if lever.tpot_s is None:
        return f"**Tensor parallelism** over {tp * 2} devices: not here ({lever.why_not})."
    faster = base.tpot_s / lever.tpot_s
    per_device = _compared(lever.tokens_per_s_per_device / base.tokens_per_s_per_device, "more", "fewer")
    link = lever.time_shares["link"]
    head = (f"**Tensor parallelism** over {tp * 2} devices splits every weight matrix, so each device reads half the "
            "weights it read before")
    if faster >= NEARLY * 2:
        body = (f"a token comes **{number(faster)}×** faster, nearly the 2× of twice the devices; the all-reduce over "
                f"the link takes {_pct(link)} of the new step.")
    elif faster >= PAYS:
        body = (f"but a token comes only **{number(faster)}×** faster, short of 2×: the all-reduce over the link "
                f"takes {_pct(link)} of the new step." if link >= 0.5 * (1 - base.tpot_s / 2 / lever.tpot_s) else
                f"but a token comes only **{number(faster)}×** faster, short of 2×: the largest part of the new step "
                f"is {_largest_other(lever.time_shares, 'link')}.")
    else:
        compared = _compared(faster, "faster", "slower")
        body = (f"yet {'the time per token is about the same' if compared == 'about the same' else f'a token comes {compared}'}"
                f": the all-reduce over the link takes "
                f"{_pct(link)} of the new step, {'more than' if faster < 1 else 'about as much as'} halving each "
                "device's reads saves.")
    buys = ("It buys latency, not tokens per second per device" if faster >= PAYS else
            "Here it buys neither latency nor tokens per second per device")
    return f"{head}; {body} Tokens per second per device: {per_device}. {buys}.{_fit_note(base, lever)}"


def readings(base: Lever, found: tuple[Lever, ...], workload, cache: str = "KV cache") -> str:
    """How to read the levers table, one bullet per lever, each sentence's shape word (nearly, only, barely,
    almost for free, slower) picked by the ratio beside it in the table. ``cache``: what each sequence keeps
    (memory.cache_kind: 'KV cache and recurrent state' for a hybrid)."""
    by_name = {lever.name: lever for lever in found}
    bullets = [_batching(base, by_name["batching"], int(workload.batch), cache),
               _quantisation(base, by_name["quantisation"], int(workload.weight_bits)),
               _speculative(base, by_name["speculative decoding"], int(workload.batch)),
               _tensor_parallel(base, by_name["tensor parallelism"], int(workload.tp))]
    return "How to read the levers:\n\n" + "\n".join(f"- {bullet}" for bullet in bullets)
