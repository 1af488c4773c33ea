"""Gated DeltaNet (Yang et al. 2024, arXiv:2412.06464), the linear_attention layers of Qwen3-Next and Qwen3.5
(transformers' Qwen3NextGatedDeltaNet): a recurrent state per value head instead of a KV cache.

Per layer, with K = Hk_l·dk_l (query and key width) and V = Hv_l·dv_l (value width):
  in_proj_qkvz   h → 2·K + 2·V: q, k, v and the output gate z (Qwen3.5 holds it as in_proj_qkv and in_proj_z)
  in_proj_ba     h → 2·Hv_l: β (the write strength) and a (the decay's input) per value head (Qwen3.5:
                 in_proj_b and in_proj_a)
  conv1d         causal depthwise convolution of kernel w_conv over the 2·K + V channels of q, k and v, then
                 SiLU; its state, the last w_conv - 1 inputs per channel, is kept per sequence (16 bits)
  gdn_gates      β = sigmoid(b), g = -exp(A_log)·softplus(a + dt_bias): 9 FLOPs per value head and token
  delta_rule     the gated delta rule over each value head's dk_l × dv_l state S, kept in fp32
                 (workload.RECURRENT_STATE_BITS), read once and written once per step and sequence
  gated_norm     RMSNorm over each dv_l-wide head output, times SiLU(z)
  out_proj       V → h
No KV cache: a decode step reads the same state whatever the context length.

The delta rule's FLOPs, per token and value head, chunked (the FLA kernel's chunk_gated_delta_rule) over
chunks of c tokens:  6·dk·dv (Q·S, K·S and the state update Kᵀ·U, 2·dk·dv each) + dk·dv/c (the state's
decay, once per chunk) + 2·c·(2·dk + dv) (the intra-chunk Q·Kᵀ and K·Kᵀ, 2·c·dk each, and their products with
V, 2·c·dv), + 6·dk for the L2 norms of q and k (3 FLOPs per element). Decode is the recurrent step, c = 1:
7·dk·dv (decay, retrieval Sᵀk, update, output Sᵀq) + 4·dk + 2·dv. The chunk's triangular solve (c²/3 per
token) is left out: at c = 64 under 2% of the total for dk = dv = 128.
"""
from __future__ import annotations

from ..models import ModelConfig
from ..workload import Workload
from .core import (CONV, OTHER, QKV, STATE, Hk_l, Hv_l, Operator, T, b, b_prev, c_chunk, dk_l, dv_l, h,
                   linear, w_conv, w_state)




def short_conv(name: str, channels, bias: bool) -> Operator:
    """A causal depthwise convolution of kernel w_conv over ``channels`` then SiLU: 2·w_conv FLOPs per element
    (a multiply-add per tap, + 1 with a bias) and SiLU's 4; reads the w_conv·channels weights, its input and the
    (w_conv - 1)·channels state it carries per sequence (none in prefill), writes its output and the new state."""
    per_element = 2 * w_conv + 4 + (1 if bias else 0)
    state = w_state * channels
    return Operator(name, OTHER, per_element * T * channels,
                    {"weight": w_conv * channels + (channels if bias else 0), "act_read": T * channels,
                     "act_write": T * channels, "kv_read": b_prev * state, "kv_write": b * state},
                    note="causal depthwise convolution then SiLU; its state, the last w_conv - 1 inputs per channel, "
                         "read (decode) and written once per sequence", precision=CONV)


def gated_deltanet(model: ModelConfig, w: Workload) -> list[Operator]:
    """The operators of one Gated DeltaNet layer (see the module's docstring)."""
    K, V = Hk_l * dk_l, Hv_l * dv_l
    state = Hv_l * dk_l * dv_l
    rule = T * Hv_l * (6 * dk_l * dv_l + dk_l * dv_l / c_chunk + 2 * c_chunk * (2 * dk_l + dv_l) + 6 * dk_l)
    norm = w.norm_flops_per_element
    return [
        linear("in_proj_qkvz", QKV, h, 2 * K + 2 * V),
        linear("in_proj_ba", QKV, h, 2 * Hv_l),
        short_conv("conv1d", 2 * K + V, bias=False),
        Operator("gdn_gates", OTHER, 9 * T * Hv_l, {"weight": 2 * Hv_l, "act_read": 2 * T * Hv_l,
                                                   "act_write": 2 * T * Hv_l},
                 note="β = sigmoid(b) (4 FLOPs) and g = -exp(A_log)·softplus(a + dt_bias) (5) per value head; "
                      "reads A_log and dt_bias"),
        Operator("delta_rule", OTHER, rule,  # not qk/pv: the chart keeps that group for attention
                 {"act_read": T * (2 * K + V) + 2 * T * Hv_l, "act_write": T * V,
                  "kv_read": b_prev * state, "kv_write": b * state},
                 note="gated delta rule, chunked in prefill (c-token chunks), recurrent in decode: per token and "
                      "value head 6·dk·dv + dk·dv/c + 2·c·(2·dk + dv) + 6·dk FLOPs; the fp32 dk × dv state of each "
                      "value head read (decode) and written once per sequence", precision=STATE),
        Operator("gated_norm", OTHER, (norm + 5) * T * V, {"weight": dv_l, "act_read": 2 * T * V, "act_write": T * V},
                 note=f"RMSNorm over each dv-wide head ({norm:g} FLOPs per element) times SiLU(z) (5: negate, exp, "
                      "add, divide, multiply)"),
        linear("out_proj", OTHER, V, h),
    ]
