"""A sweep under hostile but realistic use: two sweeps on one run folder, signals, a Dask cluster,
malformed input, a full disk, runs too large to start, impossible sweeps, and the CLI's edge cases.
Each test drives the real command line (in this process, or as a subprocess that is signalled)."""

from __future__ import annotations

import errno
import json
import os
import re
import signal
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pandas as pd
import pytest

import pyspice_mram.sweeps.checkpoint as checkpoint_module
import pyspice_mram.sweeps.runner as sweep_module
from pyspice_mram.cli.options import parse_ber_list
from pyspice_mram.errors import DataError
from pyspice_mram.sweeps.checkpoint import RunStore
from pyspice_mram.sweeps.config import to_toml
from pyspice_mram.sweeps.runner import run_sweep
from pyspice_mram.sweeps.tables import build_table, load_table, write_table

from test_reliability import SMALL_RUN, assert_one_line_error, cli, ngspice_available, write_config
from test_sweep import analytic_config, per_sample

psutil = pytest.importorskip("psutil")

LONG_RUN = dict(n_samples=3000, chunk_size=50)  # ~10 s of analytic samples: long enough to be caught mid-run


def start_sweep(config: Path, out: Path, *args: str) -> subprocess.Popen:
    """`pyspice-mram sweep CONFIG --out OUT --quiet ARGS` as a subprocess (stderr captured)."""
    return subprocess.Popen([sys.executable, "-m", "pyspice_mram", "sweep", str(config), "--out", str(out), "--quiet", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def wait_for_first_chunk(proc: subprocess.Popen, out: Path, timeout_s: float = 90.0) -> None:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        try:
            if json.loads((out / "manifest.json").read_text())["chunks"]:
                return
        except (OSError, ValueError, KeyError):
            pass
        if proc.poll() is not None:
            pytest.fail(f"the sweep ended before its first chunk: {proc.stderr.read()}")
        time.sleep(0.01)
    proc.kill()
    pytest.fail("no chunk landed in time")


def shm_entries() -> set[str]:
    try:
        return set(os.listdir("/dev/shm"))
    except FileNotFoundError:  # pragma: no cover - not Linux
        return set()


# === 1. one run folder, one sweep =========================================================================
def test_a_second_sweep_on_a_busy_run_folder_is_refused_with_the_holders_pid(tmp_path, capsys):
    config = write_config(tmp_path / "c.toml", n_samples=1000, chunk_size=50)
    out = tmp_path / "run"
    proc = start_sweep(config, out, "-j1")
    try:
        wait_for_first_chunk(proc, out)
        code, stdout, err = cli(capsys, "sweep", config, "--out", out, "--resume", "-j2", "--quiet")
        assert code == 2 and stdout == ""
        assert_one_line_error(code, err, f"in use by another sweep (PID {proc.pid})")
        assert proc.poll() is None  # the holder runs on, undisturbed
    finally:
        proc.kill()  # SIGKILL: the kernel drops its lock with it
        proc.wait(timeout=30)
        proc.stderr.close()
    assert RunStore.open(out).verify() == []  # every listed chunk passes its checksum
    # a dead holder's lock is free by construction: --resume now finishes the run
    assert cli(capsys, "sweep", config, "--out", out, "--resume", "-j2", "--quiet")[0] == 0
    store = RunStore.open(out)
    assert store.complete and store.verify() == []


# === 2. signals ===========================================================================================
@pytest.mark.parametrize("signame", ["SIGTERM", "SIGINT"])
def test_a_signalled_sweep_saves_its_chunks_ends_every_worker_and_says_so(tmp_path, signame):
    signum = getattr(signal, signame)
    config = write_config(tmp_path / "c.toml", **LONG_RUN)
    out = tmp_path / "run"
    shm_before = shm_entries()
    proc = start_sweep(config, out, "-j2")
    wait_for_first_chunk(proc, out)
    children = psutil.Process(proc.pid).children(recursive=True)
    assert len(children) >= 2  # the two workers (and the resource tracker)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signum, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    match = re.fullmatch(r"interrupted: (\d+) of 3001 samples done; continue with --resume", lines[0])
    assert match, lines[0]
    _, alive = psutil.wait_procs(children, timeout=10)
    assert alive == [], f"child processes survived: {alive}"
    pids = {str(proc.pid), *(str(c.pid) for c in children)}  # other programs on the machine may use /dev/shm too
    ours = {name for name in shm_entries() - shm_before
            if ("joblib" in name or "loky" in name) and set(re.split(r"[_-]", name)) & pids}
    assert ours == set()
    store = RunStore.open(out)
    assert store.verify() == [] and int(match.group(1)) == store.n_tasks_done >= 50


# === 3. Dask ==============================================================================================
def test_with_a_scheduler_every_task_runs_on_the_cluster_workers(tmp_path, monkeypatch):
    distributed = pytest.importorskip("distributed")
    config = analytic_config(**SMALL_RUN)
    local = tmp_path / "local"
    run_sweep(config, local, jobs=1, progress=False)

    def not_here(*args, **kwargs):
        raise AssertionError("a simulation ran in the client process")

    monkeypatch.setattr(sweep_module, "_run_task", not_here)  # the workers import their own, unpatched copy
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        out = tmp_path / "dask"
        summary = run_sweep(config, out, scheduler=cluster.scheduler_address, progress=False)
    assert summary.n_tasks_run == summary.n_tasks == 13
    pd.testing.assert_frame_equal(per_sample(local), per_sample(out))
    pd.testing.assert_frame_equal(build_table(local), build_table(out))


# === 4. malformed input ===================================================================================
@pytest.mark.parametrize("address", ["http://127.0.0.1:8786", "not-an-address", "tcp://h:8786/x", "", "tcp://h:99999"])
def test_a_malformed_scheduler_address_is_one_line(tmp_path, capsys, address):
    config = write_config(tmp_path / "c.toml")
    code, out, err = cli(capsys, "sweep", config, "--out", tmp_path / "run", "--scheduler", address, "--quiet")
    assert code == 2 and out == ""
    assert_one_line_error(code, err, "not a Dask scheduler address")
    assert not (tmp_path / "run").exists()


def test_jobs_with_a_scheduler_is_refused(tmp_path, capsys):
    config = write_config(tmp_path / "c.toml")
    code, _, err = cli(capsys, "sweep", config, "--out", tmp_path / "run", "--scheduler", "tcp://127.0.0.1:8786", "-j2")
    assert code == 2
    assert_one_line_error(code, err, "--jobs does not apply with --scheduler")
    assert not (tmp_path / "run").exists()


def test_a_config_that_is_not_utf8_is_one_line(tmp_path, capsys):
    (tmp_path / "b.toml").write_bytes(b"\xff\xfe")
    code, out, err = cli(capsys, "sweep", tmp_path / "b.toml", "--out", tmp_path / "run")
    assert code == 2 and out == ""
    assert_one_line_error(code, err, "not UTF-8 text (byte 0xff at offset 0)")
    assert not (tmp_path / "run").exists()


# === 5. disk full =========================================================================================
def disk_full_on(monkeypatch, module, name: str, when) -> None:
    real = getattr(module, name)

    def write(path, data):
        if when(Path(path)):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, data)

    monkeypatch.setattr(module, name, write)


def test_disk_full_while_the_run_folder_is_created_leaves_nothing(tmp_path, capsys, monkeypatch):
    config = write_config(tmp_path / "c.toml")
    out = tmp_path / "run"
    disk_full_on(monkeypatch, checkpoint_module, "atomic_write_text", lambda p: p.name == "manifest.json")
    code, _, err = cli(capsys, "sweep", config, "--out", out, "--quiet")
    assert code == 1
    assert_one_line_error(code, err, f"cannot create the run folder {out}")
    assert "No space left on device" in err and "rerun the same command" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.toml"]  # no stub, no temporary sibling
    monkeypatch.undo()
    assert cli(capsys, "sweep", config, "--out", out, "--quiet")[0] == 0  # the same command now runs


def test_disk_full_during_the_run_keeps_the_chunks_and_says_resume(tmp_path, capsys, monkeypatch):
    config = write_config(tmp_path / "c.toml")
    out = tmp_path / "run"
    disk_full_on(monkeypatch, checkpoint_module, "atomic_write_bytes", lambda p: p.name == "part-00001.parquet")
    code, _, err = cli(capsys, "sweep", config, "--out", out, "--quiet")
    assert code == 1
    assert_one_line_error(code, err, "part-00001.parquet")
    assert "No space left on device" in err and "continue with --resume" in err
    assert sorted(RunStore.open(out).manifest.chunks) == [0]
    monkeypatch.undo()
    assert cli(capsys, "sweep", config, "--out", out, "--quiet", "--resume")[0] == 0
    assert RunStore.open(out).complete


# === 6. bounded work ======================================================================================
def test_a_huge_sweep_is_estimated_from_a_pilot_and_refused_without_building_its_task_list(tmp_path, capsys):
    """10^7 samples x 45 corners: 4.5e8 tasks. Only the 45 nominal pilot samples run; memory stays small."""
    raw = analytic_config(n_samples=10_000_000, chunk_size=1000).data
    raw["corners"].update(process=["TT", "FF", "SS", "FS", "SF"], vdd_scale=[0.9, 1.0, 1.1], temperature_k=[253.15, 300.0, 358.15])
    config = tmp_path / "huge.toml"
    config.write_text(to_toml(analytic_config().__class__(raw)))
    out = tmp_path / "run"
    start = time.perf_counter()
    tracemalloc.start()
    try:
        code, _, err = cli(capsys, "sweep", config, "--out", out, "--quiet")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert code == 2
    assert_one_line_error(code, err, "estimated cost 450000000 tasks x")
    assert "above sweep.max_hours = 24 h; pass --yes" in err
    assert peak < 100e6, f"peak traced memory {peak / 1e6:.0f} MB"
    assert time.perf_counter() - start < 120 and not out.exists()


def test_the_estimate_is_printed_and_max_hours_or_yes_confirms(tmp_path, capsys):
    config = write_config(tmp_path / "c.toml", max_hours=1e-9)
    code, _, err = cli(capsys, "sweep", config, "--out", tmp_path / "refused", "--quiet")
    assert_one_line_error(code, err, "above sweep.max_hours = 1e-09 h")
    assert not (tmp_path / "refused").exists()
    code, _, err = cli(capsys, "sweep", config, "--out", tmp_path / "confirmed", "--yes")
    assert code == 0 and re.search(r"estimated cost: 12 tasks x \S+ s \(pilot\) / 1 worker\(s\) = ", err), err
    roomy = write_config(tmp_path / "roomy.toml", max_hours=1.0)
    assert cli(capsys, "sweep", roomy, "--out", tmp_path / "roomy", "--quiet")[0] == 0


# === 7. an impossible sweep ===============================================================================
def test_a_sweep_that_reaches_no_target_is_refused_after_the_nominal_sample(tmp_path, capsys, monkeypatch):
    raw = analytic_config(**SMALL_RUN).data
    raw["circuit"].update(stop_time_s=5e-9, time_step_s=100e-12)
    raw["table"]["targets"] = [1e-10]
    config = tmp_path / "c.toml"
    config.write_text(to_toml(analytic_config().__class__(raw)))
    calls = []
    real = sweep_module._run_task
    monkeypatch.setattr(sweep_module, "_run_task", lambda *a: calls.append(a[1]) or real(*a))
    code, _, err = cli(capsys, "sweep", config, "--out", tmp_path / "run", "--quiet")
    assert code == 2
    assert_one_line_error(code, err, "no target BER of [table].targets (1e-10 .. 1e-10) is reachable")
    assert "lengthen circuit.stop_time_s" in err
    assert calls == [0] and not (tmp_path / "run").exists()  # only the nominal sample ran
    # a window that reaches some targets but not 1e-10 runs, with a note that the table needs --skip-unreachable
    raw["table"]["targets"] = [1e-10, 0.5]
    config.write_text(to_toml(analytic_config().__class__(raw)))
    code, _, err = cli(capsys, "sweep", config, "--out", tmp_path / "run")
    assert code == 0 and "note: 1 of 1 corner(s) miss BER 1e-10" in err and "--skip-unreachable" in err


# === 8. CLI edges =========================================================================================
def test_repeated_targets_are_kept_once():
    assert parse_ber_list("1e-10,1e-4,1e-10, 1e-4") == [1e-10, 1e-4]


def test_resume_on_a_missing_folder_says_it_does_not_exist(tmp_path, capsys):
    code, _, err = cli(capsys, "sweep", write_config(tmp_path / "c.toml"), "--out", tmp_path / "nowhere", "--resume")
    assert_one_line_error(code, err, f"--resume: {tmp_path / 'nowhere'} does not exist")
    assert not (tmp_path / "nowhere").exists()


def test_a_table_with_more_failed_samples_than_were_simulated_is_refused(tmp_path, capsys):
    config = write_config(tmp_path / "c.toml")
    assert cli(capsys, "sweep", config, "--out", tmp_path / "run", "--quiet")[0] == 0
    good = tmp_path / "t.parquet"
    assert cli(capsys, "table", tmp_path / "run", "--out", good)[0] == 0
    df = load_table(good)
    assert (df["n_failed"] == 0).all() and df["n_samples"].max() == 12
    df["n_failed"] = 2  # 12 good + 2 failed > the 13 samples simulated per corner
    write_table(df, tmp_path / "bad.parquet")
    with pytest.raises(DataError, match="n_failed 2 above the 13 samples simulated per corner"):
        load_table(tmp_path / "bad.parquet")
    df["n_failed"] = -1
    write_table(df, tmp_path / "negative.parquet")
    with pytest.raises(DataError, match="n_failed must hold whole numbers >= 0"):
        load_table(tmp_path / "negative.parquet")


def test_train_with_a_ber_0_stage_says_why_the_energy_is_missing(mnist_dir, tmp_path, capsys):
    config = write_config(tmp_path / "c.toml")
    assert cli(capsys, "sweep", config, "--out", tmp_path / "run", "--quiet")[0] == 0
    assert cli(capsys, "table", tmp_path / "run", "--out", tmp_path / "t.parquet")[0] == 0
    code, _, err = cli(capsys, "train", "--lsb", "8", "--hsb-ber", "0", "--lsb-ber", "0.01", "--table", tmp_path / "t.parquet",
                       "--data", mnist_dir, "--epochs", "1", "--seeds", "1", "--train-images", "200", "--quiet")
    assert code == 0, err
    assert "energy per weight write: n/a (BER 0 bits have no finite programming energy" in err


needs_ngspice = pytest.mark.skipif(not ngspice_available(), reason="ngspice shared library not found")


@needs_ngspice
def test_brute_force_of_one_run_has_no_spread_null_in_json_na_in_text(capsys):
    args = ["write", "--direction", "p2ap", "--brute-force", "1", "--t-pulse", "5e-9"]
    code, out, err = cli(capsys, *args, "--json")
    assert code == 0, err
    check = json.loads(out)["checks"][0]
    assert check["runs"] == 1 and check["energy_sem_j"] is None and check["energy_mean_j"] > 0
    code, out, err = cli(capsys, *args)
    assert code == 0, err
    assert "(+- n/a)" in out


@needs_ngspice
def test_a_negative_seed_is_one_line(capsys):
    code, out, err = cli(capsys, "write", "--brute-force", "1", "--t-pulse", "5e-9", "--seed", "-1")
    assert code == 2 and out == ""
    assert_one_line_error(code, err, "--seed")


@needs_ngspice
def test_an_unreachable_reference_ber_is_named_as_the_savings_reference(capsys):
    code, out, err = cli(capsys, "write", "--targets", "0.1", "--t-stop", "10e-9")
    assert code == 2 and out == ""
    assert_one_line_error(code, err, "the reference BER 1e-10, which the savings are measured against, is not reachable")
    assert "--reference-ber" in err
    code, out, err = cli(capsys, "write", "--targets", "0.1,0.1", "--t-stop", "10e-9", "--reference-ber", "0.05", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["reference_ber"] == 0.05 and [t["ber"] for t in report["targets"]] == [0.1]
    assert 0 < report["targets"][0]["saving"] < 1
