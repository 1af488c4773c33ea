"""Write notebooks/*.ipynb from the cell sources below, then execute them in place.

Run after changing a notebook's text or the package's numbers:
    .venv/bin/python scripts/build_notebooks.py
The committed notebooks carry their outputs, which nbval compares on every test run.
"""
from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import papermill

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from roofline_utils.report import NOTEBOOKS, _use_this_interpreter_for_kernels  # noqa: E402

PARAMETERS = '''\
# Parameters: papermill (and `roofline render`) replaces this cell's values.
model = "llama-33b"      # a preset name (`roofline list models`) or a path to a config.json
hardware = "a40"         # a catalog key (`roofline list hardware`) or a .json/.yaml device file
batch = 1                # sequences in flight
seq_len = 1024           # prompt length in prefill; KV-cache length in decode
output_len = 256         # tokens generated, for the end-to-end latency
weight_bits = 16         # 16, 8 or 4 (32 for fp32)
act_bits = 16
kv_bits = 16
attention_io = "unfused" # "unfused": scores go through memory; "fused": FlashAttention-style
tp = 1                   # tensor-parallel devices
sweep_batches = [1, 2, 4, 8, 16, 32, 64]                    # the chart's cloud: batch axis
sweep_seq_lens = [128, 256, 512, 1024, 2048, 4096, 8192]    # and length axis
show_other_ops = False   # also plot o_proj, norms, softmax, lm_head, ...
measurement_run = "llama-33b_cpu-2core_numpy-float32.csv"  # a shipped run (roofline_utils/data/measurements)
remeasure = False        # True: measure this machine now instead of reading the shipped run
figure_dir = None        # folder to save the chart as PNG and SVG (None: don't save)'''

SETUP = '''\
import numpy as np
import pandas as pd
from IPython.display import Markdown, display

import roofline_utils as rl
from roofline_utils import summary
from roofline_utils.report import ReportParameters
from roofline_utils.units import grouped, seconds, si

pd.set_option("display.width", 200)
pd.set_option("display.max_colwidth", 80)
params = ReportParameters(model=model, hardware=hardware, batch=batch, seq_len=seq_len, output_len=output_len,
                          weight_bits=weight_bits, act_bits=act_bits, kv_bits=kv_bits,
                          attention_io=attention_io, tp=tp, sweep_batches=sweep_batches,
                          sweep_seq_lens=sweep_seq_lens, show_other_ops=show_other_ops,
                          measurement_run=measurement_run, remeasure=remeasure)
params.validate()
llm = rl.load_model(model)
hw = rl.get_hardware(hardware)
work = params.workload()
peak = float(rl.roofline.peak_flops(hw, work))
precision = rl.compute_precision(hw, weight_bits, act_bits)
print(f"{llm.display_name} on {hw.name}: batch {batch}, length {seq_len}, "
      f"w{weight_bits}/a{act_bits}/kv{kv_bits} bits, compute roof {precision}")'''

HARDWARE = [
    ("md", "# 1. The hardware: specs, ceilings and the ridge point\n\n"
           "A roofline needs two numbers from the device: how fast it can **compute** (peak FLOP/s for the "
           "precision in use) and how fast it can **move data** between its main memory and its cores "
           "(bandwidth, bytes/s). Everything else in this report follows from these two and from counting, "
           "for every operator, the FLOPs it performs and the bytes it must move."),
    ("code", PARAMETERS, ["parameters"]),
    ("code", SETUP, []),
    ("md", "## The datasheet\n\nThe figures come from the catalog shipped in `roofline_utils/data/hardware.json`, "
           "each with its source. Throughput is **dense** (no 2:4 sparsity: vendors' headline numbers with `*` are "
           "twice the dense rate). Memory sizes are read as GiB; bandwidth is decimal GB/s."),
    ("code", "print(summary.hardware_card(hw))", []),
    ("md", "## Ceilings per precision and their ridge points\n\n"
           "The **ridge point** is where the two roofs meet: `ridge = peak FLOP/s ÷ bandwidth`. An operator "
           "whose *operational intensity* (FLOPs per byte moved) is below the ridge cannot keep the "
           "arithmetic units busy: it waits on memory and is **memory-bound**. Above it, it is "
           "**compute-bound**."),
    ("code", "print(summary.ceilings_table(hw).to_string(index=False))", []),
    ("code", 'ridge = peak / hw.bandwidth_bytes_per_s\n'
             'print(f"compute roof: {precision}, {si(peak, \'FLOP/s\')}")\n'
             'print(f"ridge = {peak:.4g} FLOP/s / {hw.bandwidth_bytes_per_s:.4g} B/s = {ridge:.1f} FLOP/byte")', []),
    ("md", "## Which ceiling? The precision rule\n\nThe bit widths of weights, activations and KV cache decide "
           "how many bytes move; the compute roof is set by the format the multiply runs in."),
    ("code", "print(summary.precision_text(hw, work))", []),
    ("md", "## How to read a roofline\n\n"
           "For an operator with intensity `I`, the best it can do is `attainable = min(peak, I × bandwidth)`. "
           "The table evaluates this at a few intensities: every 10× below the ridge costs 10× in attainable "
           "performance. This is an **upper bound**: real kernels reach some fraction of each roof."),
    ("code", "print(summary.reading_guide(hw, peak).to_string(index=False))", []),
    ("code", "# NBVAL_IGNORE_OUTPUT\n"
             "others = {p: v for p, v in hw.peak_flops_per_s.items() if v != peak and p in ('fp8', 'int8', 'int4', 'fp32')}\n"
             "fig = rl.plot.roofline_chart(None, hw, peak, f'{hw.name}: the roofs', extra_roofs=others)", []),
    ("md", "## The whole catalog\n\nThe same two numbers for every shipped device. A high ridge point means "
           "an operator needs a lot of reuse per byte before the device's compute is the limit."),
    ("code", "print(summary.catalog_table().to_string(index=False))", []),
]

