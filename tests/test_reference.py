"""Cross-check against LLM-Viewer's outputs for Llama-33B on the A40 (b=1, s=1024, 16 bits).

Equal where its accounting is right; where it is not, the difference is exactly the one
its README (tests/data/llm_viewer/README.md, "Known quirks") documents, or the one named here.
"""
import pandas as pd
import pytest

from roofline_utils import Workload, memory_footprint, operator_table, phase_totals
from conftest import REFERENCE

H, I, S, HEADS = 6656, 17920, 1024, 52
NAMES = {"out_proj": "o_proj", "sv_matmul": "pv_matmul", "mlp_act": "act_mul"}  # theirs -> ours
BYTES = {"load_weight_bytes": "weight_bytes", "load_act_bytes": "act_read_bytes",
         "store_act_bytes": "act_write_bytes", "load_kv_cache_bytes": "kv_read_bytes",
         "store_kv_cache_bytes": "kv_write_bytes"}


@pytest.fixture(scope="module")
def theirs():
    table = pd.read_csv(REFERENCE / "llm_viewer_llama33b_a40.csv")
    table["operator"] = table["layer_name"].replace(NAMES)
    return table.set_index(["stage", "use_flashattention", "operator"])


@pytest.fixture(scope="module")
def ours():
    return operator_table("llama-33b", "a40", Workload(attention_io="unfused")).set_index(["phase", "operator"])


def pair(theirs, ours, phase, name, flash=False):
    return theirs.loc[(phase, flash, name)], ours.loc[(phase, name)]


