"""DeepSeek sparse attention (DSA: DeepSeek-V3.2, GLM-5), checked against numbers worked out by hand.

The same rules as test_architectures.py: every expected value is a closed form on the config's numbers, never
a value copied from the package's output; 16 bits (2 bytes per element) unless a test says otherwise; costs
are per call of an operator (one layer). The indexer's cache holds one FP8 byte per key element and one fp32
scale per 128 of them: 128 + 4 = 132 bytes per token and layer at index_head_dim 128.
"""
from __future__ import annotations

import pytest

import roofline_utils as rl
from roofline_utils.memory import kv_cache_bytes, memory_footprint
from roofline_utils.models import preset
from conftest import assert_table_is_finite

DEVICE = "h200-sxm"
BYTES = 2
SOFTMAX = 5
INDEX_BYTES = 132 / 128  # FP8 plus an fp32 scale per 128 elements, per index key element

# DeepSeek-V3.2: DeepSeek-V3's sizes (test_architectures.py) plus the indexer
V32_H, V32_HEADS, V32_RQ, V32_RKV, V32_ROPE, V32_LAYERS, V32_V = 7168, 128, 1536, 512, 64, 61, 129280
V32_DC = V32_RKV + V32_ROPE  # 576 cached per token and layer
V32_IH, V32_ID, V32_TOPK = 64, 128, 2048  # index_n_heads, index_head_dim, index_topk
V3_TOTAL, V3_ACTIVE = 671_026_404_352, 37_552_282_624  # DeepSeek-V3's counts, derived in test_architectures.py


def v32_indexer_parameters() -> int:
    """The indexer's weights in one layer, as DeepSeek-V3.2-Exp's inference/model.py holds them."""
    return (V32_RQ * V32_IH * V32_ID  # wq_b: q_lora_rank → index heads · index_head_dim
            + V32_H * V32_ID  # wk: h → one index key
            + 2 * V32_ID  # k_norm: a LayerNorm's gain and bias
            + V32_H * V32_IH)  # weights_proj: h → one weight per index head


def table(model, phase: str, batch: int, seq_len: int, io: str = "unfused"):
    workload = rl.Workload(batch=batch, seq_len=seq_len, attention_io=io)
    return rl.operator_table(model, DEVICE, workload, phases=(phase,)).set_index("operator")


def test_deepseek_v32_parameters_against_the_card():
    # https://huggingface.co/deepseek-ai/DeepSeek-V3.2: 685B, which counts the 14B MTP module (DeepSeek-V3's
    # report: 671B main model + 14B MTP); the indexer adds 61 · 13,959,424 = 851,524,864 to the 671B
    model = preset("deepseek-v3.2")
    assert v32_indexer_parameters() == 12_582_912 + 917_504 + 256 + 458_752 == 13_959_424
    assert model.parameter_count() == V3_TOTAL + V32_LAYERS * v32_indexer_parameters() == 671_877_929_216
    assert abs(model.parameter_count() + 14e9 - 685e9) < 1e9
    # activated: 37B on DeepSeek-V3's card, which leaves the embedding rows out (a gather, no FLOPs)
    active = model.parameter_count(active=True)
    assert active == V3_ACTIVE + V32_LAYERS * v32_indexer_parameters()
    assert abs(active - V32_V * V32_H - 37e9) < 0.5e9


def test_deepseek_v32_cache_bytes_per_token():
    # per token and layer: the 576-element latent at 2 B and the 128-element index key at 132/128 B
    model = preset("deepseek-v3.2")
    per_token = V32_LAYERS * (V32_DC * BYTES + 132)
    assert per_token == 78_324
    assert float(kv_cache_bytes(model, 1, 1, 16)) == pytest.approx(per_token, rel=1e-12)
    assert float(kv_cache_bytes(model, 2, 4096, 16)) == pytest.approx(2 * 4096 * per_token, rel=1e-12)
    # an 8-bit KV cache halves the latent; the indexer cache keeps its FP8 + scale format
    assert float(kv_cache_bytes(model, 1, 1, 8)) == pytest.approx(V32_LAYERS * (V32_DC + 132), rel=1e-12)
    footprint = memory_footprint(model, DEVICE, rl.Workload(batch=1, seq_len=4096))
    # the footprint holds the request at its end: the prompt and the tokens generated after it
    assert footprint.kv_cache_bytes == pytest.approx(footprint.kv_positions * per_token, rel=1e-12)


