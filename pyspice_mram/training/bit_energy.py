"""Energy of one programmed bit as a function of the bit error rate it is written with.

Two sources:
- `BitEnergyModel.from_analytic`: the write pulse has a fixed amplitude (2.0 Vc by default) and a length
  T(BER) from the switching law; the energy is the expected V*I over the pulse, with the MTJ in its
  initial state until it switches (at t_sw ~ Gamma(k, mu)) and in its final state after:
      E(T) = V^2 [ E[min(t_sw, T)] / R_initial + (T - E[min(t_sw, T)]) / R_final ],
      E[min(t_sw, T)] = mu * P(k + 1, T / theta) + T * Q(k, T / theta),  theta = mu / k,
  averaged over the P->AP and AP->P directions (or one of them). Only the cell is counted, not the
  driver: ratios E(BER) / E(1e-10) are what the savings use.
- `BitEnergyModel.from_table`: rows (ber, energy_j) of a table made by `pyspice-mram table` (one scenario
  and direction), interpolated linearly in energy versus log10(BER).

`WriteEnergyModel` pairs the two directions: bit value 1 is the anti-parallel (high-resistance)
state, so a 0->1 bit write is a P->AP pulse and a 1->0 write an AP->P pulse, each priced from its own
curve at its own pulse length T*(BER) (in the write circuit the two directions differ by tens of %).

Conventions: BER 1 means the bit is never written and costs 0 J. BER 0 needs an infinitely long pulse
and is refused (ParameterError); use the reference BER (1e-10) for "exact" writes. A BER outside a
table's range is refused rather than extrapolated.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import special

from ..device.parameters import PAPER_DEVICE, STATE_AP, STATE_P, MTJParameters
from ..errors import DataError, ParameterError

REFERENCE_BER = 1e-10
DIRECTIONS = ("p2ap", "ap2p", "average")
TABLE_COLUMNS = ("scenario", "direction", "ber", "energy_j")


def _as_ber(ber: float | np.ndarray) -> np.ndarray:
    arr = np.asarray(ber, dtype=float)
    if not np.all(np.isfinite(arr)) or np.any((arr < 0.0) | (arr > 1.0)):
        raise ParameterError(f"BER must lie in [0, 1], got {ber!r}")
    if np.any(arr == 0.0):
        raise ParameterError("BER 0 needs an infinitely long pulse and has no finite energy; use a small BER such as 1e-10")
    return arr


def analytic_energy_j(
    t_pulse_s: float | np.ndarray,
    overdrive: float = 2.0,
    device: MTJParameters = PAPER_DEVICE,
    law=None,
    direction: str = "average",
) -> float | np.ndarray:
    """Expected cell energy of a pulse of length T at constant amplitude overdrive * Vc."""
    if direction not in DIRECTIONS:
        raise ParameterError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    if law is None:
        from ..device.calibration import default_switching_law

        law = default_switching_law(device)
    t = np.asarray(t_pulse_s, dtype=float)
    if not np.all(np.isfinite(t)) or np.any(t < 0):
        raise ParameterError(f"pulse length must be finite and >= 0 s, got {t_pulse_s!r}")
    dist = law.distribution(overdrive)
    k, mu = dist.shape_k, dist.mean_s
    x = t / dist.scale_s
    e_min = mu * special.gammainc(k + 1.0, x) + t * special.gammaincc(k, x)  # E[min(t_sw, T)]
    v = overdrive * device.critical_voltage_v
    r_p = float(device.resistance_ohm(v, STATE_P))
    r_ap = float(device.resistance_ohm(v, STATE_AP))
    p2ap = v * v * (e_min / r_p + (t - e_min) / r_ap)
    ap2p = v * v * (e_min / r_ap + (t - e_min) / r_p)
    out = {"p2ap": p2ap, "ap2p": ap2p, "average": 0.5 * (p2ap + ap2p)}[direction]
    return float(out) if np.ndim(out) == 0 else out


@dataclass(frozen=True)
class BitEnergyModel:
    """E(BER) for one programmed bit, in joules; callable on scalars or arrays."""

    log10_ber: tuple[float, ...] | None = None
    energy_j_table: tuple[float, ...] | None = None
    overdrive: float = 2.0
    device: MTJParameters = PAPER_DEVICE
    direction: str = "average"
    source: str = "analytic"

    @classmethod
    def from_analytic(cls, overdrive: float = 2.0, device: MTJParameters = PAPER_DEVICE, direction: str = "average") -> "BitEnergyModel":
        if not (math.isfinite(overdrive) and overdrive > 1.15):
            raise ParameterError(f"overdrive must be a precessional-regime value > 1.15, got {overdrive!r}")
        if direction not in DIRECTIONS:
            raise ParameterError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
        return cls(overdrive=float(overdrive), device=device, direction=direction,
                   source=f"analytic (V = {overdrive:g} Vc, {direction})")

    @classmethod
    def from_table(cls, table, scenario: str = "variability", direction: str = "average") -> "BitEnergyModel":
        """From a DataFrame or a table file (.parquet / .csv) with scenario, direction, ber, energy_j."""
        import pandas as pd

        label = "table"
        if isinstance(table, (str, os.PathLike)):
            path = Path(table)
            label = f"table {path.name}"
            frame = _read_table(path)
        elif isinstance(table, pd.DataFrame):
            frame = table
        else:
            raise ParameterError("table must be a pandas DataFrame or a path to a .parquet/.csv table")
        missing = [c for c in TABLE_COLUMNS if c not in frame.columns]
        if missing:
            raise DataError(f"energy table lacks column(s) {', '.join(missing)}")
        rows = frame[(frame["scenario"] == scenario) & (frame["direction"] == direction)]
        if rows.empty:
            have = sorted({(str(s), str(d)) for s, d in zip(frame["scenario"], frame["direction"])})
            raise DataError(f"energy table has no rows for scenario={scenario!r}, direction={direction!r}; it has {have}")
        ber = rows["ber"].to_numpy(dtype=float)
        energy = rows["energy_j"].to_numpy(dtype=float)
        good = np.isfinite(ber) & np.isfinite(energy) & (ber > 0) & (ber < 1)
        ber, energy = ber[good], energy[good]
        if ber.size < 2:
            raise DataError("energy table needs at least two finite rows with 0 < ber < 1")
        order = np.argsort(ber)
        ber, energy = ber[order], energy[order]
        if np.any(np.diff(ber) <= 0):
            raise DataError("energy table has duplicate BER rows for one scenario/direction")
        return cls(log10_ber=tuple(np.log10(ber)), energy_j_table=tuple(energy), direction=direction,
                   source=f"{label} ({scenario}, {direction})")

    @property
    def ber_range(self) -> tuple[float, float]:
        if self.log10_ber is None:
            return (0.0, 1.0)
        return (10 ** self.log10_ber[0], 10 ** self.log10_ber[-1])

    def pulse_for_ber_s(self, ber: float | np.ndarray) -> float | np.ndarray:
        """Analytic model only: the pulse length that writes with error rate `ber`."""
        from ..device.calibration import default_switching_law

        arr = _as_ber(ber)
        return default_switching_law(self.device).pulse_for_ber(arr, self.overdrive)

    def energy_per_bit_j(self, ber: float | np.ndarray) -> float | np.ndarray:
        """Expected energy of one bit programmed with error rate `ber` (0 J at BER 1)."""
        arr = _as_ber(ber)
        out = np.zeros_like(arr)
        written = arr < 1.0
        if np.any(written):
            b = arr[written]
            if self.log10_ber is None:
                out[written] = analytic_energy_j(self.pulse_for_ber_s(b), self.overdrive, self.device, direction=self.direction)
            else:
                lo, hi = self.ber_range
                bad = (b < lo * (1 - 1e-9)) | (b > hi * (1 + 1e-9))
                if np.any(bad):
                    raise ParameterError(
                        f"BER {b[bad][0]:g} lies outside the energy table's range [{lo:g}, {hi:g}] ({self.source})"
                    )
                out[written] = np.interp(np.log10(b), self.log10_ber, self.energy_j_table)
        return float(out) if out.ndim == 0 else out

    def saving(self, ber: float | np.ndarray, reference_ber: float = REFERENCE_BER) -> float | np.ndarray:
        """1 - E(ber) / E(reference_ber)."""
        return 1.0 - np.asarray(self.energy_per_bit_j(ber)) / self.energy_per_bit_j(reference_ber)

    def describe(self) -> dict:
        return {"source": self.source, "ber_range": list(self.ber_range), "reference_ber": REFERENCE_BER}


def _read_table(path: Path):
    """The table through the sweeps wing's loader, which checks its columns, units and provenance."""
    from ..sweeps.tables import load_table

    if not path.is_file():
        raise DataError(f"energy table {path} does not exist")
    return load_table(path)


