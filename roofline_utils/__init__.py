"""roofline: why LLM inference is as fast (or slow) as it is, operator by operator.

Imports are lazy: ``import roofline_utils`` costs almost nothing, and ``rl.plot`` or
``rl.operator_table`` load their module on first use, so ``roofline table`` never pays for
matplotlib, nbformat or papermill.
"""
from importlib import import_module

# set in the notebook kernel's environment while `roofline render` runs it (plot.show reads it)
RENDERING_REPORT_ENV = "ROOFLINE_RENDERING_REPORT"

# public name -> the module that defines it
_EXPORTS = {
    "RooflineInputError": "errors",
    "Hardware": "hardware", "custom_hardware": "hardware", "get_hardware": "hardware", "hardware_names": "hardware",
    "MemoryFootprint": "memory", "memory_footprint": "memory",
    "ModelConfig": "models", "from_hf_config": "models", "load_model": "models", "preset": "models",
    "preset_names": "models",
    "group_points": "roofline", "operator_table": "roofline", "phase_totals": "roofline", "totals": "roofline",
    "grid_totals": "sweeps",
    "Workload": "workload", "compute_precision": "workload",
    "ReportParameters": "params",
    "checkpoint_workload": "quantization",
}
_SUBMODULES = {"e2e", "engine", "speculative", "explorer", "export", "findings", "hardware", "measure", "memory", "models",
               "operators", "output", "params", "plot", "report", "roofline", "summary", "sweeps", "tables",
               "units", "workload", "notebook", "expr", "errors", "cli", "quantization", "state", "levers", "primer"}

__all__ = sorted(_EXPORTS)


def _version() -> str:
    """The installed distribution's version, looked up on first use: importlib.metadata alone costs
    a cold `roofline table` about 50 ms."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("roofline")
    except PackageNotFoundError:  # running from a checkout that was not pip-installed
        return "0.1.0"


def __getattr__(name: str):
    if name == "__version__":
        value = _version()
    elif name in _EXPORTS:
        value = getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    elif name in _SUBMODULES:
        value = import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module 'roofline_utils' has no attribute {name!r}")
    globals()[name] = value  # the next access is a plain lookup
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS) | _SUBMODULES)
