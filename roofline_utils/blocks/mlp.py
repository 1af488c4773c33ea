"""Channel mixers: the gated MLP (SwiGLU, GeGLU, gpt-oss's clamped SwiGLU), GPT-2's plain MLP, and the
mixture of experts with or without shared experts (and Qwen2-MoE's shared-expert gate)."""
from __future__ import annotations

from ..expr import ONE, Expr
from ..models import ModelConfig
from ..workload import Workload
from .core import FULL, MLP, OTHER, E, E_read, I, I_e, I_s, Kernel, L_moe, Operator, T, T_routed, h, linear

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
        if model.num_experts > 1:
            return plain_moe(model, w)
        return plain_mlp(model, w, layers="dense" if model.num_mixer_only_layers else "all")
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


RELU2_FLOPS = 2  # ReLU² (Nemotron-H's relu2): max(x, 0), then its square


def plain_mlp(model: ModelConfig, w: Workload, prefix: str = "", width: Expr = I, n_in: Expr = h,
              tokens: Expr = T, copies: Expr = ONE, layers: str = "all") -> list[Operator]:
    """A MLP that is not gated: up_proj (h → f), the activation, down_proj (f → h). GPT-2's (c_fc, c_proj with
    biases) and Nemotron-H's (its dense layers and its experts, relu2).

    GELU in its tanh form, 0.5·x·(1 + tanh(c·(x + 0.044715·x³))): the GeGLU count less its multiply by
    up (9 FLOPs per element with GeGLU's default 10); ReLU², 2 (max and square). Reads the f-wide up output
    once, writes it once.
    """
    if model.hidden_act == "relu2":
        per_element, note = RELU2_FLOPS, f"ReLU² max(x, 0)², {RELU2_FLOPS} FLOPs per element"
    else:
        per_element = w.geglu_flops_per_element - 1
        note = (f"GELU gelu_tanh(x), {per_element:g} FLOPs per element (cube, scale, add, scale, tanh, add, halve, "
                "multiply x)")
    return [
        linear(prefix + "up_proj", MLP, n_in, width, tokens=tokens, copies=copies, layers=layers, bias=model.mlp_bias),
        Operator(prefix + "act", OTHER, per_element * tokens * width, {"act_read": tokens * width,
                                                                       "act_write": tokens * width},
                 layers, note=note),
        linear(prefix + "down_proj", MLP, width, n_in, tokens=tokens, copies=copies, layers=layers, bias=model.mlp_bias),
    ]


def plain_moe(model: ModelConfig, w: Workload) -> list[Operator]:
    """Nemotron-H's mixture of experts (NemotronHMOE), its experts not gated (up, ReLU², down), in its MoE (E)
    layers: the router (h → E, with the e_score_correction_bias), the routed experts on the T·k token-expert
    pairs, the shared expert on every token. Nemotron 3 Super's latent MoE (moe_latent_size) projects each token
    to the latent width l before the experts (fc1_latent_proj, h → l) and back after them (fc2_latent_proj):
    the experts are l → f_e → l. Its dense (-) layers run a plain MLP of intermediate_size."""
    latent = L_moe if model.moe_latent_size else h
    experts = [
        linear("router", OTHER, h, E, layers="moe", precision=FULL, bias=True),
        *([linear("fc1_latent_proj", MLP, h, L_moe, layers="moe")] if model.moe_latent_size else []),
        *plain_mlp(model, w, "", I_e, latent, T_routed, E_read, "moe"),
        *([linear("fc2_latent_proj", MLP, L_moe, h, layers="moe")] if model.moe_latent_size else []),
        *(plain_mlp(model, w, "shared_", I_s, layers="moe") if model.num_shared_experts else []),
    ]
    dense = plain_mlp(model, w, "dense_", layers="dense") if model.layer_count("dense") else []
    return [*dense, *experts]
