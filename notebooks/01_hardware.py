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
# # 1. The hardware: specs, ceilings and the ridge point
#
# A roofline needs two numbers from the device: how fast it can **compute** (peak FLOP/s for the
# precision in use) and how fast it can **move data** between its main memory and its cores
# (bandwidth, bytes/s). Everything else in this report follows from these two and from counting, for
# every operator, the FLOPs it performs and the bytes it must move.

# %% tags=["parameters"]
hardware = "a40"  # a catalog key (`roofline list hardware`) or a .json/.yaml device file
weight_bits = 16  # 4, 8, 16 or 32
act_bits = 16
kv_bits = 16
compute_precision = "auto"  # the linear layers' roof: auto, fp16, bf16, fp8, int8, fp4, int4

# %%
import roofline_utils as rl
from roofline_utils import plot, summary, tables

r = rl.notebook.setup(**rl.notebook.parameters(globals()))

# %% [markdown]
# ## The datasheet
#
# The figures come from the catalog shipped in `roofline_utils/data/hardware.json`, each with its
# source. Throughput is **dense** (no 2:4 sparsity: vendors' headline numbers marked `*` are twice the
# dense rate). Bandwidth is decimal GB/s. Memory is the datasheet's size and, for whether a model fits,
# the total the device reports to software (an A40 reports 46,068 MiB of its "48 GB": ECC and the
# driver's reservations take the rest).

# %%
tables.show(summary.hardware_card(r.hardware), caption=f"The {r.hardware.name}, from its datasheet")

# %% [markdown]
# ## Ceilings per precision and their ridge points
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
tables.show(summary.precision_table(r.hardware, r.workload), caption="The roof this report uses")

# %% [markdown]
# ## How to read a roofline
#
# For an operator with intensity $I$, the best it can do is
#
# $$\text{attainable} = \min(\text{peak}, I \times \text{bandwidth})$$
#
# Every 10× below the ridge costs 10× in attainable performance. This is an **upper bound**: real
# kernels reach some fraction of each roof.

# %%
tables.show(summary.reading_guide(r.hardware, r.peak_flops_per_s), caption="Attainable performance at a few intensities")

# %% tags=["nbval-ignore-output"]
others = {p: v for p, v in r.hardware.peak_flops_per_s.items()
          if v != r.peak_flops_per_s and p in ("fp8", "int8", "int4", "fp32")}
figure = plot.roofline_chart(None, r.hardware, r.peak_flops_per_s, f"{r.hardware.name}: the roofs", extra_roofs=others)
plot.show(figure, alt=plot.describe_roofs(r.hardware, r.peak_flops_per_s, r.precision, others),
          caption=f"The roofs of the {r.hardware.name}: memory (blue), {r.precision} compute (red), other precisions (dotted).")

# %% [markdown]
# ## The whole catalog
#
# The same two numbers for every shipped device. A high ridge point means an operator needs a lot of
# reuse per byte before the device's compute is the limit.

# %%
tables.show(summary.catalog_table(), caption="Every shipped device at 16 bits")
