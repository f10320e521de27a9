"""dltheory.core: the runtime shared by every dltheory trainer.

Import the submodules directly (``from dltheory.core.device import resolve_device``); this
package imports nothing heavy on its own so that ``dltheory.core.errors`` stays torch-free.
"""

__all__ = [
    "bench",
    "config",
    "conv_dense",
    "data",
    "device",
    "distributed",
    "errors",
    "plotting",
    "progress",
    "report",
    "runs",
    "sweep",
]
