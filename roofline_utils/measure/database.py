"""Kernel timings measured on real GPUs by others: NVIDIA's aiconfigurator-core (Apache-2.0).

The package (``pip install -e '.[kernels]'``; never required) ships the timings its collectors took
with vLLM, SGLang and TensorRT-LLM as parquet tables under
``aiconfigurator_core/systems/data/<gpu>/<op>/<framework>/<version>/``. This module finds them
without importing the package (its ``__init__`` loads a compiled engine this needs none of), and
reads the three tables the report's operators need into one plain frame (``KERNEL_COLUMNS``):

  gemm               ``gemm_perf``: [m × k]·[k × n] in bf16 (``torch.nn.functional.linear`` on vLLM)
  prefill_attention  ``context_attention_perf``: causal attention of ``batch`` prompts of ``isl``
                     tokens, ``heads`` query and ``kv_heads`` K/V heads of ``head_dim``
  decode_attention   ``generation_attention_perf``: one query token per sequence against a KV cache
                     of ``isl + step`` positions (the collector fills ``isl`` = 1 and steps 2^j − 1,
                     so lengths are powers of two)

Only the bf16 rows with a bf16 KV cache, global attention (window 0) and beam width 1 are read:
the report's 16-bit case. Latency stays in milliseconds, as the tables give it (``latency_ms``), so
a row of the shipped extract can be compared with its source exactly. Where one shape has several
rows (two kernel sources), the fastest is kept: what a server that picks its kernel would run.
"""
from __future__ import annotations

import re
from functools import lru_cache
from importlib import util
from pathlib import Path

import pandas as pd

from ..errors import RooflineInputError
from ..hardware import get_hardware, hardware_names

DISTRIBUTION = "aiconfigurator-core"
KINDS = ("gemm", "prefill_attention", "decode_attention")
TABLES = {"gemm": ("gemm", "gemm_perf"), "prefill_attention": ("attention", "context_attention_perf"),
          "decode_attention": ("attention", "generation_attention_perf")}
KEYS = {"gemm": ["m", "n", "k"], "prefill_attention": ["heads", "kv_heads", "head_dim", "batch", "length"],
        "decode_attention": ["heads", "kv_heads", "head_dim", "batch", "length"]}
SHAPE_COLUMNS = ["m", "n", "k", "batch", "length", "heads", "kv_heads", "head_dim"]
KERNEL_COLUMNS = ["device", "gpu", "framework", "version", "kind", "dtype", "kernel_source", *SHAPE_COLUMNS,
                  "latency_ms"]
FRAMEWORK_NAMES = {"vllm": "vLLM", "sglang": "SGLang", "trtllm": "TensorRT-LLM"}
DEFAULT_FRAMEWORK = "vllm"


def installed() -> bool:
    """True when aiconfigurator-core is importable (found, not imported)."""
    return util.find_spec("aiconfigurator_core") is not None


def package_version() -> str:
    from importlib.metadata import version

    return version(DISTRIBUTION)


def data_root() -> Path:
    """``aiconfigurator_core/systems/data`` of the installed package, located without importing it."""
    spec = util.find_spec("aiconfigurator_core")
    if spec is None or not spec.submodule_search_locations:
        raise RooflineInputError("measured", f"{DISTRIBUTION} is not installed",
                                 "pip install -e '.[kernels]', or the shipped extract's devices")
    return Path(list(spec.submodule_search_locations)[0]) / "systems" / "data"


