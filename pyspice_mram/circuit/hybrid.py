"""The hybrid estimator: write-error probability and expected energy for *every* pulse length at once.

Sampling switching events cannot reach BER 1e-10. Instead, for one device/circuit sample and one write
direction, two deterministic transients are run with the MTJ frozen in its initial and in its final
state. They give the voltage across the MTJ, V_MTJ(t), and the cumulative supply energies
E_init(t) = integral_0^t P_init and E_final(t) = integral_0^t P_final. Then, for a pulse cut at T:

    P_fail(T) = Q(k, k q(T)),    q(T) = integral_0^T dt / mu(V_MTJ(t))      (frozen-initial V_MTJ)
    E(T)      = E_init(T) S(T) + integral_0^T [E_init(t) + E_final(T) - E_final(t)] f(t) dt
              = E_init(T) S(T) + E_final(T) F(T) + integral_0^T [E_init(t) - E_final(t)] dF(t)

with F = 1 - S the switching-time CDF and f its density: before the switch the circuit draws the
initial state's power, after it the final state's. All integrals are cumulative on the transient's time
grid, so one pair of transients gives the full curves.

An intrinsic per-cell spread of the switching rate (ln rate ~ N(0, sigma^2), the calibration knob of
design.md section 8) is integrated with 24-node Gauss-Hermite quadrature instead of being sampled (error
< 1e-3 ns in T* for sigma <= 0.2 at BER 1e-6..1e-8, tests/test_hybrid.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from ..errors import ParameterError


@dataclass(frozen=True)
class FrozenWrite:
    """What the two frozen-state transients of one write give, on a time grid starting at pulse start.

    `progress` is q(t) computed from the frozen-initial V_MTJ(t); it includes the sample's own
    intrinsic rate scale (q = rate_scale * law.progress), and `write_curve`'s `ln_rate_sigma` adds a
    further, integrated spread on top. `energy_init_j` / `energy_final_j` are cumulative energies per
    supply, shape (n_supplies, n_times), zero at t = 0.
    """

    time_s: np.ndarray
    progress: np.ndarray
    energy_init_j: np.ndarray
    energy_final_j: np.ndarray
    supplies: tuple[str, ...]

    def __post_init__(self) -> None:
        t = np.asarray(self.time_s)
        n = t.size
        if t.ndim != 1 or n < 2 or np.any(np.diff(t) <= 0) or t[0] != 0.0:
            raise ParameterError("time_s must be a strictly increasing 1-D grid starting at 0")
        if np.shape(self.progress) != (n,):
            raise ParameterError("progress must have the shape of time_s")
        expected = (len(self.supplies), n)
        if np.shape(self.energy_init_j) != expected or np.shape(self.energy_final_j) != expected:
            raise ParameterError(f"energy arrays must have shape (n_supplies, n_times) = {expected}")


@dataclass(frozen=True)
class WriteCurve:
    """P_fail(T) and expected energy E(T) on the grid of pulse lengths T = time_s."""

    time_s: np.ndarray
    p_fail: np.ndarray
    energy_j: np.ndarray  # total over supplies, shape (n_times,)
    energy_by_supply_j: np.ndarray  # shape (n_supplies, n_times)
    supplies: tuple[str, ...]


def gauss_hermite_normal(n_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes z and weights w with sum w g(z) ~= E[g(Z)], Z ~ N(0, 1)."""
    x, w = special.roots_hermite(n_nodes)
    return np.sqrt(2.0) * x, w / np.sqrt(np.pi)


def _expected_energy(cdf: np.ndarray, survival: np.ndarray, e_init: np.ndarray, e_final: np.ndarray) -> np.ndarray:
    """E(T) on the grid for one switching-time law (cdf/survival shape (n_times,)), per supply."""
    d_cdf = np.diff(cdf)
    gap = e_init - e_final
    switched_part = np.concatenate(
        (np.zeros((gap.shape[0], 1)), np.cumsum(0.5 * (gap[:, 1:] + gap[:, :-1]) * d_cdf, axis=1)), axis=1
    )
    return e_init * survival + e_final * cdf + switched_part


