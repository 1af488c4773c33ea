"""Medusa heads: extra decoding heads run on every candidate token in the verify phase."""
from __future__ import annotations

from .core import OTHER, K, Operator, T, V, h, linear

def medusa_heads() -> list[Operator]:
    """K Medusa heads on every candidate token (Cai et al. 2024, arXiv:2401.10774; FasterDecoding/Medusa).

    Each head is a residual block, x + SiLU(x·W1 + b1) with W1 an h × h matrix, then its own
    h × V output projection W2 (no bias). The heads run on all K·T (head, token) pairs, so
    each head's weights are read once per step and its GEMMs see T tokens:
      medusa_fc       2·K·T·h·h + K·T·h FLOPs; K·(h·h + h) weights
      medusa_act      SiLU (negate, exp, add, divide) and the residual add: 5 FLOPs per element
      medusa_lm_head  2·K·T·h·V FLOPs; K·h·V weights; K·T·V logits written
    """
    pairs = K * T
    return [
        linear("medusa_fc", OTHER, h, h, tokens=pairs, copies=K, bias=True, layers="once"),
        Operator("medusa_act", OTHER, 5 * pairs * h, {"act_read": 2 * pairs * h, "act_write": pairs * h},
                 "once", note="SiLU and the residual add of each head's block, 5 FLOPs per element"),
        linear("medusa_lm_head", OTHER, h, V, tokens=pairs, copies=K, layers="once"),
    ]
