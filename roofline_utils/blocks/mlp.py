"""Channel mixers: the gated MLP (SwiGLU, GeGLU, gpt-oss's clamped SwiGLU), GPT-2's plain MLP, and the
mixture of experts with or without shared experts (and Qwen2-MoE's shared-expert gate)."""
from __future__ import annotations

from ..expr import ONE, Expr
from ..models import ModelConfig
from ..workload import Workload
from .core import FULL, MLP, OTHER, E, E_read, I, I_e, I_s, Kernel, Operator, T, T_routed, h, linear

CLAMPED_SWIGLU_EXTRA_FLOPS = 5  # gpt-oss's SwiGLU beyond the plain one: two clamps (1 + 2), the alpha scale, the + 1


def mlp(model: ModelConfig, w: Workload) -> list[Operator]:
    """The MLP: a gated MLP (SwiGLU, or GeGLU for Gemma), or a mixture of such experts.

    Dense: gate_proj and up_proj (h → I), act_mul (act(gate)·up), down_proj (I → h). Phi-3's
    checkpoint fuses gate and up into gate_up_proj (h → 2·I): the same FLOPs, one input read.
    Mixture of experts: a router (h → E); each token goes through k of the E experts, so the
    expert GEMMs see T·k token-expert pairs and read the weights of the E_read distinct experts
    the batch touches; shared experts (DeepSeek) run on every token. DeepSeek-V3 keeps its first
    layers dense (``dense_`` operators, in those layers only).
    """
    if not model.gated_mlp:
        return plain_mlp(model, w)
    geglu = model.hidden_act == "gelu_pytorch_tanh"
    per_element = w.geglu_flops_per_element if geglu else w.swiglu_flops_per_element
    act_note = ("GeGLU gelu_tanh(gate)·up, {:g} FLOPs per element (cube, scale, add, scale, tanh, add, halve, "
                "multiply x, multiply up)" if geglu else
                "SwiGLU silu(gate)·up, {:g} FLOPs per element (negate, exp, add, divide, multiply)").format(per_element)
    if model.clamped_swiglu:  # GptOssExperts: gate.clamp(max=limit), up.clamp(±limit), (up + 1)·gate·σ(α·gate)
        per_element = w.swiglu_flops_per_element + CLAMPED_SWIGLU_EXTRA_FLOPS
        act_note = (f"gpt-oss's clamped SwiGLU (up + 1)·gate·sigmoid(1.702·gate), {per_element:g} FLOPs per element: "
                    f"SwiGLU's {w.swiglu_flops_per_element:g}, the gate's clamp (1), up's two-sided clamp (2), the "
                    "scale by alpha (1) and the + 1 (1)")

    def gated(prefix: str, width: Expr, tokens: Expr = T, copies: Expr = ONE, layers: str = "all") -> list[Operator]:
        if model.fused_projections or (model.fused_gate_up and prefix == ""):
            up = [linear(prefix + "gate_up_proj", MLP, h, 2 * width, tokens=tokens, copies=copies, layers=layers, bias=model.mlp_bias)]
        else:
            up = [linear(prefix + "gate_proj", MLP, h, width, tokens=tokens, copies=copies, layers=layers, bias=model.mlp_bias),
                  linear(prefix + "up_proj", MLP, h, width, tokens=tokens, copies=copies, layers=layers, bias=model.mlp_bias)]
        return [*up,
                Operator(prefix + "act_mul", OTHER, per_element * tokens * width,
                         {"act_read": 2 * tokens * width, "act_write": tokens * width}, layers, note=act_note,
                         kernel=None if geglu or model.clamped_swiglu else Kernel("silu_mul", {"rows": tokens, "cols": width})),
                linear(prefix + "down_proj", MLP, width, h, tokens=tokens, copies=copies, layers=layers, bias=model.mlp_bias)]

    if model.num_experts == 1:
        return gated("", I)
    moe_layers = "moe" if model.num_dense_layers else "all"
    return [*(gated("dense_", I, layers="dense") if model.num_dense_layers else []),
            # serving stacks keep it unquantised; gpt-oss's router carries a bias, one per expert
            linear("router", OTHER, h, E, layers=moe_layers, precision=FULL, bias=model.router_bias),
            *gated("", I_e, T_routed, E_read, moe_layers),
            *(gated("shared_", I_s, layers=moe_layers) if model.num_shared_experts else []),
            *(shared_expert_gate(w, moe_layers) if model.shared_expert_gate else [])]


def shared_expert_gate(w: Workload, layers: str) -> list[Operator]:
    """Qwen2-MoE's gate on its shared expert: shared_expert_gate (h → 1, no bias), then the shared expert's
    output times sigmoid of it: the sigmoid once per token (negate, exp, add, divide: 4 FLOPs), one multiply
    per element of the T·h output."""
    return [linear("shared_expert_gate", OTHER, h, ONE, layers=layers, precision=FULL),
            Operator("shared_gate_scale", OTHER, 4 * T + T * h, {"act_read": T * h + T, "act_write": T * h}, layers,
                     note="sigmoid(gate) per token, 4 FLOPs, times each element of the shared expert's output")]


def plain_mlp(model: ModelConfig, w: Workload) -> list[Operator]:
    """GPT-2's MLP, not gated: up_proj (c_fc, h → f, bias), GELU, down_proj (c_proj, f → h, bias).

    GELU in its tanh form, 0.5·x·(1 + tanh(c·(x + 0.044715·x³))): the GeGLU count less its multiply by
    up (9 FLOPs per element with GeGLU's default 10); reads the f-wide up output once, writes it once.
    """
    per_element = w.geglu_flops_per_element - 1
    return [
        linear("up_proj", MLP, h, I, bias=model.mlp_bias),
        Operator("act", OTHER, per_element * T * I, {"act_read": T * I, "act_write": T * I},
                 note=f"GELU gelu_tanh(x), {per_element:g} FLOPs per element (cube, scale, add, scale, tanh, add, "
                      "halve, multiply x)"),
        linear("down_proj", MLP, I, h, bias=model.mlp_bias),
    ]
