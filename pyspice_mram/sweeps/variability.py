"""Monte Carlo draws: per-sample device and circuit parameters from a seed tree keyed by sample index.

Reproducibility: the draws of sample i come only from `SeedSequence(entropy=seed, spawn_key=(i,))`,
whatever the number of workers, the order of execution or the corner. Inside a sample three
independent child streams are used (MTJ, global process, local mismatch), so e.g. switching mismatch
off leaves the MTJ draws unchanged. Sample 0 is the nominal sample: no variability at all.
The same sample index gets the same draws at every corner (common random numbers), so corners are
compared on the same population of cells.

Conventions (see montecarlo/README.md):
- Pelgrom: each transistor's threshold shift is delvto ~ N(0, A_VT / sqrt(W L)), *per device*. A_VT
  is often quoted for the difference of a matched pair, sigma(dVt) = A_VT / sqrt(W L); read that way,
  one device's sigma would be sqrt(2) *smaller*. Taking the coefficient as the per-device sigma is the
  conservative reading (the larger spread). A_VT in V.m (1.5e-9 V.m = 1.5 mV.um). Mobility: mulu0 = exp(N(0,
  A_mu / sqrt(W L))), a multiplicative factor on u0 that stays positive.
- ngspice's `delvto` is added to vth0. NMOS vth0 > 0, so delvto > 0 makes an NMOS slower; PMOS
  vth0 < 0, so delvto < 0 makes a PMOS slower (|Vt| grows). Corner shifts follow that sign rule.
- Global process variation per sample: one delvto and one mobility factor per device type, added to /
  multiplied into every transistor of that type (sigma from the config; 0 disables it).
- MTJ: RA and TMR0 scale factors, lognormal (ln-scale ~ N(0, sigma)) or normal (1 + N(0, sigma)).
  The critical current is a free-layer property (Jc0 x area), not a barrier one, so with
  critical_held_fixed = "current" (default) a sample's Vc = Ic0 R_P scales with RA (vc_scale =
  ra_scale): a higher-RA cell takes more of the rail but needs more still, and switches slower.
  "voltage" holds Vc fixed instead (RA then acts only through the divider with the driver).
- The intrinsic free-layer spread (sigma of ln rate) is *not* drawn: the table integrates it by 24-node
  Gauss-Hermite quadrature (error < 1e-3 ns in T* for sigma <= 0.2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from ..errors import ConfigError

NOMINAL_INDEX = 0

# Corner -> (NMOS speed sign, PMOS speed sign): +1 fast, -1 slow, 0 typical.
CORNER_SPEED = {"TT": (0, 0), "FF": (1, 1), "SS": (-1, -1), "FS": (1, -1), "SF": (-1, 1)}


@dataclass(frozen=True)
class Shift:
    """A threshold shift (V, added to vth0) and a mobility factor for one device type."""

    delvto_v: float = 0.0
    mobility: float = 1.0


def corner_shifts(process: str, delvto_shift_v: float, mobility_shift: float) -> dict[str, Shift]:
    """Global shifts of a process corner for 'n' and 'p' devices.

    A fast NMOS has a lower Vt (delvto < 0); a fast PMOS has a less negative Vt (delvto > 0).
    Mobility rises by `mobility_shift` on the fast side and falls on the slow side.
    """
    if process not in CORNER_SPEED:
        raise ConfigError(f"unknown process corner {process!r}; allowed: {', '.join(CORNER_SPEED)}")
    n_speed, p_speed = CORNER_SPEED[process]
    return {
        "n": Shift(delvto_v=-n_speed * delvto_shift_v, mobility=1.0 + n_speed * mobility_shift),
        "p": Shift(delvto_v=+p_speed * delvto_shift_v, mobility=1.0 + p_speed * mobility_shift),
    }


def speed_sign(device_type: str, delvto_v: float) -> int:
    """+1 if this delvto makes the device faster, -1 slower, 0 neither (used to check sign rules)."""
    if delvto_v == 0:
        return 0
    faster = delvto_v < 0 if device_type == "n" else delvto_v > 0
    return 1 if faster else -1


@dataclass(frozen=True)
class SampleDraw:
    """Everything random about one sample (plain data, picklable).

    `delvto_v` / `mulu0` are per transistor and already include the sample's global process
    variation (not the corner shift, which belongs to the circuit conditions).
    """

    index: int
    ra_scale: float = 1.0
    tmr_scale: float = 1.0
    vc_scale: float = 1.0
    rate_scale: float = 1.0
    delvto_v: dict[str, float] = field(default_factory=dict)
    mulu0: dict[str, float] = field(default_factory=dict)
    global_delvto_v: dict[str, float] = field(default_factory=lambda: {"n": 0.0, "p": 0.0})
    global_mobility: dict[str, float] = field(default_factory=lambda: {"n": 1.0, "p": 1.0})

    @property
    def is_nominal(self) -> bool:
        return self.index == NOMINAL_INDEX

    def summary(self) -> dict[str, Any]:
        return {
            "ra_scale": self.ra_scale,
            "tmr_scale": self.tmr_scale,
            "vc_scale": self.vc_scale,
            "rate_scale": self.rate_scale,
            "global_delvto_v": dict(self.global_delvto_v),
            "global_mobility": dict(self.global_mobility),
            "delvto_v": dict(self.delvto_v),
            "mulu0": dict(self.mulu0),
        }


def sample_seed(seed: int, index: int) -> np.random.SeedSequence:
    """The root of sample `index`'s draws: depends on (seed, index) only."""
    if index < 0:
        raise ValueError("sample index must be >= 0")
    return np.random.SeedSequence(entropy=seed, spawn_key=(index,))


