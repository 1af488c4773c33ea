"""NVIDIA's measured kernels: the lookup by hand, the extract against its database, the bound against reality.

Numbers here are derived independently: interpolations by hand from the rows they use, roofline times
from 2·m·n·k and the catalog's figures, and the extract's rows held against the installed database's
(those tests skip without the optional extra, ``pip install -e '.[kernels]'``).
"""
from __future__ import annotations

from math import exp, log

import numpy as np
import pandas as pd
import pytest

from roofline_utils.cli import main
from roofline_utils.hardware import get_hardware
from roofline_utils.measure import database
from roofline_utils.measure.extract import (EXTRACT_COLUMNS, choose_device, extract_metadata, extract_path,
                                            extract_rows, kernel_source)
from roofline_utils.measure.lookup import EXTRAPOLATED, GRID, INTERPOLATED, KernelTimes, stated_p90
from roofline_utils.measure.measured import SUSPECT_TABLES, end_to_end, measured_columns, phase_time
from roofline_utils.models import load_model
from roofline_utils.roofline import operator_columns
from roofline_utils.workload import Workload

needs_database = pytest.mark.skipif(not database.installed(), reason="aiconfigurator-core not installed")
EXTRACT_DEVICES = ("a100-80gb-sxm", "h100-sxm", "h200-sxm", "b200", "l40s")


def _rows(records: list[dict]) -> pd.DataFrame:
    base = dict.fromkeys(["m", "n", "k", "batch", "length", "heads", "kv_heads", "head_dim"], 0)
    return pd.DataFrame([{"device": "x", "gpu": "X", "framework": "vllm", "version": "1", "dtype": "bf16",
                          "kernel_source": "k", **base, **r} for r in records])


def _gemm_table() -> KernelTimes:
    # m in {1, 4}, n in {16, 64}, k = 16: latency 1, 2, 3, 4 ms
    return KernelTimes(_rows([{"kind": "gemm", "m": m, "n": n, "k": 16, "latency_ms": v}
                              for (m, n), v in {(1, 16): 1.0, (1, 64): 2.0, (4, 16): 3.0, (4, 64): 4.0}.items()]))


def test_gemm_on_the_grid_is_its_row():
    time = _gemm_table().gemm(4, 64, 16)
    assert time.seconds == 4.0e-3 and time.source == GRID


def test_gemm_between_grid_points_is_log_bilinear():
    # m = 2 and n = 32 are halfway in log between 1 and 4 and between 16 and 64: the geometric mean
    time = _gemm_table().gemm(2, 32, 16)
    assert time.seconds == pytest.approx((1 * 2 * 3 * 4) ** 0.25 * 1e-3, rel=1e-12)
    assert time.source == INTERPOLATED


def test_gemm_above_the_largest_m_is_row_chunks_and_outside_n_is_nothing():
    time = _gemm_table().gemm(12, 64, 16)  # 3 chunks of the m = 4 row
    assert time.seconds == pytest.approx(12e-3) and time.source == EXTRAPOLATED
    assert _gemm_table().gemm(2, 128, 16) is None


def test_attention_heads_the_table_lacks_fold_into_the_batch():
    # only 8/8 heads: 52 MHA heads at batch 1 are batch 6.5 of 8 heads, between batch 4 (2 ms) and 8 (3 ms)
    table = KernelTimes(_rows([{"kind": "decode_attention", "batch": b, "length": 1024, "heads": 8, "kv_heads": 8,
                                "head_dim": 128, "latency_ms": v} for b, v in ((4, 2.0), (8, 3.0))]))
    time = table.attention("decode", 1, 52, 52, 128, 1024)
    t = log(6.5 / 4) / log(2)
    assert time.seconds == pytest.approx(exp((1 - t) * log(2.0) + t * log(3.0)) * 1e-3, rel=1e-12)
    assert time.source == INTERPOLATED
    # beyond the table's largest batch (8) at this length: 16 heads-of-8 batches as 2 chunks of 8
    assert table.attention("decode", 2, 64, 64, 128, 1024).seconds == pytest.approx(2 * 3.0e-3)


