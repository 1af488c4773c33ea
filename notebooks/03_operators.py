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
# # 3. Where each point comes from: the operators, formula beside number
#
# A decoder layer is a fixed sequence of operators: Llama's, or one of its variants (grouped-query,
# latent or sparse attention, sliding windows, recurrent Gated DeltaNet or Mamba-2 layers, a mixture of
# experts; the model card below says which). For
# each one we count the FLOPs (a multiply-add is 2) and the bytes it must move through main memory:
# weights, activations read and written, KV cache read and written. Their ratio is the operational
# intensity that places the operator on the roofline.
#
# **Prefill** (`init` in the chart) processes $b$ prompts of $s$ tokens at once: $T = b \cdot s$
# tokens flow through every GEMM. **Decode** (`ar`, autoregressive) produces one token per sequence,
# attending to a KV cache of $s$ positions (a recurrent layer reads its fixed state instead): $T = b$.

# %% tags=["parameters"]
model = "llama-33b"  # a preset name (`roofline list models`) or a path to a config.json
hardware = "a40"
batch = 1  # sequences in flight
seq_len = 1024  # prompt length in prefill; KV-cache length in decode
weight_bits = 16
act_bits = 16
kv_bits = 16
attention_io = "fused"  # served numbers: "fused" (as servers run attention) or "unfused"; the chart counts the paper's matmuls
tp = 1  # tensor-parallel devices
compute_precision = "auto"  # the linear layers' roof: auto, fp16, bf16, fp8, int8, fp4, int4
weight_group_size = 0  # weights per quantisation scale (GPTQ/AWQ: 128; 0: per-channel)
weight_scale_bits = 16  # bits per group scale (NVFP4, MXFP4: 8)
weight_zero_point = False  # a zero point per group too (asymmetric GPTQ/AWQ)
quantize_head = False  # embed_tokens and lm_head stay 16-bit unless True
quantize_stream = False  # norms, attention, residual stream and all-reduce stay 16-bit unless True
mla = "absorbed"  # MLA models' decode: "absorbed" (latent cache, vLLM/SGLang) or "naive"

# %%
import roofline_utils as rl
from roofline_utils import findings, state, summary, tables
from roofline_utils.findings import markdown

r = rl.notebook.setup(**rl.notebook.parameters(globals()))

# %% [markdown]
# ## The model
#
# The fields of the model's `config.json` that the operators use, and the parameter count derived
# from them tensor by tensor.

# %%
tables.show(summary.model_card(r.model), caption=r.model.display_name)

# %% [markdown]
# ## Symbols
#
# Every formula below uses these symbols; their values are those of this report's parameters. $w$,
# $a$ and $kv$ are bytes per element of the linear layers' weights and activations and of the KV cache;
# $w_{16}$ and $a_{16}$ those of what serving stacks keep at 16 bits (norms, attention, the residual
# stream; the embedding and `lm_head` unless quantised). At 16 bits they are all 2.

# %%
tables.show(summary.symbol_table(r.model, r.workload), caption="Symbols and their values", math_columns=("symbol",))

# %% [markdown]
# ## The assumptions
#
# Each is a named switch of `rl.Workload` with its default. Weights are read once per operator call,
# however many tokens use them (perfect on-chip reuse, the roofline's best case); K/V heads are read
# once per GQA group; `causal=True` counts the $s(s+1)/2$ scores a causal kernel computes in prefill;
# `lm_head` runs on the tokens that need logits (`prefill_logits`); the non-GEMM FLOPs per element are
# estimates (they barely matter: those operators are memory-bound by a wide margin).

# %%
tables.show(summary.assumptions_table(r.workload), caption="Accounting switches")

# %% [markdown]
# ## The formulas
#
# One record per operator in `roofline_utils/operators.py` gives each formula below, the numbers in
# the next tables, and the derivation in words.

# %%
tables.show(summary.formula_table(r.model, r.workload), caption="FLOPs and bytes per call",
            math_columns=("FLOPs", "bytes"))

# %% [markdown]
# ## Prefill, operator by operator
#
# `count` is how often the operator runs in one forward pass (once per layer, or once per model).
# FLOPs and bytes are per occurrence.

# %%
tables.show(summary.numbers_table(r.model, r.hardware, r.workload, "prefill"),
            caption=f"Prefill of {r.params.batch} × {r.params.seq_len:,} tokens")