OPERATORS = [
    ("md", "# 2. The operators: FLOPs and bytes, formula beside number\n\n"
           "A decoder layer of a Llama-family model is a fixed sequence of operators. For each one we count "
           "the FLOPs (a multiply-add is 2) and the bytes it must move through main memory: weights, "
           "activations read and written, KV cache read and written. Their ratio is the operational "
           "intensity that places the operator on the roofline.\n\n"
           "**Prefill** (`init` in the chart) processes `b` prompts of `s` tokens at once: `T = b·s` tokens flow "
           "through every GEMM. **Decode** (`ar`, autoregressive) produces one token per sequence, attending "
           "to a KV cache of `s` positions: `T = b`."),
    ("code", PARAMETERS, ["parameters"]),
    ("code", SETUP, []),
    ("md", "## The model"),
    ("code", "print(summary.model_card(llm))", []),
    ("md", "## Symbols\n\nEvery formula below uses these symbols; their values are those of this report's "
           "parameters. `w`, `a` and `kv` are bytes per element of weights, activations and KV cache."),
    ("code", "print(rl.units.format_table(summary.symbol_table(llm, work)).to_string(index=False))", []),
    ("md", "## The assumptions\n\nEach is a named switch of `rl.Workload` with its default. The notes: "
           "weights are read once per operator call, however many tokens use them (perfect on-chip reuse, "
           "the roofline's best case); K/V heads are read once per GQA group; `causal=True` counts the "
           "`s·(s+1)/2` scores a causal kernel computes in prefill; `lm_head` runs on the tokens that need "
           "logits (`prefill_logits`); the non-GEMM FLOPs per element are estimates (they barely matter: "
           "those operators are memory-bound by a wide margin)."),
    ("code", "for key, value in work.assumptions().items():\n    print(f'{key:28s} {value}')", []),
    ("md", "## Prefill, operator by operator\n\n`count` is how often the operator runs in one forward pass "
           "(once per layer, or once per model). FLOPs and bytes are per occurrence."),
    ("code", "prefill = summary.derivation_table(llm, hw, work, 'prefill')\n"
             "print(rl.units.format_table(prefill.drop(columns=['note', 'time'])).to_string(index=False))", []),
    ("md", "### A worked example: `q_proj` in prefill\n\nThe formula, the numbers, the result. Every other row "
           "is computed the same way, from the same operator record in `roofline_utils/operators.py`."),
    ("code", "print(summary.worked_example(llm, hw, work, 'q_proj', 'prefill'))", []),
    ("md", "## Decode, operator by operator\n\nOne token per sequence: every weight is still read in full, "
           "but each byte now serves only `b` tokens, so the GEMMs' intensity collapses to about `b` FLOP/byte "
           "at 16 bits."),
    ("code", "decode = summary.derivation_table(llm, hw, work, 'decode')\n"
             "print(rl.units.format_table(decode.drop(columns=['note', 'time'])).to_string(index=False))", []),
    ("code", "print(summary.worked_example(llm, hw, work, 'gate_proj', 'decode'))", []),
    ("md", "## Causal attention: what the triangle saves\n\n"
           "In prefill, query `i` only sees keys `1..i`, so a causal kernel computes `s·(s+1)/2` scores per "
           "head instead of the full `s²` square. An unfused implementation still *stores* the full square "
           "(masked), which is why its bytes do not shrink."),
    ("code", "print(rl.units.format_table(summary.causal_table(llm, hw, work)).to_string(index=False))", []),
    ("md", "## Two attention IO models\n\n"
           "`unfused`: `QKᵀ` writes the score matrix to memory, softmax reads and rewrites it, `PV` reads it back. "
           "`fused` (FlashAttention-style): the scores never leave the chip, so only Q, K, V are read and the "
           "output written once (the compulsory traffic: a lower bound on bytes). The chart uses the "
           "`attention_io` parameter."),
    ("code", "print(rl.units.format_table(summary.attention_io_table(llm, hw, work)).to_string(index=False))", []),
    ("md", "## Where the notes differ from LLM-Viewer\n\n"
           "The test-suite cross-checks every number against LLM-Viewer's outputs for this model "
           "(`tests/test_reference.py`). They agree on the projections, the MLP GEMMs, attention bytes and "
           "the KV cache. They differ, by design, where LLM-Viewer's accounting is wrong: its SwiGLU "
           "activation is `hidden_size` wide instead of `intermediate_size` (2.7× too small), its `lm_head` "
           "counts `b·h·V` instead of `2·b·h·V`, its prefill attention ignores the causal mask, its residual "
           "adds read one operand instead of two, and it leaves out the embedding, RoPE, the final norm, "
           "and the norms' weights."),
]

