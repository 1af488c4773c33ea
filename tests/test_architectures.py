"""The architectures beyond Llama, checked against numbers derived by hand from each config.json.

Every expected value below is a closed form written out on the config's numbers, from first
principles, never a value copied from the package's output:

  * a GEMM [M×K]·[K×N] is 2·M·N·K FLOPs; each weight is read once per call, however many tokens use it;
  * everything moves at 16 bits here: 2 bytes per element (weights, activations and the KV cache);
  * attention: a score is a dot product of the query/key width (2 FLOPs per element of it); P·V scales
    and accumulates one value row per score (2 FLOPs per element of the row); the softmax is 5 FLOPs
    per score (the workload's default estimate); unfused attention writes the score matrix, the
    softmax reads and writes it, P·V reads it back; fused attention keeps it on chip;
  * causal prefill: query i (1-based) sees keys 1..i, s·(s+1)/2 scores per head; with a sliding
    window W it sees min(i, W) keys, W·(W+1)/2 + (s−W)·W; the unfused score matrix is the full s² square.

The costs are per occurrence of an operator (one layer); ``count`` is how many layers run it.
Where the package disagrees with a derivation, that one case is marked xfail(strict=True) with the
two numbers in its reason: the expected value is never bent to match.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import pytest

import roofline_utils as rl
from roofline_utils.memory import kv_cache_bytes

DEVICE = "h200-sxm"
BYTES = 2  # 16-bit: 2 bytes per element, for weights, activations and the KV cache alike
SOFTMAX = 5  # FLOPs per score: max, subtract, exp, sum, divide (Workload's default estimate)
NORM = 4  # RMSNorm FLOPs per element: square, sum, scale, gain (Workload's default estimate)


@dataclass(frozen=True)
class Cost:
    """What one operator call should cost: FLOPs, and the elements (not bytes) of each traffic kind."""

    flops: float
    weight: float = 0
    act_read: float = 0
    act_write: float = 0
    kv_read: float = 0
    kv_write: float = 0

    def as_columns(self) -> dict[str, float]:
        """The operator table's columns: FLOPs, and each traffic kind at 2 bytes per element."""
        kinds = {"weight_bytes": self.weight, "act_read_bytes": self.act_read, "act_write_bytes": self.act_write,
                 "kv_read_bytes": self.kv_read, "kv_write_bytes": self.kv_write}
        columns = {"flops": self.flops, **{k: v * BYTES for k, v in kinds.items()}}
        columns["bytes"] = sum(v for k, v in columns.items() if k != "flops")  # all of it through memory
        return columns


def gemm(tokens: float, n_in: float, n_out: float, copies: float = 1, out: str = "act_write") -> Cost:
    """y = x·W with x [tokens × n_in] and W [n_in × n_out]: 2·tokens·n_in·n_out FLOPs; ``copies``
    weight matrices read once each (distinct experts); x read once, y written once (to ``out``)."""
    return Cost(2 * tokens * n_in * n_out, weight=copies * n_in * n_out, act_read=tokens * n_in,
                **{out: tokens * n_out})


def table(model, phase: str, batch: int, seq_len: int, **switches):
    switches.setdefault("attention_io", "unfused")  # the hand costs below count the scores through memory
    workload = rl.Workload(batch=batch, seq_len=seq_len, **switches)
    return rl.operator_table(model, DEVICE, workload, phases=(phase,)).set_index("operator")


def row(model, phase: str, operator: str, batch: int, seq_len: int, **switches):
    return table(model, phase, batch, seq_len, **switches).loc[operator]


def measured(r) -> dict[str, float]:
    return {k: float(r[k]) for k in Cost(0).as_columns()}


def assert_cost(r, want: Cost) -> None:
    assert measured(r) == pytest.approx(want.as_columns(), rel=1e-12, abs=1e-9)


# ---------------------------------------------------------------------------------------------------
# DeepSeek-V3: multi-head latent attention (config.json of deepseek-ai/DeepSeek-V3)
# ---------------------------------------------------------------------------------------------------
DS = "deepseek-v3"
DS_H = 7168  # hidden_size
DS_HEADS = 128  # num_attention_heads (MLA: every head has its own K and V, decompressed from the latent)
DS_RQ = 1536  # q_lora_rank: the query's compressed width
DS_RKV = 512  # kv_lora_rank: the latent cached per token, shared by all heads
DS_NOPE = 128  # qk_nope_head_dim: each head's query/key part without RoPE
DS_ROPE = 64  # qk_rope_head_dim: the rotary part; one rotary key per token, shared by all heads
DS_DV = 128  # v_head_dim
DS_DQK = DS_NOPE + DS_ROPE  # 192: a head's query/key width when decompressed
DS_DC = DS_RKV + DS_ROPE  # 576: cached per token and layer (the latent and the rotary key)
DS_LAYERS = 61  # num_hidden_layers
DS_DENSE_LAYERS = 3  # first_k_dense_replace: layers 0..2 keep a dense MLP, the other 58 are MoE
DS_I = 18432  # intermediate_size: the dense layers' MLP width
DS_IE = 2048  # moe_intermediate_size: each routed (and the shared) expert's width
DS_E = 256  # n_routed_experts
DS_K = 8  # num_experts_per_tok
DS_SHARED = 1  # n_shared_experts
DS_V = 129280  # vocab_size (tie_word_embeddings false: a separate lm_head)

# The per-operator cases run at batch 2, so that b (sequences) and T (tokens) are told apart.
DS_B = 2
DS_DECODE_S = 4096  # decode: KV-cache length (positions the new token attends to)
DS_PREFILL_S = 1024  # prefill: prompt length
DS_T_DECODE = DS_B  # one new token per sequence
DS_T_PREFILL = DS_B * DS_PREFILL_S


def ds_query_and_latent(T: int) -> dict[str, Cost]:
    """The projections both phases (and both MLA forms) run on T tokens."""
    return {
        # q_a_proj: h → q_lora_rank, the compressed query
        "q_a_proj": gemm(T, DS_H, DS_RQ),
        # q_b_proj: q_lora_rank → heads·(nope + rope), every head's query
        "q_b_proj": gemm(T, DS_RQ, DS_HEADS * DS_DQK),
        # o_proj: heads·v_head_dim → h
        "o_proj": gemm(T, DS_HEADS * DS_DV, DS_H),
    }


