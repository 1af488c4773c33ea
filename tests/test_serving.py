"""Quantisation, memory and communication as serving stacks run them: every expected number is worked
out here by hand from the config fields and the catalog's datasheet figures."""
import io
from contextlib import redirect_stderr, redirect_stdout

import pytest

import roofline_utils as rl
from roofline_utils.cli import main
from roofline_utils.memory import capacity_bytes, kv_cache_bytes, memory_footprint

# Llama-3.1-8B: h = 4096, I = 14336, 32 layers, 32 heads of 128, 8 K/V heads, V = 128,256, untied.
H8, I8, V8, L8 = 4096, 14336, 128_256, 32
# Llama-3.1-70B: h = 8192, I = 28672, 80 layers, 64 heads of 128, 8 K/V heads, V = 128,256, untied.
H70, I70, V70, L70, KV70 = 8192, 28672, 128_256, 80, 8


def row(table, phase, operator):
    return table[(table["phase"] == phase) & (table["operator"] == operator)].iloc[0]


def run(*argv):
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


# --- the compute roof -------------------------------------------------------------------------------

def test_w8a8_on_an_rtx_4090_prefers_fp8_and_int8_doubles_the_roof():
    # the catalog's datasheet figures (shared/hardware): FP8 with FP32 accumulate 330.3, INT8 660.6 TOPS
    w8a8 = dict(weight_bits=8, act_bits=8, kv_bits=8)
    auto = rl.operator_table("llama-3.1-8b", "rtx-4090", rl.Workload(**w8a8))
    int8 = rl.operator_table("llama-3.1-8b", "rtx-4090", rl.Workload(**w8a8, compute_precision="int8"))
    assert row(auto, "prefill", "q_proj")["peak_flops_per_s"] == 330.3e12
    assert row(int8, "prefill", "q_proj")["peak_flops_per_s"] == 660.6e12
    # q_proj in prefill, 1024 tokens: 2·1024·4096·4096 FLOPs, compute-bound, so its time halves
    flops = 2 * 1024 * H8 * H8
    assert row(auto, "prefill", "q_proj")["time_s"] == pytest.approx(flops / 330.3e12)
    assert row(int8, "prefill", "q_proj")["time_s"] == pytest.approx(flops / 660.6e12)
    # attention and the norms stay 16-bit: the FP16 (FP32-accumulate) roof of 165.2 TFLOP/s
    assert row(int8, "prefill", "qk_matmul")["peak_flops_per_s"] == 165.2e12


def test_fp4_weights_and_activations_use_the_b200_fp4_roof():
    table = rl.operator_table("llama-3.1-8b", "b200", rl.Workload(weight_bits=4, act_bits=4, kv_bits=8))
    assert row(table, "prefill", "gate_proj")["peak_flops_per_s"] == 9000e12  # dense FP4 (NVFP4/MXFP4)
    assert row(table, "prefill", "qk_matmul")["peak_flops_per_s"] == 2250e12  # 16-bit attention


@pytest.mark.parametrize("argv, message", [
    (("--hardware", "a40", "--bits", "8", "--compute-precision", "fp8"),
     "roofline: error: compute_precision: NVIDIA A40 has no fp8 compute ceiling"),
    (("--hardware", "h100-sxm", "--compute-precision", "int8"),
     "roofline: error: compute_precision: int8 cannot multiply 16-bit operands"),
    (("--compute-precision", "fp6"), "roofline: error: --compute-precision: invalid choice: 'fp6'"),
    (("--weight-group-size", "-1"), "roofline: error: --weight-group-size: must be an integer from 0"),
    (("--weight-scale-bits", "7"), "roofline: error: --weight-scale-bits: invalid choice: 7"),
    (("--gpu-memory-utilization", "1.5"), "roofline: error: --gpu-memory-utilization: must be a number from 0.01 to 1"),
])
def test_bad_quantisation_flags_are_one_line_and_write_nothing(tmp_path, argv, message):
    target = tmp_path / "ops.csv"
    code, out, err = run("table", "--model", "llama-3.1-8b", *argv, "--out", str(target))
    assert code == 2 and out == "" and err.startswith(message) and err.count("\n") == 1
    assert not target.exists()


# --- bytes per weight -----------------------------------------------------------------------------------

