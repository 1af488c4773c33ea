"""Speculative decoding (the verify phase, Medusa heads, a draft model) against hand arithmetic."""
import io
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from roofline_utils import RooflineInputError, Workload, get_hardware, operator_table, phase_totals
from roofline_utils.cli import main
from roofline_utils.findings import verify_reading
from roofline_utils.speculative import (default_draft, draft_curve, tokens_per_round, useful_scores_per_head,
                                        verify_curve)

# Llama-7B: h = 4096, I = 11008, 32 heads of 128 (no GQA), 32 layers, V = 32,000
H, I, HEADS, D, LAYERS, VOCAB = 4096, 11008, 32, 128, 32, 32000
A100_BANDWIDTH = 2039e9  # bytes/s, the A100-80GB SXM datasheet figure


def medusa_step(b=1, n=64, k=5, s=1024):
    """One verify step of Llama-7B at 16 bits, counted by hand: (weight, KV, activation elements, FLOPs)."""
    t = b * n
    kv_len = s - 1 + n  # the s-1 cached positions and the n candidates
    scores = b * HEADS * n * kv_len  # dense tree attention
    weights = LAYERS * (4 * H * H + 3 * H * I + 2 * H) + t * H + H + H * VOCAB + k * (H * H + H) + k * H * VOCAB
    kv = LAYERS * (2 * t * H + 2 * b * kv_len * H)  # k/v written for the candidates; K and V read once
    act = LAYERS * (25 * t * H + 6 * t * I + 4 * scores) + t * H + 2 * t * H + (t * H + t * VOCAB) \
        + 2 * k * t * H + 3 * k * t * H + (k * t * H + k * t * VOCAB)
    flops = LAYERS * (4 * t * H + 8 * t * H * H + 6 * t * H + 4 * D * scores + 5 * scores + t * H + 4 * t * H
                      + 6 * t * H * I + 5 * t * I + t * H) \
        + 4 * t * H + 2 * t * H * VOCAB + (2 * k * t * H * H + k * t * H) + 5 * k * t * H + 2 * k * t * H * VOCAB
    return weights, kv, act, flops


def test_one_medusa_step_of_llama_7b_by_hand():
    table = operator_table("llama-7b", "a100-80gb-sxm", Workload(attention_io="unfused", batch=1, seq_len=1024, tree_size=64, medusa_heads=5),
                           phases="verify")
    weights, kv, act, flops = medusa_step()
    counted = lambda column: float((table[column] * table["count"]).sum())  # noqa: E731
    assert counted("weight_bytes") == 2 * weights == 14_693_744_640
    assert counted("kv_read_bytes") + counted("kv_write_bytes") == 2 * kv
    assert counted("act_read_bytes") + counted("act_write_bytes") == 2 * act
    assert counted("flops") == flops
    # every operator is memory-bound at 64 tokens on an A100 (ridge 312e12 / 2039e9 = 153 FLOP/byte),
    # so the step takes its bytes over the bandwidth
    assert set(table["bound"]) == {"memory"}
    assert counted("time_s") == pytest.approx(2 * (weights + kv + act) / A100_BANDWIDTH, rel=1e-12)
    heads = table.set_index("operator").loc[["medusa_fc", "medusa_lm_head"], "weight_bytes"]
    assert list(heads) == [2 * 5 * (H * H + H), 2 * 5 * H * VOCAB]


def test_a_tree_of_one_without_heads_is_the_decode_step():
    work = Workload(batch=np.array([1, 8, 100]), seq_len=np.array([7, 1024, 30000]), tree_size=1, medusa_heads=0)
    table = operator_table("mixtral-8x7b", "h100-sxm", work, phases=("decode", "verify"))
    decode, verify = (table[table["phase"] == p].drop(columns="phase").reset_index(drop=True)
                      for p in ("decode", "verify"))
    pd.testing.assert_frame_equal(decode, verify)


def test_verify_with_medusa_heads_adds_operators_only_to_the_verify_phase():
    table = operator_table("llama-7b", "a40", Workload(tree_size=4, medusa_heads=2), phases=("prefill", "decode", "verify"))
    heads = table[table["operator"].str.startswith("medusa")]
    assert set(heads["phase"]) == {"verify"} and len(heads) == 3


def test_tokens_per_round_and_its_limits():
    assert tokens_per_round(0.8, 4) == pytest.approx((1 - 0.8**5) / 0.2) == pytest.approx(3.3616)
    assert tokens_per_round(1e-9, 4) == pytest.approx(1.0)  # nothing accepted: the target's own token
    assert tokens_per_round(1 - 1e-9, 4) == pytest.approx(5.0, rel=1e-6)  # everything accepted: γ + 1
    for alpha in (0, 1, -0.1, 1.5, float("nan"), True):
        with pytest.raises(RooflineInputError, match="^draft_acceptance"):
            tokens_per_round(alpha, 4)