def ds_decode_absorbed() -> dict[tuple[str, str], Cost]:
    """Absorbed decode (vLLM, SGLang): W_UK folded into the query, W_UV into the output; every head
    attends to the cached 576-wide latent rows directly, which all 128 heads share (read once)."""
    T, b, s = DS_T_DECODE, DS_B, DS_DECODE_S
    scores = b * DS_HEADS * s  # one score per head per cached position
    common = {**ds_query_and_latent(T),
              # kv_a_proj: h → kv_lora_rank + rope = 576, the new token's latent, written to the cache
              "kv_a_proj": gemm(T, DS_H, DS_DC, out="kv_write"),
              # q_absorb: per head q_nope [T × 128]·W_UK [128 × 512] → the query in latent space
              "q_absorb": Cost(2 * T * DS_HEADS * DS_NOPE * DS_RKV, weight=DS_HEADS * DS_NOPE * DS_RKV,
                               act_read=T * DS_HEADS * DS_NOPE, act_write=T * DS_HEADS * DS_RKV),
              # out_absorb: per head o_latent [T × 512]·W_UV [512 × 128]
              "out_absorb": Cost(2 * T * DS_HEADS * DS_RKV * DS_DV, weight=DS_HEADS * DS_RKV * DS_DV,
                                 act_read=T * DS_HEADS * DS_RKV, act_write=T * DS_HEADS * DS_DV)}
    cases = {(io, name): cost for io in ("unfused", "fused") for name, cost in common.items()}
    # unfused QK^T: 576-long dot products; reads the latent queries (512 absorbed + 64 rotary per head)
    # and the b·s·576 cache once for all heads; writes the b·H·s scores
    cases["unfused", "qk_matmul"] = Cost(2 * DS_DC * scores, act_read=T * DS_HEADS * DS_DC,
                                         kv_read=b * s * DS_DC, act_write=scores)
    # unfused PV: each probability scales a 512-wide latent row; reads P back and the latent part of
    # the cache (the first 512 of each 576-element row) again; writes each head's 512-wide output
    cases["unfused", "pv_matmul"] = Cost(2 * DS_RKV * scores, act_read=scores, kv_read=b * s * DS_RKV,
                                         act_write=T * DS_HEADS * DS_RKV)
    # fused: the softmax's FLOPs ride in the QK^T half; Q and the cache read once, P stays on chip,
    # V is the latent part of the cache rows already on chip; the output written once
    cases["fused", "qk_matmul"] = Cost(2 * DS_DC * scores + SOFTMAX * scores, act_read=T * DS_HEADS * DS_DC,
                                       kv_read=b * s * DS_DC)
    cases["fused", "pv_matmul"] = Cost(2 * DS_RKV * scores, act_write=T * DS_HEADS * DS_RKV)
    return cases


def ds_prefill() -> dict[tuple[str, str], Cost]:
    """Prefill decompresses: K and V of every head from kv_b_proj, fresh activations (not the cache)."""
    T, b, s = DS_T_PREFILL, DS_B, DS_PREFILL_S
    scores = b * DS_HEADS * s * (s + 1) // 2  # causal: query i sees keys 1..i
    square = b * DS_HEADS * s * s  # the unfused score matrix, materialised in full
    q = T * DS_HEADS * DS_DQK  # every head's 192-wide query
    k = b * s * DS_HEADS * DS_DQK  # every head's 192-wide key (128 from kv_b_proj + the shared rotary 64)
    v = b * s * DS_HEADS * DS_DV  # every head's 128-wide value
    common = {**ds_query_and_latent(T),
              # the prompt's latents still go to the cache for the decode steps that follow
              "kv_a_proj": gemm(T, DS_H, DS_DC, out="kv_write"),
              # kv_b_proj: kv_lora_rank → heads·(nope + v), every head's K (nope part) and V
              "kv_b_proj": gemm(T, DS_RKV, DS_HEADS * (DS_NOPE + DS_DV))}
    cases = {(io, name): cost for io in ("unfused", "fused") for name, cost in common.items()}
    # unfused: QK^T reads Q and K, writes the square; PV reads the square back and V, writes the output
    cases["unfused", "qk_matmul"] = Cost(2 * DS_DQK * scores, act_read=q + k, act_write=square)
    cases["unfused", "pv_matmul"] = Cost(2 * DS_DV * scores, act_read=square + v, act_write=T * DS_HEADS * DS_DV)
    # fused: Q, K, V read once, the output written once; the softmax's FLOPs in the QK^T half
    cases["fused", "qk_matmul"] = Cost(2 * DS_DQK * scores + SOFTMAX * scores, act_read=q + k)
    cases["fused", "pv_matmul"] = Cost(2 * DS_DV * scores, act_read=v, act_write=T * DS_HEADS * DS_DV)
    return cases


def ds_decode_naive() -> dict[tuple[str, str], Cost]:
    """Naive decode (Hugging Face's reference code): the cache holds every head's K (192) and V (128)."""
    T, b, s = DS_T_DECODE, DS_B, DS_DECODE_S
    scores = b * DS_HEADS * s
    cases = {}
    for io in ("unfused", "fused"):
        # the new token's K (nope part) and V of every head, decompressed and written to the cache
        cases[io, "kv_b_proj"] = gemm(T, DS_RKV, DS_HEADS * (DS_NOPE + DS_DV), out="kv_write")
    cases["unfused", "qk_matmul"] = Cost(2 * DS_DQK * scores, act_read=T * DS_HEADS * DS_DQK,
                                         kv_read=b * s * DS_HEADS * DS_DQK, act_write=scores)
    cases["unfused", "pv_matmul"] = Cost(2 * DS_DV * scores, act_read=scores, kv_read=b * s * DS_HEADS * DS_DV,
                                         act_write=T * DS_HEADS * DS_DV)
    cases["fused", "qk_matmul"] = Cost(2 * DS_DQK * scores + SOFTMAX * scores, act_read=T * DS_HEADS * DS_DQK,
                                       kv_read=b * s * DS_HEADS * DS_DQK)
    cases["fused", "pv_matmul"] = Cost(2 * DS_DV * scores, kv_read=b * s * DS_HEADS * DS_DV,
                                       act_write=T * DS_HEADS * DS_DV)
    return cases


def mla_cases():
    forms = [("decode", "absorbed", DS_DECODE_S, ds_decode_absorbed()),
             ("prefill", "absorbed", DS_PREFILL_S, ds_prefill()),
             ("decode", "naive", DS_DECODE_S, ds_decode_naive())]
    for phase, form, s, cases in forms:
        for (io, name), cost in cases.items():
            # prefill's Q + K and scores + V reads are both activations: each pair is summed (a dict
            # key for each once replaced the other and lost the Q and score-matrix reads)
            yield pytest.param(phase, form, io, name, s, cost, id="-".join((phase, form, io, name)))


@pytest.mark.parametrize("phase, form, io, name, seq_len, want", list(mla_cases()))
def test_mla_layer_operator_costs(phase, form, io, name, seq_len, want):
    assert_cost(row(DS, phase, name, DS_B, seq_len, attention_io=io, mla=form), want)


def test_mla_decode_forms_have_their_own_operators():
    absorbed = table(DS, "decode", 1, 1024).index
    naive = table(DS, "decode", 1, 1024, mla="naive").index
    prefill = table(DS, "prefill", 1, 1024).index
    assert {"q_absorb", "out_absorb"} <= set(absorbed) and "kv_b_proj" not in absorbed
    assert "kv_b_proj" in naive and "q_absorb" not in naive and "out_absorb" not in naive
    assert "kv_b_proj" in prefill and "q_absorb" not in prefill


