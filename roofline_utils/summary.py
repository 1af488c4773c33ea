"""The report's tables: each a DataFrame built from the model, the device and the operator table.

Conclusions drawn from them (sentences, verdicts) live in findings.py; how tables look lives in
tables.py. Formulas come from the operator records themselves (``Expr.latex``), never retyped.
"""
from __future__ import annotations

import re
from dataclasses import asdict, fields, replace

import numpy as np
import pandas as pd

from .expr import SUM_PRECEDENCE
from .hardware import Hardware, get_hardware, hardware_names, sixteen_bit_precision
from .models import ModelConfig, load_model
from .operators import MEMORY_TRAFFIC, SYMBOLS, VERIFY_ONLY_SYMBOLS, WIDTH_SYMBOLS, operator_list, symbol_values
from .roofline import operator_table
from .text import markdown_text
from .units import latex_number, latex_quantity, si
from .workload import Workload, compute_precision, element_bytes


def device_caption(hardware: Hardware) -> str:
    """The device card's caption: a catalog device's datasheet, or the figures a user gave."""
    if not hardware.user_given:
        return f"The {hardware.name}, from its datasheet"
    return f"{hardware.name}, as you gave it" + (f" in {hardware.user_file}" if hardware.user_file else "")


def device_source_sentence(hardware: Hardware) -> str:
    """Where the device's figures come from, in one sentence for the text above the card."""
    if not hardware.user_given:
        return ("The figures come from the catalog shipped in `roofline_utils/data/hardware.json`, "
                "each with its source.")
    return f"The figures are yours, from {_given_in(hardware)}: the report takes them as given and checks only their range."


def other_roofs(hardware: Hardware, peak_flops_per_s: float) -> dict[str, float]:
    """The device's other compute roofs for chapter 1's figure: every precision whose dense peak differs
    from the report's, those with one peak drawn once under a joint label ('fp8 / int8')."""
    by_peak: dict[float, list[str]] = {}
    for precision, peak in hardware.peak_flops_per_s.items():
        if peak != peak_flops_per_s:
            by_peak.setdefault(peak, []).append(precision)
    return {" / ".join(names): peak for peak, names in by_peak.items()}


def roofs_caption(hardware: Hardware, precision: str, others: dict[str, float]) -> str:
    """Chapter 1's figure caption: the dotted roofs named only when there are any."""
    dotted = ", other precisions (dotted)" if others else ""
    return f"The roofs of {hardware.called}: memory (blue), {precision} compute (red){dotted}."


def figures_origin(hardware: Hardware) -> str:
    """Where the roofline's two numbers come from, for chapter 1: a datasheet, or the user."""
    if not hardware.user_given:
        return "Both are datasheet figures (the sources are in the appendix)."
    return f"Both are the figures you gave, in {_given_in(hardware)} (the appendix lists them as given)."


def figures_reference(hardware: Hardware) -> str:
    """The references' line for the device's figures."""
    if not hardware.user_given:
        return "Device figures: the datasheets listed in Appendix A, one source per figure."
    return f"Device figures: yours, from {_given_in(hardware)} (Appendix A lists them as given)."


def _given_in(hardware: Hardware) -> str:
    """Where a user-given device's figures were given (Markdown: a file name shows as text)."""
    return f"the file {markdown_text(hardware.user_file)}" if hardware.user_file else "the numbers given to custom_hardware"