def write_curve(frozen: FrozenWrite, shape_k: float, ln_rate_sigma: float = 0.0, n_quadrature: int = 24) -> WriteCurve:
    """P_fail(T) and E(T) for all T of the grid, optionally averaged over an intrinsic rate spread."""
    if not (np.isfinite(shape_k) and shape_k > 0):
        raise ParameterError(f"shape_k must be a finite number > 0, got {shape_k!r}")
    if not (np.isfinite(ln_rate_sigma) and ln_rate_sigma >= 0):
        raise ParameterError(f"ln_rate_sigma must be a finite number >= 0, got {ln_rate_sigma!r}")
    q = np.asarray(frozen.progress, dtype=float)
    e_init = np.asarray(frozen.energy_init_j, dtype=float)
    e_final = np.asarray(frozen.energy_final_j, dtype=float)
    if ln_rate_sigma == 0.0:
        nodes, weights = np.zeros(1), np.ones(1)
    else:
        nodes, weights = gauss_hermite_normal(n_quadrature)
    p_fail = np.zeros_like(q)
    energy = np.zeros_like(e_init)
    for z, w in zip(nodes, weights):
        x = shape_k * q * np.exp(ln_rate_sigma * z)
        survival = special.gammaincc(shape_k, x)
        cdf = special.gammainc(shape_k, x)
        p_fail += w * survival
        energy += w * _expected_energy(cdf, survival, e_init, e_final)
    return WriteCurve(
        time_s=np.asarray(frozen.time_s, dtype=float),
        p_fail=p_fail,
        energy_j=energy.sum(axis=0),
        energy_by_supply_j=energy,
        supplies=tuple(frozen.supplies),
    )


def pulse_for_ber(time_s: np.ndarray, ber_curve: np.ndarray, target_ber: float) -> float:
    """Smallest pulse length T on the grid's span with BER(T) <= target (log-linear interpolation).

    The curve must be non-increasing in T (it is, for a physical write). A target the grid cannot reach
    (below the curve's last value or above its first) is refused, never extrapolated.
    """
    if not (np.isfinite(target_ber) and 0.0 < target_ber < 1.0):
        raise ParameterError(f"target BER must lie in (0, 1), got {target_ber!r}")
    t = np.asarray(time_s, dtype=float)
    ber = np.asarray(ber_curve, dtype=float)
    if ber[-1] > target_ber:
        raise ParameterError(
            f"target BER {target_ber:g} is below what the simulated window reaches "
            f"(BER {ber[-1]:.3g} at T = {t[-1] * 1e9:.3g} ns); lengthen the transient"
        )
    if ber[0] < target_ber:
        raise ParameterError(f"target BER {target_ber:g} is above the curve's start ({ber[0]:.3g})")
    i = int(np.argmax(ber <= target_ber))  # first index at or below the target
    if i == 0:
        return float(t[0])
    with np.errstate(divide="ignore"):
        y0, y1 = np.log(max(ber[i - 1], 1e-300)), np.log(max(ber[i], 1e-300))
    ly = np.log(target_ber)
    frac = 0.0 if y1 == y0 else (ly - y0) / (y1 - y0)
    return float(t[i - 1] + frac * (t[i] - t[i - 1]))


def value_at(time_s: np.ndarray, curve: np.ndarray, t_pulse_s: float) -> float | np.ndarray:
    """Linear interpolation of a curve (last axis = time) at one pulse length."""
    t = np.asarray(time_s, dtype=float)
    c = np.asarray(curve, dtype=float)
    if c.ndim == 1:
        return float(np.interp(t_pulse_s, t, c))
    return np.array([np.interp(t_pulse_s, t, row) for row in c])
