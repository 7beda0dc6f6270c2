"""The rare-target array BER: a response-surface control variate, unbiased, with its standard error.

Route chosen: a control variate on the samples the sweep already has, rather than mean-shift
importance sampling with SPICE at shifted points, because it needs no new transients (the sweep and
its checkpoints stay as they are), it stays unbiased even where the surface is wrong, and one fit
serves every target, scenario and direction at once.

Why: BER(T) = mean over cells of P_fail(T | cell) is carried at 1e-10 by a handful of weak cells, so
the plain sample mean over 1000 devices has a relative standard error near 0.5. Every sample's cell
is a deterministic function of its standard-normal variability variables x (variability.py), and its
ln q(T) (q = integral dt / mu, the switching progress) is a smooth, nearly linear function of x. So:

1. Fit a polynomial surface l(x) (linear in all variables, quadratic and cubic in the most
   influential) to ln q(T) of the stored samples, *cross-fitted*: the samples are split into K folds
   and fold k's surface is fitted on the other folds only.
2. g(x) = P_fail computed from the surface (intrinsic spread integrated the same way as for the
   cells). Its Gaussian mean E[g(X)] is integrated by importance sampling of the surface alone (cheap:
   no SPICE), with a defensive mixture of N(0, I) and N(mu, I), mu the surface's most likely
   failure point; the likelihood-ratio weights are bounded by 1 / ALPHA_NOMINAL.
3. Add the SPICE-sampled residual correction:
   BER = sum_k (n_k / n) E[g_k(X)] + mean_i (f_i - g_k(i)(x_i)), f_i the real cell's P_fail. Since g_k does not depend on fold k's samples, each fold's term is
   unbiased for any surface; a good surface makes the residuals (and so the variance) small.

Same transient budget as plain Monte Carlo: the surface is fitted on the samples the sweep already
ran. The variance is Var(residual) / n (per fold) plus the importance-sampling variance of the surface
integral. This is the control-variate route of the SRAM-yield literature (response surface plus
sampled correction; cf. statistical blockade, Singhee and Rutenbar, DATE 2007, and mixture importance
sampling, Kanj, Joshi and Nassif, DAC 2006, used here on the surface only).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import special

from ..circuit.hybrid import gauss_hermite_normal
from ..errors import DataError

ESTIMATOR = "surface control variate"
PLAIN = "plain mean"  # what the estimator falls back to without variables or with too few samples
N_FOLDS = 5
N_SURFACE_DRAWS = 20000
ALPHA_NOMINAL = 0.1  # share of the defensive mixture drawn from N(0, I)
RIDGE = 1e-8  # relative ridge on the normal equations (keeps a near-singular quadratic fit stable)
TAIL_SEED_KEY = 0x7A11  # first element of the spawn keys of the surface draws (sample keys are (i,))


# --- the surface -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SurfaceSpec:
    """A polynomial in the variables ranked by influence: linear in the first `n_linear`, all second-order
    products of the first `n_quadratic`, all third-order products of the first `n_cubic`.

    Why not a plain quadratic: the weak cells are those where RA and the driving transistor's Vt and
    mobility are all unfavourable, and ln q has strong interactions among those few variables (fitting
    them cuts the residual of ln q from ~6e-3 to ~5e-4 on the paper sweep), while a full quadratic in
    all 24 variables needs more samples than a sweep has.
    """

    order: tuple[int, ...]
    n_linear: int
    n_quadratic: int
    n_cubic: int

    @property
    def n_features(self) -> int:
        return n_features(self.n_linear, self.n_quadratic, self.n_cubic)

    @property
    def name(self) -> str:
        return f"linear {self.n_linear}, quadratic {self.n_quadratic}, cubic {self.n_cubic}"


def n_features(n_linear: int, n_quadratic: int, n_cubic: int) -> int:
    return 1 + n_linear + n_quadratic * (n_quadratic + 1) // 2 + n_cubic * (n_cubic + 1) * (n_cubic + 2) // 6


# Richest first; the first that has POINTS_PER_COEFFICIENT training points per coefficient is used.
SURFACE_LADDER = ((None, 6, 3), (None, 4, 3), (None, 4, 0), (None, 3, 0), (12, 4, 0), (8, 3, 0), (6, 2, 0), (4, 0, 0))
POINTS_PER_COEFFICIENT = 3


def surface_spec(x: np.ndarray, y: np.ndarray) -> SurfaceSpec | None:
    """Rank the variables by |linear coefficient| on (x, y) and pick the richest affordable polynomial
    (None: no variables, or too few samples for any surface)."""
    n, d = x.shape
    if d == 0:
        return None
    if n >= 2 * (d + 1):
        slope = np.linalg.lstsq(np.hstack([np.ones((n, 1)), x]), y, rcond=None)[0][1:]
    else:  # too few points for a linear fit in every variable: rank by covariance
        slope = (x - x.mean(axis=0)).T @ (y - y.mean()) / n
    order = tuple(int(i) for i in np.argsort(-np.abs(slope), kind="stable"))
    for n_lin, n_quad, n_cub in SURFACE_LADDER:
        lin = d if n_lin is None else min(n_lin, d)
        quad, cub = min(n_quad, lin), min(n_cub, lin)
        if n >= POINTS_PER_COEFFICIENT * n_features(lin, quad, cub):
            return SurfaceSpec(order, lin, quad, cub)
    return None


def features(x: np.ndarray, spec: SurfaceSpec) -> np.ndarray:
    """Design matrix of the surface `spec` (rows = points)."""
    x = np.atleast_2d(x)[:, list(spec.order)]
    cols = [np.ones((x.shape[0], 1)), x[:, :spec.n_linear]]
    q = x[:, :spec.n_quadratic]
    j, l = np.triu_indices(spec.n_quadratic)
    cols.append(q[:, j] * q[:, l])
    for a in range(spec.n_cubic):
        for b in range(a, spec.n_cubic):
            for c in range(b, spec.n_cubic):
                cols.append((x[:, a] * x[:, b] * x[:, c])[:, None])
    return np.hstack(cols)


def fit_surface(x: np.ndarray, y: np.ndarray, spec: SurfaceSpec) -> np.ndarray:
    """Least-squares coefficients (n_features, n_columns) of y (n, n_columns) on the features of x."""
    a = features(x, spec)
    gram = a.T @ a
    gram[np.diag_indices_from(gram)] += RIDGE * np.trace(gram) / gram.shape[0]
    return np.linalg.solve(gram, a.T @ y)


def fold_of(n: int) -> np.ndarray:
    """Fold of each sample position (round robin: deterministic, balanced)."""
    return np.arange(n) % N_FOLDS


# --- P_fail from ln q ---------------------------------------------------------------------------------
def p_fail_from_log_progress(log_q: np.ndarray, shape_k: float, sigma: float, n_quadrature: int) -> np.ndarray:
    """E_z[Q(k, k exp(log_q + sigma z))] elementwise (z ~ N(0, 1) by Gauss-Hermite, as hybrid.write_curve)."""
    if sigma == 0:
        return special.gammaincc(shape_k, shape_k * np.exp(log_q))
    z, w = gauss_hermite_normal(n_quadrature)
    out = np.zeros_like(log_q, dtype=float)
    for zi, wi in zip(z, w):
        out += wi * special.gammaincc(shape_k, shape_k * np.exp(log_q + sigma * zi))
    return out


# --- one direction ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DirectionTerms:
    """The two parts of the estimate at W pulse lengths: surface integral and per-sample residuals."""

    surface_mean: np.ndarray  # (W,)
    surface_var: np.ndarray  # (W,) importance-sampling variance of surface_mean
    residuals: np.ndarray  # (n, W): f_i - g_k(i)(x_i)
    folds: np.ndarray  # (n,)
    surface: str  # the surface's form (fold 0)


def _failure_shift(intercept: float, slope: np.ndarray, shape_k: float) -> np.ndarray:
    """The most likely failure point of the linear part: argmax_w P_fail(a + |b| w) phi(w) along -b."""
    norm = float(np.linalg.norm(slope))
    if norm == 0:
        return np.zeros_like(slope)
    w = np.linspace(-12.0, 0.0, 481)
    with np.errstate(divide="ignore"):
        log_h = np.log(special.gammaincc(shape_k, shape_k * np.exp(intercept + norm * w))) - 0.5 * w * w
    return w[int(np.argmax(log_h))] * slope / norm


def direction_terms(progress: np.ndarray, normals: np.ndarray, shape_k: float, sigma: float, n_quadrature: int,
                    seed: np.random.SeedSequence, p_fail: np.ndarray | None = None) -> DirectionTerms:
    """Surface integral and residuals at the W pulse lengths whose progress columns are given.

    progress: (n, W) q_i(T) > 0; normals: (n, d) the samples' standard-normal variables; p_fail:
    the cells' own P_fail (n, W) if already computed (else from progress).
    """
    q = np.asarray(progress, dtype=float)
    x = np.asarray(normals, dtype=float)
    n, width = q.shape
    if np.any(~np.isfinite(q)) or np.any(q <= 0):
        raise DataError("the tail estimator needs q(T) > 0 at every pulse length it is asked about")
    log_q = np.log(q)
    f = p_fail_from_log_progress(log_q, shape_k, sigma, n_quadrature) if p_fail is None else np.asarray(p_fail)
    folds = fold_of(n)
    centre = width // 2
    specs = [surface_spec(x[folds != k], log_q[folds != k, centre]) for k in range(N_FOLDS)]
    if any(spec is None for spec in specs):  # no surface: the control variate is 0, the plain mean
        return DirectionTerms(np.zeros(width), np.zeros(width), f, folds, PLAIN)
    coefs = [fit_surface(x[folds != k], log_q[folds != k], specs[k]) for k in range(N_FOLDS)]
    pooled = np.linalg.lstsq(np.hstack([np.ones((n, 1)), x]), log_q[:, centre], rcond=None)[0]
    residuals = np.empty_like(f)
    for k in range(N_FOLDS):
        m = folds == k
        fitted = features(x[m], specs[k]) @ coefs[k]
        residuals[m] = f[m] - p_fail_from_log_progress(fitted, shape_k, sigma, n_quadrature)

    # Surface integral: defensive-mixture importance sampling in u = (x, z_intrinsic).
    d = x.shape[1]
    slope = pooled[1:]
    if sigma > 0:
        slope = np.append(slope, sigma)
    shift = _failure_shift(float(pooled[0]), slope, shape_k)
    rng = np.random.default_rng(seed)
    fractions = np.bincount(folds, minlength=N_FOLDS) / n
    per_fold = N_SURFACE_DRAWS // N_FOLDS
    surface_mean = np.zeros(width)
    surface_var = np.zeros(width)
    for k in range(N_FOLDS):  # each fold's surface integrated with its own share of the draws
        u = rng.standard_normal((per_fold, slope.size))
        shifted = rng.random(per_fold) >= ALPHA_NOMINAL
        u[shifted] += shift
        # likelihood ratio phi(u) / (alpha phi(u) + (1 - alpha) phi(u - shift)), at most 1 / alpha
        weight = 1.0 / (ALPHA_NOMINAL + (1.0 - ALPHA_NOMINAL) * np.exp(u @ shift - 0.5 * shift @ shift))
        log_q_surface = features(u[:, :d], specs[k]) @ coefs[k]
        if sigma > 0:
            log_q_surface = log_q_surface + sigma * u[:, d:d + 1]
        values = weight[:, None] * special.gammaincc(shape_k, shape_k * np.exp(log_q_surface))
        surface_mean += fractions[k] * values.mean(axis=0)
        surface_var += fractions[k] ** 2 * values.var(axis=0, ddof=1) / per_fold
    return DirectionTerms(surface_mean, surface_var, residuals, folds, specs[0].name)


# --- the array estimate -------------------------------------------------------------------------------
@dataclass(frozen=True)
class ArrayEstimate:
    """The array BER at W pulse lengths, the mean over directions of each direction's estimate."""

    ber: np.ndarray
    se: np.ndarray
    surface_mean: np.ndarray
    surface_se: np.ndarray
    residuals: np.ndarray  # (n, W), averaged over directions per sample
    folds: np.ndarray
    surface: str  # the surface's form (fold 0)

    @property
    def estimator(self) -> str:
        return PLAIN if self.surface == PLAIN else ESTIMATOR

    def bootstrap(self, index: np.ndarray, surface_noise: np.ndarray) -> np.ndarray:
        """BER curves of bootstrap replicates: rows of `index` (B, n) resample cells; the surface term
        moves by `surface_noise` (B,) standard normals times its standard error."""
        return self.surface_mean[None, :] + surface_noise[:, None] * self.surface_se[None, :] + \
            self.residuals[index].mean(axis=1)


