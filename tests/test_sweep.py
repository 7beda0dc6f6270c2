"""The runner: results independent of the worker count and backend, failures recorded, dead workers
replaced, a SIGKILLed sweep resumed to exactly the uninterrupted result."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from pyspice_mram.sweeps.analytic_cell import AnalyticCell, AnalyticConditions
from pyspice_mram.sweeps.checkpoint import RunStore
from pyspice_mram.cli import main
from pyspice_mram.errors import ConfigError, DataError, OutputExistsError, SimulatorError
from pyspice_mram.sweeps.runner import run_sweep
from pyspice_mram.sweeps.config import load_config, to_toml, validate
from pyspice_mram.sweeps.tables import build_table

from sweep_helpers import sigkill_sweep_after_first_chunk


def analytic_config(n_samples: int = 30, chunk_size: int = 8, **sweep):
    return validate({
        "sweep": {"simulator": "analytic", "seed": 11, "n_samples": n_samples, "chunk_size": chunk_size, **sweep},
        "circuit": {"time_step_s": 100e-12},
        "variability": {"intrinsic_ln_rate_sigma": 0.1, "global_delvto_sigma_v": 0.013, "global_mobility_sigma": 0.033},
        "table": {"targets": [1e-10, 1e-6, 1e-4, 1e-2, 0.5]},
    })


def per_sample(run_dir: Path) -> pd.DataFrame:
    """Every stored row, in task order, without the timing column."""
    table = pa.concat_tables(list(RunStore.open(run_dir).read_chunks()))
    df = table.drop_columns(["wall_s"]).to_pandas()
    for c in ("time_s", "progress", "energy_init_j", "energy_final_j", "supplies"):
        df[c] = df[c].map(lambda a: tuple(a))
    return df.sort_values(["task", "direction"]).reset_index(drop=True)


# Simulators for the error paths (module level so that worker processes can import them).
class FailingCell(AnalyticCell):
    """Fails (twice, so for good) every sample whose RA draw is above +5 %."""

    def simulate(self, direction, sample, relaxed=False):
        if sample.ra_scale > 1.05:
            raise SimulatorError(f"timestep too small (test: ra_scale {sample.ra_scale:.3f}, relaxed={relaxed})")
        return super().simulate(direction, sample, relaxed)


def failing_factory(config, corner):
    return FailingCell(AnalyticConditions.from_config(config, corner))


class KillerCell(AnalyticCell):
    """Kills its own worker process at sample 9 once (a marker file, named in the description, says it happened)."""

    def __init__(self, conditions, marker):
        super().__init__(conditions)
        self.marker = Path(marker)

    def simulate(self, direction, sample, relaxed=False):
        if sample.index == 9 and not self.marker.exists():
            self.marker.write_text("killed")
            os.kill(os.getpid(), signal.SIGKILL)
        return super().simulate(direction, sample, relaxed)


def killer_factory(config, corner):
    return KillerCell(AnalyticConditions.from_config(config, corner), config["sweep"]["description"])


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted 1-worker run of the analytic config."""
    out = tmp_path_factory.mktemp("ref") / "run"
    run_sweep(analytic_config(), out, jobs=1, progress=False)
    return out


def test_jobs_1_and_2_give_identical_samples(reference, tmp_path):
    out = tmp_path / "run2"
    summary = run_sweep(analytic_config(), out, jobs=2, progress=False)
    assert summary.n_tasks == summary.n_tasks_run == 31 and summary.n_failed_samples == 0
    pd.testing.assert_frame_equal(per_sample(reference), per_sample(out))


