"""Tables as a reader sees them: HTML with grouped digits and units in the headers, and a text twin.

Each table is displayed as one output bundle: ``text/html`` (what JupyterLab and the report show)
and ``text/plain`` (what nbval compares and a terminal prints). Numbers are formatted once, here.
"""
from __future__ import annotations

import html
import re

import numpy as np
import pandas as pd

from .units import column_unit, grouped, number

# A header ending in one of these units, "(s)" or "(FLOP/s)", marks a quantity: the column is shown in
# one SI-prefixed unit picked from its median ("time per token (ms)"), three significant figures.
QUANTITY_UNITS = {"s": "s", "FLOP/s": "FLOP/s", "B/s": "B/s", "B": "B", "bytes": "B", "FLOP": "FLOP",
                  "FLOPs": "FLOP"}
_UNIT = re.compile(r"^(.*)\(([^()]+)\)\s*$")


def _cell(value) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        return grouped(float(value)) if np.isfinite(value) else "n/a"
    return str(value)


def quantity_unit(header) -> str | None:
    """The base unit a header declares, or None: 'time per token (s)' -> 's'."""
    match = _UNIT.match(str(header))
    return QUANTITY_UNITS.get(match.group(2).strip()) if match else None


SMALLEST_SHOWN = 1e-3  # in a column's unit; below it a cell would read 0.000574 or 5.74×10⁻⁵


def _too_wide(values, factor: float) -> bool:
    """Whether the column's smallest non-zero magnitude reads below SMALLEST_SHOWN in the column's unit."""
    magnitudes = np.abs(np.asarray(values, dtype=float))
    magnitudes = magnitudes[np.isfinite(magnitudes) & (magnitudes > 0)]
    return magnitudes.size > 0 and float(magnitudes.min()) / factor < SMALLEST_SHOWN


def _with_unit(value: float, unit: str) -> str:
    """One cell in its own prefixed unit, by the column rule applied to the cell alone: '57.4 ns'."""
    if not np.isfinite(value):
        return "n/a"
    factor, prefixed = column_unit([value], unit)
    return f"{number(value, factor=factor)} {prefixed}"


def in_units(table: pd.DataFrame) -> pd.DataFrame:
    """Each float column whose header ends in a unit, shown in one prefixed unit for the whole column:
    'attainable (FLOP/s)' [1.4e11, 1.5e14] -> 'attainable (TFLOP/s)' ['0.139', '150']; other cells as
    :func:`formatted` writes them."""
    shown = {}
    quantities = [c for c in table.columns if quantity_unit(c) and table[c].dtype.kind == "f"]
    # columns of one unit share one prefix, so two times side by side read alike (µs beside µs, not ms)
    together = {unit: pd.concat([table[c] for c in quantities if quantity_unit(c) == unit])
                for unit in {quantity_unit(c) for c in quantities}}
    for column in table.columns:
        unit = quantity_unit(column)
        values = table[column]
        if column in quantities:
            factor, prefixed = column_unit(together[unit], unit)
            name = _UNIT.match(str(column)).group(1).rstrip()
            if _too_wide(together[unit], factor):  # a norm's 57.4 ns beside a GEMM's 20.6 ms: each cell its own prefix
                shown[name] = values.map(lambda v, u=unit: _with_unit(v, u))
            else:
                shown[f"{name} ({prefixed})"] = values.map(lambda v, f=factor: number(v, factor=f) if np.isfinite(v)
                                                           else "n/a")
        else:
            shown[column] = values.map(_cell)
    return pd.DataFrame(shown, index=table.index)


def formatted(table: pd.DataFrame) -> pd.DataFrame:
    """Every cell as the text a reader sees: 90,731,184,128; 0.9998; yes/no; n/a for a missing number;
    quantities in one unit per column (:func:`in_units`)."""
    return in_units(table)


LONG_TABLE_ROWS = 12  # a table longer than this may continue on the next printed page

# a number and its unit ("93.4 GB", "7.66 ms"): one cell that must not break between the two
QUANTITY = re.compile(r"^-?[\d.,]+(?:×10\S+)? ?[^\s\d]{1,8}$")


def to_html(table: pd.DataFrame, caption: str = "", math_columns: tuple[str, ...] = ()) -> str:
    """A plain ``<table class="rl-table">``: numbers right-aligned, text left, no index.

    Cells of ``math_columns`` hold LaTeX and are wrapped in ``$...$`` (typeset when exported).
    """
    text = formatted(table)
    numeric = [pd.api.types.is_numeric_dtype(table[c]) and not pd.api.types.is_bool_dtype(table[c])
               for c in table.columns]
    head = "".join(f'<th class="{"num" if n else "text"}">{html.escape(str(c))}</th>'
                   for c, n in zip(text.columns, numeric))
    rows = []
    for _, row in text.iterrows():
        cells = []
        for column, is_number in zip(text.columns, numeric):
            value = row[column]
            kind = "num" if is_number else "text nowrap" if QUANTITY.match(value) else "text"
            value = f"${value}$" if column in math_columns else html.escape(value)
            cells.append(f'<td class="{kind}">{value}</td>')
        rows.append(f"<tr>{''.join(cells)}</tr>")
    caption_html = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    kind = "rl-table rl-long" if len(table) > LONG_TABLE_ROWS else "rl-table"  # a long one may break in print
    return (f'<table class="{kind}">{caption_html}<thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>")


def to_text(table: pd.DataFrame, caption: str = "") -> str:
    body = formatted(table).to_string(index=False)
    return f"{caption}\n{body}" if caption else body


def show(table: pd.DataFrame, caption: str = "", math_columns: tuple[str, ...] = ()) -> None:
    """Display ``table`` as HTML (with a text twin for nbval and terminals)."""
    from IPython.display import display

    display({"text/html": to_html(table, caption, math_columns), "text/plain": to_text(table, caption)}, raw=True)


def show_markdown(text: str, plain: str | None = None) -> None:
    """Display Markdown (math in ``$...$`` is typeset) with a plain-text twin for nbval; nothing for ''."""
    from IPython.display import display

    if not text:
        return

    display({"text/markdown": text, "text/plain": plain if plain is not None else text}, raw=True)
