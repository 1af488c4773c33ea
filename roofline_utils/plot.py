"""The roofline chart, matplotlib only. Reads the tables; computes nothing of its own."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from . import RENDERING_REPORT_ENV
from .hardware import Hardware, Roof
from .operators import ATTN, GROUPS, MLP, PHASE_LABELS, PHASES, QKV
from .units import number, si
from .text import mathtext

X_RANGE = (1.0, 1e4)  # the original figure's axes
Y_RANGE = (1e10, 1e14)

# One colour and one marker per (group, phase), the same in every figure that draws groups (the
# roofline, the batch trajectory, the measured chart), so a group keeps its colour from page to page.
# Groups coincide: decode q/k/v and MLP GEMMs have the same intensity at every batch, every decode
# group sits near 1 FLOP/byte at batch 1, prefill GEMMs share the compute roof. So each group has its
# own shape and size, and they are drawn in this order, largest first and hollow: a smaller marker
# sits inside a larger one and both stay visible.
GROUP_STYLES: dict[tuple[str, str], dict] = {
    (MLP, "decode"): {"color": "tab:red", "marker": "o", "s": 200},  # s: area in pt², 14 pt across
    (QKV, "prefill"): {"color": "tab:blue", "marker": "D", "s": 80},
    (QKV, "decode"): {"color": "tab:orange", "marker": "s", "s": 45},  # 9.5 pt corner to corner
    (MLP, "prefill"): {"color": "tab:green", "marker": "^", "s": 50},
    (ATTN, "prefill"): {"color": "tab:purple", "marker": "+", "s": 60},  # arms reach past the x and its halo
    (ATTN, "decode"): {"color": "tab:brown", "marker": "x", "s": 30},
}
OVERLAP_NOTE = "where groups coincide, larger markers lie below"  # the legend's title where groups are drawn
# the other operators (show_other): small dots in the lighter tab20 shades, which no group uses
OTHER_COLOURS = plt.get_cmap("tab20").colors[1::2]
MARKER_EDGE_PT = 1.5  # hollow markers' outline: thick enough to read at page width
FONT_PT = 9  # legends and annotations: about 12 px where the page shows a figure at its own size
TICK_PT = 10
PAGE_WIDTH_IN = 9.0  # the page shows figures ~850 px wide; a wider figure is scaled down, its text with it


def group_style(label: str, phase: str, other_index: int = 0) -> dict:
    """Scatter keywords for a group's points: its colour, marker, size, hollow or not, and the draw
    order (zorder) that keeps larger markers below smaller ones. ``other_index`` numbers the
    operators outside the figure's groups (drawn as dots, above the groups)."""
    order = list(GROUP_STYLES)
    if (label, phase) not in GROUP_STYLES:
        return {"color": OTHER_COLOURS[other_index % len(OTHER_COLOURS)], "marker": "o", "s": 14,
                "zorder": 3 + len(order) + other_index}
    style = dict(GROUP_STYLES[label, phase])
    colour = style.pop("color")
    if style["marker"] in ("+", "x"):  # line markers have no face; a white halo keeps them readable on others
        from matplotlib import patheffects

        style.update(color=colour, linewidths=MARKER_EDGE_PT,
                     path_effects=[patheffects.withStroke(linewidth=MARKER_EDGE_PT + 2.5, foreground="white")])
    else:
        style.update(facecolors="none", edgecolors=colour, linewidths=MARKER_EDGE_PT)
    return style | {"zorder": 3 + order.index((label, phase))}


def measured_style(label: str, phase: str) -> dict:
    """Scatter keywords for a group's measured points: its marker filled (+ and x have filled twins),
    half its size (36 pt² at least: a smaller filled x is a speck), in its colour; nested in the
    same order as the predicted ones, and above them all."""
    order = list(GROUP_STYLES)
    style = GROUP_STYLES.get((label, phase), {"color": "black", "marker": "o", "s": 40})
    marker = {"+": "P", "x": "X"}.get(style["marker"], style["marker"])
    rank = order.index((label, phase)) if (label, phase) in GROUP_STYLES else len(order)
    return {"marker": marker, "s": max(style["s"] * 0.5, 36), "color": style["color"], "edgecolors": "white",
            "linewidths": 0.5, "zorder": 4 + len(order) + rank}


def group_colour(label: str, phase: str) -> str:
    """The colour the group is drawn in, in every figure (black for an operator outside the groups)."""
    return GROUP_STYLES.get((label, phase), {}).get("color", "black")


