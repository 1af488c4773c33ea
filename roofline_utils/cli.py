"""``roofline render`` / ``roofline table`` / ``roofline list``: validated at the edge, atomic output."""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from dataclasses import fields
from pathlib import Path

from .errors import RooflineInputError
from .params import DEFAULT_BATCHES, DEFAULT_SEQ_LENS, ReportParameters
from .report import RenderError


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _int_list(text: str) -> list[int]:
    return [_positive_int(part) for part in text.split(",") if part.strip()]


def _add_workload_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = ReportParameters()
    parser.add_argument("--model", default=defaults.model,
                        help="preset name (see 'roofline list models') or path to a config.json")
    parser.add_argument("--hardware", default=defaults.hardware,
                        help="device name (see 'roofline list hardware') or a .json/.yaml device file")
    parser.add_argument("--batch", type=_positive_int, default=defaults.batch)
    parser.add_argument("--seq-len", type=_positive_int, default=defaults.seq_len,
                        help="prompt length in prefill, KV-cache length in decode")
    parser.add_argument("--output-len", type=_positive_int, default=defaults.output_len,
                        help="tokens to generate, for the end-to-end latency (default 256)")
    parser.add_argument("--bits", type=int, choices=(4, 8, 16, 32),
                        help="sets weight, activation and KV-cache bits together")
    for name in ("weight", "act", "kv"):
        parser.add_argument(f"--{name}-bits", type=int, choices=(4, 8, 16, 32), default=None)
    parser.add_argument("--attention-io", choices=("unfused", "fused"), default=defaults.attention_io)
    parser.add_argument("--tp", type=_positive_int, default=defaults.tp, help="tensor-parallel devices")


def _parameters(args: argparse.Namespace) -> ReportParameters:
    bits = {name: getattr(args, name) or args.bits or 16 for name in ("weight_bits", "act_bits", "kv_bits")}
    known = {f.name for f in fields(ReportParameters)}
    values = {k: v for k, v in vars(args).items() if k in known and v is not None}
    return ReportParameters(**{**values, **bits})


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="roofline", description="Roofline analysis of LLM inference.")
    sub = parser.add_subparsers(dest="command", required=True)

    render = sub.add_parser("render", help="run the notebooks and write one HTML report")
    _add_workload_arguments(render)
    render.add_argument("--sweep-batches", type=_int_list, default=list(DEFAULT_BATCHES),
                        help="comma-separated batches for the chart's clouds (default 1,2,...,64)")
    render.add_argument("--sweep-seq-lens", type=_int_list, default=list(DEFAULT_SEQ_LENS),
                        help="comma-separated lengths for the chart's clouds (default 128,...,8192)")
    render.add_argument("--show-other-ops", action="store_true", help="also plot o_proj, norms, softmax, lm_head")
    render.add_argument("--measurement-run", help="a shipped measurement run for the measured-vs-predicted notebook")
    render.add_argument("--remeasure", action="store_true",
                        help="measure this machine now (GPU with PyTorch+CUDA if present, else the CPU)")
    render.add_argument("--out", default="reports", help="output folder (default: reports/)")

    table = sub.add_parser("table", help="the per-operator table, one row per operator and phase")
    _add_workload_arguments(table)
    table.add_argument("--format", choices=("csv", "text"), default="csv")
    table.add_argument("--out", help="output file (default: standard output)")

    listing = sub.add_parser("list", help="the shipped model presets or hardware catalog")
    listing.add_argument("what", choices=("models", "hardware"))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "list":
            return _list(args.what)
        parameters = _parameters(args)
        if args.command == "table":
            return _table(parameters, args.format, args.out)
        from .report import render_report

        out = render_report(parameters, args.out)
        print(f"wrote {out}")
        return 0
    except (RooflineInputError, RenderError) as exc:
        print(f"roofline: error: {exc}", file=sys.stderr)
        return 2


def _list(what: str) -> int:
    if what == "models":
        from .models import preset, preset_names

        for name in preset_names():
            model = preset(name)
            print(f"{name:16s} {model.parameter_count() / 1e9:7.1f}B params  {model.architecture}")
    else:
        from .hardware import get_hardware, hardware_names

        for name in hardware_names():
            hw = get_hardware(name)
            print(f"{name:16s} {hw.name:32s} {hw.bandwidth_bytes_per_s / 1e9:6.0f} GB/s  "
                  f"{hw.peak_flops_per_s.get('fp16', hw.peak_flops_per_s.get('bf16', 0)) / 1e12:7.1f} TFLOP/s 16-bit")
    return 0


def _table(parameters: ReportParameters, fmt: str, out: str | None) -> int:
    from .roofline import operator_table

    parameters.validate()
    table = operator_table(parameters.model, parameters.hardware, parameters.workload())
    table = table.drop(columns=["batch", "seq_len"]).assign(batch=parameters.batch, seq_len=parameters.seq_len)
    text = table.to_csv(index=False) if fmt == "csv" else table.to_string(index=False) + "\n"
    if out is None:
        sys.stdout.write(text)
        return 0
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as handle:
        handle.write(text)
    os.replace(handle.name, path)
    print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
