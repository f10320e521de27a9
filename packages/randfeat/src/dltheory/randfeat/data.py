"""Data of the three papers: Gaussian / spherical / two-block inputs with a linear or sign teacher
(:mod:`dltheory.randfeat.simulate.features`) and real images with parity labels after PCA
(:func:`dltheory.randfeat.simulate.real_data.parity_pca_data`); this module finds the offline MNIST."""

from __future__ import annotations

from pathlib import Path

from dltheory.randfeat.errors import require


def mnist_root(root: str | Path | None = None) -> Path | None:
    """The MNIST-t10k folder: ``root`` if given, else ``<shared data>/mnist-t10k`` when present."""
    if root is not None:
        path = Path(root)
        require(path.is_dir(), f"MNIST folder not found: {path}")
        return path
    from dltheory.core.data import mnist_t10k_dir
    from dltheory.core.errors import DatasetNotFoundError

    try:
        return mnist_t10k_dir()
    except DatasetNotFoundError:
        return None


def require_mnist(root: str | Path | None = None) -> Path:
    """:func:`mnist_root`, or a one-line error saying where MNIST-t10k is looked for."""
    path = mnist_root(root)
    require(
        path is not None,
        "MNIST-t10k not found: pass --root FOLDER (t10k-images-idx3-ubyte(.gz) and labels) or set "
        "DLTHEORY_SHARED_DATA to a folder holding mnist-t10k/",
    )
    assert path is not None
    return path
