"""The operator list compiled into one Python function: a phase's totals without a table.

``operator_table`` evaluates every operator's expressions one at a time and builds a
DataFrame: what a report needs, and far too slow for a slider or a sweep of a million
settings. Here the same :class:`~roofline_utils.operators.Operator` records (no second copy
of any formula) are written out once as Python source, three lines per operator, with the
model's sizes folded into constants, and compiled. The function runs on plain floats (one
setting, microseconds) or on numpy arrays (a grid, one array operation per term) alike:

    flops  = Σ count · FLOPs
    bytes  = Σ count · (weight elements · weight width + activation elements · act width
                        + KV elements · KV width)
    time_s = Σ count · max(FLOPs / peak, bytes / bandwidth, link bytes / link bandwidth)

``print(phase_source(model, Workload()))`` shows what runs (the numpy variant; the float variant
compares instead of calling numpy.maximum). Compiled functions are cached per
model and accounting switches (every Workload field but the grid's: batch, length, bit
widths, compute precision).
"""
from __future__ import annotations

import re
from dataclasses import fields
from functools import lru_cache
from operator import attrgetter
from typing import Callable

from .models import ModelConfig
import numpy as np

from .expr import ZERO, Expr
from .operators import (QUANTISED, MEMORY_TRAFFIC, MODEL_SYMBOLS, SYMBOLS, VERIFY, WIDTH_FIELDS, operator_list,
                        symbol_values)
from .workload import Workload

# Workload fields that vary over a grid, and those that set only the widths, the roofs or the memory;
# every other field shapes the operator list itself.
GRID_FIELDS = ("batch", "seq_len", "weight_bits", "act_bits", "kv_bits", "compute_precision")
VALUE_FIELDS = ("weight_group_size", "weight_scale_bits", "weight_zero_point", "quantize_stream", "output_len",
                "gpu_memory_utilization")
SWITCH_FIELDS = tuple(f.name for f in fields(Workload) if f.name not in GRID_FIELDS + VALUE_FIELDS)
_switches = attrgetter(*SWITCH_FIELDS)  # workload -> the tuple of its switches, the cache key
TOTALS = ("flops", "bytes", "link_bytes", "time_s")


def identifier(name: str) -> str:
    """A Python name for a symbol or an operator: 'H·d' -> 'H_d', '2(p-1)/p' -> '_2_p_1__p'."""
    name = re.sub(r"\W", "_", name)
    return name if name.isidentifier() else "_" + name


def phase_function(model: ModelConfig, workload: Workload, arrays: bool, phase: str = "decode"
                   ) -> Callable[..., tuple]:
    """The compiled totals of one forward pass in ``phase`` for this model and these accounting switches.

    Call it with the phase's symbol values (:func:`~roofline_utils.operators.symbol_values`),
    the bytes per element of each width field (:func:`~roofline_utils.workload.element_bytes`:
    ``weight_bits=2.0`` for 16 bits ...), ``peak`` (the linear layers' compute roof) and ``full_peak``
    (that of the operators kept at 16 bits), ``bandwidth``, ``link_bandwidth`` and ``link_latency_s``
    (the latency of one all-reduce); it returns (flops, bytes, link_bytes, time_s). ``arrays``: any of these is a numpy array (else all are plain numbers).
    """
    # prefill and decode run the same operators, except MLA's (decode attends to the latent); verify adds
    # the Medusa heads
    return _compiled(model, _switches(workload), arrays, phase if phase == VERIFY or model.mla else "decode")


@lru_cache(maxsize=256)
def _compiled(model: ModelConfig, switches: tuple, arrays: bool, phase: str) -> Callable[..., tuple]:
    source = phase_source(model, Workload(**dict(zip(SWITCH_FIELDS, switches))), arrays, phase)
    namespace: dict = {"np": np}
    exec(compile(source, f"<roofline engine: {model.name}>", "exec"), namespace)
    return namespace["phase_totals"]


