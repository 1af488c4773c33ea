"""The roofline chart, matplotlib only. Reads the tables; computes nothing of its own."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .hardware import Hardware
from .operators import GROUPS, PHASE_LABELS, PHASES
from .units import si

X_RANGE = (1.0, 1e4)  # the original figure's axes
Y_RANGE = (1e10, 1e14)


def legend_label(group: str, phase: str) -> str:
    """'qkv mlp' + 'prefill' -> 'qkv mlp init' (the original figure's wording)."""
    return f"{group} {PHASE_LABELS[phase]}"


def axis_limits(points: pd.DataFrame, peak: float) -> tuple[tuple[float, float], tuple[float, float]]:
    """The original's 1..1e4 FLOP/byte and 10G..100T FLOP/s, widened only to keep every point
    and the compute roof in view (an A40 peak of 149.7 TFLOP/s sits above 100 T)."""
    finite = _plottable(points)
    x_low = min(X_RANGE[0], finite["intensity"].min() / 1.5) if len(finite) else X_RANGE[0]
    x_high = max(X_RANGE[1], finite["intensity"].max() * 1.5) if len(finite) else X_RANGE[1]
    y_low = min(Y_RANGE[0], finite["performance_flops_per_s"].min() / 1.5) if len(finite) else Y_RANGE[0]
    y_high = max(Y_RANGE[1], peak * 2)
    return (x_low, x_high), (y_low, y_high)


def roofline_chart(points: pd.DataFrame | None, hardware: Hardware, peak_flops_per_s: float, title: str,
                   show_other: bool = False, extra_roofs: dict[str, float] | None = None, ax=None):
    """Log-log roofline: dashed blue memory roof, dashed red compute roof, green ridge, 'x' points.

    ``points`` comes from :func:`roofline_utils.roofline.group_points`: one row per phase, label
    and grid point, with ``intensity`` and ``performance_flops_per_s``. The figure's six
    groups are drawn in its legend order; other operators only when ``show_other``.
    ``extra_roofs`` maps a label to another compute peak (e.g. the INT8 ceiling), drawn dotted.
    """
    if points is None:  # the bare roofs
        points = pd.DataFrame({"phase": [], "label": [], "intensity": [], "performance_flops_per_s": []})
    series = [(g, ph) for g in GROUPS for ph in PHASES]
    if show_other:
        series += [(label, ph) for label in points["label"].unique() if label not in GROUPS for ph in PHASES]
    drawn = [(label, phase, rows) for label, phase in series
             if not (rows := _plottable(points[(points["label"] == label) & (points["phase"] == phase)])).empty]
    bandwidth = hardware.bandwidth_bytes_per_s
    ridge = peak_flops_per_s / bandwidth
    (x_low, x_high), (y_low, y_high) = axis_limits(pd.concat([r for *_, r in drawn]) if drawn else points,
                                                   peak_flops_per_s)
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 6.5))
    ax.set_xscale("log")
    ax.set_yscale("log")
    x_memory = np.array([x_low, ridge])
    ax.plot(x_memory, x_memory * bandwidth, "b--", lw=1.5, label=f"{bandwidth / 1e9:.0f}GB/s")
    ax.plot([ridge, x_high], [peak_flops_per_s] * 2, "r--", lw=1.5, label=si(peak_flops_per_s, "FLOP/s"))
    ax.axvline(ridge, color="green", ls="--", lw=1, label=f"ridge {ridge:.1f} FLOP/B")
    for label, peak in (extra_roofs or {}).items():
        ax.plot([peak / bandwidth, x_high], [peak] * 2, ":", color="gray", lw=1)
        ax.annotate(f"{label} {si(peak, 'FLOP/s')}", (x_high, peak), ha="right", va="bottom", fontsize=8)

    colours = plt.get_cmap("tab20" if show_other else "tab10").colors
    for index, (label, phase, rows) in enumerate(drawn):
        # decode q/k/v and MLP GEMMs land on the same spots: shrinking sizes keeps both visible
        size = max(70 - 9 * index, 14)
        ax.scatter(rows["intensity"], rows["performance_flops_per_s"], marker="x", s=size,
                   color=colours[index % len(colours)], label=legend_label(label, phase), zorder=3 + index)
    ax.set_xlim(x_low, x_high)
    ax.set_ylim(y_low, y_high)
    ax.set_xlabel("Operational Intensity (FLOP/byte)")
    ax.set_ylabel("Performance (FLOP/s)")
    ax.set_title(title)
    ax.grid(True, which="major", ls=":", lw=0.5)
    ax.legend(loc="lower right", fontsize=8, ncol=2 if show_other else 1)
    return ax.figure


def _plottable(rows: pd.DataFrame) -> pd.DataFrame:
    """Points a log axis can show: finite, positive intensity (drops fused softmax, embedding)."""
    intensity = rows["intensity"].astype(float)
    return rows[np.isfinite(intensity) & (intensity > 0)]


