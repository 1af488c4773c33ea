"""Every sentence the report computes, checked against the data over many (model, device, workload) sets.

Each reading picks its shape words ("about the same", "in proportion", "halves", "rises to its peak",
"slower at batches ...") from its data; here the words are parsed back out of the sentence and held
against the series recomputed from the engine or from the curve the chart draws, with the tolerances
written out again (not taken from findings). A different shape must get a different sentence.
"""
from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

import roofline_utils as rl
from roofline_utils import findings, speculative, summary, sweeps
from roofline_utils.measure import gpu
from roofline_utils.findings import markdown
from roofline_utils.memory import capacity_bytes, largest_batch_that_fits, needed_bytes
from roofline_utils.roofline import totals

USER_DEVICE = "user-device"  # stands for a YAML file written in tmp_path
TREES = (1, 4, 16, 64)
BATCHES = [2**i for i in range(11)]  # the 4.1/4.2 axes, 1 to 1,024
VERIFY_BATCHES = np.unique(np.geomspace(1, 512, 40).astype(int))  # a small verify curve, 1 to 512

# (model, device, workload fields): dense, GQA, MoE, MLA, sliding windows, tensor parallel,
# quantised, user device files, long and short contexts; the verify tree cycles through TREES.
COMBOS = [
    ("llama-33b", "a40", {}),
    ("llama-33b", "a40", {"weight_bits": 8}),
    ("llama-33b", "a40", {"seq_len": 128}),
    ("llama-33b", "h100-sxm", {"seq_len": 32768}),
    ("llama-7b", "a100-80gb-sxm", {}),
    ("llama-7b", "a100-80gb-sxm", {"seq_len": 128, "batch": 8}),
    ("llama-7b", "t4", {"weight_bits": 4, "weight_group_size": 128}),
    ("llama-7b", USER_DEVICE, {}),
    ("llama-2-70b", "h100-sxm", {"tp": 2}),
    ("llama-2-70b", "h100-sxm", {"tp": 8, "seq_len": 32768}),
    ("llama-2-70b", "h100-sxm", {"tp": 2, "weight_bits": 8, "act_bits": 8}),
    ("llama-2-70b", USER_DEVICE, {"weight_bits": 4, "weight_group_size": 128}),
    ("llama-3.1-8b", "l4", {}),
    ("llama-3.1-8b", "rtx-4090", {"weight_bits": 8, "act_bits": 8, "seq_len": 128}),
    ("llama-3.1-8b", "h200-sxm", {"seq_len": 32768, "batch": 4}),
    ("llama-3.1-70b", "h200-sxm", {"tp": 8}),
    ("mistral-7b", "a10", {}),
    ("mistral-7b", "l40s", {"seq_len": 32768}),
    ("qwen2.5-7b", "a100-40gb-sxm", {"weight_bits": 4, "weight_group_size": 128}),
    ("qwen2.5-72b", "mi300x", {}),
    ("qwen3-8b", "b200", {"weight_bits": 8, "act_bits": 8}),
    ("phi-3-mini", "rtx-3090", {"seq_len": 128}),
    ("mixtral-8x7b", "h100-sxm", {}),
    ("mixtral-8x7b", "h100-sxm", {"tp": 2}),
    ("mixtral-8x7b", "h200-sxm", {"weight_bits": 4, "weight_group_size": 128}),
    ("mixtral-8x7b", "a100-80gb-sxm", {"tp": 8, "seq_len": 32768}),
    ("mixtral-8x7b", USER_DEVICE, {"seq_len": 128}),
    ("qwen3-30b-a3b", "h100-sxm", {}),
    ("qwen3-30b-a3b", "h200-sxm", {"weight_bits": 8, "act_bits": 8, "seq_len": 32768}),
    ("qwen3-30b-a3b", "a40", {"weight_bits": 4, "weight_group_size": 128, "seq_len": 128}),
    ("qwen3-235b-a22b", "h200-sxm", {"tp": 8}),
    ("deepseek-v3", "h200-sxm", {"tp": 8, "weight_bits": 8}),
    ("deepseek-v3", "h200-sxm", {"tp": 8, "weight_bits": 8, "seq_len": 32768}),
    ("deepseek-v3", "b200", {"tp": 8, "weight_bits": 4, "weight_group_size": 128, "mla": "naive"}),
    ("gemma-2-9b", "a100-80gb-sxm", {}),
    ("gemma-2-9b", "l4", {"seq_len": 32768}),
    ("gemma-2-9b", "h100-sxm", {"tp": 2, "seq_len": 128}),
    ("gemma-3-27b", "h100-sxm", {"weight_bits": 8, "act_bits": 8}),
    ("gemma-3-1b", "t4", {"seq_len": 128}),
    ("llama-13b", USER_DEVICE, {"tp": 2, "seq_len": 32768}),
    ("llama-65b", "mi250x", {"weight_bits": 4, "weight_group_size": 128}),
    ("qwen3-8b", "m2-ultra", {}),
    ("llama-3.1-8b", "a40", {"seq_len": 100000}),
    ("gpt2", "a100-80gb-sxm", {}),
    ("olmo-2-13b", "h100-sxm", {"seq_len": 4096}),
    ("gpt-oss-120b", "h200-sxm", {"seq_len": 4096}),
    ("qwen2-57b-a14b", "h200-sxm", {"tp": 2}),
    # hybrids and sparse attention: Gated DeltaNet, Mamba-2, DeepSeek sparse attention
    ("qwen3.5-27b", "h200-sxm", {"seq_len": 32768}),
    ("nemotron-3-super-120b-a12b", "h200-sxm", {"tp": 2, "weight_bits": 8}),
    ("deepseek-v3.2", "h200-sxm", {"tp": 8, "weight_bits": 8}),
    ("llama-4-scout", "h200-sxm", {"weight_bits": 4, "weight_group_size": 128, "seq_len": 16384}),  # chunked
]
CASES = [(*combo, TREES[i % len(TREES)]) for i, combo in enumerate(COMBOS)]

