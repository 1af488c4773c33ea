"""Model configs: a Llama-family decoder described by its Hugging Face ``config.json`` fields.

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

from .errors import RooflineInputError

# Architectures whose operator graph is the one in operators.py: pre-norm decoder, RoPE,
# (grouped-query) attention, SwiGLU MLP (or a mixture of SwiGLU experts), RMSNorm.
SUPPORTED_ARCHITECTURES = {
    "LlamaForCausalLM": "llama",
    "MistralForCausalLM": "mistral",
    "MixtralForCausalLM": "mixtral",
    "Qwen2ForCausalLM": "qwen2",
}
# Hugging Face's MixtralConfig defaults, used when a Mixtral config leaves the fields out.
MIXTRAL_DEFAULTS = {"num_local_experts": 8, "num_experts_per_tok": 2}
MAX_SIZE = 2**31 - 1  # any size beyond int32 is not a real model, and keeps every count finite
REQUIRED_FIELDS = ("hidden_size", "intermediate_size", "num_attention_heads",
                   "num_hidden_layers", "vocab_size")


@dataclass(frozen=True)
class ModelConfig:
    """The shape of a decoder-only transformer; every size is a count of elements."""

    name: str
    architecture: str
    hidden_size: int
    intermediate_size: int  # per expert for mixture-of-experts models
    num_attention_heads: int
    num_key_value_heads: int
    num_hidden_layers: int
    vocab_size: int
    head_dim: int
    tie_word_embeddings: bool = False
    attention_bias: bool = False  # q/k/v projections carry a bias (Qwen2)
    num_experts: int = 1
    experts_per_token: int = 1
    sliding_window: int | None = None  # attention span limit in tokens (Mistral-7B-v0.1)
    notes: tuple[str, ...] = ()  # one sentence per default assumed for a field the config left out

    @property
    def q_dim(self) -> int:
        """Width of the query projection output: heads · head_dim."""
        return self.num_attention_heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        """Width of one of K or V per token: kv_heads · head_dim (GQA shares these heads)."""
        return self.num_key_value_heads * self.head_dim

    @property
    def display_name(self) -> str:
        """'llama-33b' -> 'Llama 33B', the form the original figure's title uses."""
        words = self.name.replace("_", "-").split("-")
        return " ".join(w.upper() if w[:1].isdigit() else w.capitalize() for w in words)

    def parameter_count(self) -> int:
        """Number of parameters, counted tensor by tensor.

        per layer = attention (h·q + 2·h·kv + q·h, + q + 2·kv biases)
                  + MLP (experts · 3·h·I, + router h·experts when experts > 1)
                  + two RMSNorm weight vectors (2·h)
        model     = layers · per layer + embedding (V·h) + lm_head (V·h unless tied) + final norm (h)
        Llama-33B: 60 · 535,049,216 + 2 · 212,992,000 + 6656 = 32,528,943,616.
        """
        h, q, kv = self.hidden_size, self.q_dim, self.kv_dim
        attention = h * q + 2 * h * kv + q * h + (q + 2 * kv if self.attention_bias else 0)
        mlp = self.num_experts * 3 * h * self.intermediate_size
        router = h * self.num_experts if self.num_experts > 1 else 0
        per_layer = attention + mlp + router + 2 * h
        embeddings = self.vocab_size * h * (1 if self.tie_word_embeddings else 2)
        return self.num_hidden_layers * per_layer + embeddings + h


def _positive_int(config: Mapping, field_name: str, where: str) -> int:
    value = config.get(field_name)
    if value is None:
        raise RooflineInputError(field_name, f"missing from {where}")
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_SIZE:
        raise RooflineInputError(field_name, f"must be a positive integer up to {MAX_SIZE:,} in {where}, "
                                 f"got {value!r}")
    return value


def _bool(config: Mapping, field_name: str, default: bool, where: str) -> bool:
    value = config.get(field_name, default)
    if not isinstance(value, bool):
        raise RooflineInputError(field_name, f"must be true or false in {where}, got {value!r}")
    return value


def _architecture(config: Mapping, where: str) -> str:
    archs = config.get("architectures")
    allowed = ", ".join(SUPPORTED_ARCHITECTURES)
    if archs is not None and archs != []:  # an empty list defers to model_type
        if not isinstance(archs, list) or not all(isinstance(a, str) for a in archs):
            raise RooflineInputError("architectures", f"must be a list of names in {where}", allowed)
        for arch in archs:
            if arch in SUPPORTED_ARCHITECTURES:
                return arch
        raise RooflineInputError("architectures", f"{archs} in {where} is not supported", allowed)
    model_type = config.get("model_type")
    by_type = {v: k for k, v in SUPPORTED_ARCHITECTURES.items()}
    if model_type in by_type:
        return by_type[model_type]
    if model_type is None:
        raise RooflineInputError("architectures", f"neither 'architectures' nor 'model_type' in {where}",
                                 allowed)
    raise RooflineInputError("model_type", f"{model_type!r} in {where} is not supported",
                             ", ".join(by_type))


