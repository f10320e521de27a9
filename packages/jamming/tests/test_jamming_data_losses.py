import math

import pytest
import torch

from dltheory.core.errors import ConfigError
from dltheory.jamming.data import interleaved_split, mnist_parity, pca_whiten, random_gaussian
from dltheory.jamming.losses import (
    classification_error,
    gap_distribution,
    mean_loss,
    n_unsatisfied,
    pointwise_loss,
)


def test_random_data_norm_and_labels():
    ds = random_gaussian(50, 7, 30, seed=1)
    assert ds.x_train.dtype == torch.float64
    norms = torch.cat([ds.x_train, ds.x_test]).norm(dim=1)
    torch.testing.assert_close(norms, torch.full_like(norms, math.sqrt(7)))
    assert ds.y_train[:4].tolist() == [-1.0, 1.0, -1.0, 1.0]
    assert ds.y_train.sum() == 0


def test_pca_whitening_matches_sklearn():
    from sklearn.decomposition import PCA

    x = torch.randn(200, 12, dtype=torch.float64) @ torch.randn(12, 12, dtype=torch.float64)
    ours = pca_whiten(x, 5)
    ref = torch.as_tensor(
        PCA(n_components=5, whiten=True, svd_solver="full").fit_transform(x.numpy())
    )
    torch.testing.assert_close(
        ours.abs(), ref.abs(), atol=1e-9, rtol=0
    )  # up to the sign of each axis
    torch.testing.assert_close(
        ours.T @ ours / 199, torch.eye(5, dtype=torch.float64), atol=1e-10, rtol=0
    )


def test_mnist_parity_digits_split_is_balanced_and_disjoint():
    ds = mnist_parity(100, d=10, seed=0)
    assert ds.dim == 10
    assert ds.n_train == 100
    assert len(ds.x_test) == 1797 - 100
    assert ds.y_train.sum() == 0  # interleaved -1, +1
    torch.testing.assert_close(
        ds.x_train.norm(dim=1), torch.full((100,), math.sqrt(10), dtype=torch.float64)
    )
    train_rows = {tuple(r.tolist()) for r in ds.x_train}
    assert not any(tuple(r.tolist()) in train_rows for r in ds.x_test)


def test_mnist_idx_source(mnist_t10k_dir):
    ds = mnist_parity(500, d=10, n_test=1000, source="idx", root=mnist_t10k_dir)
    assert ds.n_train == 500
    assert len(ds.x_test) == 1000
    assert ds.y_train.sum() == 0


def test_split_errors_are_clear():
    x, y = torch.zeros(10, 2), torch.tensor([1.0, -1.0] * 5)
    with pytest.raises(ConfigError, match="P=10"):
        interleaved_split(x, y, 10, None, 0)
    with pytest.raises(ConfigError):
        mnist_parity(50, d=100)


def test_losses_and_unsatisfied_count():
    f = torch.tensor([[2.0, 0.5, -1.0, 1.0]], dtype=torch.float64)
    y = torch.tensor([1.0, 1.0, 1.0, 1.0], dtype=torch.float64)
    # Delta = 1 - y f = [-1, 0.5, 2, 0]
    assert n_unsatisfied(f, y).tolist() == [2]
    torch.testing.assert_close(
        pointwise_loss(f, y, "qhinge")[0], torch.tensor([0.0, 0.125, 2.0, 0.0], dtype=torch.float64)
    )
    torch.testing.assert_close(
        pointwise_loss(f, y, "hinge")[0], torch.tensor([0.0, 0.5, 2.0, 0.0], dtype=torch.float64)
    )
    assert math.isclose(mean_loss(f, y).item(), 2.125 / 4)
    assert classification_error(f, y).tolist() == [0.25]
    soft = pointwise_loss(f, y, "softhinge", beta=20.0)[0]
    assert torch.allclose(soft[[0, 2]], torch.tensor([0.0, 2.0], dtype=torch.float64), atol=1e-8)
    ce = pointwise_loss(f, y, "crossentropy")[0]
    torch.testing.assert_close(ce, torch.log1p(torch.exp(-f[0])))
    gaps = gap_distribution(f, y)
    assert sorted(gaps["positive"].tolist()) == [0.5, 2.0]
    assert sorted(gaps["negative"].tolist()) == [0.0, 1.0]
    with pytest.raises(ConfigError):
        pointwise_loss(f, y, "mse")
