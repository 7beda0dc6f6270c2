"""Write energy per target BER (paper Fig. 2, black curve), brute-force check, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from pyspice_mram.circuit.bruteforce import brute_force_write, run_thresholds, wilson_interval
from pyspice_mram.circuit.write_circuit import DIRECTIONS, SUPPLIES, WriteCircuit
from pyspice_mram.cli.write import write
from pyspice_mram.errors import ParameterError
from pyspice_mram.circuit.write_energy import nominal_write_energy

PAPER_SAVINGS = {1e-4: 0.37, 1e-3: 0.45, 1e-2: 0.53}


@pytest.fixture(scope="module")
def circuit() -> WriteCircuit:
    return WriteCircuit()


@pytest.fixture(scope="module")
def nominal(circuit):
    return nominal_write_energy([1e-10, 1e-4, 1e-3, 1e-2, 0.1, 0.5], circuit=circuit)


def test_reference_pulse_and_energy(nominal):
    ref = nominal.targets[0]
    assert ref.ber == 1e-10
    assert ref.t_pulse_s == pytest.approx(15.0e-9, abs=0.5e-9)
    # every supply, mean of the two directions (paper: 0.48 pJ)
    assert 0.36e-12 <= ref.energy_j <= 0.60e-12
    assert set(ref.energy_by_supply_j) == set(SUPPLIES)
    assert sum(ref.energy_by_supply_j.values()) == pytest.approx(ref.energy_j, rel=1e-9)
    assert ref.energy_by_supply_j["vwr"] > 0.95 * ref.energy_j  # the write rail dominates
    assert set(ref.by_direction) == set(DIRECTIONS)
    assert np.mean([v["energy_j"] for v in ref.by_direction.values()]) == pytest.approx(ref.energy_j, rel=1e-9)


def test_savings_match_the_paper(nominal):
    by_ber = {t.ber: t for t in nominal.targets}
    for ber, paper in PAPER_SAVINGS.items():
        assert by_ber[ber].saving == pytest.approx(paper, abs=0.02), ber
    savings = [t.saving for t in nominal.targets]
    assert np.all(np.diff(savings) > 0)  # higher BER, shorter pulse, less energy
    assert nominal.reference.saving == 0.0


def test_direction_average_is_consistent(circuit, nominal):
    single = nominal_write_energy([1e-10, 1e-2], direction="p2ap", circuit=circuit)
    assert single.directions == ("p2ap",)
    assert set(single.rails_v) == {"p2ap"}
    # P->AP starts in the low-resistance state: it costs more than the average
    assert single.targets[0].energy_j > nominal.targets[0].energy_j


def test_bad_targets_and_voltages(circuit):
    for bad in (0.0, 1.0, 1.5, -0.1, float("nan")):
        with pytest.raises(ParameterError, match="BER"):
            nominal_write_energy([bad], circuit=circuit)
    with pytest.raises(ParameterError, match="v_over_vc"):
        nominal_write_energy([1e-3], v_over_vc=0.0)
    with pytest.raises(ParameterError, match="direction"):
        nominal_write_energy([1e-3], direction="up", circuit=circuit)


def test_wilson_interval():
    lo, hi = wilson_interval(0, 100)
    assert lo == 0.0 and 0.03 < hi < 0.04
    lo, hi = wilson_interval(50, 100)
    assert lo == pytest.approx(0.4038, abs=1e-3) and hi == pytest.approx(0.5962, abs=1e-3)
    with pytest.raises(ParameterError):
        wilson_interval(5, 0)


def test_thresholds_are_keyed_by_run_index():
    a = [run_thresholds(7, i, 14.9) for i in range(5)]
    assert run_thresholds(7, 3, 14.9) == a[3]  # independent of how many runs came before
    assert len(set(a)) == 5
    assert run_thresholds(8, 3, 14.9) != a[3]


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_hybrid_agrees_with_brute_force_small(circuit, direction):
    """200 stochastic writes at one pulse length (BER ~ 0.4): hybrid inside Wilson 95 %, energy within 2 %."""
    r = brute_force_write(circuit, direction, 4.5e-9, 200, seed=11)
    assert 0.1 < r.ber < 0.8
    lo, hi = r.wilson95
    assert lo <= r.hybrid_ber <= hi
    assert abs(r.energy_gap) < 0.02


def test_hybrid_agrees_with_brute_force_at_a_rarer_point(circuit):
    """A longer pulse (BER a few %): 600 stochastic writes, the hybrid inside the Wilson 95 % interval."""
    r = brute_force_write(circuit, "p2ap", 6.0e-9, 600, seed=5)
    assert 0.005 < r.hybrid_ber < 0.1, r.as_dict()
    lo, hi = r.wilson95
    assert lo <= r.hybrid_ber <= hi, r.as_dict()
    assert abs(r.energy_gap) < 0.02, r.as_dict()


def test_hybrid_agrees_with_brute_force_on_a_non_nominal_cell(circuit):
    """A weak cell (RA +10 %, TMR -10 %, slow free layer, shifted transistors): the hybrid follows it."""
    from pyspice_mram.circuit.write_circuit import CircuitSample

    names = [t.name for t in circuit.transistors]
    sample = CircuitSample(ra_scale=1.1, tmr_scale=0.9, rate_scale=0.8,
                           delvto_v={n: 0.02 for n in names}, mulu0={n: 0.95 for n in names})
    nominal = brute_force_write(circuit, "ap2p", 5.0e-9, 1, seed=3)
    r = brute_force_write(circuit, "ap2p", 5.0e-9, 300, seed=3, sample=sample)
    assert r.hybrid_ber > nominal.hybrid_ber + 0.05  # the weak cell fails visibly more often
    lo, hi = r.wilson95
    assert lo <= r.hybrid_ber <= hi, r.as_dict()
    assert abs(r.energy_gap) < 0.02, r.as_dict()


def test_brute_force_refuses_bad_pulses(circuit):
    for bad in (0.0, -5e-9, float("inf"), float("nan")):
        with pytest.raises(ParameterError, match="pulse length"):
            brute_force_write(circuit, "p2ap", bad, 10)
    with pytest.raises(ParameterError, match="runs"):
        brute_force_write(circuit, "p2ap", 5e-9, 0)


@pytest.mark.slow
@pytest.mark.parametrize("direction", DIRECTIONS)
def test_hybrid_agrees_with_brute_force_full(circuit, direction):
    """2000 stochastic writes at three pulse lengths whose BER lies in [1e-3, 0.5]."""
    for t_pulse in (4.5e-9, 6.0e-9, 7.5e-9):
        r = brute_force_write(circuit, direction, t_pulse, 2000, seed=2024)
        print(json.dumps(r.as_dict()))  # the numbers behind the check (pytest -s shows them)
        assert 1e-3 <= r.hybrid_ber <= 0.5
        lo, hi = r.wilson95
        assert lo <= r.hybrid_ber <= hi, r.as_dict()
        assert abs(r.energy_gap) < 0.02, r.as_dict()


# --- CLI ------------------------------------------------------------------------------------------
def test_cli_json(circuit):
    out = CliRunner().invoke(write, ["--json", "--targets", "1e-10,1e-2"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert [t["ber"] for t in data["targets"]] == [1e-10, 1e-2]
    for key in ("t_pulse_s", "energy_j", "saving", "energy_by_supply_j"):
        assert key in data["targets"][0]
    assert set(data["rails_v"]) == set(DIRECTIONS)
    assert data["energy_covers"]["directions"] == list(DIRECTIONS)
    assert set(data["energy_covers"]["supplies"]) == set(SUPPLIES)
    assert data["targets"][1]["saving"] == pytest.approx(0.53, abs=0.02)


def test_cli_text_and_plots(circuit, tmp_path):
    out = CliRunner().invoke(write, ["--direction", "ap2p", "--targets", "1e-3", "--plot", str(tmp_path / "p")])
    assert out.exit_code == 0, out.output
    assert "ap2p" in out.output and "saving" in out.output
    assert (tmp_path / "p" / "fig2_energy_vs_ber.png").stat().st_size > 1000
    assert (tmp_path / "p" / "waveforms_ap2p.png").stat().st_size > 1000


def test_cli_brute_force(circuit):
    out = CliRunner().invoke(write, ["--brute-force", "20", "--t-pulse", "5e-9", "--direction", "p2ap", "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["checks"][0]["runs"] == 20 and 0 <= data["checks"][0]["failures"] <= 20


@pytest.mark.parametrize(
    "args, message",
    [
        (["--brute-force", "10", "--t-pulse", "-1e-9"], "--t-pulse"),
        (["--brute-force", "10"], "go together"),
        (["--targets", "1.5"], "BER"),
        (["--v-over-vc", "-2"], "--v-over-vc"),
    ],
)
def test_cli_errors_are_one_line(args, message):
    from pyspice_mram.cli import main

    import io
    import contextlib

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(["write", *args])
    assert code == 2
    assert message in err.getvalue() and err.getvalue().count("\n") == 1
