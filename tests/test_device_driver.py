"""The device and the driver reach SPICE: every field moves the simulated result, or is refused."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from pyspice_mram import paths
from pyspice_mram.circuit.driver import DEFAULT_DRIVER, SPICE_PARAMS, DriverParameters
from pyspice_mram.circuit.write_circuit import (
    CircuitConditions,
    CircuitSample,
    WriteCircuit,
    top_level_params,
    _spice_number,
)
from pyspice_mram.device.calibration import default_switching_law
from pyspice_mram.device.parameters import PAPER_DEVICE, STATE_AP
from pyspice_mram.errors import DataError, ParameterError

RAILS = {"p2ap": 0.73, "ap2p": 0.67}  # fixed rails: a field's effect is seen at the same rail


def _netlist_copy(tmp_path, edit=lambda text: text, name="edited.cir"):
    """The shipped netlist with absolute includes (so it runs from tmp_path) after `edit`."""
    text = paths.netlist("write_driver.cir").read_text()
    text = text.replace("../spice_models/", str(paths.resource_dir("spice_models")) + "/")
    path = tmp_path / name
    path.write_text(edit(text))
    return path


def _v_mtj(circuit: WriteCircuit, direction: str = "p2ap", state0: int | None = None) -> float:
    """|V_MTJ| 1 ns after the pulse edge (frozen MTJ), at the circuit's (fixed) rail."""
    res = circuit.run(direction, state0=state0, t_after_s=1e-9, typical=True)
    return float(abs(circuit.mtj_voltage(res)[-1]))


def _energy(circuit: WriteCircuit, direction: str = "p2ap") -> float:
    res = circuit.run(direction, t_after_s=2e-9, typical=True)
    _, e = circuit.cumulative_energy(res, direction, circuit.conditions.t_start_s)
    return float(e.sum(axis=0)[-1])


def test_driver_defaults_are_the_netlists():
    params = top_level_params(paths.netlist("write_driver.cir").read_text())
    for name, value in DEFAULT_DRIVER.spice_params().items():
        assert _spice_number(params[name]) == pytest.approx(value, rel=1e-12), name
    for name in ("mtj_diameter", "mtj_ra", "mtj_tmr0", "mtj_vh", "mtj_vc"):
        assert name in params


@pytest.mark.parametrize("field, factor", [
    ("diameter_m", 1.4), ("ra_ohm_m2", 1.5), ("tmr0", 0.5), ("tmr_half_bias_v", 0.5),
])
def test_each_device_field_moves_v_mtj_in_spice(field, factor):
    base = WriteCircuit(CircuitConditions(rail_v=RAILS))
    device = PAPER_DEVICE.with_changes(**{field: getattr(PAPER_DEVICE, field) * factor})
    changed = WriteCircuit(CircuitConditions(rail_v=RAILS, device=device))
    state = STATE_AP if field.startswith("tmr") else None  # TMR acts on the AP state only
    assert abs(_v_mtj(changed, state0=state) - _v_mtj(base, state0=state)) > 5e-3
    assert _v_mtj(WriteCircuit(CircuitConditions(rail_v=RAILS)), state0=state) == pytest.approx(_v_mtj(base, state0=state), abs=1e-9)


def test_a_45nm_device_has_its_resistance_in_spice():
    """R_P = 2515 Ohm read from the simulated branch current, not from Python."""
    device = PAPER_DEVICE.with_changes(diameter_m=45e-9)
    c = WriteCircuit(CircuitConditions(rail_v=RAILS, device=device))
    res = c.run("p2ap", t_after_s=1e-9, typical=True, vectors=("v(bl)", "v(mid)", "i(vwr)"))
    v = c.mtj_voltage(res)[-1]
    # at steady state the rail current is the MTJ current (predriver/WL currents are on other supplies)
    assert v / -res["i(vwr)"][-1] == pytest.approx(2515, rel=0.01)


@pytest.mark.parametrize("field, factor", [
    ("leg_pmos_width_m", 0.4), ("leg_length_m", 2.0), ("access_width_m", 0.4),
    ("access_length_m", 2.0), ("bl_resistance_ohm", 20.0), ("sl_resistance_ohm", 20.0),
])
def test_each_driver_field_moves_v_mtj_in_spice(field, factor):
    base = WriteCircuit(CircuitConditions(rail_v=RAILS))
    driver = DEFAULT_DRIVER.with_changes(**{field: getattr(DEFAULT_DRIVER, field) * factor})
    changed = WriteCircuit(CircuitConditions(rail_v=RAILS, driver=driver))
    assert _v_mtj(changed) < _v_mtj(base) - 5e-3