def test_mla_layer_counts():
    t = table(DS, "decode", 1, 1024)
    moe = DS_LAYERS - DS_DENSE_LAYERS  # 58
    assert t.loc["qk_matmul", "count"] == t.loc["q_absorb", "count"] == DS_LAYERS
    assert t.loc["dense_gate_proj", "count"] == DS_DENSE_LAYERS
    assert t.loc["router", "count"] == t.loc["gate_proj", "count"] == t.loc["shared_gate_proj", "count"] == moe


def attention_intensity(t) -> float:
    """FLOPs per byte of the two attention matmuls together."""
    pair = t.loc[["qk_matmul", "pv_matmul"]]
    return float(pair["flops"].sum() / pair["bytes"].sum())


def absorbed_intensity(s: int, io: str) -> float:
    """Batch 1, one new token, s cached positions, H = 128 heads on one shared 576-wide latent cache.

    FLOPs: H·s scores, each a 576-long dot product (2·576) and a 512-wide P·V accumulation (2·512),
    plus 5 softmax FLOPs per score in the fused kernel.
    Elements moved (2 B each):
      unfused  QK^T: q H·576 + cache s·576 + scores H·s;  PV: scores H·s + latent s·512 + out H·512
      fused    q H·576 + cache s·576 (once) + out H·512
    """
    H = DS_HEADS
    if io == "unfused":
        flops = H * s * (2 * DS_DC + 2 * DS_RKV)
        elements = (H * DS_DC + s * DS_DC + H * s) + (H * s + s * DS_RKV + H * DS_RKV)
    else:
        flops = H * s * (2 * DS_DC + SOFTMAX + 2 * DS_RKV)
        elements = H * DS_DC + s * DS_DC + H * DS_RKV
    return flops / (elements * BYTES)


def naive_intensity(s: int, io: str) -> float:
    """The same step with a per-head cache: H·s·192 K elements and H·s·128 V elements read."""
    H = DS_HEADS
    if io == "unfused":
        flops = H * s * (2 * DS_DQK + 2 * DS_DV)
        elements = (H * DS_DQK + s * H * DS_DQK + H * s) + (H * s + s * H * DS_DV + H * DS_DV)
    else:
        flops = H * s * (2 * DS_DQK + SOFTMAX + 2 * DS_DV)
        elements = H * DS_DQK + s * H * DS_DQK + s * H * DS_DV + H * DS_DV
    return flops / (elements * BYTES)


@pytest.mark.parametrize("io", ["unfused", "fused"])
@pytest.mark.parametrize("s", [128, 1024, 4096, 32768, 163840])  # up to max_position_embeddings
def test_mla_absorbed_decode_attention_intensity(s, io):
    assert attention_intensity(table(DS, "decode", 1, s, attention_io=io)) == pytest.approx(
        absorbed_intensity(s, io), rel=1e-12)


@pytest.mark.parametrize("io", ["unfused", "fused"])
@pytest.mark.parametrize("s", [128, 4096, 32768])
def test_mla_naive_decode_attention_intensity(s, io):
    assert attention_intensity(table(DS, "decode", 1, s, attention_io=io, mla="naive")) == pytest.approx(
        naive_intensity(s, io), rel=1e-12)


def test_mla_absorbed_decode_is_two_hundred_times_denser_than_naive():
    # Long-context limits (s → ∞, the per-head q and out terms vanish), fused:
    #   absorbed  H·(2·576 + 5 + 2·512) / (576·2 B) = 128·2181/1152 ≈ 242.3 FLOP/B: the cache is shared
    #   naive     (2·192 + 5 + 2·128) / ((192 + 128)·2 B) = 645/640 ≈ 1.008 FLOP/B, like multi-head attention
    absorbed_limit = DS_HEADS * (2 * DS_DC + SOFTMAX + 2 * DS_RKV) / (DS_DC * BYTES)
    naive_limit = (2 * DS_DQK + SOFTMAX + 2 * DS_DV) / ((DS_DQK + DS_DV) * BYTES)
    s = 163840
    absorbed = attention_intensity(table(DS, "decode", 1, s, attention_io="fused"))
    naive = attention_intensity(table(DS, "decode", 1, s, attention_io="fused", mla="naive"))
    assert absorbed == pytest.approx(absorbed_limit, rel=0.01) and absorbed_limit == pytest.approx(242.3, abs=0.05)
    assert naive == pytest.approx(naive_limit, rel=0.01) and naive_limit == pytest.approx(1.008, abs=0.001)


@pytest.mark.parametrize("batch, seq_len", [(1, 1), (1, 4096), (8, 32768)])
def test_mla_kv_cache_bytes(batch, seq_len):
    model = rl.preset(DS)
    # absorbed: per token and layer the 512 latent + the 64-wide rotary key = 576 elements, 1,152 B
    absorbed = batch * seq_len * DS_LAYERS * DS_DC * BYTES
    # naive: every head's K (128 + 64) and V (128): 128·320 = 40,960 elements, 81,920 B per token and layer
    naive = batch * seq_len * DS_LAYERS * DS_HEADS * (DS_DQK + DS_DV) * BYTES
    assert float(kv_cache_bytes(model, batch, seq_len, 16)) == pytest.approx(absorbed, rel=1e-12)
    assert float(kv_cache_bytes(model, batch, seq_len, 16, mla="naive")) == pytest.approx(naive, rel=1e-12)
    assert DS_LAYERS * DS_DC * BYTES == 70_272  # bytes per cached token, all 61 layers, absorbed


# ---------------------------------------------------------------------------------------------------
# Qwen3-30B-A3B: mixture of experts, q/k norms, an explicit head_dim (config.json of Qwen/Qwen3-30B-A3B)
# ---------------------------------------------------------------------------------------------------
QM = "qwen3-30b-a3b"
QM_H = 2048  # hidden_size
QM_HEADS = 32  # num_attention_heads
QM_KV_HEADS = 4  # num_key_value_heads (GQA: 8 query heads per K/V head)
QM_D = 128  # head_dim, given explicitly: heads·d = 4096 is twice hidden_size
QM_E = 128  # num_experts
QM_K = 8  # num_experts_per_tok
QM_IE = 768  # moe_intermediate_size
QM_LAYERS = 48  # num_hidden_layers; decoder_sparse_step 1 and no mlp_only_layers: all MoE
QM_V = 151936  # vocab_size


def distinct_experts(tokens: int) -> float:
    """Experts a batch of T tokens touches under uniform routing: each expert is missed by one token
    with probability 1 − k/E, by all T with (1 − k/E)^T, so E·(1 − (1 − k/E)^T) are read."""
    return QM_E * (1 - (1 - QM_K / QM_E) ** tokens)


def qm_expert_cases(tokens: int) -> dict[str, Cost]:
    pairs = tokens * QM_K  # each token runs through k experts: T·k (token, expert) rows
    read = distinct_experts(tokens)
    return {"gate_proj": gemm(pairs, QM_H, QM_IE, copies=read),
            "up_proj": gemm(pairs, QM_H, QM_IE, copies=read),
            "down_proj": gemm(pairs, QM_IE, QM_H, copies=read)}


