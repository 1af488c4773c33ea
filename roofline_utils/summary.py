"""What the tables say: headline numbers and the chart's reading, computed from the data."""
from __future__ import annotations

from dataclasses import asdict, replace

import numpy as np
import pandas as pd

from .e2e import end_to_end
from .empirical import datasheet_device
from .hardware import Hardware, get_hardware, hardware_names
from .memory import fewest_devices_that_fit, largest_batch_that_fits, memory_footprint
from .models import ModelConfig, load_model
from .operators import GROUPS, PHASE_LABELS, SYMBOLS, TRAFFIC_BITS, operator_list, symbol_values
from .plot import X_RANGE, Y_RANGE, _plottable
from .roofline import group_points, operator_table, peak_flops, phase_totals
from .units import grouped, seconds, si
from .workload import Workload, compute_precision


def headline(model: ModelConfig | str, hardware: Hardware | str, workload: Workload) -> dict[str, float]:
    """Time to first token, time per decode token and model FLOPs/bytes per phase, at the roofline.

    ttft_s: the whole prefill of b prompts of s tokens (it ends with the first token's logits).
    tpot_s: one decode step with a KV cache of s positions. tokens/s = b / tpot_s.
    """
    totals = phase_totals(operator_table(model, hardware, workload)).set_index("phase")
    tpot = float(totals.loc["decode", "time_s"])
    return {
        "ttft_s": float(totals.loc["prefill", "time_s"]),
        "tpot_s": tpot,
        "decode_tokens_per_s_per_sequence": 1 / tpot,
        "decode_tokens_per_s": float(np.asarray(workload.batch)) / tpot,
        "prefill_flops": float(totals.loc["prefill", "flops"]),
        "prefill_flops_full_square": float(totals.loc["prefill", "flops_full_square"]),
        "decode_flops": float(totals.loc["decode", "flops"]),
        "prefill_bytes": float(totals.loc["prefill", "bytes"]),
        "decode_bytes": float(totals.loc["decode", "bytes"]),
    }


def batch_at_ridge(model: ModelConfig | str, hardware: Hardware | str, workload: Workload,
                   group: str = "up/gate/down", max_batch: int = 1 << 14) -> int | None:
    """Smallest decode batch at which ``group``'s intensity reaches the ridge point (None: never).

    Decode GEMM intensity is about 2·b·n·k / (n·k·w + b·(n+k)·a): it grows with b and
    saturates at 2·n·k/((n+k)·a), so small models on devices with a high ridge may never
    get there. Evaluated on the grid b = 1..max_batch in one vectorised call.
    """
    model, hardware = load_model(model), get_hardware(hardware)
    batches = np.arange(1, max_batch + 1)
    grid = replace(workload, batch=batches, seq_len=int(np.max(workload.seq_len)))
    points = group_points(operator_table(model, hardware, grid, phases=("decode",)), groups=(group,))
    ridge = float(np.max(peak_flops(hardware, workload))) / hardware.bandwidth_bytes_per_s
    reached = points.loc[points["intensity"] >= ridge, "batch"]
    return int(reached.min()) if len(reached) else None


def _span(values: pd.Series) -> str:
    low, high = values.min(), values.max()
    return f"{low:.3g}" if np.isclose(low, high, rtol=0.01) else f"{low:.3g} to {high:.3g}"


def chart_reading(points: pd.DataFrame, hardware: Hardware, peak_flops_per_s: float) -> list[str]:
    """One sentence per legend group: where its cloud sits, what bounds it, and what it depends on.

    ``points`` is the sweep from :func:`group_points`. "depends on batch" is decided by
    whether the intensity changes when only the batch changes (relative spread > 1%).
    """
    ridge = peak_flops_per_s / hardware.bandwidth_bytes_per_s
    sentences = []
    for group in GROUPS:
        for phase, word in PHASE_LABELS.items():
            rows = points[(points["label"] == group) & (points["phase"] == phase)]
            if rows.empty:
                continue
            memory_bound = int((rows["intensity"] < ridge).sum())
            varies_with = [axis for axis, other in (("batch", "seq_len"), ("length", "batch"))
                           if _varies(rows, by=other)]
            depends = " and ".join(varies_with) if varies_with else "neither batch nor length"
            sentences.append(
                f"**{group} {word}** ({phase}): intensity {_span(rows['intensity'])} FLOP/byte, "
                f"{memory_bound} of {len(rows)} settings memory-bound (below the ridge at {ridge:.1f}); "
                f"intensity depends on {depends}; at most {si(rows['performance_flops_per_s'].max(), 'FLOP/s')} "
                f"({100 * rows['performance_flops_per_s'].max() / peak_flops_per_s:.3g}% of peak).")
    return sentences


