"""Fuzz the inputs: bad and odd CLI flags, config.json files, device files, --out targets and
Python API calls, checked against the project's error standard.

    .venv/bin/python benchmarks/fuzz_inputs.py            # everything (about six minutes on 2 cores)
    .venv/bin/python benchmarks/fuzz_inputs.py --quick    # in-process inputs only (no renders, no processes; ~35 s)
    .venv/bin/python benchmarks/fuzz_inputs.py -v         # also print every input and its verdict

The contract (issue 8):
  * bad input: exactly ONE line on stderr, ``roofline: error: <field>: <problem> [(allowed: ...)]``
    naming the field, exit status 2, and nothing written or left behind (the temporary folder the
    input runs in is listed before and after: no new or changed file, no ``*.tmp``, no
    ``.roofline-render-*``, no empty folder);
  * never a traceback: no "Traceback" on stderr, exit status only 0 or 2, no exception escaping
    ``main`` (the Python API may raise only ``RooflineInputError``);
  * accepted input (exit 0): its outputs (the CSV or text table, the report's HTML and CSV, the
    API's results) hold no NaN, no inf and no negative number.

Most inputs run in-process through ``roofline_utils.cli.main(argv)``, each in a fresh temporary
folder as the working directory; about ten run through the installed ``roofline`` console script
to check the real process (exit status, broken pipe, a full disk). Exit status: 0 when every
check holds, 1 otherwise (each failing input is listed on one line: the input, what went wrong).
"""
from __future__ import annotations

import argparse
import io
import json
import math
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from contextlib import redirect_stderr, redirect_stdout
import dataclasses
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

import roofline_utils as rl
from roofline_utils import RooflineInputError
from roofline_utils.cli import main

GROUPS = ("flags", "config", "device", "out", "api")
GROUP_TITLES = {"flags": "flags", "config": "config files", "device": "device files", "out": "out targets",
                "api": "python api"}
ERROR_LINE = re.compile(r"roofline: error: (?P<field>[^\s:][^\s]*?): (?P<problem>\S.*)")
ROOFLINE = Path(sys.executable).with_name("roofline")


class Dir:
    """A folder to create in the temporary folder (``files`` value)."""


class Fifo:
    """A named pipe."""


class CharDevice:
    """A character device node (os.mknod; skipped where not permitted)."""


@dataclass
class Symlink:
    target: str


@dataclass
class Case:
    group: str                       # one of GROUPS: which count it adds to
    label: str                       # the input as a developer would type it
    argv: list[str] | None = None    # CLI arguments ("{tmp}" becomes the temporary folder)
    expect: str = "error"            # "error" (exit 2), "ok" (exit 0) or "either"
    field: tuple[str, ...] = ()      # the field(s) an error must name ("" prefix/suffix dashes ignored)
    files: dict = dataclasses.field(default_factory=dict)   # relative path -> str | bytes | dict | list | Dir | Fifo | ...
    outputs: tuple[str, ...] = ()    # relative paths an accepted run may create or replace
    call: Callable | None = None     # Python API: called with the temporary folder
    process: str | None = None       # run as a real process: "argv", "closed-pipe", "dev-full", "shell"
    shell: str | None = None         # for process="shell": a bash command line ("roofline" is the script)
    help: bool = False               # --help / --version: SystemExit(0) is the expected way out


@dataclass
class Result:
    code: int | None = None
    stdout: str = ""
    stderr: str = ""
    escaped: str | None = None       # the last line of an exception that escaped
    value: object = None             # the Python API's result


# --------------------------------------------------------------------------- inputs

BASE_CONFIG = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096,
               "intermediate_size": 11008, "num_attention_heads": 32, "num_key_value_heads": 32,
               "num_hidden_layers": 32, "vocab_size": 32000, "tie_word_embeddings": False}
MIXTRAL = {"architectures": ["MixtralForCausalLM"], "model_type": "mixtral", "hidden_size": 4096,
           "intermediate_size": 14336, "num_attention_heads": 32, "num_key_value_heads": 8,
           "num_hidden_layers": 32, "vocab_size": 32000, "num_local_experts": 8, "num_experts_per_tok": 2}
BASE_DEVICE = {"name": "Fuzz GPU", "bandwidth_gb_s": 696, "memory_gb": 48,
               "peak_tflops": {"fp16": 149.7, "bf16": 149.7, "int8": 299.3}, "link_gb_s": 32, "l2_mb": 6}
MISSING = object()
NAN, INF = float("nan"), float("inf")


def _with(base: dict, **changes) -> dict:
    record = json.loads(json.dumps(base))
    for key, value in changes.items():
        if value is MISSING:
            record.pop(key, None)
        else:
            record[key] = value
    return record


def _json(value) -> str:
    return json.dumps(value)  # NaN and Infinity come out as Python's json writes them (and reads them)


def flag_cases() -> list[Case]:
    cases = []
    ints = {"--batch": (1, 2**20), "--seq-len": (1, 2**24), "--tp": (1, 1024), "--tree-size": (1, 4096),
            "--medusa-heads": (0, 64)}
    bad_ints = ["0", "-1", "1e3", "two", "", "1.5", str(2**64), "1" * 400, "nan", "inf", "١٢", "--", "0x10"]
    for flag, (low, high) in ints.items():
        for text in [t for t in bad_ints if not (t == "0" and low == 0)] + [str(high + 1)]:
            expect = "either" if text in ("١٢",) else "error"  # int() reads Arabic-Indic digits: 12
            cases.append(Case("flags", f"table {flag} {text!r}", ["table", flag, text], expect, (flag,)))
    # render: only inputs that fail before any notebook runs ("2," or "1,,2" would render: not here)
    for text in ["0", "-5", "1e3", "two", "", ",", " , ", "1;2", "1," * 65 + "1", str(2**21)]:
        cases.append(Case("flags", f"render --sweep-batches {text!r}",
                          ["render", "--sweep-batches", text, "--out", "r"], "error", ("sweep_batches",)))
    for text in ["0", str(2**24 + 1), "x"]:
        cases.append(Case("flags", f"render --sweep-seq-lens {text!r}",
                          ["render", "--sweep-seq-lens", text, "--out", "r"], "error", ("sweep_seq_lens",)))
    for text in ["0", "-1", "two", str(2**20 + 1)]:
        cases.append(Case("flags", f"render --output-len {text!r}", ["render", "--output-len", text, "--out", "r"],
                          "error", ("output_len",)))
    for text in ["0", "-1", str(2**20), "inf", "-inf", "nan", "1e400", "", "three", "0x3", "3,5"]:
        cases.append(Case("flags", f"render --acceptance {text!r}", ["render", "--acceptance", text, "--out", "r"],
                          "error", ("acceptance",)))
    for text in ["0", "1", "-0.5", "1.0", "nan", "inf", "1e-400", "", "0,7", "seventy"]:
        cases.append(Case("flags", f"render --draft-acceptance {text!r}",
                          ["render", "--draft-acceptance", text, "--out", "r"], "error", ("draft_acceptance",)))
    for text in ["0", "33", "-1", "", "2.5"]:
        cases.append(Case("flags", f"render --draft-tokens {text!r}", ["render", "--draft-tokens", text, "--out", "r"],
                          "error", ("draft_tokens",)))
    for text in ["llama-3.1-8b", "qwen2.5-7b", "nope", "", "/", "none.json"]:
        cases.append(Case("flags", f"render --draft-model {text!r}", ["render", "--draft-model", text, "--out", "r"],
                          "error", ("draft_model",)))
    for text in ["verify,decode", "Verify", "", "prefill decode"]:
        cases.append(Case("flags", f"table --phase {text!r}", ["table", "--phase", text], "error", ("phase",)))
    cases += [
        Case("flags", "render --tree-size 2 (acceptance 3.5 does not fit)", ["render", "--tree-size", "2", "--out", "r"],
             "error", ("acceptance",)),
        Case("flags", "table --phase verify --tree-size 4096 --medusa-heads 64 --batch 1048576",
             ["table", "--phase", "verify", "--tree-size", "4096", "--medusa-heads", "64", "--batch", "1048576"], "ok"),
        Case("flags", "table --phase all --model mixtral-8x7b --hardware h100 --tp 4",
             ["table", "--phase", "all", "--model", "mixtral-8x7b", "--hardware", "h100", "--tp", "4"], "ok"),
        Case("flags", "table --phase verify --model mistral-7b --seq-len 65536 --tree-size 64",
             ["table", "--phase", "verify", "--model", "mistral-7b", "--seq-len", "65536", "--tree-size", "64"], "ok"),
    ]
    for flag in ("--bits", "--weight-bits", "--act-bits", "--kv-bits"):
        for text in ["3", "0", "64", "16.0", "", "sixteen"]:
            cases.append(Case("flags", f"table {flag} {text!r}", ["table", flag, text], "error", (flag,)))
    for text in ["flash", "Fused", ""]:
        cases.append(Case("flags", f"table --attention-io {text!r}", ["table", "--attention-io", text], "error",
                          ("attention_io",)))
    for text in ["xml", "CSV", ""]:
        cases.append(Case("flags", f"table --format {text!r}", ["table", "--format", text], "error", ("format",)))
    cases += [
        Case("flags", "table --tp 3 (llama-33b: 52 heads)", ["table", "--tp", "3"], "error", ("tp",)),
        Case("flags", "table --tp 8 (llama-33b: 52 heads)", ["table", "--tp", "8"], "error", ("tp",)),
        Case("flags", "table --tp 1000", ["table", "--tp", "1000"], "error", ("tp",)),
        Case("flags", "table --hardware m2-ultra --tp 2 (no link)", ["table", "--hardware", "m2-ultra", "--tp", "2"],
             "error", ("tp",)),
        Case("flags", "table --hardware nonexistent-gpu", ["table", "--hardware", "nonexistent-gpu"], "error",
             ("hardware",)),
        Case("flags", "table --hardware ''", ["table", "--hardware", ""], "error", ("hardware",)),
        Case("flags", "table --hardware '   '", ["table", "--hardware", "   "], "error", ("hardware",)),
        Case("flags", "table --hardware 'a40\\x00'", ["table", "--hardware", "a40\x00"], "error", ("hardware",)),
        Case("flags", "table --hardware 'ä40🚀'", ["table", "--hardware", "ä40🚀"], "error", ("hardware",)),
        Case("flags", "table --model llama-34b", ["table", "--model", "llama-34b"], "error", ("model",)),
        Case("flags", "table --model ''", ["table", "--model", ""], "error", ("model",)),
        Case("flags", "table --model 'llama\\n33b'", ["table", "--model", "llama\n33b"], "error", ("model",)),
        Case("flags", "table --model 'lläma-33b'", ["table", "--model", "lläma-33b"], "error", ("model",)),
        Case("flags", "table --model /", ["table", "--model", "/"], "error", ("model",)),
        Case("flags", "table --model .", ["table", "--model", "."], "error", ("model",)),
        Case("flags", "table --bogus 1", ["table", "--bogus", "1"], "error"),
        Case("flags", "table --batchsize 4", ["table", "--batchsize", "4"], "error"),
        Case("flags", "table extra-positional", ["table", "extra"], "error"),
        Case("flags", "table --out-len 3 (render-only flag misspelt)", ["table", "--output-len", "3"], "error"),
        Case("flags", "table --batch (no value)", ["table", "--batch"], "error", ("batch",)),
        Case("flags", "(no command)", [], "error"),
        Case("flags", "frobnicate", ["frobnicate"], "error"),
        Case("flags", "list", ["list"], "error", ("what",)),
        Case("flags", "list gpus", ["list", "gpus"], "error", ("what",)),
        Case("flags", "render --measurement-run nope.csv", ["render", "--measurement-run", "nope.csv", "--out", "r"],
             "error", ("measurement_run",)),
        Case("flags", "render --measurement-run ../../etc/passwd",
             ["render", "--measurement-run", "../../etc/passwd", "--out", "r"], "error", ("measurement_run",)),
        Case("flags", "render --batch 0", ["render", "--batch", "0", "--out", "r"], "error", ("batch",)),
        Case("flags", "render --tp 3", ["render", "--tp", "3", "--out", "r"], "error", ("tp",)),
        Case("flags", "render --hardware nope", ["render", "--hardware", "nope", "--out", "r"], "error",
             ("hardware",)),
        Case("flags", "render --model nope", ["render", "--model", "nope", "--out", "r"], "error", ("model",)),
        # odd but valid: accepted, with clean numbers
        Case("flags", "--version", ["--version"], "ok", help=True),
        Case("flags", "table --help", ["table", "--help"], "ok", help=True),
        Case("flags", "list models", ["list", "models"], "ok"),
        Case("flags", "list hardware", ["list", "hardware"], "ok"),
        Case("flags", "list runs", ["list", "runs"], "ok"),
        Case("flags", "table (defaults)", ["table"], "ok"),
        Case("flags", "table --batch 1048576 (largest)", ["table", "--batch", "1048576"], "ok"),
        Case("flags", "table --batch 1048576 --seq-len 16777216 (both largest)",
             ["table", "--batch", "1048576", "--seq-len", "16777216"], "ok"),
        Case("flags", "table --seq-len 1", ["table", "--seq-len", "1"], "ok"),
        Case("flags", "table --batch 1 --seq-len 1 --bits 4", ["table", "--seq-len", "1", "--bits", "4"], "ok"),
        Case("flags", "table --bits 32", ["table", "--bits", "32"], "ok"),
        Case("flags", "table --bits 8 --kv-bits 4 --act-bits 16",
             ["table", "--bits", "8", "--kv-bits", "4", "--act-bits", "16"], "ok"),
        Case("flags", "table --attention-io fused", ["table", "--attention-io", "fused"], "ok"),
        Case("flags", "table --tp 2 (a40, PCIe link)", ["table", "--tp", "2"], "ok"),
        Case("flags", "table --model llama-2-70b --hardware h100-sxm --tp 8",
             ["table", "--model", "llama-2-70b", "--hardware", "h100-sxm", "--tp", "8"], "ok"),
        Case("flags", "table --model mixtral-8x7b --hardware h100 --tp 4 --bits 8",
             ["table", "--model", "mixtral-8x7b", "--hardware", "h100", "--tp", "4", "--bits", "8"], "ok"),
        Case("flags", "table --model mistral-7b --seq-len 65536 (past the sliding window)",
             ["table", "--model", "mistral-7b", "--seq-len", "65536"], "ok"),
        Case("flags", "table --model qwen2.5-7b --hardware tpu-v5e",
             ["table", "--model", "qwen2.5-7b", "--hardware", "tpu-v5e"], "ok"),
        Case("flags", "table --format text", ["table", "--format", "text"], "ok"),
        Case("flags", "table --batch=' 4 ' (int() strips blanks)", ["table", "--batch", " 4 "], "either", ("batch",)),
    ]
    cases += quantisation_flag_cases()
    return cases