def test_moe_batch_64_reads_126_of_128_experts():
    # 64 tokens: 128·(1 − (1 − 8/128)^64) = 128·(1 − (15/16)^64) ≈ 125.943 distinct experts, each expert's
    # gate_proj 2048·768 elements at 2 B; one token alone reads exactly its 8 experts
    t = table(QM, "decode", 64, 4096)
    assert t.loc["gate_proj", "weight_bytes"] / (QM_H * QM_IE * BYTES) == pytest.approx(125.943, abs=1e-3)
    assert distinct_experts(1) == pytest.approx(QM_K) and distinct_experts(64) == pytest.approx(125.943, abs=1e-3)


@pytest.mark.parametrize("phase, batch, seq_len", [("decode", 1, 4096), ("decode", 64, 4096), ("prefill", 2, 512)])
def test_moe_router_and_expert_gemms(phase, batch, seq_len):
    t = table(QM, phase, batch, seq_len)
    tokens = batch if phase == "decode" else batch * seq_len
    # router: h → E logits per token, one small GEMM, its weight read once
    assert_cost(t.loc["router"], gemm(tokens, QM_H, QM_E))
    for name, want in qm_expert_cases(tokens).items():
        assert_cost(t.loc[name], want)
        assert t.loc[name, "count"] == QM_LAYERS


def test_moe_decode_batch_one_reads_eight_experts():
    t = table(QM, "decode", 1, 4096)
    # 8 experts' gate_proj, 2048·768 each, 2 B: 25,165,824 B, for 2·8·2048·768 FLOPs: intensity 1
    assert t.loc["gate_proj", "weight_bytes"] == QM_K * QM_H * QM_IE * BYTES == 25_165_824
    assert t.loc["gate_proj", "flops"] == 2 * QM_K * QM_H * QM_IE


@pytest.mark.parametrize("phase, batch, seq_len", [("decode", 2, 4096), ("prefill", 2, 512)])
def test_qwen3_qk_norm(phase, batch, seq_len):
    tokens = batch if phase == "decode" else batch * seq_len
    width = QM_HEADS * QM_D + QM_KV_HEADS * QM_D  # every query head and every key head, 4096 + 512
    # an RMSNorm over each d-wide head, 4 FLOPs per element; gains: one d-wide vector for q, one for k
    want = Cost(NORM * tokens * width, weight=2 * QM_D, act_read=tokens * width, act_write=tokens * width)
    assert_cost(row(QM, phase, "qk_norm", batch, seq_len), want)


def test_qwen3_moe_attention_with_explicit_head_dim():
    b, s = 2, 4096
    t = table(QM, "decode", b, s)
    T = b
    q, kv = QM_HEADS * QM_D, QM_KV_HEADS * QM_D  # 4096 and 512 (not hidden_size/heads = 64 wide)
    scores = b * QM_HEADS * s
    want = {
        "q_proj": gemm(T, QM_H, q),
        "k_proj": gemm(T, QM_H, kv, out="kv_write"),  # the new K and V go to the cache
        "v_proj": gemm(T, QM_H, kv, out="kv_write"),
        # 128-long dot products; each of the 4 K heads read once for its 8 query heads: b·s·4·128
        "qk_matmul": Cost(2 * QM_D * scores, act_read=T * q, kv_read=b * s * kv, act_write=scores),
        "pv_matmul": Cost(2 * QM_D * scores, act_read=scores, kv_read=b * s * kv, act_write=T * q),
        "o_proj": gemm(T, q, QM_H),
    }
    for name, cost in want.items():
        assert_cost(t.loc[name], cost)


# ---------------------------------------------------------------------------------------------------
# Gemma-2-9B: local (sliding-window) and global layers, GeGLU, sandwich norms, tied embeddings
# ---------------------------------------------------------------------------------------------------
G2 = "gemma-2-9b"
G2_H = 3584  # hidden_size
G2_HEADS = 16  # num_attention_heads
G2_KV_HEADS = 8  # num_key_value_heads
G2_D = 256  # head_dim (heads·d = 4096 ≠ hidden_size)
G2_I = 14336  # intermediate_size
G2_LAYERS = 42  # num_hidden_layers
G2_W = 4096  # sliding_window
G2_V = 256000  # vocab_size; tie_word_embeddings (Gemma's default): lm_head is the embedding table
G2_S = 8192  # a context longer than the window (max_position_embeddings)
# Gemma 2 alternates, starting with a sliding layer: layers 0, 2, ..., 40 are local, 1, 3, ..., 41 global
G2_LOCAL = len(range(0, G2_LAYERS, 2))  # 21
G2_GLOBAL = G2_LAYERS - G2_LOCAL  # 21


def g2_attention(phase: str, io: str, span: str) -> dict[str, Cost]:
    """One layer's attention at b = 1 and s = 8192; ``span`` "local" (window 4096) or "global"."""
    b, s, W = 1, G2_S, G2_W
    q, kv = G2_HEADS * G2_D, G2_KV_HEADS * G2_D
    if phase == "decode":
        T = b
        positions = min(s, W) if span == "local" else s  # keys the new token sees
        scores = b * G2_HEADS * positions
        stored = scores
        keys = b * positions * kv  # a local layer reads only the window's K (and V)
    else:
        T = b * s
        per_head = W * (W + 1) // 2 + (s - W) * W if span == "local" else s * (s + 1) // 2
        scores = b * G2_HEADS * per_head
        stored = b * G2_HEADS * s * s  # unfused: the full square, masked, goes through memory
        keys = b * s * kv  # every key of the prompt is inside some query's window
    if io == "unfused":
        return {"qk_matmul": Cost(2 * G2_D * scores, act_read=T * q, kv_read=keys, act_write=stored),
                "softmax": Cost(SOFTMAX * scores, act_read=stored, act_write=stored),
                "pv_matmul": Cost(2 * G2_D * scores, act_read=stored, kv_read=keys, act_write=T * q)}
    return {"qk_matmul": Cost(2 * G2_D * scores + SOFTMAX * scores, act_read=T * q, kv_read=keys),
            "pv_matmul": Cost(2 * G2_D * scores, kv_read=keys, act_write=T * q)}


def g2_cases():
    for phase in ("decode", "prefill"):
        for io in ("unfused", "fused"):
            for span, prefix in (("local", "local_"), ("global", "")):
                for name, cost in g2_attention(phase, io, span).items():
                    yield pytest.param(phase, io, prefix + name, cost, id=f"{phase}-{io}-{prefix}{name}")


@pytest.mark.parametrize("phase, io, name, want", list(g2_cases()))
def test_gemma2_local_and_global_attention(phase, io, name, want):
    assert_cost(row(G2, phase, name, 1, G2_S, attention_io=io), want)


