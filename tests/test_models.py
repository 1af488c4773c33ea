import json
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
        model_from_dict({**GOOD, "architectures": ["FalconForCausalLM"]}, "x")


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
