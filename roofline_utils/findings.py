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
from .memory import MemoryFootprint, fewest_devices_that_fit, largest_batch_that_fits, memory_footprint
from .text import markdown_text
from .models import ModelConfig, load_model
from .operators import GROUPS, PHASE_LABELS
from .roofline import group_points, operator_table, peak_flops, totals
from .units import grouped, seconds, si
from .workload import Workload

X_RANGE = (1.0, 1e4)  # the original figure's axes (FLOP/byte, FLOP/s)
Y_RANGE = (1e10, 1e14)


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
    """The decode batch at which a group's GEMMs reach the ridge (None: not by batch 16,384)."""

    group: str
    batch: int | None
    ridge: float


def ridge_batch(model: ModelConfig | str, hardware: Hardware | str, workload: Workload,
                group: str = "up/gate/down") -> RidgeBatch:
    hardware = get_hardware(hardware)
    ridge = hardware.roof(float(np.max(peak_flops(hardware, workload)))).ridge
    return RidgeBatch(group, batch_at_ridge(model, hardware, workload, group), ridge)


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
            depends = tuple(axis for axis, other in (("batch", "seq_len"), ("length", "batch"))
                            if _varies(rows, by=other))
            readings.append(GroupReading(f"{group} {word}", phase, float(rows["intensity"].min()),
                                         float(rows["intensity"].max()), int((rows["intensity"] < ridge).sum()),
                                         len(rows), depends, float(rows["performance_flops_per_s"].max()),
                                         peak_flops_per_s, ridge))
    return tuple(readings)


def _varies(rows: pd.DataFrame, by: str) -> bool:
    """True when the intensity changes within groups of equal ``by`` (so along the other axis)."""
    spread = rows.groupby(by)["intensity"].agg(lambda x: (x.max() - x.min()) / x.max())
    return bool((spread > 0.01).any())


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
    return MeasuredSource(run_model, device.name if device is not None else run.metadata.get("device", "another machine"),
                          model.name, hardware.name, run_model == model.name,
                          device is not None and device.key == hardware.key)


def measurement_for(model: ModelConfig, requested: str) -> str:
    """The shipped run to show: the one asked for, unless it is the default and another shipped run
    measured the report's own model."""
    from .measure import load_shipped, shipped_runs
    from .params import DEFAULT_MEASUREMENT

    if requested != DEFAULT_MEASUREMENT:
        return requested
    same = [name for name in shipped_runs() if load_shipped(name).metadata.get("model") == model.name]
    return same[0] if same else requested


def largest_batch_text(largest: int) -> str:
    """The one phrasing of 'largest batch that fits', for every section that states it."""
    return str(largest) if largest else "none (not even batch 1)"


@dataclass(frozen=True)
class VerifyReading:
    """What verifying a Medusa tree buys against batch, read off :func:`speculative.verify_curve`."""

    tree_size: int
    medusa_heads: int
    acceptance: float
    overhead_at_1: float
    speedup_at_1: float
    nearly_free_until: int | None  # the largest batch whose overhead is at most 1.1 (None: not even batch 1)
    halved_at: int | None  # the first batch whose speedup is half the batch-1 speedup or less
    slower_from: int | None  # the first batch at which verifying is slower than decoding (speedup < 1)
    largest_batch: int
    decode_ridge_batch: int | None  # a plain decode step's MLP GEMMs reach the ridge
    verify_ridge_batch: int | None  # the verify step's MLP GEMMs (b·n tokens) reach the ridge


def verify_reading(curve: pd.DataFrame, model: ModelConfig | str, hardware: Hardware | str, workload: Workload,
                   acceptance: float) -> VerifyReading:
    """The reading of one tree size's curve (``workload.tree_size``), with where the MLP GEMMs cross the ridge."""
    from .speculative import with_tree

    workload = with_tree(workload, workload.tree_size, workload.medusa_heads)
    n, heads = workload.tree_size, workload.medusa_heads
    rows = curve[curve["tree_size"] == n].sort_values("batch")
    if rows.empty:
        raise RooflineInputError("tree_size", f"{n} is not one of the curve's tree sizes",
                                 ", ".join(map(str, sorted(curve["tree_size"].unique()))))
    first = rows.iloc[0]
    free = rows.loc[rows["overhead"] <= 1.1, "batch"]
    halved = rows.loc[rows["speedup"] <= first["speedup"] / 2, "batch"]
    slower = rows.loc[rows["speedup"] < 1, "batch"]
    plain = replace(workload, tree_size=1, medusa_heads=0)
    return VerifyReading(n, heads, acceptance, float(first["overhead"]), float(first["speedup"]),
                         int(free.max()) if len(free) else None, int(halved.min()) if len(halved) else None,
                         int(slower.min()) if len(slower) else None, int(rows["batch"].max()),
                         batch_at_ridge(model, hardware, plain), batch_at_ridge(model, hardware, workload, phase="verify"))


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


