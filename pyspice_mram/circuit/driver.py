"""The write driver's sizes, word-line level and line parasitics (SI units), as named fields.

These are the circuit's design choices a user changes (a stronger leg for a larger MTJ, a longer
bit line); the netlist takes each one as a top-level `.param` (`SPICE_PARAMS` names them) and
`WriteCircuit` sets every one on every run. The defaults are the shipped netlist's values
(`netlists/README.md` explains them); a test checks that the two agree.

`scaled_for_current(factor)` is the stated rule for resizing the driver with the device: every
device in the write path (both legs and the access transistor) is widened by the ratio of the
critical currents, so the on-resistances scale as the MTJ's and the divider keeps its ratio.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

from ..errors import ParameterError

SPICE_PARAMS: dict[str, str] = {
    "leg_pmos_width_m": "w_leg_p",
    "leg_nmos_width_m": "w_leg_n",
    "leg_length_m": "l_leg",
    "access_width_m": "w_acc",
    "access_length_m": "l_acc",
    "word_line_v": "vwl_nom",
    "bl_resistance_ohm": "r_bl",
    "bl_capacitance_f": "c_bl",
    "sl_resistance_ohm": "r_sl",
    "sl_capacitance_f": "c_sl",
    "wl_capacitance_f": "c_wl",
}
"""Field of `DriverParameters` -> the netlist `.param` that carries it."""

MIN_LENGTH_M = 20e-9
"""Below this a channel length is outside what the shipped BSIM4 cards are meant for."""


@dataclass(frozen=True)
class DriverParameters:
    """Write driver and line parasitics. Widths/lengths in m, voltages in V, R in Ohm, C in F.

    The legs (mp_bl/mp_sl pull-ups, mn_bl/mn_sl pull-downs) are symmetric: one PMOS and one NMOS
    width for both. Line capacitances are per line (split half at the driver end, half at the cell).
    """

    leg_pmos_width_m: float = 1.6e-6
    leg_nmos_width_m: float = 0.8e-6
    leg_length_m: float = 32e-9
    access_width_m: float = 0.5e-6
    access_length_m: float = 32e-9
    word_line_v: float = 1.3
    bl_resistance_ohm: float = 100.0
    bl_capacitance_f: float = 5e-15
    sl_resistance_ohm: float = 100.0
    sl_capacitance_f: float = 5e-15
    wl_capacitance_f: float = 2e-15

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            value = float(value)
            if not math.isfinite(value) or value < 0 or (value == 0 and not name.endswith(("_ohm", "_f"))):
                raise ParameterError(f"driver {name} must be a finite number > 0, got {value!r}")
        for name in ("leg_length_m", "access_length_m"):
            if getattr(self, name) < MIN_LENGTH_M:
                raise ParameterError(f"driver {name} = {getattr(self, name) * 1e9:g} nm is below {MIN_LENGTH_M * 1e9:g} nm, "
                                     "outside the transistor cards")
        if self.word_line_v > 2.0:
            raise ParameterError(f"driver word_line_v = {self.word_line_v:g} V is beyond what the gate oxide of the cards stands (2 V)")

    def spice_params(self) -> dict[str, float]:
        """The netlist `.param` values of this driver."""
        return {SPICE_PARAMS[name]: float(value) for name, value in asdict(self).items()}

    def with_changes(self, **changes: float) -> "DriverParameters":
        unknown = set(changes) - set(asdict(self))
        if unknown:
            raise ParameterError(f"unknown driver parameter(s): {', '.join(sorted(unknown))}; known: {', '.join(asdict(self))}")
        return replace(self, **changes)

    def scaled_for_current(self, factor: float) -> "DriverParameters":
        """Every width in the write path (legs and access) times `factor` (e.g. Ic0 ratio of two devices)."""
        if not (math.isfinite(factor) and factor > 0):
            raise ParameterError(f"driver scale factor must be a finite number > 0, got {factor!r}")
        return replace(self, leg_pmos_width_m=self.leg_pmos_width_m * factor, leg_nmos_width_m=self.leg_nmos_width_m * factor,
                       access_width_m=self.access_width_m * factor)

    def summary(self) -> dict[str, float]:
        return {name: float(value) for name, value in asdict(self).items()}


DEFAULT_DRIVER = DriverParameters()
