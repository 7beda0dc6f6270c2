"""Shared pytest fixtures.

MNIST: the default suite trains on the sample shipped in `tests/data/mnist-sample` (3000 training and
1000 test images of the real set), so it needs no download. Tests that need the full set (marked
`slow`) look for it as the CLI does: `--mnist DIR`, then `$PYSPICE_MRAM_DATA`, then the user cache.
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
MNIST_SAMPLE = Path(__file__).resolve().parent / "data" / "mnist-sample"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--mnist", metavar="DIR", default=None,
                     help="folder with the full MNIST set for the slow tests (else $PYSPICE_MRAM_DATA, then the user cache)")


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The shipped MNIST sample (verified against its own SHA256SUMS)."""
    return MNIST_SAMPLE


@pytest.fixture(scope="session")
def mnist(mnist_dir):
    """The loaded, checksum-verified MNIST sample (loaded once per session)."""
    from pyspice_mram.training.mnist import load_folder

    return load_folder(mnist_dir)


@pytest.fixture(scope="session")
def full_mnist_dir(request) -> Path:
    """The full MNIST set, found in the CLI's order; skip, saying how to provide it, if absent."""
    from pyspice_mram.errors import DataError
    from pyspice_mram.training.mnist import find_data_dir, folder_checksums, SHA256

    try:
        folder = find_data_dir(request.config.getoption("--mnist"))
    except DataError as exc:
        pytest.skip(f"needs the full MNIST set (60k images): {exc}; or run `pyspice-mram train --download ...` "
                    "once, or pass pytest --mnist DIR")
    if folder_checksums(folder) is not SHA256:
        pytest.skip(f"needs the full MNIST set, but {folder} holds a subset (it has a SHA256SUMS file)")
    return folder


@pytest.fixture(scope="session")
def full_mnist(full_mnist_dir):
    """The loaded, checksum-verified full MNIST set."""
    from pyspice_mram.training.mnist import load_folder

    return load_folder(full_mnist_dir)
