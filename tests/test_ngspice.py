"""The ngspice engine: library discovery, loading, alterparam runs, error paths."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pyspice_mram.circuit import ngspice
from pyspice_mram.errors import SimulatorError
from pyspice_mram.circuit.ngspice import NgSpice, _vector_key, find_library, format_value

RC_DECK = """* RC step response
.param rval=1k cval=1p
V1 in 0 PWL(0 0 1p 1)
R1 in out {rval}
C1 out 0 {cval}
.end
"""


@pytest.fixture(scope="module")
def engine() -> NgSpice:
    return NgSpice.session()


def test_library_is_found():
    assert "ngspice" in find_library()


def test_missing_library_is_one_line_with_install_command(monkeypatch):
    monkeypatch.setenv("PYSPICE_MRAM_NGSPICE_LIBRARY", "/nonexistent/libngspice.so.0")
    with pytest.raises(SimulatorError, match="apt-get install ngspice libngspice0") as info:
        find_library()
    assert "\n" not in str(info.value)
    monkeypatch.delenv("PYSPICE_MRAM_NGSPICE_LIBRARY")
    monkeypatch.delenv("NGSPICE_LIBRARY_PATH", raising=False)
    monkeypatch.setattr(ngspice, "KNOWN_LIBRARY_FILES", ())
    monkeypatch.setattr(ngspice, "KNOWN_LIBRARY_NAMES", ("libnothing-here.so",))
    monkeypatch.setattr(ngspice.ctypes.util, "find_library", lambda name: None)
    with pytest.raises(SimulatorError, match="apt-get install ngspice libngspice0"):
        find_library()


def test_session_is_one_per_process(engine):
    assert NgSpice.session() is engine


def test_rc_transient_matches_analytic_and_alterparam_changes_it(engine):
    engine.load(RC_DECK)
    res = engine.transient(1e-12, 5e-9, 10e-12, ["v(out)", "i(v1)"], params={"rval": 1e3, "cval": 1e-12})
    assert isinstance(res.time_s, np.ndarray) and isinstance(res["v(out)"], np.ndarray)
    t = res.time_s
    expected = 1 - np.exp(-np.maximum(t - 1e-12, 0) / 1e-9)
    assert np.max(np.abs(res["v(out)"] - expected)) < 5e-3
    # a new time constant through alterparam + reset, the deck is not reloaded
    deck_before = engine.deck
    res2 = engine.transient(1e-12, 5e-9, 10e-12, ["v(out)"], params={"rval": 2e3})
    assert engine.deck is deck_before
    v_at_tau = np.interp(2e-9 + 1e-12, res2.time_s, res2["v(out)"])
    assert v_at_tau == pytest.approx(1 - math.exp(-1), abs=5e-3)


def test_same_deck_is_not_reloaded(engine):
    engine.load(RC_DECK)
    deck = engine.deck
    engine.load(RC_DECK)
    assert engine.deck is deck


def test_rejected_netlist_reports_ngspice_message(engine):
    bad = "* bad\nR1 a 0 1k\nM1 a a 0 0 no_such_model w=1u l=1u\n.end\n"
    with pytest.raises(SimulatorError, match="(?i)rejected the netlist.*(no_such_model|model|unknown)"):
        engine.load(bad)


def test_unknown_parameter_is_reported(engine):
    engine.load(RC_DECK)
    with pytest.raises(SimulatorError):
        engine.transient(1e-12, 1e-9, 10e-12, ["v(out)"], params={"no_such_param": 1.0})


def test_singular_circuit_is_reported_with_reason_not_hang(engine):
    # a current source into a capacitor has no DC path: the operating point is singular
    deck = "* no dc path\nI1 0 a 1m\nC1 a 0 1p\nR1 b 0 1k\nV1 b 0 1\n.end\n"
    engine.load(deck)
    with pytest.raises(SimulatorError, match="(?i)did not converge.*(singular|timestep|failed)"):
        engine.transient(1e-12, 1e-9, 10e-12, ["v(a)"])


def test_engine_recovers_after_a_failure(engine):
    engine.load(RC_DECK)
    res = engine.transient(1e-12, 2e-9, 10e-12, ["v(out)"], params={"rval": 1e3, "cval": 1e-12})
    assert res["v(out)"][-1] > 0.8


def test_missing_vector_and_bad_step(engine):
    engine.load(RC_DECK)
    with pytest.raises(SimulatorError, match="no vector"):
        engine.transient(1e-12, 1e-9, 10e-12, ["v(nowhere)"])
    with pytest.raises(SimulatorError, match="stop time"):
        engine.transient(1e-12, -1.0, 10e-12, ["v(out)"])
    with pytest.raises(SimulatorError, match="non-finite"):
        format_value(float("nan"))


def test_vector_names():
    assert _vector_key("v(BL)") == "bl"
    assert _vector_key("i(Vwr)") == "vwr#branch"
    assert _vector_key("time") == "time"
