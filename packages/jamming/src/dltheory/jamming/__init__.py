"""dltheory.jamming: the jamming transition N*, its phase diagram, and the scaling of
generalisation with the number of parameters N and with ensembling (arXiv:1809.09349,
1810.09665, 1901.01608)."""

from .data import BinaryDataset, make_dataset, mnist_parity, random_gaussian
from .losses import classification_error, gaps, mean_loss, n_unsatisfied, pointwise_loss
from .model import NetSpec, StackedFC, count_weights, hidden_widths, width_for_count
from .trainer import EnsembleTrainer, OptimConfig, TrainResult, train_ensemble

__all__ = [
    "BinaryDataset", "make_dataset", "mnist_parity", "random_gaussian",
    "classification_error", "gaps", "mean_loss", "n_unsatisfied", "pointwise_loss",
    "NetSpec", "StackedFC", "count_weights", "hidden_widths", "width_for_count",
    "EnsembleTrainer", "OptimConfig", "TrainResult", "train_ensemble",
]