def _varies(rows: pd.DataFrame, by: str) -> bool:
    """True when the intensity changes within groups of equal ``by`` (so along the other axis)."""
    spread = rows.groupby(by)["intensity"].agg(lambda x: (x.max() - x.min()) / x.max())
    return bool((spread > 0.01).any())


def derivation_table(model: ModelConfig | str, hardware: Hardware | str, workload: Workload,
                     phase: str) -> pd.DataFrame:
    """Per operator: the FLOP and byte formulas, the formulas with the numbers put in, the
    results, intensity and bound. For a single (scalar) workload.

    Symbols: w, a, kv are the bytes per weight, activation and KV-cache element.
    """
    model, hardware = load_model(model), get_hardware(hardware)
    env = symbol_values(model, workload, phase)
    table = operator_table(model, hardware, workload, phases=(phase,)).set_index("operator")
    rows = []
    for op in operator_list(model, workload):
        row = table.loc[op.name]
        rows.append({
            "operator": op.name, "count": int(row["count"]),
            "FLOPs formula": str(op.flops), "FLOPs = ": op.flops.show(env), "FLOPs": row["flops"],
            "bytes formula": op.bytes_formula(), "bytes": row["bytes"],
            "FLOP/byte": row["intensity"], "bound": row["bound"], "time": row["time_s"], "note": op.note})
    return pd.DataFrame(rows)


def symbol_table(model: ModelConfig | str, workload: Workload) -> pd.DataFrame:
    """Each symbol of the formulas, what it means, and its value in prefill and in decode."""
    model = load_model(model)
    values = {phase: symbol_values(model, workload, phase) for phase in ("prefill", "decode")}
    rows = [{"symbol": name, "meaning": meaning,
             "prefill": float(np.ravel(values["prefill"][name])[0]),
             "decode": float(np.ravel(values["decode"][name])[0])} for name, meaning in SYMBOLS.items()]
    widths = {"w": "weight_bits", "a": "act_bits", "kv": "kv_bits"}
    rows += [{"symbol": sym, "meaning": f"bytes per element, {field}/8",
              "prefill": getattr(workload, field) / 8, "decode": getattr(workload, field) / 8}
             for sym, field in widths.items()]
    return pd.DataFrame(rows)


def hardware_card(hardware: Hardware) -> str:
    """The device's datasheet figures, one per line, with the confidence mark and sources."""
    peaks = ", ".join(f"{p} {v / 1e12:g}" for p, v in hardware.peak_flops_per_s.items())
    lines = [
        f"device            {hardware.name} ({hardware.key})",
        f"memory            {hardware.memory_bytes / 2**30:g} GiB {hardware.memory_type}".rstrip(),
        f"bandwidth         {si(hardware.bandwidth_bytes_per_s, 'B/s')}",
        f"dense peaks       {peaks} (TFLOP/s or TOP/s)",
        f"L2 cache          {'n/a' if hardware.l2_bytes is None else f'{hardware.l2_bytes / 2**20:g} MiB'}",
        f"link to peers     {hardware.link or 'n/a'}"
        + ("" if hardware.link_bytes_per_s is None else f", {si(hardware.link_bytes_per_s, 'B/s')} per direction"),
        f"confidence        {hardware.confidence} (S: checked against the source; K: quoted, not yet checked)",
        f"sources           {hardware.sources}",
    ]
    return "\n".join(lines)


def ceilings_table(hardware: Hardware) -> pd.DataFrame:
    """Each precision the device has: its dense peak and the ridge point it implies."""
    return pd.DataFrame([{"precision": p, "peak TFLOP/s": v / 1e12,
                          "ridge FLOP/byte": round(v / hardware.bandwidth_bytes_per_s, 1)}
                         for p, v in hardware.peak_flops_per_s.items()])


