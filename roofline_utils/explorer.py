"""An ipywidgets explorer: pick model, hardware, batch, context and precision; the roofline redraws.

In JupyterLab the controls are live. In a static export (the HTML report) widgets cannot run,
so the report replaces this cell's widget with a note and keeps the static chart above it.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

WIDGET_NOTE = ("In JupyterLab the explorer's controls appear here: open notebooks/04_sweeps.ipynb "
               "there to use them.")


def frame(model: str, hardware: str, batch: int, seq_len: int, bits: int, chart=None) -> tuple[bytes, str]:
    """What one position of the controls shows: the roofline chart as PNG and the headline.

    ``chart`` is the explorer's :class:`~roofline_utils.plot.LiveChart` (a new one draws from
    scratch). The explorer calls this on every slider move; benchmarks/engine_speed.py times it
    (target: 150 ms, the PNG included).
    """
    from .findings import headline, markdown
    from .hardware import get_hardware
    from .models import load_model
    from .plot import LiveChart
    from .roofline import group_points, operator_table, peak_flops
    from .workload import Workload

    work = Workload(batch=batch, seq_len=seq_len, weight_bits=bits, act_bits=bits if bits == 8 else 16, kv_bits=bits)
    llm, device = load_model(model), get_hardware(hardware)
    peak = float(np.max(peak_flops(device, work)))
    from .sweeps import CHART_ATTENTION_IO

    points = group_points(operator_table(llm, device, replace(work, attention_io=CHART_ATTENTION_IO)))
    png = (chart or LiveChart()).png(points, device, peak, f"Roofline Model ({llm.display_name}, {device.name})")
    return png, markdown(headline(llm, device, work))


def explorer(model: str = "llama-33b", hardware: str = "a40", batch: int = 1, seq_len: int = 1024,
             bits: int = 16):
    """A VBox of controls and an output area holding the chart and the headline numbers.

    While ``roofline render`` runs the notebook, widgets could not run in the page anyway: the
    cell shows the note that says where the explorer lives, and builds nothing."""
    import os

    from . import RENDERING_REPORT_ENV

    if os.environ.get(RENDERING_REPORT_ENV):
        from .tables import show_markdown

        show_markdown(f"*{WIDGET_NOTE}*", plain=WIDGET_NOTE)
        return None
    import ipywidgets as widgets

    from .hardware import hardware_names
    from .models import preset_names
    from .plot import LiveChart
    from .tables import show_markdown

    powers = [2**i for i in range(0, 11)]
    lengths = [2**i for i in range(7, 18)]
    nearest = lambda options, value: min(options, key=lambda option: abs(np.log2(option / value)))  # noqa: E731
    model = model if model in preset_names() else "llama-33b"  # a config.json path is not in the dropdown
    hardware = hardware if hardware in hardware_names() else "a40"
    batch, seq_len = nearest(powers, batch), nearest(lengths, seq_len)
    bits = bits if bits in (16, 8, 4) else 16
    controls = {
        "model": widgets.Dropdown(options=preset_names(), value=model, description="model"),
        "hardware": widgets.Dropdown(options=hardware_names(), value=hardware, description="hardware"),
        "batch": widgets.SelectionSlider(options=powers, value=batch, description="batch"),
        "seq_len": widgets.SelectionSlider(options=lengths, value=seq_len, description="context"),
        "bits": widgets.Dropdown(options=[16, 8, 4], value=bits, description="bits"),
    }
    chart, picture, out = LiveChart(), widgets.Image(format="png"), widgets.Output()

    def redraw(_=None):
        with out:
            out.clear_output(wait=True)
            try:
                picture.value, text = frame(**{name: control.value for name, control in controls.items()}, chart=chart)
                show_markdown(text)
            except ValueError as exc:  # e.g. a precision the device lacks: say so in the output area
                print(f"cannot evaluate: {exc}")

    for control in controls.values():
        control.observe(redraw, names="value")
    redraw()
    return widgets.VBox([widgets.HBox([controls["model"], controls["hardware"], controls["bits"]]),
                         widgets.HBox([controls["batch"], controls["seq_len"]]), picture, out])
