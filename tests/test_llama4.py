"""Llama 4 Scout (Llama4ForConditionalGeneration's text model), checked against numbers worked out by hand.

The same rules as test_architectures.py: every expected value is a closed form on the config's numbers, never a
value copied from the package's output; 16 bits (2 bytes per element); costs per call of an operator.
Scout: 48 layers, h 5120, 40 query heads and 8 K/V heads of 128, every 4th layer (3, 7, ..., 47) a global NoPE
layer, the other 36 RoPE layers with chunked attention over chunks of 8,192; every layer MoE, 16 experts of 8,192
with one per token, and a shared expert as wide.
"""
from __future__ import annotations

import json
from importlib import resources

import numpy as np
import pytest

import roofline_utils as rl
from roofline_utils.blocks.attention import chunk_positions, chunked_scores_per_head
from roofline_utils.errors import RooflineInputError
from roofline_utils.memory import kv_cache_bytes
from roofline_utils.models import model_from_dict, preset

DEVICE = "h200-sxm"
BYTES = 2
H, LAYERS, HEADS, KV, D, E, F, V, C = 5120, 48, 40, 8, 128, 16, 8192, 202048, 8192
GLOBAL, CHUNKED = 12, 36


def scout_config() -> dict:
    return json.loads(resources.files("roofline_utils").joinpath("data/models/llama-4-scout.json").read_text())


def table(model, phase: str, batch: int, seq_len: int, io: str = "unfused"):
    workload = rl.Workload(batch=batch, seq_len=seq_len, attention_io=io)
    return rl.operator_table(model, DEVICE, workload, phases=(phase,)).set_index("operator")


def test_scout_layers_read_from_no_rope_layers_and_the_moe_step():
    m = preset("llama-4-scout")
    assert (m.layer_count("chunked"), m.layer_count("global"), m.attention_chunk_size) == (CHUNKED, GLOBAL, C)
    assert (m.layer_count("moe"), m.layer_count("dense"), m.num_experts, m.experts_per_token) == (LAYERS, 0, E, 1)
    assert (m.expert_intermediate_size, m.shared_expert_intermediate_size, m.num_shared_experts) == (F, F, 1)
    assert m.l2_qk_norm and m.attn_temperature_tuning and not m.qk_norm and not m.tie_word_embeddings
    assert any("vision tower" in n for n in m.notes) and any("temperature" in n for n in m.notes)


def scout_parameters(active: bool) -> int:
    embed = V * H  # embed_tokens; lm_head as large (not tied)
    attention = H * HEADS * D + 2 * H * KV * D + HEADS * D * H  # q, k, v, o; the L2 qk norm has no weights
    router = H * E
    experts = (1 if active else E) * 3 * H * F  # each expert's gate_up_proj [h, 2f] and down_proj [f, h]
    shared = 3 * H * F
    norms = 2 * H  # input_layernorm, post_attention_layernorm
    return 2 * embed + LAYERS * (attention + router + experts + shared + norms) + H  # + the final norm


def test_scout_parameters_by_hand_and_against_the_card():
    m = preset("llama-4-scout")
    # by hand: 2·202048·5120 = 2,068,971,520; per layer 62,914,560 (q/k/v/o) + 81,920 (router)
    # + 16·3·5120·8192 = 2,013,265,920 (experts) + 125,829,120 (shared) + 10,240 (norms) = 2,202,101,760
    assert scout_parameters(False) == 2_068_971_520 + 48 * 2_202_101_760 + 5120 == 107_769_861_120
    # activated: one expert, 62,914,560 + 81,920 + 2·125,829,120 + 10,240 = 314,664,960 per layer
    assert scout_parameters(True) == 2_068_971_520 + 48 * 314_664_960 + 5120 == 17_172_894_720
    assert m.parameter_count() == scout_parameters(False)
    assert m.parameter_count(active=True) == scout_parameters(True)
    # the card (meta-llama/Llama-4-Scout-17B-16E): 109B total with the vision tower, which is left out here
    # (the text model alone is about 107.8B), and 17B activated
    assert round(m.parameter_count() / 1e9, 1) == 107.8 and m.parameter_count() < 109e9
    assert round(m.parameter_count(active=True) / 1e9) == 17


def test_scout_kv_bytes_per_token_by_hand():
    m = preset("llama-4-scout")
    per_layer = 2 * KV * D * BYTES  # K and V, 8 heads of 128, 2 bytes: 4,096 B per token and layer
    assert per_layer == 4096
    # up to one chunk every layer keeps every token: 48 · 4,096 = 196,608 B per token
    assert float(kv_cache_bytes(m, 1, 1, 16)) == LAYERS * per_layer == 196_608
    assert float(kv_cache_bytes(m, 1, 4096, 16)) == 4096 * 196_608
    # past a chunk the 36 chunked layers hold one chunk at most (counted at its fullest, min(s, c)), the 12
    # global layers every position: at 16,384, 12·16,384·4,096 + 36·8,192·4,096 = 805,306,368 + 1,207,959,552
    assert float(kv_cache_bytes(m, 1, 16384, 16)) == GLOBAL * 16384 * per_layer + CHUNKED * C * per_layer \
        == 2_013_265_920
    assert float(kv_cache_bytes(m, 3, 100_000, 8)) == 3 * (GLOBAL * 100_000 + CHUNKED * C) * 2 * KV * D


