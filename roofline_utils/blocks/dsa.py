"""DeepSeek sparse attention (DSA: DeepSeek-V3.2, GLM-5): a lightning indexer scores every cached position
for each query, and MLA then attends to the top index_topk of them only.

The indexer (DeepSeek-V3.2-Exp's inference/model.py, class Indexer), per layer:
  index_q_proj        wq_b: the query's compressed q_lora_rank-wide vector → H_i·d_i, every index head's query
  index_k_proj        wk: h → d_i, one index key per token that all index heads share
  index_k_norm        a LayerNorm over the d_i-wide key (a gain and a bias)
  index_weights_proj  weights_proj: h → H_i, one weight per index head and token (kept at 16 bits)
  index_rope          rotary embedding on the d_rope-wide rotary part of each index query and of the key
  index_k_cache       the key quantised to FP8 with one fp32 scale per 128 elements and written to the
                      indexer cache: 132 bytes per token and layer at d_i = 128 (workload.INDEX_KEY_BITS)
  index_scores        per query, per cached position: H_i dot products of d_i, 2·H_i·d_i FLOPs, then ReLU,
                      the head weight and the sum over heads (3·H_i); reads every cached index key once
  index_topk          one comparison per score to keep the top index_topk positions; writes their indices
The Hadamard rotation of q and k before the FP8 cast (d·log2 d adds per vector) is left out: under 1% of
index_scores' FLOPs at any context longer than a few hundred tokens.
"""
from __future__ import annotations

from ..workload import Workload
from .core import (ATTN, FULL, INDEX, OTHER, QKV, H_i, Operator, T, b, d_i, d_rope, h, layer_norm, linear, n_pos,
                   n_sel, r_q, s_kv)


def indexer(w: Workload) -> list[Operator]:
    """The lightning indexer's operators for one layer (see the module's docstring)."""
    rope_elements = T * H_i * d_rope + T * d_rope
    return [
        linear("index_q_proj", QKV, r_q, H_i * d_i),
        linear("index_k_proj", QKV, h, d_i),
        layer_norm("index_k_norm", w.norm_flops_per_element, width=d_i),
        linear("index_weights_proj", OTHER, h, H_i, precision=FULL),
        Operator("index_rope", OTHER, w.rope_flops_per_element * rope_elements,
                 {"act_read": rope_elements, "act_write": rope_elements},
                 note=f"rotary embedding on the rotary part of each index query and of the index key, "
                      f"{w.rope_flops_per_element:g} FLOPs per element"),
        Operator("index_k_cache", OTHER, 3 * T * d_i, {"act_read": T * d_i, "kv_write": T * d_i},
                 note="the index key cast to FP8 with one fp32 scale per 128 elements (absolute value, block "
                      "maximum, scale: 3 FLOPs per element), written to the indexer cache", precision=INDEX),
        Operator("index_scores", ATTN, 2 * H_i * d_i * n_pos + 3 * H_i * n_pos,
                 {"act_read": T * H_i * d_i + T * H_i, "kv_read": b * s_kv * d_i, "act_write": n_pos},
                 note="every cached index key scored by every index head: 2·H_i·d_i FLOPs per position and query, "
                      "then ReLU, the head's weight and the sum over heads (3·H_i); each sequence's index keys "
                      "read once from the indexer cache", precision=INDEX),
        Operator("index_topk", OTHER, n_pos, {"act_read": n_pos, "act_write": n_sel},
                 note="top-k selection over each query's index scores, one comparison per score; writes the "
                      "selected positions"),
    ]
