"""Stochastic switching time of a spin-transfer-torque MTJ, as distribution objects.

The switching time under a constant overdrive v = |V| / Vc follows a gamma law (shape k, mean mu(v)):
- precessional regime (v above ~1.15): mu(v) = tau_p / (v - 1) (Sun scaling), shape k;
- thermal regime (v below ~0.85): Neel-Brown, mu(v) = tau0 exp(Delta (1 - v)), exponential law (k = 1);
- in between, ln mu and k are bridged by cubic Hermite polynomials that match values and slopes at
  both ends, so mu(v) is smooth (C1) and monotone.

Under a time-varying voltage the switching progress is q(t) = integral_0^t dt' / mu(v(t')) and a pulse
of length T fails with probability P_fail = Q(k, k q(T)), Q the regularised upper incomplete gamma
function. For a constant voltage this is exactly the gamma survival function.

Tail probabilities use `scipy.special.gammaincc` / `gammainccinv` directly (never `1 - cdf`), so they
stay accurate far below 1e-15.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
from scipy import special

from .parameters import PAPER_DEVICE, MTJParameters
from ..errors import ParameterError

ArrayLike = float | np.ndarray


def _as_probability(p: ArrayLike, name: str = "probability") -> np.ndarray:
    arr = np.asarray(p, dtype=float)
    if not np.all(np.isfinite(arr)) or np.any((arr < 0.0) | (arr > 1.0)):
        raise ParameterError(f"{name} must lie in [0, 1], got {p!r}")
    return arr


def _scalar_or_array(arr: np.ndarray) -> ArrayLike:
    return float(arr) if np.ndim(arr) == 0 else arr


class GammaSwitchingTime:
    """Switching-time distribution at constant overdrive: gamma law with shape k and mean mu.

    Mirrors the frozen-distribution API of `scipy.stats` (sf, isf, cdf, ppf, pdf, mean, std,
    skewness, rvs), in seconds.
    """

    def __init__(self, shape_k: float, mean_s: float) -> None:
        if not (math.isfinite(shape_k) and shape_k > 0):
            raise ParameterError(f"shape_k must be a finite number > 0, got {shape_k!r}")
        if not (math.isfinite(mean_s) and mean_s > 0):
            raise ParameterError(f"mean_s must be a finite number > 0, got {mean_s!r}")
        self.shape_k = float(shape_k)
        self.mean_s = float(mean_s)
        self.scale_s = self.mean_s / self.shape_k

    def __repr__(self) -> str:
        return f"GammaSwitchingTime(shape_k={self.shape_k:.4g}, mean_s={self.mean_s:.4g})"

    def _x(self, t_s: ArrayLike) -> np.ndarray:
        return np.maximum(np.asarray(t_s, dtype=float), 0.0) / self.scale_s

    def sf(self, t_s: ArrayLike) -> ArrayLike:
        """P(t_sw > t): the write-error probability of a pulse of length t."""
        return _scalar_or_array(special.gammaincc(self.shape_k, self._x(t_s)))

    def cdf(self, t_s: ArrayLike) -> ArrayLike:
        """P(t_sw <= t): the switching probability of a pulse of length t."""
        return _scalar_or_array(special.gammainc(self.shape_k, self._x(t_s)))

    def logsf(self, t_s: ArrayLike) -> ArrayLike:
        with np.errstate(divide="ignore"):
            return _scalar_or_array(np.log(special.gammaincc(self.shape_k, self._x(t_s))))

    def isf(self, p: ArrayLike) -> ArrayLike:
        """Pulse length whose error probability is p (inverse of `sf`)."""
        p = _as_probability(p)
        return _scalar_or_array(self.scale_s * special.gammainccinv(self.shape_k, p))

    def ppf(self, p: ArrayLike) -> ArrayLike:
        p = _as_probability(p)
        return _scalar_or_array(self.scale_s * special.gammaincinv(self.shape_k, p))

    def pdf(self, t_s: ArrayLike) -> ArrayLike:
        t = np.asarray(t_s, dtype=float)
        x = self._x(t)
        with np.errstate(divide="ignore"):
            logpdf = (self.shape_k - 1.0) * np.log(x) - x - special.gammaln(self.shape_k) - math.log(self.scale_s)
        return _scalar_or_array(np.where(t > 0, np.exp(logpdf), 0.0))

    def mean(self) -> float:
        return self.mean_s

    def var(self) -> float:
        return self.shape_k * self.scale_s**2

    def std(self) -> float:
        return math.sqrt(self.var())

    def skewness(self) -> float:
        return 2.0 / math.sqrt(self.shape_k)

    def rvs(self, size: int | tuple[int, ...] | None = None, random_state: np.random.Generator | int | None = None) -> ArrayLike:
        rng = random_state if isinstance(random_state, np.random.Generator) else np.random.default_rng(random_state)
        return _scalar_or_array(rng.gamma(self.shape_k, self.scale_s, size=size))


class SwitchingLaw(ABC):
    """Mean switching time mu(v) and gamma shape k(v) as functions of the overdrive v = |V| / Vc."""

    device: MTJParameters

    @abstractmethod
    def mean_time_s(self, overdrive: ArrayLike) -> ArrayLike:
        """Mean switching time at constant overdrive (s)."""

    @abstractmethod
    def shape(self, overdrive: ArrayLike) -> ArrayLike:
        """Gamma shape k at constant overdrive."""

    def skewness(self, overdrive: ArrayLike) -> ArrayLike:
        return 2.0 / np.sqrt(self.shape(overdrive))

    def distribution(self, overdrive: float) -> GammaSwitchingTime:
        """Switching-time distribution for a constant overdrive."""
        v = float(overdrive)
        if not (math.isfinite(v) and v > 0):
            raise ParameterError(f"overdrive must be a finite number > 0, got {overdrive!r}")
        return GammaSwitchingTime(float(self.shape(v)), float(self.mean_time_s(v)))

    def distribution_at_voltage(self, voltage_v: float) -> GammaSwitchingTime:
        return self.distribution(abs(voltage_v) / self.device.critical_voltage_v)

    def pulse_for_ber(self, ber: ArrayLike, overdrive: float) -> ArrayLike:
        """Pulse length (s) at constant overdrive whose write-error probability is `ber`."""
        return self.distribution(overdrive).isf(ber)

    def ber(self, t_pulse_s: ArrayLike, overdrive: float) -> ArrayLike:
        t = np.asarray(t_pulse_s, dtype=float)
        if not np.all(np.isfinite(t)) or np.any(t <= 0):
            raise ParameterError(f"pulse length must be a finite number > 0 s, got {t_pulse_s!r}")
        return self.distribution(overdrive).sf(t)

    # --- time-varying voltage ---------------------------------------------------------------------
    def rate_per_s(self, voltage_v: ArrayLike) -> np.ndarray:
        """Switching progress rate 1/mu(v(t)) for a voltage waveform (1/s)."""
        v = np.abs(np.asarray(voltage_v, dtype=float)) / self.device.critical_voltage_v
        return 1.0 / np.asarray(self.mean_time_s(np.maximum(v, 1e-6)))

    def progress(self, time_s: np.ndarray, voltage_v: np.ndarray) -> np.ndarray:
        """q(t) = integral of dt / mu(v(t)) (trapezoid rule), same length as `time_s`."""
        t = np.asarray(time_s, dtype=float)
        rate = self.rate_per_s(voltage_v)
        increments = 0.5 * (rate[1:] + rate[:-1]) * np.diff(t)
        return np.concatenate(([0.0], np.cumsum(increments)))

    def effective_shape(self, time_s: np.ndarray, voltage_v: np.ndarray) -> float:
        """Rate-weighted mean of k(v(t)): exact for a constant voltage."""
        v = np.abs(np.asarray(voltage_v, dtype=float)) / self.device.critical_voltage_v
        weights = self.rate_per_s(voltage_v)
        dt = np.gradient(np.asarray(time_s, dtype=float))
        k = np.asarray(self.shape(np.maximum(v, 1e-6)), dtype=float) * np.ones_like(v)
        return float(np.sum(k * weights * dt) / np.sum(weights * dt))

    def p_fail(self, time_s: np.ndarray, voltage_v: np.ndarray, shape_k: float | None = None) -> np.ndarray:
        """P_fail(t) = Q(k, k q(t)) for every t of the waveform (a pulse cut at t)."""
        k = self.effective_shape(time_s, voltage_v) if shape_k is None else float(shape_k)
        return special.gammaincc(k, k * self.progress(time_s, voltage_v))


@dataclass(frozen=True)
class PrecessionalThermalSwitching(SwitchingLaw):
    """The analytic law: Sun scaling above `v_precessional`, Neel-Brown below `v_thermal`."""

    tau_p_s: float
    shape_k: float
    device: MTJParameters = PAPER_DEVICE
    v_thermal: float = 0.85
    v_precessional: float = 1.15

    def __post_init__(self) -> None:
        for name in ("tau_p_s", "shape_k"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ParameterError(f"{name} must be a finite number > 0, got {value!r}")
        if not (0 < self.v_thermal < 1.0 < self.v_precessional):
            raise ParameterError("the bridge needs 0 < v_thermal < 1 < v_precessional")

    def _log_mean_thermal(self, v: np.ndarray) -> np.ndarray:
        return math.log(self.device.attempt_time_s) + self.device.thermal_stability * (1.0 - v)

    def _log_mean_precessional(self, v: np.ndarray) -> np.ndarray:
        return math.log(self.tau_p_s) - np.log(v - 1.0)

    def _hermite(self, v: np.ndarray, y0: float, d0: float, y1: float, d1: float) -> np.ndarray:
        a, b = self.v_thermal, self.v_precessional
        h = b - a
        s = (v - a) / h
        return (
            (2 * s**3 - 3 * s**2 + 1) * y0
            + (s**3 - 2 * s**2 + s) * h * d0
            + (-2 * s**3 + 3 * s**2) * y1
            + (s**3 - s**2) * h * d1
        )

    def mean_time_s(self, overdrive: ArrayLike) -> ArrayLike:
        v = np.asarray(overdrive, dtype=float)
        a, b = self.v_thermal, self.v_precessional
        log_mu = np.empty_like(v)
        lo, hi = v <= a, v >= b
        mid = ~(lo | hi)
        log_mu[lo] = self._log_mean_thermal(v[lo])
        log_mu[hi] = self._log_mean_precessional(v[hi])
        if np.any(mid):
            y0 = float(self._log_mean_thermal(np.float64(a)))
            y1 = float(self._log_mean_precessional(np.float64(b)))
            d0 = -self.device.thermal_stability
            d1 = -1.0 / (b - 1.0)
            log_mu[mid] = self._hermite(v[mid], y0, d0, y1, d1)
        return _scalar_or_array(np.exp(log_mu))

    def shape(self, overdrive: ArrayLike) -> ArrayLike:
        v = np.asarray(overdrive, dtype=float)
        s = np.clip((v - self.v_thermal) / (self.v_precessional - self.v_thermal), 0.0, 1.0)
        smooth = s * s * (3.0 - 2.0 * s)
        return _scalar_or_array(1.0 + (self.shape_k - 1.0) * smooth)


@dataclass(frozen=True)
class TabulatedSwitching(SwitchingLaw):
    """A law given as tables of mu(v) and k(v) (e.g. digitised from measurements).

    ln mu and k are interpolated linearly in v; outside the table the end values' trend is
    extrapolated for ln mu (linear) and k is held constant.
    """

    overdrive: tuple[float, ...]
    mean_time_s_table: tuple[float, ...]
    shape_table: tuple[float, ...]
    device: MTJParameters = PAPER_DEVICE

    def __post_init__(self) -> None:
        v = np.asarray(self.overdrive, dtype=float)
        mu = np.asarray(self.mean_time_s_table, dtype=float)
        k = np.asarray(self.shape_table, dtype=float)
        if not (v.ndim == mu.ndim == k.ndim == 1 and v.size == mu.size == k.size and v.size >= 2):
            raise ParameterError("overdrive, mean-time and shape tables must be 1-D, of equal length >= 2")
        if not np.all(np.isfinite(v)) or np.any(np.diff(v) <= 0) or v[0] <= 0:
            raise ParameterError("overdrive table must be positive, finite and strictly increasing")
        if not np.all(np.isfinite(mu)) or np.any(mu <= 0):
            raise ParameterError("mean switching times must be finite and > 0")
        if not np.all(np.isfinite(k)) or np.any(k <= 0):
            raise ParameterError("shape values must be finite and > 0")

    def mean_time_s(self, overdrive: ArrayLike) -> ArrayLike:
        v_tab = np.asarray(self.overdrive)
        log_mu = np.log(np.asarray(self.mean_time_s_table))
        v = np.asarray(overdrive, dtype=float)
        out = np.interp(v, v_tab, log_mu)
        left_slope = (log_mu[1] - log_mu[0]) / (v_tab[1] - v_tab[0])
        right_slope = (log_mu[-1] - log_mu[-2]) / (v_tab[-1] - v_tab[-2])
        out = np.where(v < v_tab[0], log_mu[0] + left_slope * (v - v_tab[0]), out)
        out = np.where(v > v_tab[-1], log_mu[-1] + right_slope * (v - v_tab[-1]), out)
        return _scalar_or_array(np.exp(out))

    def shape(self, overdrive: ArrayLike) -> ArrayLike:
        return _scalar_or_array(np.interp(np.asarray(overdrive, dtype=float), self.overdrive, self.shape_table))
