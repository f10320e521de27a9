"""dltheory.efcn: exact CNN -> FCN embedding and the switch-time protocol (arXiv:1906.06766).

Library API (the command line lives in :mod:`dltheory.efcn.cli`)::

    efcn = embed(cnn, (3, 32, 32))          # same function, every conv a dense layer
    elcn = embed_local(cnn, (3, 32, 32))    # locally connected, no weight sharing
    deviation(efcn)                         # distance from the CNN subspace, split in two parts
    project_to_cnn(efcn); to_cnn(efcn)      # orthogonal projection; back to a CNN
"""

from dltheory.core.conv_dense import ConvGeometry, embed_filter

from .embedding import (
    EmbeddingError,
    EmbeddingPlan,
    check_fits,
    embed,
    embed_local,
    fcn_twin,
    plan_embedding,
    project_to_cnn,
    to_cnn,
)
from .layers import EmbeddedConv2d, LocallyConnected2d
from .models import alexnet_cifar, build_cnn, count_params, vanilla_cnn
from .subspace import (
    Deviation,
    deviation,
    gather_local,
    layer_deviation,
    locality_mask,
    orbit_index,
    orbit_mean,
    project_dense,
)

__all__ = [
    "ConvGeometry",
    "Deviation",
    "EmbeddedConv2d",
    "EmbeddingError",
    "EmbeddingPlan",
    "LocallyConnected2d",
    "alexnet_cifar",
    "build_cnn",
    "check_fits",
    "count_params",
    "deviation",
    "embed",
    "embed_filter",
    "embed_local",
    "fcn_twin",
    "gather_local",
    "layer_deviation",
    "locality_mask",
    "orbit_index",
    "orbit_mean",
    "plan_embedding",
    "project_dense",
    "project_to_cnn",
    "to_cnn",
    "vanilla_cnn",
]