# Artefacts of a template no person would write.
ARTEFACTS = [
    (r"(?<![\d.,])1 (?:sequences|devices|points|settings|candidates|tokens|batches|heads|experts)\b", "1 + plural"),
    (r"\(s\)", "(s)"), (r"\(\)", "empty parentheses"), (r"up to batch 1(?![\d,])", "up to batch 1"),
    (r"batch(?:es)? ([\d,]+) to \1(?![\d,])", "a range of one batch"), (r"not even batch", "not even batch 1"),
    (r"\bnan\b|\binf\b", "nan/inf"), (r"(?<![$\\_^{a-z])\{[a-z_.]+\}", "an unfilled template field"),
    (r"(?<=[a-z,.])  (?=[a-z])", "a double space"),
    (r"\d(?:\.\d+)?e[+-]?\d", "e-notation"), (r"\d{13}", "a 13-digit integer"),
    (r"at batch 1\. Below that", "a range below batch 1"), (r"\b(?:batch|batches|to|at|of|from) \d{4,}(?![\d,.])", "ungrouped digits"),
]


@pytest.fixture(scope="module")
def user_device(tmp_path_factory):
    path = tmp_path_factory.mktemp("device") / "my_gpu.yaml"
    # no sources, no confidence: the report must call these the user's figures
    path.write_text("name: My GPU\nbandwidth_gb_s: 1200\nmemory_gb: 64\nmemory_reported_mib: 60000\n"
                    "peak_tflops: {fp16: 400, bf16: 400, fp8: 800, int8: 800}\nlink_gb_s: 300\n")
    return str(path)


def number(text: str) -> float:
    return float(text.replace(",", ""))


def spans_of(text: str) -> set[int]:
    """'batches 1 and 50 to 1,024' -> the set of swept batches it names (against VERIFY_BATCHES)."""
    named = set()
    for part in re.split(r", | and ", text):
        ends = [int(number(x)) for x in re.findall(r"[\d,]*\d", part)]
        lo, hi = ends[0], ends[-1]
        named |= {int(b) for b in VERIFY_BATCHES if lo <= b <= hi}
    return named


def assert_no_artefacts(texts: list[str]) -> None:
    for text in texts:
        for pattern, what in ARTEFACTS:
            assert not re.search(pattern, text), f"{what} in: {text}"


def fits_decoding(model, hardware, workload, batch: int) -> bool:
    """Weights + KV cache at the request's end + decode activations within what a server may use
    (the capacity the report's fit sentences state; prefills are assumed chunked)."""
    grid = replace(workload, batch=batch, seq_len=int(np.max(workload.seq_len)))
    return bool(np.all(needed_bytes(model, grid, phases=("decode",)) <= capacity_bytes(hardware, workload)))


def decode_time(model, hardware, workload, batches) -> np.ndarray:
    grid = replace(workload, batch=np.asarray(batches), seq_len=int(np.max(workload.seq_len)))
    return np.broadcast_to(totals(model, hardware, grid, ("decode",))["decode"]["time_s"], np.shape(batches))


def check_ridge(model, hardware, workload, texts):
    found = findings.ridge_batch(model, hardware, workload)
    text = markdown(found)
    texts.append(text)
    if found.batch is None:
        assert "never reach the ridge" in text
        return
    assert f"at **batch {found.batch:,}**" in text
    if model.num_experts == 1:  # 2.3's closed form, b* = ridge·w·h·f / (2hf − ridge·a·(h + f)), names the same batch
        from roofline_utils import primer
        closed = primer.critical_batch(model, hardware, float(np.max(rl.roofline.peak_flops(hardware, workload))),
                                       workload)
        texts.append(primer.critical_batch_markdown(closed))
        assert f"batch {found.batch:,}" in texts[-1] or f"b\\* = {found.batch:,}" in texts[-1] \
            or closed.batch == found.batch, (texts[-1], found.batch)
    if found.batch > 1:
        t1, below = decode_time(model, hardware, workload, [1, found.batch - 1])
        same = abs(below / t1 - 1) <= 0.10
        assert ("costs about the same whatever the batch" in text) == same, text
        assert ("still grows" in text) == (not same), text
        assert ("the weights it reads serve the whole batch" in text or "whose weights are read too" in text
                or model.num_experts == 1), text
    fits_at_ridge = fits_decoding(model, hardware, workload, found.batch)
    assert (f"Batch {found.batch:,} does not fit" in text) == (not fits_at_ridge), text
    largest = re.search(r"the largest batch that fits at [\d,]+ tokens is ([\d,]+)", text)
    if largest:
        m = int(number(largest.group(1)))
        assert fits_decoding(model, hardware, workload, m)
        assert not fits_decoding(model, hardware, workload, m + 1)
    if "no batch does" in text:
        assert not fits_decoding(model, hardware, workload, 1)