def draft_reading(curve: pd.DataFrame, draft: str, target: str, alpha: float, gamma: int) -> DraftReading:
    from .speculative import best_draft_tokens

    chosen = curve[curve["gamma"] == gamma].sort_values("batch")
    best = best_draft_tokens(curve)
    slower = best.loc[best["speedup"] < 1, "batch"]
    return DraftReading(draft, target, alpha, gamma, float(chosen["tokens_per_round"].iloc[0]),
                        float(chosen["speedup"].iloc[0]), int(best["gamma"].iloc[0]), float(best["speedup"].iloc[0]),
                        int(slower.min()) if len(slower) else None, int(best["batch"].max()))


@singledispatch
def markdown(finding) -> str:
    """The one renderer: a finding as Markdown."""
    raise TypeError(f"no Markdown for {type(finding).__name__}")


@markdown.register
def _(finding: Headline) -> str:
    return "\n".join([
        "| | prefill (time to first token) | decode (one step) |", "|---|---:|---:|",
        f"| FLOPs | {grouped(finding.prefill_flops)} (full square: {grouped(finding.prefill_flops_full_square)}) "
        f"| {grouped(finding.decode_flops)} |",
        f"| bytes | {grouped(finding.prefill_bytes)} | {grouped(finding.decode_bytes)} |",
        f"| time at the roofline | **{seconds(finding.ttft_s)}** | **{seconds(finding.tpot_s)}** |",
        "", f"Decode: **{finding.tokens_per_s_per_sequence:.1f} tokens/s** per sequence, "
        f"{finding.tokens_per_s:.1f} tokens/s for the batch of {finding.batch}."])


@markdown.register
def _(finding: RidgeBatch) -> str:
    if finding.batch is None:
        return (f"The {finding.group} decode GEMMs never reach the ridge ({finding.ridge:.1f} FLOP/byte) on this "
                "device at these bit widths: decode stays memory-bound at any batch.")
    return (f"The {finding.group} decode GEMMs reach the ridge ({finding.ridge:.1f} FLOP/byte) at **batch "
            f"{finding.batch:,}**: below it a decode step costs about the same whatever the batch, since the "
            "weights are read once either way.")


@markdown.register
def _(finding: GroupReading) -> str:
    span = f"{finding.intensity_low:.3g}" if np.isclose(finding.intensity_low, finding.intensity_high, rtol=0.01) \
        else f"{finding.intensity_low:.3g} to {finding.intensity_high:.3g}"
    depends = " and ".join(finding.depends_on) or "neither batch nor length"
    return (f"**{finding.label}** ({finding.phase}): intensity {span} FLOP/byte; {finding.memory_bound} of "
            f"{finding.settings} settings memory-bound (below the ridge at {finding.ridge:.1f}); depends on {depends}; "
            f"at best {si(finding.best_flops_per_s, 'FLOP/s')} "
            f"({100 * finding.best_flops_per_s / finding.peak_flops_per_s:.3g}% of peak).")


@markdown.register
def _(finding: VerifyReading) -> str:
    first = (f"At batch 1, verifying a tree of **{finding.tree_size} candidates** with {finding.medusa_heads} Medusa "
             f"heads costs **{finding.overhead_at_1:.2f}×** a plain decode step; accepting {finding.acceptance:g} "
             f"tokens per step, that is a **{finding.speedup_at_1:.2f}× speedup**.")
    free = ("Even at batch 1 the tree costs more than 10% over a decode step." if finding.nearly_free_until is None
            else f"The step stays nearly free (at most 1.1× a decode step) up to batch {finding.nearly_free_until:,}.")
    halved = (f"The speedup halves by batch **{finding.halved_at:,}**" if finding.halved_at is not None
              else f"The speedup does not halve by batch {finding.largest_batch:,}")
    slower = (f" and verifying becomes slower than decoding from batch **{finding.slower_from:,}**."
              if finding.slower_from is not None else f" and stays above 1 up to batch {finding.largest_batch:,}.")
    why = ("Why: a plain decode step's MLP GEMMs see b tokens and "
           + (f"reach the ridge only at batch {finding.decode_ridge_batch:,}" if finding.decode_ridge_batch
              else "never reach the ridge")
           + f"; the verify step's see b·{finding.tree_size} tokens and "
           + (f"reach it at batch {finding.verify_ridge_batch:,}" if finding.verify_ridge_batch
              else "never reach it")
           + ". Below that the weights are read once whatever the number of candidates, so checking them rides "
             "along with the weight reads; above it every candidate costs compute time.")
    return " ".join([first, free, halved + slower, why])


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
    slower = (f"From batch **{finding.slower_from:,}** even the best γ is slower than plain decoding."
              if finding.slower_from is not None
              else f"Some γ still pays at every batch up to {finding.largest_batch:,}.")
    return (f"With **{markdown_text(finding.draft)}** drafting for {markdown_text(finding.target)} (each drafted token accepted with probability "
            f"α = {finding.alpha:g}), γ = {finding.gamma} drafted tokens yield {finding.tokens_per_round:.2f} tokens per "
            f"round and a **{finding.speedup_at_1:.2f}× speedup** at batch 1; the best γ there is "
            f"{finding.best_gamma_at_1} ({finding.best_speedup_at_1:.2f}×). {slower} The draft's steps are memory-bound "
            "too, so their cost is its weights read γ times: a draft pays when it is much smaller than the target.")