def test_chunked_scores_and_positions_by_hand():
    # s = 10, c = 4: chunks of 4, 4, 2 → 10 + 10 + 3 = 23 causal scores per head
    assert chunked_scores_per_head(10, 4) == 23
    assert chunked_scores_per_head(8, 4) == 20 and chunked_scores_per_head(3, 4) == 6
    assert list(chunked_scores_per_head(np.array([4.0, 5.0]), 4)) == [10, 11]
    # decode: the token at cache length s reads ((s-1) mod c) + 1 positions, a sawtooth
    assert [chunk_positions(s, 4) for s in (1, 4, 5, 8, 9)] == [1, 4, 1, 4, 1]
    assert chunk_positions(8192, C) == 8192 and chunk_positions(8193, C) == 1 and chunk_positions(12000, C) == 3808


@pytest.mark.parametrize("s", [4096, 8192, 8193, 20000])
def test_scout_decode_reads_the_sawtooth_in_chunked_layers(s):
    m = preset("llama-4-scout")
    t = table(m, "decode", 2, s)
    in_chunk = (s - 1) % C + 1
    assert t.loc["chunked_qk_matmul", "kv_read_bytes"] == 2 * in_chunk * KV * D * BYTES  # K, b = 2
    assert t.loc["chunked_pv_matmul", "kv_read_bytes"] == 2 * in_chunk * KV * D * BYTES  # V
    assert t.loc["chunked_qk_matmul", "flops"] == 2 * D * 2 * HEADS * in_chunk
    assert t.loc["qk_matmul", "kv_read_bytes"] == 2 * s * KV * D * BYTES  # the global layers read every position
    assert (t.loc["chunked_qk_matmul", "count"], t.loc["qk_matmul", "count"]) == (CHUNKED, GLOBAL)


def test_scout_prefill_scores_per_chunk():
    m = preset("llama-4-scout")
    s = 20000  # k = 2 full chunks, r = 3,616
    k, r = s // C, s % C
    chunked = k * C * (C + 1) // 2 + r * (r + 1) // 2
    t = table(m, "prefill", 1, s)
    assert t.loc["chunked_softmax", "flops"] == 5 * HEADS * chunked
    assert t.loc["softmax", "flops"] == 5 * HEADS * s * (s + 1) // 2  # global layers: the whole causal triangle
    assert t.loc["chunked_qk_matmul", "flops"] == 2 * D * HEADS * chunked
    assert t.loc["chunked_qk_matmul", "flops_full_square"] == 2 * D * HEADS * s * s


def test_scout_rope_qk_norm_and_temperature_in_their_layers():
    m = preset("llama-4-scout")
    t = table(m, "decode", 1, 1024)
    width = HEADS * D + KV * D
    assert (t.loc["rope", "count"], t.loc["qk_norm", "count"], t.loc["attn_temperature", "count"]) \
        == (CHUNKED, CHUNKED, GLOBAL)
    assert t.loc["qk_norm", "weight_bytes"] == 0 and t.loc["qk_norm", "flops"] == 4 * width  # L2 norm, no gains
    assert t.loc["attn_temperature", "flops"] == HEADS * D
    assert t.loc["gate_up_proj", "weight_bytes"] == 2 * H * F * BYTES  # one routed expert at batch 1
    assert t.loc["shared_gate_proj", "weight_bytes"] == H * F * BYTES
    assert t.loc["router", "weight_bytes"] == H * E * BYTES


def test_scout_decode_time_at_batch_1_is_the_weights_and_cache_over_bandwidth():
    m = preset("llama-4-scout")
    t = table(m, "decode", 1, 4096, io="fused")
    hw = rl.get_hardware(DEVICE)
    total_bytes = float((t["bytes"] * t["count"]).sum())
    # memory bound: the activated weights but the embedding table (one row gathered) and the KV cache
    weights = (scout_parameters(True) - V * H + H) * BYTES
    cache = (GLOBAL * 4096 + CHUNKED * 4096) * 2 * KV * D * BYTES
    assert weights + cache == pytest.approx(total_bytes, rel=1e-3)
    time = float((t["time_s"] * t["count"]).sum())
    assert time == pytest.approx(total_bytes / hw.bandwidth_bytes_per_s, rel=0.02)


def maverick_like() -> dict:
    text = {**scout_config()["text_config"], "interleave_moe_layer_step": 2, "num_local_experts": 128}
    return {**scout_config(), "text_config": text}


def test_interleaved_moe_layers_use_intermediate_size_mlp_in_the_dense_ones():
    m = model_from_dict(maverick_like(), "maverick-like")
    assert (m.layer_count("moe"), m.layer_count("dense")) == (24, 24)  # layers 1, 3, ..., 47 MoE
    assert (m.intermediate_size, m.expert_intermediate_size, m.shared_expert_intermediate_size) == (16384, F, F)
    dense = 3 * H * 16384
    moe = H * 128 + 128 * 3 * H * F + 3 * H * F
    attention = 2 * H * HEADS * D + 2 * H * KV * D
    assert m.parameter_count() == 2 * V * H + H + LAYERS * (attention + 2 * H) + 24 * dense + 24 * moe


@pytest.mark.parametrize("change, field", [
    ({"attention_chunk_size": None}, "attention_chunk_size"),
    ({"layer_types": ["full_attention"] * LAYERS}, "layer_types"),
    ({"no_rope_layers": [1, 0]}, "no_rope_layers"),
    ({"moe_layers": [99]}, "moe_layers"),
])
def test_what_llama4_support_leaves_out_is_refused_naming_the_field(change, field):
    config = scout_config()
    config["text_config"] = {**config["text_config"], **change}
    with pytest.raises(RooflineInputError, match=f"^{field}:") as error:
        model_from_dict(config, "x")
    assert "\n" not in str(error.value)


def test_scout_table_and_tp():
    m = preset("llama-4-scout")
    t = rl.operator_table(m, DEVICE, rl.Workload(batch=4, seq_len=10000, tp=4), phases=("prefill", "decode"))
    numbers = t.select_dtypes("number").to_numpy()
    assert np.isfinite(numbers).all() and (numbers >= 0).all()
