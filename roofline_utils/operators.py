"""Every operator of a decoder-only transformer, as data: FLOPs and bytes moved, per phase.

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
  * Activations are read and written once per operator; K and V go to and come from the KV
    cache at ``kv_bits``. The linear layers move weights at ``weight_bits`` (plus their group
    scales) and activations at ``act_bits``; every other operator stays at 16 bits or more
    (see WIDTHS and workload.element_bytes).
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

from dataclasses import dataclass, field, replace
from typing import Mapping

import numpy as np

from .errors import RooflineInputError
from .expr import ONE, SUM_PRECEDENCE, ZERO, Expr, Sym
from .models import ModelConfig
from .workload import Workload, as_floats, element_bytes

PHASES = ("prefill", "decode")  # the two phases of every table and chart
VERIFY = "verify"  # speculative decoding's step: n candidate tokens per sequence checked at once
ALL_PHASES = (*PHASES, VERIFY)
PHASE_LABELS = {"prefill": "init", "decode": "ar", VERIFY: "verify"}  # the original figure's legend words

QKV, MLP, ATTN, OTHER = "qkv mlp", "up/gate/down", "qk/pv", "other"
CLAMPED_SWIGLU_EXTRA_FLOPS = 5  # gpt-oss's SwiGLU beyond the plain one: two clamps (1 + 2), the alpha scale, the + 1
GROUPS = (QKV, MLP, ATTN)

# An operator's precision says which width each of its traffic kinds moves at (workload.element_bytes):
# the linear layers are "quantised" (weights at weight_bits with their group scales, activations at
# act_bits); everything else is "full", as serving stacks run it: the residual stream, norms, RoPE,
# attention, the activation function and the all-reduce at 16 bits or more, the norm gains, the MoE
# router and (unless quantize_head) embed_tokens and lm_head too. At 16 bits the two are the same.
QUANTISED, FULL = "quantised", "full"
WIDTHS = {
    QUANTISED: {"weight": "weight_bits", "act_read": "act_bits", "act_write": "act_bits",
                "kv_read": "kv_bits", "kv_write": "kv_bits", "link": "act_bits"},
    FULL: {"weight": "full_weight_bits", "act_read": "stream_bits", "act_write": "stream_bits",
           "kv_read": "kv_bits", "kv_write": "kv_bits", "link": "stream_bits"},
}
TRAFFIC_BITS = WIDTHS[QUANTISED]  # the traffic kinds, each with the width a quantised operator moves it at
WIDTH_FIELDS = ("weight_bits", "full_weight_bits", "act_bits", "stream_bits", "kv_bits")
WIDTH_SYMBOLS = {"weight_bits": "w", "full_weight_bits": "w_{16}", "act_bits": "a", "stream_bits": "a_{16}",
                 "kv_bits": "kv"}  # as the formulas write each width's bytes per element
MEMORY_TRAFFIC = ("weight", "act_read", "act_write", "kv_read", "kv_write")  # HBM; not the link

# Symbols. Their values per phase come from symbol_values(); their meaning, for the report:
b, s, T = Sym("b"), Sym("s"), Sym("T")
h, d, I, V = Sym("h"), Sym("d"), Sym("f"), Sym("V")
Hd, Hkvd = Sym("H·d"), Sym("Hkv·d")
s_kv = Sym("s_kv")
n_scores, n_scores_stored = Sym("n_scores"), Sym("n_scores_stored")
T_logits, T_rows = Sym("T_logits"), Sym("min(T,V)")
s_pos = Sym("s_pos")
T_routed, E, E_read = Sym("T·k"), Sym("E"), Sym("E_read")
I_e, I_s = Sym("f_e"), Sym("f_s")
K = Sym("K")
ring = Sym("2(p-1)/p")
s_kv_w, n_scores_w, n_scores_stored_w = Sym("s_kv_w"), Sym("n_scores_w"), Sym("n_scores_stored_w")
H, r_q, r_kv = Sym("H"), Sym("r_q"), Sym("r_kv")
d_nope, d_rope, d_v, d_qk, d_c = Sym("d_nope"), Sym("d_rope"), Sym("d_v"), Sym("d_qk"), Sym("d_c")

SYMBOLS = {
    "b": "batch size (sequences)",
    "s": "prompt length (prefill) or KV-cache length (decode), tokens",
    "T": "tokens through the layer: b·s in prefill, b in decode, b·n in verify (n candidates each)",
    "h": "hidden_size",
    "d": "head_dim",
    "H·d": "query width, num_attention_heads · head_dim (per device under tensor parallelism)",
    "Hkv·d": "K or V width, num_key_value_heads · head_dim (GQA: fewer K/V heads than query heads)",
    "f": "intermediate_size (the gated MLP's width), per device under tensor parallelism",
    "f_e": "each routed expert's MLP width (moe_intermediate_size; Mixtral: intermediate_size), per device",
    "f_s": "the shared experts' MLP width, n_shared_experts · moe_intermediate_size (Qwen2-MoE: "
           "shared_expert_intermediate_size), per device",
    "V": "vocab_size (per device under tensor parallelism)",
    "s_kv": "KV positions read per sequence: s, or the sliding window when shorter (decode); s-1+n (verify)",
    "n_scores": "attention scores computed: b·H·s·(s+1)/2 causal prefill (b·H·s² without the causal "
                "switch), b·H·s_kv decode, b·H·n·s_kv verify (dense over the tree)",
    "n_scores_stored": "scores materialised in memory by unfused attention: b·H·s² prefill, b·H·s_kv decode, "
                       "b·H·n·s_kv verify",
    "T_logits": "tokens that need logits: b (last token of each prompt) in prefill, b in decode, b·n in verify",
    "min(T,V)": "embedding rows gathered (at most one per vocabulary entry)",
    "s_pos": "learned position-embedding rows gathered: the step's distinct positions, s in prefill, 1 in decode, "
             "n in verify (at most max_position_embeddings)",
    "T·k": "token-expert pairs: each token goes through k experts (mixture of experts)",
    "E": "experts per layer (num_local_experts)",
    "E_read": "distinct experts a batch touches: E·(1 - (1 - k/E)^T), uniform routing",
    "2(p-1)/p": "ring all-reduce factor over p tensor-parallel devices",
    "K": "Medusa heads (verify phase)",
    "s_kv_w": "KV positions a sliding-window layer reads: s_kv capped at sliding_window (local layers)",
    "n_scores_w": "attention scores a sliding-window layer computes (n_scores with s_kv_w)",
    "n_scores_stored_w": "scores a sliding-window layer materialises unfused (n_scores_stored with s_kv_w)",
    "H": "query heads (per device under tensor parallelism)",
    "r_q": "MLA: q_lora_rank, the query's compressed width",
    "r_kv": "MLA: kv_lora_rank, the latent K/V width cached per token",
    "d_nope": "MLA: qk_nope_head_dim, each head's query/key width without RoPE",
    "d_rope": "MLA: qk_rope_head_dim, the rotary part (one key of this width shared by all heads)",
    "d_v": "MLA: v_head_dim, each head's value width",
    "d_qk": "MLA: d_nope + d_rope, each head's query/key width",
    "d_c": "MLA: r_kv + d_rope, the elements cached per token and layer (the latent and the rotary key)",
}
VERIFY_ONLY_SYMBOLS = frozenset({"K"})  # used by the verify phase's operators alone
# Symbols fixed by the model and the workload's switches: the same at every batch x length grid point.
MODEL_SYMBOLS = frozenset({"h", "d", "H·d", "Hkv·d", "f", "f_e", "f_s", "V", "E", "2(p-1)/p", "K",
                           "H", "r_q", "r_kv", "d_nope", "d_rope", "d_v", "d_qk", "d_c"})
# Which decoder layers run an operator (ModelConfig.layer_count): every layer; the dense or the MoE
# layers of a model that mixes them; the sliding-window (local) or the full-context (global) layers;
# "once": not a decoder-layer operator (embedding, final norm, lm_head, Medusa heads).
LAYER_KINDS = ("all", "dense", "moe", "local", "global", "once")


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
    layers: str = "all"  # which decoder layers run it (LAYER_KINDS); "once": once per forward pass
    note: str = ""  # the derivation, in words
    kernel: Kernel | None = None  # what a measurement times for it (None: not measured)
    precision: str = FULL  # QUANTISED (a linear layer) or FULL: the widths its traffic moves at (WIDTHS)

    @property
    def per_layer(self) -> bool:
        return self.layers != "once"

    def width(self, kind: str) -> str:
        """The width field (workload.element_bytes) this operator's ``kind`` of traffic moves at."""
        return WIDTHS[self.precision][kind]

    def bytes_formula(self) -> str:
        """Bytes moved through memory, as a formula: each traffic kind times its width."""
        parts = [f"{_paren(self.traffic[k])}·{WIDTH_SYMBOLS[self.width(k)].replace('_{16}', '16')}"
                 for k in MEMORY_TRAFFIC if k in self.traffic]
        return " + ".join(parts) or "0"


