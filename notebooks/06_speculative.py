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
# # 6. Speculative decoding: checking several tokens in one step
#
# The chart this report rebuilds comes from the Medusa paper, and its argument is the roofline's. A
# decode step at a small batch is memory-bound: it reads every weight to produce one token per
# sequence. A step that checks $n$ candidate tokens per sequence reads the same weights once (a mixture
# of experts reads more of its experts, since $n$ times as many tokens route to them), so it can cost
# little more, until its GEMMs (now $T = b \cdot n$ tokens) climb to the ridge. If the step accepts on
# average $A$ tokens,
#
# $$\text{overhead}(b) = \frac{t_\text{verify}(b, n)}{t_\text{decode}(b)}, \qquad
#   \text{speedup}(b) = \frac{A}{\text{overhead}(b)}.$$
#
# Both step times come from the same operator list as the rest of the report (the `verify` phase:
# every operator at $T = b \cdot n$ tokens, the KV cache read once per sequence, logits at every
# candidate, and the Medusa heads).

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
tree_size = 64
medusa_heads = 4
acceptance = 3.5
draft_model = "auto"
draft_acceptance = 0.7
draft_tokens = 4

# %%
import numpy as np

import roofline_utils as rl
from roofline_utils import findings, plot, speculative, tables
from roofline_utils.findings import markdown

r = rl.notebook.setup(**rl.notebook.parameters(globals()))
batches = np.arange(1, 1025)

# %% [markdown]
# ## One verify step, operator by operator
#
# Medusa (Cai et al. 2024) puts $K$ extra heads on the model: each is a residual block
# ($x + \mathrm{SiLU}(x W_1 + b_1)$, $W_1$ of $h \times h$) and its own $h \times V$ output projection.
# They propose a tree of candidates; the next step checks the whole tree at once. The defaults are
# the Medusa repository's: a tree of 64 tokens (its `mc_sim_7b_63` and the root) and 4 heads, and
# about 3.5 tokens accepted per step, the acceleration rate the paper reports for Vicuna-7B and 13B
# with Medusa-2. The weight reads barely change; what grows is everything per token: norms, RoPE,
# activations, and attention's scores.

# %%
tables.show(speculative.step_table(r.model, r.hardware, r.workload).rename(columns={
    "decode_s": "decode step (s)", "verify_s": f"verify {tree_size} tokens (s)", "ratio": "verify / decode",
    "bound": "bound (verify)"}),
    caption=f"Batch {batch}, context {seq_len:,}: time × count per operator")
tables.show_markdown(markdown(findings.score_count(r.model, seq_len, tree_size, chain=medusa_heads == 0)))

# %% [markdown]
# ## Overhead and speedup against the batch
#
# One line per tree size. A tree of one token is the plain decode step. The speedup assumes the
# given acceptance for the configured tree and at most $n$ tokens for a tree of $n$ (an upper
# bound for the small trees).

# %%
tree_sizes = sorted({*speculative.TREE_SIZES, tree_size})
curve = speculative.verify_curve(r.model, r.hardware, r.workload, batches, tree_sizes, medusa_heads, acceptance)
tables.show_markdown(markdown(findings.verify_reading(curve, r.model, r.hardware, r.workload, acceptance)))

# %% tags=["nbval-ignore-output"]
figure = plot.speedup_chart(curve, "tree_size", f"Medusa on {r.model.display_name}, {r.hardware.name}, "
                            f"context {seq_len:,}", marks={"nearly free (1.1×)": 1.1})
plot.show(figure, alt=f"Verify-step time over a decode step and predicted speedup against batch 1 to 1,024 for tree "
                      f"sizes {', '.join(map(str, tree_sizes))} on {r.hardware.name}.",
          caption="Left: what checking n tokens costs over a plain decode step. Right: the predicted speedup.")

# %% [markdown]
# ## A draft model instead
#
# Speculative decoding with a separate draft model (Leviathan et al. 2023): the draft runs $\gamma$
# decode steps, then the target checks the $\gamma + 1$ tokens in one step. With each drafted token
# accepted with probability $\alpha$, a round yields $(1 - \alpha^{\gamma+1}) / (1 - \alpha)$ tokens
# on average, and costs $\gamma$ draft steps plus one verify step.

# %%
draft = r.params.draft()
if draft is None:
    tables.show_markdown(findings.no_draft_note(r.model.display_name, tp))
else:
    drafted = speculative.draft_curve(r.model, draft, r.hardware, r.workload, batches,
                                      sorted({*speculative.DRAFT_TOKENS, draft_tokens}), draft_acceptance)
    draft_name = rl.load_model(draft).display_name
    tables.show_markdown(markdown(findings.draft_reading(drafted, draft_name, r.model.display_name, draft_acceptance,
                                                         draft_tokens)))
    best = speculative.best_draft_tokens(drafted)
    tables.show(best[best["batch"].isin([1, 4, 16, 64, 256, 1024])][
        ["batch", "gamma", "tokens_per_round", "round_s", "speedup"]].rename(columns={
            "gamma": "best γ", "tokens_per_round": "tokens per round", "round_s": "round (s)"}),
        caption=f"The best γ per batch, α = {draft_acceptance:g}")

# %% tags=["nbval-ignore-output"]
if draft is not None:
    figure = plot.speedup_chart(drafted, "gamma", f"{draft_name} drafting for {r.model.display_name}, {r.hardware.name}")
    plot.show(figure, alt=f"Round time over a decode step and predicted speedup against batch for γ = "
                          f"{', '.join(map(str, sorted(drafted['gamma'].unique())))}.",
              caption="Left: a round (γ draft steps and one verify step) over a plain decode step. "
                      "Right: the predicted speedup.")

# %% [markdown]
# ## The paper's setting: Llama-7B on an A100-80GB SXM
#
# Medusa's experiments ran Vicuna models (Llama architecture) on A100 GPUs. The same reading for the
# 7B shape, whatever the model above:

# %%
paper, paper_note = speculative.paper_setting(seq_len)
paper_curve = speculative.verify_curve(speculative.PAPER_MODEL, speculative.PAPER_DEVICE, paper, batches,
                                       speculative.TREE_SIZES, speculative.DEFAULT_MEDUSA_HEADS,
                                       speculative.DEFAULT_ACCEPTANCE)
tables.show_markdown(paper_note)
tables.show_markdown(markdown(findings.verify_reading(paper_curve, speculative.PAPER_MODEL, speculative.PAPER_DEVICE,
                                                      paper, speculative.DEFAULT_ACCEPTANCE)))

# %% tags=["nbval-ignore-output"]
figure = plot.speedup_chart(paper_curve, "tree_size", f"Medusa on Llama 7B, A100-80GB SXM, context {paper.seq_len:,}",
                            marks={"nearly free (1.1×)": 1.1})
plot.show(figure, alt="Verify-step overhead and predicted Medusa speedup against batch for Llama-7B on an A100-80GB "
                      "SXM, tree sizes 1, 4, 16, 64.",
          caption="Llama-7B on an A100-80GB SXM: overhead (left) and predicted speedup (right).")
