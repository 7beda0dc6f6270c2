"""Perpendicular MTJ device parameters (SI units) and its static electrical model.

The defaults are the paper's 32 nm device: diameter 32 nm, free layer 1.3 nm, Ms = 1.58 T/mu0,
RA = 4 Ohm.um^2, TMR0 = 150 %, Vc = 190 mV, Delta = 70 kT at 300 K.

The switching threshold is a free-layer property: spin-transfer torque acts on the free layer through
the current density, so the device quantity held fixed is the critical current density Jc0, and
Ic0 = Jc0 x area. The critical voltage Vc = Ic0 R_P = Jc0 RA follows: a higher-RA cell needs a higher
voltage for the same torque. The paper's device gives Vc = 190 mV at RA = 4 Ohm.um^2, hence the
default Jc0 = 190 mV / 4 Ohm.um^2 = 4.75 MA/cm^2. A device given by its Vc (`with_changes(
critical_voltage_v=...)`, `from_critical_voltage`) is converted to the Jc0 that reproduces it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import numpy as np

from ..errors import ParameterError

MU0 = 4e-7 * math.pi
"""Vacuum permeability (H/m)."""

K_BOLTZMANN = 1.380649e-23
"""Boltzmann constant (J/K)."""

STATE_P = 0
STATE_AP = 1

PAPER_RA_OHM_M2 = 4e-12
PAPER_CRITICAL_VOLTAGE_V = 0.190
PAPER_CRITICAL_CURRENT_DENSITY_A_PER_M2 = PAPER_CRITICAL_VOLTAGE_V / PAPER_RA_OHM_M2
"""Jc0 of the paper's device: its Vc over its RA (4.75e10 A/m^2 = 4.75 MA/cm^2)."""

DERIVED_FIELDS = ("critical_voltage_v", "critical_current_a")
"""Quantities `with_changes` accepts although they are not fields: they set Jc0 (after the other changes)."""


def _check_positive(name: str, value: float) -> float:
    value = float(value)
    if not math.isfinite(value) or value <= 0.0:
        raise ParameterError(f"{name} must be a finite number > 0, got {value!r}")
    return value


