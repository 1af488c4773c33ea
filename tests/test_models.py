import json
import re
from pathlib import Path

import pytest

from roofline_utils import RooflineInputError, from_hf_config, load_model, preset, preset_names
from roofline_utils.models import model_from_dict


def test_llama_33b_preset_fields():
    m = preset("llama-33b")
    assert (m.hidden_size, m.intermediate_size, m.num_attention_heads, m.num_key_value_heads,
            m.num_hidden_layers, m.vocab_size, m.head_dim, m.tie_word_embeddings) == \
        (6656, 17920, 52, 52, 60, 32000, 128, False)


def test_parameter_count_by_hand():
    # per layer: 4·6656² (q,k,v,o) = 177,209,344; 3·6656·17920 (MLP) = 357,826,560; 2·6656 norms = 13,312
    per_layer = 177_209_344 + 357_826_560 + 13_312
    # + embedding and untied lm_head (32000·6656 each) + final norm
    assert preset("llama-33b").parameter_count() == 60 * per_layer + 2 * 212_992_000 + 6656 == 32_528_943_616


def test_config_json_matches_preset(llama33b_config_json):
    from_file = from_hf_config(llama33b_config_json)
    assert from_file.name == "Llama-33b-local"
    assert from_file.parameter_count() == preset("llama-33b").parameter_count()
    assert load_model(str(llama33b_config_json.parent)).hidden_size == 6656


def test_llama1_config_without_kv_heads_is_multi_head():
    cfg = {"architectures": ["LlamaForCausalLM"], "hidden_size": 4096, "intermediate_size": 11008,
           "num_attention_heads": 32, "num_hidden_layers": 32, "vocab_size": 32000}
    assert model_from_dict(cfg, "x").num_key_value_heads == 32


def test_head_dim_field_wins_over_the_quotient():
    cfg = {"model_type": "llama", "hidden_size": 4096, "intermediate_size": 11008, "head_dim": 64,
           "num_attention_heads": 32, "num_key_value_heads": 8, "num_hidden_layers": 2, "vocab_size": 100}
    model = model_from_dict(cfg, "x")
    assert model.q_dim == 32 * 64 and model.kv_dim == 8 * 64


GOOD = {"architectures": ["LlamaForCausalLM"], "hidden_size": 6656, "intermediate_size": 17920,
        "num_attention_heads": 52, "num_key_value_heads": 52, "num_hidden_layers": 60, "vocab_size": 32000}


@pytest.mark.parametrize("change, field", [
    ({"hidden_size": None}, "hidden_size"),
    ({"num_hidden_layers": 0}, "num_hidden_layers"),
    ({"vocab_size": -5}, "vocab_size"),
    ({"intermediate_size": "big"}, "intermediate_size"),
    ({"num_key_value_heads": 5}, "num_key_value_heads"),  # 5 does not divide 52
    ({"hidden_size": 6650}, "head_dim"),  # not a multiple of 52 heads and no head_dim
    ({"tie_word_embeddings": "no"}, "tie_word_embeddings"),
    ({"architectures": ["BloomForCausalLM"]}, "architectures"),
    ({"architectures": ["GPT2LMHeadModel"]}, "n_embd"),  # GPT-2 is read by its own field names
])
def test_bad_config_names_the_field(tmp_path, change, field):
    cfg = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    with pytest.raises(RooflineInputError, match=f"^{field}"):
        from_hf_config(path)


def test_unsupported_architecture_lists_the_supported_ones():
    with pytest.raises(RooflineInputError, match="LlamaForCausalLM.*MixtralForCausalLM"):
        model_from_dict({**GOOD, "architectures": ["BloomForCausalLM"]}, "x")


def test_not_json_and_missing_file_are_clear(tmp_path):
    path = tmp_path / "config.json"
    path.write_text("{not json")
    with pytest.raises(RooflineInputError, match="not valid JSON"):
        from_hf_config(path)
    with pytest.raises(RooflineInputError, match="does not exist"):
        from_hf_config(tmp_path / "nowhere" / "config.json")


def test_unknown_preset_lists_the_presets():
    with pytest.raises(RooflineInputError, match="llama-33b"):
        preset("llama-34b")


def test_presets_of_every_family():
    assert {"llama-7b", "llama-13b", "llama-33b", "llama-65b", "llama-2-7b", "llama-2-13b", "llama-2-70b",
            "llama-3.1-8b", "llama-3.1-70b", "llama-3.1-405b", "mistral-7b", "mixtral-8x7b", "qwen2.5-7b",
            "qwen2.5-72b"} <= set(preset_names())
    assert preset("llama-2-70b").num_key_value_heads == 8
    assert preset("qwen2.5-7b").attention_bias and not preset("llama-3.1-8b").attention_bias
    assert preset("mistral-7b").sliding_window == 4096
    mixtral = preset("mixtral-8x7b")
    assert (mixtral.num_experts, mixtral.experts_per_token) == (8, 2)
    # published sizes: Llama-2-70B 68.98 B, Llama-3.1-8B 8.03 B, Mixtral 46.70 B, Qwen2.5-7B 7.62 B
    for name, billions in [("llama-2-70b", 68.98), ("llama-3.1-8b", 8.03), ("mixtral-8x7b", 46.70),
                           ("qwen2.5-7b", 7.62)]:
        assert preset(name).parameter_count() / 1e9 == pytest.approx(billions, abs=0.01)


