"""Model configs: a decoder-only transformer described by its Hugging Face ``config.json`` fields.

Read offline from a local ``config.json`` or a preset shipped in ``data/models/``; no
``transformers`` needed. Validation happens here, at the edge, and names the field.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Mapping

from .errors import RooflineInputError, shown
from .quantization import WeightFormat, read_quantization_config

# Architectures whose operator graph operators.py describes: decoders with RoPE, grouped-query or multi-head
# latent attention (MLA), a gated MLP (SwiGLU or GeGLU) or a mixture of such experts; and GPT-2 (LayerNorm,
# learned absolute positions, a plain GELU MLP).
SUPPORTED_ARCHITECTURES = {
    "LlamaForCausalLM": "llama",
    "MistralForCausalLM": "mistral",
    "MixtralForCausalLM": "mixtral",
    "Qwen2ForCausalLM": "qwen2",
    "Qwen3ForCausalLM": "qwen3",
    "Qwen3MoeForCausalLM": "qwen3_moe",
    "Gemma2ForCausalLM": "gemma2",
    "Gemma3ForCausalLM": "gemma3_text",
    "Phi3ForCausalLM": "phi3",
    "DeepseekV3ForCausalLM": "deepseek_v3",
    "GPT2LMHeadModel": "gpt2",
    "Olmo2ForCausalLM": "olmo2",
    "GptOssForCausalLM": "gpt_oss",
    "Qwen2MoeForCausalLM": "qwen2_moe",
    "DeepseekV2ForCausalLM": "deepseek_v2",
    "PhiMoEForCausalLM": "phimoe",  # Phi-3.5-MoE's own config.json names its remote-code class so
    "PhimoeForCausalLM": "phimoe",  # transformers' PhimoeForCausalLM (the same model)
    "DeepseekV32ForCausalLM": "deepseek_v32",  # DeepSeek-V3's MLA and MoE with DeepSeek sparse attention (DSA)
    "GlmMoeDsaForCausalLM": "glm_moe_dsa",  # GLM-5: the same blocks, its own sizes
    "Qwen3NextForCausalLM": "qwen3_next",  # Gated DeltaNet and gated attention, 3 to 1; MoE with a shared expert
    "Qwen3_5ForCausalLM": "qwen3_5_text",  # Qwen3.5's text model (the checkpoints wrap it, see WRAPPERS)
    "Qwen3_5MoeForCausalLM": "qwen3_5_moe_text",
    "NemotronHForCausalLM": "nemotron_h",  # Mamba-2, attention, MLP and MoE layers, one per layer
    "MiniMaxM2ForCausalLM": "minimax_m2",  # GQA with whole-width q/k norms; 256 experts, no shared one
    "GPTJForCausalLM": "gptj",  # attention and a GELU MLP in parallel behind one LayerNorm; partial rotary
    "FalconForCausalLM": "falcon",  # parallel attention and MLP; multi-query (7B) or grouped K/V (40B)
    "Llama4ForCausalLM": "llama4_text",  # chunked RoPE layers and global NoPE ones; top-1 MoE with a shared expert
}
# Vision-language wrappers whose text model sits in text_config: the wrapper's model_type, and the text
# model's family when text_config names neither its architectures nor its model_type.
WRAPPERS = {
    "Gemma3ForConditionalGeneration": ("gemma3", "gemma3_text"),
    "KimiK25ForConditionalGeneration": ("kimi_k25", "deepseek_v3"),
    "Qwen3_5ForConditionalGeneration": ("qwen3_5", "qwen3_5_text"),
    "Qwen3_5MoeForConditionalGeneration": ("qwen3_5_moe", "qwen3_5_moe_text"),
    "Qwen3VLForConditionalGeneration": ("qwen3_vl", "qwen3_vl_text"),
    "Llama4ForConditionalGeneration": ("llama4", "llama4_text"),
}
# text_config model_types read as a family above: Kimi K2's text model is a DeepSeek-V3 (MLA + MoE)
MODEL_TYPE_ALIASES = {"kimi_k2": "deepseek_v3", "qwen3_vl_text": "qwen3"}  # Qwen3-VL's text model is a Qwen3
# Gemma3TextConfig's defaults (transformers' configuration_gemma3.py) for the fields the wrapper's sparse
# text_config leaves out (google/gemma-3-4b-it names 6 keys, gemma-3-27b-it 10).
GEMMA3_TEXT_DEFAULTS = {"vocab_size": 262_208, "hidden_size": 2304, "intermediate_size": 9216,
                        "num_hidden_layers": 26, "num_attention_heads": 8, "num_key_value_heads": 4,
                        "head_dim": 256, "hidden_activation": "gelu_pytorch_tanh", "max_position_embeddings": 131_072}
# GPT2Config's field names (its attribute_map) and the names the rest of this module reads
GPT2_FIELDS = {"n_embd": "hidden_size", "n_head": "num_attention_heads", "n_layer": "num_hidden_layers",
               "n_positions": "max_position_embeddings"}
GPT2_POSITIONS_DEFAULT = 1024  # GPT2Config's n_positions
# the tanh form of GELU (GPT-2's gelu_new, GPT2Config's default activation); GPT-2's MLP is not gated
PLAIN_MLP_ACTIVATIONS = ("gelu_new", "gelu_pytorch_tanh", "gelu")  # gelu: Falcon's exact GELU, counted alike
PLAIN_FAMILIES = ("gpt2", "gptj", "falcon")  # LayerNorm, a GELU MLP that is not gated
# Hugging Face's MixtralConfig defaults, used when a Mixtral config leaves the fields out.
MIXTRAL_DEFAULTS = {"num_local_experts": 8, "num_experts_per_tok": 2}
PHIMOE_DEFAULTS = {"num_local_experts": 16, "num_experts_per_tok": 2}  # PhimoeConfig's
# The config field that holds the number of routed experts, per family.
EXPERT_COUNT_FIELD = {"mixtral": "num_local_experts", "qwen3_moe": "num_experts", "deepseek_v3": "n_routed_experts",
                      "gpt_oss": "num_local_experts", "qwen2_moe": "num_experts", "deepseek_v2": "n_routed_experts",
                      "phimoe": "num_local_experts", "deepseek_v32": "n_routed_experts",
                      "glm_moe_dsa": "n_routed_experts", "qwen3_next": "num_experts", "qwen3_5_moe_text": "num_experts",
                      "nemotron_h": "n_routed_experts", "minimax_m2": "num_local_experts",
                      "llama4_text": "num_local_experts"}
# Qwen2-MoE's shared expert: one, shared_expert_intermediate_size wide, scaled by a sigmoid gate (Qwen3-Next and
# Qwen3.5-MoE keep it)
GATED_SHARED_EXPERT_FAMILIES = ("qwen2_moe", "qwen3_next", "qwen3_5_moe_text")
# Families whose routed experts are intermediate_size wide (no moe_intermediate_size field)
EXPERTS_AS_WIDE_AS_MLP = ("mixtral", "gpt_oss", "phimoe", "minimax_m2", "llama4_text")  # Llama 4: intermediate_size
# DeepSeek-V2 reads as DeepSeek-V3 does (MLA, first_k_dense_replace, shared experts): DeepseekV2Config names the
# same fields; V3's e_score_correction_bias (not counted either way) and its routing are what differ
MLA_FAMILIES = ("deepseek_v3", "deepseek_v2", "deepseek_v32", "glm_moe_dsa")
# DeepSeek sparse attention (DeepseekV32Config, GlmMoeDsaConfig): the indexer's heads, width and top-k
DSA_FAMILIES = ("deepseek_v32", "glm_moe_dsa")
DSA_FIELDS = ("index_n_heads", "index_head_dim", "index_topk")
# Gated DeltaNet (Qwen3NextConfig, Qwen3_5TextConfig): the linear_attention layers' sizes; layer_types, or full
# attention every full_attention_interval-th layer (default 4)
GDN_FAMILIES = ("qwen3_next", "qwen3_5_text", "qwen3_5_moe_text")
GDN_FIELDS = ("linear_num_key_heads", "linear_num_value_heads", "linear_key_head_dim", "linear_value_head_dim",
              "linear_conv_kernel_dim")
# Nemotron-H (NemotronHConfig): each layer one block, hybrid_override_pattern's characters (or layers_block_type's
# names): M Mamba-2, * attention, - MLP, E MoE
NEMOTRON_BLOCKS = {"M": "mamba", "*": "attention", "-": "mlp", "E": "moe"}
NEMOTRON_BLOCK_NAMES = {"mamba": "M", "linear_attention": "M", "attention": "*", "full_attention": "*", "mlp": "-",
                        "moe": "E"}
MAMBA_FIELDS = ("mamba_num_heads", "mamba_head_dim", "ssm_state_size", "n_groups", "conv_kernel")
MAMBA_CHUNK_DEFAULT = 128  # NemotronHConfig's chunk_size
GDN_CHUNK = 64  # FLA's chunk_gated_delta_rule, which vLLM and SGLang run in prefill, works on 64-token chunks
# GptOssConfig's defaults (transformers' configuration_gpt_oss.py) for the fields the operators read
GPT_OSS_DEFAULTS = {"sliding_window": 128, "num_experts_per_tok": 4, "head_dim": 64}
MLA_FIELDS = ("q_lora_rank", "kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim")
GEMMA_FAMILIES = ("gemma2", "gemma3_text")
# head_dim when a config leaves it out: Qwen3Config, Gemma2Config and Gemma3TextConfig default it
# (transformers' configuration_*.py); the other families derive it as hidden_size / num_attention_heads.
HEAD_DIM_DEFAULTS = {"qwen3": 128, "gemma2": 256, "gemma3_text": 256}
# Families whose config class sets sliding_window to 4096 when the field is absent.
SLIDING_WINDOW_DEFAULTS = {"gemma2": 4096, "gemma3_text": 4096}
# Qwen's configs window only layers i >= max_window_layers, and only with use_sliding_window true (its
# default is false); Qwen2Config and Qwen3Config default max_window_layers to 28.
QWEN_FAMILIES = ("qwen2", "qwen3", "qwen3_moe", "qwen2_moe", *GDN_FAMILIES)
QWEN_MAX_WINDOW_LAYERS_DEFAULT = {"qwen2": 28, "qwen3": 28, "qwen2_moe": 28}
DISPLAY_WORDS = {"deepseek": "DeepSeek", "gpt2": "GPT-2", "xl": "XL", "olmo": "OLMo", "gpt": "GPT", "oss": "OSS",
                 "moe": "MoE", "glm": "GLM", "minimax": "MiniMax", "vl": "VL"}  # capitals capitalize() would lose
MAX_SIZE = 2**31 - 1  # any size beyond int32 is not a real model, and keeps every count finite
MAX_CONFIG_BYTES = 1_000_000  # real config.json files are a few kB; a bigger one is not a model config
REQUIRED_FIELDS = ("hidden_size", "intermediate_size", "num_attention_heads",
                   "num_hidden_layers", "vocab_size")


@dataclass(frozen=True)
class ModelConfig:
    """The shape of a decoder-only transformer; every size is a count of elements.

    Layers may differ: a mixture-of-experts model can keep its first ``num_dense_layers`` dense
    (DeepSeek-V3), and a model can use a sliding window in ``num_sliding_layers`` of its layers only
    (Gemma 2 and 3 alternate local and global layers; Mistral-7B-v0.1 windows all of them).
    """

    name: str
    architecture: str
    hidden_size: int
    intermediate_size: int  # the dense MLP's width (Mixtral: each expert's)
    num_attention_heads: int
    num_key_value_heads: int
    num_hidden_layers: int
    vocab_size: int
    head_dim: int  # query/key width per head (MLA: qk_nope_head_dim + qk_rope_head_dim)
    tie_word_embeddings: bool = False
    attention_bias: bool = False  # q/k/v projections carry a bias (Qwen2; MLA: q_a_proj and kv_a_proj)
    o_proj_bias: bool = False  # the output projection too (Llama, Qwen3, Gemma, DeepSeek with attention_bias)
    mlp_bias: bool = False  # gate/up/down projections carry a bias (Llama's mlp_bias; gpt-oss's experts)
    router_bias: bool = False  # the MoE router carries a bias, one per expert (gpt-oss)
    attention_sinks: bool = False  # one learned logit per head joins each query's softmax (gpt-oss's sinks)
    clamped_swiglu: bool = False  # gpt-oss's SwiGLU: gate and up clamped at swiglu_limit, (up + 1)·gate·σ(α·gate)
    fused_gate_up: bool = False  # the experts hold gate and up as one gate_up_proj (gpt-oss), q/k/v stay apart
    lm_head_bias: bool = False  # the output projection carries a bias, one per vocabulary entry (Phi-3.5-MoE)
    shared_expert_intermediate_size: int | None = None  # Qwen2-MoE's one shared expert's width (None: DeepSeek's
    # n_shared_experts · moe_intermediate_size)
    shared_expert_gate: bool = False  # the shared expert's output is scaled by σ(x·w), w an h-wide vector (Qwen2-MoE)
    partial_rotary_factor: float = 1.0  # share of each head's dims RoPE rotates (Phi-4-mini: 0.75); recorded only
    num_experts: int = 1  # routed experts per MoE layer (1: dense)
    experts_per_token: int = 1
    moe_intermediate_size: int | None = None  # each routed expert's width, when it differs from intermediate_size
    num_shared_experts: int = 0  # experts every token goes through besides its routed ones (DeepSeek)
    num_dense_layers: int = 0  # layers of an MoE model with a dense MLP instead (first_k_dense_replace)
    sliding_window: int | None = None  # attention span limit in tokens of the sliding layers
    num_sliding_layers: int = 0  # layers that use the window (the others attend to the whole context)
    attention_chunk_size: int | None = None  # chunked local attention (Llama 4): a token attends only to the
    # earlier positions of its own chunk of this many tokens, restarting at each chunk boundary
    num_chunked_layers: int = 0  # layers with chunked attention (Llama 4's RoPE layers; the others global NoPE)
    l2_qk_norm: bool = False  # an L2 norm without weights on q and k in the chunked layers (Llama 4's use_qk_norm)
    attn_temperature_tuning: bool = False  # Llama 4's NoPE layers scale q by a factor of the position
    hidden_act: str = "silu"  # the MLP's activation: silu (SwiGLU), gelu_pytorch_tanh (GeGLU), gelu_new (GPT-2)
    gated_mlp: bool = True  # act(gate)·up then down (False: GPT-2's up, act, down)
    qk_norm: bool = False  # RMSNorm on the queries and keys before RoPE (Qwen3, Gemma 3, OLMo 2)
    qk_norm_per_head: bool = True  # over each d-wide head, one d-wide gain for q and one for k (OLMo 2: over
    # the whole H·d query and Hkv·d key, gains as wide)
    pre_norms: bool = True  # a norm before attention and before the MLP (OLMo 2 has none: its norms follow them)
    sandwich_norms: bool = False  # a norm after attention and after the MLP (Gemma 2/3 too: 4 per layer; OLMo 2)
    norm_type: str = "rms"  # "rms" (RMSNorm, a gain) or "layer" (LayerNorm, a gain and a bias: GPT-2)
    embedding_scale: bool = False  # the embeddings are multiplied by sqrt(hidden_size) (Gemma)
    position_embedding: str = "rope"  # "rope" (rotary, in attention), "learned" (GPT-2's absolute wpe table) or
    # "none" (Nemotron-H: its few attention layers carry no positions; its Mamba-2 layers order the tokens)
    fused_projections: bool = False  # checkpoint holds qkv_proj and gate_up_proj as one matrix each (Phi-3)
    q_lora_rank: int | None = None  # MLA (DeepSeek-V3): query down-projection rank (None: a plain q_proj)
    kv_lora_rank: int | None = None  # MLA: the latent K/V width cached per token (None: not MLA)
    qk_nope_head_dim: int = 0  # MLA: per-head query/key width without rotary embedding
    qk_rope_head_dim: int = 0  # MLA: the rotary part, one key of this width shared by all heads
    v_head_dim: int = 0  # MLA: per-head value width
    notes: tuple[str, ...] = ()  # one sentence per default assumed or part left out
    max_position_embeddings: int | None = None  # the context the model was trained for (None: not given)
    source_name: str | None = None  # the checkpoint's own name (_name_or_path), preferred for titles
    quantization: WeightFormat | None = None  # the checkpoint's quantization_config (quantization.py)
    # DeepSeek sparse attention (DeepSeek-V3.2, GLM-5): the indexer, and the top-k positions MLA attends to
    index_n_heads: int = 0
    index_head_dim: int = 0
    index_topk: int | None = None  # None: attention over every cached position
    # Hybrid models: layers whose sequence mixer is a recurrent one instead of softmax attention
    num_linear_layers: int = 0  # Gated DeltaNet layers (Qwen3-Next, Qwen3.5: layer_types "linear_attention")
    linear_num_key_heads: int = 0
    linear_num_value_heads: int = 0
    linear_key_head_dim: int = 0
    linear_value_head_dim: int = 0
    attn_output_gate: bool = False  # q_proj also produces a gate, out·sigmoid(gate) before o_proj (Qwen3-Next)
    num_mamba_layers: int = 0  # Mamba-2 layers (Nemotron-H's M)
    mamba_num_heads: int = 0
    mamba_head_dim: int = 0
    ssm_state_size: int = 0
    mamba_n_groups: int = 0
    mamba_conv_bias: bool = False
    conv_kernel: int = 0  # the recurrent layers' short convolution (linear_conv_kernel_dim, conv_kernel)
    chunk_size: int = 0  # the chunked scan's chunk in prefill (Gated DeltaNet 64; Mamba-2's chunk_size)
    one_block_per_layer: bool = False  # each layer one mixer or one MLP behind one norm (Nemotron-H)
    parallel_block: bool = False  # attention and the MLP side by side on one norm's output, one add (GPT-J, Falcon)
    parallel_mlp_norm: bool = False  # a second norm for the MLP branch (Falcon's new_decoder_architecture)
    moe_latent_size: int | None = None  # the experts' latent width (Nemotron 3 Super's latent MoE)
    num_channel_only_layers: int = 0  # layers with an MLP and no sequence mixer (Nemotron-H's - and E)
    num_mixer_only_layers: int = 0  # layers with a sequence mixer and no MLP (Nemotron-H's M and *)

    @property
    def q_dim(self) -> int:
        """Width of the query projection output: heads · head_dim."""
        return self.num_attention_heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        """Width of one of K or V per token: kv_heads · head_dim (GQA shares these heads)."""
        return self.num_key_value_heads * self.head_dim

    @property
    def mla(self) -> bool:
        """Multi-head latent attention (DeepSeek-V2/V3): K and V come from a cached latent."""
        return self.kv_lora_rank is not None

    @property
    def expert_intermediate_size(self) -> int:
        """Each routed expert's MLP width."""
        return self.moe_intermediate_size or self.intermediate_size

    @property
    def num_moe_layers(self) -> int:
        channel = self.num_hidden_layers - self.num_mixer_only_layers  # the layers with an MLP
        return channel - self.num_dense_layers if self.num_experts > 1 else 0

    @property
    def num_attention_layers(self) -> int:
        """Layers with softmax attention (and a KV cache): all of them but a hybrid's recurrent layers."""
        return (self.num_hidden_layers - self.num_linear_layers - self.num_mamba_layers
                - self.num_channel_only_layers)

    @property
    def hybrid(self) -> bool:
        """Some layers mix tokens otherwise than by attention (Gated DeltaNet, Mamba-2), or not at all."""
        return self.num_attention_layers < self.num_hidden_layers

    def layer_count(self, layers: str) -> int:
        """How many decoder layers run an operator tagged ``layers`` (see operators.LAYER_KINDS)."""
        total, sliding, chunked = self.num_hidden_layers, self.num_sliding_layers, self.num_chunked_layers
        channel = total - self.num_mixer_only_layers
        return {"all": total, "dense": channel - self.num_moe_layers, "moe": self.num_moe_layers,
                "local": sliding, "global": self.num_attention_layers - sliding - chunked, "once": 1,
                "chunked": chunked,
                "linear": self.num_linear_layers, "mamba": self.num_mamba_layers,
                "attn": self.num_attention_layers}[layers]

    @property
    def display_name(self) -> str:
        """'llama-33b' -> 'Llama 33B' (the form the original figure's title uses), 'deepseek-v3' ->
        'DeepSeek V3', 'qwen3-30b-a3b' -> 'Qwen3 30B A3B', 'mixtral-8x7b' -> 'Mixtral 8x7B'."""
        def word(w: str) -> str:
            if w in DISPLAY_WORDS:
                return DISPLAY_WORDS[w]
            if w[:1].isdigit() or (len(w) <= 4 and any(c.isdigit() for c in w)):  # a size or a version: 8x7B, V3
                return "x".join(part.upper() for part in w.split("x"))
            return w.capitalize()
        title = self.source_name or self.name
        return " ".join(word(w) for w in title.replace("_", "-").split("-") if w)

    def sweep_limit(self, output_len: int = 0) -> int | None:
        """The longest prompt the model's context holds with ``output_len`` tokens generated after it
        (None: the config gives no limit); a sweep stops there or marks what lies beyond."""
        if self.max_position_embeddings is None:
            return None
        return max(self.max_position_embeddings - output_len, 0)

    def parameter_count(self, tp: int = 1, active: bool = False) -> int:
        """Parameters, summed over the weights the operator list reads (see
        :func:`roofline_utils.operators.parameter_count`): per device under tensor parallelism
        ``tp``, and only those one token uses when ``active`` (the routed experts it picks)."""
        from .operators import parameter_count

        return parameter_count(self, tp, active)


