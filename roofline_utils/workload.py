"""What is being run: batch, lengths, bit widths and the accounting switches.

Every assumption the numbers rest on is a named field here with its default, so the
report can print them all and a user can change any of them.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from .errors import RooflineInputError
from .hardware import Hardware

BIT_WIDTHS = (4, 8, 16, 32)
ATTENTION_IO = ("unfused", "fused")
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
    rope_flops_per_element: float = 3.0  # x·cos + rotate(x)·sin: two multiplies, one add

    def __post_init__(self) -> None:
        for name in ("batch", "seq_len"):
            check_positive_integers(name, getattr(self, name))
        for name in ("weight_bits", "act_bits", "kv_bits"):
            values = np.asarray(getattr(self, name))
            if values.dtype.kind not in "iuf" or values.size == 0 or not np.isin(values, BIT_WIDTHS).all():
                raise RooflineInputError(name, f"got {getattr(self, name)!r}", ", ".join(map(str, BIT_WIDTHS)))
        _check_choice("attention_io", self.attention_io, ATTENTION_IO)
        _check_choice("prefill_logits", self.prefill_logits, PREFILL_LOGITS)
        if not isinstance(self.causal, (bool, np.bool_)):
            raise RooflineInputError("causal", f"must be True or False, got {self.causal!r}")
        if isinstance(self.tp, bool) or not isinstance(self.tp, (int, np.integer)) or self.tp < 1:
            raise RooflineInputError("tp", f"must be a positive integer, got {self.tp!r}")
        for f in fields(self):
            if f.name.endswith("_flops_per_element"):
                value = getattr(self, f.name)
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < np.inf:
                    raise RooflineInputError(f.name, f"must be a non-negative number, got {value!r}")

    def assumptions(self) -> dict[str, object]:
        """Every field and its value, for the report's assumptions table."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _check_choice(name: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise RooflineInputError(name, f"got {value!r}", ", ".join(allowed))


def check_positive_integers(name: str, value: object) -> None:
    """A clear error naming ``name`` unless ``value`` is a positive integer or a non-empty array of them."""
    values = np.asarray(value)
    if values.size == 0 or values.dtype.kind not in "iuf" or values.dtype == bool:
        raise RooflineInputError(name, f"must be a positive integer (or an array of them), got {value!r}")
    if not (np.isfinite(values).all() and (values >= 1).all() and (values == np.round(values)).all()):
        raise RooflineInputError(name, f"must be a positive integer (or an array of them), got {value!r}")


def compute_precision(hardware: Hardware, weight_bits: int, act_bits: int) -> str:
    """The precision whose ceiling is the compute roof, implied by the bit widths.

    The rule: the math runs at the wider of the weight and activation formats, since a
    narrow weight is dequantised to the activation format before the multiply
    (weight-only quantisation moves fewer bytes but does not raise the compute roof).
      * 32-bit operands: fp32.
      * either operand 16-bit: fp16 (bf16 on devices without an fp16 path).
      * both 8-bit or narrower, activations 8-bit: fp8, else int8, else the 16-bit roof.
      * both 4-bit: int4, else as 8-bit.
    A device without a faster path for a format keeps the 16-bit roof.
    """
    widest = max(int(weight_bits), int(act_bits))
    peaks = hardware.peak_flops_per_s
    sixteen = "fp16" if "fp16" in peaks else "bf16"
    if widest >= 32:
        return "fp32" if "fp32" in peaks else sixteen
    candidates = {16: [], 8: ["fp8", "int8"], 4: ["int4", "fp8", "int8"]}[widest]
    return next((p for p in candidates if p in peaks), sixteen)