@pytest.mark.parametrize("phase", ["prefill", "decode"])
@pytest.mark.parametrize("name", ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
def test_gemms_agree_exactly(theirs, ours, phase, name):
    ref, mine = pair(theirs, ours, phase, name)
    assert mine["flops"] == ref["OPs"]
    for their_column, our_column in BYTES.items():
        assert mine[our_column] == ref[their_column], their_column
    assert mine["intensity"] == pytest.approx(ref["arithmetic_intensity_OPs_per_byte"], rel=1e-12)
    assert mine["bound"] == ref["bound"]
    assert mine["time_s"] == pytest.approx(ref["inference_time_s"], rel=1e-12)
    assert mine["count"] == ref["count_in_model"]


@pytest.mark.parametrize("name", ["qk_matmul", "softmax", "pv_matmul"])
def test_attention_bytes_agree_and_prefill_flops_differ_by_the_causal_triangle(theirs, ours, name):
    for phase in ("prefill", "decode"):
        ref, mine = pair(theirs, ours, phase, name)
        for their_column, our_column in BYTES.items():
            assert mine[our_column] == ref[their_column], (phase, their_column)
        assert mine["flops_full_square"] == ref["OPs"]  # quirk 4: they count the full square
    ref, mine = pair(theirs, ours, "prefill", name)
    assert mine["flops"] == ref["OPs"] * (S + 1) / (2 * S)  # we count s·(s+1)/2 scores
    ref, mine = pair(theirs, ours, "decode", name)
    assert mine["flops"] == ref["OPs"]  # decode has no triangle


def test_swiglu_activation_quirk_1(theirs, ours):
    # theirs: 2 OPs per element over hidden_size; ours: intermediate_size wide (2.7x more elements)
    for phase, tokens in (("prefill", S), ("decode", 1)):
        ref, mine = pair(theirs, ours, phase, "act_mul")
        assert ref["OPs"] == 2 * tokens * H
        assert mine["flops"] / 5 == ref["OPs"] / 2 * I / H
        assert mine["act_read_bytes"] == ref["load_act_bytes"] * I / H
        assert mine["act_write_bytes"] == ref["store_act_bytes"] * I / H


def test_lm_head_quirk_2(theirs, ours):
    for phase in ("prefill", "decode"):
        ref, mine = pair(theirs, ours, phase, "lm_head")
        assert mine["flops"] == 2 * ref["OPs"]  # 2·M·N·K, not M·N·K
        assert mine["bytes"] == ref["memory_access_bytes"]  # the traffic agrees


def test_norms_differ_by_the_flops_guess_and_the_gain_vector(theirs, ours):
    # their 7 OPs per element (a guess, quirk 4) vs our 4; with theirs the FLOPs agree
    seven = operator_table("llama-33b", "a40", Workload(attention_io="unfused", norm_flops_per_element=7)).set_index(["phase", "operator"])
    for phase in ("prefill", "decode"):
        for name in ("attn_norm", "mlp_norm"):
            ref, mine = pair(theirs, seven, phase, name)
            assert mine["flops"] == ref["OPs"]
            assert mine["act_read_bytes"] == ref["load_act_bytes"]
            assert mine["weight_bytes"] - ref["load_weight_bytes"] == H * 2  # they skip the RMSNorm gain


def test_residual_add_reads_both_operands(theirs, ours):
    # not in their README: their add loads one T·h operand; x + f(x) reads two
    for phase in ("prefill", "decode"):
        for name in ("attn_add", "mlp_add"):
            ref, mine = pair(theirs, ours, phase, name)
            assert mine["flops"] == ref["OPs"]
            assert mine["act_read_bytes"] == 2 * ref["load_act_bytes"]
            assert mine["act_write_bytes"] == ref["store_act_bytes"]


def test_operators_they_leave_out():
    ours = set(operator_table("llama-33b", "a40", Workload(attention_io="unfused"))["operator"])
    theirs = set(pd.read_csv(REFERENCE / "llm_viewer_llama33b_a40.csv")["layer_name"].replace(NAMES))
    assert ours - theirs == {"embedding", "rope", "final_norm"}  # quirk 2: "not modelled at all"


def test_flashattention_quirk_5(theirs):
    # their fused prefill attention stores an s×s "output" (218 MB) and re-reads K/V 8 times;
    # ours moves Q, K, V and O once: 4 · s·h·2 bytes
    fused = operator_table("llama-33b", "a40", Workload(attention_io="fused")).set_index(["phase", "operator"])
    ours_bytes = sum(fused.loc[("prefill", n), "bytes"] for n in ("qk_matmul", "pv_matmul"))
    assert ours_bytes == 4 * S * H * 2
    ref = theirs.loc[("prefill", True, "fused_attention")]
    assert ref["store_act_bytes"] == 2 * S * S * HEADS * 2
    assert ref["load_kv_cache_bytes"] == 8 * 2 * S * H * 2


def test_totals_differ_only_by_the_documented_items():
    totals = pd.read_csv(REFERENCE / "llm_viewer_llama33b_a40_totals.csv")
    ref = totals[~totals["use_flashattention"]].set_index(["stage", "quantity"])["value"]
    ours = phase_totals(operator_table("llama-33b", "a40", Workload(attention_io="unfused"))).set_index("phase")
    for phase in ("prefill", "decode"):
        assert ours.loc[phase, "kv_read_bytes"] == ref[(phase, "load_kv_cache")]
        assert ours.loc[phase, "kv_write_bytes"] == ref[(phase, "store_kv_cache")]
        # weights: theirs + 121 RMSNorm gains (2 per layer + final) + the embedding rows we gather
        tokens = S if phase == "prefill" else 1
        assert ours.loc[phase, "weight_bytes"] == ref[(phase, "load_weight")] + 121 * H * 2 + tokens * H * 2
    # decode time: theirs 95.28 ms; ours adds the bytes above and the extra activation traffic (< 0.1%)
    assert ours.loc["decode", "time_s"] == pytest.approx(ref[("decode", "inference_time")], rel=1e-3)
    # the weights in memory: theirs leave out lm_head, the embedding table and the norms (quirk 2)
    footprint = memory_footprint("llama-33b", "a40", Workload(attention_io="unfused"))
    assert footprint.weights_bytes == ref[("decode", "memory_consumption_weight")] + 2 * 32000 * H * 2 + 121 * H * 2
    # the KV cache: theirs holds the prompt; ours the request at its end, prompt + 256 output tokens
    assert footprint.kv_cache_bytes == ref[("decode", "memory_consumption_kv_cache")] * (1024 + 256) / 1024
    prompt_only = memory_footprint("llama-33b", "a40", Workload(attention_io="unfused", output_len=0))
    assert prompt_only.kv_cache_bytes == ref[("decode", "memory_consumption_kv_cache")]