def test_q_proj_decode_from_the_extract_by_hand():
    """Llama-33B decode q_proj on the H100: m = 1, n = k = 6,656, between the grid's 6,144 and 7,168."""
    rows = extract_rows()
    rows = rows[(rows["device"] == "h100-sxm") & (rows["framework"] == "vllm") & (rows["kind"] == "gemm")
                & (rows["m"] == 1)]
    value = {(n, k): ms for n, k, ms in zip(rows["n"], rows["k"], rows["latency_ms"])}
    t = log(6656 / 6144) / log(7168 / 6144)
    expected = exp(sum(w_n * w_k * log(value[(n, k)]) for n, w_n in ((6144, 1 - t), (7168, t))
                       for k, w_k in ((6144, 1 - t), (7168, t)))) / 1e3
    source = kernel_source("h100-sxm", origin="extract")
    model, work = load_model("llama-33b"), Workload(batch=1, seq_len=1024)
    columns = measured_columns(model, work, ("decode",), source.times)
    table = operator_columns(model, "h100-sxm", work, ("decode",))
    names = list(table["operator"])
    assert columns["measured_s"][names.index("q_proj")] == pytest.approx(expected, rel=1e-12)
    assert columns["measured_from"][names.index("q_proj")] == INTERPOLATED
    # the fused kernel sits on qk_matmul, pv_matmul is 0 from the same kernel; norms have nothing measured
    assert columns["measured_s"][names.index("qk_matmul")] > 0 and columns["measured_s"][names.index("pv_matmul")] == 0
    assert columns["measured_s"][names.index("attn_norm")] == "" and columns["measured_from"][names.index("rope")] == ""


def test_phase_time_is_measured_where_covered_and_the_bound_elsewhere():
    source = kernel_source("h100-sxm", origin="extract")
    model, work = load_model("llama-33b"), Workload(batch=1, seq_len=1024)
    table = pd.DataFrame(operator_columns(model, "h100-sxm", work, ("decode",)))
    measured = measured_columns(model, work, ("decode",), source.times)["measured_s"]
    covered = np.array([m != "" for m in measured])
    by_hand = sum(c * (float(m) if m != "" else t) for c, m, t in zip(table["count"], measured, table["time_s"]))
    result = phase_time(model, get_hardware("h100-sxm"), work, "decode", source.times)
    assert result.measured_s == pytest.approx(by_hand, rel=1e-12)
    assert result.bound_s == pytest.approx(float((table["count"] * table["time_s"]).sum()), rel=1e-12)
    assert set(result.uncovered) == set(table.loc[~covered, "operator"])
    assert "attn_norm" in result.uncovered and "q_proj" not in result.uncovered
    e2e = end_to_end(model, get_hardware("h100-sxm"), work, 1024, 4, source.times)
    assert e2e.tpot_measured_s >= e2e.tpot_bound_s and e2e.ttft.measured_s >= e2e.ttft.bound_s


def test_quantised_workloads_get_no_measured_kernels():
    source = kernel_source("h100-sxm", origin="extract")
    columns = measured_columns(load_model("llama-33b"), Workload(weight_bits=8), ("decode",), source.times)
    assert set(columns["measured_s"]) == {""}


def test_the_a40_shows_the_a100_with_the_reason():
    choice = choose_device(get_hardware("a40"))
    assert choice.shown == "a100-80gb-sxm" and "Ampere" in choice.reason
    assert choose_device(get_hardware("h100-sxm")).shown == "h100-sxm"
    assert choose_device(get_hardware("t4")).shown is None