def reading_guide(hardware: Hardware, peak_flops_per_s: float) -> pd.DataFrame:
    """attainable = min(peak, I × bandwidth) at a few intensities around the ridge."""
    ridge = peak_flops_per_s / hardware.bandwidth_bytes_per_s
    rows = []
    for intensity in sorted({1.0, 10.0, 100.0, round(ridge, 1), 1000.0}):
        attainable = min(peak_flops_per_s, intensity * hardware.bandwidth_bytes_per_s)
        rows.append({"FLOP/byte": intensity, "attainable": si(attainable, "FLOP/s"),
                     "% of peak": round(100 * attainable / peak_flops_per_s, 2),
                     "bound": "compute" if intensity >= ridge else "memory"})
    return pd.DataFrame(rows)


def catalog_table() -> pd.DataFrame:
    """Every shipped device: memory, bandwidth, 16-bit peak and its ridge point."""
    rows = []
    for key in hardware_names():
        hw = get_hardware(key)
        peak = hw.peak_flops_per_s.get("fp16", hw.peak_flops_per_s.get("bf16"))
        rows.append({"key": key, "device": hw.name, "memory GiB": hw.memory_bytes / 2**30,
                     "GB/s": hw.bandwidth_bytes_per_s / 1e9, "16-bit TFLOP/s": peak / 1e12,
                     "ridge": round(peak / hw.bandwidth_bytes_per_s, 1), "confidence": hw.confidence})
    return pd.DataFrame(rows)


def model_card(model: ModelConfig) -> str:
    """The config fields the operators use, and the parameter count derived from them."""
    lines = [f"{key:22s} {value}" for key, value in asdict(model).items()]
    lines.append(f"{'parameters':22s} {model.parameter_count():,} ({model.parameter_count() / 1e9:.2f} B)")
    return "\n".join(lines)


def worked_example(model: ModelConfig, hardware: Hardware, workload: Workload, name: str, phase: str) -> str:
    """One operator's arithmetic spelled out: formula, numbers, result, intensity, bound, time."""
    env = symbol_values(model, workload, phase)
    op = next(o for o in operator_list(model, workload) if o.name == name)
    row = operator_table(model, hardware, workload, phases=(phase,)).set_index("operator").loc[name]
    lines = [f"{name} ({phase}), runs {int(row['count'])} times per forward pass",
             f"  FLOPs          = {op.flops} = {op.flops.show(env)} = {grouped(row['flops'])}"]
    for kind, elements in op.traffic.items():
        width = getattr(workload, TRAFFIC_BITS[kind]) / 8
        lines.append(f"  {kind + ' bytes':14s} = {elements}·{width:g} = {elements.show(env)}·{width:g} "
                     f"= {grouped(row[kind + '_bytes'])}")
    ridge = row["peak_flops_per_s"] / hardware.bandwidth_bytes_per_s
    lines += [f"  bytes (memory) = {grouped(row['bytes'])}",
              f"  intensity      = {grouped(row['flops'])} / {grouped(row['bytes'])} = {row['intensity']:.4g} FLOP/byte "
              f"({'above' if row['intensity'] >= ridge else 'below'} the ridge at {ridge:.1f}: {row['bound']}-bound)",
              f"  time           = max(FLOPs / peak, bytes / bandwidth) = max({row['flops'] / row['peak_flops_per_s']:.4g} s, "
              f"{row['bytes'] / hardware.bandwidth_bytes_per_s:.4g} s) = {row['time_s']:.4g} s"]
    return "\n".join(lines)


def causal_table(model: ModelConfig, hardware: Hardware, workload: Workload) -> pd.DataFrame:
    """Prefill attention FLOPs: what a causal kernel computes vs the full square."""
    table = operator_table(model, hardware, workload, phases=("prefill",))
    rows = table[table["operator"].isin(["qk_matmul", "softmax", "pv_matmul"])]
    return pd.DataFrame({"operator": rows["operator"], "causal FLOPs": rows["flops"],
                         "full-square FLOPs": rows["flops_full_square"],
                         "causal / full": (rows["flops"] / rows["flops_full_square"]).round(4),
                         "bytes": rows["bytes"]})


def attention_io_table(model: ModelConfig, hardware: Hardware, workload: Workload) -> pd.DataFrame:
    """qk_matmul + softmax + pv_matmul under both IO models, per phase: FLOPs, bytes, intensity, time."""
    rows = []
    for io in ("unfused", "fused"):
        table = operator_table(model, hardware, replace(workload, attention_io=io))
        attention = table[table["operator"].isin(["qk_matmul", "softmax", "pv_matmul"])]
        for phase, part in attention.groupby("phase", sort=False):
            rows.append({"attention_io": io, "phase": phase, "FLOPs": part["flops"].sum(),
                         "bytes": part["bytes"].sum(),
                         "FLOP/byte": round(part["flops"].sum() / part["bytes"].sum(), 2),
                         "time per layer": seconds(part["time_s"].sum())})
    return pd.DataFrame(rows)