def check_intensity(model, hardware, workload, ridge, texts):
    seq_len = int(np.max(workload.seq_len))
    trajectory = sweeps.sweep_points(model, hardware, workload, BATCHES, [seq_len], phases=("decode",))
    text = markdown(findings.batch_intensity(trajectory, model, ridge))
    texts.append(text)
    mlp = trajectory[trajectory["label"] == "up/gate/down"].sort_values("batch")
    b, y = mlp["batch"].to_numpy(), mlp["intensity"].to_numpy()
    ratio = (y / b) / y[0]
    rising = bool(np.all(np.diff(y) > 0))
    if "grows in proportion to the batch (within 10%)," in text:
        assert rising and np.all(np.abs(ratio - 1) <= 0.10), text
    elif (m := re.search(r"in proportion to the batch \(within 10%\) up to batch ([\d,]+)", text)):
        upto = int(number(m.group(1)))
        assert rising and np.all(np.abs(ratio[b <= upto] - 1) <= 0.10), text
        assert abs(ratio[b > upto][0] - 1) > 0.10, text
    elif "far more slowly than the batch" in text:
        assert rising and abs(ratio[1] - 1) > 0.10, text
    if (m := re.search(r"reaches the ridge \([\d.]+ FLOP/byte\) at batch ([\d,]+)", text)):
        at = int(number(m.group(1)))
        assert y[b == at][0] >= ridge and np.all(y[b < at] < ridge), text
    else:
        assert "stays below the ridge" in text and np.all(y < ridge), text
    attention = trajectory[trajectory["label"] == "qk/pv"]["intensity"].to_numpy()
    flat = np.all(np.abs(attention / attention[0] - 1) <= 0.10)
    assert ("Attention does not move" in text) == flat, text
    # a mixture of experts reads more experts' weights as the batch grows: never "in proportion" from batch 1
    if model.num_experts > 1:
        assert "each weight byte read serves every sequence" not in text


def check_sweep(model, hardware, workload, texts):
    lengths = [128, 2048, 32768]
    swept = sweeps.decode_sweep(model, hardware, workload, BATCHES, lengths)
    text = markdown(findings.batch_sweep(swept, model))
    texts.append(text)
    for length in lengths:
        rows = swept[swept["seq_len"] == length].sort_values("batch")
        line = next(x for x in text.splitlines() if x.startswith(f"- context {length:,}:"))
        t = rows["tpot_s"].to_numpy()
        same = np.abs(t / t[0] - 1) <= 0.10
        if "costs almost nothing per step" in line:
            assert same.all(), line
            continue
        assert not same.all(), line
        if " grows " in line:
            assert np.all(t[1:] >= t[:-1] * (1 - 1e-3)), line
        upto = re.search(r"within 10% of batch 1's up to batch ([\d,]+)", line)
        last_same = int(rows["batch"].to_numpy()[np.argmin(same) - 1])  # same[0] holds: batch 1 is itself
        assert (int(number(upto.group(1))) if upto else 1) == last_same, line
    by_length = {length: swept[swept["seq_len"] == length].sort_values("batch")["tokens_per_s"].to_numpy()
                 for length in lengths}
    if "grows with the batch at every context swept" in text:  # rising to the last batch, at every length
        assert all(np.all(v[1:] > v[:-1] * 1.01) for v in by_length.values()), text
    for level in re.finditer(r"from batch ([\d,]+) at ((?:[\d,]+(?:, | and ))*[\d,]+) tokens", text):
        for length in re.findall(r"\d[\d,]*", level.group(2)):
            v = swept[swept["seq_len"] == int(number(length))].sort_values("batch")
            tokens_per_s = v["tokens_per_s"].to_numpy()
            flat = tokens_per_s[v["batch"].to_numpy() >= int(number(level.group(1)))]
            assert len(flat) >= 2 and np.all(np.abs(flat / flat[-1] - 1) <= 0.10), text
            # and the batch named is the first of that run: the one before it is more than 10% off
            before = tokens_per_s[v["batch"].to_numpy() < int(number(level.group(1)))]
            assert len(before) == 0 or abs(before[-1] / tokens_per_s[-1] - 1) > 0.10, text
    fitting = swept[swept["fits"]]
    if fitting.empty:
        assert "No swept batch fits" in text
        assert not fits_decoding(model, hardware, replace(workload, seq_len=128), 1)
    elif "at every context" in text and "The largest swept batch" in text:
        assert fitting.groupby("seq_len")["batch"].max().nunique() == 1 and fitting["seq_len"].nunique() == 3
    if model.num_experts > 1:
        assert "the weights are read once for the whole batch" not in text


def check_context(model, hardware, workload, texts):
    """4.3's length sweep against the config's max_position_embeddings: prompt + output positions."""
    lengths = [2**i for i in range(7, 18)]
    swept = sweeps.decode_sweep(model, hardware, workload, [1], lengths).sort_values("seq_len")
    text = markdown(findings.context_reach(model, lengths, workload.output_len))
    texts.append(text)
    limit = model.max_position_embeddings
    past = [n for n in lengths if limit is not None and n + workload.output_len > limit]
    assert swept["within_context"].tolist() == [n not in past for n in lengths]
    if limit is None:
        assert "no context limit" in text, text
    elif not past:
        assert "every swept length fits" in text, text
    else:
        named = re.search(r"the (?:\d+ )?swept lengths? (.+?) lies? beyond it", text).group(1)
        ends = [int(number(x)) for x in re.findall(r"[\d,]*\d", named)]
        shown = {n for n in lengths if ends[0] <= n <= ends[-1]} if " to " in named else set(ends)
        assert shown == set(past) and f"holds {limit:,} tokens" in text, text