def model_from_dict(config: Mapping, name: str, where: str = "config") -> ModelConfig:
    """Validate Hugging Face config fields and build a :class:`ModelConfig`."""
    if not isinstance(config, Mapping):
        raise RooflineInputError("config", f"{where} must hold a JSON object of fields")
    arch = _architecture(config, where)
    sizes = {f: _positive_int(config, f, where) for f in REQUIRED_FIELDS}
    heads = sizes["num_attention_heads"]
    kv_heads = _positive_int(config, "num_key_value_heads", where) \
        if config.get("num_key_value_heads") is not None else heads  # LLaMA-1 configs omit it: MHA
    if heads % kv_heads:
        raise RooflineInputError("num_key_value_heads", f"{kv_heads} does not divide "
                                 f"num_attention_heads={heads} in {where}")
    if config.get("head_dim") is not None:
        head_dim = _positive_int(config, "head_dim", where)
    elif sizes["hidden_size"] % heads:
        raise RooflineInputError("head_dim", f"absent, and hidden_size={sizes['hidden_size']} is not a "
                                 f"multiple of num_attention_heads={heads} in {where}")
    else:
        head_dim = sizes["hidden_size"] // heads
    config, notes = _with_family_defaults(config, arch)
    experts = _positive_int(config, "num_local_experts", where) \
        if config.get("num_local_experts") is not None else 1
    per_token = _positive_int(config, "num_experts_per_tok", where) \
        if config.get("num_experts_per_tok") is not None and experts > 1 else 1
    if per_token > experts:
        raise RooflineInputError("num_experts_per_tok", f"{per_token} exceeds num_local_experts="
                                 f"{experts} in {where}")
    window = None
    if config.get("sliding_window") is not None and config.get("use_sliding_window", True) is not False:
        window = _positive_int(config, "sliding_window", where)
    default_bias = SUPPORTED_ARCHITECTURES[arch] == "qwen2"  # Qwen2 always has q/k/v biases
    return ModelConfig(
        name=name, architecture=arch, head_dim=head_dim, num_key_value_heads=kv_heads,
        tie_word_embeddings=_bool(config, "tie_word_embeddings", False, where),
        attention_bias=_bool(config, "attention_bias", default_bias, where),
        num_experts=experts, experts_per_token=per_token, sliding_window=window, notes=notes, **sizes)


def _with_family_defaults(config: Mapping, arch: str) -> tuple[dict, tuple[str, ...]]:
    """Fill what a family's Hugging Face config class defaults (a Mixtral without
    num_local_experts is still a mixture of experts), and say so in one sentence each."""
    config, notes = dict(config), []
    if SUPPORTED_ARCHITECTURES[arch] == "mixtral":
        for field_name, default in MIXTRAL_DEFAULTS.items():
            if config.get(field_name) is None:
                config[field_name] = default
                notes.append(f"{field_name} absent: Hugging Face's MixtralConfig default of {default} used")
    return config, tuple(notes)


def from_hf_config(path: str | Path, name: str | None = None) -> ModelConfig:
    """Read a local Hugging Face ``config.json`` (or a folder that holds one)."""
    if not isinstance(path, (str, Path)) or not str(path).strip():
        raise RooflineInputError("model", f"expected a path to a config.json, got {path!r}")
    path = Path(path)
    if path.is_dir():
        path = path / "config.json"
    if not path.is_file():
        raise RooflineInputError("model", f"config file {str(path)!r} does not exist")
    try:
        config = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise RooflineInputError("model", f"{path} could not be read as UTF-8 text: {exc}") from None
    except (ValueError, RecursionError) as exc:  # RecursionError: nesting deeper than Python's stack
        raise RooflineInputError("model", f"{path} is not valid JSON: {type(exc).__name__}: "
                                 f"{str(exc)[:200]}") from None
    default_name = path.parent.name if path.name == "config.json" else path.stem
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
        raise RooflineInputError("model", f"expected a preset name, got {name!r}", ", ".join(preset_names()))
    key = name.strip().lower()
    if key not in files:
        raise RooflineInputError("model", f"unknown preset {name!r}",
                                 ", ".join(preset_names()) + ", or a path to a config.json")
    return model_from_dict(json.loads(files[key].read_text()), key, where=f"preset {key}")


def load_model(name_or_path: str | Path | ModelConfig) -> ModelConfig:
    """A preset name, a path to a ``config.json`` (or its folder), or an existing config."""
    if isinstance(name_or_path, ModelConfig):
        return name_or_path
    if not isinstance(name_or_path, (str, Path)) or not str(name_or_path).strip():
        raise RooflineInputError("model", f"expected a preset name or a config.json path, got "
                                 f"{name_or_path!r}", ", ".join(preset_names()))
    text = str(name_or_path)
    if text.endswith(".json") or "/" in text or Path(text).is_dir():
        return from_hf_config(text)
    return preset(text)