def test_dask_local_cluster_gives_identical_samples(reference, tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        out = tmp_path / "dask"
        summary = run_sweep(analytic_config(), out, scheduler=cluster.scheduler_address, progress=False)
    assert summary.n_tasks_run == 31
    pd.testing.assert_frame_equal(per_sample(reference), per_sample(out))


def test_existing_run_dir_is_refused_and_resume_checks_the_config(reference, tmp_path):
    before = (reference / "manifest.json").read_text()
    with pytest.raises(OutputExistsError):
        run_sweep(analytic_config(), reference, jobs=1, progress=False)
    assert (reference / "manifest.json").read_text() == before
    with pytest.raises(ConfigError, match="different config"):
        run_sweep(analytic_config(n_samples=31), reference, resume=True, progress=False)
    with pytest.raises(DataError, match="nothing does not exist"):
        run_sweep(analytic_config(), tmp_path / "nothing", resume=True, progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="not a sweep run folder"):
        run_sweep(analytic_config(), tmp_path / "empty", resume=True, progress=False)
    # resuming a finished run with the same config does nothing (table-time keys may differ)
    same = analytic_config().with_changes("variability", intrinsic_ln_rate_sigma=0.2)
    summary = run_sweep(same, reference, resume=True, progress=False)
    assert summary.n_tasks_run == 0 and summary.chunks_written == []


def test_failed_samples_are_retried_recorded_and_counted(tmp_path):
    out = tmp_path / "fail"
    cfg = analytic_config(n_samples=40, chunk_size=10)
    summary = run_sweep(cfg, out, jobs=1, progress=False, simulator_factory=failing_factory)
    rows = per_sample(out)
    failed = rows[rows["status"] == "failed"]
    n_bad = failed["sample"].nunique()
    assert n_bad > 0 and summary.n_failed_samples == n_bad
    assert (failed["attempts"] == 2).all()
    assert failed["reason"].str.contains("SimulatorError: timestep too small").all()
    assert failed["reason"].str.contains("relaxed=True").all()  # the retry used relaxed options
    assert (rows["status"] == "ok").sum() == 2 * (41 - n_bad)
    # the failed cells could carry any BER: targets they could move beyond their interval are refused
    with pytest.raises(DataError, match="failed sample\\(s\\) could raise the array BER"):
        build_table(out)
    table = build_table(out, targets=[0.5], skip_unreachable=True)
    assert (table["n_failed"] == n_bad).all()
    assert set(table["scenario"]) == {"nominal"}  # n_bad of 40 could shift even BER 0.5 by more than its interval
    refused = table.attrs["provenance"]["table"]["unreachable"]
    assert len(refused) == 2 * 3 and all(f"{n_bad} failed sample(s)" in r for r in refused)


def test_a_config_where_every_sample_fails_stops_with_the_reason(tmp_path):
    cfg = analytic_config(n_samples=4, chunk_size=5).with_changes("variability", ra_sigma=0.3)

    class AlwaysFails(AnalyticCell):
        def simulate(self, direction, sample, relaxed=False):
            raise SimulatorError("singular matrix")

    with pytest.raises(SimulatorError, match="nominal sample .* failed to simulate.*singular matrix"):  # refused at the first sample
        run_sweep(cfg, tmp_path / "x", jobs=1, progress=False,
                  simulator_factory=lambda c, k: AlwaysFails(AnalyticConditions.from_config(c, k)))


def test_a_killed_worker_is_replaced_and_its_tasks_resubmitted(reference, tmp_path):
    marker = tmp_path / "killed.marker"
    cfg = analytic_config().with_changes("sweep", description=str(marker))
    out = tmp_path / "killer"
    summary = run_sweep(cfg, out, jobs=2, progress=False, simulator_factory=killer_factory)
    assert marker.exists() and summary.worker_restarts >= 1
    assert summary.n_failed_samples == 0
    got = per_sample(out)
    assert list(got["task"].unique()) == list(range(31))
    pd.testing.assert_frame_equal(per_sample(reference), got)


def test_sigkill_mid_run_then_resume_equals_uninterrupted(tmp_path):
    cfg = analytic_config(n_samples=300, chunk_size=10)
    config_path = tmp_path / "long.toml"
    config_path.write_text(to_toml(cfg))
    killed = tmp_path / "killed"
    sigkill_sweep_after_first_chunk(config_path, killed, "--jobs", "1")
    store = RunStore.open(killed)
    assert 1 <= len(store.manifest.chunks) < store.manifest.n_chunks  # really killed mid-run

    summary = run_sweep(config_path, killed, jobs=1, resume=True, progress=False)
    assert summary.n_tasks_run < cfg.n_tasks
    whole = tmp_path / "whole"
    run_sweep(config_path, whole, jobs=1, progress=False)
    rows = per_sample(killed)
    assert list(rows["task"]) == [t for t in range(cfg.n_tasks) for _ in range(2)]  # none lost, none duplicated
    pd.testing.assert_frame_equal(rows, per_sample(whole))
    pd.testing.assert_frame_equal(build_table(killed), build_table(whole))


def test_cli_sweep_then_table(tmp_path, capsys):
    cfg_path = tmp_path / "c.toml"
    cfg_path.write_text(to_toml(analytic_config(n_samples=6, chunk_size=4)))
    run = tmp_path / "run"
    assert main(["sweep", str(cfg_path), "--out", str(run), "--jobs", "1", "--quiet", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["n_tasks"] == 7
    assert main(["sweep", str(cfg_path), "--out", str(run)]) == 2
    assert "exists" in capsys.readouterr().err
    assert main(["table", str(run), "--out", str(tmp_path / "t.csv")]) == 0
    assert "wrote" in capsys.readouterr().out
    assert main(["table", str(run), "--out", str(tmp_path / "t.csv")]) == 2


def test_quick_spice_config_runs_a_few_samples(tmp_path):
    pytest.importorskip("PySpice")
    from pyspice_mram.circuit.ngspice import find_library

    try:
        find_library()
    except SimulatorError as exc:
        pytest.skip(str(exc))
    cfg = load_config("quick").with_changes("sweep", n_samples=3, chunk_size=2)
    summary = run_sweep(cfg, tmp_path / "spice", jobs=1, progress=False)
    assert summary.n_failed_samples == 0
    table = build_table(tmp_path / "spice", targets=[1e-10, 1e-4])
    nominal = table[(table["scenario"] == "nominal") & (table["direction"] == "p2ap") & (table["ber"] == 1e-10)]
    # the circuit's rail is solved for 2.0 Vc at pulse start: close to the constant-voltage 15.0 ns
    assert nominal["t_pulse_s"].iloc[0] == pytest.approx(15.0e-9, rel=0.03)
    assert set(c for c in table.columns if c.startswith("energy_") and c.endswith("_j")) >= {"energy_j", "energy_vwr_j"}


@pytest.mark.slow
def test_paper_sweep_reproduces_fig2(tmp_path):
    """The full paper sweep (1000 SPICE samples; ~10 min on 2 idle cores). Set PYSPICE_MRAM_PAPER_RUN to a
    finished run folder of montecarlo/paper.toml to check an existing run instead."""
    existing = os.environ.get("PYSPICE_MRAM_PAPER_RUN")
    config = load_config("paper")
    if existing:
        run = Path(existing)
        run_sweep(config, run, jobs=2, resume=True, progress=False)  # refuses a run of another config
    else:
        run = tmp_path / "paper"
        run_sweep(config, run, jobs=2, progress=False)
    sigma = config["variability"]["intrinsic_ln_rate_sigma"]
    assert sigma > 0, "paper.toml carries the calibrated intrinsic spread"
    table = build_table(run, targets=[1e-10, 1e-4], ln_rate_sigma=sigma)

    def get(scenario, ber, column):
        sel = table[(table["scenario"] == scenario) & (table["direction"] == "average") & (table["ber"] == ber)]
        return float(sel[column].iloc[0])

    from pyspice_mram.device.calibration import PAPER_ANCHORS

    # calibrated quantities hit their anchors (the nominal law, and paper.toml's fitted spread) ...
    assert get("nominal", 1e-10, "t_pulse_s") == pytest.approx(PAPER_ANCHORS.reference_pulse_s, abs=0.5e-9)
    assert get("variability", 1e-10, "t_pulse_s") == pytest.approx(PAPER_ANCHORS.variability_reference_pulse_s, abs=0.3e-9)
    # ... and variability costs most at the rarest target, in every scenario (tail-dominated)
    for scenario in ("variability", "variability_physical"):
        assert get(scenario, 1e-10, "energy_increase") > get(scenario, 1e-4, "energy_increase") > 0
    # physical variability alone is a smaller effect (design.md section 8)
    assert get("nominal", 1e-10, "t_pulse_s") < get("variability_physical", 1e-10, "t_pulse_s") < get("variability", 1e-10, "t_pulse_s")
    assert table["n_failed"].max() <= 10
