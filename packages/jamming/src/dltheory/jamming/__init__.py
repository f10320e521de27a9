"""dltheory.jamming: the jamming transition N*, its phase diagram, and the scaling of
generalisation with the number of parameters N and with ensembling (arXiv:1809.09349,
1810.09665, 1901.01608)."""

from dltheory.core.lazy import lazy_exports

_EXPORTS = {
    "BinaryDataset": ".data",
    "EnsembleTrainer": ".trainer",
    "NetSpec": ".model",
    "OptimConfig": ".trainer",
    "StackedFC": ".model",
    "TrainResult": ".trainer",
    "classification_error": ".losses",
    "count_weights": ".model",
    "gaps": ".losses",
    "hidden_widths": ".model",
    "make_dataset": ".data",
    "mean_loss": ".losses",
    "mnist_parity": ".data",
    "n_unsatisfied": ".losses",
    "pointwise_loss": ".losses",
    "random_gaussian": ".data",
    "train_ensemble": ".trainer",
    "width_for_count": ".model",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
