"""Latency between grid points: multilinear interpolation of log(latency) over log(axes).

A kernel's time is close to a power law in each of its dimensions between two neighbouring grid
values (a GEMM's time grows like n between two widths once it fills the GPU, a memory-bound one like
the bytes it moves), so a straight line through log(time) against log(size) reproduces both the
linear and the flat (launch-bound) regimes, where a linear interpolation of time would overshoot
between widely spaced points (16,384 to 51,200) and a nearest-point lookup would be off by the gap.
In d dimensions the 2^d surrounding grid points are weighted by the products of the per-axis
fractions, t = (log q − log lo) / (log hi − log lo). A query exactly on a grid value uses that value
alone (weight 1), so grid points come back as their own row. Outside the grid, or where a
surrounding point is missing from the table, there is no value (None): nothing is extrapolated.

How good this is, is measured, not assumed: :func:`leave_one_out` removes each interior grid value
in turn (one axis at a time) and predicts it from its two neighbours, a gap twice the grid's own, so
the errors it reports bound the error at a shape between two neighbours from above.
"""
from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from itertools import product
from math import exp, log

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Estimate:
    """An interpolated latency and the grid rows it came from (their index in the grid's frame)."""

    latency_ms: float
    exact: bool  # every axis on a grid value: the latency is one measured row
    rows: tuple[int, ...]


class LogGrid:
    """The rows of one table slice (a GPU, a kernel kind, the fixed keys) on a grid over ``axes``."""

    def __init__(self, rows: pd.DataFrame, axes: list[str], value: str = "latency_ms"):
        self.axes = list(axes)
        keys = [tuple(int(v) for v in point) for point in rows[self.axes].to_numpy()]
        self.values = dict(zip(keys, rows[value].to_numpy(dtype=float)))
        self.index = dict(zip(keys, rows.index))
        self.ticks = [sorted({key[i] for key in keys}) for i in range(len(self.axes))]

    def __len__(self) -> int:
        return len(self.values)

    def _bracket(self, axis: int, q: float, skip: int | None = None) -> list[tuple[int, float]] | None:
        ticks = [t for t in self.ticks[axis] if t != skip]
        if not ticks or q < ticks[0] or q > ticks[-1]:
            return None
        i = bisect_left(ticks, q)
        if ticks[i] == q:
            return [(ticks[i], 1.0)]
        lo, hi = ticks[i - 1], ticks[i]
        t = (log(q) - log(lo)) / (log(hi) - log(lo))
        return [(lo, 1.0 - t), (hi, t)]

    def __call__(self, query: tuple[float, ...], skip: dict[int, int] | None = None) -> Estimate | None:
        """The latency at ``query`` (one value per axis); ``skip`` leaves a grid value of an axis out."""
        skip = skip or {}
        brackets = [self._bracket(i, float(q), skip.get(i)) for i, q in enumerate(query)]
        if any(b is None for b in brackets):
            return None
        total, rows = 0.0, []
        for corner in product(*brackets):
            key = tuple(tick for tick, _ in corner)
            if key not in self.values:
                return None
            weight = float(np.prod([w for _, w in corner]))
            total += weight * log(self.values[key])
            rows.append(int(self.index[key]))
        return Estimate(exp(total), all(len(b) == 1 for b in brackets), tuple(rows))


def leave_one_out(grid: LogGrid, points: list[tuple[int, ...]] | None = None) -> pd.DataFrame:
    """Each grid point (or each of ``points``) predicted with its own value of one axis left out, for
    every axis along which it has a neighbour on both sides: columns axis, the point's coordinates,
    measured_ms, estimate_ms and error (estimate / measured − 1)."""
    records = []
    for key in points if points is not None else list(grid.values):
        for axis, value in enumerate(key):
            ticks = grid.ticks[axis]
            position = ticks.index(value) if value in ticks else -1
            if position <= 0 or position >= len(ticks) - 1:
                continue
            estimate = grid(key, skip={axis: value})
            if estimate is None:
                continue
            measured = grid.values[key]
            records.append({"axis": grid.axes[axis], **dict(zip(grid.axes, key)), "measured_ms": measured,
                            "estimate_ms": estimate.latency_ms, "error": estimate.latency_ms / measured - 1})
    return pd.DataFrame(records, columns=["axis", *grid.axes, "measured_ms", "estimate_ms", "error"])


def error_summary(errors: pd.Series) -> dict[str, float]:
    """Count, median and 90th/99th percentile and largest of |error|, for the printed distribution."""
    size = np.abs(errors.to_numpy(dtype=float))
    if size.size == 0:
        return {"held_out": 0, "median": float("nan"), "p90": float("nan"), "p99": float("nan"), "max": float("nan")}
    return {"held_out": int(size.size), "median": float(np.median(size)), "p90": float(np.quantile(size, 0.9)),
            "p99": float(np.quantile(size, 0.99)), "max": float(size.max())}
