"""Durable, resumable storage of per-sample results in a run folder.

Layout of RUN_DIR:
    manifest.json          identity (config hash), task/chunk layout, and the list of finished chunks
                           with their sample ranges, row counts and sha256 checksums
    config.toml            the validated config (all keys), as run
    chunks/part-NNNNN.parquet   one file per finished chunk of tasks

Every file is written to a temporary name in the same folder, flushed, fsync'ed, then renamed over the
final name (atomic on POSIX), and the folder is fsync'ed. A chunk counts as done only once the
manifest lists it; on resume each listed chunk's checksum is verified and a truncated or corrupt part
is dropped and redone. A part file that the manifest does not list (killed between the two renames)
is simply rewritten.

A new run folder is built under a temporary sibling name and renamed into place only once its
config copy and manifest are written, so a failed creation (disk full) leaves no stub. A process
using a run folder holds an OS advisory lock (`flock`) on RUN_DIR/.lock for the whole run: a second
sweep on the same folder is refused with the holder's PID, and the lock of a process that died is
free by construction (the kernel drops it with the process).
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from ..atomic import atomic_write_bytes, atomic_write_text, fsync_dir
from ..errors import DataError, OutputExistsError, RunInUseError

MANIFEST = "manifest.json"
CONFIG_COPY = "config.toml"
CHUNK_DIR = "chunks"
LOCK_FILE = ".lock"
FORMAT_VERSION = 1


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def parquet_bytes(table: pa.Table, metadata: dict[bytes, bytes] | None = None) -> bytes:
    """Serialise a table to Parquet in memory (so the write to disk is one atomic step)."""
    if metadata:
        merged = dict(table.schema.metadata or {})
        merged.update(metadata)
        table = table.replace_schema_metadata(merged)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue().to_pybytes()


class RunLock:
    """An exclusive advisory lock on a run folder's lock file, held until `release` (or process death)."""

    def __init__(self, fd: int, path: Path) -> None:
        self._fd: int | None = fd
        self.path = path

    @classmethod
    def acquire(cls, run_dir: Path, shown_as: Path | None = None) -> "RunLock":
        """Lock RUN_DIR/.lock and write our PID into it; refuse (RunInUseError) if another process holds it."""
        path = Path(run_dir) / LOCK_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            raise RunInUseError(f"{shown_as or run_dir} is in use by another sweep (PID {holder}); "
                                "wait for it to end, or stop it and continue with --resume") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        return cls(fd, path)

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


