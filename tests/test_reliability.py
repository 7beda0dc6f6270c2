"""Reliability through the real command line: bad input is one line on stderr and a non-zero exit, with no
traceback and no partial output; faults (failed samples, a SIGKILLed sweep, a truncated chunk, an
interrupted table write) never lose finished work or give a wrong table silently. Property-based checks
of the fixed-point codec, the memory write model and the table loader complete the module tests."""

from __future__ import annotations

import errno
import gzip
import json
import os
import shutil
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pyspice_mram.sweeps.runner as sweep_module
import pyspice_mram.sweeps.tables as tables_module
from pyspice_mram.sweeps.checkpoint import RunStore
from pyspice_mram.cli import main
from pyspice_mram.errors import DataError, SimulatorError
from pyspice_mram.training.fixedpoint import CODE_MAX, CODE_MIN, QFormat
from pyspice_mram.training.memory import ApproximateMemory, BitErrorPolicy
from pyspice_mram.sweeps.runner import run_sweep
from pyspice_mram.sweeps.config import to_toml
from pyspice_mram.sweeps.tables import load_table, write_table

from sweep_helpers import sigkill_sweep_after_first_chunk
from test_sweep import analytic_config, failing_factory, per_sample

SMALL_RUN = dict(n_samples=12, chunk_size=5)  # 13 tasks in chunks of 5, 5, 3