def paper_claims(points: pd.DataFrame, ridge: float | None = None) -> dict[str, bool]:
    """The Medusa paper's reading of its Figure 14, checked on the sweep's points.

    Each claim maps to True when it holds on every setting of the grid.
    """
    def rows(label, phase):
        return points[(points["label"] == label) & (points["phase"] == phase)]

    decode_gemms = pd.concat([rows("qkv mlp", "decode"), rows("up/gate/down", "decode")])
    grows = all(_increasing_in_batch(rows(g, "decode")) for g in ("qkv mlp", "up/gate/down"))
    claims = {
        "decode projections and MLP intensity grows with batch": grows,
        "decode projections and MLP intensity does not depend on length":
            not any(_varies(rows(g, "decode"), by="batch") for g in ("qkv mlp", "up/gate/down")),
        "decode attention stays near 1 FLOP/byte (0.5 to 2) whatever batch and length":
            bool(rows("qk/pv", "decode")["intensity"].between(0.5, 2).all()),
        "prefill attention intensity does not depend on batch": not _varies(rows("qk/pv", "prefill"), by="seq_len"),
    }
    if ridge is not None:
        claims["decode projections and MLP lie on the bandwidth slope (memory-bound)"] = \
            bool((decode_gemms["intensity"] < ridge).all())
    return claims


def _increasing_in_batch(rows: pd.DataFrame) -> bool:
    return bool(all(np.all(np.diff(part.sort_values("batch")["intensity"].to_numpy()) > 0)
                    for _, part in rows.groupby("seq_len")))


def axis_note(points: pd.DataFrame, hardware: Hardware, peak_flops_per_s: float) -> str:
    """Where this chart's axes leave the original's 1..1e4 FLOP/byte and 10 G..100 T FLOP/s, and why."""
    shown = _plottable(points[points["label"].isin(GROUPS)])
    notes = []
    low = shown.loc[shown["intensity"] < X_RANGE[0]]
    if len(low):
        worst = low.loc[low["intensity"].idxmin()]
        notes.append(f"{len(low)} points sit left of the original's x = 1 edge (lowest: {worst['label']} "
                     f"{worst['phase']} at {worst['intensity']:.3f} FLOP/byte), so the x axis is widened to show them.")
    if peak_flops_per_s > Y_RANGE[1]:
        notes.append(f"The compute roof ({si(peak_flops_per_s, 'FLOP/s')}) lies above the original's 100 T "
                     "top, so the y axis extends to twice the peak.")
    return " ".join(notes) or "All points and both roofs fit the original figure's axes."


def totals_text(model: ModelConfig, hardware: Hardware, workload: Workload) -> str:
    """Model FLOPs, bytes and time per phase; time to first token and per output token."""
    top = headline(model, hardware, workload)
    return "\n".join([
        f"prefill FLOPs          {grouped(top['prefill_flops'])} (causal; "
        f"{grouped(top['prefill_flops_full_square'])} counting the full attention square)",
        f"prefill bytes          {grouped(top['prefill_bytes'])}",
        f"time to first token    {seconds(top['ttft_s'])} at the roofline",
        f"decode FLOPs / step    {grouped(top['decode_flops'])}",
        f"decode bytes / step    {grouped(top['decode_bytes'])}",
        f"time per output token  {seconds(top['tpot_s'])} at the roofline (KV length {workload.seq_len})",
        f"decode throughput      {top['decode_tokens_per_s_per_sequence']:.1f} tokens/s per sequence, "
        f"{top['decode_tokens_per_s']:.1f} tokens/s for the batch of {workload.batch}",
    ])


def time_shares(model: ModelConfig, hardware: Hardware, workload: Workload, phase: str) -> pd.DataFrame:
    """Each operator's share of the phase's roofline time (count × time per call), largest first."""
    table = operator_table(model, hardware, workload, phases=(phase,))
    total = (table["time_s"] * table["count"]).sum()
    shares = table.assign(total_s=table["time_s"] * table["count"])
    shares = shares.sort_values("total_s", ascending=False)
    return pd.DataFrame({"operator": shares["operator"], "bound": shares["bound"],
                         "time": shares["total_s"].map(seconds),
                         "share %": (100 * shares["total_s"] / total).round(2)})


