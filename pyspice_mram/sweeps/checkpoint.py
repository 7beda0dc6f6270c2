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
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import pyarrow as pa
import pyarrow.parquet as pq

from ..atomic import atomic_write_bytes, atomic_write_text
from ..errors import DataError, OutputExistsError

MANIFEST = "manifest.json"
CONFIG_COPY = "config.toml"
CHUNK_DIR = "chunks"
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
    def create(cls, run_dir: Path, manifest: Manifest, config_text: str) -> "RunStore":
        run_dir = Path(run_dir)
        if run_dir.exists():
            raise OutputExistsError(f"{run_dir} exists; pass --resume to continue that run, or choose another --out")
        run_dir.parent.mkdir(parents=True, exist_ok=True)
        try:
            run_dir.mkdir()
        except FileExistsError:
            raise OutputExistsError(f"{run_dir} exists; pass --resume to continue that run, or choose another --out") from None
        (run_dir / CHUNK_DIR).mkdir()
        atomic_write_text(run_dir / CONFIG_COPY, config_text)
        store = cls(run_dir, manifest)
        store.save_manifest()
        return store

    @classmethod
    def open(cls, run_dir: Path) -> "RunStore":
        run_dir = Path(run_dir)
        path = run_dir / MANIFEST
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
        return [i for i in range(self.manifest.n_chunks) if i not in self.manifest.chunks]

    def write_chunk(self, index: int, table: pa.Table, n_failed_samples: int) -> None:
        """Write one chunk's part file, then list it in the manifest (in that order)."""
        first, stop = self.manifest.chunk_range(index)
        data = parquet_bytes(table)
        path = self.chunk_path(index)
        atomic_write_bytes(path, data)
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
        return not self.pending_chunks()