def check_verify(model, hardware, workload, tree, texts):
    heads = 0 if tree == 1 else speculative.DEFAULT_MEDUSA_HEADS
    work = replace(workload, tree_size=tree, medusa_heads=heads)
    curve = speculative.verify_curve(model, hardware, work, VERIFY_BATCHES, sorted({1, tree}), heads, 3.5)
    text = markdown(findings.verify_reading(curve, model, hardware, work, 3.5))
    texts.append(text)
    rows = curve[curve["tree_size"] == tree].sort_values("batch")
    b, speedup, overhead = rows["batch"].to_numpy(), rows["speedup"].to_numpy(), rows["overhead"].to_numpy()
    if tree == 1:  # the plain decode step: one sentence, and the curve must be 1 everywhere
        assert np.allclose(overhead, 1) and np.allclose(speedup, 1) and "plain decode step itself" in text
        return
    accepted = min(3.5, tree)
    assert f"accepting {accepted:g} token" in text and f"**{speedup[0]:.2f}× speedup**" in text
    slower = re.search(r"slower than plain decoding at (batch(?:es)? [^.;]+)\.", text)
    assert (spans_of(slower.group(1)) if slower else set()) == set(b[speedup < 1].tolist()), text
    if not slower:
        assert "stays faster than plain decoding" in text and np.all(speedup >= 1), text
    free = overhead <= 1.10
    if "At no batch" in text:
        assert not free.any(), text
    elif "at batch 1 only" in text:
        assert free[0] and not free[1:].any(), text
    elif (m := re.search(r"stays nearly free \(at most 1\.1× a decode step\) up to batch ([\d,]+)", text)):
        upto = int(number(m.group(1)))
        assert free[b <= upto].all() and not free[b > upto].any(), text
    top = int(np.argmax(speedup))
    if (m := re.search(r"to its peak, \*\*([\d.]+)×\*\* at batch ([\d,]+)", text)):
        assert int(number(m.group(2))) == b[top] and top > 0, text
        assert np.all(speedup[1:top + 1] >= speedup[:top] * (1 - 1e-3)), text
    if "falling as the batch grows" in text or "falls as the batch grows" in text:
        assert top == 0 and np.all(speedup[1:] <= np.minimum.accumulate(speedup)[:-1] * (1 + 1e-3)), text
    if "but does not halve by batch" in text:
        assert np.all(speedup > speedup[top] / 2), text
    if (m := re.search(r"halves by batch \*\*([\d,]+)\*\*", text)):
        at = int(number(m.group(1)))
        after = (b >= b[top]) & (b < at)
        assert speedup[b == at][0] <= speedup[top] / 2 and np.all(speedup[after] > speedup[top] / 2), text
    # the weights are read once whatever the number of candidates only where there is one set of weights
    assert ("the weights are read once whatever the number of candidates" in text) == (model.num_experts == 1), text


def check_the_rest(model, hardware, workload, texts):
    fit = findings.capacity(model, hardware, workload)
    texts.append(markdown(fit))
    largest = largest_batch_that_fits(model, hardware, workload)
    if largest == 0:
        assert "No decode batch fits" in texts[-1]
    else:
        assert f"**{largest:,}**" in texts[-1]
    # the verdict at the workload's batch and the largest batch count the same bytes: they never disagree
    footprint = rl.memory_footprint(model, hardware, workload)
    assert footprint.fits == (workload.batch <= largest), (footprint, largest)
    note = findings.one_pass_prefill_note(footprint)
    texts.append(note)
    one_pass = bool(np.all(needed_bytes(model, workload, phases=("prefill",)) <= capacity_bytes(hardware, workload)))
    if footprint.fits:
        assert ("even prefilling every prompt in one pass fits" in note) == one_pass, note
        assert ("it has to prefill in chunks" in note) == (not one_pass), note
    texts.append(markdown(rl.e2e.end_to_end(model, hardware, workload, prompt_len=int(np.max(workload.seq_len)),
                                            output_len=16)))
    texts.append(markdown(findings.headline(model, hardware, workload)))
    # the abstract's bound verdict: each share it names is that bound's part of the decode step's time
    table = rl.operator_table(model, hardware, workload, phases=("decode",))
    time_s = table["time_s"] * table["count"]
    sentence = findings.bound_shares_sentence(time_s, table["bound"])
    texts.append(sentence)
    said = {kind: 0 if pct == "under 1" else int(pct) for pct, kind in re.findall(
        r"(under 1|\d+)% (?:of its time goes )?to (?:operators waiting on )?"
        r"(memory|compute|the all-reduce)", sentence)}
    for kind, key in (("memory", "memory"), ("compute", "compute"), ("the all-reduce", "link")):
        share = 100 * float(time_s[table["bound"] == key].sum() / time_s.sum())
        assert said.get(kind, 0) == round(share), (sentence, kind, share)
    largest = max(("memory", "compute", "link"), key=lambda k: float(time_s[table["bound"] == k].sum()))
    assert f"**{ {'link': 'bound by the link'}.get(largest, largest + '-bound')}**" in sentence, sentence
    assert ("the all-reduce" in sentence) == (workload.tp > 1), sentence
    breakdown = sweeps.time_breakdown(rl.operator_table(model, hardware, workload))
    caption = findings.breakdown_caption(breakdown)
    texts.append(caption)
    assert ("purple" in caption) == (workload.tp > 1), caption
    texts.append(findings.on_devices(hardware, workload.tp))
    assert texts[-1].startswith(f"{workload.tp} × ") == (workload.tp > 1)
    user = hardware.sources == "user-defined"
    texts += [summary.device_caption(hardware), summary.device_source_sentence(hardware)]
    assert ("datasheet" in texts[-2]) == (not user) and ("hardware.json" in texts[-1]) == (not user)
    card = summary.hardware_card(hardware)
    texts += [str(v) for v in card["value"]]
    guide = summary.reading_guide(hardware, float(np.max(rl.roofline.peak_flops(hardware, workload))))
    at_ridge = guide.iloc[(guide["intensity (FLOP/byte)"] - hardware.roof(
        float(np.max(rl.roofline.peak_flops(hardware, workload)))).ridge).abs().argmin()]
    assert at_ridge["bound"] == "compute" and at_ridge["% of peak"] == 100


