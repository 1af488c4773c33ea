"""Measure the machine and check the roofline against it.

    backends.py   where kernels run and how they are timed (numpy on the CPU; PyTorch, CUDA when present)
    kernels.py    which kernels, at which shapes: derived from the operator list, one at a time
    runs.py       ceilings, measurement runs (one CSV each, with metadata), the shipped runs
    empirical.py  measured against predicted: chart points, ratios, the reading

PyTorch stays optional: nothing here imports it until a TorchBackend is made.
"""
from .backends import (Backend, NumpyBackend, TorchBackend, best_of, last_level_cache_bytes, physical_memory_bytes,
                       torch_cuda_available)
from .kernels import PlannedKernel, fitted, plan
from .runs import (CSV_COLUMNS, Ceilings, MeasurementRun, achieved_hardware, load_run, load_shipped, measure_ceilings,
                   measure_model, medusa_settings, save_run, shipped_runs)

__all__ = ["Backend", "CSV_COLUMNS", "Ceilings", "MeasurementRun", "NumpyBackend", "PlannedKernel", "TorchBackend",
           "achieved_hardware", "best_of", "fitted", "last_level_cache_bytes", "load_run", "load_shipped",
           "measure_ceilings", "measure_model", "medusa_settings", "physical_memory_bytes", "plan", "save_run",
           "shipped_runs", "torch_cuda_available"]
