"""The Python API refuses what it cannot count, with one error naming the argument (issue 20, defect 9)."""
import numpy as np
import pytest

import roofline_utils as rl
from roofline_utils import speculative
from roofline_utils.errors import RooflineInputError
from roofline_utils.workload import compute_precision


@pytest.mark.parametrize("dtype", [np.int16, np.int32, np.uint16])
def test_narrow_integer_arrays_count_as_the_numbers_they_hold(dtype):
    # 30,000 + 5,000 positions: b·s·(layers·2·h) overflows int16 (the "-0.6 GB"); the array
    # must give exactly what the Python integer gives
    narrow = rl.memory_footprint("llama-7b", "a100-80gb-sxm", rl.Workload(seq_len=np.array([30000], dtype=dtype),
                                                                          output_len=5000))
    plain = rl.memory_footprint("llama-7b", "a100-80gb-sxm", rl.Workload(seq_len=30000, output_len=5000))
    assert narrow.total_bytes == pytest.approx(plain.total_bytes) and narrow.total_bytes > 0
    # KV cache by hand: 2 (K, V) · 32 layers · 4096 · 2 bytes · 35,000 positions = 18.35 GB
    assert plain.kv_cache_bytes == pytest.approx(2 * 32 * 4096 * 2 * 35_000)


def test_int32_at_its_limit_does_not_wrap():
    work = rl.Workload(seq_len=np.array([2**24], dtype=np.int32), batch=np.array([127], dtype=np.int8))
    kv = rl.memory_footprint("llama-7b", "a100-80gb-sxm", work).kv_cache_bytes
    assert kv == pytest.approx(2 * 32 * 4096 * 2 * (2**24 + 256) * 127)


def test_masked_arrays_and_shapes_that_do_not_broadcast_are_refused():
    with pytest.raises(RooflineInputError):
        rl.Workload(seq_len=np.ma.masked_array([1024, 2048], mask=[0, 1]))
    with pytest.raises(RooflineInputError) as err:
        rl.Workload(batch=np.array([1, 2, 4]), seq_len=np.array([128, 256]))
    assert err.value.field == "seq_len"


@pytest.mark.parametrize("axes", [{}, None, "batch", {"batch"}, (x for x in [1])])
def test_grid_totals_names_bad_axes(axes):
    with pytest.raises(RooflineInputError) as err:
        rl.grid_totals("llama-7b", "a40", rl.Workload(), axes)
    assert err.value.field == "axes"


@pytest.mark.parametrize("values", [None, 4, [], "12", {1, 2}])
def test_grid_totals_names_bad_axis_values(values):
    with pytest.raises(RooflineInputError) as err:
        rl.grid_totals("llama-7b", "a40", rl.Workload(), {"batch": values})
    assert err.value.field == "axes"


@pytest.mark.parametrize("tree_sizes", [None, 4, [], ["a"], [2.5], [0], "64"])
def test_verify_curve_names_bad_tree_sizes(tree_sizes):
    with pytest.raises(RooflineInputError) as err:
        speculative.verify_curve("llama-7b", "a100-80gb-sxm", rl.Workload(), [1, 2], tree_sizes)
    assert err.value.field == "tree_sizes"


def test_compute_precision_names_a_missing_device():
    with pytest.raises((RooflineInputError, TypeError)):
        compute_precision(None, 16, 16)


@pytest.mark.parametrize("call, field", [(lambda v: rl.get_hardware(v), "hardware"), (lambda v: rl.load_model(v), "model"),
                                         (lambda v: rl.Workload(batch=v), "batch"),
                                         (lambda v: rl.Workload(weight_bits=v), "weight_bits")])
def test_an_enormous_value_is_shown_cut_in_one_short_message(call, field):
    # a 100,000-character name or a 100,000-element list: the message names the field and shows the value
    # cut to 60 characters, whatever its size (the allowed list adds its own length: the presets' names for a model)
    allowed = len(", ".join(rl.preset_names())) if field == "model" else 0
    for value in ("a" * 100_000, ["x"] * 100_000):
        with pytest.raises((RooflineInputError, TypeError)) as err:
            call(value)
        message = str(err.value)
        assert message.startswith(f"{field}:") and len(message) < 300 + max(allowed, 400) and "\n" not in message, \
            message[:200]