def check_chart(model, hardware, workload, texts):
    """The chart's group sentences: span, settings below the ridge, what the intensity depends on."""
    peak = float(np.max(rl.roofline.peak_flops(hardware, workload)))
    points = sweeps.sweep_points(model, hardware, workload, [1, 8, 64], [128, 2048])
    ridge = hardware.roof(peak).ridge
    for reading in findings.chart_reading(points, hardware, peak):
        text = markdown(reading)
        texts.append(text)
        group, word = reading.label.rsplit(" ", 1)
        phase = "prefill" if word == "init" else "decode"
        rows = points[(points["label"] == group) & (points["phase"] == phase)]
        below = int((rows["intensity"] < ridge).sum())
        if "none of the settings" in text:
            assert below == 0, text
        elif (m := re.search(r"all ([\d,]+) settings memory-bound", text)):
            assert below == len(rows) == int(number(m.group(1))), text
        else:
            m = re.search(r"([\d,]+) of ([\d,]+) settings memory-bound", text)
            assert (int(number(m.group(1))), int(number(m.group(2)))) == (below, len(rows)), text
        by_batch = rows.groupby("seq_len")["intensity"].agg(lambda x: (x.max() - x.min()) / x.max())
        depends = text.split("depends on ")[1].split(";")[0]
        assert (depends.startswith("batch")) == bool((by_batch > 0.01).any()), text
        by_length = rows.groupby("batch")["intensity"].agg(lambda x: (x.max() - x.min()) / x.max())
        barely = re.search(r"by 1% or less with ([a-z ]+)\)", depends)
        named = barely.group(1).split(" and ") if barely else []
        assert ("length" in named) == bool((by_length > 1e-9).any() and (by_length <= 0.01).all()), text
        assert ("batch" in named) == bool((by_batch > 1e-9).any() and (by_batch <= 0.01).all()), text
        low, high = rows["intensity"].min(), rows["intensity"].max()
        assert (" to " in text.split("FLOP/byte")[0]) == (rl.units.number(low) != rl.units.number(high)), text
    texts.append(markdown(findings.axis_note(points, peak)))
    texts += [markdown(claim) for claim in findings.paper_claims(points, ridge)]
    texts.append(markdown(findings.decode_attention(model, hardware, workload)))


def check_draft(model, hardware, workload, texts):
    draft = speculative.default_draft(model, workload.tp)
    if draft is None:
        return
    curve = speculative.draft_curve(model, draft, hardware, workload, VERIFY_BATCHES, (1, 4), 0.7)
    text = markdown(findings.draft_reading(curve, draft, model.name, 0.7, 4))
    texts.append(text)
    best = curve.groupby("batch")["speedup"].max()
    slower = set(best.index[best < 1].tolist())
    if (m := re.search(r"From batch \*\*([\d,]+)\*\* even the best γ is slower", text)):
        assert slower == {int(b) for b in VERIFY_BATCHES if b >= int(number(m.group(1)))}, text
    elif (m := re.search(r"slower than plain decoding at (batch(?:es)? [^.]+)\.", text)):
        assert slower == spans_of(m.group(1)), text
    else:
        assert not slower and "Some γ still pays" in text, text


def _decode_s(model, hardware, workload) -> float:
    return float(totals(model, hardware, workload, ("decode",))["decode"]["time_s"])


def _shares(model, hardware, workload) -> dict[str, float]:
    """A decode step's time by what bounds it: compute, the link, or (memory-bound operators, split by their
    bytes) weights, KV cache and activations."""
    table = rl.operator_table(model, hardware, workload, phases=("decode",))
    memory = table["bound"] == "memory"
    time_s = table["time_s"] * table["count"]
    total = float(time_s.sum())

    def part(*columns):
        return float((time_s[memory] * table[list(columns)][memory].sum(axis=1) / table["bytes"][memory]).sum()) / total
    return {"compute": float(time_s[table["bound"] == "compute"].sum()) / total,
            "link": float(time_s[table["bound"] == "link"].sum()) / total, "weights": part("weight_bytes"),
            "kv": part("kv_read_bytes", "kv_write_bytes"), "activations": part("act_read_bytes", "act_write_bytes")}


def _weights_share(model, hardware, workload) -> float:
    return _shares(model, hardware, workload)["weights"]


def ratio_in(text: str, pattern: str) -> float:
    return number(re.search(pattern, text).group(1))


