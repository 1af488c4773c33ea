"""End-to-end latency, tensor parallelism, precision, memory limits and sweeps (hand-derived)."""
import numpy as np
import pytest

from roofline_utils import RooflineInputError, Workload, get_hardware, operator_table, preset
from roofline_utils.e2e import end_to_end
from roofline_utils.memory import fewest_devices_that_fit, largest_batch_that_fits
from roofline_utils.sweeps import decode_sweep, time_breakdown
from roofline_utils.workload import compute_precision


def test_each_decode_step_costs_one_more_position_of_traffic():
    # Llama-33B decode is memory-bound throughout, so one more KV position adds, per layer:
    # K and V rows (2·52·128 elements at 2 B) + one score per head written by QK^T, read+written by
    # softmax and read by PV (4·52 elements at 2 B), all over 696 GB/s.
    run = end_to_end("llama-33b", "a40", Workload(attention_io="unfused", batch=4), prompt_len=1000, output_len=64)
    per_position = 60 * 4 * (2 * 52 * 128 * 2 + 4 * 52 * 2) / 696e9
    assert np.allclose(np.diff(run.step_times_s), per_position, rtol=1e-9)
    assert run.step_times_s.shape == (63,)  # the first token comes from the prefill
    assert run.total_s == pytest.approx(run.ttft_s + run.step_times_s.sum())
    assert run.tokens_per_s_per_device == pytest.approx(4 * 64 / run.total_s)


def test_ttft_is_the_prefill_of_the_prompt():
    run = end_to_end("llama-33b", "a40", Workload(), prompt_len=1024, output_len=1)
    table = operator_table("llama-33b", "a40", Workload(seq_len=1024), phases=("prefill",))
    assert run.ttft_s == pytest.approx((table["time_s"] * table["count"]).sum())
    assert run.total_s == run.ttft_s and run.step_times_s.size == 0


def test_tensor_parallel_splits_weights_and_adds_the_all_reduce():
    w = Workload(batch=32, seq_len=1024, weight_bits=8, act_bits=8, kv_bits=8, tp=2)
    table = operator_table("llama-2-70b", "h100-sxm", w).set_index(["phase", "operator"])
    assert table.loc[("decode", "q_proj"), "weight_bytes"] == 8192 * 8192 / 2  # half the heads, 1 B each
    assert table.loc[("decode", "k_proj"), "weight_bytes"] == 8192 * 1024 / 2  # 4 of 8 KV heads
    # ring all-reduce of T·h activations, kept at 2 B under W8A8: 2·(p-1)/p = 1 for p = 2, over 450 GB/s,
    # in 2·(p-1) = 2 steps of NVLink's 0.6 µs
    link = table.loc[("prefill", "mlp_allreduce")]
    assert link["link_bytes"] == 32 * 1024 * 8192 * 2 and link["bound"] == "link"
    assert link["time_s"] == pytest.approx(2 * 0.6e-6 + 32 * 1024 * 8192 * 2 / 450e9)
    assert table.loc[("decode", "attn_allreduce"), "count"] == 80
    breakdown = time_breakdown(operator_table("llama-2-70b", "h100-sxm", w))
    assert "all-reduce (link)" in set(breakdown["category"])


def test_tensor_parallel_degree_must_split_the_heads():
    with pytest.raises(RooflineInputError, match=r"^tp: 8 devices do not split num_attention_heads=52.*allowed: 1, 2, 4"):
        operator_table("llama-33b", "a40", Workload(tp=8))


@pytest.mark.parametrize("device, weight_bits, act_bits, expected", [
    ("h100-sxm", 16, 16, "fp16"), ("h100-sxm", 8, 8, "fp8"), ("h100-sxm", 4, 16, "fp16"),
    ("h100-sxm", 4, 4, "fp8"),  # Hopper has no int4 tensor path
    ("a40", 8, 8, "int8"), ("a40", 4, 4, "int4"), ("a40", 8, 16, "fp16"),
    ("v100-sxm2", 8, 8, "fp16"),  # no int8 tensor cores: the 16-bit roof stays
    ("tpu-v5e", 16, 16, "bf16"), ("a40", 32, 32, "fp32"),
])
def test_precision_rule(device, weight_bits, act_bits, expected):
    assert compute_precision(get_hardware(device), weight_bits, act_bits) == expected


def test_weight_only_quantisation_moves_fewer_bytes_under_the_same_roof():
    w16 = operator_table("llama-33b", "a40", Workload()).set_index(["phase", "operator"])
    w4 = operator_table("llama-33b", "a40", Workload(weight_bits=4)).set_index(["phase", "operator"])
    assert w4.loc[("decode", "gate_proj"), "weight_bytes"] == 6656 * 17920 / 2
    assert (w4["peak_flops_per_s"] == 149.7e12).all()
    assert w4.loc[("prefill", "gate_proj"), "time_s"] == w16.loc[("prefill", "gate_proj"), "time_s"]  # compute-bound


