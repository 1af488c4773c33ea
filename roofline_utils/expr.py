"""A tiny symbolic expression: one definition gives a number, its formula text and fast code.

``2 * T * h`` built from :class:`Sym` objects is a small tree. It evaluates to an array for
a given set of symbol values, prints as ``2·T·h``, ``show(env)`` prints it with the values
put in (``2·1024·6656``), and ``python(...)`` writes it as Python source, which the engine
compiles once into a single function per model. This is what lets every operator be
written once, as data, and still be shown in the report with its formula beside its number
and evaluated at millions of configurations per second.
"""
from __future__ import annotations

from typing import Callable, Mapping

import numpy as np

Env = Mapping[str, np.ndarray]
Namer = Callable[[str], str]
_SUM, _PRODUCT, _ATOM = 1, 2, 3
SUM_PRECEDENCE = _SUM


class Expr:
    """A formula over named symbols. ``expr(env)`` evaluates it; ``str(expr)`` shows it.

    ``kind`` is "sym" (``args`` = (name,)), "const" ((value,)), or one of the operators
    "+", "·", "/" ((left, right)).
    """

    __slots__ = ("kind", "args")

    def __init__(self, kind: str, *args):
        self.kind, self.args = kind, args

    @property
    def precedence(self) -> int:
        return {"+": _SUM, "·": _PRODUCT, "/": _PRODUCT}.get(self.kind, _ATOM)

    @property
    def constant(self) -> float | None:
        return self.args[0] if self.kind == "const" else None

    def __call__(self, env: Env) -> np.ndarray:
        if self.kind == "sym":
            return env[self.args[0]]
        if self.kind == "const":
            return self.args[0]
        left, right = self.args[0](env), self.args[1](env)
        return left + right if self.kind == "+" else left * right if self.kind == "·" else left / right

    def symbols(self) -> set[str]:
        """The names of the symbols the formula uses."""
        if self.kind == "sym":
            return {self.args[0]}
        return set() if self.kind == "const" else self.args[0].symbols() | self.args[1].symbols()

    def _render(self, name: Namer) -> str:
        """The formula as text, ``name`` writing each symbol."""
        if self.kind == "sym":
            return name(self.args[0])
        if self.kind == "const":
            return _constant_text(self.args[0])
        left, right = (arg._render(name) for arg in self.args)
        if self.kind == "+":
            return f"{left} + {right}"
        left = f"({left})" if self.args[0].precedence < _PRODUCT else left
        right = f"({right})" if self.args[1].precedence < (_PRODUCT if self.kind == "·" else _ATOM) else right
        return f"{left}{self.kind}{right}"

    def __str__(self) -> str:
        return self._render(lambda name: name)

    def __repr__(self) -> str:
        return f"Expr({str(self)!r})"

    def show(self, env: Env) -> str:
        """The formula with every symbol replaced by its (scalar) value."""
        return self._render(lambda name: _number(env[name]))

    def latex(self) -> str:
        """The formula as LaTeX (typeset as MathML in the report): ``2 \\cdot T \\cdot h``."""
        return self._render(lambda name: LATEX_NAMES.get(name, name)).replace("·", r" \cdot ")

    def latex_values(self, env: Env) -> str:
        """The formula as LaTeX with every symbol replaced by its (scalar) value."""
        return self._render(lambda name: _latex_number(env[name])).replace("·", r" \cdot ")

    def python(self, name: Namer, value: Callable[[str], float | None]) -> str:
        """The formula as Python source that runs on numbers and numpy arrays alike.

        ``value`` gives the number of a symbol fixed at compile time (a model size) or None.
        The formula is expanded into a sum of terms, fixed parts folded into one exact
        coefficient per term and like terms merged, so for Llama-33B ``2·T·h·H·d`` becomes
        ``88604672.0*T`` (one array operation where there were three) and ``T·h + T·h``
        becomes ``13312.0*T``.
        """
        terms: dict[tuple[str, ...], float] = {}
        for coefficient, factors in self._terms(name, value):
            terms[factors] = terms.get(factors, 0.0) + coefficient
        parts = ["*".join(([repr(c)] if c != 1 or not factors else []) + list(factors))
                 for factors, c in terms.items() if c != 0]
        return ("(" + " + ".join(parts) + ")" if len(parts) > 1 else parts[0]) if parts else "0.0"

    def _terms(self, name: Namer, value: Callable[[str], float | None]) -> list[tuple[float, tuple[str, ...]]]:
        """The formula as a sum of (coefficient, varying factors' source) terms."""
        known = self._known(value)
        if known is not None:
            return [(known, ())]
        if self.kind == "sym":
            return [(1.0, (name(self.args[0]),))]
        left, right = self.args
        if self.kind == "+":
            return left._terms(name, value) + right._terms(name, value)
        if self.kind == "·":
            return [(cl * cr, tuple(sorted(fl + fr))) for cl, fl in left._terms(name, value)
                    for cr, fr in right._terms(name, value)]
        if right._known(value) is not None:  # a division by a number: scale each term
            return [(c / right._known(value), f) for c, f in left._terms(name, value)]
        return [(1.0, (f"({left.python(name, value)} / {right.python(name, value)})",))]

    def _known(self, value: Callable[[str], float | None]) -> float | None:
        """The expression's number when every symbol in it is fixed, else None."""
        if self.kind == "const":
            return float(self.args[0])
        if self.kind == "sym":
            return value(self.args[0])
        left, right = (arg._known(value) for arg in self.args)
        if left is None or right is None:
            return None
        return left + right if self.kind == "+" else left * right if self.kind == "·" else left / right

    def __add__(self, other: "Expr | float") -> "Expr":
        other = as_expr(other)
        if other.constant == 0:
            return self
        if self.constant == 0:
            return other
        return Expr("+", self, other)

    __radd__ = __add__

    def __mul__(self, other: "Expr | float") -> "Expr":
        other = as_expr(other)
        if 0 in (self.constant, other.constant):
            return ZERO
        if other.constant == 1:
            return self
        if self.constant == 1:
            return other
        return Expr("·", other, self) if other.constant is not None else Expr("·", self, other)

    __rmul__ = __mul__

    def __truediv__(self, other: float) -> "Expr":
        return Expr("/", self, as_expr(other))