ROOFLINE = [
    ("md", "# 3. The roofline: every operator on one chart\n\n"
           "Each cross is one operator group in one phase at one setting of the sweep grid "
           "(batch × sequence length). Its x is the group's operational intensity (`Σ FLOPs / Σ bytes` "
           "of its operators); its y is the performance the roofline allows (`Σ FLOPs / Σ time`, each "
           "operator at its own ceiling). Groups: `qkv mlp` = the Q/K/V projections, `up/gate/down` = the "
           "MLP GEMMs, `qk/pv` = the two attention matmuls; `init` = prefill, `ar` = decode.\n\n"
           "**Every point is an upper bound.** A measured kernel sits at or below it."),
    ("code", PARAMETERS, ["parameters"]),
    ("code", SETUP, []),
    ("code", "grid_b, grid_s = np.meshgrid(np.asarray(sweep_batches), np.asarray(sweep_seq_lens))\n"
             "sweep = rl.Workload(**{**work.assumptions(), 'batch': grid_b.ravel(), 'seq_len': grid_s.ravel()})\n"
             "points = rl.group_points(rl.operator_table(llm, hw, sweep))\n"
             "print(f'{grid_b.size} settings per group: batch {min(sweep_batches)}..{max(sweep_batches)}, '\n"
             "      f'length {min(sweep_seq_lens)}..{max(sweep_seq_lens)}')", []),
    ("code", "# NBVAL_IGNORE_OUTPUT\n"
             "title = f'Roofline Model ({llm.display_name}, {hw.name.removeprefix(\"NVIDIA \")})'\n"
             "fig = rl.plot.roofline_chart(points, hw, peak, title, show_other=show_other_ops)\n"
             "if figure_dir is not None:\n"
             "    rl.plot.save_figure(fig, figure_dir, 'roofline')", []),
    ("md", "## What the chart shows\n\nComputed from the points above, group by group:"),
    ("code", "for sentence in summary.chart_reading(points, hw, peak):\n    print('-', sentence.replace('**', ''))", []),
    ("md", "## The original figure's reading, checked\n\n"
           "The Medusa paper (Cai et al., arXiv:2401.10774, appendix, Figure 14) reads its chart this way. "
           "Each claim is tested against the analytical points (and in `tests/test_operators.py`)."),
    ("code", "for claim, holds in summary.paper_claims(points, ridge=peak / hw.bandwidth_bytes_per_s).items():\n"
             "    print(f\"{'holds' if holds else 'FAILS'}: {claim}\")", []),
    ("code", "print(summary.axis_note(points, hw, peak))", []),
    ("md", "## When do decode GEMMs become compute-bound?\n\n"
           "Decode intensity grows with the batch because each weight byte read serves every sequence in the "
           "batch. The batch at which the MLP GEMMs reach the ridge point:"),
    ("code", "ridge_batch = summary.batch_at_ridge(llm, hw, work)\n"
             "print(f'up/gate/down decode reaches the ridge at batch {ridge_batch}' if ridge_batch else\n"
             "      'up/gate/down decode never reaches the ridge on this device at these bit widths')", []),
    ("md", "## Totals for this setting\n\n"
           "The model's time is each operator at its own roofline, summed over the operators that run one after "
           "another. Time to first token is the whole prefill; time per output token is one decode step at "
           "this KV length."),
    ("code", "print(summary.totals_text(llm, hw, work))", []),
    ("md", "## End to end: one request\n\nThe prefill of the prompt gives the first token; every further "
           "token is one decode step whose KV cache is one position longer. All steps are evaluated at once "
           "(a vectorised sum, not a loop)."),
    ("code", "print(summary.end_to_end_text(llm, hw, work, prompt_len=seq_len, output_len=output_len))", []),
    ("md", "## Where the time goes\n\nRoofline time per category of operator. Under tensor parallelism the "
           "all-reduce after attention and after the MLP travels over the interconnect, not memory: it gets "
           "its own bar."),
    ("code", "# NBVAL_IGNORE_OUTPUT\n"
             "breakdown = rl.sweeps.time_breakdown(rl.operator_table(llm, hw, work))\n"
             "fig = rl.plot.time_breakdown_chart(breakdown, f'{llm.display_name} on {tp} x {hw.name}, batch {batch}, '\n"
             "                                   f'{seq_len} tokens')", []),
    ("code", "print(summary.time_shares(llm, hw, work, 'decode').to_string(index=False))", []),
    ("md", "## Does it fit?"),
    ("code", "print(summary.memory_text(llm, hw, work))\nprint(summary.capacity_text(llm, hw, work))", []),
]

