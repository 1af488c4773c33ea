"""Every operator as data: re-exported from :mod:`roofline_utils.blocks`, where each block kind has its own module
(core, attention, mla, mlp, parallel, medusa; ``blocks/__init__`` holds operator_list and the costs).

Kept so that ``from roofline_utils.operators import X`` and ``from .operators import X`` keep working.
"""
from __future__ import annotations

from .blocks import *  # noqa: F401,F403
from .blocks import __doc__ as _blocks_doc
from .blocks import _allreduce, _minimum, _paren, _span, _traffic  # noqa: F401

__doc__ = _blocks_doc
