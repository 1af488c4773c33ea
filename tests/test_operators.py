"""Operator FLOPs and bytes against hand arithmetic (Llama-33B: h=6656, I=17920, 52 heads of 128)."""
import numpy as np
import pytest

from roofline_utils import RooflineInputError, Workload, group_points, operator_table, phase_totals, preset
from roofline_utils.operators import operator_list
from roofline_utils.findings import paper_claims

H, I, HEADS, D, VOCAB = 6656, 17920, 52, 128, 32000


def row(table, phase, name):
    rows = table[(table["phase"] == phase) & (table["operator"] == name)]
    assert len(rows) == 1
    return rows.iloc[0]


@pytest.fixture(scope="module")
def default():
    return operator_table("llama-33b", "a40", Workload(attention_io="unfused"))


def test_q_proj_prefill(default):
    q = row(default, "prefill", "q_proj")
    assert q["flops"] == 2 * 1024 * H * H == 90_731_184_128
    assert q["weight_bytes"] == H * H * 2 == 88_604_672
    assert q["act_read_bytes"] == q["act_write_bytes"] == 1024 * H * 2
    assert q["count"] == 60 and q["bound"] == "compute"


def test_gate_proj_decode_is_memory_bound_at_intensity_one(default):
    gate = row(default, "decode", "gate_proj")
    assert gate["flops"] == 2 * H * I == 238_551_040
    assert gate["bytes"] == H * I * 2 + H * 2 + I * 2
    assert gate["intensity"] == pytest.approx(1.0, abs=1e-3)
    assert gate["bound"] == "memory"


def test_swiglu_activation_is_intermediate_size_wide(default):
    act = row(default, "decode", "act_mul")
    assert act["flops"] == 5 * I  # silu(g)·u: negate, exp, add, divide, multiply
    assert act["act_read_bytes"] == 2 * I * 2 and act["act_write_bytes"] == I * 2


def test_lm_head_is_a_full_gemm_over_the_tokens_that_need_logits(default):
    assert row(default, "prefill", "lm_head")["flops"] == 2 * 1 * H * VOCAB == 425_984_000
    assert row(default, "decode", "lm_head")["count"] == 1
    all_logits = operator_table("llama-33b", "a40", Workload(attention_io="unfused", prefill_logits="all"))
    assert row(all_logits, "prefill", "lm_head")["flops"] == 2 * 1024 * H * VOCAB


