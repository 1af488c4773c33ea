"""The pieces every block is made of: the Operator and Kernel records, the symbols their expressions use,
the traffic kinds and the width each moves at, and the generic operators (linear layers, norms, residual adds).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from ..expr import ONE, SUM_PRECEDENCE, ZERO, Expr, Sym
from ..models import ModelConfig
from ..workload import Workload

PHASES = ("prefill", "decode")  # the two phases of every table and chart
VERIFY = "verify"  # speculative decoding's step: n candidate tokens per sequence checked at once
ALL_PHASES = (*PHASES, VERIFY)
PHASE_LABELS = {"prefill": "init", "decode": "ar", VERIFY: "verify"}  # the original figure's legend words

QKV, MLP, ATTN, OTHER = "qkv mlp", "up/gate/down", "qk/pv", "other"
GROUPS = (QKV, MLP, ATTN)

# An operator's precision says which width each of its traffic kinds moves at (workload.element_bytes):
# the linear layers are "quantised" (weights at weight_bits with their group scales, activations at
# act_bits); everything else is "full", as serving stacks run it: the residual stream, norms, RoPE,
# attention, the activation function and the all-reduce at 16 bits or more, the norm gains, the MoE
# router and (unless quantize_head) embed_tokens and lm_head too. At 16 bits the two are the same.
QUANTISED, FULL = "quantised", "full"
# Three more precisions, FULL but for what their cache-like traffic (kv_read, kv_write) holds:
#   STATE  a recurrent state (Gated DeltaNet, Mamba-2) at state_bits (workload.RECURRENT_STATE_BITS, fp32);
#   CONV   a short convolution's state, kept in the model's 16-bit format (stream_bits);
#   INDEX  DeepSeek sparse attention's indexer cache: FP8 keys with an fp32 scale per 128 (index_bits).
STATE, CONV, INDEX = "state", "conv", "index"
WIDTHS = {
    QUANTISED: {"weight": "weight_bits", "act_read": "act_bits", "act_write": "act_bits",
                "kv_read": "kv_bits", "kv_write": "kv_bits", "link": "act_bits"},
    FULL: {"weight": "full_weight_bits", "act_read": "stream_bits", "act_write": "stream_bits",
           "kv_read": "kv_bits", "kv_write": "kv_bits", "link": "stream_bits"},
}
WIDTHS[STATE] = {**WIDTHS[FULL], "kv_read": "state_bits", "kv_write": "state_bits"}
WIDTHS[CONV] = {**WIDTHS[FULL], "kv_read": "stream_bits", "kv_write": "stream_bits"}
WIDTHS[INDEX] = {**WIDTHS[FULL], "kv_read": "index_bits", "kv_write": "index_bits"}
FIXED_STATE = (STATE, CONV)  # precisions whose kv traffic is a per-sequence state, whatever the length
TRAFFIC_BITS = WIDTHS[QUANTISED]  # the traffic kinds, each with the width a quantised operator moves it at
WIDTH_FIELDS = ("weight_bits", "full_weight_bits", "act_bits", "stream_bits", "kv_bits", "state_bits", "index_bits")
WIDTH_SYMBOLS = {"weight_bits": "w", "full_weight_bits": "w_{16}", "act_bits": "a", "stream_bits": "a_{16}",
                 "kv_bits": "kv", "state_bits": "st", "index_bits": "ix"}  # as the formulas write each width's bytes
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
s_kv_c, n_scores_c, n_scores_stored_c = Sym("s_kv_c"), Sym("n_scores_c"), Sym("n_scores_stored_c")
H, r_q, r_kv = Sym("H"), Sym("r_q"), Sym("r_kv")
d_nope, d_rope, d_v, d_qk, d_c = Sym("d_nope"), Sym("d_rope"), Sym("d_v"), Sym("d_qk"), Sym("d_c")
# DeepSeek sparse attention (DSA): the indexer and the top-k attention
H_i, d_i = Sym("H_i"), Sym("d_i")
n_pos, n_sel = Sym("n_pos"), Sym("n_sel")
s_kv_top, n_scores_top, n_scores_stored_top = Sym("s_kv_top"), Sym("n_scores_top"), Sym("n_scores_stored_top")
# Gated DeltaNet and Mamba-2: heads and widths of the recurrent layers, the chunk, the short convolution
Hk_l, Hv_l, dk_l, dv_l = Sym("Hk_l"), Sym("Hv_l"), Sym("dk_l"), Sym("dv_l")
H_m, P_m, N_m, G_m = Sym("H_m"), Sym("P_m"), Sym("N_m"), Sym("G_m")
L_moe = Sym("l")  # Nemotron 3 Super's latent MoE width
w_conv, w_state, c_chunk, b_prev = Sym("w_conv"), Sym("w_state"), Sym("c"), Sym("b_prev")

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
    "s_kv_c": "KV positions a chunked-attention layer reads (Llama 4): the current chunk's, ((s-1) mod c_a) + 1 "
              "in decode (a sawtooth), c_a = attention_chunk_size; s in prefill",
    "n_scores_c": "attention scores a chunked layer computes: b·H·(k·c_a(c_a+1)/2 + r(r+1)/2) causal prefill, "
                  "k = s // c_a, r = s mod c_a; b·H·s_kv_c decode",
    "n_scores_stored_c": "scores a chunked layer materialises unfused (n_scores_stored with s_kv_c)",
    "H": "query heads (per device under tensor parallelism)",
    "r_q": "MLA: q_lora_rank, the query's compressed width",
    "r_kv": "MLA: kv_lora_rank, the latent K/V width cached per token",
    "d_nope": "MLA: qk_nope_head_dim, each head's query/key width without RoPE",
    "d_rope": "MLA: qk_rope_head_dim, the rotary part (one key of this width shared by all heads)",
    "d_v": "MLA: v_head_dim, each head's value width",
    "d_qk": "MLA: d_nope + d_rope, each head's query/key width",
    "d_c": "MLA: r_kv + d_rope, the elements cached per token and layer (the latent and the rotary key)",
    "H_i": "DSA: index_n_heads, the indexer's heads (replicated under tensor parallelism)",
    "d_i": "DSA: index_head_dim, each indexer head's query/key width (one key per token, shared by the heads)",
    "n_pos": "DSA: cached positions the indexer scores, over the batch's query tokens: b·s·(s+1)/2 causal "
             "prefill, b·s_kv decode, b·n·s_kv verify",
    "n_sel": "DSA: positions the top-k selects, over the batch's query tokens (each query keeps at most index_topk)",
    "s_kv_top": "DSA: positions each query attends to, min(s_kv, index_topk)",
    "n_scores_top": "DSA: attention scores over the selected positions (n_scores with s_kv_top; causal prefill: "
                    "query i sees min(i, index_topk))",
    "n_scores_stored_top": "DSA: scores unfused attention materialises over the selected positions",
    "Hk_l": "Gated DeltaNet: linear_num_key_heads, the query/key heads (per device under tensor parallelism)",
    "Hv_l": "Gated DeltaNet: linear_num_value_heads, the value heads, each with its own state (per device)",
    "dk_l": "Gated DeltaNet: linear_key_head_dim",
    "dv_l": "Gated DeltaNet: linear_value_head_dim",
    "H_m": "Mamba-2: mamba_num_heads (per device under tensor parallelism)",
    "P_m": "Mamba-2: mamba_head_dim, each head's channels",
    "N_m": "Mamba-2: ssm_state_size, the state's width per channel",
    "G_m": "Mamba-2: n_groups, the groups sharing one B and one C (per device)",
    "w_conv": "the short causal convolution's kernel (linear_conv_kernel_dim, conv_kernel)",
    "l": "latent MoE: moe_latent_size, the width the experts read and write (Nemotron 3 Super)",
    "w_state": "the inputs the short convolution keeps per channel and sequence: w_conv - 1",
    "c": "chunk of the chunked scan: the model's chunk size, or the prompt when shorter (prefill); 1 in decode and "
         "verify (the recurrent step)",
    "b_prev": "sequences that bring a recurrent state in: 0 in prefill (a prompt starts from zeros), b in decode "
              "and verify",
}
VERIFY_ONLY_SYMBOLS = frozenset({"K"})  # used by the verify phase's operators alone
# Symbols fixed by the model and the workload's switches: the same at every batch x length grid point.
MODEL_SYMBOLS = frozenset({"h", "d", "H·d", "Hkv·d", "f", "f_e", "f_s", "V", "E", "2(p-1)/p", "K",
                           "H", "r_q", "r_kv", "d_nope", "d_rope", "d_v", "d_qk", "d_c", "H_i", "d_i",
                           "Hk_l", "Hv_l", "dk_l", "dv_l", "H_m", "P_m", "N_m", "G_m", "w_conv", "w_state", "l"})
# Which decoder layers run an operator (ModelConfig.layer_count): every layer; the dense or the MoE
# layers of a model that mixes them; the sliding-window (local) or the full-context (global) layers;
# "chunked": Llama 4's chunked-attention (RoPE) layers, beside its "global" (NoPE) ones;
# "once": not a decoder-layer operator (embedding, final norm, lm_head, Medusa heads). Hybrid models: the
# Gated DeltaNet ("linear") or Mamba-2 ("mamba") layers, and those with softmax attention ("attn").
LAYER_KINDS = ("all", "dense", "moe", "local", "global", "once", "linear", "mamba", "attn", "chunked")


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



def _traffic(*parts: tuple[str, Expr]) -> dict[str, Expr]:
    """Traffic by kind, summing the parts of one kind: MLA's prefill reads Q and its fresh K (or the
    scores and its V) both as activations, and neither may replace the other."""
    traffic: dict[str, Expr] = {}
    for kind, elements in parts:
        traffic[kind] = traffic[kind] + elements if kind in traffic else elements
    return traffic
