"""A tiny symbolic expression: one definition gives both a number and its formula text.

``2 * T * h`` built from :class:`Sym` objects evaluates to an array for a given set of
symbol values, prints as ``2·T·h``, and ``show(env)`` prints it with the values put in
(``2·1024·6656``). This is what lets every operator be written once, as data, and still be
shown in the report with its formula beside its number.
"""
from __future__ import annotations

from typing import Callable, Mapping

import numpy as np

Env = Mapping[str, np.ndarray]
Namer = Callable[[str], str]
_SUM, _PRODUCT, _ATOM = 1, 2, 3
SUM_PRECEDENCE = _SUM


class Expr:
    """A formula over named symbols. ``expr(env)`` evaluates it; ``str(expr)`` shows it."""

    def __init__(self, show: Callable[[Namer], str], evaluate: Callable[[Env], np.ndarray],
                 precedence: int, constant: float | None = None):
        self._show = show
        self._evaluate = evaluate
        self.precedence = precedence
        self.constant = constant

    def __call__(self, env: Env) -> np.ndarray:
        return self._evaluate(env)

    def __str__(self) -> str:
        return self._show(lambda name: name)

    def __repr__(self) -> str:
        return f"Expr({str(self)!r})"

    def show(self, env: Env) -> str:
        """The formula with every symbol replaced by its (scalar) value."""
        return self._show(lambda name: _number(env[name]))

    def latex(self) -> str:
        """The formula as LaTeX (typeset as MathML in the report): ``2 \\cdot T \\cdot h``."""
        return self._show(lambda name: LATEX_NAMES.get(name, name)).replace("·", r" \cdot ")

    def latex_values(self, env: Env) -> str:
        """The formula as LaTeX with every symbol replaced by its (scalar) value."""
        return self._show(lambda name: _number(env[name])).replace("·", r" \cdot ")

    def __add__(self, other: "Expr | float") -> "Expr":
        other = as_expr(other)
        if other.constant == 0:
            return self
        if self.constant == 0:
            return other
        return Expr(lambda n: f"{self._show(n)} + {other._show(n)}",
                    lambda env: self(env) + other(env), _SUM)

    __radd__ = __add__

    def __mul__(self, other: "Expr | float") -> "Expr":
        other = as_expr(other)
        if 0 in (self.constant, other.constant):
            return ZERO
        if other.constant == 1:
            return self
        if self.constant == 1:
            return other
        left, right = (other, self) if other.constant is not None else (self, other)
        return Expr(lambda n: f"{_wrap(left, n)}·{_wrap(right, n)}",
                    lambda env: left(env) * right(env), _PRODUCT)

    __rmul__ = __mul__

    def __truediv__(self, other: float) -> "Expr":
        other = as_expr(other)
        return Expr(lambda n: f"{_wrap(self, n)}/{_wrap(other, n, _ATOM)}",
                    lambda env: self(env) / other(env), _PRODUCT)


def _wrap(expr: Expr, namer: Namer, tighter_than: int = _PRODUCT) -> str:
    text = expr._show(namer)
    return f"({text})" if expr.precedence < tighter_than else text


def _number(value) -> str:
    value = float(np.asarray(value).ravel()[0]) if np.size(value) else float("nan")
    return f"{value:,.0f}".replace(",", "") if value == int(value) else f"{value:.4g}"


def Sym(name: str) -> Expr:
    """A symbol whose value is looked up by name in the evaluation environment."""
    return Expr(lambda namer: namer(name), lambda env: env[name], _ATOM)


def Const(value: float) -> Expr:
    text = str(int(value)) if value == int(value) else f"{value:g}"
    return Expr(lambda namer: text, lambda env: value, _ATOM, constant=value)


def as_expr(value: "Expr | float") -> Expr:
    return value if isinstance(value, Expr) else Const(value)


# How the operators' symbol names are typeset (names not listed are already plain letters).
LATEX_NAMES = {
    "H·d": r"H\,d", "Hkv·d": r"H_{kv}\,d", "s_kv": r"s_{kv}", "n_scores": r"n_{\text{scores}}",
    "n_scores_stored": r"n_{\text{stored}}", "T_logits": r"T_{\text{logits}}", "min(T,V)": r"\min(T,V)",
    "T·k": r"T\,k", "E_read": r"E_{\text{read}}", "2(p-1)/p": r"\frac{2(p-1)}{p}",
}
ZERO = Const(0)
ONE = Const(1)