def test_the_nmos_leg_and_the_word_line_move_the_ap2p_write():
    base = WriteCircuit(CircuitConditions(rail_v=RAILS))
    weak_n = WriteCircuit(CircuitConditions(rail_v=RAILS, driver=DEFAULT_DRIVER.with_changes(leg_nmos_width_m=0.2e-6)))
    low_wl = WriteCircuit(CircuitConditions(rail_v=RAILS, driver=DEFAULT_DRIVER.with_changes(word_line_v=1.0)))
    assert _v_mtj(weak_n, "ap2p") < _v_mtj(base, "ap2p") - 5e-3
    assert _v_mtj(low_wl, "ap2p") < _v_mtj(base, "ap2p") - 5e-3
    assert low_wl.supply_voltages("ap2p")["vwl"] == pytest.approx(1.0)


@pytest.mark.parametrize("field, direction", [
    ("bl_capacitance_f", "p2ap"), ("sl_capacitance_f", "ap2p"), ("wl_capacitance_f", "p2ap"),
])
def test_each_capacitance_moves_the_energy_in_spice(field, direction):
    """The line the driver raises in this direction is charged from a supply: more C, more energy."""
    base = WriteCircuit(CircuitConditions(rail_v=RAILS))
    driver = DEFAULT_DRIVER.with_changes(**{field: getattr(DEFAULT_DRIVER, field) + 50e-15})
    changed = WriteCircuit(CircuitConditions(rail_v=RAILS, driver=driver))
    assert _energy(changed, direction) > _energy(base, direction) + 3e-15


def test_transistor_sizes_follow_the_driver():
    driver = DEFAULT_DRIVER.with_changes(leg_pmos_width_m=2.4e-6, access_width_m=0.7e-6, access_length_m=40e-9)
    table = {t.name: t for t in WriteCircuit(CircuitConditions(rail_v=RAILS, driver=driver)).transistors}
    assert table["mp_bl"].w_m == pytest.approx(2.4e-6) and table["mp_sl"].w_m == pytest.approx(2.4e-6)
    assert table["mn_acc"].w_m == pytest.approx(0.7e-6) and table["mn_acc"].l_m == pytest.approx(40e-9)
    assert table["mn_bl"].w_m == pytest.approx(0.8e-6)


def test_critical_current_density_sets_the_spice_switching_time():
    """A stochastic write of 1.3 mu: switches with the nominal Jc0, not with 1.2 x Jc0 (overdrive 1.67)."""
    base = WriteCircuit(CircuitConditions(rail_v=RAILS))
    t = 1.3 * base.law.mean_time_s(2.0)
    rail = base.rail_v("p2ap")
    device = PAPER_DEVICE.with_changes(critical_current_density_a_per_m2=1.2 * PAPER_DEVICE.critical_current_density_a_per_m2)
    high = WriteCircuit(CircuitConditions(rail_v={"p2ap": rail, "ap2p": 0.67}, device=device))
    assert base.stochastic_write("p2ap", t, (1.0, 1.0))[0]
    assert not high.stochastic_write("p2ap", t, (1.0, 1.0))[0]


def test_delta_reaches_the_spice_rate_table(tmp_path):
    """The deck's MTJ rate comes from the circuit's law: a lower barrier switches faster below Vc."""
    netlist = _netlist_copy(tmp_path, lambda s: s.replace(".save v(bl)", ".save v(xmtj.rate) v(bl)"))
    rates = []
    for delta in (70.0, 40.0):
        c = WriteCircuit(CircuitConditions(netlist=netlist, rail_v={"p2ap": 0.3, "ap2p": 0.3},
                                           device=PAPER_DEVICE.with_changes(thermal_stability=delta)))
        res = c.run("p2ap", t_after_s=1e-9, typical=True, vectors=("v(bl)", "v(mid)", "v(xmtj.rate)"))
        v = float(c.mtj_voltage(res)[-1])
        assert v / PAPER_DEVICE.critical_voltage_v < 0.85  # thermal regime, where Delta matters
        rates.append(float(res["v(xmtj.rate)"][-1]))
        assert rates[-1] == pytest.approx(float(c.law.rate_per_s(v)), rel=0.01)
    assert rates[1] > 100 * rates[0]


