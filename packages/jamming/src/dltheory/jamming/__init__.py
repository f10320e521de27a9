"""dltheory.jamming: the jamming transition N*, its phase diagram, and the scaling of
generalisation with the number of parameters N and with ensembling (arXiv:1809.09349,
1810.09665, 1901.01608)."""

from dltheory.core.lazy import lazy_exports

_EXPORTS = {
    "BinaryDataset": ".data",
    "EnsembleTrainer": ".train",
    "LinearEnsemble": ".minimiser",
    "MinimiseResult": ".minimiser",
    "MinimiserConfig": ".minimiser",
    "decide_width": ".nstar",
    "density_exponent": ".spectrum",
    "gauss_newton_spectrum": ".spectrum",
    "find_nstar": ".nstar",
    "levenberg_marquardt": ".minimiser",
    "minimise_ensemble": ".minimiser",
    "NetSpec": ".models",
    "OptimConfig": ".train",
    "StackedFC": ".models",
    "TrainResult": ".train",
    "classification_error": ".losses",
    "count_weights": ".models",
    "gaps": ".losses",
    "hidden_widths": ".models",
    "make_dataset": ".data",
    "mean_loss": ".losses",
    "mnist_parity": ".data",
    "n_unsatisfied": ".losses",
    "pointwise_loss": ".losses",
    "random_gaussian": ".data",
    "train_ensemble": ".train",
    "width_for_count": ".models",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
