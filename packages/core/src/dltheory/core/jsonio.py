"""Torch-free JSON helpers: NaN and infinities are written as ``null``.

Strict JSON has no NaN or Infinity (``json.dumps`` would write the bare tokens ``NaN`` and
``Infinity``, which ``jq`` and most readers reject), so every ``--json`` output goes through
``dumps`` here.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None, recursively through dicts, lists
    and tuples (tuples become lists); numpy scalars and 0-d arrays/tensors become Python numbers."""
    if not isinstance(value, (str, bytes, dict, list, tuple)) and getattr(value, "ndim", None) == 0:
        item = getattr(value, "item", None)
        if callable(item):
            value = item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def dumps(
    value: Any, *, indent: int | None = None, default: Callable[[Any], Any] | None = None
) -> str:
    """``json.dumps(json_safe(value))``: never writes a bare NaN or Infinity."""
    return json.dumps(json_safe(value), indent=indent, default=default, allow_nan=False)