def quantisation_flag_cases() -> list[Case]:
    """The serving flags: --compute-precision, group-wise scales, what stays 16-bit, --mla, the memory share;
    and the new presets (DeepSeek-V3, Qwen3, Gemma 2/3, Phi-3) under odd but valid settings."""
    def table(label, argv, expect="error", field=()):
        return Case("flags", f"table {label}", ["table", *argv], expect, field)

    cases = []
    for text in ["fp64", "FP8", "", "int2", "TF32", "auto,fp8", "none", "fp 8"]:
        cases.append(table(f"--compute-precision {text!r}", ["--compute-precision", text], field=("compute_precision",)))
    for text in ["-1", "1.5", "two", "", str(2**20 + 1), str(2**64), "nan", "inf", "1e3", "0x80", "128,64"]:
        cases.append(table(f"--bits 4 --weight-group-size {text!r}", ["--bits", "4", "--weight-group-size", text],
                           field=("weight_group_size",)))
    for text in ["4", "0", "64", "", "eight", "16.0", "-16"]:
        cases.append(table(f"--bits 4 --weight-scale-bits {text!r}", ["--bits", "4", "--weight-scale-bits", text],
                           field=("weight_scale_bits",)))
    for text in ["Absorbed", "", "fused", "latent", "naive,absorbed"]:
        cases.append(table(f"--model deepseek-v3 --mla {text!r}", ["--model", "deepseek-v3", "--mla", text],
                           field=("mla",)))
    for text in ["0", "nan", "inf", "-inf", "1e9", "-0.5", "1.01", "0.001", "0.0099", "", "90%", "0,9", "1e-400",
                 "ninety", "0x1", "-0"]:
        cases.append(table(f"--gpu-memory-utilization {text!r}", ["--gpu-memory-utilization", text],
                           field=("gpu_memory_utilization",)))
        if text in ("0", "nan", "inf", "1e9"):
            cases.append(Case("flags", f"render --gpu-memory-utilization {text!r}",
                              ["render", "--gpu-memory-utilization", text, "--out", "r"], "error",
                              ("gpu_memory_utilization",)))
    for flag in ("--weight-zero-point", "--quantize-head", "--quantize-stream"):
        cases.append(table(f"{flag}=yes (a switch takes no value)", [f"{flag}=yes"], field=(flag,)))
        cases.append(table(f"{flag} true (a stray positional)", [flag, "true"]))
    cases += [
        # a roof the device lacks, or one narrower than an operand
        table("--compute-precision fp8 (a40 has no FP8)", ["--compute-precision", "fp8", "--bits", "8"],
              field=("compute_precision",)),
        table("--compute-precision fp8 --hardware a40 (16-bit operands)", ["--compute-precision", "fp8"],
              field=("compute_precision",)),
        table("--compute-precision int8 (16-bit operands)", ["--compute-precision", "int8"],
              field=("compute_precision",)),
        table("--compute-precision int8 --weight-bits 8 (activations still 16-bit)",
              ["--compute-precision", "int8", "--weight-bits", "8"], field=("compute_precision",)),
        table("--compute-precision int8 --act-bits 8 (weights still 16-bit)",
              ["--compute-precision", "int8", "--act-bits", "8"], field=("compute_precision",)),
        table("--compute-precision fp4 --hardware b200 --bits 8 (fp4 narrower than the operands)",
              ["--compute-precision", "fp4", "--hardware", "b200", "--bits", "8"], field=("compute_precision",)),
        table("--compute-precision fp4 --hardware b200 --weight-bits 4 (16-bit activations)",
              ["--compute-precision", "fp4", "--hardware", "b200", "--weight-bits", "4"], field=("compute_precision",)),
        table("--compute-precision fp4 --hardware h100-sxm --bits 4 (no FP4 before Blackwell)",
              ["--compute-precision", "fp4", "--hardware", "h100-sxm", "--bits", "4"], field=("compute_precision",)),
        table("--compute-precision int4 --hardware b200 --bits 4 (B200 has no INT4 path)",
              ["--compute-precision", "int4", "--hardware", "b200", "--bits", "4"], field=("compute_precision",)),
        table("--compute-precision int8 --hardware v100-sxm2 --bits 8", ["--compute-precision", "int8", "--hardware",
              "v100-sxm2", "--bits", "8"], field=("compute_precision",)),
        table("--compute-precision fp16 --hardware tpu-v5e (bf16 only)",
              ["--compute-precision", "fp16", "--hardware", "tpu-v5e"], field=("compute_precision",)),
        table("--compute-precision bf16 --hardware t4 (no bf16)", ["--compute-precision", "bf16", "--hardware", "t4"],
              field=("compute_precision",)),
        table("--compute-precision fp16 --bits 32 (16-bit roof, 32-bit operands)",
              ["--compute-precision", "fp16", "--bits", "32"], field=("compute_precision",)),
        table("--compute-precision fp8 --hardware h100-sxm --bits 8 --tp 3 (52 heads)",
              ["--compute-precision", "fp8", "--hardware", "h100-sxm", "--bits", "8", "--tp", "3"],
              field=("tp", "compute_precision")),
        Case("flags", "render --compute-precision fp8 (a40)", ["render", "--compute-precision", "fp8", "--bits", "8",
             "--out", "r"], "error", ("compute_precision",)),
        Case("flags", "render --weight-group-size -1", ["render", "--weight-group-size", "-1", "--out", "r"], "error",
             ("weight_group_size",)),
        Case("flags", "render --mla latent", ["render", "--mla", "latent", "--out", "r"], "error", ("mla",)),
        # the new presets split over devices that do not divide them
        table("--model deepseek-v3 --tp 3 (128 heads)", ["--model", "deepseek-v3", "--hardware", "h200-sxm", "--tp", "3"],
              field=("tp",)),
        table("--model phi-3-mini --tp 3 (32 heads)", ["--model", "phi-3-mini", "--hardware", "h100-sxm", "--tp", "3"],
              field=("tp",)),
        table("--model qwen3-235b-a22b --tp 1024", ["--model", "qwen3-235b-a22b", "--hardware", "h100-sxm", "--tp",
              "1024"], field=("tp",)),
        table("--model gemma-3-1b --tp 8 (4 heads)", ["--model", "gemma-3-1b", "--hardware", "h100-sxm", "--tp", "8"],
              field=("tp",)),
        table("--model Gemma-2-9B (capitals)", ["--model", "Gemma-2-9B"], "either", ("model",)),
        table("--model deepseek-v2 (not a preset)", ["--model", "deepseek-v2"], field=("model",)),
        table("--model qwen3-30b (not a preset)", ["--model", "qwen3-30b"], field=("model",)),
        # odd but valid
        table("--compute-precision auto", ["--compute-precision", "auto"], "ok"),
        table("--compute-precision fp32 --bits 32", ["--compute-precision", "fp32", "--bits", "32"], "ok"),
        table("--compute-precision tf32 (a40)", ["--compute-precision", "tf32"], "ok"),
        table("--compute-precision tf32 --hardware v100-sxm2 (no TF32)", ["--compute-precision", "tf32", "--hardware",
              "v100-sxm2"], field=("compute_precision",)),
        table("--compute-precision fp32 --hardware tpu-v5e (no fp32)", ["--compute-precision", "fp32", "--hardware",
              "tpu-v5e"], field=("compute_precision",)),
        table("--compute-precision fp16 --bits 4 (a roof wider than the operands)",
              ["--compute-precision", "fp16", "--bits", "4"], "ok"),
        table("--compute-precision bf16 --hardware h100 --bits 8", ["--compute-precision", "bf16", "--hardware",
              "h100", "--bits", "8"], "ok"),
        table("--compute-precision int8 --bits 8 (a40)", ["--compute-precision", "int8", "--bits", "8"], "ok"),
        table("--compute-precision int4 --bits 4 (a40)", ["--compute-precision", "int4", "--bits", "4"], "ok"),
        table("--model llama-3.1-8b --hardware rtx-4090 --bits 8 --compute-precision int8 (SmoothQuant)",
              ["--model", "llama-3.1-8b", "--hardware", "rtx-4090", "--bits", "8", "--compute-precision", "int8"], "ok"),
        table("--model llama-3.1-8b --hardware b200 --bits 4 --compute-precision fp4 --weight-group-size 16 "
              "--weight-scale-bits 8 (NVFP4)", ["--model", "llama-3.1-8b", "--hardware", "b200", "--bits", "4",
              "--compute-precision", "fp4", "--weight-group-size", "16", "--weight-scale-bits", "8"], "ok"),
        table("--hardware b200 --bits 4 (auto: fp4)", ["--hardware", "b200", "--bits", "4"], "ok"),
        table("--compute-precision fp8 --hardware h100 --weight-bits 4 --act-bits 8",
              ["--compute-precision", "fp8", "--hardware", "h100", "--weight-bits", "4", "--act-bits", "8"], "ok"),
        table("--bits 32 --hardware tpu-v5e (no fp32 path: the 16-bit roof)", ["--bits", "32", "--hardware",
              "tpu-v5e"], "either", ("weight_bits/act_bits", "compute_precision", "bits")),
        table("--weight-group-size 0 --bits 4", ["--weight-group-size", "0", "--bits", "4"], "ok"),
        table("--weight-group-size 1 --weight-scale-bits 32 --weight-zero-point --bits 4 (40 bits a weight)",
              ["--weight-group-size", "1", "--weight-scale-bits", "32", "--weight-zero-point", "--bits", "4"], "ok"),
        table("--weight-group-size 1048576 --bits 4 (largest)", ["--weight-group-size", "1048576", "--bits", "4"],
              "ok"),
        table("--weight-group-size 128 (16-bit weights: no groups)", ["--weight-group-size", "128"], "ok"),
        table("--weight-zero-point (no groups)", ["--weight-zero-point"], "ok"),
        table("--model llama-3.1-70b --hardware h100-sxm --weight-bits 4 --weight-group-size 128 --weight-zero-point",
              ["--model", "llama-3.1-70b", "--hardware", "h100-sxm", "--weight-bits", "4", "--weight-group-size", "128",
               "--weight-zero-point"], "ok"),
        table("--quantize-head --quantize-stream --bits 4 --compute-precision int4 --model gemma-2-9b (tied head)",
              ["--quantize-head", "--quantize-stream", "--bits", "4", "--compute-precision", "int4", "--model",
               "gemma-2-9b"], "ok"),
        table("--quantize-stream --act-bits 4 --weight-bits 16", ["--quantize-stream", "--act-bits", "4",
              "--weight-bits", "16"], "ok"),
        table("--quantize-head --quantize-stream --bits 4 --tp 2 --phase all",
              ["--quantize-head", "--quantize-stream", "--bits", "4", "--tp", "2", "--phase", "all"], "ok"),
        table("--gpu-memory-utilization 1", ["--gpu-memory-utilization", "1"], "ok"),
        table("--gpu-memory-utilization 0.01 (smallest)", ["--gpu-memory-utilization", "0.01"], "ok"),
        table("--gpu-memory-utilization 1e-2", ["--gpu-memory-utilization", "1e-2"], "ok"),
        table("--gpu-memory-utilization ' 0.5 '", ["--gpu-memory-utilization", " 0.5 "], "either",
              ("gpu_memory_utilization",)),
        table("--mla naive --model llama-33b (no MLA: nothing to change)", ["--mla", "naive"], "either", ("mla",)),
        table("--model deepseek-v3 --hardware h200-sxm --tp 8 --bits 8", ["--model", "deepseek-v3", "--hardware",
              "h200-sxm", "--tp", "8", "--bits", "8"], "ok"),
        table("--model deepseek-v3 --mla naive --phase all", ["--model", "deepseek-v3", "--mla", "naive", "--phase",
              "all"], "ok"),
        table("--model deepseek-v3 --mla naive --batch 1048576 --seq-len 16777216 (largest)",
              ["--model", "deepseek-v3", "--mla", "naive", "--batch", "1048576", "--seq-len", "16777216"], "ok"),
        table("--model deepseek-v3 --kv-bits 4 --attention-io fused --tp 128 --hardware h100",
              ["--model", "deepseek-v3", "--kv-bits", "4", "--attention-io", "fused", "--tp", "128", "--hardware",
               "h100"], "ok"),
        table("--model deepseek-v3 --phase verify --tree-size 4096 --medusa-heads 64 --batch 1048576",
              ["--model", "deepseek-v3", "--phase", "verify", "--tree-size", "4096", "--medusa-heads", "64", "--batch",
               "1048576"], "ok"),
        table("--model qwen3-30b-a3b --hardware h100-sxm --tp 8 (4 K/V heads: replicated)",
              ["--model", "qwen3-30b-a3b", "--hardware", "h100-sxm", "--tp", "8"], "ok"),
        table("--model qwen3-235b-a22b --batch 1048576 --phase all (every expert touched)",
              ["--model", "qwen3-235b-a22b", "--batch", "1048576", "--phase", "all"], "ok"),
        table("--model qwen3-8b --seq-len 1 --bits 4 --format text", ["--model", "qwen3-8b", "--seq-len", "1",
              "--bits", "4", "--format", "text"], "ok"),
        table("--model gemma-3-27b --seq-len 16777216 (far past the window)", ["--model", "gemma-3-27b", "--seq-len",
              "16777216"], "ok"),
        table("--model gemma-3-1b --seq-len 1 --batch 1 --tp 4", ["--model", "gemma-3-1b", "--seq-len", "1",
              "--tp", "4", "--hardware", "h100-sxm"], "ok"),
        table("--model gemma-2-27b --hardware a100-80gb-sxm --seq-len 8192 --batch 8 --attention-io fused",
              ["--model", "gemma-2-27b", "--hardware", "a100-80gb-sxm", "--seq-len", "8192", "--batch", "8",
               "--attention-io", "fused"], "ok"),
        table("--model phi-3-mini --seq-len 2047 (the window exactly)", ["--model", "phi-3-mini", "--seq-len", "2047"],
              "ok"),
        table("--model phi-3-mini --seq-len 2048 --phase all (one past the window)",
              ["--model", "phi-3-mini", "--seq-len", "2048", "--phase", "all"], "ok"),
        table("--model gemma-3-1b --hardware m2-ultra --bits 8 (no 8-bit roof: 16-bit)",
              ["--model", "gemma-3-1b", "--hardware", "m2-ultra", "--bits", "8"], "ok"),
    ]
    return cases