def test_extract_is_small_plain_and_carries_its_licence():
    assert extract_path().stat().st_size < 4e6
    metadata = extract_metadata()
    assert "aiconfigurator" in metadata["source"] and metadata["package_version"]
    assert "Apache-2.0" in metadata["licence"]
    folder = extract_path().parent
    assert "Apache License" in (folder / "LICENSE").read_text() and "Version 2.0" in (folder / "LICENSE").read_text()
    assert "NVIDIA" in (folder / "NOTICE").read_text()
    rows = extract_rows()
    assert list(rows.columns) == EXTRACT_COLUMNS
    assert set(EXTRACT_DEVICES) <= set(rows["device"])
    for device in EXTRACT_DEVICES:
        assert {"vllm", "sglang", "trtllm"} <= set(rows.loc[rows["device"] == device, "framework"])


@needs_database
def test_extract_rows_equal_the_database_rows():
    rows = extract_rows()
    for (device, framework, version), part in rows.groupby(["device", "framework", "version"]):
        source = database.read_kernels(device, framework, version)
        keys = ["kind", *database.SHAPE_COLUMNS]
        merged = part.merge(source, on=keys, how="left", suffixes=("", "_db"), validate="many_to_one")
        assert merged["latency_ms_db"].notna().all(), (device, framework)
        assert (merged["latency_ms"] == merged["latency_ms_db"]).all(), (device, framework)
        assert (merged["kernel_source"] == merged["kernel_source_db"]).all()


@needs_database
@pytest.mark.parametrize("device", ["h100-sxm", "a100-80gb-sxm"])
def test_the_extract_answers_the_medusa_grid_as_the_database_does(device):
    from roofline_utils.measure.runs import medusa_settings

    model = load_model("llama-33b")
    extract, full = kernel_source(device, origin="extract"), kernel_source(device, origin="database")
    for phase, batch, seq_len in medusa_settings()[::5]:
        work = Workload(batch=batch, seq_len=seq_len)
        ours = measured_columns(model, work, (phase,), extract.times)
        theirs = measured_columns(model, work, (phase,), full.times)
        assert list(ours["measured_from"]) == list(theirs["measured_from"])
        assert [float(v or 0) for v in ours["measured_s"]] == pytest.approx([float(v or 0) for v in theirs["measured_s"]],
                                                                          rel=1e-12)


def test_held_out_points_are_within_the_stated_error():
    """Each held-out grid point predicted by hand from its two neighbours along its axis, in log space."""
    rows = extract_rows()
    rows = rows[rows["framework"] == "vllm"]
    keys = {"gemm": ["m", "n", "k"], "prefill_attention": ["heads", "kv_heads", "head_dim", "batch", "length"],
            "decode_attention": ["heads", "kv_heads", "head_dim", "batch", "length"]}
    for (device, kind), part in rows.groupby(["device", "kind"]):
        value = {tuple(key): ms for key, ms in zip(part[keys[kind]].to_numpy().tolist(), part["latency_ms"])}
        errors = []
        for _, row in part[part["purpose"].str.startswith("held_out:")].iterrows():
            axis = row["purpose"].split(":")[1]
            others = (part[[c for c in keys[kind] if c != axis]] == row[[c for c in keys[kind] if c != axis]]).all(axis=1)
            line = part[others]
            lo, hi = line.loc[line[axis] < row[axis], axis].max(), line.loc[line[axis] > row[axis], axis].min()
            key = [int(row[c]) for c in keys[kind]]
            at = lambda tick: value[tuple(tick if c == axis else v for c, v in zip(keys[kind], key))]  # noqa: E731
            t = (log(row[axis]) - log(lo)) / (log(hi) - log(lo))
            errors.append(exp((1 - t) * log(at(lo)) + t * log(at(hi))) / row["latency_ms"] - 1)
        within = float(np.mean(np.abs(errors) <= stated_p90(device, kind)))
        print(f"{device} {kind}: {len(errors)} held out, {within:.0%} within {stated_p90(device, kind):.0%}")
        assert len(errors) >= 30
        # the statement is about 90 % of the database's points; a sample of 30-130 may fall a little short
        assert within >= 0.8, (device, kind, within)


