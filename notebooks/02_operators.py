# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 2. The operators: FLOPs and bytes, formula beside number
#
# A decoder layer of a Llama-family model is a fixed sequence of operators. For each one we count the
# FLOPs (a multiply-add is 2) and the bytes it must move through main memory: weights, activations
# read and written, KV cache read and written. Their ratio is the operational intensity that places
# the operator on the roofline.
#
# **Prefill** (`init` in the chart) processes $b$ prompts of $s$ tokens at once: $T = b \cdot s$
# tokens flow through every GEMM. **Decode** (`ar`, autoregressive) produces one token per sequence,
# attending to a KV cache of $s$ positions: $T = b$.

# %% tags=["parameters"]
model = "llama-33b"  # a preset name (`roofline list models`) or a path to a config.json
hardware = "a40"
batch = 1  # sequences in flight
seq_len = 1024  # prompt length in prefill; KV-cache length in decode
weight_bits = 16
act_bits = 16
kv_bits = 16
attention_io = "unfused"  # "unfused": scores go through memory; "fused": FlashAttention-style
tp = 1  # tensor-parallel devices

# %%
import roofline_utils as rl
from roofline_utils import summary, tables

r = rl.notebook.setup(model=model, hardware=hardware, batch=batch, seq_len=seq_len, weight_bits=weight_bits,
                      act_bits=act_bits, kv_bits=kv_bits, attention_io=attention_io, tp=tp)

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
# $a$ and $kv$ are bytes per element of weights, activations and KV cache.

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
# ### A worked example: `q_proj` in prefill
#
# The formula, the numbers put in, the result. Every other row is computed the same way, from the
# same operator record.

# %%
tables.show_markdown(summary.worked_example(r.model, r.hardware, r.workload, "q_proj", "prefill"))

# %% [markdown]
# ## Decode, operator by operator
#
# One token per sequence: every weight is still read in full, but each byte now serves only $b$
# tokens, so the GEMMs' intensity collapses to about $b$ FLOP/byte at 16 bits.

# %%
tables.show(summary.numbers_table(r.model, r.hardware, r.workload, "decode"),
            caption=f"One decode step of batch {r.params.batch} at {r.params.seq_len:,} cached positions")
tables.show_markdown(summary.worked_example(r.model, r.hardware, r.workload, "gate_proj", "decode"))

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
# inside the fused kernel and is counted with it. The chart uses the `attention_io` parameter.

# %%
tables.show(summary.attention_io_table(r.model, r.hardware, r.workload), caption="Attention per layer, both IO models")

# %% [markdown]
# ## Where the counting differs from LLM-Viewer
#
# The test-suite cross-checks every number against LLM-Viewer's outputs for this model
# (`tests/test_reference.py`). They agree on the projections, the MLP GEMMs, attention bytes and the
# KV cache. They differ, by design, where LLM-Viewer's accounting is wrong: its SwiGLU activation is
# `hidden_size` wide instead of `intermediate_size` (2.7× too small), its `lm_head` counts $b h V$
# instead of $2 b h V$, its prefill attention ignores the causal mask, its residual adds read one
# operand instead of two, and it leaves out the embedding, RoPE, the final norm and the norms'
# weights.
