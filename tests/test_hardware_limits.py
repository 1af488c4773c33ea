"""Device files a hostile user could write: alias bombs, huge files, huge or control-laden names."""
import pytest

from roofline_utils.errors import RooflineInputError
from roofline_utils.hardware import MAX_FILE_BYTES, MAX_NAME_CHARS, hardware_from_file

GOOD = "bandwidth_gb_s: 696\nmemory_gb: 48\npeak_tflops: {fp16: 149.7}\n"

BOMB = "\n".join(["a: &a [x, x, x, x, x, x, x, x, x]"]
                 + [f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]"
                    for p, c in zip("abcdefgh", "bcdefghi")])


@pytest.mark.parametrize("field", ["peak_tflops", "bandwidth_gb_s", "name"])
def test_alias_bomb_in_a_known_field_is_refused_at_once(tmp_path, field):
    # 9^9 (387 million) elements if expanded: refusing the first anchor keeps it instant and small
    text = BOMB + f"\n{field}: *i\n" + "".join(line for line in GOOD.splitlines(True) if not line.startswith(field))
    path = tmp_path / "bomb.yaml"
    path.write_text(text)
    with pytest.raises(RooflineInputError, match=r"^hardware: .*anchors") as info:
        hardware_from_file(path)
    assert "\n" not in str(info.value) and len(str(info.value)) < 400


def test_a_long_value_is_shown_cut_short(tmp_path):
    path = tmp_path / "d.yaml"
    path.write_text(GOOD.replace("696", "[" + ", ".join(["1"] * 100_000) + "]"))
    with pytest.raises(RooflineInputError, match="^bandwidth_gb_s: ") as info:
        hardware_from_file(path)
    assert len(str(info.value)) < 400


def test_a_file_over_the_size_cap_is_one_line_naming_hardware(tmp_path):
    path = tmp_path / "big.yaml"
    with path.open("wb") as handle:  # sparse: 30 GB on paper, nothing on disk
        handle.write(GOOD.encode())
        handle.seek(30 * 10**9)
        handle.write(b"\n")
    with pytest.raises(RooflineInputError, match=rf"^hardware: .*larger than {MAX_FILE_BYTES:,} bytes"):
        hardware_from_file(path)


def test_a_file_just_under_the_cap_is_read(tmp_path):
    path = tmp_path / "padded.yaml"
    text = GOOD + "#" * (MAX_FILE_BYTES - len(GOOD) - 1) + "\n"
    assert len(text) == MAX_FILE_BYTES
    path.write_text(text)
    assert hardware_from_file(path).bandwidth_bytes_per_s == 696e9


@pytest.mark.parametrize("name, problem", [("x" * (MAX_NAME_CHARS + 1), "characters long"),
                                           ("x" * 100_000, "characters long"),
                                           ("gpu\x00one", "control character"),
                                           ("gpu\none", "control character"),
                                           ("gpu\x1b[31m", "control character")])
def test_device_name_length_and_characters(tmp_path, name, problem):
    path = tmp_path / "d.json"
    import json

    path.write_text(json.dumps({"name": name, "bandwidth_gb_s": 696, "memory_gb": 48, "peak_tflops": {"fp16": 1}}))
    with pytest.raises(RooflineInputError, match=f"^name: .*{problem}") as info:
        hardware_from_file(path)
    assert len(str(info.value)) < 400


def test_a_name_of_exactly_the_cap_is_accepted(tmp_path):
    path = tmp_path / "d.yaml"
    path.write_text(GOOD + "name: " + "g" * MAX_NAME_CHARS + "\n")
    assert hardware_from_file(path).name == "g" * MAX_NAME_CHARS


def test_an_unknown_key_that_is_no_identifier_is_blamed_on_the_device_file(tmp_path):
    # found by the property tests: {"": 0} gave the error line "roofline: error: : ..."
    import json

    from roofline_utils.hardware import get_hardware

    path = tmp_path / "dev.json"
    path.write_text(json.dumps({"name": "Fuzz GPU", "bandwidth_gb_s": 696, "memory_gb": 48,
                                "peak_tflops": {"fp16": 149.7}, "": 0}))
    with pytest.raises(RooflineInputError) as err:
        get_hardware(str(path))
    assert err.value.field == "hardware" and "unknown field" in str(err.value)