def check_levers(model, hardware, workload, texts):
    """Chapter 7's readings: each lever's shape word against the ratio recomputed from the engine here."""
    from roofline_utils import levers

    base, found = levers.levers(model, hardware, workload)
    text = levers.readings(base, found, workload, rl.memory.cache_kind(model))
    texts.append(text)
    bullets = {b.split("**")[1].lower(): b for b in text.split("\n- ")[1:]}
    now_s = _decode_s(model, hardware, workload)

    batching = bullets["batching"]
    largest = largest_batch_that_fits(model, hardware, workload)
    if largest <= workload.batch:
        assert "not here" in batching and ("Even batch" in batching) == (largest == 0), batching
    else:
        assert f"batch {largest:,} (the largest that fits)" in batching, batching
        longer = _decode_s(model, hardware, replace(workload, batch=largest)) / now_s
        more = largest / workload.batch / longer
        assert ratio_in(batching, r"gives \*\*([\d.,]+)×\*\*") == pytest.approx(more, rel=0.006), batching
        if longer < 1.15:
            assert "cheapest lever" in batching and "as long per token" not in batching, batching
        else:
            assert ratio_in(batching, r"waits \*\*([\d.,]+)×\*\* as long") == pytest.approx(longer, rel=0.006)
            # the reason named is what added the most time per step from the report's batch to that one
            now, then = _shares(model, hardware, workload), _shares(model, hardware, replace(workload, batch=largest))
            added = {k: then[k] * longer - now[k] for k in now}  # in units of the report's step time
            grows = max(added, key=added.get)
            named = {"compute": "past the critical batch", "kv": "is read every step",
                     "link": "the all-reduce carries", "activations": "activations move through memory",
                     "weights": "routed to more of the experts"}
            assert grows != "weights" or model.num_experts > 1, (batching, added)
            assert named[grows] in batching, (batching, added)

    quantisation = bullets["quantisation"]
    narrower = {16: 8, 32: 8, 8: 4}.get(workload.weight_bits)
    if narrower is None:
        assert "already 4-bit" in quantisation, quantisation
    elif "not here" not in quantisation:
        faster = now_s / _decode_s(model, hardware, replace(workload, weight_bits=narrower))
        ideal = workload.weight_bits / narrower
        share = _weights_share(model, hardware, workload)
        assert f"reading the weights took {'only ' if faster < 1.05 else ''}{share:.0%}" in quantisation, quantisation
        assert ("nearly in proportion" in quantisation) == (faster >= 0.8 * ideal), (quantisation, faster)
        assert ("comes only" in quantisation) == (1.05 <= faster < 0.8 * ideal), (quantisation, faster)
        assert ("barely changes" in quantisation) == (faster < 1.05), (quantisation, faster)

    spec = bullets["speculative decoding"]
    curve = speculative.verify_curve(model, hardware, workload, [int(workload.batch)], [speculative.DEFAULT_TREE_SIZE],
                                     speculative.DEFAULT_MEDUSA_HEADS, speculative.DEFAULT_ACCEPTANCE)
    gain = float(curve["t_decode_s"].iloc[0] * speculative.DEFAULT_ACCEPTANCE / curve["t_verify_s"].iloc[0])
    assert ("not here" in spec) == (gain <= 1), (spec, gain)
    if gain > 1:
        assert ratio_in(spec, r"(?:\*\*|only )([\d.,]+)×(?:\*\*)? faster") == pytest.approx(gain, rel=0.006), spec

    split = bullets["tensor parallelism"]
    if "not here" not in split:
        faster = now_s / _decode_s(model, hardware, replace(workload, tp=2 * workload.tp))
        assert ("nearly the 2×" in split) == (faster >= 1.6), (split, faster)
        assert ("comes only" in split) == (1.05 <= faster < 1.6), (split, faster)
        assert ("slower" in split) == (faster < 0.98), (split, faster)
        if faster >= 1.05:
            assert ratio_in(split, r"\*\*([\d.,]+)×\*\* faster") == pytest.approx(faster, rel=0.006), split


def test_combinations_cover_every_kind():
    kinds = {"tp2": any(w.get("tp") == 2 for _, _, w in COMBOS), "tp8": any(w.get("tp") == 8 for _, _, w in COMBOS),
             "4-bit": any(w.get("weight_bits") == 4 for _, _, w in COMBOS),
             "w8a8": any(w.get("weight_bits") == w.get("act_bits") == 8 for _, _, w in COMBOS),
             "long": any(w.get("seq_len") == 32768 for _, _, w in COMBOS),
             "short": any(w.get("seq_len") == 128 for _, _, w in COMBOS),
             "user": any(h == USER_DEVICE for _, h, _ in COMBOS)}
    models = {m for m, _, _ in COMBOS}
    assert all(kinds.values()) and {"mixtral-8x7b", "qwen3-30b-a3b", "deepseek-v3", "gemma-2-9b", "qwen3.5-27b",
                                    "nemotron-3-super-120b-a12b", "deepseek-v3.2"} <= models
    assert len(COMBOS) >= 40 and {t for *_, t in CASES} == set(TREES)


@pytest.mark.parametrize("model_name, device, fields, tree", CASES,
                         ids=[f"{m}-{d}-{'-'.join(f'{k}{v}' for k, v in f.items()) or 'default'}-n{t}"
                              for m, d, f, t in CASES])
def test_every_claim_holds_on_its_data(model_name, device, fields, tree, user_device):
    model = rl.load_model(model_name)
    hardware = rl.get_hardware(user_device if device == USER_DEVICE else device)
    workload = rl.Workload(**fields)
    ridge = hardware.roof(float(np.max(rl.roofline.peak_flops(hardware, workload)))).ridge
    texts: list[str] = []
    check_ridge(model, hardware, workload, texts)
    check_intensity(model, hardware, workload, ridge, texts)
    check_sweep(model, hardware, workload, texts)
    check_context(model, hardware, workload, texts)
    check_verify(model, hardware, workload, tree, texts)
    check_the_rest(model, hardware, workload, texts)
    check_chart(model, hardware, workload, texts)
    check_draft(model, hardware, workload, texts)
    check_levers(model, hardware, workload, texts)
    assert_no_artefacts(texts)


