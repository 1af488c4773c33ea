"""Every operator of a Llama-family decoder, as data: FLOPs and bytes moved, per phase.

Each operator is one :class:`Operator` record whose FLOPs and traffic are expressions
over a handful of symbols (tokens ``T``, hidden ``h``, ...). The same record gives the
number (evaluated on numpy arrays, so one call covers a whole batch x length grid) and
the formula text shown beside it in the report.

Phases
  prefill  batch ``b`` prompts of ``s`` tokens each: T = b·s tokens go through every GEMM.
  decode   one new token per sequence, attending to a KV cache of ``s`` positions: T = b.
  verify   speculative decoding: ``n`` candidate tokens per sequence (a Medusa tree, or a draft
           model's chain) checked in one step, T = b·n. The first candidate sees ``s`` positions
           as a decode token does (the s-1 cached ones and itself); a dense tree-attention kernel
           scores every candidate against the s-1 cached positions and all n tree positions, so
           n·(s-1+n) scores per head, of which n·(s-1) + Σ depth are useful (each candidate's
           ancestors in the tree, itself included). Logits are needed at every candidate, and
           ``K`` Medusa heads (when present) run on every candidate too. With n = 1 and K = 0
           it is exactly the decode step.

Accounting rules (each one is a sentence in the report)
  * A multiply-add is 2 FLOPs. A GEMM [M×K]·[K×N] is 2·M·N·K FLOPs.
  * Each weight is read from memory once per operator call, whatever the number of
    tokens (perfect reuse on chip): the roofline's best case.
  * Activations are read and written once per operator at ``act_bits``; K and V go to and
    come from the KV cache at ``kv_bits``; weights move at ``weight_bits``.
  * GQA: K/V have ``Hkv`` heads; an attention kernel reads each K/V head once for all
    ``H/Hkv`` query heads that share it (no repeat_kv copies).
  * Causal prefill attention computes b·H·s·(s+1)/2 scores (query i sees keys 1..i),
    not the full b·H·s² square; the full-square count is kept beside it.
  * Attention IO model ``unfused``: the b·H·s_q·s_kv score matrix is written by QK^T,
    read and written by softmax, read by PV, all through memory (the full square is
    materialised). ``fused`` (FlashAttention-style): scores stay on chip; Q, K, V are read
    once and the output written once (the compulsory traffic, a lower bound).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from .errors import RooflineInputError
from .expr import ONE, SUM_PRECEDENCE, ZERO, Expr, Sym
from .models import ModelConfig
from .workload import Workload, is_number

PHASES = ("prefill", "decode")  # the two phases of every table and chart
VERIFY = "verify"  # speculative decoding's step: n candidate tokens per sequence checked at once
ALL_PHASES = (*PHASES, VERIFY)
PHASE_LABELS = {"prefill": "init", "decode": "ar", VERIFY: "verify"}  # the original figure's legend words

QKV, MLP, ATTN, OTHER = "qkv mlp", "up/gate/down", "qk/pv", "other"
GROUPS = (QKV, MLP, ATTN)

# traffic kind -> the Workload field whose bit width it moves at
TRAFFIC_BITS = {"weight": "weight_bits", "act_read": "act_bits", "act_write": "act_bits",
                "kv_read": "kv_bits", "kv_write": "kv_bits", "link": "act_bits"}
MEMORY_TRAFFIC = ("weight", "act_read", "act_write", "kv_read", "kv_write")  # HBM; not the link

# Symbols. Their values per phase come from symbol_values(); their meaning, for the report:
b, s, T = Sym("b"), Sym("s"), Sym("T")
h, d, I, V = Sym("h"), Sym("d"), Sym("I"), Sym("V")
Hd, Hkvd = Sym("H·d"), Sym("Hkv·d")
s_kv = Sym("s_kv")
n_scores, n_scores_stored = Sym("n_scores"), Sym("n_scores_stored")
T_logits, T_rows = Sym("T_logits"), Sym("min(T,V)")
T_routed, E, E_read = Sym("T·k"), Sym("E"), Sym("E_read")
K = Sym("K")
ring = Sym("2(p-1)/p")

SYMBOLS = {
    "b": "batch size (sequences)",
    "s": "prompt length (prefill) or KV-cache length (decode), tokens",
    "T": "tokens through the layer: b·s in prefill, b in decode, b·n in verify (n candidates each)",
    "h": "hidden_size",
    "d": "head_dim",
    "H·d": "query width, num_attention_heads · head_dim (per device under tensor parallelism)",
    "Hkv·d": "K or V width, num_key_value_heads · head_dim (GQA: fewer K/V heads than query heads)",
    "I": "intermediate_size (the SwiGLU width), per device under tensor parallelism",
    "V": "vocab_size (per device under tensor parallelism)",
    "s_kv": "KV positions read per sequence: s, or the sliding window when shorter (decode); s-1+n (verify)",
    "n_scores": "attention scores computed: b·H·s·(s+1)/2 causal prefill (b·H·s² without the causal "
                "switch), b·H·s_kv decode, b·H·n·s_kv verify (dense over the tree)",
    "n_scores_stored": "scores materialised in memory by unfused attention: b·H·s² prefill, b·H·s_kv decode, "
                       "b·H·n·s_kv verify",
    "T_logits": "tokens that need logits: b (last token of each prompt) in prefill, b in decode, b·n in verify",
    "min(T,V)": "embedding rows gathered (at most one per vocabulary entry)",
    "T·k": "token-expert pairs: each token goes through k experts (mixture of experts)",
    "E": "experts per layer (num_local_experts)",
    "E_read": "distinct experts a batch touches: E·(1 - (1 - k/E)^T), uniform routing",
    "2(p-1)/p": "ring all-reduce factor over p tensor-parallel devices",
    "K": "Medusa heads (verify phase)",
}
VERIFY_ONLY_SYMBOLS = frozenset({"K"})  # used by the verify phase's operators alone
# Symbols fixed by the model and the workload's switches: the same at every batch x length grid point.
MODEL_SYMBOLS = frozenset({"h", "d", "H·d", "Hkv·d", "I", "V", "E", "2(p-1)/p", "K"})


@dataclass(frozen=True)
class Kernel:
    """What a measurement runs for an operator: a kernel kind and its dimensions, as expressions over
    the same symbols as the costs, so a measured shape is never typed a second time.

    gemm      [m × k]·[k × n]
    qk, softmax, pv, sdpa
              attention of q_len queries per sequence in kv_heads groups of ``group`` heads against
              s_kv keys of width d: Q·K^T, the row softmax, P·V, or the fused kernel (all three)
    silu_mul  silu(gate)·up over [rows × cols]
    """

    kind: str
    dims: Mapping[str, Expr]


@dataclass(frozen=True)
class Operator:
    """One operator: its FLOPs and the elements it moves, per traffic kind, per call."""

    name: str
    group: str  # legend group on the chart; "other" unless it is one of the figure's three
    flops: Expr
    traffic: Mapping[str, Expr] = field(default_factory=dict)
    per_layer: bool = True  # runs once per decoder layer; False: once per forward pass
    note: str = ""  # the derivation, in words
    kernel: Kernel | None = None  # what a measurement times for it (None: not measured)

    def bytes_formula(self) -> str:
        """Bytes moved through memory, as a formula: each traffic kind times its width."""
        widths = {"weight": "w", "act_read": "a", "act_write": "a", "kv_read": "kv", "kv_write": "kv"}
        parts = [f"{_paren(self.traffic[k])}·{widths[k]}" for k in MEMORY_TRAFFIC if k in self.traffic]
        return " + ".join(parts) or "0"


def _paren(expr: Expr) -> str:
    return f"({expr})" if expr.precedence == SUM_PRECEDENCE else str(expr)


def linear(name: str, group: str, n_in: Expr, n_out: Expr, *, tokens: Expr = T, copies: Expr = ONE,
           bias: bool = False, out: str = "act_write", per_layer: bool = True) -> Operator:
    """y = x·W (+ b): x is [tokens × n_in], W is [n_in × n_out].

    FLOPs   = 2·tokens·n_in·n_out  (a multiply and an add per weight per token)
              + tokens·n_out when there is a bias (one add per output).
    weight  = copies·n_in·n_out (+ copies·n_out bias): each weight matrix is read once per
              call, however many tokens use it. ``copies`` is 1 for a dense layer and the
              number of distinct experts touched for a mixture-of-experts layer.
    act in  = tokens·n_in;  out = tokens·n_out (to the KV cache for k_proj and v_proj).
    Example, q_proj prefill for Llama-33B at b=1, s=1024: 2·1024·6656·6656 = 90,731,184,128
    FLOPs and 6656·6656·2 B = 88,604,672 weight bytes at 16 bits.
    """
    flops = 2 * tokens * n_in * n_out + (tokens * n_out if bias else ZERO)
    weight = copies * n_in * n_out + (copies * n_out if bias else ZERO)
    # one weight matrix: a single GEMM measures it (experts and Medusa heads hold several: not measured)
    kernel = Kernel("gemm", {"m": tokens, "k": n_in, "n": n_out}) if copies is ONE else None
    return Operator(name, group, flops, {"weight": weight, "act_read": tokens * n_in, out: tokens * n_out},
                    per_layer, note=f"GEMM [{tokens}×{n_in}]·[{n_in}×{n_out}]" + (" + bias" if bias else ""),
                    kernel=kernel)


def rms_norm(name: str, flops_per_element: float, per_layer: bool = True) -> Operator:
    """RMSNorm over T·h elements: y = x / sqrt(mean(x²) + eps) · g.

    FLOPs = c·T·h with c the per-element count (square, sum, scale, gain: 4 by default; the
    per-row sqrt and division are negligible). Reads x (T·h) and the gain vector g (h),
    writes y (T·h).
    """
    return Operator(name, OTHER, flops_per_element * T * h,
                    {"weight": h, "act_read": T * h, "act_write": T * h}, per_layer,
                    note=f"RMSNorm, {flops_per_element:g} FLOPs per element")


def residual_add(name: str) -> Operator:
    """x + f(x): one add per element; reads both operands (2·T·h), writes the sum (T·h)."""
    return Operator(name, OTHER, T * h, {"act_read": 2 * T * h, "act_write": T * h},
                    note="residual add: reads the stream and the branch output")


def attention(io: str, softmax_flops: float) -> list[Operator]:
    """The three attention steps for one layer, under the chosen IO model.

    QK^T: each score is a d-long dot product, 2·d FLOPs, so 2·d·n_scores in all; PV is the
    same count (each probability scales a d-long V row and accumulates it). Softmax costs
    ``softmax_flops`` per score (max, subtract, exp, sum, divide: 5 by default).
    Q is T·H·d elements; K and V are b·s_kv·Hkv·d each, read from the KV cache once per
    K/V head whatever the number of query heads sharing it (GQA).
    unfused: QK^T writes n_scores_stored, softmax reads and writes them, PV reads them.
    fused:   scores never leave the chip, so only Q, K, V are read and O written; the softmax
             FLOPs are part of the fused kernel and counted in qk_matmul (no softmax row).
    """
    k_or_v = b * s_kv * Hkvd
    qk_flops, pv_flops = 2 * d * n_scores, 2 * d * n_scores
    dims = {"b": b, "kv_heads": Hkvd / d, "group": Hd / Hkvd, "q_len": T / b, "d": d, "s_kv": s_kv}
    if io == "unfused":
        return [
            Operator("qk_matmul", ATTN, qk_flops,
                     {"act_read": T * Hd, "kv_read": k_or_v, "act_write": n_scores_stored},
                     note="scores = Q·K^T, written to memory", kernel=Kernel("qk", dims)),
            Operator("softmax", OTHER, softmax_flops * n_scores,
                     {"act_read": n_scores_stored, "act_write": n_scores_stored},
                     note=f"row softmax, {softmax_flops:g} FLOPs per score, through memory",
                     kernel=Kernel("softmax", dims)),
            Operator("pv_matmul", ATTN, pv_flops,
                     {"act_read": n_scores_stored, "kv_read": k_or_v, "act_write": T * Hd},
                     note="out = P·V, P read back from memory", kernel=Kernel("pv", dims)),
        ]
    # Fused: the softmax runs inside the attention kernel and moves no bytes of its own, so its
    # FLOPs are charged to that kernel (here the QK^T half) instead of a row with no traffic.
    return [
        Operator("qk_matmul", ATTN, qk_flops + softmax_flops * n_scores, {"act_read": T * Hd, "kv_read": k_or_v},
                 note=f"fused: Q and K read once, scores stay on chip; includes the row softmax "
                      f"({softmax_flops:g} FLOPs per score), which runs inside the same kernel",
                 kernel=Kernel("sdpa", dims)),  # one fused kernel measures qk_matmul and pv_matmul together
        Operator("pv_matmul", ATTN, pv_flops, {"kv_read": k_or_v, "act_write": T * Hd},
                 note="fused: V read once, output written once"),
    ]


def operator_list(model: ModelConfig, workload: Workload, phase: str | None = None) -> list[Operator]:
    """The forward pass, in execution order: embedding, one decoder layer, final norm, lm_head,
    and in the verify phase the workload's Medusa heads.

    Decoder-layer operators carry ``per_layer=True`` and run ``num_hidden_layers`` times.
    """
    w = workload
    moe = model.num_experts > 1
    mlp_tokens, mlp_copies = (T_routed, E_read) if moe else (T, ONE)
    layer = [
        rms_norm("attn_norm", w.norm_flops_per_element),
        linear("q_proj", QKV, h, Hd, bias=model.attention_bias),
        linear("k_proj", QKV, h, Hkvd, bias=model.attention_bias, out="kv_write"),
        linear("v_proj", QKV, h, Hkvd, bias=model.attention_bias, out="kv_write"),
        Operator("rope", OTHER, w.rope_flops_per_element * T * (Hd + Hkvd),
                 {"act_read": T * (Hd + Hkvd), "act_write": T * (Hd + Hkvd)},
                 note=f"rotary embedding on q and k, {w.rope_flops_per_element:g} FLOPs per element "
                      "(x·cos + rotate(x)·sin), one read and one write"),
        *attention(w.attention_io, w.softmax_flops_per_element),
        linear("o_proj", OTHER, Hd, h),
        *_allreduce("attn_allreduce", w.tp),
        residual_add("attn_add"),
        rms_norm("mlp_norm", w.norm_flops_per_element),
        *([linear("router", OTHER, h, E)] if moe else []),
        linear("gate_proj", MLP, h, I, tokens=mlp_tokens, copies=mlp_copies),
        linear("up_proj", MLP, h, I, tokens=mlp_tokens, copies=mlp_copies),
        Operator("act_mul", OTHER, w.swiglu_flops_per_element * mlp_tokens * I,
                 {"act_read": 2 * mlp_tokens * I, "act_write": mlp_tokens * I},
                 note=f"SwiGLU silu(gate)·up over intermediate_size, {w.swiglu_flops_per_element:g} "
                      "FLOPs per element (negate, exp, add, divide, multiply)",
                 kernel=Kernel("silu_mul", {"rows": mlp_tokens, "cols": I})),
        linear("down_proj", MLP, I, h, tokens=mlp_tokens, copies=mlp_copies),
        *_allreduce("mlp_allreduce", w.tp),
        residual_add("mlp_add"),
    ]
    model_level = [
        Operator("embedding", OTHER, ZERO, {"weight": T_rows * h, "act_write": T * h}, per_layer=False,
                 note="row gather from the embedding table, no arithmetic"),
        rms_norm("final_norm", w.norm_flops_per_element, per_layer=False),
        linear("lm_head", OTHER, h, V, tokens=T_logits, per_layer=False),
    ]
    heads = medusa_heads() if phase == VERIFY and w.medusa_heads else []
    return [model_level[0], *layer, *model_level[1:], *heads]


def medusa_heads() -> list[Operator]:
    """K Medusa heads on every candidate token (Cai et al. 2024, arXiv:2401.10774; FasterDecoding/Medusa).

    Each head is a residual block, x + SiLU(x·W1 + b1) with W1 an h × h matrix, then its own
    h × V output projection W2 (no bias). The heads run on all K·T (head, token) pairs, so
    each head's weights are read once per step and its GEMMs see T tokens:
      medusa_fc       2·K·T·h·h + K·T·h FLOPs; K·(h·h + h) weights
      medusa_act      SiLU (negate, exp, add, divide) and the residual add: 5 FLOPs per element
      medusa_lm_head  2·K·T·h·V FLOPs; K·h·V weights; K·T·V logits written
    """
    pairs = K * T
    return [
        linear("medusa_fc", OTHER, h, h, tokens=pairs, copies=K, bias=True, per_layer=False),
        Operator("medusa_act", OTHER, 5 * pairs * h, {"act_read": 2 * pairs * h, "act_write": pairs * h},
                 per_layer=False, note="SiLU and the residual add of each head's block, 5 FLOPs per element"),
        linear("medusa_lm_head", OTHER, h, V, tokens=pairs, copies=K, per_layer=False),
    ]


def _allreduce(name: str, tp: int) -> list[Operator]:
    """Ring all-reduce of the T·h layer output over p devices (tensor parallelism).

    Each device sends and receives 2·(p-1)/p·T·h elements over its link and adds
    (p-1)/p·T·h of them. Absent when p = 1.
    """
    if tp == 1:
        return []
    return [Operator(name, OTHER, ring / 2 * T * h, {"link": ring * T * h},
                     note="ring all-reduce over the interconnect")]


def causal_scores_per_head(seq_len, window: int | None):
    """Scores a causal kernel computes for one sequence and one head in prefill.

    Query i (1-based) attends keys max(1, i-W+1)..i, i.e. min(i, W) keys, so the count is
    s·(s+1)/2 without a window, and W·(W+1)/2 + (s-W)·W when s > W.
    s = 1024: 524,800 (the full square is 1,048,576).
    """
    full_triangle = seq_len * (seq_len + 1) / 2
    if window is None:
        return full_triangle
    windowed = window * (window + 1) / 2 + (seq_len - window) * window
    if isinstance(seq_len, np.ndarray):
        return np.where(seq_len <= window, full_triangle, windowed)
    return full_triangle if seq_len <= window else windowed


def check_phases(phases: object) -> tuple[str, ...]:
    """One phase name or a non-empty sequence of them, as a tuple; a named error otherwise."""
    if isinstance(phases, str) and phases in ALL_PHASES:
        return (phases,)
    chosen = (phases,) if isinstance(phases, str) else phases
    try:
        chosen = tuple(chosen)
    except TypeError:
        chosen = ()
    if not chosen or not all(isinstance(p, str) and p in ALL_PHASES for p in chosen):
        raise RooflineInputError("phases", f"got {phases!r}", ", ".join(ALL_PHASES) + ", or a sequence of them")
    return chosen


def check_tensor_parallel(model: ModelConfig, tp: int) -> None:
    """Tensor parallelism splits heads and the MLP evenly: both must divide by ``tp``."""
    for field_name in ("num_attention_heads", "intermediate_size"):
        if getattr(model, field_name) % tp:
            divisors = [n for n in range(1, 129) if model.num_attention_heads % n == 0
                        and model.intermediate_size % n == 0]
            raise RooflineInputError("tp", f"{tp} devices do not split {field_name}={getattr(model, field_name)} "
                                     f"of {model.name} evenly", ", ".join(map(str, divisors)))


def symbol_values(model: ModelConfig, workload: Workload, phase: str) -> dict[str, np.ndarray]:
    """The value of every symbol for one phase, broadcast over the workload's batch x length grid.

    Plain floats when batch and length are single numbers (the scalar fast path stays in
    Python arithmetic), numpy arrays otherwise.

    Under tensor parallelism over p devices each device holds H/p query heads,
    max(Hkv/p, 1) K/V heads (replicated when there are fewer K/V heads than devices),
    I/p of the MLP and V/p of the vocabulary; the values here are per device.
    """
    check_phases(phase)
    p = workload.tp
    check_tensor_parallel(model, p)
    batch, seq = _floats(workload.batch), _floats(workload.seq_len)
    heads = model.num_attention_heads / p
    kv_heads = max(model.num_key_value_heads / p, 1.0)
    window = model.sliding_window
    if phase == "prefill":
        tokens, kv_len = batch * seq, seq
        full = batch * heads * seq * seq
        computed = batch * heads * causal_scores_per_head(seq, window) if workload.causal else full
        stored = full
        logit_tokens = batch if workload.prefill_logits == "last" else tokens
    elif phase == VERIFY:
        n = workload.tree_size
        tokens = batch * n
        kv_len = seq - 1 + n if window is None else _minimum(seq - 1 + n, window)
        full = computed = stored = batch * heads * n * kv_len
        logit_tokens = tokens
    else:
        tokens = batch * 1.0
        kv_len = seq if window is None else _minimum(seq, window)
        full = computed = stored = batch * heads * kv_len
        logit_tokens = batch
    experts, per_token = model.num_experts, model.experts_per_token
    return {
        "b": batch, "s": seq, "T": tokens, "h": float(model.hidden_size), "d": float(model.head_dim),
        "H·d": heads * model.head_dim, "Hkv·d": kv_heads * model.head_dim,
        "I": model.intermediate_size / p, "V": model.vocab_size / p,
        "s_kv": kv_len, "n_scores": computed, "n_scores_full": full, "n_scores_stored": stored,
        "T_logits": logit_tokens, "min(T,V)": _minimum(tokens, model.vocab_size / p),
        "T·k": tokens * per_token, "E": float(experts),
        "E_read": experts * (1 - (1 - per_token / experts) ** tokens),
        "2(p-1)/p": 2 * (p - 1) / p, "K": float(workload.medusa_heads),
    }


def _floats(value) -> float | np.ndarray:
    """A single number as a Python float (fast scalar arithmetic), anything else as a float array."""
    return float(value) if is_number(value) or np.ndim(value) == 0 else np.asarray(value, dtype=float)


def _minimum(values, cap: float):
    return np.minimum(values, cap) if isinstance(values, np.ndarray) else min(values, cap)


def operator_costs(model: ModelConfig, workload: Workload, phase: str
                   ) -> list[tuple[Operator, dict[str, np.ndarray]]]:
    """FLOPs and bytes per call of every operator in one phase (arrays over the workload grid).

    Each cost dict holds ``flops``, ``flops_full_square`` (attention without the causal
    saving; equal to ``flops`` elsewhere) and one ``<kind>_bytes`` entry per traffic kind.
    """
    env = symbol_values(model, workload, phase)
    env_full = {**env, "n_scores": env["n_scores_full"]}
    widths = {kind: np.asarray(getattr(workload, bits), dtype=float) / 8 for kind, bits in TRAFFIC_BITS.items()}
    costs = []
    for op in operator_list(model, workload, phase):
        cost = {"flops": np.asarray(op.flops(env), dtype=float),
                "flops_full_square": np.asarray(op.flops(env_full), dtype=float)}
        for kind in TRAFFIC_BITS:
            elements = op.traffic[kind](env) if kind in op.traffic else 0.0
            cost[f"{kind}_bytes"] = elements * widths[kind]
        costs.append((op, cost))
    return costs

