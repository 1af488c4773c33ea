"""The charts for people: every group visible where groups coincide, one colour per group in every
figure, text legible at the page's width, sweep colours visible on white."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402

from roofline_utils import plot  # noqa: E402
from roofline_utils.hardware import Roof  # noqa: E402
from roofline_utils.operators import GROUPS, PHASES  # noqa: E402

SIX = [(group, phase) for group in GROUPS for phase in PHASES]
# the report's column: 56rem less 1.5rem padding each side, at 16 px a rem (export.py's CSS)
PAGE_PX = (56 - 2 * 1.5) * 16


def _points(coords):
    """One row per (group, phase) at the given (intensity, FLOP/s)."""
    return pd.DataFrame([{"phase": phase, "label": group, "intensity": x, "performance_flops_per_s": y,
                          "measured_flops_per_s": y / 2} for (group, phase), (x, y) in coords.items()])


def _scatter(figure, group, phase):
    ax = figure.axes[0]
    for collection in ax.collections:
        if str(collection.get_label()).startswith(plot.legend_label(group, phase)):
            return collection
    raise AssertionError(f"no points for {group} {phase}")


def _drawn_colour(collection):
    """The colour a reader sees: the outline of a hollow marker, the face of a filled one."""
    faces = collection.get_facecolor()
    return tuple(collection.get_edgecolor()[0]) if len(faces) == 0 or faces[0][3] == 0 else tuple(faces[0])


def test_all_six_groups_show_when_they_land_on_one_spot():
    # the worst case: every group at the same intensity and speed; each group's colour must still
    # cover pixels of its own (antialiased edges aside, within 20/255 per channel)
    roof = Roof(1e14, 1e12)  # ridge at 100 FLOP/byte; the point at 3 FLOP/byte, 0.3 TFLOP/s is off both roofs
    figure = plot.roofline_chart(_points({key: (3.0, 3e11) for key in SIX}), roof, 1e14, "t")
    ax = figure.axes[0]
    ax.get_legend().remove()  # the legend shows every marker anyway: only the plotted spot counts
    figure.canvas.draw()
    pixels = np.asarray(figure.canvas.buffer_rgba())[..., :3].astype(int)
    x_px, y_px = ax.transData.transform((3.0, 3e11))
    row = pixels.shape[0] - int(round(y_px))
    spot = pixels[row - 15:row + 15, int(x_px) - 15:int(x_px) + 15]
    for group, phase in SIX:
        colour = np.array(to_rgba(plot.group_colour(group, phase))[:3]) * 255
        seen = int((np.abs(spot - colour).max(axis=-1) <= 20).sum())
        assert seen >= 4, f"{group} {phase}: {seen} pixels of its colour at the shared spot"
    plt.close(figure)


def test_larger_markers_lie_below_smaller_ones():
    figure = plot.roofline_chart(_points({key: (3.0, 3e11) for key in SIX}), Roof(1e14, 1e12), 1e14, "t")
    drawn = sorted((_scatter(figure, *key) for key in SIX), key=lambda c: c.get_zorder())
    sizes = [c.get_sizes()[0] for c in drawn]
    markers = {(str(c.get_paths()[0].vertices.round(3).tolist()), c.get_sizes()[0]) for c in drawn}
    assert len(markers) == 6  # a shape and size of its own per group
    assert sizes[0] == max(sizes) and sizes[-1] == min(sizes)  # the largest at the bottom, the smallest on top
    assert figure.axes[0].get_legend().get_title().get_text()  # the legend says how they nest
    plt.close(figure)


def test_a_group_keeps_its_colour_from_figure_to_figure():
    roof = Roof(1e14, 1e12)
    main = plot.roofline_chart(_points({key: (3.0, 3e11) for key in SIX}), roof, 1e14, "main")
    # the trajectory draws the decode groups only: by position in the legend they would shift colour
    decode = {key: value for key, value in {key: (3.0, 3e11) for key in SIX}.items() if key[1] == "decode"}
    trajectory = plot.batch_trajectory_chart(_points(decode).assign(batch=1), roof, 1e14, "trajectory")
    measured = plot.empirical_chart(_points({key: (3.0, 3e11) for key in SIX}), 1e14, 1e12, "measured")
    for group, phase in SIX:
        colour = _drawn_colour(_scatter(main, group, phase))
        assert colour == _drawn_colour(_scatter(measured, group, phase))
        if phase == "decode":
            assert colour == _drawn_colour(_scatter(trajectory, group, phase))
        # the measured points: filled, not black, in the predicted points' colour
        dots = [c for c in measured.axes[0].collections if not c.get_label() or c.get_label().startswith("_")]
        assert colour in {tuple(c.get_facecolor()[0]) for c in dots if len(c.get_offsets())}
    assert len({_drawn_colour(_scatter(main, *key)) for key in SIX}) == 6
    for figure in (main, trajectory, measured):
        plt.close(figure)


def _sweep():
    rows = [{"batch": b, "seq_len": s, "tpot_s": 0.01 * b, "tokens_per_s": 100.0 / b, "fits": b < 8}
            for b in (1, 2, 4, 8) for s in (128, 512, 2048, 8192)]
    return pd.DataFrame(rows)


def _curve():
    return pd.DataFrame([{"batch": b, "tree_size": n, "overhead": 1 + n * b / 100, "speedup": 3 / (1 + n * b / 100),
                          "t_decode_s": 0.01} for b in (1, 4, 16) for n in (1, 4, 16, 64)])


def _figures():
    roof = Roof(1e14, 1e12)
    points = _points({key: (3.0, 3e11) for key in SIX})
    breakdown = pd.DataFrame({"phase": ["prefill", "decode"], "category": ["MLP", "MLP"], "time_s": [0.3, 0.06]})
    return {"roofline": plot.roofline_chart(points, roof, 1e14, "t"),
            "measured": plot.empirical_chart(points, 1e14, 1e12, "t"),
            "sweep": plot.sweep_chart(_sweep(), "batch", "seq_len", "t"),
            "speedup": plot.speedup_chart(_curve(), "tree_size", "t", marks={"nearly free": 1.1}),
            "breakdown": plot.time_breakdown_chart(breakdown, "t")}


@pytest.mark.parametrize("name", ["roofline", "measured", "sweep", "speedup", "breakdown"])
def test_legends_and_ticks_are_legible_at_the_pages_width(name):
    figure = _figures()[name]
    figure.canvas.draw()
    width_pt = plot._tight_box(figure).width * 72
    # an SVG of w pt is w × 4/3 px wide, scaled down to the column when wider
    px_per_pt = 4 / 3 * min(1.0, PAGE_PX / (width_pt * 4 / 3))
    texts = [t for legend in [*figure.legends, *(ax.get_legend() for ax in figure.axes)] if legend
             for t in legend.get_texts()]
    texts += [label for ax in figure.axes for label in ax.get_xticklabels() + ax.get_yticklabels() if label.get_text()]
    assert texts
    smallest_px = min(t.get_fontsize() for t in texts) * px_per_pt
    assert smallest_px >= 11, f"{name}: {smallest_px:.1f} px"
    plt.close("all")


def _contrast_on_white(rgba):
    """WCAG 2 contrast ratio against white, from the sRGB relative luminance."""
    linear = [v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4 for v in rgba[:3]]
    luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    return 1.05 / (luminance + 0.05)


@pytest.mark.parametrize("count", [2, 4, 6, 9])
def test_sweep_colours_show_on_white_and_differ(count):
    colours = plot.series_colours(count)
    assert len(set(colours)) == count
    assert min(_contrast_on_white(c) for c in colours) >= 3  # WCAG's minimum for lines and shapes


def test_sweep_lines_use_the_visible_scale():
    figure = plot.sweep_chart(_sweep(), "batch", "seq_len", "t")
    drawn = {to_rgba(line.get_color()) for line in figure.axes[0].get_lines() if line.get_xdata().size}
    assert drawn == {tuple(c) for c in plot.series_colours(4)}  # the grey legend sample draws no data
    plt.close(figure)


def test_lengths_past_the_context_are_marked_where_they_are_drawn():
    # lengths 2,048 and 8,192 past a 1,000-token context: a grey span on the length axis covering them
    # (and nothing inside the context), and a legend naming them where the lines are lengths
    sweep = _sweep().assign(within_context=lambda d: d["seq_len"] <= 1000)
    by_length = plot.sweep_chart(sweep, "seq_len", "batch", "t")
    spans = [p for p in by_length.axes[0].patches if p.get_label() == "past the model's context"]
    assert len(spans) == 1
    left, right = spans[0].get_x(), spans[0].get_x() + spans[0].get_width()
    assert 512 < left < 2048 and right > 8192
    legend = [t.get_text() for t in by_length.legends[0].get_texts()]
    assert "past the model's context" in legend
    by_batch = plot.sweep_chart(sweep, "batch", "seq_len", "t")
    legend = [t.get_text() for t in by_batch.legends[0].get_texts()]
    assert legend[:4] == ["128 tokens", "512 tokens", "2,048 tokens (past the context)",
                          "8,192 tokens (past the context)"]
    # the title's old "(hollow, dashed: ...)" is a legend entry, drawn as the lines that do not fit are
    assert legend[4:] == (["does not fit in memory"] if not sweep["fits"].all() else [])
    # inside the context everywhere: nothing marked
    clean = plot.sweep_chart(sweep.assign(within_context=True), "seq_len", "batch", "t")
    assert not [p for p in clean.axes[0].patches if p.get_label() == "past the model's context"]
    for figure in (by_length, by_batch, clean):
        plt.close(figure)


def test_every_point_of_the_main_chart_carries_its_own_numbers():
    """Hovering a marker shows that setting's batch and length: 49 different tooltips per group, each
    naming one (batch, length) of the 7 x 7 grid, whatever markers coincide on the chart."""
    import re

    import roofline_utils as rl

    batches, lengths = [1, 2, 4, 8, 16, 32, 64], [128, 256, 512, 1024, 2048, 4096, 8192]
    hardware = rl.get_hardware("a40")
    points = rl.sweeps.sweep_points(rl.load_model("llama-33b"), hardware, rl.Workload(), batches, lengths)
    figure = plot.roofline_chart(points, hardware, hardware.peak("fp16"), "t")
    titles = re.findall(r"<title>(.*?)</title>", plot.figure_svg(figure))
    plt.close(figure)
    for group in ("qkv mlp init", "qkv mlp ar", "up/gate/down init", "up/gate/down ar", "qk/pv init", "qk/pv ar"):
        mine = [t for t in titles if t.startswith(group + " (")]
        settings = {tuple(int(x.replace(",", "")) for x in re.search(r"batch ([\d,]+), length ([\d,]+)", t).groups()) for t in mine}
        assert len(mine) == 49 and settings == {(b, s) for b in batches for s in lengths}, group
