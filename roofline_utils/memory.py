"""Memory footprint (weights + KV cache + activations) against the device's capacity, as a server sees it.

The KV cache holds a request at its end (prompt + output tokens); activations are those of the
fused attention kernels a serving engine runs, whatever IO model the chart uses (unfused
attention would keep the whole b·H·s² score matrix); the capacity is the memory the device
reports to software, times the share the server may use (vLLM's ``gpu_memory_utilization``).

One accounting decides every fit (the verdict, the largest batch, the fewest devices, the sweeps):
what a server needs to keep the batch decoding, with decode's activations. Prefilling every prompt
of the batch in one pass needs more (its widest operator holds batch × prompt tokens); servers
prefill in chunks, so that figure is reported beside the fit, not in it.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .errors import RooflineInputError
from .hardware import Hardware, get_hardware
from .models import ModelConfig, load_model
from .operators import (PHASES, check_tensor_parallel, index_cache_elements, kv_cache_elements, operator_costs,
                        state_bytes, weight_elements)
from .workload import INDEX_KEY_BITS, Workload, check_workload, element_bytes

MAX_BATCH_SEARCHED = 1 << 18  # the batch grid is evaluated at once; beyond this it costs gigabytes


def _widest(workload: Workload) -> Workload:
    """The workload at its widest bit widths: over a grid of widths, the footprint that must fit."""
    return replace(workload, **{name: int(np.max(getattr(workload, name)))
                                for name in ("weight_bits", "act_bits", "kv_bits")})


def weight_bytes(model: ModelConfig, workload: Workload) -> float:
    """Every parameter one device holds (ModelConfig.parameter_count(tp): its share of the split
    tensors, whole copies of the replicated ones, K/V heads included when tp > Hkv), each at its width:
    the linear layers at ``weight_bits`` with their group scales, the norm gains, the router and
    (unless ``quantize_head``) embed_tokens and lm_head at 16 bits.

    Llama-33B at 16 bits: 32,528,943,616 parameters · 2 B = 65,057,887,232 B (65.1 GB).
    """
    widths = element_bytes(workload)
    return float(sum(count * widths[field] for field, count in weight_elements(model, workload).items()))


def kv_cache_bytes(model: ModelConfig, batch, seq_len, kv_bits: float, tp: int = 1,
                   mla: str = "absorbed") -> np.ndarray:
    """The KV cache of ``batch`` sequences at ``seq_len`` cached positions, per device, at ``kv_bits``.

    Per layer and position, what a decoding token writes to it (operators.kv_cache_elements):
    2 · Hkv · d for grouped-query attention (max(Hkv/tp, 1) heads per device), MLA's latent
    (r_kv + d_rope, on every device) in its ``mla`` form; sliding-window layers keep at most the
    window. Llama-33B, b=1, s=1024, 16 bits: 2 · 60 · 1 · 1024 · 52 · 128 · 2 = 1,635,778,560 B.

    Beside the KV cache, what a sequence keeps in the same way: DeepSeek sparse attention's indexer cache
    (index_head_dim per position and layer at INDEX_KEY_BITS, whatever ``kv_bits``: 132 B per token and layer
    at 128), and the recurrent states of Gated DeltaNet and Mamba-2 layers (operators.state_bytes: fp32
    states and 16-bit convolution states, one per sequence, however long).
    """
    work = Workload(tp=tp, mla=mla)
    per_sequence = kv_cache_elements(model, work, seq_len) * kv_bits / 8
    if model.index_topk is not None:
        per_sequence = per_sequence + index_cache_elements(model, work, seq_len) * INDEX_KEY_BITS / 8
    if model.hybrid:
        per_sequence = per_sequence + state_bytes(model, work)
    return np.asarray(batch, dtype=float) * per_sequence


def activation_bytes(model: ModelConfig, workload: Workload, phases: tuple[str, ...] = PHASES) -> np.ndarray:
    """Peak transient activations: the largest activation input + output of any one operator, with the
    fused attention a serving engine runs (scores stay on chip, whatever ``attention_io`` the chart uses).

    Activations live only around the operator that uses them, so the peak is set by the
    widest operator (the MLP's gate and up tensors, or the logits). An estimate: frameworks
    also reserve workspace and fragment memory.
    """
    fused = replace(workload, attention_io="fused")
    peaks = [cost["act_read_bytes"] + cost["act_write_bytes"]
             for phase in phases for _, cost in operator_costs(model, fused, phase)]
    return np.max(np.broadcast_arrays(*peaks), axis=0)


def capacity_bytes(hardware: Hardware, workload: Workload) -> float:
    """What a server may fill: the memory the device reports (Hardware.usable_memory_bytes) times
    ``gpu_memory_utilization``. A40: 46,068 MiB · 0.9 = 43,475,792,691 B (43.5 GB)."""
    return hardware.usable_memory_bytes * workload.gpu_memory_utilization


def capacity_note(hardware: Hardware, workload: Workload) -> str:
    """Where capacity_bytes comes from, in words: '46,068 MiB reported (its source is in Appendix A) × 0.9'."""
    if hardware.reported_memory_bytes is not None:
        source = f"{hardware.reported_memory_bytes / 2**20:,.0f} MiB reported"
        source += " (its source is in Appendix A)" if hardware.reported_memory_source else ""
    else:
        source = f"the datasheet's {hardware.memory_bytes / 2**30:g} GB read as decimal GB (no reported figure)"
    return f"{source} × gpu_memory_utilization {workload.gpu_memory_utilization:g}"


def needed_bytes(model: ModelConfig, workload: Workload, phases: tuple[str, ...] = PHASES) -> np.ndarray:
    """Weights + KV cache at the end of the request (seq_len + output_len positions) + peak activations,
    over the workload's grid of batch and length."""
    return (weight_bytes(model, workload)
            + kv_cache_bytes(model, workload.batch, np.asarray(workload.seq_len) + workload.output_len,
                             workload.kv_bits, workload.tp, workload.mla)
            + activation_bytes(model, workload, phases))


@dataclass(frozen=True)
class MemoryFootprint:
    """Bytes needed on one device, and whether they fit its capacity."""

    weights_bytes: float
    kv_cache_bytes: float
    activations_bytes: float  # peak of a decode step: what keeping the batch decoding needs
    capacity_bytes: float
    kv_positions: int = 0  # positions the KV cache holds per sequence: prompt + output
    capacity_note: str = ""  # where the capacity comes from, in words
    prefill_activations_bytes: float = 0.0  # peak of prefilling every prompt in one pass: not in the total
    cache_kind: str = "KV cache"  # what kv_cache_bytes holds, in words (cache_kind below)

    @property
    def one_pass_prefill_fits(self) -> bool:
        """Whether the weights, the cache and a one-pass prefill of the whole batch fit together."""
        return self.weights_bytes + self.kv_cache_bytes + self.prefill_activations_bytes <= self.capacity_bytes

    @property
    def total_bytes(self) -> float:
        return self.weights_bytes + self.kv_cache_bytes + self.activations_bytes

    @property
    def fits(self) -> bool:
        return self.total_bytes <= self.capacity_bytes

    def verdict(self, device: str) -> str:
        """One sentence: fits or does not fit, with the numbers that decide it; ``device`` as a sentence
        names it (:attr:`Hardware.called`: 'the NVIDIA A40', or a user's 'My GPU')."""
        from .text import markdown_text
        from .units import nbytes

        # one rounding for every byte count of the report (units.nbytes), so 2.7 and the abstract agree
        need, have, short = nbytes(self.total_bytes), nbytes(self.capacity_bytes), nbytes(self.total_bytes - self.capacity_bytes)

        device = markdown_text(device)  # a sentence of Markdown: the name shows as text
        if self.fits:
            return (f"Fits: {need} needed of the {have} a server may use on {device} "
                    f"({self.total_bytes / self.capacity_bytes:.0%} used).")
        alone = " The weights alone do not fit." if self.weights_bytes > self.capacity_bytes else ""
        return (f"Does not fit: {need} needed, a server may use {have} of {device} "
                f"(short by {short}).{alone}")


def memory_footprint(model: ModelConfig | str, hardware: Hardware | str, workload: Workload) -> MemoryFootprint:
    """Weights + KV cache (at seq_len + output_len) + a decode step's peak activations, per device, vs
    what a server may use: the same count :func:`largest_batch_that_fits` searches, so the verdict at
    a batch and the largest batch never disagree. A one-pass prefill's peak is reported beside it.

    Over a grid (arrays of batch, seq_len or bit widths) the largest of each term is taken.
    """
    model, hardware = load_model(model), get_hardware(hardware)
    workload = _widest(check_workload(workload))
    check_tensor_parallel(model, workload.tp)
    return MemoryFootprint(
        weights_bytes=weight_bytes(model, workload),
        kv_cache_bytes=float(np.max(kv_cache_bytes(model, workload.batch,
                                                   np.asarray(workload.seq_len) + workload.output_len,
                                                   workload.kv_bits, workload.tp, workload.mla))),
        activations_bytes=float(np.max(activation_bytes(model, workload, phases=("decode",)))),
        capacity_bytes=capacity_bytes(hardware, workload),
        kv_positions=int(np.max(workload.seq_len)) + workload.output_len, capacity_note=capacity_note(hardware, workload),
        prefill_activations_bytes=float(np.max(activation_bytes(model, workload, phases=("prefill",)))),
        cache_kind=cache_kind(model))


def cache_kind(model: ModelConfig) -> str:
    """What a sequence keeps between steps, in words: 'KV cache', 'KV cache and recurrent state' (Gated
    DeltaNet, Mamba-2 layers), 'KV cache and index keys' (DeepSeek sparse attention)."""
    parts = ["KV cache"]
    if model.index_topk is not None:
        parts.append("index keys")
    if model.num_linear_layers or model.num_mamba_layers:
        parts.append("recurrent state")
    return " and ".join(parts)


def largest_batch_that_fits(model: ModelConfig | str, hardware: Hardware | str, workload: Workload,
                            max_batch: int = 1 << 16) -> int:
    """The largest batch a device can keep decoding: weights + KV cache + decode activations fit
    (0: not even one sequence).

    Prefill activations are left out: a server prefills a few prompts (or chunks of one) at a
    time, not the whole batch in one pass. The footprint is evaluated on 1..max_batch at once
    (max_batch up to MAX_BATCH_SEARCHED), at the workload's widest bit widths and longest seq_len.
    """
    model, hardware = load_model(model), get_hardware(hardware)
    workload = _widest(check_workload(workload))
    check_tensor_parallel(model, workload.tp)
    if isinstance(max_batch, bool) or not isinstance(max_batch, (int, np.integer)) \
            or not 1 <= max_batch <= MAX_BATCH_SEARCHED:
        raise RooflineInputError("max_batch", f"must be an integer from 1 to {MAX_BATCH_SEARCHED:,}, "
                                 f"got {max_batch!r}")
    batches = np.arange(1, max_batch + 1)
    grid = replace(workload, batch=batches, seq_len=int(np.max(workload.seq_len)))
    fits = batches[needed_bytes(model, grid, phases=("decode",)) <= capacity_bytes(hardware, workload)]
    return int(fits.max()) if fits.size else 0


def fewest_devices_that_fit(model: ModelConfig | str, hardware: Hardware | str, workload: Workload,
                            candidates: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64)) -> int | None:
    """The smallest tensor-parallel degree (of those that split the model evenly) whose per-device
    footprint fits. None when even the largest candidate does not."""
    model, hardware, workload = load_model(model), get_hardware(hardware), check_workload(workload)
    try:
        candidates = tuple(candidates)
    except TypeError:
        candidates = ()
    if not candidates or not all(isinstance(tp, (int, np.integer)) and not isinstance(tp, bool)
                                 and 1 <= tp <= 1024 for tp in candidates):
        raise RooflineInputError("candidates", f"must be a non-empty sequence of device counts, got {candidates!r}",
                                 "integers from 1 to 1024")
    for tp in candidates:
        try:
            check_tensor_parallel(model, tp)
        except RooflineInputError:
            continue
        if memory_footprint(model, hardware, replace(workload, tp=tp)).fits:
            return tp
    return None
