"""The new block kinds (DSA, Gated DeltaNet, Mamba-2, the parallel block) through every path that reads the
operator list: the compiled engine agrees with the table, tensor parallelism splits what it should, and the
memory footprint counts the states and the indexer cache the same way the cache formula does."""
from __future__ import annotations

import numpy as np
import pytest

import roofline_utils as rl
from roofline_utils.memory import kv_cache_bytes, largest_batch_that_fits, memory_footprint, weight_bytes

DEVICE = "h200-sxm"
NEW = ["deepseek-v3.2", "glm-5", "qwen3-next-80b-a3b", "qwen3.5-27b", "qwen3.5-397b-a17b",
       "nemotron-3-super-120b-a12b", "minimax-m2.5", "qwen3-vl-8b", "gpt-j-6b", "falcon-7b", "falcon-40b"]


@pytest.mark.parametrize("name", NEW)
@pytest.mark.parametrize("phase", ["prefill", "decode"])
def test_the_engine_agrees_with_the_table(name, phase):
    workload = rl.Workload(batch=4, seq_len=3000)
    table = rl.operator_table(name, DEVICE, workload, phases=(phase,))
    fast = rl.totals(name, DEVICE, workload)[phase]
    assert float(fast["time_s"]) == pytest.approx(float((table["time_s"] * table["count"]).sum()), rel=1e-9)
    assert float(fast["flops"]) == pytest.approx(float((table["flops"] * table["count"]).sum()), rel=1e-9)


@pytest.mark.parametrize("name", NEW)
def test_a_grid_is_finite_and_grows_with_length(name):
    workload = rl.Workload(batch=np.array([1, 16]), seq_len=np.array([256, 8192])[:, None])
    decode = rl.totals(name, DEVICE, workload)["decode"]["time_s"]
    assert np.isfinite(decode).all() and (decode > 0).all()
    assert (decode[1] >= decode[0]).all()  # a longer context never decodes faster


def test_the_recurrent_state_splits_over_tensor_parallel_devices():
    # Qwen3-Next at tp = 4: 8 of the 32 value heads per device, the conv's channels likewise
    state = 36 * (8 * 128 * 128 * 4 + 3 * (2 * 4 * 128 + 8 * 128) * 2)
    kv = 12 * 2 * 1 * 256 * 2  # 2 K/V heads over 4 devices: one replicated head each
    model = rl.preset("qwen3-next-80b-a3b")
    assert float(kv_cache_bytes(model, 1, 1000, 16, tp=4)) == 1000 * kv + state


def test_the_footprint_fits_what_the_largest_batch_says():
    for name in ("qwen3-next-80b-a3b", "nemotron-3-super-120b-a12b"):
        workload = rl.Workload(batch=1, seq_len=8192, weight_bits=8, act_bits=8)
        most = largest_batch_that_fits(name, DEVICE, workload)
        assert most >= 1
        fits = memory_footprint(name, DEVICE, rl.Workload(batch=most, seq_len=8192, weight_bits=8, act_bits=8))
        beyond = memory_footprint(name, DEVICE, rl.Workload(batch=most + 1, seq_len=8192, weight_bits=8,
                                                             act_bits=8))
        assert fits.fits and not beyond.fits
        # the cache of one sequence is its KV positions plus the fixed state, whatever the batch
        per_sequence = (fits.kv_cache_bytes / most)
        model = rl.preset(name)
        assert per_sequence == pytest.approx(float(kv_cache_bytes(model, 1, fits.kv_positions, 16)), rel=1e-12)
        assert weight_bytes(model, workload) > 0


def test_the_time_breakdown_files_new_blocks_under_their_bars():
    from roofline_utils import sweeps

    table = rl.operator_table("nemotron-3-super-120b-a12b", "h200-sxm", rl.Workload(tp=2), phases=("decode",))
    bars = sweeps.time_breakdown(table).set_index("category")["time_s"]
    # Nemotron-H's all-reduce is named "allreduce": it is the link's bar by its link bytes, not a norm
    link = table[table["link_bytes"] > 0]
    assert bars["all-reduce (link)"] == pytest.approx(float((link["time_s"] * link["count"]).sum()))
    mixer = table[table["operator"].isin(["conv1d", "ssm_scan"])]
    assert bars["recurrent layers"] >= float((mixer["time_s"] * mixer["count"]).sum())
    assert bars.sum() == pytest.approx(float((table["time_s"] * table["count"]).sum()))
    assert bars["norms + residuals"] < 0.01 * bars.sum()