def test_the_helpers_read_as_a_person_writes():
    assert findings.plural("sequence", 1) == "1 sequence" and findings.plural("batch", 2) == "2 batches"
    assert findings.plural("token", 3.5) == "3.5 tokens" and findings.plural("device", 1024) == "1,024 devices"
    assert findings.batches_text([(1, 1)]) == "batch 1"
    assert findings.batches_text([(1, 3), (150, 1024)]) == "batches 1 to 3 and 150 to 1,024"
    assert findings.runs([1, 2, 4, 8, 16], [True, True, False, True, True]) == [(1, 2), (8, 16)]
    assert findings.runs([1, 2, 4], [False] * 3) == []
    assert findings.span_text("batch", [1, 2, 64]) == "batch 1 to 64" and findings.span_text("batch", [8, 8]) == "batch 8"
    assert findings.span_text("length", [128, 8192]) == "length 128 to 8,192"
    x = np.arange(1, 9)
    assert findings.trend(x, 5 + 0.01 * x) == "flat"
    assert findings.trend(x, x) == "rising" and findings.trend(x, 1 / x) == "falling"
    assert findings.trend(x, -(x - 4.0) ** 2 + 30) == "peaked"
    assert findings.trend(x, [1, 3, 1, 3, 1, 3, 1, 3]) == "mixed"
    # y = x/(1 + x/40): (y/x) over its first value is 41/(40 + x): 0.911 at x = 5, 0.891 at x = 6
    assert findings.proportional_until(x, x / (1 + x / 40)) == 5
    assert findings.proportional_until(x, np.sqrt(x)) is None
    # uniform routing: 8 experts, 2 per token, 1 token: 2 experts; 64 tokens: 8·(1 − 0.75^64) ≈ 8
    assert findings.experts_read_count(8, 2, 1) == pytest.approx(2)
    assert findings.experts_read_count(8, 2, 64) == pytest.approx(8 * (1 - 0.75**64))


def test_mixtral_on_an_h100_reads_its_figure():
    """The issue's case: the speedup of a 64-token tree rises from below 1 at batch 1 to a peak, then falls."""
    work = rl.Workload(tree_size=64, medusa_heads=4)
    curve = speculative.verify_curve("mixtral-8x7b", "h100-sxm", work, np.arange(1, 257), (1, 64), 4, 3.5)
    text = markdown(findings.verify_reading(curve, "mixtral-8x7b", "h100-sxm", work, 3.5))
    rows = curve[curve["tree_size"] == 64]
    peak = rows.loc[rows["speedup"].idxmax()]
    assert rows["speedup"].iloc[0] < 1 < peak["speedup"] and peak["batch"] > 1
    assert f"to its peak, **{peak['speedup']:.2f}×** at batch {int(peak['batch']):,}, then falls" in text
    assert "slower than plain decoding at batches 1 and " in text
    # the tree's 64 tokens touch all 8 experts where a plain step at batch 1 touches 2
    assert "reads 2 of the 8 experts' weights per layer, while the tree's 64 tokens touch all 8" in text


# --- Measured on a GPU (chapter 5): the sentences against the kernels they describe -----------------------

MEASURED_COMBOS = [("llama-33b", "a40", {}), ("llama-3.1-8b", "h100-sxm", {}), ("llama-7b", "a100-80gb-sxm", {"batch": 8}),
                   ("llama-3.1-70b", "h200-sxm", {"tp": 8}), ("mixtral-8x7b", "h100-sxm", {}),
                   ("gemma-2-9b", "l40s", {}), ("llama-13b", "b200", {}), ("qwen3-8b", "b200", {"weight_bits": 8,
                                                                                           "act_bits": 8})]


def _by_hand_ratios(model, section) -> pd.DataFrame:
    """Measured / bound per (phase, group, batch, length), summed here from the measured rows, only where the
    group has all its operators (fused attention: one kernel)."""
    from roofline_utils.measure.measured import measured_rows
    from roofline_utils.measure.runs import medusa_settings
    from roofline_utils.operators import GROUPS, PHASES

    rows = measured_rows(model, section.hardware, medusa_settings(), section.source.times)
    need = {(p, g): 1 if g == "qk/pv" else int((rl.roofline.operator_table(
        model, section.hardware, rl.Workload(attention_io="fused"), p)["group"] == g).sum()) for p in PHASES for g in GROUPS}
    sums = rows[rows["group"].isin(GROUPS)].groupby(["phase", "group", "batch", "seq_len"]).agg(
        n=("operator", "size"), measured=("min_s", "sum"), bound=("predicted_s", "sum"), bytes=("bytes", "sum")).reset_index()
    sums = sums[[n == need[p, g] for p, g, n in zip(sums["phase"], sums["group"], sums["n"])]]
    return sums.assign(ratio=sums["measured"] / sums["bound"])


