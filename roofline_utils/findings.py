"""What the report concludes, as small dataclasses with numbers, and the one renderer to Markdown.

Each finding is computed from the tables (tests check it by number); :func:`markdown` is the only
place that turns one into sentences, so a verdict is phrased once and reads the same everywhere.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import singledispatch

import numpy as np
import pandas as pd

from .e2e import EndToEnd
from .expr import Sym
from .errors import RooflineInputError
from .hardware import Hardware, get_hardware
from .memory import MemoryFootprint, cache_kind, fewest_devices_that_fit, largest_batch_that_fits, memory_footprint
from .text import markdown_text
from .models import ModelConfig, context_notes, load_model
from .operators import GROUPS, PHASE_LABELS
from .roofline import group_points, operator_table, peak_flops, totals
from .units import flops, grouped, nbytes, number, seconds, si
from .workload import Workload

X_RANGE = (1.0, 1e4)  # the original figure's axes (FLOP/byte, FLOP/s)
Y_RANGE = (1e10, 1e14)

# Tolerances behind the shape words, so that each word means one checkable thing:
ABOUT_THE_SAME = 0.10  # "about the same" / "flat": every value within 10% of the first
NEARLY_FREE = 1.10  # a verify step "nearly free": at most 1.1x a plain decode step
IN_PROPORTION = 0.10  # "in proportion to the batch": y/x within 10% of its value at the first x


def plural(word: str, n: float, many: str | None = None) -> str:
    """plural("sequence", 1) -> '1 sequence'; plural("batch", 3) -> '3 batches'; numbers grouped."""
    form = word if n == 1 else many or (word + "es" if word.endswith(("s", "x", "ch", "sh")) else word + "s")
    return f"{n:,g} {form}" if isinstance(n, float) and not float(n).is_integer() else f"{int(n):,} {form}"


def join_and(parts) -> str:
    """['a'] -> 'a'; ['a', 'b', 'c'] -> 'a, b and c'."""
    parts = list(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else "".join(parts)


def runs(values, mask) -> list[tuple[int, int]]:
    """Contiguous runs (first, last) of the sorted swept ``values`` where ``mask`` holds."""
    found, start = [], None
    values, mask = list(values), list(mask)
    for i, (value, flag) in enumerate(zip(values, mask)):
        if flag and start is None:
            start = value
        if start is not None and (not flag or i == len(values) - 1):
            found.append((start, value if flag else values[i - 1]))
            start = None
    return found


def batches_text(spans: list[tuple[int, int]]) -> str:
    """[(1, 1)] -> 'batch 1'; [(1, 3), (150, 1024)] -> 'batches 1 to 3 and 150 to 1,024' ('' when empty)."""
    if not spans:
        return ""
    word = "batch" if len(spans) == 1 and spans[0][0] == spans[0][1] else "batches"
    return f"{word} " + join_and(f"{lo:,}" if lo == hi else f"{lo:,} to {hi:,}" for lo, hi in spans)


MONOTONE_WITHIN = 1e-3  # "rising"/"falling": no value more than 0.1% back past an earlier one (rounding, asymptotes)


def _rising(y: np.ndarray) -> bool:
    return bool(np.all(y[1:] >= (1 - MONOTONE_WITHIN) * np.maximum.accumulate(y)[:-1]))


def _falling(y: np.ndarray) -> bool:
    return bool(np.all(y[1:] <= (1 + MONOTONE_WITHIN) * np.minimum.accumulate(y)[:-1]))


def span_text(word: str, values) -> str:
    """span_text("batch", [1, 2, 64]) -> 'batch 1 to 64'; span_text("batch", [8]) -> 'batch 8' (never '8 to 8')."""
    low, high = int(np.min(values)), int(np.max(values))
    return f"{word} {low:,}" if low == high else f"{word} {low:,} to {high:,}"


def trend(x, y, within: float = ABOUT_THE_SAME) -> str:
    """The shape of y (positive) against x: 'flat' (every y within ``within`` of the first), 'rising',
    'falling', 'peaked' (rises to an inner maximum, then falls) or 'mixed'."""
    y = np.asarray(y, dtype=float)[np.argsort(np.asarray(x), kind="stable")]
    if y.size < 2 or np.all(np.abs(y / y[0] - 1) <= within):
        return "flat"
    if _rising(y):
        return "rising"
    if _falling(y):
        return "falling"
    top = int(np.argmax(y))
    return "peaked" if _rising(y[:top + 1]) and _falling(y[top:]) else "mixed"


def proportional_until(x, y, within: float = IN_PROPORTION) -> int | None:
    """The largest x up to which y grows in proportion to x (y/x within ``within`` of its first value);
    None when it is off already at the second x."""
    order = np.argsort(np.asarray(x), kind="stable")
    x, y = np.asarray(x, dtype=float)[order], np.asarray(y, dtype=float)[order]
    ratio = (y / x) / (y[0] / x[0])
    off = np.flatnonzero(np.abs(ratio - 1) > within)
    last = len(x) - 1 if off.size == 0 else off[0] - 1
    return int(x[last]) if last >= 1 else None


def experts_read(model: ModelConfig, tokens: float) -> float:
    """Distinct experts per layer that ``tokens`` tokens touch, uniform routing: E·(1 − (1 − k/E)^T)
    (the operators' E_read)."""
    return experts_read_count(model.num_experts, model.experts_per_token, tokens)


@dataclass(frozen=True)
class Headline:
    """Time to first token, time per decode token and model FLOPs/bytes per phase, at the roofline."""

    ttft_s: float  # the whole prefill of b prompts of s tokens
    tpot_s: float  # one decode step with a KV cache of s positions
    batch: int
    prefill_flops: float
    prefill_flops_full_square: float
    decode_flops: float
    prefill_bytes: float
    decode_bytes: float

    @property
    def tokens_per_s_per_sequence(self) -> float:
        return 1 / self.tpot_s

    @property
    def tokens_per_s(self) -> float:
        return self.batch / self.tpot_s


def headline(model: ModelConfig | str, hardware: Hardware | str, workload: Workload) -> Headline:
    """One setting's totals, from the compiled engine (no table needed); the full-square FLOPs
    are the prefill counted without the causal saving."""
    model, hardware = load_model(model), get_hardware(hardware)
    phases = totals(model, hardware, workload)
    square = totals(model, hardware, replace(workload, causal=False), ("prefill",))["prefill"]
    return Headline(ttft_s=float(phases["prefill"]["time_s"]), tpot_s=float(phases["decode"]["time_s"]),
                    batch=int(np.asarray(workload.batch)), prefill_flops=float(phases["prefill"]["flops"]),
                    prefill_flops_full_square=float(square["flops"]), decode_flops=float(phases["decode"]["flops"]),
                    prefill_bytes=float(phases["prefill"]["bytes"]), decode_bytes=float(phases["decode"]["bytes"]))


def batch_at_ridge(model: ModelConfig | str, hardware: Hardware | str, workload: Workload,
                   group: str = "up/gate/down", max_batch: int = 1 << 14, phase: str = "decode") -> int | None:
    """Smallest decode (or ``phase``) batch at which ``group``'s intensity reaches the ridge point (None: never).

    Decode GEMM intensity is about 2·b·n·k / (n·k·w + b·(n+k)·a): it grows with b and
    saturates at 2·n·k/((n+k)·a), so small models on devices with a high ridge may never
    get there. Evaluated on the grid b = 1..max_batch in one vectorised call.
    """
    model, hardware = load_model(model), get_hardware(hardware)
    batches = np.arange(1, max_batch + 1)
    grid = replace(workload, batch=batches, seq_len=int(np.max(workload.seq_len)))
    points = group_points(operator_table(model, hardware, grid, phases=(phase,)), groups=(group,))
    ridge = hardware.roof(float(np.max(peak_flops(hardware, workload)))).ridge
    reached = points.loc[points["intensity"] >= ridge, "batch"]
    return int(reached.min()) if len(reached) else None


@dataclass(frozen=True)
class RidgeBatch:
    """The decode batch at which a group's GEMMs reach the ridge (None: not by batch 16,384), what a
    decode step costs on the way there, and whether that batch fits in memory."""

    group: str
    batch: int | None
    ridge: float
    seq_len: int = 0
    step_s_at_1: float | None = None  # one decode step at batch 1
    step_s_below: float | None = None  # one decode step at batch - 1, just below the ridge
    largest_fit: int | None = None  # the largest batch that fits at seq_len (0: none; None: not asked)
    mixture_of_experts: bool = False
    cache: str = "KV cache"  # what each sequence keeps (memory.cache_kind): "KV cache and recurrent state"


def ridge_recall(found: RidgeBatch) -> str:
    """Chapter 4's one-line pointer back to 2.3's finding, instead of repeating its paragraph (Markdown)."""
    if found.batch is None:
        return (f"As chapter 2.3 found, the {found.group} decode GEMMs do not reach the ridge "
                f"({found.ridge:.1f} FLOP/byte) by batch 16,384.")
    fit = ("" if found.largest_fit is None or found.largest_fit >= found.batch else
           "; no batch fits in memory here" if found.largest_fit == 0 else
           f"; within memory the largest batch is {found.largest_fit:,}")
    return (f"As chapter 2.3 found, the {found.group} decode GEMMs reach the ridge ({found.ridge:.1f} FLOP/byte) "
            f"at **batch {found.batch:,}**{fit}.")


def ridge_batch(model: ModelConfig | str, hardware: Hardware | str, workload: Workload,
                group: str = "up/gate/down") -> RidgeBatch:
    """Where ``group`` reaches the ridge, with the decode step time at batch 1 and just below that batch
    (the claim "below it a step costs about the same" is made only when the two are within 10%)."""
    model, hardware = load_model(model), get_hardware(hardware)
    ridge = hardware.roof(float(np.max(peak_flops(hardware, workload)))).ridge
    batch = batch_at_ridge(model, hardware, workload, group)
    seq_len = int(np.max(workload.seq_len))
    at_1 = below = None
    if batch is not None and batch > 1:
        grid = replace(workload, batch=np.array([1, batch - 1]), seq_len=seq_len)
        at_1, below = map(float, totals(model, hardware, grid, ("decode",))["decode"]["time_s"])
    return RidgeBatch(group, batch, ridge, seq_len, at_1, below,
                      largest_batch_that_fits(model, hardware, replace(workload, seq_len=seq_len)),
                      model.num_experts > 1, cache_kind(model))


@dataclass(frozen=True)
class GroupReading:
    """Where one legend group's cloud sits on the chart, and what moves it."""

    label: str  # e.g. "qkv mlp ar"
    phase: str
    intensity_low: float
    intensity_high: float
    memory_bound: int  # settings below the ridge
    settings: int
    depends_on: tuple[str, ...]  # "batch", "length"
    best_flops_per_s: float
    peak_flops_per_s: float
    ridge: float
    barely_on: tuple[str, ...] = ()  # axes along which the intensity changes, but by 1% or less


def chart_reading(points: pd.DataFrame, hardware: Hardware, peak_flops_per_s: float) -> tuple[GroupReading, ...]:
    """One reading per legend group. "depends on batch" means the intensity changes when only the
    batch changes (relative spread above 1%)."""
    ridge = hardware.roof(peak_flops_per_s).ridge
    readings = []
    for group in GROUPS:
        for phase, word in PHASE_LABELS.items():
            rows = points[(points["label"] == group) & (points["phase"] == phase)]
            if rows.empty:
                continue
            axes = (("batch", "seq_len"), ("length", "batch"))
            depends = tuple(axis for axis, other in axes if _varies(rows, by=other))
            barely = tuple(axis for axis, other in axes if axis not in depends and _varies(rows, by=other, above=1e-9))
            readings.append(GroupReading(f"{group} {word}", phase, float(rows["intensity"].min()),
                                         float(rows["intensity"].max()), int((rows["intensity"] < ridge).sum()),
                                         len(rows), depends, float(rows["performance_flops_per_s"].max()),
                                         peak_flops_per_s, ridge, barely))
    return tuple(readings)


def _varies(rows: pd.DataFrame, by: str, above: float = 0.01) -> bool:
    """True when the intensity changes (relative spread above ``above``) within groups of equal ``by``, so
    along the other axis."""
    spread = rows.groupby(by)["intensity"].agg(lambda x: (x.max() - x.min()) / x.max())
    return bool((spread > above).any())


@dataclass(frozen=True)
class Claim:
    """One sentence of the Medusa paper's reading of its Figure 14, and whether the points bear it out."""

    text: str
    holds: bool


def paper_claims(points: pd.DataFrame, ridge: float | None = None) -> tuple[Claim, ...]:
    """The paper's reading, checked on every setting of the sweep."""
    def rows(label, phase):
        return points[(points["label"] == label) & (points["phase"] == phase)]

    decode_gemms = pd.concat([rows("qkv mlp", "decode"), rows("up/gate/down", "decode")])
    claims = [
        Claim("decode projections and MLP intensity grows with batch",
              all(_increasing_in_batch(rows(g, "decode")) for g in ("qkv mlp", "up/gate/down"))),
        Claim("decode projections and MLP intensity does not depend on length",
              not any(_varies(rows(g, "decode"), by="batch") for g in ("qkv mlp", "up/gate/down"))),
        Claim("decode attention stays near 1 FLOP/byte (0.5 to 2) whatever batch and length",
              bool(rows("qk/pv", "decode")["intensity"].between(0.5, 2).all())),
        Claim("prefill attention intensity does not depend on batch", not _varies(rows("qk/pv", "prefill"), by="seq_len")),
    ]
    if ridge is not None:
        claims.append(Claim("decode projections and MLP lie on the bandwidth slope (memory-bound)",
                            bool((decode_gemms["intensity"] < ridge).all())))
    return tuple(claims)


def _increasing_in_batch(rows: pd.DataFrame) -> bool:
    return bool(all(np.all(np.diff(part.sort_values("batch")["intensity"].to_numpy()) > 0)
                    for _, part in rows.groupby("seq_len")))


@dataclass(frozen=True)
class AxisNote:
    """Where this chart's axes leave the original's 1..1e4 FLOP/byte and 10 G..100 T FLOP/s."""

    points_left_of_x1: int
    lowest_label: str
    lowest_intensity: float
    peak_flops_per_s: float

    @property
    def roof_above_top(self) -> bool:
        return self.peak_flops_per_s > Y_RANGE[1]


def axis_note(points: pd.DataFrame, peak_flops_per_s: float) -> AxisNote:
    shown = points[points["label"].isin(GROUPS) & np.isfinite(points["intensity"]) & (points["intensity"] > 0)]
    low = shown[shown["intensity"] < X_RANGE[0]]
    worst = low.loc[low["intensity"].idxmin()] if len(low) else None
    return AxisNote(len(low), "" if worst is None else f"{worst['label']} {PHASE_LABELS[worst['phase']]}",
                    0.0 if worst is None else float(worst["intensity"]), peak_flops_per_s)


@dataclass(frozen=True)
class Capacity:
    """The largest decode batch that fits at this length, and the fewest devices that hold the model."""

    seq_len: int
    devices: int
    largest_batch: int  # 0: not even one sequence
    fewest_devices: int | None  # None: more than 64


def capacity(model: ModelConfig | str, hardware: Hardware | str, workload: Workload) -> Capacity:
    return Capacity(int(np.max(workload.seq_len)), workload.tp, largest_batch_that_fits(model, hardware, workload),
                    fewest_devices_that_fit(model, hardware, replace(workload, tp=1)))


_H, _C, _KV, _D = Sym("H"), Sym("c"), Sym("kv"), Sym("d")
_DC, _RKV, _DQK, _DV, _HKV = Sym("d_c"), Sym("r_kv"), Sym("d_qk"), Sym("d_v"), Sym("H_kv")
# Per cached position and sequence, each form's cache elements and FLOPs per byte of them (H query heads
# per device, c FLOPs of softmax per score, kv bytes per cached element):
DECODE_ATTENTION = {  # form -> (cached elements per layer, intensity)
    # K and V of Hkv heads; QK^T 2·d and PV 2·d per head, plus the softmax
    "GQA": (2 * _HKV * _D, _H * (4 * _D + _C) / (2 * _HKV * _D * _KV)),
    # the latent and the rotary key, shared by all heads: a d_c-long score and an r_kv-wide sum per head
    "MLA, absorbed": (_DC, _H * (2 * (_DC + _RKV) + _C) / (_DC * _KV)),
    # each head's decompressed K (d_qk) and V (d_v), read by that head alone
    "MLA, naive": (_H * (_DQK + _DV), (2 * (_DQK + _DV) + _C) / ((_DQK + _DV) * _KV)),
}


@dataclass(frozen=True)
class DecodeAttention:
    """What one decode step's attention reads per cached position, and the intensity that follows
    (the formulas: DECODE_ATTENTION). They count the cache alone, a fused kernel's compulsory traffic
    at long context; the operator table adds Q, the output and, unfused, the score matrix."""

    form: str  # "MHA", "GQA", "MLA, absorbed", "MLA, naive"
    cached_elements: float  # per position, layer and device
    intensity: float  # the formula's, FLOP/byte
    table_intensity: float  # the attention operators of the operator table at this setting
    seq_len: int
    ridge: float
    symbols: dict  # the formula's symbols and their values
    naive: "DecodeAttention | None" = None  # MLA: the decompressed form, for comparison

    @property
    def formula(self):
        return DECODE_ATTENTION["GQA" if self.form == "MHA" else self.form][1]

    @property
    def bound(self) -> str:
        return "compute" if self.table_intensity >= self.ridge else "memory"


def decode_attention(model: ModelConfig | str, hardware: Hardware | str, workload: Workload,
                     form: str | None = None) -> DecodeAttention:
    """The decode step's attention at the workload's batch and length (see :class:`DecodeAttention`)."""
    from .operators import symbol_values

    model, hardware = load_model(model), get_hardware(hardware)
    workload = replace(workload, mla=form or workload.mla)
    env = symbol_values(model, workload, "decode")
    env = {**env, "c": workload.softmax_flops_per_element, "kv": float(np.max(workload.kv_bits)) / 8,
           "H_kv": env["Hkv·d"] / env["d"]}
    name = f"MLA, {workload.mla}" if model.mla else "MHA" if env["H_kv"] == env["H"] else "GQA"
    cached, intensity = DECODE_ATTENTION["GQA" if name == "MHA" else name]
    table = operator_table(model, hardware, workload, phases=("decode",))
    attention = table[table["operator"].isin(["qk_matmul", "softmax", "pv_matmul"])]
    qk = attention[attention["operator"] == "qk_matmul"].iloc[0]
    naive = decode_attention(model, hardware, workload, "naive") if name == "MLA, absorbed" else None
    return DecodeAttention(name, float(cached(env)), float(intensity(env)),
                           float(attention["flops"].sum() / attention["bytes"].sum()), int(np.max(workload.seq_len)),
                           hardware.roof(float(qk["peak_flops_per_s"])).ridge,
                           {k: float(np.ravel(env[k])[0]) for k in sorted(intensity.symbols())}, naive)


@dataclass(frozen=True)
class MeasuredSource:
    """Which machine and model a measurement run comes from, against the report's."""

    run_model: str
    run_device: str
    report_model: str
    report_device: str
    same_model: bool
    same_device: bool


def measured_source(run, model: ModelConfig, hardware: Hardware) -> MeasuredSource:
    from .measure.empirical import datasheet_device

    device = datasheet_device(run)
    run_model = str(run.metadata.get("model", "?"))
    return MeasuredSource(model_display_name(run_model),
                          device.name if device is not None else run.metadata.get("device", "another machine"),
                          model.display_name, hardware.name, run_model == model.name,
                          device is not None and device.key == hardware.key)


def model_display_name(name: str) -> str:
    """A run's model as the report names models: a preset's display name ('Llama 33B'), else as recorded."""
    from .models import preset, preset_names

    return preset(name).display_name if name in preset_names() else name


def measurement_for(model: ModelConfig, requested: str) -> str:
    """The shipped run to show: the one asked for, unless it is the default and another shipped run
    measured the report's own model."""
    from .measure import load_shipped, shipped_runs
    from .params import DEFAULT_MEASUREMENT

    if requested != DEFAULT_MEASUREMENT:
        return requested
    same = [name for name in shipped_runs() if load_shipped(name).metadata.get("model") == model.name]
    return same[0] if same else requested


@dataclass(frozen=True)
class ContextReach:
    """Which swept prompt lengths the model's context holds, with ``output_len`` tokens generated after each."""

    model_name: str
    limit: int | None  # max_position_embeddings (None: the config gives none)
    output_len: int
    swept: tuple[int, ...]
    beyond: tuple[int, ...]  # the swept lengths past the context
    marked: bool  # whether the chart beside the sentence marks them (a shaded span or its legend)


def context_reach(model: ModelConfig | str, lengths, output_len: int = 0, marked: bool = True) -> ContextReach:
    """The swept ``lengths`` against the model's context: a prompt of n tokens with ``output_len`` generated
    after it needs n + output_len positions (the same rule as :meth:`ModelConfig.sweep_limit`)."""
    model = load_model(model)
    swept = tuple(sorted({int(n) for n in np.ravel(lengths)}))
    limit = model.sweep_limit(output_len)
    beyond = () if limit is None else tuple(n for n in swept if n > limit)
    return ContextReach(model.display_name, model.max_position_embeddings, int(output_len), swept, beyond, marked)


def largest_batch_text(largest: int) -> str:
    """The one phrasing of 'largest batch that fits', for every section that states it."""
    return f"{largest:,}" if largest else "no batch fits, not even one sequence"


@dataclass(frozen=True)
class VerifyReading:
    """What verifying a Medusa tree buys against batch, read off :func:`speculative.verify_curve`."""

    tree_size: int
    medusa_heads: int
    acceptance: float
    overhead_at_1: float
    speedup_at_1: float
    nearly_free_until: int | None  # the largest batch of the first run whose overhead is at most 1.1 (None: none)
    halved_at: int | None  # the first batch, from the peak on, whose speedup is half the peak speedup or less
    slower_from: int | None  # the first batch at which verifying is slower than decoding (speedup < 1)
    largest_batch: int
    decode_ridge_batch: int | None  # a plain decode step's MLP GEMMs reach the ridge
    verify_ridge_batch: int | None  # the verify step's MLP GEMMs (b·n tokens) reach the ridge
    shape: str = "falling"  # of the speedup against the batch: see :func:`trend`
    peak_speedup: float = 0.0
    peak_batch: int = 1
    nearly_free: tuple[tuple[int, int], ...] = ()  # runs of batches whose overhead is at most 1.1
    slower: tuple[tuple[int, int], ...] = ()  # runs of batches whose speedup is below 1
    experts: int = 1  # routed experts per layer (1: dense)
    experts_per_token: int = 1
    experts_everywhere_from: int | None = None  # the first batch whose plain step touches 90% of the experts


def verify_reading(curve: pd.DataFrame, model: ModelConfig | str, hardware: Hardware | str, workload: Workload,
                   acceptance: float) -> VerifyReading:
    """The reading of one tree size's curve (``workload.tree_size``), with where the MLP GEMMs cross the ridge.

    The shape words come from the curve itself: the speedup's trend, its peak, the runs of batches
    where the step is nearly free (overhead at most 1.1) and where verifying is slower (speedup < 1)."""
    from .speculative import with_tree

    model = load_model(model)
    workload = with_tree(workload, workload.tree_size, workload.medusa_heads)
    n, heads = workload.tree_size, workload.medusa_heads
    rows = curve[curve["tree_size"] == n].sort_values("batch")
    if rows.empty:
        raise RooflineInputError("tree_size", f"{n} is not one of the curve's tree sizes",
                                 ", ".join(map(str, sorted(curve["tree_size"].unique()))))
    batches, speedup, overhead = rows["batch"].to_numpy(), rows["speedup"].to_numpy(), rows["overhead"].to_numpy()
    top = int(np.argmax(speedup))
    halved = np.flatnonzero(speedup[top:] <= speedup[top] / 2)
    free = runs(batches, overhead <= NEARLY_FREE)
    slower = runs(batches, speedup < 1)
    everywhere = None
    if model.num_experts > 1:
        touched = np.flatnonzero(experts_read(model, batches) >= 0.9 * model.num_experts)
        everywhere = int(batches[touched[0]]) if touched.size else None
    plain = replace(workload, tree_size=1, medusa_heads=0)
    accepted = float(rows["accepted"].iloc[0]) if "accepted" in rows else acceptance  # at most n of n
    return VerifyReading(n, heads, accepted, float(overhead[0]), float(speedup[0]),
                         free[0][1] if free and free[0][0] == batches[0] else None,
                         int(batches[top + halved[0]]) if halved.size else None,
                         slower[0][0] if slower else None, int(batches[-1]),
                         batch_at_ridge(model, hardware, plain), batch_at_ridge(model, hardware, workload, phase="verify"),
                         trend(batches, speedup), float(speedup[top]), int(batches[top]), tuple(free), tuple(slower),
                         model.num_experts, model.experts_per_token, everywhere)


@dataclass(frozen=True)
class ScoreCount:
    """Attention scores of one verify step per sequence and head: dense, and what the tree mask keeps."""

    seq_len: int
    tree_size: int
    dense: int  # n·(s-1+n): every candidate against the cached context and every tree position
    useful: int | None  # n·(s-1) + Σ(depth + 1); None beyond the shipped tree or under a window
    window: int | None = None  # the sliding window, when it is shorter than s-1+n


def score_count(model: ModelConfig | str, seq_len: int, tree_size: int, chain: bool) -> ScoreCount:
    """With a sliding window shorter than the s-1+n positions a candidate could see, each sees the
    window: n·W scores, and the tree mask's useful count is not given (the window cuts it)."""
    from .speculative import useful_scores_per_head

    window = load_model(model).sliding_window
    positions = seq_len - 1 + tree_size
    if window is not None and window < positions:
        return ScoreCount(seq_len, tree_size, tree_size * window, None, window)
    return ScoreCount(seq_len, tree_size, tree_size * positions, useful_scores_per_head(seq_len, tree_size, chain))


@dataclass(frozen=True)
class DraftReading:
    """Draft-model speculative decoding against batch, read off :func:`speculative.draft_curve`."""

    draft: str
    target: str
    alpha: float
    gamma: int
    tokens_per_round: float
    speedup_at_1: float  # at the chosen gamma
    best_gamma_at_1: int
    best_speedup_at_1: float
    slower_from: int | None  # the first batch at which even the best gamma is slower than plain decoding
    largest_batch: int
    slower: tuple[tuple[int, int], ...] = ()  # runs of batches where even the best gamma is slower


def no_draft_note(target: str, tp: int) -> str:
    """Why chapter 6.3 has no draft model: none of the shipped presets qualifies (Markdown)."""
    split = f" and splits over the same {tp} devices" if tp > 1 else ""
    return (f"No draft model to compare: no shipped preset of {markdown_text(target)}'s family shares its vocabulary "
            f"with at most a quarter of its parameters{split}; pass `--draft-model` a preset or a config.json.")


def draft_reading(curve: pd.DataFrame, draft: str, target: str, alpha: float, gamma: int) -> DraftReading:
    from .speculative import best_draft_tokens

    chosen = curve[curve["gamma"] == gamma].sort_values("batch")
    best = best_draft_tokens(curve)
    slower = best.loc[best["speedup"] < 1, "batch"]
    return DraftReading(draft, target, alpha, gamma, float(chosen["tokens_per_round"].iloc[0]),
                        float(chosen["speedup"].iloc[0]), int(best["gamma"].iloc[0]), float(best["speedup"].iloc[0]),
                        int(slower.min()) if len(slower) else None, int(best["batch"].max()),
                        tuple(runs(best["batch"], best["speedup"] < 1)))


@dataclass(frozen=True)
class BatchIntensity:
    """How one group's decode intensity moves with the batch at one context length (the 4.1 table),
    and attention's beside it."""

    group: str
    seq_len: int
    batches: tuple[int, ...]
    intensities: tuple[float, ...]
    ridge: float
    shape: str  # of the intensity against the batch, see :func:`trend`
    proportional_until: int | None  # in proportion to the batch (within 10%) up to this batch
    reaches_ridge_at: int | None  # the first swept batch at or above the ridge
    attention_shape: str  # of decode attention's intensity against the batch
    attention_low: float
    attention_high: float
    experts: int = 1
    experts_per_token: int = 1


def batch_intensity(trajectory: pd.DataFrame, model: ModelConfig | str, ridge: float,
                    group: str = "up/gate/down") -> BatchIntensity:
    """Read ``trajectory`` (decode :func:`sweeps.sweep_points` at one length over the batch): the shape of
    ``group``'s intensity, how far it is in proportion to the batch, where it meets the ridge."""
    model = load_model(model)
    rows = trajectory[(trajectory["label"] == group) & (trajectory["phase"] == "decode")].sort_values("batch")
    attention = trajectory[(trajectory["label"] == "qk/pv") & (trajectory["phase"] == "decode")]
    batches, intensity = rows["batch"].to_numpy(), rows["intensity"].to_numpy()
    reached = batches[intensity >= ridge]
    return BatchIntensity(group, int(rows["seq_len"].max()), tuple(int(b) for b in batches),
                          tuple(float(i) for i in intensity), ridge, trend(batches, intensity),
                          proportional_until(batches, intensity), int(reached[0]) if reached.size else None,
                          trend(attention["batch"], attention["intensity"]), float(attention["intensity"].min()),
                          float(attention["intensity"].max()), model.num_experts, model.experts_per_token)


@dataclass(frozen=True)
class StepCost:
    """Decode time per token against the batch at one context length (one line of the 4.2 chart)."""

    seq_len: int
    first_batch: int
    last_batch: int
    first_s: float
    last_s: float
    shape: str  # of the time per token against the batch
    same_until: int  # time per token within 10% of the first batch's up to this batch
    throughput_shape: str
    largest_fit: int  # the largest swept batch that fits (0: none)
    throughput_level_from: int | None = None  # tokens/s within 10% of the last batch's from this batch on


def _levels_from(batches: np.ndarray, values: np.ndarray) -> int | None:
    """The first batch from which ``values`` stay within 10% (ABOUT_THE_SAME) of the last one, when that is
    before the last batch: on the chart's log axis the curve looks flat from there. None when it never levels."""
    close = np.abs(values / values[-1] - 1) <= ABOUT_THE_SAME
    first = len(close) - int(np.argmin(close[::-1])) if not close.all() else 0
    return int(batches[first]) if first < len(close) - 1 else None


@dataclass(frozen=True)
class BatchSweep:
    """What :func:`sweeps.decode_sweep` over batch × length shows: per length, the step's cost and the fit."""

    lengths: tuple[StepCost, ...]
    mixture_of_experts: bool
    cache: str = "KV cache"


def batch_sweep(sweep: pd.DataFrame, model: ModelConfig | str) -> BatchSweep:
    """Per context length of ``sweep`` (batch, seq_len, tpot_s, tokens_per_s, fits): the shapes the chart draws."""
    model = load_model(model)
    lengths = []
    for length, rows in sweep.sort_values("batch").groupby("seq_len"):
        batches, tpot = rows["batch"].to_numpy(), rows["tpot_s"].to_numpy()
        same = runs(batches, np.abs(tpot / tpot[0] - 1) <= ABOUT_THE_SAME)[0][1]
        fitting = batches[rows["fits"].to_numpy()]
        lengths.append(StepCost(int(length), int(batches[0]), int(batches[-1]), float(tpot[0]), float(tpot[-1]),
                                trend(batches, tpot), int(same), trend(batches, rows["tokens_per_s"]),
                                int(fitting.max()) if fitting.size else 0,
                                _levels_from(batches, rows["tokens_per_s"].to_numpy(dtype=float))))
    return BatchSweep(tuple(lengths), model.num_experts > 1, cache_kind(model))


def breakdown_caption(breakdown: pd.DataFrame) -> str:
    """The time-breakdown chart's caption: the all-reduce bar is named only where it is drawn."""
    link = breakdown[(breakdown["category"] == "all-reduce (link)") & (breakdown["time_s"] > 0)]
    return ("Where the time goes, per phase" + (" (purple: the tensor-parallel all-reduce over the link)."
                                               if len(link) else ", on one device (no all-reduce)."))


def on_devices(hardware: Hardware, tp: int) -> str:
    """'NVIDIA A40' on one device, '8 × NVIDIA H200 SXM' under tensor parallelism (never '1 × ...')."""
    return f"{tp} × {hardware.name}" if tp > 1 else hardware.name


@singledispatch
def markdown(finding) -> str:
    """The one renderer: a finding as Markdown."""
    raise TypeError(f"no Markdown for {type(finding).__name__}")


@markdown.register
def _(finding: Headline) -> str:
    return "\n".join([
        "| | prefill (time to first token) | decode (one step) |", "|---|---:|---:|",
        f"| FLOPs | {flops(finding.prefill_flops)} (full square: {flops(finding.prefill_flops_full_square)}) "
        f"| {flops(finding.decode_flops)} |",
        f"| bytes | {nbytes(finding.prefill_bytes)} | {nbytes(finding.decode_bytes)} |",
        f"| time at the roofline | **{seconds(finding.ttft_s)}** | **{seconds(finding.tpot_s)}** |",
        "", f"Decode: **{finding.tokens_per_s_per_sequence:.1f} tokens/s** per sequence"
        + (" (a batch of one)." if finding.batch == 1 else
           f", {finding.tokens_per_s:.1f} tokens/s for the batch of {finding.batch:,}.")])


@markdown.register
def _(finding: RidgeBatch) -> str:
    if finding.batch is None:
        return (f"The {finding.group} decode GEMMs never reach the ridge ({finding.ridge:.1f} FLOP/byte) on this "
                "device at these bit widths: they stay memory-bound at any batch.")
    text = (f"The {finding.group} decode GEMMs reach the ridge ({finding.ridge:.1f} FLOP/byte) at **batch "
            f"{finding.batch:,}**")
    if finding.batch == 1:
        text += ": even one sequence's decode step is compute-bound there."
    elif finding.step_s_at_1 is None:
        text += "."
    else:
        growth = finding.step_s_below / finding.step_s_at_1
        steps = (f"{seconds(finding.step_s_at_1)} at batch 1, {seconds(finding.step_s_below)} at batch "
                 f"{finding.batch - 1:,}")
        if growth <= 1 + ABOUT_THE_SAME:
            text += (f". Below it a decode step at {finding.seq_len:,} cached tokens costs about the same whatever "
                     f"the batch ({steps}): the weights it reads serve the whole batch.")
        else:
            why = ("a bigger batch routes its tokens to more of the experts, whose weights are read too, and each "
                   f"sequence reads its own {finding.cache}" if finding.mixture_of_experts else
                   f"the weights are read once for the whole batch, but each sequence reads its own {finding.cache}")
            text += (f". Below it a decode step at {finding.seq_len:,} cached tokens still grows "
                     f"{number(growth, 2)}× with the batch ({steps}): {why}.")
    if finding.largest_fit is not None and finding.largest_fit < finding.batch:
        text += (f" Batch {finding.batch:,} does not fit in memory here: "
                 + ("no batch does, not even one sequence" if finding.largest_fit == 0 else
                    f"the largest batch that fits at {finding.seq_len:,} tokens is {finding.largest_fit:,}")
                 + ", so within memory these GEMMs stay below the ridge.")
    return text


@markdown.register
def _(finding: GroupReading) -> str:
    low, high = number(finding.intensity_low), number(finding.intensity_high)
    span = low if low == high else f"{low} to {high}"  # a range whenever the points differ as written
    depends = "depends on " + (" and ".join(finding.depends_on) or "neither batch nor length")
    if finding.barely_on:
        depends += (" (it changes by 1% or less with " if not finding.depends_on else " (by 1% or less with ") \
            + " and ".join(finding.barely_on) + ")"
    bound = ("none of the settings" if finding.memory_bound == 0 else "the one setting" if finding.settings == 1
             else f"all {finding.settings:,} settings" if finding.memory_bound == finding.settings
             else f"{finding.memory_bound:,} of {plural('setting', finding.settings)}")
    return (f"**{finding.label}** ({finding.phase}): intensity {span} FLOP/byte; {bound} memory-bound (below the "
            f"ridge at {finding.ridge:.1f}); {depends}; "
            f"at best {si(finding.best_flops_per_s, 'FLOP/s')} "
            f"({100 * finding.best_flops_per_s / finding.peak_flops_per_s:.3g}% of peak).")


@markdown.register
def _(finding: VerifyReading) -> str:
    f = finding
    if f.tree_size == 1:
        return ("A tree of one token is the plain decode step itself: it costs "
                f"{f.overhead_at_1:.2f}× a decode step and gives a {f.speedup_at_1:.2f}× speedup at every batch "
                f"up to {f.largest_batch:,}, the baseline the other trees are held against.")
    heads = f" with {plural('Medusa head', f.medusa_heads)}" if f.medusa_heads else ""
    first = (f"At batch 1, verifying a tree of **{plural('candidate', f.tree_size)}**{heads} costs "
             f"**{f.overhead_at_1:.2f}×** a plain decode step; accepting {plural('token', f.acceptance)} per step, that is a "
             f"**{f.speedup_at_1:.2f}× speedup**" + (" (a slowdown)." if f.speedup_at_1 < 1 else "."))
    free_words = "nearly free (at most 1.1× a decode step)"
    if not f.nearly_free:
        free = f"At no batch up to {f.largest_batch:,} is the step {free_words}."
    elif f.nearly_free == ((1, 1),):
        free = f"The step is {free_words} at batch 1 only."
    elif f.nearly_free_until is not None and len(f.nearly_free) == 1:
        free = f"The step stays {free_words} up to batch {f.nearly_free_until:,}."
    else:
        free = f"The step is {free_words} at {batches_text(list(f.nearly_free))}."
    halves = (f"halves by batch **{f.halved_at:,}**" if f.halved_at is not None
              else f"does not halve by batch {f.largest_batch:,}")
    shape = {
        "falling": (f"The speedup {halves}, falling as the batch grows" if f.halved_at is not None else
                    f"The speedup falls as the batch grows, but does not halve by batch {f.largest_batch:,}"),
        "peaked": f"The speedup rises from {f.speedup_at_1:.2f}× at batch 1 to its peak, **{f.peak_speedup:.2f}×** at "
                  f"batch {f.peak_batch:,}, then falls: from the peak it {halves}",
        "rising": f"The speedup rises with the batch, to {f.peak_speedup:.2f}× at batch {f.peak_batch:,}",
        "flat": f"The speedup stays about the same (within 10% of batch 1's) up to batch {f.largest_batch:,}",
        "mixed": f"The speedup goes up and down with the batch, highest ({f.peak_speedup:.2f}×) at batch "
                 f"{f.peak_batch:,}; from there it {halves}",
    }[f.shape]
    slower = (f"; verifying is slower than plain decoding at {batches_text(list(f.slower))}." if f.slower
              else f"; verifying stays faster than plain decoding up to batch {f.largest_batch:,}.")
    ridges = (f"a plain decode step's MLP GEMMs see b tokens and "
              + (f"reach the ridge only at batch {f.decode_ridge_batch:,}" if f.decode_ridge_batch
                 else "never reach the ridge")
              + f"; the verify step's see b·{f.tree_size} tokens and "
              + (f"reach it at batch {f.verify_ridge_batch:,}" if f.verify_ridge_batch else "never reach it"))
    if f.experts > 1:
        why = (f"Why: in a mixture of experts a plain decode step at batch 1 reads {f.experts_per_token} of the "
               f"{f.experts} experts' weights per layer, while the tree's {plural('token', f.tree_size)} touch "
               f"{_touched(f.experts, f.experts_per_token, f.tree_size)}: checking candidates reads more "
               "weights, not only more tokens, until the batch is large enough that a plain step touches most "
               "experts too" + (f" (90% of them from batch {f.experts_everywhere_from:,})"
                                if f.experts_everywhere_from else "")
               + f". Beyond that, as in a dense model, {ridges}: above that every candidate costs compute time.")
    elif f.verify_ridge_batch == 1:  # no batch lies below the ridge: nothing rides along for free
        why = (f"Why: {ridges}: already at batch 1 the tree's tokens make its GEMMs compute-bound, so every "
               "candidate costs compute time from the first sequence on.")
    else:
        why = (f"Why: {ridges}. Below that the weights are read once whatever the number of candidates, so "
               "checking them rides along with the weight reads; above it every candidate costs compute time.")
    return " ".join([first, free, shape + slower, why])


def _touched(experts: int, per_token: int, tokens: float) -> str:
    """'about 5.47' of the experts, or 'all 8' when the count rounds to every one."""
    count = experts_read_count(experts, per_token, tokens)
    return f"all {experts}" if count > experts - 0.05 else f"about {number(count)}"


def experts_read_count(experts: int, per_token: int, tokens: float) -> float:
    """E·(1 − (1 − k/E)^T): distinct experts ``tokens`` tokens touch (as :func:`experts_read`)."""
    return experts * (1 - (1 - per_token / experts) ** tokens)


@markdown.register
def _(finding: ScoreCount) -> str:
    if finding.window is not None:
        return (f"Attention scores per sequence and head: each of the {finding.tree_size} candidates sees the "
                f"{grouped(finding.window)}-token sliding window, **{grouped(finding.dense)}** scores in all "
                "(the FLOPs count these).")
    kept = (f"; the tree mask keeps **{grouped(finding.useful)}** of them (each candidate's cached context and its "
            "ancestors, itself included): the dense kernel is what runs, so the FLOPs count the dense number"
            if finding.useful is not None else "; no tree of that size ships, so the useful count is not given")
    return (f"Attention scores per sequence and head: a dense tree-attention kernel computes $n \\cdot (s - 1 + n)$ = "
            f"{finding.tree_size} · {grouped(finding.seq_len - 1 + finding.tree_size)} = "
            f"**{grouped(finding.dense)}**{kept}.")


@markdown.register
def _(finding: DraftReading) -> str:
    spans = list(finding.slower)
    if not spans:
        slower = f"Some γ still pays at every batch up to {finding.largest_batch:,}."
    elif len(spans) == 1 and spans[0][1] == finding.largest_batch and spans[0][0] > 1:
        slower = f"From batch **{spans[0][0]:,}** even the best γ is slower than plain decoding."
    else:
        slower = f"Even the best γ is slower than plain decoding at {batches_text(spans)}."
    return (f"With **{markdown_text(finding.draft)}** drafting for {markdown_text(finding.target)} (each drafted token accepted with probability "
            f"α = {finding.alpha:g}), γ = {finding.gamma} drafted tokens yield {finding.tokens_per_round:.2f} tokens per "
            f"round and a **{finding.speedup_at_1:.2f}× speedup** at batch 1; the best γ there is "
            f"{finding.best_gamma_at_1} ({finding.best_speedup_at_1:.2f}×). {slower} The draft's steps are memory-bound "
            "too, so their cost is its weights read γ times: a draft pays when it is much smaller than the target.")


@markdown.register
def _(finding: BatchIntensity) -> str:
    f = finding
    first, last = f.batches[0], f.batches[-1]
    ends = f"from {number(f.intensities[0], 4)} FLOP/byte at batch {first:,} to {number(f.intensities[-1], 4)} at batch {last:,}"
    if f.shape == "flat":
        text = f"The {f.group} decode intensity stays about the same whatever the batch ({ends})."
    elif f.shape != "rising":
        text = f"The {f.group} decode intensity does not simply grow with the batch: it goes {ends}."
    elif f.proportional_until == last:
        text = (f"The {f.group} decode intensity grows in proportion to the batch (within 10%), {ends}: each weight "
                "byte read serves every sequence of the batch.")
    elif f.proportional_until is not None:
        at = f.intensities[f.batches.index(f.proportional_until)]
        text = (f"The {f.group} decode intensity grows in proportion to the batch (within 10%) up to batch "
                f"{f.proportional_until:,} ({number(at, 4)} FLOP/byte), then more slowly, to {number(f.intensities[-1], 4)} at "
                f"batch {last:,}: each weight byte serves every sequence, but the activations grow with the batch too.")
    else:
        text = (f"The {f.group} decode intensity grows far more slowly than the batch, {ends} "
                f"({number(f.intensities[-1] / f.intensities[0])}× for a {last // first:,}× batch)")
        text += (f": each sequence's token goes to {f.experts_per_token} of the {f.experts} experts, so a bigger "
                 "batch reads more experts' weights, until it touches them all." if f.experts > 1
                 else ": the bytes that grow with the batch weigh about as much as the weights.")
    text += (f" It reaches the ridge ({f.ridge:.1f} FLOP/byte) at batch {f.reaches_ridge_at:,} of those swept."
             if f.reaches_ridge_at is not None else
             f" It stays below the ridge ({f.ridge:.1f} FLOP/byte) up to batch {last:,}.")
    span = number(f.attention_low) if f.attention_shape == "flat" else f"{number(f.attention_low)} to {number(f.attention_high)}"
    text += (f" Attention does not move (about {span} FLOP/byte at every batch): each sequence reads its own KV cache."
             if f.attention_shape == "flat" else
             f" Attention's intensity changes with the batch too ({span} FLOP/byte).")
    return text


@markdown.register
def _(finding: BatchSweep) -> str:
    lines = []
    for c in finding.lengths:
        head = f"- context {c.seq_len:,}: time per token {seconds(c.first_s)} at batch {c.first_batch:,}"
        if c.shape == "flat":
            lines.append(f"{head}, about the same (within 10%) up to batch {c.last_batch:,} "
                         f"({seconds(c.last_s)}): a bigger batch costs almost nothing per step.")
            continue
        grows = {"rising": "grows", "falling": "falls", "peaked": "rises, then falls", "mixed": "changes"}[c.shape]
        same = (f"; it stays within 10% of batch {c.first_batch:,}'s up to batch {c.same_until:,}"
                if c.same_until > c.first_batch else "")
        lines.append(f"{head}, {seconds(c.last_s)} at batch {c.last_batch:,}: it {grows} "
                     f"{number(c.last_s / c.first_s)}×{same}.")
    costly = [c for c in finding.lengths if c.shape != "flat"]
    if costly:
        why = ("a bigger batch touches more experts, whose weights are read too, and " if finding.mixture_of_experts
               else "the weights are read once for the whole batch, but ")
        grow = ("so the bytes grow with batch × length" if finding.cache == "KV cache" else
                "so the bytes grow with the batch, and the KV cache's part with the length too")
        lines.append(f"\nWhere the step is not free, {why}each sequence reads its own {finding.cache}, {grow}.")
    throughput = {c.throughput_shape for c in finding.lengths}
    levelled = [c for c in finding.lengths if c.throughput_level_from is not None]
    if throughput == {"rising"} and not levelled:
        lines.append("Throughput (tokens/s) grows with the batch at every context swept.")
    elif throughput == {"rising"}:
        by_batch: dict[int, list[int]] = {}
        for c in levelled:  # one clause per batch: "from batch 256 at 128, 512 and 2,048 tokens"
            by_batch.setdefault(c.throughput_level_from, []).append(c.seq_len)
        where = join_and(f"from batch {batch:,} at {join_and(f'{n:,}' for n in lengths)} tokens"
                         for batch, lengths in by_batch.items())
        lines.append(f"Throughput (tokens/s) grows with the batch, then levels off, staying within 10% of its last "
                     f"value ({where}): there a step's "
                     f"time grows in proportion to the batch (GEMMs past the ridge, or each sequence's own {finding.cache} "
                     "read), so a bigger batch adds little throughput.")
    fits = {c.largest_fit for c in finding.lengths}
    lengths = [c.seq_len for c in finding.lengths]
    swept = f"{lengths[0]:,}" if len(lengths) == 1 else f"{lengths[0]:,} to {lengths[-1]:,}"
    if fits == {0}:
        lines.append(f"No swept batch fits in memory at any context from {swept} tokens, not even one sequence: "
                     "every marker is hollow.")
    elif len(fits) == 1:
        lines.append(f"The largest swept batch that fits is {fits.pop():,} at every context from {swept} tokens.")
    else:
        lines.append("Largest swept batch that fits: " + "; ".join(
            f"{c.seq_len:,} tokens: {largest_batch_text(c.largest_fit)}" for c in finding.lengths) + ".")
    return "\n".join(lines)


@markdown.register
def _(finding: ContextReach) -> str:
    name = markdown_text(finding.model_name)
    if finding.limit is None:
        return (f"{name}'s config gives no context limit (`max_position_embeddings`): every length is drawn as if "
                "the model could hold it.")
    # the chart of chapter 2 draws single steps (a length is the positions cached), the sweeps of chapter 4
    # whole requests (a length is the prompt, output_len more follow): the same limit cuts them differently
    room = (f", so a prompt followed by {plural('generated token', finding.output_len)} has at most "
            f"{max(finding.limit - finding.output_len, 0):,}" if finding.output_len else
            "; a point at length n is one step over n positions (a prompt of n tokens, or a decode step with n cached), "
            "nothing generated after it")
    if not finding.beyond:
        return (f"{name}'s context holds {finding.limit:,} tokens (`max_position_embeddings`){room}: every swept "
                "length fits.")
    lengths = finding.beyond
    which = (f"the swept length {lengths[0]:,} lies" if len(lengths) == 1 else
             f"the swept lengths {join_and(f'{n:,}' for n in lengths)} lie" if len(lengths) <= 3 else
             f"the {len(lengths)} swept lengths from {lengths[0]:,} to {lengths[-1]:,} lie")
    one = len(lengths) == 1
    them, they = ("it", "it shows") if one else ("them", "they show")
    shown = f"The chart marks {them} (its legend says how)" if finding.marked else f"The chart draws {them} too"
    return (f"{name}'s context holds {finding.limit:,} tokens (`max_position_embeddings`){room}: {which} beyond "
            f"it. {shown}: {they} what the counting gives, not a run the model supports.")


@markdown.register
def _(finding: Claim) -> str:
    return f"{'✓ holds' if finding.holds else '✗ fails'}: {finding.text}"


@markdown.register
def _(finding: AxisNote) -> str:
    notes = []
    if finding.points_left_of_x1:
        verb = "sits" if finding.points_left_of_x1 == 1 else "sit"
        notes.append(f"{plural('point', finding.points_left_of_x1)} {verb} left of the original's x = 1 edge (lowest: "
                     f"{finding.lowest_label} at {finding.lowest_intensity:.3f} FLOP/byte), so the x axis is widened.")
    if finding.roof_above_top:
        notes.append(f"The compute roof ({si(finding.peak_flops_per_s, 'FLOP/s')}) lies above the original's "
                     "100 T top, so the y axis extends above it.")
    return " ".join(notes) or "All points and both roofs fit the original figure's axes."


@markdown.register
def _(finding: Capacity) -> str:
    devices = f"{finding.fewest_devices:,}" if finding.fewest_devices else "more than 64"
    where = f"at {finding.seq_len:,} tokens on {_devices(finding.devices)}"
    fit = (f"No decode batch fits {where}, not even one sequence." if finding.largest_batch == 0 else
           f"Largest decode batch that fits {where}: **{finding.largest_batch:,}**.")
    return f"{fit} Fewest devices that hold the model (tensor parallel): **{devices}**."


def _devices(count: int) -> str:
    return "one device" if count == 1 else f"{count:,} devices"


@markdown.register
def _(finding: MemoryFootprint) -> str:
    return "\n".join([
        "| | bytes |", "|---|---:|",
        f"| weights | {nbytes(finding.weights_bytes)} |",
        f"| {finding.cache_kind}, {finding.kv_positions:,} positions per sequence (prompt + output) | "
        f"{nbytes(finding.kv_cache_bytes)} |",
        f"| activations, a decode step's peak (fused attention) | {nbytes(finding.activations_bytes)} |",
        f"| **total** | **{nbytes(finding.total_bytes)}** |",
        f"| what a server may use: {finding.capacity_note} | {nbytes(finding.capacity_bytes)} |",
        f"| *not in the total:* activations of prefilling every prompt in one pass, peak | "
        f"{nbytes(finding.prefill_activations_bytes)} |"])


def one_pass_prefill_note(finding: MemoryFootprint) -> str:
    """Why the footprint's total counts decode's activations, and whether a one-pass prefill would fit too."""
    why = ("The total is what a server needs to keep the batch decoding, counted as the largest decode "
           "batch is; servers prefill prompts in chunks, which changes the bytes held at once, not the FLOPs, "
           "so the time to first token stays a bound.")
    if not finding.fits:
        return why
    if finding.one_pass_prefill_fits:
        return why + " Here even prefilling every prompt in one pass fits."
    extra = finding.weights_bytes + finding.kv_cache_bytes + finding.prefill_activations_bytes
    return why + (f" Prefilling every prompt in one pass would need {nbytes(extra)}, more than a server may use: "
                  "it has to prefill in chunks.")


@markdown.register
def _(finding: EndToEnd) -> str:
    steps = finding.step_times_s
    growth = (f"from {seconds(steps[0])} at {finding.prompt_len + 1:,} positions to {seconds(steps[-1])} at "
              f"{finding.prompt_len + finding.output_len - 1:,}") if steps.size else "no decode steps"
    per_user = finding.tokens_per_s_per_user
    return "\n".join([
        f"One request: batch {finding.batch:,}, a {finding.prompt_len:,}-token prompt, {finding.output_len:,} output "
        f"tokens, {_devices(finding.tp)}.", "",
        "| | |", "|---|---:|",
        f"| time to first token | {seconds(finding.ttft_s)} |",
        f"| time per output token | {seconds(finding.mean_tpot_s) if steps.size else 'n/a'} on average ({growth}) |",
        f"| total latency | {seconds(finding.total_s)} |",
        f"| tokens/s per user | {'n/a (one output token)' if per_user is None else f'{per_user:.1f}'} |",
        f"| tokens/s per device | {finding.tokens_per_s_per_device:.1f} ("
        + ("the one sequence" if finding.batch == 1 else f"all {finding.batch:,} sequences")
        + ", prefill included) |"])


def _math_grouped(value: float) -> str:
    """2048 -> '2\\,048': digit groups by thin spaces inside math (a comma would read as a list)."""
    return grouped(value).replace(",", "\\,")


@markdown.register
def _(finding: DecodeAttention) -> str:
    v = {k: f"{x:g}" for k, x in finding.symbols.items()}
    if finding.form == "MLA, absorbed":
        what = (f"Each cached position holds one latent and the shared rotary key, $d_c = r_{{kv}} + d_{{rope}} = "
                f"{v['d_c']}$ elements per layer, read once for all $H = {v['H']}$ query heads of this device: each "
                "head scores it as a $d_c$-long key and sums its first $r_{kv}$ elements as the value.")
    elif finding.form == "MLA, naive":
        what = (f"Each head caches its decompressed key ($d_{{qk}} = {v['d_qk']}$) and value ($d_v = {v['d_v']}$): "
                f"$H\\,(d_{{qk}} + d_v) = {_math_grouped(finding.cached_elements)}$ elements per position and layer, each "
                "read by one head only.")
    else:
        what = (f"Each cached position holds K and V of $H_{{kv}} = {v['H_kv']}$ head{'' if v['H_kv'] == '1' else 's'}, "
                f"$2\\,H_{{kv}}\\,d = "
                f"{_math_grouped(finding.cached_elements)}$ elements per layer, " + (
                    "each read by its own query head." if finding.form == "MHA" else
                    f"each read once for the {finding.symbols['H'] / finding.symbols['H_kv']:g} query heads that "
                    "share it."))
    lines = [f"**{finding.form}.** {what} Per cached position a decode step does the score, the softmax "
             f"($c = {v['c']}$ FLOPs per score) and the weighted sum of every head, and reads the cache at "
             f"$kv = {v['kv']}$ byte{'' if v['kv'] == '1' else 's'} per element:", "",
             f"$$I \\approx {finding.formula.latex()} = {finding.formula.latex_values(finding.symbols)} = "
             f"{finding.intensity:.1f}\\ \\text{{FLOP/byte}}$$", "",
             f"The operator table at {finding.seq_len:,} cached positions, which also counts Q, the output and, "
             "unfused, the score matrix through memory" + (
                 " (and the separate PV kernel's second read of the latent)"
                 if finding.form == "MLA, absorbed" else "")
             + f", gives **{finding.table_intensity:.1f} FLOP/byte** for the attention operators: "
             f"{'above' if finding.bound == 'compute' else 'below'} the ridge at {finding.ridge:.1f}, so decode attention is **{finding.bound}-bound** here."]
    if finding.naive is not None:
        n = finding.naive
        lines += ["", f"Cached decompressed instead (the naive form, Hugging Face's reference code), the cache "
                  f"would hold {grouped(n.cached_elements)} elements per position and layer on this device, "
                  f"{n.cached_elements / finding.cached_elements:.0f}× the latent, at {n.intensity:.1f} FLOP/byte "
                  f"({n.table_intensity:.1f} in the table): **{n.bound}-bound**, like multi-head attention. "
                  "Absorbing the up-projections into the query and the output turns the cache read into "
                  f"arithmetic: {finding.symbols['H']:g} heads reuse every latent byte. Under tensor parallelism the "
                  "latent is replicated on every device while the heads are split, so the reuse, and the "
                  "intensity, fall with the number of devices."]
    return "\n".join(lines)


@markdown.register
def _(finding: MeasuredSource) -> str:
    if finding.same_model and finding.same_device:
        return f"This run was measured for the report's model on the report's device ({markdown_text(finding.report_device)})."
    differs = [f"the model differs: the run measured **{markdown_text(finding.run_model)}**, this report is about "
               f"**{markdown_text(finding.report_model)}**"] if not finding.same_model else []
    if not finding.same_device:
        differs.append(f"the device differs: the run was measured on **{markdown_text(finding.run_device)}**, not the report's "
                       f"**{markdown_text(finding.report_device)}**")
    return ("**Read this section as a check of the counting, not of this report's numbers**: " + "; and ".join(differs)
            + ". The comparison holds each operator against that machine's own measured ceilings.")


def _weights_phrase(parameters, workload) -> str:
    """'16-bit weights', or for a checkpoint with a quantization_config the format the numbers use and
    where it comes from: "weights as the checkpoint's quantization_config stores them (FP8 (e4m3), ...)"."""
    model = parameters.model_config()
    if model.quantization is None:
        return f"{workload.weight_bits}-bit weights"
    if parameters.checkpoint_weights():
        return f"weights as the checkpoint stores them: {markdown_text(model.quantization.label)}"
    return (f"{workload.weight_bits}-bit weights as given, not the checkpoint's "
            f"{markdown_text(model.quantization.label)}")


BOUND_WAITS = {"memory": "operators waiting on memory", "compute": "operators waiting on compute",
               "link": "the all-reduce over the link between devices"}


def bound_shares_sentence(time_s, bound) -> str:
    """'Decode is **memory-bound**: 54% of its time goes to operators waiting on memory, 46% to the all-reduce
    over the link between devices.' The largest share names the bound; every share that rounds to 1% or more
    is said, largest first, so the three always add up to what the time-breakdown bar shows."""
    total = float(time_s.sum())
    shares = sorted(((float(time_s[bound == kind].sum()) / total, kind) for kind in BOUND_WAITS), reverse=True)
    # the link is said whenever there is one (tensor parallel), if only as "under 1%"
    said = [(share, kind) for share, kind in shares if share >= 0.005 or (kind == "link" and share > 0)]
    name = {"memory": "memory-bound", "compute": "compute-bound", "link": "bound by the link"}[said[0][1]]
    parts = [f"{'under 1%' if share < 0.005 else f'{share:.0%}'} {'of its time goes to ' if i == 0 else 'to '}"
             f"{BOUND_WAITS[kind]}"
             for i, (share, kind) in enumerate(said)]
    return f"Decode is **{name}**: " + ", ".join(parts) + "."


def abstract(parameters) -> str:
    """The report in a few sentences: the headline numbers and verdicts, for the top of the page."""
    model, hardware, workload = load_model(parameters.model), get_hardware(parameters.hardware), parameters.workload()
    top = headline(model, hardware, workload)
    fit = memory_footprint(model, hardware, workload)
    table = operator_table(model, hardware, workload, phases=("decode",))
    time_s = table["time_s"] * table["count"]
    devices = markdown_text(on_devices(hardware, parameters.tp))
    verdict = (f"fits: {nbytes(fit.total_bytes)} of {nbytes(fit.capacity_bytes)}" if fit.fits else
               f"**does not fit**: it needs {nbytes(fit.total_bytes)}, a server may use {nbytes(fit.capacity_bytes)}")
    return (f"**{markdown_text(model.display_name)} on {devices}**, batch {parameters.batch}, {parameters.seq_len:,} tokens, "
            f"{_weights_phrase(parameters, workload)}. At the roofline a decode step takes **{seconds(top.tpot_s)}** "
            f"({top.tokens_per_s_per_sequence:.1f} tokens/s per sequence) and the first token **{seconds(top.ttft_s)}**. "
            f"{bound_shares_sentence(time_s, table['bound'])} In memory the model {verdict} per device. These are upper "
            "bounds on speed; real kernels reach a fraction of each roof. "
            + ("Attention is counted fused, as serving engines run it, so a real server cannot beat these times; "
               if workload.attention_io == "fused" else
               "Attention is counted unfused (its score matrix through memory), as asked: a fused server can be "
               "faster than these times; ")
            + "the chart counts the paper's separate attention matmuls."
            + "".join(f" **Beyond the model's context:** {note}." for note in
                      context_notes(model, parameters.seq_len, parameters.output_len)))
