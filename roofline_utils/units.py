"""Number formatting for tables and prose: SI prefixes, about three significant figures, grouped integers.

The spec (tests/test_units.py): no e-notation and no integer of 13 or more digits in anything a reader
sees; quantities carry an SI prefix (38.3 ns, 149.7 TFLOP/s, 65.1 GB); a table column reads in one unit,
chosen from the column's median. The CSV keeps full precision: nothing here touches it.
"""
from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal

PREFIXES = ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, ""),
            (1e-3, "m"), (1e-6, "µ"), (1e-9, "n"), (1e-12, "p"))
SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def number(value: float, digits: int = 3, factor: float = 1.0) -> str:
    """``value / factor`` to ``digits`` significant figures in plain decimals, halves rounded up, whole
    digits never rounded away: 38.25 -> '38.3'; 0.0003428 -> '0.000343'; 149.7 -> '150'; 4810.5 -> '4,811';
    from 10¹² up and below 10⁻⁴ as ×10ⁿ (a 13-digit integer or a row of zeros is not read, it is counted):
    6.66e13 -> '6.66×10¹³'; 1.469e-05 -> '1.47×10⁻⁵'."""
    value = float(value)
    if not math.isfinite(value):
        return "n/a"
    if value == 0:
        return "0"
    # decimal arithmetic on the shortest repr: 3.825e-08 / 1e-9 is 38.25, not 38.2499999
    scaled = Decimal(repr(value)) / Decimal(repr(float(factor)))
    if not Decimal("1e-4") <= abs(scaled) < Decimal("1e12"):
        exponent = scaled.copy_abs().adjusted()
        mantissa = (scaled.scaleb(-exponent)).quantize(Decimal(1).scaleb(1 - digits), ROUND_HALF_UP)
        return f"{_trimmed(float(mantissa), digits - 1)}×10{str(exponent).translate(SUPERSCRIPT)}"
    decimals = max(0, digits - 1 - scaled.copy_abs().adjusted())
    rounded = scaled.quantize(Decimal(1).scaleb(-decimals), ROUND_HALF_UP)
    if rounded.copy_abs().adjusted() > scaled.copy_abs().adjusted() and decimals > 0:
        decimals -= 1  # 99.96 rounds up to 100.0: one digit fewer, '100'
        rounded = scaled.quantize(Decimal(1).scaleb(-decimals), ROUND_HALF_UP)
    return f"{rounded:,.{decimals}f}"


def _trimmed(value: float, decimals: int) -> str:
    text = f"{value:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text  # 600 keeps its zeros; 1.50 -> 1.5


def prefix_for(value: float) -> tuple[float, str]:
    """The SI factor and prefix that put ``value`` between 1 and 1000 (pico to peta)."""
    magnitude = abs(float(value))
    for factor, prefix in PREFIXES:
        if magnitude >= factor * (1 - 5e-4):  # 999.96 reads as 1.00 k, not 1,000
            return factor, prefix
    return PREFIXES[-1]


def si(value: float, unit: str, digits: int = 4) -> str:
    """A quantity with an SI prefix, up to ``digits`` significant figures, trailing zeros dropped (a
    datasheet's figure reads as printed): 696e9, 'B/s' -> '696 GB/s'; 149.7e12, 'FLOP/s' -> '149.7 TFLOP/s'."""
    value = float(value)
    if not math.isfinite(value):
        return f"n/a {unit}".strip() if unit else "n/a"
    if value == 0:
        return f"0 {unit}"
    factor, prefix = prefix_for(value)
    scaled = value / factor
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(scaled))))
    return f"{_trimmed(round(scaled, decimals), decimals)} {prefix}{unit}"


def seconds(value: float) -> str:
    """A time in s, ms, µs or ns to three significant figures: 3.825e-08 -> '38.3 ns';
    0.0953 -> '95.3 ms'; 2.1 -> '2.10 s'; 95 -> '95.0 s'."""
    value = float(value)
    if not math.isfinite(value):
        return "n/a"
    factor, prefix = prefix_for(min(abs(value), 1.0)) if value else (1.0, "")
    return f"{number(value, factor=factor)} {prefix}s"


