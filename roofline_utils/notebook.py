"""The one set-up call every notebook makes: ``r = rl.notebook.setup(**rl.notebook.parameters(globals()))``.

The notebook passes the parameters it declared (its ``parameters`` cell, or all of them when
papermill injects a report's values); the rest keep the schema's defaults. ``ReportParameters``
validates them, so a bad value fails here, at the top of the notebook, with a message that names
the field.
"""
from __future__ import annotations

from dataclasses import dataclass

from .hardware import Hardware, get_hardware
from .models import ModelConfig, load_model
from .params import ReportParameters, schema
from .workload import Workload


@dataclass(frozen=True)
class Setup:
    """What every section starts from: the parameters and what they load."""

    params: ReportParameters
    model: ModelConfig
    hardware: Hardware
    workload: Workload
    peak_flops_per_s: float  # the compute roof the bit widths imply on this device
    precision: str  # its name, e.g. "fp16"

    @property
    def roof(self):
        """The device's roofline under the compute roof the bit widths imply."""
        return self.hardware.roof(self.peak_flops_per_s)

    @property
    def ridge(self) -> float:
        """peak FLOP/s / bandwidth: the intensity (FLOP/byte) where the two roofs meet."""
        return self.roof.ridge

    @property
    def weights(self) -> str | None:
        """Which weight format the numbers use and where it comes from, for a checkpoint that ships a
        quantization_config (None for one without: its weights are the weight_* parameters)."""
        return self.params.weight_source() if self.model.quantization is not None else None

    @property
    def title(self) -> str:
        """'Roofline Model (Llama 33B, A40)': the original figure's title, for this model and device."""
        return f"Roofline Model ({self.model.display_name}, {self.hardware.name.removeprefix('NVIDIA ')})"


def parameters(namespace: dict) -> dict:
    """The report parameters a notebook's namespace defines (its ``parameters`` cell, and the values
    papermill injects), by the schema's names: each is written once, in that cell."""
    return {f.name: namespace[f.name] for f in schema() if f.name in namespace}


def setup(**values) -> Setup:
    """Validate the notebook's parameters against the schema and load model, device and workload."""
    import matplotlib

    matplotlib.rcParams["svg.hashsalt"] = "roofline"  # stable ids in the SVG a notebook stores
    params = ReportParameters(**values)
    params.validate()
    model, hardware, workload = load_model(params.model), get_hardware(params.hardware), params.workload()
    from .roofline import peak_flops
    from .workload import compute_precision

    precision = workload.compute_precision or compute_precision(hardware, workload.weight_bits, workload.act_bits)
    return Setup(params, model, hardware, workload, float(peak_flops(hardware, workload)), precision)