def hardware_card(hardware: Hardware) -> pd.DataFrame:
    """The device's figures: for a catalog device its datasheet with the confidence mark and sources; for
    a user-given one exactly the fields it gave (no confidence or source it did not state)."""
    user = hardware.user_given
    given = set(hardware.extra.get("given", ())) if hardware.user_file else None

    def gave(*names: str) -> bool:  # a catalog device shows every figure it has
        return given is None or any(name in given for name in names)

    # the link's kind (NVLink 4, ...) where known, then its figures; a user's file may give only the figures
    parts = [hardware.link] if hardware.link else []
    if hardware.link_bytes_per_s is not None:
        parts.append(f"{si(hardware.link_bytes_per_s, 'B/s')} per direction")
    if hardware.link_latency_s is not None:
        parts.append(f"{si(hardware.link_latency_s, 's', 3)} per hop")
    link = ", ".join(parts) or "n/a"
    if hardware.reported_memory_bytes is None:
        reported = "not given: the datasheet figure read as decimal GB" if user else \
            "not in the catalog: the datasheet figure read as decimal GB"
    else:
        reported = f"{hardware.reported_memory_bytes / 2**20:,.0f} MiB" + (
            f"; source: {hardware.reported_memory_source}" if hardware.reported_memory_source else "")
    origin = f"from {hardware.user_file}, your figures" if hardware.user_file else \
        "your figures" if user else hardware.key
    rows = [("device", f"{hardware.name} ({origin})"),
            ("memory", f"{hardware.memory_bytes / 2**30:g} GB {hardware.memory_type}".rstrip()),
            ("memory the device reports", reported),
            ("bandwidth", si(hardware.bandwidth_bytes_per_s, "B/s")),
            ("dense peaks", ", ".join(f"{p} {si(v, 'OP/s' if p.startswith('int') else 'FLOP/s')}"
                                      for p, v in hardware.peak_flops_per_s.items()))]
    if gave("l2_mb"):
        rows.append(("L2 cache", "n/a" if hardware.l2_bytes is None else f"{hardware.l2_bytes / 2**20:g} MiB"))
    if gave("link", "link_gb_s", "link_latency_us"):
        rows.append(("link to peers", link))
    if gave("tdp_w") and hardware.tdp_w is not None:
        rows.append(("power (TDP)", f"{hardware.tdp_w:g} W"))
    if not user or gave("confidence"):
        rows.append(("confidence", f"{hardware.confidence} (S: checked against the source; K: quoted, not yet "
                                   "checked)"))
    if not user or gave("sources"):
        rows.append(("sources", hardware.sources))
    return pd.DataFrame(rows, columns=["figure", "value"])


def ceilings_table(hardware: Hardware) -> pd.DataFrame:
    """Each precision the device has: its dense peak, as the datasheet and the ridge equation below write it
    (149.7 TFLOP/s, not a column-rounded 150), and the ridge point it implies."""
    return pd.DataFrame([{"precision": p, "dense peak": si(v, "OP/s" if p.startswith("int") else "FLOP/s"),
                          "ridge (FLOP/byte)": round(hardware.roof(v).ridge, 1)}
                         for p, v in hardware.peak_flops_per_s.items()])


def precision_table(hardware: Hardware, workload: Workload, weights: str | None = None) -> pd.DataFrame:
    """The bit widths, the compute precision they imply on this device, and its roof against the 16-bit one;
    ``weights``: where the weight format comes from (ReportParameters.weight_source), as a row of its own."""
    chosen = workload.compute_precision or compute_precision(hardware, workload.weight_bits, workload.act_bits)
    sixteen = sixteen_bit_precision(hardware)
    ratio = f"{hardware.peak(chosen) / hardware.peak(sixteen):.3g}×" if sixteen else "n/a (no 16-bit path)"
    return pd.DataFrame([("bits: weights / activations / KV cache",
                          f"{workload.weight_bits} / {workload.act_bits} / {workload.kv_bits}"),
                         ("compute roof", f"{chosen}, {si(hardware.peak(chosen), 'FLOP/s')}"),
                         ("against the 16-bit roof", ratio),
                         *([("weights", weights.removeprefix("weights: "))] if weights else [])],
                        columns=["", "value"])


def reading_guide(hardware: Hardware, peak_flops_per_s: float) -> pd.DataFrame:
    """attainable = min(peak, I × bandwidth) at a few intensities around the ridge."""
    ridge = hardware.roof(peak_flops_per_s).ridge
    rows = []
    for intensity in sorted({1.0, 10.0, 100.0, ridge, 1000.0}):  # the ridge itself, not rounded below it
        attainable = min(peak_flops_per_s, intensity * hardware.bandwidth_bytes_per_s)
        rows.append({"intensity (FLOP/byte)": round(intensity, 1), "attainable": si(attainable, "FLOP/s"),
                     "% of peak": round(100 * attainable / peak_flops_per_s, 2),
                     "bound": "compute" if intensity >= ridge else "memory"})
    return pd.DataFrame(rows)


