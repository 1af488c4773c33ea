"""What is being run: batch, lengths, bit widths and the accounting switches.

Every assumption the numbers rest on is a named field here with its default, so the
report can print them all and a user can change any of them.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from .errors import RooflineInputError, shown
from .hardware import PRECISION_BITS, PRECISIONS, Hardware, sixteen_bit_precision

BIT_WIDTHS = (4, 8, 16, 32)
MAX_TREE_SIZE = 4096  # candidates per sequence in one verification step (Medusa's trees have 64)
MAX_MEDUSA_HEADS = 64
ATTENTION_IO = ("unfused", "fused")
MLA_FORMS = ("absorbed", "naive")
PREFILL_LOGITS = ("last", "all")
SCALE_BITS = (8, 16, 32)
MAX_GROUP_SIZE = 1 << 20


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
    # "fused" (FlashAttention-style, as every serving engine runs it): scores stay on chip, so served
    # latencies are bounds for real servers; "unfused": scores go through memory (the paper's chart)
    attention_io: str = "fused"
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
    # Quantisation as serving stacks run it (see element_bytes):
    weight_group_size: int = 0  # weights per quantisation group with its own scale (0: per-channel, negligible)
    weight_scale_bits: int = 16  # width of each group's scale: 16 (GPTQ, AWQ: fp16), 8 (NVFP4: E4M3, MXFP4: E8M0)
    weight_zero_point: bool = False  # each group also stores a zero point, packed at weight_bits (asymmetric AWQ/GPTQ)
    quantize_head: bool = False  # quantise embed_tokens and lm_head too (GPTQ and AWQ keep them at 16 bits)
    quantize_stream: bool = False  # narrow activations everywhere, not only at the GEMMs' inputs and outputs
    # linear operators a checkpoint's ignore list keeps unquantised (quantization.py): weights and
    # activations at 16 bits, as the router and the norms are
    keep_16bit_ops: tuple[str, ...] = ()
    # Memory as a server sees it:
    output_len: int = 256  # tokens generated per request: the KV cache must hold prompt + output
    gpu_memory_utilization: float = 0.9  # share of the device's memory the server may use (vLLM's default)

    def __post_init__(self) -> None:
        for name in ("batch", "seq_len"):
            value = getattr(self, name)
            check_positive_integers(name, value)
            if not type(value) is int:
                # arrays as float64: an int16 30000 + 5000 wraps, and b·H·s² overflows even int64
                object.__setattr__(self, name, value if is_number(value) else np.asarray(value, dtype=np.float64))
        if not (type(self.batch) is int or type(self.seq_len) is int):
            try:
                np.broadcast_shapes(np.shape(self.batch), np.shape(self.seq_len))
            except ValueError:
                raise RooflineInputError("seq_len", f"shape {np.shape(self.seq_len)} does not broadcast against "
                                         f"batch's {np.shape(self.batch)}", "equal shapes, or one of them 1") from None
        for name in ("weight_bits", "act_bits", "kv_bits"):
            if type(getattr(self, name)) is int and getattr(self, name) in BIT_WIDTHS:
                continue  # the common single setting, checked without numpy
            values = _as_array(name, getattr(self, name))
            if values.dtype.kind not in "iuf" or values.size == 0 or not np.isin(values, BIT_WIDTHS).all():
                raise RooflineInputError(name, f"got {shown(getattr(self, name))}", ", ".join(map(str, BIT_WIDTHS)))
        _check_choice("attention_io", self.attention_io, ATTENTION_IO)
        _check_choice("prefill_logits", self.prefill_logits, PREFILL_LOGITS)
        _check_choice("mla", self.mla, MLA_FORMS)
        if self.compute_precision is not None:
            _check_choice("compute_precision", self.compute_precision, PRECISIONS)
        for name, low, high in _INTEGER_FIELDS:
            value = getattr(self, name)
            if type(value) is int and low <= value <= high:
                continue  # the common case, without the slower isinstance checks
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
                raise RooflineInputError(name, f"must be an integer from {low:,} to {high:,}, got {shown(value)}")
        if isinstance(self.weight_scale_bits, bool) or not isinstance(self.weight_scale_bits, (int, np.integer)) \
                or self.weight_scale_bits not in SCALE_BITS:
            raise RooflineInputError("weight_scale_bits", f"got {shown(self.weight_scale_bits)}", ", ".join(map(str, SCALE_BITS)))
        for name in ("causal", "weight_zero_point", "quantize_head", "quantize_stream"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise RooflineInputError(name, f"must be True or False, got {shown(getattr(self, name))}")
        if not isinstance(self.keep_16bit_ops, tuple) or not all(isinstance(n, str) for n in self.keep_16bit_ops):
            raise RooflineInputError("keep_16bit_ops", f"must be a tuple of operator names, got "
                                     f"{shown(self.keep_16bit_ops)}", "e.g. ('q_proj', 'k_proj')")
        utilization = self.gpu_memory_utilization
        if isinstance(utilization, bool) or not isinstance(utilization, (int, float)) or not 0 < utilization <= 1:
            raise RooflineInputError("gpu_memory_utilization", f"must be a fraction above 0 and at most 1, "
                                     f"got {shown(utilization)}")
        for name in _FLOP_COUNT_FIELDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1000:
                raise RooflineInputError(name, f"must be a number of FLOPs from 0 to 1,000, got {shown(value)}")

    def assumptions(self) -> dict[str, object]:
        """Every field and its value, for the report's assumptions table."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


