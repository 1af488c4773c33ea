"""The console commands as a user types them: table CSV, render, and bad input."""
import io
import json
import re
from contextlib import redirect_stderr, redirect_stdout

import pandas as pd
import pytest

from roofline_utils.cli import main
from roofline_utils.report import NOTEBOOKS, RenderError, ReportParameters, render_report
from conftest import ROOT


def run(*argv):
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as exit_:  # argparse rejects bad values itself
            code = exit_.code
    return code, out.getvalue(), err.getvalue()


def test_table_csv_has_one_row_per_operator_and_phase(tmp_path):
    target = tmp_path / "ops.csv"
    code, _, _ = run("table", "--model", "llama-33b", "--hardware", "a40", "--batch", "1", "--seq-len", "1024",
                     "--format", "csv", "--out", str(target))
    assert code == 0
    table = pd.read_csv(target)
    for column in ["phase", "operator", "count", "flops", "bytes", "intensity", "attainable_flops_per_s",
                   "bound", "time_s"]:
        assert column in table.columns
    assert not table.duplicated(["phase", "operator"]).any()
    q = table[(table["phase"] == "prefill") & (table["operator"] == "q_proj")].iloc[0]
    assert q["flops"] == 90_731_184_128 and q["count"] == 60


@pytest.mark.parametrize("argv, message", [
    (["--hardware", "a4000"], r"hardware: unknown device 'a4000' \(allowed: .*a40.*h100-sxm"),
    (["--model", "llama-34b"], r"model: unknown preset 'llama-34b' \(allowed: .*llama-33b"),
    (["--batch", "0"], r"--batch: expected a positive integer, got 0"),
    (["--seq-len", "-8"], r"--seq-len: expected a positive integer, got -8"),
    (["--batch", "two"], r"--batch: expected a positive integer, got 'two'"),
])
def test_bad_input_is_one_clear_line(argv, message):
    code, out, err = run("table", *argv)
    assert code == 2 and out == ""
    assert re.search(message, err) and "Traceback" not in err


def test_config_json_with_a_nonsensical_field(tmp_path):
    bad = tmp_path / "config.json"
    bad.write_text(json.dumps({"architectures": ["LlamaForCausalLM"], "hidden_size": 4096,
                               "intermediate_size": 0, "num_attention_heads": 32, "num_hidden_layers": 2,
                               "vocab_size": 100}))
    code, _, err = run("render", "--model", str(bad), "--out", str(tmp_path / "reports"))
    assert code == 2 and err.startswith("roofline: error: intermediate_size: must be a positive integer")
    assert not (tmp_path / "reports").exists() or not any((tmp_path / "reports").iterdir())


def test_render_writes_one_offline_report_with_parameters_and_version(tmp_path):
    code, out, err = run("render", "--batch", "2", "--seq-len", "512", "--sweep-batches", "1,4",
                         "--sweep-seq-lens", "128,1024", "--out", str(tmp_path))
    assert code == 0, err
    # the sweeps differ from the defaults, so the stem carries a hash of them after the readable part
    stem = next(tmp_path.glob("*.html")).stem
    assert re.fullmatch(r"llama-33b_a40_b2_s512_[0-9a-f]{8}", stem)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"{stem}.html", f"{stem}_operators.csv", f"{stem}_roofline.png", f"{stem}_roofline.svg"])
    html = (tmp_path / f"{stem}.html").read_text()
    assert "Roofline report: Llama 33B on NVIDIA A40" in html and "roofline 0.1.0" in html
    assert "<code>sweep_batches</code>" in html and "[1, 4]" in html
    assert html.count("data:image/png;base64") >= 2  # the roofs and the chart, embedded
    assert not re.search(r"(src|href)=\"https?://", html) and "cdnjs" not in html
    assert "Does not fit" in html and "4 settings per group" in html
    assert "4. Sweeps" in html and "Interactive explorer: open notebooks/04_sweeps.ipynb" in html
    assert "VBox(" not in html  # the live widget's text fallback is replaced by the note
    assert ".roofline-render-" not in html  # no staging paths from the injected parameters
    assert html.count("Llama 33B on NVIDIA A40: batch 2, length 512") == 1  # the shared set-up cell ran once
    assert (tmp_path / f"{stem}_roofline.svg").read_text().lstrip().startswith("<?xml")


def test_a_failed_render_leaves_nothing_behind(tmp_path):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    for name in NOTEBOOKS:
        (notebooks / name).write_text((ROOT / "notebooks" / name).read_text())
    broken = json.loads((notebooks / "03_roofline.ipynb").read_text())
    broken["cells"].append({"cell_type": "code", "id": "boom", "metadata": {}, "execution_count": None, "outputs": [],
                            "source": "raise RuntimeError('boom')"})
    (notebooks / "03_roofline.ipynb").write_text(json.dumps(broken))
    out = tmp_path / "out"
    params = ReportParameters(sweep_batches=[1], sweep_seq_lens=[128])
    with pytest.raises(RenderError, match="03_roofline.ipynb failed .*RuntimeError: boom"):
        render_report(params, out, notebook_dir=notebooks)
    assert list(out.iterdir()) == []
