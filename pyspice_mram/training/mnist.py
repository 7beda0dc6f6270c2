"""MNIST from the four standard IDX `.gz` files, verified, from a local folder or (opt-in) a mirror.

Search order for the folder: the `data_dir` argument (`--data`), the environment variable
`PYSPICE_MRAM_DATA`, then the user cache `$XDG_CACHE_HOME/pyspice-mram/mnist` (default
`~/.cache/pyspice-mram/mnist`). With `download=True` missing files are fetched into the cache from the
usual public mirrors (or first from `$PYSPICE_MRAM_MNIST_MIRROR`, a comma-separated list of base URLs
of a mirror of one's own), and every file's SHA-256 (of the uncompressed content) is checked before it
is kept. A folder holding a `SHA256SUMS` file (a subset of MNIST, such as the test suite's sample) is
verified against it instead. Without data a single `MNISTNotFoundError` says where it looked.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
from tqdm.auto import tqdm

from ..atomic import atomic_write_bytes
from ..errors import DataError

ENV_VAR = "PYSPICE_MRAM_DATA"
MIRROR_ENV_VAR = "PYSPICE_MRAM_MNIST_MIRROR"
MANIFEST = "SHA256SUMS"

FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}

SHA256 = {
    "train-images-idx3-ubyte.gz": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte.gz": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte.gz": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte.gz": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
"""SHA-256 of the *uncompressed* content of each standard file."""

MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)

AUTO = "auto"
"""`checksums=AUTO`: the folder's own `SHA256SUMS` if it has one, else the checksums of the full set."""

IMAGE_MAGIC = 2051
LABEL_MAGIC = 2049
EXPECTED_COUNTS = {"train": 60000, "test": 10000}


@dataclass(frozen=True)
class MNIST:
    """Images as uint8 (n, 784) and labels as uint8 (n,), for train and test."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    source: Path

    def float_images(self, which: str = "train") -> np.ndarray:
        """Pixels scaled to [0, 1] as float32."""
        images = self.train_images if which == "train" else self.test_images
        return images.astype(np.float32) / np.float32(255.0)


class MNISTNotFoundError(DataError):
    """No candidate folder holds the four files; the CLI adds the exact command that fetches them."""


def cache_dir() -> Path:
    """The user cache folder for MNIST (XDG base-directory convention)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pyspice-mram" / "mnist"


def candidate_dirs(data_dir: str | os.PathLike | None = None) -> list[Path]:
    out: list[Path] = []
    if data_dir is not None:
        out.append(Path(data_dir))
    env = os.environ.get(ENV_VAR)
    if env:
        out.append(Path(env))
    out.append(cache_dir())
    return out


def _has_all(folder: Path) -> bool:
    return all((folder / name).is_file() for name in FILES.values())


def _read_gz(path: Path) -> bytes:
    try:
        with gzip.open(path, "rb") as fh:
            return fh.read()
    except (OSError, EOFError) as exc:
        raise DataError(f"{path}: not a readable gzip file ({exc})") from None


def parse_idx(raw: bytes, name: str, expected_magic: int) -> np.ndarray:
    """Decode an uncompressed IDX file; refuses a wrong magic number or a size mismatch."""
    if len(raw) < 8:
        raise DataError(f"{name}: truncated IDX header ({len(raw)} bytes)")
    magic = int.from_bytes(raw[0:4], "big")
    if magic != expected_magic:
        raise DataError(f"{name}: bad magic number {magic} (expected {expected_magic})")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{name}: truncated IDX header")
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    count = int(np.prod(dims))
    if len(raw) != header + count:
        raise DataError(f"{name}: size mismatch: header says {dims} ({count} bytes), file holds {len(raw) - header}")
    arr = np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)
    return arr


def _verify(raw: bytes, name: str, checksums: Mapping[str, str] | None) -> None:
    if checksums is None or name not in checksums:
        return
    digest = hashlib.sha256(raw).hexdigest()
    if digest != checksums[name]:
        raise DataError(f"{name}: SHA-256 {digest} does not match the expected {checksums[name]}")


def read_manifest(folder: Path) -> dict[str, str]:
    """`SHA256SUMS` of a folder ('<hex>  <file name>' per line) as {file name: hex}; every file must be listed."""
    path = folder / MANIFEST
    sums: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or len(parts[0]) != 64:
            raise DataError(f"{path}: line {number} is not '<sha256>  <file name>'")
        sums[parts[1].lstrip("*")] = parts[0].lower()
    missing = [name for name in FILES.values() if name not in sums]
    if missing:
        raise DataError(f"{path} lists no checksum for {', '.join(missing)}")
    return sums


def folder_checksums(folder: Path) -> Mapping[str, str]:
    """The checksums a folder is verified against (see `AUTO`)."""
    return read_manifest(folder) if (folder / MANIFEST).is_file() else SHA256


