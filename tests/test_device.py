import math

import numpy as np
import pytest

from pyspice_mram import PAPER_DEVICE, MTJParameters, ParameterError
from pyspice_mram.device.parameters import STATE_AP, STATE_P


def test_paper_resistances():
    assert PAPER_DEVICE.r_p_ohm == pytest.approx(4974, abs=10)
    assert PAPER_DEVICE.r_ap_ohm(0.0) == pytest.approx(12.43e3, rel=0.005)
    assert PAPER_DEVICE.r_ap_ohm(0.381) == pytest.approx(9.69e3, rel=0.01)
    assert PAPER_DEVICE.tmr_half_bias_v == 0.5


def test_critical_current_is_vc_over_rp():
    assert PAPER_DEVICE.critical_current_a == pytest.approx(38e-6, rel=0.01)
    assert PAPER_DEVICE.critical_current_a * PAPER_DEVICE.r_p_ohm == pytest.approx(0.190)


def test_critical_current_is_the_free_layers_vc_tracks_ra():
    """Ic0 = Jc0 x area (free layer); Vc = Ic0 R_P = Jc0 RA rises with RA and ignores the diameter."""
    high_ra = PAPER_DEVICE.with_changes(ra_ohm_m2=8e-12)
    assert high_ra.critical_current_a == pytest.approx(PAPER_DEVICE.critical_current_a, rel=1e-12)
    assert high_ra.critical_voltage_v == pytest.approx(2 * 0.190, rel=1e-12)
    big = PAPER_DEVICE.with_changes(diameter_m=45e-9)
    assert big.r_p_ohm == pytest.approx(2515, abs=1)
    assert big.critical_current_a == pytest.approx(PAPER_DEVICE.critical_current_a * (45 / 32) ** 2, rel=1e-12)
    assert big.critical_voltage_v == pytest.approx(0.190, rel=1e-12)
    assert PAPER_DEVICE.critical_current_density_a_per_m2 == pytest.approx(4.75e10)


def test_a_device_given_by_its_vc_keeps_it():
    d = MTJParameters.from_critical_voltage(0.25, diameter_m=40e-9, ra_ohm_m2=6e-12)
    assert d.critical_voltage_v == pytest.approx(0.25, rel=1e-12) and d.diameter_m == 40e-9
    assert PAPER_DEVICE.with_changes(ra_ohm_m2=5e-12, critical_voltage_v=0.2).critical_voltage_v == pytest.approx(0.2)
    assert PAPER_DEVICE.with_changes(critical_current_a=50e-6).critical_current_a == pytest.approx(50e-6)
    with pytest.raises(ParameterError, match="only one"):
        PAPER_DEVICE.with_changes(critical_voltage_v=0.2, critical_current_a=50e-6)
    with pytest.raises(ParameterError, match="critical_voltage_v"):
        PAPER_DEVICE.with_changes(critical_voltage_v=-0.2)


def test_tmr_falls_with_bias_and_is_even():
    v = np.linspace(-0.6, 0.6, 21)
    tmr = PAPER_DEVICE.tmr(v)
    assert np.allclose(tmr, tmr[::-1])
    assert tmr.max() == pytest.approx(1.5)
    assert np.all(np.diff(tmr[10:]) < 0)


def test_current_is_odd_and_ap_conducts_less():
    v = np.linspace(-0.6, 0.6, 21)
    for state in (STATE_P, STATE_AP):
        i = PAPER_DEVICE.current_a(v, state)
        assert np.allclose(i, -i[::-1])
    nonzero = v != 0
    assert np.all(np.abs(PAPER_DEVICE.current_a(v, STATE_AP))[nonzero] < np.abs(PAPER_DEVICE.current_a(v, STATE_P))[nonzero])


@pytest.mark.parametrize(
    "field, value",
    [("diameter_m", -32e-9), ("tmr0", 0.0), ("thermal_stability", -1.0), ("ra_ohm_m2", math.nan),
     ("critical_current_density_a_per_m2", math.inf)],
)
def test_invalid_parameters_name_the_field(field, value):
    with pytest.raises(ParameterError, match=field):
        MTJParameters(**{field: value})


def test_with_changes_validates_and_rejects_unknown():
    assert PAPER_DEVICE.with_changes(ra_ohm_m2=4.2e-12).r_p_ohm == pytest.approx(PAPER_DEVICE.r_p_ohm * 1.05)
    with pytest.raises(ParameterError, match="unknown"):
        PAPER_DEVICE.with_changes(radius=1.0)
    with pytest.raises(ParameterError, match="tmr0"):
        PAPER_DEVICE.with_changes(tmr0=-1.0)


def test_bad_state_is_refused():
    with pytest.raises(ParameterError, match="state"):
        PAPER_DEVICE.resistance_ohm(0.1, 2)
