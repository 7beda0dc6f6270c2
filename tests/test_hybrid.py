import math

import numpy as np
import pytest

from pyspice_mram import PAPER_DEVICE, ParameterError, default_switching_law
from pyspice_mram.circuit.hybrid import FrozenWrite, gauss_hermite_normal, pulse_for_ber, value_at, write_curve

V_PULSE = 2.0 * PAPER_DEVICE.critical_voltage_v


def constant_voltage_write(p_init_w: float, p_final_w: float, t_stop: float = 40e-9, n: int = 4001) -> FrozenWrite:
    law = default_switching_law()
    t = np.linspace(0.0, t_stop, n)
    q = law.progress(t, np.full_like(t, V_PULSE))
    return FrozenWrite(t, q, (p_init_w * t)[None, :], (p_final_w * t)[None, :], ("vdd",))


def test_p_fail_is_the_gamma_tail_for_constant_voltage():
    law = default_switching_law()
    fw = constant_voltage_write(1e-5, 1e-5)
    curve = write_curve(fw, law.shape_k)
    expected = law.distribution(2.0).sf(fw.time_s)
    mask = expected > 1e-14
    assert np.allclose(curve.p_fail[mask], expected[mask], rtol=1e-6)
    t_ref = pulse_for_ber(fw.time_s, curve.p_fail, 1e-10)
    assert t_ref == pytest.approx(law.distribution(2.0).isf(1e-10), rel=1e-4)


def test_equal_powers_give_energy_proportional_to_pulse_length():
    fw = constant_voltage_write(2e-5, 2e-5)
    curve = write_curve(fw, default_switching_law().shape_k)
    assert np.allclose(curve.energy_j, 2e-5 * fw.time_s, rtol=1e-9, atol=1e-22)


def test_expected_energy_matches_sampled_switching_times():
    """E(T) = E[ P_i min(t_sw, T) + P_f (T - t_sw)^+ ] for constant powers."""
    law = default_switching_law()
    p_i, p_f = 3e-5, 1.5e-5
    fw = constant_voltage_write(p_i, p_f)
    curve = write_curve(fw, law.shape_k)
    t_sw = law.distribution(2.0).rvs(size=400_000, random_state=np.random.default_rng(7))
    for t_pulse in (3e-9, 4.2e-9, 6e-9, 12e-9):
        sampled = np.mean(p_i * np.minimum(t_sw, t_pulse) + p_f * np.maximum(t_pulse - t_sw, 0.0))
        assert value_at(fw.time_s, curve.energy_j, t_pulse) == pytest.approx(sampled, rel=2e-3)


def test_intrinsic_spread_quadrature_matches_sampling():
    law = default_switching_law()
    fw = constant_voltage_write(1e-5, 1e-5)
    sigma = 0.139
    curve = write_curve(fw, law.shape_k, ln_rate_sigma=sigma)
    rng = np.random.default_rng(3)
    scales = np.exp(sigma * rng.standard_normal(20000))
    base = law.distribution(2.0)
    for t_pulse in (5e-9, 7e-9):
        sampled = np.mean([base.sf(t_pulse * s) for s in scales])
        assert value_at(fw.time_s, curve.p_fail, t_pulse) == pytest.approx(sampled, rel=0.02)


