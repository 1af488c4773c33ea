"""MiniMax-M2.5, Qwen3-VL, GPT-J and Falcon, checked against numbers worked out by hand from each config.

The same rules as test_architectures.py: every expected value is a closed form on the config's numbers, never
a value copied from the package's output; 16 bits (2 bytes per element); costs per call of an operator.
"""
from __future__ import annotations

import json

import pytest

import roofline_utils as rl
from roofline_utils.memory import kv_cache_bytes
from roofline_utils.models import model_from_dict, preset
from conftest import assert_table_is_finite

DEVICE = "h200-sxm"
BYTES = 2


def table(model, phase: str, batch: int, seq_len: int):
    workload = rl.Workload(batch=batch, seq_len=seq_len, attention_io="unfused")
    return rl.operator_table(model, DEVICE, workload, phases=(phase,)).set_index("operator")


# MiniMax-M2.5 (MiniMaxM2ForCausalLM): GQA with q/k RMSNorms over the whole width, 256 experts, 8 per token
MM_H, MM_LAYERS, MM_HEADS, MM_KV, MM_D, MM_E, MM_K, MM_F, MM_V = 3072, 62, 48, 8, 128, 256, 8, 1536, 200064


def minimax_parameters(active: bool) -> int:
    attention = (MM_H * MM_HEADS * MM_D + 2 * MM_H * MM_KV * MM_D + MM_HEADS * MM_D * MM_H
                 + MM_HEADS * MM_D + MM_KV * MM_D)  # q_norm over all 6,144 query elements, k_norm over 1,024
    moe = MM_H * MM_E + MM_E + (MM_K if active else MM_E) * 3 * MM_H * MM_F  # gate, e_score_correction_bias
    return MM_LAYERS * (attention + moe + 2 * MM_H) + 2 * MM_V * MM_H + MM_H


def test_minimax_m25_parameters_against_the_card():
    # https://huggingface.co/MiniMaxAI/MiniMax-M2: "230 billion total parameters with 10 billion active" (the MTP
    # modules left out here); the active count without the embedding rows, as the MoE cards count it
    model = preset("minimax-m2.5")
    assert model.parameter_count() == minimax_parameters(False) == 228_689_764_864
    assert model.parameter_count(active=True) == minimax_parameters(True) == 11_030_553_088
    assert abs(model.parameter_count() - 230e9) < 1.5e9
    assert abs(model.parameter_count(active=True) - MM_V * MM_H - 10e9) < 0.5e9


def test_minimax_m25_kv_bytes_and_whole_width_qk_norm():
    model = preset("minimax-m2.5")
    assert float(kv_cache_bytes(model, 1, 1, 16)) == MM_LAYERS * 2 * MM_KV * MM_D * BYTES == 253_952
    t = table(model, "decode", 2, 4096)
    norm = t.loc["qk_norm"]
    assert norm["weight_bytes"] == (MM_HEADS * MM_D + MM_KV * MM_D) * BYTES
    assert t.loc["router", "weight_bytes"] == (MM_H * MM_E + MM_E) * BYTES
    assert t.loc["gate_proj", "flops"] == 2 * 2 * MM_K * MM_H * MM_F


# Qwen3-VL-8B (Qwen3VLForConditionalGeneration): the text model is a Qwen3 of Qwen3-8B's sizes
def test_qwen3_vl_8b_reads_its_text_model():
    model = preset("qwen3-vl-8b")
    assert any("vision tower" in note for note in model.notes)
    h, f, layers, heads, kv, d, v = 4096, 12288, 36, 32, 8, 128, 151936
    per_layer = h * heads * d + 2 * h * kv * d + heads * d * h + 2 * d + 3 * h * f + 2 * h  # qk norms per head
    assert model.parameter_count() == layers * per_layer + 2 * v * h + h == 8_190_735_360
    # https://huggingface.co/Qwen/Qwen3-VL-8B-Instruct: "8B"; the vision encoder left out here is the rest
    assert abs(model.parameter_count() - 8e9) < 0.5e9
    assert float(kv_cache_bytes(model, 1, 1, 16)) == layers * 2 * kv * d * BYTES == 147_456


# GPT-J-6B (GPTJForCausalLM): parallel attention and MLP behind one LayerNorm, biases on the MLP and lm_head
GJ_H, GJ_LAYERS, GJ_HEADS, GJ_V = 4096, 28, 16, 50400


def test_gptj_parameters_against_the_card():
    per_layer = (2 * GJ_H  # ln_1: gain and bias
                 + 4 * GJ_H * GJ_H  # q, k, v, out_proj (no biases)
                 + 2 * GJ_H * 4 * GJ_H + 4 * GJ_H + GJ_H)  # fc_in and fc_out with biases
    total = GJ_LAYERS * per_layer + 2 * GJ_V * GJ_H + GJ_V + 2 * GJ_H  # wte, lm_head and its bias, ln_f
    model = preset("gpt-j-6b")
    assert model.parameter_count() == total == 6_050_882_784
    # https://huggingface.co/EleutherAI/gpt-j-6b: "6B"; its table's 6,053,381,344 is 2,498,560 (0.04%) more
    assert abs(total - 6_053_381_344) < 0.003e9
    assert float(kv_cache_bytes(model, 1, 1, 16)) == GJ_LAYERS * 2 * GJ_H * BYTES == 458_752