@pytest.mark.parametrize("name, shown", [("llama-33b", "Llama 33B"), ("deepseek-v3", "DeepSeek V3"),
                                         ("qwen3-235b-a22b", "Qwen3 235B A22B"), ("mixtral-8x7b", "Mixtral 8x7B"),
                                         ("qwen2.5-7b", "Qwen2.5 7B"), ("llama-3.1-8b", "Llama 3.1 8B")])
def test_display_names_keep_their_capitals(name, shown):
    assert preset(name).display_name == shown


def test_dense_and_moe_layers_follow_the_config_layout():
    # DeepSeek: the first 3 layers dense, then every 2nd from layer 3 is MoE (3, 5, 7, 9): 6 dense of 10
    ds = json.loads(Path(__file__).resolve().parent.parent.joinpath(
        "roofline_utils/data/models/deepseek-v3.json").read_text())
    model = model_from_dict({**ds, "num_hidden_layers": 10, "first_k_dense_replace": 3, "moe_layer_freq": 2}, "x")
    assert (model.num_dense_layers, model.num_moe_layers) == (6, 4)
    # Qwen3-MoE: decoder_sparse_step 2 makes layers 1, 3, 5, 7 MoE; mlp_only_layers [1] takes one back
    qwen = json.loads(Path(__file__).resolve().parent.parent.joinpath(
        "roofline_utils/data/models/qwen3-30b-a3b.json").read_text())
    model = model_from_dict({**qwen, "num_hidden_layers": 8, "decoder_sparse_step": 2, "mlp_only_layers": [1]}, "x")
    assert (model.num_dense_layers, model.num_moe_layers) == (5, 3)


# Vision-language wrappers: the text model sits in text_config; the vision tower is left out, in one sentence.
GEMMA3_4B_IT = {  # google/gemma-3-4b-it's config.json as published: a sparse text_config, Gemma3TextConfig fills the rest
    "architectures": ["Gemma3ForConditionalGeneration"], "boi_token_index": 255999, "eoi_token_index": 256000,
    "eos_token_id": [1, 106], "image_token_index": 262144, "initializer_range": 0.02, "mm_tokens_per_image": 256,
    "model_type": "gemma3",
    "text_config": {"hidden_size": 2560, "intermediate_size": 10240, "model_type": "gemma3_text",
                    "num_hidden_layers": 34, "rope_scaling": {"factor": 8.0, "rope_type": "linear"},
                    "sliding_window": 1024},
    "torch_dtype": "bfloat16", "transformers_version": "4.50.0.dev0",
    "vision_config": {"hidden_size": 1152, "image_size": 896, "intermediate_size": 4304,
                      "model_type": "siglip_vision_model", "num_attention_heads": 16, "num_hidden_layers": 27,
                      "patch_size": 14, "vision_use_head": False}}


def gemma3_text_parameters(h, I, layers, heads, kv_heads, d, V=262_208) -> int:
    attention = h * heads * d + 2 * h * kv_heads * d + heads * d * h + 2 * d  # q, k, v, o; q/k norms d wide
    return V * h + h + layers * (attention + 3 * h * I + 4 * h)  # tied embedding; 4 norms a layer; final norm