@pytest.mark.parametrize("s", [4096, 1024])
def test_deepseek_v32_decode_attends_to_the_top_k_only(s):
    """Absorbed decode at b = 2: the indexer scores all s cached positions, attention the min(s, 2048) kept."""
    b, T = 2, 2
    kept = min(s, V32_TOPK)
    t = table(preset("deepseek-v3.2"), "decode", b, s)
    scores = b * V32_HEADS * kept
    qk = t.loc["qk_matmul"]
    assert qk["flops"] == 2 * V32_DC * scores
    assert qk["kv_read_bytes"] == b * kept * V32_DC * BYTES  # the kept latent rows, shared by all heads
    assert qk["act_read_bytes"] == T * V32_HEADS * V32_DC * BYTES
    assert qk["act_write_bytes"] == scores * BYTES
    assert t.loc["pv_matmul", "flops"] == 2 * V32_RKV * scores
    assert t.loc["pv_matmul", "kv_read_bytes"] == b * kept * V32_RKV * BYTES
    # the indexer: 64 heads · 128-long dot products per cached position and query, then ReLU, weight, sum
    idx = t.loc["index_scores"]
    assert idx["flops"] == 2 * V32_IH * V32_ID * b * s + 3 * V32_IH * b * s
    assert idx["kv_read_bytes"] == pytest.approx(b * s * 132, rel=1e-12)  # every cached index key, once
    assert idx["act_read_bytes"] == (T * V32_IH * V32_ID + T * V32_IH) * BYTES
    assert idx["act_write_bytes"] == b * s * BYTES
    top = t.loc["index_topk"]
    assert (top["flops"], top["act_read_bytes"], top["act_write_bytes"]) == (b * s, b * s * BYTES, b * kept * BYTES)
    cache = t.loc["index_k_cache"]
    assert cache["kv_write_bytes"] == pytest.approx(T * 132, rel=1e-12)
    assert cache["flops"] == 3 * T * V32_ID
    assert t.loc["index_q_proj", "flops"] == 2 * T * V32_RQ * V32_IH * V32_ID
    assert t.loc["index_q_proj", "weight_bytes"] == V32_RQ * V32_IH * V32_ID * BYTES
    assert t.loc["index_k_proj", "flops"] == 2 * T * V32_H * V32_ID
    assert t.loc["index_weights_proj", "weight_bytes"] == V32_H * V32_IH * BYTES
    assert t.loc["index_k_norm", "weight_bytes"] == 2 * V32_ID * BYTES
    assert (t["count"][["index_scores", "qk_matmul"]] == V32_LAYERS).all()


def test_deepseek_v32_prefill_scores_at_most_top_k_keys_per_query():
    """Causal prefill of one 4096-token prompt: query i keeps min(i, 2048) keys; the indexer scores i."""
    s = 4096
    t = table(preset("deepseek-v3.2"), "prefill", 1, s)
    kept = V32_TOPK * (V32_TOPK + 1) // 2 + (s - V32_TOPK) * V32_TOPK  # 2,098,176 + 4,194,304
    assert kept == 6_292_480
    d_qk, d_v = 128 + 64, 128
    assert t.loc["qk_matmul", "flops"] == 2 * d_qk * V32_HEADS * kept
    assert t.loc["pv_matmul", "flops"] == 2 * d_v * V32_HEADS * kept
    positions = s * (s + 1) // 2  # the indexer scores every earlier position of every query
    assert t.loc["index_scores", "flops"] == (2 * V32_ID + 3) * V32_IH * positions
    assert t.loc["index_topk", "act_write_bytes"] == kept * BYTES


