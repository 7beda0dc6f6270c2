"""The variance-reduced array BER (sweeps/tail.py): unbiased where the truth is known, and far tighter
than the plain mean at rare targets."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, special

from pyspice_mram.circuit.hybrid import gauss_hermite_normal
from pyspice_mram.device.calibration import default_switching_law
from pyspice_mram.device.parameters import PAPER_DEVICE
from pyspice_mram.sweeps import tail
from pyspice_mram.sweeps.analytic_cell import AnalyticCell, AnalyticConditions
from pyspice_mram.sweeps.runner import run_sweep
from pyspice_mram.sweeps.tables import load_run, shape_k_for
from test_sweep import analytic_config

SIGMA = 0.1  # intrinsic ln-rate spread of analytic_config


# --- the analytic cell in closed form, vectorised over 10^6 cells -------------------------------------------
def analytic_p2ap_p_fail(config, t_pulse_s: float, z: np.ndarray) -> np.ndarray:
    """P_fail(T) of p2ap writes of analytic cells with standard normals z = (z_RA, z_Vt_n, z_Vt_p, z_mu_n, z_mu_p).

    The same physics as AnalyticCell.simulate, written independently and vectorised: the P state's
    resistance is bias-independent, so V_MTJ = Vs R_P / (R_P + Rs) and q(T) = T / mu(V_MTJ / Vc_cell).
    """
    v = config["variability"]
    cell = AnalyticCell(AnalyticConditions.from_config(config, ("TT", 1.0, 300.0)))
    c = cell.conditions
    ra_scale = np.exp(v["ra_sigma"] * z[:, 0])
    dvt_n = v["global_delvto_sigma_v"] * z[:, 1]
    dvt_p = v["global_delvto_sigma_v"] * z[:, 2]
    mu_n = np.exp(v["global_mobility_sigma"] * z[:, 3])
    mu_p = np.exp(v["global_mobility_sigma"] * z[:, 4])
    strength_n = mu_n * (c.gate_overdrive_v - dvt_n) / c.gate_overdrive_v
    strength_p = mu_p * (c.gate_overdrive_v + dvt_p) / c.gate_overdrive_v
    rs = c.series_resistance_ohm * (0.5 / strength_n + 0.5 / strength_p)
    r_p = PAPER_DEVICE.r_p_ohm * ra_scale
    v_mtj = cell.source_v["p2ap"] * r_p / (r_p + rs)
    law = default_switching_law()
    # the rate depends on v = V / Vc only; with Ic0 held fixed a cell's Vc = Ic0 R_P scales with its RA
    vc_scale = ra_scale if v["critical_held_fixed"] == "current" else 1.0
    q = t_pulse_s * law.rate_per_s(v_mtj / vc_scale)
    k = float(law.shape(config["circuit"]["v_over_vc"]))
    nodes, weights = gauss_hermite_normal(24)
    return sum(w * special.gammaincc(k, k * q * np.exp(SIGMA * n)) for n, w in zip(nodes, weights))


def plain_mc(config, t_pulse_s: float, n_cells: int = 2_000_000, seed: int = 5) -> tuple[float, float]:
    """Mean and standard error of P_fail over n_cells fresh cells (chunks keep the memory small)."""
    rng = np.random.default_rng(seed)
    values = np.concatenate([analytic_p2ap_p_fail(config, t_pulse_s, rng.standard_normal((250_000, 5)))
                             for _ in range(n_cells // 250_000)])
    return float(values.mean()), float(values.std(ddof=1) / math.sqrt(values.size))


@pytest.fixture(scope="module")
def analytic_run(tmp_path_factory):
    cfg = analytic_config(n_samples=1000, chunk_size=250, directions=["p2ap"]).with_changes("variability", tmr_sigma=0.0)
    out = tmp_path_factory.mktemp("tail") / "run"
    run_sweep(cfg, out, jobs=1, progress=False)
    return cfg, load_run(out)


def test_the_closed_form_matches_the_simulated_cells(analytic_run):
    cfg, run = analytic_run
    s = run.sets[(0, "p2ap")]
    varied = s.samples != 0
    t = 16e-9
    j = int(np.argmin(np.abs(s.time_s - t)))
    q = s.progress[varied][:, j]
    k = shape_k_for(cfg)
    direct = tail.p_fail_from_log_progress(np.log(q), k, SIGMA, 24)
    np.testing.assert_allclose(analytic_p2ap_p_fail(cfg, s.time_s[j], s.normals[varied]), direct, rtol=1e-6)


@pytest.mark.parametrize("target", [1e-6, 1e-8])
def test_the_estimator_from_1000_cells_agrees_with_plain_mc_over_2e6_cells(analytic_run, target):
    cfg, run = analytic_run
    s = run.sets[(0, "p2ap")]
    varied = s.samples != 0
    k = shape_k_for(cfg)
    # the pulse length where the 10^6-cell truth is near the target
    probe = np.random.default_rng(1).standard_normal((20_000, 5))
    grid = s.time_s[(s.time_s > 10e-9) & (s.time_s < 35e-9)][::5]
    ber_grid = np.array([analytic_p2ap_p_fail(cfg, t, probe).mean() for t in grid])
    j = int(np.flatnonzero(s.time_s == grid[np.argmin(np.abs(np.log(ber_grid / target)))])[0])
    t = s.time_s[j]
    truth, truth_se = plain_mc(cfg, t)
    terms = tail.direction_terms(s.progress[varied][:, [j]], s.normals[varied], k, SIGMA, 24, tail.tail_seed(3, 0))
    estimate = tail.array_estimate([terms])
    assert estimate.estimator == tail.ESTIMATOR
    # unbiased: the difference lies within the 95 % interval of both estimates' sampling errors together
    assert abs(estimate.ber[0] - truth) < 1.96 * math.hypot(truth_se, estimate.se[0]), (estimate.ber[0], estimate.se[0], truth, truth_se)
    # and it is precise: its own standard error is below 10 % (the plain mean of the same 1000 cells: ~0.5)
    assert estimate.se[0] / estimate.ber[0] < 0.10
    plain = tail.p_fail_from_log_progress(np.log(s.progress[varied][:, j]), k, SIGMA, 24)
    assert estimate.se[0] < 0.5 * plain.std(ddof=1) / math.sqrt(plain.size)


def test_the_surface_integral_of_a_linear_surface_is_the_exact_gaussian_integral():
    # ln q = a + b.x exactly: the residuals vanish and the estimate is the 1-D integral over a + |b| w
    rng = np.random.default_rng(0)
    x = rng.standard_normal((400, 3))
    b = np.array([0.06, -0.03, 0.02])
    a = math.log(2.6)  # P_fail ~ 1e-7 at k = 15
    k = 15.0
    terms = tail.direction_terms(np.exp(a + x @ b)[:, None], x, k, 0.0, 24, tail.tail_seed(1, 0))
    estimate = tail.array_estimate([terms])
    norm = float(np.linalg.norm(b))
    exact, _ = integrate.quad(lambda w: special.gammaincc(k, k * math.exp(a + norm * w)) * math.exp(-w * w / 2) / math.sqrt(2 * math.pi),
                              -12, 12, points=[-4, -2, 0], limit=200)
    assert np.max(np.abs(terms.residuals)) < 1e-3 * exact
    assert estimate.ber[0] == pytest.approx(exact, rel=3 * estimate.se[0] / estimate.ber[0] + 1e-3)
    assert estimate.se[0] / exact < 0.02


def test_without_variables_it_is_the_plain_mean():
    q = np.linspace(2.0, 3.0, 50)[:, None]
    terms = tail.direction_terms(q, np.zeros((50, 0)), 15.0, 0.0, 24, tail.tail_seed(1, 0))
    estimate = tail.array_estimate([terms])
    assert estimate.estimator == tail.PLAIN
    assert estimate.ber[0] == pytest.approx(float(np.mean(special.gammaincc(15.0, 15.0 * q))), rel=1e-12)


def test_surface_ladder_fits_what_the_samples_allow():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1000, 24))
    y = x @ np.linspace(1, 0, 24)
    rich = tail.surface_spec(x[:800], y[:800])
    assert (rich.n_linear, rich.n_quadratic, rich.n_cubic) == (24, 6, 3)
    assert rich.order[:3] == (0, 1, 2)
    small = tail.surface_spec(x[:80], y[:80])
    assert small.n_features * tail.POINTS_PER_COEFFICIENT <= 80
    assert tail.surface_spec(x[:5], y[:5]) is None


@pytest.mark.slow
def test_on_spice_the_estimator_agrees_with_plain_mc_at_1e_3(tmp_path):
    """400 SPICE devices of the quick setup: the estimator from the first 100 lies inside the 95 %
    interval of the plain mean over the other 300, at the pulse length where that plain mean is 1e-3."""
    from pyspice_mram.sweeps.config import load_config
    from pyspice_mram.sweeps.tables import _common_rows, pulse_for_ber, scenario_curves

    cfg = load_config("quick").with_changes("sweep", n_samples=400, chunk_size=50)
    run_sweep(cfg, tmp_path / "run", jobs=2, progress=False)
    run = load_run(tmp_path / "run")
    k = shape_k_for(cfg)
    rows = _common_rows(run, 0)
    curve = scenario_curves(run, 0.0)[(0, "variability_physical", "average")]
    j = int(np.searchsorted(curve.time_s, pulse_for_ber(curve.time_s, curve.ber, 1e-3)))
    terms, rest = [], []
    for d in ("p2ap", "ap2p"):
        s = run.sets[(0, d)]
        varied = rows[d][1]
        q, x = s.progress[varied][:, [j]], s.normals[varied]
        terms.append(tail.direction_terms(q[:100], x[:100], k, 0.0, 24, tail.tail_seed(9, 0)))
        rest.append(tail.p_fail_from_log_progress(np.log(q[100:, 0]), k, 0.0, 24))
    estimate = tail.array_estimate(terms)
    plain = 0.5 * (rest[0] + rest[1])
    mc, mc_se = plain.mean(), plain.std(ddof=1) / math.sqrt(plain.size)
    assert abs(estimate.ber[0] - mc) < 1.96 * mc_se
    assert estimate.se[0] < mc_se


def test_a_few_cells_are_never_exactly_known():
    """With no more cells than folds the per-fold variance is undefined: the error is the overall one, not 0."""
    p = np.array([[1e-6], [3e-6], [2e-6], [5e-6]])
    est = tail.plain_estimate([p])
    assert est.se[0] == pytest.approx(p[:, 0].std(ddof=1) / 2)
    assert np.isinf(tail.plain_estimate([p[:1]]).se[0])
