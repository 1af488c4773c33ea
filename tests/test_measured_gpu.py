"""Chapter 5's 'Measured on a GPU': numbers by hand from the extract's rows, sentences chosen by the data.

The end to end is summed here from hand-picked rows of the shipped extract (a tiny Llama whose every
GEMM and attention shape is a grid point of the H100's tables), the roofline ratios from the operator
list's own columns, and each sentence of the reading is checked on constructed data for the wording the
numbers call for.
"""
from __future__ import annotations

import json

import nbformat
import numpy as np
import pandas as pd
import pytest

from conftest import ROOT
from roofline_utils.cli import main
from roofline_utils.hardware import get_hardware
import roofline_utils as rl
from roofline_utils.measure import gpu
from roofline_utils.measure.extract import extract_rows, kernel_source
from roofline_utils.measure.measured import PhaseTime, MeasuredEndToEnd, end_to_end, end_to_end_sentences, \
    measured_columns
from roofline_utils.models import load_model
from roofline_utils.roofline import operator_columns, operator_table
from roofline_utils.workload import Workload

H100 = "h100-sxm"


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory):
    """Two layers of Llama-3.1-8B's attention (32 query, 8 K/V heads of 128) with an MLP of 12,288 and a
    16,384-word vocabulary: every GEMM [m × k]·[k × n] and attention kernel of it is a grid point."""
    folder = tmp_path_factory.mktemp("tiny-llama")
    (folder / "config.json").write_text(json.dumps({
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096,
        "intermediate_size": 12288, "num_attention_heads": 32, "num_key_value_heads": 8, "num_hidden_layers": 2,
        "vocab_size": 16384, "max_position_embeddings": 8192, "hidden_act": "silu", "rms_norm_eps": 1e-5,
        "torch_dtype": "bfloat16", "tie_word_embeddings": False}))
    return load_model(folder / "config.json")


def _row_s(kind: str, **shape) -> float:
    """The one extract row (H100, vLLM) of this kind and shape, in seconds."""
    rows = extract_rows()
    rows = rows[(rows["device"] == H100) & (rows["framework"] == "vllm") & (rows["kind"] == kind)]
    for key, value in shape.items():
        rows = rows[rows[key] == value]
    assert len(rows["latency_ms"].unique()) == 1, (kind, shape, len(rows))
    return float(rows["latency_ms"].iloc[0]) / 1e3


def _by_hand(model, tokens: int, phase: str, length: int) -> tuple[float, float]:
    """(measured, bound) seconds of one step: the layers' seven GEMMs and one fused attention from the
    extract's rows, lm_head once for one token; every other operator at its roofline time (count × time_s)."""
    gemm = lambda n, k: _row_s("gemm", m=tokens, n=n, k=k)  # noqa: E731
    per_layer = (2 * gemm(4096, 4096) + 2 * gemm(1024, 4096) + 2 * gemm(12288, 4096) + gemm(4096, 12288)
                 + _row_s(f"{phase}_attention", heads=32, kv_heads=8, head_dim=128, batch=1, length=length))
    work = Workload(batch=1, seq_len=length, attention_io="fused")
    table = operator_table(model, get_hardware(H100), work, phase)
    measured_ops = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "qk_matmul",
                    "pv_matmul", "lm_head"}
    rest = table[~table["operator"].isin(measured_ops)]
    lm_head = _row_s("gemm", m=1, n=16384, k=4096)  # the logits of each sequence's last position only
    measured = 2 * per_layer + lm_head + float((rest["count"] * rest["time_s"]).sum())
    return measured, float((table["count"] * table["time_s"]).sum())


def test_measured_end_to_end_is_the_sum_of_hand_picked_extract_rows(tiny_llama):
    source = kernel_source(H100, origin="extract")
    hardware = get_hardware(H100)
    # TTFT: a prefill of 1,024 tokens; TPOT: a 1,023-token prompt, so the one decode step attends to 1,024
    ttft = end_to_end(tiny_llama, hardware, Workload(batch=1), 1024, 2, source.times).ttft
    measured, bound = _by_hand(tiny_llama, 1024, "prefill", 1024)
    assert ttft.measured_s == pytest.approx(measured, rel=1e-12)
    assert ttft.bound_s == pytest.approx(bound, rel=1e-12)
    step = end_to_end(tiny_llama, hardware, Workload(batch=1), 1023, 2, source.times)
    measured, bound = _by_hand(tiny_llama, 1, "decode", 1024)
    assert step.tpot_measured_s == pytest.approx(measured, rel=1e-12)
    assert step.tpot_bound_s == pytest.approx(bound, rel=1e-12)
    assert step.decode.outside_grid == () and "attn_norm" in step.decode.uncovered
    assert "lm_head" not in step.decode.uncovered


