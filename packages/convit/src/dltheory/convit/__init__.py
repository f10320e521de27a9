"""ConViT (d'Ascoli et al., ICML 2021): gated positional self-attention with a fast path.

Library API (the command line lives in ``dltheory.convit.cli`` and is not imported here)::

    from dltheory.convit import convit_tiny, GPSA, load_pretrained, nonlocality
"""

from dltheory.convit.analysis import (
    attention_maps,
    gate_values,
    head_centres,
    nonlocality,
)
from dltheory.convit.attention import GPSA, MHSA, relative_offsets
from dltheory.convit.model import (
    VARIANTS,
    ConViT,
    ConViTSpec,
    convit_base,
    convit_base_plus,
    convit_small,
    convit_small_plus,
    convit_tiny,
    convit_tiny_plus,
    create_convit,
)
from dltheory.convit.weights import load_pretrained, resize_model_grid, resize_pos_embed

__all__ = [
    "GPSA",
    "MHSA",
    "VARIANTS",
    "ConViT",
    "ConViTSpec",
    "attention_maps",
    "convit_base",
    "convit_base_plus",
    "convit_small",
    "convit_small_plus",
    "convit_tiny",
    "convit_tiny_plus",
    "create_convit",
    "gate_values",
    "head_centres",
    "load_pretrained",
    "nonlocality",
    "relative_offsets",
    "resize_model_grid",
    "resize_pos_embed",
]