def test_gptj_runs_attention_and_mlp_side_by_side():
    b = T = 2
    t = table(preset("gpt-j-6b"), "decode", b, 1024)
    assert "mlp_norm" not in t.index and "attn_add" not in t.index and "mlp_add" not in t.index
    add = t.loc["parallel_add"]
    assert (add["flops"], add["act_read_bytes"], add["act_write_bytes"]) == \
        (2 * T * GJ_H, 3 * T * GJ_H * BYTES, T * GJ_H * BYTES)
    assert t.loc["attn_norm", "weight_bytes"] == 2 * GJ_H * BYTES  # a LayerNorm: gain and bias
    assert t.loc["up_proj", "weight_bytes"] == (GJ_H * 4 * GJ_H + 4 * GJ_H) * BYTES
    assert t.loc["lm_head", "weight_bytes"] == (GJ_H * GJ_V + GJ_V) * BYTES
    assert (t["count"][["attn_norm", "parallel_add", "qk_matmul"]] == GJ_LAYERS).all()


# Falcon (FalconForCausalLM): fused query_key_value, multi-query (7B) or 8 K/V heads with two LayerNorms (40B)
def falcon_parameters(h, layers, heads, kv, v, two_norms):
    d = h // heads
    per_layer = (2 * h * (2 if two_norms else 1)  # input_layernorm (7B) or ln_attn and ln_mlp (40B)
                 + h * (heads + 2 * kv) * d + heads * d * h  # query_key_value, dense
                 + 2 * h * 4 * h)  # dense_h_to_4h, dense_4h_to_h
    return layers * per_layer + v * h + 2 * h  # word_embeddings tied to lm_head; ln_f


def test_falcon_7b_parameters_against_the_card():
    model = preset("falcon-7b")
    assert (model.num_key_value_heads, model.head_dim, model.tie_word_embeddings) == (1, 64, True)
    assert model.parameter_count() == falcon_parameters(4544, 32, 71, 1, 65024, False) == 6_921_720_704
    assert abs(model.parameter_count() - 6.92e9) < 0.005e9  # the Falcon paper's 6.92B (the card: 7B)
    assert float(kv_cache_bytes(model, 1, 1, 16)) == 32 * 2 * 1 * 64 * BYTES == 8_192  # one K/V head


def test_falcon_40b_parameters_against_the_card():
    model = preset("falcon-40b")
    assert model.parameter_count() == falcon_parameters(8192, 60, 128, 8, 65024, True) == 41_303_293_952
    assert abs(model.parameter_count() - 40e9) < 1.5e9  # https://huggingface.co/tiiuae/falcon-40b: "40B"
    assert float(kv_cache_bytes(model, 1, 1, 16)) == 60 * 2 * 8 * 64 * BYTES == 122_880
    t = table(model, "decode", 1, 2048)
    assert t.loc["qkv_proj", "weight_bytes"] == 8192 * (128 + 16) * 64 * BYTES
    assert "mlp_norm" in t.index and "rope" in t.index


@pytest.mark.parametrize("change, field", [({"alibi": True}, "alibi"), ({"parallel_attn": False}, "parallel_attn"),
                                           ({"activation": "relu"}, "activation")])
def test_unsupported_falcon_configs_are_named_in_one_line(tmp_path, capsys, change, field):
    from roofline_utils.cli import main
    config = {**json.loads(rl.models._preset_files()["falcon-7b"].read_text()), **change}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    assert main(["table", "--model", str(path), "--hardware", DEVICE]) == 2
    err = capsys.readouterr().err
    assert field in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_falcon_multi_query_off_keeps_every_head():
    config = json.loads(rl.models._preset_files()["falcon-7b"].read_text())
    assert model_from_dict({**config, "multi_query": False}, "x").num_key_value_heads == 71


@pytest.mark.parametrize("name, shown", [("minimax-m2.5", "MiniMax M2.5"), ("qwen3-vl-8b", "Qwen3 VL 8B"),
                                         ("glm-5", "GLM 5"), ("gpt-j-6b", "GPT J 6B"),
                                         ("nemotron-3-super-120b-a12b", "Nemotron 3 Super 120B A12B")])
def test_new_display_names_keep_their_capitals(name, shown):
    assert preset(name).display_name == shown


@pytest.mark.parametrize("name", ["minimax-m2.5", "qwen3-vl-8b", "gpt-j-6b", "falcon-7b", "falcon-40b"])
def test_more_presets_give_a_finite_table(name, tmp_path, capsys):
    assert_table_is_finite(name, DEVICE, tmp_path, capsys)


def kimi_k2_parameters(active: bool) -> int:
    """Kimi-K2, tensor by tensor from its config (a DeepSeek-V3 architecture): h 7168, 64 heads, q_lora 1536,
    kv_lora 512, nope 128 + rope 64, v 128, 1 dense layer of 18,432, 60 MoE layers of 384 experts of 2,048
    (8 per token) and one shared expert, vocabulary 163,840, untied."""
    h, heads, rq, rkv, nope, rope, dv, vocab = 7168, 64, 1536, 512, 128, 64, 128, 163840
    attention = (h * rq + rq + rq * heads * (nope + rope) + h * (rkv + rope) + rkv
                 + rkv * heads * (nope + dv) + heads * dv * h)
    expert = 3 * h * 2048
    moe = h * 384 + (8 if active else 384) * expert + expert  # router, routed experts, shared expert
    return 2 * vocab * h + h + 1 * (attention + 2 * h + 3 * h * 18432) + 60 * (attention + 2 * h + moe)


def test_kimi_k2_parameters_by_hand_and_against_its_card():
    model = rl.load_model("kimi-k2")
    assert model.parameter_count() == kimi_k2_parameters(False)
    assert model.parameter_count(active=True) == kimi_k2_parameters(True)
    # the card: "1T" total (1.026 T here), "32B" activated (32.86 B here; 31.69 B without the embedding rows,
    # which a token only indexes)
    assert round(model.parameter_count() / 1e12) == 1
    assert round((model.parameter_count(active=True) - 163840 * 7168) / 1e9) == 32