def _paren(expr: Expr) -> str:
    return f"({expr})" if expr.precedence == SUM_PRECEDENCE else str(expr)


def linear(name: str, group: str, n_in: Expr, n_out: Expr, *, tokens: Expr = T, copies: Expr = ONE,
           bias: bool = False, out: str = "act_write", writes: Mapping[str, Expr] | None = None,
           layers: str = "all", precision: str = QUANTISED) -> Operator:
    """y = x·W (+ b): x is [tokens × n_in], W is [n_in × n_out].

    FLOPs   = 2·tokens·n_in·n_out  (a multiply and an add per weight per token)
              + tokens·n_out when there is a bias (one add per output).
    weight  = copies·n_in·n_out (+ copies·n_out bias): each weight matrix is read once per
              call, however many tokens use it. ``copies`` is 1 for a dense layer and the
              number of distinct experts touched for a mixture-of-experts layer.
    act in  = tokens·n_in;  out = tokens·n_out (to the KV cache for k_proj and v_proj;
              ``writes`` splits it where one GEMM feeds both, as Phi-3's fused qkv_proj).
    Example, q_proj prefill for Llama-33B at b=1, s=1024: 2·1024·6656·6656 = 90,731,184,128
    FLOPs and 6656·6656·2 B = 88,604,672 weight bytes at 16 bits.
    """
    flops = 2 * tokens * n_in * n_out + (tokens * n_out if bias else ZERO)
    weight = copies * n_in * n_out + (copies * n_out if bias else ZERO)
    # one weight matrix: a single GEMM measures it (experts and Medusa heads hold several: not measured)
    kernel = Kernel("gemm", {"m": tokens, "k": n_in, "n": n_out}) if copies is ONE else None
    return Operator(name, group, flops, {"weight": weight, "act_read": tokens * n_in, **(writes or {out: tokens * n_out})},
                    layers, note=f"GEMM [{tokens}×{n_in}]·[{n_in}×{n_out}]" + (" + bias" if bias else ""),
                    kernel=kernel, precision=precision)