def test_a_higher_ra_sample_switches_slower_at_the_same_rail():
    """Ic0 is the free layer's: at a fixed rail a +10 % RA cell gets more voltage but needs more still."""
    c = WriteCircuit(CircuitConditions(rail_v=RAILS))
    nominal = c.frozen_write("p2ap").progress[-1]
    high_ra = c.frozen_write("p2ap", CircuitSample(ra_scale=1.1)).progress[-1]
    assert high_ra < 0.97 * nominal
    # holding Vc instead (jc0_scale = 1 / ra_scale) gives the divider-only, faster result
    fixed_vc = c.frozen_write("p2ap", CircuitSample(ra_scale=1.1, jc0_scale=1 / 1.1)).progress[-1]
    assert fixed_vc > nominal
    assert c.device_params(CircuitSample(ra_scale=1.1))["mtj_vc"] == pytest.approx(1.1 * 0.190)


def test_a_netlist_that_cannot_honour_a_field_is_refused(tmp_path):
    netlist = _netlist_copy(tmp_path, lambda s: s.replace("w_acc=0.5u l_acc=32n", "l_acc=32n").replace("w={w_acc}", "w=0.5u"))
    with pytest.raises(DataError, match=r"w_acc \(driver access_width_m\)"):
        WriteCircuit(CircuitConditions(netlist=netlist, rail_v=RAILS))
    netlist = _netlist_copy(tmp_path, lambda s: s.replace(" mtj_vh=0.5", "").replace(" vh={mtj_vh}", ""), "no_vh.cir")
    with pytest.raises(DataError, match=r"mtj_vh \(device\)"):
        WriteCircuit(CircuitConditions(netlist=netlist, rail_v=RAILS))


def test_a_law_for_another_device_is_refused():
    with pytest.raises(ParameterError, match="law's device"):
        WriteCircuit(CircuitConditions(rail_v=RAILS), law=default_switching_law(PAPER_DEVICE.with_changes(diameter_m=45e-9)))


def test_driver_validation_and_resize_rule():
    with pytest.raises(ParameterError, match="access_width_m"):
        DriverParameters(access_width_m=0.0)
    with pytest.raises(ParameterError, match="leg_length_m"):
        DriverParameters(leg_length_m=10e-9)
    with pytest.raises(ParameterError, match="unknown driver"):
        DEFAULT_DRIVER.with_changes(gate_width=1.0)
    big = DEFAULT_DRIVER.scaled_for_current(2.0)
    assert big.leg_pmos_width_m == pytest.approx(3.2e-6) and big.access_width_m == pytest.approx(1.0e-6)
    assert big.leg_length_m == DEFAULT_DRIVER.leg_length_m and big.word_line_v == DEFAULT_DRIVER.word_line_v
    assert set(SPICE_PARAMS) == {f.name for f in dataclasses.fields(DriverParameters)}


# --- sweeps: [device] / [driver] sections, provenance, table columns, limits at the first sample -----
def _sweep_config(**sections):
    from pyspice_mram.sweeps.config import validate

    base = {"sweep": {"simulator": "analytic", "seed": 3, "n_samples": 6, "chunk_size": 7},
            "circuit": {"time_step_s": 100e-12}, "table": {"targets": [1e-6, 1e-2, 0.5]}}
    for name, keys in sections.items():
        base.setdefault(name, {}).update(keys)
    return validate(base)


def test_device_and_driver_sections_are_validated():
    from pyspice_mram.errors import ConfigError
    from pyspice_mram.sweeps.config import config_device, config_driver

    cfg = _sweep_config(device={"diameter_m": 45e-9, "critical_voltage_v": 0.2}, driver={"resize_for_current": True})
    d = config_device(cfg)
    assert d.diameter_m == 45e-9 and d.critical_voltage_v == pytest.approx(0.2)
    ratio = d.critical_current_a / PAPER_DEVICE.critical_current_a
    assert config_driver(cfg).leg_pmos_width_m == pytest.approx(1.6e-6 * ratio)
    with pytest.raises(ConfigError, match="not both"):
        _sweep_config(device={"critical_voltage_v": 0.2, "critical_current_density_a_per_m2": 5e10})
    with pytest.raises(ConfigError, match="device.diameter_m"):
        _sweep_config(device={"diameter_m": 1.0})
    with pytest.raises(ConfigError, match="unknown key driver.gate_width"):
        _sweep_config(driver={"gate_width": 1e-6})
    with pytest.raises(ConfigError, match="critical_held_fixed"):
        _sweep_config(variability={"critical_voltage": "fixed"})
    assert _sweep_config().sample_hash != cfg.sample_hash


