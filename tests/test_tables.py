"""How a table reads: one prefixed unit per quantity column, no e-notation, no 13-digit integers."""
import re

import pandas as pd

import roofline_utils as rl
from roofline_utils import summary, tables
from roofline_utils.hardware import get_hardware


def test_a_quantity_column_reads_in_one_unit():
    table = pd.DataFrame({"batch": [1, 2], "attainable (FLOP/s)": [1.39e11, 149.7e12],
                          "time per token (s)": [0.11, 0.4]})
    text = tables.formatted(table)
    assert list(text.columns) == ["batch", "attainable (TFLOP/s)", "time per token (ms)"]
    assert list(text["attainable (TFLOP/s)"]) == ["0.139", "150"]
    assert list(text["time per token (ms)"]) == ["110", "400"]
    assert "<th class=\"num\">time per token (ms)</th>" in tables.to_html(table)


def test_numbers_table_has_no_e_and_labels_occurrence_and_pass():
    table = summary.numbers_table("llama-33b", "a40", rl.Workload(), "decode")
    text = tables.to_text(table)
    assert "time per occurrence" in text and "time per forward pass" in text
    assert not re.search(r"\d\.\d+e[+-]?\d+|\d{13}", text.replace(",", ""))
    # gate_proj in decode, per occurrence: 2·6656·17920 = 238,551,040 FLOPs = 239 MFLOP
    row = tables.formatted(table).set_index("operator").loc["gate_proj"]
    assert row["FLOPs per occurrence (MFLOP)"] == "239"


def test_catalog_device_card_keeps_its_sources():
    card = summary.hardware_card(get_hardware("a40")).set_index("figure")["value"]
    assert card["device"] == "NVIDIA A40 (a40)"
    assert "confidence" in card.index and "sources" in card.index
    assert summary.device_caption(get_hardware("a40")) == "The NVIDIA A40, from its datasheet"


def test_user_device_card_shows_only_what_it_gave(tmp_path):
    path = tmp_path / "my_gpu.yaml"
    path.write_text("name: My GPU\nbandwidth_gb_s: 1000\nmemory_gb: 32\nmemory_reported_mib: 30000\n"
                    "peak_tflops:\n  fp16: 100\n")
    device = get_hardware(str(path))
    card = summary.hardware_card(device).set_index("figure")["value"]
    assert card["device"] == "My GPU (from my_gpu.yaml, your figures)"
    assert card["memory the device reports"] == "30,000 MiB"  # no empty "()"
    assert card["bandwidth"] == "1 TB/s" and card["dense peaks"] == "fp16 100 TFLOP/s"
    assert not {"confidence", "sources", "L2 cache", "link to peers"} & set(card.index)
    assert "datasheet" not in summary.device_caption(device)
    assert "hardware.json" not in summary.device_source_sentence(device)
    assert "my\\_gpu.yaml" in summary.device_source_sentence(device)  # Markdown: the file name shows as text


def test_run_metadata_rates_read_with_prefixes():
    class Run:
        metadata = {"stream_kernels_bytes_per_s": "read 4.377e+10, copy 2.5e9", "stream_bytes": "536870912"}

    values = summary.run_table(Run(), keys=("stream_kernels_bytes_per_s", "stream_bytes")).set_index("")["value"]
    assert values["stream kernels (bandwidth)"] == "read 43.77 GB/s, copy 2.5 GB/s"
    assert values["bytes per stream array"] == "536.9 MB"  # 536,870,912 B to four figures


def test_a_quantity_cell_does_not_break_between_number_and_unit():
    import pandas as pd

    from roofline_utils.tables import to_html

    page = to_html(pd.DataFrame({"what": ["weights", "total"], "bytes": ["93.4 GB", "93.6 GB"]}))
    assert page.count('<td class="text nowrap">') == 2 and '<td class="text">weights</td>' in page


