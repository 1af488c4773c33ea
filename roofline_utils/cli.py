"""``roofline render`` / ``roofline table`` / ``roofline list``.

The flags are generated from the parameter schema (params.py), so a parameter, its default
and its help are written once. Every failure is one line on stderr that names the field,
with exit status 2; nothing is written unless the whole result is.
"""
from __future__ import annotations

import argparse
import os
import re
import signal
import sys
import time
from dataclasses import fields

from .errors import RooflineInputError, shown
from .params import BIT_CHOICES, ReportParameters, schema

# Parameters that only the report uses; `table` takes the rest.
REPORT_ONLY = {"sweep_batches", "sweep_seq_lens", "show_other_ops", "measurement_run", "remeasure",
               "acceptance", "draft_model", "draft_acceptance", "draft_tokens"}
EXIT_INPUT = 2
BIT_FIELDS = ("weight_bits", "act_bits", "kv_bits")  # each defaults to --bits


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors as one line (no usage block) and exit status 2."""

    def error(self, message: str):
        if message.startswith("argument ") and ": " in message:
            raise RooflineInputError(*message.removeprefix("argument ").split(": ", 1))
        required = re.match(r"the following arguments are required: (.*)", message)
        if required:
            names = required.group(1)
            missing = [a for a in self._actions if a.dest in names or (a.metavar and a.metavar in names)]
            field = missing[0].dest if missing else names
            choices = ", ".join(map(str, missing[0].choices)) if missing and missing[0].choices else "see --help"
            raise RooflineInputError(field, f"missing after '{self.prog}'", choices)
        raise RooflineInputError(self.prog, message)


def _integer(name: str, low: int, high: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer from {low:,} to {high:,}, got {shown(text)}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be an integer from {low:,} to {high:,}, got {value}")
        return value
    parse.__name__ = name
    return parse


def _number(name: str, low: float, high: float, open_range: bool):
    between = f"strictly between {low:g} and {high:g}" if open_range else f"from {low:g} to {high:,g}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number {between}, got {shown(text)}") from None
        inside = (low < value < high) if open_range else (low <= value <= high)
        if not inside:  # also refuses nan and inf
            raise argparse.ArgumentTypeError(f"must be a number {between}, got {text}")
        return value
    parse.__name__ = name
    return parse


def _integer_list(name: str, low: int, high: int):
    one = _integer(name, low, high)

    def parse(text: str) -> list[int]:
        parts = [part.strip() for part in text.split(",")]
        if not all(parts):
            raise argparse.ArgumentTypeError(f"must be comma-separated integers from {low:,} to {high:,}, "
                                             f"got {shown(text)}")
        return [one(part) for part in parts]
    parse.__name__ = name
    return parse


def _add_schema_flags(parser: argparse.ArgumentParser, report: bool) -> None:
    """One flag per schema field (the report-only ones for ``render`` alone)."""
    for f in schema():
        meta = f.metadata
        if not meta["cli"] or (f.name in REPORT_ONLY and not report):
            continue
        flag, default = "--" + f.name.replace("_", "-"), ReportParameters().values()[f.name]
        if isinstance(default, bool):
            parser.add_argument(flag, action="store_true", help=meta["help"])
        elif isinstance(default, list):
            parser.add_argument(flag, type=_integer_list(f.name, meta["low"], meta["high"]), default=default,
                                metavar="N,N,...", help=f"{meta['help']} (default: {','.join(map(str, default))})")
        elif f.name in BIT_FIELDS:
            parser.add_argument(flag, type=int, choices=meta["choices"], default=None, metavar="{4,8,16,32}",
                                help=f"{meta['help']} (default: --bits, else {default})")
        elif meta["choices"] is not None:
            parser.add_argument(flag, choices=meta["choices"], default=default, type=type(default), help=f"{meta['help']} (default: "
                                f"{default})")
        elif isinstance(default, float):
            parser.add_argument(flag, type=_number(f.name, meta["low"], meta["high"], meta["open"]), default=default,
                                metavar="X", help=f"{meta['help']} (default: {default:g})")
        elif meta["low"] is not None:
            parser.add_argument(flag, type=_integer(f.name, meta["low"], meta["high"]), default=default,
                                metavar="N", help=f"{meta['help']}; {meta['low']:,} to {meta['high']:,} "
                                f"(default: {default})")
        else:
            parser.add_argument(flag, default=default, help=f"{meta['help']} (default: {default})")
        if f.name == "seq_len":
            parser.add_argument("--bits", type=int, choices=BIT_CHOICES, default=None, metavar="{4,8,16,32}",
                                help="sets weight, activation and KV-cache bits together (default: 16)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="roofline", description="Roofline analysis of LLM inference: a report, a table, "
                     "the catalog.", epilog="Example: roofline render --model llama-2-70b --hardware h100-sxm "
                     "--batch 16 --out reports/")
    parser.add_argument("--version", action=_Version, nargs=0, help="show the version and exit")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="{render,table,list}")

    render = sub.add_parser("render", help="run the notebooks and write one HTML report (plus chart and CSV)",
                            description="Run the report's notebooks and write <stem>.html, the chart as PNG "
                            "and SVG, and the per-operator CSV into --out.")
    _add_schema_flags(render, report=True)
    render.add_argument("--show-code", action="store_true", help="keep the notebooks' code cells in the report")
    render.add_argument("--out", default="reports", help="output folder, created if needed (default: reports)")

    table = sub.add_parser("table", help="the per-operator table, one row per operator and phase",
                           description="FLOPs, bytes, intensity, bound and time of every operator, per phase.")
    _add_schema_flags(table, report=False)
    table.add_argument("--phase", choices=("prefill", "decode", "verify", "all"), default=None,
                       help="the phase's rows only; verify: one speculative step checking --tree-size candidates "
                       "per sequence with --medusa-heads heads (default: prefill and decode)")
    table.add_argument("--measured", action="store_true", help="add measured_s (per occurrence, like time_s) and "
                       "measured_from (grid, interpolated, extrapolated) from NVIDIA's measured kernels of "
                       "--measured-device (default: the --hardware itself when measured), and a note with the "
                       "request end to end (--batch, a --seq-len prompt, --output-len tokens): the roofline bound "
                       "beside the measured kernels")
    table.add_argument("--format", choices=("csv", "text"), default="csv", help="output format (default: csv)")
    table.add_argument("--out", default="-", help="output file; - for standard output (default: -)")

    listing = sub.add_parser("list", help="the shipped model presets, hardware catalog or measurement runs",
                             description="List what ships with the package.")
    listing.add_argument("what", choices=("models", "hardware", "runs", "measured"), help="what to list "
                         "(measured: the GPUs and frameworks with measured kernels)")
    return parser


def _given_flags(argv: list[str] | None) -> set[str]:
    """The destinations the command line sets itself (not by default): the same parser with every
    default suppressed, so abbreviations and --flag=value read as argparse reads them."""
    parser = build_parser()
    for sub in parser._subparsers._group_actions[0].choices.values():
        for action in sub._actions:
            action.default = argparse.SUPPRESS
    return set(vars(parser.parse_args(argv)))


def _weight_flags(given: set[str]) -> list[str]:
    """The weight flags given, as typed: any of them means the weights are as given, not the checkpoint's."""
    from .quantization import WEIGHT_FIELDS

    return ["--" + name.replace("_", "-") for name in (*WEIGHT_FIELDS, "bits") if name in given]