def test_the_end_to_end_sentence_names_both_numbers_and_what_is_not_measured(tiny_llama):
    source = kernel_source(H100, origin="extract")
    e2e = end_to_end(tiny_llama, get_hardware(H100), Workload(batch=1), 1024, 2, source.times)
    first, coverage = end_to_end_sentences(e2e, "GPU X", 1, 1024, 2)
    from roofline_utils.units import seconds

    assert f"time per output token at least {seconds(e2e.tpot_bound_s)} by the roofline; " \
           f"{seconds(e2e.tpot_measured_s)} from NVIDIA's measured kernels" in first
    assert "below the bound" not in first
    assert "attn_norm" in coverage and "have no kernel table" in coverage and "outside the measured grid" not in coverage


def test_the_end_to_end_sentence_says_below_the_bound_and_outside_the_grid_when_so():
    phase = PhaseTime(bound_s=2e-3, measured_s=1e-3, covered_bound_s=1.5e-3, uncovered=("lm_head", "rope"),
                      outside_grid=("lm_head",))
    text = " ".join(end_to_end_sentences(MeasuredEndToEnd(phase, 2e-3, 1e-3, phase), "GPU X", 1, 10, 5))
    assert "below the bound" in text and "0.50× the bound" in text
    assert "lm_head lies outside the measured grid" in text and "rope has no kernel table" in text
    assert "75% of the prefill's bound" in text
    quantised = end_to_end_sentences(None, "GPU X", 1, 10, 5, reason="the measured tables are 16-bit")
    assert quantised == ["On the GPU X, batch 1, a 10-token prompt and 5 output tokens: no measured kernel "
                         "applies, as the measured tables are 16-bit; the roofline bound stands alone."]


def test_a_medusa_point_is_its_groups_measured_sum_over_its_bound():
    """H100, Llama-33B, decode at batch 1 and length 1,024: q/k/v measured times over their roofline times."""
    model = load_model("llama-33b")
    source = kernel_source(H100, origin="extract")
    work = Workload(batch=1, seq_len=1024, attention_io="fused")
    table = pd.DataFrame(operator_columns(model, H100, work, ("decode",)))
    measured = measured_columns(model, work, ("decode",), source.times)["measured_s"]
    qkv = table["operator"].isin(["q_proj", "k_proj", "v_proj"]).to_numpy()
    expected = sum(float(m) for m, keep in zip(measured, qkv) if keep) / float(table.loc[qkv, "time_s"].sum())
    points = gpu.medusa_points(model, source)
    point = points[(points["phase"] == "decode") & (points["group"] == "qkv mlp") & (points["batch"] == 1)
                   & (points["seq_len"] == 1024)]
    assert point["ratio"].item() == pytest.approx(expected, rel=1e-12)
    assert point["measured_from"].item() == "interpolated"  # 6,656 lies between the grid's 6,144 and 7,168
    assert len(points) == 6 * 49
    ratios = gpu.group_ratios(points).set_index("group")
    decode_qkv = points[(points["phase"] == "decode") & (points["group"] == "qkv mlp")]
    assert ratios.loc["qkv mlp ar", "median"] == pytest.approx(decode_qkv["ratio"].median())
    assert ratios.loc["qkv mlp ar", "batch 64"] == pytest.approx(decode_qkv.loc[decode_qkv["batch"] == 64, "ratio"].median())


def _cloud_rows(shapes_ms: list[tuple[int, int, int, float]]) -> pd.DataFrame:
    base = dict.fromkeys(["batch", "length", "heads", "kv_heads", "head_dim"], 0)
    return pd.DataFrame([{"device": H100, "gpu": "X", "framework": "vllm", "version": "1", "kind": "gemm",
                          "dtype": "bf16", "kernel_source": "k", "m": m, "n": n, "k": k, **base, "latency_ms": ms}
                         for m, n, k, ms in shapes_ms])


