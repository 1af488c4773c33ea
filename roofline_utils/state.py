"""What each kind of layer reads per generated token: its KV cache, index keys or recurrent state.

A decode step's sequence mixer reads what the earlier positions left behind. How much depends on the kind:
full attention reads the K and V of every cached position, a sliding window at most its window, MLA one
latent per position, DeepSeek sparse attention every position's index key and then only the top-k latents,
Gated DeltaNet and Mamba-2 a fixed state whatever the length. The numbers come from the operator list (the
operators' KV-cache traffic, ``kv_read`` and ``kv_write``), grouped by the layers each operator runs in, at
the report's length and at twice it, so the growth is read off the data rather than assumed.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from .hardware import Hardware
from .models import ModelConfig
from .units import nbytes, number

# Each layer kind's cache read per token and layer, as chapter 3 writes it (s: cached positions).
KIND_FORMULAS = {
    "full attention": r"$2 \cdot s \cdot H_{kv} d \cdot kv$",
    "sliding-window attention": r"$2 \cdot \min(s, w) \cdot H_{kv} d \cdot kv$",
    "chunked attention": r"$2 \cdot (((s-1) \bmod c) + 1) \cdot H_{kv} d \cdot kv$",
    "MLA": r"$s \cdot (d_c + d_{rope}) \cdot kv$",
    "DeepSeek sparse attention": r"$s \cdot 132 + \min(s, k_{top}) \cdot (d_c + d_{rope}) \cdot kv$",
    "Gated DeltaNet": r"$H_v d_k d_v \cdot 4$ + the short convolution's state",
    "Mamba-2": r"$H \, d_{head} \, d_{state} \cdot 4$ + the short convolution's state",
}


@dataclass(frozen=True)
class KindReads:
    kind: str  # a key of KIND_FORMULAS
    layers: int
    read_bytes: float  # per generated token and layer, at the report's length
    read_bytes_doubled: float  # the same at twice the length
    written_bytes: float  # per generated token and layer (the new K/V, index key or the updated state)

    @property
    def growth(self) -> float:
        """Read at 2s over read at s: 2 in proportion, 1 fixed, in between partly."""
        return self.read_bytes_doubled / self.read_bytes if self.read_bytes else 1.0


@dataclass(frozen=True)
class CacheReads:
    kinds: tuple[KindReads, ...]
    seq_len: int
    chunk: int | None = None  # chunked attention's chunk (Llama 4): its read never passes one chunk

    def bounded(self, kind: KindReads) -> bool:
        """Whether the kind's read stops growing by this length: a fixed state, a full window, or a chunked
        layer past its first chunk (a sawtooth at most one chunk long, whatever the context)."""
        if kind.kind == "chunked attention":
            return self.chunk is not None and self.seq_len >= self.chunk
        return kind.growth < 1.05


def _kind(model: ModelConfig, tag: str, names: set[str]) -> str:
    if "delta_rule" in names:
        return "Gated DeltaNet"
    if "ssm_scan" in names:
        return "Mamba-2"
    if "index_scores" in names:
        return "DeepSeek sparse attention"
    if model.mla:
        return "MLA"
    if tag == "chunked":
        return "chunked attention"
    # Mistral windows every layer (tag "all"); Gemma 2 and Qwen2 window some ("local")
    every_layer_sliding = model.sliding_window is not None and model.num_sliding_layers >= model.layer_count(tag)
    return "sliding-window attention" if tag == "local" or every_layer_sliding else "full attention"


def cache_reads(model: ModelConfig, hardware: Hardware, workload) -> CacheReads:
    """Per layer kind of ``model``: layers, cache or state bytes a generated token reads per layer at the
    report's length (one sequence) and at twice it, and what it writes."""
    from .operators import operator_list
    from .roofline import operator_table

    seq_len = int(workload.seq_len)
    one = replace(workload, batch=1)
    tables = [operator_table(model, hardware, replace(one, seq_len=n), phases=("decode",)) for n in (seq_len, 2 * seq_len)]
    tag_of = {op.name: op.layers for op in operator_list(model, one, "decode")}
    reads = [{tag: 0.0 for tag in tag_of.values()} for _ in tables]
    writes = {tag: 0.0 for tag in tag_of.values()}
    names: dict[str, set[str]] = {tag: set() for tag in tag_of.values()}
    for i, table in enumerate(tables):
        for name, read, write in zip(table["operator"], table["kv_read_bytes"], table["kv_write_bytes"]):
            reads[i][tag_of[name]] += float(read)
            if i == 0:
                writes[tag_of[name]] += float(write)
                if read > 0:
                    names[tag_of[name]].add(name)
    kinds = []
    for tag, read in reads[0].items():
        if read > 0:  # the new K/V of sliding and full layers is written by projections run in every layer
            written = writes[tag] or writes.get("all", 0.0)
            kinds.append(KindReads(_kind(model, tag, names[tag]), model.layer_count(tag), read, reads[1][tag], written))
    return CacheReads(tuple(kinds), seq_len, model.attention_chunk_size)


