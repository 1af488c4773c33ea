"""Regenerate roofline_utils/data/kernels/measured_kernels.csv from the installed aiconfigurator-core.

    .venv/bin/pip install -e '.[kernels]' && .venv/bin/python scripts/extract_kernels.py

The rows the Medusa grid needs for the shipped Llama-7B, 13B, 33B, Llama-3.1-8B and 70B and the default report's model, per
catalog GPU and framework (newest version), plus vLLM's GEMM cloud and the held-out triplets
(roofline_utils.measure.extract explains each). Prints the rows per GPU and the file's size.
"""
from __future__ import annotations

import sys

from roofline_utils.measure import database
from roofline_utils.measure.extract import build_extract, extract_path, write_extract
from roofline_utils.params import ReportParameters


def main() -> int:
    if not database.installed():
        print("aiconfigurator-core is not installed: pip install -e '.[kernels]'", file=sys.stderr)
        return 2
    metadata, rows = build_extract(ReportParameters().model)
    path = write_extract(metadata, rows, extract_path())
    print(rows.groupby(["device", "framework", "purpose"]).size().to_string())
    print(f"wrote {path}: {len(rows):,} rows, {path.stat().st_size / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
