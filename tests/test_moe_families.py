"""gpt-oss, Qwen2-MoE and DeepSeek-V2, checked against numbers worked out by hand from each config.json.

The same rules as test_architectures.py: every expected value is a closed form on the config's numbers,
never a value copied from the package's output; 16 bits (2 bytes per element) unless a test says otherwise;
costs are per call of an operator (one layer), ``count`` the layers that run it.
"""
from __future__ import annotations

import json

import pytest

import roofline_utils as rl
from roofline_utils.errors import RooflineInputError
from roofline_utils.memory import kv_cache_bytes
from roofline_utils.models import model_from_dict, preset
from conftest import assert_table_is_finite

DEVICE = "h200-sxm"
BYTES = 2
SOFTMAX = 5  # FLOPs per score (the workload's default)
SWIGLU = 5  # FLOPs per element of silu(gate)·up (the workload's default)


def table(model, phase: str, batch: int, seq_len: int):
    workload = rl.Workload(batch=batch, seq_len=seq_len, attention_io="unfused")
    return rl.operator_table(model, DEVICE, workload, phases=(phase,)).set_index("operator")


# ---------------------------------------------------------------------------------------------------
# gpt-oss (openai/gpt-oss-120b and -20b config.json; GptOssForCausalLM in transformers' modeling_gpt_oss.py)
# ---------------------------------------------------------------------------------------------------
GO_H, GO_HEADS, GO_KV, GO_D, GO_F, GO_V, GO_K, GO_WINDOW = 2880, 64, 8, 64, 2880, 201088, 4, 128


def gpt_oss_parameters(layers: int, experts: int, active: bool) -> int:
    """Tensor by tensor, as GptOssForCausalLM holds them."""
    attention = (GO_H * GO_HEADS * GO_D + GO_HEADS * GO_D  # q_proj and its bias (attention_bias: true)
                 + 2 * (GO_H * GO_KV * GO_D + GO_KV * GO_D)  # k_proj, v_proj and their biases
                 + GO_HEADS * GO_D * GO_H + GO_H  # o_proj and its bias
                 + GO_HEADS)  # sinks: one logit per head
    expert = (GO_H * 2 * GO_F + 2 * GO_F  # gate_up_proj [h, 2f] and gate_up_proj_bias [2f]
              + GO_F * GO_H + GO_H)  # down_proj [f, h] and down_proj_bias [h]
    router = GO_H * experts + experts  # router.weight [E, h] and router.bias [E]
    norms = 2 * GO_H  # input_layernorm, post_attention_layernorm
    per_layer = attention + router + (GO_K if active else experts) * expert + norms
    return layers * per_layer + 2 * GO_V * GO_H + GO_H  # untied embed_tokens and lm_head; final norm


def test_gpt_oss_parameters_as_numbers():
    # worked out on paper: per layer 26,550,144 attention (with 64 sinks) + 368,768 router + 5,760 norms, each
    # expert 24,891,840; 120b: 36 · (26,924,672 + 128 · 24,891,840) + 1,158,266,880 + 2,880
    assert gpt_oss_parameters(36, 128, False) == 116_829_156_672
    assert gpt_oss_parameters(36, 128, True) == 5_711_982_912
    assert gpt_oss_parameters(24, 32, False) == 20_914_757_184


# name, layers, experts, the card's total and active (OpenAI's gpt-oss model card, table 1: 116.83B / 5.13B and
# 20.91B / 3.61B; "active" there leaves the embedding table out, the unembedding in)
GPT_OSS_CARD = [("gpt-oss-120b", 36, 128, 116.83e9, 5.13e9), ("gpt-oss-20b", 24, 32, 20.91e9, 3.61e9)]