def load_folder(folder: str | os.PathLike, checksums: Mapping[str, str] | str | None = AUTO) -> MNIST:
    """Load and verify the four files in `folder`. `checksums=None` skips the SHA-256 check."""
    folder = Path(folder)
    if checksums == AUTO:
        checksums = folder_checksums(folder)
    arrays: dict[str, np.ndarray] = {}
    for key, name in FILES.items():
        path = folder / name
        if not path.is_file():
            raise DataError(f"missing MNIST file {path}")
        raw = _read_gz(path)
        _verify(raw, name, checksums)
        magic = IMAGE_MAGIC if key.endswith("images") else LABEL_MAGIC
        arrays[key] = parse_idx(raw, name, magic)
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.ndim != 3 or images.shape[1:] != (28, 28):
            raise DataError(f"{split} images must be n x 28 x 28, got {images.shape}")
        if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
            raise DataError(f"{split}: {images.shape[0]} images but {labels.shape[0]} labels")
        if labels.size and labels.max() > 9:
            raise DataError(f"{split} labels must be digits 0-9")
    return MNIST(
        train_images=arrays["train_images"].reshape(-1, 784),
        train_labels=arrays["train_labels"],
        test_images=arrays["test_images"].reshape(-1, 784),
        test_labels=arrays["test_labels"],
        source=folder,
    )


def mirrors_from_environment() -> tuple[str, ...]:
    """Base URLs to try: `$PYSPICE_MRAM_MNIST_MIRROR` (comma-separated) first, then the public mirrors."""
    own = [u.strip() for u in os.environ.get(MIRROR_ENV_VAR, "").split(",") if u.strip()]
    return tuple(own) + MIRRORS


def _fetch(url: str, timeout_s: float, progress: bool) -> bytes:
    """The body of `url`, read in blocks with a byte progress bar."""
    with urllib.request.urlopen(url, timeout=timeout_s) as resp:
        total = resp.headers.get("Content-Length")
        blocks: list[bytes] = []
        with tqdm(total=int(total) if total else None, unit="B", unit_scale=True, desc=url.rsplit("/", 1)[-1],
                  disable=not progress, leave=False) as bar:
            while block := resp.read(1 << 16):
                blocks.append(block)
                bar.update(len(block))
    return b"".join(blocks)


def download(
    target: str | os.PathLike | None = None,
    mirrors: Sequence[str] | None = None,
    checksums: Mapping[str, str] = SHA256,
    timeout_s: float = 60.0,
    progress: bool = True,
) -> Path:
    """Fetch missing files into `target` (default: the cache), keeping only verified ones.

    `mirrors` defaults to `mirrors_from_environment()`. A file is written (atomically) only after its
    SHA-256 matched, so an interrupted or corrupt download never leaves a file that looks complete.
    """
    folder = Path(target) if target is not None else cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    mirrors = mirrors_from_environment() if mirrors is None else tuple(mirrors)
    for name in FILES.values():
        dest = folder / name
        if dest.is_file():
            continue
        errors: list[str] = []
        for mirror in mirrors:
            url = mirror.rstrip("/") + "/" + name
            try:
                payload = _fetch(url, timeout_s, progress)
            except (urllib.error.URLError, OSError, ValueError) as exc:
                errors.append(f"{url}: {exc}")
                continue
            try:
                raw = gzip.decompress(payload)
                _verify(raw, name, checksums)
            except (OSError, EOFError, DataError) as exc:
                errors.append(f"{url}: {exc}")
                continue
            atomic_write_bytes(dest, payload)
            break
        else:
            raise DataError(f"could not download {name}: " + "; ".join(errors))
    return folder


def find_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The first candidate folder holding all four files, or a DataError naming where it looked."""
    candidates = candidate_dirs(data_dir)
    if data_dir is not None and not _has_all(Path(data_dir)):
        raise MNISTNotFoundError(f"MNIST files not found in --data folder {data_dir} (need {', '.join(FILES.values())})")
    for folder in candidates:
        if _has_all(folder):
            return folder
    looked = ", ".join(str(c) for c in candidates)
    raise MNISTNotFoundError(
        f"MNIST not found; looked in {looked}. Put the four IDX .gz files in one of them, set {ENV_VAR}, "
        "or pass --download"
    )


def load_mnist(
    data_dir: str | os.PathLike | None = None,
    download_missing: bool = False,
    checksums: Mapping[str, str] | str | None = AUTO,
    mirrors: Sequence[str] | None = None,
    progress: bool = True,
) -> MNIST:
    """Find (or with `download_missing`, fetch into the cache) and load verified MNIST.

    A `--data` folder that lacks the files is filled by the download, any other miss fills the cache.
    """
    try:
        folder = find_data_dir(data_dir)
    except MNISTNotFoundError:
        if not download_missing:
            raise
        expected = SHA256 if checksums == AUTO or checksums is None else checksums
        folder = download(data_dir, mirrors=mirrors, checksums=expected, progress=progress)
    return load_folder(folder, checksums=checksums)
