"""Memory footprint, the roofline formula, and the model totals, against hand arithmetic."""
from dataclasses import replace

import numpy as np
import pytest

from roofline_utils import Workload, memory_footprint, operator_table, phase_totals, preset
from roofline_utils.memory import kv_cache_bytes
from roofline_utils.roofline import roofline
from roofline_utils.findings import batch_at_ridge, headline

A40_BW, A40_PEAK = 696e9, 149.7e12


def test_kv_cache_of_the_whole_model():
    # 2 (K and V) · 60 layers · 1024 positions · 52 heads · 128 · 2 bytes
    assert kv_cache_bytes(preset("llama-33b"), 1, 1024, 16) == 2 * 60 * 1024 * 52 * 128 * 2 == 1_635_778_560


def test_gqa_kv_cache_per_token():
    # Llama-2-70B: 2 · 80 layers · 8 KV heads · 128 · 2 bytes
    assert kv_cache_bytes(preset("llama-2-70b"), 1, 1, 16) == 2 * 80 * 8 * 128 * 2 == 327_680


def test_fp16_llama_33b_does_not_fit_one_a40():
    footprint = memory_footprint("llama-33b", "a40", Workload())
    assert footprint.weights_bytes == 32_528_943_616 * 2
    assert footprint.weights_bytes > 48 * 2**30 and not footprint.fits
    assert footprint.verdict("the A40").startswith("Does not fit") and "weights alone" in footprint.verdict("the A40")
    # at 4 bits the weights are 16.3 GB and the whole thing fits
    assert memory_footprint("llama-33b", "a40", Workload(weight_bits=4)).fits


def test_peak_activation_is_the_swiglu_since_servers_run_fused_attention():
    # silu(gate)·up reads gate and up and writes their product: 3 · tokens · 17920 elements of 2 bytes, for
    # the one token a decode step holds per sequence (the fit) and the 1024 of a one-pass prefill (beside it);
    # the unfused score matrix a softmax would read and write (2 · 52 · 1024² · 2 B) never exists fused,
    # whichever IO model the chart uses
    for io in ("unfused", "fused"):
        fit = memory_footprint("llama-33b", "a40", Workload(attention_io=io))
        assert fit.activations_bytes == 3 * 1 * 17920 * 2
        assert fit.prefill_activations_bytes == 3 * 1024 * 17920 * 2


def test_the_verdict_and_the_largest_batch_count_the_same_bytes():
    # 4-bit Llama-33B on an A40 at 2,048 tokens: whatever the largest batch is, the verdict at that batch
    # says it fits and at one more says it does not (one accounting, decode activations)
    from roofline_utils.memory import largest_batch_that_fits

    workload = Workload(weight_bits=4, seq_len=2048, output_len=0)
    largest = largest_batch_that_fits("llama-33b", "a40", workload)
    assert largest > 1
    assert memory_footprint("llama-33b", "a40", replace(workload, batch=largest)).fits
    assert not memory_footprint("llama-33b", "a40", replace(workload, batch=largest + 1)).fits


def test_roofline_formula():
    out = roofline(flops=np.array([1e12, 1e12]), memory_bytes=np.array([1e9, 1e12]), link_bytes=np.zeros(2),
                   peak=A40_PEAK, bandwidth=A40_BW)
    assert out["intensity"].tolist() == [1000.0, 1.0]
    assert out["attainable_flops_per_s"].tolist() == [A40_PEAK, A40_BW]  # min(peak, I·BW)
    assert out["bound"].tolist() == ["compute", "memory"]
    assert out["time_s"].tolist() == [1e12 / A40_PEAK, 1e12 / A40_BW]


def test_decode_step_time_is_bytes_over_bandwidth():
    table = operator_table("llama-33b", "a40", Workload())
    decode = table[table["phase"] == "decode"]
    assert (decode["bound"] == "memory").all()
    totals = phase_totals(table).set_index("phase")
    # weights read in one step: every layer's matrices and norm gains, lm_head, final norm, one embedding row
    layer_weights = 4 * 6656**2 + 3 * 6656 * 17920 + 2 * 6656
    assert totals.loc["decode", "weight_bytes"] == (60 * layer_weights + 6656 * 32000 + 6656 + 6656) * 2
    assert totals.loc["decode", "kv_read_bytes"] == 1_635_778_560
    assert totals.loc["decode", "time_s"] == pytest.approx(totals.loc["decode", "bytes"] / A40_BW, rel=1e-12)
    assert 0.095 < totals.loc["decode", "time_s"] < 0.0955  # about 95.3 ms per token


def test_headline_numbers():
    top = headline("llama-33b", "a40", Workload())
    # prefill is mostly compute-bound: at least the GEMM FLOPs over the peak
    gemm_flops = 60 * 2 * 1024 * (4 * 6656**2 + 3 * 6656 * 17920)
    assert top.ttft_s > gemm_flops / A40_PEAK
    assert top.tokens_per_s == pytest.approx(1 / top.tpot_s)


def test_decode_mlp_reaches_the_ridge_where_the_closed_form_says():
    # b·h·I / (h·I + b·(h+I)) >= 149.7e12/696e9  <=>  b >= ridge·h·I / (h·I - ridge·(h+I))
    h, inter, ridge = 6656, 17920, A40_PEAK / A40_BW
    assert batch_at_ridge("llama-33b", "a40", Workload()) == int(np.ceil(ridge * h * inter / (h * inter - ridge * (h + inter))))


def test_a_group_weighs_each_operator_by_how_often_it_runs():
    """DeepSeek-V3's MLP group: 3 dense layers and 58 expert layers. The point is the group's FLOPs over
    its bytes with each operator counted as often as it runs, per occurrence of the most frequent one."""
    import pandas as pd

    from roofline_utils.roofline import group_points

    table = pd.DataFrame({"phase": ["decode", "decode"], "operator": ["dense_up", "expert_up"],
                          "group": ["up/gate/down"] * 2, "count": [3, 58], "batch": [1, 1], "seq_len": [8, 8],
                          "flops": [100.0, 10.0], "bytes": [10.0, 20.0], "link_bytes": [0.0, 0.0],
                          "time_s": [1.0, 2.0]})
    point = group_points(table).iloc[0]
    assert point["intensity"] == pytest.approx((3 * 100 + 58 * 10) / (3 * 10 + 58 * 20))  # 880 / 1190
    assert point["flops"] == pytest.approx((3 * 100 + 58 * 10) / 58)
    assert point["performance_flops_per_s"] == pytest.approx(880 / (3 * 1 + 58 * 2))