def catalog_table() -> pd.DataFrame:
    """Every shipped device: memory, bandwidth, 16-bit peak and its ridge point."""
    rows = []
    for key in hardware_names():
        hw = get_hardware(key)
        sixteen = sixteen_bit_precision(hw)
        peak = hw.peak_flops_per_s[sixteen] if sixteen else None
        rows.append({"key": key, "device": hw.name, "memory (datasheet GB)": hw.memory_bytes / 2**30,
                     "bandwidth (B/s)": hw.bandwidth_bytes_per_s,
                     "16-bit peak": si(peak, "FLOP/s") if peak else "n/a",  # as the datasheet: 149.7 TFLOP/s
                     "ridge (FLOP/byte)": round(peak / hw.bandwidth_bytes_per_s, 1) if peak else float("nan"),
                     "confidence": hw.confidence})
    return pd.DataFrame(rows)


def model_card(model: ModelConfig) -> pd.DataFrame:
    """The config fields the operators use (the optional ones only where the model has them), any
    defaults assumed or parts left out, and the parameter count (total and, for experts, activated)."""
    defaults = {f.name: f.default for f in fields(ModelConfig)}
    rows = [(key, ", ".join(value) if isinstance(value, tuple) else value)
            for key, value in asdict(model).items()
            if key not in ("notes", "quantization") and (key in REQUIRED_CARD_FIELDS or value != defaults[key])]
    if model.quantization is not None:  # as the checkpoint ships it; the report's weights may differ (weights_from)
        rows.append(("quantization_config", f"{model.quantization.method}: {model.quantization.label}"
                     + (f"; not converted: {', '.join(model.quantization.ignore)}" if model.quantization.ignore else "")))
    rows += [("left out" if "left out" in note else "assumed", note) for note in getattr(model, "notes", ())]
    rows.append(("parameters", f"{model.parameter_count():,} ({model.parameter_count() / 1e9:.2f} B)"))
    if model.num_experts > 1:
        active = model.parameter_count(active=True)
        rows.append(("activated per token", f"{active:,} ({active / 1e9:.2f} B)"))
    return pd.DataFrame([(k, str(v)) for k, v in rows], columns=["field", "value"])


REQUIRED_CARD_FIELDS = ("name", "architecture", "hidden_size", "intermediate_size", "num_attention_heads",
                        "num_key_value_heads", "num_hidden_layers", "vocab_size", "head_dim", "tie_word_embeddings")


def used_symbols(model: ModelConfig, workload: Workload, phases=("prefill", "decode")) -> list[str]:
    """The symbols the model's formulas use, in the order SYMBOLS lists them (b, s and T always)."""
    used = {"b", "s", "T"}
    for phase in phases:
        for op in operator_list(model, workload, phase):
            used |= op.flops.symbols().union(*(e.symbols() for e in op.traffic.values()))
    return [name for name in SYMBOLS if name in used]


def symbol_table(model: ModelConfig | str, workload: Workload) -> pd.DataFrame:
    """Each symbol of the model's formulas, what it means, and its value in prefill and in decode."""
    from .expr import LATEX_NAMES

    model = load_model(model)
    values = {phase: symbol_values(model, workload, phase) for phase in ("prefill", "decode")}
    rows = [{"symbol": LATEX_NAMES.get(name, name), "meaning": SYMBOLS[name],
             "prefill": float(np.ravel(values["prefill"][name])[0]),
             "decode": float(np.ravel(values["decode"][name])[0])} for name in used_symbols(model, workload)
            if name not in VERIFY_ONLY_SYMBOLS]
    widths = element_bytes(workload)
    used = {op.width(kind) for op in operator_list(model, workload) for kind in op.traffic}
    rows += [{"symbol": WIDTH_SYMBOLS[field], "meaning": WIDTH_MEANINGS[field],
              "prefill": float(np.max(widths[field])), "decode": float(np.max(widths[field]))}
             for field in WIDTH_SYMBOLS if field in used]
    return pd.DataFrame(rows)