@pytest.mark.parametrize("name, layers, experts, total, active", GPT_OSS_CARD, ids=[c[0] for c in GPT_OSS_CARD])
def test_gpt_oss_parameters_against_the_card(name, layers, experts, total, active):
    model = preset(name)
    assert model.parameter_count() == gpt_oss_parameters(layers, experts, False)
    assert model.parameter_count(active=True) == gpt_oss_parameters(layers, experts, True)
    assert abs(model.parameter_count() - total) < 0.005e9  # the card's two decimals
    embedding = GO_V * GO_H  # the card's active count leaves the embedding rows out (a gather, no FLOPs)
    assert abs(model.parameter_count(active=True) - embedding - active) < 0.005e9


@pytest.mark.parametrize("name, layers", [("gpt-oss-120b", 36), ("gpt-oss-20b", 24)])
@pytest.mark.parametrize("seq_len", [1, 128, 129, 4096, 131072])
def test_gpt_oss_kv_bytes_keep_128_positions_in_sliding_layers(name, layers, seq_len):
    model = preset(name)
    assert (model.num_sliding_layers, model.sliding_window) == (layers // 2, GO_WINDOW)  # layer_types alternate
    per_position = 2 * GO_KV * GO_D * BYTES  # K and V, 8 heads of 64, 2 B: 2,048 B per layer and position
    want = layers // 2 * seq_len * per_position + layers // 2 * min(seq_len, GO_WINDOW) * per_position
    assert float(kv_cache_bytes(model, 1, seq_len, 16)) == want
    if seq_len == 4096:  # 18 · 4096 · 2048 + 18 · 128 · 2048 for the 120b
        assert want == {36: 155_713_536, 24: 103_809_024}[layers]


TINY_GO = {"architectures": ["GptOssForCausalLM"], "hidden_size": 16, "intermediate_size": 12,
           "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 8, "num_hidden_layers": 4,
           "vocab_size": 50, "num_local_experts": 6, "num_experts_per_tok": 2, "sliding_window": 3,
           "layer_types": ["sliding_attention", "full_attention"] * 2}


@pytest.mark.parametrize("phase, b, s", [("decode", 1, 7), ("decode", 3, 2), ("prefill", 2, 5)])
def test_gpt_oss_new_operators_by_hand(phase, b, s):
    model = model_from_dict(TINY_GO, "tiny-gpt-oss")
    t = table(model, phase, b, s)
    tokens = b if phase == "decode" else b * s
    h, f, heads, E, k = 16, 12, 4, 6, 2
    # sinks: one more entry in each query row's softmax per head, 5 FLOPs; the 4 logits read once
    sinks = t.loc["attn_sinks"]
    assert float(sinks["flops"]) == SOFTMAX * tokens * heads
    assert float(sinks["weight_bytes"]) == heads * BYTES and float(sinks["count"]) == 4
    # router with its bias: 2·T·h·E multiply-adds plus one add per logit; weight h·E + E
    router = t.loc["router"]
    assert float(router["flops"]) == 2 * tokens * h * E + tokens * E
    assert float(router["weight_bytes"]) == (h * E + E) * BYTES
    # experts: T·k (token, expert) rows through a fused gate_up_proj h → 2f with its 2f bias
    pairs, read = tokens * k, E * (1 - (1 - k / E) ** tokens)  # distinct experts touched, uniform routing
    gate_up = t.loc["gate_up_proj"]
    assert float(gate_up["flops"]) == pytest.approx(2 * pairs * h * 2 * f + pairs * 2 * f, rel=1e-12)
    assert float(gate_up["weight_bytes"]) == pytest.approx(read * (h * 2 * f + 2 * f) * BYTES, rel=1e-12)
    assert float(gate_up["act_read_bytes"]) == pairs * h * BYTES  # the input read once for gate and up
    down = t.loc["down_proj"]
    assert float(down["flops"]) == pytest.approx(2 * pairs * f * h + pairs * h, rel=1e-12)
    assert float(down["weight_bytes"]) == pytest.approx(read * (f * h + h) * BYTES, rel=1e-12)
    # clamped SwiGLU: SwiGLU's 5 + gate clamp 1 + up's two-sided clamp 2 + alpha scale 1 + the "+ 1" 1 = 10
    assert float(t.loc["act_mul", "flops"]) == (SWIGLU + 5) * pairs * f
    assert "gate_proj" not in t.index and "up_proj" not in t.index
    # q/k/v/o with their biases (attention_bias defaults to true in GptOssConfig)
    assert float(t.loc["q_proj", "flops"]) == 2 * tokens * h * heads * 8 + tokens * heads * 8
    assert float(t.loc["o_proj", "weight_bytes"]) == (heads * 8 * h + h) * BYTES


def test_gpt_oss_sliding_layers_read_at_most_the_window_in_decode():
    model = model_from_dict(TINY_GO, "tiny-gpt-oss")
    t = table(model, "decode", 1, 10)
    # 2 local layers read 3 positions of 2 KV heads of 8 for K; 2 global layers read all 10
    assert float(t.loc["local_qk_matmul", "kv_read_bytes"]) == 3 * 2 * 8 * BYTES
    assert float(t.loc["qk_matmul", "kv_read_bytes"]) == 10 * 2 * 8 * BYTES
    assert (float(t.loc["local_qk_matmul", "count"]), float(t.loc["qk_matmul", "count"])) == (2, 2)


def test_gpt_oss_defaults_follow_gpt_oss_config():
    fields = {k: v for k, v in TINY_GO.items() if k not in ("sliding_window", "layer_types", "num_experts_per_tok")}
    model = model_from_dict(fields, "m")
    # GptOssConfig: sliding_window 128, layer_types sliding, full, ... from layer 0, num_experts_per_tok 4
    assert (model.sliding_window, model.num_sliding_layers, model.experts_per_token) == (128, 2, 4)
    assert any("sliding_window absent" in n for n in model.notes)


def test_gpt_oss_checkpoint_keeps_attention_and_head_at_16_bits():
    from roofline_utils.quantization import bits_per_weight, checkpoint_workload, ignored_operators
    model = preset("gpt-oss-120b")
    # modules_to_not_convert: model.layers.*.self_attn, model.layers.*.mlp.router, model.embed_tokens, lm_head
    assert set(ignored_operators(model).kept_16bit) == {"q_proj", "k_proj", "v_proj", "o_proj", "embedding", "lm_head"}
    workload = checkpoint_workload(model, rl.Workload())
    assert bits_per_weight(workload) == 4 + 8 / 32  # MXFP4: 4-bit values, one 8-bit scale per 32
    # the experts alone are MXFP4: 36 · 128 · 24,891,840 weights (their biases counted with them)
    elements = rl.operators.weight_elements(model, workload)
    assert elements["weight_bits"] == 36 * 128 * 24_891_840


# ---------------------------------------------------------------------------------------------------
# Qwen2-MoE (Qwen/Qwen2-57B-A14B config.json; Qwen2MoeSparseMoeBlock: routed experts, one shared expert
# shared_expert_intermediate_size wide and its sigmoid gate, Linear(h, 1, bias=False))
# ---------------------------------------------------------------------------------------------------

def qwen2_moe_parameters(active: bool) -> int:
    h, heads, kv, layers, V, E, k, fe, fs = 3584, 28, 4, 28, 151936, 64, 8, 2560, 20480
    d = h // heads  # 128: Qwen2MoeAttention's head_dim is hidden_size / num_attention_heads
    attention = (h * heads * d + heads * d  # q_proj and its bias (qkv_bias)
                 + 2 * (h * kv * d + kv * d)  # k_proj, v_proj and their biases
                 + heads * d * h)  # o_proj, no bias
    moe = h * E + (k if active else E) * 3 * h * fe + 3 * h * fs + h  # router, experts, shared expert, its gate
    return layers * (attention + moe + 2 * h) + 2 * V * h + h


def test_qwen2_moe_parameters():
    model = preset("qwen2-57b-a14b")
    assert qwen2_moe_parameters(False) == 57_408_658_944 and qwen2_moe_parameters(True) == 14_249_270_784
    assert model.parameter_count() == qwen2_moe_parameters(False)
    assert model.parameter_count(active=True) == qwen2_moe_parameters(True)
    # the card: "57B" total and "14B" activated, printed to the billion
    assert abs(model.parameter_count() - 57e9) < 1e9 and abs(model.parameter_count(active=True) - 14e9) < 1e9


def test_qwen2_moe_kv_bytes_per_token():
    # 28 layers, K and V of 4 heads of 128, 2 B: 57,344 B per token; use_sliding_window false: no window
    model = preset("qwen2-57b-a14b")
    assert float(kv_cache_bytes(model, 1, 1, 16)) == 28 * 2 * 4 * 128 * BYTES == 57_344
    assert float(kv_cache_bytes(model, 1, 4096, 16)) == 4096 * 57_344


TINY_QM = {"architectures": ["Qwen2MoeForCausalLM"], "hidden_size": 16, "intermediate_size": 40,
           "moe_intermediate_size": 6, "shared_expert_intermediate_size": 20, "num_experts": 8,
           "num_experts_per_tok": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "num_hidden_layers": 4,
           "vocab_size": 50, "decoder_sparse_step": 2, "mlp_only_layers": [3]}


@pytest.mark.parametrize("phase, b, s", [("decode", 2, 9), ("prefill", 1, 6)])
def test_qwen2_moe_shared_expert_and_gate_by_hand(phase, b, s):
    model = model_from_dict(TINY_QM, "tiny-qwen2-moe")
    # decoder_sparse_step 2: layers 1 and 3 are MoE ((i + 1) % 2 == 0), mlp_only_layers names 3: one MoE layer
    assert (model.num_moe_layers, model.num_dense_layers) == (1, 3)
    t = table(model, phase, b, s)
    tokens = b if phase == "decode" else b * s
    h, fs = 16, 20
    for name, n_in, n_out in (("shared_gate_proj", h, fs), ("shared_up_proj", h, fs), ("shared_down_proj", fs, h)):
        assert float(t.loc[name, "flops"]) == 2 * tokens * n_in * n_out
        assert float(t.loc[name, "weight_bytes"]) == n_in * n_out * BYTES and float(t.loc[name, "count"]) == 1
    gate = t.loc["shared_expert_gate"]  # h → 1 per token, no bias
    assert float(gate["flops"]) == 2 * tokens * h and float(gate["weight_bytes"]) == h * BYTES
    scale = t.loc["shared_gate_scale"]  # sigmoid per token (4 FLOPs), one multiply per output element
    assert float(scale["flops"]) == 4 * tokens + tokens * h
    assert float(t.loc["dense_gate_proj", "flops"]) == 2 * tokens * h * 40  # dense layers: intermediate_size
    assert float(t.loc["dense_gate_proj", "count"]) == 3
    assert float(t.loc["q_proj", "flops"]) == 2 * tokens * h * h + tokens * h  # q bias
    assert float(t.loc["o_proj", "flops"]) == 2 * tokens * h * h  # no o_proj bias


# ---------------------------------------------------------------------------------------------------
# DeepSeek-V2 (deepseek-ai/DeepSeek-Coder-V2-Lite-Instruct config.json: DeepSeek-V2-Lite's shape, no q_lora_rank)
# ---------------------------------------------------------------------------------------------------

def deepseek_v2_lite_parameters(active: bool) -> int:
    h, heads, layers, V, f, fe, E, k, shared = 2048, 16, 27, 102400, 10944, 1408, 64, 6, 2
    nope, rope, dv, rkv = 128, 64, 128, 512
    attention = (h * heads * (nope + rope)  # q_proj: q_lora_rank absent, one plain projection
                 + h * (rkv + rope)  # kv_a_proj_with_mqa
                 + rkv  # kv_a_layernorm
                 + rkv * heads * (nope + dv)  # kv_b_proj
                 + heads * dv * h)  # o_proj
    moe = h * E + (k if active else E) * 3 * h * fe + shared * 3 * h * fe
    return (layers * (attention + 2 * h) + 1 * 3 * h * f + (layers - 1) * moe  # first_k_dense_replace 1
            + 2 * V * h + h)


def test_deepseek_v2_lite_parameters():
    model = preset("deepseek-coder-v2-lite")
    assert model.q_lora_rank is None and (model.num_dense_layers, model.num_moe_layers) == (1, 26)
    assert deepseek_v2_lite_parameters(False) == 15_706_484_224
    assert model.parameter_count() == deepseek_v2_lite_parameters(False)
    assert model.parameter_count(active=True) == deepseek_v2_lite_parameters(True)
    # DeepSeek-V2 paper: V2-Lite 15.7B total, 2.4B activated (the embedding rows left out, as gpt-oss's card)
    assert abs(model.parameter_count() - 15.7e9) < 0.05e9
    assert abs(model.parameter_count(active=True) - 102400 * 2048 - 2.4e9) < 0.1e9


def test_deepseek_v2_lite_kv_bytes_per_token():
    # MLA, absorbed: the 512-wide latent and the 64-wide rotary key per layer, 27 layers, 2 B: 31,104 B per token
    model = preset("deepseek-coder-v2-lite")
    assert float(kv_cache_bytes(model, 1, 1, 16)) == 27 * (512 + 64) * BYTES == 31_104


# ---------------------------------------------------------------------------------------------------
# the CLI: finite tables, and a refusal in one line
# ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["gpt-oss-120b", "gpt-oss-20b", "qwen2-57b-a14b", "deepseek-coder-v2-lite"])
def test_new_moe_presets_give_a_finite_table(name, tmp_path, capsys):
    assert_table_is_finite(name, DEVICE, tmp_path, capsys)


def test_qwen2_moe_without_shared_width_is_named(tmp_path, capsys):
    from roofline_utils.cli import main
    fields = {k: v for k, v in TINY_QM.items() if k != "shared_expert_intermediate_size"}
    with pytest.raises(RooflineInputError, match="^shared_expert_intermediate_size:"):
        model_from_dict(fields, "m")
    path = tmp_path / "config.json"
    path.write_text(json.dumps(fields))
    assert main(["table", "--model", str(path), "--out", str(tmp_path / "t.csv")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err


# ---------------------------------------------------------------------------------------------------
# Phi-3.5-MoE (PhimoeForCausalLM in transformers' modular_phimoe.py: LlamaAttention with attention_bias,
# Mixtral's experts without bias, nn.LayerNorm (gain and bias) for every norm, lm_head with lm_head_bias)
# ---------------------------------------------------------------------------------------------------
# PhimoeConfig's defaults, which its docstring says yield Phi-3.5-MoE-instruct's shape, with both biases on
PHIMOE = {"architectures": ["PhiMoEForCausalLM"], "model_type": "phimoe", "vocab_size": 32064, "hidden_size": 4096,
          "intermediate_size": 6400, "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
          "num_local_experts": 16, "num_experts_per_tok": 2, "attention_bias": True, "lm_head_bias": True}


def phimoe_parameters(active: bool) -> int:
    h, heads, kv, layers, V, f, E, k = 4096, 32, 8, 32, 32064, 6400, 16, 2
    d = h // heads
    attention = (h * heads * d + heads * d + 2 * (h * kv * d + kv * d)  # q, k, v and their biases
                 + heads * d * h + h)  # o_proj and its bias
    moe = h * E + (k if active else E) * 3 * h * f  # router (no bias), experts w1/w3/w2 (no bias)
    norms = 2 * 2 * h  # two LayerNorms, a gain and a bias each
    return layers * (attention + moe + norms) + V * h + (h * V + V) + 2 * h  # embed, lm_head + bias, final LayerNorm


def test_phimoe_parameters_against_the_card():
    model = model_from_dict(PHIMOE, "phi-3.5-moe")
    assert phimoe_parameters(False) == 41_873_153_344 and phimoe_parameters(True) == 6_640_999_744
    assert model.parameter_count() == phimoe_parameters(False)
    assert model.parameter_count(active=True) == phimoe_parameters(True)
    # the card: 42B total (41.9B in the Phi-3.5 report), 6.6B active (both vocabulary tables counted)
    assert abs(model.parameter_count() - 41.9e9) < 0.05e9 and abs(model.parameter_count(active=True) - 6.6e9) < 0.05e9
    # KV: 32 layers, K and V of 8 heads of 128, 2 B: 131,072 B per token (no window set)
    assert float(kv_cache_bytes(model, 1, 1, 16)) == 32 * 2 * 8 * 128 * BYTES == 131_072


@pytest.mark.parametrize("phase, b, s", [("decode", 2, 9), ("prefill", 1, 6)])
def test_phimoe_layer_norms_and_lm_head_bias_by_hand(phase, b, s):
    tiny = {**PHIMOE, "vocab_size": 50, "hidden_size": 16, "intermediate_size": 12, "num_hidden_layers": 2,
            "num_attention_heads": 4, "num_key_value_heads": 2, "num_local_experts": 4}
    t = table(model_from_dict(tiny, "tiny-phimoe"), phase, b, s)
    tokens = b if phase == "decode" else b * s
    logits = b  # prefill: the last token of each prompt; decode: the one new token
    h, V = 16, 50
    for name in ("attn_norm", "mlp_norm", "final_norm"):  # LayerNorm: RMSNorm's 4 + mean, subtract, bias = 7
        assert float(t.loc[name, "flops"]) == 7 * tokens * h and float(t.loc[name, "weight_bytes"]) == 2 * h * BYTES
    head = t.loc["lm_head"]
    assert float(head["flops"]) == 2 * logits * h * V + logits * V
    assert float(head["weight_bytes"]) == (h * V + V) * BYTES
    assert float(t.loc["router", "flops"]) == 2 * tokens * h * 4  # no router bias
    assert float(t.loc["gate_proj", "flops"]) == 2 * tokens * 2 * h * 12  # T·k rows, no expert bias


def test_module_names_of_the_new_families():
    from roofline_utils.quantization import module_names
    go, qm = preset("gpt-oss-20b"), model_from_dict(TINY_QM, "tiny-qwen2-moe")
    assert module_names(go, "router")[0] == "model.layers.0.mlp.router"  # GptOssMLP.router
    assert module_names(go, "gate_up_proj")[0] == "model.layers.0.mlp.experts.0.gate_up_proj"
    # Qwen2MoeSparseMoeBlock: one shared_expert (singular) and its shared_expert_gate
    # (which layer indices: the dense layers are taken to be the first ones, as DeepSeek's are; Qwen2-MoE's
    # decoder_sparse_step and mlp_only_layers place them elsewhere, so only the module's own name is checked)
    assert module_names(qm, "shared_down_proj")[0].endswith(".mlp.shared_expert.down_proj")
    assert module_names(qm, "shared_expert_gate")[0].endswith(".mlp.shared_expert_gate")
    phimoe = model_from_dict(PHIMOE, "phi-3.5-moe")  # the Hub checkpoint: block_sparse_moe, experts w1/w3/w2
    assert module_names(phimoe, "gate_proj")[0] == "model.layers.0.block_sparse_moe.experts.0.w1"


@pytest.mark.parametrize("change, field", [
    ({"layer_types": ["sliding_attention", "chunked_attention"] * 2}, "layer_types"),  # no chunked attention here
    ({"num_experts_per_tok": 7}, "num_experts_per_tok"),  # more than the 6 experts
    ({"num_local_experts": 0}, "num_local_experts"),
])
def test_gpt_oss_fields_it_cannot_read_are_named_in_one_line(change, field, tmp_path, capsys):
    from roofline_utils.cli import main
    config = {**TINY_GO, **change}
    with pytest.raises(RooflineInputError, match=f"^{field}:") as error:
        model_from_dict(config, "m")
    assert "\n" not in str(error.value)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    assert main(["table", "--model", str(path), "--out", str(tmp_path / "t.csv")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and err.startswith(f"roofline: error: {field}:")
