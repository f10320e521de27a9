"""dltheory.efcn: exact CNN -> FCN embedding and the switch-time protocol (arXiv:1906.06766).

Library API (the command line lives in :mod:`dltheory.efcn.cli`)::

    efcn = embed(cnn, (3, 32, 32))          # same function, every conv a dense layer
    elcn = embed_local(cnn, (3, 32, 32))    # locally connected, no weight sharing
    deviation(efcn)                         # distance from the CNN subspace, split in two parts
    project_to_cnn(efcn); to_cnn(efcn)      # orthogonal projection; back to a CNN
    interpolate(a, b, {"test": (x, y)})     # loss/accuracy along a path; barrier(...)
"""

from dltheory.core.lazy import lazy_exports

_EXPORTS = {
    "ConvGeometry": "dltheory.core.conv_dense",
    "Deviation": ".subspace",
    "EmbeddedConv2d": ".layers",
    "EmbeddingError": ".embedding",
    "EmbeddingPlan": ".embedding",
    "LocallyConnected2d": ".layers",
    "alexnet_cifar": ".models",
    "barrier": ".landscape",
    "interpolate": ".landscape",
    "path_barriers": ".landscape",
    "switch": ".train",
    "train_cnn": ".train",
    "train_fcn": ".train",
    "evaluate_run": ".train",
    "sweep": ".protocol",
    "TrainConfig": ".config",
    "SwitchConfig": ".config",
    "SweepConfig": ".config",
    "build_cnn": ".models",
    "check_fits": ".embedding",
    "count_params": ".models",
    "deviation": ".subspace",
    "embed": ".embedding",
    "embed_filter": "dltheory.core.conv_dense",
    "embed_local": ".embedding",
    "fcn_twin": ".embedding",
    "gather_local": ".subspace",
    "layer_deviation": ".subspace",
    "locality_mask": ".subspace",
    "orbit_index": ".subspace",
    "orbit_mean": ".subspace",
    "plan_embedding": ".embedding",
    "project_dense": ".subspace",
    "project_to_cnn": ".embedding",
    "to_cnn": ".embedding",
    "vanilla_cnn": ".models",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
