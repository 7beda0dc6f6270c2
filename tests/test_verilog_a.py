"""The Verilog-A twin (`spice_models/mtj.va`): compiled with verilogae (OpenVAF front end), its retrieved
branch current and switching rate are compared with the Python device model and switching law."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest

from pyspice_mram.device.calibration import default_switching_law
from pyspice_mram.device.parameters import PAPER_DEVICE, STATE_AP, STATE_P
from pyspice_mram.device.macromodel import SUBCKT_PARAMETERS, device_parameters, render_mtj_library, render_verilog_a
from pyspice_mram.paths import spice_model

verilogae = pytest.importorskip("verilogae")

BIASES = np.linspace(-0.6, 0.6, 21)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """Compile a private copy (verilogae caches by path and content; a copy keeps the source tree clean)."""
    path = tmp_path_factory.mktemp("va") / "mtj.va"
    shutil.copyfile(spice_model("mtj.va"), path)
    return verilogae.load(str(path))


def _eval(model, name: str, voltages: dict[str, np.ndarray], **params: float) -> np.ndarray:
    """Evaluate a retrieved variable; verilogae wants every parameter, so the module defaults fill in."""
    fun = model.functions[name]
    values = {p: model.modelcard[p].default for p in fun.parameters}
    values.update(params)
    return np.asarray(fun.eval(temperature=300.0, voltages=voltages, **values), dtype=float)


def test_shipped_verilog_a_is_in_sync_with_generator():
    assert spice_model("mtj.va").read_text() == render_verilog_a(), (
        "spice_models/mtj.va is stale: python -m pyspice_mram.device.macromodel --verilog-a > spice_models/mtj.va"
    )


def test_ports_and_parameters_match_the_ngspice_subckt(model):
    assert model.module_name == "mtj_pma"
    assert list(model.nodes)[:3] == ["fl", "pl", "st"]
    assert set(model.modelcard) == set(SUBCKT_PARAMETERS)
    lib = render_mtj_library()
    for key, value in device_parameters(PAPER_DEVICE).items():
        assert model.modelcard[key].default == pytest.approx(value, rel=1e-9)
        assert re.search(rf"\b{key}={value:.9g}\b", lib)


@pytest.mark.parametrize("state", [STATE_P, STATE_AP])
def test_static_current_matches_device_model(model, state):
    assert set(model.functions["i_mtj"].voltages) == {"br_flpl", "br_s"}  # V(fl, pl) and the latch node V(s)
    current = _eval(model, "i_mtj", {"br_flpl": BIASES, "br_s": np.full_like(BIASES, float(state))})
    expected = PAPER_DEVICE.current_a(BIASES, state)
    nz = np.abs(BIASES) > 1e-12
    assert np.max(np.abs(current[nz] / expected[nz] - 1.0)) < 0.005
    assert np.all(current[~nz] == 0.0)


def test_static_current_follows_variability_scales(model):
    scaled = PAPER_DEVICE.with_changes(ra_ohm_m2=PAPER_DEVICE.ra_ohm_m2 * 0.93, tmr0=PAPER_DEVICE.tmr0 * 1.08)
    current = _eval(
        model,
        "i_mtj",
        {"br_flpl": BIASES, "br_s": np.ones_like(BIASES)},
        ra_scale=0.93,
        tmr_scale=1.08,
    )
    nz = np.abs(BIASES) > 1e-12
    np.testing.assert_allclose(current[nz], scaled.current_a(BIASES[nz], STATE_AP), rtol=1e-6)


def test_switching_rate_matches_law(model):
    law = default_switching_law()
    v = np.linspace(0.05, 2.2, 60) * PAPER_DEVICE.critical_voltage_v
    for sign in (1.0, -1.0):
        rate = _eval(model, "rate", {"br_flpl": sign * v})
        np.testing.assert_allclose(rate, law.rate_per_s(v), rtol=2.5e-4)
    doubled = _eval(model, "rate", {"br_flpl": v}, rate_scale=2.0)
    np.testing.assert_allclose(doubled, 2.0 * law.rate_per_s(v), rtol=2.5e-4)