def test_gemma2_layer_counts_follow_the_alternation():
    t = table(G2, "decode", 1, G2_S)
    for name in ("qk_matmul", "softmax", "pv_matmul"):
        assert t.loc["local_" + name, "count"] == G2_LOCAL == 21
        assert t.loc[name, "count"] == G2_GLOBAL == 21
    for name in ("q_proj", "o_proj", "attn_norm", "post_attn_norm", "mlp_norm", "post_mlp_norm", "act_mul"):
        assert t.loc[name, "count"] == G2_LAYERS  # the projections, MLP and 4 sandwich norms: every layer
    assert rl.preset("gemma-2-27b").layer_count("local") == len(range(0, 46, 2)) == 23


def test_gemma2_within_the_window_local_equals_global():
    t = table(G2, "decode", 1, 2048)  # 2048 ≤ 4096: the window does not bite
    for name in ("qk_matmul", "pv_matmul"):
        assert measured(t.loc["local_" + name]) == measured(t.loc[name])
        assert t.loc[name, "kv_read_bytes"] == 2048 * G2_KV_HEADS * G2_D * BYTES


@pytest.mark.parametrize("phase, batch, seq_len", [("decode", 2, 8192), ("prefill", 1, 1024)])
def test_gemma2_geglu_is_intermediate_size_wide(phase, batch, seq_len):
    T = batch if phase == "decode" else batch * seq_len
    # gelu_tanh(g)·u = 0.5·g·(1 + tanh(c·(g + 0.044715·g³)))·u: g³ (2), ·0.044715, +g, ·c, tanh, +1, ·0.5,
    # ·g, ·u: 10 FLOPs per element, over T × intermediate_size (14336, not hidden_size); reads gate and up
    want = Cost(10 * T * G2_I, act_read=2 * T * G2_I, act_write=T * G2_I)
    assert_cost(row(G2, phase, "act_mul", batch, seq_len), want)


def test_gemma2_tied_embeddings():
    t = table(G2, "decode", 1, 1024)
    # lm_head still reads the whole V × h table every step, a GEMV of 2·V·h FLOPs ...
    assert_cost(t.loc["lm_head"], gemm(1, G2_H, G2_V))
    # ... but that table is the embedding's: parameters count it once (see test_parameter_counts)
    model = rl.preset(G2)
    untied = replace(model, tie_word_embeddings=False)
    assert untied.parameter_count() - model.parameter_count() == G2_V * G2_H


@pytest.mark.parametrize("seq_len", [2048, 8192])
def test_gemma2_kv_cache_keeps_the_window_in_local_layers(seq_len):
    per_position = 2 * G2_KV_HEADS * G2_D  # K and V of 8 heads of 256, per layer
    want = per_position * (G2_GLOBAL * seq_len + G2_LOCAL * min(seq_len, G2_W)) * BYTES
    assert float(kv_cache_bytes(rl.preset(G2), 1, seq_len, 16)) == pytest.approx(want, rel=1e-12)


# ---------------------------------------------------------------------------------------------------
# Phi-3-mini: fused qkv_proj and gate_up_proj (config.json of microsoft/Phi-3-mini-4k-instruct)
# ---------------------------------------------------------------------------------------------------
P3 = "phi-3-mini"
P3_H = 3072  # hidden_size
P3_HEADS = P3_KV_HEADS = 32  # num_attention_heads = num_key_value_heads (multi-head attention)
P3_D = P3_H // P3_HEADS  # 96: no head_dim field, hidden_size / heads
P3_I = 8192  # intermediate_size
P3_LAYERS = 32
P3_V = 32064


@pytest.mark.parametrize("phase, batch, seq_len", [("prefill", 1, 1024), ("decode", 4, 1024)])
def test_phi3_fused_projections(phase, batch, seq_len):
    t = table(P3, phase, batch, seq_len)
    T = batch if phase == "decode" else batch * seq_len
    q, kv = P3_HEADS * P3_D, P3_KV_HEADS * P3_D  # 3072 each
    # separately: q, k, v GEMMs of 2·T·h·3072 FLOPs and h·3072 weights each, each reading x (T·h)
    separate_flops = 2 * T * P3_H * q + 2 * (2 * T * P3_H * kv)
    separate_weights = P3_H * q + 2 * P3_H * kv
    # fused: the same FLOPs and weights, x read once; Q to activations, K and V to the cache
    assert_cost(t.loc["qkv_proj"], Cost(separate_flops, weight=separate_weights, act_read=T * P3_H,
                                        act_write=T * q, kv_write=2 * T * kv))
    # gate_up_proj: gate and up (h → I each) as one h → 2·I GEMM, x read once, both halves written
    assert_cost(t.loc["gate_up_proj"], Cost(2 * (2 * T * P3_H * P3_I), weight=2 * P3_H * P3_I,
                                            act_read=T * P3_H, act_write=2 * T * P3_I))
    assert not {"q_proj", "k_proj", "v_proj", "gate_proj", "up_proj"} & set(t.index)
    # SwiGLU after it is still I wide, and down_proj I → h
    assert_cost(t.loc["act_mul"], Cost(5 * T * P3_I, act_read=2 * T * P3_I, act_write=T * P3_I))
    assert_cost(t.loc["down_proj"], gemm(T, P3_I, P3_H))


def test_phi3_fusing_saves_only_the_repeated_input_reads():
    model = rl.preset(P3)
    T = 1024
    fused = table(model, "prefill", 1, T)
    split = table(replace(model, fused_projections=False), "prefill", 1, T)
    for fused_name, parts in (("qkv_proj", ["q_proj", "k_proj", "v_proj"]), ("gate_up_proj", ["gate_proj", "up_proj"])):
        together = split.loc[parts]
        for column in ("flops", "weight_bytes", "act_write_bytes", "kv_write_bytes"):
            assert fused.loc[fused_name, column] == pytest.approx(together[column].sum(), rel=1e-12)
        # the input x (T·h, 2 B) is read once instead of once per projection
        saved = (len(parts) - 1) * T * P3_H * BYTES
        assert together["act_read_bytes"].sum() - fused.loc[fused_name, "act_read_bytes"] == saved
    assert model.parameter_count() == replace(model, fused_projections=False).parameter_count()


