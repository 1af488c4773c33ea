"""What the tables say: headline numbers and the chart's reading, computed from the data."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from .hardware import Hardware, get_hardware
from .models import ModelConfig, load_model
from .operators import GROUPS, PHASE_LABELS
from .units import si
from .roofline import group_points, operator_table, peak_flops, phase_totals
from .workload import Workload


def headline(model: ModelConfig | str, hardware: Hardware | str, workload: Workload) -> dict[str, float]:
    """Time to first token, time per decode token and model FLOPs/bytes per phase, at the roofline.

    ttft_s: the whole prefill of b prompts of s tokens (it ends with the first token's logits).
    tpot_s: one decode step with a KV cache of s positions. tokens/s = b / tpot_s.
    """
    totals = phase_totals(operator_table(model, hardware, workload)).set_index("phase")
    tpot = float(totals.loc["decode", "time_s"])
    return {
        "ttft_s": float(totals.loc["prefill", "time_s"]),
        "tpot_s": tpot,
        "decode_tokens_per_s_per_sequence": 1 / tpot,
        "decode_tokens_per_s": float(np.asarray(workload.batch)) / tpot,
        "prefill_flops": float(totals.loc["prefill", "flops"]),
        "prefill_flops_full_square": float(totals.loc["prefill", "flops_full_square"]),
        "decode_flops": float(totals.loc["decode", "flops"]),
        "prefill_bytes": float(totals.loc["prefill", "bytes"]),
        "decode_bytes": float(totals.loc["decode", "bytes"]),
    }


def batch_at_ridge(model: ModelConfig | str, hardware: Hardware | str, workload: Workload,
                   group: str = "up/gate/down", max_batch: int = 1 << 14) -> int | None:
    """Smallest decode batch at which ``group``'s intensity reaches the ridge point (None: never).

    Decode GEMM intensity is about 2·b·n·k / (n·k·w + b·(n+k)·a): it grows with b and
    saturates at 2·n·k/((n+k)·a), so small models on devices with a high ridge may never
    get there. Evaluated on the grid b = 1..max_batch in one vectorised call.
    """
    model, hardware = load_model(model), get_hardware(hardware)
    batches = np.arange(1, max_batch + 1)
    grid = replace(workload, batch=batches, seq_len=int(np.max(workload.seq_len)))
    points = group_points(operator_table(model, hardware, grid, phases=("decode",)), groups=(group,))
    ridge = float(np.max(peak_flops(hardware, workload))) / hardware.bandwidth_bytes_per_s
    reached = points.loc[points["intensity"] >= ridge, "batch"]
    return int(reached.min()) if len(reached) else None


def _span(values: pd.Series) -> str:
    low, high = values.min(), values.max()
    return f"{low:.3g}" if np.isclose(low, high, rtol=0.01) else f"{low:.3g} to {high:.3g}"


def chart_reading(points: pd.DataFrame, hardware: Hardware, peak_flops_per_s: float) -> list[str]:
    """One sentence per legend group: where its cloud sits, what bounds it, and what it depends on.

    ``points`` is the sweep from :func:`group_points`. "depends on batch" is decided by
    whether the intensity changes when only the batch changes (relative spread > 1%).
    """
    ridge = peak_flops_per_s / hardware.bandwidth_bytes_per_s
    sentences = []
    for group in GROUPS:
        for phase, word in PHASE_LABELS.items():
            rows = points[(points["label"] == group) & (points["phase"] == phase)]
            if rows.empty:
                continue
            memory_bound = int((rows["intensity"] < ridge).sum())
            varies_with = [axis for axis, other in (("batch", "seq_len"), ("length", "batch"))
                           if _varies(rows, by=other)]
            depends = " and ".join(varies_with) if varies_with else "neither batch nor length"
            sentences.append(
                f"**{group} {word}** ({phase}): intensity {_span(rows['intensity'])} FLOP/byte, "
                f"{memory_bound} of {len(rows)} settings memory-bound (below the ridge at {ridge:.1f}); "
                f"intensity depends on {depends}; at most {si(rows['performance_flops_per_s'].max(), 'FLOP/s')} "
                f"({100 * rows['performance_flops_per_s'].max() / peak_flops_per_s:.3g}% of peak).")
    return sentences


def _varies(rows: pd.DataFrame, by: str) -> bool:
    """True when the intensity changes within groups of equal ``by`` (so along the other axis)."""
    spread = rows.groupby(by)["intensity"].agg(lambda x: (x.max() - x.min()) / x.max())
    return bool((spread > 0.01).any())