def test_weight_only_quantisation_keeps_the_head_at_16_bits():
    four = rl.operator_table("llama-3.1-8b", "h100-sxm", rl.Workload(weight_bits=4), phases="decode")
    head = rl.operator_table("llama-3.1-8b", "h100-sxm", rl.Workload(weight_bits=4, quantize_head=True),
                             phases="decode")
    assert row(four, "decode", "lm_head")["weight_bytes"] == V8 * H8 * 2 == 1_050_673_152  # 1,050.7 MB
    assert row(head, "decode", "lm_head")["weight_bytes"] == V8 * H8 / 2 == 262_668_288  # 262.7 MB
    assert row(four, "decode", "q_proj")["weight_bytes"] == H8 * H8 / 2
    # the weights in memory: 7,504,924,672 linear-layer parameters at 4 bits, the two 525,336,576-entry
    # tables at 16 bits, and the 65 norm gains of 4,096 at 16 bits
    linear = L8 * (2 * H8 * H8 + 2 * H8 * 1024 + 3 * H8 * I8)
    norms = (2 * L8 + 1) * H8
    expected = linear / 2 + 2 * V8 * H8 * 2 + norms * 2
    assert memory_footprint("llama-3.1-8b", "h100-sxm", rl.Workload(weight_bits=4)).weights_bytes == expected


@pytest.mark.parametrize("group, scale, zero, bits_per_weight", [
    (128, 16, False, 4 + 16 / 128),  # symmetric GPTQ: 4.125
    (128, 16, True, 4 + (16 + 4) / 128),  # AWQ: an fp16 scale and a packed 4-bit zero per 128: 4.156
    (16, 8, False, 4 + 8 / 16),  # NVFP4: an E4M3 scale per 16: 4.5
    (32, 8, False, 4 + 8 / 32),  # MXFP4: an E8M0 scale per 32: 4.25
])
def test_group_scales_add_their_bits_to_each_weight(group, scale, zero, bits_per_weight):
    work = rl.Workload(weight_bits=4, weight_group_size=group, weight_scale_bits=scale, weight_zero_point=zero)
    table = rl.operator_table("llama-3.1-8b", "h100-sxm", work, phases="decode")
    assert row(table, "decode", "down_proj")["weight_bytes"] == pytest.approx(I8 * H8 * bits_per_weight / 8)
    assert row(table, "decode", "lm_head")["weight_bytes"] == V8 * H8 * 2  # the 16-bit head has no groups


def test_group_scales_do_nothing_to_16_bit_weights():
    plain = rl.totals("llama-3.1-8b", "h100-sxm", rl.Workload())
    grouped = rl.totals("llama-3.1-8b", "h100-sxm", rl.Workload(weight_group_size=128))
    assert plain == grouped


# --- activations: 8-bit at the linear layers, 16-bit on the stream --------------------------------------

def test_w8a8_keeps_the_stream_norms_and_softmax_at_16_bits_unless_asked():
    work = rl.Workload(attention_io="unfused", weight_bits=8, act_bits=8, kv_bits=8)
    served = rl.operator_table("llama-3.1-8b", "h100-sxm", work)
    narrow = rl.operator_table("llama-3.1-8b", "h100-sxm", rl.Workload(**{**work.assumptions(), "quantize_stream": True}))
    tokens = 1024
    for table, stream_bytes in ((served, 2), (narrow, 1)):
        norm = row(table, "prefill", "attn_norm")  # reads and writes T·h
        assert norm["act_read_bytes"] == norm["act_write_bytes"] == tokens * H8 * stream_bytes
        add = row(table, "prefill", "mlp_add")  # reads both operands
        assert add["act_read_bytes"] == 2 * tokens * H8 * stream_bytes
        softmax = row(table, "prefill", "softmax")  # reads and writes the 32·1024² stored scores
        assert softmax["act_read_bytes"] == 32 * tokens * tokens * stream_bytes
        q = row(table, "prefill", "q_proj")  # the linear layer: 8-bit in, 8-bit out either way
        assert q["act_read_bytes"] == q["act_write_bytes"] == tokens * H8
        k = row(table, "decode", "k_proj")  # K to the 8-bit cache
        assert k["kv_write_bytes"] == 1 * 1024


def test_tensor_parallel_all_reduce_stays_16_bit_and_pays_its_latency():
    # Llama-3.1-70B on 4 H100 SXM, W8A8, decode at batch 1: each all-reduce moves 2·(4−1)/4·T·h elements
    # at 2 bytes over a 450 GB/s link, in 2·(4−1) hops of the catalog's per-hop latency α
    hardware = rl.get_hardware("h100-sxm")
    alpha_s = hardware.link_latency_s
    assert alpha_s is not None and 0 < alpha_s < 1e-4
    table = rl.operator_table("llama-3.1-70b", hardware, rl.Workload(weight_bits=8, act_bits=8, kv_bits=8, tp=4),
                              phases="decode")
    reduce = row(table, "decode", "mlp_allreduce")
    link_bytes = 2 * 3 / 4 * 1 * H70 * 2
    assert reduce["link_bytes"] == link_bytes
    assert reduce["time_s"] == pytest.approx(2 * 3 * alpha_s + link_bytes / 450e9)
    assert reduce["bound"] == "link"
    # the latency, not the 24 KiB, sets it: the latency is over 90% of the all-reduce's time
    assert 2 * 3 * alpha_s / reduce["time_s"] > 0.9
    totals = rl.totals("llama-3.1-70b", hardware, rl.Workload(weight_bits=8, act_bits=8, kv_bits=8, tp=4))
    assert totals["decode"]["time_s"] == pytest.approx((table["time_s"] * table["count"]).sum())