def test_the_all_reduce_formula_names_its_link_bytes():
    """Under tensor parallelism the all-reduce moves 2(p-1)/p·T·h elements over the link, not '0' bytes."""
    import roofline_utils as rl
    from roofline_utils import summary

    table = summary.formula_table(rl.load_model("llama-7b"), rl.Workload(tp=2))
    row = table[table["operator"] == "attn_allreduce"].iloc[0]
    assert row["bytes"] != "0" and "over the link" in row["bytes"] and "T \\cdot h" in row["bytes"]


def test_chapter_ones_figure_draws_every_other_roof_once():
    """The H100's datasheet: tf32 494.7, fp8 = int8 1,979, fp32 66.9 TFLOP/s beside fp16's 989.4."""
    import pytest

    import roofline_utils as rl
    from roofline_utils import summary

    h100 = rl.get_hardware("h100-sxm")
    others = summary.other_roofs(h100, h100.peak("fp16"))
    assert set(others) == {"tf32", "fp8 / int8", "fp32"} and others["fp8 / int8"] == pytest.approx(1978.9e12)
    assert "dotted" not in summary.roofs_caption(h100, "fp16", {})
    assert "other precisions (dotted)" in summary.roofs_caption(h100, "fp16", others)


def test_a_column_too_wide_for_one_unit_gives_each_cell_its_own():
    # a norm's 57.4 ns beside a GEMM's 20.6 ms: in ms the norm would read 0.0000574 (or 5.74×10⁻⁵)
    wide = pd.DataFrame({"decode (s)": [5.74e-8, 2.06e-2, 0.0]})
    assert tables.formatted(wide)["decode"].tolist() == ["57.4 ns", "20.6 ms", "0 s"]
    # within three decades of its unit a column keeps one unit in its header: 0.00344 ms is 3.44 µs
    narrow = pd.DataFrame({"decode (s)": [3.44e-6, 2.06e-2]})
    assert tables.formatted(narrow)["decode (ms)"].tolist() == ["0.00344", "20.6"]


def test_a_worked_example_brackets_a_sum_before_its_width():
    # Qwen2.5-7B's q_proj has a bias: (h·Hd + Hd) weights, each 4/8 + 16/8/128 = 0.515625 bytes at 4 bits in
    # groups of 128 with fp16 scales: (3584·3584 + 3584)·0.515625 = 6,625,080 bytes
    work = rl.Workload(weight_bits=4, weight_group_size=128)
    text = summary.worked_example(rl.load_model("qwen2.5-7b"), get_hardware("a100-40gb-sxm"), work, "q_proj", "prefill")
    line = next(line for line in text.splitlines() if "weight bytes" in line)
    assert "\\left(3584 \\cdot 3584 + 3584\\right) \\cdot 0.515625" in line
    assert "6\\,625\\,080" in line and (3584 * 3584 + 3584) * 0.515625 == 6_625_080


def test_a_user_link_shows_only_its_figures(tmp_path):
    path = tmp_path / "my_gpu.yaml"
    path.write_text("name: My GPU\nbandwidth_gb_s: 1000\nmemory_gb: 32\npeak_tflops:\n  fp16: 100\nlink_gb_s: 300\n")
    card = summary.hardware_card(get_hardware(str(path))).set_index("figure")["value"]
    assert card["link to peers"] == "300 GB/s per direction"  # no "n/a, " for the kind it did not name
    assert card["memory"] == "32 GB"  # as its datasheet field says, not GiB


def test_the_peak_table_writes_the_datasheet_figure():
    # the A40's 149.7 TFLOP/s (its datasheet, and 1.2's ridge equation: 149.7 / 0.696 = 215.1), not 150
    table = summary.ceilings_table(get_hardware("a40")).set_index("precision")
    assert table.loc["fp16", "dense peak"] == "149.7 TFLOP/s" and table.loc["int8", "dense peak"] == "299.3 TOP/s"
    assert table.loc["fp16", "ridge (FLOP/byte)"] == round(149.7e12 / 696e9, 1) == 215.1