def _bound_by_hand(rows: pd.DataFrame, device: str) -> pd.DataFrame:
    hw = get_hardware(device)
    peak, bandwidth = hw.peak_flops_per_s["bf16"], hw.bandwidth_bytes_per_s
    m, n, k = (rows[c].astype(float) for c in ("m", "n", "k"))
    b, s, heads, kv, d = (rows[c].astype(float) for c in ("batch", "length", "heads", "kv_heads", "head_dim"))
    is_gemm, prefill = rows["kind"] == "gemm", rows["kind"] == "prefill_attention"
    scores = np.where(prefill, b * heads * s * (s + 1) / 2, b * heads * s)  # causal prefill; decode: every position
    q_rows = np.where(prefill, b * s, b)
    flops = np.where(is_gemm, 2 * m * n * k, 2 * 2 * d * scores + 5 * scores)
    nbytes = np.where(is_gemm, 2 * (m * k + k * n + m * n), 2 * (2 * q_rows * heads * d + 2 * b * s * kv * d))
    bound_s = np.maximum(flops / peak, nbytes / bandwidth)
    return rows.assign(bytes=nbytes, ratio=rows["latency_ms"] / 1e3 / bound_s, bound_s=bound_s)


@pytest.mark.parametrize("device", EXTRACT_DEVICES)
def test_the_bound_holds_for_every_kernel_whose_working_set_is_well_above_the_l2(device):
    """Measured time >= roofline time × (1 − 2 % clock and spread − 1 µs timer / bound), for working sets of
    at least 4× the L2 (256 MiB where the catalog gives none); faster kernels all fit in 4× the L2."""
    rows = extract_rows()
    rows = _bound_by_hand(rows[rows["device"] == device], device)  # every framework's rows: each a measurement
    l2 = get_hardware(device).l2_bytes or 256 * 2**20
    big = rows[rows["bytes"] >= 4 * l2]
    tolerance = 1 - 0.02 - 1e-6 / big["bound_s"]
    print(f"{device}: {len(big)} kernels with working set >= 4x L2 checked, worst measured/bound "
          f"{big['ratio'].min():.3f}; {int((rows['ratio'] < 1).sum())} faster than the bound, all under 4x L2")
    assert len(big) >= 100
    below = big[big["ratio"] < tolerance]
    # vLLM (what the report reads by default) holds everywhere; other frameworks only in the tables known
    # to repeat KV blocks (SUSPECT_TABLES says why)
    assert set(zip(below["framework"], below["kind"])) <= {(fw, kind) for (dev, fw, kind) in SUSPECT_TABLES
                                                           if dev == device}, below.head()
    assert "vllm" not in set(below["framework"])
    faster = rows[(rows["ratio"] < 1) & ~rows.set_index(["framework", "kind"]).index.isin(
        [(fw, kind) for (dev, fw, kind) in SUSPECT_TABLES if dev == device])]
    assert (faster["bytes"] < 4 * l2).all()


def test_cli_table_measured_columns(capsys):
    assert main(["table", "--hardware", "h100-sxm", "--measured"]) == 0
    out = capsys.readouterr()
    header = out.out.splitlines()[0].split(",")
    assert header[-2:] == ["measured_s", "measured_from"]
    assert "measured from NVIDIA H100" in out.err and "vLLM" in out.err


@pytest.mark.parametrize("argv, message", [
    (["--measured-framework", "tensorrt"], r"--measured-framework: invalid choice: 'tensorrt' \(choose from 'vllm', 'sglang', 'trtllm'\)"),
    (["--measured-device", "t4"], r"measured_device: no measured kernels for 't4' \(allowed: auto, none, .*h100-sxm"),
])
def test_cli_bad_measured_values_are_one_line_and_exit_2(capsys, argv, message):
    import re

    assert main(["table", "--measured", *argv]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and re.search(message, err), err


def test_cli_a40_without_a_measured_device_says_which_to_use(capsys):
    assert main(["table", "--measured"]) == 0
    out = capsys.readouterr()
    assert "--measured-device a100-80gb-sxm" in out.err
    assert all(line.endswith(",,") for line in out.out.splitlines()[1:])
