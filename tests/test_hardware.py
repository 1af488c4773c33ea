import json

import numpy as np

import pytest

from roofline_utils import RooflineInputError, custom_hardware, get_hardware, hardware_names
from roofline_utils.hardware import hardware_from_file


def test_a40_datasheet_figures_and_ridge():
    a40 = get_hardware("a40")
    assert a40.bandwidth_bytes_per_s == 696e9
    assert a40.peak("fp16") == 149.7e12
    assert a40.peak("int8") == 299.3e12
    assert a40.memory_bytes == 48 * 2**30
    # 149.7e12 / 696e9 = 215.086...
    assert round(a40.ridge_point("fp16"), 1) == 215.1
    assert a40.ridge_point("int8") == pytest.approx(299.3e12 / 696e9)


def test_catalog_holds_every_shared_device_with_dense_figures_and_sources():
    expected = {"a40", "a10", "a100-40gb-sxm", "a100-80gb-sxm", "a100-80gb-pcie", "h100-sxm", "h100-pcie",
                "h200-sxm", "l40s", "l4", "t4", "v100-sxm2", "rtx-3090", "rtx-4090", "b200", "mi250x",
                "mi300x", "tpu-v5e", "m2-ultra"}
    assert expected <= set(hardware_names())
    for name in expected:
        device = get_hardware(name)
        assert device.sources and device.confidence in ("S", "K")
    # dense, not the sparse headline, and the shipped bandwidth, not LLM-Viewer's launch figure
    h100 = get_hardware("h100")
    assert h100.peak("fp16") == 989.4e12 and h100.bandwidth_bytes_per_s == 3350e9
    assert get_hardware("rtx-3090").peak("fp16") == 71e12  # FP32-accumulate rate
    assert get_hardware("mi250x").peak("int8") == 383e12  # CDNA2 INT8 = FP16 rate


def test_missing_precision_is_a_clear_error():
    with pytest.raises(RooflineInputError, match="precision.*int4.*allowed: .*fp8"):
        get_hardware("h100-sxm").peak("int4")


def test_unknown_device_lists_known_names():
    with pytest.raises(RooflineInputError) as info:
        get_hardware("a4000")
    assert "hardware" in str(info.value) and "a40" in str(info.value) and "h100-sxm" in str(info.value)


def test_user_defined_device_from_numbers():
    device = custom_hardware("my gpu", bandwidth_gb_s=1000, peak_tflops=250, memory_gb=32)
    assert device.ridge_point("fp16") == pytest.approx(250.0)
    assert device.memory_bytes == 32 * 2**30


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_user_defined_device_from_file(tmp_path, suffix):
    path = tmp_path / f"box{suffix}"
    record = {"name": "Box", "bandwidth_gb_s": 500, "memory_gb": 16, "peak_tflops": {"fp16": 50, "int8": 100}}
    if suffix == ".json":
        path.write_text(json.dumps(record))
    else:
        path.write_text("name: Box\nbandwidth_gb_s: 500\nmemory_gb: 16\npeak_tflops:\n  fp16: 50\n  int8: 100\n")
    device = get_hardware(str(path))
    assert device.peak("int8") == 100e12 and device.ridge_point("fp16") == pytest.approx(100.0)


@pytest.mark.parametrize("record, field", [
    ({"bandwidth_gb_s": -1, "memory_gb": 16, "peak_tflops": {"fp16": 1}}, "bandwidth_gb_s"),
    ({"bandwidth_gb_s": 1, "memory_gb": "lots", "peak_tflops": {"fp16": 1}}, "memory_gb"),
    ({"bandwidth_gb_s": 1, "memory_gb": 16, "peak_tflops": {"fp17": 1}}, "peak_tflops"),
    ({"bandwidth_gb_s": 1, "memory_gb": 16}, "peak_tflops"),
])
def test_bad_device_file_names_the_field(tmp_path, record, field):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(record))
    with pytest.raises(RooflineInputError, match=f"^{field}"):
        hardware_from_file(path)


def test_a_roof_has_its_ridge_and_attainable_performance():
    from roofline_utils.hardware import Roof

    roof = get_hardware("a40").roof(149.7e12)
    assert roof.ridge == pytest.approx(149.7e12 / 696e9) == pytest.approx(215.086, abs=1e-3)
    assert roof.attainable(1.0) == pytest.approx(696e9)  # memory-bound: the bandwidth times the intensity
    assert roof.attainable(1000.0) == 149.7e12  # above the ridge: the compute roof
    assert list(roof.attainable(np.array([10.0, 215.086, 300.0]))) == pytest.approx([6.96e12, 149.7e12, 149.7e12],
                                                                                      rel=1e-5)
    measured = Roof(247e9, 47.97e9)  # a measured roof stands where a chart takes a device
    assert measured.roof(100e9) == Roof(100e9, 47.97e9) and measured.ridge == pytest.approx(5.149, abs=1e-3)