def test_the_cloud_by_hand_fractions_and_the_l2():
    hw = get_hardware(H100)  # 3.35 TB/s, 989.4 TFLOP/s bf16, 50 MiB L2
    # a GEMV over 256 MiB of weights at 0.1 ms (2.68 TB/s); a small one at 0.5 us (4.2 TB/s, fits the L2);
    # a large compute-bound GEMM at 12 ms
    cloud = gpu.gemm_cloud(_cloud_rows([(1, 16384, 8192, 0.1), (1, 1024, 1024, 0.0005),
                                        (8192, 8192, 8192, 12.0)]), hw)
    gemv_bytes = 2 * (8192 + 16384 * 8192 + 16384)
    assert cloud["memory_fraction"][0] == pytest.approx(gemv_bytes / 1e-4 / 3350e9)
    assert cloud["compute_fraction"][2] == pytest.approx(2 * 8192**3 / 12e-3 / 989.4e12)
    assert list(cloud["above_hbm"]) == [False, True, False]
    reading = gpu.cloud_reading(cloud, hw)
    assert (reading.kernels, reading.above_hbm, reading.below) == (3, 1, 0)
    assert reading.checked == 2  # 256 MiB and 402 MiB are at least 4 x 50 MiB; the 2 MiB one is not
    text = " ".join(gpu.cloud_sentences(reading))
    assert "took at least their roofline time" in text and "the bound held" in text
    assert "1 of the 3 sampled GEMMs sits above the HBM roof" in text and "the L2 explains it" in text


def _reading(**changes) -> gpu.CloudReading:
    base = dict(gpu="X", kernels=100, l2_bytes=50 * 2**20, l2_known=True, checked=40, below=0,
                worst_checked_ratio=1.05, memory=gpu.RoofReach("memory", 30, 0.7, 0.8, 0.9),
                compute=gpu.RoofReach("compute", 30, 0.6, 0.8, 0.9), above_hbm=0, above_hbm_most=np.nan,
                above_hbm_shares=())
    return gpu.CloudReading(**(base | changes))


def test_the_cloud_sentences_follow_the_numbers():
    held = gpu.cloud_sentences(_reading())
    assert held[0].startswith("All 40 sampled GEMMs") and "the bound held" in held[0]
    assert held[-1] == "No sampled GEMM moved its bytes faster than the HBM bandwidth."
    failed = gpu.cloud_sentences(_reading(below=3, worst_checked_ratio=0.8))
    assert failed[0].startswith("3 of the 40") and "the bound failed" in failed[0] and "held" not in failed[0]
    untested = gpu.cloud_sentences(_reading(checked=0))
    assert "none tests the bound" in untested[0]
    assumed = gpu.cloud_sentences(_reading(l2_known=False))
    assert "(assumed: the catalog gives none)" in assumed[0]
    # above the HBM roof: in the L2, within 4x it, and one beyond that the cache cannot explain
    explained = gpu.cloud_sentences(_reading(above_hbm=3, above_hbm_most=1.5, above_hbm_shares=(0.2, 0.9, 2.5)))
    assert "3 of the 100 sampled GEMMs sit above the HBM roof (up to 1.50×" in explained[-1]
    assert "2 have working sets that fit in the L2 whole" in explained[-1]
    assert "1 has one of 2.50× the L2 at most" in explained[-1] and "the L2 explains all of them" in explained[-1]
    unexplained = gpu.cloud_sentences(_reading(above_hbm=2, above_hbm_most=1.2, above_hbm_shares=(0.5, 6.0)))
    assert "cannot explain" in unexplained[-1] and "explains all" not in unexplained[-1]


def _points(first: float, last: float, faster: float | None = None) -> pd.DataFrame:
    """One group (qkv mlp, decode) at batch 1 and 64 with the given ratios, the rest unmeasured."""
    ratios = [first, last] if faster is None else [faster, last]
    return pd.DataFrame({"phase": "decode", "group": "qkv mlp", "label": "qkv mlp", "batch": [1, 64],
                         "seq_len": 1024, "ratio": ratios, "bytes": [1e6, 1e6],
                         "measured_from": ["grid", "interpolated"]})


@pytest.mark.parametrize("first, last, words", [(2.0, 1.2, "closer to the bound at batch 64"),
                                                (1.2, 2.0, "further from it at batch 64"),
                                                (1.2, 1.25, "about as close at batch 64")])
def test_the_chart_sentences_say_how_the_ratio_moves_with_the_batch(first, last, words):
    points = _points(first, last)
    text = gpu.chart_sentences(gpu.group_ratios(points), points, get_hardware(H100))
    assert words in text[0] and text[0].startswith("qkv mlp ar: measured")
    assert any(s.startswith("Not measured for this model: qkv mlp init") for s in text)
    assert "No point ran faster than its bound." in text
    assert text[-1].startswith("Of the 2 measured points, 1 grid, 1 interpolated")


def test_points_faster_than_their_bound_are_explained_from_the_l2():
    points = _points(1.0, 1.2, faster=0.6)
    text = " ".join(gpu.chart_sentences(gpu.group_ratios(points), points, get_hardware(H100)))
    assert "1 point runs faster than its bound (qkv mlp ar; down to 0.60×)" in text
    assert "fits in the L2 whole" in text