WIDTH_MEANINGS = {  # workload.element_bytes, in words
    "weight_bits": "bytes per weight of the linear layers: weight_bits/8, with group scales and zero points",
    "full_weight_bits": "bytes per weight kept at 16 bits (norm gains, router; embedding and lm_head unless "
                        "quantize_head): max(weight_bits, 16)/8",
    "act_bits": "bytes per activation the linear layers read and write: act_bits/8",
    "stream_bits": "bytes per activation of every other operator (residual stream, norms, attention, "
                   "all-reduce): max(act_bits, 16)/8 unless quantize_stream",
    "kv_bits": "bytes per KV-cache element: kv_bits/8",
    "state_bits": "bytes per element of a recurrent state (Gated DeltaNet, Mamba-2): fp32, 4",
    "index_bits": "bytes per element of DeepSeek sparse attention's indexer cache: FP8 and an fp32 scale per 128, "
                  "(8 + 32/128)/8",
}


def formula_table(model: ModelConfig | str, workload: Workload) -> pd.DataFrame:
    """Per operator: FLOPs and bytes as formulas (LaTeX), and the derivation in words.

    The prefill operators; where decode runs an operator differently (MLA attends to its latent),
    the decode form follows as its own row, marked "(decode)"."""
    model = load_model(model)
    prefill = operator_list(model, workload, "prefill")
    seen = {(op.name, str(op.flops)) for op in prefill}
    decode_only = [op for op in operator_list(model, workload, "decode") if (op.name, str(op.flops)) not in seen]
    rows = [{"operator": op.name + suffix, "FLOPs": op.flops.latex(), "bytes": _bytes_latex(op), "derivation": op.note}
            for ops, suffix in ((prefill, ""), (decode_only, " (decode)")) for op in ops]
    return pd.DataFrame(rows)


def _bytes_latex(op) -> str:
    kinds = [k for k in MEMORY_TRAFFIC if k in op.traffic]
    parts = [f"({op.traffic[k].latex()})" if " + " in op.traffic[k].latex() else op.traffic[k].latex() for k in kinds]
    memory = " + ".join(f"{p} \\cdot {WIDTH_SYMBOLS[op.width(k)]}" for p, k in zip(parts, kinds))
    if "link" in op.traffic:  # the all-reduce's bytes travel over the interconnect, not HBM
        link = f"{op.traffic['link'].latex()} \\cdot {WIDTH_SYMBOLS[op.width('link')]}\\ \\text{{over the link}}"
        return f"{memory} + {link}" if memory else link
    return memory or "0"


def numbers_table(model: ModelConfig | str, hardware: Hardware | str, workload: Workload, phase: str) -> pd.DataFrame:
    """Per operator, for one phase of one setting: count, FLOPs, bytes, intensity, bound, time."""
    table = operator_table(model, hardware, workload, phases=(phase,))
    # per occurrence: one call of the operator; per forward pass: count × that (the 3.6 shares' time)
    return pd.DataFrame({"operator": table["operator"], "count": table["count"],
                         "FLOPs per occurrence (FLOP)": table["flops"].astype(float),
                         "bytes per occurrence (B)": (table["bytes"] + table["link_bytes"]).astype(float),
                         "FLOP/byte": table["intensity"], "bound": table["bound"],
                         "time per occurrence (s)": table["time_s"].astype(float),
                         "time per forward pass (s)": (table["time_s"] * table["count"]).astype(float)})


