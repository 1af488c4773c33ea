"""Tensor parallelism's communication: the ring all-reduce after attention and after the MLP."""
from __future__ import annotations

from .core import OTHER, Operator, T, h, ring

def allreduce(name: str, tp: int) -> list[Operator]:
    """Ring all-reduce of the T·h layer output over p devices (tensor parallelism).

    Each device sends and receives 2·(p-1)/p·T·h elements over its link and adds
    (p-1)/p·T·h of them. Absent when p = 1.
    """
    if tp == 1:
        return []
    return [Operator(name, OTHER, ring / 2 * T * h, {"link": ring * T * h},
                     note="ring all-reduce over the interconnect")]




_allreduce = allreduce  # the name operators.py used