def test_one_draft_round_against_the_table_path():
    """llama-7b drafts 4 tokens for llama-33b on an A100 at batch 1, α = 0.8: 3.3616 tokens per round for
    4 draft decode steps (KV 1024..1027) and one target step checking 5 tokens."""
    hw = "a100-80gb-sxm"
    curve = draft_curve("llama-33b", "llama-7b", hw, Workload(batch=1, seq_len=1024), [1], [4], alpha=0.8)
    row = curve.iloc[0]
    step = lambda model, phase, **kw: float(phase_totals(operator_table(  # noqa: E731
        model, hw, Workload(batch=1, **kw), phases=phase))["time_s"].iloc[0])
    drafting = sum(step("llama-7b", "decode", seq_len=1024 + j) for j in range(4))
    verify = step("llama-33b", "verify", seq_len=1024, tree_size=5)
    decode = step("llama-33b", "decode", seq_len=1024)
    assert row["tokens_per_round"] == pytest.approx(3.3616)
    assert row["round_s"] == pytest.approx(drafting + verify, rel=1e-12)
    assert row["speedup"] == pytest.approx(3.3616 * decode / (drafting + verify), rel=1e-12)


def test_useful_scores_of_a_chain_and_of_medusas_tree():
    assert useful_scores_per_head(1024, 1, chain=True) == 1024  # the decode step's s
    assert useful_scores_per_head(1024, 5, chain=True) == 5 * 1023 + 15  # depths 0..4
    # mc_sim_7b_63: 10 candidates at depth 1, 28 at 2, 23 at 3, 2 at 4 (143 in all), and the root
    assert useful_scores_per_head(1024, 64, chain=False) == 64 * 1023 + 1 + 63 + 143
    assert useful_scores_per_head(1024, 65, chain=False) is None


def test_the_medusa_curve_is_nearly_free_at_small_batch_and_pays_less_as_the_batch_grows():
    work = Workload(batch=1, seq_len=1024, tree_size=64, medusa_heads=4)
    curve = verify_curve("llama-7b", "a100-80gb-sxm", work, np.arange(1, 257), (1, 64), 4, 3.5)
    plain = curve[curve["tree_size"] == 1]
    assert np.allclose(plain["overhead"], 1.0) and np.allclose(plain["speedup"], 1.0)
    tree = curve[curve["tree_size"] == 64]
    assert tree["speedup"].iloc[0] > 2.5 and np.all(np.diff(tree["speedup"]) <= 1e-12)
    reading = verify_reading(curve, "llama-7b", "a100-80gb-sxm", work, 3.5)
    assert reading.speedup_at_1 == pytest.approx(3.5 / reading.overhead_at_1)
    # the verify step's GEMMs see 64 tokens per sequence: they reach the ridge about 64x sooner
    assert reading.verify_ridge_batch < reading.decode_ridge_batch / 30
    assert reading.halved_at is not None and reading.halved_at <= reading.decode_ridge_batch


def test_the_default_draft_shares_the_vocabulary_and_is_smaller():
    assert default_draft("llama-33b") == "llama-7b"
    assert default_draft("llama-2-70b") == "llama-2-7b"
    assert default_draft("llama-7b") is None and default_draft("qwen2.5-7b") is None
    with pytest.raises(RooflineInputError, match="^draft_model: llama-3.1-8b has a vocabulary of 128,256"):
        draft_curve("llama-33b", "llama-3.1-8b", "a40", Workload(), [1])


def run(*argv):
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def test_table_phase_verify(tmp_path):
    code, out, _ = run("table", "--model", "llama-7b", "--hardware", "a100-80gb-sxm", "--phase", "verify",
                       "--tree-size", "64", "--medusa-heads", "5")
    table = pd.read_csv(io.StringIO(out))
    assert code == 0 and set(table["phase"]) == {"verify"} and "medusa_lm_head" in set(table["operator"])
    assert (table["flops"] * table["count"]).sum() == medusa_step()[3]
    code, out, _ = run("table", "--phase", "verify", "--tree-size", "1", "--medusa-heads", "0")
    _, decode, _ = run("table", "--phase", "decode")
    assert code == 0 and out.replace("verify,", "decode,") == decode