def config_cases() -> list[Case]:
    def case(label, content, expect="error", field=(), name="cfg/config.json", model=None):
        return Case("config", f"--model {label}", ["table", "--model", model or name], expect, field,
                    files={name: content})

    cases = []
    for name in ("hidden_size", "intermediate_size", "num_attention_heads", "num_hidden_layers", "vocab_size"):
        for value, shown in [(MISSING, "missing"), (0, "0"), (-1, "-1"), (True, "true"), ("4096", '"4096"'),
                             (4096.5, "4096.5"), (None, "null"), (NAN, "NaN"), ([32], "[32]")]:
            cases.append(case(f"config.json with {name}: {shown}", _json(_with(BASE_CONFIG, **{name: value})),
                              field=(name,)))
        cases.append(case(f"config.json with {name}: 2**62 (huge)",
                          _json(_with(BASE_CONFIG, **{name: 2**62})), "either"))
    cases += [
        case("config.json with hidden_size: 1e400 (inf)", _json(BASE_CONFIG).replace("4096", "1e400", 1),
             field=("hidden_size",)),
        case("config.json with num_key_value_heads 5 (does not divide 32)",
             _json(_with(BASE_CONFIG, num_key_value_heads=5)), field=("num_key_value_heads",)),
        case("config.json with num_key_value_heads 64 (> heads)", _json(_with(BASE_CONFIG, num_key_value_heads=64)),
             field=("num_key_value_heads",)),
        case("config.json with num_key_value_heads 0", _json(_with(BASE_CONFIG, num_key_value_heads=0)),
             field=("num_key_value_heads",)),
        case("config.json with head_dim 0", _json(_with(BASE_CONFIG, head_dim=0)), field=("head_dim",)),
        case('config.json with head_dim "128"', _json(_with(BASE_CONFIG, head_dim="128")), field=("head_dim",)),
        case("config.json with hidden_size 4097, no head_dim", _json(_with(BASE_CONFIG, hidden_size=4097)),
             field=("head_dim", "hidden_size")),
        case("config.json (Mixtral) with num_experts_per_tok 3 > num_local_experts 2",
             _json(_with(MIXTRAL, num_local_experts=2, num_experts_per_tok=3)), field=("num_experts_per_tok",)),
        case("config.json (Mixtral) with num_local_experts 0", _json(_with(MIXTRAL, num_local_experts=0)),
             field=("num_local_experts",)),
        case("config.json (Mixtral) with num_experts_per_tok 0", _json(_with(MIXTRAL, num_experts_per_tok=0)),
             field=("num_experts_per_tok",)),
        case("config.json (Mixtral) with num_experts_per_tok -2", _json(_with(MIXTRAL, num_experts_per_tok=-2)),
             field=("num_experts_per_tok",)),
        case("config.json with sliding_window 0", _json(_with(BASE_CONFIG, sliding_window=0)),
             field=("sliding_window",)),
        case('config.json with sliding_window "4096"', _json(_with(BASE_CONFIG, sliding_window="4096")),
             field=("sliding_window",)),
        case('config.json with tie_word_embeddings "yes"', _json(_with(BASE_CONFIG, tie_word_embeddings="yes")),
             field=("tie_word_embeddings",)),
        case("config.json with attention_bias 1", _json(_with(BASE_CONFIG, attention_bias=1)),
             field=("attention_bias",)),
        case("config.json with architectures [GPT2LMHeadModel]",
             _json(_with(BASE_CONFIG, architectures=["GPT2LMHeadModel"])), field=("architectures",)),
        case('config.json with architectures "LlamaForCausalLM" (not a list)',
             _json(_with(BASE_CONFIG, architectures="LlamaForCausalLM")), field=("architectures",)),
        case("config.json with architectures [1]", _json(_with(BASE_CONFIG, architectures=[1])),
             field=("architectures",)),
        case("config.json with model_type gpt2, no architectures",
             _json(_with(BASE_CONFIG, architectures=MISSING, model_type="gpt2")), field=("model_type",)),
        case("config.json with neither architectures nor model_type",
             _json(_with(BASE_CONFIG, architectures=MISSING, model_type=MISSING)),
             field=("architectures", "model_type")),
        case("config.json that is invalid JSON", '{"hidden_size": 4096,', field=("model", "config")),
        case("config.json that is empty", "", field=("model", "config")),
        case("config.json that is a JSON list", _json([BASE_CONFIG]), field=("model", "config")),
        case("config.json that is a JSON string", '"llama"', field=("model", "config")),
        case("config.json that is null", "null", field=("model", "config")),
        case("config.json nested 100,000 lists deep", "[" * 100_000 + "]" * 100_000, field=("model", "config")),
        case("config.json nested 100,000 objects deep", '{"a":' * 100_000 + "1" + "}" * 100_000,
             field=("model", "config")),
        case("config.json of random bytes", os.urandom(4096), field=("model", "config")),
        case("config.json in UTF-16", _json(BASE_CONFIG).encode("utf-16"), "either", ("model", "config")),
        case("missing/config.json", None, field=("model",), model="missing/config.json"),
        case("nope.json (missing)", None, field=("model",), model="nope.json"),
        case("a folder without config.json", Dir(), field=("model",), name="emptymodel", model="emptymodel"),
        case("a folder named x.json", Dir(), field=("model",), name="x.json", model="x.json"),
        case("a config.json that is a FIFO", Fifo(), field=("model",)),
        # odd but valid
        case("config.json (valid, minimal)", _json(BASE_CONFIG), "ok"),
        case("a folder holding config.json", _json(BASE_CONFIG), "ok", model="cfg"),
        case("config.json with unknown extra keys (as HF configs have)",
             _json(_with(BASE_CONFIG, rope_scaling={"type": "linear"}, foo=[1, 2], torch_dtype="bfloat16")), "ok"),
        case("config.json (Mixtral) without expert fields",
             _json(_with(MIXTRAL, num_local_experts=MISSING, num_experts_per_tok=MISSING)), "ok"),
        case("config.json with architectures [] and model_type llama",
             _json(_with(BASE_CONFIG, architectures=[])), "ok"),
        case("config.json with num_key_value_heads null (MHA)", _json(_with(BASE_CONFIG, num_key_value_heads=None)),
             "ok"),
        case("config.json with a 1-layer, 1-head, vocab-1 model",
             _json(_with(BASE_CONFIG, hidden_size=64, intermediate_size=1, num_attention_heads=1,
                         num_key_value_heads=1, num_hidden_layers=1, vocab_size=1)), "ok"),
        case("config.json with sliding_window 1", _json(_with(BASE_CONFIG, sliding_window=1)), "ok"),
        case("config.json with use_sliding_window false, sliding_window 0",
             _json(_with(BASE_CONFIG, sliding_window=0, use_sliding_window=False)), "ok"),
        case("config.json with a UTF-8 BOM", "\ufeff" + _json(BASE_CONFIG), "either", ("model", "config")),
    ]
    cases += architecture_config_cases()
    return cases


DEEPSEEK = {"architectures": ["DeepseekV3ForCausalLM"], "model_type": "deepseek_v3", "hidden_size": 7168,
            "intermediate_size": 18432, "moe_intermediate_size": 2048, "num_hidden_layers": 61,
            "num_attention_heads": 128, "num_key_value_heads": 128, "n_shared_experts": 1, "n_routed_experts": 256,
            "num_experts_per_tok": 8, "kv_lora_rank": 512, "q_lora_rank": 1536, "qk_rope_head_dim": 64,
            "v_head_dim": 128, "qk_nope_head_dim": 128, "moe_layer_freq": 1, "first_k_dense_replace": 3,
            "vocab_size": 129280, "hidden_act": "silu", "tie_word_embeddings": False}
QWEN3_MOE = {"architectures": ["Qwen3MoeForCausalLM"], "model_type": "qwen3_moe", "hidden_size": 2048,
             "intermediate_size": 6144, "moe_intermediate_size": 768, "num_experts": 128, "num_experts_per_tok": 8,
             "decoder_sparse_step": 1, "mlp_only_layers": [], "num_hidden_layers": 48, "num_attention_heads": 32,
             "num_key_value_heads": 4, "head_dim": 128, "vocab_size": 151936, "hidden_act": "silu",
             "sliding_window": None, "use_sliding_window": False, "tie_word_embeddings": False}
QWEN3 = {"architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "hidden_size": 1024, "intermediate_size": 3072,
         "num_hidden_layers": 28, "num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 128,
         "vocab_size": 151936, "hidden_act": "silu", "tie_word_embeddings": True}
GEMMA2 = {"architectures": ["Gemma2ForCausalLM"], "model_type": "gemma2", "hidden_size": 3584,
          "intermediate_size": 14336, "num_hidden_layers": 42, "num_attention_heads": 16, "num_key_value_heads": 8,
          "head_dim": 256, "vocab_size": 256000, "hidden_act": "gelu_pytorch_tanh",
          "hidden_activation": "gelu_pytorch_tanh", "sliding_window": 4096, "attn_logit_softcapping": 50.0,
          "final_logit_softcapping": 30.0}
GEMMA3 = {"architectures": ["Gemma3ForCausalLM"], "model_type": "gemma3_text", "hidden_size": 1152,
          "intermediate_size": 6912, "num_hidden_layers": 26, "num_attention_heads": 4, "num_key_value_heads": 1,
          "head_dim": 256, "vocab_size": 262144, "hidden_activation": "gelu_pytorch_tanh", "sliding_window": 512,
          "sliding_window_pattern": 6}
PHI3 = {"architectures": ["Phi3ForCausalLM"], "model_type": "phi3", "hidden_size": 3072, "intermediate_size": 8192,
        "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 32, "vocab_size": 32064,
        "hidden_act": "silu", "sliding_window": 2047, "tie_word_embeddings": False}
BAD_SIZES = [(MISSING, "missing"), (0, "0"), (-1, "-1"), (True, "true"), ("512", '"512"'), (512.5, "512.5"),
             (None, "null"), (NAN, "NaN"), ([512], "[512]"), (2**62, "2**62")]


