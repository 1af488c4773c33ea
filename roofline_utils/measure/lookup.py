"""One kernel's measured time, from a table of measured kernels (the database, or the shipped extract).

GEMM [m × k]·[k × n]
    log-multilinear over the (m, n, k) grid (:mod:`.interpolation`). Above the grid's largest m
    (32,768 rows on most GPUs, 8,192 on the A100) the rows are split into chunks of that size and
    the chunk's time is scaled by m / m_max: what a server's chunked prefill runs, at a size where
    the GEMM is compute-bound and its time is proportional to its rows. Labelled "extrapolated".
attention (fused, FlashAttention-style)
    per (query heads, K/V heads, head_dim), log-bilinear over (batch, length). A head count the
    table lacks (Llama-33B's 52, or MHA's 32 K/V heads in decode, where the tables stop at 8) is
    folded into the batch: the kernels launch one block of work per (sequence, K/V head), so b
    sequences of Hkv K/V heads are b·Hkv/k sequences of k K/V heads with the same group size
    H/Hkv, k the largest the table has up to Hkv. The fold is an assumption, labelled
    "interpolated", and its error is measured beside the interpolation's (kernel_interpolation.py).
    The collectors stop where batch × length × heads fills their memory (on the H100, 48 heads at
    batch 16 reach 4,096 tokens, not 8,192); beyond, the batch is split into chunks of the largest
    batch the table has at that length, time × chunks: the sequences are independent and such a
    chunk already fills the GPU. Labelled "extrapolated", its error measured as the fold's.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import pandas as pd

from .interpolation import LogGrid

GRID, INTERPOLATED, EXTRAPOLATED = "grid", "interpolated", "extrapolated"


@dataclass(frozen=True)
class KernelTime:
    """A measured (or interpolated) kernel time and how it was obtained."""

    seconds: float
    source: str  # GRID, INTERPOLATED or EXTRAPOLATED
    rows: tuple[int, ...]  # the table rows it came from
    shape: str  # the table shape looked up (after any fold), for the reader


class KernelTimes:
    """Lookups in one GPU's table of kernels (``database.KERNEL_COLUMNS``) for one framework and version."""

    def __init__(self, rows: pd.DataFrame):
        self.rows = rows.reset_index(drop=True)

    @cached_property
    def _gemm(self) -> LogGrid:
        return LogGrid(self.rows[self.rows["kind"] == "gemm"], ["m", "n", "k"])

    @cached_property
    def _attention(self) -> dict[tuple, LogGrid]:
        parts = self.rows[self.rows["kind"] != "gemm"]
        return {key: LogGrid(part, ["batch", "length"])
                for key, part in parts.groupby(["kind", "heads", "kv_heads", "head_dim"], sort=True)}

    def gemm(self, m: int, n: int, k: int) -> KernelTime | None:
        grid = self._gemm
        if not len(grid):
            return None
        largest_m = grid.ticks[0][-1]
        chunks = max(m / largest_m, 1.0)
        estimate = grid((min(m, largest_m), n, k))
        if estimate is None:
            return None
        label = EXTRAPOLATED if chunks > 1 else GRID if estimate.exact else INTERPOLATED
        shape = f"[{min(m, largest_m)}x{k}]@[{k}x{n}]" + (f" x {chunks:g} row chunks" if chunks > 1 else "")
        return KernelTime(chunks * estimate.latency_ms / 1e3, label, estimate.rows, shape)

    def attention(self, phase: str, batch: int, heads: int, kv_heads: int, head_dim: int, length: int
                  ) -> KernelTime | None:
        """Fused attention of ``batch`` sequences: prefill of ``length`` tokens (causal), or one decode
        token against ``length`` cached positions."""
        kind = f"{phase}_attention"
        group = heads / kv_heads
        pairs = sorted(k for (kd, h, k, d) in self._attention if kd == kind and d == head_dim and h == group * k)
        if not pairs:
            return None
        fold = kv_heads if kv_heads in pairs else max([k for k in pairs if k <= kv_heads], default=pairs[0])
        batch_eff = batch * kv_heads / fold
        grid = self._attention[(kind, int(group * fold), fold, head_dim)]
        estimate, chunks = grid((batch_eff, length)), 1.0
        if estimate is None:  # the collector stops where batch x length fills its memory: batch chunks
            for smaller in reversed([b for b in grid.ticks[0] if b < batch_eff]):
                estimate = grid((smaller, length))
                if estimate is not None:
                    chunks = batch_eff / smaller
                    break
        if estimate is None:
            return None
        label = EXTRAPOLATED if chunks > 1 else GRID if estimate.exact and fold == kv_heads else INTERPOLATED
        shape = f"batch {batch_eff:g}, {int(group * fold)}/{fold} heads, d {head_dim}, length {length}" + (
            f" as {chunks:g} chunks of batch {batch_eff / chunks:g}" if chunks > 1 else "")
        return KernelTime(chunks * estimate.latency_ms / 1e3, label, estimate.rows, shape)


# The stated interpolation error: 90 % of grid points left out and predicted from their two neighbours
# (twice the grid's spacing) fall within it (benchmarks/kernel_interpolation.py measures it on the whole
# database; tests/test_measured_kernels.py holds the extract's held-out points to it). 25 % everywhere
# but the L40S's decode attention, whose table is the noisiest (p90 40 % with vLLM 0.24.0).
STATED_P90 = {"gemm": 0.25, "prefill_attention": 0.25, "decode_attention": 0.25}
STATED_P90_EXCEPTIONS = {("l40s", "decode_attention"): 0.40}


def stated_p90(device: str, kind: str) -> float:
    """The stated 90th-percentile interpolation error for one GPU (catalog key) and kernel kind."""
    return STATED_P90_EXCEPTIONS.get((device, kind), STATED_P90[kind])