SWEEPS = [
    ("md", "# 4. Sweeps: batch, context length and the memory wall\n\n"
           "How the operator points move along the roofline as the batch grows, what that does to time per "
           "token and throughput, and where memory runs out. Every curve is one vectorised evaluation."),
    ("code", PARAMETERS, ["parameters"]),
    ("code", SETUP, []),
    ("md", "## Decode points climb the bandwidth slope as the batch grows\n\n"
           "Each weight byte read in a decode step serves every sequence of the batch, so the projections' "
           "and MLP's intensity grows about linearly with the batch until it reaches the ridge. Attention "
           "does not move: each sequence reads its own KV cache."),
    ("code", "batches = [2**i for i in range(0, 11)]\n"
             "trajectory = rl.group_points(rl.operator_table(llm, hw, rl.Workload(**{**work.assumptions(), "
             "'batch': np.array(batches), 'seq_len': seq_len}), phases=('decode',)))\n"
             "ridge_batch = summary.batch_at_ridge(llm, hw, work)\n"
             "mlp = trajectory[trajectory['label'] == 'up/gate/down']\n"
             "print(mlp.assign(intensity=mlp['intensity'].round(2), performance=mlp['performance_flops_per_s'].map(\n"
             "    lambda v: si(v, 'FLOP/s')))[['batch', 'intensity', 'performance']].to_string(index=False))\n"
             "print(f'ridge point {peak / hw.bandwidth_bytes_per_s:.1f} FLOP/byte; the MLP GEMMs reach it at batch {ridge_batch}')", []),
    ("code", "# NBVAL_IGNORE_OUTPUT\n"
             "fig = rl.plot.batch_trajectory_chart(trajectory, hw, peak, f'Decode at {seq_len} tokens: batch 1 to "
             "{batches[-1]} ({llm.display_name}, {hw.name})', ridge_batch)", []),
    ("md", "## Time per token and throughput against the batch\n\n"
           "Until the ridge, a bigger batch costs almost nothing per step (the weights are read once either "
           "way), so throughput grows with the batch. The KV cache grows with batch × length and eventually "
           "dominates the bytes, and memory runs out: hollow markers do not fit."),
    ("code", "by_batch = rl.sweeps.decode_sweep(llm, hw, work, batches, sweep_seq_lens[::2])\n"
             "limits = by_batch[by_batch['fits']].groupby('seq_len')['batch'].max()\n"
             "for length in sweep_seq_lens[::2]:\n"
             "    print(f'context {length:6d}: largest batch that fits (of those swept) '\n"
             "          f'{limits.get(length, 0)}')", []),
    ("code", "# NBVAL_IGNORE_OUTPUT\n"
             "fig = rl.plot.sweep_chart(by_batch, 'batch', 'seq_len', f'{llm.display_name} on {hw.name}, decode')", []),
    ("md", "## Time per token against the context length"),
    ("code", "by_length = rl.sweeps.decode_sweep(llm, hw, work, sweep_batches[::2], [2**i for i in range(7, 18)])\n"
             "at_batch = by_length[by_length['batch'] == sweep_batches[0]]\n"
             "print(rl.units.format_table(at_batch[['seq_len', 'tpot_s', 'tokens_per_s', 'fits']]).to_string(index=False))", []),
    ("code", "# NBVAL_IGNORE_OUTPUT\n"
             "fig = rl.plot.sweep_chart(by_length, 'seq_len', 'batch', f'{llm.display_name} on {hw.name}, decode')", []),
    ("md", "## Explore\n\nIn JupyterLab, the controls below redraw the roofline and the totals for any preset, "
           "device, batch, context and precision. (The HTML report cannot run widgets and shows a note instead.)"),
    ("code", "# NBVAL_IGNORE_OUTPUT\n"
             "rl.explorer.explorer(model, hardware, batch, seq_len, weight_bits)", []),
]