def _looks_like_commit(text: str) -> bool:
    """A Hugging Face snapshot folder's name: a 40-digit hex commit hash, no title."""
    return len(text) == 40 and all(c in "0123456789abcdef" for c in text.lower())


def _source_name(config: Mapping) -> str | None:
    """The basename of ``_name_or_path`` ('meta-llama/Llama-2-7b-hf' -> 'Llama-2-7b-hf'), when it is a
    short plain string that is not itself a commit hash."""
    value = config.get("_name_or_path")
    if not isinstance(value, str):
        return None
    base = value.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    return base if base and len(base) <= 100 and base.isprintable() and not _looks_like_commit(base) else None


def context_notes(model: ModelConfig, seq_len: int, output_len: int = 0) -> tuple[str, ...]:
    """A warning sentence when the prompt and the tokens generated after it exceed the model's
    ``max_position_embeddings``: the numbers are still computed, but the model was not trained there."""
    limit = model.max_position_embeddings
    if limit is None or seq_len + output_len <= limit:
        return ()
    total = f"{seq_len:,} + {output_len:,} = {seq_len + output_len:,}" if output_len else f"{seq_len:,}"
    return (f"the context of {total} tokens exceeds {model.display_name}'s max_position_embeddings of "
            f"{limit:,}: the model was not trained that long, so these numbers describe a run it does not support",)


