"""Hardware specs and their roofline ceilings.

A device is a memory bandwidth, a compute peak per precision, a memory capacity and a
link to its peers. The catalog (``data/hardware.json``) keeps each figure's source.
"""
from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Mapping

import numpy as np

from .errors import RooflineInputError, shown

PRECISIONS = ("fp32", "tf32", "fp16", "bf16", "fp8", "int8", "fp4", "int4")
PRECISION_BITS = {"fp32": 32, "tf32": 32, "fp16": 16, "bf16": 16, "fp8": 8, "int8": 8, "fp4": 4, "int4": 4}
GIB = 2**30


@dataclass(frozen=True)
class Roof:
    """A roofline's two ceilings: compute (FLOP/s) and memory bandwidth (bytes/s).

    attainable(I) = min(peak, I × bandwidth) for an operational intensity I (FLOP/byte); the
    two roofs meet at the ridge, peak / bandwidth (A40 at FP16: 149.7e12 / 696e9 = 215.1).
    Either field may be a numpy array (one roof per grid point).
    """

    peak_flops_per_s: float
    bandwidth_bytes_per_s: float

    @property
    def ridge(self) -> float:
        """The intensity (FLOP/byte) where the memory roof meets the compute roof."""
        return self.peak_flops_per_s / self.bandwidth_bytes_per_s

    def roof(self, peak_flops_per_s: float) -> "Roof":
        """The same memory roof under another compute roof (as :meth:`Hardware.roof`): a measured
        roof can stand wherever a chart takes a device."""
        return Roof(peak_flops_per_s, self.bandwidth_bytes_per_s)

    def attainable(self, intensity):
        """The best FLOP/s at ``intensity`` (a number or an array): min(peak, intensity · bandwidth)."""
        return np.minimum(self.peak_flops_per_s, np.multiply(intensity, self.bandwidth_bytes_per_s))


@dataclass(frozen=True)
class Hardware:
    """One accelerator. Units are in the field names (bytes, bytes/s, FLOP/s)."""

    key: str
    name: str
    memory_bytes: float  # the datasheet's capacity (its "48 GB", read as GiB)
    bandwidth_bytes_per_s: float
    peak_flops_per_s: Mapping[str, float]  # precision -> dense tensor peak; absent = unsupported
    link_bytes_per_s: float | None = None  # per direction, to each peer (tensor-parallel all-reduce)
    link: str = ""
    link_latency_s: float | None = None  # one hop over the link: a ring all-reduce of p devices takes 2·(p−1)
    l2_bytes: float | None = None
    confidence: str = "K"
    sources: str = "user-defined"
    memory_type: str = ""
    tdp_w: float | None = None
    reported_memory_bytes: float | None = None  # what the device reports to software (nvidia-smi's total)
    reported_memory_source: str = ""
    extra: Mapping[str, object] = field(default_factory=dict)
    user_file: str = ""  # the file a user-given device was read from; its given fields are extra["given"]

    @property
    def called(self) -> str:
        """The device as a sentence names it: 'the NVIDIA A40' for a catalog product; a user's device by
        the name they gave it ('My GPU', not 'the My GPU')."""
        return self.name if self.user_given else f"the {self.name}"

    @property
    def user_given(self) -> bool:
        """A device from the user's file or numbers, not from the shipped catalog."""
        return bool(self.user_file) or self.sources == "user-defined"

    @property
    def usable_memory_bytes(self) -> float:
        """The memory software sees: the reported total where the catalog has it (an A40 reports 46,068 MiB
        of its "48 GB", ECC and the driver's reservations taken), else the datasheet figure read as decimal
        GB, the lower reading (48 GB: 48·10⁹ B)."""
        if self.reported_memory_bytes is not None:
            return self.reported_memory_bytes
        return self.memory_bytes / GIB * 1e9

    def peak(self, precision: str) -> float:
        """Dense peak FLOP/s for ``precision``; a clear error if the device has no such path."""
        if precision not in self.peak_flops_per_s:
            raise RooflineInputError(
                "precision", f"{self.name} has no {shown(precision)} compute ceiling",
                ", ".join(sorted(self.peak_flops_per_s)))
        return self.peak_flops_per_s[precision]

    def roof(self, peak_flops_per_s: float) -> Roof:
        """This device's roofline under a compute roof (the peak a workload's precision implies)."""
        return Roof(peak_flops_per_s, self.bandwidth_bytes_per_s)

    def ridge_point(self, precision: str = "fp16") -> float:
        """Operational intensity (FLOP/byte) where the memory roof meets the compute roof.

        ridge = peak_flops_per_s / bandwidth_bytes_per_s. For the A40 at FP16:
        149.7e12 / 696e9 = 215.1 FLOP/byte. An operator below it is memory-bound.
        """
        return self.roof(self.peak(precision)).ridge


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
        link_latency_s=None if record.get("link_latency_us") is None else float(record["link_latency_us"]) * 1e-6,
        l2_bytes=None if l2 is None else float(l2) * 2**20,
        confidence=record.get("confidence", "K"),
        sources=record.get("sources", "user-defined"),
        memory_type=record.get("memory_type", ""),
        tdp_w=record.get("tdp_w"),
        reported_memory_bytes=None if record.get("memory_reported_mib") is None
        else float(record["memory_reported_mib"]) * 2**20,
        reported_memory_source=record.get("memory_reported_source", ""),
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
        raise RooflineInputError("hardware", f"expected a device name, got {shown(name)}",
                                 ", ".join(hardware_names()))
    if name.lower().endswith((".json", ".yaml", ".yml")):
        return hardware_from_file(name)
    catalog = _catalog()
    key = name.strip().lower()
    key = catalog["aliases"].get(key, key)
    if key not in catalog["devices"]:
        raise RooflineInputError("hardware", f"unknown device {shown(name)}",
                                 ", ".join(hardware_names()) + ", or a .json/.yaml device file")
    return _from_record(key, catalog["devices"][key])


