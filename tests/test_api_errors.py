"""Issue 8: every bad input ends in one RooflineInputError that names the field; no raw traceback."""
import json
import os

import numpy as np
import pandas as pd
import pytest

from roofline_utils import (RooflineInputError, Workload, compute_precision, custom_hardware, from_hf_config,
                            get_hardware, load_model, preset)
from roofline_utils.hardware import PLAUSIBLE, _catalog, _validated, hardware_from_file, sixteen_bit_precision
from roofline_utils.models import model_from_dict
from roofline_utils.roofline import operator_table

GOOD_DEVICE = {"name": "Lab card", "bandwidth_gb_s": 1000, "memory_gb": 40, "peak_tflops": {"fp16": 300}}


def write(tmp_path, name, content):
    path = tmp_path / name
    (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
    return path


def device_file(tmp_path, **changes):
    record = {**GOOD_DEVICE, **changes}
    return write(tmp_path, "device.json", json.dumps({k: v for k, v in record.items() if v is not ...}))


# ---------- device files ----------

def test_a_good_device_file_loads(tmp_path):
    hw = hardware_from_file(device_file(tmp_path, l2_mb=40, tdp_w=300, link_gb_s=64))
    assert hw.bandwidth_bytes_per_s == 1000e9 and hw.memory_bytes == 40 * 2**30
    assert hw.peak("fp16") == 300e12 and hw.l2_bytes == 40 * 2**20 and hw.link_bytes_per_s == 64e9


def test_random_bytes_are_a_clean_error(tmp_path):
    path = write(tmp_path, "noise.json", bytes(range(128, 256)) * 4)
    with pytest.raises(RooflineInputError, match="UTF-8"):
        hardware_from_file(path)


def test_deeply_nested_device_file_is_a_clean_error(tmp_path):
    path = write(tmp_path, "deep.json", "[" * 100_000 + "]" * 100_000)
    with pytest.raises(RooflineInputError, match="could not be parsed"):
        get_hardware(str(path))


@pytest.mark.parametrize("field, value", [
    ("l2_mb", "big"), ("tdp_w", "300 W"), ("link_gb_s", [64]), ("memory_gb", True), ("bandwidth_gb_s", "1000"),
    ("bandwidth_gb_s", None), ("memory_gb", 0), ("memory_gb", -40), ("tdp_w", float("nan")),
])
def test_every_numeric_field_is_checked(tmp_path, field, value):
    path = device_file(tmp_path, **{field: value})
    if isinstance(value, float) and value != value:
        path = write(tmp_path, "nan.yaml", f"name: x\nbandwidth_gb_s: 1000\nmemory_gb: 40\n"
                                           f"peak_tflops: {{fp16: 300}}\n{field}: .nan\n")
    with pytest.raises(RooflineInputError) as err:
        hardware_from_file(path)
    assert str(err.value).startswith(field)


@pytest.mark.parametrize("field, value, unit", [
    ("bandwidth_gb_s", 1e12, "decimal GB/s"),  # bytes/s given as GB/s
    ("bandwidth_gb_s", 1e308, "decimal GB/s"),
    ("memory_gb", 48e9, "GB, as the datasheet writes it"),  # bytes given as GB
    ("link_gb_s", 64e9, "decimal GB/s"),
])
def test_implausible_values_name_the_unit_and_the_range(tmp_path, field, value, unit):
    with pytest.raises(RooflineInputError, match="not plausible") as err:
        hardware_from_file(device_file(tmp_path, **{field: value}))
    _, low, high = PLAUSIBLE[field]
    assert unit in str(err.value) and f"{low:,g}" in str(err.value) and f"{high:,g}" in str(err.value)


def test_peak_given_in_flops_is_implausible(tmp_path):
    with pytest.raises(RooflineInputError, match=r"peak_tflops\.fp16.*not plausible.*TFLOP/s"):
        hardware_from_file(device_file(tmp_path, peak_tflops={"fp16": 1e15}))
    with pytest.raises(RooflineInputError, match="not plausible"):
        custom_hardware("x", 1000, 1e15, 40)


def test_misspelt_field_is_named_with_the_known_ones(tmp_path):
    record = {k: v for k, v in GOOD_DEVICE.items()}
    record["bandwith_gb_s"] = record.pop("bandwidth_gb_s")
    with pytest.raises(RooflineInputError, match="bandwith_gb_s.*allowed:.*bandwidth_gb_s"):
        hardware_from_file(write(tmp_path, "typo.json", json.dumps(record)))


def test_text_fields_and_name_must_be_text(tmp_path):
    with pytest.raises(RooflineInputError, match="^name"):
        hardware_from_file(device_file(tmp_path, name=42))
    with pytest.raises(RooflineInputError, match="^name"):
        custom_hardware(None, 1000, 300, 40)


def test_every_catalog_device_is_plausible_with_margin():
    for key, record in _catalog()["devices"].items():
        _validated(dict(record), where=key)  # raises if a catalog figure were outside the table
        for field, (_, low, high) in PLAUSIBLE.items():
            values = record[field].values() if field == "peak_tflops" else [record.get(field)]
            for value in values:
                if value is not None:
                    assert 10 * low <= value <= high / 10, (key, field, value)


def test_an_8_bit_only_device_works_at_8_bits_and_names_its_widths_at_16():
    hw = custom_hardware("int8 box", 1000, {"int8": 400}, 40)
    assert sixteen_bit_precision(hw) is None
    assert compute_precision(hw, 8, 8) == "int8"
    table = operator_table("llama-7b", hw, Workload(weight_bits=8, act_bits=8, kv_bits=8))
    assert (table["peak_flops_per_s"] == 400e12).all()
    with pytest.raises(RooflineInputError, match=r"16-bit.*allowed: bit widths 4, 8 ") as err:
        operator_table("llama-7b", hw, Workload())
    assert err.value.field == "weight_bits/act_bits"


def test_sixteen_bit_precision_prefers_fp16_then_bf16():
    assert sixteen_bit_precision(get_hardware("a40")) == "fp16"
    assert sixteen_bit_precision(get_hardware("tpu-v5e")) == "bf16"  # the catalog lists no fp16 for it


# ---------- model configs ----------

def llama_config(**changes):
    config = {"architectures": ["LlamaForCausalLM"], "hidden_size": 4096, "intermediate_size": 11008,
              "num_attention_heads": 32, "num_hidden_layers": 32, "vocab_size": 32000}
    config.update(changes)
    return {k: v for k, v in config.items() if v is not ...}


def test_config_nested_too_deep_is_a_clean_error(tmp_path):
    with pytest.raises(RooflineInputError, match="not valid JSON"):
        from_hf_config(write(tmp_path, "config.json", "{\"a\":" * 100_000 + "1" + "}" * 100_000))


def test_config_with_bytes_that_are_not_utf8(tmp_path):
    with pytest.raises(RooflineInputError, match="UTF-8"):
        from_hf_config(write(tmp_path, "config.json", b"{\"hidden_size\": \xff\xfe}"))


@pytest.mark.parametrize("text, match", [("{not json", "not valid JSON"), ("[1, 2]", "JSON object")])
def test_invalid_json_and_not_an_object(tmp_path, text, match):
    with pytest.raises(RooflineInputError, match=match):
        from_hf_config(write(tmp_path, "config.json", text))


def test_missing_config_file(tmp_path):
    with pytest.raises(RooflineInputError, match="does not exist"):
        from_hf_config(tmp_path / "nowhere" / "config.json")


def test_mixtral_without_expert_counts_uses_hugging_face_defaults_and_says_so():
    model = model_from_dict(llama_config(architectures=["MixtralForCausalLM"], intermediate_size=14336), "m")
    assert (model.num_experts, model.experts_per_token) == (8, 2)
    assert any("num_local_experts" in n and "8" in n for n in model.notes)
    assert any("num_experts_per_tok" in n and "2" in n for n in model.notes)
    hash(model)  # still frozen and hashable
    by_type = model_from_dict(llama_config(architectures=..., model_type="mixtral"), "m")
    assert by_type.num_experts == 8
    # dense h·I MLP weights: 8 experts of 3·4096·14336 instead of 1
    dense = model_from_dict(llama_config(intermediate_size=14336), "d")
    assert model.parameter_count() - dense.parameter_count() == 32 * (7 * 3 * 4096 * 14336 + 4096 * 8)
    assert dense.notes == () and preset("mixtral-8x7b").notes == ()


@pytest.mark.parametrize("changes, field", [
    ({"architectures": "LlamaForCausalLM"}, "architectures"),
    ({"architectures": ..., "model_type": None}, "architectures"),
    ({"architectures": ..., "model_type": "bloom"}, "model_type"),
    ({"architectures": ["BloomForCausalLM"]}, "architectures"),
    ({"architectures": ["GPT2LMHeadModel"]}, "n_embd"),  # supported: GPT-2 reads its own field names
    ({"architectures": ["MixtralForCausalLM"], "num_local_experts": 2, "num_experts_per_tok": 3},
     "num_experts_per_tok"),
    ({"hidden_size": 2**40}, "hidden_size"),
    ({"hidden_size": 4096.0}, "hidden_size"),
])
def test_config_error_paths_name_the_field(changes, field):
    with pytest.raises(RooflineInputError) as err:
        model_from_dict(llama_config(**changes), "m")
    assert err.value.field == field


@pytest.mark.parametrize("call", [lambda: preset(None), lambda: preset(3), lambda: load_model(""),
                                  lambda: load_model("   "), lambda: load_model(None), lambda: preset("llama-8")])
def test_model_names_that_are_not_names(call):
    with pytest.raises(RooflineInputError) as err:
        call()
    assert err.value.field == "model"


# ---------- workload and public API ----------

from roofline_utils import group_points, memory_footprint, phase_totals  # noqa: E402
from roofline_utils.e2e import end_to_end  # noqa: E402
from roofline_utils.memory import fewest_devices_that_fit, largest_batch_that_fits  # noqa: E402
from roofline_utils.operators import symbol_values  # noqa: E402
from roofline_utils.roofline import link_bandwidth, phase_arrays  # noqa: E402
from roofline_utils.sweeps import decode_sweep, time_breakdown  # noqa: E402


@pytest.mark.parametrize("call", [
    lambda: operator_table("llama-7b", "a40", None),
    lambda: operator_table("llama-7b", "a40", {"batch": 1}),
    lambda: memory_footprint("llama-7b", "a40", None),
    lambda: largest_batch_that_fits("llama-7b", "a40", None),
    lambda: fewest_devices_that_fit("llama-7b", "a40", "Workload()"),
    lambda: end_to_end("llama-7b", "a40", None, 16, 4),
    lambda: decode_sweep("llama-7b", "a40", None, [1], [128]),
    lambda: phase_arrays(preset("llama-7b"), get_hardware("a40"), None, "decode"),
])
def test_a_workload_that_is_not_one(call):
    with pytest.raises(RooflineInputError) as err:
        call()
    assert err.value.field == "workload"


@pytest.mark.parametrize("phases", ["decod", ("prefill", "decod"), (), None, 3, ("decode", None)])
def test_bad_phases_are_named(phases):
    with pytest.raises(RooflineInputError, match="allowed: prefill, decode") as err:
        operator_table("llama-7b", "a40", Workload(), phases=phases)
    assert err.value.field == "phases"


def test_a_single_phase_name_is_one_phase():
    table = operator_table("llama-7b", "a40", Workload(attention_io="unfused"), phases="decode")
    assert set(table["phase"]) == {"decode"}
    # one row per operator: embedding; 2 norms, q/k/v, rope, qk, softmax, pv, o, 2 adds, gate, up,
    # act_mul, down per layer; final_norm, lm_head
    assert len(table) == 1 + 16 + 2


def test_symbol_values_names_the_phase():
    with pytest.raises(RooflineInputError) as err:
        symbol_values(preset("llama-7b"), Workload(), "generate")
    assert err.value.field == "phases"


def test_end_to_end_takes_one_request_shape():
    with pytest.raises(RooflineInputError, match="one request shape") as err:
        end_to_end("llama-7b", "a40", Workload(batch=np.array([1, 2])), 16, 4)
    assert err.value.field == "batch"
    with pytest.raises(RooflineInputError) as err:
        end_to_end("llama-7b", "a40", Workload(kv_bits=np.array([8, 16])), 16, 4)
    assert err.value.field == "kv_bits"
    one = end_to_end("llama-7b", "a40", Workload(batch=np.array([2])), 16, 4)  # a one-element array is one
    assert one.batch == 2


def test_one_output_token_has_no_decode_speed():
    run = end_to_end("llama-7b", "a40", Workload(), 16, 1)
    assert run.tokens_per_s_per_user is None and run.mean_tpot_s == 0
    two = end_to_end("llama-7b", "a40", Workload(), 16, 2)
    assert two.tokens_per_s_per_user == pytest.approx(1 / two.step_times_s[0])


@pytest.mark.parametrize("candidates", [(0,), (), (1, -2), ("2",), (True,), None, (2.0,)])
def test_fewest_devices_candidates_are_device_counts(candidates):
    with pytest.raises(RooflineInputError) as err:
        fewest_devices_that_fit("llama-7b", "a40", Workload(), candidates=candidates)
    assert err.value.field == "candidates"


@pytest.mark.parametrize("max_batch", [0, -1, 1.5, True, 1 << 40, "8"])
def test_largest_batch_search_bound(max_batch):
    with pytest.raises(RooflineInputError) as err:
        largest_batch_that_fits("llama-7b", "a40", Workload(), max_batch=max_batch)
    assert err.value.field == "max_batch"


def test_fit_functions_take_the_widest_bits_of_a_grid():
    grid = memory_footprint("llama-7b", "a40", Workload(weight_bits=np.array([4, 16])))
    assert grid.weights_bytes == preset("llama-7b").parameter_count() * 2  # 16 bits, the wider
    assert largest_batch_that_fits("llama-7b", "a40", Workload(kv_bits=np.array([8, 16]))) == \
        largest_batch_that_fits("llama-7b", "a40", Workload(kv_bits=16))


@pytest.mark.parametrize("table", [None, [], {"flops": [1]}, pd.DataFrame({"flops": [1.0]})])
def test_totals_and_points_take_a_table(table):
    for function in (phase_totals, group_points, time_breakdown):
        with pytest.raises(RooflineInputError) as err:
            function(table)
        assert err.value.field == "table"


@pytest.mark.parametrize("field, value", [
    ("batch", []), ("batch", "8"), ("batch", [1, "a"]), ("batch", [[1], [2, 3]]), ("batch", float("nan")),
    ("batch", 0), ("batch", 1.5), ("batch", True), ("seq_len", 10**300), ("seq_len", np.array([])),
    ("weight_bits", [[16], [8, 4]]), ("weight_bits", "16"), ("kv_bits", float("nan")), ("act_bits", True),
    ("causal", "yes"), ("causal", 1), ("attention_io", ["fused"]), ("attention_io", np.array(["fused"])),
    ("prefill_logits", None), ("tp", 0), ("tp", 2.0), ("compute_precision", "fp64"), ("compute_precision", 16),
    ("softmax_flops_per_element", float("nan")), ("norm_flops_per_element", -1), ("rope_flops_per_element", "3"),
    ("swiglu_flops_per_element", 1e308), ("norm_flops_per_element", True),
])
def test_workload_fields_are_checked(field, value):
    with pytest.raises(RooflineInputError) as err:
        Workload(**{field: value})
    assert err.value.field == field


def test_tensor_parallel_needs_a_link():
    no_link = custom_hardware("island", 1000, 300, 40)
    assert link_bandwidth(no_link, Workload()) is None  # tp=1 needs none
    with pytest.raises(RooflineInputError, match="no interconnect") as err:
        link_bandwidth(no_link, Workload(tp=2))
    assert err.value.field == "tp"
    assert link_bandwidth(custom_hardware("pair", 1000, 300, 40, link_gb_s=64), Workload(tp=2)) == 64e9


def test_tp_that_does_not_split_the_model_is_named():
    with pytest.raises(RooflineInputError, match="allowed: 1, 2, 4") as err:
        memory_footprint("llama-7b", "a100", Workload(tp=3))
    assert err.value.field == "tp"


# ---------- no NaN, inf or negative number in any output ----------

def test_allreduce_is_taken_against_its_link():
    t = operator_table("llama-7b", "a100-80gb-sxm", Workload(tp=2), phases="decode").set_index("operator")
    ar = t.loc["attn_allreduce"]
    # ring all-reduce of T·h = 4096 elements over 2 devices: 2·(2-1)/2·4096 elements = 8192 B on the
    # link at 16 bits, (2-1)/2·4096 = 2048 adds
    assert ar["bytes"] == 0 and ar["link_bytes"] == 8192 and ar["flops"] == 2048
    assert ar["intensity"] == 2048 / 8192
    assert ar["attainable_flops_per_s"] == 0.25 * 300e9  # intensity × the 300 GB/s NVLink 3 per direction
    # its time: 2·(2−1) ring steps of NVLink's 0.6 µs (NCCL's cost model) + the bytes over the link
    assert ar["bound"] == "link" and ar["time_s"] == pytest.approx(2 * 0.6e-6 + 8192 / 300e9)
    points = group_points(operator_table("llama-7b", "a100-80gb-sxm", Workload(tp=2), phases="decode"))
    assert points.set_index("label").loc["attn_allreduce", "intensity"] == 0.25


NUMERIC_SWEEP = [(m, hw, tp, io, bits) for m in ("llama-7b", "mixtral-8x7b", "mistral-7b", "qwen2.5-7b")
                 for hw in ("a40", "h100", "t4", "tpu-v5e") for tp in (1, 4)
                 for io in ("unfused", "fused") for bits in (4, 8, 16, 32)]


def test_every_numeric_output_is_finite_and_non_negative():
    checked = 0
    for model, hw, tp, io, bits in NUMERIC_SWEEP:
        work = Workload(batch=np.array([1, 8, 64]), seq_len=np.array([1, 128, 4096]), tp=tp, attention_io=io,
                        weight_bits=bits, act_bits=bits, kv_bits=bits)
        table = operator_table(model, hw, work)
        for frame in (table, phase_totals(table), group_points(table), group_points(table, None)):
            numbers = frame.select_dtypes("number").to_numpy(dtype=float)
            assert np.isfinite(numbers).all() and (numbers >= 0).all(), (model, hw, tp, io, bits)
            checked += numbers.size
    assert checked > 0