def _residual_variance_of_mean(residuals: np.ndarray, folds: np.ndarray) -> np.ndarray:
    """Var of mean_i r_i with the fold structure: sum_k n_k s_k^2 / n^2.

    A fold of one sample has no variance of its own; then (a few samples only) the variance over all
    samples is used, which is the larger: a tiny run must not look exactly known.
    """
    n = residuals.shape[0]
    labels, sizes = np.unique(folds, return_counts=True)
    if n < 2:
        return np.full(residuals.shape[1], np.inf)
    if sizes.min() < 2:
        return residuals.var(axis=0, ddof=1) / n
    total = np.zeros(residuals.shape[1])
    for k in labels:
        r = residuals[folds == k]
        total += r.shape[0] * r.var(axis=0, ddof=1)
    return total / n**2


def array_estimate(terms: Sequence[DirectionTerms]) -> ArrayEstimate:
    """Combine the directions (random data: the array BER is their mean); draws are independent."""
    m = len(terms)
    surface = sum(t.surface_mean for t in terms) / m
    surface_var = sum(t.surface_var for t in terms) / m**2
    residuals = sum(t.residuals for t in terms) / m
    folds = terms[0].folds
    ber = surface + residuals.mean(axis=0)
    var = surface_var + _residual_variance_of_mean(residuals, folds)
    return ArrayEstimate(ber, np.sqrt(var), surface, np.sqrt(surface_var), residuals, folds, terms[0].surface)