def flops(value: float) -> str:
    """66604236660736 -> '66.6 TFLOP' (a count of operations, not a rate)."""
    return _quantity(value, "FLOP")


def nbytes(value: float) -> str:
    """A byte count in decimal SI units: 65_108_000_000 -> '65.1 GB'."""
    return _quantity(value, "B")


def _quantity(value: float, unit: str, digits: int = 3) -> str:
    factor, prefix = prefix_for(value) if value else (1.0, "")
    factor, prefix = (1.0, "") if factor < 1 else (factor, prefix)  # no millibytes
    return f"{number(value, digits, factor)} {prefix}{unit}"


def column_unit(values, unit: str) -> tuple[float, str]:
    """One factor and prefixed unit for a whole column, from the median of its non-zero magnitudes,
    so the column reads in one unit: [2.4e-6, 3.1e-5, 4.0e-4] s -> (1e-6, 'µs')."""
    magnitudes = sorted(abs(float(v)) for v in values if v == v and v not in (0, float("inf"), float("-inf")))
    if not magnitudes:
        return 1.0, unit
    median = magnitudes[len(magnitudes) // 2]
    factor, prefix = prefix_for(median)
    larger = [(f, p) for f, p in reversed(PREFIXES) if f > factor]
    while magnitudes[-1] / factor >= 1e4 and larger:  # at most four whole digits: 20.6 ms, not 20,569 µs
        factor, prefix = larger.pop(0)
    if unit in ("B", "FLOP", "FLOP/s", "B/s", "FLOPs") and factor < 1:
        factor, prefix = 1.0, ""
    if unit == "s" and factor > 1:
        factor, prefix = 1.0, ""
    return factor, prefix + unit


def latex_number(value: float, digits: int = 4) -> str:
    """A number for LaTeX: plain decimals from 10⁻³ to 10¹², else ``3.825 \\times 10^{-8}`` (never an italic
    e); thin spaces group the digits (a comma would read as a list): 90731184128 -> '90\\,731\\,184\\,128'."""
    value = float(value)
    if value == 0:
        return "0"
    if not math.isfinite(value):
        return r"\text{n/a}"
    if 1e-3 <= abs(value) < 1e12:
        text = grouped(value) if float(value).is_integer() else number(value, digits)
        return text.replace(",", "\\,")
    exponent = math.floor(math.log10(abs(value)))
    return f"{_trimmed(value / 10**exponent, digits - 1)} \\times 10^{{{exponent}}}"


def latex_quantity(value: float, unit: str, digits: int = 3) -> str:
    """A quantity for LaTeX with an SI prefix in upright type: 3.825e-08, 's' -> '38.3\\ \\text{ns}'."""
    text = seconds(value) if unit == "s" else si(value, unit, digits)
    magnitude, prefixed = text.split(" ", 1)
    magnitude = magnitude.replace(",", "\\,")
    return f"{magnitude}\\ \\text{{{prefixed}}}"


def grouped(value: float) -> str:
    """A count with grouped digits: 90731184128.0 -> '90,731,184,128'; 0.9997 -> '0.9997'; from 10¹³ up
    (13 digits or more, no longer read) as ×10ⁿ: 6.66×10¹³."""
    value = float(value)
    if not math.isfinite(value):
        return "n/a"
    if abs(value) >= 1e13:
        return number(value)
    if value.is_integer() or abs(value) >= 1e4:
        return f"{value:,.0f}"
    text = f"{value:,.4g}"
    return number(value, 4) if "e" in text else text  # 1.469e-05 -> 0.00001469


def format_table(table):
    """A copy of a DataFrame for printing: float columns as grouped integers or 4 significant digits."""
    formatted = table.copy()
    for column in formatted.columns:
        if formatted[column].dtype.kind == "f":
            formatted[column] = formatted[column].map(grouped)
    return formatted