def custom_hardware(name: str, bandwidth_gb_s: float, peak_tflops: float | Mapping[str, float],
                    memory_gb: float, link_gb_s: float | None = None) -> Hardware:
    """A user-defined device from plain numbers.

    ``peak_tflops`` is one number (taken as the fp16/bf16 peak) or a mapping
    precision -> TFLOP/s. ``memory_gb`` is the datasheet size in GB, like the catalog.
    """
    if not isinstance(name, str) or not name.strip():
        raise RooflineInputError("name", f"must be a non-empty text, got {shown(name)}")
    peaks = dict(peak_tflops) if isinstance(peak_tflops, Mapping) else {"fp16": peak_tflops, "bf16": peak_tflops}
    record = {"name": name, "bandwidth_gb_s": bandwidth_gb_s, "memory_gb": memory_gb,
              "peak_tflops": peaks, "link_gb_s": link_gb_s, "sources": "user-defined"}
    return _from_record(_slug(name), _validated(record, where=name))


def hardware_from_file(path: str | Path) -> Hardware:
    """A user-defined device from a small JSON or YAML file.

    Fields: name, bandwidth_gb_s (decimal GB/s), memory_gb (datasheet GB), peak_tflops (mapping
    precision -> TFLOP/s), optionally memory_reported_mib (what nvidia-smi reports as total),
    link_gb_s, link_latency_us (one hop), l2_mb (MiB), tdp_w, sources and the text fields of the catalog. Unknown fields and implausible numbers (see ``PLAUSIBLE``) are errors.
    """
    path = Path(path)
    if not path.is_file():
        raise RooflineInputError("hardware", f"device file {shown(str(path))} does not exist")
    try:
        with path.open("rb") as handle:  # read one byte past the cap: a huge or sparse file costs nothing
            raw = handle.read(MAX_FILE_BYTES + 1)
        if len(raw) > MAX_FILE_BYTES:
            raise RooflineInputError("hardware", f"{path} is larger than {MAX_FILE_BYTES:,} bytes",
                                     "a small JSON or YAML device file")
        text = raw.decode("utf-8")
        if path.suffix.lower() == ".json":
            record = json.loads(text)
        else:
            record = _yaml_without_aliases(text, path)
    except RooflineInputError:
        raise
    except (OSError, UnicodeDecodeError) as exc:
        raise RooflineInputError("hardware", f"{path} could not be read as UTF-8 text: {exc}") from None
    except Exception as exc:  # json.JSONDecodeError, yaml.YAMLError, RecursionError (deep nesting)
        raise RooflineInputError("hardware", f"{path} could not be parsed: {type(exc).__name__}: "
                                 f"{str(exc)[:200]}") from None
    if not isinstance(record, dict):
        raise RooflineInputError("hardware", f"{path} must hold a mapping of fields")
    record.setdefault("name", path.stem)
    record = _validated(record, where=str(path))
    return replace(_from_record(_slug(record["name"]), record), user_file=path.name, extra={"given": tuple(record)})


MAX_FILE_BYTES = 1_000_000  # a device file is a dozen lines; anything this large is not one
MAX_NAME_CHARS = 100  # the name goes into titles, chart labels and file names


def _yaml_without_aliases(text: str, path: Path):
    """YAML with anchors and aliases refused: a few lines of nested aliases expand to gigabytes."""
    import yaml  # papermill depends on PyYAML, so it is always installed with us

    class NoAliasLoader(yaml.SafeLoader):
        def compose_node(self, parent, index):
            if self.check_event(yaml.AliasEvent):
                raise RooflineInputError("hardware", f"{path}: YAML aliases (*name) are not accepted",
                                         "plain values")
            event = self.peek_event()
            if getattr(event, "anchor", None) is not None:
                raise RooflineInputError("hardware", f"{path}: YAML anchors (&name) are not accepted",
                                         "plain values")
            return super().compose_node(parent, index)

    return yaml.load(text, Loader=NoAliasLoader)  # noqa: S506 (a SafeLoader subclass)