def test_causal_prefill_attention_counts_the_triangle(default):
    qk = row(default, "prefill", "qk_matmul")
    assert qk["flops"] == 2 * D * HEADS * (1024 * 1025 // 2) == 6_986_137_600
    assert qk["flops_full_square"] == 2 * D * HEADS * 1024 * 1024 == 13_958_643_712
    # the unfused score matrix is materialised in full: b·H·s² elements of 2 bytes
    assert qk["act_write_bytes"] == HEADS * 1024 * 1024 * 2
    full = operator_table("llama-33b", "a40", Workload(attention_io="unfused", causal=False))
    assert row(full, "prefill", "qk_matmul")["flops"] == 13_958_643_712


def test_decode_attention_reads_the_kv_cache(default):
    qk = row(default, "decode", "qk_matmul")
    assert qk["flops"] == 2 * D * HEADS * 1024
    assert qk["kv_read_bytes"] == 1024 * H * 2  # K for 1024 positions
    assert qk["act_write_bytes"] == HEADS * 1024 * 2  # one score row per head


def test_gqa_reads_each_kv_head_once():
    t = operator_table("llama-2-70b", "a40", Workload(attention_io="unfused", batch=4, seq_len=2048))
    # 8 KV heads of 128: K/V width 1024 instead of 8192
    assert row(t, "decode", "k_proj")["weight_bytes"] == 8192 * 1024 * 2
    assert row(t, "decode", "qk_matmul")["kv_read_bytes"] == 4 * 2048 * 1024 * 2
    assert row(t, "decode", "qk_matmul")["flops"] == 2 * 128 * 64 * 4 * 2048  # all 64 query heads


def test_fused_attention_moves_only_q_k_v_and_o():
    t = operator_table("llama-33b", "a40", Workload(attention_io="fused"))
    qk, pv = (row(t, "prefill", n) for n in ("qk_matmul", "pv_matmul"))
    tensor = 1024 * H * 2
    assert qk["bytes"] == 2 * tensor and pv["bytes"] == 2 * tensor  # Q+K, and V+O
    # the softmax runs inside the fused kernel: no row of its own, its 5 FLOPs per score are in qk_matmul
    assert "softmax" not in set(t["operator"])
    scores = 52 * 1024 * 1025 // 2  # causal: H·s·(s+1)/2
    assert qk["flops"] == 2 * 128 * scores + 5 * scores and pv["flops"] == 2 * 128 * scores
    fused_qk = next(op for op in operator_list(preset("llama-33b"), Workload(attention_io="fused"))
                    if op.name == "qk_matmul")
    assert "softmax" in fused_qk.note


def test_fusing_attention_keeps_the_flop_totals():
    unfused, fused = (phase_totals(operator_table("llama-33b", "a40", Workload(attention_io=io)))
                      for io in ("unfused", "fused"))
    assert (unfused["flops"] == fused["flops"]).all()
    assert (unfused["flops_full_square"] == fused["flops_full_square"]).all()


def test_sliding_window_caps_the_kv_read():
    t = operator_table("mistral-7b", "a40", Workload(attention_io="unfused", seq_len=8192))
    assert row(t, "decode", "qk_matmul")["kv_read_bytes"] == 4096 * 8 * 128 * 2
    # prefill: query i sees min(i, 4096) keys: 4096·4097/2 + (8192-4096)·4096
    assert row(t, "prefill", "qk_matmul")["flops"] == 2 * 128 * 32 * (4096 * 4097 // 2 + 4096 * 4096)


def test_attention_biases_add_weights_and_flops():
    t = operator_table("qwen2.5-7b", "a40", Workload(attention_io="unfused", batch=1, seq_len=16))
    q = row(t, "prefill", "q_proj")
    assert q["weight_bytes"] == (3584 * 3584 + 3584) * 2
    assert q["flops"] == 2 * 16 * 3584 * 3584 + 16 * 3584


def test_mixture_of_experts_tokens_touch_k_experts_a_batch_reads_more():
    one = operator_table("mixtral-8x7b", "a40", Workload(attention_io="unfused", batch=1, seq_len=1))
    gate = row(one, "decode", "gate_proj")
    # one token: 2 of 8 experts, and exactly those 2 are read
    assert gate["flops"] == 2 * 2 * 4096 * 14336
    assert gate["weight_bytes"] == pytest.approx(2 * 4096 * 14336 * 2)
    many = operator_table("mixtral-8x7b", "a40", Workload(attention_io="unfused", batch=32, seq_len=1))
    # 32 tokens: each of 8 experts is missed by one token with probability 6/8, by all with (3/4)^32
    expected = 8 * (1 - 0.75**32)
    assert row(many, "decode", "gate_proj")["weight_bytes"] == pytest.approx(expected * 4096 * 14336 * 2)
    assert row(many, "decode", "gate_proj")["flops"] == 32 * 2 * 2 * 4096 * 14336


def test_a_grid_evaluates_like_separate_points():
    grid = operator_table("llama-33b", "a40", Workload(attention_io="unfused", batch=np.array([1, 8, 64]), seq_len=np.array([128, 1024, 8192])))
    for b, s in [(1, 128), (8, 1024), (64, 8192)]:
        single = operator_table("llama-33b", "a40", Workload(attention_io="unfused", batch=b, seq_len=s))
        part = grid[(grid["batch"] == b) & (grid["seq_len"] == s)].reset_index(drop=True)
        assert np.allclose(part["time_s"], single["time_s"], rtol=1e-12)
        assert list(part["bound"]) == list(single["bound"])


@pytest.fixture(scope="module")
def sweep():
    b, s = np.meshgrid(2 ** np.arange(7), 2 ** np.arange(7, 14))
    return group_points(operator_table("llama-33b", "a40", Workload(attention_io="unfused", batch=b.ravel(), seq_len=s.ravel())))


def test_each_group_is_a_cloud_of_49_settings(sweep):
    counts = sweep[sweep["label"].isin(["qkv mlp", "up/gate/down", "qk/pv"])].groupby(["label", "phase"]).size()
    assert len(counts) == 6 and (counts == 49).all()


def test_the_papers_reading_holds_for_the_analytical_points(sweep):
    claims = paper_claims(sweep, ridge=149.7e12 / 696e9)
    assert len(claims) == 5 and all(claim.holds for claim in claims), claims
    decode_mlp = sweep[(sweep["label"] == "up/gate/down") & (sweep["phase"] == "decode")]
    # gate+up+down at batch b, 16 bits: FLOPs 3·2·b·h·I; bytes 3·2·h·I (weights) + 3·2·b·(h+I) (activations)
    # so intensity = b·h·I / (h·I + b·(h+I)): 63.2 at b = 64, whatever the length
    b64 = decode_mlp[decode_mlp["batch"] == 64]["intensity"]
    assert np.allclose(b64, 64 * H * I / (H * I + 64 * (H + I)), rtol=1e-12)


@pytest.mark.parametrize("kwargs, field", [
    ({"batch": 0}, "batch"), ({"seq_len": -3}, "seq_len"), ({"batch": 1.5}, "seq_len|batch"),
    ({"weight_bits": 12}, "weight_bits"), ({"attention_io": "flash"}, "attention_io"),
    ({"tp": 0}, "tp"), ({"batch": np.array([1, 0])}, "batch"), ({"prefill_logits": "first"}, "prefill_logits"),
])
def test_bad_workload_names_the_field(kwargs, field):
    with pytest.raises(RooflineInputError, match=f"^({field})"):
        Workload(**kwargs)