def test_a_sweep_records_its_device_in_provenance_and_columns(tmp_path):
    from pyspice_mram.sweeps.runner import run_sweep
    from pyspice_mram.sweeps.tables import build_table

    cfg = _sweep_config(device={"diameter_m": 45e-9, "thermal_stability": 60.0})
    run_sweep(cfg, tmp_path / "run", progress=False)
    df = build_table(tmp_path / "run")
    assert np.allclose(df["device_diameter_m"], 45e-9) and np.allclose(df["device_delta"], 60.0)
    assert np.allclose(df["device_vc_v"], 0.190) and np.allclose(df["device_ic0_a"], 4.75e10 * np.pi * (45e-9) ** 2 / 4)
    assert df.attrs["provenance"]["config"]["device"]["diameter_m"] == 45e-9
    assert df.attrs["provenance"]["config"]["driver"]["leg_pmos_width_m"] == pytest.approx(1.6e-6)


def test_the_spice_cell_takes_the_configs_device_and_driver():
    from pyspice_mram.sweeps.runner import SpiceCell

    cfg = _sweep_config(sweep={"simulator": "spice"}, device={"diameter_m": 34e-9}, driver={"access_width_m": 0.6e-6})
    cell = SpiceCell(cfg, cfg.corners[0])
    assert cell.conditions.device.diameter_m == 34e-9
    assert dict((t[0], t[2]) for t in cell.transistors)["mn_acc"] == pytest.approx(0.6e-6)
    resized = _sweep_config(sweep={"simulator": "spice"}, device={"diameter_m": 40e-9}, driver={"resize_for_current": True})
    widths = dict((t[0], t[2]) for t in SpiceCell(resized, resized.corners[0]).transistors)
    assert widths["mn_acc"] == pytest.approx(0.5e-6 * (40 / 32) ** 2) and widths["mp_sl"] == pytest.approx(1.6e-6 * (40 / 32) ** 2)