@dataclass(frozen=True)
class WriteEnergyModel:
    """Energy of a programmed bit per write direction: 0->1 from the P->AP curve, 1->0 from AP->P."""

    p2ap: BitEnergyModel
    ap2p: BitEnergyModel

    def __post_init__(self) -> None:
        if (self.p2ap.direction, self.ap2p.direction) != ("p2ap", "ap2p"):
            raise ParameterError(f"need a p2ap and an ap2p model, got {self.p2ap.direction} and {self.ap2p.direction}")

    @classmethod
    def from_analytic(cls, overdrive: float = 2.0, device: MTJParameters = PAPER_DEVICE) -> "WriteEnergyModel":
        return cls(BitEnergyModel.from_analytic(overdrive, device, "p2ap"), BitEnergyModel.from_analytic(overdrive, device, "ap2p"))

    @classmethod
    def from_table(cls, table, scenario: str = "variability") -> "WriteEnergyModel":
        """From a table's p2ap and ap2p rows of one scenario (a DataFrame or a .parquet/.csv path)."""
        if isinstance(table, (str, os.PathLike)):
            table = _read_table(Path(table))
        return cls(BitEnergyModel.from_table(table, scenario, "p2ap"), BitEnergyModel.from_table(table, scenario, "ap2p"))

    def energy_0to1_j(self, ber: float | np.ndarray) -> float | np.ndarray:
        """A 0->1 (P->AP) bit write at error rate `ber`."""
        return self.p2ap.energy_per_bit_j(ber)

    def energy_1to0_j(self, ber: float | np.ndarray) -> float | np.ndarray:
        """A 1->0 (AP->P) bit write at error rate `ber`."""
        return self.ap2p.energy_per_bit_j(ber)

    @property
    def ber_range(self) -> tuple[float, float]:
        (a, b), (c, d) = self.p2ap.ber_range, self.ap2p.ber_range
        return (max(a, c), min(b, d))

    def describe(self) -> dict:
        return {"source": {"0->1 (P->AP)": self.p2ap.source, "1->0 (AP->P)": self.ap2p.source},
                "ber_range": list(self.ber_range), "reference_ber": REFERENCE_BER}
