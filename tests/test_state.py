"""What each layer kind reads per generated token (chapter 3), against byte counts derived here by hand."""
import re

import pytest

import roofline_utils as rl
from roofline_utils import state

H200 = rl.get_hardware("h200-sxm")


def reads(model: str, seq_len: int) -> dict[str, state.KindReads]:
    found = state.cache_reads(rl.load_model(model), H200, rl.Workload(seq_len=seq_len))
    return {k.kind: k for k in found.kinds}


def test_full_attention_reads_every_cached_k_and_v():
    # Llama-33B: 52 heads of 128, 16 bits: 2 · 4,096 · 52 · 128 · 2 bytes per layer, 60 layers
    kind = reads("llama-33b", 4096)["full attention"]
    assert (kind.layers, kind.read_bytes, kind.read_bytes_doubled) == (60, 2 * 4096 * 52 * 128 * 2, 2 * 8192 * 52 * 128 * 2)
    assert kind.written_bytes == 2 * 52 * 128 * 2  # the new position's K and V


def test_a_sliding_window_stops_growing_at_its_window():
    # Mistral-7B windows every layer at 4,096: 8 K/V heads of 128
    kind = reads("mistral-7b", 3000)["sliding-window attention"]
    assert kind.read_bytes == 2 * 3000 * 8 * 128 * 2 and kind.read_bytes_doubled == 2 * 4096 * 8 * 128 * 2
    assert state.growth_words(kind).startswith("partly: until the window is full")


def test_gated_deltanet_reads_a_fixed_state_and_full_attention_grows():
    # Qwen3.5-27B: 48 linear layers, 48 value heads, dk = dv = 128, the state in fp32, plus the conv state of
    # (4 - 1) · (2 · 16 · 128 + 48 · 128) 16-bit values; 16 full-attention layers of 4 K/V heads of 256
    kinds = reads("qwen3.5-27b", 4096)
    deltanet, full = kinds["Gated DeltaNet"], kinds["full attention"]
    assert deltanet.layers == 48 and full.layers == 16
    assert deltanet.read_bytes == deltanet.read_bytes_doubled == 48 * 128 * 128 * 4 + 3 * (2 * 16 * 128 + 48 * 128) * 2
    assert full.read_bytes == 2 * 4096 * 4 * 256 * 2 and state.growth_words(deltanet) == "no: a fixed state"
    text = state.cache_reads_markdown(state.cache_reads(rl.load_model("qwen3.5-27b"), H200, rl.Workload(seq_len=4096)))
    fixed = 48 * deltanet.read_bytes / (48 * deltanet.read_bytes + 16 * full.read_bytes)
    assert f"{fixed:.0%} does not grow with the context (Gated DeltaNet's state)" in text
    assert "16 of the 64 layers" in text


def test_sparse_attention_reads_every_index_key_and_the_top_k_latents():
    # DeepSeek-V3.2: 132 bytes of FP8 index key and scale per position, then 2,048 latents of 512 + 64 at 16 bits
    kind = reads("deepseek-v3.2", 4096)["DeepSeek sparse attention"]
    assert kind.read_bytes == 4096 * 132 + 2048 * 576 * 2
    assert kind.read_bytes_doubled == 8192 * 132 + 2048 * 576 * 2
    assert state.growth_words(kind).startswith("partly: the index keys do")


def test_mamba_reads_its_state_whatever_the_length():
    kinds = reads("nemotron-3-super-120b-a12b", 4096)
    assert kinds["Mamba-2"].read_bytes == kinds["Mamba-2"].read_bytes_doubled > 0
    assert kinds["full attention"].read_bytes_doubled == 2 * kinds["full attention"].read_bytes


@pytest.mark.parametrize("model", ["llama-33b", "mistral-7b", "gemma-2-9b", "gpt-oss-120b", "deepseek-v3",
                                   "deepseek-v3.2", "qwen3.5-27b", "nemotron-3-super-120b-a12b"])
def test_the_sentence_adds_up_to_the_table(model):
    found = state.cache_reads(rl.load_model(model), H200, rl.Workload(seq_len=4096))
    text = state.cache_reads_markdown(found)
    total = sum(k.read_bytes * k.layers for k in found.kinds)
    assert f"**{rl.units.nbytes(total)}**" in text
    shares = [int(x) for x in re.findall(r"(\d+)% does", text)]
    assert not shares or abs(sum(shares) - 100) <= 1
    assert "nan" not in text and "inf" not in text


def test_the_memory_table_names_what_the_cache_holds():
    from roofline_utils.findings import markdown

    def row(model):
        return markdown(rl.memory_footprint(model, "h200-sxm", rl.Workload())).splitlines()[3]
    assert row("llama-33b").startswith("| KV cache, 1,280 positions")
    assert row("qwen3.5-27b").startswith("| KV cache and recurrent state, ")
    assert row("deepseek-v3.2").startswith("| KV cache and index keys, ")


def test_chunked_attention_reads_at_most_one_chunk():
    # Llama 4 Scout: 36 chunked layers of 8 K/V heads of 128, chunks of 8,192. At 10,000 tokens a chunked layer
    # reads ((10,000 - 1) mod 8,192) + 1 = 1,808 positions, at 20,000 tokens 3,616: a sawtooth, not growth
    found = state.cache_reads(rl.load_model("llama-4-scout"), H200, rl.Workload(seq_len=10_000))
    chunked = {k.kind: k for k in found.kinds}["chunked attention"]
    assert chunked.read_bytes == 2 * 1808 * 8 * 128 * 2 and chunked.read_bytes_doubled == 2 * 3616 * 8 * 128 * 2
    text = state.cache_reads_markdown(found)
    assert "no: at most one chunk of 8,192" in text and "does not grow with the context (chunked attention" in text
    early = state.cache_reads_markdown(state.cache_reads(rl.load_model("llama-4-scout"), H200, rl.Workload(seq_len=4096)))
    assert "in proportion until the first chunk of 8,192 is full" in early and "all of it grows in proportion" in early