def _layer_types(config: Mapping, layers: int, allowed: tuple[str, ...], where: str) -> list | None:
    """The config's layer_types when it gives one: a list of ``layers`` entries, each one of ``allowed``."""
    types = config.get("layer_types")
    if types is not None and (not isinstance(types, list) or len(types) != layers
                              or not all(t in allowed for t in types)):
        raise RooflineInputError("layer_types", f"must list {layers} of {', '.join(allowed)} in {where}, got "
                                 f"{shown(types)}")
    return types


def _positive_int(config: Mapping, field_name: str, where: str) -> int:
    value = config.get(field_name)
    if value is None:
        raise RooflineInputError(field_name, f"missing from {where}")
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_SIZE:
        raise RooflineInputError(field_name, f"must be a positive integer up to {MAX_SIZE:,} in {where}, "
                                 f"got {shown(value)}")
    return value


def _bool(config: Mapping, field_name: str, default: bool, where: str) -> bool:
    value = config.get(field_name, default)
    if not isinstance(value, bool):
        raise RooflineInputError(field_name, f"must be true or false in {where}, got {shown(value)}")
    return value


def _architecture(config: Mapping, where: str) -> str:
    archs = config.get("architectures")
    allowed = ", ".join([*SUPPORTED_ARCHITECTURES, *WRAPPERS])
    if archs is not None and archs != []:  # an empty list defers to model_type
        if not isinstance(archs, list) or not all(isinstance(a, str) for a in archs):
            raise RooflineInputError("architectures", f"must be a list of names in {where}", allowed)
        for arch in archs:
            if arch in SUPPORTED_ARCHITECTURES:
                return arch
        raise RooflineInputError("architectures", f"{shown(archs)} in {where} is not supported", allowed)
    model_type = config.get("model_type")
    by_type = {v: k for k, v in SUPPORTED_ARCHITECTURES.items()}
    model_type = MODEL_TYPE_ALIASES.get(model_type, model_type) if isinstance(model_type, str) else model_type
    if model_type in by_type:
        return by_type[model_type]
    if model_type is None:
        raise RooflineInputError("architectures", f"neither 'architectures' nor 'model_type' in {where}",
                                 allowed)
    raise RooflineInputError("model_type", f"{shown(config.get('model_type'))} in {where} is not supported",
                             ", ".join([*by_type, *MODEL_TYPE_ALIASES]))


