"""The roofline by hand, before any model: three toy products, the critical batch in closed form,
and what the bound assumes about compute and memory overlapping.

Each toy is one formula for its FLOPs and one for its bytes (16-bit elements unless told), so its
intensity is exact and the reader can check it with pencil and paper. The critical batch is the
same arithmetic for a weight GEMM of b tokens, solved for b.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from .hardware import Hardware
from .models import ModelConfig
from .findings import plural
from .units import number, si


@dataclass(frozen=True)
class Toy:
    """One product of n-element operands: its FLOPs and the bytes it must move at least."""

    name: str
    shapes: str  # e.g. "x·y, two n-vectors"
    flops_tex: str
    bytes_tex: str
    flops: float
    bytes: float

    @property
    def intensity(self) -> float:
        return self.flops / self.bytes


def toys(n: int = 4096, element_bytes: int = 2) -> tuple[Toy, ...]:
    """Dot product, matrix-vector and matrix-matrix product of size n: each reads its inputs once and
    writes its output once (the least any kernel can move), 2 FLOPs per multiply-add."""
    e = element_bytes
    return (
        Toy("dot product", "x·y, two n-vectors", "2n", f"{e}(2n + 1)", 2 * n, e * (2 * n + 1)),
        Toy("matrix-vector (GEMV)", "y = W·x, W n×n", "2n^2", f"{e}(n^2 + 2n)", 2 * n**2, e * (n**2 + 2 * n)),
        Toy("matrix-matrix (GEMM)", "C = A·B, all n×n", "2n^3", f"{e}\\cdot 3n^2", 2 * n**3, e * 3 * n**2),
    )


def toy_markdown(hardware: Hardware, peak_flops_per_s: float, n: int = 4096, element_bytes: int = 2) -> str:
    """The three toys on this device: formula, numbers, intensity, and which roof bounds each."""
    roof = hardware.roof(peak_flops_per_s)
    lines = [f"| product | FLOPs | bytes ({element_bytes} per element) | intensity at n = {n:,} | bound on the "
             f"{hardware.name} |", "|---|---|---|---:|---|"]
    for toy in toys(n, element_bytes):
        bound = "compute" if toy.intensity >= roof.ridge else "memory"
        lines.append(f"| {toy.name}: {toy.shapes} | ${toy.flops_tex}$ | ${toy.bytes_tex}$ | "
                     f"{toy.intensity:,.4g} FLOP/byte | {bound} |")
    n_ridge = math.ceil(3 * element_bytes * roof.ridge / 2)
    return "\n".join(lines) + (
        f"\n\nA dot product does one multiply-add per two elements read: about {1 / element_bytes:g} FLOP per "
        f"byte, whatever n. A matrix-vector product reads each matrix element once for one multiply-add: "
        f"about {2 / element_bytes:g} FLOP per byte. A matrix-matrix product reuses each element n times: "
        f"$2n^3 / ({element_bytes}\\cdot 3n^2) = n/{3 * element_bytes / 2:g}$ FLOP per byte, which passes this "
        f"device's ridge of {roof.ridge:,.4g} FLOP/byte from n = {n_ridge:,}. Reuse is the whole story: "
        "every operator of a language model is one of these three shapes, and the batch decides which.")


@dataclass(frozen=True)
class CriticalBatch:
    """The batch b* at which a weight GEMM [b×h]·[h×f] reaches the ridge, in closed form (k = h, n = f).

    FLOPs 2·b·h·f; bytes w·h·f (weights, once) + a·b·(h + f) (activations in and out). Setting
    2bhf / (whf + ab(h+f)) = ridge and solving for b gives b* = ridge·w·h·f / (2·h·f − ridge·a·(h+f)):
    about ridge·w/2 while the activations are small beside the weights; never, when the
    denominator is not positive (the GEMM's intensity saturates below the ridge)."""

    k: int
    n: int
    weight_bytes: float
    act_bytes: float
    ridge: float
    tokens_per_weight: float  # tokens one expert's weights see per sequence in the batch (MoE: k/E)
    tp: int = 1  # tensor parallel: each device holds N / tp of the up projection's columns
    dense_layers: int = 0  # layers of an MoE model with a dense MLP instead (they reach the ridge sooner)

    @property
    def tokens(self) -> float | None:
        """b*: tokens the GEMM must see to reach the ridge (None: never)."""
        denominator = 2 * self.k * self.n - self.ridge * self.act_bytes * (self.k + self.n)
        return self.ridge * self.weight_bytes * self.k * self.n / denominator if denominator > 0 else None

    @property
    def batch(self) -> int | None:
        """The smallest whole decode batch whose GEMM sees at least b* tokens."""
        tokens = self.tokens
        return None if tokens is None else math.ceil(tokens / self.tokens_per_weight)


def critical_batch(model: ModelConfig, hardware: Hardware, peak_flops_per_s: float, workload) -> CriticalBatch:
    """The MLP's up projection (h = hidden, f = one expert's width per device) in decode, where each
    sequence is one token; a routed expert sees k/E of the batch's tokens on average. Under tensor
    parallelism each device multiplies by its f / tp columns, a narrower GEMM that needs more tokens.
    Bytes per weight and per activation are the linear layers', group scales included (as chapter 3's w)."""
    from .workload import element_bytes

    width = model.moe_intermediate_size or model.intermediate_size
    per_weight = model.experts_per_token / model.num_experts if model.num_experts > 1 else 1.0
    tp = int(workload.tp)
    widths = element_bytes(workload)
    return CriticalBatch(model.hidden_size, width // tp if width % tp == 0 else width / tp,
                         float(widths["weight_bits"]), float(widths["act_bits"]), hardware.roof(peak_flops_per_s).ridge, per_weight, tp,
                         model.num_dense_layers if model.num_experts > 1 else 0)


def critical_batch_markdown(found: CriticalBatch) -> str:
    k, n, w, a, ridge = found.k, found.n, found.weight_bytes, found.act_bytes, found.ridge
    # h and f as chapter 3's formulas write the hidden size and the MLP's width (K and N would clash with its
    # Medusa heads)
    formula = (f"$$b^* = \\frac{{\\text{{ridge}} \\cdot w \\cdot h f}}{{2 h f - \\text{{ridge}} \\cdot a \\cdot (h + f)}}"
               f" = \\frac{{{ridge:.4g} \\cdot {w:g} \\cdot {k:,} \\cdot {n:,}}}{{2 \\cdot {k:,} \\cdot {n:,} - "
               f"{ridge:.4g} \\cdot {a:g} \\cdot {k + n:,}}}$$").replace(",", "{,}")
    tokens = found.tokens
    if tokens is None:
        return (formula.split(" = \\frac{" + f"{ridge:.4g}")[0] + "$$\n\n" +
                f"With h = {k:,} and f = {n:,} the denominator is not positive: the GEMM's intensity saturates at "
                f"$2hf/(a(h+f))$ = {2 * k * n / (a * (k + n)):,.4g} FLOP/byte, below the ridge of {ridge:,.4g}. "
                "No batch makes it compute-bound.")
    width = (f"the MLP's width on each device: {n * found.tp:,} / {found.tp} under tensor parallelism" if found.tp > 1
             else "the MLP's width")
    text = (f"{formula}\n\nwith h = {k:,} (hidden size), f = {n:,} ({width}), w = {w:g} {'byte' if w == 1 else 'bytes'} per "
            f"weight and a = {a:g} {'byte' if a == 1 else 'bytes'} per activation: **b\\* = {tokens:,.1f} tokens**.")
    approx = ridge * w / 2
    if tokens <= 1.25 * approx:  # the activations are small beside the weights
        text += (f" While the activations are small beside the weights this is about ridge · w / 2 = {approx:,.1f}: a "
                 "GEMM needs about as many tokens per weight read as the device does FLOPs per byte, halved because a "
                 "multiply-add is 2 FLOPs.")
    else:
        text += (f" That is {number(tokens / approx)}× ridge · w / 2 = {approx:,.1f}, the figure a wide GEMM would need: "
                 f"with f only {n:,} wide the activations each token moves are no longer small beside its share of "
                 "the weights, and the GEMM needs more tokens to reach the ridge.")
    if found.tokens_per_weight != 1:
        text += (f" Each routed expert sees on average {found.tokens_per_weight:.3g} of a token per sequence, so the "
                 f"decode batch must be {1 / found.tokens_per_weight:.3g} times larger: **batch {found.batch:,}**.")
        if found.dense_layers:
            text += (f" That is one routed expert's GEMM; the chart's MLP group also holds the "
                     f"{plural('dense layer', found.dense_layers)}' MLPs, wider GEMMs that reach the ridge sooner, so the "
                     "group as a whole gets there at a smaller batch.")
    else:
        text += f" In decode each sequence is one token, so the critical batch is **{found.batch:,}**."
    return text


@dataclass(frozen=True)
class Overlap:
    """The roofline's time max(F/P, B/BW) assumes compute and memory traffic overlap perfectly; a kernel
    that does one after the other takes F/P + B/BW, at most twice as long (at the ridge)."""

    flops: float
    bytes: float
    peak_flops_per_s: float
    bandwidth_bytes_per_s: float

    @property
    def compute_s(self) -> float:
        return self.flops / self.peak_flops_per_s

    @property
    def memory_s(self) -> float:
        return self.bytes / self.bandwidth_bytes_per_s

    @property
    def overlapped_s(self) -> float:
        return max(self.compute_s, self.memory_s)

    @property
    def serial_s(self) -> float:
        return self.compute_s + self.memory_s


def overlap_markdown(phase: str, found: Overlap) -> str:
    from .units import seconds

    ratio = found.serial_s / found.overlapped_s
    return (f"- {phase}: compute {seconds(found.compute_s)} ({si(found.flops, 'FLOP')} at "
            f"{si(found.peak_flops_per_s, 'FLOP/s')}), memory {seconds(found.memory_s)} ({si(found.bytes, 'B')} at "
            f"{si(found.bandwidth_bytes_per_s, 'B/s')}): overlapped {seconds(found.overlapped_s)}, one after the "
            f"other {seconds(found.serial_s)} ({ratio:.3g}×).")


__all__ = ["toys", "toy_markdown", "critical_batch", "critical_batch_markdown", "Overlap", "overlap_markdown"]
