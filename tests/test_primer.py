"""The roofline by hand: toy intensities, the critical batch in closed form, overlap."""
import pytest

import roofline_utils as rl
from roofline_utils import findings, primer
from roofline_utils.hardware import get_hardware
from roofline_utils.models import load_model


def test_toy_intensities_by_hand():
    dot, gemv, gemm = primer.toys(n=4096, element_bytes=2)
    assert dot.intensity == pytest.approx(8192 / 16386)            # 2n / (2·(2n + 1))
    assert gemv.intensity == pytest.approx(2 * 4096**2 / (2 * (4096**2 + 8192)))
    assert gemm.intensity == pytest.approx(4096 / 3)                # 2n³ / (2·3n²)


def test_the_toy_text_places_the_gemm_past_the_ridge_from_n_646_on_the_a40():
    # ridge 149.7e12 / 696e9 = 215.09 FLOP/byte; n/3 ≥ 215.09 from n = 645.3, so 646
    text = primer.toy_markdown(get_hardware("a40"), 149.7e12)
    assert "from n = 646" in text and text.count("| memory |") == 2 and text.count("| compute |") == 1


@pytest.mark.parametrize("model, device, peak", [("llama-33b", "a40", 149.7e12), ("mixtral-8x7b", "h100-sxm", 989.4e12),
                                                 ("llama-3.1-8b", "h100-sxm", 989.4e12)])
def test_the_closed_form_critical_batch_is_where_the_searched_ridge_batch_is(model, device, peak):
    """Two methods: the closed form, and a search over batch 1..16,384 of the operator table."""
    llm, hw = load_model(model), get_hardware(device)
    closed = primer.critical_batch(llm, hw, peak, rl.Workload())
    assert closed.batch == findings.batch_at_ridge(llm, hw, rl.Workload())
    assert closed.tokens > hw.roof(peak).ridge  # above ridge·w/2 = ridge: the activations' bytes cost tokens


def test_llama_33b_on_the_a40_needs_226_sequences():
    # b* = 215.09·2·6656·17920 / (2·6656·17920 − 215.09·2·24576) = 51.31e9 / 227.99e6 = 225.06
    assert primer.critical_batch(load_model("llama-33b"), get_hardware("a40"), 149.7e12, rl.Workload()).tokens == \
        pytest.approx(225.06, abs=0.01)


def test_a_gemm_too_thin_for_the_ridge_never_gets_there():
    # h = f = 256 at 2 bytes: intensity saturates at 2hf/(a(h+f)) = 64 FLOP/byte, below a ridge of 215
    found = primer.CriticalBatch(256, 256, 2, 2, 215.1, 1.0)
    assert found.tokens is None and found.batch is None
    assert "No batch makes it compute-bound" in primer.critical_batch_markdown(found)


def test_serial_compute_and_memory_take_at_most_twice_the_overlapped_time():
    at_ridge = primer.Overlap(flops=215.0, bytes=1.0, peak_flops_per_s=215.0, bandwidth_bytes_per_s=1.0)
    assert at_ridge.serial_s == pytest.approx(2 * at_ridge.overlapped_s)
    far = primer.Overlap(flops=1.0, bytes=1000.0, peak_flops_per_s=100.0, bandwidth_bytes_per_s=1.0)
    assert far.serial_s / far.overlapped_s == pytest.approx(1.00001)


def test_the_critical_batch_under_tensor_parallelism_uses_each_devices_share():
    """DeepSeek-V3 on 8 H200s, FP8 weights: each device multiplies by 2,048 / 8 = 256 columns of an expert."""
    import math

    import roofline_utils as rl
    from roofline_utils import primer

    hardware = rl.get_hardware("h200-sxm")
    ridge = 989.4e12 / 4.8e12  # the H200's fp16 peak over its bandwidth, datasheet figures
    k, n, w, a = 7168, 256, 1, 2
    tokens = ridge * w * k * n / (2 * k * n - ridge * a * (k + n))
    found = primer.critical_batch(rl.load_model("deepseek-v3"), hardware, hardware.peak("fp16"),
                                  rl.Workload(tp=8, weight_bits=8))
    assert found.n == n and found.tokens == pytest.approx(tokens, rel=1e-3)
    assert found.batch == math.ceil(tokens / (8 / 256))
    text = primer.critical_batch_markdown(found)
    assert "2,048 / 8 under tensor parallelism" in text and "w = 1 byte per weight" in text
    assert "While the activations are small" not in text and "3 dense layers' MLPs" in text