def test_gemma3_wrapper_reads_the_text_model_and_says_the_vision_tower_is_left_out():
    m = model_from_dict(GEMMA3_4B_IT, "gemma-3-4b")
    # Gemma3TextConfig's defaults: 8 heads, 4 K/V heads, head_dim 256, vocab 262,208, GeGLU
    assert (m.architecture, m.hidden_size, m.num_attention_heads, m.num_key_value_heads, m.head_dim, m.vocab_size,
            m.hidden_act, m.max_position_embeddings) == \
        ("Gemma3ForCausalLM", 2560, 8, 4, 256, 262_208, "gelu_pytorch_tanh", 131_072)
    assert (m.sliding_window, m.num_sliding_layers) == (1024, 34 - 34 // 6)  # 29 local, 5 global
    assert m.parameter_count() == gemma3_text_parameters(2560, 10240, 34, 8, 4, 256) == 3_880_263_168
    vision = [n for n in m.notes if "vision tower" in n]
    assert len(vision) == 1 and "text_config" in vision[0] and vision[0].count(". ") == 0  # one sentence
    assert any("Gemma3TextConfig's defaults" in n and "vocab_size 262,208" in n for n in m.notes)


def test_gemma3_27b_preset_is_the_real_wrapper_file():
    raw = json.loads(Path(__file__).resolve().parent.parent.joinpath(
        "roofline_utils/data/models/gemma-3-27b.json").read_text())
    assert raw["architectures"] == ["Gemma3ForConditionalGeneration"] and "vision_config" in raw
    m = preset("gemma-3-27b")
    assert (m.hidden_size, m.num_attention_heads, m.num_key_value_heads, m.head_dim, m.num_hidden_layers,
            m.sliding_window, m.vocab_size) == (5376, 32, 16, 128, 62, 1024, 262_208)
    assert m.parameter_count() == gemma3_text_parameters(5376, 21504, 62, 32, 16, 128) == 27_009_346_304
    assert any("vision tower" in n for n in m.notes)


KIMI_TEXT = {"model_type": "kimi_k2", "hidden_size": 64, "intermediate_size": 96, "moe_intermediate_size": 16,
             "num_hidden_layers": 3, "num_attention_heads": 4, "num_key_value_heads": 4, "n_routed_experts": 8,
             "n_shared_experts": 1, "num_experts_per_tok": 2, "first_k_dense_replace": 1, "q_lora_rank": 32,
             "kv_lora_rank": 16, "qk_nope_head_dim": 8, "qk_rope_head_dim": 4, "v_head_dim": 8, "vocab_size": 100,
             "max_position_embeddings": 4096}


def test_kimi_k25_wrapper_reads_its_deepseek_v3_text_model():
    # Kimi-K2.5's layout: KimiK25ForConditionalGeneration around a kimi_k2 (DeepSeek-V3: MLA + MoE) text_config
    wrapped = model_from_dict({"architectures": ["KimiK25ForConditionalGeneration"], "model_type": "kimi_k25",
                               "tie_word_embeddings": False, "text_config": KIMI_TEXT,
                               "vision_config": {"hidden_size": 1152}}, "kimi")
    plain = model_from_dict({**KIMI_TEXT, "architectures": ["DeepseekV3ForCausalLM"]}, "kimi")
    assert wrapped.architecture == "DeepseekV3ForCausalLM" and wrapped.mla and wrapped.num_experts == 8
    assert wrapped.parameter_count() == plain.parameter_count()
    assert (wrapped.num_dense_layers, wrapped.kv_lora_rank) == (1, 16)
    assert any("KimiK25ForConditionalGeneration" in n and "vision tower" in n for n in wrapped.notes)
    assert not any("vision tower" in n for n in plain.notes)


@pytest.mark.parametrize("config, field", [
    # Llama 4's wrapper with an empty text model: the first field it needs is named
    ({"model_type": "llama4", "text_config": {}}, "hidden_size"),
    ({"architectures": ["Gemma3ForConditionalGeneration"]}, "text_config"),  # a wrapper with no text model
    ({"architectures": ["Gemma3ForConditionalGeneration"], "text_config": {"model_type": "siglip"}}, "model_type"),
    ({**GEMMA3_4B_IT, "text_config": {**GEMMA3_4B_IT["text_config"], "hidden_size": 0}}, "hidden_size"),
    ({"architectures": ["GPT2LMHeadModel"], "n_embd": 8, "n_head": 2, "n_layer": 1, "vocab_size": 10,
      "activation_function": "relu"}, "activation_function"),
    ({"architectures": ["GPT2LMHeadModel"], "n_embd": 8, "n_head": 0, "n_layer": 1, "vocab_size": 10}, "n_head"),
])
def test_unsupported_fields_are_named_in_one_line(config, field):
    with pytest.raises(RooflineInputError, match=f"^{re.escape(field)}:") as error:
        model_from_dict(config, "x")
    assert "\n" not in str(error.value)
    if field.startswith("text_config.") or field == "architectures":
        assert "GPT2LMHeadModel" in str(error.value) and "Gemma3ForConditionalGeneration" in str(error.value)


def test_an_unsupported_wrapper_exits_2_in_one_line(tmp_path, capsys):
    from roofline_utils.cli import main
    path = tmp_path / "config.json"
    scout = json.loads((Path(__file__).parents[1] / "roofline_utils/data/models/llama-4-scout.json").read_text())
    scout["text_config"]["attention_chunk_size"] = None  # RoPE layers without a chunk: not supported
    path.write_text(json.dumps(scout))
    assert main(["table", "--model", str(path), "--out", str(tmp_path / "t.csv")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("roofline: error: attention_chunk_size: absent, and Llama 4's RoPE layers without a chunk")
    assert not (tmp_path / "t.csv").exists()


@pytest.mark.parametrize("name", ["gpt2", "gpt2-xl", "olmo-2-13b", "gemma-3-27b"])
def test_new_presets_give_a_finite_table(name, tmp_path, capsys):
    import numpy as np
    import pandas as pd
    from roofline_utils.cli import main
    out = tmp_path / "t.csv"
    assert main(["table", "--model", name, "--hardware", "h200-sxm", "--seq-len", "4096", "--phase", "all",
                 "--out", str(out)]) == 0
    assert "Traceback" not in capsys.readouterr().err
    numbers = pd.read_csv(out).select_dtypes("number").to_numpy()
    assert np.isfinite(numbers).all() and (numbers >= 0).all()


@pytest.mark.parametrize("name, shown", [("gpt2", "GPT-2"), ("gpt2-xl", "GPT-2 XL"), ("olmo-2-13b", "OLMo 2 13B")])
def test_classic_display_names(name, shown):
    assert preset(name).display_name == shown
