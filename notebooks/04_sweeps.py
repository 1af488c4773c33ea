# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: tags,-all
#     formats: ipynb,py:percent
#     notebook_metadata_filter: kernelspec,jupytext,-all
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 4. Sweeps: batch, context length and the memory wall
#
# How the operator points move along the roofline as the batch grows, what that does to time per
# token and throughput, and where memory runs out. Every curve is one vectorised evaluation.

# %% tags=["parameters"]
model = "llama-33b"
hardware = "a40"
batch = 1
seq_len = 1024
weight_bits = 16
act_bits = 16
kv_bits = 16
attention_io = "fused"  # served numbers: "fused" (as servers run attention) or "unfused"; the chart counts the paper's matmuls
tp = 1
compute_precision = "auto"  # the linear layers' roof: auto, fp16, bf16, fp8, int8, fp4, int4
weight_group_size = 0  # weights per quantisation scale (GPTQ/AWQ: 128; 0: per-channel)
weight_scale_bits = 16  # bits per group scale (NVFP4, MXFP4: 8)
weight_zero_point = False  # a zero point per group too (asymmetric GPTQ/AWQ)
quantize_head = False  # embed_tokens and lm_head stay 16-bit unless True
quantize_stream = False  # norms, attention, residual stream and all-reduce stay 16-bit unless True
mla = "absorbed"  # MLA models' decode: "absorbed" (latent cache, vLLM/SGLang) or "naive"
gpu_memory_utilization = 0.9  # share of the device's reported memory a server may use
output_len = 256  # tokens generated: the KV cache holds prompt + output
sweep_batches = [1, 2, 4, 8, 16, 32, 64]
sweep_seq_lens = [128, 256, 512, 1024, 2048, 4096, 8192]

# %%
import roofline_utils as rl
from roofline_utils import findings, plot, tables
from roofline_utils.findings import markdown

r = rl.notebook.setup(**rl.notebook.parameters(globals()))

# %% [markdown]
# ## Decode points climb the bandwidth slope as the batch grows
#
# Each weight byte read in a decode step serves every sequence of the batch, so the intensity of the
# projections and the MLP grows with the batch, towards the ridge (chapter 2 derives the critical batch;
# a mixture of experts gets there more slowly, since a larger batch also wakes more experts, each read
# in full). Attention does not move: each sequence reads its own KV cache, whatever the batch.

# %%
batches = [2**i for i in range(0, 11)]
trajectory = rl.sweeps.sweep_points(r.model, r.hardware, r.workload, batches, [seq_len], phases=("decode",))
ridge = findings.ridge_batch(r.model, r.hardware, r.workload)
mlp = trajectory[trajectory["label"] == "up/gate/down"]
tables.show(mlp[["batch", "intensity", "performance_flops_per_s"]].rename(
    columns={"intensity": "intensity (FLOP/byte)", "performance_flops_per_s": "attainable (FLOP/s)"}),
    caption=f"MLP GEMMs in decode at {seq_len:,} tokens")
tables.show_markdown(markdown(findings.batch_intensity(trajectory, r.model, ridge.ridge)))
tables.show_markdown(findings.ridge_recall(ridge))

# %% tags=["nbval-ignore-output"]
figure = plot.batch_trajectory_chart(trajectory, r.hardware, r.peak_flops_per_s,
                                     f"Decode at {seq_len:,} tokens: batch 1 to {batches[-1]:,} "
                                     f"({r.model.display_name}, {r.hardware.name})", ridge.batch)
plot.show(figure, alt=plot.describe_points(trajectory, r.hardware, r.peak_flops_per_s),
          caption="Decode points as the batch doubles from 1 to 1,024, labelled by batch on the MLP points.")

# %% [markdown]
# ## Time per token and throughput against the batch
#
# A step reads the weights once for the whole batch and each sequence's own cache for itself (its KV
# cache, and in a hybrid model the recurrent layers' fixed state too). While the weights dominate the
# bytes (short contexts, small batches), a bigger batch adds little to a step and throughput grows with
# it; once the sequences' caches dominate, a step grows with the batch too. Memory runs out on the way:
# hollow markers do not fit.

# %%
lengths = sweep_seq_lens[::2]
by_batch = rl.sweeps.decode_sweep(r.model, r.hardware, r.workload, batches, lengths)
tables.show_markdown(markdown(findings.batch_sweep(by_batch, r.model)))
tables.show_markdown(markdown(findings.context_reach(r.model, lengths, r.workload.output_len)))

# %% tags=["nbval-ignore-output"]
figure = plot.sweep_chart(by_batch, "batch", "seq_len", f"{r.model.display_name} on {r.hardware.name}, decode")
plot.show(figure, alt=f"Time per output token and tokens/s against batch 1 to {batches[-1]:,}, one line per context "
                      f"length {lengths[0]:,} to {lengths[-1]:,}; settings that do not fit are hollow.",
          caption="Decode time per token (left) and throughput (right) against the batch.")

# %% [markdown]
# ## Time per token against the context length

# %%
by_length = rl.sweeps.decode_sweep(r.model, r.hardware, r.workload, sweep_batches[::2], [2**i for i in range(7, 18)])
at_batch = by_length[by_length["batch"] == sweep_batches[0]]
tables.show(at_batch[["seq_len", "tpot_s", "tokens_per_s", "fits", "within_context"]].rename(columns={
    "seq_len": "context (tokens)", "tpot_s": "time per token (s)", "tokens_per_s": "tokens/s", "fits": "fits",
    "within_context": "within the model's context"}),
    caption=f"Decode at batch {sweep_batches[0]}")
tables.show_markdown(markdown(findings.context_reach(r.model, by_length["seq_len"], r.workload.output_len)))

# %% tags=["nbval-ignore-output"]
figure = plot.sweep_chart(by_length, "seq_len", "batch", f"{r.model.display_name} on {r.hardware.name}, decode")
plot.show(figure, alt="Time per output token and tokens/s against context length 128 to 131,072, one line per batch; "
                      "settings that do not fit are hollow.",
          caption="Decode time per token (left) and throughput (right) against the context length.")

# %% [markdown]
# ## Explore
#
# In JupyterLab, the controls below redraw the roofline and the totals for any preset, device, batch,
# context and precision. (The HTML report cannot run widgets and shows a note instead.)

# %% tags=["nbval-ignore-output"]
rl.explorer.explorer(model, hardware, batch, seq_len, weight_bits)