def _constant_text(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:g}"


def _number(value) -> str:
    value = float(np.asarray(value).ravel()[0]) if np.size(value) else float("nan")
    return f"{value:,.0f}".replace(",", "") if value == int(value) else f"{value:.4g}"


def _latex_number(value) -> str:
    """As :func:`_number`, but a fraction never in e-notation (an italic e in math): 3.8 \\times 10^{-8}."""
    text = _number(value)
    if "e" not in text:
        return text
    from .units import latex_number

    return latex_number(float(text))


def Sym(name: str) -> Expr:
    """A symbol whose value is looked up by name in the evaluation environment."""
    return Expr("sym", name)


def Const(value: float) -> Expr:
    return Expr("const", value)


def as_expr(value: "Expr | float") -> Expr:
    return value if isinstance(value, Expr) else Const(value)


# How the operators' symbol names are typeset (names not listed are already plain letters).
LATEX_NAMES = {
    "H·d": r"H\,d", "Hkv·d": r"H_{kv}\,d", "s_kv": r"s_{kv}", "n_scores": r"n_{\text{scores}}",
    "n_scores_stored": r"n_{\text{stored}}", "T_logits": r"T_{\text{logits}}", "min(T,V)": r"\min(T,V)",
    "s_pos": r"s_{\text{pos}}",
    "T·k": r"T\,k", "E_read": r"E_{\text{read}}", "2(p-1)/p": r"\frac{2(p-1)}{p}",
    "f_e": r"f_e", "f_s": r"f_s", "s_kv_w": r"s_{kv}^{w}", "n_scores_w": r"n_{\text{scores}}^{w}",
    "n_scores_stored_w": r"n_{\text{stored}}^{w}", "r_q": r"r_q", "r_kv": r"r_{kv}", "d_nope": r"d_{\text{nope}}",
    "d_rope": r"d_{\text{rope}}", "d_v": r"d_v", "d_qk": r"d_{qk}", "d_c": r"d_c",
    "H_kv": r"H_{kv}",
}
ZERO = Const(0)
ONE = Const(1)
