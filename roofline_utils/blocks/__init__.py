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

from dataclasses import replace

import numpy as np

from ..errors import RooflineInputError
from ..expr import ZERO
from ..models import ModelConfig
from ..workload import Workload, as_floats, element_bytes
from .attention import (GQA, GQA_CHUNKED, GQA_LOCAL, AttentionShape, attention, causal_scores_per_head,  # noqa: F401
                        chunk_positions, chunked_scores_per_head, gqa_attention)
from .core import *  # noqa: F401,F403
from .core import (FIXED_STATE, FULL, INDEX, OTHER, QUANTISED, TRAFFIC_BITS, VERIFY, WIDTH_FIELDS, ALL_PHASES,
                   Operator, T, T_logits, T_rows, V, _paren, _traffic, h, linear, model_norm, residual_add,
                   s_pos)  # noqa: F401
from .deltanet import gated_deltanet
from .dsa import indexer  # noqa: F401
from .mamba import mamba2
from .medusa import medusa_heads
from .mla import mla_attention
from .mlp import CLAMPED_SWIGLU_EXTRA_FLOPS, mlp, plain_mlp, shared_expert_gate  # noqa: F401
from .parallel import _allreduce, allreduce  # noqa: F401


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
        *sequence_mixers(model, w, phase),
        *_allreduce("attn_allreduce", w.tp),
        *([model_norm(model, "post_attn_norm", w)] if post else []),
        residual_add("attn_add"),
        *([model_norm(model, "mlp_norm", w)] if pre else []),
        *mlp(model, w),
        *_allreduce("mlp_allreduce", w.tp),
        *([model_norm(model, "post_mlp_norm", w)] if post else []),
        residual_add("mlp_add"),
    ]
    if model.parallel_block:  # GPT-J, Falcon: attention and the MLP read one norm's output (Falcon-40B: two norms)
        layer = [model_norm(model, "attn_norm", w), *([model_norm(model, "mlp_norm", w)] if model.parallel_mlp_norm else []),
                 *sequence_mixers(model, w, phase), *mlp(model, w), *_allreduce("attn_allreduce", w.tp),
                 *_allreduce("mlp_allreduce", w.tp), parallel_add()]
    if model.one_block_per_layer:  # Nemotron-H: each layer is one norm, one mixer or MLP, one residual add
        layer = [model_norm(model, "norm", w), *sequence_mixers(model, w, phase), *mlp(model, w),
                 *_allreduce("allreduce", w.tp), residual_add("add")]
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



def parallel_add() -> Operator:
    """x + attn(x') + mlp(x'): GPT-J's and Falcon's one residual add of both branches, 2 adds per element; reads
    the stream and both outputs (3·T·h), writes the sum."""
    return Operator("parallel_add", OTHER, 2 * T * h, {"act_read": 3 * T * h, "act_write": T * h},
                    note="residual add of the parallel attention and MLP outputs to the stream")


def _tagged(ops: list[Operator], layers: str) -> list[Operator]:
    """The operators of one kind of layer in a hybrid model: those that would run in every layer run in
    ``layers`` only (its Gated DeltaNet, Mamba-2 or attention layers)."""
    return [replace(op, layers=layers) if op.layers == "all" else op for op in ops]