def _text_model(config: Mapping, where: str) -> tuple[Mapping, tuple[str, ...], str]:
    """The config to read and where it sits: a vision-language wrapper's ``text_config`` (with a
    sentence saying the vision tower is left out), or the config itself."""
    archs = config.get("architectures")
    named = [a for a in archs if isinstance(a, str)] if isinstance(archs, list) else []
    wrapper = next((a for a in named if a in WRAPPERS), None)
    if wrapper is None and not archs:  # no architectures: the wrapper's model_type names it
        wrapper = next((a for a, (kind, _) in WRAPPERS.items() if config.get("model_type") == kind), None)
    if wrapper is None:
        return config, (), where
    text = config.get("text_config")
    if not isinstance(text, Mapping):
        raise RooflineInputError("text_config", f"must hold the text model's fields as an object in {where} "
                                 f"({wrapper} keeps them there), got {shown(text)}")
    text, family = dict(text), WRAPPERS[wrapper][1]
    if not text.get("architectures") and not text.get("model_type"):
        text["model_type"] = family
    for field_name in ("_name_or_path", "tie_word_embeddings"):  # the wrapper's, where the text model has none
        if text.get(field_name) is None and config.get(field_name) is not None:
            text[field_name] = config[field_name]
    notes = [f"{wrapper}: the text model in text_config is counted; the vision tower (vision_config) and its "
             "projector are left out, so images and their tokens cost nothing here"]
    if text.get("model_type") == "gemma3_text" or "Gemma3ForCausalLM" in (text.get("architectures") or ()):
        absent = [f for f in GEMMA3_TEXT_DEFAULTS if text.get(f) is None]
        text.update({f: GEMMA3_TEXT_DEFAULTS[f] for f in absent})
        if absent:
            values = ", ".join(f"{f} {GEMMA3_TEXT_DEFAULTS[f]:,}" if isinstance(GEMMA3_TEXT_DEFAULTS[f], int)
                               else f"{f} {GEMMA3_TEXT_DEFAULTS[f]}" for f in absent)
            notes.append(f"absent from text_config, Gemma3TextConfig's defaults used: {values}")
    return text, tuple(notes), f"{where}'s text_config"


LLAMA4_DEFAULTS = {"num_local_experts": 16, "num_experts_per_tok": 1, "interleave_moe_layer_step": 1}  # Llama4TextConfig's
LLAMA4_NOPE_INTERVAL_DEFAULT = 4  # Llama4TextConfig's no_rope_layer_interval: every 4th layer a global NoPE one


def _llama4(config: Mapping, family: str, layers: int, where: str) -> dict:
    """Llama 4's layers (Llama4TextConfig, Llama4TextDecoderLayer): no_rope_layers[i] == 1 is a RoPE layer with
    chunked attention (attention_chunk_size), 0 a global NoPE layer (full causal attention); the MoE layers
    (moe_layers, or every interleave_moe_layer_step-th from layer step-1), the others dense
    intermediate_size_mlp wide. What does not map onto these blocks is refused naming the field."""
    if family != "llama4_text":
        return {}
    rope = config.get("no_rope_layers")
    if not rope:  # Llama4TextConfig: an absent or empty list means every no_rope_layer_interval-th layer NoPE
        interval = _positive_int(config, "no_rope_layer_interval", where) \
            if config.get("no_rope_layer_interval") is not None else LLAMA4_NOPE_INTERVAL_DEFAULT
        rope = [int((i + 1) % interval != 0) for i in range(layers)]
    if not isinstance(rope, list) or len(rope) != layers or not all(r in (0, 1) and not isinstance(r, bool)
                                                                    for r in rope):
        raise RooflineInputError("no_rope_layers", f"must list {layers} of 0 (NoPE, global) and 1 (RoPE, chunked) "
                                 f"in {where}, got {shown(rope)}")
    types = _layer_types(config, layers, ("chunked_attention", "full_attention"), where)
    if types is not None:
        if [t == "chunked_attention" for t in types] != [r == 1 for r in rope]:
            raise RooflineInputError("layer_types", f"chunked attention in other layers than the RoPE ones "
                                     f"(no_rope_layers) in {where} is not supported")
    chunked = sum(rope)
    if chunked and config.get("attention_chunk_size") is None:
        raise RooflineInputError("attention_chunk_size", f"absent, and Llama 4's RoPE layers without a chunk "
                                 f"(attending to the whole context) in {where} are not supported")
    step = _positive_int(config, "interleave_moe_layer_step", where)
    moe = config.get("moe_layers")
    if moe is None:
        moe = list(range(step - 1, layers, step))
    if not isinstance(moe, list) or not all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < layers
                                            for i in moe):
        raise RooflineInputError("moe_layers", f"must be a list of layer indices below {layers} in {where}, got "
                                 f"{shown(moe)}")
    dense = layers - len(set(moe))
    return {"attention_chunk_size": _positive_int(config, "attention_chunk_size", where) if chunked else None,
            "num_chunked_layers": chunked, "num_dense_layers": dense,
            # Llama4TextAttention: qk_norm (an L2 norm, no weights) only where use_rope; the temperature only where not
            "l2_qk_norm": chunked > 0 and _bool(config, "use_qk_norm", True, where),
            "attn_temperature_tuning": chunked < layers and _bool(config, "attn_temperature_tuning", True, where),
            "intermediate_size": _positive_int(config, "intermediate_size_mlp", where) if dense else None}