# --- memory as a server sees it --------------------------------------------------------------------------

def test_kv_cache_is_sized_at_prompt_plus_output():
    # Llama-33B: 2 (K and V) · 60 layers · 52 heads · 128 · 2 B per position; 1,024 + 256 positions
    fit = memory_footprint("llama-33b", "a40", rl.Workload(batch=1, seq_len=1024, output_len=256))
    assert fit.kv_cache_bytes == 2 * 60 * 52 * 128 * 2 * (1024 + 256) == 2_044_723_200
    assert fit.kv_positions == 1280
    prompt_only = memory_footprint("llama-33b", "a40", rl.Workload(batch=1, seq_len=1024, output_len=0))
    assert prompt_only.kv_cache_bytes == 2 * 60 * 52 * 128 * 2 * 1024


def test_capacity_is_the_reported_memory_times_the_utilisation():
    # an A40 reports 46,068 MiB (nvidia-smi); an H100 SXM 81,559 MiB
    assert capacity_bytes(rl.get_hardware("a40"), rl.Workload()) == pytest.approx(46_068 * 2**20 * 0.9)
    assert capacity_bytes(rl.get_hardware("h100-sxm"), rl.Workload(gpu_memory_utilization=1.0)) == 81_559 * 2**20
    # a device file without a reported figure: its datasheet GB read as decimal, the lower reading
    device = rl.custom_hardware("Mine", bandwidth_gb_s=1000, peak_tflops=100, memory_gb=32)
    assert capacity_bytes(device, rl.Workload(gpu_memory_utilization=0.5)) == 16e9


def test_llama_3_1_70b_4_bit_batch_16_fits_an_h100_with_fused_activations():
    # Weights: 80 · (2·h² + 2·h·1024 + 3·h·I) linear parameters at 4 bits, embedding and lm_head
    # (V·h each) and 161 norm gains of h at 16 bits.
    linear = L70 * (2 * H70 * H70 + 2 * H70 * 1024 + 3 * H70 * I70)
    weights = linear / 2 + 2 * V70 * H70 * 2 + (2 * L70 + 1) * H70 * 2
    # KV cache: 16 sequences · (4,096 + 256) positions · 80 layers · 2 · 8 heads · 128 · 2 B
    kv = 16 * (4096 + 256) * L70 * 2 * KV70 * 128 * 2
    # Peak activations, fused attention. A decode step (the fit) holds 16 tokens: its widest operator is
    # lm_head, reading 16 · h and writing 16 · V logits at 2 B (the SwiGLU's 3 · 16 · I is smaller). A
    # one-pass prefill (beside the fit) holds T = 16 · 4,096 tokens, and there the SwiGLU's 3 · T · I
    # wins, since prefill computes logits for the last token only (the unfused score matrix would be
    # 16 · 64 · 4,096² · 2 B = 34.4 GB written, read and written again: 68.7 GB).
    activations = (16 * H70 + 16 * V70) * 2
    assert activations > 3 * 16 * I70 * 2
    prefill_activations = 3 * 16 * 4096 * I70 * 2
    fit = memory_footprint("llama-3.1-70b", "h100-sxm", rl.Workload(batch=16, seq_len=4096, weight_bits=4))
    assert fit.weights_bytes == weights
    assert fit.kv_cache_bytes == kv
    assert fit.activations_bytes == activations
    assert fit.capacity_bytes == pytest.approx(81_559 * 2**20 * 0.9)
    assert fit.prefill_activations_bytes == prefill_activations
    assert weights + kv + activations == pytest.approx(61.25e9, rel=1e-3)  # 38.43 + 22.82 + 0.0044 GB
    assert weights + kv + activations < 81_559 * 2**20 * 0.9
    assert fit.fits and fit.verdict("the H100").startswith("Fits: 61.3 GB needed of the 77.0 GB")
    # a one-pass prefill of all 16 prompts (72.5 GB) would fit as well
    assert weights + kv + prefill_activations == pytest.approx(72.52e9, rel=1e-3) and fit.one_pass_prefill_fits
    # the chart's unfused IO model does not change what a server needs
    unfused = memory_footprint("llama-3.1-70b", "h100-sxm",
                               rl.Workload(batch=16, seq_len=4096, weight_bits=4, attention_io="unfused"))
    assert unfused.total_bytes == fit.total_bytes


