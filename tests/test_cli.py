"""The console commands as a user types them: table CSV, list, help, and every bad input as one line."""
import io
import json
import re
from contextlib import redirect_stderr, redirect_stdout

import pandas as pd
import pytest

from roofline_utils.cli import main
from roofline_utils.params import ReportParameters


def run(*argv):
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as exit_:  # --help and --version exit through argparse
            code = exit_.code
    return code, out.getvalue(), err.getvalue()


def test_table_csv_has_one_row_per_operator_and_phase(tmp_path):
    target = tmp_path / "ops.csv"
    code, _, err = run("table", "--model", "llama-33b", "--hardware", "a40", "--batch", "1", "--seq-len", "1024",
                       "--format", "csv", "--out", str(target))
    assert code == 0 and err == f"wrote {target}\n"
    table = pd.read_csv(target)
    for column in ["phase", "operator", "count", "flops", "bytes", "intensity", "attainable_flops_per_s",
                   "bound", "time_s"]:
        assert column in table.columns
    assert not table.duplicated(["phase", "operator"]).any()
    q = table[(table["phase"] == "prefill") & (table["operator"] == "q_proj")].iloc[0]
    assert q["flops"] == 2 * 1024 * 6656 * 6656 and q["count"] == 60


def test_table_to_standard_output_by_default():
    code, out, err = run("table", "--format", "text", "--batch", "2")
    assert code == 0 and err == ""
    header = out.splitlines()[0].split()
    assert header[:3] == ["phase", "operator", "group"] and "q_proj" in out


def test_bits_sets_all_three_and_single_widths_override():
    code, out, _ = run("table", "--bits", "8", "--kv-bits", "16")
    rows = pd.read_csv(io.StringIO(out)).set_index(["phase", "operator"])
    q = rows.loc[("decode", "q_proj")]
    assert q["weight_bytes"] == 6656 * 6656  # 8-bit weights: one byte each
    k = rows.loc[("decode", "k_proj")]
    assert k["kv_write_bytes"] == 6656 * 2  # 16-bit KV: the one new token's K, two bytes each


@pytest.mark.parametrize("what, expected", [("models", "llama-33b"), ("hardware", "a40"), ("runs", ".csv")])
def test_list(what, expected):
    code, out, _ = run("list", what)
    assert code == 0 and expected in out


def test_list_hardware_shows_memory_bandwidth_and_peak():
    _, out, _ = run("list", "hardware")
    a40 = next(line for line in out.splitlines() if line.startswith("a40 "))
    assert "48 GB" in a40 and "46,068 MiB" in a40 and "696 GB/s" in a40 and "149.7 TFLOP/s" in a40


def test_version_and_help():
    code, out, _ = run("--version")
    assert code == 0 and re.fullmatch(r"roofline \d+\.\d+\.\d+\n", out)
    code, out, _ = run("render", "--help")
    assert code == 0
    flags = re.findall(r"^  (--[a-z-]+)", out, flags=re.M)
    assert {"--model", "--batch", "--seq-len", "--bits", "--tp", "--out", "--show-code"} <= set(flags)
    # every flag has help text, and the defaults are shown
    for flag in flags:
        assert re.search(rf"^  {flag}\b.*\n?.*\S", out, flags=re.M)
    assert "(default: 1024)" in out.replace("\n", " ") or "default: 1024" in " ".join(out.split())
    assert "default: reports" in " ".join(out.split())


def _err_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize("argv, message", [
    (["table", "--hardware", "a4000"], r"hardware: unknown device 'a4000' \(allowed: .*a40.*h100-sxm"),
    (["table", "--model", "llama-34b"], r"model: unknown preset 'llama-34b' \(allowed: .*llama-33b"),
    (["table", "--model", ""], r"model: .*\(allowed: .*llama-33b"),
    (["table", "--batch", "0"], r"--batch: must be an integer from 1 to 1,048,576, got 0"),
    (["table", "--seq-len", "-8"], r"--seq-len: must be an integer from 1 to 16,777,216, got -8"),
    (["table", "--batch", "two"], r"--batch: must be an integer from 1 to 1,048,576, got 'two'"),
    (["table", "--batch", "1e3"], r"--batch: must be an integer"),
    (["table", "--bits", "3"], r"--bits: invalid choice: 3 \(choose from 4, 8, 16, 32\)"),
    (["table", "--weight-bits", "x"], r"--weight-bits: invalid int value: 'x'"),
    (["table", "--attention-io", "flash"], r"--attention-io: invalid choice: 'flash'"),
    (["table", "--format", "xml"], r"--format: invalid choice: 'xml'"),
    (["table", "--tp", "8"], r"tp: 8 devices do not split num_attention_heads=52 .*\(allowed: 1, 2, 4"),
    (["table", "--hardware", "m2-ultra", "--tp", "2"], r"tp: .*no interconnect"),
    (["render", "--output-len", "1000000000"], r"--output-len: must be an integer from 1 to 1,048,576"),
    (["render", "--sweep-batches", "1,x"], r"--sweep-batches: must be an integer"),
    (["render", "--sweep-seq-lens", ","], r"--sweep-seq-lens: must be comma-separated integers"),
    (["render", "--sweep-batches", "0"], r"--sweep-batches: must be an integer from 1"),
    (["render", "--measurement-run", "nope.csv"], r"measurement_run: no shipped run 'nope.csv' \(allowed: .*\.csv"),
    (["render", "--tp", "8"], r"tp: 8 devices do not split"),
    (["render", "--hardware", "m2-ultra", "--tp", "2"], r"tp: .*no interconnect"),
    (["render", "--frobnicate"], r"unrecognized arguments: --frobnicate"),
    (["list"], r"what: missing after 'roofline list' \(allowed: models, hardware, runs, measured\)"),
    (["list", "gpus"], r"what: invalid choice: 'gpus'"),
    ([], r"command: missing after 'roofline' \(allowed: render, table, list\)"),
    (["render", "--sweep-batches", "1,,2"], r"--sweep-batches: must be comma-separated integers"),
])
def test_bad_input_is_one_clear_line(argv, message, tmp_path):
    code, out, err = run(*argv, *(["--out", str(tmp_path / "r")] if argv[:1] == ["render"] else []))
    assert code == 2 and out == ""
    line = _err_line(err)
    assert line.startswith("roofline: error: ") and re.search(message, line), line
    assert not (tmp_path / "r").exists()


