"""Durable chunks: atomic writes, checksums, a truncated or corrupt chunk redone alone on resume."""

from __future__ import annotations

import json
import os

import pandas as pd
import pytest

from pyspice_mram.atomic import atomic_write_bytes
from pyspice_mram.sweeps.checkpoint import MANIFEST, RunStore, sha256_file
from pyspice_mram.errors import DataError
from pyspice_mram.sweeps.runner import run_sweep
from pyspice_mram.sweeps.tables import build_table, load_run
from test_sweep import analytic_config, per_sample


def test_atomic_write_keeps_the_old_file_when_interrupted(tmp_path, monkeypatch):
    path = tmp_path / "f.bin"
    atomic_write_bytes(path, b"old")

    def boom(src, dst):
        raise KeyboardInterrupt  # killed between writing the temp file and the rename

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_bytes(path, b"new content")
    monkeypatch.undo()
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]  # no temp file left behind
    atomic_write_bytes(path, b"new")
    assert path.read_bytes() == b"new" and oct(path.stat().st_mode & 0o777) != oct(0o600)


@pytest.fixture
def finished_run(tmp_path):
    out = tmp_path / "run"
    run_sweep(analytic_config(n_samples=29, chunk_size=6), out, jobs=1, progress=False)
    return out


def test_manifest_lists_chunks_with_ranges_and_checksums(finished_run):
    manifest = json.loads((finished_run / MANIFEST).read_text())
    assert manifest["n_tasks"] == 30 and manifest["chunk_size"] == 6
    ranges = [(c["first_task"], c["stop_task"]) for c in manifest["chunks"]]
    assert ranges == [(0, 6), (6, 12), (12, 18), (18, 24), (24, 30)]
    for c in manifest["chunks"]:
        assert sha256_file(finished_run / c["file"]) == c["sha256"]
        assert c["n_rows"] == 2 * (c["stop_task"] - c["first_task"])
    prov = manifest["provenance"]
    assert prov["seed"] == 11 and prov["config_hash"] == manifest["config_hash"] and prov["package_version"]


@pytest.mark.parametrize("damage", ["truncate", "corrupt", "delete"])
def test_a_damaged_last_chunk_is_detected_and_only_it_is_redone(finished_run, damage):
    before = per_sample(finished_run)
    table_before = build_table(finished_run)
    last = RunStore.open(finished_run).chunk_path(4)
    data = last.read_bytes()
    if damage == "truncate":
        last.write_bytes(data[: len(data) // 2])
    elif damage == "corrupt":
        last.write_bytes(data[:100] + bytes([data[100] ^ 0xFF]) + data[101:])
    else:
        last.unlink()
    with pytest.raises(DataError, match="rerun the sweep with --resume"):
        load_run(finished_run)
    summary = run_sweep(analytic_config(n_samples=29, chunk_size=6), finished_run, resume=True, progress=False)
    assert summary.chunks_redone == [4] and summary.chunks_written == [4]
    assert summary.n_tasks_run == 6
    pd.testing.assert_frame_equal(per_sample(finished_run), before)
    pd.testing.assert_frame_equal(build_table(finished_run), table_before)


def test_an_unlisted_part_file_is_rewritten_and_an_incomplete_run_refused(finished_run):
    store = RunStore.open(finished_run)
    del store.manifest.chunks[2]  # killed after the part's rename, before the manifest's
    store.save_manifest()
    with pytest.raises(DataError, match="not complete"):
        build_table(finished_run)
    summary = run_sweep(analytic_config(n_samples=29, chunk_size=6), finished_run, resume=True, progress=False)
    assert summary.chunks_written == [2] and summary.n_tasks_run == 6
    assert RunStore.open(finished_run).complete


def test_a_broken_manifest_is_a_data_error(finished_run):
    (finished_run / MANIFEST).write_text("{not json")
    with pytest.raises(DataError, match="not a valid run manifest"):
        run_sweep(analytic_config(n_samples=29, chunk_size=6), finished_run, resume=True, progress=False)
