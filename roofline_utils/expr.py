"""A tiny symbolic expression: one definition gives both a number and its formula text.

``2 * T * h`` built from :class:`Sym` objects evaluates to an array for a given set of
symbol values and prints as ``2·T·h``. This is what lets every operator be written once,
as data, and still be shown in the report with its formula beside its number.
"""
from __future__ import annotations

from typing import Callable, Mapping

import numpy as np

Env = Mapping[str, np.ndarray]
_SUM, _PRODUCT, _ATOM = 1, 2, 3


class Expr:
    """A formula over named symbols. ``expr(env)`` evaluates it; ``str(expr)`` shows it."""

    def __init__(self, text: str, evaluate: Callable[[Env], np.ndarray], precedence: int,
                 constant: float | None = None):
        self.text = text
        self._evaluate = evaluate
        self.precedence = precedence
        self.constant = constant

    def __call__(self, env: Env) -> np.ndarray:
        return self._evaluate(env)

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"Expr({self.text!r})"

    def __add__(self, other: "Expr | float") -> "Expr":
        other = as_expr(other)
        if other.constant == 0:
            return self
        if self.constant == 0:
            return other
        return Expr(f"{self.text} + {other.text}", lambda env: self(env) + other(env), _SUM)

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
        text = f"{_wrap(left)}·{_wrap(right)}"
        return Expr(text, lambda env: left(env) * right(env), _PRODUCT)

    __rmul__ = __mul__

    def __truediv__(self, other: float) -> "Expr":
        other = as_expr(other)
        return Expr(f"{_wrap(self)}/{_wrap(other, _ATOM)}", lambda env: self(env) / other(env), _PRODUCT)


def _wrap(expr: Expr, tighter_than: int = _PRODUCT) -> str:
    return f"({expr.text})" if expr.precedence < tighter_than else expr.text


def Sym(name: str) -> Expr:
    """A symbol whose value is looked up by name in the evaluation environment."""
    return Expr(name, lambda env: env[name], _ATOM)


def Const(value: float) -> Expr:
    text = f"{value:g}" if value != int(value) else str(int(value))
    return Expr(text, lambda env: value, _ATOM, constant=value)


def as_expr(value: "Expr | float") -> Expr:
    return value if isinstance(value, Expr) else Const(value)


ZERO = Const(0)
ONE = Const(1)