def architecture_config_cases() -> list[Case]:
    """config.json files of the architectures with more than one kind of layer: DeepSeek-V3 (MLA, shared
    experts, dense first layers), Qwen3 and Qwen3-MoE, Gemma 2/3 (local/global layers, GeGLU), Phi-3."""
    def case(label, content, expect="error", field=(), extra=()):
        return Case("config", f"--model {label}", ["table", "--model", "cfg/config.json", *extra], expect, field,
                    files={"cfg/config.json": content})

    def cfg(family, base, label, expect="error", field=(), extra=(), **changes):
        return case(f"config.json ({family}) with {label}", _json(_with(base, **changes)), expect, field, extra)

    layers = DEEPSEEK["num_hidden_layers"]
    cases = []
    for name in ("kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim"):
        for value, shown in BAD_SIZES:
            cases.append(cfg("DeepSeek-V3", DEEPSEEK, f"{name}: {shown}", field=(name,), **{name: value}))
    for value, shown in [(-1, "-1"), (True, "true"), ("1536", '"1536"'), (1536.5, "1536.5"), (NAN, "NaN"),
                         ([1536], "[1536]"), (2**62, "2**62")]:
        cases.append(cfg("DeepSeek-V3", DEEPSEEK, f"q_lora_rank: {shown}", field=("q_lora_rank",), q_lora_rank=value))
    for name in ("n_routed_experts", "moe_intermediate_size", "num_experts_per_tok"):
        for value, shown in [v for v in BAD_SIZES if v[1] != "null" or name == "moe_intermediate_size"]:
            expect = "error"
            if name == "n_routed_experts" and value is MISSING:
                expect = "ok"  # no routed experts: a dense MLA model
            cases.append(cfg("DeepSeek-V3", DEEPSEEK, f"{name}: {shown}", expect, (name,), **{name: value}))
    for value, shown in [(-1, "-1"), (True, "true"), ("1", '"1"'), (1.5, "1.5"), (NAN, "NaN"), (2**62, "2**62")]:
        cases.append(cfg("DeepSeek-V3", DEEPSEEK, f"n_shared_experts: {shown}", field=("n_shared_experts",),
                         n_shared_experts=value))
    for value, shown in [(layers + 1, f"{layers + 1} (> num_hidden_layers {layers})"), (-1, "-1"), ("3", '"3"'),
                         (True, "true"), (3.5, "3.5"), (NAN, "NaN"), ([3], "[3]"), (2**62, "2**62")]:
        cases.append(cfg("DeepSeek-V3", DEEPSEEK, f"first_k_dense_replace: {shown}", field=("first_k_dense_replace",),
                         first_k_dense_replace=value))
    for value, shown in [(0, "0"), (-1, "-1"), ("1", '"1"'), (True, "true"), (1.5, "1.5"), (NAN, "NaN")]:
        cases.append(cfg("DeepSeek-V3", DEEPSEEK, f"moe_layer_freq: {shown}", field=("moe_layer_freq",),
                         moe_layer_freq=value))
    cases += [
        cfg("DeepSeek-V3", DEEPSEEK, "num_experts_per_tok 257 > n_routed_experts 256", field=("num_experts_per_tok",),
            num_experts_per_tok=257),
        cfg("DeepSeek-V3", DEEPSEEK, "num_experts_per_tok 3 > n_routed_experts 2", field=("num_experts_per_tok",),
            n_routed_experts=2, num_experts_per_tok=3),
        cfg("DeepSeek-V3", DEEPSEEK, "no MLA fields at all", field=MLA_FIELDS_NAMED,
            **{f: MISSING for f in MLA_FIELDS_NAMED}),
        cfg("DeepSeek-V3", DEEPSEEK, "kv_lora_rank only (the other MLA fields missing)", field=MLA_FIELDS_NAMED,
            **{f: MISSING for f in MLA_FIELDS_NAMED if f != "kv_lora_rank"}),
        cfg("DeepSeek-V3", DEEPSEEK, "intermediate_size and moe_intermediate_size missing",
            field=("intermediate_size", "moe_intermediate_size"), intermediate_size=MISSING,
            moe_intermediate_size=MISSING),
        cfg("DeepSeek-V3", DEEPSEEK, 'hidden_act "gelu"', field=("hidden_act",), hidden_act="gelu"),
        cfg("DeepSeek-V3", DEEPSEEK, "hidden_act 5", field=("hidden_act",), hidden_act=5),
        cfg("DeepSeek-V3", DEEPSEEK, 'tie_word_embeddings "false"', field=("tie_word_embeddings",),
            tie_word_embeddings="false"),
        cfg("DeepSeek-V3", DEEPSEEK, "num_attention_heads 0", field=("num_attention_heads",), num_attention_heads=0),
        cfg("DeepSeek-V3", DEEPSEEK, "num_hidden_layers 0", field=("num_hidden_layers",), num_hidden_layers=0),
        case("config.json (DeepSeek-V3) with architectures [DeepseekV2ForCausalLM]",
             _json(_with(DEEPSEEK, architectures=["DeepseekV2ForCausalLM"])), field=("architectures",)),
        case("config.json with model_type deepseek_v2, no architectures",
             _json(_with(DEEPSEEK, architectures=MISSING, model_type="deepseek_v2")), field=("model_type",)),
        # odd but valid
        cfg("DeepSeek-V3", DEEPSEEK, "(valid)", "ok"),
        cfg("DeepSeek-V3", DEEPSEEK, "(valid), --mla naive --phase all", "ok", extra=("--mla", "naive", "--phase", "all")),
        cfg("DeepSeek-V3", DEEPSEEK, "(valid), --tp 8 --bits 8 --hardware h200-sxm", "ok",
            extra=("--tp", "8", "--bits", "8", "--hardware", "h200-sxm")),
        cfg("DeepSeek-V3", DEEPSEEK, "q_lora_rank null (a plain q_proj, as DeepSeek-V2-Lite)", "ok", q_lora_rank=None),
        cfg("DeepSeek-V3", DEEPSEEK, "q_lora_rank missing", "ok", q_lora_rank=MISSING),
        cfg("DeepSeek-V3", DEEPSEEK, "q_lora_rank 0", "either", ("q_lora_rank",), q_lora_rank=0),
        cfg("DeepSeek-V3", DEEPSEEK, "q_lora_rank false", "either", ("q_lora_rank",), q_lora_rank=False),
        cfg("DeepSeek-V3", DEEPSEEK, "n_shared_experts 0", "ok", n_shared_experts=0),
        cfg("DeepSeek-V3", DEEPSEEK, "n_shared_experts null", "ok", n_shared_experts=None),
        cfg("DeepSeek-V3", DEEPSEEK, "n_routed_experts null (dense)", "ok", n_routed_experts=None),
        cfg("DeepSeek-V3", DEEPSEEK, "n_routed_experts 1, num_experts_per_tok 1", "either", ("n_routed_experts",),
            n_routed_experts=1, num_experts_per_tok=1),
        cfg("DeepSeek-V3", DEEPSEEK, "num_experts_per_tok = n_routed_experts = 256 (every expert)", "ok",
            num_experts_per_tok=256),
        cfg("DeepSeek-V3", DEEPSEEK, f"first_k_dense_replace {layers} (every layer dense)", "ok",
            first_k_dense_replace=layers, extra=("--phase", "all")),
        cfg("DeepSeek-V3", DEEPSEEK, "first_k_dense_replace 0", "ok", first_k_dense_replace=0),
        cfg("DeepSeek-V3", DEEPSEEK, "first_k_dense_replace null", "ok", first_k_dense_replace=None),
        cfg("DeepSeek-V3", DEEPSEEK, "first_k_dense_replace false", "either", ("first_k_dense_replace",),
            first_k_dense_replace=False),
        cfg("DeepSeek-V3", DEEPSEEK, "moe_layer_freq 2 (every other layer)", "ok", moe_layer_freq=2),
        cfg("DeepSeek-V3", DEEPSEEK, "moe_layer_freq 1000 (only layer 3 MoE)", "ok", moe_layer_freq=1000),
        cfg("DeepSeek-V3", DEEPSEEK, "num_key_value_heads 1 (ignored by MLA)", "either", ("num_key_value_heads",),
            num_key_value_heads=1),
        cfg("DeepSeek-V3", DEEPSEEK, "num_key_value_heads missing", "ok", num_key_value_heads=MISSING),
        cfg("DeepSeek-V3", DEEPSEEK, "intermediate_size missing (MoE width used)", "ok", intermediate_size=MISSING),
        cfg("DeepSeek-V3", DEEPSEEK, "a 1-layer, 1-head, 1-expert, rank-1 model", "either",
            hidden_size=64, intermediate_size=1, moe_intermediate_size=1, num_hidden_layers=1, num_attention_heads=1,
            num_key_value_heads=1, n_routed_experts=2, num_experts_per_tok=1, kv_lora_rank=1, q_lora_rank=1,
            qk_rope_head_dim=1, qk_nope_head_dim=1, v_head_dim=1, vocab_size=1, first_k_dense_replace=0),
        cfg("DeepSeek-V3", DEEPSEEK, "every MLA rank 2**31-1 (huge)", "either", (), extra=("--phase", "all"),
            **{f: 2**31 - 1 for f in MLA_FIELDS_NAMED}),
        cfg("DeepSeek-V3", DEEPSEEK, "n_routed_experts and num_experts_per_tok 2**31-1 (huge)", "either",
            n_routed_experts=2**31 - 1, num_experts_per_tok=2**31 - 1, extra=("--batch", "1048576")),
        cfg("DeepSeek-V3", DEEPSEEK, "hidden_size and vocab_size 2**31-1 (huge)", "either",
            hidden_size=2**31 - 1, vocab_size=2**31 - 1, extra=("--batch", "1048576", "--seq-len", "16777216")),
        case("config.json (DeepSeek-V3) with model_type deepseek_v3, no architectures",
             _json(_with(DEEPSEEK, architectures=MISSING)), "ok"),
    ]

    # Qwen3-MoE: routed experts without shared ones; dense layers by list or by step
    moe_layers = QWEN3_MOE["num_hidden_layers"]
    for name in ("num_experts", "num_experts_per_tok", "moe_intermediate_size"):
        for value, shown in BAD_SIZES:
            if name == "num_experts" and (value is MISSING or value is None):
                continue  # no experts: a dense Qwen3
            cases.append(cfg("Qwen3-MoE", QWEN3_MOE, f"{name}: {shown}", field=(name,), **{name: value}))
    for value, shown in [(0, "0"), (-1, "-1"), ("1", '"1"'), (True, "true"), (1.5, "1.5"), (NAN, "NaN")]:
        cases.append(cfg("Qwen3-MoE", QWEN3_MOE, f"decoder_sparse_step: {shown}", field=("decoder_sparse_step",),
                         decoder_sparse_step=value))
    for value, shown in [("0,1", '"0,1"'), ({"0": 1}, '{"0": 1}'), ([True], "[true]"), ([1.5], "[1.5]"),
                         ([None], "[null]"), (["0"], '["0"]'), (5, "5 (a number, not a list)"),
                         (True, "true"), ([[0]], "[[0]]")]:
        cases.append(cfg("Qwen3-MoE", QWEN3_MOE, f"mlp_only_layers: {shown}", field=("mlp_only_layers",),
                         mlp_only_layers=value))
    cases += [
        cfg("Qwen3-MoE", QWEN3_MOE, "num_experts_per_tok 129 > num_experts 128", field=("num_experts_per_tok",),
            num_experts_per_tok=129),
        cfg("Qwen3-MoE", QWEN3_MOE, "num_experts 2**31-1, num_experts_per_tok 2**31 (> experts, and too big)",
            field=("num_experts_per_tok",), num_experts=2**31 - 1, num_experts_per_tok=2**31),
        cfg("Qwen3-MoE", QWEN3_MOE, "head_dim 0", field=("head_dim",), head_dim=0),
        cfg("Qwen3-MoE", QWEN3_MOE, "num_key_value_heads 3 (does not divide 32)", field=("num_key_value_heads",),
            num_key_value_heads=3),
        cfg("Qwen3-MoE", QWEN3_MOE, 'hidden_act "swiglu"', field=("hidden_act",), hidden_act="swiglu"),
        cfg("Qwen3-MoE", QWEN3_MOE, "sliding_window 0, use_sliding_window true", field=("sliding_window",),
            sliding_window=0, use_sliding_window=True),
        cfg("Qwen3-MoE", QWEN3_MOE, "mlp_only_layers: 0 (a number, not a list)", "error", ("mlp_only_layers",),
            mlp_only_layers=0),
        cfg("Qwen3-MoE", QWEN3_MOE, 'mlp_only_layers: "" (a string, not a list)', "error", ("mlp_only_layers",),
            mlp_only_layers=""),
        # odd but valid
        cfg("Qwen3-MoE", QWEN3_MOE, "(valid)", "ok", extra=("--phase", "all")),
        cfg("Qwen3-MoE", QWEN3_MOE, "num_experts null (dense)", "ok", num_experts=None),
        cfg("Qwen3-MoE", QWEN3_MOE, "num_experts_per_tok = num_experts = 128", "ok", num_experts_per_tok=128),
        cfg("Qwen3-MoE", QWEN3_MOE, "mlp_only_layers [0, 47]", "ok", mlp_only_layers=[0, 47]),
        cfg("Qwen3-MoE", QWEN3_MOE, "mlp_only_layers [0, 0, 0] (repeated)", "ok", mlp_only_layers=[0, 0, 0]),
        cfg("Qwen3-MoE", QWEN3_MOE, f"mlp_only_layers every layer (0..{moe_layers - 1}: no MoE layer left)", "ok",
            mlp_only_layers=list(range(moe_layers)), extra=("--phase", "all")),
        cfg("Qwen3-MoE", QWEN3_MOE, "mlp_only_layers [-1, 48, 10**9] (outside the model)", "either",
            ("mlp_only_layers",), mlp_only_layers=[-1, 48, 10**9]),
        cfg("Qwen3-MoE", QWEN3_MOE, "mlp_only_layers null", "ok", mlp_only_layers=None),
        cfg("Qwen3-MoE", QWEN3_MOE, "decoder_sparse_step 2", "ok", decoder_sparse_step=2),
        cfg("Qwen3-MoE", QWEN3_MOE, "decoder_sparse_step 1000 (no MoE layer left)", "ok", decoder_sparse_step=1000,
            extra=("--phase", "all")),
        cfg("Qwen3-MoE", QWEN3_MOE, "sliding_window 4096, use_sliding_window true", "ok", sliding_window=4096,
            use_sliding_window=True),
        cfg("Qwen3-MoE", QWEN3_MOE, "--tp 32 (4 K/V heads replicated 8 times)", "ok",
            extra=("--tp", "32", "--hardware", "h100-sxm")),
        cfg("Qwen3-MoE", QWEN3_MOE, "num_experts 2**31-1 (huge)", "either", num_experts=2**31 - 1,
            extra=("--batch", "1048576")),
    ]

    # Qwen3 dense and Phi-3: head_dim apart from hidden_size / heads; fused projections; a window on every layer
    cases += [
        cfg("Qwen3", QWEN3, "(valid: head_dim 128 != 1024 / 16)", "ok"),
        cfg("Qwen3", QWEN3, "head_dim missing (1024 / 16 = 64)", "ok", head_dim=MISSING),
        cfg("Qwen3", QWEN3, "head_dim -128", field=("head_dim",), head_dim=-128),
        cfg("Qwen3", QWEN3, "head_dim true", field=("head_dim",), head_dim=True),
        cfg("Qwen3", QWEN3, "head_dim 128.0", field=("head_dim",), head_dim=128.0),
        cfg("Qwen3", QWEN3, "head_dim 2**62", field=("head_dim",), head_dim=2**62),
        cfg("Qwen3", QWEN3, "head_dim 2**31-1 (huge)", "either", head_dim=2**31 - 1),
        cfg("Qwen3", QWEN3, "num_experts 8 (ignored: a dense family)", "either", ("num_experts",), num_experts=8),
        cfg("Qwen3", QWEN3, "num_key_value_heads 32 (> 16 heads)", field=("num_key_value_heads",),
            num_key_value_heads=32),
        cfg("Phi-3", PHI3, "(valid)", "ok", extra=("--phase", "all")),
        cfg("Phi-3", PHI3, "sliding_window -1", field=("sliding_window",), sliding_window=-1),
        cfg("Phi-3", PHI3, "sliding_window true", field=("sliding_window",), sliding_window=True),
        cfg("Phi-3", PHI3, "sliding_window 2047.5", field=("sliding_window",), sliding_window=2047.5),
        cfg("Phi-3", PHI3, "sliding_window 2**62", field=("sliding_window",), sliding_window=2**62),
        cfg("Phi-3", PHI3, 'hidden_act "gelu_new"', field=("hidden_act",), hidden_act="gelu_new"),
        cfg("Phi-3", PHI3, "num_key_value_heads 5", field=("num_key_value_heads",), num_key_value_heads=5),
        cfg("Phi-3", PHI3, "sliding_window 1 (a window of one token)", "ok", sliding_window=1),
        cfg("Phi-3", PHI3, "sliding_window 2**31-1", "ok", sliding_window=2**31 - 1),
        cfg("Phi-3", PHI3, "sliding_window null", "ok", sliding_window=None),
    ]

    # Gemma 2 and 3: local and global layers (by alternation, pattern or layer_types), GeGLU
    g2_layers, g3_layers = GEMMA2["num_hidden_layers"], GEMMA3["num_hidden_layers"]
    alternating = ["sliding_attention", "full_attention"] * (g2_layers // 2)
    for family, base, count in (("Gemma-2", GEMMA2, g2_layers), ("Gemma-3", GEMMA3, g3_layers)):
        types = (["sliding_attention"] * 5 + ["full_attention"]) * (count // 6) + ["sliding_attention"] * (count % 6)
        for value, shown in [(types[:-1], f"{count - 1} entries (num_hidden_layers {count})"),
                             (types + ["full_attention"], f"{count + 1} entries"), ([], "[]"),
                             ("sliding_attention", '"sliding_attention" (a string)'),
                             (types[:-1] + ["chunked_attention"], 'an unknown "chunked_attention"'),
                             (types[:-1] + [None], "a null entry"), (types[:-1] + [1], "a number entry"),
                             ({"0": "full_attention"}, "an object"), (5, "5")]:
            cases.append(cfg(family, base, f"layer_types of {shown}", field=("layer_types",), layer_types=value))
        for value, shown in [(0, "0"), (-1, "-1"), (True, "true"), ("4096", '"4096"'), (4096.5, "4096.5"),
                             (NAN, "NaN"), (2**62, "2**62"), ([4096], "[4096]")]:
            cases.append(cfg(family, base, f"sliding_window: {shown}", field=("sliding_window",), sliding_window=value))
        for value, shown in [("gelu", '"gelu"'), ("relu", '"relu"'), (5, "5"), (["gelu_pytorch_tanh"], "a list"),
                             ("GELU_PYTORCH_TANH", "in capitals")]:
            cases.append(cfg(family, base, f"hidden_activation {shown}", field=("hidden_activation", "hidden_act"),
                             hidden_activation=value))
        for value, shown in [(0, "0"), (-256, "-256"), (True, "true"), ("256", '"256"'), (2**62, "2**62")]:
            cases.append(cfg(family, base, f"head_dim: {shown}", field=("head_dim",), head_dim=value))
        cases += [
            cfg(family, base, "(valid)", "ok", extra=("--phase", "all")),
            cfg(family, base, "(valid), --seq-len 16777216 --batch 1048576", "ok",
                extra=("--seq-len", "16777216", "--batch", "1048576")),
            cfg(family, base, "layer_types all full_attention", "ok", layer_types=["full_attention"] * count),
            cfg(family, base, "layer_types all sliding_attention", "ok", layer_types=["sliding_attention"] * count),
            cfg(family, base, "layer_types null", "ok", layer_types=None),
            cfg(family, base, "layer_types of wrong length, sliding_window null", "either", ("layer_types",),
                layer_types=types[:-1], sliding_window=None),
            cfg(family, base, "sliding_window null (every layer global)", "ok", sliding_window=None),
            cfg(family, base, "sliding_window 1", "ok", sliding_window=1),
            cfg(family, base, "hidden_activation null, hidden_act gelu_pytorch_tanh", "ok", hidden_activation=None,
                hidden_act="gelu_pytorch_tanh"),
            cfg(family, base, "hidden_activation silu (SwiGLU instead)", "ok", hidden_activation="silu"),
            cfg(family, base, 'hidden_activation "gelu_pytorch_tanh", hidden_act "relu" (hidden_activation wins)',
                "either", ("hidden_act",), hidden_activation="gelu_pytorch_tanh", hidden_act="relu"),
            cfg(family, base, "tie_word_embeddings false", "ok", tie_word_embeddings=False),
            cfg(family, base, 'tie_word_embeddings "true"', field=("tie_word_embeddings",), tie_word_embeddings="true"),
            cfg(family, base, "head_dim 1", "ok", head_dim=1),
        ]
    for value, shown in [(0, "0"), (-1, "-1"), (True, "true"), ("6", '"6"'), (6.5, "6.5"), (NAN, "NaN")]:
        cases.append(cfg("Gemma-3", GEMMA3, f"sliding_window_pattern: {shown}", field=("sliding_window_pattern",),
                         sliding_window_pattern=value))
    cases += [
        cfg("Gemma-2", GEMMA2, "layer_types alternating (as Gemma 2 does)", "ok", layer_types=alternating),
        cfg("Gemma-3", GEMMA3, "sliding_window_pattern 1 (every layer global)", "ok", sliding_window_pattern=1),
        cfg("Gemma-3", GEMMA3, "sliding_window_pattern 1000 (every layer local)", "ok", sliding_window_pattern=1000),
        cfg("Gemma-3", GEMMA3, "sliding_window_pattern null (default 6)", "ok", sliding_window_pattern=None),
        cfg("Gemma-3", GEMMA3, "--tp 4 --hardware h100-sxm (1 K/V head replicated)", "ok",
            extra=("--tp", "4", "--hardware", "h100-sxm")),
        cfg("Gemma-3", GEMMA3, "--tp 8 (4 heads)", field=("tp",), extra=("--tp", "8", "--hardware", "h100-sxm")),
        case("config.json (Gemma-3) with architectures [Gemma3ForConditionalGeneration] (the multimodal wrapper)",
             _json({"architectures": ["Gemma3ForConditionalGeneration"], "model_type": "gemma3",
                    "text_config": _with(GEMMA3, architectures=MISSING)}), field=("architectures",)),
        case("config.json with model_type gemma3 (multimodal), no architectures",
             _json(_with(GEMMA3, architectures=MISSING, model_type="gemma3")), field=("model_type",)),
        case("config.json (Gemma-3) with model_type gemma3_text, no architectures",
             _json(_with(GEMMA3, architectures=MISSING)), "ok"),
        case("config.json with architectures [Gemma3ForCausalLM, LlamaForCausalLM] (the first supported wins)",
             _json(_with(GEMMA3, architectures=["Gemma3ForCausalLM", "LlamaForCausalLM"])), "ok"),
        case("config.json with architectures [Gemma3ForCausalLM] but Llama's fields", _json(_with(
             BASE_CONFIG, architectures=["Gemma3ForCausalLM"], sliding_window=4096)), "ok"),
        case("config.json with architectures [DeepseekV3ForCausalLM] but Llama's fields (no MLA)",
             _json(_with(BASE_CONFIG, architectures=["DeepseekV3ForCausalLM"])), field=MLA_FIELDS_NAMED),
    ]
    return cases


MLA_FIELDS_NAMED = ("kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim")


def device_cases() -> list[Case]:
    def case(label, content, expect="error", field=(), name="dev.json", extra=()):
        return Case("device", f"--hardware {label}", ["table", "--hardware", name, *extra], expect, field,
                    files={name: content} if content is not None else {})

    def dev(label, expect="error", field=(), yaml=False, **changes):
        record = _with(BASE_DEVICE, **changes)
        if yaml:
            return case(f"dev.yaml with {label}", _yaml(record), expect, field, name="dev.yaml")
        return case(f"dev.json with {label}", _json(record), expect, field)

    peaks = BASE_DEVICE["peak_tflops"]
    return [
        dev("bandwidth_gb_s missing", bandwidth_gb_s=MISSING, field=("bandwidth_gb_s",)),
        dev("bandwidth_gb_s 0", bandwidth_gb_s=0, field=("bandwidth_gb_s",)),
        dev("bandwidth_gb_s -696", bandwidth_gb_s=-696, field=("bandwidth_gb_s",)),
        dev('bandwidth_gb_s "696"', bandwidth_gb_s="696", field=("bandwidth_gb_s",)),
        dev("bandwidth_gb_s true", bandwidth_gb_s=True, field=("bandwidth_gb_s",)),
        dev("bandwidth_gb_s NaN", bandwidth_gb_s=NAN, field=("bandwidth_gb_s",)),
        dev("bandwidth_gb_s Infinity", bandwidth_gb_s=INF, field=("bandwidth_gb_s",)),
        dev("bandwidth_gb_s 1e12 (bytes/s given as GB/s)", bandwidth_gb_s=1e12, field=("bandwidth_gb_s",)),
        dev("bandwidth_gb_s 1e308", bandwidth_gb_s=1e308, field=("bandwidth_gb_s",)),
        dev("bandwidth_gb_s 1e-300", bandwidth_gb_s=1e-300, field=("bandwidth_gb_s",)),
        dev("bandwidth_gb_s [696]", bandwidth_gb_s=[696], field=("bandwidth_gb_s",)),
        dev("memory_gb missing", memory_gb=MISSING, field=("memory_gb",)),
        dev("memory_gb 0", memory_gb=0, field=("memory_gb",)),
        dev("memory_gb -48", memory_gb=-48, field=("memory_gb",)),
        dev('memory_gb "48GB"', memory_gb="48GB", field=("memory_gb",)),
        dev("memory_gb 48e9 (bytes given as GB)", memory_gb=48e9, field=("memory_gb",)),
        dev("memory_gb 1e308", memory_gb=1e308, field=("memory_gb",)),
        dev("memory_gb NaN", memory_gb=NAN, field=("memory_gb",)),
        dev("peak_tflops missing", peak_tflops=MISSING, field=("peak_tflops",)),
        dev("peak_tflops {}", peak_tflops={}, field=("peak_tflops",)),
        dev("peak_tflops [149.7]", peak_tflops=[149.7], field=("peak_tflops",)),
        dev("peak_tflops 149.7 (a number, not a mapping)", peak_tflops=149.7, field=("peak_tflops",)),
        dev("peak_tflops null", peak_tflops=None, field=("peak_tflops",)),
        dev("peak_tflops {fp16: 1e15} (FLOP/s given as TFLOP/s)", peak_tflops={"fp16": 1e15},
            field=("peak_tflops", "peak_tflops.fp16")),
        dev("peak_tflops {fp16: -1}", peak_tflops={"fp16": -1}, field=("peak_tflops", "peak_tflops.fp16")),
        dev("peak_tflops {fp16: 0}", peak_tflops={"fp16": 0}, field=("peak_tflops", "peak_tflops.fp16")),
        dev('peak_tflops {fp16: "fast"}', peak_tflops={"fp16": "fast"}, field=("peak_tflops", "peak_tflops.fp16")),
        dev("peak_tflops {fp16: NaN}", peak_tflops={"fp16": NAN}, field=("peak_tflops", "peak_tflops.fp16")),
        dev("peak_tflops {fp16: true}", peak_tflops={"fp16": True}, field=("peak_tflops", "peak_tflops.fp16")),
        dev("peak_tflops {fp64: 10} (unknown precision)", peak_tflops={"fp64": 10, **peaks},
            field=("peak_tflops", "peak_tflops.fp64")),
        dev("peak_tflops {FP16: 149.7} (capitals)", "either", ("peak_tflops", "peak_tflops.fp16", "precision"),
            peak_tflops={"FP16": 149.7}),
        dev("peak_tflops {fp16: null, bf16: null} (no 16-bit roof)", peak_tflops={"fp16": None, "bf16": None},
            field=("precision", "peak_tflops")),
        dev("peak_tflops {fp16: 1e308}", peak_tflops={"fp16": 1e308}, field=("peak_tflops", "peak_tflops.fp16")),
        dev("link_gb_s 0", link_gb_s=0, field=("link_gb_s",)),
        dev("link_gb_s -32", link_gb_s=-32, field=("link_gb_s",)),
        dev('link_gb_s "PCIe"', link_gb_s="PCIe", field=("link_gb_s",)),
        dev("link_gb_s 1e12", link_gb_s=1e12, field=("link_gb_s",)),
        dev("link_gb_s NaN", link_gb_s=NAN, field=("link_gb_s",)),
        dev('l2_mb "big"', l2_mb="big", field=("l2_mb",)),
        dev("l2_mb -6", l2_mb=-6, field=("l2_mb",)),
        dev("l2_mb 1e12", l2_mb=1e12, field=("l2_mb",)),
        dev("l2_mb NaN", l2_mb=NAN, field=("l2_mb",)),
        dev('tdp_w "hot"', tdp_w="hot", field=("tdp_w",)),
        dev("tdp_w -300", tdp_w=-300, field=("tdp_w",)),
        dev("bandwith_gb_s (misspelt) instead of bandwidth_gb_s", bandwidth_gb_s=MISSING, bandwith_gb_s=696,
            field=("bandwidth_gb_s", "bandwith_gb_s")),
        dev("an extra misspelt key bandwith_gb_s", bandwith_gb_s=696, field=("bandwith_gb_s",)),
        dev("an unknown key colour", colour="red", field=("colour",)),
        dev("name 123", "either", ("name",), name=123),
        dev('name ""', "either", ("name",), name=""),
        dev("name null", "either", ("name",), name=None),
        dev('bandwidth_gb_s "696" (YAML)', yaml=True, bandwidth_gb_s="696", field=("bandwidth_gb_s",)),
        dev("memory_gb 48e9 (YAML)", yaml=True, memory_gb=48e9, field=("memory_gb",)),
        case("dev.yaml with bandwidth_gb_s .nan", _yaml(BASE_DEVICE).replace("bandwidth_gb_s: 696",
             "bandwidth_gb_s: .nan"), field=("bandwidth_gb_s",), name="dev.yaml"),
        case("dev.yaml with memory_gb .inf", _yaml(BASE_DEVICE).replace("memory_gb: 48", "memory_gb: .inf"),
             field=("memory_gb",), name="dev.yaml"),
        case("dev.yaml that is a list", "- name: x\n- bandwidth_gb_s: 696\n", field=("hardware",), name="dev.yaml"),
        case("dev.yaml that is a scalar", "696\n", field=("hardware",), name="dev.yaml"),
        case("dev.yaml that is empty", "", field=("hardware",), name="dev.yaml"),
        case("dev.yaml with bad syntax", "name: [unclosed\n  bandwidth_gb_s: : 696\n", field=("hardware",),
             name="dev.yaml"),
        case("dev.yaml nested 100,000 levels", "[" * 100_000 + "]" * 100_000, field=("hardware",), name="dev.yaml"),
        case("dev.json that is empty", "", field=("hardware",)),
        case("dev.json that is invalid JSON", "{'name': 'x'}", field=("hardware",)),
        case("dev.json that is a JSON list", _json([BASE_DEVICE]), field=("hardware",)),
        case("dev.json nested 100,000 levels", "[" * 100_000 + "]" * 100_000, field=("hardware",)),
        case("dev.json of random bytes", os.urandom(4096), field=("hardware",)),
        case("dev.yml of random bytes", os.urandom(4096), field=("hardware",), name="dev.yml"),
        case("missing.json", None, field=("hardware",), name="missing.json"),
        case("a folder named dev.json", Dir(), field=("hardware",)),
        case("a FIFO named dev.json", Fifo(), field=("hardware",)),
        case("dev.json with only an int8 peak, 16-bit (no roof)",
             _json(_with(BASE_DEVICE, peak_tflops={"int8": 299.3})), field=("precision", "bits", "hardware", "weight_bits/act_bits")),
        case("dev.json with no link, --tp 2", _json(_with(BASE_DEVICE, link_gb_s=MISSING)), field=("tp",),
             extra=("--tp", "2")),
        # odd but valid
        case("dev.json (valid)", _json(BASE_DEVICE), "ok"),
        case("dev.yaml (valid)", _yaml(BASE_DEVICE), "ok", name="dev.yaml"),
        case("dev.yml (valid)", _yaml(BASE_DEVICE), "ok", name="dev.yml"),
        case("DEV.YAML (capital suffix)", _yaml(BASE_DEVICE), "ok", name="DEV.YAML"),
        case("dev.json with only an int8 peak, --bits 8", _json(_with(BASE_DEVICE, peak_tflops={"int8": 299.3})),
             "ok", extra=("--bits", "8")),
        case("dev.json with only bf16 (no fp16)", _json(_with(BASE_DEVICE, peak_tflops={"bf16": 100})), "ok"),
        case("dev.json with only required fields", _json({"bandwidth_gb_s": 696, "memory_gb": 48,
                                                          "peak_tflops": {"fp16": 149.7}}), "ok"),
        case("dev.yaml with --tp 2 (has a link)", _yaml(BASE_DEVICE), "ok", name="dev.yaml", extra=("--tp", "2")),
    ] + serving_device_cases(case, dev)


def serving_device_cases(case, dev) -> list[Case]:
    """The device fields the serving numbers read: an FP4 roof, the reported memory, the link's latency."""
    fp4 = {"fp16": 2250, "bf16": 2250, "fp8": 4500, "fp4": 9000}
    cases = []
    for value, shown in [(0, "0"), (-1, "-1"), (99, "99 (under 100 MiB)"), ("46068", '"46068"'), (NAN, "NaN"),
                         (INF, "Infinity"), (1e12, "1e12"), (True, "true"), ([46068], "[46068]")]:
        cases.append(dev(f"memory_reported_mib {shown}", memory_reported_mib=value, field=("memory_reported_mib",)))
    for value, shown in [(-1, "-1"), ("3", '"3"'), (NAN, "NaN"), (INF, "Infinity"), (1e9, "1e9"), (True, "true")]:
        cases.append(dev(f"link_latency_us {shown}", link_latency_us=value, field=("link_latency_us",)))
    cases += [
        dev("peak_tflops {fp4: -1}", peak_tflops={**fp4, "fp4": -1}, field=("peak_tflops", "peak_tflops.fp4")),
        dev('peak_tflops {fp4: "fast"}', peak_tflops={**fp4, "fp4": "fast"}, field=("peak_tflops", "peak_tflops.fp4")),
        dev("peak_tflops {fp4: 1e15}", peak_tflops={**fp4, "fp4": 1e15}, field=("peak_tflops", "peak_tflops.fp4")),
        dev("peak_tflops {fp6: 100} (unknown precision)", peak_tflops={**fp4, "fp6": 100},
            field=("peak_tflops", "peak_tflops.fp6")),
        case("dev.json with fp8 null, --compute-precision fp8 --bits 8",
             _json(_with(BASE_DEVICE, peak_tflops={**BASE_DEVICE["peak_tflops"], "fp8": None})),
             field=("compute_precision",), extra=("--compute-precision", "fp8", "--bits", "8")),
        case("dev.json without fp4, --compute-precision fp4 --bits 4", _json(BASE_DEVICE),
             field=("compute_precision",), extra=("--compute-precision", "fp4", "--bits", "4")),
        # odd but valid
        case("dev.json with an fp4 roof, --bits 4 --compute-precision fp4",
             _json(_with(BASE_DEVICE, peak_tflops=fp4)), "ok", extra=("--bits", "4", "--compute-precision", "fp4")),
        case("dev.json with an fp4 roof, --bits 4 (auto: fp4)", _json(_with(BASE_DEVICE, peak_tflops=fp4)), "ok",
             extra=("--bits", "4")),
        case("dev.json with memory_reported_mib 46068", _json(_with(BASE_DEVICE, memory_reported_mib=46068)), "ok"),
        case("dev.json with memory_reported_mib 100 (smallest), --gpu-memory-utilization 0.01",
             _json(_with(BASE_DEVICE, memory_reported_mib=100)), "ok", extra=("--gpu-memory-utilization", "0.01")),
        case("dev.json with memory_reported_mib above memory_gb", _json(_with(BASE_DEVICE, memory_reported_mib=10**8)),
             "either", ("memory_reported_mib",)),
        case("dev.json with link_latency_us 0, --tp 2", _json(_with(BASE_DEVICE, link_latency_us=0)), "ok",
             extra=("--tp", "2")),
        case("dev.json with link_latency_us 1000 (largest), --tp 4 --phase all",
             _json(_with(BASE_DEVICE, link_latency_us=1000)), "ok", extra=("--tp", "4", "--phase", "all")),
        case("dev.yaml with link_latency_us and memory_reported_mib",
             _yaml(_with(BASE_DEVICE, link_latency_us=3, memory_reported_mib=46068)), "ok", name="dev.yaml"),
    ]
    return cases


def _yaml(record: dict) -> str:
    lines = []
    for key, value in record.items():
        if isinstance(value, dict):
            lines.append(f"{key}:")
            lines += [f"  {k}: {v}" for k, v in value.items()]
        else:
            lines.append(f"{key}: {json.dumps(value) if isinstance(value, str) else value}")
    return "\n".join(lines) + "\n"


def out_cases() -> list[Case]:
    def table(label, target, files=None, expect="error", outputs=()):
        return Case("out", f"table --out {label}", ["table", "--out", target], expect, ("out",),
                    files=files or {}, outputs=outputs)

    def render(label, target, files=None):
        return Case("out", f"render --out {label}", ["render", "--out", target], "error", ("out",),
                    files=files or {})

    cases = [
        table("'' (empty)", ""),
        table("'   ' (blank)", "   "),
        table("an existing folder", "folder", {"folder": Dir()}),
        table("an existing folder with a slash", "folder/", {"folder": Dir()}),
        table(". (the working folder)", "."),
        table("/ (root)", "/"),
        table("/proc/roofline-fuzz.csv", "/proc/roofline-fuzz.csv"),
        table("/proc/self/status (not writable)", "/proc/self/status"),
        table("/dev/full", "/dev/full", expect="either"),
        table("a path whose parent is a file", "file.txt/ops.csv", {"file.txt": "keep me\n"}),
        table("a path two levels under a file", "file.txt/a/b.csv", {"file.txt": "keep me\n"}),
        table("a FIFO", "pipe.csv", {"pipe.csv": Fifo()}),
        table("a symlink to a file", "link.csv", {"real.csv": "old\n", "link.csv": Symlink("real.csv")}),
        table("a dangling symlink", "link.csv", {"link.csv": Symlink("nowhere.csv")}),
        table("a symlink to a folder", "link", {"folder": Dir(), "link": Symlink("folder")}),
        table("a character device made with mknod", "dev.csv", {"dev.csv": CharDevice()}),
        table("a 300-character file name", "x" * 300 + ".csv"),
        table("a 5000-character path", "/".join(["d" * 200] * 25) + "/ops.csv"),
        table("a path under a missing folder inside a file-like name",
              "file.txt/../ops.csv", {"file.txt": "keep me\n"}),
        # accepted
        table("an existing regular file (replaced)", "ops.csv", {"ops.csv": "old contents\n"}, "ok", ("ops.csv",)),
        table("a new nested path", "a/b/c/ops.csv", expect="ok", outputs=("a", "a/b", "a/b/c", "a/b/c/ops.csv")),
        table("- (standard output)", "-", expect="ok"),
        table("a name with spaces and unicode", "résumé des opérateurs 🚀.csv", expect="ok",
              outputs=("résumé des opérateurs 🚀.csv",)),
        render("'' (empty)", ""),
        render("an existing file", "file.txt", {"file.txt": "keep me\n"}),
        render("a path under a file", "file.txt/reports", {"file.txt": "keep me\n"}),
        render("/proc/x", "/proc/x"),
        render("a FIFO", "pipe", {"pipe": Fifo()}),
        render("/dev/null", "/dev/null"),
        render("a 5000-character path", "/".join(["d" * 200] * 25)),
    ]
    return cases


def _table_csv(tmp):
    return rl.operator_table("llama-33b", "a40", rl.Workload())


def api_cases() -> list[Case]:
    W, ot, mem = rl.Workload, rl.operator_table, rl.memory
    e2e = rl.e2e.end_to_end
    good = ("llama-33b", "a40")

    def api(label, call, expect="error", files=None):
        return Case("api", label, call=call, expect=expect, files=files or {})

    return [
        api("operator_table(None, 'a40', Workload())", lambda t: ot(None, "a40", W())),
        api("operator_table('llama-33b', None, Workload())", lambda t: ot("llama-33b", None, W())),
        api("operator_table('llama-33b', 'a40', None)", lambda t: ot(*good, None)),
        api("operator_table('llama-33b', 'a40', {'batch': 4})", lambda t: ot(*good, {"batch": 4})),
        api("operator_table(123, 'a40', Workload())", lambda t: ot(123, "a40", W())),
        api("operator_table(['llama-33b'], 'a40', Workload())", lambda t: ot(["llama-33b"], "a40", W())),
        api("operator_table(..., phases=('decod',))", lambda t: ot(*good, W(), phases=("decod",))),
        api("operator_table(..., phases='decode')", lambda t: ot(*good, W(), phases="decode"), "either"),
        api("operator_table(..., phases=())", lambda t: ot(*good, W(), phases=())),
        api("operator_table(..., phases=None)", lambda t: ot(*good, W(), phases=None)),
        api("operator_table(..., phases=('decode', 'decode'))", lambda t: ot(*good, W(), phases=("decode", "decode")),
            "either"),
        api("operator_table(..., Workload(batch=np.array([1, 64]), seq_len=np.array([[1], [8192]])))",
            lambda t: ot(*good, W(batch=np.array([1, 64]), seq_len=np.array([[1], [8192]]))), "ok"),
        api("operator_table(..., Workload(compute_precision='fp64'))", lambda t: ot(*good, W(compute_precision="fp64"))),
        api("preset(None)", lambda t: rl.preset(None)),
        api("preset('')", lambda t: rl.preset("")),
        api("preset(5)", lambda t: rl.preset(5)),
        api("preset('no-such-model')", lambda t: rl.preset("no-such-model")),
        api("preset('../hardware')", lambda t: rl.preset("../hardware")),
        api("preset(' LLAMA-33B ')", lambda t: rl.preset(" LLAMA-33B "), "either"),
        api("load_model(None)", lambda t: rl.load_model(None)),
        api("load_model(3)", lambda t: rl.load_model(3)),
        api("load_model('')", lambda t: rl.load_model("")),
        api("load_model(b'llama-33b')", lambda t: rl.load_model(b"llama-33b")),
        api("load_model(Path('/nonexistent/config.json'))", lambda t: rl.load_model(Path("/nonexistent/config.json"))),
        api("load_model({'hidden_size': 4096})", lambda t: rl.load_model({"hidden_size": 4096})),
        api("load_model(deep.json nested 100,000 deep)", lambda t: rl.load_model(str(t / "deep.json")),
            files={"deep.json": "[" * 100_000 + "]" * 100_000}),
        api("load_model(config.json of random bytes)", lambda t: rl.load_model(str(t / "config.json")),
            files={"config.json": os.urandom(1024)}),
        api("get_hardware(dev.json of random bytes)", lambda t: rl.get_hardware(str(t / "dev.json")),
            files={"dev.json": os.urandom(1024)}),
        api("from_hf_config(None)", lambda t: rl.from_hf_config(None)),
        api("get_hardware(None)", lambda t: rl.get_hardware(None)),
        api("get_hardware('')", lambda t: rl.get_hardware("")),
        api("get_hardware(3)", lambda t: rl.get_hardware(3)),
        api("get_hardware('nope.json')", lambda t: rl.get_hardware("nope.json")),
        api("get_hardware(Path('dev.json')) (a valid file)", lambda t: rl.get_hardware(t / "dev.json"), "either",
            files={"dev.json": _json(BASE_DEVICE)}),
        api("get_hardware(' A40 ')", lambda t: rl.get_hardware(" A40 "), "either"),
        api("custom_hardware('x', 1e12, 100, 48) (bytes/s as GB/s)", lambda t: rl.custom_hardware("x", 1e12, 100, 48)),
        api("custom_hardware('x', -1, 100, 48)", lambda t: rl.custom_hardware("x", -1, 100, 48)),
        api("custom_hardware('x', 696, None, 48)", lambda t: rl.custom_hardware("x", 696, None, 48)),
        api("custom_hardware('x', 696, 'fast', 48)", lambda t: rl.custom_hardware("x", 696, "fast", 48)),
        api("custom_hardware('x', 696, 100, 48e9) (bytes as GB)", lambda t: rl.custom_hardware("x", 696, 100, 48e9)),
        api("custom_hardware(None, 696, 100, 48)", lambda t: rl.custom_hardware(None, 696, 100, 48)),
        api("custom_hardware('x', 696, {'fp16': 1e15}, 48)",
            lambda t: rl.custom_hardware("x", 696, {"fp16": 1e15}, 48)),
        api("memory_footprint('llama-33b', 'a40', None)", lambda t: rl.memory_footprint(*good, None)),
        api("memory_footprint(None, 'a40', Workload())", lambda t: rl.memory_footprint(None, "a40", W())),
        api("memory_footprint(..., Workload(tp=3)) (does not split 52 heads)",
            lambda t: rl.memory_footprint(*good, W(tp=3)), "either"),
        api("memory_footprint(..., Workload(batch=np.array([1, 2])))",
            lambda t: rl.memory_footprint(*good, W(batch=np.array([1, 2]))), "either"),
        api("Workload(batch=None)", lambda t: W(batch=None)),
        api("Workload(batch=0)", lambda t: W(batch=0)),
        api("Workload(batch=-1)", lambda t: W(batch=-1)),
        api("Workload(batch=1.5)", lambda t: W(batch=1.5)),
        api("Workload(batch='2')", lambda t: W(batch="2")),
        api("Workload(batch=True)", lambda t: W(batch=True)),
        api("Workload(batch=[])", lambda t: W(batch=[])),
        api("Workload(batch=np.array([1, np.nan]))", lambda t: W(batch=np.array([1, np.nan]))),
        api("Workload(batch=2**70)", lambda t: W(batch=2**70)),
        api("Workload(batch=[[1, 2], [3]]) (ragged)", lambda t: W(batch=[[1, 2], [3]])),
        api("Workload(seq_len=np.inf)", lambda t: W(seq_len=np.inf)),
        api("Workload(weight_bits=3)", lambda t: W(weight_bits=3)),
        api("Workload(weight_bits='16')", lambda t: W(weight_bits="16")),
        api("Workload(kv_bits=None)", lambda t: W(kv_bits=None)),
        api("Workload(attention_io='FUSED')", lambda t: W(attention_io="FUSED")),
        api("Workload(attention_io=['fused'])", lambda t: W(attention_io=["fused"])),
        api("Workload(tp=0)", lambda t: W(tp=0)),
        api("Workload(tp=1.0)", lambda t: W(tp=1.0)),
        api("Workload(causal='yes')", lambda t: W(causal="yes")),
        api("Workload(prefill_logits='first')", lambda t: W(prefill_logits="first")),
        api("Workload(norm_flops_per_element=-1)", lambda t: W(norm_flops_per_element=-1)),
        api("Workload(softmax_flops_per_element=nan)", lambda t: W(softmax_flops_per_element=NAN)),
        api("Workload(compute_precision=16)", lambda t: W(compute_precision=16)),
        api("Workload(tp=np.int64(2)) in operator_table", lambda t: ot(*good, W(tp=np.int64(2))), "ok"),
        api("e2e.end_to_end(..., prompt_len=0, output_len=8)", lambda t: e2e(*good, W(), 0, 8)),
        api("e2e.end_to_end(..., prompt_len=None, output_len=8)", lambda t: e2e(*good, W(), None, 8)),
        api("e2e.end_to_end(..., prompt_len=1.5, output_len=8)", lambda t: e2e(*good, W(), 1.5, 8)),
        api("e2e.end_to_end(..., prompt_len='128', output_len=8)", lambda t: e2e(*good, W(), "128", 8)),
        api("e2e.end_to_end(..., prompt_len=128, output_len=0)", lambda t: e2e(*good, W(), 128, 0)),
        api("e2e.end_to_end(..., None workload)", lambda t: e2e(*good, None, 128, 8)),
        api("e2e.end_to_end(..., Workload(batch=np.array([1, 2])), 128, 8)",
            lambda t: e2e(*good, W(batch=np.array([1, 2])), 128, 8), "either"),
        api("e2e.end_to_end(..., prompt_len=np.array([128]), output_len=8)",
            lambda t: e2e(*good, W(), np.array([128]), 8)),
        api("e2e.end_to_end(..., 128, output_len=1) (one token)", lambda t: e2e(*good, W(), 128, 1), "ok"),
        api("e2e.end_to_end(..., 128, output_len=8)", lambda t: e2e(*good, W(), 128, 8), "ok"),
        api("memory.fewest_devices_that_fit(..., candidates=(0,))",
            lambda t: mem.fewest_devices_that_fit(*good, W(), candidates=(0,))),
        api("memory.fewest_devices_that_fit(..., candidates=(-2,))",
            lambda t: mem.fewest_devices_that_fit(*good, W(), candidates=(-2,))),
        api("memory.fewest_devices_that_fit(..., candidates=(1.5,))",
            lambda t: mem.fewest_devices_that_fit(*good, W(), candidates=(1.5,))),
        api("memory.fewest_devices_that_fit(..., candidates=('2',))",
            lambda t: mem.fewest_devices_that_fit(*good, W(), candidates=("2",))),
        api("memory.fewest_devices_that_fit(..., candidates=None)",
            lambda t: mem.fewest_devices_that_fit(*good, W(), candidates=None)),
        api("memory.fewest_devices_that_fit(..., candidates=())",
            lambda t: mem.fewest_devices_that_fit(*good, W(), candidates=()), "either"),
        api("memory.fewest_devices_that_fit(..., None workload)",
            lambda t: mem.fewest_devices_that_fit(*good, None)),
        api("memory.largest_batch_that_fits(..., max_batch=0)",
            lambda t: mem.largest_batch_that_fits(*good, W(), max_batch=0), "either"),
        api("memory.largest_batch_that_fits(..., max_batch=-5)",
            lambda t: mem.largest_batch_that_fits(*good, W(), max_batch=-5), "either"),
        api("ReportParameters(batch='1')", lambda t: rl.params.ReportParameters(batch="1")),
        api("ReportParameters(model=None)", lambda t: rl.params.ReportParameters(model=None)),
        # the serving fields
        api("Workload(weight_scale_bits=np.array([8, 16]))", lambda t: W(weight_scale_bits=np.array([8, 16]))),
        api("Workload(weight_scale_bits=[8])", lambda t: W(weight_scale_bits=[8])),
        api("Workload(weight_scale_bits=4)", lambda t: W(weight_scale_bits=4)),
        api("Workload(weight_scale_bits=True)", lambda t: W(weight_scale_bits=True)),
        api("Workload(weight_group_size=-1)", lambda t: W(weight_group_size=-1)),
        api("Workload(weight_group_size=128.0)", lambda t: W(weight_group_size=128.0)),
        api("Workload(weight_group_size=np.array([128]))", lambda t: W(weight_group_size=np.array([128]))),
        api("Workload(weight_group_size=2**21)", lambda t: W(weight_group_size=2**21)),
        api("Workload(weight_zero_point=1)", lambda t: W(weight_zero_point=1)),
        api("Workload(quantize_head='yes')", lambda t: W(quantize_head="yes")),
        api("Workload(quantize_stream=None)", lambda t: W(quantize_stream=None)),
        api("Workload(mla=None)", lambda t: W(mla=None)),
        api("Workload(mla='NAIVE')", lambda t: W(mla="NAIVE")),
        api("Workload(compute_precision='fp6')", lambda t: W(compute_precision="fp6")),
        api("Workload(compute_precision=['fp8'])", lambda t: W(compute_precision=["fp8"])),
        api("Workload(gpu_memory_utilization=0)", lambda t: W(gpu_memory_utilization=0)),
        api("Workload(gpu_memory_utilization=nan)", lambda t: W(gpu_memory_utilization=NAN)),
        api("Workload(gpu_memory_utilization=inf)", lambda t: W(gpu_memory_utilization=INF)),
        api("Workload(gpu_memory_utilization=1e9)", lambda t: W(gpu_memory_utilization=1e9)),
        api("Workload(gpu_memory_utilization=-0.5)", lambda t: W(gpu_memory_utilization=-0.5)),
        api("Workload(gpu_memory_utilization='0.9')", lambda t: W(gpu_memory_utilization="0.9")),
        api("Workload(gpu_memory_utilization=None)", lambda t: W(gpu_memory_utilization=None)),
        api("Workload(gpu_memory_utilization=True)", lambda t: W(gpu_memory_utilization=True)),
        api("Workload(gpu_memory_utilization=np.array([0.5, 0.9]))",
            lambda t: W(gpu_memory_utilization=np.array([0.5, 0.9]))),
        api("Workload(gpu_memory_utilization=np.float32(0.5))", lambda t: W(gpu_memory_utilization=np.float32(0.5)),
            "either"),
        api("Workload(output_len=-1)", lambda t: W(output_len=-1)),
        api("ReportParameters(gpu_memory_utilization='0.5')",
            lambda t: rl.params.ReportParameters(gpu_memory_utilization="0.5")),
        api("ReportParameters(gpu_memory_utilization=None)",
            lambda t: rl.params.ReportParameters(gpu_memory_utilization=None)),
        api("ReportParameters(gpu_memory_utilization=0)", lambda t: rl.params.ReportParameters(gpu_memory_utilization=0)),
        api("ReportParameters(gpu_memory_utilization=nan)",
            lambda t: rl.params.ReportParameters(gpu_memory_utilization=NAN)),
        api("ReportParameters(acceptance='3')", lambda t: rl.params.ReportParameters(acceptance="3")),
        api("ReportParameters(compute_precision=None)", lambda t: rl.params.ReportParameters(compute_precision=None)),
        api("ReportParameters(compute_precision='fp6')", lambda t: rl.params.ReportParameters(compute_precision="fp6")),
        api("ReportParameters(mla=['naive'])", lambda t: rl.params.ReportParameters(mla=["naive"])),
        api("ReportParameters(weight_zero_point='no')", lambda t: rl.params.ReportParameters(weight_zero_point="no")),
        api("ReportParameters(weight_group_size=-1)", lambda t: rl.params.ReportParameters(weight_group_size=-1)),
        api("operator_table(..., Workload(compute_precision='fp8')) (a40 has none)",
            lambda t: ot(*good, W(compute_precision="fp8"))),
        api("operator_table(..., Workload(compute_precision='int8')) (16-bit operands)",
            lambda t: ot(*good, W(compute_precision="int8"))),
        api("operator_table('llama-3.1-8b', 'b200', Workload(weight_bits=np.array([4, 16]), act_bits=4, "
            "compute_precision='fp4'))", lambda t: ot("llama-3.1-8b", "b200", W(weight_bits=np.array([4, 16]),
                                                                               act_bits=4, compute_precision="fp4"))),
        # odd but valid
        api("operator_table(..., Workload(compute_precision='tf32'))", lambda t: ot(*good, W(compute_precision="tf32")),
            "either"),
        api("operator_table('deepseek-v3', 'h200-sxm', Workload(mla='naive', tp=8, batch=array, seq_len=array))",
            lambda t: ot("deepseek-v3", "h200-sxm", W(mla="naive", tp=8, batch=np.array([1, 1024]),
                                                      seq_len=np.array([[1], [2**24]]))), "ok"),
        api("totals('deepseek-v3', 'h200-sxm', Workload(mla='naive', batch=array, seq_len=array))",
            lambda t: rl.totals("deepseek-v3", "h200-sxm", W(mla="naive", batch=np.array([1, 64]),
                                                             seq_len=np.array([[1], [2**24]]))), "ok"),
        api("totals('gemma-3-27b', 'a100-80gb-sxm', Workload(batch=array, seq_len=array)) (local/global layers)",
            lambda t: rl.totals("gemma-3-27b", "a100-80gb-sxm", W(batch=np.array([1, 8]),
                                                                  seq_len=np.array([[1], [1024], [1025], [2**24]]))),
            "ok"),
        api("totals('llama-3.1-8b', 'b200', Workload(bits 4, fp4, groups of 16, 8-bit scales, zero points))",
            lambda t: rl.totals("llama-3.1-8b", "b200", W(weight_bits=4, act_bits=4, kv_bits=4, compute_precision="fp4",
                                                          weight_group_size=16, weight_scale_bits=8,
                                                          weight_zero_point=True, quantize_head=True,
                                                          quantize_stream=True)), "ok"),
        api("memory_footprint('deepseek-v3', 'a40', Workload(gpu_memory_utilization=0.01)) (nothing fits)",
            lambda t: rl.memory_footprint("deepseek-v3", "a40", W(gpu_memory_utilization=0.01)), "ok"),
        api("memory_footprint(..., Workload(gpu_memory_utilization=1e-300))",
            lambda t: rl.memory_footprint(*good, W(gpu_memory_utilization=1e-300)), "either"),
        api("memory.fewest_devices_that_fit('deepseek-v3', 't4', Workload(gpu_memory_utilization=0.01))",
            lambda t: mem.fewest_devices_that_fit("deepseek-v3", "t4", W(gpu_memory_utilization=0.01)), "either"),
        api("memory.largest_batch_that_fits('qwen3-235b-a22b', 'l4', Workload(gpu_memory_utilization=0.01))",
            lambda t: mem.largest_batch_that_fits("qwen3-235b-a22b", "l4", W(gpu_memory_utilization=0.01)), "either"),
        api("e2e.end_to_end('gemma-2-9b', 'a40', Workload(), 8192, 8192) (past the window)",
            lambda t: e2e("gemma-2-9b", "a40", W(), 8192, 8192), "ok"),
        api("speculative.verify_curve('deepseek-v3', 'h200-sxm', Workload(tree_size=64, medusa_heads=4), [1, 64])",
            lambda t: rl.speculative.verify_curve("deepseek-v3", "h200-sxm", W(tree_size=64, medusa_heads=4),
                                                  batches=[1, 64]), "ok"),
        api("speculative.verify_curve('qwen3-30b-a3b', 'h100-sxm', Workload(tree_size=4096), [1, 1024])",
            lambda t: rl.speculative.verify_curve("qwen3-30b-a3b", "h100-sxm", W(tree_size=4096),
                                                  batches=[1, 1024]), "ok"),
    ]


def process_cases() -> list[Case]:
    """Through the installed console script: the real exit status and stderr."""
    def proc(group, label, argv, expect="error", field=(), mode="argv", files=None, shell=None, help=False):
        return Case(group, f"[process] {label}", argv, expect, field, files=files or {}, process=mode, shell=shell,
                    help=help)

    return [
        proc("flags", "roofline table --batch 0", ["table", "--batch", "0"], field=("batch",)),
        proc("flags", "roofline table --bogus", ["table", "--bogus"]),
        proc("flags", "roofline --version", ["--version"], "ok", help=True),
        proc("flags", "roofline table --format text", ["table", "--format", "text"], "ok"),
        proc("flags", "roofline list models (stdout closed: BrokenPipe)", ["list", "models"], "ok",
             mode="closed-pipe"),
        proc("flags", "roofline table --seq-len 8192 (stdout closed: BrokenPipe)", ["table", "--seq-len", "8192"],
             "ok", mode="closed-pipe"),
        proc("flags", "roofline list models | head -1", None, "ok", mode="shell",
             shell="set -o pipefail; roofline list models | head -1"),
        proc("flags", "roofline table > /dev/full", ["table"], field=("out",), mode="dev-full"),
        proc("config", "roofline table --model <config.json nested 100,000 deep>",
             ["table", "--model", "deep/config.json"], field=("model", "config"),
             files={"deep/config.json": "[" * 100_000 + "]" * 100_000}),
        proc("device", "roofline table --hardware <random bytes>.json", ["table", "--hardware", "dev.json"],
             field=("hardware",), files={"dev.json": os.urandom(2048)}),
        proc("out", "roofline render --out /proc/x", ["render", "--out", "/proc/x"], field=("out",)),
        proc("out", "roofline table --out <existing folder>", ["table", "--out", "folder"], field=("out",),
             files={"folder": Dir()}),
        # the largest layer count a config may give: counted layer by layer, it must still answer in time
        proc("config", "roofline table --model <DeepSeek-V3 config.json with num_hidden_layers 2**31-1>",
             ["table", "--model", "cfg/config.json", "--phase", "decode"], "either", ("num_hidden_layers",),
             files={"cfg/config.json": _json(_with(DEEPSEEK, num_hidden_layers=2**31 - 1))}),
        proc("config", "roofline table --model <Qwen3-MoE config.json with num_hidden_layers 2**31-1>",
             ["table", "--model", "cfg/config.json", "--phase", "decode"], "either", ("num_hidden_layers",),
             files={"cfg/config.json": _json(_with(QWEN3_MOE, num_hidden_layers=2**31 - 1))}),
    ]


def render_cases() -> list[Case]:
    tiny = ["--sweep-batches", "1", "--sweep-seq-lens", "128"]
    return [
        Case("flags", "render (defaults, tiny sweeps)", ["render", *tiny, "--out", "reports"], "ok",
             outputs=("reports",)),
        Case("device", "render --hardware dev.yaml --attention-io fused --tp 2 --bits 8 (tiny sweeps)",
             ["render", *tiny, "--hardware", "dev.yaml", "--attention-io", "fused", "--tp", "2", "--bits", "8",
              "--out", "out/nested"], "ok", files={"dev.yaml": _yaml(BASE_DEVICE)},
             outputs=("out", "out/nested")),
        Case("flags", "render --model deepseek-v3 --gpu-memory-utilization 0.01 (fits nowhere, tiny sweeps)",
             ["render", *tiny, "--model", "deepseek-v3", "--gpu-memory-utilization", "0.01", "--out", "reports"], "ok",
             outputs=("reports",)),
        Case("config", "render --model <Qwen3-MoE config.json, no MoE layer left> --hardware h100-sxm --tp 2 "
             "(tiny sweeps)", ["render", *tiny, "--model", "cfg/config.json", "--hardware", "h100-sxm", "--tp", "2",
                               "--out", "reports"], "ok",
             files={"cfg/config.json": _json(_with(QWEN3_MOE, decoder_sparse_step=1000))}, outputs=("reports",)),
        Case("flags", "render --model gemma-3-1b --hardware b200 --bits 4 --compute-precision fp4 --weight-group-size "
             "16 --weight-scale-bits 8 --quantize-head --quantize-stream --tp 4 (tiny sweeps)",
             ["render", *tiny, "--model", "gemma-3-1b", "--hardware", "b200", "--bits", "4", "--compute-precision",
              "fp4", "--weight-group-size", "16", "--weight-scale-bits", "8", "--quantize-head", "--quantize-stream",
              "--tp", "4", "--out", "reports"], "ok", outputs=("reports",)),
    ]


# --------------------------------------------------------------------------- running

def setup(tmp: Path, files: dict) -> list[str]:
    """Create the case's files; returns notes for what could not be made (mknod refused)."""
    notes = []
    for rel, content in files.items():
        path = tmp / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if content is None:
            continue
        if isinstance(content, Dir):
            path.mkdir(parents=True, exist_ok=True)
        elif isinstance(content, Fifo):
            os.mkfifo(path)
        elif isinstance(content, CharDevice):
            try:
                os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 3))  # like /dev/null
            except (PermissionError, OSError) as exc:
                notes.append(f"mknod not permitted ({exc.strerror}): skipped")
        elif isinstance(content, Symlink):
            os.symlink(content.target, path)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    return notes