def memory_text(model: ModelConfig, hardware: Hardware, workload: Workload) -> str:
    """Weights, KV cache and activations against the device's capacity, and the verdict."""
    footprint = memory_footprint(model, hardware, workload)
    return "\n".join([
        f"weights       {grouped(footprint.weights_bytes)} B ({model.parameter_count():,} parameters "
        f"× {workload.weight_bits / 8:g} B)",
        f"KV cache      {grouped(footprint.kv_cache_bytes)} B (batch {workload.batch}, {workload.seq_len} positions)",
        f"activations   {grouped(footprint.activations_bytes)} B (peak estimate)",
        f"total         {grouped(footprint.total_bytes)} B",
        f"capacity      {grouped(footprint.capacity_bytes)} B",
        footprint.verdict(hardware.name),
    ])


def precision_text(hardware: Hardware, workload: Workload) -> str:
    """The bit widths, the compute precision they imply on this device, and the rule."""
    chosen = workload.compute_precision or compute_precision(hardware, workload.weight_bits, workload.act_bits)
    sixteen = compute_precision(hardware, 16, 16)
    return "\n".join([
        f"bits: weights {workload.weight_bits}, activations {workload.act_bits}, KV cache {workload.kv_bits}",
        f"compute roof: {chosen} at {si(hardware.peak(chosen), 'FLOP/s')} "
        f"({hardware.peak(chosen) / hardware.peak(sixteen):.3g}x the 16-bit roof)",
        "rule: the math runs at the wider of the weight and activation formats. 16-bit operands use the",
        "      16-bit tensor roof; 8-bit weights and activations use fp8, else int8; 4-bit both use int4,",
        "      else the 8-bit roof; a device without a faster path keeps the 16-bit roof. Weight-only",
        "      quantisation (w8a16, w4a16) moves fewer weight bytes but does not raise the compute roof.",
    ])


def end_to_end_text(model: ModelConfig, hardware: Hardware, workload: Workload, prompt_len: int,
                    output_len: int) -> str:
    """Time to first token, time per output token as the cache grows, total latency, throughput."""
    run = end_to_end(model, hardware, workload, prompt_len, output_len)
    steps = run.step_times_s
    growth = f"{seconds(steps[0])} at {prompt_len + 1} positions to {seconds(steps[-1])} at " \
             f"{prompt_len + output_len - 1}" if steps.size else "no decode steps"
    return "\n".join([
        f"request: batch {run.batch}, prompt {prompt_len} tokens, {output_len} output tokens, "
        f"{run.tp} device{'s' if run.tp > 1 else ''}",
        f"time to first token        {seconds(run.ttft_s)}",
        f"time per output token      {seconds(run.mean_tpot_s)} on average ({growth})",
        f"total latency              {seconds(run.total_s)}",
        f"tokens/s per user          {run.tokens_per_s_per_user:.1f}",
        f"tokens/s per device        {run.tokens_per_s_per_device:.1f} (all {run.batch} sequences, "
        f"prefill included)",
    ])


def capacity_text(model: ModelConfig, hardware: Hardware, workload: Workload) -> str:
    """The largest batch that fits at this length, and the fewest devices that hold the model."""
    largest = largest_batch_that_fits(model, hardware, workload)
    devices = fewest_devices_that_fit(model, hardware, replace(workload, tp=1))
    return "\n".join([
        f"largest decode batch that fits at {workload.seq_len} tokens on {workload.tp} device(s): "
        + (str(largest) if largest else "none (not even batch 1)"),
        "fewest devices that hold it (tensor parallel, batch "
        f"{workload.batch}): " + (str(devices) if devices else "more than 64"),
    ])


def measured_device_note(run, hardware: Hardware) -> str:
    """Says plainly which device the measurement is from, and whether it is the report's device."""
    device = datasheet_device(run)
    if device is not None and device.key == hardware.key:
        return f"This run was measured on the report's device ({hardware.name}): its datasheet roofs are drawn dotted."
    where = device.name if device is not None else run.metadata.get("device", "another machine")
    return (f"This run was measured on {where}, not on the report's {hardware.name}: it checks the counting "
            f"against a real machine, under that machine's achieved ceilings. No {hardware.name} "
            "measurement ships with the package.")