def series_colours(count: int) -> list:
    """``count`` colours for a sweep's lines (context lengths, batches, tree sizes), in order: plasma
    from dark blue to coral, without its orange and yellow end, which fades on a white page (the
    coral keeps 3:1 contrast against white, what a line needs to be seen). Plasma, not viridis:
    over the part dark enough for white, its hues differ more from line to line."""
    scale = plt.get_cmap("plasma")
    return [scale(0.6 * index / max(count - 1, 1)) for index in range(count)]


def _legible(ax) -> None:
    """Tick labels at :data:`TICK_PT`, whatever the style's default."""
    ax.tick_params(labelsize=TICK_PT)


def _si_ticks(ax, counts: bool = False) -> None:
    """Log-axis labels as plain SI numbers (1, 10, 100, 1 k; 10 G, 1 T), or as grouped counts
    (1,024) when ``counts``, not 10^x: easier to read beside the roofs' own labels. Minor ticks
    at 2 and 5 of each decade, not at 2..9: drawing tick marks and their labels was most of a
    chart's time (mathtext labels cost as much again)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    if counts:  # batch 4,096
        label = FuncFormatter(lambda value, _: f"{value:,.0f}" if value >= 1 else f"{value:g}")
    else:
        label = FuncFormatter(lambda value, _: si(value, "").strip() if value > 0 else "")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(label)
        axis.set_minor_formatter(NullFormatter())
        if getattr(axis.get_transform(), "base", None) == 10:
            axis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))


def legend_label(group: str, phase: str) -> str:
    """'qkv mlp' + 'prefill' -> 'qkv mlp init' (the original figure's wording)."""
    return f"{group} {PHASE_LABELS[phase]}"


def axis_limits(points: pd.DataFrame, peak: float) -> tuple[tuple[float, float], tuple[float, float]]:
    """The original's 1..1e4 FLOP/byte and 10G..100T FLOP/s, widened only to keep every point
    and the highest roof, with room for its label, in view (an A40 peak of 149.7 TFLOP/s sits
    above 100 T). ``peak`` is the highest roof drawn."""
    finite = _plottable(points)
    x_low = min(X_RANGE[0], finite["intensity"].min() / 1.5) if len(finite) else X_RANGE[0]
    x_high = max(X_RANGE[1], finite["intensity"].max() * 1.5) if len(finite) else X_RANGE[1]
    y_low = min(Y_RANGE[0], finite["performance_flops_per_s"].min() / 1.5) if len(finite) else Y_RANGE[0]
    y_high = max(Y_RANGE[1], peak * 3)
    return (x_low, x_high), (y_low, y_high)


def roofline_chart(points: pd.DataFrame | None, hardware: Hardware | Roof, peak_flops_per_s: float, title: str,
                   show_other: bool = False, extra_roofs: dict[str, float] | None = None, ax=None):
    """Log-log roofline: dashed blue memory roof, dashed red compute roof, green ridge, and each
    group's points in its own colour and marker (:data:`GROUP_STYLES`).

    ``points`` comes from :func:`roofline_utils.roofline.group_points`: one row per phase, label
    and grid point, with ``intensity`` and ``performance_flops_per_s``. The figure's six
    groups are drawn in its legend order; other operators only when ``show_other``.
    ``extra_roofs`` maps a label to another compute peak (e.g. the INT8 ceiling), drawn dotted.
    """
    if points is None:  # the bare roofs
        points = pd.DataFrame({"phase": [], "label": [], "intensity": [], "performance_flops_per_s": []})
    drawn = chart_series(points, show_other)
    roof = hardware.roof(peak_flops_per_s)
    bandwidth, ridge = roof.bandwidth_bytes_per_s, roof.ridge
    highest = max([peak_flops_per_s, *(extra_roofs or {}).values()])
    (x_low, x_high), (y_low, y_high) = series_limits(drawn, points, highest)
    if ax is None:
        _, ax = plt.subplots(figsize=(PAGE_WIDTH_IN, 6.5))
    ax.set_xscale("log")
    ax.set_yscale("log")
    x_memory = np.array([x_low, ridge])
    ax.plot(x_memory, x_memory * bandwidth, "b--", lw=1.5, label=si(bandwidth, "B/s"))
    ax.plot([ridge, x_high], [peak_flops_per_s] * 2, "r--", lw=1.5, label=si(peak_flops_per_s, "FLOP/s"))
    ax.axvline(ridge, color="green", ls="--", lw=1, label=f"ridge {ridge:.1f} FLOP/B")
    for label, peak in (extra_roofs or {}).items():
        ax.plot([hardware.roof(peak).ridge, x_high], [peak] * 2, ":", color="gray", lw=1)
        ax.annotate(f"{label} {si(peak, 'FLOP/s')}", (x_high, peak), xytext=(-4, 2), textcoords="offset points",
                    ha="right", va="bottom", fontsize=FONT_PT, annotation_clip=True)

    tooltips = {}
    others = [label for label, phase, _ in drawn if (label, phase) not in GROUP_STYLES]
    for index, (label, phase, rows) in enumerate(drawn):
        # the legend says how many settings each visible marker stands for
        distinct = len(rows[["intensity", "performance_flops_per_s"]].round(6).drop_duplicates())
        shown = f" ({len(rows)} settings, {distinct} distinct)" if distinct < len(rows) else ""
        other_index = list(dict.fromkeys(others)).index(label) if label in others else 0
        points_drawn = ax.scatter(rows["intensity"], rows["performance_flops_per_s"],
                                  label=legend_label(label, phase) + shown, **group_style(label, phase, other_index))
        gid = f"rl-points-{index}"
        points_drawn.set_gid(gid)
        tooltips[gid] = [point_tooltip(legend_label(label, phase), phase, row) for _, row in rows.iterrows()]
    ax.figure.rl_tooltips = tooltips  # read by figure_svg(): one <title> per point
    ax.set_xlim(x_low, x_high)
    ax.set_ylim(y_low, y_high)
    _si_ticks(ax)
    ax.set_xlabel("Operational Intensity (FLOP/byte)")
    ax.set_ylabel("Performance (FLOP/s)")
    ax.set_title(mathtext(title))
    ax.grid(True, which="major", ls=":", lw=0.5)
    _legible(ax)
    ax.legend(loc="lower right", fontsize=FONT_PT, ncol=2 if show_other else 1,
              title=OVERLAP_NOTE if len(drawn) > 1 else None, title_fontsize=FONT_PT)
    return ax.figure


def chart_series(points: pd.DataFrame, show_other: bool = False) -> list[tuple[str, str, pd.DataFrame]]:
    """The (label, phase, rows) series a roofline chart draws, in legend order: the figure's six
    groups, then (``show_other``) every other operator; series with no plottable point left out."""
    series = [(g, ph) for g in GROUPS for ph in PHASES]
    if show_other:
        series += [(label, ph) for label in points["label"].unique() if label not in GROUPS for ph in PHASES]
    return [(label, phase, rows) for label, phase in series
            if not (rows := _plottable(points[(points["label"] == label) & (points["phase"] == phase)])).empty]


def series_limits(drawn: list, points: pd.DataFrame, highest_peak: float):
    """The axes' limits for the series drawn (:func:`axis_limits` over their rows)."""
    return axis_limits(pd.concat([rows for *_, rows in drawn]) if drawn else points, highest_peak)


class LiveChart:
    """A roofline chart redrawn in place, for the explorer's sliders.

    A whole new figure costs several hundred milliseconds on a small machine, nearly all of it
    drawing axes, ticks and legend text that a batch or length slider does not change. So the
    chart is drawn in full only when what it shows besides the points changes (device, roof,
    title, the series in the legend, the axes' limits); otherwise the points are moved and
    drawn over the saved background (blitting), and the PNG is encoded with light compression.
    """

    def __init__(self):
        self._key = self._figure = self._background = None
        self._scatters: list = []

    def png(self, points: pd.DataFrame, hardware: Hardware, peak_flops_per_s: float, title: str) -> bytes:
        """The chart as PNG bytes, what :func:`roofline_chart` would draw for the same arguments."""
        import io

        from PIL import Image

        drawn = chart_series(points)
        key = (hardware.bandwidth_bytes_per_s, peak_flops_per_s, title, [(label, phase) for label, phase, _ in drawn],
               series_limits(drawn, points, peak_flops_per_s))
        if key != self._key:
            # a Figure of its own, not pyplot's: the notebook would show every open pyplot figure again
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            from matplotlib.figure import Figure

            self._figure = Figure(figsize=(PAGE_WIDTH_IN, 6.5))
            FigureCanvasAgg(self._figure)
            roofline_chart(points, hardware, peak_flops_per_s, title, ax=self._figure.add_subplot())
            self._scatters = [c for c in self._figure.axes[0].collections if str(c.get_gid()).startswith("rl-points")]
            for scatter in self._scatters:  # kept out of the saved background, drawn on top of it
                scatter.set_animated(True)
            self._figure.canvas.draw()
            self._background = self._figure.canvas.copy_from_bbox(self._figure.bbox)
            self._key = key
        canvas = self._figure.canvas
        canvas.restore_region(self._background)
        for scatter, (_, _, rows) in zip(self._scatters, drawn):
            scatter.set_offsets(rows[["intensity", "performance_flops_per_s"]].to_numpy(dtype=float))
        for scatter in sorted(self._scatters, key=lambda artist: artist.get_zorder()):  # larger markers below
            self._figure.axes[0].draw_artist(scatter)
        buffer = io.BytesIO()
        Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba(), "raw", "RGBA", 0, 1).save(
            buffer, format="png", compress_level=1)
        return buffer.getvalue()


