"""The write circuit: bidirectional driver + 1T-1MTJ cell (netlists/write_driver.cir) on an engine.

`WriteCircuit(conditions)` loads the netlist once into the process's session of the engine named by
`conditions.simulator` (circuit/engine.py: ngspice by default, or VACASK with the Verilog-A MTJ). Everything that
changes from run to run is a top-level `.param` of the netlist, changed with `alterparam` + `reset`:
- `conditions` (`CircuitConditions`) are fixed per circuit: BSIM4 card, corner shifts, VDD scale,
  temperature, pulse amplitude v_over_vc, transient length and time steps;
- `sample` (`CircuitSample`) carries one Monte Carlo draw: MTJ ra/tmr/rate scales and per-transistor
  delvto / mulu0.

The write rail is a design choice, so it is solved once per direction (nominal device, typical corner,
nominal VDD and temperature) such that V_MTJ at pulse start = v_over_vc * Vc, then kept fixed: a
sample or a corner changes V_MTJ, not the rail. VDD scale multiplies every supply, the rail included.

`frozen_write` runs the two frozen-state transients of the hybrid estimator (MTJ held in its initial,
then in its final state) and returns a `FrozenWrite` on a fixed time grid starting at pulse start.
The intrinsic per-cell rate scale cannot act in a frozen run (the MTJ never switches there), so it
multiplies the progress instead: q(t) = rate_scale * law.progress(t, V_MTJ(t)).

Energy of a supply = integral of V * I delivered by that source, from pulse start to the pulse end T
(the write window); the falling edge after T is not part of it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Mapping

import numpy as np
from scipy import optimize

from .. import paths
from ..device.calibration import default_switching_law
from ..device.parameters import PAPER_DEVICE, STATE_AP, STATE_P, MTJParameters
from ..errors import DataError, ParameterError
from .hybrid import FrozenWrite
from .engine import check_simulator, engine_session
from .ngspice import TransientResult
from ..device.switching import SwitchingLaw

Direction = Literal["p2ap", "ap2p"]
DIRECTIONS: tuple[str, ...] = ("p2ap", "ap2p")

DEFAULT_NETLIST = "write_driver.cir"
DEFAULT_MODEL_CARD = "ptm_32nm_LP.pm"

SUPPLIES: tuple[str, ...] = ("vwr", "vwl", "vdd")
"""Voltage sources whose energy is reported: write rail, word-line driver supply, logic supply."""
SUPPLY_LABELS = {"vwr": "write rail", "vwl": "word-line driver", "vdd": "logic (predrivers)"}
SUPPLY_PARAMS = {"vwr": "vrail", "vwl": "vwl_nom", "vdd": "vdd_nom"}

# Nodes of the netlist the code reads (free layer = bl, pinned layer = mid, state output = st).
NODE_FREE, NODE_PINNED, NODE_STATE = "bl", "mid", "st"
WAVEFORM_NODES = ("bl", "mid", "st", "bl_d", "sl_d", "wl", "g_bl", "g_sl")

RAIL_SEARCH_V = (0.2, 1.6)  # bracket of the rail solver (V)
RAIL_TOLERANCE_V = 2e-5
SETTLE_S = 1.0e-9  # V_MTJ "at pulse start" is read this long after the pulse edge (edges are ~50 ps)
STOCHASTIC_TAIL_S = 1.0e-9  # after a stochastic pulse ends: time for a started switch to complete


def _check_finite(name: str, value: float, positive: bool = False, non_negative: bool = False) -> float:
    value = float(value)
    if not math.isfinite(value):
        raise ParameterError(f"{name} must be a finite number, got {value!r}")
    if positive and value <= 0:
        raise ParameterError(f"{name} must be > 0, got {value!r}")
    if non_negative and value < 0:
        raise ParameterError(f"{name} must be >= 0, got {value!r}")
    return value


def check_direction(direction: str) -> str:
    if direction not in DIRECTIONS:
        raise ParameterError(f"direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}")
    return direction


def initial_state(direction: str) -> int:
    return STATE_P if check_direction(direction) == "p2ap" else STATE_AP


@dataclass(frozen=True)
class CircuitConditions:
    """What is fixed for one loaded circuit (a corner of a sweep)."""

    model_card: str | Path = DEFAULT_MODEL_CARD  # a file name in spice_models/ or a path
    netlist: str | Path = DEFAULT_NETLIST  # a file name in netlists/ or a path
    v_over_vc: float = 2.0  # pulse amplitude: V_MTJ at pulse start / Vc
    dvt_n_v: float = 0.0  # corner: global delvto of every NMOS (V)
    dvt_p_v: float = 0.0  # corner: global delvto of every PMOS (V; negative = slower PMOS)
    mu_n: float = 1.0  # corner: global NMOS mobility multiplier
    mu_p: float = 1.0
    vdd_scale: float = 1.0  # multiplies every supply (rail, word line, logic)
    temperature_c: float = 27.0
    t_stop_s: float = 40e-9  # transient length after pulse start (long enough for BER 1e-10 of weak cells)
    max_step_s: float = 100e-12  # 100 ps: T(1e-10) within 3 ps and E within 0.1 % of a 25 ps run
    grid_step_s: float = 50e-12  # FrozenWrite time grid
    t_start_s: float = 0.2e-9  # pulse start inside the transient
    t_rise_s: float = 20e-12  # control-input edges
    rail_v: Mapping[str, float] | None = None  # fixed rails per direction; None = solve them
    device: MTJParameters = PAPER_DEVICE
    spice_options: Mapping[str, str] = field(default_factory=dict)  # extra ngspice `option`s for every run
    simulator: str = "ngspice"  # the engine (circuit/engine.py): ngspice, vacask or ngspice-osdi

    def __post_init__(self) -> None:
        _check_finite("v_over_vc", self.v_over_vc, positive=True)
        for name in ("dvt_n_v", "dvt_p_v"):
            _check_finite(name, getattr(self, name))
        for name in ("mu_n", "mu_p", "vdd_scale", "t_stop_s", "max_step_s", "grid_step_s", "t_start_s", "t_rise_s"):
            _check_finite(name, getattr(self, name), positive=True)
        _check_finite("temperature_c", self.temperature_c)
        check_simulator(self.simulator)
        if not -273.15 < self.temperature_c < 300:
            raise ParameterError(f"temperature_c must lie in (-273.15, 300) degC, got {self.temperature_c!r}")
        if self.grid_step_s > self.t_stop_s / 4:
            raise ParameterError("grid_step_s must be well below t_stop_s")
        if self.rail_v is not None:
            missing = set(DIRECTIONS) - set(self.rail_v)
            if missing:
                raise ParameterError(f"rail_v needs a value for {', '.join(sorted(missing))}")
            for d in DIRECTIONS:
                _check_finite(f"rail_v[{d}]", self.rail_v[d], positive=True)

    @property
    def pulse_voltage_v(self) -> float:
        return self.v_over_vc * self.device.critical_voltage_v

    @property
    def time_grid_s(self) -> np.ndarray:
        n = int(math.floor(self.t_stop_s / self.grid_step_s + 1e-9))
        return np.arange(n + 1) * self.grid_step_s

    def corner_params(self) -> dict[str, float]:
        return {"dvt_n": self.dvt_n_v, "dvt_p": self.dvt_p_v, "mu_n": self.mu_n, "mu_p": self.mu_p, "vdd_scale": self.vdd_scale}


@dataclass(frozen=True)
class CircuitSample:
    """One Monte Carlo draw: plain data (picklable). Transistor names are `WriteCircuit.transistors`."""

    ra_scale: float = 1.0
    tmr_scale: float = 1.0
    rate_scale: float = 1.0
    delvto_v: Mapping[str, float] = field(default_factory=dict)
    mulu0: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("ra_scale", "tmr_scale", "rate_scale"):
            _check_finite(name, getattr(self, name), positive=True)
        for name, value in self.delvto_v.items():
            _check_finite(f"delvto_v[{name}]", value)
        for name, value in self.mulu0.items():
            _check_finite(f"mulu0[{name}]", value, positive=True)


NOMINAL_SAMPLE = CircuitSample()


@dataclass(frozen=True)
class Transistor:
    name: str
    type: str  # 'n' or 'p'
    w_m: float
    l_m: float

    def __iter__(self):  # unpacks as (name, type, W, L)
        return iter((self.name, self.type, self.w_m, self.l_m))


_SI_SUFFIX = {"t": 1e12, "g": 1e9, "meg": 1e6, "k": 1e3, "m": 1e-3, "u": 1e-6, "n": 1e-9, "p": 1e-12, "f": 1e-15}


def _spice_number(text: str) -> float:
    m = re.fullmatch(r"([-+]?[0-9.]+(?:e[-+]?[0-9]+)?)(meg|[tgkmunpf])?[a-z]*", text.strip().lower())
    if not m:
        raise DataError(f"cannot read the SPICE number {text!r} in the netlist")
    return float(m.group(1)) * _SI_SUFFIX.get(m.group(2) or "", 1.0)


def _logical_lines(text: str) -> list[str]:
    """Netlist lines with '+' continuations joined and comments dropped."""
    out: list[str] = []
    for raw in text.splitlines():
        line = raw.split(";", 1)[0].rstrip()
        if not line.strip() or line.lstrip().startswith("*"):
            continue
        if line.lstrip().startswith("+") and out:
            out[-1] += " " + line.lstrip()[1:]
        else:
            out.append(line.strip())
    return out


def parse_transistors(netlist_text: str) -> list[Transistor]:
    """MOSFET instances of the top level (M-lines): name, type, W, L."""
    found: list[Transistor] = []
    for line in _logical_lines(netlist_text):
        if not line[0] in "mM":
            continue
        tokens = line.split()
        model = tokens[5].lower()
        kind = "p" if model.startswith("p") else "n"
        kw = dict(t.lower().split("=", 1) for t in tokens[6:] if "=" in t)
        found.append(Transistor(tokens[0].lower(), kind, _spice_number(kw["w"]), _spice_number(kw["l"])))
    return found


def _resolve_file(value: str | Path, folder: str, what: str) -> Path:
    path = Path(value)
    if path.is_absolute() or path.parent != Path("."):
        if not path.is_file():
            raise DataError(f"{what} {str(path)!r} does not exist")
        return path.resolve()
    return paths.resource_file(folder, str(value))


def build_deck(netlist_path: Path, model_card: Path) -> str:
    """The netlist text with its includes made absolute and the BSIM4 card swapped for `model_card`."""
    lines: list[str] = []
    for line in netlist_path.read_text().splitlines():
        m = re.match(r"^\s*\.(include|inc|lib)\s+\"?([^\"\s]+)\"?(.*)$", line, flags=re.IGNORECASE)
        if m:
            target = Path(m.group(2))
            if not target.is_absolute():
                target = (netlist_path.parent / target).resolve()
            if target.suffix.lower() == ".pm":
                target = model_card
            if not target.is_file():
                raise DataError(f"{netlist_path.name} includes {target.name}, which does not exist ({target})")
            line = f'.{m.group(1)} "{target}"{m.group(3)}'
        lines.append(line)
    return "\n".join(lines) + "\n"


class WriteCircuit:
    """The write circuit of one set of conditions, loaded in this process's ngspice session."""

    def __init__(self, conditions: CircuitConditions | None = None, law: SwitchingLaw | None = None) -> None:
        self.conditions = conditions or CircuitConditions()
        self.law = law or default_switching_law(self.conditions.device)
        self.netlist_path = _resolve_file(self.conditions.netlist, "netlists", "netlist")
        self.model_card_path = _resolve_file(self.conditions.model_card, "spice_models", "model card")
        self.deck = build_deck(self.netlist_path, self.model_card_path)
        self.transistors: list[Transistor] = parse_transistors(self.deck)
        self._transistor_names = {t.name for t in self.transistors}
        self._nominal = {name: self._param(name) for name in ("vwl_nom", "vdd_nom")}
        self.engine = engine_session(self.conditions.simulator)
        self._activate()
        self._rails: dict[str, float] = dict(self.conditions.rail_v or {})

    # --- session ----------------------------------------------------------------------------------
    def _activate(self) -> None:
        """Make this circuit the loaded one (another WriteCircuit in the process may have replaced it)."""
        self.engine.load(self.deck)  # a no-op when this deck is the loaded one

    def _sample_params(self, sample: CircuitSample) -> dict[str, float]:
        unknown = (set(sample.delvto_v) | set(sample.mulu0)) - self._transistor_names
        if unknown:
            raise ParameterError(
                f"unknown transistor(s) {', '.join(sorted(unknown))}; the circuit has {', '.join(sorted(self._transistor_names))}"
            )
        params = {"ra_scale": sample.ra_scale, "tmr_scale": sample.tmr_scale, "rate_scale": sample.rate_scale}
        for t in self.transistors:
            params[f"dvt_{t.name}"] = float(sample.delvto_v.get(t.name, 0.0))
            params[f"mu_{t.name}"] = float(sample.mulu0.get(t.name, 1.0))
        return params

    def run(
        self,
        direction: str,
        sample: CircuitSample = NOMINAL_SAMPLE,
        *,
        state0: int | None = None,
        frozen: bool = True,
        t_pulse_s: float | None = None,
        t_after_s: float | None = None,
        thresholds: tuple[float, float] = (1.0, 1.0),
        rail_v: float | None = None,
        typical: bool = False,
        vectors: tuple[str, ...] | None = None,
    ) -> TransientResult:
        """One transient of the write circuit. Time 0 of the result is the transient's start.

        `t_pulse_s=None` keeps the pulse on for the whole window (frozen runs); `typical=True` runs at
        the typical corner, nominal VDD and 27 degC (used by the rail solver).
        """
        check_direction(direction)
        c = self.conditions
        if t_pulse_s is not None and not (math.isfinite(t_pulse_s) and t_pulse_s > 0):
            raise ParameterError(f"pulse length must be a finite number > 0 s, got {t_pulse_s!r}")
        window = c.t_stop_s if t_after_s is None else t_after_s
        stop = c.t_start_s + window
        pulse = window + 1e-9 if t_pulse_s is None else t_pulse_s
        rail = self.rail_v(direction) if rail_v is None else rail_v
        params: dict[str, float] = {
            "vrail": rail,
            "din": 1.0 if direction == "p2ap" else 0.0,
            "state0": float(initial_state(direction) if state0 is None else state0),
            "frozen": 1.0 if frozen else 0.0,
            "thr_p2ap": thresholds[0],
            "thr_ap2p": thresholds[1],
            "tstart": c.t_start_s,
            "trise": c.t_rise_s,
            "tpulse": pulse,
        }
        corner = c.corner_params()
        temperature = c.temperature_c
        if typical:
            corner = {"dvt_n": 0.0, "dvt_p": 0.0, "mu_n": 1.0, "mu_p": 1.0, "vdd_scale": 1.0}
            temperature = 27.0
        params.update(corner)
        params.update(self._sample_params(sample))
        if frozen:
            # a frozen MTJ never switches: its rate does not matter there (it multiplies q instead), and
            # keeping it at 1 makes the frozen transients of samples that differ only in rate identical
            params["rate_scale"] = 1.0
        self._activate()
        names = vectors or (f"v({NODE_FREE})", f"v({NODE_PINNED})", f"v({NODE_STATE})", *(f"i({s})" for s in SUPPLIES))
        step = min(c.max_step_s, 10e-12)
        return self.engine.transient(
            step, stop, c.max_step_s, names, params=params,
            options={**{k: str(v) for k, v in c.spice_options.items()}, "temp": repr(float(temperature))},
        )

    # --- the rail ---------------------------------------------------------------------------------
    def pulse_start_voltage(self, direction: str, rail_v: float, sample: CircuitSample = NOMINAL_SAMPLE, typical: bool = True) -> float:
        """V_MTJ (signed) shortly after the pulse edge, MTJ frozen in its initial state."""
        res = self.run(direction, sample, rail_v=rail_v, t_after_s=SETTLE_S, typical=typical)
        v = res[f"v({NODE_FREE})"] - res[f"v({NODE_PINNED})"]
        return float(np.interp(self.conditions.t_start_s + SETTLE_S, res.time_s, v))

    def rail_v(self, direction: str) -> float:
        """The write-rail voltage of `direction` (solved on first use, then fixed)."""
        check_direction(direction)
        if direction not in self._rails:
            self._rails[direction] = self._solve_rail(direction)
        return self._rails[direction]

    def rails(self) -> dict[str, float]:
        return {d: self.rail_v(d) for d in DIRECTIONS}

    def _solve_rail(self, direction: str) -> float:
        target = self.conditions.pulse_voltage_v

        def gap(rail: float) -> float:
            return abs(self.pulse_start_voltage(direction, rail)) - target

        lo, hi = RAIL_SEARCH_V
        g_hi = gap(hi)
        if g_hi < 0:
            raise ParameterError(
                f"pulse amplitude {target * 1e3:.0f} mV ({self.conditions.v_over_vc:g} Vc) is out of reach for {direction}: "
                f"even a {hi:g} V rail gives only {(g_hi + target) * 1e3:.0f} mV across the MTJ"
            )
        if gap(lo) > 0:
            raise ParameterError(f"pulse amplitude {target * 1e3:.0f} mV is below what a {lo:g} V rail gives for {direction}")
        return float(optimize.brentq(gap, lo, hi, xtol=RAIL_TOLERANCE_V))

    # --- energy and progress ----------------------------------------------------------------------
    def supply_voltages(self, direction: str, typical: bool = False) -> dict[str, float]:
        scale = 1.0 if typical else self.conditions.vdd_scale
        return {"vwr": self.rail_v(direction) * scale, "vwl": self._nominal["vwl_nom"] * scale, "vdd": self._nominal["vdd_nom"] * scale}

    def _param(self, name: str) -> float:
        for line in _logical_lines(self.deck):
            if line.lower().startswith(".param"):
                for m in re.finditer(r"(\w+)\s*=\s*([^\s{}]+)", line):
                    if m.group(1).lower() == name:
                        return _spice_number(m.group(2))
        raise DataError(f"the netlist has no .param {name}")

    def supply_power(self, result: TransientResult, direction: str) -> np.ndarray:
        """Power delivered by each supply, shape (n_supplies, n_points) (W)."""
        volts = self.supply_voltages(direction)
        # ngspice's source current flows into the + terminal: delivered power is -V * I.
        return np.array([-volts[s] * result[f"i({s})"] for s in SUPPLIES])

    def cumulative_energy(self, result: TransientResult, direction: str, t0_s: float) -> tuple[np.ndarray, np.ndarray]:
        """(time since t0, cumulative energy per supply from t0) on the run's own time points."""
        t = result.time_s
        power = self.supply_power(result, direction)
        e = np.concatenate((np.zeros((power.shape[0], 1)), np.cumsum(0.5 * (power[:, 1:] + power[:, :-1]) * np.diff(t), axis=1)), axis=1)
        e0 = np.array([np.interp(t0_s, t, row) for row in e])
        return t - t0_s, e - e0[:, None]

    def mtj_voltage(self, result: TransientResult) -> np.ndarray:
        return result[f"v({NODE_FREE})"] - result[f"v({NODE_PINNED})"]

    def _on_grid(self, result: TransientResult, direction: str) -> tuple[np.ndarray, np.ndarray]:
        """V_MTJ progress and cumulative energies interpolated onto the conditions' grid."""
        grid = self.conditions.time_grid_s
        rel, energy = self.cumulative_energy(result, direction, self.conditions.t_start_s)
        return grid, np.array([np.interp(grid, rel, row) for row in energy])

    def progress(self, result: TransientResult, sample: CircuitSample) -> np.ndarray:
        """q(t) on the grid from pulse start: rate_scale * law.progress of the run's V_MTJ."""
        c = self.conditions
        t, v = result.time_s, self.mtj_voltage(result)
        keep = t > c.t_start_s
        t_rel = np.concatenate(([0.0], t[keep] - c.t_start_s))
        v_rel = np.concatenate(([np.interp(c.t_start_s, t, v)], v[keep]))
        q = self.law.progress(t_rel, v_rel)
        return sample.rate_scale * np.interp(c.time_grid_s, t_rel, q)

    # --- the hybrid estimator's input -------------------------------------------------------------
    def frozen_write(self, direction: str, sample: CircuitSample = NOMINAL_SAMPLE) -> FrozenWrite:
        """The two frozen-state transients of one write, on the conditions' time grid."""
        start = initial_state(direction)
        init = self.run(direction, sample, state0=start, frozen=True)
        grid, e_init = self._on_grid(init, direction)
        q = self.progress(init, sample)
        final = self.run(direction, sample, state0=1 - start, frozen=True)
        _, e_final = self._on_grid(final, direction)
        return FrozenWrite(time_s=grid, progress=q, energy_init_j=e_init, energy_final_j=e_final, supplies=SUPPLIES)

    # --- a real (stochastic) write ----------------------------------------------------------------
    def stochastic_write(
        self, direction: str, t_pulse_s: float, thresholds: tuple[float, float], sample: CircuitSample = NOMINAL_SAMPLE
    ) -> tuple[bool, np.ndarray]:
        """One write with the macromodel switching for real: (switched?, energy per supply over [0, T])."""
        if not (math.isfinite(t_pulse_s) and t_pulse_s > 0):
            raise ParameterError(f"pulse length must be a finite number > 0 s, got {t_pulse_s!r}")
        start = initial_state(direction)
        res = self.run(
            direction, sample, state0=start, frozen=False, t_pulse_s=t_pulse_s,
            t_after_s=t_pulse_s + STOCHASTIC_TAIL_S, thresholds=thresholds,
        )
        final_state = 1 if res[f"v({NODE_STATE})"][-1] > 0.5 else 0
        rel, energy = self.cumulative_energy(res, direction, self.conditions.t_start_s)
        e_window = np.array([np.interp(t_pulse_s, rel, row) for row in energy])
        return final_state != start, e_window

    def waveforms(self, direction: str, t_pulse_s: float, thresholds: tuple[float, float] = (1.0, 1.0),
                  sample: CircuitSample = NOMINAL_SAMPLE) -> TransientResult:
        """Node voltages and supply currents of one stochastic write (for plots)."""
        vectors = tuple(f"v({n})" for n in WAVEFORM_NODES) + tuple(f"i({s})" for s in SUPPLIES)
        return self.run(direction, sample, frozen=False, t_pulse_s=t_pulse_s, t_after_s=t_pulse_s + 2e-9,
                        thresholds=thresholds, vectors=vectors)
