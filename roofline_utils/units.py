"""Number formatting for tables and prose: SI prefixes and grouped integers."""
from __future__ import annotations


def si(value: float, unit: str) -> str:
    """696e9, 'B/s' -> '696 GB/s'; 149.7e12, 'FLOP/s' -> '149.7 TFLOP/s'."""
    for factor, prefix in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1, "")):
        if abs(value) >= factor:
            return f"{value / factor:.4g} {prefix}{unit}"
    return f"{value:.3g} {unit}"


def grouped(value: float) -> str:
    """90731184128.0 -> '90,731,184,128'; 695877000000.4 -> '695,877,000,000' (whole units from
    10,000 up: never 6.959e+11 beside 149,700,000,000,000); 0.9997 -> '0.9997'."""
    return f"{value:,.0f}" if float(value).is_integer() or abs(value) >= 1e4 else f"{value:,.4g}"


def seconds(value: float) -> str:
    """0.0953 -> '95.3 ms'; 0.508 -> '508 ms'; 2.1 -> '2.1 s'."""
    for factor, unit in ((1, "s"), (1e-3, "ms"), (1e-6, "µs"), (1e-9, "ns")):
        if value >= factor:
            return f"{value / factor:.3g} {unit}"
    return f"{value:.3g} s"


def format_table(table):
    """A copy of a DataFrame for printing: float columns as grouped integers or 4 significant digits."""
    formatted = table.copy()
    for column in formatted.columns:
        if formatted[column].dtype.kind == "f":
            formatted[column] = formatted[column].map(grouped)
    return formatted
