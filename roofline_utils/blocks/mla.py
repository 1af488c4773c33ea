"""Multi-head latent attention (DeepSeek-V2/V3, Kimi K2): the latent K/V cache, naive or absorbed."""
from __future__ import annotations

from ..expr import ZERO
from ..models import ModelConfig
from ..workload import Workload
from .attention import AttentionShape, attention
from .core import (OTHER, QKV, QUANTISED, Operator, H, T, b, d_c, d_nope, d_qk, d_rope, d_v, h, linear, n_scores,
                   n_scores_stored, n_scores_stored_top, n_scores_top, r_kv, r_q, rms_norm, s_kv, s_kv_top)
from .dsa import indexer

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
    # DeepSeek sparse attention (DSA): the indexer picks index_topk positions per query, and attention
    # scores and reads those only (a prompt's own K and V, fresh activations in prefill, are read once whole)
    sparse = model.index_topk is not None
    span = s_kv_top if sparse and phase != "prefill" else s_kv
    scores = {"scores": n_scores_top, "stored": n_scores_stored_top} if sparse else \
        {"scores": n_scores, "stored": n_scores_stored}
    dsa = indexer(w) if sparse else []
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
        shape = AttentionShape(qk_width=d_c, pv_width=r_kv, q=T * H * d_c, k=b * span * d_c, v=None
                               if w.attention_io == "fused" else b * span * r_kv, out=T * H * r_kv, **scores)
        return [*query, *latent, *dsa,
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
    shape = AttentionShape(qk_width=d_qk, pv_width=d_v, q=T * H * d_qk, k=b * span * H * d_qk,
                           v=b * span * H * d_v, out=T * H * d_v, kv_kind=kind, **scores)
    return [*query, *latent, *dsa,
            linear("kv_b_proj", QKV, r_kv, H * (d_nope + d_v), out=writes),
            rope,
            *attention(w.attention_io, w.softmax_flops_per_element, shape),
            linear("o_proj", OTHER, H * d_v, h, bias=model.o_proj_bias)]