# ---------------------------------------------------------------------------------------------------
# Parameter counts, tensor by tensor, against the published sizes
# ---------------------------------------------------------------------------------------------------
def deepseek_v3_parameters(active: bool) -> int:
    """DeepSeek-V3 without its multi-token-prediction module, tensor by tensor from config.json."""
    embed = DS_V * DS_H  # embed_tokens: 129280·7168 = 926,679,040
    lm_head = DS_V * DS_H  # untied
    attention = (DS_H * DS_RQ  # q_a_proj 7168·1536 = 11,010,048
                 + DS_RQ  # q_a_layernorm
                 + DS_RQ * DS_HEADS * DS_DQK  # q_b_proj 1536·(128·192) = 37,748,736
                 + DS_H * DS_DC  # kv_a_proj_with_mqa 7168·576 = 4,128,768
                 + DS_RKV  # kv_a_layernorm
                 + DS_RKV * DS_HEADS * (DS_NOPE + DS_DV)  # kv_b_proj 512·(128·256) = 16,777,216
                 + DS_HEADS * DS_DV * DS_H)  # o_proj (128·128)·7168 = 117,440,512
    norms = 2 * DS_H  # input_layernorm, post_attention_layernorm
    expert = 3 * DS_H * DS_IE  # gate, up, down: 44,040,192
    dense_mlp = 3 * DS_H * DS_I  # 396,361,728
    router = DS_H * DS_E  # gate.weight 7168·256 (its 256-wide e_score_correction_bias: see below)
    routed = (DS_K if active else DS_E) * expert
    moe_mlp = router + routed + DS_SHARED * expert
    moe_layers = DS_LAYERS - DS_DENSE_LAYERS
    return (embed + lm_head + DS_H  # final norm
            + DS_DENSE_LAYERS * (attention + norms + dense_mlp)
            + moe_layers * (attention + norms + moe_mlp))


def qwen3_8b_parameters() -> int:
    h, heads, kv_heads, d, I, layers, V = 4096, 32, 8, 128, 12288, 36, 151936  # Qwen/Qwen3-8B config.json
    attention = (h * heads * d  # q_proj 4096·4096
                 + 2 * h * kv_heads * d  # k_proj, v_proj 4096·1024 each
                 + heads * d * h  # o_proj
                 + 2 * d)  # q_norm, k_norm: one 128-wide gain each, shared by the heads
    mlp = 3 * h * I  # gate, up, down
    norms = 2 * h
    return 2 * V * h + h + layers * (attention + mlp + norms)  # embed + untied lm_head + final norm


def qwen3_moe_parameters(h, heads, kv_heads, d, experts, k, ie, layers, V, active: bool) -> int:
    attention = h * heads * d + 2 * h * kv_heads * d + heads * d * h + 2 * d  # q, k, v, o; q/k norms
    mlp = h * experts + (k if active else experts) * 3 * h * ie  # router, then the experts' gate/up/down
    return 2 * V * h + h + layers * (attention + mlp + 2 * h)


def gemma2_parameters(h, heads, kv_heads, d, I, layers, V) -> int:
    attention = h * heads * d + 2 * h * kv_heads * d + heads * d * h
    norms = 4 * h  # input, post_attention, pre_feedforward, post_feedforward
    return V * h + h + layers * (attention + 3 * h * I + norms)  # tied: the embedding once; final norm


def phi3_parameters(h, I, layers, V) -> int:
    qkv, o = h * 3 * h, h * h  # qkv_proj h → 3h (32 heads of 96 for each of q, k, v), o_proj
    gate_up, down = h * 2 * I, I * h
    return 2 * V * h + h + layers * (qkv + o + gate_up + down + 2 * h)


# name, active?, hand sum, published size, its last printed digit (the published figure is the count
# rounded or truncated to that digit: a tolerance of one unit of it)
PARAMETER_CASES = [
    # 671,026,404,352: the 671B of the main model (the 685B checkpoint adds the 14B MTP module). The
    # checkpoint also holds an fp32 e_score_correction_bias of 256 per MoE layer, 58·256 = 14,848
    # parameters, which the operator list does not read: 671,026,419,200 with it.
    ("deepseek-v3", False, deepseek_v3_parameters(False), 671e9, 1e9),
    # 37,552,282,624 with both vocabulary tables; 36,625,603,584 without the embedding lookup. "37B" is
    # truncated (or counts the lm_head but not the embedding rows): within one unit of the last digit.
    ("deepseek-v3", True, deepseek_v3_parameters(True), 37e9, 1e9),
    # 30,532,122,624
    ("qwen3-30b-a3b", False, qwen3_moe_parameters(2048, 32, 4, 128, 128, 8, 768, 48, 151936, False), 30.5e9, 0.1e9),
    # 3,353,032,704: "3.3B" truncates 3.35 (without the embedding table it would be 3.04)
    ("qwen3-30b-a3b", True, qwen3_moe_parameters(2048, 32, 4, 128, 128, 8, 768, 48, 151936, True), 3.3e9, 0.1e9),
    # 235,093,634,560
    ("qwen3-235b-a22b", False, qwen3_moe_parameters(4096, 64, 4, 128, 128, 8, 1536, 94, 151936, False), 235e9, 1e9),
    # 22,190,763,520
    ("qwen3-235b-a22b", True, qwen3_moe_parameters(4096, 64, 4, 128, 128, 8, 1536, 94, 151936, True), 22e9, 1e9),
    # 8,190,735,360 (Qwen's card: 8.2B, 6.95B without the two vocabulary tables: 6,946,075,648)
    ("qwen3-8b", False, qwen3_8b_parameters(), 8.2e9, 0.1e9),
    # 9,241,705,984
    ("gemma-2-9b", False, gemma2_parameters(3584, 16, 8, 256, 14336, 42, 256000), 9.24e9, 0.01e9),
    # 27,227,128,320
    ("gemma-2-27b", False, gemma2_parameters(4608, 32, 16, 128, 36864, 46, 256000), 27.2e9, 0.1e9),
    # 3,821,079,552
    ("phi-3-mini", False, phi3_parameters(3072, 8192, 32, 32064), 3.8e9, 0.1e9),
]


@pytest.mark.parametrize("name, active, by_hand, published, digit", PARAMETER_CASES,
                         ids=[f"{c[0]}{'-active' if c[1] else ''}" for c in PARAMETER_CASES])
def test_parameter_counts(name, active, by_hand, published, digit):
    counted = rl.preset(name).parameter_count(active=active)
    assert counted == by_hand  # tensor by tensor, exactly
    assert abs(counted - published) < digit  # and the published figure, to its printed precision


def test_parameter_counts_as_numbers():
    # the sums above, worked out on paper before any run: the package, and the helpers' transcription
    for name, active, total in (("deepseek-v3", False, 671_026_404_352), ("deepseek-v3", True, 37_552_282_624),
                                ("qwen3-8b", False, 8_190_735_360)):
        assert rl.preset(name).parameter_count(active=active) == total
    assert (deepseek_v3_parameters(False), deepseek_v3_parameters(True), qwen3_8b_parameters()) == \
        (671_026_404_352, 37_552_282_624, 8_190_735_360)


# Reference-faithful reading (issue 19 item 3): each test names the transformers behaviour it follows.
_QWEN = {"hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 4, "num_key_value_heads": 2,
         "num_hidden_layers": 40, "vocab_size": 100}


def _read(arch, **fields):
    from roofline_utils.models import model_from_dict
    return model_from_dict({"architectures": [arch], **_QWEN, **fields}, "m")