@dataclass(frozen=True)
class SampleNormals:
    """The standard-normal variables behind one sample's draws (what a response surface is fitted in).

    `mtj`: (z_RA, z_TMR0); `global_process`: (z_Vt_n, z_Vt_p, z_mu_n, z_mu_p), one die's process;
    `local`: (n_transistors, 2) rows (z_Vt, z_mu) in sorted transistor-name order.
    """

    mtj: np.ndarray
    global_process: np.ndarray
    local: np.ndarray


def sample_normals(seed: int, index: int, n_transistors: int) -> SampleNormals:
    """Sample `index`'s standard normals from its own seed (three child streams: MTJ, global, local)."""
    mtj_seq, global_seq, local_seq = sample_seed(seed, index).spawn(3)
    return SampleNormals(
        mtj=np.random.default_rng(mtj_seq).standard_normal(2),
        global_process=np.random.default_rng(global_seq).standard_normal(4),
        local=np.random.default_rng(local_seq).standard_normal((n_transistors, 2)),
    )


def pelgrom_sigma(coefficient: float, width_m: float, length_m: float) -> float:
    """sigma = A / sqrt(W L) (per device)."""
    if width_m <= 0 or length_m <= 0:
        raise ConfigError(f"transistor W and L must be > 0, got W={width_m!r} m, L={length_m!r} m")
    return coefficient / math.sqrt(width_m * length_m)


def _mtj_scale(z: float, sigma: float, distribution: str) -> float:
    if distribution == "lognormal":
        return math.exp(sigma * z)
    scale = 1.0 + sigma * z
    return max(scale, 1e-3)  # a normal draw is clipped far in its tail (>= 20 sigma at 5 %)


def draw_sample(variability: dict[str, Any], seed: int, index: int,
                transistors: Sequence[tuple[str, str, float, float]] = ()) -> SampleDraw:
    """Draw sample `index`: MTJ scales, global process shifts and per-transistor mismatch.

    `transistors` are (name, 'n'|'p', W_m, L_m); their order does not matter (draws are assigned in
    sorted name order).
    """
    transistors = [tuple(t) for t in transistors]  # accepts (name, type, W, L) tuples or records that unpack so
    if index == NOMINAL_INDEX:
        names = sorted(t[0] for t in transistors)
        return SampleDraw(index=index, delvto_v={n: 0.0 for n in names}, mulu0={n: 1.0 for n in names})
    ordered = sorted(transistors, key=lambda t: t[0])
    normals = sample_normals(seed, index, len(ordered))
    z_mtj, z_global, z_local = normals.mtj, normals.global_process, normals.local

    dist = variability["mtj_distribution"]
    ra_scale = _mtj_scale(float(z_mtj[0]), variability["ra_sigma"], dist)
    tmr_scale = _mtj_scale(float(z_mtj[1]), variability["tmr_sigma"], dist)
    vc_scale = ra_scale if variability["critical_held_fixed"] == "current" else 1.0

    g_vt = variability["global_delvto_sigma_v"]
    g_mu = variability["global_mobility_sigma"]
    global_delvto = {"n": g_vt * float(z_global[0]), "p": g_vt * float(z_global[1])}
    global_mobility = {"n": math.exp(g_mu * float(z_global[2])), "p": math.exp(g_mu * float(z_global[3]))}

    delvto: dict[str, float] = {}
    mulu0: dict[str, float] = {}
    for (name, kind, width, length), (z_vt, z_mu) in zip(ordered, z_local):
        if kind not in ("n", "p"):
            raise ConfigError(f"transistor {name!r}: type must be 'n' or 'p', got {kind!r}")
        local_vt = local_mu = 0.0
        if variability["mismatch"]:
            local_vt = pelgrom_sigma(variability[f"a_vt_{kind}mos_v_m"], width, length) * float(z_vt)
            local_mu = pelgrom_sigma(variability[f"a_mu_{kind}mos_m"], width, length) * float(z_mu)
        delvto[name] = global_delvto[kind] + local_vt
        mulu0[name] = global_mobility[kind] * math.exp(local_mu)
    return SampleDraw(
        index=index, ra_scale=ra_scale, tmr_scale=tmr_scale, vc_scale=vc_scale, rate_scale=1.0,
        delvto_v=delvto, mulu0=mulu0, global_delvto_v=global_delvto, global_mobility=global_mobility,
    )
