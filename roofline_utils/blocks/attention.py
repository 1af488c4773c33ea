"""Grouped-query attention (full, sliding-window, with sinks): projections, RoPE, the QK^T / softmax / PV
kernels under either IO model, and the causal score count."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from ..expr import Expr
from ..models import ModelConfig
from ..workload import Workload
from ..expr import ZERO
from .core import (ATTN, OTHER, QKV, Kernel, Operator, H, Hd, Hkvd, T, _traffic, b, d, h, linear, n_scores,
                   n_scores_c, n_scores_stored, n_scores_stored_c, n_scores_stored_w, n_scores_w, rms_norm, s_kv,
                   s_kv_c, s_kv_w)

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
# Llama 4's chunked attention: the current chunk's positions (s_kv_c), the scores of a block-diagonal causal mask
GQA_CHUNKED = AttentionShape(k=b * s_kv_c * Hkvd, v=b * s_kv_c * Hkvd, scores=n_scores_c, stored=n_scores_stored_c,
                             kernel_dims={**GQA.kernel_dims, "s_kv": s_kv_c})



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



def gqa_attention(model: ModelConfig, w: Workload) -> list[Operator]:
    """Projections, RoPE and attention of grouped-query attention, and the output projection.

    Phi-3's checkpoint fuses q/k/v into one qkv_proj GEMM: the same FLOPs and weights, the input
    read once instead of three times. Qwen3 and Gemma 3 normalise each query and key head (an
    RMSNorm over d, its gains d wide for q and for k). A model whose sliding window covers only
    some layers (Gemma 2/3) runs its attention twice over: ``local_`` operators with the
    window in its local layers, the plain ones over the whole context in its global layers.
    """
    bias = model.attention_bias
    gate = 2 if model.attn_output_gate else 1  # Qwen3-Next: q_proj also produces each query element's gate
    if model.fused_projections:
        projections = [linear("qkv_proj", QKV, h, Hd + 2 * Hkvd, bias=bias,
                              writes={"act_write": T * Hd, "kv_write": 2 * T * Hkvd})]
    else:
        projections = [linear("q_proj", QKV, h, gate * Hd, bias=bias),
                       linear("k_proj", QKV, h, Hkvd, bias=bias, out="kv_write"),
                       linear("v_proj", QKV, h, Hkvd, bias=bias, out="kv_write")]
    if model.qk_norm:  # per head: one d-wide gain for q and one for k; whole-width (OLMo 2): H·d and Hkv·d
        projections.append(rms_norm("qk_norm", w.norm_flops_per_element, width=Hd + Hkvd,
                                    gains=2 * d if model.qk_norm_per_head else Hd + Hkvd))
    mixed = 0 < model.num_sliding_layers < model.num_hidden_layers
    chunked = model.num_chunked_layers > 0  # Llama 4: chunked RoPE layers, global NoPE ones
    kernels = attention(w.attention_io, w.softmax_flops_per_element, layers="global" if mixed or chunked else "all")
    if mixed:
        kernels = attention(w.attention_io, w.softmax_flops_per_element, GQA_LOCAL, "local_", "local") + kernels
    if chunked:
        kernels = [*attention(w.attention_io, w.softmax_flops_per_element, GQA_CHUNKED, "chunked_", "chunked"),
                   *(kernels if model.layer_count("global") else [])]
    if model.l2_qk_norm:  # Llama4TextL2Norm on each q and k head of the RoPE layers: RMSNorm's count, no gains
        projections.append(rms_norm("qk_norm", w.norm_flops_per_element, width=Hd + Hkvd, gains=ZERO,
                                    layers="chunked"))
    sinks = [Operator("attn_sinks", OTHER, w.softmax_flops_per_element * T * H, {"weight": H}, layers="all",
                      note=f"attention sinks (gpt-oss): one learned logit per head joins each query row's softmax and "
                           f"its probability is dropped, {w.softmax_flops_per_element:g} FLOPs per row and head (one "
                           "more softmax entry); reads the H logits, the rows stay with the attention kernel")]
    rope = [Operator("rope", OTHER, w.rope_flops_per_element * T * (Hd + Hkvd),
                     {"act_read": T * (Hd + Hkvd), "act_write": T * (Hd + Hkvd)}, "chunked" if chunked else "all",
                     note=f"rotary embedding on q and k, {w.rope_flops_per_element:g} FLOPs per element "
                          "(x·cos + rotate(x)·sin), one read and one write" + (" (Llama 4: its RoPE layers, the "
                                                                               "chunked ones)" if chunked else ""))]
    temperature = [Operator("attn_temperature", OTHER, T * Hd, {"act_read": T * Hd, "act_write": T * Hd}, "global",
                            note="attention temperature tuning (Llama 4's NoPE layers): each query element times "
                                 "log1p(floor((pos + 1) / floor_scale))·attn_scale + 1, one multiply per element "
                                 "(the factor, once per token, left out)")]
    return [
        *projections,
        *(rope if model.position_embedding == "rope" else []),  # GPT-2 adds learned positions to the embedding
        *(temperature if model.attn_temperature_tuning and model.layer_count("global") else []),
        *kernels,
        *(sinks if model.attention_sinks else []),
        *([Operator("attn_gate", OTHER, 5 * T * Hd, {"act_read": 2 * T * Hd, "act_write": T * Hd},
                    note="gated attention (Qwen3-Next): the output times sigmoid of the gate q_proj produced, "
                         "5 FLOPs per element (sigmoid's 4 and the multiply)")] if model.attn_output_gate else []),
        linear("o_proj", OTHER, Hd, h, bias=model.o_proj_bias),
    ]



def chunked_scores_per_head(seq_len, chunk: int):
    """Scores a causal kernel computes for one sequence and one head in prefill under chunked attention (Llama 4):
    each full chunk of c a triangle c·(c+1)/2, the last partial chunk of r = s mod c another, r·(r+1)/2; k = s // c
    full chunks. s = 10, c = 4: 2·10 + 3 = 23 (causal without chunks: 55)."""
    full, rest = np.floor_divide(seq_len, chunk), np.mod(seq_len, chunk)
    scores = full * chunk * (chunk + 1) / 2 + rest * (rest + 1) / 2
    return scores if isinstance(seq_len, np.ndarray) else float(scores)


def chunk_positions(kv_len, chunk: int):
    """Positions of the current chunk a token at cache length ``kv_len`` (itself counted) reads: ((s-1) mod c) + 1,
    a sawtooth from 1 to c. s = 8192, c = 8192: 8192; s = 8193: 1."""
    positions = np.mod(kv_len - 1, chunk) + 1
    return positions if isinstance(kv_len, np.ndarray) else float(positions)


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