MEASURED = [
    ("md", "# 5. Measured vs predicted: the roofline checked against a real machine\n\n"
           "A roofline is a claim about the fastest an operator can run. Here it is tested: the machine's "
           "ceilings are measured (a large GEMM for FLOP/s, streaming kernels for bandwidth, best of several "
           "repeats, working sets far above the caches), the model's own operators are timed at their real "
           "shapes, and each is compared with the time the same counting predicts **under the measured "
           "ceilings**. A measured time below the prediction would mean the counting is wrong; how far above "
           "it says how tight the bound is."),
    ("code", PARAMETERS, ["parameters"]),
    ("code", SETUP, []),
    ("code", "from roofline_utils import empirical, measure\n"
             "if remeasure:\n"
             "    backend = measure.TorchBackend('cuda') if measure.torch_cuda_available() else measure.NumpyBackend()\n"
             "    run = measure.measure_model(llm, [('decode', batch, seq_len), ('prefill', 1, min(seq_len, 512))], backend)\n"
             "else:\n"
             "    run = measure.load_shipped(measurement_run)\n"
             "for key in ('device', 'backend', 'model', 'date', 'gemm', 'stream_bytes', 'stream_kernels_bytes_per_s',\n"
             "            'prediction'):\n"
             "    print(f'{key:27s} {run.metadata.get(key, \"\")}')", []),
    ("code", "shown = run.metadata.get('device', '')\n"
             "print(summary.measured_device_note(run, hw))", []),
    ("md", "## The empirical roofline\n\nSolid lines: the **achieved** ceilings. Crosses: the roofline's "
           "prediction for each operator group at each measured setting; circles: what was measured. "
           "A circle sits on or below its cross."),
    ("code", "# NBVAL_IGNORE_OUTPUT\n"
             "flops_ceiling, bytes_ceiling = run.ceilings\n"
             "device = empirical.datasheet_device(run)\n"
             "fig = rl.plot.empirical_chart(empirical.measured_points(run), flops_ceiling, bytes_ceiling,\n"
             "    f\"Measured vs predicted ({run.metadata.get('model')}, {run.metadata.get('device')})\",\n"
             "    datasheet=device, datasheet_peak=device.peak('fp16') if device else None)", []),
    ("md", "## Measured / predicted time, per operator"),
    ("code", "print(empirical.ratio_table(run).to_string(index=False))", []),
    ("md", "## The honest reading\n\nComputed from the run: where the roofline is tight, where it is loose, and why."),
    ("code", "for sentence in empirical.reading(run):\n    print('-', sentence)", []),
]


def build(cells) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for kind, source, *tags in cells:
        if kind == "md":
            nb.cells.append(nbformat.v4.new_markdown_cell(source))
        else:
            cell = nbformat.v4.new_code_cell(source)
            if tags and tags[0]:
                cell.metadata["tags"] = tags[0]
            nb.cells.append(cell)
    return nb


def main() -> None:
    _use_this_interpreter_for_kernels()
    for name, cells in zip(NOTEBOOKS, (HARDWARE, OPERATORS, ROOFLINE, SWEEPS, MEASURED)):
        path = ROOT / "notebooks" / name
        nbformat.write(build(cells), path)
        papermill.execute_notebook(str(path), str(path), kernel_name="python3", progress_bar=False,
                                   cwd=str(ROOT / "notebooks"))
        print("executed", path)


if __name__ == "__main__":
    main()