def rms_norm(name: str, flops_per_element: float, width: Expr = h, rows: Expr = T, gains: Expr | None = None,
             layers: str = "all") -> Operator:
    """RMSNorm over rows·width elements: y = x / sqrt(mean(x²) + eps) · g.

    FLOPs = c·rows·width with c the per-element count (square, sum, scale, gain: 4 by default;
    the per-row sqrt and division are negligible). Reads x and the gain vector g (``width``
    elements, or ``gains``), writes y. Usually rows = T tokens of width h.
    """
    return Operator(name, OTHER, flops_per_element * rows * width,
                    {"weight": width if gains is None else gains, "act_read": rows * width,
                     "act_write": rows * width}, layers, note=f"RMSNorm, {flops_per_element:g} FLOPs per element")


def layer_norm(name: str, flops_per_element: float, width: Expr = h, rows: Expr = T, layers: str = "all") -> Operator:
    """LayerNorm over rows·width elements: y = (x - mean(x)) / sqrt(var(x) + eps) · g + b (GPT-2, Phi-3.5-MoE).

    FLOPs = c·rows·width with c the RMSNorm count plus 3: the mean's sum, its subtraction and the bias
    add (7 with RMSNorm's default 4). Reads x, the gain g and the bias b (``width`` elements each), writes y.
    """
    c = flops_per_element + 3
    return Operator(name, OTHER, c * rows * width, {"weight": 2 * width, "act_read": rows * width,
                                                   "act_write": rows * width}, layers,
                    note=f"LayerNorm, {c:g} FLOPs per element (RMSNorm's {flops_per_element:g}, the mean's sum and "
                         "subtraction, the bias)")


def model_norm(model: ModelConfig, name: str, w: Workload, layers: str = "all") -> Operator:
    """The model's norm over the T·h stream: RMSNorm, or LayerNorm with a bias (GPT-2, Phi-3.5-MoE)."""
    if model.norm_type == "layer":
        return layer_norm(name, w.norm_flops_per_element, layers=layers)
    return rms_norm(name, w.norm_flops_per_element, layers=layers)


def residual_add(name: str) -> Operator:
    """x + f(x): one add per element; reads both operands (2·T·h), writes the sum (T·h)."""
    return Operator(name, OTHER, T * h, {"act_read": 2 * T * h, "act_write": T * h},
                    note="residual add: reads the stream and the branch output")


@dataclass(frozen=True)
class AttentionShape:
    """What one attention computes: widths per head and the tensors it reads and writes.

    The default is grouped-query attention: Q is T·H·d, K and V b·s_kv·Hkv·d each, read from
    the KV cache once per K/V head however many query heads share it, and d-long dot products.
    """

    qk_width: Expr = d  # dot-product length of a score
    pv_width: Expr = d  # length of each V row a probability scales
    q: Expr = T * Hd
    k: Expr = b * s_kv * Hkvd
    v: Expr | None = b * s_kv * Hkvd  # None: V is part of the K rows already read (MLA's latent)
    out: Expr = T * Hd
    kv_kind: str = "kv_read"  # K and V come from the KV cache, or from activations (MLA prefill)
    scores: Expr = n_scores
    stored: Expr = n_scores_stored
    kernel_dims: Mapping[str, Expr] | None = None


GQA = AttentionShape(kernel_dims={"b": b, "kv_heads": Hkvd / d, "group": Hd / Hkvd, "q_len": T / b, "d": d,
                                  "s_kv": s_kv})
GQA_LOCAL = AttentionShape(k=b * s_kv_w * Hkvd, v=b * s_kv_w * Hkvd, scores=n_scores_w, stored=n_scores_stored_w,
                           kernel_dims={**GQA.kernel_dims, "s_kv": s_kv_w})


def _traffic(*parts: tuple[str, Expr]) -> dict[str, Expr]:
    """Traffic by kind, summing the parts of one kind: MLA's prefill reads Q and its fresh K (or the
    scores and its V) both as activations, and neither may replace the other."""
    traffic: dict[str, Expr] = {}
    for kind, elements in parts:
        traffic[kind] = traffic[kind] + elements if kind in traffic else elements
    return traffic


