"""Hybrid models whose recurrent layers keep a state instead of a KV cache: Gated DeltaNet (Qwen3-Next,
Qwen3.5), checked against numbers worked out by hand from each config.

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
    from roofline_utils.cli import main
    out = tmp_path / "t.csv"
    assert main(["table", "--model", name, "--hardware", DEVICE, "--seq-len", "4096", "--out", str(out)]) == 0
    assert "Traceback" not in capsys.readouterr().err
    numbers = pd.read_csv(out).select_dtypes("number").to_numpy()
    assert np.isfinite(numbers).all() and (numbers >= 0).all()