@markdown.register
def _(finding: Claim) -> str:
    return f"{'✓ holds' if finding.holds else '✗ fails'}: {finding.text}"


@markdown.register
def _(finding: AxisNote) -> str:
    notes = []
    if finding.points_left_of_x1:
        notes.append(f"{finding.points_left_of_x1} points sit left of the original's x = 1 edge (lowest: "
                     f"{finding.lowest_label} at {finding.lowest_intensity:.3f} FLOP/byte), so the x axis is widened.")
    if finding.roof_above_top:
        notes.append(f"The compute roof ({si(finding.peak_flops_per_s, 'FLOP/s')}) lies above the original's "
                     "100 T top, so the y axis extends above it.")
    return " ".join(notes) or "All points and both roofs fit the original figure's axes."


@markdown.register
def _(finding: Capacity) -> str:
    devices = str(finding.fewest_devices) if finding.fewest_devices else "more than 64"
    return (f"Largest decode batch that fits at {finding.seq_len:,} tokens on {finding.devices} device(s): "
            f"**{largest_batch_text(finding.largest_batch)}**. Fewest devices that hold the model (tensor "
            f"parallel): **{devices}**.")


@markdown.register
def _(finding: MemoryFootprint) -> str:
    return "\n".join([
        "| | bytes |", "|---|---:|",
        f"| weights | {grouped(finding.weights_bytes)} |",
        f"| KV cache, {finding.kv_positions:,} positions per sequence (prompt + output) | "
        f"{grouped(finding.kv_cache_bytes)} |",
        f"| activations (peak estimate, fused attention) | {grouped(finding.activations_bytes)} |",
        f"| **total** | **{grouped(finding.total_bytes)}** |",
        f"| what a server may use: {finding.capacity_note} | {grouped(finding.capacity_bytes)} |"])


@markdown.register
def _(finding: EndToEnd) -> str:
    steps = finding.step_times_s
    growth = (f"from {seconds(steps[0])} at {finding.prompt_len + 1:,} positions to {seconds(steps[-1])} at "
              f"{finding.prompt_len + finding.output_len - 1:,}") if steps.size else "no decode steps"
    per_user = finding.tokens_per_s_per_user
    return "\n".join([
        f"One request: batch {finding.batch}, a {finding.prompt_len:,}-token prompt, {finding.output_len:,} output "
        f"tokens, {finding.tp} device{'s' if finding.tp > 1 else ''}.", "",
        "| | |", "|---|---:|",
        f"| time to first token | {seconds(finding.ttft_s)} |",
        f"| time per output token | {seconds(finding.mean_tpot_s) if steps.size else 'n/a'} on average ({growth}) |",
        f"| total latency | {seconds(finding.total_s)} |",
        f"| tokens/s per user | {'n/a (one output token)' if per_user is None else f'{per_user:.1f}'} |",
        f"| tokens/s per device | {finding.tokens_per_s_per_device:.1f} (all {finding.batch} sequences, prefill "
        "included) |"])


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


def abstract(parameters) -> str:
    """The report in a few sentences: the headline numbers and verdicts, for the top of the page."""
    model, hardware, workload = load_model(parameters.model), get_hardware(parameters.hardware), parameters.workload()
    top = headline(model, hardware, workload)
    fit = memory_footprint(model, hardware, workload)
    table = operator_table(model, hardware, workload, phases=("decode",))
    time_s = table["time_s"] * table["count"]
    memory_share = float(time_s[table["bound"] == "memory"].sum() / time_s.sum())
    name = markdown_text(hardware.name)
    devices = f"{parameters.tp} × {name}" if parameters.tp > 1 else name
    verdict = (f"fits: {fit.total_bytes / 1e9:.1f} GB of {fit.capacity_bytes / 1e9:.1f} GB" if fit.fits else
               f"**does not fit**: it needs {fit.total_bytes / 1e9:.1f} GB, a server may use {fit.capacity_bytes / 1e9:.1f} GB")
    return (f"**{markdown_text(model.display_name)} on {devices}**, batch {parameters.batch}, {parameters.seq_len:,} tokens, "
            f"{parameters.weight_bits}-bit weights. At the roofline a decode step takes **{seconds(top.tpot_s)}** "
            f"({top.tokens_per_s_per_sequence:.1f} tokens/s per sequence) and the first token **{seconds(top.ttft_s)}**. "
            f"Decode is **{'memory' if memory_share >= 0.5 else 'compute'}-bound**: {memory_share:.0%} of its time "
            f"goes to operators waiting on memory. In memory the model {verdict} per device. These are upper "
            "bounds on speed; real kernels reach a fraction of each roof.")
