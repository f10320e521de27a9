"""ConViT (d'Ascoli et al., ICML 2021): gated positional self-attention with a fast path.

Library API (the command line lives in ``dltheory.convit.cli`` and is not imported here)::

    from dltheory.convit import convit_tiny, GPSA, load_pretrained, nonlocality
"""

from dltheory.core.lazy import lazy_exports

_EXPORTS = {
    "ConViT": ".models",
    "ConViTSpec": ".models",
    "GPSA": ".attention",
    "MHSA": ".attention",
    "VARIANTS": ".models",
    "attention_maps": ".analysis",
    "convit_base": ".models",
    "convit_base_plus": ".models",
    "convit_small": ".models",
    "convit_small_plus": ".models",
    "convit_tiny": ".models",
    "convit_tiny_plus": ".models",
    "create_convit": ".models",
    "gate_values": ".analysis",
    "head_centres": ".analysis",
    "load_pretrained": ".weights",
    "nonlocality": ".analysis",
    "relative_offsets": ".attention",
    "resize_model_grid": ".weights",
    "resize_pos_embed": ".weights",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
