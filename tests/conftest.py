"""Shared pytest fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """Folder with the four MNIST IDX .gz files: $PYSPICE_MRAM_DATA, else <repo>/../shared/data/mnist; skip if absent."""
    names = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
    candidates = []
    if os.environ.get("PYSPICE_MRAM_DATA"):
        candidates.append(Path(os.environ["PYSPICE_MRAM_DATA"]))
    candidates.append(REPO_ROOT.parent / "shared" / "data" / "mnist")
    for folder in candidates:
        if all((folder / n).is_file() for n in names):
            return folder
    pytest.skip("MNIST not available (set PYSPICE_MRAM_DATA or provide ../shared/data/mnist)")


@pytest.fixture(scope="session")
def mnist(mnist_dir):
    """Loaded, checksum-verified MNIST (loaded once per session)."""
    from pyspice_mram.training.mnist import load_folder

    return load_folder(mnist_dir)