@pytest.mark.parametrize("argv, message", [
    (["table", "--tree-size", "0"], "roofline: error: --tree-size: must be an integer from 1 to 4,096, got 0"),
    (["table", "--medusa-heads", "-1"], "roofline: error: --medusa-heads: must be an integer from 0 to 64, got -1"),
    (["render", "--acceptance", "0.5"], "roofline: error: --acceptance: must be a number from 1 to 4,096, got 0.5"),
    (["render", "--tree-size", "4", "--acceptance", "5"],
     "roofline: error: acceptance: 5 tokens per step from a tree of 4 (allowed: 1 to 4 (--tree-size))"),
    (["render", "--draft-acceptance", "1"],
     "roofline: error: --draft-acceptance: must be a number strictly between 0 and 1, got 1"),
    (["render", "--draft-acceptance", "nan"],
     "roofline: error: --draft-acceptance: must be a number strictly between 0 and 1, got nan"),
    (["render", "--draft-model", "llama-3.1-8b"], "roofline: error: draft_model: llama-3.1-8b has a vocabulary of "
     "128,256 tokens, llama-33b 32,000"),
    (["render", "--draft-model", "no-such-model"], "roofline: error: draft_model: "),
])
def test_bad_speculation_flags_get_one_line_and_leave_nothing(argv, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(*argv, *(["--out", "reports/"] if argv[0] == "render" else []))
    assert code == 2 and out == ""
    assert err.startswith(message) and err.count("\n") == 1 and "Traceback" not in err
    assert not Path("reports").exists()


@pytest.mark.parametrize("field, value", [("tree_size", 0), ("tree_size", 5000), ("tree_size", 2.5),
                                          ("medusa_heads", -1), ("medusa_heads", True)])
def test_workload_rejects_bad_trees(field, value):
    with pytest.raises(RooflineInputError, match=f"^{field}"):
        Workload(**{field: value})


def test_verify_phase_needs_no_table_for_totals():
    from roofline_utils.roofline import totals

    work = Workload(batch=np.array([1, 4]), seq_len=1024, tree_size=64, medusa_heads=5)
    fast = totals("llama-7b", "a100-80gb-sxm", work, "verify")["verify"]
    slow = phase_totals(operator_table("llama-7b", "a100-80gb-sxm", work, phases="verify"))
    assert np.allclose(fast["time_s"], slow["time_s"], rtol=1e-12)
    assert fast["flops"][0] == medusa_step()[3]
    assert get_hardware("a100-80gb-sxm").bandwidth_bytes_per_s == A100_BANDWIDTH


def test_a_draft_must_be_of_the_family_much_smaller_and_split_like_the_target():
    assert default_draft("mixtral-8x7b") is None and default_draft("mistral-7b") is None  # no same-family draft
    assert default_draft("llama-3.1-70b") == "llama-3.1-8b"
    if "qwen2.5-72b" in __import__("roofline_utils").preset_names():
        assert default_draft("qwen2.5-72b", tp=8) is None  # qwen2.5-7b's 28 heads do not split over 8
    code, _, err = run("render", "--model", "llama-2-70b", "--hardware", "h100-sxm", "--tp", "64",
                       "--draft-model", "llama-2-7b", "--out", "nowhere/")
    assert code == 2 and err.startswith("roofline: error: draft_model: llama-2-7b does not split over tp=64")
    assert not Path("nowhere").exists()


def test_curves_take_one_batch_or_a_list_and_refuse_nonsense():
    work = Workload(tree_size=4, medusa_heads=2)
    assert len(verify_curve("llama-7b", "a40", work, 4, (1, 4))) == 2
    assert len(draft_curve("llama-33b", "llama-7b", "a40", work, 4, [2], alpha=np.float32(0.5))) == 1
    for acceptance in (0.5, float("nan"), -1, True):
        with pytest.raises(RooflineInputError, match="^acceptance"):
            verify_curve("llama-7b", "a40", work, [1], (4,), 2, acceptance)
    with pytest.raises(RooflineInputError, match="^batches"):
        verify_curve("llama-7b", "a40", work, [[1, 2], [3, 4]], (4,))
    curve = verify_curve("llama-7b", "a40", work, [1, 2], (1, 4), 2, 3.0)
    with pytest.raises(RooflineInputError, match="^tree_size: 16 is not one of the curve's tree sizes"):
        verify_reading(curve, "llama-7b", "a40", Workload(tree_size=16, medusa_heads=2), 3.0)


def test_a_tree_of_one_runs_no_heads_in_the_table_and_the_curve_alike():
    from roofline_utils.speculative import step_table

    table = step_table("llama-7b", "a40", Workload(tree_size=1, medusa_heads=4))
    assert "medusa_fc" not in set(table["operator"]) and table["ratio"].iloc[-1] == "1.00×"


def test_the_score_count_follows_a_sliding_window():
    from roofline_utils.findings import score_count

    windowed = score_count("mistral-7b", 100_000, 64, chain=False)
    assert windowed.dense == 64 * 4096 and windowed.useful is None  # every candidate sees the 4,096-token window
    assert score_count("mistral-7b", 1024, 64, chain=False).dense == 64 * (1023 + 64)


def test_the_speedup_chart_labels_ratios_with_their_decimals():
    import matplotlib

    matplotlib.use("Agg")
    from roofline_utils import plot

    curve = verify_curve("llama-7b", "a40", Workload(tree_size=4, medusa_heads=2), [1, 2, 4], (1, 4), 2, 3.0)
    figure = plot.speedup_chart(curve, "tree_size", "t")
    for ax in figure.axes:
        assert ax.yaxis.get_major_formatter()(1.5, 0) == "1.5"
        assert ax.xaxis.get_major_formatter()(1024, 0) == "1,024"


def test_the_papers_setting_stays_within_llama_7bs_context():
    from roofline_utils.speculative import paper_setting

    # Llama-7B holds 2,048 positions; a 64-candidate tree at s cached positions scores s − 1 + 64: s ≤ 1,985
    work, note = paper_setting(100_000)
    assert work.seq_len == 2048 - 64 + 1 == 1985 and "1,985 cached tokens" in note and "100,000" in note
    work, note = paper_setting(1024)
    assert work.seq_len == 1024 and note == ""