MAX_COUNT = 2**31  # batch and length cap: beyond it nothing is physical, and b·H·s² stays far from overflow
# integer fields and their ranges (weight_group_size 0: per-channel scales; output_len 0: the prompt alone)
_INTEGER_FIELDS = (("tp", 1, 1024), ("tree_size", 1, MAX_TREE_SIZE), ("medusa_heads", 0, MAX_MEDUSA_HEADS),
                   ("weight_group_size", 0, MAX_GROUP_SIZE), ("output_len", 0, MAX_COUNT))
_FLOP_COUNT_FIELDS = tuple(f.name for f in fields(Workload) if f.name.endswith("_flops_per_element"))


def _check_choice(name: str, value: object, allowed: tuple[str, ...]) -> None:
    if not isinstance(value, str) or value not in allowed:
        raise RooflineInputError(name, f"got {shown(value)}", ", ".join(allowed))




def _as_array(name: str, value: object) -> np.ndarray:
    if isinstance(value, np.ma.MaskedArray):  # np.asarray drops the mask: the masked values would count
        raise RooflineInputError(name, "a masked array is not accepted", "a plain number or array (drop the masked entries)")
    try:
        return np.asarray(value)
    except (ValueError, TypeError):  # ragged nested lists
        raise RooflineInputError(name, f"must be a number or a rectangular array of numbers, got {shown(value)}") from None


def check_positive_integers(name: str, value: object) -> None:
    """A clear error naming ``name`` unless ``value`` is a positive integer or a non-empty array of them."""
    if type(value) is int and 1 <= value <= MAX_COUNT:
        return  # the common single setting, checked without numpy
    values = _as_array(name, value)
    problem = f"must be a positive integer up to {MAX_COUNT:,} (or a non-empty array of them), got {shown(value)}"
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


# The recurrent state of Gated DeltaNet and Mamba-2 layers is kept in fp32 by serving stacks (vLLM's
# mamba_ssm_cache_dtype defaults to float32; Nemotron-H's config says so): the named choice here, 32 bits.
RECURRENT_STATE_BITS = 32
# DeepSeek sparse attention's indexer cache (DeepSeek-V3.2, GLM-5): each key element in FP8 and one fp32
# scale per 128 of them, 8 + 32/128 = 8.25 bits: 132 bytes per token and layer at index_head_dim 128.
INDEX_KEY_BITS = 8 + 32 / 128


def element_bytes(workload: Workload) -> dict[str, float | np.ndarray]:
    """Bytes per element of each width the operators move data at (operators.WIDTHS says which moves where).

    weight_bits       the linear layers' weights: ``weight_bits``, plus, for narrow weights in groups of
                      ``weight_group_size``, one scale of ``weight_scale_bits`` per group and (with
                      ``weight_zero_point``) one zero point packed at ``weight_bits``. AWQ's int4, groups
                      of 128 with zero points: 4 + (16 + 4)/128 = 4.156 bits; symmetric GPTQ: 4 + 16/128 =
                      4.125; NVFP4 (groups of 16, 8-bit scales): 4.5; MXFP4 (32, 8-bit): 4.25; FP8 in
                      128×128 blocks (DeepSeek-V3: groups of 16,384, float32 scales): 8 + 32/16,384 = 8.002.
                      A checkpoint's quantization_config sets these fields (quantization.py).
    full_weight_bits  the weights serving stacks keep wide: norm gains, the MoE router, and embed_tokens
                      and lm_head unless ``quantize_head``: at least 16 bits.
    act_bits          what the linear layers read and write.
    stream_bits       every other activation (residual stream, norms, RoPE, attention's Q, scores and
                      output, the MLP's activation function, the all-reduce): at least 16 bits unless
                      ``quantize_stream`` (W8A8 kernels quantise a GEMM's input and dequantise its output).
    kv_bits           the KV cache.
    state_bits        the recurrent state of Gated DeltaNet and Mamba-2 layers: RECURRENT_STATE_BITS, whatever
                      kv_bits says.
    index_bits        DeepSeek sparse attention's indexer cache: INDEX_KEY_BITS per key element.
    """
    weight, act = as_floats(workload.weight_bits), as_floats(workload.act_bits)
    if workload.weight_group_size:
        per_group = workload.weight_scale_bits + (weight if workload.weight_zero_point else 0.0)
        narrow = weight < 16
        weight = weight + (per_group / workload.weight_group_size) * narrow
    return {"weight_bits": weight / 8, "full_weight_bits": _wide(as_floats(workload.weight_bits)) / 8,
            "act_bits": act / 8, "stream_bits": (act if workload.quantize_stream else _wide(act)) / 8,
            "kv_bits": as_floats(workload.kv_bits) / 8, "state_bits": RECURRENT_STATE_BITS / 8,
            "index_bits": INDEX_KEY_BITS / 8}