def attention(io: str, softmax_flops: float, shape: AttentionShape = GQA, prefix: str = "",
              layers: str = "all") -> list[Operator]:
    """The three attention steps for one layer, under the chosen IO model.

    QK^T: each score is a qk_width-long dot product (d), 2·d FLOPs, so 2·d·n_scores in all; PV
    is the same count with pv_width (each probability scales a V row and accumulates it). Softmax
    costs ``softmax_flops`` per score (max, subtract, exp, sum, divide: 5 by default).
    Q is T·H·d elements; K and V are b·s_kv·Hkv·d each, read from the KV cache once per
    K/V head whatever the number of query heads sharing it (GQA).
    unfused: QK^T writes n_scores_stored, softmax reads and writes them, PV reads them.
    fused:   scores never leave the chip, so only Q, K, V are read and O written; the softmax
             FLOPs are part of the fused kernel and counted in qk_matmul (no softmax row).
    """
    sh = shape
    qk_flops, pv_flops = 2 * sh.qk_width * sh.scores, 2 * sh.pv_width * sh.scores
    kernel = (lambda kind: Kernel(kind, sh.kernel_dims)) if sh.kernel_dims else (lambda kind: None)  # noqa: E731
    v_read = [] if sh.v is None else [(sh.kv_kind, sh.v)]
    if io == "unfused":
        return [
            Operator(prefix + "qk_matmul", ATTN, qk_flops, _traffic(("act_read", sh.q), (sh.kv_kind, sh.k), ("act_write", sh.stored)),
                     layers, note="scores = Q·K^T, written to memory", kernel=kernel("qk")),
            Operator(prefix + "softmax", OTHER, softmax_flops * sh.scores, {"act_read": sh.stored, "act_write": sh.stored},
                     layers, note=f"row softmax, {softmax_flops:g} FLOPs per score, through memory",
                     kernel=kernel("softmax")),
            Operator(prefix + "pv_matmul", ATTN, pv_flops, _traffic(("act_read", sh.stored), *v_read, ("act_write", sh.out)),
                     layers, note="out = P·V, P read back from memory", kernel=kernel("pv")),
        ]
    # Fused: the softmax runs inside the attention kernel and moves no bytes of its own, so its
    # FLOPs are charged to that kernel (here the QK^T half) instead of a row with no traffic.
    return [
        Operator(prefix + "qk_matmul", ATTN, qk_flops + softmax_flops * sh.scores, _traffic(("act_read", sh.q), (sh.kv_kind, sh.k)),
                 layers, note=f"fused: Q and K read once, scores stay on chip; includes the row softmax "
                              f"({softmax_flops:g} FLOPs per score), which runs inside the same kernel",
                 kernel=kernel("sdpa")),  # one fused kernel measures qk_matmul and pv_matmul together
        Operator(prefix + "pv_matmul", ATTN, pv_flops, _traffic(*v_read, ("act_write", sh.out)), layers,
                 note="fused: V read once, output written once" if sh.v is not None else
                      "fused: V is the latent part of the K rows already on chip; output written once"),
    ]


def operator_list(model: ModelConfig, workload: Workload, phase: str | None = None) -> list[Operator]:
    """The forward pass, in execution order: embedding, one decoder layer, final norm, lm_head,
    and in the verify phase the workload's Medusa heads.

    Decoder-layer operators run in the layers their ``layers`` tag names: every layer, or only
    the dense / MoE, local / global layers of a model that mixes them (ModelConfig.layer_count).
    """
    w = workload
    pre = model.pre_norms  # OLMo 2 has no norm before attention or the MLP, only after them
    post = model.sandwich_norms
    layer = [
        *([model_norm(model, "attn_norm", w)] if pre else []),
        *(mla_attention(model, w, phase) if model.mla else gqa_attention(model, w)),
        *_allreduce("attn_allreduce", w.tp),
        *([model_norm(model, "post_attn_norm", w)] if post else []),
        residual_add("attn_add"),
        *([model_norm(model, "mlp_norm", w)] if pre else []),
        *mlp(model, w),
        *_allreduce("mlp_allreduce", w.tp),
        *([model_norm(model, "post_mlp_norm", w)] if post else []),
        residual_add("mlp_add"),
    ]
    # Gemma scales the embeddings by sqrt(h): one multiply per element
    embed_flops = T * h if model.embedding_scale else ZERO
    head = QUANTISED if w.quantize_head else FULL  # GPTQ and AWQ keep embed_tokens and lm_head at 16 bits
    embedding = [
        Operator("embedding", OTHER, embed_flops, {"weight": T_rows * h, "act_write": T * h}, "once",
                 note="row gather from the embedding table" + (", scaled by sqrt(h)" if model.embedding_scale
                                                                 else ", no arithmetic"), precision=head),
    ]
    if model.position_embedding == "learned":  # GPT-2's wpe, replicated under tensor parallelism like the norms
        embedding.append(Operator("position_embedding", OTHER, T * h,
                                  {"weight": s_pos * h, "act_read": T * h, "act_write": T * h}, "once",
                                  note="learned absolute positions: each position's row of the wpe table gathered "
                                       "and added to its token's embedding, one add per element"))
    model_level = [
        model_norm(model, "final_norm", w, layers="once"),
        linear("lm_head", OTHER, h, V, tokens=T_logits, layers="once", precision=head, bias=model.lm_head_bias),
    ]
    heads = medusa_heads() if phase == VERIFY and w.medusa_heads else []
    ops = [*embedding, *layer, *model_level, *heads]
    if w.keep_16bit_ops:  # a checkpoint's ignore list: these linear layers run unquantised
        kept = set(w.keep_16bit_ops)
        ops = [replace(op, precision=FULL) if op.name in kept else op for op in ops]
    return ops