def point_tooltip(label: str, phase: str, row: pd.Series) -> str:
    """What hovering a point shows: group, phase, setting, FLOPs, bytes, intensity, attainable FLOP/s."""
    parts = [f"{label} ({phase})"]
    if "batch" in row and "seq_len" in row:
        parts.append(f"batch {int(row['batch']):,}, length {int(row['seq_len']):,}")
    if "flops" in row and "bytes" in row:
        parts.append(f"{si(row['flops'], 'FLOP')}, {si(row['bytes'], 'B')}")
    parts.append(f"{number(row['intensity'], 4)} FLOP/byte, attainable {si(row['performance_flops_per_s'], 'FLOP/s')}")
    return "; ".join(parts)


def _tight_box(figure):
    """What ``bbox_inches="tight"`` crops to (0.1 inch around everything drawn), worked out once
    per figure: "tight" draws the whole figure an extra time on every save, for the same box."""
    if getattr(figure, "rl_tight_box", None) is None:
        figure.rl_tight_box = figure.get_tightbbox(figure.canvas.get_renderer()).padded(0.1)
    return figure.rl_tight_box


def figure_svg(figure) -> str:
    """The figure as SVG text, each scatter point wrapped in a ``<g>`` with a ``<title>`` tooltip
    (what a browser shows on hover; no JavaScript)."""
    import io
    import xml.etree.ElementTree as ET

    if getattr(figure, "rl_svg", None):  # drawn once, for the saved file and the page alike
        return figure.rl_svg
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches=_tight_box(figure), metadata={"Date": None})
    tooltips = getattr(figure, "rl_tooltips", {})
    if not tooltips:
        return buffer.getvalue()
    svg_ns, xlink_ns = "http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"
    ET.register_namespace("", svg_ns)
    ET.register_namespace("xlink", xlink_ns)
    root = ET.fromstring(buffer.getvalue())
    for group in root.iter(f"{{{svg_ns}}}g"):
        texts = tooltips.get(group.get("id"))
        if not texts:
            continue
        # the group's markers in document order, one per point: matplotlib draws them as <use> of one
        # shape, each maybe in its own clipped <g>, or (few points) as inline <path>s; the shared shape
        # sits in <defs>, which is not a <g> and so not counted
        marker_tags = (f"{{{svg_ns}}}use", f"{{{svg_ns}}}path")
        uses = [(parent, child) for parent in group.iter(f"{{{svg_ns}}}g") for child in parent
                if child.tag in marker_tags]
        for (parent, use), text in zip(uses, texts):
            index = list(parent).index(use)
            wrapper = ET.Element(f"{{{svg_ns}}}g")
            title = ET.SubElement(wrapper, f"{{{svg_ns}}}title")
            title.text = text
            parent.remove(use)
            wrapper.append(use)
            parent.insert(index, wrapper)
    figure.rl_svg = '<?xml version="1.0" encoding="utf-8" standalone="no"?>\n' + ET.tostring(root, encoding="unicode")
    return figure.rl_svg