def test_a_nonsensical_config_field_is_refused_before_any_kernel(tmp_path):
    bad = tmp_path / "config.json"
    bad.write_text(json.dumps({"architectures": ["LlamaForCausalLM"], "hidden_size": 4096,
                               "intermediate_size": 0, "num_attention_heads": 32, "num_hidden_layers": 2,
                               "vocab_size": 100}))
    code, _, err = run("render", "--model", str(bad), "--out", str(tmp_path / "reports"))
    assert code == 2 and _err_line(err).startswith("roofline: error: intermediate_size: must be a positive integer")
    assert not (tmp_path / "reports").exists()


def test_every_schema_field_is_a_flag_and_back():
    """The CLI is generated from ReportParameters: each CLI-visible field has a flag with its default."""
    from roofline_utils.cli import build_parser
    from roofline_utils.params import schema

    render = build_parser()._subparsers._group_actions[0].choices["render"]
    flags = {action.dest: action for action in render._actions}
    for f in schema():
        if f.metadata["cli"]:
            assert f.name in flags, f.name
            if not f.name.endswith("_bits"):
                assert flags[f.name].default == ReportParameters().values()[f.name]
            assert flags[f.name].help


@pytest.mark.parametrize("argv", [["table"], ["list", "models"], ["list", "hardware"]])
def test_table_and_list_import_no_plotting_or_rendering(argv):
    import subprocess
    import sys

    code = ("import sys, io, contextlib\nfrom roofline_utils.cli import main\n"
            f"with contextlib.redirect_stdout(io.StringIO()): main({argv!r})\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'matplotlib', 'nbformat', 'nbconvert', "
            "'papermill', 'ipywidgets', 'nbclient', 'pandas'}), 'importlib.metadata' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    # importlib.metadata: only for --version; pandas: only for --format text (a CSV is written without it)
    assert done.stdout.strip() == "[] False", done.stderr


def test_render_does_not_pay_for_jsonschemas_iri_grammars():
    """With JupyterLab installed, jsonschema would compile rfc3987_syntax's grammars (6 s here)
    when nbformat loads; report.py keeps it out, and leaves it importable afterwards."""
    import subprocess
    import sys

    pytest.importorskip("rfc3987_syntax", reason="only present where JupyterLab's dependencies are")
    code = ("import sys\nimport roofline_utils.report\nprint('rfc3987_syntax' in sys.modules)\n"
            "import rfc3987_syntax\nprint('importable')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == ["False", "importable"], done.stderr


@pytest.mark.parametrize("argv", [[], ["--phase", "all", "--tree-size", "5", "--medusa-heads", "2"],
                                  ["--model", "mixtral-8x7b", "--hardware", "h100", "--tp", "4", "--batch", "1048576"]])
def test_the_csv_written_without_pandas_is_what_pandas_writes(argv):
    from roofline_utils import operator_table
    from roofline_utils.operators import ALL_PHASES

    code, out, _ = run("table", *argv)
    parameters = {"--model": "llama-33b", "--hardware": "a40", "--tp": "1", "--batch": "1", "--tree-size": "64",
                  "--medusa-heads": "4", **dict(zip(argv[::2], argv[1::2]))}
    from roofline_utils import Workload

    work = Workload(batch=int(parameters["--batch"]), tp=int(parameters["--tp"]),
                    tree_size=int(parameters["--tree-size"]), medusa_heads=int(parameters["--medusa-heads"]))
    phases = ALL_PHASES if parameters.get("--phase") == "all" else ("prefill", "decode")
    expected = operator_table(parameters["--model"], parameters["--hardware"], work, phases).to_csv(index=False)
    assert code == 0 and out == expected


def test_a_context_past_max_position_embeddings_is_a_note_and_in_the_abstract(capsys, tmp_path):
    from roofline_utils.cli import main
    from roofline_utils.findings import abstract
    from roofline_utils.params import ReportParameters

    # Llama-33B's config.json: max_position_embeddings 2048; 100,000 + 256 output tokens is past it
    assert main(["table", "--seq-len", "100000", "--out", str(tmp_path / "t.csv")]) == 0
    err = capsys.readouterr().err
    assert "100,256 tokens exceeds" in err and "2,048" in err
    assert "Beyond the model's context" in abstract(ReportParameters(seq_len=100_000))
    assert "Beyond the model's context" not in abstract(ReportParameters(seq_len=1792))  # 1792 + 256 = 2048
