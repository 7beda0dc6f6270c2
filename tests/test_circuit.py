"""The write circuit: netlist, rails, per-sample parameters, frozen transients, energies, errors."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from pyspice_mram import paths
from pyspice_mram.circuit.write_circuit import (
    DIRECTIONS,
    SUPPLIES,
    CircuitConditions,
    CircuitSample,
    WriteCircuit,
    build_deck,
)
from pyspice_mram.errors import DataError, ParameterError, SimulatorError


@pytest.fixture(scope="module")
def circuit() -> WriteCircuit:
    return WriteCircuit()


@pytest.fixture(scope="module")
def rails(circuit) -> dict[str, float]:
    return circuit.rails()


def test_transistors_are_addressable(circuit):
    table = {name: (kind, w, l) for name, kind, w, l in circuit.transistors}
    assert len(table) == 11
    assert table["mp_bl"][0] == "p" and table["mp_bl"][1] == pytest.approx(1.6e-6)
    assert table["mn_bl"] == ("n", pytest.approx(0.8e-6), pytest.approx(32e-9))
    assert table["mn_acc"][:2] == ("n", pytest.approx(0.5e-6))
    deck = circuit.deck.lower()
    for name in table:  # every transistor has its own mismatch parameters
        assert f"dvt_{name}=0" in deck and f"mu_{name}=1" in deck


def test_rails_give_the_pulse_amplitude(circuit, rails):
    target = circuit.conditions.pulse_voltage_v
    assert target == pytest.approx(0.380)
    for d in DIRECTIONS:
        v = circuit.pulse_start_voltage(d, rails[d])
        assert abs(v) == pytest.approx(target, abs=2e-4)
        assert (v > 0) == (d == "p2ap")
        assert 0.4 < rails[d] < 1.2


def test_sample_parameters_reach_the_transistors_and_the_mtj(circuit, rails):
    def v_start(sample: CircuitSample) -> float:
        return abs(circuit.pulse_start_voltage("p2ap", rails["p2ap"], sample, typical=False))

    nominal = v_start(CircuitSample())
    # a slower (higher |Vth|) driver PMOS lowers V_MTJ; a stronger one raises it
    assert v_start(CircuitSample(delvto_v={"mp_bl": -0.05})) < nominal - 5e-3
    assert v_start(CircuitSample(delvto_v={"mp_bl": +0.05})) > nominal + 5e-3
    assert v_start(CircuitSample(mulu0={"mp_bl": 0.8})) < nominal - 2e-3
    # a transistor that is off during the pulse does not matter
    assert v_start(CircuitSample(delvto_v={"mp_sl": 0.05})) == pytest.approx(nominal, abs=2e-4)
    # a higher RA takes a larger share of the rail
    assert v_start(CircuitSample(ra_scale=1.1)) > nominal + 5e-3
    # and the nominal value comes back after all of that (no stale parameters)
    assert v_start(CircuitSample()) == pytest.approx(nominal, abs=1e-9)


def test_corner_shifts_move_v_mtj_but_not_the_rail(rails):
    slow = WriteCircuit(CircuitConditions(dvt_p_v=-0.04, dvt_n_v=0.04, mu_n=0.9, mu_p=0.9, rail_v=None))
    assert slow.rail_v("p2ap") == pytest.approx(rails["p2ap"], abs=1e-4)  # rail solved at the typical corner
    v = abs(slow.pulse_start_voltage("p2ap", slow.rail_v("p2ap"), typical=False))
    assert v < 0.380 - 0.01


def test_frozen_write_on_the_fixed_grid(circuit):
    fw = circuit.frozen_write("p2ap")
    grid = circuit.conditions.time_grid_s
    assert np.array_equal(fw.time_s, grid)
    assert grid[-1] == pytest.approx(40e-9) and np.allclose(np.diff(grid), 50e-12)
    assert fw.supplies == SUPPLIES
    assert np.all(np.diff(fw.progress) >= 0)
    assert fw.energy_init_j.shape == (3, grid.size)
    assert np.all(fw.energy_init_j[:, 0] == 0) and np.all(fw.energy_final_j[:, 0] == 0)
    # the rail dominates; P state (initial) draws more than AP (final) at the same rail
    rail_init, rail_final = fw.energy_init_j[0, -1], fw.energy_final_j[0, -1]
    assert rail_init > rail_final > 0
    power = rail_init / 40e-9
    assert power == pytest.approx(circuit.rail_v("p2ap") * 0.380 / 4973.6, rel=0.05)
    # progress: ~ t / mu(2 Vc) once the edge is over
    mu = circuit.law.mean_time_s(2.0)
    assert fw.progress[-1] == pytest.approx(40e-9 / mu, rel=0.02)


def test_rate_scale_multiplies_progress_only(circuit):
    a = circuit.frozen_write("ap2p")
    b = circuit.frozen_write("ap2p", CircuitSample(rate_scale=1.5))
    assert np.allclose(b.progress, 1.5 * a.progress)
    assert np.allclose(b.energy_init_j, a.energy_init_j, rtol=1e-9, atol=1e-22)


def test_sample_is_plain_picklable_data():
    s = CircuitSample(ra_scale=1.02, delvto_v={"mn_acc": 0.01}, mulu0={"mp_bl": 0.95})
    assert pickle.loads(pickle.dumps(s)) == s
    with pytest.raises(ParameterError, match="ra_scale"):
        CircuitSample(ra_scale=-1.0)
    with pytest.raises(ParameterError, match="delvto"):
        CircuitSample(delvto_v={"mn_acc": float("nan")})


def test_unknown_transistor_is_refused(circuit):
    with pytest.raises(ParameterError, match="unknown transistor"):
        circuit.frozen_write("p2ap", CircuitSample(delvto_v={"m_nonexistent": 0.01}))


def test_bad_conditions_are_refused():
    with pytest.raises(ParameterError, match="v_over_vc"):
        CircuitConditions(v_over_vc=0.0)
    with pytest.raises(ParameterError, match="v_over_vc"):
        CircuitConditions(v_over_vc=-2.0)
    with pytest.raises(ParameterError, match="t_stop_s"):
        CircuitConditions(t_stop_s=float("inf"))
    with pytest.raises(ParameterError, match="direction"):
        WriteCircuit(CircuitConditions(rail_v={"p2ap": 0.7, "ap2p": 0.7})).rail_v("sideways")


def test_unreachable_amplitude_is_a_clear_error():
    c = WriteCircuit(CircuitConditions(v_over_vc=3.5))
    with pytest.raises(ParameterError, match="out of reach for ap2p"):
        c.rail_v("ap2p")


def test_pulse_length_must_be_positive_and_finite(circuit):
    for bad in (0.0, -1e-9, float("nan"), float("inf")):
        with pytest.raises(ParameterError, match="pulse length"):
            circuit.stochastic_write("p2ap", bad, (1.0, 1.0))


def test_missing_netlist_and_model_card(tmp_path):
    with pytest.raises(DataError, match="netlist"):
        WriteCircuit(CircuitConditions(netlist=tmp_path / "nope.cir"))
    with pytest.raises(DataError, match="no_such_card.pm"):
        WriteCircuit(CircuitConditions(model_card="no_such_card.pm"))
    with pytest.raises(DataError, match="model card"):
        WriteCircuit(CircuitConditions(model_card=tmp_path / "gone.pm"))


def test_netlist_ngspice_rejects(tmp_path):
    text = paths.netlist("write_driver.cir").read_text()
    assert "Cwl wl 0 {c_wl}" in text
    text = text.replace("Cwl wl 0 {c_wl}", "Cwl wl 0 {c_wl}\nQbogus a b c no_such_bjt_model")
    bad = tmp_path / "bad.cir"
    bad.write_text(text.replace("../spice_models/", str(paths.resource_dir("spice_models")) + "/"))
    with pytest.raises(SimulatorError, match="rejected the netlist"):
        WriteCircuit(CircuitConditions(netlist=bad, rail_v={"p2ap": 0.7, "ap2p": 0.7}))


def test_non_convergence_is_reported_with_its_reason():
    pathological = {"reltol": "1e-12", "abstol": "1e-30", "vntol": "1e-20", "chgtol": "1e-30"}
    c = WriteCircuit(CircuitConditions(rail_v={"p2ap": 0.73, "ap2p": 0.67}, spice_options=pathological))
    with pytest.raises(SimulatorError, match="(?i)did not converge.*timestep too small"):
        c.run("p2ap", t_after_s=2e-9)
    # the session is usable afterwards
    ok = WriteCircuit(CircuitConditions(rail_v={"p2ap": 0.73, "ap2p": 0.67}))
    assert ok.run("p2ap", t_after_s=2e-9).relaxation is None


def test_deck_swaps_the_model_card():
    card = paths.spice_model("ptm_22nm_LP.pm")
    deck = build_deck(paths.netlist("write_driver.cir"), card)
    assert str(card) in deck and "ptm_32nm_LP.pm" not in deck
    assert str(paths.spice_model("mtj.lib")) in deck