def gqa_attention(model: ModelConfig, w: Workload) -> list[Operator]:
    """Projections, RoPE and attention of grouped-query attention, and the output projection.

    Phi-3's checkpoint fuses q/k/v into one qkv_proj GEMM: the same FLOPs and weights, the input
    read once instead of three times. Qwen3 and Gemma 3 normalise each query and key head (an
    RMSNorm over d, its gains d wide for q and for k). A model whose sliding window covers only
    some layers (Gemma 2/3) runs its attention twice over: ``local_`` operators with the
    window in its local layers, the plain ones over the whole context in its global layers.
    """
    bias = model.attention_bias
    if model.fused_projections:
        projections = [linear("qkv_proj", QKV, h, Hd + 2 * Hkvd, bias=bias,
                              writes={"act_write": T * Hd, "kv_write": 2 * T * Hkvd})]
    else:
        projections = [linear("q_proj", QKV, h, Hd, bias=bias),
                       linear("k_proj", QKV, h, Hkvd, bias=bias, out="kv_write"),
                       linear("v_proj", QKV, h, Hkvd, bias=bias, out="kv_write")]
    if model.qk_norm:  # per head: one d-wide gain for q and one for k; whole-width (OLMo 2): H·d and Hkv·d
        projections.append(rms_norm("qk_norm", w.norm_flops_per_element, width=Hd + Hkvd,
                                    gains=2 * d if model.qk_norm_per_head else Hd + Hkvd))
    mixed = 0 < model.num_sliding_layers < model.num_hidden_layers
    kernels = attention(w.attention_io, w.softmax_flops_per_element, layers="global" if mixed else "all")
    if mixed:
        kernels = attention(w.attention_io, w.softmax_flops_per_element, GQA_LOCAL, "local_", "local") + kernels
    sinks = [Operator("attn_sinks", OTHER, w.softmax_flops_per_element * T * H, {"weight": H}, layers="all",
                      note=f"attention sinks (gpt-oss): one learned logit per head joins each query row's softmax and "
                           f"its probability is dropped, {w.softmax_flops_per_element:g} FLOPs per row and head (one "
                           "more softmax entry); reads the H logits, the rows stay with the attention kernel")]
    rope = [Operator("rope", OTHER, w.rope_flops_per_element * T * (Hd + Hkvd),
                     {"act_read": T * (Hd + Hkvd), "act_write": T * (Hd + Hkvd)},
                     note=f"rotary embedding on q and k, {w.rope_flops_per_element:g} FLOPs per element "
                          "(x·cos + rotate(x)·sin), one read and one write")]
    return [
        *projections,
        *(rope if model.position_embedding == "rope" else []),  # GPT-2 adds learned positions to the embedding
        *kernels,
        *(sinks if model.attention_sinks else []),
        linear("o_proj", OTHER, Hd, h, bias=model.o_proj_bias),
    ]


def mla_attention(model: ModelConfig, w: Workload, phase: str | None) -> list[Operator]:
    """Multi-head latent attention (DeepSeek-V2/V3, arXiv:2405.04434 §2.1): K and V of every head are
    up-projections of one latent c of r_kv elements per token, cached with a d_rope-wide rotary key.

    The query: q_a_proj (h → r_q), an RMSNorm, q_b_proj (r_q → H·d_qk). The latent: kv_a_proj
    (h → r_kv + d_rope = d_c), an RMSNorm over r_kv. Prefill decompresses: kv_b_proj (r_kv →
    H·(d_nope + d_v)) on the prompt's T tokens, then multi-head attention with d_qk-long scores
    and d_v-wide values (K and V are fresh activations; the cache gets the d_c latent).

    ``workload.mla = "absorbed"`` (what vLLM and SGLang run in decode): the up-projections are
    absorbed into the query and the output, so each head attends to the cached latent itself:
      q_absorb    per head q_nope·W_UK: [T × d_nope]·[d_nope × r_kv], 2·T·H·d_nope·r_kv FLOPs
      attention   d_c-long scores against the b·s_kv·d_c cache, which all H heads share (one
                  read); P·V over the r_kv latent, 2·r_kv FLOPs per score
      out_absorb  per head o·W_UV: [T × r_kv]·[r_kv × d_v]
    Per cached position and batch entry a step then does 2·H·(d_c + r_kv) FLOPs (plus the softmax)
    for d_c cached elements read: H·(d_c + r_kv)/d_c FLOP per element, about 1/kv-bytes of 242 for
    DeepSeek-V3 (H = 128, d_c = 576, r_kv = 512), so decode attention is compute-bound.
    ``"naive"`` (Hugging Face's reference code): every phase decompresses; the cache holds each
    head's K (d_qk) and V (d_v), H·(d_qk + d_v) = 40,960 elements per token and layer for
    DeepSeek-V3 against d_c = 576, and decode attention is memory-bound like MHA.
    Under tensor parallelism H is split; the latent, the down-projections and their norms are
    replicated on every device.
    """
    norm = w.norm_flops_per_element
    absorbed_decode = w.mla == "absorbed" and phase != "prefill"
    cache_latent = w.mla == "absorbed"
    if model.q_lora_rank:
        query = [linear("q_a_proj", QKV, h, r_q, bias=model.attention_bias), rms_norm("q_a_norm", norm, width=r_q),
                 linear("q_b_proj", QKV, r_q, H * d_qk)]
    else:
        query = [linear("q_proj", QKV, h, H * d_qk)]
    latent = [linear("kv_a_proj", QKV, h, d_c, bias=model.attention_bias, out="kv_write" if cache_latent else "act_write"),
              rms_norm("kv_a_norm", norm, width=r_kv)]
    rope_elements = T * H * d_rope + T * d_rope
    rope_note = f"rotary embedding on each head's d_rope query part and the shared rotary key, "                 f"{w.rope_flops_per_element:g} FLOPs per element"
    if absorbed_decode:
        rope = Operator("rope", OTHER, w.rope_flops_per_element * rope_elements,
                        {"act_read": rope_elements, "act_write": rope_elements}, note=rope_note)
        shape = AttentionShape(qk_width=d_c, pv_width=r_kv, q=T * H * d_c, k=b * s_kv * d_c, v=None
                               if w.attention_io == "fused" else b * s_kv * r_kv, out=T * H * r_kv)
        return [*query, *latent,
                Operator("q_absorb", QKV, 2 * T * H * d_nope * r_kv,
                         {"weight": H * d_nope * r_kv, "act_read": T * H * d_nope, "act_write": T * H * r_kv},
                         note="each head's q_nope times its W_UK (the key half of kv_b_proj): the query in latent space",
                         precision=QUANTISED),
                rope,
                *attention(w.attention_io, w.softmax_flops_per_element, shape),
                Operator("out_absorb", OTHER, 2 * T * H * r_kv * d_v,
                         {"weight": H * r_kv * d_v, "act_read": T * H * r_kv, "act_write": T * H * d_v},
                         note="each head's latent output times its W_UV (the value half of kv_b_proj)",
                         precision=QUANTISED),
                linear("o_proj", OTHER, H * d_v, h, bias=model.o_proj_bias)]
    # decompressed: K/V from kv_b_proj, cached per head (naive) or used once as activations (prefill)
    kind = "act_read" if cache_latent else "kv_read"
    writes = "act_write" if cache_latent else "kv_write"
    rope = Operator("rope", OTHER, w.rope_flops_per_element * rope_elements,
                    {"act_read": rope_elements, "act_write": T * H * d_rope + (T * d_rope if cache_latent else ZERO),
                     **({} if cache_latent else {"kv_write": T * H * d_rope})},
                    note=rope_note + ("" if cache_latent else "; the rotary key is written to every head's cached K"))
    shape = AttentionShape(qk_width=d_qk, pv_width=d_v, q=T * H * d_qk, k=b * s_kv * H * d_qk,
                           v=b * s_kv * H * d_v, out=T * H * d_v, kv_kind=kind)
    return [*query, *latent,
            linear("kv_b_proj", QKV, r_kv, H * (d_nope + d_v), out=writes),
            rope,
            *attention(w.attention_io, w.softmax_flops_per_element, shape),
            linear("o_proj", OTHER, H * d_v, h, bias=model.o_proj_bias)]


