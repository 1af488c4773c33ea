"""End to end: time to first token, per-token time as the KV cache grows, total latency, throughput.

After a prefill of ``prompt_len`` tokens the first output token exists (its logits are the
prefill's last). Each further token is one decode step; step j (1-based) attends to
prompt_len + j positions. All steps are evaluated in one vectorised call, not a loop.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .errors import RooflineInputError
from .hardware import Hardware, get_hardware
from .models import ModelConfig, load_model
from .roofline import phase_arrays
from .workload import Workload, check_workload


@dataclass(frozen=True)
class EndToEnd:
    """Roofline latencies (seconds) for one request shape; per-device figures use ``tp`` devices."""

    batch: int
    prompt_len: int
    output_len: int
    tp: int
    ttft_s: float
    step_times_s: np.ndarray  # decode steps 1..output_len-1

    @property
    def total_s(self) -> float:
        """Time until the last of ``output_len`` tokens: prefill + every decode step."""
        return self.ttft_s + float(self.step_times_s.sum())

    @property
    def mean_tpot_s(self) -> float:
        """Mean time per output token after the first (0 when only one token is generated)."""
        return float(self.step_times_s.mean()) if self.step_times_s.size else 0.0

    @property
    def tokens_per_s_per_user(self) -> float | None:
        """Decode speed one sequence sees: 1 / mean time per output token.

        None when output_len is 1: there is no decode step, so no decode speed to report.
        """
        return 1 / self.mean_tpot_s if self.step_times_s.size else None

    @property
    def tokens_per_s_per_device(self) -> float:
        """Output tokens of the whole batch over the total latency, divided among the devices."""
        return self.batch * self.output_len / self.total_s / self.tp


def end_to_end(model: ModelConfig | str, hardware: Hardware | str, workload: Workload,
               prompt_len: int, output_len: int) -> EndToEnd:
    """Prefill ``prompt_len`` tokens for ``workload.batch`` sequences, then generate ``output_len`` tokens.

    One request shape: the workload's batch and bit widths must be single values (its seq_len
    is replaced by prompt_len and the growing KV length).
    """
    for name, value in (("prompt_len", prompt_len), ("output_len", output_len)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 1 <= value <= 1 << 24:
            raise RooflineInputError(name, f"must be a positive integer up to {1 << 24:,}, got {value!r}")
    check_workload(workload)
    for name in ("batch", "weight_bits", "act_bits", "kv_bits"):
        if np.size(getattr(workload, name)) != 1:
            raise RooflineInputError(name, f"end_to_end takes one request shape, got {getattr(workload, name)!r}",
                                     "a single value; loop over values or use decode_sweep for a grid")
    workload = replace(workload, **{name: np.asarray(getattr(workload, name)).item()
                                    for name in ("batch", "weight_bits", "act_bits", "kv_bits")})
    model, hardware = load_model(model), get_hardware(hardware)
    prefill = phase_arrays(model, hardware, replace(workload, seq_len=prompt_len), "prefill")
    kv_lengths = prompt_len + np.arange(1, output_len)
    steps = phase_arrays(model, hardware, replace(workload, seq_len=kv_lengths if kv_lengths.size else 1),
                         "decode")["time_s"] if output_len > 1 else np.zeros(0)
    return EndToEnd(batch=int(workload.batch), prompt_len=prompt_len, output_len=output_len, tp=workload.tp,
                    ttft_s=float(prefill["time_s"]), step_times_s=np.broadcast_to(steps, kv_lengths.shape))
