"""User-given strings (model, device and draft names, paths) as plain text, wherever they go.

Escape at the point of insertion: ``markdown_text`` for Markdown, ``html_text`` for HTML,
``mathtext`` for matplotlib titles and labels (where ``$...$`` would be typeset, or fail).
"""
from __future__ import annotations

import html
import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")  # a newline in a name would start a new Markdown block
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]{}|~#!$])")


def markdown_text(value) -> str:
    """``value`` as Markdown that shows it literally: no tag, link, emphasis or math survives."""
    text = _CONTROL.sub(" ", str(value))
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def html_text(value) -> str:
    """``value`` as HTML text or attribute value; ``$`` as an entity so the export sees no math in it."""
    return html.escape(_CONTROL.sub(" ", str(value)), quote=True).replace("$", "&#36;")


def mathtext(value) -> str:
    """``value`` for a matplotlib title or label: a ``$`` is a dollar sign, not the start of math."""
    return _CONTROL.sub(" ", str(value)).replace("$", r"\$")