def save_figure(figure, folder: str | Path, stem: str) -> list[Path]:
    """Write ``stem``.png and ``stem``.svg into ``folder``; returns the paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{stem}.png", folder / f"{stem}.svg"]
    figure.savefig(paths[0], dpi=150, bbox_inches="tight")
    figure.savefig(paths[1], bbox_inches="tight", metadata={"Date": None})
    return paths


def time_breakdown_chart(breakdown: pd.DataFrame, title: str):
    """Horizontal bars of roofline time per category, one panel per phase (prefill, decode)."""
    phases = [p for p in PHASES if p in set(breakdown["phase"])]
    figure, axes = plt.subplots(1, len(phases), figsize=(11, 3.6), squeeze=False)
    for ax, phase in zip(axes[0], phases):
        rows = breakdown[breakdown["phase"] == phase].sort_values("time_s")
        colours = ["tab:purple" if "link" in c else "tab:blue" for c in rows["category"]]
        ax.barh(rows["category"], rows["time_s"] * 1e3, color=colours)
        ax.set_xlabel("time at the roofline (ms)")
        ax.set_title(f"{phase} ({PHASE_LABELS[phase]})")
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def batch_trajectory_chart(points: pd.DataFrame, hardware: Hardware, peak_flops_per_s: float, title: str,
                           ridge_batch: int | None = None):
    """Decode points of the three groups as the batch grows, each batch labelled, on the roofline."""
    figure = roofline_chart(points, hardware, peak_flops_per_s, title)
    ax = figure.axes[0]
    for _, row in points[points["label"] == "up/gate/down"].iterrows():
        ax.annotate(f"b={int(row['batch'])}", (row["intensity"], row["performance_flops_per_s"]),
                    textcoords="offset points", xytext=(-6, 8), fontsize=7, rotation=45)
    if ridge_batch is not None:
        ax.annotate(f"MLP reaches the ridge at batch {ridge_batch}",
                    (peak_flops_per_s / hardware.bandwidth_bytes_per_s, peak_flops_per_s),
                    textcoords="offset points", xytext=(-240, 20), fontsize=9, color="green",
                    arrowprops={"arrowstyle": "->", "color": "green"})
    return figure


def sweep_chart(sweep: pd.DataFrame, x: str, series: str, title: str):
    """Time per token and tokens/s against ``x`` (batch or seq_len), one line per ``series`` value.

    Settings that do not fit in memory are drawn hollow and dashed: the memory limit on the same plot.
    """
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.2))
    colours = plt.get_cmap("viridis")
    values = sorted(sweep[series].unique())
    for index, value in enumerate(values):
        rows = sweep[sweep[series] == value].sort_values(x)
        colour = colours(index / max(len(values) - 1, 1))
        for ax, column, scale in ((left, "tpot_s", 1e3), (right, "tokens_per_s", 1)):
            fits, over = rows[rows["fits"]], rows[~rows["fits"]]
            ax.plot(fits[x], fits[column] * scale, "o-", color=colour, ms=3, label=f"{series}={value}")
            if len(over):
                joined = pd.concat([fits.tail(1), over])
                ax.plot(joined[x], joined[column] * scale, "--", color=colour, lw=0.8)
                ax.plot(over[x], over[column] * scale, "o", mfc="none", color=colour, ms=4)
    for ax, label in ((left, "time per output token (ms)"), (right, "decode tokens/s (whole batch)")):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel(x)
        ax.set_ylabel(label)
        ax.grid(True, ls=":", lw=0.5)
    left.legend(fontsize=7)
    figure.suptitle(f"{title}  (hollow, dashed: does not fit in memory)")
    figure.tight_layout()
    return figure


def empirical_chart(points: pd.DataFrame, flops_per_s: float, bytes_per_s: float, title: str,
                    datasheet: Hardware | None = None, datasheet_peak: float | None = None):
    """Achieved roofs (solid), datasheet roofs (dotted, when known), predicted 'x' and measured 'o'."""
    from .hardware import custom_hardware

    achieved = custom_hardware("achieved", bandwidth_gb_s=bytes_per_s / 1e9, peak_tflops={"fp32": flops_per_s / 1e12},
                               memory_gb=1)
    figure = roofline_chart(points, achieved, flops_per_s, title)
    ax = figure.axes[0]
    for line in ax.lines[:2]:
        line.set_linestyle("-")
    colours = {label: handle.get_facecolor()[0] for handle, label in zip(*ax.get_legend_handles_labels())
               if hasattr(handle, "get_facecolor")}
    for (label, phase), rows in points.groupby(["label", "phase"]):
        key = legend_label(label, phase)
        ax.scatter(rows["intensity"], rows["measured_flops_per_s"], marker="o", s=22, facecolors="none",
                   edgecolors=[colours.get(key, "black")], zorder=4)
    if datasheet is not None and datasheet_peak is not None:
        ridge = datasheet_peak / datasheet.bandwidth_bytes_per_s
        x_low, x_high = ax.get_xlim()
        ax.plot([x_low, ridge], [x_low * datasheet.bandwidth_bytes_per_s, datasheet_peak], ":", color="gray",
                label=f"datasheet {datasheet.name}")
        ax.plot([ridge, x_high], [datasheet_peak] * 2, ":", color="gray")
    lowest = min(points["measured_flops_per_s"].min(), points["performance_flops_per_s"].min()) if len(points) \
        else flops_per_s / 1e3
    ax.set_ylim(lowest / 2, max(flops_per_s, datasheet_peak or 0) * 3)
    ax.scatter([], [], marker="o", facecolors="none", edgecolors="black", label="measured (o)")
    ax.legend(loc="lower right", fontsize=8)
    return figure
