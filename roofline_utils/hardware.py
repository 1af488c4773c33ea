"""Hardware specs and their roofline ceilings.

A device is a memory bandwidth, a compute peak per precision, a memory capacity and a
link to its peers. The catalog (``data/hardware.json``) keeps each figure's source.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Mapping

from .errors import RooflineInputError

PRECISIONS = ("fp32", "tf32", "fp16", "bf16", "fp8", "int8", "int4")
GIB = 2**30


@dataclass(frozen=True)
class Hardware:
    """One accelerator. Units are in the field names (bytes, bytes/s, FLOP/s)."""

    key: str
    name: str
    memory_bytes: float
    bandwidth_bytes_per_s: float
    peak_flops_per_s: Mapping[str, float]  # precision -> dense tensor peak; absent = unsupported
    link_bytes_per_s: float | None = None  # per direction, to each peer (tensor-parallel all-reduce)
    link: str = ""
    l2_bytes: float | None = None
    confidence: str = "K"
    sources: str = "user-defined"
    memory_type: str = ""
    tdp_w: float | None = None
    extra: Mapping[str, object] = field(default_factory=dict)

    def peak(self, precision: str) -> float:
        """Dense peak FLOP/s for ``precision``; a clear error if the device has no such path."""
        if precision not in self.peak_flops_per_s:
            raise RooflineInputError(
                "precision", f"{self.name} has no {precision!r} compute ceiling",
                ", ".join(sorted(self.peak_flops_per_s)))
        return self.peak_flops_per_s[precision]

    def ridge_point(self, precision: str = "fp16") -> float:
        """Operational intensity (FLOP/byte) where the memory roof meets the compute roof.

        ridge = peak_flops_per_s / bandwidth_bytes_per_s. For the A40 at FP16:
        149.7e12 / 696e9 = 215.1 FLOP/byte. An operator below it is memory-bound.
        """
        return self.peak(precision) / self.bandwidth_bytes_per_s


def _from_record(key: str, record: Mapping) -> Hardware:
    peaks = {p: float(v) * 1e12 for p, v in record["peak_tflops"].items() if v is not None}
    link = record.get("link_gb_s")
    l2 = record.get("l2_mb")
    return Hardware(
        key=key,
        name=record["name"],
        memory_bytes=float(record["memory_gb"]) * GIB,
        bandwidth_bytes_per_s=float(record["bandwidth_gb_s"]) * 1e9,
        peak_flops_per_s=peaks,
        link_bytes_per_s=None if link is None else float(link) * 1e9,
        link=record.get("link", ""),
        l2_bytes=None if l2 is None else float(l2) * 2**20,
        confidence=record.get("confidence", "K"),
        sources=record.get("sources", "user-defined"),
        memory_type=record.get("memory_type", ""),
        tdp_w=record.get("tdp_w"),
    )


@lru_cache(maxsize=1)
def _catalog() -> dict:
    text = resources.files("roofline_utils").joinpath("data/hardware.json").read_text()
    return json.loads(text)


def hardware_names() -> list[str]:
    """Keys of the shipped catalog, for error messages and ``roofline list``."""
    return sorted(_catalog()["devices"])


def get_hardware(name: str | Hardware) -> Hardware:
    """A device from the catalog by key (``"a40"``) or alias (``"h100"``), or a user file path.

    A path ending in .json/.yaml/.yml is read with :func:`hardware_from_file`.
    """
    if isinstance(name, Hardware):
        return name
    if not isinstance(name, str) or not name.strip():
        raise RooflineInputError("hardware", f"expected a device name, got {name!r}",
                                 ", ".join(hardware_names()))
    if name.lower().endswith((".json", ".yaml", ".yml")):
        return hardware_from_file(name)
    catalog = _catalog()
    key = name.strip().lower()
    key = catalog["aliases"].get(key, key)
    if key not in catalog["devices"]:
        raise RooflineInputError("hardware", f"unknown device {name!r}",
                                 ", ".join(hardware_names()) + ", or a .json/.yaml device file")
    return _from_record(key, catalog["devices"][key])


def custom_hardware(name: str, bandwidth_gb_s: float, peak_tflops: float | Mapping[str, float],
                    memory_gb: float, link_gb_s: float | None = None) -> Hardware:
    """A user-defined device from plain numbers.

    ``peak_tflops`` is one number (taken as the fp16/bf16 peak) or a mapping
    precision -> TFLOP/s. ``memory_gb`` is read as GiB, like the catalog.
    """
    peaks = peak_tflops if isinstance(peak_tflops, Mapping) else {"fp16": peak_tflops, "bf16": peak_tflops}
    record = {"name": name, "bandwidth_gb_s": bandwidth_gb_s, "memory_gb": memory_gb,
              "peak_tflops": dict(peaks), "link_gb_s": link_gb_s, "sources": "user-defined"}
    return _from_record(_slug(name), _validated(record, where=name))


def hardware_from_file(path: str | Path) -> Hardware:
    """A user-defined device from a small JSON or YAML file.

    Fields: name, bandwidth_gb_s, memory_gb, peak_tflops (mapping precision -> TFLOP/s),
    optionally link_gb_s, l2_mb, sources.
    """
    path = Path(path)
    if not path.is_file():
        raise RooflineInputError("hardware", f"device file {str(path)!r} does not exist")
    text = path.read_text()
    try:
        if path.suffix.lower() == ".json":
            record = json.loads(text)
        else:
            import yaml  # papermill depends on PyYAML, so it is always installed with us

            record = yaml.safe_load(text)
    except Exception as exc:  # json.JSONDecodeError or yaml.YAMLError
        raise RooflineInputError("hardware", f"{path} could not be parsed: {exc}") from None
    if not isinstance(record, dict):
        raise RooflineInputError("hardware", f"{path} must hold a mapping of fields")
    record.setdefault("name", path.stem)
    return _from_record(_slug(str(record["name"])), _validated(record, where=str(path)))


def _validated(record: dict, where: str) -> dict:
    for field_name in ("bandwidth_gb_s", "memory_gb"):
        _positive(record.get(field_name), field_name, where)
    peaks = record.get("peak_tflops")
    if not isinstance(peaks, Mapping) or not peaks:
        raise RooflineInputError("peak_tflops", f"{where}: needs a mapping precision -> TFLOP/s",
                                 ", ".join(PRECISIONS))
    for precision, value in peaks.items():
        if precision not in PRECISIONS:
            raise RooflineInputError("peak_tflops", f"{where}: unknown precision {precision!r}",
                                     ", ".join(PRECISIONS))
        if value is not None:
            _positive(value, f"peak_tflops.{precision}", where)
    if record.get("link_gb_s") is not None:
        _positive(record["link_gb_s"], "link_gb_s", where)
    return record


def _positive(value, field_name: str, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 \
            or value == float("inf"):
        raise RooflineInputError(field_name, f"{where}: must be a positive number, got {value!r}")


def _slug(name: str) -> str:
    return "-".join(name.lower().split())
