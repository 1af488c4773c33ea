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
# # 2. The model on one roofline: the chart, and what it costs end to end
#
# Each marker is one operator group in one phase at one setting of the sweep grid (batch × sequence
# length). Its x is the group's operational intensity ($\sum \text{FLOPs} / \sum \text{bytes}$ of its
# operators); its y is the performance the roofline allows ($\sum \text{FLOPs} / \sum t$, each operator
# at its own ceiling). Groups: `qkv mlp` = the Q/K/V projections, `up/gate/down` = the MLP GEMMs,
# `qk/pv` = the two attention matmuls; `init` = prefill, `ar` = decode. Hover a marker in the report
# for its numbers.
#
# The chart counts attention as the paper measured it: `qk/pv` are two separate matmuls whose score
# matrix goes through memory. Every served number after the chart (time to first token, time per
# output token, throughput) counts it as serving engines run it, fused (FlashAttention-style), unless
# the report's `attention_io` says otherwise; chapter 3 shows both.

# %% tags=["parameters"]
model = "llama-33b"
hardware = "a40"
batch = 1
seq_len = 1024
output_len = 256  # tokens generated, for the end-to-end latency
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
sweep_batches = [1, 2, 4, 8, 16, 32, 64]  # the chart's cloud: batch axis
sweep_seq_lens = [128, 256, 512, 1024, 2048, 4096, 8192]  # and length axis
show_other_ops = False  # also plot o_proj, norms, softmax, lm_head, ...
figure_dir = None  # folder to save the chart as PNG and SVG (None: not saved)

# %%
import roofline_utils as rl
from roofline_utils import findings, plot, primer, summary, tables
from roofline_utils.findings import markdown

r = rl.notebook.setup(**rl.notebook.parameters(globals()))
points = rl.sweeps.sweep_points(r.model, r.hardware, r.workload, sweep_batches, sweep_seq_lens)

# %% tags=["nbval-ignore-output"]
figure = plot.roofline_chart(points, r.hardware, r.peak_flops_per_s, r.title, show_other=show_other_ops)
if figure_dir is not None:
    plot.save_figure(figure, figure_dir, "roofline")
plot.show(figure, alt=plot.describe_points(points, r.hardware, r.peak_flops_per_s),
          caption=f"{r.title}: {findings.plural('setting', len(sweep_batches) * len(sweep_seq_lens))} per group, "
                  f"{findings.span_text('batch', sweep_batches)} × {findings.span_text('length', sweep_seq_lens)}. "
                  "The legend counts how many settings share each visible marker; where groups coincide, larger markers lie below.")

# %% [markdown]
# ## What the chart shows
#
# Computed from the points above, group by group:

# %%
tables.show_markdown("\n".join("- " + markdown(reading)
                               for reading in findings.chart_reading(points, r.hardware, r.peak_flops_per_s)))
tables.show_markdown(markdown(findings.context_reach(r.model, sweep_seq_lens, marked=False)))

# %% [markdown]
# ## The original figure's reading, checked
#
# The Medusa paper (Cai et al., arXiv:2401.10774, appendix, Figure 14) reads its chart this way. Each
# claim is tested against the analytical points (and in the test-suite).

# %%
tables.show_markdown("\n".join("- " + markdown(claim) for claim in findings.paper_claims(points, r.ridge)))
tables.show_markdown(markdown(findings.axis_note(points, r.peak_flops_per_s)))

# %% [markdown]
# ## When do decode GEMMs become compute-bound? The critical batch
#
# In decode each sequence contributes one token, so the MLP's up projection, a weight GEMM
# $[b \times h] \cdot [h \times f]$ (hidden size $h$, MLP width $f$) of batch $b$, does $2bhf$ FLOPs and
# moves $whf$ bytes of weights (read once, whatever $b$) plus $ab(h+f)$ bytes of activations in and out,
# with $w$ and $a$ bytes per weight and per activation. Its intensity $2bhf / (whf + ab(h+f))$ grows with
# the batch; setting it equal to the ridge and solving for $b$ gives the **critical batch**:

# %%
tables.show_markdown(primer.critical_batch_markdown(primer.critical_batch(r.model, r.hardware, r.peak_flops_per_s,
                                                                          r.workload)))
tables.show_markdown(markdown(findings.ridge_batch(r.model, r.hardware, r.workload)))

# %% [markdown]
# ## Totals for this setting
#
# The model's time is each operator at its own roofline, summed over the operators that run one after
# another. Time to first token is the whole prefill; time per output token is one decode step at this
# KV length.

# %%
tables.show_markdown(markdown(findings.headline(r.model, r.hardware, r.workload)))

# %% [markdown]
# ## End to end: one request
#
# The prefill of the prompt gives the first token; every further token is one decode step whose KV
# cache is one position longer. All steps are evaluated at once (a vectorised sum, not a loop).

# %%
tables.show_markdown(markdown(rl.e2e.end_to_end(r.model, r.hardware, r.workload, prompt_len=seq_len,
                                                output_len=output_len)))

# %% [markdown]
# ## Where the time goes
#
# Roofline time per category of operator. Under tensor parallelism the all-reduce after attention and
# after the MLP travels over the interconnect, not memory: it gets its own bar.

# %% tags=["nbval-ignore-output"]
breakdown = rl.sweeps.time_breakdown(rl.operator_table(r.model, r.hardware, r.workload))
figure = plot.time_breakdown_chart(breakdown, f"{r.model.display_name} on {findings.on_devices(r.hardware, tp)}, batch {batch}, "
                                   f"{seq_len:,} tokens")
largest = breakdown.sort_values("time_s").groupby("phase").tail(1)
plot.show(figure, alt="Bars of roofline time per operator category; the largest: " + "; ".join(
              f"{row.phase} {row.category} {row.time_s * 1e3:.3g} ms" for row in largest.itertuples()),
          caption=findings.breakdown_caption(breakdown))

# %%
tables.show(summary.time_shares(r.model, r.hardware, r.workload, "decode"), caption="Decode step, by operator")

# %% [markdown]
# ## Does it fit?
#
# Weights, the KV cache at this batch and length, and the largest transient activation, against one
# device's memory.

# %%
footprint = rl.memory_footprint(r.model, r.hardware, r.workload)
tables.show_markdown(markdown(footprint) + "\n\n**" + footprint.verdict(r.hardware.called) + "** "
                     + findings.one_pass_prefill_note(footprint))
tables.show_markdown(markdown(findings.capacity(r.model, r.hardware, r.workload)))
