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
# # 7. What you can do about each bound
#
# Every chapter so far explained a bound. This one turns them into choices: four levers a server has,
# each tried at one concrete setting on this report's model and device, with the same served counting
# (fused attention) as the rest of the report. Time per output token is what one user waits per token;
# tokens per second per device is what the operator of the server pays for. A lever whose setting does
# not fit in memory is shown with its number anyway: it says what the lever would buy on a device that
# holds it.

# %% tags=["parameters"]
model = "llama-33b"  # a preset name (`roofline list models`) or a path to a config.json
hardware = "a40"
batch = 1  # sequences in flight
seq_len = 1024  # KV-cache length in decode
output_len = 256  # tokens generated: the KV cache a request ends with
weight_bits = 16
act_bits = 16
kv_bits = 16
attention_io = "fused"  # served numbers: "fused" (as servers run attention) or "unfused"
tp = 1  # tensor-parallel devices
compute_precision = "auto"  # the linear layers' roof: auto, fp16, bf16, fp8, int8, fp4, int4
gpu_memory_utilization = 0.9  # share of the device's reported memory a server may use

# %%
import roofline_utils as rl
from roofline_utils import levers, summary, tables

r = rl.notebook.setup(**rl.notebook.parameters(globals()))

# %%
base, found = levers.levers(r.model, r.hardware, r.workload)
tables.show_markdown(levers.levers_markdown(base, found))

# %%
tables.show_markdown(levers.readings(base, found, r.workload, rl.memory.cache_kind(r.model)))

# %% [markdown]
# # Glossary and references
#
# ## Glossary
#
# - **Operational intensity**: FLOPs an operator performs per byte it moves to or from main memory.
# - **Ridge point**: a device's peak FLOP/s divided by its bandwidth; operators of lower intensity are
#   memory-bound, of higher intensity compute-bound.
# - **FLOP**: one floating-point operation; a multiply-add counts as 2.
# - **GEMM / GEMV**: general matrix-matrix / matrix-vector product; a layer applied to many tokens, or
#   to one.
# - **Prefill** (`init` in the chart): the pass over the prompt, all its tokens at once; it ends with the
#   first output token. **Decode** (`ar`, autoregressive): one token per sequence per step.
# - **KV cache**: the keys and values of every earlier position, kept so that a decode step does not
#   recompute them; each step reads all of it.
# - **GQA** (grouped-query attention): several query heads share one key/value head, so the KV cache is
#   smaller. **MLA** (multi-head latent attention, DeepSeek): one compressed latent per position that
#   every head reads.
# - **Fused attention** (FlashAttention): the score matrix stays on chip; **unfused**, it goes through
#   memory, as in the paper's separate matmuls.
# - **Tensor parallelism**: every weight matrix split over several devices, which add their partial
#   results with an **all-reduce** (a collective sum over the link between devices) after attention and
#   after the MLP.
# - **Dense / 2:4 sparse throughput**: a device's rate on ordinary matrices / on matrices with two zeros
#   in every four values (twice the dense rate; not used here).
# - **MoE** (mixture of experts): each token goes through a few of many MLPs; all of them must be stored.
# - **Speculative decoding**: a cheap guess of several tokens, checked by the model in one step.
#
# ## References
#
# - T. Cai et al., [Medusa: Simple LLM Inference Acceleration Framework with Multiple Decoding
#   Heads](https://arxiv.org/abs/2401.10774), 2024 (Figure 14, the chart this report rebuilds).
# - S. Williams, A. Waterman, D. Patterson, [Roofline: an insightful visual performance model for
#   multicore architectures](https://doi.org/10.1145/1498765.1498785), Communications of the ACM, 2009.
# - J. Austin et al., [How to Scale Your Model, "All about rooflines"](https://jax-ml.github.io/scaling-book/roofline/),
#   2025.
# - T. Dao et al., [FlashAttention](https://arxiv.org/abs/2205.14135), 2022.
# - Z. Yuan et al., [LLM Inference Unveiled: Survey and Roofline Model Insights](https://arxiv.org/abs/2402.16363)
#   (LLM-Viewer), 2024.
# - W. Kwon et al., [Efficient Memory Management for Large Language Model Serving with
#   PagedAttention](https://arxiv.org/abs/2309.06180) (vLLM), 2023.
# - M. Shoeybi et al., [Megatron-LM](https://arxiv.org/abs/1909.08053) (tensor parallelism), 2019.
# - E. Frantar et al., [GPTQ](https://arxiv.org/abs/2210.17323), 2022; J. Lin et al.,
#   [AWQ](https://arxiv.org/abs/2306.00978), 2023; G. Xiao et al., [SmoothQuant](https://arxiv.org/abs/2211.10438), 2022.
# - DeepSeek-AI, [DeepSeek-V3 Technical Report](https://arxiv.org/abs/2412.19437), 2024 (MLA, MoE).

# %%
tables.show_markdown(summary.figures_reference(r.hardware))

# %% [markdown]
# # Appendices
#
# ## A. The device's datasheet
#
# Every figure of the device this report uses, and where it comes from. Whether a model fits is judged
# against the memory the device reports to software where that is known (an A40, for example, reports
# 46,068 MiB of its "48 GB": ECC and the driver's reservations take the rest), else against the datasheet's
# figure read as decimal GB.

# %%
tables.show_markdown(summary.device_source_sentence(r.hardware))
tables.show(summary.hardware_card(r.hardware), caption=summary.device_caption(r.hardware))

# %% [markdown]
# ## B. The catalog
#
# The same two numbers for every shipped device at 16 bits. A high ridge point means an operator needs
# a lot of reuse per byte before the device's compute is the limit.

# %%
tables.show(summary.catalog_table(), caption="Every shipped device at 16 bits")