RECURRENT = ("Gated DeltaNet", "Mamba-2")


def growth_words(kind: KindReads, chunk: int | None = None, seq_len: int = 0) -> str:
    """Whether the kind's read grows with the context, read off its two lengths (a chunked layer's by its
    chunk: a sawtooth of at most ``chunk`` positions, whatever two lengths are compared)."""
    if kind.kind == "chunked attention" and chunk:
        return (f"no: at most one chunk of {chunk:,}, a sawtooth that restarts at each chunk boundary"
                if seq_len >= chunk else f"in proportion until the first chunk of {chunk:,} is full, then a sawtooth")
    if kind.growth > 1.9:
        return "in proportion"
    if kind.growth < 1.05:
        return {"Gated DeltaNet": "no: a fixed state", "Mamba-2": "no: a fixed state",
                "sliding-window attention": "no: the window is full",
                "chunked attention": "no: at most one chunk, a sawtooth that restarts at each boundary"}.get(kind.kind, "no")
    if kind.kind == "DeepSeek sparse attention":
        return f"partly: the index keys do, the top-k latents do not ({number(kind.growth)}× at twice the length)"
    if kind.kind == "sliding-window attention":
        return f"partly: until the window is full ({number(kind.growth)}× at twice the length)"
    return f"partly ({number(kind.growth)}× at twice the length)"


def cache_reads_markdown(found: CacheReads) -> str:
    """The table of this model's layer kinds and a sentence on what grows with the context."""
    n = found.seq_len
    rows = [f"| layer kind | read per token and layer | layers | read at {n:,} tokens | at {2 * n:,} tokens "
            "| grows with the context | written per token and layer |", "|:---|:---|---:|---:|---:|:---|---:|"]
    for k in found.kinds:
        rows.append(f"| {k.kind} | {KIND_FORMULAS[k.kind]} | {k.layers:,} | {nbytes(k.read_bytes)} | "
                    f"{nbytes(k.read_bytes_doubled)} | {growth_words(k, found.chunk, n)} | {nbytes(k.written_bytes)} |")
    total = sum(k.read_bytes * k.layers for k in found.kinds)
    fixed = [k for k in found.kinds if found.bounded(k)]
    growing = [k for k in found.kinds if not found.bounded(k)]
    fixed_bytes = sum(k.read_bytes * k.layers for k in fixed)
    recurrent = any(k.kind in RECURRENT for k in found.kinds)
    head = (f"Per generated token one sequence reads **{nbytes(total)}** of {'cache and state' if recurrent else 'cache'} "
            f"over all its layers at {n:,} tokens")
    if not fixed and all(k.growth > 1.9 for k in found.kinds):
        return "\n".join(rows) + f"\n\n{head}, and all of it grows in proportion to the context: every step of " \
            "a longer conversation reads more bytes."
    if not fixed:
        total_doubled = sum(k.read_bytes_doubled * k.layers for k in found.kinds)
        capped = ("the index keys are read in full and grow, the top-k latents are capped"
                  if any(k.kind == "DeepSeek sparse attention" for k in found.kinds) else
                  "the sliding windows fill up before twice this length")
        return "\n".join(rows) + (f"\n\n{head}, and it grows with the context, but less than in proportion "
                                  f"({number(total_doubled / total)}× at twice the length): {capped}.")
    what = " and ".join(f"{k.kind}'s {'state' if k.kind in RECURRENT else 'current chunk' if k.kind == 'chunked attention' else 'full window'}"
                        for k in fixed)
    if not growing:
        return "\n".join(rows) + f"\n\n{head}, and none of it grows past this length ({what}): a decode step " \
            "costs the same at every longer context."
    layers = sum(k.layers for k in growing)
    return "\n".join(rows) + (
        f"\n\n{head}: {fixed_bytes / total:.0%} does not grow with the context ({what}), "
        f"{1 - fixed_bytes / total:.0%} does ({' and '.join(k.kind for k in growing)}, "
        f"{layers:,} of the {layers + sum(k.layers for k in fixed):,} layers): at long contexts those layers set "
        "the cost.")