def _tokens(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


def _chip(tokens: set[str]) -> set[str]:
    """The chip's model number among a name's words: a100, h100, l40s, b200 (a letter or two and digits)."""
    return {t for t in tokens if re.fullmatch(r"[a-z]{1,2}\d{2,3}[a-z]?", t) and not t.endswith("gb")}


def match_catalog(gpu_name: str) -> str | None:
    """The catalog key of the GPU a table names (its ``device`` column, nvidia-smi's name), by name.

    Candidates share the chip's model number (A100, H100, ...); among them the one whose name and
    memory type share the most words with the table's name wins ('NVIDIA H100 80GB HBM3' is the
    HBM3 H100, the SXM5 board; 'NVIDIA A100-SXM4-80GB' the 80 GB SXM4 A100). A tie is no match.
    """
    words = _tokens(gpu_name)
    chip = _chip(words)
    if not chip:
        return None
    scores = {}
    for key in hardware_names():
        hw = get_hardware(key)
        theirs = _tokens(f"{hw.name} {hw.memory_type}")
        if chip & _chip(theirs):
            scores[key] = len(words & theirs)
    if not scores:
        return None
    best = max(scores.values())
    winners = [key for key, score in scores.items() if score == best]
    return winners[0] if len(winners) == 1 else None


@lru_cache(maxsize=None)
def database_devices() -> dict[str, str]:
    """Catalog key -> the database's folder for every GPU of the database the catalog holds."""
    root = data_root()
    found = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        tables = sorted(folder.glob("gemm/*/*/gemm_perf.parquet"))
        if not tables:
            continue
        gpu = str(pd.read_parquet(tables[0], columns=["device"])["device"].iloc[0])
        key = match_catalog(gpu)
        if key is not None and key not in found:
            found[key] = folder.name
    return found


def _version_key(version: str) -> tuple:
    try:
        from packaging.version import Version

        return (0, Version(version))
    except Exception:  # noqa: BLE001 - an unparseable version sorts by its numbers
        return (1, tuple(int(n) for n in re.findall(r"\d+", version)))


def frameworks(device: str) -> dict[str, str]:
    """Framework -> the newest version holding both GEMM and attention tables for ``device`` (a catalog key)."""
    folder = data_root() / database_devices()[device]
    newest = {}
    for framework_dir in sorted((folder / "gemm").iterdir()):
        gemm = {p.parent.name for p in framework_dir.glob("*/gemm_perf.parquet")}
        attention = {p.parent.name for p in (folder / "attention" / framework_dir.name).glob(
            "*/context_attention_perf.parquet")}
        both = gemm & attention
        if both:
            newest[framework_dir.name] = max(both, key=_version_key)
    return newest


def read_kernels(device: str, framework: str, version: str) -> pd.DataFrame:
    """The bf16 GEMMs and attention kernels of one GPU, framework and version (``KERNEL_COLUMNS``)."""
    folder = data_root() / database_devices()[device]
    parts = [_read(folder / op / framework / version / f"{table}.parquet", kind, device)
             for kind, (op, table) in TABLES.items()]
    return pd.concat(parts, ignore_index=True)[KERNEL_COLUMNS]


def _read(path: Path, kind: str, device: str) -> pd.DataFrame:
    raw = pd.read_parquet(path)
    if kind == "gemm":
        raw = raw[raw["gemm_dtype"] == "bfloat16"]
        frame = pd.DataFrame({"m": raw["m"], "n": raw["n"], "k": raw["k"]})
        dtype = "bf16"
    else:
        keep = (raw["kv_cache_dtype"] == "bfloat16") & (raw["attn_dtype"] == "bfloat16") & (raw["beam_width"] == 1)
        if "window_size" in raw:
            keep &= raw["window_size"] == 0
        raw = raw[keep]
        length = raw["isl"] if kind == "prefill_attention" else raw["isl"] + raw["step"]
        frame = pd.DataFrame({"batch": raw["batch_size"], "length": length, "heads": raw["num_heads"],
                              "kv_heads": raw["num_key_value_heads"], "head_dim": raw["head_dim"]})
        dtype = "bf16, KV bf16"
    frame = frame.assign(device=device, gpu=raw["device"].astype(str), framework=path.parent.parent.name,
                         version=path.parent.name, kind=kind, dtype=dtype,
                         kernel_source=raw["kernel_source"].astype(str), latency_ms=raw["latency"].astype(float))
    for column in SHAPE_COLUMNS:
        frame[column] = frame[column].astype("int64") if column in frame else 0
    # several kernel sources for one shape: the fastest, as a server choosing its kernel would run
    frame = frame.sort_values("latency_ms", kind="stable").drop_duplicates(KEYS[kind]).sort_index()
    return frame.reset_index(drop=True)