def model_from_dict(config: Mapping, name: str, where: str = "config") -> ModelConfig:
    """Validate Hugging Face config fields and build a :class:`ModelConfig`."""
    if not isinstance(config, Mapping):
        raise RooflineInputError("config", f"{where} must hold a JSON object of fields")
    config, wrapper_notes, where = _text_model(config, where)
    arch = _architecture(config, where)
    family = SUPPORTED_ARCHITECTURES[arch]
    config, notes = _with_family_defaults(config, family, where)
    notes = wrapper_notes + notes
    sizes = {f: _positive_int(config, f, where) for f in REQUIRED_FIELDS}
    heads, layers = sizes["num_attention_heads"], sizes["num_hidden_layers"]
    kv_heads = _positive_int(config, "num_key_value_heads", where) \
        if config.get("num_key_value_heads") is not None else heads  # LLaMA-1 configs omit it: MHA
    if heads % kv_heads:
        raise RooflineInputError("num_key_value_heads", f"{kv_heads} does not divide "
                                 f"num_attention_heads={heads} in {where}")
    mla = {}
    if family in MLA_FAMILIES:
        mla = {f: _positive_int(config, f, where) for f in MLA_FIELDS if f != "q_lora_rank"}
        # q_lora_rank null: the query is one plain projection (DeepSeek-V2-Lite)
        mla["q_lora_rank"] = _positive_int(config, "q_lora_rank", where) if config.get("q_lora_rank") else None
        head_dim, kv_heads = mla["qk_nope_head_dim"] + mla["qk_rope_head_dim"], heads
    elif config.get("head_dim") is not None:
        head_dim = _positive_int(config, "head_dim", where)
    elif family in HEAD_DIM_DEFAULTS:  # the family's config class default, not hidden/heads
        head_dim = HEAD_DIM_DEFAULTS[family]
        notes += (f"head_dim absent: the {family} config default of {head_dim} used",)
    elif sizes["hidden_size"] % heads:
        raise RooflineInputError("head_dim", f"absent, and hidden_size={sizes['hidden_size']} is not a "
                                 f"multiple of num_attention_heads={heads} in {where}")
    else:
        head_dim = sizes["hidden_size"] // heads
    experts, per_token, moe = _experts(config, family, where)
    dense_layers = _dense_layers(config, family, layers, where) if experts > 1 else 0
    window, sliding_layers = _sliding_layers(config, family, layers, where)
    blocks = {**_dsa(config, family, where), **_gated_deltanet(config, family, layers, where),
              **_nemotron_h(config, family, layers, where), **_llama4(config, family, layers, where)}
    if family in ("nemotron_h", "llama4_text"):
        dense_layers = blocks.pop("num_dense_layers")
    if family == "llama4_text":  # the dense layers' MLP is intermediate_size_mlp wide, the experts intermediate_size
        dense_width = blocks.pop("intermediate_size")
        if dense_width is not None and experts > 1:
            sizes["intermediate_size"] = dense_width
    act_field = "hidden_activation" if config.get("hidden_activation") else "hidden_act"
    if family == "nemotron_h":  # NemotronHConfig: mlp_hidden_act, default relu2 (mamba_hidden_act is the conv's SiLU)
        act_field = "mlp_hidden_act"
        config = {**config, "mlp_hidden_act": config.get("mlp_hidden_act") or "relu2"}
    act = config.get(act_field) or "silu"
    gpt2 = family == "gpt2"
    plain = family in PLAIN_FAMILIES
    allowed_acts = PLAIN_MLP_ACTIVATIONS if plain else ("relu2",) if family == "nemotron_h" else \
        ("silu", "gelu_pytorch_tanh")
    if act not in allowed_acts:
        raise RooflineInputError("activation_function" if family in ("gpt2", "gptj") else
                                 "activation" if family == "falcon" else act_field, f"{shown(act)} in {where} is not "
                                 "supported", ", ".join(allowed_acts))
    return ModelConfig(
        name=name, architecture=arch, head_dim=head_dim, num_key_value_heads=kv_heads,
        # PretrainedConfig ties by default; LlamaConfig, Olmo2Config and most others override it to false
        tie_word_embeddings=_bool(config, "tie_word_embeddings", family in (*GEMMA_FAMILIES, "gpt2", "falcon"), where),
        attention_bias=_attention_bias(config, family, where),
        # LlamaAttention, Qwen3, Gemma and DeepseekV3 give o_proj bias=config.attention_bias; Qwen2's o_proj has none
        # (GptOssAttention too, its attention_bias defaulting to true); Qwen2-MoE's o_proj has none either
        o_proj_bias=gpt2 or (family == "falcon" and _bool(config, "bias", False, where)) or (
            family not in ("qwen2", "qwen2_moe", "phi3", "mixtral", "mistral", "falcon")
                             and _bool(config, "attention_bias", family == "gpt_oss", where)),  # GPT-2: c_proj's bias
        # LlamaMLP: bias=config.mlp_bias; GPT-2's Conv1D c_fc and c_proj always carry one; GptOssExperts hold
        # gate_up_proj_bias (2·f per expert) and down_proj_bias (h per expert)
        mlp_bias=gpt2 or family in ("gpt_oss", "gptj") or (family == "llama" and _bool(config, "mlp_bias", False, where))
        or (family == "falcon" and _bool(config, "bias", False, where)),  # GPT-J's fc_in, fc_out; Falcon's bias
        # gpt-oss's router bias; MiniMax-M2's e_score_correction_bias (use_routing_bias), one per expert too
        router_bias=family == "gpt_oss" or (family == "minimax_m2" and _bool(config, "use_routing_bias", True, where)), attention_sinks=family == "gpt_oss", clamped_swiglu=family == "gpt_oss",
        fused_gate_up=family in ("gpt_oss", "llama4_text"),  # GptOssExperts.gate_up_proj, Llama4TextExperts'
        # gate_up_proj: one [E, h, 2·f] tensor
        partial_rotary_factor=_fraction(config, "partial_rotary_factor", where),
        num_experts=experts, experts_per_token=per_token, num_dense_layers=dense_layers, **moe,
        sliding_window=window, num_sliding_layers=sliding_layers, hidden_act=act,
        qk_norm=family in ("qwen3", "qwen3_moe", "gemma3_text", "olmo2", *GDN_FAMILIES)
        or (family == "minimax_m2" and _bool(config, "use_qk_norm", True, where)), **blocks,
        # Olmo2Attention and MiniMaxM2Attention (qk_norm_type "per_layer"): q_norm over H·d, k_norm over Hkv·d
        qk_norm_per_head=family not in ("olmo2", "minimax_m2"),
        pre_norms=family != "olmo2", sandwich_norms=family in (*GEMMA_FAMILIES, "olmo2"),
        embedding_scale=family in GEMMA_FAMILIES, gated_mlp=not plain and family != "nemotron_h",
        # PhimoeDecoderLayer and PhimoeModel: nn.LayerNorm with elementwise_affine, a gain and a bias each
        norm_type="layer" if family in ("gpt2", "phimoe", "gptj", "falcon") else "rms",
        parallel_block=family in ("gptj", "falcon"),
        parallel_mlp_norm=family == "falcon" and _bool(config, "new_decoder_architecture", False, where),
        lm_head_bias=family == "gptj" or (family == "phimoe" and _bool(config, "lm_head_bias", False, where)), position_embedding="learned" if gpt2 else "none" if family == "nemotron_h" else "rope",
        fused_projections=family in ("phi3", "gpt2", "falcon"),  # Phi-3's qkv_proj, GPT-2's c_attn, Falcon's
        # query_key_value
        notes=notes, **mla, **sizes,
        max_position_embeddings=_positive_int(config, "max_position_embeddings", where)
        if config.get("max_position_embeddings") is not None else None,
        source_name=_source_name(config), quantization=read_quantization_config(config, where))


