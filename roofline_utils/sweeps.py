"""Sweeps over batch and context length: time per token, throughput and the memory limit."""
from __future__ import annotations

from dataclasses import replace
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from .hardware import Hardware, get_hardware
from .memory import _widest, capacity_bytes, needed_bytes
from .models import ModelConfig, load_model
from .errors import RooflineInputError
from .operators import PHASES, check_phases
from .roofline import _check_table, phase_arrays, totals
from .workload import Workload, check_positive_integers, check_workload

CATEGORIES = {  # operator -> bar of the time breakdown (dense_, shared_ and local_ variants go with theirs)
    "q_proj": "projections", "k_proj": "projections", "v_proj": "projections", "o_proj": "projections",
    "qkv_proj": "projections", "q_a_proj": "projections", "q_b_proj": "projections", "kv_a_proj": "projections",
    "kv_b_proj": "projections", "q_absorb": "projections", "out_absorb": "projections",
    "gate_proj": "MLP", "up_proj": "MLP", "gate_up_proj": "MLP", "down_proj": "MLP", "router": "MLP",
    "act_mul": "MLP", "act": "MLP",
    "qk_matmul": "attention", "softmax": "attention", "pv_matmul": "attention", "rope": "attention",
    "attn_temperature": "attention",
    "attn_allreduce": "all-reduce (link)", "mlp_allreduce": "all-reduce (link)",
    "lm_head": "embedding + lm_head", "embedding": "embedding + lm_head",
    "position_embedding": "embedding + lm_head",
    # the recurrent layers' projections, and their own work (short convolution, gates, state update, norm)
    "in_proj": "projections", "in_proj_qkvz": "projections", "in_proj_ba": "projections", "out_proj": "projections",
    "conv1d": "recurrent layers", "gdn_gates": "recurrent layers", "delta_rule": "recurrent layers",
    "ssm_scan": "recurrent layers", "gated_norm": "recurrent layers",
}
VARIANT_PREFIX = r"^(dense_|shared_|local_|chunked_)"
GROUP_CATEGORIES = {"qkv mlp": "projections", "up/gate/down": "MLP", "qk/pv": "attention"}  # a name not listed


def decode_sweep(model: ModelConfig | str, hardware: Hardware | str, workload: Workload,
                 batches, seq_lens) -> pd.DataFrame:
    """Every (batch, context length) pair: decode time per token, tokens/s, and whether it fits.

    tpot_s is one decode step at that KV length; tokens_per_s = batch / tpot_s (the whole
    batch, per tensor-parallel group); fits compares weights + KV cache at the request's end
    (seq_len + output_len) + activations with what a server may use of one device's memory
    (decode activations; prefills are assumed chunked); within_context whether prompt + output fit
    the model's context (``max_position_embeddings``; True where the config gives none). One vectorised call.
    """
    model, hardware, workload = load_model(model), get_hardware(hardware), check_workload(workload)
    check_positive_integers("batches", batches)
    check_positive_integers("seq_lens", seq_lens)
    workload = _widest(workload)
    batch, seq = (a.ravel() for a in np.meshgrid(np.asarray(batches), np.asarray(seq_lens), indexing="ij"))
    grid = replace(workload, batch=batch, seq_len=seq)
    tpot = phase_arrays(model, hardware, grid, "decode")["time_s"]
    need = needed_bytes(model, grid, phases=("decode",))
    limit = model.sweep_limit(workload.output_len)  # the longest prompt the context holds with the output after it
    return pd.DataFrame({"batch": batch, "seq_len": seq, "tpot_s": tpot, "tokens_per_s": batch / tpot,
                         "memory_bytes": need, "fits": need <= capacity_bytes(hardware, workload),
                         "within_context": np.ones(seq.shape, bool) if limit is None else seq <= limit})


GRID_AXES = ("batch", "seq_len", "weight_bits", "act_bits", "kv_bits")