def _parameters(args: argparse.Namespace, given: set[str] = frozenset()) -> ReportParameters:
    """The flags as parameters, each model, device and draft resolved once (ReportParameters.resolved):
    relative paths against the folder the user ran the command in, presets by name. A weight flag
    makes the weights as given (weights_from 'flags'), whatever the checkpoint's quantization_config."""
    names = {f.name for f in fields(ReportParameters)}
    values = {k: v for k, v in vars(args).items() if k in names and v is not None}
    for name in BIT_FIELDS:
        values[name] = getattr(args, name) or args.bits or 16
    flags = _weight_flags(given)
    if flags:
        if "weights_from" in given and args.weights_from == "checkpoint":
            raise RooflineInputError("weights_from", f"'checkpoint' together with {', '.join(flags)}",
                                     "flags (or leave out the weight flags)")
        values["weights_from"] = "flags"
    return ReportParameters(**values).resolved()


class _Interrupted(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C (SIGINT): unwind, clean up, one line."""


def _interrupt(signum, frame):
    raise _Interrupted(signum)


class _Version(argparse.Action):
    """--version, with the version looked up only when asked (see roofline_utils._version)."""

    def __call__(self, parser, namespace, values, option_string=None):
        from . import __version__

        print(f"roofline {__version__}")
        parser.exit()


def main(argv: list[str] | None = None) -> int:
    previous = signal.signal(signal.SIGTERM, _interrupt)  # a kill cleans up like Ctrl-C
    previous_int = signal.getsignal(signal.SIGINT)
    if getattr(previous_int, "quiet_exit", False):  # from _entry: Ctrl-C now unwinds (staging removed, ...)
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        args = build_parser().parse_args(argv)
        if args.command == "list":
            return _list(args.what)
        given = _given_flags(argv)
        parameters = _parameters(args, given)
        for note in (*_model_notes(parameters), *_weight_notes(parameters, given)):
            print(f"roofline: note: {note}", file=sys.stderr)
        if args.command == "table":
            return _table(parameters, args.format, args.out, args.phase, args.measured)
        return _render(parameters, args.out, args.show_code)
    except RooflineInputError as exc:
        print(f"roofline: error: {' '.join(str(exc).split())}", file=sys.stderr)  # always one line
        return EXIT_INPUT
    except KeyboardInterrupt as exc:
        published = getattr(exc, "published", None)  # the signal came while the report was being moved in
        print(f"roofline: interrupted after writing {published}" if published else
              "roofline: interrupted; nothing was written", file=sys.stderr)
        return 128 + (exc.args[0] if isinstance(exc, _Interrupted) else signal.SIGINT)
    except BrokenPipeError:  # `roofline list models | head -1`: the reader has what it wanted
        _silence_stdout()
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        if getattr(previous_int, "quiet_exit", False):
            signal.signal(signal.SIGINT, previous_int)


def _silence_stdout() -> None:
    """After a closed pipe, point stdout at /dev/null so the interpreter's final flush stays quiet."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file (tests capture it)
        pass


def _model_notes(parameters: ReportParameters) -> tuple[str, ...]:
    from .models import context_notes
    from .params import load_resolved_model

    model = load_resolved_model(parameters.model)
    # the context a request reaches: its prompt and the tokens generated after it
    return (*getattr(model, "notes", ()), *context_notes(model, parameters.seq_len, parameters.output_len))


def _weight_notes(parameters: ReportParameters, given: set[str]) -> tuple[str, ...]:
    """For a checkpoint with a quantization_config: which weight format the numbers use and where it
    comes from, and any layers its ignore list names only in part."""
    from .quantization import ignored_operators

    model = parameters.model_config()
    if model.quantization is None:
        return ()
    flags = _weight_flags(given)
    source = parameters.weight_source(", ".join(flags) if flags else "--weights-from flags")
    return (source, *(ignored_operators(model).partly if parameters.checkpoint_weights() else ()))


def _render(parameters: ReportParameters, out: str, show_code: bool) -> int:
    from .report import RenderError, render_report

    started = time.perf_counter()
    try:
        path = render_report(parameters, out, show_code=show_code,
                             progress=lambda line: print(line, file=sys.stderr, flush=True))
    except RenderError as exc:
        print(f"roofline: error: render: {' '.join(str(exc).split())}", file=sys.stderr)
        return EXIT_INPUT
    from .output import write_stdout

    write_stdout(f"wrote {path} ({time.perf_counter() - started:.1f} s)\n")
    return 0


def _list(what: str) -> int:
    from .output import write_stdout

    if what == "models":
        from .models import preset, preset_names

        width = max(16, *map(len, preset_names()))  # the names line up however long the longest
        lines = [f"{name:{width}s} {preset(name).parameter_count() / 1e9:7.1f}B params  {preset(name).architecture}"
                 for name in preset_names()]
    elif what == "hardware":
        from .hardware import get_hardware, hardware_names, sixteen_bit_precision

        lines = [f"{'key':16s} {'device':32s} {'memory':>8s} {'reported':>12s} {'bandwidth':>10s} {'16-bit peak':>13s}"]
        for name in hardware_names():
            hw = get_hardware(name)
            sixteen = sixteen_bit_precision(hw)
            peak = f"{hw.peak_flops_per_s[sixteen] / 1e12:7.1f} TFLOP/s" if sixteen else "none"
            reported = "n/a" if hw.reported_memory_bytes is None else f"{hw.reported_memory_bytes / 2**20:,.0f} MiB"
            lines.append(f"{name:16s} {hw.name:32s} {hw.memory_bytes / 2**30:5.0f} GB {reported:>12s} "
                         f"{hw.bandwidth_bytes_per_s / 1e9:5.0f} GB/s {peak:>13s}")
    elif what == "measured":
        from .measure.extract import frameworks_for, measured_devices

        lines = [f"{key:16s} " + ", ".join(f"{fw} {version}" for fw, version in sorted(frameworks_for(key).items()))
                 for key in measured_devices()]
    else:
        from .measure import shipped_runs

        lines = shipped_runs()
    write_stdout("\n".join(lines) + "\n")
    return 0


def _measured_columns(parameters: ReportParameters, model, phases: tuple[str, ...], rows: int) -> dict:
    """measured_s and measured_from, from --measured-device (else --hardware when it is measured); a note
    on stderr says which GPU and framework, or why the columns are empty, and the request (--batch,
    --seq-len as the prompt, --output-len) end to end: the roofline bound beside the measured kernels."""
    import numpy as np

    from .hardware import get_hardware
    from .measure.extract import choose_device, kernel_source
    from .measure.measured import end_to_end, end_to_end_sentences, measured_columns, uncovered_reason
    from .params import check_measured_device

    check_measured_device(parameters.measured_device)
    hardware = get_hardware(parameters.hardware)
    choice = choose_device(hardware, parameters.measured_device)
    if parameters.measured_device == "auto" and choice.shown != hardware.key:  # another GPU only when asked
        hint = f"; --measured-device {choice.shown} shows the nearest" if choice.shown else ""
        print(f"roofline: note: measured columns empty: {hardware.name} is not in the measured tables{hint}",
              file=sys.stderr)
        return {"measured_s": np.full(rows, "", dtype=object), "measured_from": np.full(rows, "", dtype=object)}
    source = kernel_source(choice.shown, parameters.measured_framework)
    reason = uncovered_reason(model, parameters.workload())
    print(f"roofline: note: measured from {source.describe()}" + (f"; nothing applies: {reason}" if reason else ""),
          file=sys.stderr)
    if reason is None:  # the request end to end: at least X by the roofline, Y from the measured kernels
        e2e = end_to_end(model, source.hardware, parameters.workload(), parameters.seq_len, parameters.output_len,
                         source.times)
        for sentence in end_to_end_sentences(e2e, source.hardware.name, parameters.batch, parameters.seq_len,
                                             parameters.output_len):
            print(f"roofline: note: {sentence}", file=sys.stderr)
    return measured_columns(model, parameters.workload(), phases, source.times)


def _table(parameters: ReportParameters, fmt: str, out: str, phase: str | None, measured: bool = False) -> int:
    from .operators import ALL_PHASES, PHASES
    from .output import csv_text, write_text
    from .roofline import operator_columns

    parameters.validate(report=False)
    phases = PHASES if phase is None else ALL_PHASES if phase == "all" else (phase,)
    from .params import load_resolved_model

    model = load_resolved_model(parameters.model)
    columns = operator_columns(model, parameters.hardware, parameters.workload(), phases)
    if measured:
        columns.update(_measured_columns(parameters, model, phases, len(columns["phase"])))
    if fmt == "csv":
        text = csv_text(columns)
    else:
        import pandas as pd

        text = pd.DataFrame(columns).to_string(index=False) + "\n"
    path = write_text(out, text)
    if path is not None:
        print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