def _dsa(config: Mapping, family: str, where: str) -> dict:
    """DeepSeek sparse attention's three fields (DeepSeek-V3.2, GLM-5), each a positive integer."""
    if family not in DSA_FAMILIES:
        return {}
    return {f: _positive_int(config, f, where) for f in DSA_FIELDS}


def _gated_deltanet(config: Mapping, family: str, layers: int, where: str) -> dict:
    """Qwen3-Next's and Qwen3.5's Gated DeltaNet layers: their sizes, and how many of the layers they are:
    layer_types ("linear_attention" / "full_attention" per layer), or every full_attention_interval-th layer
    full attention (Qwen3NextConfig's and Qwen3_5TextConfig's default interval, 4). Their full-attention layers
    gate the output (attn_output_gate, true unless the config says otherwise)."""
    if family not in GDN_FAMILIES:
        return {}
    sizes = {f: _positive_int(config, f, where) for f in GDN_FIELDS}
    if sizes["linear_num_value_heads"] % sizes["linear_num_key_heads"]:
        raise RooflineInputError("linear_num_value_heads", f"{sizes['linear_num_value_heads']} is not a multiple of "
                                 f"linear_num_key_heads={sizes['linear_num_key_heads']} in {where}")
    types = _layer_types(config, layers, ("linear_attention", "full_attention"), where)
    if types is not None:
        linear = types.count("linear_attention")
    else:
        interval = _positive_int(config, "full_attention_interval", where) \
            if config.get("full_attention_interval") is not None else 4
        linear = layers - layers // interval  # layer i is full attention when (i + 1) is a multiple of it
    return {"num_linear_layers": linear, "conv_kernel": sizes.pop("linear_conv_kernel_dim"), **sizes,
            "chunk_size": GDN_CHUNK, "attn_output_gate": _bool(config, "attn_output_gate", True, where)}


def _nemotron_pattern(config: Mapping, where: str) -> str:
    """Nemotron-H's layers as pattern characters: hybrid_override_pattern, or layers_block_type's names."""
    pattern = config.get("hybrid_override_pattern")
    if pattern is None and isinstance(config.get("layers_block_type"), list):
        names = config["layers_block_type"]
        if not all(isinstance(n, str) and n in NEMOTRON_BLOCK_NAMES for n in names):
            raise RooflineInputError("layers_block_type", f"must list {', '.join(NEMOTRON_BLOCK_NAMES)} in {where}, "
                                     f"got {shown(names)}")
        pattern = "".join(NEMOTRON_BLOCK_NAMES[n] for n in names)
    if not isinstance(pattern, str) or not pattern or any(c not in NEMOTRON_BLOCKS for c in pattern):
        raise RooflineInputError("hybrid_override_pattern", f"must be a string of {', '.join(NEMOTRON_BLOCKS)} "
                                 f"(Mamba-2, attention, MLP, MoE) in {where}, got {shown(pattern)}")
    return pattern


def _nemotron_h(config: Mapping, family: str, layers: int, where: str) -> dict:
    """Nemotron-H's layer pattern and its Mamba-2 sizes: d_inner = mamba_num_heads · mamba_head_dim (expand ·
    hidden_size in the configs), n_groups groups of B and C, a conv_kernel-wide convolution with a bias
    (use_conv_bias, default true)."""
    if family != "nemotron_h":
        return {}
    pattern = _nemotron_pattern(config, where)
    if len(pattern) != layers:
        raise RooflineInputError("hybrid_override_pattern", f"has {len(pattern)} layers, num_hidden_layers is "
                                 f"{layers} in {where}")
    counts = {c: pattern.count(c) for c in NEMOTRON_BLOCKS}
    sizes = {f: _positive_int(config, f, where) for f in MAMBA_FIELDS}
    if sizes["mamba_num_heads"] % sizes["n_groups"]:
        raise RooflineInputError("n_groups", f"{sizes['n_groups']} does not divide mamba_num_heads="
                                 f"{sizes['mamba_num_heads']} in {where}")
    if counts["E"] and config.get("n_routed_experts") is None:
        raise RooflineInputError("n_routed_experts", f"missing from {where}, whose pattern has MoE (E) layers")
    latent = config.get("moe_latent_size")
    return {"one_block_per_layer": True, "num_mamba_layers": counts["M"],
            "num_channel_only_layers": counts["-"] + counts["E"], "num_mixer_only_layers": counts["M"] + counts["*"],
            "num_dense_layers": counts["-"], "mamba_num_heads": sizes["mamba_num_heads"],
            "mamba_head_dim": sizes["mamba_head_dim"], "ssm_state_size": sizes["ssm_state_size"],
            "mamba_n_groups": sizes["n_groups"], "conv_kernel": sizes["conv_kernel"],
            "mamba_conv_bias": _bool(config, "use_conv_bias", True, where),
            "chunk_size": _positive_int(config, "chunk_size", where) if config.get("chunk_size") is not None
            else MAMBA_CHUNK_DEFAULT,
            "moe_latent_size": _positive_int(config, "moe_latent_size", where) if latent is not None else None}


def _fraction(config: Mapping, field_name: str, where: str) -> float:
    value = config.get(field_name, 1.0)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise RooflineInputError(field_name, f"must be a number in (0, 1] in {where}, got {shown(value)}")
    return float(value)


def _attention_bias(config: Mapping, family: str, where: str) -> bool:
    """Whether q/k/v carry a bias as the reference code builds them: Qwen2Attention always (whatever
    the config says), Phi3Attention and Mixtral never (no such field), GPT-2's c_attn always, others per
    ``attention_bias``."""
    if family in ("qwen2", "gpt2"):
        return True
    if family == "falcon":  # FalconAttention: query_key_value and dense with bias=config.bias
        return _bool(config, "bias", False, where)
    if family in ("phi3", "mixtral", "mistral"):
        return False
    if family == "qwen2_moe":  # Qwen2MoeAttention: bias=config.qkv_bias, Qwen2MoeConfig defaulting it to true
        return _bool(config, "qkv_bias", True, where)
    return _bool(config, "attention_bias", family == "gpt_oss", where)  # GptOssConfig defaults it to true