def test_deepseek_v32_decode_reads_less_than_v3_at_long_context():
    """At 32k tokens the per-token attention of V3.2 reads 2048 latent rows and 32k index keys, V3 all 32k rows."""
    s, w = 32768, rl.Workload(batch=1, seq_len=32768, attention_io="fused")
    v3 = rl.operator_table("deepseek-v3", DEVICE, w, phases=("decode",)).set_index("operator")
    v32 = rl.operator_table("deepseek-v3.2", DEVICE, w, phases=("decode",)).set_index("operator")
    assert v3.loc["qk_matmul", "kv_read_bytes"] == s * V32_DC * BYTES
    assert v32.loc["qk_matmul", "kv_read_bytes"] == V32_TOPK * V32_DC * BYTES
    assert v32.loc["index_scores", "kv_read_bytes"] == pytest.approx(s * 132, rel=1e-12)


# GLM-5 (zai-org/GLM-5): the same blocks, its own sizes
G5_H, G5_F, G5_FE, G5_LAYERS, G5_DENSE, G5_HEADS = 6144, 12288, 2048, 78, 3, 64
G5_RQ, G5_RKV, G5_NOPE, G5_ROPE, G5_DV, G5_E, G5_K, G5_V = 2048, 512, 192, 64, 256, 256, 8, 154880
G5_IH, G5_ID = 32, 128


def glm5_parameters(active: bool) -> int:
    attention = (G5_H * G5_RQ + G5_RQ  # q_a_proj, q_a_layernorm
                 + G5_RQ * G5_HEADS * (G5_NOPE + G5_ROPE)  # q_b_proj
                 + G5_H * (G5_RKV + G5_ROPE) + G5_RKV  # kv_a_proj_with_mqa, kv_a_layernorm
                 + G5_RKV * G5_HEADS * (G5_NOPE + G5_DV)  # kv_b_proj
                 + G5_HEADS * G5_DV * G5_H)  # o_proj
    indexer = G5_RQ * G5_IH * G5_ID + G5_H * G5_ID + 2 * G5_ID + G5_H * G5_IH
    expert = 3 * G5_H * G5_FE
    moe = G5_H * G5_E + ((G5_K if active else G5_E) + 1) * expert  # router, routed and the shared expert
    norms = 2 * G5_H
    dense = G5_DENSE * (attention + indexer + 3 * G5_H * G5_F + norms)
    sparse = (G5_LAYERS - G5_DENSE) * (attention + indexer + moe + norms)
    return dense + sparse + 2 * G5_V * G5_H + G5_H


def test_glm5_parameters_against_the_card():
    # https://huggingface.co/zai-org/GLM-5: "744B parameters (40B active)"
    model = preset("glm-5")
    assert model.parameter_count() == glm5_parameters(False)
    assert model.parameter_count(active=True) == glm5_parameters(True)
    assert abs(model.parameter_count() - 744e9) < 1e9
    # the active count without the embedding rows (a gather, no FLOPs), as DeepSeek's and gpt-oss's cards count
    assert abs(model.parameter_count(active=True) - G5_V * G5_H - 40e9) < 1e9


def test_glm5_cache_bytes_per_token():
    model = preset("glm-5")
    per_token = G5_LAYERS * ((G5_RKV + G5_ROPE) * BYTES + G5_ID * INDEX_BYTES)  # 78 · (1152 + 132)
    assert per_token == 100_152
    assert float(kv_cache_bytes(model, 1, 1, 16)) == pytest.approx(per_token, rel=1e-12)


@pytest.mark.parametrize("name", ["deepseek-v3.2", "glm-5"])
def test_dsa_presets_give_a_finite_table(name, tmp_path, capsys):
    assert_table_is_finite(name, DEVICE, tmp_path, capsys)


def test_dsa_without_index_topk_is_named_in_one_line(tmp_path, capsys):
    import json

    from roofline_utils.cli import main
    config = json.loads(rl.models._preset_files()["glm-5"].read_text())
    del config["index_topk"]
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    assert main(["table", "--model", str(path), "--hardware", DEVICE]) == 2
    err = capsys.readouterr().err
    assert "index_topk" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