def show(figure, alt: str, caption: str) -> None:
    """Display a figure as inline SVG with its alt text and caption (the report turns them into a
    numbered ``<figure>``), then close it so it is not drawn a second time.

    A small PNG goes alongside for JupyterLab: it shows no SVG from a notebook it does not trust
    (every notebook someone else executed), and would fall back to the caption's text. The
    report never shows that PNG, so a render skips it (0.4 s a figure)."""
    import os

    from IPython.display import display

    bundle = {"image/svg+xml": figure_svg(figure), "text/plain": f"[figure] {caption}"}
    if not os.environ.get(RENDERING_REPORT_ENV):
        import base64
        import io

        png = io.BytesIO()
        figure.savefig(png, format="png", dpi=100, bbox_inches=_tight_box(figure))
        bundle["image/png"] = base64.b64encode(png.getvalue()).decode("ascii")
    plt.close(figure)
    display(bundle, raw=True, metadata={"alt": alt, "caption": caption})


def _plottable(rows: pd.DataFrame) -> pd.DataFrame:
    """Points a log axis can show: finite, positive intensity (drops fused softmax, embedding)."""
    intensity = rows["intensity"].astype(float)
    return rows[np.isfinite(intensity) & (intensity > 0)]


def save_figure(figure, folder: str | Path, stem: str) -> list[Path]:
    """Write ``stem``.png and ``stem``.svg into ``folder``; returns the paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{stem}.png", folder / f"{stem}.svg"]
    figure.savefig(paths[0], dpi=150, bbox_inches=_tight_box(figure))
    paths[1].write_text(figure_svg(figure), encoding="utf-8")
    return paths


def time_breakdown_chart(breakdown: pd.DataFrame, title: str):
    """Horizontal bars of roofline time per category, one panel per phase (prefill, decode)."""
    phases = [p for p in PHASES if p in set(breakdown["phase"])]
    figure, axes = plt.subplots(1, len(phases), figsize=(PAGE_WIDTH_IN, 3.4), squeeze=False)
    for ax, phase in zip(axes[0], phases):
        rows = breakdown[breakdown["phase"] == phase].sort_values("time_s")
        colours = ["tab:purple" if "link" in c else "tab:blue" for c in rows["category"]]
        ax.barh(rows["category"], rows["time_s"] * 1e3, color=colours)
        ax.set_xlabel("time at the roofline (ms)")
        _legible(ax)
        ax.set_title(f"{phase} ({PHASE_LABELS[phase]})")
    figure.suptitle(mathtext(title))
    figure.tight_layout()
    return figure


LABEL_GAP_DECADES = 0.12  # batch labels at least this far apart on the log intensity axis


def batch_trajectory_chart(points: pd.DataFrame, hardware: Hardware, peak_flops_per_s: float, title: str,
                           ridge_batch: int | None = None):
    """Decode points of the three groups as the batch grows, each batch labelled, on the roofline."""
    figure = roofline_chart(points, hardware, peak_flops_per_s, title)
    ax = figure.axes[0]
    mlp = points[points["label"] == "up/gate/down"].sort_values("batch")
    labelled_at = None
    for i, (_, row) in enumerate(mlp.iterrows()):
        # a label only where it clears the last one (a mixture's first batches sit within a few % of each
        # other) and on the last point, so no two overprint
        x = float(np.log10(row["intensity"]))
        if labelled_at is None or x - labelled_at >= LABEL_GAP_DECADES or i == len(mlp) - 1 and \
                x - labelled_at >= LABEL_GAP_DECADES / 2:
            ax.annotate(f"b={int(row['batch']):,}", (row["intensity"], row["performance_flops_per_s"]),
                        textcoords="offset points", xytext=(3, 9), fontsize=FONT_PT - 1, rotation=45)
            labelled_at = x
    attention = points[points["label"] == "qk/pv"]
    if len(attention):  # its points sit under the GEMMs' at small batches: named with an arrow
        spot = attention.iloc[len(attention) // 2]
        distinct = attention[["intensity", "performance_flops_per_s"]].round(6).drop_duplicates()
        ax.annotate("qk/pv ar, every batch" if len(distinct) == 1 else "qk/pv ar",
                    (spot["intensity"], spot["performance_flops_per_s"]), textcoords="offset points",
                    xytext=(25, -35), fontsize=FONT_PT - 1, color=group_colour("qk/pv", "decode"),
                    arrowprops={"arrowstyle": "->", "color": group_colour("qk/pv", "decode")})
    if ridge_batch is not None:
        ax.annotate(f"MLP reaches the ridge at batch {ridge_batch:,}",
                    (hardware.roof(peak_flops_per_s).ridge, peak_flops_per_s),
                    textcoords="offset points", xytext=(-240, 20), fontsize=FONT_PT, color="green",
                    arrowprops={"arrowstyle": "->", "color": "green"})
    return figure


def sweep_chart(sweep: pd.DataFrame, x: str, series: str, title: str):
    """Time per token and tokens/s against ``x`` (batch or seq_len), one line per ``series`` value.

    Settings that do not fit in memory are drawn hollow and dashed: the memory limit on the same plot.
    Lengths past the model's context (``within_context`` false) are shaded grey when ``x`` is the length,
    and named in the legend when the lines are lengths.
    """
    figure, (left, right) = plt.subplots(1, 2, figsize=(PAGE_WIDTH_IN, 3.8))
    values = sorted(sweep[series].unique())
    past = set(sweep.loc[~sweep["within_context"], "seq_len"]) if "within_context" in sweep else set()
    for value, colour in zip(values, series_colours(len(values))):
        rows = sweep[sweep[series] == value].sort_values(x)
        label = series_label(series, value) + (" (past the context)" if series == "seq_len" and value in past else "")
        for ax, column, scale in ((left, "tpot_s", 1e3), (right, "tokens_per_s", 1)):
            fits, over = rows[rows["fits"]], rows[~rows["fits"]]
            ax.plot(fits[x], fits[column] * scale, "o-", color=colour, ms=4, lw=1.8, label=label)
            if len(over):
                joined = pd.concat([fits.tail(1), over])
                ax.plot(joined[x], joined[column] * scale, "--", color=colour, lw=1.3)
                ax.plot(over[x], over[column] * scale, "o", mfc="none", color=colour, ms=5)
    if not sweep["fits"].all():  # the legend shows what a setting that does not fit looks like
        for ax in (left, right):
            ax.plot([], [], "o--", mfc="none", color="gray", ms=5, lw=1.3, label="does not fit in memory")
    for ax, label in ((left, "time per output token (ms)"), (right, "decode tokens/s (whole batch)")):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        if x == "seq_len" and past:  # grey from midway (on the log axis) between the last length inside and the first past
            inside = sorted(set(sweep["seq_len"]) - past)
            low, high = ax.get_xlim()
            start = (inside[-1] * min(past)) ** 0.5 if inside else low
            ax.axvspan(start, high, color="0.85", zorder=0, lw=0, label="past the model's context")
            ax.set_xlim(low, high)
        _si_ticks(ax, counts=True)  # batches, lengths, ms and tokens/s: 1,024 reads better than 1 k
        ax.set_xlabel({"seq_len": "context length (tokens)"}.get(x, x))
        ax.set_ylabel(label)
        ax.grid(True, ls=":", lw=0.5)
        _legible(ax)
    figure.suptitle(mathtext(title))
    figure.tight_layout()
    _legend_below(figure)
    return figure


def _legend_below(figure) -> None:
    """One legend for all panels, under them: both panels draw the same series, and inside a panel
    the legend covered some of their lines."""
    entries = {}
    for ax in figure.axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            entries.setdefault(label, handle)
    figure.legend(entries.values(), entries.keys(), loc="upper center", bbox_to_anchor=(0.5, 0.0),
                  ncol=min(len(entries), 4), fontsize=FONT_PT, frameon=False)


SERIES_LABELS = {"batch": "batch {:,}", "seq_len": "{:,} tokens", "tree_size": "{:,}-token tree", "gamma": "γ = {:,}"}


def series_label(series: str, value) -> str:
    """A legend entry as a reader says it: 'batch 8', '4,096 tokens', '64-token tree', 'γ = 4'."""
    return SERIES_LABELS.get(series, series + " {:,}").format(int(value))


def speedup_chart(curve: pd.DataFrame, series: str, title: str, marks: dict[str, float] | None = None):
    """Step time over a plain decode step (left) and the predicted speedup (right) against the batch,
    one line per ``series`` value (tree size, or tokens drafted per round). ``marks`` draws dotted
    reference lines on the left panel (e.g. 1.1: 'nearly free'); the right one marks speedup 1."""
    from matplotlib.ticker import FormatStrFormatter

    figure, (left, right) = plt.subplots(1, 2, figsize=(PAGE_WIDTH_IN, 3.8))
    values = sorted(curve[series].unique())
    left_column = "overhead" if "overhead" in curve else "round_s"
    for value, colour in zip(values, series_colours(len(values))):
        rows = curve[curve[series] == value].sort_values("batch")
        shown = rows[left_column] / (rows["t_decode_s"] if left_column == "round_s" else 1)
        left.plot(rows["batch"], shown, "-", color=colour, lw=1.8, label=series_label(series, value))
        right.plot(rows["batch"], rows["speedup"], "-", color=colour, lw=1.8, label=series_label(series, value))
    # the reference lines are named in the legend: a label on the line sat under the curves that cross it
    for label, level in (marks or {}).items():
        left.axhline(level, color="gray", ls=":", lw=1.2, label=label)
    # red would read as a series; drawn below the series, so a 1-token tree (speedup exactly 1) shows on it
    right.axhline(1.0, color="black", ls="--", lw=1, label="no speedup (1×)", zorder=1)
    for ax, label in ((left, "step time / plain decode step"), (right, "predicted speedup")):
        ax.set_xscale("log", base=2)  # ratios of 0.3 to 12 read best on a linear axis: no decade to label
        _si_ticks(ax, counts=True)  # batches on x as counts (1,024)
        ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))  # ratios on y keep their decimals: 1.5, not 2
        ax.set_ylim(bottom=0)
        ax.set_xlabel("batch")
        ax.set_ylabel(label)
        ax.grid(True, ls=":", lw=0.5)
        _legible(ax)
    figure.suptitle(mathtext(title))
    figure.tight_layout()
    _legend_below(figure)
    return figure


def empirical_chart(points: pd.DataFrame, flops_per_s: float, bytes_per_s: float, title: str,
                    datasheet: Hardware | None = None, datasheet_peak: float | None = None):
    """Achieved roofs (solid), datasheet roofs (dotted, when known), each group's predicted points in
    its own marker and its measured points as filled dots of the same colour."""
    figure = roofline_chart(points, Roof(flops_per_s, bytes_per_s), flops_per_s, title)
    ax = figure.axes[0]
    for line in ax.lines[:2]:
        line.set_linestyle("-")
    for (label, phase), rows in points.groupby(["label", "phase"]):
        ax.scatter(rows["intensity"], rows["measured_flops_per_s"], **measured_style(label, phase))
    if datasheet is not None and datasheet_peak is not None:
        ridge = datasheet.roof(datasheet_peak).ridge
        x_low, x_high = ax.get_xlim()
        ax.plot([x_low, ridge], [x_low * datasheet.bandwidth_bytes_per_s, datasheet_peak], ":", color="gray",
                label=f"datasheet {mathtext(datasheet.name)}")
        ax.plot([ridge, x_high], [datasheet_peak] * 2, ":", color="gray")
    lowest = min(points["measured_flops_per_s"].min(), points["performance_flops_per_s"].min()) if len(points) \
        else flops_per_s / 1e3
    ax.set_ylim(lowest / 2, max(flops_per_s, datasheet_peak or 0) * 3)
    ax.scatter([], [], marker="o", s=40, color="gray", label="measured: filled, the group's marker")
    ax.legend(loc="lower right", fontsize=FONT_PT, title=OVERLAP_NOTE, title_fontsize=FONT_PT)
    return figure


def describe_roofs(hardware: Hardware, peak_flops_per_s: float, precision: str,
                   extra_roofs: dict[str, float] | None = None) -> str:
    """Alt text for the bare roofs: what the chart shows, in numbers."""
    ridge = hardware.roof(peak_flops_per_s).ridge
    extra = "; dotted: " + ", ".join(f"{name} at {si(value, 'FLOP/s')}" for name, value in extra_roofs.items()) \
        if extra_roofs else ""
    return (f"Log-log roofline of {hardware.called}: the memory roof rises at "
            f"{si(hardware.bandwidth_bytes_per_s, 'B/s')} up to the ridge at {ridge:.1f} FLOP/byte, where the "
            f"{precision} compute roof of {si(peak_flops_per_s, 'FLOP/s')} begins{extra}.")


def describe_points(points: pd.DataFrame, hardware: Hardware, peak_flops_per_s: float) -> str:
    """Alt text for a roofline with points: each group's intensity span and which side of the ridge it is on."""
    ridge = hardware.roof(peak_flops_per_s).ridge
    parts = []
    for (label, phase), rows in _plottable(points).groupby(["label", "phase"], sort=False):
        if label not in GROUPS:
            continue
        below = int((rows["intensity"] < ridge).sum())
        parts.append(f"{legend_label(label, phase)} from {number(rows['intensity'].min())} to "
                     f"{number(rows['intensity'].max())} FLOP/byte ({below} of {len(rows)} below the ridge)")
    return (f"Roofline of {hardware.called} (memory roof {si(hardware.bandwidth_bytes_per_s, 'B/s')}, compute roof "
            f"{si(peak_flops_per_s, 'FLOP/s')}, ridge {ridge:.1f} FLOP/byte) with markers for " + "; ".join(parts) + ".")