def listing(root: Path) -> dict[str, tuple]:
    """Every path under root (not following links): kind, size, mtime and, for files, the contents' hash."""
    import hashlib

    entries = {}
    for folder, dirs, names in os.walk(root):
        for name in dirs + names:
            path = Path(folder) / name
            info = os.lstat(path)
            kind = stat.S_IFMT(info.st_mode)
            digest = None
            if stat.S_ISREG(info.st_mode) and info.st_size < 1 << 20:
                digest = hashlib.sha1(path.read_bytes()).hexdigest()
            entries[str(path.relative_to(root))] = (kind, info.st_size, info.st_mtime_ns, digest)
    return entries


def run_in_process(case: Case, tmp: Path) -> Result:
    argv = [a.replace("{tmp}", str(tmp)) for a in case.argv]
    out, err = io.StringIO(), io.StringIO()
    result = Result()
    with redirect_stdout(out), redirect_stderr(err), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # a numpy overflow is shown every time, not once per place
        warnings.simplefilter("ignore", ResourceWarning)  # hidden from users by default: not our business
        try:
            result.code = main(argv)
        except SystemExit as exit_:
            if case.help:
                result.code = exit_.code if isinstance(exit_.code, int) else 1
            else:
                result.escaped = f"SystemExit({exit_.code!r}) escaped main"
        except BaseException as exc:  # noqa: BLE001 - anything escaping main is a traceback
            result.escaped = _last_line(exc)
    result.stdout, result.stderr = out.getvalue(), err.getvalue() + _shown(caught)
    return result