@dataclass(frozen=True)
class MTJParameters:
    """Validated MTJ parameters; every field is in SI units.

    Resistances follow from RA and the circular area; the anti-parallel resistance falls with bias
    through TMR(V) = TMR0 / (1 + V^2 / Vh^2).
    """

    diameter_m: float = 32e-9
    free_layer_thickness_m: float = 1.3e-9
    saturation_magnetization_a_per_m: float = 1.58 / MU0
    ra_ohm_m2: float = PAPER_RA_OHM_M2
    tmr0: float = 1.5
    tmr_half_bias_v: float = 0.5
    critical_current_density_a_per_m2: float = PAPER_CRITICAL_CURRENT_DENSITY_A_PER_M2
    thermal_stability: float = 70.0
    temperature_k: float = 300.0
    attempt_time_s: float = 1e-9

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            _check_positive(name, value)

    # --- geometry -------------------------------------------------------------------------------
    @property
    def area_m2(self) -> float:
        return math.pi * self.diameter_m**2 / 4.0

    @property
    def free_layer_volume_m3(self) -> float:
        return self.area_m2 * self.free_layer_thickness_m

    @property
    def energy_barrier_j(self) -> float:
        """Delta * kT: the barrier that sets retention and the thermal switching regime."""
        return self.thermal_stability * K_BOLTZMANN * self.temperature_k

    @property
    def anisotropy_energy_j_per_m3(self) -> float:
        """Effective anisotropy energy density K_eff = Delta kT / V (what Delta means per unit volume)."""
        return self.energy_barrier_j / self.free_layer_volume_m3

    @property
    def anisotropy_field_a_per_m(self) -> float:
        """Effective anisotropy field H_k = 2 K_eff / (mu0 Ms)."""
        return 2.0 * self.anisotropy_energy_j_per_m3 / (MU0 * self.saturation_magnetization_a_per_m)

    @classmethod
    def from_materials(cls, *, anisotropy_energy_j_per_m3: float | None = None, anisotropy_field_a_per_m: float | None = None,
                       **fields: float) -> "MTJParameters":
        """A device from its free layer's material: Delta = K_eff V / kT with V = area x thickness.

        Give K_eff, or H_k (then K_eff = mu0 Ms H_k / 2 with the device's Ms); `fields` are the other
        MTJParameters fields (diameter, thickness, Ms, RA, TMR0, Jc0 ...). Delta then grows with the
        volume, while Jc0 (and so Vc = Jc0 RA) is a material value: Ic0 = Jc0 x area.
        """
        if (anisotropy_energy_j_per_m3 is None) == (anisotropy_field_a_per_m is None):
            raise ParameterError("give one of anisotropy_energy_j_per_m3 and anisotropy_field_a_per_m")
        if "thermal_stability" in fields:
            raise ParameterError("thermal_stability follows from the material (K_eff V / kT); do not give it too")
        base = cls(**fields)
        if anisotropy_energy_j_per_m3 is not None:
            k_eff = _check_positive("anisotropy_energy_j_per_m3", anisotropy_energy_j_per_m3)
        else:
            h_k = _check_positive("anisotropy_field_a_per_m", anisotropy_field_a_per_m)
            k_eff = 0.5 * MU0 * base.saturation_magnetization_a_per_m * h_k
        delta = k_eff * base.free_layer_volume_m3 / (K_BOLTZMANN * base.temperature_k)
        return replace(base, thermal_stability=_check_positive("thermal_stability", delta))

    # --- electrical -------------------------------------------------------------------------------
    @property
    def r_p_ohm(self) -> float:
        return self.ra_ohm_m2 / self.area_m2

    def tmr(self, voltage_v: float | np.ndarray) -> float | np.ndarray:
        """Bias-dependent TMR ratio (dimensionless, 1.5 = 150 %)."""
        v = np.asarray(voltage_v, dtype=float)
        out = self.tmr0 / (1.0 + (v / self.tmr_half_bias_v) ** 2)
        return float(out) if out.ndim == 0 else out

    def r_ap_ohm(self, voltage_v: float | np.ndarray = 0.0) -> float | np.ndarray:
        return self.r_p_ohm * (1.0 + self.tmr(voltage_v))

    def resistance_ohm(self, voltage_v: float | np.ndarray, state: int) -> float | np.ndarray:
        """Resistance in state P (0) or AP (1) at the given bias."""
        if state == STATE_P:
            v = np.asarray(voltage_v, dtype=float)
            out = np.full_like(v, self.r_p_ohm)
            return float(out) if out.ndim == 0 else out
        if state == STATE_AP:
            return self.r_ap_ohm(voltage_v)
        raise ParameterError(f"state must be 0 (P) or 1 (AP), got {state!r}")

    def current_a(self, voltage_v: float | np.ndarray, state: int) -> float | np.ndarray:
        """Static current I = V / R(V, state); odd in V."""
        return np.asarray(voltage_v, dtype=float) / self.resistance_ohm(voltage_v, state)

    @property
    def critical_current_a(self) -> float:
        """Ic0 = Jc0 x area: the free layer's switching threshold."""
        return self.critical_current_density_a_per_m2 * self.area_m2

    @property
    def critical_voltage_v(self) -> float:
        """Vc = Ic0 R_P = Jc0 RA (defined in the P state): scales with RA, not with the diameter."""
        return self.critical_current_density_a_per_m2 * self.ra_ohm_m2

    def overdrive(self, voltage_v: float | np.ndarray) -> float | np.ndarray:
        """v = |V_MTJ| / Vc, the quantity switching statistics depend on."""
        return np.abs(voltage_v) / self.critical_voltage_v

    def with_changes(self, **changes: float) -> "MTJParameters":
        """A validated copy with some fields changed (used by Monte Carlo draws).

        `critical_voltage_v` or `critical_current_a` may be given instead of Jc0: the copy's Jc0 is then
        the one that gives that Vc (or Ic0) with the copy's RA and diameter.
        """
        unknown = set(changes) - set(asdict(self)) - set(DERIVED_FIELDS)
        if unknown:
            raise ParameterError(f"unknown MTJ parameter(s): {', '.join(sorted(unknown))}")
        derived = {k: changes.pop(k) for k in DERIVED_FIELDS if k in changes}
        if len(derived) + ("critical_current_density_a_per_m2" in changes) > 1:
            raise ParameterError("give only one of critical_current_density_a_per_m2, critical_voltage_v, critical_current_a")
        out = replace(self, **changes)
        if "critical_voltage_v" in derived:
            vc = _check_positive("critical_voltage_v", derived["critical_voltage_v"])
            out = replace(out, critical_current_density_a_per_m2=vc / out.ra_ohm_m2)
        if "critical_current_a" in derived:
            ic0 = _check_positive("critical_current_a", derived["critical_current_a"])
            out = replace(out, critical_current_density_a_per_m2=ic0 / out.area_m2)
        return out

    @classmethod
    def from_critical_voltage(cls, critical_voltage_v: float, **fields: float) -> "MTJParameters":
        """A device given as (d, RA, TMR, Vc, Delta, ...): Jc0 = Vc / RA, so Vc stays as given."""
        return cls(**fields).with_changes(critical_voltage_v=critical_voltage_v)

    def summary(self) -> dict[str, float]:
        return {
            "r_p_ohm": self.r_p_ohm,
            "r_ap_ohm": float(self.r_ap_ohm(0.0)),
            "vc_v": self.critical_voltage_v,
            "ic0_a": self.critical_current_a,
            "jc0_a_per_m2": self.critical_current_density_a_per_m2,
            "delta": self.thermal_stability,
        }


PAPER_DEVICE = MTJParameters()
"""The paper's device (all defaults)."""
