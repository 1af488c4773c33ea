"""Checkpoints as shipped: a config.json's quantization_config sets the weight fields, a flag overrides
it, the ignore list keeps layers at 16 bits, and every bad config is one line naming the field.

Every expected byte count is written out by hand from the layer shapes, not taken from the code."""
import io
import json
from dataclasses import replace
from contextlib import redirect_stderr, redirect_stdout

import pandas as pd
import pytest

from roofline_utils.cli import main
from roofline_utils.errors import RooflineInputError
from roofline_utils.memory import memory_footprint, weight_bytes
from roofline_utils.models import from_hf_config, model_from_dict, preset
from roofline_utils.params import ReportParameters
from roofline_utils.quantization import ignored_operators, module_names

# A tiny Llama whose every matrix side is a multiple of 128: h = 256, f = 512, 2 heads of 128, 2 layers.
TINY = {"architectures": ["LlamaForCausalLM"], "hidden_size": 256, "intermediate_size": 512,
        "num_attention_heads": 2, "num_key_value_heads": 2, "num_hidden_layers": 2, "vocab_size": 1024,
        "tie_word_embeddings": False}
LAYERS = 2
ATTENTION = 4 * 256 * 256  # q, k, v, o: 256 × 256 each, per layer
MLP = 3 * 256 * 512  # gate, up (256 × 512), down (512 × 256), per layer
LINEAR = LAYERS * (ATTENTION + MLP)  # 1,310,720 quantised weights
# kept at 16 bits: two norm gains of 256 per layer and the final norm, embed_tokens and lm_head (1024 × 256 each)
WIDE_BYTES = (LAYERS * 2 * 256 + 256 + 2 * 1024 * 256) * 2  # 1,051,136 B


def tiny(tmp_path, quantization, base=TINY):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**base, "quantization_config": quantization}))
    return path


def checkpoint_bytes(path) -> float:
    params = ReportParameters(model=str(path))
    return weight_bytes(params.model_config(), params.workload())


def test_the_tiny_shapes_are_what_the_hand_count_says():
    assert LINEAR == 1_310_720 and WIDE_BYTES == 1_051_136
    assert model_from_dict(TINY, "tiny").parameter_count() == LINEAR + WIDE_BYTES // 2


def test_fp8_block_128x128_is_one_byte_per_weight_and_a_float32_scale_per_block(tmp_path):
    path = tiny(tmp_path, {"quant_method": "fp8", "fmt": "e4m3", "activation_scheme": "dynamic",
                           "weight_block_size": [128, 128]})
    # blocks: ceil(rows/128)·ceil(cols/128) per matrix: 2·2 for each of q, k, v, o; 2·4 for gate, up, down
    blocks = LAYERS * (4 * (2 * 2) + 3 * (2 * 4))
    assert blocks == 80
    assert checkpoint_bytes(path) == LINEAR * 1 + blocks * 4 + WIDE_BYTES == 2_362_176


def test_fp8_per_tensor_is_one_byte_per_weight(tmp_path):
    path = tiny(tmp_path, {"quant_method": "fp8", "activation_scheme": "static"})
    # one float32 scale per matrix (7 per layer: 56 B in all) is not counted, as per-channel scales are not
    assert checkpoint_bytes(path) == LINEAR + WIDE_BYTES == 2_361_856


def test_awq_int4_groups_of_128_with_zero_points(tmp_path):
    path = tiny(tmp_path, {"quant_method": "awq", "bits": 4, "group_size": 128, "zero_point": True,
                           "version": "gemm"})
    # qweight: 4 bits a weight; per group of 128, an fp16 scale (2 B) and a zero point packed at 4 bits (0.5 B)
    groups = LINEAR // 128
    assert checkpoint_bytes(path) == LINEAR * 0.5 + groups * (2 + 0.5) + WIDE_BYTES == 1_732_096


