"""How far off is a kernel time read between grid points? Leave-one-out over NVIDIA's measured tables.

Needs the optional extra (``pip install -e '.[kernels]'``). For each catalog GPU the database holds
(vLLM at its newest version, or ``--framework``), every interior grid value of every axis is left out
in turn and predicted from its two neighbours by the report's log-space interpolation
(roofline_utils.measure.interpolation), a gap twice the grid's own spacing: an upper estimate of the
error at a shape between two neighbours (Llama-33B's 6,656 lies between 6,144 and 7,168). Printed per
GPU and kernel kind: held-out points, median, 90th and 99th percentile and largest |error|, against
the stated target (``stated_p90``: 90 % of held-out points within it). Two assumptions of the lookup
are measured the same way: the head fold (b sequences of H heads as b·H/k sequences of k heads,
where the table has both) and the batch chunks (2 × the time at batch b/2 for batch b). Then the
bound over the whole database: every kernel whose working set is at least 4× the L2, against its
roofline time under the catalog's figures.

    .venv/bin/python benchmarks/kernel_interpolation.py [--framework vllm]
"""
from __future__ import annotations

import argparse
import sys

import numpy as np
import pandas as pd

from roofline_utils.hardware import get_hardware
from roofline_utils.measure import database
from roofline_utils.measure.interpolation import LogGrid, error_summary, leave_one_out
from roofline_utils.measure.lookup import stated_p90
from roofline_utils.measure.measured import SUSPECT_TABLES, bound_check


def interpolation_errors(rows: pd.DataFrame) -> pd.DataFrame:
    parts = [leave_one_out(LogGrid(rows[rows["kind"] == "gemm"], ["m", "n", "k"])).assign(kind="gemm")]
    attention = rows[rows["kind"] != "gemm"]
    for (kind, *_), part in attention.groupby(["kind", "heads", "kv_heads", "head_dim"]):
        parts.append(leave_one_out(LogGrid(part, ["batch", "length"])).assign(kind=kind))
    return pd.concat(parts, ignore_index=True)


def fold_errors(rows: pd.DataFrame) -> pd.DataFrame:
    """(b, H, Hkv) predicted as (b·Hkv/k, g·k, k) for the next smaller K/V-head count k of the same group."""
    records = []
    attention = rows[rows["kind"] != "gemm"]
    for (kind, d), part in attention.groupby(["kind", "head_dim"]):
        pairs = sorted(set(zip(part["heads"], part["kv_heads"])))
        grids = {pair: LogGrid(part[(part["heads"] == pair[0]) & (part["kv_heads"] == pair[1])], ["batch", "length"])
                 for pair in pairs}
        for heads, kv in pairs:
            group = heads // kv
            smaller = [k for h, k in pairs if k < kv and h == group * k]
            if not smaller:
                continue
            k = max(smaller)
            for (batch, length), value in grids[(heads, kv)].values.items():
                estimate = grids[(group * k, k)]((batch * kv / k, length))
                if estimate is not None:
                    records.append({"kind": kind, "error": estimate.latency_ms / value - 1})
    return pd.DataFrame(records, columns=["kind", "error"])


def chunk_errors(rows: pd.DataFrame) -> pd.DataFrame:
    """Where the lookup uses it, at the table's edge: the largest batch at each length predicted as
    2 × the time at half that batch."""
    records = []
    for (kind, *_), part in rows[rows["kind"] != "gemm"].groupby(["kind", "heads", "kv_heads", "head_dim"]):
        values = dict(zip(zip(part["batch"], part["length"]), part["latency_ms"]))
        for length, at_length in part.groupby("length"):
            largest = int(at_length["batch"].max())
            half = values.get((largest // 2, length))
            if largest >= 2 and half is not None:
                records.append({"kind": kind, "error": 2 * half / values[(largest, length)] - 1})
    return pd.DataFrame(records, columns=["kind", "error"])


def line(device: str, kind: str, errors: pd.Series, target: float | None = None) -> str:
    s = error_summary(errors)
    within = float((np.abs(errors) <= target).mean()) if target is not None and len(errors) else float("nan")
    verdict = "" if target is None else f"  target p90 <= {target:.0%}: {within:.1%} within, " + (
        "met" if within >= 0.9 else "NOT met")
    return (f"{device:14s} {kind:30s} {s['held_out']:7d}  median {s['median']:6.2%}  p90 {s['p90']:6.2%}  "
            f"p99 {s['p99']:6.2%}  max {s['max']:7.2%}{verdict}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--framework", default=database.DEFAULT_FRAMEWORK, choices=sorted(database.FRAMEWORK_NAMES))
    args = parser.parse_args(argv)
    if not database.installed():
        print("aiconfigurator-core is not installed: pip install -e '.[kernels]'", file=sys.stderr)
        return 2
    print(f"aiconfigurator-core {database.package_version()}, framework {args.framework}; "
          "|estimate / measured - 1| over held-out grid points")
    every = []
    for device in database.database_devices():
        version = database.frameworks(device).get(args.framework)
        if version is None:
            continue
        rows = database.read_kernels(device, args.framework, version)
        errors = interpolation_errors(rows)
        every.append(errors)
        for kind, part in errors.groupby("kind"):
            print(line(device, f"{kind} (interpolation)", part["error"], stated_p90(device, kind)))
        for name, extra in (("head fold", fold_errors(rows)), ("batch chunks", chunk_errors(rows))):
            for kind, part in extra.groupby("kind"):
                print(line(device, f"{kind} ({name})", part["error"]))
        print(f"{device:14s} head fold and batch chunks: the lookup's two assumptions, where the table can test them")
        checked = bound_check(rows, get_hardware(device))
        big = checked[checked["checked"]]
        under = checked[checked["ratio"] < 1]
        print(f"{device:14s} bound: {len(big):,} kernels with working set >= 4x L2, worst measured/bound "
              f"{big['ratio'].min():.3f}, {int(big['below'].sum())} below tolerance; "
              f"{len(under):,} of {len(checked):,} faster than the bound, "
              f"{int(under['fits_l2'].sum()):,} of them with a working set that fits the L2")
    print("the bound over every framework's tables (working set >= 4x L2):")
    for device in database.database_devices():
        for framework, version in database.frameworks(device).items():
            checked = bound_check(database.read_kernels(device, framework, version), get_hardware(device))
            big = checked[checked["checked"]]
            suspect = any((device, framework, kind) in SUSPECT_TABLES for kind in database.KINDS)
            print(f"{device:14s} {framework:7s} {version:11s} {len(big):6,} checked, worst {big['ratio'].min():.3f}, "
                  f"{int(big['below'].sum()):4d} below tolerance" + ("  (see SUSPECT_TABLES)" if suspect else ""))
    total = pd.concat(every, ignore_index=True)
    for kind, part in total.groupby("kind"):
        print(line("all GPUs", f"{kind} (interpolation)", part["error"], stated_p90("", kind)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
