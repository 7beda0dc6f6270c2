"""Seed tree, Pelgrom mismatch, corner signs and MTJ draws; the analytic cell's physics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pyspice_mram.sweeps.analytic_cell import AnalyticCell, AnalyticConditions
from pyspice_mram.device.calibration import default_switching_law
from pyspice_mram.circuit.hybrid import pulse_for_ber, write_curve
from pyspice_mram.sweeps.config import validate
from pyspice_mram.sweeps.variability import (
    SampleDraw, corner_shifts, draw_sample, pelgrom_sigma, sample_seed, speed_sign,
)

TRANSISTORS = [("mp_bl", "p", 1.2e-6, 32e-9), ("mn_bl", "n", 0.8e-6, 32e-9), ("mn_acc", "n", 0.5e-6, 32e-9)]


def variability(**changes):
    return validate({"variability": changes})["variability"]


def test_draws_depend_only_on_seed_and_index():
    v = variability(global_delvto_sigma_v=0.01, global_mobility_sigma=0.03)
    a = draw_sample(v, 7, 12, TRANSISTORS)
    b = draw_sample(v, 7, 12, list(reversed(TRANSISTORS)))  # order of the transistor list does not matter
    _ = draw_sample(v, 7, 3, TRANSISTORS)  # drawing other samples in between changes nothing
    c = draw_sample(v, 7, 12, TRANSISTORS)
    assert a == b == c
    assert draw_sample(v, 7, 13, TRANSISTORS) != a
    assert draw_sample(v, 8, 12, TRANSISTORS) != a
    assert sample_seed(7, 12).spawn_key == (12,)


def test_sample_zero_is_nominal():
    d = draw_sample(variability(global_delvto_sigma_v=0.02), 5, 0, TRANSISTORS)
    assert d.is_nominal and d.ra_scale == d.tmr_scale == d.vc_scale == d.rate_scale == 1.0
    assert set(d.delvto_v.values()) == {0.0} and set(d.mulu0.values()) == {1.0}
    assert set(d.delvto_v) == {"mp_bl", "mn_bl", "mn_acc"}


def test_pelgrom_mismatch_has_the_stated_sigma():
    v = variability(global_delvto_sigma_v=0.0, global_mobility_sigma=0.0)
    draws = [draw_sample(v, 1, i, TRANSISTORS) for i in range(1, 3001)]
    dvt_n = np.array([d.delvto_v["mn_bl"] for d in draws])
    dvt_p = np.array([d.delvto_v["mp_bl"] for d in draws])
    ln_mu = np.log([d.mulu0["mn_acc"] for d in draws])
    expected_n = 1.5e-9 / math.sqrt(0.8e-6 * 32e-9)
    expected_p = 1.3e-9 / math.sqrt(1.2e-6 * 32e-9)
    assert expected_n == pytest.approx(pelgrom_sigma(1.5e-9, 0.8e-6, 32e-9))
    assert expected_n == pytest.approx(9.375e-3, rel=1e-3)  # 1.5 mV.um / sqrt(0.0256 um^2)
    assert dvt_n.std() == pytest.approx(expected_n, rel=0.06)
    assert dvt_p.std() == pytest.approx(expected_p, rel=0.06)
    assert abs(dvt_n.mean()) < 4 * expected_n / math.sqrt(3000)
    assert ln_mu.std() == pytest.approx(1e-8 / math.sqrt(0.5e-6 * 32e-9), rel=0.06)
    # mismatch of different transistors is independent
    assert abs(np.corrcoef(dvt_n, dvt_p)[0, 1]) < 0.08


def test_mismatch_off_keeps_mtj_draws_and_global_shift_is_common():
    on = draw_sample(variability(global_delvto_sigma_v=0.01), 3, 4, TRANSISTORS)
    off = draw_sample(variability(global_delvto_sigma_v=0.01, mismatch=False), 3, 4, TRANSISTORS)
    assert off.ra_scale == on.ra_scale and off.tmr_scale == on.tmr_scale
    assert off.delvto_v["mn_bl"] == off.delvto_v["mn_acc"] == off.global_delvto_v["n"] != 0.0
    assert off.delvto_v["mp_bl"] == off.global_delvto_v["p"]


def test_mtj_draws_lognormal_normal_and_vc_convention():
    v = variability(ra_sigma=0.05, tmr_sigma=0.05)
    draws = [draw_sample(v, 2, i) for i in range(1, 4001)]
    ln_ra = np.log([d.ra_scale for d in draws])
    assert ln_ra.std() == pytest.approx(0.05, rel=0.05)
    # the default holds Ic0 = Jc0 x area fixed (a free-layer property): Vc = Ic0 R_P tracks RA
    assert all(d.vc_scale == d.ra_scale for d in draws)
    fixed_vc = [draw_sample(variability(critical_held_fixed="voltage"), 2, i) for i in range(1, 50)]
    assert all(d.vc_scale == 1.0 for d in fixed_vc)
    normal = np.array([draw_sample(variability(mtj_distribution="normal"), 2, i).tmr_scale for i in range(1, 4001)])
    assert normal.std() == pytest.approx(0.05, rel=0.05) and normal.mean() == pytest.approx(1.0, abs=0.003)


@pytest.mark.parametrize("process, n_speed, p_speed", [("TT", 0, 0), ("FF", 1, 1), ("SS", -1, -1), ("FS", 1, -1), ("SF", -1, 1)])
def test_corner_signs(process, n_speed, p_speed):
    s = corner_shifts(process, 0.04, 0.10)
    assert speed_sign("n", s["n"].delvto_v) == n_speed
    assert speed_sign("p", s["p"].delvto_v) == p_speed
    assert abs(s["n"].delvto_v) == (0.04 if n_speed else 0.0)
    assert s["n"].mobility == pytest.approx(1.0 + 0.1 * n_speed)
    assert s["p"].mobility == pytest.approx(1.0 + 0.1 * p_speed)


def test_pmos_negative_delvto_is_slower():
    assert speed_sign("p", -0.04) == -1 and speed_sign("n", +0.04) == -1
    assert corner_shifts("SS", 0.04, 0.1)["p"].delvto_v < 0 < corner_shifts("SS", 0.04, 0.1)["n"].delvto_v


# --- the analytic cell -------------------------------------------------------------------------------
def test_analytic_cell_nominal_amplitude_and_paper_pulse():
    cell = AnalyticCell(AnalyticConditions(series_resistance_ohm=2500.0))
    law = default_switching_law()
    k = float(law.shape(2.0))
    nominal = SampleDraw(index=0)
    for direction in ("p2ap", "ap2p"):
        frozen = cell.simulate(direction, nominal)
        # V_MTJ at pulse start = 2.0 Vc = 380 mV, so the constant-voltage law gives T(1e-10) = 15.0 ns
        t = pulse_for_ber(frozen.time_s, write_curve(frozen, k).p_fail, 1e-10)
        assert t == pytest.approx(15.0e-9, rel=2e-3)
    # energy: source voltage x current, the AP->P write starts in the high-resistance state
    e_p2ap = cell.simulate("p2ap", nominal).energy_init_j[0, -1]
    e_ap2p = cell.simulate("ap2p", nominal).energy_init_j[0, -1]
    assert 0 < e_ap2p < e_p2ap


def test_analytic_cell_corners_move_the_write_speed():
    def t_star(process, vdd=1.0):
        cell = AnalyticCell(AnalyticConditions(process=process, vdd_scale=vdd))
        f = cell.simulate("p2ap", SampleDraw(index=0))
        return pulse_for_ber(f.time_s, write_curve(f, 14.9).p_fail, 1e-10)

    assert t_star("FF") < t_star("TT") < t_star("SS")
    assert t_star("TT", 1.1) < t_star("TT") < t_star("TT", 0.9)


def test_higher_ra_is_slower_only_when_vc_tracks_ra():
    cell = AnalyticCell(AnalyticConditions())
    base = cell.simulate("p2ap", SampleDraw(index=1)).progress[-1]
    high_ra = cell.simulate("p2ap", SampleDraw(index=1, ra_scale=1.1)).progress[-1]
    tracking = cell.simulate("p2ap", SampleDraw(index=1, ra_scale=1.1, vc_scale=1.1)).progress[-1]
    assert high_ra > base  # fixed Vc: a higher RA takes a larger share of the source voltage
    assert tracking < base  # Ic0 fixed: Vc grows with RA, the overdrive falls
