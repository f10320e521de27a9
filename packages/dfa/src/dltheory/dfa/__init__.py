"""dltheory.dfa: Direct Feedback Alignment (arXiv:2011.12428), fast and measured.

Public API (the CLI lives in :mod:`dltheory.dfa.cli` and is not imported here).
"""

from .alignment import gradient_alignment, weight_alignment, weight_cosines
from .engine import (
    DirectFeedback,
    FAConv2d,
    FALinear,
    FeedbackPoint,
    attach_feedback,
    build_feedback,
    find_engine,
    set_mode,
)
from .feedback import draw_feedback
from .models import MarkedNetwork, convnet, mlp

__all__ = [
    "DirectFeedback",
    "FAConv2d",
    "FALinear",
    "FeedbackPoint",
    "MarkedNetwork",
    "attach_feedback",
    "build_feedback",
    "convnet",
    "draw_feedback",
    "find_engine",
    "gradient_alignment",
    "mlp",
    "set_mode",
    "weight_alignment",
    "weight_cosines",
]