# measured points whose kernel time was read between grid shapes or beyond them (measure.lookup's labels)
MEASURED_FROM_STYLES = {"grid": {"edgecolors": "white", "linewidths": 0.5},
                        "interpolated": {"edgecolors": "black", "linewidths": 0.9},
                        "extrapolated": {"edgecolors": "black", "linewidths": 0.9, "alpha": 0.5}}
MEASURED_FROM_LEGEND = {"grid": "measured on the tables' grid: white outline",
                        "interpolated": "interpolated between grid shapes: black outline",
                        "extrapolated": "extrapolated (row or batch chunks): black outline, faded"}


def measured_gpu_chart(points: pd.DataFrame, hardware: Hardware, peak_flops_per_s: float, title: str):
    """The paper's chart under the datasheet roofs: each group's predicted points hollow in its own marker
    (as the report's roofline draws them), its measured points filled in the same colour; the outline
    says whether a measured time is a grid row, interpolated or extrapolated (``measured_from``)."""
    figure = roofline_chart(points, hardware, peak_flops_per_s, title)
    ax = figure.axes[0]
    for (label, phase, source), rows in points.groupby(["label", "phase", "measured_from"], sort=False):
        ax.scatter(rows["intensity"], rows["measured_flops_per_s"],
                   **(measured_style(label, phase) | MEASURED_FROM_STYLES[source]))
    lowest = min(points["measured_flops_per_s"].min(), points["performance_flops_per_s"].min()) if len(points) \
        else peak_flops_per_s / 1e4
    ax.set_ylim(min(ax.get_ylim()[0], lowest / 1.5), ax.get_ylim()[1])
    ax.scatter([], [], marker="o", s=40, color="gray", label="measured: filled, the group's marker")
    for source in [s for s in MEASURED_FROM_STYLES if s in set(points["measured_from"])]:
        ax.scatter([], [], marker="o", s=40, color="lightgray", label=MEASURED_FROM_LEGEND[source],
                   **MEASURED_FROM_STYLES[source])
    ax.legend(loc="lower right", fontsize=FONT_PT, title=OVERLAP_NOTE, title_fontsize=FONT_PT)
    return figure


