"""The compiled engine (totals without a table) against hand arithmetic and against the table path."""
import tracemalloc

import numpy as np
import pytest

from roofline_utils import RooflineInputError, Workload, get_hardware, load_model, operator_table, phase_totals
from roofline_utils.engine import phase_source
from roofline_utils.expr import Sym
from roofline_utils.roofline import peak_flops, totals
from roofline_utils.sweeps import grid_totals

H, I, HEADS, D, LAYERS, VOCAB = 6656, 17920, 52, 128, 60, 32000  # Llama-33B


def test_decode_flops_of_llama_33b_in_closed_form():
    """One decode step at batch 1, KV length 1024, counted by hand operator by operator:
    per layer q/k/v/o 4·2h², gate/up/down 3·2hI, QK^T and PV 2·2·d·H·s, softmax 5·H·s, SwiGLU 5·I,
    two norms 2·4h, RoPE 3·2h, two residual adds 2·h; then the final norm 4h and lm_head 2hV."""
    s = 1024
    per_layer = 8 * H * H + 6 * H * I + 4 * D * HEADS * s + 5 * HEADS * s + 5 * I + 8 * H + 6 * H + 2 * H
    expected = LAYERS * per_layer + 4 * H + 2 * H * VOCAB
    result = totals(load_model("llama-33b"), get_hardware("a40"), Workload(batch=1, seq_len=s), ("decode",))
    assert result["decode"]["flops"] == expected == 66_293_837_824


def test_a_single_setting_stays_in_python_floats():
    result = totals(load_model("llama-7b"), get_hardware("a40"), Workload(batch=3, seq_len=100))
    assert {type(value) for phase in result.values() for value in phase.values()} == {float}


CASES = [
    ("llama-33b", "a40", {}),
    ("mixtral-8x7b", "h100-sxm", {"tp": 2, "weight_bits": 4}),  # experts, router, all-reduce over the link
    ("qwen2.5-7b", "l40s", {"attention_io": "fused", "prefill_logits": "all"}),  # q/k/v biases
    ("mistral-7b", "a100-80gb-sxm", {"causal": False, "weight_bits": 8, "act_bits": 8, "kv_bits": 8}),  # window
]


@pytest.mark.parametrize("model, device, switches", CASES)
def test_totals_equal_the_table_path_for_single_settings_and_grids(model, device, switches):
    llm, hw = load_model(model), get_hardware(device)
    batch, seq = np.array([1, 7, 64, 1, 300]), np.array([1, 4096, 8192, 20000, 333])
    grid = totals(llm, hw, Workload(batch=batch, seq_len=seq, **switches))
    table = phase_totals(operator_table(llm, hw, Workload(batch=batch, seq_len=seq, **switches)))
    for phase in ("prefill", "decode"):
        rows = table[table["phase"] == phase]
        for total in ("flops", "bytes", "link_bytes", "time_s"):
            assert np.allclose(grid[phase][total], rows[total], rtol=1e-12, atol=0), (phase, total)
        for i, (b, s) in enumerate(zip(batch, seq)):
            single = totals(llm, hw, Workload(batch=int(b), seq_len=int(s), **switches), (phase,))[phase]
            assert single["time_s"] == pytest.approx(grid[phase]["time_s"][i], rel=1e-12)


def test_bit_widths_may_vary_over_the_grid():
    hw = get_hardware("h100-sxm")
    bits = dict(weight_bits=np.array([16, 8, 4, 4]), act_bits=np.array([16, 8, 16, 8]), kv_bits=np.array([16, 8, 8, 16]))
    peaks = peak_flops(hw, Workload(batch=np.ones(4, int), **bits))
    # the roof follows the wider operand: 16-bit, FP8, 16-bit (4-bit weights dequantised), FP8
    assert list(peaks) == [hw.peak("fp16"), hw.peak("fp8"), hw.peak("fp16"), hw.peak("fp8")]
    grid = totals(load_model("llama-7b"), hw, Workload(batch=np.full(4, 8), seq_len=2048, **bits))
    for i in range(4):
        single = Workload(batch=8, seq_len=2048, **{k: int(v[i]) for k, v in bits.items()})
        assert totals(load_model("llama-7b"), hw, single)["decode"]["time_s"] == pytest.approx(
            grid["decode"]["time_s"][i], rel=1e-12)


def test_the_compiled_source_folds_model_sizes_into_exact_constants():
    source = phase_source(load_model("llama-33b"), Workload(attention_io="unfused"))
    assert f"flops_q_proj = {2 * H * H}.0*T\n" in source  # 2·T·h·H·d with h = H·d = 6656
    assert f"bytes_q_proj = {H * H}.0*weight_bits + {2 * H}.0*T*act_bits\n" in source  # x read, q written
    assert "flops_softmax = 5.0*n_scores\n" in source


def test_python_source_merges_like_terms_and_keeps_varying_symbols():
    T, h, b = Sym("T"), Sym("h"), Sym("b")
    fixed = {"h": 4096.0}.get
    assert (2 * T * h).python(lambda s: s, fixed) == "8192.0*T"
    assert (T * h + T * h).python(lambda s: s, fixed) == "8192.0*T"
    assert (T * h + b).python(lambda s: s, fixed) == "(4096.0*T + b)"
    assert (h * h).python(lambda s: s, fixed) == "16777216.0"
    assert (T / 2).python(lambda s: s, fixed) == "0.5*T"


def test_grid_totals_match_single_settings_whatever_the_chunk():
    axes = {"batch": [1, 3, 64], "seq_len": [128, 5000],
            ("weight_bits", "act_bits", "kv_bits"): [(16, 16, 16), (8, 8, 8), (4, 16, 8)]}
    whole = grid_totals("llama-2-70b", "h100-sxm", Workload(), axes)
    assert whole["decode"].shape == (3, 2, 3)
    for chunk in (1, 7):
        chunked = grid_totals("llama-2-70b", "h100-sxm", Workload(), axes, chunk_size=chunk)
        assert all(np.array_equal(chunked[p], whole[p]) for p in whole)
    single = Workload(batch=3, seq_len=5000, weight_bits=4, act_bits=16, kv_bits=8)
    expected = totals(load_model("llama-2-70b"), get_hardware("h100-sxm"), single)["prefill"]["time_s"]
    assert whole["prefill"][1, 1, 2] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("axes, chunk, field", [
    ({"tp": [1, 2]}, 10, "axes"), ({("batch", "causal"): [(1, True)]}, 10, "axes"), ({"batch": [1]}, 0, "chunk_size"),
])
def test_grid_totals_reject_what_they_cannot_sweep(axes, chunk, field):
    with pytest.raises(RooflineInputError, match=f"^{field}"):
        grid_totals("llama-7b", "a40", Workload(), axes, chunk_size=chunk)


def test_grid_totals_work_in_bounded_memory():
    """Four times the configurations, the same working memory: only the results (16 B per
    configuration for two phases) grow."""
    def working_bytes(lengths: int) -> int:
        axes = {"batch": np.arange(1, 101), "seq_len": np.arange(1, lengths + 1)}
        tracemalloc.start()
        grid_totals("llama-7b", "a40", Workload(), axes, chunk_size=4096)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return peak - 16 * 100 * lengths

    small, large = working_bytes(250), working_bytes(1000)
    assert large < small + 2**20 and large < 16 * 2**20