def _experts(config: Mapping, family: str, where: str) -> tuple[int, int, dict]:
    """Routed experts, experts per token, and the expert sizes (a dense model: 1, 1, {})."""
    count_field = EXPERT_COUNT_FIELD.get(family)
    if count_field is None or config.get(count_field) is None:
        return 1, 1, {}
    experts = _positive_int(config, count_field, where)
    per_token = _positive_int(config, "num_experts_per_tok", where)
    if per_token > experts:
        raise RooflineInputError("num_experts_per_tok", f"{per_token} exceeds {count_field}={experts} in {where}")
    sizes = {}
    if family not in EXPERTS_AS_WIDE_AS_MLP:  # Mixtral's and gpt-oss's experts are intermediate_size wide
        sizes["moe_intermediate_size"] = _positive_int(config, "moe_intermediate_size", where)
    if family == "llama4_text":  # Llama4TextMoe: routed experts and one shared expert, both intermediate_size wide
        width = _positive_int(config, "intermediate_size", where)
        sizes.update(moe_intermediate_size=width, num_shared_experts=1, shared_expert_intermediate_size=width)
    elif family in GATED_SHARED_EXPERT_FAMILIES:  # Qwen2MoeSparseMoeBlock: one shared expert, its own width, a gate
        sizes["num_shared_experts"] = 1
        sizes["shared_expert_intermediate_size"] = _positive_int(config, "shared_expert_intermediate_size", where)
        sizes["shared_expert_gate"] = True
    elif config.get("n_shared_experts"):
        sizes["num_shared_experts"] = _positive_int(config, "n_shared_experts", where)
        if family == "nemotron_h":  # NemotronHMOE: one shared expert of its own width
            sizes["shared_expert_intermediate_size"] = sizes["num_shared_experts"] * _positive_int(
                config, "moe_shared_expert_intermediate_size", where)
    return experts, per_token, sizes