def mlp(model: ModelConfig, w: Workload) -> list[Operator]:
    """The MLP: a gated MLP (SwiGLU, or GeGLU for Gemma), or a mixture of such experts.

    Dense: gate_proj and up_proj (h → I), act_mul (act(gate)·up), down_proj (I → h). Phi-3's
    checkpoint fuses gate and up into gate_up_proj (h → 2·I): the same FLOPs, one input read.
    Mixture of experts: a router (h → E); each token goes through k of the E experts, so the
    expert GEMMs see T·k token-expert pairs and read the weights of the E_read distinct experts
    the batch touches; shared experts (DeepSeek) run on every token. DeepSeek-V3 keeps its first
    layers dense (``dense_`` operators, in those layers only).
    """
    if not model.gated_mlp:
        return plain_mlp(model, w)
    geglu = model.hidden_act == "gelu_pytorch_tanh"
    per_element = w.geglu_flops_per_element if geglu else w.swiglu_flops_per_element
    act_note = ("GeGLU gelu_tanh(gate)·up, {:g} FLOPs per element (cube, scale, add, scale, tanh, add, halve, "
                "multiply x, multiply up)" if geglu else
                "SwiGLU silu(gate)·up, {:g} FLOPs per element (negate, exp, add, divide, multiply)").format(per_element)
    if model.clamped_swiglu:  # GptOssExperts: gate.clamp(max=limit), up.clamp(±limit), (up + 1)·gate·σ(α·gate)
        per_element = w.swiglu_flops_per_element + CLAMPED_SWIGLU_EXTRA_FLOPS
        act_note = (f"gpt-oss's clamped SwiGLU (up + 1)·gate·sigmoid(1.702·gate), {per_element:g} FLOPs per element: "
                    f"SwiGLU's {w.swiglu_flops_per_element:g}, the gate's clamp (1), up's two-sided clamp (2), the "
                    "scale by alpha (1) and the + 1 (1)")

    def gated(prefix: str, width: Expr, tokens: Expr = T, copies: Expr = ONE, layers: str = "all") -> list[Operator]:
        if model.fused_projections or (model.fused_gate_up and prefix == ""):
            up = [linear(prefix + "gate_up_proj", MLP, h, 2 * width, tokens=tokens, copies=copies, layers=layers, bias=model.mlp_bias)]
        else:
            up = [linear(prefix + "gate_proj", MLP, h, width, tokens=tokens, copies=copies, layers=layers, bias=model.mlp_bias),
                  linear(prefix + "up_proj", MLP, h, width, tokens=tokens, copies=copies, layers=layers, bias=model.mlp_bias)]
        return [*up,
                Operator(prefix + "act_mul", OTHER, per_element * tokens * width,
                         {"act_read": 2 * tokens * width, "act_write": tokens * width}, layers, note=act_note,
                         kernel=None if geglu or model.clamped_swiglu else Kernel("silu_mul", {"rows": tokens, "cols": width})),
                linear(prefix + "down_proj", MLP, width, h, tokens=tokens, copies=copies, layers=layers, bias=model.mlp_bias)]

    if model.num_experts == 1:
        return gated("", I)
    moe_layers = "moe" if model.num_dense_layers else "all"
    return [*(gated("dense_", I, layers="dense") if model.num_dense_layers else []),
            # serving stacks keep it unquantised; gpt-oss's router carries a bias, one per expert
            linear("router", OTHER, h, E, layers=moe_layers, precision=FULL, bias=model.router_bias),
            *gated("", I_e, T_routed, E_read, moe_layers),
            *(gated("shared_", I_s, layers=moe_layers) if model.num_shared_experts else []),
            *(shared_expert_gate(w, moe_layers) if model.shared_expert_gate else [])]