def _slowest(name: str, terms: list[str], arrays: bool) -> list[str]:
    """Lines that set ``name`` to the largest of ``terms``: numpy.maximum over arrays; for plain
    floats, comparisons (a third quicker than calling max(), which the scalar path feels)."""
    if arrays:
        slowest = terms[0]
        for term in terms[1:]:
            slowest = f"np.maximum({slowest}, {term})"
        return [f"    {name} = {slowest}"]
    lines = [f"    {name} = {terms[0]}"]
    for term in terms[1:]:
        lines += [f"    other = {term}", f"    if other > {name}: {name} = other"]
    return lines


def phase_source(model: ModelConfig, workload: Workload, arrays: bool = True, phase: str | None = None) -> str:
    """The Python source of the compiled function: per operator its FLOPs, bytes and time.

    ``arrays``: the variant for numpy arrays (a grid) or for plain floats (one setting).
    Two operators with the same costs (k_proj and v_proj, gate_proj and up_proj, the norms)
    are computed once and counted twice. The FLOP, byte and link totals are one expression
    each (every operator times its count, like terms merged): only the time needs each
    operator's own max().
    """
    fixed = symbol_values(model, workload, "decode")  # model sizes: the same in both phases
    code = lambda expr: expr.python(identifier, lambda s: fixed[s] if s in MODEL_SYMBOLS else None)  # noqa: E731
    varying = [symbol for symbol in SYMBOLS if symbol not in MODEL_SYMBOLS]
    lines = [f"def phase_totals(symbols, *, {', '.join(WIDTH_FIELDS)}, peak, full_peak, bandwidth, link_bandwidth, "
             "link_latency_s):",
             *(f"    {identifier(symbol)} = symbols[{symbol!r}]" for symbol in varying)]
    operators = operator_list(model, workload, phase)
    counts = [float(model.layer_count(op.layers)) for op in operators]
    seen: dict[tuple[str, ...], str] = {}  # an operator's cost source -> the name that holds its time
    time_counts: dict[str, float] = {}
    for op, count in zip(operators, counts):
        name = identifier(op.name)
        moved = " + ".join(f"{code(elements)}*{width}" for width, elements in _elements(op).items()
                           if elements is not ZERO) or "0.0"
        link = f"{code(op.traffic['link'])}*{op.width('link')}" if "link" in op.traffic else None
        roof = "peak" if op.precision == QUANTISED else "full_peak"
        signature = (code(op.flops), moved, link, roof)
        if signature in seen:
            lines.append(f"    # {op.name}: costs the same as {seen[signature]}")
        else:
            seen[signature] = name
            terms = [f"flops_{name} / {roof}", f"bytes_{name} / bandwidth"]
            lines += [f"    # {op.name}: {op.note}", f"    flops_{name} = {signature[0]}", f"    bytes_{name} = {moved}"]
            if link:
                lines.append(f"    link_{name} = {link}")
                terms.append(f"link_{name} / link_bandwidth + link_latency_s")
            lines += _slowest(f"time_{name}", terms, arrays)
        time_counts[seen[signature]] = time_counts.get(seen[signature], 0.0) + count
    flops = sum((count * op.flops for op, count in zip(operators, counts)), ZERO)
    moved = {width: sum((count * _elements(op)[width] for op, count in zip(operators, counts)), ZERO)
             for width in WIDTH_FIELDS}
    links = {width: sum((count * op.traffic["link"] for op, count in zip(operators, counts)
                         if "link" in op.traffic and op.width("link") == width), ZERO) for width in WIDTH_FIELDS}
    time = " + ".join(f"{count!r}*time_{name}" if count != 1 else f"time_{name}" for name, count in time_counts.items())
    lines += ["    return (",
              f"        {code(flops)},",
              f"        {' + '.join(f'{code(e)}*{width}' for width, e in moved.items() if e is not ZERO) or '0.0'},",
              f"        {' + '.join(f'{code(e)}*{width}' for width, e in links.items() if e is not ZERO) or '0.0'},",
              f"        {time})"]
    return "\n".join(lines) + "\n"


def _elements(op) -> dict[str, Expr]:
    """Elements an operator moves through memory, summed per width field (weights, activations, KV)."""
    return {width: sum((op.traffic[kind] for kind in MEMORY_TRAFFIC if kind in op.traffic
                        and op.width(kind) == width), ZERO) for width in WIDTH_FIELDS}
