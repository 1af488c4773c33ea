"""What is being run: batch, lengths, bit widths and the accounting switches.

Every assumption the numbers rest on is a named field here with its default, so the
report can print them all and a user can change any of them.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from .errors import RooflineInputError
from .hardware import PRECISIONS, Hardware, sixteen_bit_precision

BIT_WIDTHS = (4, 8, 16, 32)
MAX_TREE_SIZE = 4096  # candidates per sequence in one verification step (Medusa's trees have 64)
MAX_MEDUSA_HEADS = 64
ATTENTION_IO = ("unfused", "fused")
MLA_FORMS = ("absorbed", "naive")
PREFILL_LOGITS = ("last", "all")


@dataclass(frozen=True)
class Workload:
    """One inference setting, or a grid of them (``batch`` and ``seq_len`` may be arrays).

    seq_len is the prompt length in prefill and the KV-cache length in decode.
    """

    batch: int | np.ndarray = 1
    seq_len: int | np.ndarray = 1024
    weight_bits: int = 16
    act_bits: int = 16
    kv_bits: int = 16
    attention_io: str = "unfused"  # "unfused": scores go through memory; "fused": FlashAttention-style
    causal: bool = True  # prefill attention counts the s·(s+1)/2 scores a causal kernel computes
    prefill_logits: str = "last"  # lm_head in prefill: "last" token of each prompt, or "all" tokens
    tp: int = 1  # tensor-parallel devices
    compute_precision: str | None = None  # None: implied by the bit widths (see compute_precision())
    norm_flops_per_element: float = 4.0  # RMSNorm: square, sum, scale, gain
    softmax_flops_per_element: float = 5.0  # max, subtract, exp, sum, divide
    swiglu_flops_per_element: float = 5.0  # silu(g)·u = g/(1+exp(-g))·u: negate, exp, add, divide, multiply
    # gelu_tanh(g)·u = 0.5·g·(1 + tanh(c·(g + 0.044715·g³)))·u: cube (2), scale, add, scale, tanh, add, halve,
    # multiply by g, multiply by u
    geglu_flops_per_element: float = 10.0
    rope_flops_per_element: float = 3.0  # x·cos + rotate(x)·sin: two multiplies, one add
    tree_size: int = 1  # verify phase: candidate tokens checked per sequence in one step (1: plain decode)
    medusa_heads: int = 0  # verify phase: Medusa heads run on every candidate (0: none, e.g. a draft model)
    mla: str = "absorbed"  # MLA models: "absorbed" latent-cache decode (vLLM, SGLang) or "naive" (per-head K/V cache)

    def __post_init__(self) -> None:
        for name in ("batch", "seq_len"):
            check_positive_integers(name, getattr(self, name))
        for name in ("weight_bits", "act_bits", "kv_bits"):
            if type(getattr(self, name)) is int and getattr(self, name) in BIT_WIDTHS:
                continue  # the common single setting, checked without numpy
            values = _as_array(name, getattr(self, name))
            if values.dtype.kind not in "iuf" or values.size == 0 or not np.isin(values, BIT_WIDTHS).all():
                raise RooflineInputError(name, f"got {getattr(self, name)!r}", ", ".join(map(str, BIT_WIDTHS)))
        _check_choice("attention_io", self.attention_io, ATTENTION_IO)
        _check_choice("prefill_logits", self.prefill_logits, PREFILL_LOGITS)
        _check_choice("mla", self.mla, MLA_FORMS)
        if not isinstance(self.causal, (bool, np.bool_)):
            raise RooflineInputError("causal", f"must be True or False, got {self.causal!r}")
        if isinstance(self.tp, bool) or not isinstance(self.tp, (int, np.integer)) or not 1 <= self.tp <= 1024:
            raise RooflineInputError("tp", f"must be a positive integer up to 1024, got {self.tp!r}")
        if self.compute_precision is not None:
            _check_choice("compute_precision", self.compute_precision, PRECISIONS)
        for name, low, high in (("tree_size", 1, MAX_TREE_SIZE), ("medusa_heads", 0, MAX_MEDUSA_HEADS)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
                raise RooflineInputError(name, f"must be an integer from {low} to {high:,}, got {value!r}")
        for name in _FLOP_COUNT_FIELDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1000:
                raise RooflineInputError(name, f"must be a number of FLOPs from 0 to 1,000, got {value!r}")

    def assumptions(self) -> dict[str, object]:
        """Every field and its value, for the report's assumptions table."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


