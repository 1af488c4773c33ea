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
# # 1. The question, and the roofline by hand
#
# A language model on a GPU generates text at some speed: why that speed, and not ten times more? The
# device can do two things, and each has a limit: **compute** (peak FLOP/s, floating-point operations
# per second, for the number format in use) and **move data** between its main memory and its cores
# (bandwidth, bytes per second). An operator that does $F$ FLOPs and must move $B$ bytes takes at least
#
# $$t \ge \max\left(\frac{F}{\text{peak}}, \frac{B}{\text{bandwidth}}\right)$$
#
# That is the **roofline model** (Williams, Waterman and Patterson, 2009): a bound no kernel can beat,
# which real kernels approach. Which of the two terms wins depends on one ratio of the operator alone,
# its **operational intensity** $I = F/B$ (FLOPs per byte moved), held against one ratio of the device,
# its **ridge point** (peak ÷ bandwidth). The rest of this report counts $F$ and $B$ for every
# operator of a model, so that every number it gives can be checked by hand.

# %% tags=["parameters"]
hardware = "a40"  # a catalog key (`roofline list hardware`) or a .json/.yaml device file
weight_bits = 16  # 4, 8, 16 or 32
act_bits = 16
kv_bits = 16
compute_precision = "auto"  # the linear layers' roof: auto, fp16, bf16, fp8, int8, fp4, int4

# %%
import roofline_utils as rl
from roofline_utils import plot, primer, summary, tables

r = rl.notebook.setup(**rl.notebook.parameters(globals()))

# %% [markdown]
# ## Three toy products, worked by hand
#
# Before any model: the three shapes every operator of a language model has. A **dot product** of two
# vectors, a **matrix-vector product** (GEMV: a matrix times one vector, which is what a layer does to
# one token) and a **matrix-matrix product** (GEMM: a matrix times a matrix, a layer applied to many
# tokens at once). Each must read its inputs once and write its output once (the least any kernel can
# move) and does one multiply-add (2 FLOPs) per pair of elements it combines.

# %%
tables.show_markdown(primer.toy_markdown(r.hardware, r.peak_flops_per_s))

# %% [markdown]
# ## The device's two numbers
#
# The roofline needs the device's peak for the precision in use and its memory bandwidth.

# %%
tables.show_markdown(summary.figures_origin(r.hardware))

# %% [markdown]
# Throughput is **dense**: vendors also quote rates for 2:4 structured sparsity (two of every four
# weights zero), twice the dense figure, which no model in this report uses.
#
# The **ridge point** is where the two roofs meet:
#
# $$\text{ridge} = \frac{\text{peak FLOP/s}}{\text{bandwidth (bytes/s)}}$$
#
# An operator whose *operational intensity* $I$ (FLOPs per byte moved) is below the ridge cannot keep
# the arithmetic units busy: it waits on memory and is **memory-bound**. Above it, it is
# **compute-bound**.

# %%
tables.show(summary.ceilings_table(r.hardware), caption="Dense peak and ridge point per precision")
tables.show_markdown(summary.ridge_equation(r.hardware, r.peak_flops_per_s, r.precision))

# %% [markdown]
# ## Which ceiling? The precision rule
#
# The bit widths of weights, activations and KV cache decide how many bytes move; the compute roof is
# set by the format the multiply runs in. The math runs at the wider of the weight and activation
# formats, since a narrow weight is dequantised before the multiply: 16-bit operands use the 16-bit
# tensor roof; 8-bit weights *and* activations use FP8, else INT8; 4-bit both use INT4, else the 8-bit
# roof; a device without a faster path keeps the 16-bit roof. Weight-only quantisation (w8a16, w4a16)
# moves fewer weight bytes but does not raise the compute roof.

# %%
tables.show(summary.precision_table(r.hardware, r.workload, r.weights), caption="The roof this report uses")

# %% [markdown]
# ## How to read a roofline
#
# For an operator with intensity $I$, the best it can do is
#
# $$\text{attainable} = \min(\text{peak}, I \times \text{bandwidth})$$
#
# Every 10× below the ridge costs 10× in attainable performance.
#
# The $\max$ above assumes compute and memory traffic **overlap** perfectly: while the cores multiply
# one tile, the next one is on its way. A kernel that does one after the other takes
# $F/\text{peak} + B/\text{bandwidth}$ instead: at most twice as long, exactly twice at the ridge,
# where both terms are equal, and hardly more far from it, where one term dwarfs the other. Good GEMM
# and attention kernels overlap (they prefetch); this report's times are the overlapped bound.

# %%
tables.show(summary.reading_guide(r.hardware, r.peak_flops_per_s), caption="Attainable performance at a few intensities")

# %% tags=["nbval-ignore-output"]
others = summary.other_roofs(r.hardware, r.peak_flops_per_s)
figure = plot.roofline_chart(None, r.hardware, r.peak_flops_per_s, f"{r.hardware.name}: the roofs", extra_roofs=others)
plot.show(figure, alt=plot.describe_roofs(r.hardware, r.peak_flops_per_s, r.precision, others),
          caption=summary.roofs_caption(r.hardware, r.precision, others))