# the GEMM cloud by working set against the L2: colours no group uses
CLOUD_STYLES = {"fits the L2": {"color": "tab:pink", "marker": "o"},
                "1-4× the L2": {"color": "tab:olive", "marker": "o"},
                "over 4× the L2 (checked)": {"color": "tab:gray", "marker": "o"}}


def cloud_bands(l2_share: pd.Series, well_above: float) -> pd.Series:
    """Each kernel's band of :data:`CLOUD_STYLES`, from its working set / L2."""
    names = list(CLOUD_STYLES)
    return pd.Series(np.where(l2_share <= 1, names[0], np.where(l2_share < well_above, names[1], names[2])),
                     index=l2_share.index)


def gemm_cloud_chart(cloud: pd.DataFrame, hardware: Hardware, peak_flops_per_s: float, title: str,
                     well_above: float = 4):
    """Measured GEMMs (achieved FLOP/s against intensity) under the datasheet roofs, coloured by where their
    working set lies against the L2."""
    extent = pd.DataFrame({"phase": "decode", "label": "gemm cloud", "intensity": cloud["intensity"],
                           "performance_flops_per_s": cloud["achieved_flops_per_s"]})  # sets the axes, not drawn
    figure = roofline_chart(extent, hardware, peak_flops_per_s, title)
    ax = figure.axes[0]
    bands = cloud_bands(cloud["l2_share"], well_above)
    for name, style in CLOUD_STYLES.items():
        rows = cloud[bands == name]
        if len(rows):
            ax.scatter(rows["intensity"], rows["achieved_flops_per_s"], s=10, alpha=0.6, linewidths=0,
                       label=f"{name}: {len(rows):,}", zorder=3, **style)
    ax.legend(loc="lower right", fontsize=FONT_PT, title="working set", title_fontsize=FONT_PT)
    return figure