def grid_totals(model: ModelConfig | str, hardware: Hardware | str, workload: Workload,
                axes: Mapping[str | tuple[str, ...], Sequence], phases: tuple[str, ...] = PHASES,
                chunk_size: int = 1 << 16) -> dict[str, np.ndarray]:
    """time_s per phase at every point of the product of ``axes``, evaluated ``chunk_size`` points at a time.

    ``axes`` maps a Workload field (batch, seq_len, weight_bits, act_bits, kv_bits) to its values,
    or a tuple of fields to rows of values taken together (``("weight_bits", "act_bits", "kv_bits"):
    [(16, 16, 16), (8, 8, 8)]``). The result has one axis per key, in order. Working memory stays
    that of one chunk whatever the number of points: only the results (8 bytes per point and
    phase) grow, so 10⁷ configurations run in the same working memory as 10⁵.
    """
    model, hardware, workload = load_model(model), get_hardware(hardware), check_workload(workload)
    if not isinstance(axes, Mapping) or not axes:
        raise RooflineInputError("axes", f"must be a non-empty mapping of Workload field to values, got "
                                 f"{str(axes)[:60]!r}", ", ".join(GRID_AXES))
    columns = {}
    for key, values in axes.items():
        if isinstance(values, (str, bytes, set, dict)) or not isinstance(values, (list, tuple, np.ndarray)) \
                or len(values) == 0:
            raise RooflineInputError("axes", f"{key!r} must be a non-empty list or array of values, got "
                                     f"{str(values)[:60]!r}")
        names = (key,) if isinstance(key, str) else tuple(key)
        if not names or not set(names) <= set(GRID_AXES):
            raise RooflineInputError("axes", f"got {key!r}", ", ".join(GRID_AXES) + ", or a tuple of them")
        columns[names] = np.asarray(values).reshape(len(values), len(names))
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise RooflineInputError("chunk_size", f"must be a positive integer, got {chunk_size!r}")
    shape = tuple(len(rows) for rows in columns.values())
    size = int(np.prod(shape))
    results = {phase: np.empty(size) for phase in check_phases(phases)}
    for start in range(0, size, chunk_size):
        stop = min(start + chunk_size, size)
        index = np.unravel_index(np.arange(start, stop), shape)
        fields = {name: rows[where, i] for (names, rows), where in zip(columns.items(), index)
                  for i, name in enumerate(names)}
        chunk = totals(model, hardware, replace(workload, **fields), tuple(results))
        for phase, times in results.items():
            times[start:stop] = chunk[phase]["time_s"]
    return {phase: times.reshape(shape) for phase, times in results.items()}


def time_breakdown(table: pd.DataFrame) -> pd.DataFrame:
    """Seconds per phase and category (count × time per call); all-reduce is its own category."""
    _check_table(table, ["phase", "operator", "count", "time_s"])
    names = table["operator"].str.replace(VARIANT_PREFIX, "", regex=True)
    by_group = table["group"].map(GROUP_CATEGORIES) if "group" in table else None
    categories = names.map(CATEGORIES)
    categories = categories.where(~names.str.startswith("index_"), "attention")  # DeepSeek sparse attention's indexer
    if by_group is not None:
        categories = categories.fillna(by_group)
    categories = categories.fillna("norms + residuals")
    if "link_bytes" in table:  # whatever its name, an operator that moves bytes over the link is the all-reduce
        categories = categories.where(table["link_bytes"] <= 0, "all-reduce (link)")
    seconds = (table["time_s"] * table["count"]).groupby([table["phase"], categories], sort=False).sum()
    return seconds.rename("time_s").reset_index().rename(columns={"operator": "category"})


CHART_ATTENTION_IO = "unfused"  # the paper timed qk and pv as separate matmuls, their scores through memory


def sweep_points(model: ModelConfig | str, hardware: Hardware | str, workload: Workload, batches, seq_lens,
                 phases=("prefill", "decode"), attention_io: str = CHART_ATTENTION_IO) -> pd.DataFrame:
    """Chart points (one per phase, group and setting) over every batch x length pair: one vectorised call.

    The chart counts attention as the paper measured it (``attention_io="unfused"``: ``qk/pv`` are two
    matmuls with the score matrix in memory), whatever the workload's served ``attention_io``."""
    from .roofline import group_points, operator_table

    batch, seq = (a.ravel() for a in np.meshgrid(np.asarray(batches), np.asarray(seq_lens), indexing="ij"))
    grid = replace(workload, batch=batch, seq_len=seq, attention_io=attention_io)
    return group_points(operator_table(model, hardware, grid, phases=phases))