_FLOP_COUNT_FIELDS = tuple(f.name for f in fields(Workload) if f.name.endswith("_flops_per_element"))


def _check_choice(name: str, value: object, allowed: tuple[str, ...]) -> None:
    if not isinstance(value, str) or value not in allowed:
        raise RooflineInputError(name, f"got {value!r}", ", ".join(allowed))


MAX_COUNT = 2**31  # batch and length cap: beyond it nothing is physical, and b·H·s² stays far from overflow


def _as_array(name: str, value: object) -> np.ndarray:
    try:
        return np.asarray(value)
    except (ValueError, TypeError):  # ragged nested lists
        raise RooflineInputError(name, f"must be a number or a rectangular array of numbers, got {value!r}") from None


def check_positive_integers(name: str, value: object) -> None:
    """A clear error naming ``name`` unless ``value`` is a positive integer or a non-empty array of them."""
    if type(value) is int and 1 <= value <= MAX_COUNT:
        return  # the common single setting, checked without numpy
    values = _as_array(name, value)
    problem = f"must be a positive integer up to {MAX_COUNT:,} (or a non-empty array of them), got {value!r}"
    if values.size == 0 or values.dtype.kind not in "iuf":
        raise RooflineInputError(name, problem)
    if not (np.isfinite(values).all() and (values >= 1).all() and (values <= MAX_COUNT).all()
            and (values == np.round(values)).all()):
        raise RooflineInputError(name, problem)


def is_number(value: object) -> bool:
    """A single int or float (Python or numpy), told apart from arrays without numpy's slower np.ndim."""
    return type(value) in (int, float) or isinstance(value, (np.integer, np.floating))


def check_workload(workload: object) -> "Workload":
    """The public functions' guard: a Workload instance, not None or a dict."""
    if not isinstance(workload, Workload):
        raise RooflineInputError("workload", f"expected a Workload, got {type(workload).__name__}",
                                 "Workload(batch=..., seq_len=..., ...)")
    return workload


def compute_precision(hardware: Hardware, weight_bits: int, act_bits: int) -> str:
    """The precision whose ceiling is the compute roof, implied by the bit widths.

    The rule: the math runs at the wider of the weight and activation formats, since a
    narrow weight is dequantised to the activation format before the multiply
    (weight-only quantisation moves fewer bytes but does not raise the compute roof).
      * 32-bit operands: fp32.
      * either operand 16-bit: fp16 (bf16 on devices without an fp16 path).
      * both 8-bit or narrower, activations 8-bit: fp8, else int8, else the 16-bit roof.
      * both 4-bit: int4, else as 8-bit.
    A device without a faster path for a format keeps the 16-bit roof (32-bit falls back to it
    too); a device with no path at all for the widths (16-bit on an 8-bit-only device) is an error
    naming the widths it does support.
    """
    widest = max(int(weight_bits), int(act_bits))
    precision = _precision_for(hardware, widest)
    if precision is None:
        supported = [bits for bits in BIT_WIDTHS if _precision_for(hardware, bits) is not None]
        raise RooflineInputError(
            "weight_bits/act_bits", f"{hardware.name} has no compute ceiling for {widest}-bit operands "
            f"(weight_bits={weight_bits}, act_bits={act_bits})",
            "bit widths " + (", ".join(map(str, supported)) or "none") + " on this device")
    return precision


_FASTER_PATHS = {32: ("fp32",), 16: (), 8: ("fp8", "int8"), 4: ("int4", "fp8", "int8")}  # in order of preference


def _precision_for(hardware: Hardware, widest_bits: int) -> str | None:
    """The first of the faster paths for these widths the device has, else its 16-bit path."""
    for precision in _FASTER_PATHS[widest_bits]:
        if precision in hardware.peak_flops_per_s:
            return precision
    return sixteen_bit_precision(hardware)