def sequence_mixers(model: ModelConfig, w: Workload, phase: str | None) -> list[Operator]:
    """What mixes tokens in each kind of layer: grouped-query attention or MLA (with DeepSeek sparse attention's
    indexer), and in a hybrid model Gated DeltaNet ("linear" layers) or Mamba-2 ("mamba"), each in its own layers."""
    ops: list[Operator] = []
    if model.num_linear_layers:
        ops += _tagged(gated_deltanet(model, w), "linear")
    if model.num_mamba_layers:
        ops += _tagged(mamba2(model, w), "mamba")
    if model.num_attention_layers:
        attention_ops = mla_attention(model, w, phase) if model.mla else gqa_attention(model, w)
        ops += _tagged(attention_ops, "attn") if model.hybrid else attention_ops
    return ops


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
    split = ("num_attention_heads", "intermediate_size", "expert_intermediate_size", "linear_num_key_heads",
             "linear_num_value_heads", "mamba_num_heads")
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
    positions each layer keeps: all of them in global layers, at most the window in local ones, at most one
    chunk in chunked ones (Llama 4).
    """
    env = symbol_values(model, replace(workload, batch=1, seq_len=1), "decode")
    per_position = sum(model.layer_count(op.layers) * op.traffic["kv_write"](env)
                       for op in operator_list(model, workload, "decode")
                       if "kv_write" in op.traffic and op.precision in (QUANTISED, FULL))
    attention_layers = model.num_attention_layers
    per_position /= max(attention_layers, 1)  # the writers run in every attention layer: per layer
    seq = np.asarray(seq_len, dtype=float)
    windowed = seq if model.sliding_window is None else np.minimum(seq, model.sliding_window)
    # Llama 4's chunked layers keep the current chunk only, counted at its fullest over the request: min(s, c)
    # positions (what a server must hold for it; at s the chunk itself holds ((s-1) mod c) + 1)
    chunked = seq if model.attention_chunk_size is None else np.minimum(seq, model.attention_chunk_size)
    return per_position * (model.layer_count("global") * seq + model.num_sliding_layers * windowed
                           + model.num_chunked_layers * chunked)


def index_cache_elements(model: ModelConfig, workload: Workload, seq_len) -> np.ndarray:
    """DeepSeek sparse attention's indexer cache per sequence at ``seq_len`` positions: one d_i-wide key per
    position and layer (what index_k_cache writes), at workload.INDEX_KEY_BITS each. 0 without DSA."""
    env = symbol_values(model, replace(workload, batch=1, seq_len=1), "decode")
    per_position = sum(model.layer_count(op.layers) * op.traffic["kv_write"](env)
                       for op in operator_list(model, workload, "decode")
                       if "kv_write" in op.traffic and op.precision == INDEX)
    return per_position * np.asarray(seq_len, dtype=float)


def state_bytes(model: ModelConfig, workload: Workload) -> float:
    """The recurrent and convolution states one sequence keeps, per device, whatever its length: Gated DeltaNet's
    Hv·dk·dv and Mamba-2's H·P·N per layer at workload.RECURRENT_STATE_BITS, the short convolutions' (w_conv - 1)
    × channels at 16 bits. 0 for a model without such layers.

    Qwen3-Next-80B-A3B: 36 layers · (32·128·128 · 4 B + 3 · 8192 · 2 B) = 36 · 2,146,304 = 77,266,944 B.
    """
    env = symbol_values(model, replace(workload, batch=1, seq_len=1), "decode")
    widths = element_bytes(workload)
    return float(sum(model.layer_count(op.layers) * op.traffic["kv_write"](env) * widths[op.width("kv_write")]
                     for op in operator_list(model, workload, "decode")
                     if "kv_write" in op.traffic and op.precision in FIXED_STATE))


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
    kv_len_c, computed_c, full_c, stored_c = _chunked_span(workload, phase, batch, seq, heads,
                                                           model.attention_chunk_size)
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
    topk = model.index_topk
    kv_len_top, computed_top, _, _ = _span(workload, phase, batch, seq, heads, topk)
    _, computed_all, _, _ = _span(workload, phase, batch, seq, heads, None)
    if phase == "prefill":  # each of the s queries keeps min(s, index_topk) of the keys
        full_top = stored_top = batch * heads * seq * (_minimum(seq, float(topk)) if topk else seq)
        positions_scored = computed_all / heads
        chunk, carried = _minimum(seq, float(model.chunk_size or 1)), batch * 0.0
    else:
        full_top = stored_top = computed_top
        positions_scored = computed_all / heads
        chunk, carried = 1.0, batch
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
        "s_kv_c": kv_len_c, "n_scores_c": computed_c, "n_scores_full_c": full_c, "n_scores_stored_c": stored_c,
        "T_logits": logit_tokens, "min(T,V)": _minimum(tokens, model.vocab_size / p), "s_pos": positions,
        "T·k": tokens * per_token, "E": float(experts),
        "E_read": experts * (1 - (1 - per_token / experts) ** tokens),
        "2(p-1)/p": 2 * (p - 1) / p, "K": float(workload.medusa_heads),
        "H": heads, "r_q": float(model.q_lora_rank or 0), "r_kv": r_kv_,
        "d_nope": float(model.qk_nope_head_dim), "d_rope": d_rope_, "d_v": float(model.v_head_dim),
        "d_qk": float(model.qk_nope_head_dim) + d_rope_, "d_c": r_kv_ + d_rope_,
        "H_i": float(model.index_n_heads), "d_i": float(model.index_head_dim),
        "n_pos": positions_scored, "n_sel": computed_top / heads, "s_kv_top": kv_len_top,
        "n_scores_top": computed_top, "n_scores_full_top": full_top, "n_scores_stored_top": stored_top,
        "Hk_l": model.linear_num_key_heads / p, "Hv_l": model.linear_num_value_heads / p,
        "dk_l": float(model.linear_key_head_dim), "dv_l": float(model.linear_value_head_dim),
        "H_m": model.mamba_num_heads / p, "P_m": float(model.mamba_head_dim), "N_m": float(model.ssm_state_size),
        "G_m": max(model.mamba_n_groups / p, 1.0) if model.mamba_n_groups else 0.0,
        "l": float(model.moe_latent_size or 0), "w_conv": float(model.conv_kernel), "w_state": max(model.conv_kernel - 1.0, 0.0), "c": chunk, "b_prev": carried,
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


def _chunked_span(workload: Workload, phase: str, batch, seq, heads: float, chunk: int | None) -> tuple:
    """Chunked attention's span (Llama 4): in prefill every position is read once and the causal scores are
    each chunk's triangle (chunked_scores_per_head), the full square kept beside them as for a window; in decode
    the token reads its chunk's ((s-1) mod c) + 1 positions; in verify the n candidates read the chunk's
    (s-1) mod c cached positions and the n tree positions (a dense tree kernel, as without chunks)."""
    if chunk is None:
        return _span(workload, phase, batch, seq, heads, None)
    if phase == "prefill":
        full = stored = batch * heads * seq * seq
        computed = batch * heads * chunked_scores_per_head(seq, chunk) if workload.causal else full
        return seq, computed, full, stored
    n = workload.tree_size if phase == VERIFY else 1
    kv_len = chunk_positions(seq, chunk) - 1 + n
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
    env_full = {**env, "n_scores": env["n_scores_full"], "n_scores_w": env["n_scores_full_w"],
                "n_scores_c": env["n_scores_full_c"],
                "n_scores_top": env["n_scores_full_top"]}
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
