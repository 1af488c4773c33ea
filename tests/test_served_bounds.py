"""Served numbers are bounds for real servers: attention counted fused, as serving engines run it.

The paper's chart keeps its own counting (qk and pv as separate matmuls, the score matrix through
memory); every served figure (TTFT, TPOT, throughput, sweeps, speculative speedups) uses the
workload's ``attention_io``, which defaults to ``fused``.
"""
from dataclasses import replace

import roofline_utils as rl
from roofline_utils.roofline import group_points, operator_table
from roofline_utils.sweeps import sweep_points

# TensorRT-LLM's published performance overview: Llama-7B FP8 on one L40S, 2,048 input tokens,
# time to first token 73 ms. A roofline bound must not be slower than a real server.
TRT_LLM_L40S_LLAMA7B_FP8_TTFT_S = 0.073


def test_the_default_counts_attention_as_servers_run_it():
    assert rl.Workload().attention_io == "fused"
    assert rl.ReportParameters().attention_io == "fused"


def test_served_ttft_is_a_bound_for_a_measured_server():
    served = rl.Workload(seq_len=2048, weight_bits=8, act_bits=8, kv_bits=8)
    run = rl.e2e.end_to_end("llama-7b", "l40s", served, prompt_len=2048, output_len=1)
    assert run.ttft_s <= TRT_LLM_L40S_LLAMA7B_FP8_TTFT_S
    # the paper's counting is not: its score matrices through memory make it slower than the server
    unfused = rl.e2e.end_to_end("llama-7b", "l40s", replace(served, attention_io="unfused"), 2048, 1)
    assert unfused.ttft_s > TRT_LLM_L40S_LLAMA7B_FP8_TTFT_S


def test_the_chart_keeps_the_papers_separate_matmuls():
    # qk/pv in prefill at b = 1, s = 1024: unfused, qk writes the 52·1024·1024 fp16 scores and pv reads
    # them back, so the group's bytes hold at least 2·52·1024²·2 B = 218 MB per layer; fused, none.
    scores_bytes = 2 * 52 * 1024 * 1024 * 2
    chart = sweep_points("llama-33b", "a40", rl.Workload(), [1], [1024])
    qkpv = chart[(chart["phase"] == "prefill") & (chart["label"] == "qk/pv")]
    assert float(qkpv["bytes"].iloc[0]) >= scores_bytes
    fused = group_points(operator_table("llama-33b", "a40", rl.Workload(), phases=("prefill",)))
    fused_qkpv = fused[(fused["label"] == "qk/pv")]
    assert float(fused_qkpv["bytes"].iloc[0]) < scores_bytes


def test_the_abstract_says_which_attention_it_counts():
    from roofline_utils.findings import abstract

    assert "Attention is counted fused" in abstract(rl.ReportParameters())
    assert "counted unfused" in abstract(rl.ReportParameters(attention_io="unfused"))
