"""dltheory.dfa: Direct Feedback Alignment (arXiv:2011.12428), fast and measured.

Public API (the CLI lives in :mod:`dltheory.dfa.cli` and is not imported here).
"""

from dltheory.core.lazy import lazy_exports

_EXPORTS = {
    "DirectFeedback": ".engine",
    "FAConv2d": ".engine",
    "FALinear": ".engine",
    "FeedbackPoint": ".engine",
    "InputShapeError": ".models",
    "MarkedNetwork": ".models",
    "MarkingError": ".engine",
    "TrainConfig": ".config",
    "attach_feedback": ".engine",
    "build_feedback": ".engine",
    "convnet": ".models",
    "build_model": ".models",
    "draw_feedback": ".feedback",
    "fa_weight_alignment": ".alignment",
    "fit": ".train",
    "find_engine": ".engine",
    "gradient_alignment": ".alignment",
    "mlp": ".models",
    "set_mode": ".engine",
    "weight_alignment": ".alignment",
    "weight_cosines": ".alignment",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