def worked_example(model: ModelConfig, hardware: Hardware, workload: Workload, name: str, phase: str) -> str:
    """One operator's arithmetic as Markdown with math: formula, numbers put in, result, then what it means.

    ``name``: an operator, or a chart group ("qkv mlp", "up/gate/down") for its first operator in
    this model (q_proj for Llama, q_a_proj for DeepSeek-V3, qkv_proj for Phi-3)."""
    env = symbol_values(model, workload, phase)
    op = next(o for o in operator_list(model, workload, phase) if name in (o.name, o.group))
    name = op.name
    row = operator_table(model, hardware, workload, phases=(phase,)).set_index("operator").loc[name]
    lines = [f"**`{name}` in {phase}** ({op.note}; runs {int(row['count'])} times per forward pass):", "",
             f"$$\\text{{FLOPs}} = {op.flops.latex()} = {op.flops.latex_values(env)} = {_tex(row['flops'])}"
             f" \\approx {latex_quantity(row['flops'], 'FLOP')}$$"]
    widths = element_bytes(workload)
    for kind, elements in op.traffic.items():
        width = float(widths[op.width(kind)])
        # a sum of elements times the width needs its brackets: (h·Hd + Hd)·0.5156, not h·Hd + Hd·0.5156
        formula, values = elements.latex(), elements.latex_values(env)
        if elements.precedence == SUM_PRECEDENCE:
            formula, values = f"\\left({formula}\\right)", f"\\left({values}\\right)"
        lines.append(f"$$\\text{{{kind.replace('_', ' ')} bytes}} = {formula} \\cdot {width:g} = "
                     f"{values} \\cdot {width:g} = {_tex(row[kind + '_bytes'])} \\approx "
                     f"{latex_quantity(row[kind + '_bytes'], 'B')}$$")
    ridge = hardware.roof(row["peak_flops_per_s"]).ridge
    side = "above" if row["intensity"] >= ridge else "below"
    lines += [f"$$\\text{{intensity}} = \\frac{{{_tex(row['flops'])}}}{{{_tex(row['bytes'])}}} = "
              f"{latex_number(row['intensity'], 4)}\\ \\text{{FLOP/byte}}$$",
              f"$$t = \\max\\left(\\frac{{\\text{{FLOPs}}}}{{\\text{{peak}}}}, \\frac{{\\text{{bytes}}}}"
              f"{{\\text{{bandwidth}}}}\\right) = \\max\\left({latex_quantity(row['flops'] / row['peak_flops_per_s'], 's')}, "
              f"{latex_quantity(row['bytes'] / hardware.bandwidth_bytes_per_s, 's')}\\right) = "
              f"{latex_quantity(row['time_s'], 's')}$$",
              "", f"The intensity is {side} the ridge at {ridge:.1f} FLOP/byte, so `{name}` is "
              f"**{row['bound']}-bound** here: its time is set by "
              f"{'the arithmetic' if row['bound'] == 'compute' else 'the bytes it moves'}."]
    return "\n".join(lines)


def _tex(value: float) -> str:
    """90731184128.0 -> '90\\,731\\,184\\,128': digits grouped by thin spaces (a comma would read as a list);
    from 10¹² up as ×10ⁿ (6.66 \\times 10^{13}), never an e."""
    return latex_number(value)


def causal_table(model: ModelConfig, hardware: Hardware, workload: Workload) -> pd.DataFrame:
    """Prefill attention FLOPs: what a causal kernel computes vs the full square."""
    table = operator_table(model, hardware, workload, phases=("prefill",))
    rows = table[table["group"] == "qk/pv"]
    return pd.DataFrame({"operator": rows["operator"], "causal (FLOP)": rows["flops"].astype(float),
                         "full square (FLOP)": rows["flops_full_square"].astype(float),
                         "causal / full": (rows["flops"] / rows["flops_full_square"]).round(4),
                         "bytes (B)": rows["bytes"].astype(float)})


