"""The shipped extract of the measured kernel tables, and the choice of source for a report.

``roofline_utils/data/kernels/measured_kernels.csv`` holds, per catalog GPU the database has, the
rows the Medusa grid (batch 1–64 × length 128–8192, prefill and decode) needs for the shipped
Llama-7B, 13B and 33B (the default report's model) and Llama-3.1-8B and 70B in every framework's newest version: each GEMM and
attention lookup's surrounding grid points, so the extract interpolates exactly as the database does.
For vLLM it adds the cloud: a seeded sample of the bf16 GEMM grid, every GEMM faster than its roofline
bound (capped per GPU), and held-out triplets (a grid point and its two neighbours along one axis) on
which the tests hold the interpolation to its stated error. Rows are the database's own, latency in
its milliseconds; the '# ' header lines give the provenance, and LICENSE and NOTICE sit beside it
(Apache-2.0, NVIDIA). ``scripts/extract_kernels.py`` regenerates it from the installed package.

The source a report reads: the installed database when the device is in it, else the extract.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from io import StringIO
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import RooflineInputError
from ..hardware import Hardware, get_hardware
from . import database
from .lookup import KernelTimes

EXTRACT_FILE = "measured_kernels.csv"
EXTRACT_COLUMNS = [*database.KERNEL_COLUMNS, "purpose"]
EXTRACT_MODELS = ("llama-7b", "llama-13b", "llama-33b", "llama-3.1-8b", "llama-3.1-70b")  # with the default report's model (params.ReportParameters)
CLOUD_SAMPLE = 1500  # GEMMs per GPU in the cloud's seeded sample
FASTER_THAN_BOUND_CAP = 1500  # GEMMs faster than their bound kept per GPU (the L40S, with a 96 MB L2, has 7,000)
HELD_OUT = {"gemm": 150, "prefill_attention": 60, "decode_attention": 60}  # triplets per GPU and kind
SEED = 21
# NVIDIA architecture generations of the catalog's GPUs, for the nearest measured GPU to one the tables lack
GENERATIONS = {
    "Volta": ("v100-sxm2",), "Turing": ("t4",),
    "Ampere": ("a100-80gb-sxm", "a100-40gb-sxm", "a100-80gb-pcie", "a40", "a10", "rtx-3090"),
    "Ada Lovelace": ("l40s", "l4", "rtx-4090"), "Hopper": ("h100-sxm", "h100-pcie", "h200-sxm"),
    "Blackwell": ("b200",),
}


def extract_path() -> Path:
    return Path(str(resources.files("roofline_utils").joinpath("data/kernels", EXTRACT_FILE)))


@lru_cache(maxsize=1)
def _extract() -> tuple[dict, pd.DataFrame]:
    text = extract_path().read_text()
    metadata, body = {}, []
    for line in text.splitlines(keepends=True):
        if line.startswith("# ") and ": " in line and not body:
            key, value = line[2:].rstrip("\n").split(": ", 1)
            metadata[key] = value
        else:
            body.append(line)
    rows = pd.read_csv(StringIO("".join(body)), keep_default_na=False, na_values=[],
                       dtype={"version": str, "framework": str})
    return metadata, rows[EXTRACT_COLUMNS]


def extract_rows() -> pd.DataFrame:
    return _extract()[1]


def extract_metadata() -> dict:
    return dict(_extract()[0])


@dataclass(frozen=True)
class KernelSource:
    """Measured kernels of one GPU, framework and version, and where they were read."""

    device: str  # catalog key
    gpu: str  # the name the tables give (nvidia-smi's)
    framework: str
    version: str
    origin: str  # "database" (the installed package) or "extract" (shipped)
    package_version: str
    times: KernelTimes

    @property
    def hardware(self) -> Hardware:
        return get_hardware(self.device)

    @property
    def framework_label(self) -> str:
        return f"{database.FRAMEWORK_NAMES.get(self.framework, self.framework)} {self.version}"

    @property
    def kernel_sources(self) -> str:
        return ", ".join(sorted(set(self.times.rows["kernel_source"])))

    def describe(self) -> str:
        where = "the installed database" if self.origin == "database" else "the extract shipped with roofline"
        return (f"{self.gpu} ({self.device}), {self.framework_label}, bf16; kernels {self.kernel_sources}; "
                f"{where} of aiconfigurator-core {self.package_version}")


def _database_ready(device: str) -> bool:
    return database.installed() and device in database.database_devices()


def measured_devices() -> list[str]:
    """Catalog keys with measured kernels here: the installed database's and the extract's."""
    found = set(extract_rows()["device"])
    if database.installed():
        found |= set(database.database_devices())
    return sorted(found)


def frameworks_for(device: str) -> dict[str, str]:
    """Framework -> newest version with measured kernels for ``device``."""
    if _database_ready(device):
        return database.frameworks(device)
    rows = extract_rows()
    rows = rows[rows["device"] == device]
    return {fw: max(part["version"], key=database._version_key) for fw, part in rows.groupby("framework")}


def kernel_source(device: str, framework: str | None = None, origin: str = "auto") -> KernelSource:
    """The measured kernels of ``device`` (a catalog key): the database when installed and holding it
    (``origin="auto"``), else the extract; ``framework`` defaults to vLLM at its newest version."""
    if device not in measured_devices() or (origin == "database" and not _database_ready(device)):
        raise RooflineInputError("measured_device", f"no measured kernels for {device!r}",
                                 ", ".join(measured_devices()))
    use_database = origin == "database" or (origin == "auto" and _database_ready(device))
    available = database.frameworks(device) if use_database else frameworks_for(device)
    framework = framework or database.DEFAULT_FRAMEWORK
    if framework not in available:
        raise RooflineInputError("measured_framework", f"{framework!r} has no measured kernels for {device}",
                                 ", ".join(sorted(available)))
    version = available[framework]
    if use_database:
        rows, package = database.read_kernels(device, framework, version), database.package_version()
    else:
        rows = extract_rows()
        rows = rows[(rows["device"] == device) & (rows["framework"] == framework) & (rows["version"] == version)]
        rows, package = rows.drop(columns="purpose").drop_duplicates(), extract_metadata().get("package_version", "?")
    return KernelSource(device, str(rows["gpu"].iloc[0]), framework, version,
                        "database" if use_database else "extract", package, KernelTimes(rows))


@dataclass(frozen=True)
class DeviceChoice:
    """Which measured GPU a report shows for its device, and why."""

    requested: str  # the report's device (catalog key, or a user file's name)
    shown: str | None  # the catalog key of the GPU shown; None: none applies
    reason: str


def choose_device(hardware: Hardware, measured_device: str = "auto") -> DeviceChoice:
    """The report's own GPU when measured; else ``measured_device``; else the measured GPU of the same
    NVIDIA generation (the A40's is the A100: both Ampere, the same tensor cores and kernels)."""
    available = measured_devices()
    if measured_device not in ("auto", "none"):
        return DeviceChoice(hardware.key, measured_device, "chosen with measured_device")
    if measured_device == "none":
        return DeviceChoice(hardware.key, None, "measured_device is 'none'")
    if hardware.key in available:
        return DeviceChoice(hardware.key, hardware.key, "the report's own device is in the measured tables")
    generation = next((name for name, keys in GENERATIONS.items() if hardware.key in keys), None)
    same = [key for key in GENERATIONS.get(generation, ()) if key in available]
    if same:
        return DeviceChoice(hardware.key, same[0], f"{hardware.name} is not in the measured tables; "
                            f"{get_hardware(same[0]).name} is the measured GPU of the same generation "
                            f"({generation}: the same tensor-core instructions and the same kernels)")
    return DeviceChoice(hardware.key, None, f"{hardware.name} is not in the measured tables, nor is any GPU of "
                        f"its generation" + (f" ({generation})" if generation else ""))


# --- building the extract (needs the database) ----------------------------------------------------------

def _used_rows(source_rows: pd.DataFrame, models: list[str]) -> set[int]:
    from ..models import load_model
    from .measured import operator_times
    from .runs import medusa_settings
    from ..workload import Workload

    times = KernelTimes(source_rows)
    used: set[int] = set()
    for name in models:
        model = load_model(name)
        for phase, batch, seq_len in medusa_settings():
            work = Workload(batch=batch, seq_len=seq_len, attention_io="fused")
            for time in operator_times(model, work, phase, times).values():
                used.update(time.rows)
    return used


def _held_out(rows: pd.DataFrame, kind: str, count: int, rng: np.random.Generator
              ) -> tuple[list[tuple[int, str]], list[int]]:
    """Seeded grid points interior along one axis, and their two neighbours: ([(middle, axis)], neighbours)."""
    from .database import KEYS

    axes = ["m", "n", "k"] if kind == "gemm" else ["batch", "length"]
    fixed = [key for key in KEYS[kind] if key not in axes]
    part = rows[rows["kind"] == kind]
    index = {tuple(key): i for key, i in zip(part[KEYS[kind]].to_numpy().tolist(), part.index)}
    ticks = {}
    for group_key, group in (part.groupby(fixed) if fixed else [((), part)]):
        ticks[group_key if isinstance(group_key, tuple) else (group_key,)] = {a: sorted(set(group[a])) for a in axes}
    middles, neighbours = [], []
    for i in rng.permutation(part.index.to_numpy()):
        if len(middles) >= count:
            break
        row = part.loc[i]
        group_key = tuple(int(row[f]) for f in fixed)
        axis = axes[int(rng.integers(len(axes)))]
        axis_ticks = ticks[group_key][axis]
        position = axis_ticks.index(int(row[axis]))
        if not 0 < position < len(axis_ticks) - 1:
            continue
        keys = []
        for tick in (axis_ticks[position - 1], axis_ticks[position + 1]):
            key = {k: int(row[k]) for k in KEYS[kind]} | {axis: tick}
            keys.append(index.get(tuple(key[k] for k in KEYS[kind])))
        if None in keys:
            continue
        middles.append((int(i), axis))
        neighbours.extend(keys)
    return middles, neighbours


def build_extract(default_model: str) -> tuple[dict, pd.DataFrame]:
    """The extract from the installed database: (metadata, rows in EXTRACT_COLUMNS)."""
    from .measured import bound_check

    models = list(dict.fromkeys([*EXTRACT_MODELS, default_model]))
    parts = []
    for device in database.database_devices():
        for framework, version in database.frameworks(device).items():
            rows = database.read_kernels(device, framework, version)
            purposes = {i: "medusa" for i in sorted(_used_rows(rows, models))}
            if framework == database.DEFAULT_FRAMEWORK:
                rng = np.random.default_rng(SEED)
                gemm = rows[rows["kind"] == "gemm"]
                for i in rng.choice(gemm.index.to_numpy(), size=min(CLOUD_SAMPLE, len(gemm)), replace=False):
                    purposes.setdefault(int(i), "cloud")
                checked = bound_check(gemm, get_hardware(device))
                faster = checked.index[checked["ratio"] < 1].to_numpy()
                if len(faster) > FASTER_THAN_BOUND_CAP:
                    faster = rng.choice(faster, size=FASTER_THAN_BOUND_CAP, replace=False)
                for i in faster:
                    purposes.setdefault(int(i), "faster_than_bound")
                for kind, count in HELD_OUT.items():
                    middles, neighbours = _held_out(rows, kind, count, rng)
                    for i, axis in middles:
                        if purposes.get(i) in (None, "held_out_neighbour"):
                            purposes[i] = f"held_out:{axis}"
                    for i in neighbours:
                        purposes.setdefault(i, "held_out_neighbour")
            chosen = rows.loc[sorted(purposes)].assign(purpose=[purposes[i] for i in sorted(purposes)])
            parts.append(chosen)
    metadata = {
        "source": "aiconfigurator-core (NVIDIA, https://github.com/ai-dynamo/aiconfigurator), "
                  "aiconfigurator_core/systems/data/<gpu>/{gemm,attention}/<framework>/<version>/",
        "package_version": database.package_version(),
        "licence": "Apache-2.0: see LICENSE and NOTICE in this folder; rows copied unchanged but for the "
                   "selection, the bf16 filter and length = isl + step for decode attention",
        "tables": "gemm_perf (bf16), context_attention_perf and generation_attention_perf (bf16, KV bf16, "
                  "window 0, beam 1)",
        "models": ", ".join(models),
        "purpose": "medusa: the rows the Medusa grid needs for these models; cloud: a seeded sample of the "
                   f"bf16 GEMM grid ({CLOUD_SAMPLE} per GPU); faster_than_bound: GEMMs faster than their roofline "
                   f"time (at most {FASTER_THAN_BOUND_CAP} per GPU); held_out:<axis> / held_out_neighbour: grid points "
                   "and their two neighbours along that axis, for the interpolation test",
        "regenerate": "python scripts/extract_kernels.py (needs pip install -e '.[kernels]')",
    }
    return metadata, pd.concat(parts, ignore_index=True)[EXTRACT_COLUMNS]


def write_extract(metadata: dict, rows: pd.DataFrame, path: Path) -> Path:
    header = "".join(f"# {key}: {value}\n" for key, value in metadata.items())
    staging = path.with_suffix(".tmp")
    staging.write_text(header + rows.to_csv(index=False))
    staging.replace(path)
    return path