def plain_estimate(p_fail: Sequence[np.ndarray]) -> ArrayEstimate:
    """The plain mean over cells of each direction's P_fail (n, W), in the same form."""
    n, width = np.shape(p_fail[0])
    zero = np.zeros(width)
    return array_estimate([DirectionTerms(zero, zero, np.asarray(p, dtype=float), fold_of(n), PLAIN) for p in p_fail])


AGREEMENT_SIGMAS = 4.0


def agrees(surface: ArrayEstimate, plain: ArrayEstimate) -> bool:
    """Whether the control variate agrees with the plain mean within AGREEMENT_SIGMAS combined standard errors
    everywhere on the window. Both estimate the same BER without bias; a gross disagreement means the
    residuals are heavy-tailed beyond the samples (the surface extrapolates badly) and the control
    variate's standard error cannot be trusted, so the table falls back to the plain mean."""
    gap = np.abs(surface.ber - plain.ber)
    return bool(np.all(gap <= AGREEMENT_SIGMAS * np.hypot(surface.se, plain.se)))


def tail_seed(seed: int, *key: int) -> np.random.SeedSequence:
    """The seed of a table-time draw (surface sampling, bootstrap), apart from every sample's (i,) key."""
    return np.random.SeedSequence(entropy=seed, spawn_key=(TAIL_SEED_KEY, *key))