def _dense_layers(config: Mapping, family: str, layers: int, where: str) -> int:
    """Layers of an MoE model whose MLP is dense: DeepSeek's first ``first_k_dense_replace`` (every
    ``moe_layer_freq``-th after them is MoE), Qwen3-MoE's ``mlp_only_layers`` and those off its
    ``decoder_sparse_step``."""
    if family in MLA_FAMILIES:
        first = config.get("first_k_dense_replace") or 0
        if isinstance(first, bool) or not isinstance(first, int) or not 0 <= first <= layers:
            raise RooflineInputError("first_k_dense_replace", f"must be an integer from 0 to num_hidden_layers="
                                     f"{layers} in {where}, got {shown(first)}")
        step = _positive_int(config, "moe_layer_freq", where) if config.get("moe_layer_freq") is not None else 1
        # layers first, first + step, ... are MoE: ceil((layers - first) / step) of them (no loop over layers)
        return layers - -(-(layers - first) // step)
    if family in ("qwen3_moe", "qwen2_moe", "qwen3_next", "qwen3_5_moe_text"):
        step = _positive_int(config, "decoder_sparse_step", where) \
            if config.get("decoder_sparse_step") is not None else 1
        dense = config.get("mlp_only_layers")
        dense = [] if dense is None else dense
        if not isinstance(dense, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in dense):
            raise RooflineInputError("mlp_only_layers", f"must be a list of layer indices in {where}, got {shown(dense)}")
        # layer i is MoE when (i + 1) is a multiple of the step and i is not listed dense
        moe = layers // step - sum(1 for i in set(dense) if 0 <= i < layers and (i + 1) % step == 0)
        return layers - moe
    return 0


def _sliding_layers(config: Mapping, family: str, layers: int, where: str) -> tuple[int | None, int]:
    """The sliding window and how many layers use it.

    ``layer_types`` ("sliding_attention" / "full_attention" per layer) when the config has it;
    otherwise Gemma 2 alternates, starting with a sliding layer; Gemma 3 makes every
    ``sliding_window_pattern``-th layer global (default 6); other families window every layer
    when ``sliding_window`` is set (and ``use_sliding_window`` is not false).
    """
    if family in QWEN_FAMILIES and config.get("use_sliding_window") is not True:
        return None, 0  # Qwen's use_sliding_window defaults to false, and then no layer is windowed
    if config.get("sliding_window") is None and family in SLIDING_WINDOW_DEFAULTS:
        config = {**config, "sliding_window": SLIDING_WINDOW_DEFAULTS[family]}
    if config.get("sliding_window") is None or config.get("use_sliding_window", True) is False:
        return None, 0
    window = _positive_int(config, "sliding_window", where)
    types = _layer_types(config, layers, ("sliding_attention", "full_attention"), where)
    if types is not None:
        return window, types.count("sliding_attention")
    if family == "gemma2":
        return window, (layers + 1) // 2
    if family == "gemma3_text":
        pattern = _positive_int(config, "sliding_window_pattern", where) \
            if config.get("sliding_window_pattern") is not None else 6
        return window, layers - layers // pattern
    if family in QWEN_FAMILIES:
        first = config.get("max_window_layers", QWEN_MAX_WINDOW_LAYERS_DEFAULT.get(family, 0))
        if isinstance(first, bool) or not isinstance(first, int) or first < 0:
            raise RooflineInputError("max_window_layers", f"must be a non-negative integer in {where}, "
                                     f"got {shown(first)}")
        return window, max(layers - first, 0)  # layers max_window_layers .. num_hidden_layers-1
    return window, layers


def _gpt2_fields(config: dict, where: str) -> list[str]:
    """GPT-2's own field names read into the ones the rest of this module uses (GPT2Config's attribute_map),
    each checked under its own name; n_inner and n_positions default as GPT2Config defaults them."""
    notes = []
    for gpt2_name, name in GPT2_FIELDS.items():
        if gpt2_name == "n_positions" and config.get(gpt2_name) is None:
            config[gpt2_name] = GPT2_POSITIONS_DEFAULT
            notes.append(f"n_positions absent: GPT2Config's default of {GPT2_POSITIONS_DEFAULT:,} used")
        config[name] = _positive_int(config, gpt2_name, where)
    if config.get("n_inner") is None:  # GPT2MLP: n_inner if not None else 4 * n_embd
        config["intermediate_size"] = 4 * config["hidden_size"]
        notes.append(f"n_inner absent: GPT2Config's 4 · n_embd = {config['intermediate_size']:,} used")
    else:
        config["intermediate_size"] = _positive_int(config, "n_inner", where)
    config["hidden_act"] = config.get("activation_function", "gelu_new")  # GPT2Config's default
    config.pop("hidden_activation", None)
    return notes


def _falcon_fields(config: dict, where: str) -> list[str]:
    """FalconConfig's fields read into the common ones: num_kv_heads (new_decoder_architecture) or one K/V head
    (multi_query) or as many as the queries; ffn_hidden_size (default 4·hidden_size); the activation, GELU.
    ALiBi (alibi true, Falcon-RW) and a sequential block (parallel_attn false) are refused by name."""
    for field_name, name in (("n_head", "num_attention_heads"), ("n_layer", "num_hidden_layers")):
        if config.get(name) is None and config.get(field_name) is not None:  # FalconConfig's attribute_map
            config[name] = config[field_name]
    if _bool(config, "alibi", False, where):
        raise RooflineInputError("alibi", f"ALiBi attention biases in {where} are not supported",
                                 "alibi false (rotary positions)")
    if not _bool(config, "parallel_attn", True, where):
        raise RooflineInputError("parallel_attn", f"a sequential Falcon block in {where} is not supported", "true")
    heads = _positive_int(config, "num_attention_heads", where)
    if _bool(config, "new_decoder_architecture", False, where):
        config["num_key_value_heads"] = _positive_int(config, "num_kv_heads", where) \
            if config.get("num_kv_heads") is not None else heads
    else:
        config["num_key_value_heads"] = 1 if _bool(config, "multi_query", True, where) else heads
    notes = []
    if config.get("ffn_hidden_size") is None:
        config["intermediate_size"] = 4 * _positive_int(config, "hidden_size", where)
        notes.append(f"ffn_hidden_size absent: FalconConfig's 4 · hidden_size = {config['intermediate_size']:,} used")
    else:
        config["intermediate_size"] = _positive_int(config, "ffn_hidden_size", where)
    config["hidden_act"] = config.get("activation", "gelu")
    config.pop("hidden_activation", None)
    return notes


def _with_family_defaults(config: Mapping, family: str, where: str = "config") -> tuple[dict, tuple[str, ...]]:
    """Fill what a family's Hugging Face config class defaults (a Mixtral without
    num_local_experts is still a mixture of experts), and say so in one sentence each; name
    the parts of a family the counting leaves out."""
    config, notes = dict(config), []
    if family in ("gpt2", "gptj"):  # GPTJConfig keeps GPT-2's field names
        notes += _gpt2_fields(config, where)
    if family == "falcon":
        notes += _falcon_fields(config, where)
    if family == "llama4_text":
        for field_name, default in LLAMA4_DEFAULTS.items():
            if config.get(field_name) is None:
                config[field_name] = default
                notes.append(f"{field_name} absent: Llama4TextConfig's default of {default} used")
        if config.get("attn_temperature_tuning", True) is True:
            notes.append("attention temperature tuning (Llama 4's NoPE layers scale each query by a factor of its "
                         "position) is counted as one multiply per query element, the factor's log per token left out")
    if family in ("mixtral", "phimoe"):
        defaults, cls = (MIXTRAL_DEFAULTS, "MixtralConfig") if family == "mixtral" else (PHIMOE_DEFAULTS, "PhimoeConfig")
        for field_name, default in defaults.items():
            if config.get(field_name) is None:
                config[field_name] = default
                notes.append(f"{field_name} absent: Hugging Face's {cls} default of {default} used")
    if family in MLA_FAMILIES and isinstance(config.get("num_nextn_predict_layers"), int) \
            and config["num_nextn_predict_layers"] > 0:
        notes.append("the multi-token-prediction module (num_nextn_predict_layers) is left out: it serves "
                     "speculative decoding, not the base forward pass")
    if family in (*MLA_FAMILIES, "qwen3_5_moe_text"):  # no dense MLP width: every layer is MoE (or first_k_dense)
        config.setdefault("intermediate_size", config.get("moe_intermediate_size"))
    if family == "minimax_m2" and config.get("use_mtp") is True:
        notes.append("the multi-token-prediction modules (use_mtp, num_mtp_modules) are left out: they serve "
                     "speculative decoding, not the base forward pass")
    if family == "nemotron_h":
        config.setdefault("intermediate_size", config.get("moe_intermediate_size"))  # used by - layers only
        if isinstance(config.get("num_nextn_predict_layers"), int) and config["num_nextn_predict_layers"] > 0:
            notes.append("the multi-token-prediction layers (num_nextn_predict_layers) are left out: they serve "
                         "speculative decoding, not the base forward pass")
    if family in GDN_FAMILIES and isinstance(config.get("mtp_num_hidden_layers"), int) \
            and config["mtp_num_hidden_layers"] > 0:
        notes.append("the multi-token-prediction layer (mtp_num_hidden_layers) is left out: it serves speculative "
                     "decoding, not the base forward pass")
    if family == "gpt_oss":
        for field_name, default in GPT_OSS_DEFAULTS.items():
            if config.get(field_name) is None:
                config[field_name] = default
                notes.append(f"{field_name} absent: GptOssConfig's default of {default} used")
        if config.get("layer_types") is None:  # GptOssConfig: sliding, full, sliding, ... from layer 0
            layers = config.get("num_hidden_layers")
            if isinstance(layers, int) and not isinstance(layers, bool) and 0 < layers <= MAX_SIZE:
                config["layer_types"] = ["sliding_attention" if i % 2 == 0 else "full_attention" for i in range(layers)]
                notes.append("layer_types absent: GptOssConfig's alternation (sliding first) used")
    if family == "gemma2" and (config.get("attn_logit_softcapping") or config.get("final_logit_softcapping")):
        notes.append("logit soft-capping (a tanh on each attention score and logit, 3 FLOPs each) is left out")
    return config, tuple(notes)


def from_hf_config(path: str | Path, name: str | None = None) -> ModelConfig:
    """Read a local Hugging Face ``config.json`` (or a folder that holds one)."""
    if not isinstance(path, (str, Path)) or not str(path).strip():
        raise RooflineInputError("model", f"expected a path to a config.json, got {shown(path)}")
    path = Path(path)
    try:
        if path.is_dir():
            path = path / "config.json"
        if not path.is_file():
            raise RooflineInputError("model", f"config file {shown(str(path))} does not exist")
        with path.open("rb") as file:  # read at most one byte past the cap: a sparse 30 GB file costs nothing
            raw = file.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:  # a name too long for the file system, a folder without permission, ...
        raise RooflineInputError("model", f"{shown(str(path))} could not be read: {exc.strerror or exc}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise RooflineInputError("model", f"{shown(str(path))} is larger than {MAX_CONFIG_BYTES:,} bytes, "
                                 "too large for a model's config.json")
    try:
        config = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise RooflineInputError("model", f"{path} could not be read as UTF-8 text: {exc}") from None
    except (ValueError, RecursionError) as exc:  # RecursionError: nesting deeper than Python's stack
        raise RooflineInputError("model", f"{path} is not valid JSON: {type(exc).__name__}: "
                                 f"{str(exc)[:200]}") from None
    default_name = path.parent.name if path.name == "config.json" else path.stem
    if _looks_like_commit(default_name):  # .../models--org--name/snapshots/<hash>/config.json
        repo_folder = path.parent.parent.parent.name
        default_name = repo_folder.split("--")[-1] if repo_folder.startswith("models--") else "model"
    return model_from_dict(config, name or default_name or "model", where=str(path))


@lru_cache(maxsize=None)
def _preset_files() -> dict:
    folder = resources.files("roofline_utils").joinpath("data/models")
    return {f.name[: -len(".json")]: f for f in folder.iterdir() if f.name.endswith(".json")}


def preset_names() -> list[str]:
    """Names of the presets shipped in the package."""
    return sorted(_preset_files())


def preset(name: str) -> ModelConfig:
    """A shipped preset by name, e.g. ``"llama-33b"``."""
    files = _preset_files()
    if not isinstance(name, str):
        raise RooflineInputError("model", f"expected a preset name, got {shown(name)}", ", ".join(preset_names()))
    key = name.strip().lower()
    if key not in files:
        raise RooflineInputError("model", f"unknown preset {shown(name)}",
                                 ", ".join(preset_names()) + ", or a path to a config.json")
    return model_from_dict(json.loads(files[key].read_text()), key, where=f"preset {key}")


def load_model(name_or_path: str | Path | ModelConfig) -> ModelConfig:
    """A preset name, a path to a ``config.json`` (or its folder), or an existing config."""
    if isinstance(name_or_path, ModelConfig):
        return name_or_path
    if not isinstance(name_or_path, (str, Path)) or not str(name_or_path).strip():
        raise RooflineInputError("model", f"expected a preset name or a config.json path, got "
                                 f"{shown(name_or_path)}", ", ".join(preset_names()))
    text = str(name_or_path)
    try:
        is_folder = Path(text).is_dir()
    except OSError as exc:  # a name longer than the file system allows
        raise RooflineInputError("model", f"{shown(text)} is neither a preset nor a readable path: "
                                 f"{exc.strerror or exc}", ", ".join(preset_names())) from None
    if text.endswith(".json") or "/" in text or is_folder:
        return from_hf_config(text)
    return preset(text)
