"""The number spec: about three significant figures, SI prefixes, no e-notation, no 13-digit integers."""
import re

import pytest

from roofline_utils import units


@pytest.mark.parametrize("value, text", [
    (3.825e-08, "38.3 ns"),   # 38.25 ns: the half rounds up
    (0.0953, "95.3 ms"),
    (2.1, "2.10 s"),
    (1.594e-06, "1.59 µs"),
    (0.0003428, "343 µs"),
    (0.0009996, "1.00 ms"),   # rounds to 1,000 µs: read in the next unit
])
def test_seconds(value, text):
    assert units.seconds(value) == text


@pytest.mark.parametrize("value, unit, text", [
    (149.7e12, "FLOP/s", "149.7 TFLOP/s"),  # a datasheet's figure reads as printed
    (696e9, "B/s", "696 GB/s"),
    (1.0e15, "FLOP/s", "1 PFLOP/s"),
    (32e9, "B/s", "32 GB/s"),
])
def test_si(value, unit, text):
    assert units.si(value, unit) == text


def test_counts_and_sizes():
    assert units.flops(66_604_236_660_736) == "66.6 TFLOP"
    assert units.nbytes(65_108_000_000) == "65.1 GB"
    assert units.nbytes(512) == "512 B"


@pytest.mark.parametrize("value, text", [
    (38.25, "38.3"), (0.0003428, "0.000343"), (149.7, "150"), (99.96, "100"), (4810.5, "4,811"),
    (6.66e13, "6.66×10¹³"), (1.469e-05, "1.47×10⁻⁵"), (0, "0"), (-0.5, "-0.500"), (float("nan"), "n/a"),
])
def test_number(value, text):
    assert units.number(value) == text


def test_latex_numbers_have_no_e():
    assert units.latex_number(3.825e-8) == r"3.825 \times 10^{-8}"
    assert units.latex_number(90_731_184_128) == r"90\,731\,184\,128"
    assert units.latex_number(66_604_236_660_736) == r"6.66 \times 10^{13}"
    assert units.latex_quantity(3.825e-8, "s") == r"38.3\ \text{ns}"
    assert units.latex_quantity(90_731_184_128, "FLOP") == r"90.7\ \text{GFLOP}"


def test_one_unit_per_column():
    # median 3.1e-5 s: microseconds
    assert units.column_unit([2.4e-6, 3.1e-5, 4.0e-4], "s") == (1e-6, "µs")
    # median in µs, but 20,569 µs would show five whole digits: milliseconds
    assert units.column_unit([3.8e-8, 5.7e-8, 3.4e-6, 0.0206], "s") == (1e-3, "ms")
    # no millibytes; seconds stay seconds above one
    assert units.column_unit([0.5, 0.25], "B") == (1.0, "B")
    assert units.column_unit([95.0, 120.0], "s") == (1.0, "s")


def test_grouped_keeps_counts_and_never_reaches_13_digits():
    assert units.grouped(90_731_184_128.0) == "90,731,184,128"
    assert units.grouped(0.9997) == "0.9997"
    assert units.grouped(1.469e-05) == "1.469×10⁻⁵"  # four figures, as grouped writes small values
    assert units.grouped(149.7e12) == "1.5×10¹⁴"
    for value in (1.469e-05, 3.825e-08, 149.7e12, 66_604_236_660_736, 1e-12, 123.456):
        assert not re.search(r"\de[+-]?\d|\d{13}", units.grouped(value).replace(",", ""))


def test_formula_values_in_latex_have_no_e():
    from roofline_utils.expr import Sym

    formula = Sym("a") * Sym("b")
    assert formula.latex_values({"a": 3.8e-8, "b": 2}) == r"3.8 \times 10^{-8} \cdot 2"
    assert formula.latex_values({"a": 0.125, "b": 6656}) == r"0.125 \cdot 6656"


def test_a_whole_number_keeps_its_zeros():
    """600 ns is not 6 ns: trailing zeros are dropped after a decimal point only (NVLink's 0.6 µs hop)."""
    assert units.si(6e-7, "s", 3) == "600 ns"
    assert units.si(100e9, "B/s", 3) == "100 GB/s" and units.si(150e12, "FLOP/s", 3) == "150 TFLOP/s"
    assert units.si(1.5e9, "B", 3) == "1.5 GB"