def shared_expert_gate(w: Workload, layers: str) -> list[Operator]:
    """Qwen2-MoE's gate on its shared expert: shared_expert_gate (h → 1, no bias), then the shared expert's
    output times sigmoid of it: the sigmoid once per token (negate, exp, add, divide: 4 FLOPs), one multiply
    per element of the T·h output."""
    return [linear("shared_expert_gate", OTHER, h, ONE, layers=layers, precision=FULL),
            Operator("shared_gate_scale", OTHER, 4 * T + T * h, {"act_read": T * h + T, "act_write": T * h}, layers,
                     note="sigmoid(gate) per token, 4 FLOPs, times each element of the shared expert's output")]


def plain_mlp(model: ModelConfig, w: Workload) -> list[Operator]:
    """GPT-2's MLP, not gated: up_proj (c_fc, h → f, bias), GELU, down_proj (c_proj, f → h, bias).

    GELU in its tanh form, 0.5·x·(1 + tanh(c·(x + 0.044715·x³))): the GeGLU count less its multiply by
    up (9 FLOPs per element with GeGLU's default 10); reads the f-wide up output once, writes it once.
    """
    per_element = w.geglu_flops_per_element - 1
    return [
        linear("up_proj", MLP, h, I, bias=model.mlp_bias),
        Operator("act", OTHER, per_element * T * I, {"act_read": T * I, "act_write": T * I},
                 note=f"GELU gelu_tanh(x), {per_element:g} FLOPs per element (cube, scale, add, scale, tanh, add, "
                      "halve, multiply x)"),
        linear("down_proj", MLP, I, h, bias=model.mlp_bias),
    ]


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
        linear("medusa_fc", OTHER, h, h, tokens=pairs, copies=K, bias=True, layers="once"),
        Operator("medusa_act", OTHER, 5 * pairs * h, {"act_read": 2 * pairs * h, "act_write": pairs * h},
                 "once", note="SiLU and the residual add of each head's block, 5 FLOPs per element"),
        linear("medusa_lm_head", OTHER, h, V, tokens=pairs, copies=K, layers="once"),
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
    """Tensor parallelism splits heads and the MLPs (experts' too) evenly: each must divide by ``tp``."""
    split = ("num_attention_heads", "intermediate_size", "expert_intermediate_size")
    for field_name in split:
        if getattr(model, field_name) % tp:
            divisors = [n for n in range(1, 129) if all(getattr(model, f) % n == 0 for f in split)]
            raise RooflineInputError("tp", f"{tp} devices do not split {field_name}={getattr(model, field_name)} "
                                     f"of {model.name} evenly", ", ".join(map(str, divisors)))


def parameter_count(model: ModelConfig, tp: int = 1, active: bool = False) -> int:
    """Parameters, as the sum of the weights the operator list reads (no second copy of any shape).

    The prefill operators at one token, with every expert and every vocabulary row read, times
    each operator's layer count; a tied lm_head shares the embedding's table, counted once.
    Llama-33B: 60 · (4·h² + 3·h·I + 2·h) + 2·V·h + h = 60 · 535,049,216 + 2 · 212,992,000 + 6656
    = 32,528,943,616. ``tp``: what one device holds, its share of the split tensors (heads, MLP,
    vocabulary) and whole copies of the replicated ones (norms, routers, MLA's down-projections,
    K/V heads when there are fewer than devices). ``active``: a token's routed experts only
    (k of E), the "activated parameters" of a mixture of experts.
    """
    return int(round(sum(weight_elements(model, Workload(tp=tp), active).values())))


def weight_elements(model: ModelConfig, workload: Workload, active: bool = False) -> dict[str, float]:
    """The weights one device holds (see :func:`parameter_count`), per width field (``WIDTHS``): the
    quantised linear layers' and those kept at 16 bits (norm gains, router, the head unless quantised)."""
    work = replace(workload, batch=1, seq_len=1)
    tp = work.tp
    env = {**symbol_values(model, work, "prefill"), "min(T,V)": model.vocab_size / tp,
           "s_pos": float(model.max_position_embeddings or 0),  # the whole learned position table (GPT-2's wpe)
           "E_read": float(model.experts_per_token if active else model.num_experts)}
    elements = dict.fromkeys(WIDTH_FIELDS, 0.0)
    ops = [op for op in operator_list(model, work, "prefill") if "weight" in op.traffic]
    for op in ops:
        elements[op.width("weight")] += model.layer_count(op.layers) * op.traffic["weight"](env)
    if model.tie_word_embeddings:  # lm_head reads the embedding's table: one copy in memory
        head = next(op for op in ops if op.name == "lm_head")
        elements[head.width("weight")] -= model.vocab_size / tp * model.hidden_size
    return elements