def as_floats(value) -> float | np.ndarray:
    """A single number as a Python float (fast scalar arithmetic), anything else as a float array."""
    return float(value) if is_number(value) or np.ndim(value) == 0 else np.asarray(value, dtype=float)


def _wide(bits):
    """At least 16 bits: the width of what a serving stack keeps in its 16-bit format."""
    return np.maximum(bits, 16.0) if isinstance(bits, np.ndarray) else max(bits, 16.0)


def check_compute_precision(hardware: Hardware, workload: Workload) -> None:
    """An explicit compute precision must exist on the device and be at least as wide as both operands
    (an 8-bit multiply cannot take 16-bit activations; a 16-bit one can take any narrower weight)."""
    chosen = workload.compute_precision
    if chosen is None:
        return
    widest = int(np.max(np.maximum(workload.weight_bits, workload.act_bits)))
    fitting = [p for p in PRECISIONS if p in hardware.peak_flops_per_s and PRECISION_BITS[p] >= widest]
    if chosen not in hardware.peak_flops_per_s:
        raise RooflineInputError("compute_precision", f"{hardware.name} has no {chosen} compute ceiling",
                                 ", ".join(["auto", *fitting]))
    if PRECISION_BITS[chosen] < widest:
        raise RooflineInputError("compute_precision", f"{chosen} cannot multiply {widest}-bit operands "
                                 f"(weight_bits={workload.weight_bits}, act_bits={workload.act_bits})",
                                 ", ".join(["auto", *fitting]))


def compute_precision(hardware: Hardware, weight_bits: int, act_bits: int) -> str:
    """The precision whose ceiling is the compute roof, implied by the bit widths.

    The rule: the math runs at the wider of the weight and activation formats, since a
    narrow weight is dequantised to the activation format before the multiply
    (weight-only quantisation moves fewer bytes but does not raise the compute roof).
      * 32-bit operands: fp32.
      * either operand 16-bit: fp16 (bf16 on devices without an fp16 path).
      * both 8-bit or narrower, activations 8-bit: fp8, else int8, else the 16-bit roof.
      * both 4-bit: fp4 (NVFP4/MXFP4, Blackwell), else int4, else as 8-bit.
    W8A8 prefers fp8 to int8 where the device has both (what FP8 checkpoints run); SmoothQuant-style
    INT8 asks for it with ``Workload(compute_precision="int8")``: on an RTX 4090 that doubles the roof
    (FP8 with FP32 accumulate 330.3 TFLOP/s, INT8 660.6 TOPS).
    A device without a faster path for a format keeps the 16-bit roof (32-bit falls back to it
    too); a device with no path at all for the widths (16-bit on an 8-bit-only device) is an error
    naming the widths it does support.
    """
    for name, bits in (("weight_bits", weight_bits), ("act_bits", act_bits)):
        if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or bits not in BIT_WIDTHS:
            raise RooflineInputError(name, f"got {shown(bits)}", ", ".join(map(str, BIT_WIDTHS)))
    if not isinstance(hardware, Hardware):
        raise RooflineInputError("hardware", f"expected a Hardware, got {type(hardware).__name__}",
                                 "get_hardware(...) or custom_hardware(...)")
    widest = max(int(weight_bits), int(act_bits))
    precision = _precision_for(hardware, widest)
    if precision is None:
        supported = [bits for bits in BIT_WIDTHS if _precision_for(hardware, bits) is not None]
        raise RooflineInputError(
            "weight_bits/act_bits", f"{hardware.name} has no compute ceiling for {widest}-bit operands "
            f"(weight_bits={weight_bits}, act_bits={act_bits})",
            "bit widths " + (", ".join(map(str, supported)) or "none") + " on this device")
    return precision


_FASTER_PATHS = {32: ("fp32",), 16: (), 8: ("fp8", "int8"), 4: ("fp4", "int4", "fp8", "int8")}  # in order of preference


def _precision_for(hardware: Hardware, widest_bits: int) -> str | None:
    """The first of the faster paths for these widths the device has, else its 16-bit path."""
    for precision in _FASTER_PATHS[widest_bits]:
        if precision in hardware.peak_flops_per_s:
            return precision
    return sixteen_bit_precision(hardware)