def test_qwen_windows_only_layers_from_max_window_layers():
    # Qwen2Config/Qwen3Config: layer i is sliding when use_sliding_window and i >= max_window_layers
    m = _read("Qwen3ForCausalLM", head_dim=16, use_sliding_window=True, sliding_window=512, max_window_layers=30)
    assert (m.sliding_window, m.num_sliding_layers) == (512, 40 - 30)
    m = _read("Qwen2ForCausalLM", use_sliding_window=True, sliding_window=512)  # max_window_layers default 28
    assert m.num_sliding_layers == 40 - 28
    # use_sliding_window defaults to false there: a sliding_window field alone windows nothing
    assert _read("Qwen2ForCausalLM", sliding_window=512).num_sliding_layers == 0


def test_head_dim_defaults_per_family():
    # Qwen3Config head_dim=128, Gemma2Config/Gemma3TextConfig head_dim=256; Llama derives hidden/heads
    assert _read("Qwen3ForCausalLM").head_dim == 128
    assert _read("Gemma2ForCausalLM").head_dim == 256
    assert _read("Gemma3ForCausalLM").head_dim == 256
    assert _read("LlamaForCausalLM").head_dim == 64 // 4


def test_gemma2_without_sliding_window_uses_4096():
    # Gemma2Config sliding_window=4096, layers alternate starting with a sliding one: 20 of 40
    m = _read("Gemma2ForCausalLM")
    assert (m.sliding_window, m.num_sliding_layers) == (4096, 20)


def test_q_k_v_bias_as_each_family_builds_it():
    # Qwen2Attention: q/k/v bias=True always; Phi3Attention: qkv_proj bias=False whatever the config says
    assert _read("Qwen2ForCausalLM", attention_bias=False).attention_bias is True
    assert _read("Phi3ForCausalLM", attention_bias=True).attention_bias is False
    assert _read("LlamaForCausalLM", attention_bias=True).attention_bias is True


def test_mtp_note_only_with_prediction_layers():
    # DeepseekV3: the MTP module exists only when num_nextn_predict_layers > 0
    from roofline_utils.models import model_from_dict
    base = {"architectures": ["DeepseekV3ForCausalLM"], **_QWEN, "num_attention_heads": 4, "q_lora_rank": 32,
            "kv_lora_rank": 16, "qk_nope_head_dim": 8, "qk_rope_head_dim": 4, "v_head_dim": 8}
    assert not any("multi-token" in n for n in model_from_dict({**base, "num_nextn_predict_layers": 0}, "m").notes)
    assert any("multi-token" in n for n in model_from_dict({**base, "num_nextn_predict_layers": 1}, "m").notes)


def test_llama_attention_bias_covers_o_proj_and_mlp_bias_its_mlp():
    # LlamaAttention: q/k/v/o_proj all bias=config.attention_bias; LlamaMLP: gate/up/down bias=config.mlp_bias
    plain = _read("LlamaForCausalLM").parameter_count()
    # h=64, kv width 2·16=32, I=128, 40 layers: q 64 + k 32 + v 32 + o 64 = 192 biases per layer
    assert _read("LlamaForCausalLM", attention_bias=True).parameter_count() - plain == 40 * 192
    # gate 128 + up 128 + down 64 = 320 biases per layer
    assert _read("LlamaForCausalLM", mlp_bias=True).parameter_count() - plain == 40 * 320


def test_qwen2_o_proj_has_no_bias():
    # Qwen2Attention: q/k/v bias=True, o_proj bias=False, whatever attention_bias says
    m = _read("Qwen2ForCausalLM", attention_bias=True)
    assert m.attention_bias and not m.o_proj_bias


def test_deepseek_attention_bias_on_q_a_kv_a_and_o_proj():
    # DeepseekV3Attention: q_a_proj, kv_a_proj_with_mqa and o_proj bias=config.attention_bias
    from roofline_utils.models import model_from_dict
    base = {"architectures": ["DeepseekV3ForCausalLM"], **_QWEN, "q_lora_rank": 32, "kv_lora_rank": 16,
            "qk_nope_head_dim": 8, "qk_rope_head_dim": 4, "v_head_dim": 8}
    plain = model_from_dict(base, "m").parameter_count()
    biased = model_from_dict({**base, "attention_bias": True}, "m").parameter_count()
    # r_q 32 + (r_kv 16 + d_rope 4) + h 64 = 116 biases per layer
    assert biased - plain == 40 * 116


def test_partial_rotary_factor_is_read():
    # Phi3Config partial_rotary_factor: RoPE rotates that share of each head (1.0 when absent)
    assert _read("Phi3ForCausalLM", partial_rotary_factor=0.75).partial_rotary_factor == 0.75
    assert _read("Phi3ForCausalLM").partial_rotary_factor == 1.0


# ---------------------------------------------------------------------------------------------------
# GPT-2: LayerNorm with a bias, learned absolute positions, a plain GELU MLP, fused c_attn with biases
# (a tiny config, so every count below is small enough to check on paper)
# ---------------------------------------------------------------------------------------------------
TINY_GPT2 = {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "activation_function": "gelu_new",
             "n_embd": 8, "n_head": 2, "n_layer": 3, "n_positions": 16, "vocab_size": 32}
TG_H, TG_HEADS, TG_LAYERS, TG_P, TG_V = 8, 2, 3, 16, 32
TG_F = 4 * TG_H  # n_inner absent: GPT2MLP is 4·n_embd = 32 wide
LAYER_NORM = NORM + 3  # RMSNorm's 4, the mean's sum and subtraction, the bias add: 7 per element
GELU = 10 - 1  # GeGLU's 10 less its multiply by up: cube (2), scale, add, scale, tanh, add, halve, multiply x


def tiny_gpt2(**fields):
    from roofline_utils.models import model_from_dict
    return model_from_dict({**TINY_GPT2, **fields}, "tiny-gpt2")


def gpt2_cases(phase: str, b: int, s: int) -> dict[str, Cost]:
    T = b * s if phase == "prefill" else b
    rows = min(s, TG_P) if phase == "prefill" else 1  # distinct positions of the step: s, or the one new position
    h, f = TG_H, TG_F
    return {
        # LayerNorm over T·h: 7 FLOPs per element; a gain and a bias, h each
        "attn_norm": Cost(LAYER_NORM * T * h, weight=2 * h, act_read=T * h, act_write=T * h),
        "mlp_norm": Cost(LAYER_NORM * T * h, weight=2 * h, act_read=T * h, act_write=T * h),
        "final_norm": Cost(LAYER_NORM * T * h, weight=2 * h, act_read=T * h, act_write=T * h),
        # c_attn: h → 3h with a bias (one add per output); Q to activations, K and V to the cache
        "qkv_proj": Cost(2 * T * h * 3 * h + T * 3 * h, weight=h * 3 * h + 3 * h, act_read=T * h,
                         act_write=T * h, kv_write=2 * T * h),
        # attn.c_proj: h → h with a bias
        "o_proj": Cost(2 * T * h * h + T * h, weight=h * h + h, act_read=T * h, act_write=T * h),
        # mlp.c_fc: h → 4h, GELU over T·4h, mlp.c_proj: 4h → h, both with biases
        "up_proj": Cost(2 * T * h * f + T * f, weight=h * f + f, act_read=T * h, act_write=T * f),
        "act": Cost(GELU * T * f, act_read=T * f, act_write=T * f),
        "down_proj": Cost(2 * T * f * h + T * h, weight=f * h + h, act_read=T * f, act_write=T * h),
        # wpe: one row per distinct position gathered, added to the token embeddings (one add per element)
        "position_embedding": Cost(T * h, weight=rows * h, act_read=T * h, act_write=T * h),
    }