def check_measured_chart(model, section, texts):
    ratios = _by_hand_ratios(model, section)
    if ratios.empty:  # e.g. a model the shipped extract does not hold, without the kernels extra
        assert [s for s in gpu.reading(section) if s.startswith("No group of this model has all its operators")]
        return
    pattern = (r"^(.+) (init|ar): measured ([\d.]+)× the bound at the median of ([\d,]+) settings? \(([\d.]+) to "
               r"([\d.]+), (tight|loose|very loose)\); ([\d.]+)× at batch 1, ([\d.]+)× at batch 64: (.+) at batch 64\.$")
    named = set()
    for text in gpu.reading(section):
        if not (m := re.match(pattern, text)):
            continue
        texts.append(text)
        group, phase = m.group(1), "prefill" if m.group(2) == "init" else "decode"
        part = ratios[(ratios["group"] == group) & (ratios["phase"] == phase)]
        named.add((group, phase))
        median = part["ratio"].median()
        assert int(number(m.group(4))) == len(part) and float(m.group(3)) == pytest.approx(median, abs=0.006), text
        assert (float(m.group(5)), float(m.group(6))) == pytest.approx((part["ratio"].min(), part["ratio"].max()),
                                                                      abs=0.006), text
        assert m.group(7) == ("tight" if median <= 1.3 else "loose" if median <= 3.0 else "very loose"), text
        first, last = (part.loc[part["batch"] == b, "ratio"].median() for b in (1, 64))
        assert (float(m.group(8)), float(m.group(9))) == pytest.approx((first, last), abs=0.006), text
        words = "closer to the bound" if last < 0.9 * first else "further from it" if last > first / 0.9 else "about as close"
        assert m.group(10) == words, text
    assert named == set(zip(ratios["group"], ratios["phase"])), "every measured group gets its sentence"
    faster = ratios[ratios["ratio"] < 1]
    sentence = next(s for s in gpu.reading(section) if "faster than" in s and "bound" in s and "point" in s)
    texts.append(sentence)
    if faster.empty:
        assert sentence == "No point ran faster than its bound."
    else:
        assert sentence.startswith(f"{len(faster):,} point"), sentence
        l2 = section.hardware.l2_bytes or 256 * 2**20
        assert ("cannot explain" in sentence) == bool((faster["bytes"] >= 4 * l2).any()), sentence


def check_measured_cloud(section, texts):
    hw = section.hardware
    rows = gpu.cloud_rows(section.device)
    m, n, k = (rows[c].astype(float) for c in ("m", "n", "k"))
    flops, nbytes, t = 2 * m * n * k, 2 * (m * k + k * n + m * n), rows["latency_ms"] / 1e3
    bound = np.maximum(flops / hw.peak("bf16"), nbytes / hw.bandwidth_bytes_per_s)
    l2 = hw.l2_bytes or 256 * 2**20
    checked = nbytes >= 4 * l2
    below = checked & (t / bound < 1 - 0.02 - 1e-6 / bound)
    above = nbytes / t > hw.bandwidth_bytes_per_s
    sentences = gpu.cloud_sentences(gpu.cloud_reading(section.cloud, hw))
    texts += sentences
    if not below.any():
        assert sentences[0].startswith(f"All {int(checked.sum()):,} sampled GEMMs") and "the bound held" in sentences[0]
    else:
        assert sentences[0].startswith(f"{int(below.sum()):,} of the {int(checked.sum()):,}")
    if not above.any():
        assert sentences[-1] == "No sampled GEMM moved its bytes faster than the HBM bandwidth."
    else:
        assert sentences[-1].startswith(f"{int(above.sum()):,} of the {len(rows):,} sampled GEMMs sit")
        assert ("the L2 explains" in sentences[-1]) == bool((nbytes[above] < 4 * l2).all())


def check_measured_end_to_end(model, section, workload, texts):
    from roofline_utils.units import seconds

    sentences = gpu.end_to_end_reading(section, model, workload, 1024, 16)
    texts += sentences
    if workload.weight_bits != 16:
        assert "no measured kernel applies" in sentences[0]
        return
    bound = rl.e2e.end_to_end(model, section.hardware, replace(workload, attention_io="fused"), 1024, 16)
    found = re.findall(r"at least ([\d.]+ [mµ]?s) by the roofline; ([\d.]+ [mµ]?s) from NVIDIA's measured kernels "
                       r"\(([\d.]+)× the bound(, below the bound)?", sentences[0])
    assert [f[0] for f in found] == [seconds(bound.ttft_s), seconds(bound.mean_tpot_s)], sentences[0]
    for _, _, ratio, below in found:
        assert bool(below) == (float(ratio) < 1), sentences[0]


@pytest.mark.parametrize("model_name, device, fields", MEASURED_COMBOS,
                         ids=[f"{m}-{d}-{'-'.join(f'{k}{v}' for k, v in f.items()) or 'default'}"
                              for m, d, f in MEASURED_COMBOS])
def test_every_measured_gpu_sentence_holds_on_its_kernels(model_name, device, fields):
    model, hardware, workload = rl.load_model(model_name), rl.get_hardware(device), rl.Workload(**fields)
    section = gpu.gpu_section(model, hardware, workload)
    texts = [section.intro]
    if section.points is not None:
        check_measured_chart(model, section, texts)
    check_measured_cloud(section, texts)
    check_measured_end_to_end(model, section, workload, texts)
    assert_no_artefacts(texts)


def test_a_users_device_is_named_and_sourced_as_the_users(user_device):
    """A device file's figures are the user's: no 'the' before its name, no datasheet claimed for it."""
    mine, shipped = rl.get_hardware(user_device), rl.get_hardware("a40")
    assert mine.called == mine.name and shipped.called == "the NVIDIA A40"
    assert "datasheet" not in summary.figures_origin(mine) and "my\\_gpu.yaml" in summary.figures_origin(mine)
    assert "datasheet" not in summary.figures_reference(mine) and "datasheet" in summary.figures_reference(shipped)
    footprint = rl.memory_footprint(rl.load_model("llama-7b"), mine, rl.Workload())
    assert f"of the {mine.name}" not in footprint.verdict(mine.called)
