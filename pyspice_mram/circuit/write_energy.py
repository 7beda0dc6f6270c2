"""Write energy for a target BER from the write circuit (SPICE) plus the switching statistics.

`nominal_write_energy` is the paper's Fig. 2 black curve: no variability, pulse amplitude fixed
(v_over_vc * Vc at pulse start), pulse length cut to reach each target BER. Per direction it runs the
two frozen-state transients, builds the hybrid curves P_fail(T), E(T), and inverts them.

With both directions, a write is P->AP or AP->P with equal probability (random data), so the reported
BER of a pulse length T is the mean of the two directions' P_fail(T), one pulse length T*(target) serves
both directions, and the energy is the mean of the two directions' E(T*). The energy covers every
supply of the circuit (write rail, word-line driver, logic) over the write window [pulse start, T].
Savings are 1 - E(target) / E(1e-10) on the same curve.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from .write_circuit import DIRECTIONS, NOMINAL_SAMPLE, SUPPLIES, SUPPLY_LABELS, CircuitConditions, CircuitSample, WriteCircuit
from ..errors import ParameterError
from .hybrid import WriteCurve, pulse_for_ber, value_at, write_curve

REFERENCE_BER = 1e-10
DEFAULT_TARGETS = (1e-10, 1e-4, 1e-3, 1e-2, 0.1, 0.5)


def check_ber(value: float, name: str = "target BER") -> float:
    value = float(value)
    if not (math.isfinite(value) and 0.0 < value < 1.0):
        raise ParameterError(f"{name} must lie in (0, 1), got {value!r}")
    return value


def resolve_directions(direction: str) -> tuple[str, ...]:
    if direction == "both":
        return DIRECTIONS
    if direction in DIRECTIONS:
        return (direction,)
    raise ParameterError(f"direction must be both, p2ap or ap2p, got {direction!r}")


@dataclass
class TargetResult:
    ber: float
    t_pulse_s: float
    energy_j: float
    energy_by_supply_j: dict[str, float]
    saving: float  # 1 - E / E(1e-10)
    by_direction: dict[str, dict[str, float]] = field(default_factory=dict)  # direction -> ber, energy_j at t_pulse_s

    def as_dict(self) -> dict:
        return {
            "ber": self.ber,
            "t_pulse_s": self.t_pulse_s,
            "energy_j": self.energy_j,
            "saving": self.saving,
            "energy_by_supply_j": self.energy_by_supply_j,
            "by_direction": self.by_direction,
        }


@dataclass
class WriteEnergyResult:
    targets: list[TargetResult]
    directions: tuple[str, ...]
    rails_v: dict[str, float]
    pulse_voltage_v: float
    v_over_vc: float
    curves: dict[str, WriteCurve]
    reference: TargetResult  # the BER 1e-10 point savings are measured against

    @property
    def time_s(self) -> np.ndarray:
        return next(iter(self.curves.values())).time_s

    @property
    def ber_curve(self) -> np.ndarray:
        """BER(T) of the covered directions (their mean)."""
        return np.mean([self.curves[d].p_fail for d in self.directions], axis=0)

    @property
    def energy_curve_j(self) -> np.ndarray:
        return np.mean([self.curves[d].energy_j for d in self.directions], axis=0)

    def as_dict(self) -> dict:
        return {
            "v_over_vc": self.v_over_vc,
            "pulse_voltage_v": self.pulse_voltage_v,
            "rails_v": self.rails_v,
            "directions": list(self.directions),
            "energy_covers": {
                "supplies": {s: SUPPLY_LABELS[s] for s in SUPPLIES},
                "directions": list(self.directions),
                "average": "mean over directions" if len(self.directions) > 1 else "single direction",
                "window": "pulse start to pulse end T",
            },
            "reference_ber": self.reference.ber,
            "targets": [t.as_dict() for t in self.targets],
        }


class ReferenceUnreachable(ParameterError):
    """The reference BER that the savings are measured against is not reachable in the window."""


def energy_for_targets(
    curves: dict[str, WriteCurve], targets: Sequence[float], directions: Sequence[str],
    reference_ber: float = REFERENCE_BER,
) -> tuple[list[TargetResult], TargetResult]:
    """Invert the (direction-averaged) BER curve at each target; energies at that pulse length.

    Savings are measured against the write at `reference_ber`, so that BER must be reachable too.
    """
    time = next(iter(curves.values())).time_s
    ber = np.mean([curves[d].p_fail for d in directions], axis=0)
    energy = np.mean([curves[d].energy_j for d in directions], axis=0)
    by_supply = np.mean([curves[d].energy_by_supply_j for d in directions], axis=0)

    def point(target: float) -> TargetResult:
        t = pulse_for_ber(time, ber, target)
        return TargetResult(
            ber=target,
            t_pulse_s=t,
            energy_j=float(value_at(time, energy, t)),
            energy_by_supply_j={s: float(v) for s, v in zip(SUPPLIES, value_at(time, by_supply, t))},
            saving=0.0,
            by_direction={
                d: {"ber": float(value_at(time, curves[d].p_fail, t)), "energy_j": float(value_at(time, curves[d].energy_j, t))}
                for d in directions
            },
        )

    try:
        reference = point(check_ber(reference_ber))
    except ParameterError as exc:
        raise ReferenceUnreachable(f"the reference BER {reference_ber:g}, which the savings are measured against, "
                                   f"is not reachable: {exc}") from None
    results = []
    for target in targets:
        r = point(check_ber(target))
        r.saving = 1.0 - r.energy_j / reference.energy_j
        results.append(r)
    reference.saving = 0.0
    return results, reference


def nominal_write_energy(
    targets: Sequence[float] = DEFAULT_TARGETS,
    v_over_vc: float = 2.0,
    direction: str = "both",
    conditions: CircuitConditions | None = None,
    sample: CircuitSample = NOMINAL_SAMPLE,
    circuit: WriteCircuit | None = None,
    reference_ber: float = REFERENCE_BER,
) -> WriteEnergyResult:
    """Energy of a write for each target BER (no variability unless `sample` says otherwise).

    `conditions` defaults to `CircuitConditions(v_over_vc=v_over_vc)`; pass a `circuit` to reuse a
    loaded one (its conditions win).
    """
    if not (math.isfinite(v_over_vc) and v_over_vc > 0):
        raise ParameterError(f"v_over_vc must be a finite number > 0, got {v_over_vc!r}")
    targets = [check_ber(t) for t in targets]
    if not targets:
        raise ParameterError("give at least one target BER")
    directions = resolve_directions(direction)
    if circuit is None:
        conditions = conditions or CircuitConditions(v_over_vc=v_over_vc)
        circuit = WriteCircuit(conditions)
    shape_k = float(circuit.law.shape(circuit.conditions.v_over_vc))
    curves = {d: write_curve(circuit.frozen_write(d, sample), shape_k) for d in directions}
    results, reference = energy_for_targets(curves, targets, directions, reference_ber)
    return WriteEnergyResult(
        targets=results,
        directions=tuple(directions),
        rails_v={d: circuit.rail_v(d) for d in directions},
        pulse_voltage_v=circuit.conditions.pulse_voltage_v,
        v_over_vc=circuit.conditions.v_over_vc,
        curves=curves,
        reference=reference,
    )
