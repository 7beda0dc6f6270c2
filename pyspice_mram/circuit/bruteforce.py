"""Brute-force check of the hybrid estimator: stochastic transients where the MTJ really switches.

Each run draws the macromodel's switching thresholds X ~ Gamma(k, 1)/k from a SeedSequence keyed by
(seed, run index), so the result of a run never depends on how many runs or workers there are. The
pulse lasts T and then ends; the write failed if the state output is still the initial state one
`circuit.STOCHASTIC_TAIL_S` after the pulse. The empirical BER comes with a Wilson 95 % interval; the
energy of a run is integrated over the same window as the hybrid's E(T): pulse start to T.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from .write_circuit import NOMINAL_SAMPLE, SUPPLIES, CircuitSample, WriteCircuit, check_direction
from ..errors import ParameterError
from .hybrid import value_at, write_curve
from ..device.macromodel import draw_thresholds


VACASK_BATCH = 100  # stochastic transients per VACASK process (its raw file stays ~2 MB)


def wilson_interval(failures: int, runs: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (well-behaved at 0 and at small counts)."""
    if runs <= 0 or not 0 <= failures <= runs:
        raise ParameterError(f"need 0 <= failures <= runs and runs > 0, got {failures}/{runs}")
    if not 0 < confidence < 1:
        raise ParameterError(f"confidence must lie in (0, 1), got {confidence!r}")
    z = float(stats.norm.isf((1 - confidence) / 2))
    p = failures / runs
    denom = 1 + z * z / runs
    centre = (p + z * z / (2 * runs)) / denom
    half = z * math.sqrt(p * (1 - p) / runs + z * z / (4 * runs * runs)) / denom
    lo = 0.0 if failures == 0 else max(0.0, centre - half)  # exact ends: rounding must not hide 0 or 1
    hi = 1.0 if failures == runs else min(1.0, centre + half)
    return lo, hi


def run_thresholds(seed: int, run_index: int, shape_k: float) -> tuple[float, float]:
    """(thr_p2ap, thr_ap2p) of one run, from the seed tree node (seed, run_index)."""
    node = np.random.SeedSequence(entropy=seed, spawn_key=(run_index,))
    x = draw_thresholds(shape_k, node, 2)
    return float(x[0]), float(x[1])


@dataclass
class BruteForceResult:
    direction: str
    t_pulse_s: float
    runs: int
    failures: int
    energy_mean_j: float
    energy_sem_j: float  # standard error of the mean energy
    energy_by_supply_mean_j: dict[str, float] = field(default_factory=dict)
    hybrid_ber: float | None = None
    hybrid_energy_j: float | None = None

    @property
    def ber(self) -> float:
        return self.failures / self.runs

    @property
    def wilson95(self) -> tuple[float, float]:
        return wilson_interval(self.failures, self.runs)

    @property
    def hybrid_inside(self) -> bool | None:
        if self.hybrid_ber is None:
            return None
        lo, hi = self.wilson95
        return lo <= self.hybrid_ber <= hi

    @property
    def energy_gap(self) -> float | None:
        """Relative difference hybrid / brute-force mean energy - 1."""
        if self.hybrid_energy_j is None:
            return None
        return self.hybrid_energy_j / self.energy_mean_j - 1.0

    def as_dict(self) -> dict:
        lo, hi = self.wilson95
        return {
            "direction": self.direction,
            "t_pulse_s": self.t_pulse_s,
            "runs": self.runs,
            "failures": self.failures,
            "ber": self.ber,
            "wilson95": [lo, hi],
            "energy_mean_j": self.energy_mean_j,
            "energy_sem_j": self.energy_sem_j,
            "energy_by_supply_mean_j": self.energy_by_supply_mean_j,
            "hybrid_ber": self.hybrid_ber,
            "hybrid_energy_j": self.hybrid_energy_j,
            "hybrid_inside_wilson95": self.hybrid_inside,
            "energy_gap": self.energy_gap,
        }


def brute_force_write(
    circuit: WriteCircuit,
    direction: str,
    t_pulse_s: float,
    runs: int,
    seed: int = 0,
    sample: CircuitSample = NOMINAL_SAMPLE,
    with_hybrid: bool = True,
    progress: bool = False,
) -> BruteForceResult:
    """`runs` stochastic writes of length `t_pulse_s`; optionally the hybrid's prediction alongside."""
    check_direction(direction)
    if not (math.isfinite(t_pulse_s) and t_pulse_s > 0):
        raise ParameterError(f"pulse length must be a finite number > 0 s, got {t_pulse_s!r}")
    if t_pulse_s > circuit.conditions.t_stop_s:
        raise ParameterError(f"pulse length {t_pulse_s:g} s exceeds the transient window {circuit.conditions.t_stop_s:g} s")
    if int(runs) != runs or runs < 1:
        raise ParameterError(f"runs must be a positive integer, got {runs!r}")
    shape_k = float(circuit.law.shape(circuit.conditions.v_over_vc))
    runs = int(runs)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=runs, desc=f"brute force {direction} T={t_pulse_s * 1e9:.3g} ns", unit="run")
    failures = 0
    energies = np.empty((len(SUPPLIES), runs))
    # VACASK starts a process per transient; batching many into one process (its sweep) saves that
    block_size = VACASK_BATCH if getattr(circuit.engine, "name", "") == "vacask" else 1
    for start in range(0, runs, block_size):
        block = range(start, min(runs, start + block_size))
        thresholds = [run_thresholds(seed, i, shape_k) for i in block]
        if block_size > 1:
            from .vacask import batched_stochastic_writes

            outcomes = batched_stochastic_writes(circuit, direction, t_pulse_s, thresholds, sample)
        else:
            outcomes = [circuit.stochastic_write(direction, t_pulse_s, thresholds[0], sample)]
        for i, (switched, e) in zip(block, outcomes):
            failures += 0 if switched else 1
            energies[:, i] = e
        if bar is not None:
            bar.update(len(block))
    if bar is not None:
        bar.close()
    total = energies.sum(axis=0)
    result = BruteForceResult(
        direction=direction,
        t_pulse_s=float(t_pulse_s),
        runs=int(runs),
        failures=failures,
        energy_mean_j=float(total.mean()),
        energy_sem_j=float(total.std(ddof=1) / math.sqrt(runs)) if runs > 1 else float("nan"),
        energy_by_supply_mean_j={s: float(v) for s, v in zip(SUPPLIES, energies.mean(axis=1))},
    )
    if with_hybrid:
        curve = write_curve(circuit.frozen_write(direction, sample), shape_k)
        result.hybrid_ber = float(value_at(curve.time_s, curve.p_fail, t_pulse_s))
        result.hybrid_energy_j = float(value_at(curve.time_s, curve.energy_j, t_pulse_s))
    return result
