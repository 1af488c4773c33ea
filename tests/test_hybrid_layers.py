"""Hybrid models whose recurrent layers keep a state instead of a KV cache: Gated DeltaNet (Qwen3-Next,
Qwen3.5) and Mamba-2 (Nemotron 3 Super), checked against numbers worked out by hand from each config.

The same rules as test_architectures.py: every expected value is a closed form on the config's numbers,
never a value copied from the package's output; 16 bits (2 bytes per element) unless a test says otherwise;
the recurrent state is fp32 (4 bytes per element), the short convolution's state 16-bit.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import roofline_utils as rl
from roofline_utils.memory import kv_cache_bytes
from roofline_utils.models import model_from_dict, preset
from conftest import assert_table_is_finite

DEVICE = "h200-sxm"
BYTES, STATE_BYTES = 2, 4


def table(model, phase: str, batch: int, seq_len: int, io: str = "unfused"):
    workload = rl.Workload(batch=batch, seq_len=seq_len, attention_io=io)
    return rl.operator_table(model, DEVICE, workload, phases=(phase,)).set_index("operator")


# ---------------------------------------------------------------------------------------------------
# Qwen3-Next-80B-A3B (Qwen3NextForCausalLM, transformers' modeling_qwen3_next.py)
# ---------------------------------------------------------------------------------------------------
QN_H, QN_LAYERS, QN_LINEAR, QN_V = 2048, 48, 36, 151936
QN_HEADS, QN_KV, QN_D = 16, 2, 256  # the gated attention layers
QN_HK, QN_HV, QN_DK, QN_DV, QN_CONV = 16, 32, 128, 128, 4  # the Gated DeltaNet layers
QN_E, QN_TOPK, QN_FE, QN_FS = 512, 10, 512, 512


def gdn_parameters(h, hk, hv, dk, dv, conv):
    """One Qwen3NextGatedDeltaNet, tensor by tensor."""
    key, value = hk * dk, hv * dv
    return (h * (2 * key + 2 * value)  # in_proj_qkvz
            + h * 2 * hv  # in_proj_ba
            + conv * (2 * key + value)  # conv1d (no bias)
            + 2 * hv  # A_log, dt_bias
            + dv  # the gated RMSNorm's gain
            + value * h)  # out_proj


def gated_attention_parameters(h, heads, kv, d):
    """One Qwen3NextAttention: q_proj twice as wide (the gate), k, v, o, q_norm and k_norm (d each)."""
    return h * 2 * heads * d + 2 * h * kv * d + heads * d * h + 2 * d


def qwen3_next_parameters(active: bool) -> int:
    moe = (QN_H * QN_E  # router
           + (QN_TOPK if active else QN_E) * 3 * QN_H * QN_FE  # routed experts
           + 3 * QN_H * QN_FS + QN_H)  # the shared expert and its gate (h → 1)
    return (QN_LINEAR * gdn_parameters(QN_H, QN_HK, QN_HV, QN_DK, QN_DV, QN_CONV)
            + (QN_LAYERS - QN_LINEAR) * gated_attention_parameters(QN_H, QN_HEADS, QN_KV, QN_D)
            + QN_LAYERS * (moe + 2 * QN_H) + 2 * QN_V * QN_H + QN_H)


def test_qwen3_next_parameters_against_the_card():
    # https://huggingface.co/Qwen/Qwen3-Next-80B-A3B-Instruct: 80B total, 3B activated (to the billion)
    model = preset("qwen3-next-80b-a3b")
    assert (model.num_linear_layers, model.num_attention_layers) == (36, 12)
    assert gdn_parameters(QN_H, QN_HK, QN_HV, QN_DK, QN_DV, QN_CONV) == 33_718_464
    assert model.parameter_count() == qwen3_next_parameters(False) == 79_674_391_296
    assert model.parameter_count(active=True) == qwen3_next_parameters(True) == 3_874_929_408
    assert abs(model.parameter_count() - 80e9) < 0.5e9
    assert abs(model.parameter_count(active=True) - QN_V * QN_H - 3e9) < 0.6e9  # the embedding rows left out


def test_qwen3_next_cache_and_state_bytes():
    model = preset("qwen3-next-80b-a3b")
    kv_per_token = 12 * 2 * QN_KV * QN_D * BYTES  # K and V of the 12 attention layers: 24,576 B
    state = QN_LINEAR * (QN_HV * QN_DK * QN_DV * STATE_BYTES  # the fp32 delta-rule state per value head
                         + (QN_CONV - 1) * (2 * QN_HK * QN_DK + QN_HV * QN_DV) * BYTES)  # the conv state
    assert (kv_per_token, state) == (24_576, 77_266_944)
    for s in (1, 4096, 32768):
        assert float(kv_cache_bytes(model, 1, s, 16)) == s * kv_per_token + state
    assert float(kv_cache_bytes(model, 3, 4096, 16)) == 3 * (4096 * kv_per_token + state)


def test_qwen3_next_decode_reads_a_fixed_state():
    """Decode at b = 2: the delta rule's recurrent step over each value head's 128 × 128 fp32 state."""
    b = T = 2
    for s in (1024, 32768):  # the same cost whatever the context
        t = table(preset("qwen3-next-80b-a3b"), "decode", b, s)
        rule = t.loc["delta_rule"]
        assert rule["flops"] == T * QN_HV * (7 * QN_DK * QN_DV + 2 * (2 * QN_DK + QN_DV) + 6 * QN_DK)
        assert rule["kv_read_bytes"] == rule["kv_write_bytes"] == b * QN_HV * QN_DK * QN_DV * STATE_BYTES
        assert rule["act_read_bytes"] == (T * (2 * QN_HK * QN_DK + QN_HV * QN_DV) + 2 * T * QN_HV) * BYTES
        assert rule["act_write_bytes"] == T * QN_HV * QN_DV * BYTES
        channels = 2 * QN_HK * QN_DK + QN_HV * QN_DV  # 8192: q, k and v through the convolution
        conv = t.loc["conv1d"]
        assert conv["flops"] == (2 * QN_CONV + 4) * T * channels
        assert conv["weight_bytes"] == QN_CONV * channels * BYTES
        assert conv["kv_read_bytes"] == conv["kv_write_bytes"] == b * (QN_CONV - 1) * channels * BYTES
        assert t.loc["in_proj_qkvz", "weight_bytes"] == QN_H * (2 * 2048 + 2 * 4096) * BYTES
        assert t.loc["in_proj_ba", "flops"] == 2 * T * QN_H * 2 * QN_HV
        assert t.loc["out_proj", "flops"] == 2 * T * QN_HV * QN_DV * QN_H
        assert t.loc["q_proj", "weight_bytes"] == QN_H * 2 * QN_HEADS * QN_D * BYTES  # query and gate
        assert t.loc["attn_gate", "flops"] == 5 * T * QN_HEADS * QN_D
        assert t.loc["qk_matmul", "kv_read_bytes"] == b * s * QN_KV * QN_D * BYTES
        counts = t["count"]
        assert (counts["delta_rule"], counts["conv1d"], counts["qk_matmul"], counts["q_proj"]) == (36, 36, 12, 12)
        assert (counts["router"], counts["attn_norm"], counts["mlp_add"]) == (48, 48, 48)


@pytest.mark.parametrize("s, chunk", [(4096, 64), (16, 16)])
def test_qwen3_next_prefill_runs_the_chunked_rule(s, chunk):
    """Prefill of one prompt: 64-token chunks (the prompt when shorter); no state comes in, one goes out."""
    t = table(preset("qwen3-next-80b-a3b"), "prefill", 1, s)
    rule = t.loc["delta_rule"]
    per_token_head = (6 * QN_DK * QN_DV + QN_DK * QN_DV / chunk + 2 * chunk * (2 * QN_DK + QN_DV) + 6 * QN_DK)
    assert rule["flops"] == pytest.approx(s * QN_HV * per_token_head, rel=1e-12)
    assert rule["kv_read_bytes"] == 0
    assert rule["kv_write_bytes"] == QN_HV * QN_DK * QN_DV * STATE_BYTES


# ---------------------------------------------------------------------------------------------------
# Qwen3.5 (Qwen3_5ForConditionalGeneration / Qwen3_5MoeForConditionalGeneration: the text model in text_config)
# ---------------------------------------------------------------------------------------------------
def qwen3_5_parameters(h, layers, heads, kv, hv, f=None, experts=0, topk=0, fe=0, active=False, vocab=248320):
    linear = layers - layers // 4
    if experts:
        channel = h * experts + (topk if active else experts) * 3 * h * fe + 3 * h * fe + h
    else:
        channel = 3 * h * f
    return (linear * gdn_parameters(h, 16, hv, 128, 128, 4)
            + (layers - linear) * gated_attention_parameters(h, heads, kv, 256)
            + layers * (channel + 2 * h) + 2 * vocab * h + h)


def test_qwen3_5_27b_parameters_against_the_card():
    # https://huggingface.co/Qwen/Qwen3.5-27B: 27B (the vision encoder, left out here, is part of it)
    model = preset("qwen3.5-27b")
    assert (model.num_linear_layers, model.num_attention_layers, model.num_experts) == (48, 16, 1)
    assert any("vision tower" in note for note in model.notes)
    expected = qwen3_5_parameters(5120, 64, 24, 4, 48, f=17408)
    assert model.parameter_count() == expected == 26_895_998_464
    assert abs(model.parameter_count() - 27e9) < 0.5e9


def test_qwen3_5_397b_parameters_against_the_card():
    # https://huggingface.co/Qwen/Qwen3.5-397B-A17B: 397B total, 17B activated
    model = preset("qwen3.5-397b-a17b")
    total = qwen3_5_parameters(4096, 60, 32, 2, 64, experts=512, topk=10, fe=1024)
    active = qwen3_5_parameters(4096, 60, 32, 2, 64, experts=512, topk=10, fe=1024, active=True)
    assert (model.parameter_count(), model.parameter_count(active=True)) == (total, active)
    assert (total, active) == (396_346_350_336, 17_349_040_896)
    assert abs(total - 397e9) < 1e9 and abs(active - 17e9) < 0.5e9


def test_qwen3_5_state_bytes():
    # 27B: 48 DeltaNet layers of 48 value heads; 16 attention layers of 4 KV heads of 256
    model = preset("qwen3.5-27b")
    state = 48 * (48 * 128 * 128 * STATE_BYTES + 3 * (2 * 16 * 128 + 48 * 128) * BYTES)
    assert float(kv_cache_bytes(model, 1, 4096, 16)) == 4096 * 16 * 2 * 4 * 256 * BYTES + state


TINY_GDN = {"architectures": ["Qwen3NextForCausalLM"], "hidden_size": 32, "intermediate_size": 64,
            "moe_intermediate_size": 8, "shared_expert_intermediate_size": 16, "num_experts": 4,
            "num_experts_per_tok": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 8,
            "num_hidden_layers": 6, "vocab_size": 50, "linear_num_key_heads": 2, "linear_num_value_heads": 4,
            "linear_key_head_dim": 8, "linear_value_head_dim": 4, "linear_conv_kernel_dim": 3}


def test_layer_types_and_interval_decide_the_linear_layers():
    assert model_from_dict(TINY_GDN, "x").num_linear_layers == 6 - 6 // 4  # full attention at layer 3 only
    assert model_from_dict({**TINY_GDN, "full_attention_interval": 2}, "x").num_linear_layers == 3
    types = ["linear_attention"] * 5 + ["full_attention"]
    assert model_from_dict({**TINY_GDN, "layer_types": types}, "x").num_attention_layers == 1


@pytest.mark.parametrize("change, field", [
    ({"linear_num_value_heads": None}, "linear_num_value_heads"),
    ({"linear_num_value_heads": 3}, "linear_num_value_heads"),  # not a multiple of the 2 key heads
    ({"layer_types": ["linear_attention"] * 5 + ["sliding_attention"]}, "layer_types"),
    ({"full_attention_interval": 0}, "full_attention_interval"),
])
def test_bad_gdn_configs_are_named_in_one_line(tmp_path, capsys, change, field):
    from roofline_utils.cli import main
    config = {k: v for k, v in {**TINY_GDN, **change}.items() if v is not None}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    assert main(["table", "--model", str(path), "--hardware", DEVICE]) == 2
    err = capsys.readouterr().err
    assert field in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("name", ["qwen3-next-80b-a3b", "qwen3.5-27b", "qwen3.5-397b-a17b"])
def test_hybrid_presets_give_a_finite_table(name, tmp_path, capsys):
    assert_table_is_finite(name, DEVICE, tmp_path, capsys)


# ---------------------------------------------------------------------------------------------------
# Nemotron 3 Super (NemotronHForCausalLM, transformers' modeling_nemotron_h.py): one block per layer,
# M Mamba-2, * attention, E latent MoE
# ---------------------------------------------------------------------------------------------------
NS = "nemotron-3-super-120b-a12b"
NS_H, NS_V, NS_M, NS_ATT, NS_E = 4096, 131072, 40, 8, 40  # hidden, vocabulary, and the pattern's M, * and E
NS_HM, NS_P, NS_N, NS_G, NS_CONV = 128, 64, 128, 8, 4  # Mamba-2: heads, head_dim, state, groups, kernel
NS_HEADS, NS_KV, NS_D = 32, 2, 128
NS_EXPERTS, NS_TOPK, NS_FE, NS_FS, NS_LATENT = 512, 22, 2688, 5376, 1024


def nemotron_super_parameters(active: bool) -> int:
    inner = NS_HM * NS_P  # 8192
    channels = inner + 2 * NS_G * NS_N  # x, B and C through the convolution: 10,240
    mamba = (NS_H * (2 * inner + 2 * NS_G * NS_N + NS_HM)  # in_proj: z, x, B, C, dt
             + NS_CONV * channels + channels  # conv1d and its bias
             + 3 * NS_HM  # A_log, dt_bias, D
             + inner  # the gated RMSNorm's gain
             + inner * NS_H)  # out_proj
    attention = NS_H * NS_HEADS * NS_D + 2 * NS_H * NS_KV * NS_D + NS_HEADS * NS_D * NS_H  # q, k, v, o; no RoPE
    expert = 2 * NS_LATENT * NS_FE  # up (latent → f_e) and down, not gated
    moe = (NS_H * NS_EXPERTS + NS_EXPERTS  # the router and its e_score_correction_bias
           + 2 * NS_H * NS_LATENT  # fc1_latent_proj, fc2_latent_proj
           + (NS_TOPK if active else NS_EXPERTS) * expert
           + 2 * NS_H * NS_FS)  # the shared expert (up, down)
    return NS_M * mamba + NS_ATT * attention + NS_E * moe + 88 * NS_H + NS_H + 2 * NS_V * NS_H


def test_nemotron_super_parameters_against_the_card():
    # https://huggingface.co/nvidia/NVIDIA-Nemotron-3-Super-120B-A12B-BF16: 120B total, 12B active
    model = preset(NS)
    assert (model.num_mamba_layers, model.num_attention_layers, model.num_moe_layers) == (40, 8, 40)
    assert model.parameter_count() == nemotron_super_parameters(False) == 120_668_707_840
    assert model.parameter_count(active=True) == nemotron_super_parameters(True) == 12_770_237_440
    assert abs(model.parameter_count() - 120e9) < 1e9
    assert abs(model.parameter_count(active=True) - NS_V * NS_H - 12e9) < 0.5e9  # the embedding rows left out


def test_nemotron_super_cache_and_state_bytes():
    model = preset(NS)
    kv_per_token = NS_ATT * 2 * NS_KV * NS_D * BYTES  # 8,192 B
    state = NS_M * (NS_HM * NS_P * NS_N * STATE_BYTES + (NS_CONV - 1) * (NS_HM * NS_P + 2 * NS_G * NS_N) * BYTES)
    assert (kv_per_token, state) == (8_192, 170_229_760)
    for s in (1, 4096, 262144):
        assert float(kv_cache_bytes(model, 1, s, 16)) == s * kv_per_token + state


def test_nemotron_super_decode_by_hand():
    b = T = 2
    t = table(preset(NS), "decode", b, 4096)
    scan = t.loc["ssm_scan"]
    assert scan["flops"] == T * (NS_HM * (5 * NS_N * NS_P + 4 * NS_P + 6) + NS_G * 2 * NS_N)
    assert scan["kv_read_bytes"] == scan["kv_write_bytes"] == b * NS_HM * NS_P * NS_N * STATE_BYTES
    assert scan["weight_bytes"] == 3 * NS_HM * BYTES
    assert t.loc["in_proj", "weight_bytes"] == NS_H * (2 * 8192 + 2 * 1024 + 128) * BYTES
    assert t.loc["conv1d", "weight_bytes"] == (NS_CONV + 1) * 10240 * BYTES
    assert t.loc["conv1d", "flops"] == (2 * NS_CONV + 5) * T * 10240
    pairs = T * NS_TOPK
    touched = NS_EXPERTS * (1 - (1 - NS_TOPK / NS_EXPERTS) ** T)  # distinct experts two tokens reach
    up = t.loc["up_proj"]
    assert up["flops"] == 2 * pairs * NS_LATENT * NS_FE
    assert up["weight_bytes"] == pytest.approx(touched * NS_LATENT * NS_FE * BYTES, rel=1e-12)
    assert t.loc["act", "flops"] == 2 * pairs * NS_FE  # ReLU²: max and square
    assert t.loc["fc1_latent_proj", "flops"] == 2 * T * NS_H * NS_LATENT
    assert t.loc["shared_up_proj", "weight_bytes"] == NS_H * NS_FS * BYTES
    assert "rope" not in t.index  # Nemotron-H's attention carries no positions
    counts = t["count"]
    assert (counts["ssm_scan"], counts["qk_matmul"], counts["router"], counts["norm"], counts["add"]) == \
        (40, 8, 40, 88, 88)


@pytest.mark.parametrize("s, chunk", [(4096, 128), (100, 100)])
def test_nemotron_super_prefill_runs_the_chunked_scan(s, chunk):
    t = table(preset(NS), "prefill", 1, s)
    per_token = NS_HM * (4 * NS_N * NS_P + NS_N * NS_P / chunk + 2 * chunk * NS_P + 2 * NS_P + 6) \
        + NS_G * 2 * chunk * NS_N
    assert t.loc["ssm_scan", "flops"] == pytest.approx(s * per_token, rel=1e-12)
    assert t.loc["ssm_scan", "kv_read_bytes"] == 0


def test_nemotron_config_with_infinity_and_block_names_reads():
    text = rl.models._preset_files()[NS].read_text()
    assert "Infinity" in text  # the real file's time_step_limit; Python's json reads it
    config = json.loads(text)
    names = {"M": "mamba", "*": "attention", "E": "moe"}
    listed = {**config, "layers_block_type": [names[c] for c in config.pop("hybrid_override_pattern")]}
    assert model_from_dict(listed, "x").parameter_count() == preset(NS).parameter_count()


@pytest.mark.parametrize("change, field", [
    ({"hybrid_override_pattern": "MEMX"}, "hybrid_override_pattern"),
    ({"num_hidden_layers": 87}, "hybrid_override_pattern"),
    ({"n_groups": 7}, "n_groups"),
    ({"mamba_num_heads": None}, "mamba_num_heads"),
])
def test_bad_nemotron_configs_are_named_in_one_line(tmp_path, capsys, change, field):
    from roofline_utils.cli import main
    config = json.loads(rl.models._preset_files()[NS].read_text())
    config = {k: v for k, v in {**config, **change}.items() if v is not None}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    assert main(["table", "--model", str(path), "--hardware", DEVICE]) == 2
    err = capsys.readouterr().err
    assert field in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_nemotron_preset_gives_a_finite_table(tmp_path, capsys):
    from roofline_utils.cli import main
    out = tmp_path / "t.csv"
    assert main(["table", "--model", NS, "--hardware", DEVICE, "--seq-len", "4096", "--out", str(out)]) == 0
    assert "Traceback" not in capsys.readouterr().err
    numbers = pd.read_csv(out).select_dtypes("number").to_numpy()
    assert np.isfinite(numbers).all() and (numbers >= 0).all()


TINY_NH = {"architectures": ["NemotronHForCausalLM"], "hidden_size": 32, "intermediate_size": 64,
           "num_hidden_layers": 4, "hybrid_override_pattern": "M*-E", "num_attention_heads": 4,
           "num_key_value_heads": 2, "head_dim": 8, "mamba_num_heads": 4, "mamba_head_dim": 8, "ssm_state_size": 16,
           "n_groups": 2, "conv_kernel": 4, "n_routed_experts": 4, "num_experts_per_tok": 2,
           "moe_intermediate_size": 16, "n_shared_experts": 1, "moe_shared_expert_intermediate_size": 24,
           "vocab_size": 50, "tie_word_embeddings": False}


def test_nemotron_h_with_every_block_kind_by_hand():
    """One layer of each kind: M (Mamba-2), * (attention), - (a ReLU² MLP), E (MoE without a latent)."""
    mamba = 32 * (2 * 32 + 2 * 2 * 16 + 4) + (4 * 96 + 96) + 3 * 4 + 32 + 32 * 32  # in_proj, conv1d, A/dt/D, norm, out
    attention = 32 * 32 + 2 * 32 * 16 + 32 * 32  # q, k, v, o
    mlp = 2 * 32 * 64  # up, down
    moe = 32 * 4 + 4 + 4 * 2 * 32 * 16 + 2 * 32 * 24  # router and its bias, 4 experts, the shared expert
    rest = 4 * 32 + 32 + 2 * 50 * 32  # a norm per layer, the final norm, embedding and lm_head
    assert (mamba, attention, mlp, moe) == (5772, 3072, 4096, 5764)
    model = model_from_dict(TINY_NH, "x")
    assert model.parameter_count() == mamba + attention + mlp + moe + rest == 22_064
    assert model.parameter_count(active=True) == 22_064 - 2 * 2 * 32 * 16 == 20_016  # 2 of the 4 experts
    counts = table(model, "decode", 1, 8)["count"]
    assert (counts["ssm_scan"], counts["qk_matmul"], counts["dense_up_proj"], counts["up_proj"]) == (1, 1, 1, 1)
    assert (counts["shared_up_proj"], counts["router"], counts["norm"], counts["add"]) == (1, 1, 4, 4)
    assert (model.layer_count("dense"), model.layer_count("moe"), model.layer_count("attn")) == (1, 1, 1)
