"""The report's conclusions, checked by number (hand arithmetic and closed forms), and their wording."""
import numpy as np
import pytest

import roofline_utils as rl
from roofline_utils import findings
from roofline_utils.findings import markdown
from roofline_utils.params import ReportParameters

A40_PEAK, A40_BW = 149.7e12, 696e9
H, I, HEADS, D, LAYERS, VOCAB = 6656, 17920, 52, 128, 60, 32000


@pytest.fixture(scope="module")
def points():
    return rl.sweeps.sweep_points("llama-33b", "a40", rl.Workload(), [1, 2, 4, 8, 16, 32, 64],
                                  [128, 256, 512, 1024, 2048, 4096, 8192])


def test_chart_reading_numbers(points):
    readings = {r.label: r for r in findings.chart_reading(points, rl.get_hardware("a40"), A40_PEAK)}
    assert list(readings) == ["qkv mlp init", "qkv mlp ar", "up/gate/down init", "up/gate/down ar",
                              "qk/pv init", "qk/pv ar"]
    mlp = readings["up/gate/down ar"]
    # decode MLP intensity b·h·I / (h·I + b·(h+I)) at 16 bits: 0.9998 at b = 1, 63.2 at b = 64
    assert mlp.intensity_low == pytest.approx(H * I / (H * I + (H + I)), rel=1e-12)
    assert mlp.intensity_high == pytest.approx(64 * H * I / (H * I + 64 * (H + I)), rel=1e-12)
    assert mlp.memory_bound == mlp.settings == 49 and mlp.depends_on == ("batch",)
    assert mlp.ridge == pytest.approx(215.086, abs=1e-3)
    assert readings["qk/pv ar"].depends_on == () and readings["qk/pv ar"].memory_bound == 49


def test_axis_note(points):
    note = findings.axis_note(points, A40_PEAK)
    # decode attention: 2·d FLOPs per score against 2 bytes of K or V per element... about 0.985 FLOP/byte
    assert note.points_left_of_x1 > 0 and 0.9 < note.lowest_intensity < 1
    assert note.roof_above_top  # 149.7 T > 100 T
    assert "x axis is widened" in markdown(note) and "100 T top" in markdown(note)


def test_ridge_batch_and_its_sentence():
    found = findings.ridge_batch("llama-33b", "a40", rl.Workload())
    ridge = A40_PEAK / A40_BW
    assert found.batch == int(np.ceil(ridge * H * I / (H * I - ridge * (H + I))))
    assert f"batch {found.batch:,}" in markdown(found)
    never = findings.RidgeBatch("up/gate/down", None, 600.0)
    assert "never reach the ridge" in markdown(never)


def test_capacity_and_one_phrasing_for_no_batch():
    # Llama-33B at 16 bits: 65.06 GB of weights on a 48 GiB A40: not even batch 1
    found = findings.capacity("llama-33b", "a40", rl.Workload())
    assert found.largest_batch == 0 and found.fewest_devices == 2
    assert "No decode batch fits at 1,024 tokens on one device, not even one sequence." in markdown(found)
    assert findings.largest_batch_text(0) == "no batch fits, not even one sequence"
    assert findings.largest_batch_text(1200) == "1,200"


def test_headline_markdown_and_one_output_token():
    top = findings.headline("llama-33b", "a40", rl.Workload())
    assert top.decode_flops > 2 * 32_528_943_616 * 0.95  # about 2 FLOPs per parameter per token
    text = markdown(top)
    assert "95.3 ms" in text and "10.5 tokens/s" in text
    one = rl.e2e.end_to_end("llama-33b", "a40", rl.Workload(), prompt_len=1024, output_len=1)
    assert "n/a (one output token)" in markdown(one) and "inf" not in markdown(one)


def test_measured_source_says_when_model_or_device_differ():
    from roofline_utils.measure import load_shipped

    run = load_shipped(findings.measurement_for(rl.preset("llama-2-70b"), "llama-33b_cpu-2core_numpy-float32.csv"))
    source = findings.measured_source(run, rl.preset("llama-2-70b"), rl.get_hardware("h100-sxm"))
    assert not source.same_model and not source.same_device
    text = markdown(source)
    assert "the model differs" in text and "**Llama 2 70B**" in text and "**Llama 33B**" in text and "H100" in text
    same = findings.measured_source(run, rl.preset("llama-33b"), rl.get_hardware("a40"))
    assert same.same_model and "the model differs" not in markdown(same)


def test_abstract_states_the_headline_and_verdicts():
    text = findings.abstract(ReportParameters())
    assert "95.3 ms" in text and "memory-bound" in text and "does not fit" in text
    assert "fits: " in findings.abstract(ReportParameters(model="llama-7b"))



def test_large_numbers_are_written_in_whole_units():
    import pandas as pd

    from roofline_utils.tables import formatted

    table = pd.DataFrame({"attainable": [695_877_000_000.4, 149.7e12, float("nan")], "intensity": [0.9998, 845.6, 2.0],
                          "mixed": [0.25, 12_000.7, -31_415.9]})
    text = formatted(table)
    # whole units up to 10¹², then ×10ⁿ at three figures: no 13-digit integer a reader has to count
    assert list(text["attainable"]) == ["695,877,000,000", "1.5×10¹⁴", "n/a"]
    assert list(text["intensity"]) == ["0.9998", "845.6", "2"]
    assert list(text["mixed"]) == ["0.25", "12,001", "-31,416"]


def test_the_no_draft_note_names_devices_only_when_split_and_escapes_the_name():
    from roofline_utils.findings import no_draft_note

    single = no_draft_note("Mixtral 8x7B", 1)
    assert "tp" not in single and "devices" not in single and "Mixtral 8x7B's family" in single
    assert "splits over the same 8 devices;" in no_draft_note("DeepSeek V3", 8)
    assert "<img" not in no_draft_note("<img src=x onerror=alert(1)>", 1)


def test_chapter_four_points_back_to_the_critical_batch_instead_of_repeating_it():
    from roofline_utils.findings import RidgeBatch, ridge_recall

    assert ridge_recall(RidgeBatch("up/gate/down", 226, 215.1, 1024, largest_fit=0)) == (
        "As chapter 2.3 found, the up/gate/down decode GEMMs reach the ridge (215.1 FLOP/byte) at **batch 226**; "
        "no batch fits in memory here.")
    assert "largest batch is 561" in ridge_recall(RidgeBatch("up/gate/down", 13932, 206.1, 1024, largest_fit=561))
    assert "do not reach" in ridge_recall(RidgeBatch("up/gate/down", None, 206.1))