@pytest.mark.parametrize("sigma", [0.05, 0.10, 0.15])
def test_spread_lengthens_rare_targets_most_and_matches_an_independent_integral(sigma):
    """A lognormal rate spread lengthens T*(1e-10) more than T*(1e-4), more for a larger spread, and
    T* agrees with an adaptive integral of the gamma tail over the normal (no quadrature nodes shared)."""
    from scipy import integrate, optimize, stats

    law = default_switching_law()
    k = law.shape_k
    fw = constant_voltage_write(1e-5, 1e-5)
    nominal = write_curve(fw, k)
    spread = write_curve(fw, k, ln_rate_sigma=sigma)
    base = law.distribution(2.0)

    def array_ber(t_pulse):
        integrand = lambda z: base.sf(t_pulse * np.exp(sigma * z)) * stats.norm.pdf(z)
        return integrate.quad(integrand, -12, 12, points=[-4, -2, 0], epsabs=0, epsrel=1e-10, limit=200)[0]

    increase = {}
    for ber in (1e-10, 1e-4):
        t_nom = pulse_for_ber(fw.time_s, nominal.p_fail, ber)
        t_var = pulse_for_ber(fw.time_s, spread.p_fail, ber)
        reference = optimize.brentq(lambda t: np.log(array_ber(t)) - np.log(ber), 0.5 * t_nom, 3 * t_nom, xtol=1e-14)
        assert t_var == pytest.approx(reference, abs=2e-12)  # within 2 ps (the curve's time grid)
        increase[ber] = t_var / t_nom - 1
    assert increase[1e-10] > increase[1e-4] > 0
    if sigma > 0.05:
        smaller = write_curve(fw, k, ln_rate_sigma=sigma - 0.05)
        assert pulse_for_ber(fw.time_s, smaller.p_fail, 1e-10) < pulse_for_ber(fw.time_s, spread.p_fail, 1e-10)


def test_gauss_hermite_integrates_normal_moments():
    z, w = gauss_hermite_normal(20)
    assert np.sum(w) == pytest.approx(1.0)
    assert np.sum(w * z**2) == pytest.approx(1.0)
    assert np.sum(w * z**4) == pytest.approx(3.0)


def test_unreachable_targets_are_refused_not_extrapolated():
    law = default_switching_law()
    fw = constant_voltage_write(1e-5, 1e-5, t_stop=10e-9, n=1001)
    curve = write_curve(fw, law.shape_k)
    with pytest.raises(ParameterError, match="lengthen"):
        pulse_for_ber(fw.time_s, curve.p_fail, 1e-10)
    with pytest.raises(ParameterError, match=r"\(0, 1\)"):
        pulse_for_ber(fw.time_s, curve.p_fail, 1.5)


def test_frozen_write_validates_shapes():
    t = np.linspace(0, 1e-9, 11)
    with pytest.raises(ParameterError, match="n_supplies"):
        FrozenWrite(t, np.zeros(11), np.zeros((2, 11)), np.zeros((1, 11)), ("a", "b"))
    with pytest.raises(ParameterError, match="increasing"):
        FrozenWrite(t[::-1], np.zeros(11), np.zeros((1, 11)), np.zeros((1, 11)), ("a",))


@pytest.mark.parametrize("sigma", [0.05, 0.1, 0.2])
def test_24_node_quadrature_error_in_the_pulse_length_is_below_1e_3_ns(sigma):
    """The claim in hybrid.py, against an independent adaptive integration at BER 1e-6 .. 1e-8."""
    from scipy import integrate, optimize

    base = default_switching_law().distribution(2.0)
    z, w = gauss_hermite_normal(24)

    def by_quadrature(t):
        return float(np.sum(w * base.sf(t * np.exp(sigma * z))))

    def by_integration(t):
        f = lambda x: base.sf(t * math.exp(sigma * x)) * math.exp(-x * x / 2) / math.sqrt(2 * math.pi)
        return integrate.quad(f, -12, 12, points=[-6, -4, -2, 0], limit=400, epsabs=0, epsrel=1e-10)[0]

    for target in (1e-6, 1e-7, 1e-8):
        t_gh = optimize.brentq(lambda t: math.log(by_quadrature(t) / target), 2e-9, 60e-9, xtol=1e-16)
        t_int = optimize.brentq(lambda t: math.log(by_integration(t) / target), 2e-9, 60e-9, xtol=1e-16)
        assert abs(t_gh - t_int) < 1e-12, (sigma, target, t_gh - t_int)