@dataclass
class Manifest:
    """The run's identity and the finished chunks (kept in manifest.json)."""

    config_hash: str
    n_tasks: int
    chunk_size: int
    provenance: dict[str, Any] = field(default_factory=dict)
    chunks: dict[int, dict[str, Any]] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    @property
    def n_chunks(self) -> int:
        return -(-self.n_tasks // self.chunk_size)

    def chunk_range(self, index: int) -> tuple[int, int]:
        """[first_task, stop_task) of chunk `index`."""
        first = index * self.chunk_size
        return first, min(first + self.chunk_size, self.n_tasks)

    def to_json(self) -> str:
        return json.dumps(
            {
                "format_version": self.format_version,
                "config_hash": self.config_hash,
                "n_tasks": self.n_tasks,
                "chunk_size": self.chunk_size,
                "provenance": self.provenance,
                "chunks": [self.chunks[i] for i in sorted(self.chunks)],
            },
            indent=1,
        )

    @classmethod
    def from_json(cls, text: str, source: str) -> "Manifest":
        try:
            raw = json.loads(text)
            chunks = {int(c["index"]): dict(c) for c in raw["chunks"]}
            return cls(
                config_hash=str(raw["config_hash"]),
                n_tasks=int(raw["n_tasks"]),
                chunk_size=int(raw["chunk_size"]),
                provenance=dict(raw.get("provenance", {})),
                chunks=chunks,
                format_version=int(raw["format_version"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise DataError(f"{source}: not a valid run manifest ({exc})") from None


class RunStore:
    """A run folder: create (never over an existing one), open for resume, write and read chunks."""

    def __init__(self, run_dir: Path, manifest: Manifest) -> None:
        self.run_dir = Path(run_dir)
        self.manifest = manifest

    # --- opening -----------------------------------------------------------------------------------
    @classmethod
    def create(cls, run_dir: Path, manifest: Manifest, config_text: str) -> tuple["RunStore", RunLock]:
        """Build the folder under a temporary sibling name, lock it, then rename it into place.

        Returns the store and the lock (held by the caller for the whole run). On any failure
        (e.g. disk full) the temporary folder is removed, so nothing is left behind.
        """
        run_dir = Path(run_dir)
        if run_dir.exists():
            raise OutputExistsError(f"{run_dir} exists; pass --resume to continue that run, or choose another --out")
        run_dir.parent.mkdir(parents=True, exist_ok=True)
        building = Path(tempfile.mkdtemp(prefix=f".{run_dir.name}.", suffix=".creating", dir=run_dir.parent))
        lock = None
        try:
            os.chmod(building, 0o777 & ~_umask())
            (building / CHUNK_DIR).mkdir()
            atomic_write_text(building / CONFIG_COPY, config_text)
            atomic_write_text(building / MANIFEST, manifest.to_json())
            lock = RunLock.acquire(building, shown_as=run_dir)
            if run_dir.exists():  # created by someone else meanwhile (rename would replace an empty folder)
                raise OutputExistsError(f"{run_dir} exists; pass --resume to continue that run, or choose another --out")
            try:
                os.rename(building, run_dir)
            except OSError as exc:
                if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
                    raise OutputExistsError(f"{run_dir} exists; pass --resume to continue that run, or choose another --out") from None
                raise
            fsync_dir(run_dir.parent)
        except BaseException as exc:
            if lock is not None:
                lock.release()
            shutil.rmtree(building, ignore_errors=True)
            if isinstance(exc, OSError) and not isinstance(exc, OutputExistsError):
                raise OSError(exc.errno, f"cannot create the run folder {run_dir} ({exc.strerror or exc}); "
                                         "nothing was left behind: fix the cause and rerun the same command") from None
            raise
        lock.path = run_dir / LOCK_FILE
        return cls(run_dir, manifest), lock

    @classmethod
    def open(cls, run_dir: Path) -> "RunStore":
        run_dir = Path(run_dir)
        path = run_dir / MANIFEST
        if not run_dir.exists():
            raise DataError(f"{run_dir} is not a sweep run folder (it does not exist)")
        if not path.is_file():
            raise DataError(f"{run_dir} is not a sweep run folder (no {MANIFEST})")
        manifest = Manifest.from_json(path.read_text(encoding="utf-8"), str(path))
        if manifest.format_version != FORMAT_VERSION:
            raise DataError(f"{path}: format version {manifest.format_version} is not supported (expected {FORMAT_VERSION})")
        (run_dir / CHUNK_DIR).mkdir(exist_ok=True)
        return cls(run_dir, manifest)

    def config_text(self) -> str:
        path = self.run_dir / CONFIG_COPY
        if not path.is_file():
            raise DataError(f"{self.run_dir}: missing {CONFIG_COPY}")
        return path.read_text(encoding="utf-8")

    def save_manifest(self) -> None:
        atomic_write_text(self.run_dir / MANIFEST, self.manifest.to_json())

    # --- chunks -----------------------------------------------------------------------------------
    def chunk_path(self, index: int) -> Path:
        return self.run_dir / CHUNK_DIR / f"part-{index:05d}.parquet"

    def verify(self) -> list[int]:
        """Drop listed chunks whose file is missing or fails its checksum; return their indices."""
        bad = []
        for index, entry in sorted(self.manifest.chunks.items()):
            path = self.chunk_path(index)
            if not path.is_file() or sha256_file(path) != entry["sha256"]:
                bad.append(index)
        for index in bad:
            del self.manifest.chunks[index]
        if bad:
            self.save_manifest()
        return bad

    def pending_chunks(self) -> list[int]:
        return list(self.iter_pending_chunks())

    def iter_pending_chunks(self) -> Iterator[int]:
        """The chunks not yet written, in order, one at a time (a run may have millions)."""
        return (i for i in range(self.manifest.n_chunks) if i not in self.manifest.chunks)

    @property
    def n_tasks_done(self) -> int:
        return sum(int(e["stop_task"]) - int(e["first_task"]) for e in self.manifest.chunks.values())

    def write_chunk(self, index: int, table: pa.Table, n_failed_samples: int) -> None:
        """Write one chunk's part file, then list it in the manifest (in that order)."""
        first, stop = self.manifest.chunk_range(index)
        data = parquet_bytes(table)
        path = self.chunk_path(index)
        try:
            atomic_write_bytes(path, data)
        except OSError as exc:
            if exc.filename is None:  # a failed write() names no file: name the chunk
                raise OSError(exc.errno, exc.strerror, str(path)) from None
            raise
        self.manifest.chunks[index] = {
            "index": index,
            "first_task": first,
            "stop_task": stop,
            "file": f"{CHUNK_DIR}/{path.name}",
            "n_rows": table.num_rows,
            "n_failed": n_failed_samples,
            "sha256": hashlib.sha256(data).hexdigest(),
        }
        self.save_manifest()

    def read_chunks(self, verify: bool = True) -> Iterable[pa.Table]:
        """The finished chunks in task order (checksums verified: a corrupt run is an error here)."""
        for index in sorted(self.manifest.chunks):
            entry = self.manifest.chunks[index]
            path = self.chunk_path(index)
            if not path.is_file():
                raise DataError(f"{path} is listed in the manifest but missing; rerun the sweep with --resume")
            if verify and sha256_file(path) != entry["sha256"]:
                raise DataError(f"{path} fails its checksum (truncated or corrupt); rerun the sweep with --resume")
            yield pq.read_table(path)

    @property
    def complete(self) -> bool:
        return len(self.manifest.chunks) == self.manifest.n_chunks


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