# %% [markdown]
# ### A worked example: the first projection in prefill
#
# The formula, the numbers put in, the result. Every other row is computed the same way, from the
# same operator record.

# %%
tables.show_markdown(summary.worked_example(r.model, r.hardware, r.workload, "qkv mlp", "prefill"))

# %% [markdown]
# ## Decode, operator by operator
#
# One token per sequence: every weight is still read in full, but each byte now serves only $b$
# tokens, so the GEMMs' intensity collapses to about $b$ FLOP/byte at 16 bits.

# %%
tables.show(summary.numbers_table(r.model, r.hardware, r.workload, "decode"),
            caption=f"One decode step of batch {r.params.batch} at {r.params.seq_len:,} cached positions")
tables.show_markdown(summary.worked_example(r.model, r.hardware, r.workload, "up/gate/down", "decode"))

# %% [markdown]
# ## Causal attention: what the triangle saves
#
# In prefill, query $i$ only sees keys $1 \ldots i$, so a causal kernel computes $s(s+1)/2$ scores per
# head instead of the full $s^2$ square. An unfused implementation still *stores* the full square
# (masked), which is why its bytes do not shrink.

# %%
tables.show(summary.causal_table(r.model, r.hardware, r.workload), caption="Prefill attention, causal and full square")

# %% [markdown]
# ## Two attention IO models
#
# `unfused`: $QK^T$ writes the score matrix to memory, softmax reads and rewrites it, $PV$ reads it
# back. `fused` (FlashAttention-style): the scores never leave the chip, so only Q, K, V are read and
# the output written once (the compulsory traffic: a lower bound on bytes); the softmax then runs
# inside the fused kernel and is counted with it. The chart counts attention unfused, as the paper
# measured it; every served number uses the `attention_io` parameter (fused by default).

# %%
tables.show(summary.attention_io_table(r.model, r.hardware, r.workload), caption="Attention per layer, both IO models")

# %% [markdown]
# ## Decode attention: what one cached position costs
#
# A decode step reads the whole KV cache of every sequence, and the only arithmetic it can do on those
# bytes is each query head's score and weighted sum. So decode attention's intensity is set by how many
# query heads share each cached byte: one in multi-head attention (about 1 FLOP/byte at 16 bits, the
# original figure's `qk/pv ar` cloud), $H/H_{kv}$ with grouped-query attention, and all $H$ heads of a
# device with DeepSeek's multi-head latent attention (MLA), whose cache is one compressed latent per
# token and layer that every head reads. The formula counts the cache alone; the operator table's
# number beside it counts every byte the operators move.

# %%
tables.show_markdown(markdown(findings.decode_attention(r.model, r.hardware, r.workload)))

# %% [markdown]
# ## What each layer kind reads per generated token
#
# Attention is not the only way a layer can remember. What a decode step reads for one sequence, per
# layer, depends on the layer's kind: full attention reads the K and V of every cached position; a
# sliding window at most its last $w$; MLA one compressed latent per position; DeepSeek sparse attention
# an 8-bit index key of every position (132 bytes with its scale) and then only the $k_{top}$ latents the
# indexer picks; Gated DeltaNet and Mamba-2 keep no cache at all but a fixed recurrent state, read and
# written once per step whatever the length. The table reads this model's kinds off its operators at
# this length and at twice it (one sequence; the memory verdict of chapter 2 counts the same bytes):

# %%
tables.show_markdown(state.cache_reads_markdown(state.cache_reads(r.model, r.hardware, r.workload)))

# %% [markdown]
# ## Where the counting differs from LLM-Viewer
#
# The test-suite cross-checks every number against LLM-Viewer's outputs for Llama-33B, the paper's model
# (`tests/test_reference.py`). They agree on the projections, the MLP GEMMs, attention bytes and the
# KV cache. They differ, by design, where LLM-Viewer's accounting is wrong: its SwiGLU activation is
# `hidden_size` wide instead of `intermediate_size` (2.7× too small), its `lm_head` counts $b h V$
# instead of $2 b h V$, its prefill attention ignores the causal mask, its residual adds read one
# operand instead of two, and it leaves out the embedding, RoPE, the final norm and the norms'
# weights.