def kv_cache_elements(model: ModelConfig, workload: Workload, seq_len) -> np.ndarray:
    """K/V-cache elements per sequence and device at ``seq_len`` cached positions.

    What one decode token writes to the cache in each layer (the kv_write traffic of the operator
    list: K and V, 2·Hkv·d for GQA; MLA's d_c latent, or H·(d_qk + d_v) decompressed) times the
    positions each layer keeps: all of them in global layers, at most the window in local ones.
    """
    env = symbol_values(model, replace(workload, batch=1, seq_len=1), "decode")
    per_position = sum(model.layer_count(op.layers) * op.traffic["kv_write"](env)
                       for op in operator_list(model, workload, "decode") if "kv_write" in op.traffic)
    per_position /= model.num_hidden_layers  # the writers run in every layer: per layer
    seq = np.asarray(seq_len, dtype=float)
    windowed = seq if model.sliding_window is None else np.minimum(seq, model.sliding_window)
    return per_position * (model.layer_count("global") * seq + model.num_sliding_layers * windowed)


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
    batch, seq = as_floats(workload.batch), as_floats(workload.seq_len)
    heads = model.num_attention_heads / p
    kv_heads = max(model.num_key_value_heads / p, 1.0)
    every_layer_windowed = model.num_sliding_layers == model.num_hidden_layers
    kv_len, computed, full, stored = _span(workload, phase, batch, seq, heads,
                                           model.sliding_window if every_layer_windowed else None)
    kv_len_w, computed_w, full_w, stored_w = _span(workload, phase, batch, seq, heads, model.sliding_window)
    if phase == "prefill":
        tokens = batch * seq
        logit_tokens = batch if workload.prefill_logits == "last" else tokens
        positions = seq  # every sequence of the batch sits at positions 1..s: s rows of the table
    elif phase == VERIFY:
        tokens = logit_tokens = batch * workload.tree_size
        positions = float(workload.tree_size)
    else:
        tokens = logit_tokens = batch * 1.0
        positions = 1.0
    if model.max_position_embeddings is not None:
        positions = _minimum(positions, float(model.max_position_embeddings))
    experts, per_token = model.num_experts, model.experts_per_token
    r_kv_, d_rope_ = float(model.kv_lora_rank or 0), float(model.qk_rope_head_dim)
    return {
        "b": batch, "s": seq, "T": tokens, "h": float(model.hidden_size), "d": float(model.head_dim),
        "H·d": heads * model.head_dim, "Hkv·d": kv_heads * model.head_dim,
        "f": model.intermediate_size / p, "V": model.vocab_size / p,
        "f_e": model.expert_intermediate_size / p,
        "f_s": (model.shared_expert_intermediate_size or model.num_shared_experts * model.expert_intermediate_size) / p,
        "s_kv": kv_len, "n_scores": computed, "n_scores_full": full, "n_scores_stored": stored,
        "s_kv_w": kv_len_w, "n_scores_w": computed_w, "n_scores_full_w": full_w, "n_scores_stored_w": stored_w,
        "T_logits": logit_tokens, "min(T,V)": _minimum(tokens, model.vocab_size / p), "s_pos": positions,
        "T·k": tokens * per_token, "E": float(experts),
        "E_read": experts * (1 - (1 - per_token / experts) ** tokens),
        "2(p-1)/p": 2 * (p - 1) / p, "K": float(workload.medusa_heads),
        "H": heads, "r_q": float(model.q_lora_rank or 0), "r_kv": r_kv_,
        "d_nope": float(model.qk_nope_head_dim), "d_rope": d_rope_, "d_v": float(model.v_head_dim),
        "d_qk": float(model.qk_nope_head_dim) + d_rope_, "d_c": r_kv_ + d_rope_,
    }


def _span(workload: Workload, phase: str, batch, seq, heads: float, window: int | None) -> tuple:
    """KV positions read per sequence, and the scores computed (causal, and as the full square) and
    stored, for attention whose span the ``window`` caps (None: the whole context)."""
    if phase == "prefill":
        full = stored = batch * heads * seq * seq
        computed = batch * heads * causal_scores_per_head(seq, window) if workload.causal else full
        return seq, computed, full, stored
    n = workload.tree_size if phase == VERIFY else 1
    kv_len = seq - 1 + n
    if window is not None:
        kv_len = _minimum(kv_len, window)
    scores = batch * heads * n * kv_len
    return kv_len, scores, scores, scores


def _minimum(values, cap: float):
    return np.minimum(values, cap) if isinstance(values, np.ndarray) else min(values, cap)


def operator_costs(model: ModelConfig, workload: Workload, phase: str
                   ) -> list[tuple[Operator, dict[str, np.ndarray]]]:
    """FLOPs and bytes per call of every operator in one phase (arrays over the workload grid).

    Each cost dict holds ``flops``, ``flops_full_square`` (attention without the causal
    saving; equal to ``flops`` elsewhere) and one ``<kind>_bytes`` entry per traffic kind.
    """
    env = symbol_values(model, workload, phase)
    env_full = {**env, "n_scores": env["n_scores_full"], "n_scores_w": env["n_scores_full_w"]}
    widths = element_bytes(workload)
    costs = []
    for op in operator_list(model, workload, phase):
        cost = {"flops": np.asarray(op.flops(env), dtype=float),
                "flops_full_square": np.asarray(op.flops(env_full), dtype=float)}
        for kind in TRAFFIC_BITS:
            elements = op.traffic[kind](env) if kind in op.traffic else 0.0
            cost[f"{kind}_bytes"] = np.asarray(elements * widths[op.width(kind)], dtype=float)
        costs.append((op, cost))
    return costs

