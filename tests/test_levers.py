"""The closing chapter's levers: each ratio it prints is the ratio of the times it was computed from,
and a lever said to fit does fit."""
import re

import pytest

import roofline_utils as rl
from roofline_utils import levers
from roofline_utils.hardware import get_hardware
from roofline_utils.memory import largest_batch_that_fits
from roofline_utils.models import load_model

CASES = [("llama-33b", "a40", rl.Workload()), ("llama-33b", "a40", rl.Workload(weight_bits=8)),
         ("mixtral-8x7b", "h100-sxm", rl.Workload(batch=8)), ("llama-3.1-8b", "h100-sxm", rl.Workload(weight_bits=4, batch=4)),
         ("deepseek-v3", "h200-sxm", rl.Workload(tp=8, weight_bits=8, act_bits=8, kv_bits=8))]


@pytest.mark.parametrize("model, device, workload", CASES)
def test_each_printed_ratio_is_the_ratio_of_its_times(model, device, workload):
    llm, hw = load_model(model), get_hardware(device)
    base, found = levers.levers(llm, hw, workload)
    now = float(rl.totals(llm, hw, workload, ("decode",))["decode"]["time_s"])
    assert base.tpot_s == pytest.approx(now)
    text = levers.levers_markdown(base, found)
    for lever, row in zip(found, text.splitlines()[3:]):
        if lever.tpot_s is None:
            assert "not here (" in row and lever.why_not
            continue
        ratio = base.tpot_s / lever.tpot_s
        word, shown = re.search(r"([\d.]+)× (faster|slower)", row).group(2, 1)
        assert word == ("faster" if ratio > 1 else "slower")
        assert float(shown) == pytest.approx(ratio if ratio > 1 else 1 / ratio, rel=5e-3)


def test_batching_takes_the_largest_batch_that_fits_and_it_fits():
    llm, hw, work = load_model("llama-3.1-8b"), get_hardware("h100-sxm"), rl.Workload(weight_bits=4, batch=4)
    batching = next(lever for lever in levers.levers(llm, hw, work)[1] if lever.name == "batching")
    assert batching.setting.startswith(f"batch {largest_batch_that_fits(llm, hw, work):,} ")
    assert batching.fits is True


def test_tensor_parallel_halves_the_weights_read_so_decode_is_nearly_twice_as_fast():
    # batch 1 decode of Llama-33B is weight-bound: 2 devices each read half the weights (65.1 GB -> 32.5 GB);
    # the all-reduce adds a little, so the step is a bit under 2x faster, and per device no more tokens/s
    llm, hw = load_model("llama-33b"), get_hardware("a40")
    base, found = levers.levers(llm, hw, rl.Workload())
    split = next(lever for lever in found if lever.name == "tensor parallelism")
    assert 1.9 < base.tpot_s / split.tpot_s < 2.0
    assert split.tokens_per_s_per_device <= base.tokens_per_s_per_device
