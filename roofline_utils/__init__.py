"""roofline: why LLM inference is as fast (or slow) as it is, operator by operator."""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("roofline")
except PackageNotFoundError:  # running from a checkout that was not pip-installed
    __version__ = "0.1.0"

from .errors import RooflineInputError
from .hardware import Hardware, custom_hardware, get_hardware, hardware_names
from .memory import MemoryFootprint, memory_footprint
from .models import ModelConfig, from_hf_config, load_model, preset, preset_names
from .roofline import group_points, operator_table, phase_totals
from .workload import Workload, compute_precision

__all__ = [
    "Hardware", "MemoryFootprint", "ModelConfig", "RooflineInputError", "Workload", "compute_precision",
    "custom_hardware", "from_hf_config", "get_hardware", "group_points", "hardware_names", "load_model",
    "memory_footprint", "operator_table", "phase_totals", "preset", "preset_names",
]

from . import e2e, empirical, explorer, measure, memory, plot, roofline, summary, sweeps, units  # noqa: E402,F401  (rl.plot, ...)
