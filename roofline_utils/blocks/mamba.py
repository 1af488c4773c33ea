"""Mamba-2 (Dao & Gu 2024, arXiv:2405.21060), the M layers of Nemotron-H (transformers' NemotronHMamba2Mixer):
a selective state space layer whose recurrent state takes the place of a KV cache.

Per layer, with D = H_m·P_m (the inner width, mamba_num_heads · mamba_head_dim) and G_m groups sharing a
B and a C of N_m (ssm_state_size) each:
  in_proj    h → 2·D + 2·G_m·N_m + H_m: the gate z, x, B, C and one time step per head
  conv1d     causal depthwise convolution of kernel w_conv (conv_kernel) over the D + 2·G_m·N_m channels of
             x, B and C (with a bias), then SiLU; its state, (w_conv - 1) × those channels, kept per sequence
  ssm_scan   the state space scan over each head's P_m × N_m state, fp32 (workload.RECURRENT_STATE_BITS),
             read once and written once per step and sequence; reads A_log, dt_bias and D (H_m each)
  gated_norm y·SiLU(z), then an RMSNorm in G_m groups (a D-wide gain)
  out_proj   D → h
No KV cache: a decode step reads the same state whatever the context length.

The scan's FLOPs, per token, chunked (mamba_chunk_scan_combined) over chunks of c tokens: per head 4·N·P (the
output C·S and the state update B·xᵀ, 2·N·P each) + N·P/c (the state's decay, once per chunk) + 2·c·P (the
intra-chunk scores times x) + 2·P (the D skip) + 6 (softplus of the time step and its exponent); per group
2·c·N (the intra-chunk C·Bᵀ). Decode is the recurrent step, c = 1.
"""
from __future__ import annotations

from ..models import ModelConfig
from ..workload import Workload
from .core import OTHER, QKV, STATE, G_m, H_m, N_m, Operator, P_m, T, b, b_prev, c_chunk, h, linear
from .deltanet import short_conv


def mamba2(model: ModelConfig, w: Workload) -> list[Operator]:
    """The operators of one Mamba-2 layer (see the module's docstring)."""
    D = H_m * P_m
    state = H_m * P_m * N_m
    scan = T * (H_m * (4 * N_m * P_m + N_m * P_m / c_chunk + 2 * c_chunk * P_m + 2 * P_m + 6)
                + G_m * 2 * c_chunk * N_m)
    norm = w.norm_flops_per_element
    return [
        linear("in_proj", QKV, h, 2 * D + 2 * G_m * N_m + H_m, bias=model.mlp_bias),
        short_conv("conv1d", D + 2 * G_m * N_m, bias=model.mamba_conv_bias),
        Operator("ssm_scan", OTHER, scan,  # not qk/pv: the chart keeps that group for attention
                 {"weight": 3 * H_m, "act_read": T * (D + 2 * G_m * N_m + H_m), "act_write": T * D,
                  "kv_read": b_prev * state, "kv_write": b * state},
                 note="selective scan (SSD), chunked in prefill (c-token chunks), recurrent in decode: per token "
                      "and head 4·N·P + N·P/c + 2·c·P + 2·P + 6 FLOPs, per group 2·c·N; the fp32 P × N state of "
                      "each head read (decode) and written once per sequence", precision=STATE),
        Operator("gated_norm", OTHER, (norm + 5) * T * D, {"weight": D, "act_read": 2 * T * D, "act_write": T * D},
                 note=f"y·SiLU(z) (5 FLOPs per element) then RMSNorm in n_groups groups ({norm:g})"),
        linear("out_proj", OTHER, D, h, bias=model.mlp_bias),
    ]