def test_the_section_names_the_gpu_it_shows_and_why():
    model = load_model("llama-33b")
    default = gpu.gpu_section(model, get_hardware("a40"), Workload())
    assert default.device == "a100-80gb-sxm"
    assert "NVIDIA A40 is not in the measured tables" in default.intro and "Ampere" in default.intro
    own = gpu.gpu_section(model, get_hardware(H100), Workload())
    assert own.device == H100 and "The report's own device" in own.intro
    chosen = gpu.gpu_section(model, get_hardware("a40"), Workload(), measured_device="h200-sxm")
    assert chosen.device == "h200-sxm" and "chosen with measured_device" in chosen.intro
    none = gpu.gpu_section(model, get_hardware("t4"), Workload())
    assert none.device is None and gpu.reading(none) == [] and "No measured kernels are shown" in none.intro
    quantised = gpu.gpu_section(model, get_hardware(H100), Workload(weight_bits=4))
    assert quantised.points is None and "16-bit" in quantised.intro and len(quantised.cloud)


def test_cli_table_measured_notes_the_end_to_end(capsys):
    assert main(["table", "--hardware", H100, "--measured", "--output-len", "4"]) == 0
    err = capsys.readouterr().err
    assert "time to first token at least" in err and "from NVIDIA's measured kernels" in err
    assert "time per output token at least" in err and "keep their roofline time in both" in err


def _execute_chapter(tmp_path, **values) -> str:
    """Chapter 5 alone, with its parameters injected as the report injects them; its outputs' text."""
    import nbclient
    from papermill.parameterize import parameterize_notebook

    from roofline_utils.params import ReportParameters

    notebook = nbformat.read(ROOT / "notebooks" / "05_measured.ipynb", as_version=4)
    notebook.metadata.setdefault("papermill", {})
    for cell in notebook.cells:
        cell.metadata.setdefault("tags", [])
    notebook = parameterize_notebook(notebook, {**ReportParameters(**values).values(), "figure_dir": str(tmp_path)})
    nbclient.NotebookClient(notebook, kernel_name="python3", timeout=300,
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    texts = []
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            texts.append(cell.source)
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            texts.append(data.get("text/markdown") or data.get("text/plain") or output.get("text", ""))
            texts.append(output.get("metadata", {}).get("alt", ""))
    return "\n".join(texts)


def test_the_chapter_for_an_h100_shows_its_own_measured_kernels(tmp_path):
    text = _execute_chapter(tmp_path, hardware=H100)
    assert "## Measured on a GPU" in text and "## Measure your own machine" in text
    assert "The report's own device, the **NVIDIA H100 SXM5 80GB**" in text
    assert "Roofline of the NVIDIA H100 SXM5 80GB" in text  # the measured chart's alt text
    assert "measured bf16 GEMMs of the NVIDIA H100 SXM5 80GB" in text  # the cloud's
    assert "On the NVIDIA H100 SXM5 80GB, batch 1, a 1,024-token prompt and 256 output tokens" in text


def test_the_committed_chapter_shows_the_a100_for_the_a40_default():
    notebook = nbformat.read(ROOT / "notebooks" / "05_measured.ipynb", as_version=4)
    text = json.dumps([cell.get("outputs", []) for cell in notebook.cells])
    assert "NVIDIA A40 is not in the measured tables; NVIDIA A100 80GB SXM4 is the measured GPU of the same " \
           "generation" in text
    assert "On the NVIDIA A100 80GB SXM4, batch 1" in text


def test_a_device_with_no_measured_relative_gets_no_empty_subsections(tmp_path):
    """A user's device (or an AMD one): the intro says why, and no heading stands over nothing."""
    device = tmp_path / "mine.yaml"
    device.write_text("name: My GPU\nmemory_gb: 48\nbandwidth_gb_s: 1500\npeak_tflops: {fp16: 300}\n")
    model, workload = rl.load_model("llama-33b"), rl.Workload()
    for hardware in (rl.get_hardware(str(device)), rl.get_hardware("mi300x")):
        section = gpu.gpu_section(model, hardware, workload)
        assert "not in the measured tables" in section.intro
        assert all(gpu.subsection(section, part) == "" for part in gpu.SUBSECTIONS)
    shown = gpu.gpu_section(model, rl.get_hardware("h100-sxm"), workload)
    assert all(gpu.subsection(shown, part).startswith("### ") for part in gpu.SUBSECTIONS)
