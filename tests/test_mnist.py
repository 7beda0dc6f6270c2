import gzip
import hashlib
import http.server
import struct
import threading

import numpy as np
import pytest

from pyspice_mram.training import mnist as mn
from pyspice_mram.errors import DataError


def _idx(arr: np.ndarray, magic: int) -> bytes:
    return struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in arr.shape) + arr.astype(np.uint8).tobytes()


def _synthetic(folder, n_train=20, n_test=10):
    rng = np.random.default_rng(0)
    raw = {
        "train-images-idx3-ubyte.gz": _idx(rng.integers(0, 256, (n_train, 28, 28)), 2051),
        "train-labels-idx1-ubyte.gz": _idx(rng.integers(0, 10, n_train), 2049),
        "t10k-images-idx3-ubyte.gz": _idx(rng.integers(0, 256, (n_test, 28, 28)), 2051),
        "t10k-labels-idx1-ubyte.gz": _idx(rng.integers(0, 10, n_test), 2049),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in raw.items():
        (folder / name).write_bytes(gzip.compress(data))
    return {name: hashlib.sha256(data).hexdigest() for name, data in raw.items()}


@pytest.mark.slow
def test_real_mnist(full_mnist):
    assert full_mnist.train_images.shape == (60000, 784) and full_mnist.test_images.shape == (10000, 784)
    assert np.bincount(full_mnist.test_labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_shipped_sample_is_real_mnist_verified_by_its_manifest(mnist, mnist_dir):
    """The sample is the head of the real set: 3000 + 1000 images, every digit present, checksummed."""
    assert mnist.train_images.shape == (3000, 784) and mnist.test_images.shape == (1000, 784)
    assert np.bincount(mnist.test_labels, minlength=10).min() >= 80
    assert mnist.train_labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]  # the first labels of MNIST
    assert mn.folder_checksums(mnist_dir) == mn.read_manifest(mnist_dir)
    with pytest.raises(DataError, match="SHA-256"):
        mn.load_folder(mnist_dir, checksums=mn.SHA256)  # the full set's checksums do not fit a subset


def test_a_manifest_catches_a_damaged_file(mnist_dir, tmp_path):
    import shutil

    folder = tmp_path / "m"
    shutil.copytree(mnist_dir, folder)
    raw = bytearray(gzip.decompress((folder / "t10k-images-idx3-ubyte.gz").read_bytes()))
    raw[5000] ^= 0xFF  # one pixel flipped, sizes unchanged
    (folder / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.gz: SHA-256"):
        mn.load_folder(folder)
    (folder / "SHA256SUMS").write_text((folder / "SHA256SUMS").read_text().splitlines()[0] + "\n")
    with pytest.raises(DataError, match="lists no checksum"):
        mn.load_folder(folder)


def test_synthetic_round_trip(tmp_path):
    sums = _synthetic(tmp_path)
    data = mn.load_folder(tmp_path, checksums=sums)
    assert data.train_images.shape == (20, 784)
    with pytest.raises(DataError, match="SHA-256"):
        mn.load_folder(tmp_path)  # real checksums do not match synthetic files


def test_bad_magic_and_truncation(tmp_path):
    _synthetic(tmp_path)
    raw = gzip.decompress((tmp_path / "t10k-labels-idx1-ubyte.gz").read_bytes())
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(raw[:-3]))
    with pytest.raises(DataError, match="size mismatch"):
        mn.load_folder(tmp_path, checksums=None)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(struct.pack(">I", 2051) + raw[4:]))
    with pytest.raises(DataError, match="bad magic"):
        mn.load_folder(tmp_path, checksums=None)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(b"not gzip")
    with pytest.raises(DataError, match="gzip"):
        mn.load_folder(tmp_path, checksums=None)


def test_missing_data_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv(mn.ENV_VAR, str(tmp_path / "env"))
    with pytest.raises(DataError) as exc:
        mn.find_data_dir()
    assert str(tmp_path / "env") in str(exc.value) and str(tmp_path / "cache" / "pyspice-mram" / "mnist") in str(exc.value)
    with pytest.raises(DataError, match="--data"):
        mn.find_data_dir(tmp_path / "nowhere")


def test_env_var_is_used(tmp_path, monkeypatch):
    sums = _synthetic(tmp_path / "env")
    monkeypatch.setenv(mn.ENV_VAR, str(tmp_path / "env"))
    assert mn.load_mnist(checksums=sums).train_labels.shape == (20,)


@pytest.fixture()
def server(tmp_path):
    root = tmp_path / "served"
    sums = _synthetic(root)

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **k):
            super().__init__(*a, directory=str(root), **k)

        def log_message(self, *a):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/", sums
    httpd.shutdown()


def test_download_from_local_mirror(server, tmp_path, monkeypatch):
    url, sums = server
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv(mn.ENV_VAR, raising=False)
    data = mn.load_mnist(download_missing=True, mirrors=["http://127.0.0.1:1/", url], checksums=sums)
    assert data.source == tmp_path / "cache" / "pyspice-mram" / "mnist"
    assert data.test_images.shape == (10, 784)


def test_download_refuses_bad_checksum(server, tmp_path):
    url, sums = server
    bad = dict(sums, **{"train-labels-idx1-ubyte.gz": "0" * 64})
    with pytest.raises(DataError, match="could not download train-labels"):
        mn.download(tmp_path / "dl", mirrors=[url], checksums=bad)
    assert not (tmp_path / "dl" / "train-labels-idx1-ubyte.gz").exists()