def attention_io_table(model: ModelConfig, hardware: Hardware, workload: Workload) -> pd.DataFrame:
    """The attention operators under both IO models, per phase: FLOPs, bytes, intensity, time per layer."""
    rows = []
    for io in ("unfused", "fused"):
        table = operator_table(model, hardware, replace(workload, attention_io=io))
        attention = table[table["operator"].str.endswith(("qk_matmul", "softmax", "pv_matmul"))]
        for phase, part in attention.groupby("phase", sort=False):
            rows.append({"attention IO": io, "phase": phase, "FLOPs per layer (FLOP)": float(part["flops"].sum()),
                         "bytes per layer (B)": float(part["bytes"].sum()),
                         "FLOP/byte": round(part["flops"].sum() / part["bytes"].sum(), 2),
                         "time per layer (s)": float(part["time_s"].sum())})
    return pd.DataFrame(rows)


def time_shares(model: ModelConfig, hardware: Hardware, workload: Workload, phase: str) -> pd.DataFrame:
    """Each operator's share of the phase's roofline time (count × time per call), largest first."""
    table = operator_table(model, hardware, workload, phases=(phase,))
    shares = table.assign(total_s=table["time_s"] * table["count"]).sort_values("total_s", ascending=False)
    return pd.DataFrame({"operator": shares["operator"], "bound": shares["bound"],
                         "time per forward pass (s)": shares["total_s"].astype(float),
                         "share (%)": (100 * shares["total_s"] / shares["total_s"].sum()).round(2)})


def assumptions_table(workload: Workload) -> pd.DataFrame:
    """Every accounting switch of the workload and its value."""
    shown = {**workload.assumptions(), "compute_precision": workload.compute_precision or "auto (from the bit widths)"}
    def text(value) -> str:  # a tuple of operator names as a list a person reads
        return (", ".join(value) or "none") if isinstance(value, tuple) else str(value)
    return pd.DataFrame([(key, text(value)) for key, value in shown.items()], columns=["switch", "value"])


def ridge_equation(hardware: Hardware, peak_flops_per_s: float, precision: str) -> str:
    """The ridge point as an equation with this device's numbers (Markdown with math)."""
    ridge = hardware.roof(peak_flops_per_s).ridge
    return (f"With the {precision} roof: $$\\text{{ridge}} = \\frac{{\\text{{peak}}}}{{\\text{{bandwidth}}}} = "
            f"\\frac{{{latex_quantity(peak_flops_per_s, 'FLOP/s', 4)}}}"
            f"{{{latex_quantity(hardware.bandwidth_bytes_per_s, 'B/s', 4)}}} = "
            f"{ridge:.1f}\\ \\text{{FLOP/byte}}$$")


def run_table(run, keys=("device", "backend", "model", "date", "gemm", "stream_bytes",
                         "stream_kernels_bytes_per_s", "prediction")) -> pd.DataFrame:
    """Where and how a measurement run was made, from its metadata, each key named in words."""
    return pd.DataFrame([(RUN_KEYS.get(key, key.replace("_", " ")), _metadata_text(key, run.metadata.get(key, "")))
                         for key in keys], columns=["", "value"])


RUN_KEYS = {"gemm": "GEMM ceiling measured on", "stream_bytes": "bytes per stream array",
            "stream_kernels_bytes_per_s": "stream kernels (bandwidth)", "prediction": "predicted with"}


def _metadata_text(key: str, value) -> str:
    """A metadata value as a reader sees it: rates and sizes with SI prefixes (4.377e+10 -> 43.77 GB/s)."""
    unit = "B/s" if key.endswith("bytes_per_s") else "B" if key.endswith("_bytes") else None
    if unit and isinstance(value, dict):
        return ", ".join(f"{name} {si(v, unit)}" if isinstance(v, (int, float)) else f"{name} {v}"
                         for name, v in value.items())
    if unit and isinstance(value, (int, float)) and not isinstance(value, bool):
        return si(value, unit)
    if unit and isinstance(value, str):  # a run's CSV keeps "read 4.377e+10, copy ..." as text
        return re.sub(r"(?<![\w.])\d+(?:\.\d+)?(?:e[+-]?\d+)?(?![\w.])", lambda m: si(float(m.group()), unit), value)
    return str(value)