def _shown(caught: list) -> str:
    """Warnings as a user's terminal would show them (recorded, so that pytest cannot swallow them)."""
    return "".join(f"{Path(w.filename).name}:{w.lineno}: {w.category.__name__}: {w.message}\n" for w in caught)


def run_api(case: Case, tmp: Path) -> Result:
    result = Result()
    err = io.StringIO()
    with redirect_stderr(err), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            result.value = case.call(tmp)
            result.code = 0
        except RooflineInputError as exc:
            result.code = 2
            result.stderr = f"roofline: error: {exc}\n"
        except BaseException as exc:  # noqa: BLE001
            result.escaped = _last_line(exc)
    if "Warning" in err.getvalue() + _shown(caught):
        result.stderr += err.getvalue() + _shown(caught)
    return result


def run_process(case: Case, tmp: Path) -> Result:
    env = {**os.environ, "PATH": f"{ROOFLINE.parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "PYTHONWARNINGS": "always::RuntimeWarning"}
    command = [str(ROOFLINE), *case.argv] if case.argv is not None else None
    result = Result()
    try:
        if case.process == "closed-pipe":
            proc = subprocess.Popen(command, cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
            proc.stdout.close()  # the reader is gone before the first write: EPIPE
            result.stderr = proc.stderr.read().decode(errors="replace")
            result.code = proc.wait(timeout=120)
        elif case.process == "dev-full":
            with open("/dev/full", "w") as full:
                done = subprocess.run(command, cwd=tmp, stdout=full, stderr=subprocess.PIPE, env=env, timeout=120)
            result.code, result.stderr = done.returncode, done.stderr.decode(errors="replace")
        elif case.process == "shell":
            done = subprocess.run(["bash", "-c", case.shell], cwd=tmp, capture_output=True, env=env, timeout=120)
            result.code, result.stdout = done.returncode, done.stdout.decode(errors="replace")
            result.stderr = done.stderr.decode(errors="replace")
        else:
            done = subprocess.run(command, cwd=tmp, capture_output=True, env=env, timeout=120)
            result.code, result.stdout = done.returncode, done.stdout.decode(errors="replace")
            result.stderr = done.stderr.decode(errors="replace")
    except subprocess.TimeoutExpired:
        result.escaped = "timed out after 120 s"
    if result.code is not None and result.code < 0:
        result.escaped = f"killed by signal {signal.Signals(-result.code).name}"
    return result


def _last_line(exc: BaseException) -> str:
    text = "".join(traceback.format_exception_only(type(exc), exc)).strip().splitlines()
    where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    at = f" (at {Path(where.filename).name}:{where.lineno})" if where else ""
    line = text[-1] if text else type(exc).__name__
    return (line[:300] + "...") if len(line) > 300 else line + at


# --------------------------------------------------------------------------- checking

def bad_numbers(value, name: str = "result", depth: int = 0) -> list[str]:
    """Where ``value`` holds a NaN, an inf or a negative number: 'column: NaN at row ...'."""
    problems = []
    if depth > 4:
        return problems
    if isinstance(value, pd.DataFrame):
        for column in value.columns:
            series = value[column]
            if not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
                continue
            numbers = series.to_numpy(dtype=float)
            for what, mask in (("NaN", np.isnan(numbers)), ("inf", np.isinf(numbers)),
                               ("negative", numbers < 0)):
                if mask.any():
                    row = value[mask].iloc[0]
                    where = " ".join(str(row[c]) for c in ("phase", "operator") if c in value.columns)
                    problems.append(f"column {column}: {what} in {int(mask.sum())} row(s), first {where} = "
                                    f"{numbers[mask][0]}".rstrip())
        return problems
    if isinstance(value, (bool, np.bool_, str, bytes, type(None))):
        return problems
    if isinstance(value, (int, float, np.number, np.ndarray)):
        try:
            numbers = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            return problems
        for what, mask in (("NaN", np.isnan(numbers)), ("inf", np.isinf(numbers)), ("negative", numbers < 0)):
            if np.any(mask):
                problems.append(f"{name}: {what} ({value if numbers.ndim == 0 else numbers[mask][:3]})")
        return problems
    if isinstance(value, dict) or hasattr(value, "items"):
        for key, item in value.items():
            problems += bad_numbers(item, f"{name}.{key}", depth + 1)
        return problems
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            problems += bad_numbers(item, f"{name}[{index}]", depth + 1)
        return problems
    if is_dataclass(value):
        for f in fields(value):
            problems += bad_numbers(getattr(value, f.name), f"{type(value).__name__}.{f.name}", depth + 1)
        for attr, member in vars(type(value)).items():  # derived figures: total_s, tokens_per_s_per_user, ...
            if isinstance(member, property) and not attr.startswith("_"):
                try:
                    problems += bad_numbers(getattr(value, attr), f"{type(value).__name__}.{attr}", depth + 1)
                except Exception as exc:  # noqa: BLE001
                    problems.append(f"{type(value).__name__}.{attr} raised {_last_line(exc)}")
    return problems


def bad_text_numbers(text: str) -> list[str]:
    """NaN, inf or negative numbers in a whitespace-separated text table."""
    found = re.findall(r"(?<![\w.-])(-?(?:nan|inf|NaN|Inf|INF)|-\d[\d.e+-]*)(?![\w])", text)
    return [f"text output has {token!r}" for token in sorted(set(found))[:5]]


def check_outputs(case: Case, tmp: Path, result: Result) -> list[str]:
    """NaN/inf/negative numbers in what an accepted run produced."""
    argv = case.argv or []
    if not argv or argv[0] not in ("table", "render") or case.help:
        return []
    if argv[0] == "table":
        target = argv[argv.index("--out") + 1] if "--out" in argv else "-"
        text = result.stdout if target == "-" else (tmp / target).read_text() if (tmp / target).is_file() else ""
        if case.process == "closed-pipe":
            return []
        if not text.strip():
            return [f"accepted but wrote no table to {target!r}"]
        if "--format" in argv and argv[argv.index("--format") + 1] == "text":
            return bad_text_numbers(text)
        try:
            return bad_numbers(pd.read_csv(io.StringIO(text)))
        except Exception as exc:  # noqa: BLE001
            return [f"output is not a readable CSV: {_last_line(exc)}"]
    folder = tmp / argv[argv.index("--out") + 1]
    htmls, csvs = list(folder.glob("*.html")), list(folder.glob("*_operators.csv"))
    if len(htmls) != 1 or len(csvs) != 1:
        return [f"render wrote {sorted(p.name for p in folder.iterdir()) if folder.is_dir() else 'nothing'}"]
    problems = bad_numbers(pd.read_csv(csvs[0]))
    html = htmls[0].read_text(encoding="utf-8")
    for cell in re.findall(r"<td[^>]*>(.*?)</td>", html, flags=re.S):
        text = re.sub(r"<[^>]+>", "", cell).strip()
        if re.search(r"(?<![\w])(nan|inf|-inf|infinity)(?![\w])", text, flags=re.I):
            problems.append(f"HTML table cell {text[:60]!r}")
    return problems


def leftovers(before: dict, after: dict, allowed: tuple[str, ...], accepted: bool) -> list[str]:
    problems = []
    for rel in sorted(set(after) - set(before)):
        name = Path(rel).name
        if name.endswith(".tmp") or name.startswith(".roofline-render-"):
            problems.append(f"left {rel}")
        elif not (accepted and (rel in allowed or any(rel.startswith(a.rstrip("/") + "/") for a in allowed))):
            problems.append(f"created {rel}" + ("/ (empty folder)" if after[rel][0] == stat.S_IFDIR else ""))
    for rel in sorted(set(before) - set(after)):
        problems.append(f"removed {rel}")
    for rel in sorted(set(before) & set(after)):
        if before[rel][::3] != after[rel][::3] or before[rel][1] != after[rel][1]:
            if not (accepted and rel in allowed) and before[rel][0] != stat.S_IFDIR:
                problems.append(f"changed {rel}")
    return problems


def _norm(field_name: str) -> str:
    return field_name.strip("-").replace("-", "_").lower()


_FLAG_CHOICES: dict[str, set[str]] = {}


def _allowed_but_refused(field_name: str, line: str) -> list[str]:
    """The values an error's '(allowed: ...)' lists that the field's CLI flag, one with fixed choices, refuses
    ('allowed: fp32' for --compute-precision, whose choices have no fp32, sends the user to another error)."""
    if not _FLAG_CHOICES:
        from roofline_utils.cli import build_parser

        commands = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
        for sub in (commands[0].choices.values() if commands else ()):
            for action in sub._actions:
                if action.choices and action.dest not in ("help", "what"):
                    _FLAG_CHOICES.setdefault(action.dest, set()).update(str(c) for c in action.choices)
    choices = _FLAG_CHOICES.get(_norm(field_name))
    allowed = re.search(r"\(allowed: ([^()]*)\)$", line)
    if not choices or not allowed:
        return []
    return [value for value in allowed[1].split(", ") if value not in choices]


def check(case: Case, result: Result, tmp: Path, before: dict, after: dict) -> list[tuple[str, str]]:
    """(cause, detail) for every broken rule; cause is traceback | leftover | numbers | contract."""
    found = []
    if result.escaped:
        found.append(("traceback", result.escaped))
    if "Traceback" in result.stderr:
        last = [line for line in result.stderr.strip().splitlines() if line.strip()][-1]
        found.append(("traceback", f"Traceback on stderr: {last.strip()[:200]}"))
    if result.code not in (0, 2, None):
        found.append(("traceback", f"exit status {result.code} (only 0 or 2 allowed): {_first(result.stderr)}"))
    if result.escaped or result.code is None:
        return found + [("leftover", p) for p in leftovers(before, after, (), False)]
    lines = [line for line in result.stderr.splitlines() if not line.startswith("roofline: note:")]
    if case.call is not None:
        lines = [line for line in lines if "Warning" not in line]
        warned = [line for line in result.stderr.splitlines() if "Warning" in line]
        if warned:
            found.append(("numbers", f"numpy warning: {warned[0].strip()[:160]}"))
    if result.code == 2:
        if case.expect == "ok":
            found.append(("contract", f"rejected valid input: {_first(result.stderr)}"))
        if len(lines) != 1:
            found.append(("contract", f"{len(lines)} stderr lines, want 1: {' | '.join(lines)[:240]!r}"))
        match = ERROR_LINE.fullmatch(lines[0]) if lines else None
        if lines and not match:
            found.append(("contract", f"stderr is not 'roofline: error: <field>: <problem>': {lines[0][:200]!r}"))
        elif match and case.field and _norm(match["field"]) not in {_norm(f) for f in case.field}:
            found.append(("contract", f"names field {match['field']!r}, want {' or '.join(case.field)}: "
                                      f"{lines[0][:200]!r}"))
        if match and case.argv is not None:  # what it calls allowed, the flag must accept
            refused = _allowed_but_refused(match["field"], lines[0])
            if refused:
                flag = "--" + _norm(match["field"]).replace("_", "-")
                found.append(("contract", f"allows {', '.join(refused)}, which {flag} refuses: {lines[0][:200]!r}"))
    elif result.code == 0:
        if case.expect == "error":
            found.append(("contract", "accepted bad input (exit 0)"))
        stray = [line for line in lines if "Warning" in line or "rror" in line]
        if stray:
            found.append(("numbers" if "Warning" in stray[0] else "contract",
                          f"stderr on success: {stray[0].strip()[:200]}"))
        found += [("numbers", p) for p in (bad_numbers(result.value) if case.call is not None
                                           else check_outputs(case, tmp, result))]
        if case.process in ("closed-pipe", "shell") and result.stderr.strip():
            found.append(("contract", f"broken pipe not silent: {_first(result.stderr)}"))
    found += [("leftover", p) for p in leftovers(before, after, case.outputs, result.code == 0)]
    return found


def _first(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return (lines[-1] if any("Traceback" in line for line in lines) else lines[0])[:200] if lines else "(no stderr)"


def run_case(case: Case, base: Path) -> tuple[Result, list[tuple[str, str]], list[str]]:
    tmp = Path(tempfile.mkdtemp(prefix="case-", dir=base))
    notes = setup(tmp, case.files)
    before = listing(tmp)
    cwd = os.getcwd()
    os.chdir(tmp)
    try:
        if case.process:
            result = run_process(case, tmp)
        elif case.call is not None:
            result = run_api(case, tmp)
        else:
            result = run_in_process(case, tmp)
    finally:
        os.chdir(cwd)
    after = listing(tmp)
    problems = check(case, result, tmp, before, after)
    return result, problems, notes


def all_cases(quick: bool) -> list[Case]:
    cases = flag_cases() + config_cases() + device_cases() + out_cases() + api_cases()
    if not quick:
        cases += process_cases() + render_cases()
    return cases


def main_fuzz(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="in-process inputs only: no processes, no renders")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every input and its verdict")
    parser.add_argument("--only", default="", help="run only inputs whose label contains this text")
    args = parser.parse_args(argv)

    cases = [c for c in all_cases(args.quick) if args.only in c.label]
    started = time.perf_counter()
    failures: dict[str, list[str]] = {"traceback": [], "leftover": [], "numbers": [], "contract": []}
    skipped = []
    base = Path(tempfile.mkdtemp(prefix="roofline-fuzz-"))
    outside = {folder: set(os.listdir(folder)) for folder in {os.getcwd(), tempfile.gettempdir()}}
    try:
        for case in cases:
            result, problems, notes = run_case(case, base)
            if notes:
                skipped.append(f"[{case.group}] {case.label}: {'; '.join(notes)}")
            for cause, detail in problems:
                failures[cause].append(f"[{case.group}] {case.label}: {detail}")
            if args.verbose:
                verdict = "; ".join(f"{c}: {d}" for c, d in problems) or "ok"
                print(f"  exit {result.code}  [{case.group}] {case.label} -> {verdict}", file=sys.stderr)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    for folder, names in outside.items():  # nothing may land beside the temporary folders either
        for name in sorted(set(os.listdir(folder)) - names - {base.name}):
            if folder == os.getcwd() or name.endswith(".tmp") or name.startswith(".roofline-render-"):
                failures["leftover"].append(f"[all] created {os.path.join(folder, name)} outside the case folders")

    counts = {g: sum(c.group == g for c in cases) for g in GROUPS}
    print(f"inputs tried: {len(cases)} (" + ", ".join(f"{GROUP_TITLES[g]} {counts[g]}" for g in GROUPS) +
          f") in {time.perf_counter() - started:.1f} s")
    for cause, title in (("traceback", "tracebacks"), ("leftover", "files left behind"),
                         ("numbers", "NaN/inf/negative numbers in accepted outputs"),
                         ("contract", "error-contract breaks (message form, field, verdict)")):
        print(f"{title}: {len(failures[cause])}")
        for line in failures[cause]:
            print(f"  {line}")
    for line in skipped:
        print(f"skipped: {line}")
    return 1 if any(failures.values()) else 0


if __name__ == "__main__":
    sys.exit(main_fuzz())