@pytest.mark.parametrize("sections, direction", [
    ({"device": {"diameter_m": 100e-9}}, "p2ap"),  # a large MTJ: the default driver cannot deliver its current
    ({"circuit": {"v_over_vc": 3.5}, "sweep": {"directions": ["ap2p"]}}, "ap2p"),  # a high amplitude
])
def test_an_unreachable_amplitude_stops_the_sweep_at_its_first_sample(tmp_path, sections, direction):
    from pyspice_mram.sweeps.runner import run_sweep

    sections = {**sections, "sweep": {"simulator": "spice", "n_samples": 200, "chunk_size": 50, **sections.get("sweep", {})}}
    cfg = _sweep_config(**sections)
    # the limit itself (a ParameterError naming the current), not "every sample of the first chunk failed"
    with pytest.raises(ParameterError, match=rf"out of reach for {direction}.*uA of the .* uA needed.*widen"):
        run_sweep(cfg, tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


# --- the CLI -----------------------------------------------------------------------------------------
def _cli_json(capsys, *args):
    from pyspice_mram.cli import main

    assert main(list(args)) == 0
    return __import__("json").loads(capsys.readouterr().out)


def test_device_cli_takes_the_device(capsys, tmp_path):
    out = _cli_json(capsys, "device", "--diameter", "45e-9", "--ra", "6e-12", "--json")
    assert out["r_p_ohm"] == pytest.approx(6e-12 / (np.pi * 45e-9**2 / 4))
    assert out["vc_v"] == pytest.approx(0.285) and out["device"]["diameter_m"] == 45e-9
    path = tmp_path / "dev.toml"
    path.write_text("[device]\ndiameter_m = 45e-9\ncritical_voltage_v = 0.25\n")
    out = _cli_json(capsys, "device", "--device", str(path), "--ra", "5e-12", "--json")  # a single option overrides
    assert out["vc_v"] == pytest.approx(0.25) and out["device"]["ra_ohm_m2"] == 5e-12


@pytest.mark.parametrize("args, message", [
    (["device", "--diameter", "-1"], "device.diameter_m"),
    (["device", "--vc", "0.2", "--jc0", "5e10"], "not both"),
    (["write", "--device", "no_such_device.toml"], "does not exist"),
])
def test_device_cli_errors_are_one_line(capsys, args, message):
    from pyspice_mram.cli import main

    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err


def test_write_cli_45nm_device_reaches_spice(capsys):
    big = _cli_json(capsys, "write", "--diameter", "45e-9", "--direction", "p2ap", "--targets", "1e-10", "--json")
    paper = _cli_json(capsys, "write", "--direction", "p2ap", "--targets", "1e-10", "--json")
    assert big["spice_resistance_ohm"]["p2ap"] == pytest.approx(2515, rel=0.005)
    assert paper["spice_resistance_ohm"]["p2ap"] == pytest.approx(4974, rel=0.005)
    ratio = big["targets"][0]["energy_j"] / paper["targets"][0]["energy_j"]
    assert 2.0 < ratio < 2.6  # ~(45/32)^2 more current at the same Vc, plus the driver


def test_write_cli_resized_driver_writes_both_directions(capsys, tmp_path):
    from pyspice_mram.cli import main

    assert main(["write", "--diameter", "45e-9", "--targets", "1e-10"]) == 2  # the shipped driver cannot do AP->P
    assert "out of reach for ap2p" in capsys.readouterr().err
    out = _cli_json(capsys, "write", "--diameter", "45e-9", "--resize-driver", "--targets", "1e-10", "--json")
    assert out["driver"]["access_width_m"] == pytest.approx(0.5e-6 * (45 / 32) ** 2)
    assert set(out["rails_v"]) == {"p2ap", "ap2p"}


def test_delta_follows_the_volume_from_the_material():
    from pyspice_mram.device.parameters import MTJParameters
    from pyspice_mram.errors import ConfigError
    from pyspice_mram.sweeps.config import config_device

    k_eff = PAPER_DEVICE.anisotropy_energy_j_per_m3
    assert MTJParameters.from_materials(anisotropy_energy_j_per_m3=k_eff).thermal_stability == pytest.approx(70.0)
    big = MTJParameters.from_materials(anisotropy_energy_j_per_m3=k_eff, diameter_m=45e-9)
    assert big.thermal_stability == pytest.approx(70.0 * (45 / 32) ** 2)
    thick = MTJParameters.from_materials(anisotropy_field_a_per_m=PAPER_DEVICE.anisotropy_field_a_per_m, free_layer_thickness_m=2.6e-9)
    assert thick.thermal_stability == pytest.approx(140.0)
    assert big.critical_voltage_v == pytest.approx(0.190)  # Jc0 is a material value: Vc = Jc0 RA stays
    with pytest.raises(ParameterError, match="one of"):
        MTJParameters.from_materials()
    with pytest.raises(ParameterError, match="follows from the material"):
        MTJParameters.from_materials(anisotropy_energy_j_per_m3=k_eff, thermal_stability=60.0)
    cfg = _sweep_config(device={"diameter_m": 20e-9, "anisotropy_energy_j_per_m3": k_eff})
    assert config_device(cfg).thermal_stability == pytest.approx(70.0 * (20 / 32) ** 2)
    assert config_device(_sweep_config()) == PAPER_DEVICE
    with pytest.raises(ConfigError, match="follows from the material"):
        _sweep_config(device={"thermal_stability": 60.0, "anisotropy_field_a_per_m": 3e5})


# --- design space ------------------------------------------------------------------------------------
def test_amplitude_design_space_envelope_and_resume(tmp_path):
    from pyspice_mram.sweeps.designspace import (
        REFERENCE_AMPLITUDE, amplitude_envelope, amplitude_points, run_design_space, stop_time_for, write_summary,
    )

    cfg = _sweep_config(sweep={"n_samples": 5, "chunk_size": 6})
    points = amplitude_points(cfg, (1.5, 2.0, 3.0))
    assert points[0].changes["circuit"]["stop_time_s"] == pytest.approx(2 * cfg["circuit"]["stop_time_s"])
    assert stop_time_for(3.0, 40e-9) == 40e-9
    done = run_design_space(cfg, tmp_path / "ds", points, targets=(1e-6, 1e-2), progress=False)
    assert [p.status for p in done] == ["ok"] * 3
    env = amplitude_envelope(done, (1e-6, 1e-2))
    assert {(r["scenario"], r["ber"]) for r in env} == {(s, b) for s in ("nominal", "variability") for b in (1e-6, 1e-2)}
    for r in env:
        same = [row["energy_j"] for p in done for row in p.rows if row["scenario"] == r["scenario"] and row["ber"] == r["ber"]]
        assert r["energy_j"] == pytest.approx(min(same)) and len(same) == 3
        ref = [row["energy_j"] for p in done if p.changes["circuit"]["v_over_vc"] == REFERENCE_AMPLITUDE
               for row in p.rows if row["scenario"] == r["scenario"] and row["ber"] == r["ber"]][0]
        assert r["saving_vs_reference"] == pytest.approx(1 - r["energy_j"] / ref) and r["saving_vs_reference"] >= 0
        if r["scenario"] == "nominal":
            assert r["saving_se"] == 0.0  # no samples, no sampling error
        else:
            assert 0 < r["t_pulse_rel_se"] < 0.2 and (r["saving_se"] > 0 or r["v_over_vc"] == REFERENCE_AMPLITUDE)
    # a lower amplitude needs a longer pulse for the same BER
    t = {p.changes["circuit"]["v_over_vc"]: [row["t_pulse_s"] for row in p.rows if row["scenario"] == "nominal"][0] for p in done}
    assert t[1.5] > t[2.0] > t[3.0]
    summary = write_summary(tmp_path / "ds", "amplitude", done, env)
    assert (tmp_path / "ds" / "designspace.json").is_file() and summary["envelope"] == env
    again = run_design_space(cfg, tmp_path / "ds", amplitude_points(cfg, (1.5, 2.0, 3.0)), targets=(1e-6, 1e-2),
                             resume=True, progress=False)  # finished points are reused, not refused
    assert [p.rows for p in again] == [p.rows for p in done]
    with pytest.raises(Exception, match="reference"):
        amplitude_points(cfg, (1.5, 3.0))


def test_an_out_of_reach_design_point_is_recorded_with_its_limit(tmp_path):
    from pyspice_mram.sweeps.designspace import amplitude_points, run_design_space

    cfg = _sweep_config(sweep={"simulator": "spice", "n_samples": 5, "chunk_size": 6})
    point = [p for p in amplitude_points(cfg, (2.0, 3.5)) if p.label == "v3.5"]
    done = run_design_space(cfg, tmp_path / "ds", point, progress=False)
    assert done[0].status == "out_of_reach" and "out of reach for ap2p" in done[0].reason and not done[0].rows
    assert not (tmp_path / "ds" / "v3.5").exists()


def test_designspace_cli_writes_summary_and_figure(tmp_path, capsys):
    from pyspice_mram.cli import main

    path = tmp_path / "ds.toml"
    path.write_text('[sweep]\nsimulator = "analytic"\nn_samples = 4\nchunk_size = 5\n[circuit]\ntime_step_s = 100e-12\n')
    out = _cli_json(capsys, "designspace", "amplitude", str(path), "--out", str(tmp_path / "a"), "--amplitudes", "1.6,2.0",
                    "--targets", "1e-4,1e-2", "-q", "--json")
    assert (tmp_path / "a" / "amplitude_duration.png").read_bytes()[:4] == b"\x89PNG"
    assert len(out["envelope"]) == 4
    out = _cli_json(capsys, "designspace", "size", str(path), "--out", str(tmp_path / "s"), "--diameters", "30e-9,40e-9",
                    "--targets", "1e-4,1e-2", "-q", "--json")
    rows = {(p["label"], r["scenario"], r["ber"]): r for p in out["points"] for r in p["rows"]}
    assert rows[("d40nm", "nominal", 1e-2)]["energy_j"] > rows[("d30nm", "nominal", 1e-2)]["energy_j"]
    assert rows[("d40nm", "nominal", 1e-2)]["device_ic0_a"] == pytest.approx(4.75e10 * np.pi * 40e-9**2 / 4)
    assert main(["designspace", "amplitude", str(path), "--out", str(tmp_path / "a")]) == 2  # exists, no --resume