# Plausible range of every numeric field of a device record, in the record's unit. Each covers the
# whole catalog with a wide margin (catalog: 300 to 7,700 GB/s, 16 to 192 GB, 8.1 to 4,500 TFLOP/s,
# 16 to 900 GB/s links, 4 to 96 MiB L2, 70 to 1,000 W); a value outside is almost surely a unit slip
# (bytes given as GB/s). The peak goes down to 1 GFLOP/s so a measured CPU fits.
PLAUSIBLE = {  # field -> (unit, low, high)
    "bandwidth_gb_s": ("decimal GB/s", 1, 100_000),
    "memory_gb": ("GB, as the datasheet writes it", 0.1, 100_000),
    "peak_tflops": ("TFLOP/s", 0.001, 100_000),
    "link_gb_s": ("decimal GB/s per direction", 0.1, 10_000),
    "link_latency_us": ("microseconds per hop", 0, 1_000),
    "l2_mb": ("MiB", 0.01, 10_000),
    "memory_reported_mib": ("MiB", 100, 100_000_000),
    "tdp_w": ("W", 1, 100_000),
}
TEXT_FIELDS = ("name", "memory_type", "link", "link_confidence", "link_latency_source", "confidence", "sources",
               "memory_reported_source")
KNOWN_FIELDS = (*PLAUSIBLE, *TEXT_FIELDS)
REQUIRED = ("name", "bandwidth_gb_s", "memory_gb", "peak_tflops")


def _validated(record: dict, where: str) -> dict:
    """Every field known, of the right type, and every number inside its plausible range."""
    unknown = sorted(str(k) for k in record if k not in KNOWN_FIELDS)
    if unknown:
        # a key that is no identifier ('', 'a b', 'x:y') cannot name the field: the file's own field does
        field_name = unknown[0] if unknown[0].isidentifier() else "hardware"
        raise RooflineInputError(field_name, f"{where}: unknown field(s) {shown(unknown)}",
                                 ", ".join(KNOWN_FIELDS))
    for field_name in REQUIRED:
        if record.get(field_name) is None:
            raise RooflineInputError(field_name, f"{where}: missing", ", ".join(REQUIRED) + " are required")
    for field_name in TEXT_FIELDS:
        if record.get(field_name) is not None and not isinstance(record[field_name], str):
            raise RooflineInputError(field_name, f"{where}: must be text, got {shown(record[field_name])}")
    _check_name(record["name"], where)
    peaks = record["peak_tflops"]
    if not isinstance(peaks, Mapping) or not any(v is not None for v in peaks.values()):
        raise RooflineInputError("peak_tflops", f"{where}: needs a mapping precision -> TFLOP/s, got {shown(peaks)}",
                                 ", ".join(PRECISIONS))
    for precision, value in peaks.items():
        if precision not in PRECISIONS:
            raise RooflineInputError("peak_tflops", f"{where}: unknown precision {shown(precision)}",
                                     ", ".join(PRECISIONS))
        if value is not None:
            _plausible(value, "peak_tflops", where, f"peak_tflops.{precision}")
    for field_name in ("bandwidth_gb_s", "memory_gb", "memory_reported_mib", "link_gb_s", "link_latency_us", "l2_mb",
                       "tdp_w"):
        if record.get(field_name) is not None:
            _plausible(record[field_name], field_name, where)
    return record


def _check_name(name: str, where: str) -> None:
    if not name.strip():
        raise RooflineInputError("name", f"{where}: must be a non-empty text")
    if len(name) > MAX_NAME_CHARS:
        raise RooflineInputError("name", f"{where}: {len(name):,} characters long ({shown(name)})",
                                 f"at most {MAX_NAME_CHARS} characters")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in name):
        raise RooflineInputError("name", f"{where}: contains a control character ({shown(name)})",
                                 "printable text")


def _plausible(value, field_name: str, where: str, label: str | None = None) -> None:
    unit, low, high = PLAUSIBLE[field_name]
    label = label or field_name
    allowed = f"{unit}, from {low:,g} to {high:,g}"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RooflineInputError(label, f"{where}: must be a number, got {shown(value)}", allowed)
    if not low <= value <= high:  # NaN fails both comparisons
        raise RooflineInputError(label, f"{where}: {value:g} is not plausible", allowed)


def sixteen_bit_precision(hardware: Hardware) -> str | None:
    """The device's 16-bit compute path: "fp16", else "bf16", else None (an 8-bit-only device)."""
    peaks = hardware.peak_flops_per_s
    return "fp16" if "fp16" in peaks else "bf16" if "bf16" in peaks else None


def _slug(name: str) -> str:
    return "-".join(name.lower().split())