def test_fewest_devices_and_largest_batch():
    # fp16 Llama-33B: 65.06 GB of weights > the 43.5 GB a server may fill of an A40 (46,068 MiB · 0.9);
    # half of it per device fits
    assert fewest_devices_that_fit("llama-33b", "a40", Workload()) == 2
    assert largest_batch_that_fits("llama-33b", "a40", Workload()) == 0
    w = Workload(seq_len=1024, weight_bits=8, act_bits=8, kv_bits=8, tp=2)
    largest = largest_batch_that_fits("llama-2-70b", "h100-sxm", w)
    # Llama-2-70B per device over 2: h = 8192, I = 28672, 8 K/V heads of 128, V = 32000. The linear layers
    # at 1 B (q and o: h·4096 each, k and v: h·512 each, the MLP 3·h·I/2), the embedding and lm_head
    # (V/2·h each) and the 161 norm gains at 2 B.
    h, inter = 8192, 28672
    weights = 80 * (2 * h * 4096 + 2 * h * 512 + 3 * h * inter // 2) + 2 * (32000 // 2) * h * 2 + 161 * h * 2
    # the KV cache of one sequence at its end (1,024 + 256 positions): 80 layers · K and V · 4 heads · 128 · 1 B
    kv_per_sequence = (1024 + 256) * 80 * 2 * 4 * 128
    upper = (81_559 * 2**20 * 0.9 - weights) / kv_per_sequence  # what a server may fill of an H100 SXM
    assert int(upper) - 2 <= largest <= int(upper)  # decode activations are a few MB


def test_decode_sweep_throughput_and_memory_flags():
    sweep = decode_sweep("llama-2-7b", "a40", Workload(), [1, 64, 1024], [1024, 8192])
    assert np.allclose(sweep["tokens_per_s"], sweep["batch"] / sweep["tpot_s"])
    # 7B fp16 = 13.5 GB; KV cache per sequence at 8192 = 2·32·8192·4096·2 B = 4.29 GB: batch 64 cannot fit
    fits = sweep.set_index(["batch", "seq_len"])["fits"]
    assert fits[(1, 1024)] and not fits[(64, 8192)] and not fits[(1024, 1024)]


def test_end_to_end_rejects_bad_lengths():
    with pytest.raises(RooflineInputError, match="^output_len"):
        end_to_end("llama-33b", "a40", Workload(), prompt_len=10, output_len=0)


def test_explorer_builds_and_redraws(capsys):
    pytest.importorskip("ipywidgets")
    from roofline_utils.explorer import explorer

    box = explorer("llama-2-7b", "h100-sxm", batch=3, seq_len=1000)
    batch_slider = box.children[1].children[0]
    assert batch_slider.value == 4  # snapped to the nearest power of two
    capsys.readouterr()
    batch_slider.value = 64  # triggers a redraw (outside a kernel its output goes to stdout)
    assert "for the batch of 64" in capsys.readouterr().out
    picture = box.children[2]
    assert picture.value[:8] == b"\x89PNG\r\n\x1a\n"


def _pixels(png: bytes):
    import io

    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))


def test_a_slider_move_redraws_only_the_points_and_matches_a_fresh_chart():
    from roofline_utils.explorer import frame
    from roofline_utils.plot import LiveChart

    chart = LiveChart()
    first, _ = frame("llama-33b", "a40", 1, 1024, 16, chart=chart)
    background = chart._background
    moved, text = frame("llama-33b", "a40", 64, 1024, 16, chart=chart)
    assert chart._background is background  # the axes, roofs and legend were not drawn again
    assert "for the batch of 64" in text
    fresh, _ = frame("llama-33b", "a40", 64, 1024, 16)  # a new chart, drawn in full
    assert not np.array_equal(_pixels(first), _pixels(moved))
    assert np.array_equal(_pixels(moved), _pixels(fresh))


def test_a_new_device_redraws_the_whole_chart():
    from roofline_utils.explorer import frame
    from roofline_utils.plot import LiveChart

    chart = LiveChart()
    frame("llama-33b", "a40", 1, 1024, 16, chart=chart)
    background = chart._background
    on_h100, _ = frame("llama-33b", "h100-sxm", 1, 1024, 16, chart=chart)
    assert chart._background is not background
    assert np.array_equal(_pixels(on_h100), _pixels(frame("llama-33b", "h100-sxm", 1, 1024, 16)[0]))