def test_tensor_parallel_weights_replicate_kv_heads_beyond_their_count():
    # Llama-3.1-70B over 16 devices: 64/16 = 4 query heads each, but only 8 K/V heads for 16 devices,
    # so every device holds one whole K/V head: k_proj and v_proj are h·128 each, not h·128/2.
    tp = 16
    per_layer = (H70 * 4 * 128 * 2  # q_proj and o_proj: 4 heads of 128
                 + 2 * H70 * 128  # k_proj and v_proj: one K/V head each
                 + 3 * H70 * I70 // tp  # gate, up, down: I/16
                 + 2 * H70)  # the two norm gains, replicated
    expected = L70 * per_layer + 2 * V70 // tp * H70 + H70
    model = rl.load_model("llama-3.1-70b")
    assert model.parameter_count(tp) == expected
    assert model.parameter_count(tp) > model.parameter_count() / tp  # params/tp would be low
    # and the operator table reads exactly those weights in one decode step
    table = rl.operator_table(model, "h100-sxm", rl.Workload(tp=tp), phases="decode")
    # (the embedding gathers one row of its table per token: 1 · h of its V/16 · h entries)
    read = expected - V70 // tp * H70 + 1 * H70
    assert (table["weight_bytes"] * table["count"]).sum() == read * 2


def test_mla_cache_is_the_latent_on_every_device():
    # DeepSeek-V3 absorbed: 61 layers · (512 + 64) elements per position, the same on each of 8 devices
    assert kv_cache_bytes(rl.load_model("deepseek-v3"), 1, 1000, 16, tp=8) == 61 * 576 * 1000 * 2


# --- decode attention per cached position -------------------------------------------------------------

@pytest.mark.parametrize("model, hardware, work, form, cached, intensity", [
    # MHA, 16 bits: 52 heads · (4·128 + 5) FLOPs over 2·52·128 elements of 2 B: 1.01 FLOP/byte
    ("llama-33b", "a40", rl.Workload(), "MHA", 2 * 52 * 128, 52 * (4 * 128 + 5) / (2 * 52 * 128 * 2)),
    # GQA: 64 query heads share 8 K/V heads: 8.08 FLOP/byte
    ("llama-3.1-70b", "a40", rl.Workload(), "GQA", 2 * 8 * 128, 64 * (4 * 128 + 5) / (2 * 8 * 128 * 2)),
    # MLA on 8 devices at 8 bits: 16 heads each score the 576-wide latent and sum its 512: 60.6 FLOP/byte
    ("deepseek-v3", "h200-sxm", rl.Workload(weight_bits=8, act_bits=8, kv_bits=8, tp=8), "MLA, absorbed", 576,
     16 * (2 * (576 + 512) + 5) / (576 * 1)),
    # on one device all 128 heads share it: 483 FLOP/byte at 8 bits, past the H200's 16-bit ridge of 206
    ("deepseek-v3", "h200-sxm", rl.Workload(kv_bits=8), "MLA, absorbed", 576, 128 * (2 * (576 + 512) + 5) / 576),
    # naive: each of the 128 heads caches its 192-wide K and 128-wide V: about 2/kv FLOP/byte
    ("deepseek-v3", "h200-sxm", rl.Workload(mla="naive"), "MLA, naive", 128 * (192 + 128),
     (2 * (192 + 128) + 5) / ((192 + 128) * 2)),
])
def test_decode_attention_intensity_per_cached_position(model, hardware, work, form, cached, intensity):
    from roofline_utils.findings import decode_attention

    found = decode_attention(model, hardware, work)
    assert (found.form, found.cached_elements) == (form, cached)
    assert found.intensity == pytest.approx(intensity)
    assert (found.naive is not None) == (form == "MLA, absorbed")


def test_mla_decode_attention_is_compute_bound_on_one_h200_fused_at_long_context():
    from roofline_utils.findings import decode_attention

    # fused, 8-bit cache, 32k positions: the table's intensity nears the formula's 483 > the 206 ridge
    found = decode_attention("deepseek-v3", "h200-sxm", rl.Workload(kv_bits=8, seq_len=32768, attention_io="fused"))
    assert found.ridge == pytest.approx(989.4e12 / 4.8e12)
    assert found.table_intensity > found.ridge and found.bound == "compute"
    assert found.naive.bound == "memory"