def test_gptq_symmetric_and_per_channel(tmp_path):
    grouped = tiny(tmp_path, {"quant_method": "gptq", "bits": 4, "group_size": 128, "sym": True, "desc_act": True})
    assert checkpoint_bytes(grouped) == LINEAR * 0.5 + (LINEAR // 128) * 2 + WIDE_BYTES == 1_726_976
    per_channel = tiny(tmp_path, {"quant_method": "gptq", "bits": 8, "group_size": -1, "sym": False})
    assert checkpoint_bytes(per_channel) == LINEAR * 1 + WIDE_BYTES


def test_nvfp4_is_4_bits_and_an_fp8_scale_per_16(tmp_path):
    path = tiny(tmp_path, {"quant_method": "modelopt", "quant_algo": "NVFP4", "group_size": 16,
                           "exclude_modules": ["lm_head"]})
    assert checkpoint_bytes(path) == LINEAR * 0.5 + (LINEAR // 16) * 1 + WIDE_BYTES == 1_788_416


def test_compressed_tensors_nvfp4_and_int4_read_as_the_same_widths(tmp_path):
    nvfp4 = {"quant_method": "compressed-tensors", "format": "nvfp4-pack-quantized", "ignore": ["lm_head"],
             "config_groups": {"group_0": {"targets": ["Linear"], "weights": {
                 "num_bits": 4, "type": "float", "strategy": "tensor_group", "group_size": 16, "symmetric": True}}}}
    assert checkpoint_bytes(tiny(tmp_path, nvfp4)) == LINEAR * 0.5 + LINEAR // 16 + WIDE_BYTES
    w4a16 = {"quant_method": "compressed-tensors", "format": "pack-quantized", "config_groups": {"group_0": {
        "targets": ["Linear"], "weights": {"num_bits": 4, "type": "int", "strategy": "group", "group_size": 128,
                                           "symmetric": False}}}}
    assert checkpoint_bytes(tiny(tmp_path, w4a16)) == LINEAR * 0.5 + (LINEAR // 128) * 2.5 + WIDE_BYTES


def test_mxfp4_with_gpt_oss_ignore_list_keeps_attention_at_16_bits(tmp_path):
    # gpt-oss's quantization_config, as its config.json ships it
    path = tiny(tmp_path, {"modules_to_not_convert": ["model.layers.*.self_attn", "model.layers.*.mlp.router",
                                                      "model.embed_tokens", "lm_head"], "quant_method": "mxfp4"})
    params = ReportParameters(model=str(path))
    assert params.workload().keep_16bit_ops == ("embedding", "q_proj", "k_proj", "v_proj", "o_proj", "lm_head")
    mlp = LAYERS * MLP
    # attention at 2 B a weight; the MLP at 4 bits with one 8-bit (1 B) e8m0 scale per 32
    assert checkpoint_bytes(path) == LAYERS * ATTENTION * 2 + mlp * 0.5 + (mlp // 32) * 1 + WIDE_BYTES == 2_517_504
    from roofline_utils.roofline import operator_table

    table = operator_table(params.model_config(), "h100", params.workload(), phases=("decode",)).set_index("operator")
    assert table.loc["q_proj", "weight_bytes"] == 256 * 256 * 2 and table.loc["up_proj", "weight_bytes"] == 256 * 512 * (0.5 + 1 / 32)
    source = params.weight_source()
    assert "from the checkpoint's quantization_config (mxfp4)" in source and "q_proj, k_proj, v_proj, o_proj" in source


# DeepSeek-V3 by hand (config.json: h 7168, V 129,280, 61 layers, the first 3 dense (f 18,432), 58 MoE layers of
# 256 experts and 1 shared of 2,048, MLA with r_q 1,536, r_kv 512, d_rope 64, d_nope 128, d_v 128, 128 heads)
H, V = 7168, 129_280
ATTN_V3 = [(H, 1536), (1536, 128 * 192), (H, 512 + 64), (512, 128 * (128 + 128)), (128 * 128, H)]  # q_a, q_b, kv_a, kv_b, o
DENSE_V3 = [(H, 18_432), (H, 18_432), (18_432, H)]
EXPERT_V3 = [(H, 2048), (H, 2048), (2048, H)]
QUANTISED_V3 = (61 * sum(r * c for r, c in ATTN_V3) + 3 * sum(r * c for r, c in DENSE_V3)
                + 58 * (256 + 1) * sum(r * c for r, c in EXPERT_V3))
# at 16 bits: norm gains (attn, q_a, kv_a, mlp per layer; the final one), the router of each MoE layer, embed + lm_head
WIDE_V3 = 61 * (H + 1536 + 512 + H) + H + 58 * H * 256 + 2 * V * H


def test_deepseek_v3_preset_ships_its_real_quantization_config():
    fmt = preset("deepseek-v3").quantization
    assert (fmt.method, fmt.weight_bits, fmt.group_weights, fmt.scale_bits, fmt.zero_point) == ("fp8", 8, 128 * 128, 32, False)
    assert "e4m3" in fmt.label and "dynamic" in fmt.activations


def test_deepseek_v3_weights_are_about_one_byte_per_parameter():
    assert QUANTISED_V3 == 669_065_609_216 and WIDE_V3 == 1_960_795_136
    assert QUANTISED_V3 + WIDE_V3 == 671_026_404_352  # the published 671B
    params = ReportParameters(model="deepseek-v3", hardware="h200", tp=8)
    model, work = params.model_config(), params.workload()
    # one float32 scale per 128·128 weights: QUANTISED_V3 / 16,384 · 4 B
    counted = QUANTISED_V3 + QUANTISED_V3 / 16_384 * 4 + WIDE_V3 * 2
    assert weight_bytes(model, replace(work, tp=1)) == counted
    assert counted == 673_150_545_584  # 673 GB (the MTP module, 11.5B more, is left out), not 1,342 GB
    # the real scale count, ceil(rows/128)·ceil(cols/128) per matrix: kv_a_proj's 576 columns take 5 blocks,
    # where the count per weight gives 4.5: 61 · 56 half blocks · 4 B = 6,832 B short, nothing else
    real_blocks = sum(n * -(-r // 128) * -(-c // 128) for n, shapes in ((61, ATTN_V3), (3, DENSE_V3), (58 * 257, EXPERT_V3))
                      for r, c in shapes)
    assert real_blocks * 4 - QUANTISED_V3 / 16_384 * 4 == 61 * 56 * 0.5 * 4 == 6_832
    fit = memory_footprint(model, "h200", ReportParameters(model="deepseek-v3", hardware="h200").workload())
    assert 670e9 < fit.weights_bytes < 680e9 and fit.total_bytes < 700e9


def test_a_flag_overrides_the_checkpoint():
    sixteen = ReportParameters(model="deepseek-v3", weights_from="flags")
    assert not sixteen.checkpoint_weights()
    assert weight_bytes(sixteen.model_config(), sixteen.workload()) == 671_026_404_352 * 2  # 1,342 GB
    assert "16-bit, from the weight_* parameters; the checkpoint's quantization_config" in sixteen.weight_source()
    # a weight field set away from its default wins too, without weights_from
    four = ReportParameters(model="deepseek-v3", weight_bits=4, weight_group_size=128)
    assert (four.workload().weight_bits, four.workload().weight_scale_bits) == (4, 16) and not four.checkpoint_weights()


def run(*argv):
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def test_the_cli_says_where_the_weights_come_from():
    code, out, err = run("table", "--model", "deepseek-v3", "--hardware", "h200", "--phase", "decode")
    assert code == 0
    assert "roofline: note: weights: FP8 (e4m3), 128×128 blocks with a float32 scale each (8.002 bits per weight), " \
           "from the checkpoint's quantization_config (fp8)" in err
    q_a = pd.read_csv(io.StringIO(out)).set_index("operator").loc["q_a_proj"]
    assert q_a["weight_bytes"] == H * 1536 * (1 + 4 / 16_384)
    code, out, err = run("table", "--model", "deepseek-v3", "--hardware", "h200", "--phase", "decode",
                         "--weight-bits", "16")
    assert code == 0 and "weights: 16-bit, from --weight-bits; the checkpoint's quantization_config" in err
    assert pd.read_csv(io.StringIO(out)).set_index("operator").loc["q_a_proj", "weight_bytes"] == H * 1536 * 2
    code, out, err = run("table", "--model", "deepseek-v3", "--bits", "8", "--phase", "decode")
    assert code == 0 and "weights: 8-bit, from --bits" in err
    code, _, err = run("table", "--model", "llama-33b")  # no quantization_config: no note
    assert code == 0 and "weights:" not in err


def test_the_abstract_and_the_model_card_name_the_source():
    from roofline_utils.findings import abstract
    from roofline_utils.summary import model_card

    text = abstract(ReportParameters(model="deepseek-v3", hardware="h200", tp=8))
    assert "weights as the checkpoint stores them: FP8 (e4m3), 128×128 blocks" in text
    assert "16-bit weights as given, not the checkpoint's FP8" in abstract(
        ReportParameters(model="deepseek-v3", hardware="h200", tp=8, weights_from="flags"))
    card = model_card(preset("deepseek-v3")).set_index("field")
    assert card.loc["quantization_config", "value"].startswith("fp8: FP8 (e4m3), 128×128 blocks")


MIXTRAL_TINY = {"architectures": ["MixtralForCausalLM"], "hidden_size": 256, "intermediate_size": 512,
                "num_attention_heads": 2, "num_key_value_heads": 2, "num_hidden_layers": 4, "vocab_size": 1024,
                "num_local_experts": 4, "num_experts_per_tok": 2}


@pytest.mark.parametrize("ignore, kept", [
    (["lm_head"], ("lm_head",)),  # 16-bit anyway unless quantize_head; with it too, once listed
    (["mlp.gate"], ()),  # the router, a whole component: not mlp.gate_proj
    (["re:.*self_attn\\.(q|k)_proj$"], ("q_proj", "k_proj")),
    (["*.o_proj"], ("o_proj",)),
    (["model.layers.0.mlp.down_proj", "model.layers.1.mlp.down_proj"], ("down_proj",)),
])
def test_ignore_list_entries_match_whole_components(tmp_path, ignore, kept):
    path = tiny(tmp_path, {"quant_method": "fp8", "ignored_layers": ignore})
    assert ReportParameters(model=str(path)).workload().keep_16bit_ops == kept


def test_an_ignore_list_naming_some_layers_only_is_a_note(tmp_path):
    path = tiny(tmp_path, {"quant_method": "awq", "bits": 4, "modules_to_not_convert": ["model.layers.0.mlp.down_proj"]})
    found = ignored_operators(from_hf_config(path))
    assert found.kept_16bit == () and found.partly == (
        "the quantization_config's ignore list names down_proj in 1 of 2 layers: counted quantised in all of them "
        "(one width per operator)",)
    code, _, err = run("table", "--model", str(path))
    assert code == 0 and "note: the quantization_config's ignore list names down_proj in 1 of 2 layers" in err


def test_experts_and_routers_by_their_checkpoint_names(tmp_path):
    model = model_from_dict({**MIXTRAL_TINY, "quantization_config": {
        "quant_method": "gptq", "bits": 4, "modules_to_not_convert": ["block_sparse_moe.experts"]}}, "m")
    assert module_names(model, "gate_proj")[0] == "model.layers.0.block_sparse_moe.experts.0.w1"
    assert module_names(model, "router")[-1] == "model.layers.3.block_sparse_moe.gate"
    assert ignored_operators(model).kept_16bit == ("gate_proj", "up_proj", "down_proj")
    v3 = preset("deepseek-v3")
    assert module_names(v3, "kv_a_proj")[0] == "model.layers.0.self_attn.kv_a_proj_with_mqa"
    assert module_names(v3, "dense_gate_proj") == tuple(f"model.layers.{i}.mlp.gate_proj" for i in range(3))
    assert module_names(v3, "shared_down_proj")[0] == "model.layers.3.mlp.shared_experts.down_proj"
    assert module_names(v3, "embedding") == ("model.embed_tokens",)


@pytest.mark.parametrize("quantization, message", [
    ("fp8", "quantization_config: must be a JSON object in "),
    ({"bits": 4}, "quantization_config.quant_method: None in "),
    ({"quant_method": "bitsandbytes"}, "quantization_config.quant_method: 'bitsandbytes' in "),
    ({"quant_method": "fp8", "fmt": "e3m4"}, "quantization_config.fmt: 'e3m4' in "),
    ({"quant_method": "fp8", "activation_scheme": "per-token"}, "quantization_config.activation_scheme: 'per-token'"),
    ({"quant_method": "fp8", "weight_block_size": [128]}, "quantization_config.weight_block_size: [128] in "),
    ({"quant_method": "fp8", "weight_block_size": [128, 0]}, "quantization_config.weight_block_size: [128, 0]"),
    ({"quant_method": "fp8", "weight_block_size": [128, True]}, "quantization_config.weight_block_size: [128, True]"),
    ({"quant_method": "fp8", "weight_block_size": "128x128"}, "quantization_config.weight_block_size: '128x128'"),
    ({"quant_method": "awq", "bits": 3}, "quantization_config.bits: 3 in "),
    ({"quant_method": "awq", "group_size": 0}, "quantization_config.group_size: 0 in "),
    ({"quant_method": "awq", "group_size": "128"}, "quantization_config.group_size: '128' in "),
    ({"quant_method": "awq", "zero_point": "yes"}, "quantization_config.zero_point: must be true or false"),
    ({"quant_method": "gptq", "bits": 2}, "quantization_config.bits: 2 in "),
    ({"quant_method": "gptq", "group_size": 128}, "quantization_config.bits: missing from "),
    ({"quant_method": "gptq", "bits": 4, "sym": "no"}, "quantization_config.sym: must be true or false"),
    ({"quant_method": "gptq", "bits": 4, "desc_act": 1}, "quantization_config.desc_act: must be true or false"),
    ({"quant_method": "gptq", "bits": 4, "dynamic": {"-:.*lm_head": {}}}, "quantization_config.dynamic: per-module"),
    ({"quant_method": "modelopt", "quant_algo": "W4A8_AWQ"}, "quantization_config.quant_algo: 'W4A8_AWQ' in "),
    ({"quant_method": "modelopt"}, "quantization_config.quant_algo: None in "),
    ({"quant_method": "modelopt", "quant_algo": "NVFP4", "group_size": 32}, "quantization_config.group_size: 32 in "),
    ({"quant_method": "compressed-tensors"}, "quantization_config.config_groups: must be an object"),
    ({"quant_method": "compressed-tensors", "config_groups": {"a": {"targets": ["Linear"]}}},
     "quantization_config.config_groups.weights: missing"),
    ({"quant_method": "compressed-tensors", "config_groups": {
        "a": {"weights": {"num_bits": 4, "type": "int", "strategy": "group", "group_size": 128}},
        "b": {"weights": {"num_bits": 8, "type": "int", "strategy": "channel"}}}},
     "quantization_config.config_groups: 2 groups with different weight schemes"),
    ({"quant_method": "compressed-tensors", "config_groups": {"a": {"weights": {"num_bits": 4, "type": "fp"}}}},
     "quantization_config.config_groups.weights.type: 'fp' in "),
    ({"quant_method": "compressed-tensors", "config_groups": {"a": {"weights": {
        "num_bits": 4, "type": "int", "strategy": "group", "group_size": 0}}}},
     "quantization_config.config_groups.weights.group_size: 0 in "),
    ({"quant_method": "compressed-tensors", "config_groups": {"a": {"weights": {
        "num_bits": 4, "type": "int", "strategy": "group", "symmetric": "yes"}}}},
     "quantization_config.config_groups.weights.symmetric: must be true or false"),
    ({"quant_method": "compressed-tensors", "config_groups": {"a": {"weights": {"num_bits": 2, "type": "int"}}}},
     "quantization_config.config_groups.weights.num_bits: 2 in "),
    ({"quant_method": "compressed-tensors", "config_groups": {"a": {"weights": {
        "num_bits": 8, "type": "float", "strategy": "block", "block_structure": [128, 128]}}}},
     "quantization_config.config_groups.weights: type 'float', 8 bits, strategy 'block'"),
    ({"quant_method": "mxfp4", "modules_to_not_convert": "lm_head"},
     "quantization_config.modules_to_not_convert: must be a list of module names"),
    ({"quant_method": "fp8", "ignore": ["re:("]}, "quantization_config.ignore: 're:(' in "),
])
def test_a_bad_quantization_config_is_one_line_naming_the_field(tmp_path, quantization, message):
    path = tiny(tmp_path, quantization)
    with pytest.raises(RooflineInputError) as error:
        from_hf_config(path)
    text = str(error.value)
    assert text.startswith(message) and ("(allowed: " in text or "must be true or false" in text), text
    code, out, err = run("table", "--model", str(path))
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith("roofline: error: " + message.split(" in ")[0]) and "Traceback" not in err


def test_checkpoint_flag_together_with_a_weight_flag_is_one_line():
    code, out, err = run("table", "--model", "deepseek-v3", "--weights-from", "checkpoint", "--bits", "8")
    assert (code, out) == (2, "") and err == ("roofline: error: weights_from: 'checkpoint' together with --bits "
                                              "(allowed: flags (or leave out the weight flags))\n")


def test_the_python_api_applies_a_checkpoint_on_request():
    import roofline_utils as rl

    model = rl.preset("deepseek-v3")
    assert rl.memory_footprint(model, "h200", rl.Workload()).weights_bytes == 671_026_404_352 * 2  # as given
    work = rl.checkpoint_workload(model, rl.Workload())
    assert rl.memory_footprint(model, "h200", work).weights_bytes == 673_150_545_584
    assert rl.checkpoint_workload(rl.preset("llama-33b"), rl.Workload()) == rl.Workload()  # no quantization_config


def test_the_notebooks_set_up_names_the_source_only_for_a_quantised_checkpoint():
    from roofline_utils.notebook import setup

    assert setup(model="llama-33b").weights is None  # the committed notebooks' outputs stay as they are
    r = setup(model="deepseek-v3", hardware="h200", tp=8)
    assert r.workload.weight_bits == 8 and r.weights.startswith("weights: FP8 (e4m3), 128×128 blocks")