def cli(capsys, *args: str) -> tuple[int, str, str]:
    """Run `pyspice-mram ARGS` in this process; (exit code, stdout, stderr)."""
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code: int, err: str, fragment: str = "") -> None:
    """Non-zero exit, exactly one line `error: ...` on stderr naming `fragment`, no traceback."""
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and "Traceback" not in err, err
    assert fragment in lines[0], lines[0]


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` with its bytes (to show that nothing changed)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def write_config(path: Path, **sweep) -> Path:
    path.write_text(to_toml(analytic_config(**{**SMALL_RUN, **sweep})))
    return path


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A finished analytic sweep (no failures)."""
    out = tmp_path_factory.mktemp("reliability") / "run"
    run_sweep(analytic_config(**SMALL_RUN), out, jobs=1, progress=False)
    return out


@pytest.fixture(scope="module")
def table_file(run_dir, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("table") / "t.parquet"
    assert main(["table", str(run_dir), "--out", str(path)]) == 0
    return path


def ngspice_available() -> bool:
    from pyspice_mram.circuit.ngspice import find_library

    try:
        find_library()
    except SimulatorError:
        return False
    return True


# === 1. bad input =========================================================================================
@pytest.mark.parametrize(
    "text, fragment",
    [
        ("[sweep]\nn_sampels = 3\n", "sweep.n_sampels"),  # misspelt key
        ("[sweeep]\nseed = 3\n", "[sweeep]"),  # misspelt section
        ('[sweep]\nseed = "3"\n', "sweep.seed"),  # wrong type
        ("[corners]\nvdd_scale = 1.0\n", "corners.vdd_scale"),  # a number where a list is needed
        ("[circuit]\nv_over_vc = -2.0\n", "circuit.v_over_vc"),  # V <= 0
        ("[circuit]\nstop_time_s = 0.0\n", "circuit.stop_time_s"),  # pulse window <= 0
        ("[circuit]\nstop_time_s = nan\n", "circuit.stop_time_s"),  # not finite
        ("[table]\ntargets = [1e-10, 1.5]\n", "table.targets"),  # BER outside (0, 1)
        ("[sweep]\nn_samples = 3\n[sweep\n", "not valid TOML"),
    ],
)
def test_bad_config_is_one_line_and_creates_no_run_dir(tmp_path, capsys, text, fragment):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    code, out, err = cli(capsys, "sweep", path, "--out", tmp_path / "run", "--quiet")
    assert code == 2 and out == ""
    assert_one_line_error(code, err, fragment)
    assert not (tmp_path / "run").exists()


def test_missing_config_file_is_one_line(tmp_path, capsys):
    code, _, err = cli(capsys, "sweep", tmp_path / "nope.toml", "--out", tmp_path / "run")
    assert_one_line_error(code, err, "neither a file nor a shipped config")
    assert not (tmp_path / "run").exists()


def test_sweep_with_a_missing_model_card_leaves_no_run_dir(tmp_path, capsys):
    path = tmp_path / "mc.toml"
    path.write_text('[sweep]\nn_samples = 2\nchunk_size = 2\n[circuit]\nmodel_card = "no_such_card.pm"\n')
    code, _, err = cli(capsys, "sweep", path, "--out", tmp_path / "run", "--quiet")
    assert_one_line_error(code, err, "no_such_card.pm")
    assert not (tmp_path / "run").exists()
    # the corrected command runs as is (no leftover folder to --resume or delete)
    write_config(path)
    code, _, err = cli(capsys, "sweep", path, "--out", tmp_path / "run", "--quiet")
    assert code == 0, err


@pytest.mark.skipif(not ngspice_available(), reason="libngspice not installed")
def test_a_model_card_ngspice_rejects_is_one_line_for_write_and_sweep(tmp_path, capsys):
    card = tmp_path / "broken.pm"
    card.write_text("* not a BSIM4 card: the netlist's nmos/pmos models are missing\n.model other_nmos nmos level=54\n")
    code, _, err = cli(capsys, "write", "--model-card", card, "--targets", "1e-3")
    assert_one_line_error(code, err, "ngspice rejected the netlist")
    config = tmp_path / "c.toml"
    config.write_text(f'[sweep]\nn_samples = 2\nchunk_size = 3\n[circuit]\nmodel_card = "{card}"\n')
    code, _, err = cli(capsys, "sweep", config, "--out", tmp_path / "run", "--quiet")
    assert_one_line_error(code, err, "ngspice rejected the netlist")
    assert not (tmp_path / "run").exists()


def test_missing_netlist_or_include_is_a_data_error(tmp_path):
    from pyspice_mram.circuit.write_circuit import CircuitConditions, WriteCircuit

    with pytest.raises(DataError, match="no_such.cir") as info:
        WriteCircuit(CircuitConditions(netlist="no_such.cir"))
    assert "\n" not in str(info.value)
    netlist = tmp_path / "n.cir"
    netlist.write_text("* includes a file that is not there\n.include missing_models.lib\n.end\n")
    with pytest.raises(DataError, match="missing_models.lib"):
        WriteCircuit(CircuitConditions(netlist=netlist))


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["device", "--v-over-vc", "-1"], "--v-over-vc"),
        (["device", "--v-over-vc", "inf"], "--v-over-vc"),
        (["device", "--targets", "0"], "(0, 1)"),
        (["device", "--targets", "1e-3,1"], "(0, 1)"),
        (["write", "--v-over-vc", "0"], "--v-over-vc"),
        (["write", "--targets", "-0.1"], "(0, 1)"),
        (["write", "--t-stop", "0"], "--t-stop"),
        (["write", "--max-step", "nan"], "--max-step"),
        (["write", "--brute-force", "5", "--t-pulse", "0"], "--t-pulse"),
        (["write", "--brute-force", "5", "--t-pulse", "nan"], "--t-pulse"),
        (["write", "--brute-force", "5", "--t-pulse", "inf"], "--t-pulse"),
        (["write", "--brute-force", "0", "--t-pulse", "5e-9"], "--brute-force"),
        (["write", "--t-pulse", "5e-9"], "go together"),
        (["write", "--model-card", "no_such_card.pm", "--targets", "1e-3"], "no_such_card.pm"),
        (["write", "--direction", "sideways"], "--direction"),
        (["train", "--ber", "1.5"], "[0, 1]"),
        (["train", "--ber", "-0.1"], "[0, 1]"),
        (["train", "--ber", "nan"], "[0, 1]"),
        (["train", "--lsb", "-1", "--hsb-ber", "0.01", "--lsb-ber", "0.5"], "0..16"),
        (["train", "--lsb", "17", "--hsb-ber", "0.01", "--lsb-ber", "0.5"], "0..16"),
        (["train", "--lsb", "4", "--hsb-ber", "0.01", "--lsb-ber", "2"], "[0, 1]"),
        (["train", "--float", "--frac-bits", "30"], "frac_bits"),
        (["train", "--float", "--epochs", "0"], "epochs"),
        (["train", "--ber", "0.1", "--float"], "--float"),
        (["experiment", "fig9", "--out", "{tmp}/exp"], "fig9"),
    ],
)
def test_bad_options_are_one_line_with_no_output(tmp_path, capsys, args, fragment):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    if args[0] == "train":
        args += ["--data", str(tmp_path), "--json", str(tmp_path / "r.json")]
    code, out, err = cli(capsys, *args)
    assert code == 2 and out == ""
    assert_one_line_error(code, err, fragment)
    assert list(tmp_path.iterdir()) == []  # no --json file, no folder, nothing


@pytest.mark.parametrize("command", ["device", "write"])
def test_existing_figures_are_never_overwritten(tmp_path, capsys, command):
    name = "fig1c_switching_probability.png" if command == "device" else "fig2_energy_vs_ber.png"
    (tmp_path / name).write_bytes(b"earlier figure")
    code, _, err = cli(capsys, command, "--plot", tmp_path)
    assert_one_line_error(code, err, "exists")
    assert [p.name for p in tmp_path.iterdir()] == [name] and (tmp_path / name).read_bytes() == b"earlier figure"


def test_existing_run_dir_is_refused_untouched(run_dir, tmp_path, capsys):
    before = snapshot(run_dir)
    code, _, err = cli(capsys, "sweep", write_config(tmp_path / "c.toml"), "--out", run_dir, "--quiet")
    assert_one_line_error(code, err, "--resume")
    assert snapshot(run_dir) == before


def test_resume_with_another_config_is_refused_untouched(run_dir, tmp_path, capsys):
    before = snapshot(run_dir)
    code, _, err = cli(capsys, "sweep", write_config(tmp_path / "c.toml", seed=12), "--out", run_dir, "--resume", "--quiet")
    assert_one_line_error(code, err, "different config")
    assert snapshot(run_dir) == before


@pytest.mark.parametrize(
    "extra, fragment",
    [
        (["--targets", "1e-60"], "below what the simulated window reaches"),  # not extrapolated
        (["--targets", "1.5"], "(0, 1)"),
        (["--intrinsic-sigma", "nan"], "ln_rate_sigma"),
        (["--calibrate", "0"], "outside the simulated window"),
    ],
)
def test_table_refusals_keep_the_old_table(run_dir, table_file, tmp_path, capsys, extra, fragment):
    new = tmp_path / "new.csv"
    code, _, err = cli(capsys, "table", run_dir, "--out", new, *extra)
    assert_one_line_error(code, err, fragment)
    assert not new.exists()
    old = tmp_path / "old.parquet"
    shutil.copy(table_file, old)
    before = old.read_bytes()
    code, _, err = cli(capsys, "table", run_dir, "--out", old, "--force", *extra)
    assert_one_line_error(code, err, fragment)
    assert old.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["old.parquet"]


def test_table_output_that_exists_or_has_a_bad_suffix_is_refused(run_dir, table_file, tmp_path, capsys):
    before = table_file.read_bytes()
    code, _, err = cli(capsys, "table", run_dir, "--out", table_file)
    assert_one_line_error(code, err, "--force")
    assert table_file.read_bytes() == before
    code, _, err = cli(capsys, "table", run_dir, "--out", tmp_path / "t.xlsx")
    assert_one_line_error(code, err, ".parquet or .csv")
    code, _, err = cli(capsys, "table", tmp_path / "not_a_run", "--out", tmp_path / "t.csv")
    assert_one_line_error(code, err, "not a sweep run folder")
    assert list(tmp_path.iterdir()) == []


def _bad_tables(table_file: Path, folder: Path) -> dict[str, tuple[Path, str]]:
    """Broken copies of a good table: missing column, wrong units (pJ, ns), non-monotonic, BER outside (0, 1)."""
    good = load_table(table_file)
    plain = good.copy()
    plain.attrs = {}
    cases = {}

    def save(name, df, fragment):
        path = folder / f"{name}.csv"
        df.to_csv(path, index=False)
        cases[name] = (path, fragment)

    save("missing_column", plain.drop(columns=["energy_j"]), "missing column")
    save("picojoules", plain.assign(energy_j=plain["energy_j"] * 1e12), "wrong units")
    save("nanoseconds", plain.assign(t_pulse_s=plain["t_pulse_s"] * 1e9), "wrong units")
    reversed_t = plain.copy()
    sel = (reversed_t["scenario"] == "variability") & (reversed_t["direction"] == "average")
    reversed_t.loc[sel, "t_pulse_s"] = reversed_t.loc[sel, "t_pulse_s"].to_numpy()[::-1]
    save("non_monotonic", reversed_t, "not monotonic")
    save("ber_above_one", plain.assign(ber=plain["ber"] * 10), "(0, 1)")
    parquet = folder / "units_metadata.parquet"
    write_table(good, parquet)
    import pyarrow.parquet as pq

    t = pq.read_table(parquet)
    meta = dict(t.schema.metadata)
    meta[b"pyspice_mram.units"] = json.dumps({"t_pulse_s": "ns"}).encode()
    pq.write_table(t.replace_schema_metadata(meta), parquet)
    cases["declared_ns"] = (parquet, "t_pulse_s is in 'ns'")
    return cases


@pytest.mark.parametrize("command", ["train", "experiment"])
def test_bad_energy_tables_are_refused_before_any_work(table_file, tmp_path, capsys, command):
    for name, (path, fragment) in _bad_tables(table_file, tmp_path).items():
        out = tmp_path / f"out_{name}"
        if command == "train":
            args = ["train", "--float", "--table", path, "--data", tmp_path, "--json", out]
        else:
            args = ["experiment", "fig3", "--table", path, "--data", tmp_path, "--out", out, "--quiet"]
        code, _, err = cli(capsys, *args)
        assert code == 2, name
        assert_one_line_error(code, err, fragment)
        assert not out.exists(), name


def _write_idx_gz(path: Path, magic: int, shape: tuple[int, ...], payload: bytes) -> None:
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in shape)
    path.write_bytes(gzip.compress(header + payload))


@pytest.mark.parametrize("damage", ["truncated_gzip", "truncated_idx", "bad_magic", "missing_file"])
@pytest.mark.parametrize("command", ["train", "experiment"])
def test_broken_mnist_files_are_one_line_with_no_output(mnist_dir, tmp_path, capsys, damage, command):
    data = tmp_path / "mnist"
    shutil.copytree(mnist_dir, data)
    labels = data / "t10k-labels-idx1-ubyte.gz"
    if damage == "truncated_gzip":
        blob = labels.read_bytes()
        labels.write_bytes(blob[: len(blob) // 2])
    elif damage == "truncated_idx":
        _write_idx_gz(labels, 2049, (10000,), bytes(9000))
    elif damage == "bad_magic":
        _write_idx_gz(labels, 2051, (10000,), bytes(10000))
    else:
        labels.unlink()
    out = tmp_path / "out"
    if command == "train":
        args = ["train", "--float", "--data", data, "--json", out, "--quiet"]
    else:
        args = ["experiment", "fig3", "--data", data, "--out", out, "--quiet"]
    code, _, err = cli(capsys, *args)
    assert code == 2
    assert_one_line_error(code, err, "t10k-labels-idx1-ubyte.gz")
    assert not out.exists()


def test_mnist_loader_names_truncation_and_magic(tmp_path):
    """With the checksum check off (as for a user's own IDX files) the parser itself names the fault."""
    from pyspice_mram.training import mnist as mn

    folder = tmp_path / "m"
    folder.mkdir()
    _write_idx_gz(folder / "train-images-idx3-ubyte.gz", 2051, (20, 28, 28), bytes(20 * 784))
    _write_idx_gz(folder / "train-labels-idx1-ubyte.gz", 2049, (20,), bytes(20))
    _write_idx_gz(folder / "t10k-images-idx3-ubyte.gz", 2051, (10, 28, 28), bytes(10 * 784 - 5))
    _write_idx_gz(folder / "t10k-labels-idx1-ubyte.gz", 2049, (10,), bytes(10))
    with pytest.raises(DataError, match="size mismatch"):
        mn.load_folder(folder, checksums=None)
    _write_idx_gz(folder / "t10k-images-idx3-ubyte.gz", 2049, (10, 28, 28), bytes(10 * 784))
    with pytest.raises(DataError, match="bad magic number 2049"):
        mn.load_folder(folder, checksums=None)


def test_q_format_that_cannot_hold_the_weights_is_refused(mnist_dir, tmp_path, capsys):
    out = tmp_path / "r.json"
    code, _, err = cli(capsys, "train", "--ber", "0.01", "--frac-bits", "24", "--epochs", "1", "--seeds", "1",
                       "--train-images", "10", "--data", mnist_dir, "--json", out, "--quiet")
    assert_one_line_error(code, err, "fractional bits")
    assert not out.exists()


def _train_outside_the_table(table_file, mnist_dir, out, capsys):
    """Train at BER 1e-12 with the run's table, which spans BER [1e-10, 0.5] (1e-12 needs extrapolation)."""
    return cli(capsys, "train", "--ber", "1e-12", "--table", table_file, "--epochs", "1", "--seeds", "1",
               "--train-images", "10", "--data", mnist_dir, "--json", out, "--quiet")


def test_train_never_extrapolates_the_energy_table(table_file, mnist_dir, tmp_path, capsys):
    out = tmp_path / "r.json"
    code, _, err = _train_outside_the_table(table_file, mnist_dir, out, capsys)
    if code != 0:
        assert_one_line_error(code, err, "outside the energy table's range")
        assert not out.exists()
    else:  # no energy number may come from outside the table
        energy = json.loads(out.read_text())["energy"]
        assert "all_bits" not in energy and "outside the energy table's range" in energy["error"]


def test_train_refuses_a_ber_outside_the_table_before_training(table_file, mnist_dir, tmp_path, capsys):
    out = tmp_path / "r.json"
    code, _, err = _train_outside_the_table(table_file, mnist_dir, out, capsys)
    assert_one_line_error(code, err, "outside the energy table's range")
    assert not out.exists()


def test_lookup_outside_the_table_range_is_refused(table_file):
    from pyspice_mram.training.bit_energy import BitEnergyModel
    from pyspice_mram.errors import ParameterError
    from pyspice_mram.sweeps.tables import lookup

    df = load_table(table_file)
    with pytest.raises(ParameterError, match="not extrapolated"):
        lookup(df, 1e-12)
    with pytest.raises(ParameterError, match="not extrapolated"):
        lookup(df, 0.6)
    model = BitEnergyModel.from_table(table_file)
    with pytest.raises(ParameterError, match="outside the energy table's range"):
        model.energy_per_bit_j(1e-12)


# === 2. faults ============================================================================================
def test_failed_samples_are_recorded_and_the_table_says_how_many(tmp_path, capsys, monkeypatch):
    """Samples whose simulation fails twice are recorded with the reason; the sweep goes on and both the
    sweep summary and the table (column, provenance, text) report how many."""
    monkeypatch.setattr(sweep_module, "analytic_simulator", failing_factory)
    monkeypatch.setattr(sweep_module, "_SIMULATORS", {})
    config = write_config(tmp_path / "c.toml", n_samples=30, chunk_size=8)
    code, out, err = cli(capsys, "sweep", config, "--out", tmp_path / "run", "--quiet", "--json")
    assert code == 0, err
    summary = json.loads(out)
    rows = per_sample(tmp_path / "run")
    n_bad = rows.loc[rows["status"] == "failed", "sample"].nunique()
    assert 0 < n_bad < 30 and summary["n_failed_samples"] == n_bad and summary["n_tasks_run"] == 31
    code, out, err = cli(capsys, "table", tmp_path / "run", "--out", tmp_path / "t.csv")
    assert code == 2 and "failed sample(s) could raise the array BER" in err and not (tmp_path / "t.csv").exists()
    code, out, err = cli(capsys, "table", tmp_path / "run", "--out", tmp_path / "t.csv", "--skip-unreachable")
    assert code == 0, err
    assert f"{n_bad} sample(s) failed" in out
    table = load_table(tmp_path / "t.csv")
    assert (table["n_failed"] == n_bad).all()
    assert set(table["scenario"]) == {"nominal"}  # every variability row could be moved by the failed cells
    failures = table.attrs["provenance"]["table"]["failures"]
    assert len({f["task"] for f in failures}) == n_bad
    assert all("timestep too small" in f["reason"] for f in failures)


def test_a_sweep_where_every_sample_fails_stops_and_leaves_nothing(tmp_path, capsys, monkeypatch):
    class Broken:
        transistors = ()

        def simulate(self, direction, sample):
            raise SimulatorError("timestep too small")

    monkeypatch.setattr(sweep_module, "analytic_simulator", lambda config, corner: Broken())
    monkeypatch.setattr(sweep_module, "_SIMULATORS", {})
    code, _, err = cli(capsys, "sweep", write_config(tmp_path / "c.toml"), "--out", tmp_path / "run", "--quiet")
    assert_one_line_error(code, err, "nominal sample at corner TT/VDDx1.00/300K (p2ap) failed to simulate")
    assert not (tmp_path / "run").exists()


def test_sigkilled_sweep_resumes_through_the_cli_to_the_same_table(tmp_path, capsys):
    config = write_config(tmp_path / "c.toml", n_samples=200, chunk_size=10)
    killed = tmp_path / "killed"
    sigkill_sweep_after_first_chunk(config, killed)
    store = RunStore.open(killed)
    done = len(store.manifest.chunks)
    assert 1 <= done < store.manifest.n_chunks
    # the half-finished run is refused by `table` (never a table of part of the samples) ...
    code, _, err = cli(capsys, "table", killed, "--out", tmp_path / "partial.csv")
    assert_one_line_error(code, err, "--resume")
    assert not (tmp_path / "partial.csv").exists()
    # ... and finished by --resume, which redoes only what was not finished
    code, out, err = cli(capsys, "sweep", config, "--out", killed, "--resume", "--quiet", "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["n_tasks_run"] <= 201 - 10 * done
    whole = tmp_path / "whole"
    assert cli(capsys, "sweep", config, "--out", whole, "--quiet")[0] == 0
    pd.testing.assert_frame_equal(per_sample(killed), per_sample(whole))
    for run in (killed, whole):
        assert cli(capsys, "table", run, "--out", tmp_path / f"{run.name}.csv")[0] == 0
    pd.testing.assert_frame_equal(load_table(tmp_path / "killed.csv"), load_table(tmp_path / "whole.csv"))


def test_truncated_last_chunk_is_refused_then_only_it_is_redone(tmp_path, capsys):
    config = write_config(tmp_path / "c.toml")
    run = tmp_path / "run"
    assert cli(capsys, "sweep", config, "--out", run, "--quiet")[0] == 0
    assert cli(capsys, "table", run, "--out", tmp_path / "before.csv")[0] == 0
    before = per_sample(run)
    last = RunStore.open(run).chunk_path(2)
    last.write_bytes(last.read_bytes()[:-200])  # a torn write of the last part
    code, _, err = cli(capsys, "table", run, "--out", tmp_path / "after.csv")
    assert_one_line_error(code, err, "fails its checksum")
    assert not (tmp_path / "after.csv").exists()
    code, out, err = cli(capsys, "sweep", config, "--out", run, "--resume", "--quiet", "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["chunks_redone"] == [2] and summary["chunks_written"] == [2] and summary["n_tasks_run"] == 3
    pd.testing.assert_frame_equal(per_sample(run), before)
    assert cli(capsys, "table", run, "--out", tmp_path / "after.csv")[0] == 0
    pd.testing.assert_frame_equal(load_table(tmp_path / "after.csv"), load_table(tmp_path / "before.csv"))


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
@pytest.mark.parametrize("where", ["serialise", "disk"])
def test_interrupted_table_write_keeps_the_old_table(run_dir, tmp_path, capsys, monkeypatch, suffix, where):
    path = tmp_path / f"t{suffix}"
    assert cli(capsys, "table", run_dir, "--out", path, "--targets", "1e-10,1e-4")[0] == 0
    before = path.read_bytes()
    disk_full = OSError(errno.ENOSPC, "No space left on device")
    if where == "serialise":  # the encoder dies half-way through the new table
        if suffix == ".csv":
            real = pd.DataFrame.to_csv

            def half_then_fail(self, buf=None, *args, **kwargs):
                real(self.iloc[: len(self) // 2], buf, *args, **kwargs)
                raise disk_full

            monkeypatch.setattr(pd.DataFrame, "to_csv", half_then_fail)
        else:
            def fail(*args, **kwargs):
                raise disk_full

            monkeypatch.setattr(tables_module, "parquet_bytes", fail)
    else:  # the new bytes are half on disk when the write fails
        real_fsync = os.fsync

        def fsync_fails_on_temp(fd):
            if os.fstat(fd).st_size:  # the temporary file holding the new table (not a folder)
                raise disk_full
            real_fsync(fd)

        monkeypatch.setattr(os, "fsync", fsync_fails_on_temp)
    code, _, err = cli(capsys, "table", run_dir, "--out", path, "--force")
    monkeypatch.undo()
    assert_one_line_error(code, err, "No space left on device")
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left behind
    load_table(path)


def test_unwritable_output_is_one_line(run_dir, capsys):
    code, _, err = cli(capsys, "table", run_dir, "--out", "/proc/no_such_dir/t.csv")
    assert_one_line_error(code, err)


# === 3. properties ========================================================================================
@settings(max_examples=200, deadline=None)
@given(frac=st.integers(0, 24), codes=st.lists(st.integers(CODE_MIN, CODE_MAX), min_size=1, max_size=50))
def test_fixed_point_codes_round_trip_exactly(frac, codes):
    q = QFormat(frac)
    codes = np.array(codes, dtype=np.int16)
    np.testing.assert_array_equal(q.encode(q.decode(codes)), codes)


@settings(max_examples=200, deadline=None)
@given(frac=st.integers(0, 24), xs=st.lists(st.floats(-1e9, 1e9, allow_nan=False), min_size=2, max_size=50))
def test_fixed_point_encode_is_monotonic_and_saturates(frac, xs):
    q = QFormat(frac)
    xs = np.sort(np.array(xs))
    codes = q.encode(xs).astype(int)
    assert np.all(np.diff(codes) >= 0)
    assert np.all(codes[xs >= q.max_value + q.lsb] == CODE_MAX)
    assert np.all(codes[xs <= q.min_value - q.lsb] == CODE_MIN)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 200), n_lsb=st.integers(0, 16))
def test_memory_exact_bits_are_written_exactly(seed, n, n_lsb):
    """With the high bits at BER 0, they always hold the intended value whatever the low bits do."""
    rng = np.random.default_rng(seed)
    old = rng.integers(CODE_MIN, CODE_MAX + 1, n).astype(np.int16)
    new = rng.integers(CODE_MIN, CODE_MAX + 1, n).astype(np.int16)
    mem = ApproximateMemory(old, BitErrorPolicy.two_stage(n_lsb, 0.5, 0.0), seed)
    mem.write(new[None])
    high = np.uint16((0xFFFF << n_lsb) & 0xFFFF)
    assert np.all((mem.codes[0].view(np.uint16) & high) == (new.view(np.uint16) & high))
    exact = ApproximateMemory(old, BitErrorPolicy.exact(), seed)
    exact.write(new[None])
    np.testing.assert_array_equal(exact.codes[0], new)


@st.composite
def broken_tables(draw):
    """A valid table (1-3 groups, 2-6 BERs each) and one fault that the loader must refuse."""
    n_groups, n_ber = draw(st.integers(1, 3)), draw(st.integers(2, 6))
    bers = sorted(draw(st.lists(st.floats(1e-12, 0.9), min_size=n_ber, max_size=n_ber, unique=True)))
    records = []
    for g in range(n_groups):
        t0, e0 = draw(st.floats(1e-9, 1e-7)), draw(st.floats(1e-14, 1e-11))
        for i, b in enumerate(bers):
            records.append({"scenario": f"s{g}", "direction": "average", "ber": b,
                            "t_pulse_s": t0 * (1 - 0.05 * i), "energy_j": e0 * (1 - 0.05 * i)})
    df = pd.DataFrame.from_records(records)
    fault = draw(st.sampled_from(["swap", "ns", "pj", "drop", "ber", "nan"]))
    row = draw(st.integers(0, len(df) - 1))
    if fault == "swap":  # two neighbouring pulse lengths of one group exchanged: not monotonic
        g = row // n_ber
        i = g * n_ber + draw(st.integers(0, n_ber - 2))
        df.loc[[i, i + 1], "t_pulse_s"] = df.loc[[i + 1, i], "t_pulse_s"].to_numpy()
    elif fault == "ns":
        df["t_pulse_s"] *= 1e9
    elif fault == "pj":
        df["energy_j"] *= 1e12
    elif fault == "drop":
        df = df.drop(columns=[draw(st.sampled_from(["ber", "t_pulse_s", "energy_j", "scenario"]))])
    elif fault == "ber":
        df.loc[row, "ber"] = draw(st.sampled_from([0.0, 1.0, 1.5, -1e-3]))
    else:
        df.loc[row, draw(st.sampled_from(["ber", "t_pulse_s", "energy_j"]))] = np.nan
    return df, fault


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=broken_tables(), suffix=st.sampled_from([".csv", ".parquet"]))
def test_table_loader_refuses_every_broken_table(tmp_path, case, suffix):
    df, fault = case
    path = tmp_path / f"broken{suffix}"
    if suffix == ".csv":
        df.to_csv(path, index=False)
    else:
        df.to_parquet(path, index=False)
    with pytest.raises(DataError) as info:
        load_table(path)
    assert "\n" not in str(info.value)
    with pytest.raises(DataError):  # the writer refuses it too: a wrong table is never written
        write_table(df, tmp_path / f"w{suffix}")
    assert not (tmp_path / f"w{suffix}").exists()
