import numpy as np
import pytest
from scipy import stats

from pyspice_mram import GammaSwitchingTime, ParameterError, PrecessionalThermalSwitching, TabulatedSwitching
from pyspice_mram.device.calibration import default_switching_law


@pytest.fixture(scope="module")
def law():
    return default_switching_law()


def test_gamma_matches_scipy_in_the_body():
    dist = GammaSwitchingTime(shape_k=15.0, mean_s=4e-9)
    ref = stats.gamma(a=15.0, scale=4e-9 / 15.0)
    t = np.linspace(1e-9, 10e-9, 50)
    assert np.allclose(dist.cdf(t), ref.cdf(t))
    assert np.allclose(dist.pdf(t), ref.pdf(t), rtol=1e-10)
    assert dist.mean() == pytest.approx(ref.mean())
    assert dist.std() == pytest.approx(ref.std())
    assert dist.skewness() == pytest.approx(float(ref.stats(moments="s")))


def test_sf_isf_accurate_deep_in_the_tail():
    dist = GammaSwitchingTime(shape_k=15.0, mean_s=4e-9)
    for p in (1e-6, 1e-10, 1e-15, 1e-30):
        assert dist.sf(dist.isf(p)) == pytest.approx(p, rel=1e-8)
    # 1 - cdf would have collapsed to 0 here
    assert 1.0 - dist.cdf(dist.isf(1e-17)) == 0.0
    assert dist.sf(dist.isf(1e-17)) == pytest.approx(1e-17, rel=1e-8)


def test_rvs_follow_the_law():
    dist = GammaSwitchingTime(shape_k=15.0, mean_s=4e-9)
    draws = dist.rvs(size=20000, random_state=np.random.default_rng(1))
    assert stats.kstest(draws, dist.cdf).pvalue > 0.01
    assert np.mean(draws) == pytest.approx(4e-9, rel=0.01)


def test_invalid_distribution_parameters():
    with pytest.raises(ParameterError, match="shape_k"):
        GammaSwitchingTime(0.0, 1e-9)
    with pytest.raises(ParameterError, match="mean_s"):
        GammaSwitchingTime(2.0, -1e-9)
    with pytest.raises(ParameterError, match=r"\[0, 1\]"):
        GammaSwitchingTime(2.0, 1e-9).isf(1.5)


def test_precessional_sun_scaling(law):
    v = np.array([1.5, 2.0, 3.0])
    assert np.allclose(law.mean_time_s(v), law.tau_p_s / (v - 1.0))
    assert np.allclose(law.shape(v), law.shape_k)


def test_thermal_regime_is_neel_brown(law):
    v = np.array([0.3, 0.6, 0.8])
    dev = law.device
    assert np.allclose(law.mean_time_s(v), dev.attempt_time_s * np.exp(dev.thermal_stability * (1 - v)))
    assert np.allclose(law.shape(v), 1.0)


def test_bridge_is_smooth_and_monotone(law):
    v = np.linspace(0.5, 3.0, 5001)
    log_mu = np.log(law.mean_time_s(v))
    slope = np.gradient(log_mu, v)
    assert np.all(np.diff(log_mu) < 0)
    # C1: no jump in slope anywhere (including both bridge ends)
    assert np.max(np.abs(np.diff(slope))) < 0.5
    k = law.shape(v)
    assert np.all(np.diff(k) >= 0) and k[0] == 1.0 and k[-1] == pytest.approx(law.shape_k)


def test_time_varying_progress_equals_constant_law_for_constant_voltage(law):
    t = np.linspace(0.0, 20e-9, 4001)
    v_mtj = np.full_like(t, 2.0 * law.device.critical_voltage_v)
    p_fail = law.p_fail(t, v_mtj)
    expected = law.distribution(2.0).sf(t)
    mask = expected > 1e-14
    assert np.allclose(p_fail[mask], expected[mask], rtol=1e-6)


def test_lower_voltage_slows_progress(law):
    t = np.linspace(0.0, 10e-9, 101)
    fast = law.progress(t, np.full_like(t, 0.40))
    slow = law.progress(t, np.linspace(0.40, 0.30, t.size))
    assert slow[-1] < fast[-1]


def test_tabulated_law_reproduces_its_table():
    tab = TabulatedSwitching(overdrive=(1.5, 2.0, 3.0), mean_time_s_table=(8e-9, 4e-9, 2e-9), shape_table=(10.0, 15.0, 20.0))
    assert tab.mean_time_s(2.0) == pytest.approx(4e-9)
    assert tab.shape(2.5) == pytest.approx(17.5)
    assert tab.mean_time_s(4.0) < 2e-9  # extrapolated along the last segment's trend
    assert tab.distribution(2.0).isf(1e-10) > 4e-9
    with pytest.raises(ParameterError, match="increasing"):
        TabulatedSwitching(overdrive=(2.0, 1.5), mean_time_s_table=(1e-9, 2e-9), shape_table=(1.0, 1.0))
    with pytest.raises(ParameterError, match="> 0"):
        TabulatedSwitching(overdrive=(1.5, 2.0), mean_time_s_table=(-1e-9, 2e-9), shape_table=(1.0, 1.0))


def test_law_validation():
    with pytest.raises(ParameterError, match="tau_p_s"):
        PrecessionalThermalSwitching(tau_p_s=0.0, shape_k=15.0)
    law = default_switching_law()
    with pytest.raises(ParameterError, match="pulse length"):
        law.ber(-1e-9, 2.0)
    with pytest.raises(ParameterError, match="overdrive"):
        law.distribution(0.0)