@pytest.mark.parametrize("phase, b, s", [("prefill", 2, 5), ("prefill", 1, 40), ("decode", 3, 7)])
def test_gpt2_operator_costs_by_hand(phase, b, s):
    t = table(tiny_gpt2(), phase, b, s)
    for name, want in gpt2_cases(phase, b, s).items():
        assert_cost(t.loc[name], want)
    # no rotary embedding (the positions are added once, to the embedding), no gate: the MLP is up, act, down
    assert not {"rope", "gate_proj", "act_mul", "q_proj", "k_proj", "v_proj"} & set(t.index)
    assert t.loc["position_embedding", "count"] == 1 and t.loc["attn_norm", "count"] == TG_LAYERS


def test_gpt2_operators_go_to_their_groups():
    t = table(tiny_gpt2(), "decode", 1, 8)
    assert t.loc["qkv_proj", "group"] == "qkv mlp"
    assert t.loc["up_proj", "group"] == t.loc["down_proj", "group"] == "up/gate/down"
    for name in ("attn_norm", "mlp_norm", "final_norm", "act", "position_embedding", "embedding", "lm_head"):
        assert t.loc[name, "group"] == "other"


def test_gpt2_parameters_of_the_tiny_config():
    h, f, P, V, L = TG_H, TG_F, TG_P, TG_V, TG_LAYERS
    per_layer = (2 * 2 * h  # ln_1, ln_2: a gain and a bias each
                 + h * 3 * h + 3 * h  # c_attn
                 + h * h + h  # attn.c_proj
                 + h * f + f + f * h + h)  # mlp.c_fc, mlp.c_proj
    # wte once (lm_head is tied to it), the whole wpe table, the layers, ln_f
    assert tiny_gpt2().parameter_count() == V * h + P * h + L * per_layer + 2 * h == 3_016  # per layer 32 + 216 + 72 + 552 = 872


def gpt2_parameters(h: int, layers: int, positions: int = 1024, vocab: int = 50257) -> int:
    """GPT2LMHeadModel tensor by tensor: wte, wpe, per block ln_1, c_attn, c_proj, ln_2, c_fc, c_proj, then ln_f;
    lm_head is wte (tied)."""
    block = 2 * h + (h * 3 * h + 3 * h) + (h * h + h) + 2 * h + (h * 4 * h + 4 * h) + (4 * h * h + h)
    return vocab * h + positions * h + layers * block + 2 * h


def olmo2_parameters(h: int, I: int, layers: int, V: int) -> int:
    """Olmo2ForCausalLM: q, k, v, o (no biases); q_norm over all H·d = h, k_norm over Hkv·d = h (MHA);
    gate, up, down; post_attention_layernorm and post_feedforward_layernorm (no pre-norms); final norm;
    an untied lm_head."""
    return 2 * V * h + h + layers * (4 * h * h + 2 * h + 3 * h * I + 2 * h)


CLASSIC_PARAMETER_CASES = [
    # openai-community/gpt2: "124M"; 124,439,808 counted by GPT2Model (wte, wpe, blocks, ln_f)
    ("gpt2", gpt2_parameters(768, 12), 124_439_808),
    # openai-community/gpt2-xl: "1.5B"; 1,557,611,200 with the tied embedding
    ("gpt2-xl", gpt2_parameters(1600, 48), 1_557_611_200),
    # allenai/OLMo-2-1124-13B: its safetensors index holds 54,864,793,600 bytes of float32 weights, / 4
    ("olmo-2-13b", olmo2_parameters(5120, 13824, 40, 100352), 54_864_793_600 // 4),
]


@pytest.mark.parametrize("name, by_hand, published", CLASSIC_PARAMETER_CASES, ids=[c[0] for c in CLASSIC_PARAMETER_CASES])
def test_classic_parameter_counts(name, by_hand, published):
    assert by_hand == published  # the hand sum is the published count, exactly
    assert rl.preset(name).parameter_count() == published


@pytest.mark.parametrize("name, layers, kv_heads, head_dim", [
    ("gpt2", 12, 12, 64), ("gpt2-xl", 48, 25, 64), ("olmo-2-13b", 40, 40, 128)])
def test_classic_kv_bytes_per_token(name, layers, kv_heads, head_dim):
    per_token = 2 * layers * kv_heads * head_dim * BYTES  # K and V, every layer, 2 bytes each
    for seq_len in (1, 1000):
        assert float(kv_cache_bytes(rl.preset(name), 1, seq_len, 16)) == per_token * seq_len
    assert {"gpt2": 36_864, "gpt2-xl": 307_200, "olmo-2-13b": 819_200}[name] == per_token


# ---------------------------------------------------------------------------------------------------
# OLMo 2: norms after attention and the MLP only, q/k norms over the whole projection
# ---------------------------------------------------------------------------------------------------
TINY_OLMO2 = {"architectures": ["Olmo2ForCausalLM"], "model_type": "olmo2", "hidden_size": 16,
              "intermediate_size": 24, "num_attention_heads": 4, "num_key_value_heads": 2,
              "num_hidden_layers": 2, "vocab_size": 50, "tie_word_embeddings": False}


def test_olmo2_norms_by_hand():
    from roofline_utils.models import model_from_dict
    model = model_from_dict(TINY_OLMO2, "tiny-olmo2")
    b, s = 2, 6
    T, h, q, kv = b * s, 16, 4 * 4, 2 * 4  # head_dim 16/4 = 4: q 16 wide, k 8 wide
    t = table(model, "prefill", b, s)
    # Olmo2Attention: q_norm = RMSNorm(H·d), k_norm = RMSNorm(Hkv·d): gains as wide as q and k, not 2·d
    assert_cost(t.loc["qk_norm"], Cost(NORM * T * (q + kv), weight=q + kv, act_read=T * (q + kv),
                                       act_write=T * (q + kv)))
    for name in ("post_attn_norm", "post_mlp_norm"):
        assert_cost(t.loc[name], Cost(NORM * T * h, weight=h, act_read=T * h, act_write=T * h))
    assert not {"attn_norm", "mlp_norm"} & set(t.index)  # no norm before attention or the MLP
    assert "rope" in t.index and "gate_proj" in t.index and t.loc["embedding", "flops"] == 0  # no sqrt(h) scale
    # q 256 + k 128 + v 128 + o 256, q/k norms 16 + 8, gate/up/down 3·16·24, two norms 32: per layer 1,976
    assert model.parameter_count() == 2 * 50 * 16 + 16 + 2 * (4 * 16 * 16 - 2 * 16 * 8 + 24 + 3 * 16 * 24 + 32)
