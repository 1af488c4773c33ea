"""Checkpoints as shipped: a config.json's ``quantization_config`` read into the weight fields the
workload already models (``weight_bits``, ``weight_group_size``, ``weight_scale_bits``,
``weight_zero_point``) and the linear layers its ignore list keeps at 16 bits.

Nothing here counts bytes: workload.element_bytes and operators.weight_elements do, from the fields
this module sets. What it adds is where those fields come from, said in one sentence for the report
and the CLI, and one error line naming the field for a config it cannot read.

The forms read (Hugging Face ``quant_method`` values, and what each stores per weight):
  fp8                 8-bit weights. ``weight_block_size`` [n, k]: one float32 scale per n×k block
                      (DeepSeek-V3's ``weight_scale_inv``, README_WEIGHTS.md: 128×128, "float32
                      Tensor"), counted as a group of n·k weights with a 32-bit scale; exact when
                      both dimensions are multiples of the block, a few padded edge blocks short
                      otherwise (DeepSeek-V3's 576-wide kv_a_proj: 61 · 56 half blocks, 7 kB).
                      Without it: one scale per tensor, negligible (group 0). ``fmt`` e4m3 or e5m2,
                      ``activation_scheme`` dynamic or static.
  awq                 ``bits`` (4), ``group_size`` (128; -1: per channel), ``zero_point`` (true:
                      one zero point per group, packed at ``bits``), fp16 scales.
  gptq                ``bits``, ``group_size``, ``sym`` (false: zero points), ``desc_act`` (a
                      reordering of the input rows: no bytes of its own worth counting), fp16 scales.
  modelopt            ``quant_algo`` NVFP4 (4-bit, groups of 16, an fp8 e4m3 scale each; the per-tensor
                      fp32 second scale is negligible) or FP8 (one scale per tensor).
  mxfp4               OCP MX FP4 as gpt-oss ships it: 4-bit, groups of 32, an 8-bit e8m0 scale each.
  compressed-tensors  ``config_groups`` whose ``weights`` share one scheme: int 4/8 bits by group or
                      channel (fp16 scales, zero points unless symmetric), float 8 by tensor or
                      channel, float 4 by ``tensor_group`` of 16 (NVFP4).

Ignore lists (``modules_to_not_convert``, ``ignored_layers``, ``ignore``, ``exclude_modules``) name
Hugging Face modules (``lm_head``, ``model.layers.*.self_attn``, ``re:.*mlp.gate$``). Each is
matched against the module names of the operators the model runs, by whole dotted components
(``mlp.gate`` is the router, not ``mlp.gate_proj``), ``*`` any run of characters, ``re:`` a regular
expression from the name's start. An operator every layer of which is listed stays at 16 bits;
one listed in some layers only is counted quantised, with a note (one width per operator). The
router, the norm gains, embed_tokens and lm_head stay 16-bit in any case (``quantize_head``).
Activations stay at ``act_bits``: the checkpoint's activation scheme is named, not applied.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Mapping

from .errors import RooflineInputError, shown

METHODS = ("fp8", "awq", "gptq", "modelopt", "mxfp4", "compressed-tensors")
METHOD_ALIASES = {"modelopt_fp4": "modelopt", "compressed_tensors": "compressed-tensors"}  # vLLM's spellings
IGNORE_FIELDS = ("modules_to_not_convert", "ignored_layers", "ignore", "exclude_modules")
WEIGHT_FIELDS = ("weight_bits", "weight_group_size", "weight_scale_bits", "weight_zero_point")
MODELLED_BITS = (4, 8)  # the narrow widths workload.BIT_WIDTHS holds
FP8_FORMATS = ("e4m3", "e5m2")
ACTIVATION_SCHEMES = ("dynamic", "static")
MODELOPT_ALGOS = ("NVFP4", "FP8")
FP16_SCALE_BITS = 16  # AWQ, GPTQ and compressed-tensors int groups: one fp16/bf16 scale per group
FP32_SCALE_BITS = 32  # FP8 block scales (weight_scale_inv): float32
FP8_SCALE_BITS = 8  # NVFP4's e4m3 group scale, MXFP4's e8m0 shared exponent
NVFP4_GROUP_WEIGHTS = 16
MXFP4_GROUP_WEIGHTS = 32
AWQ_GPTQ_DEFAULT_GROUP_WEIGHTS = 128  # AwqConfig's and GPTQConfig's default group_size
MAX_BLOCK_SIDE = 1024  # an FP8 block of 1024×1024 is already one scale per million weights
MAX_IGNORE_ENTRIES = 10_000  # real ignore lists name at most a few entries per layer
MAX_GROUP_WEIGHTS = 1 << 20  # workload.MAX_GROUP_SIZE


@dataclass(frozen=True)
class WeightFormat:
    """How a checkpoint stores its linear layers' weights, in the workload's terms."""

    method: str  # quant_method, as normalised (METHODS)
    label: str  # in words: "FP8 (e4m3), 128×128 blocks with a float32 scale each"
    weight_bits: int  # bits per stored weight
    group_weights: int  # weights that share one scale (0: one per channel or tensor, negligible)
    scale_bits: int  # bits of each group's scale
    zero_point: bool  # each group also stores a zero point at weight_bits
    ignore: tuple[str, ...] = ()  # the ignore list's entries, as the config gives them
    activations: str = ""  # the checkpoint's activation quantisation, in words ("" when none)

    def fields(self) -> dict:
        """The Workload / ReportParameters weight fields this format sets."""
        return {"weight_bits": self.weight_bits, "weight_group_size": self.group_weights,
                "weight_scale_bits": self.scale_bits, "weight_zero_point": self.zero_point}


def read_quantization_config(config: Mapping, where: str = "config") -> WeightFormat | None:
    """The ``quantization_config`` of a config.json as a :class:`WeightFormat` (None: absent or null).

    A field this reading depends on with a value it cannot model is one RooflineInputError naming
    ``quantization_config.<field>``, the value and what is allowed; other fields are left alone
    (configs carry producer versions, calibration settings, ...)."""
    quant = config.get("quantization_config")
    if quant is None:
        return None
    if not isinstance(quant, Mapping):
        raise RooflineInputError("quantization_config", f"must be a JSON object in {where}, got {shown(quant)}",
                                 "an object with quant_method " + ", ".join(METHODS) + "; or absent")
    method = quant.get("quant_method")
    if not isinstance(method, str) or METHOD_ALIASES.get(method.lower(), method.lower()) not in METHODS:
        raise RooflineInputError("quantization_config.quant_method", f"{shown(method)} in {where} is not supported",
                                 ", ".join(METHODS) + "; or drop quantization_config and give the --weight-* flags")
    method = METHOD_ALIASES.get(method.lower(), method.lower())
    fmt = _READERS[method](quant, where)
    return replace(fmt, ignore=_ignore_list(quant, where))


def _field(name: str) -> str:
    return f"quantization_config.{name}"


def _choice(quant: Mapping, name: str, allowed: tuple, default, where: str, within: str = ""):
    value = quant.get(name, default)
    value = default if value is None else value
    if isinstance(value, bool) or value not in allowed:
        raise RooflineInputError(_field(within + name), f"{shown(value)} in {where} is not supported",
                                 ", ".join(map(str, allowed)))
    return value


def _flag(quant: Mapping, name: str, default: bool, where: str) -> bool:
    value = quant.get(name, default)
    if not isinstance(value, bool):
        raise RooflineInputError(_field(name), f"must be true or false in {where}, got {shown(value)}")
    return value


def _group_size(quant: Mapping, name: str, default: int, where: str, within: str = "") -> int:
    """A group size: a positive number of weights, or -1 (one scale per output channel: 0 here)."""
    value = quant.get(name, default)
    value = default if value is None else value
    if isinstance(value, bool) or not isinstance(value, int) or not (value == -1 or 1 <= value <= MAX_GROUP_WEIGHTS):
        raise RooflineInputError(_field(within + name), f"{shown(value)} in {where} is not a group size",
                                 f"-1 (per channel) or 1 to {MAX_GROUP_WEIGHTS:,} weights")
    return 0 if value == -1 else value


def _groups(group: int, scale: str, zero: bool) -> str:
    if not group:
        return "one scale per channel"
    return f"groups of {group}, {scale} scales" + (" and zero points" if zero else "")


def _fp8(quant: Mapping, where: str) -> WeightFormat:
    fmt = _choice(quant, "fmt", FP8_FORMATS, "e4m3", where)
    scheme = _choice(quant, "activation_scheme", ACTIVATION_SCHEMES, "dynamic", where)
    block = quant.get("weight_block_size")
    activations = f"{scheme} fp8 activations"
    if block is None:  # per-tensor: one float32 scale per weight matrix, negligible
        return WeightFormat("fp8", f"FP8 ({fmt}), one scale per tensor", 8, 0, FP32_SCALE_BITS, False,
                            activations=activations)
    if not (isinstance(block, list) and len(block) == 2
            and all(isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= MAX_BLOCK_SIDE for n in block)):
        raise RooflineInputError(_field("weight_block_size"), f"{shown(block)} in {where} is not a block",
                                 f"two integers from 1 to {MAX_BLOCK_SIDE:,}, e.g. [128, 128]; or absent (per tensor)")
    rows, cols = block
    return WeightFormat("fp8", f"FP8 ({fmt}), {rows}×{cols} blocks with a float32 scale each", 8, rows * cols,
                        FP32_SCALE_BITS, False, activations=activations)


def _bits(quant: Mapping, where: str, default: int | None = None) -> int:
    value = quant.get("bits", default)
    if value is None:
        raise RooflineInputError(_field("bits"), f"missing from {where}", ", ".join(map(str, MODELLED_BITS)))
    if isinstance(value, bool) or value not in MODELLED_BITS:
        raise RooflineInputError(_field("bits"), f"{shown(value)} in {where} is not modelled",
                                 ", ".join(map(str, MODELLED_BITS)))
    return value


def _awq(quant: Mapping, where: str) -> WeightFormat:
    bits = _bits(quant, where, 4)  # AwqConfig's default
    group = _group_size(quant, "group_size", AWQ_GPTQ_DEFAULT_GROUP_WEIGHTS, where)
    zero = _flag(quant, "zero_point", True, where) and bool(group)
    return WeightFormat("awq", f"AWQ int{bits}, " + _groups(group, "fp16", zero), bits, group, FP16_SCALE_BITS, zero)


def _gptq(quant: Mapping, where: str) -> WeightFormat:
    bits = _bits(quant, where)  # GPTQConfig requires it
    group = _group_size(quant, "group_size", AWQ_GPTQ_DEFAULT_GROUP_WEIGHTS, where)
    zero = not _flag(quant, "sym", True, where) and bool(group)
    desc_act = _flag(quant, "desc_act", False, where)
    dynamic = quant.get("dynamic")
    if dynamic:  # GPTQModel's per-module overrides: other widths for some layers, one width per operator here
        raise RooflineInputError(_field("dynamic"), f"per-module overrides {shown(dynamic)} in {where} are not "
                                 "supported", "absent or empty (or give the --weight-* flags)")
    return WeightFormat("gptq", f"GPTQ int{bits}, " + _groups(group, "fp16", zero)
                        + (", act-order" if desc_act else ""), bits, group, FP16_SCALE_BITS, zero)


def _modelopt(quant: Mapping, where: str) -> WeightFormat:
    algo = quant.get("quant_algo")
    if not isinstance(algo, str) or algo.upper() not in MODELOPT_ALGOS:
        raise RooflineInputError(_field("quant_algo"), f"{shown(algo)} in {where} is not supported",
                                 ", ".join(MODELOPT_ALGOS))
    if algo.upper() == "FP8":
        return WeightFormat("modelopt", "FP8 (ModelOpt), one scale per tensor", 8, 0, FP32_SCALE_BITS, False,
                            activations="static fp8 activations")
    group = quant.get("group_size", NVFP4_GROUP_WEIGHTS)
    if group is not None and (isinstance(group, bool) or group != NVFP4_GROUP_WEIGHTS):
        raise RooflineInputError(_field("group_size"), f"{shown(group)} in {where} is not NVFP4's",
                                 str(NVFP4_GROUP_WEIGHTS))
    return WeightFormat("modelopt", f"NVFP4 (ModelOpt), groups of {NVFP4_GROUP_WEIGHTS}, fp8 e4m3 scales", 4,
                        NVFP4_GROUP_WEIGHTS, FP8_SCALE_BITS, False, activations="NVFP4 activations")


def _mxfp4(quant: Mapping, where: str) -> WeightFormat:
    return WeightFormat("mxfp4", f"MXFP4, groups of {MXFP4_GROUP_WEIGHTS}, 8-bit e8m0 scales", 4,
                        MXFP4_GROUP_WEIGHTS, FP8_SCALE_BITS, False)


def _compressed_tensors(quant: Mapping, where: str) -> WeightFormat:
    groups = quant.get("config_groups")
    if not isinstance(groups, Mapping) or not groups or not all(isinstance(g, Mapping) for g in groups.values()):
        raise RooflineInputError(_field("config_groups"), f"must be an object of quantisation groups in {where}, "
                                 f"got {shown(groups)}", 'e.g. {"group_0": {"targets": ["Linear"], "weights": {...}}}')
    schemes = [g.get("weights") for g in groups.values()]
    if any(not isinstance(s, Mapping) for s in schemes):
        raise RooflineInputError(_field("config_groups.weights"), f"missing or not an object in {where}",
                                 "num_bits, type, strategy, group_size, symmetric")
    keys = ("num_bits", "type", "strategy", "group_size", "symmetric", "block_structure")
    if len({tuple(repr(s.get(k)) for k in keys) for s in schemes}) > 1:
        raise RooflineInputError(_field("config_groups"), f"{len(schemes)} groups with different weight schemes in "
                                 f"{where}", "groups sharing one weight scheme (one width per operator here)")
    weights = schemes[0]
    inputs = next(iter(groups.values())).get("input_activations")
    activations = (f"{inputs.get('type', 'int')}{inputs.get('num_bits', '')} activations"
                   if isinstance(inputs, Mapping) else "")
    within = "config_groups.weights."
    kind = _choice(weights, "type", ("int", "float"), "int", where, within)
    bits = weights.get("num_bits")
    if isinstance(bits, bool) or bits not in MODELLED_BITS:
        raise RooflineInputError(_field("config_groups.weights.num_bits"), f"{shown(bits)} in {where} is not "
                                 "modelled", ", ".join(map(str, MODELLED_BITS)))
    strategy = weights.get("strategy")
    symmetric = weights.get("symmetric", True)
    if not isinstance(symmetric, bool):
        raise RooflineInputError(_field("config_groups.weights.symmetric"), f"must be true or false in {where}, "
                                 f"got {shown(symmetric)}")
    if kind == "int" and strategy in ("group", "channel"):
        group = _group_size(weights, "group_size", 0, where, within) if strategy == "group" else 0
        zero = not symmetric and bool(group)
        return WeightFormat("compressed-tensors", f"int{bits} (compressed-tensors), " + _groups(group, "fp16", zero),
                            bits, group, FP16_SCALE_BITS, zero, activations=activations)
    if kind == "float" and bits == 8 and strategy in ("tensor", "channel"):
        return WeightFormat("compressed-tensors", f"FP8 (compressed-tensors), one scale per {strategy}", 8, 0,
                            FP16_SCALE_BITS, False, activations=activations)
    if kind == "float" and bits == 4 and strategy == "tensor_group" and weights.get("group_size") == NVFP4_GROUP_WEIGHTS:
        return WeightFormat("compressed-tensors", f"NVFP4 (compressed-tensors), groups of {NVFP4_GROUP_WEIGHTS}, "
                            "fp8 e4m3 scales", 4, NVFP4_GROUP_WEIGHTS, FP8_SCALE_BITS, False, activations=activations)
    raise RooflineInputError(_field("config_groups.weights"), f"type {shown(kind)}, {bits} bits, strategy "
                             f"{shown(strategy)} in {where} is not supported",
                             "int 4/8 by group or channel, float 8 by tensor or channel, float 4 by tensor_group of 16")


_READERS = {"fp8": _fp8, "awq": _awq, "gptq": _gptq, "modelopt": _modelopt, "mxfp4": _mxfp4,
            "compressed-tensors": _compressed_tensors}


def _ignore_list(quant: Mapping, where: str) -> tuple[str, ...]:
    """Every ignore-list entry the config gives, under any of the names the forms use; each is checked
    to compile, so a bad pattern is an error at load, not a surprise later."""
    entries: list[str] = []
    for name in IGNORE_FIELDS:
        value = quant.get(name)
        if value is None:
            continue
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value) \
                or len(value) > MAX_IGNORE_ENTRIES:
            raise RooflineInputError(_field(name), f"must be a list of module names in {where}, got {shown(value)}",
                                     'names or patterns, e.g. ["lm_head", "model.layers.*.self_attn", "re:.*mlp.gate$"]')
        for entry in value:
            try:
                _pattern(entry)
            except re.error as exc:
                raise RooflineInputError(_field(name), f"{shown(entry)} in {where} is not a valid pattern: {exc}",
                                         "a module name, a name with * wildcards, or re:<regular expression>") from None
        entries += value
    return tuple(dict.fromkeys(entries))


def _pattern(entry: str) -> str:
    """One ignore entry as a regular expression over a full module name: ``re:`` entries as given
    (matched from the name's start, as compressed-tensors does), others as whole dotted components
    anywhere in the name, ``*`` standing for any characters."""
    if entry.startswith("re:"):
        body = entry[3:]
        re.compile(body)
        return f"(?:{body})"
    body = ".*".join(map(re.escape, entry.split("*")))
    return rf"(?:^|.*\.)(?:{body})(?:\..*)?$"


# ----- which operators an ignore list keeps at 16 bits ---------------------------------------------

_GATED = {"gate_proj": ("gate_proj", "w1"), "up_proj": ("up_proj", "w3"), "down_proj": ("down_proj", "w2"),
          "gate_up_proj": ("gate_up_proj", "gate_up_proj")}  # (Hugging Face's name, Mixtral's expert name)
_ATTENTION = {"kv_a_proj": "kv_a_proj_with_mqa", "q_absorb": "kv_b_proj", "out_absorb": "kv_b_proj"}
_ATTENTION_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "qkv_proj", "q_a_proj", "q_b_proj", "kv_a_proj",
                     "kv_b_proj", "q_absorb", "out_absorb")


def _module_leaf(model, op_name: str) -> tuple[str, str] | None:
    """(layers, module path inside a decoder layer, or a top-level path) of a linear operator or the
    embedding; None for one the checkpoint does not hold under a name of its own (Medusa heads, norms)."""
    # Mixtral's checkpoints, and Phi-3.5-MoE's as its Hub repository ships them, name the MoE block_sparse_moe
    mixtral = model.architecture in ("MixtralForCausalLM", "PhiMoEForCausalLM")
    moe = "block_sparse_moe" if mixtral else "mlp"
    if op_name == "embedding":
        return "once", "model.embed_tokens"
    if op_name == "lm_head":
        return "once", "lm_head"
    if op_name == "router":  # GptOssMLP names it router; the others gate
        return "moe" if model.num_dense_layers else "all", f"{moe}.router" if model.router_bias else f"{moe}.gate"
    if op_name == "shared_expert_gate":  # Qwen2-MoE
        return "moe" if model.num_dense_layers else "all", "mlp.shared_expert_gate"
    if op_name.startswith("medusa_"):
        return None
    shared = "mlp.shared_expert" if model.shared_expert_gate else "mlp.shared_experts"  # Qwen2-MoE: one, singular
    for prefix, where, layers in (("dense_", "mlp", "dense"), ("shared_", shared, "moe")):
        if op_name.startswith(prefix) and op_name[len(prefix):] in _GATED:
            return layers, f"{where}.{op_name[len(prefix):]}"
    if op_name in _GATED:
        if model.num_experts == 1:
            return "all", f"mlp.{op_name}"
        expert = _GATED[op_name][1] if mixtral else op_name
        # one expert stands for all of them: ignore lists name experts as a whole, not one by one
        return "moe" if model.num_dense_layers else "all", f"{moe}.experts.0.{expert}"
    if op_name in _ATTENTION_LINEAR:
        return "all", f"self_attn.{_ATTENTION.get(op_name, op_name)}"
    return None  # norms and anything else without a checkpoint module of its own name


def _layer_indices(model, layers: str) -> range:
    dense = model.num_hidden_layers - model.num_moe_layers  # DeepSeek-V3: the first k layers
    return {"all": range(model.num_hidden_layers), "dense": range(dense),
            "moe": range(dense, model.num_hidden_layers)}[layers]


def module_names(model, op_name: str) -> tuple[str, ...]:
    """The Hugging Face module names of an operator, one per layer that runs it (one for embed_tokens
    and lm_head); empty for weights the checkpoint does not hold."""
    found = _module_leaf(model, op_name)
    if found is None:
        return ()
    layers, leaf = found
    if layers == "once":
        return (leaf,)
    return tuple(f"model.layers.{i}.{leaf}" for i in _layer_indices(model, layers))


@dataclass(frozen=True)
class IgnoredOperators:
    """What an ignore list does to a model's operators."""

    kept_16bit: tuple[str, ...]  # operators every layer of which the list names: their weights stay 16-bit
    partly: tuple[str, ...]  # notes: operators the list names in some layers only (counted quantised)


@lru_cache(maxsize=64)
def ignored_operators(model) -> IgnoredOperators:
    """The operators ``model.quantization``'s ignore list keeps unquantised (see the module docstring)."""
    from .operators import QUANTISED, operator_list
    from .workload import Workload

    fmt = model.quantization
    if fmt is None or not fmt.ignore:
        return IgnoredOperators((), ())
    matcher = re.compile("|".join(_pattern(entry) for entry in fmt.ignore))
    names = dict.fromkeys(op.name for phase in ("prefill", "decode")
                          for op in operator_list(model, Workload(quantize_head=True), phase)
                          if "weight" in op.traffic and op.precision == QUANTISED)  # the router, norms: 16-bit anyway
    kept, partly = [], []
    for name in names:
        modules = module_names(model, name)
        hits = sum(1 for module in modules if matcher.match(module))
        if modules and hits == len(modules):
            kept.append(name)
        elif hits:
            partly.append(f"the quantization_config's ignore list names {name} in {hits} of {len(modules)} layers: "
                          "counted quantised in all of them (one width per operator)")
    return IgnoredOperators(tuple(kept), tuple(partly))


# ----- applying it, and saying so --------------------------------------------------------------------

def checkpoint_workload(model, workload):
    """``workload`` with the weight fields of ``model``'s checkpoint format and its ignore list applied
    (unchanged for a model without a quantization_config)."""
    fmt = model.quantization
    if fmt is None:
        return workload
    return replace(workload, **fmt.fields(), keep_16bit_ops=ignored_operators(model).kept_16bit)


def weight_width_text(workload) -> str:
    """The weight fields in words: '4-bit, groups of 128 with 16-bit scales and zero points'."""
    text = f"{workload.weight_bits}-bit"
    if workload.weight_group_size and workload.weight_bits < 16:
        text += f", groups of {workload.weight_group_size:,} with {workload.weight_scale_bits}-bit scales"
        text += " and zero points" if workload.weight_zero_point else ""
    return text


def bits_per_weight(workload) -> float:
    """Bits each quantised weight takes with its share of scales and zero points (workload.element_bytes)."""
    from .workload import element_bytes

    return float(element_bytes(workload)["weight_bits"]) * 8


def weight_source(model, workload, from_checkpoint: bool, given: str = "the weight_* parameters") -> str:
    """One sentence: which weight format the numbers use and where it comes from.

    ``from_checkpoint``: the workload took the checkpoint's format (checkpoint_workload); otherwise
    it holds the values ``given`` names (a flag, or the report's parameters)."""
    fmt = model.quantization
    if from_checkpoint and fmt is not None:
        kept = workload.keep_16bit_ops
        text = (f"weights: {fmt.label} ({bits_per_weight(workload):.4g} bits per weight), from the checkpoint's "
                f"quantization_config ({fmt.method})")
        if kept:
            text += "; its ignore list keeps " + ", ".join(kept) + " at 16 bits"
        if fmt.activations:
            text += f"; the checkpoint's {fmt.activations} are not applied: activations at act_bits={workload.act_bits}"
        return text
    text = f"weights: {weight_width_text(workload)}, from {given}"
    if fmt is not None:
        text += f"; the checkpoint's quantization_config ({fmt.label}) is not used"
    return text
