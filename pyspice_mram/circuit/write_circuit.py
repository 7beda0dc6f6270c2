"""The write circuit: bidirectional driver + 1T-1MTJ cell (netlists/write_driver.cir) on an engine.

`WriteCircuit(conditions)` loads the netlist once into the process's session of the engine named by
`conditions.simulator` (circuit/engine.py: ngspice by default, or VACASK with the Verilog-A MTJ). Everything that
changes from run to run is a top-level `.param` of the netlist, changed with `alterparam` + `reset`:
- `conditions` (`CircuitConditions`) are fixed per circuit: BSIM4 card, corner shifts, VDD scale,
  temperature, pulse amplitude v_over_vc, transient length and time steps, the MTJ device
  (`MTJParameters`) and the driver (`DriverParameters`). Every device and driver field reaches the
  netlist as a `.param` on every run; the MTJ's switching-rate table (which carries Delta and the
  law) is rendered from the circuit's law into the deck in place of the shipped `mtj.lib`, so a
  device with another Delta switches by its own law in SPICE too. A netlist that lacks one of those
  `.param`s cannot honour the field and is refused at load;
- `sample` (`CircuitSample`) carries one Monte Carlo draw: MTJ ra/tmr/rate/Jc0 scales and
  per-transistor delvto / mulu0. The critical current density is the fixed device quantity, so a
  sample's Vc = Jc0 jc0_scale RA ra_scale: a higher-RA cell needs more voltage to switch.

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
from ..device.macromodel import render_mtj_library
from ..device.parameters import PAPER_DEVICE, STATE_AP, STATE_P, MTJParameters
from ..errors import DataError, ParameterError
from .driver import DEFAULT_DRIVER, SPICE_PARAMS as DRIVER_SPICE_PARAMS, DriverParameters
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

MTJ_SPICE_PARAMS = ("mtj_diameter", "mtj_ra", "mtj_tmr0", "mtj_vh", "mtj_vc")
"""Netlist `.param`s of the MTJ device (SI): diameter, RA, TMR0, Vh and the sample's Vc = Jc0 RA."""
MTJ_LIBRARY = "mtj.lib"  # the include that the deck replaces with the library rendered for the circuit's law

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
    driver: DriverParameters = DEFAULT_DRIVER
    spice_options: Mapping[str, str] = field(default_factory=dict)  # extra ngspice `option`s for every run
    simulator: str = "ngspice"  # the engine (circuit/engine.py): ngspice, vacask or ngspice-osdi

    def __post_init__(self) -> None:
        if not isinstance(self.device, MTJParameters):
            raise ParameterError(f"device must be an MTJParameters, got {type(self.device).__name__}")
        if not isinstance(self.driver, DriverParameters):
            raise ParameterError(f"driver must be a DriverParameters, got {type(self.driver).__name__}")
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
    jc0_scale: float = 1.0  # multiplies the critical current density (1/ra_scale holds Vc fixed instead)
    delvto_v: Mapping[str, float] = field(default_factory=dict)
    mulu0: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("ra_scale", "tmr_scale", "rate_scale", "jc0_scale"):
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


def top_level_params(netlist_text: str) -> dict[str, str]:
    """Top-level `.param name=value` definitions of a netlist (values as written, names lower case).

    Only lines before the first `.subckt` or after its `.ends` count: a subcircuit's params are its own.
    """
    found: dict[str, str] = {}
    depth = 0
    for line in _logical_lines(netlist_text):
        low = line.lower()
        if low.startswith(".subckt"):
            depth += 1
        elif low.startswith(".ends"):
            depth = max(depth - 1, 0)
        elif depth == 0 and low.startswith(".param"):
            for m in re.finditer(r"(\w+)\s*=\s*(\{[^}]*\}|[^\s{}]+)", line[len(".param"):]):
                found[m.group(1).lower()] = m.group(2)
    return found


def _size(text: str, params: Mapping[str, float], instance: str) -> float:
    """A W or L token: a number, or `{name}` of a top-level .param."""
    m = re.fullmatch(r"\{\s*(\w+)\s*\}", text.strip())
    if not m:
        return _spice_number(text)
    name = m.group(1).lower()
    if name not in params:
        raise DataError(f"{instance}: size {text!r} names no top-level .param of the netlist")
    return float(params[name])


def parse_transistors(netlist_text: str, params: Mapping[str, float] | None = None) -> list[Transistor]:
    """MOSFET instances of the top level (M-lines): name, type, W, L.

    A size written as `{name}` takes the value `params[name]`, else the netlist's own `.param` default.
    """
    values: dict[str, float] = {}
    for name, text in top_level_params(netlist_text).items():
        try:
            values[name] = _spice_number(text)
        except DataError:
            pass  # an expression: only plain numbers can stand for a size
    values.update({k.lower(): float(v) for k, v in (params or {}).items()})
    found: list[Transistor] = []
    for line in _logical_lines(netlist_text):
        if not line[0] in "mM":
            continue
        tokens = line.split()
        model = tokens[5].lower()
        kind = "p" if model.startswith("p") else "n"
        kw = dict(t.lower().split("=", 1) for t in tokens[6:] if "=" in t)
        name = tokens[0].lower()
        found.append(Transistor(name, kind, _size(kw["w"], values, name), _size(kw["l"], values, name)))
    return found


def _resolve_file(value: str | Path, folder: str, what: str) -> Path:
    path = Path(value)
    if path.is_absolute() or path.parent != Path("."):
        if not path.is_file():
            raise DataError(f"{what} {str(path)!r} does not exist")
        return path.resolve()
    return paths.resource_file(folder, str(value))


def build_deck(netlist_path: Path, model_card: Path, mtj_library: str | None = None) -> str:
    """The netlist text with its includes made absolute and the BSIM4 card swapped for `model_card`.

    With `mtj_library` (the text of an `mtj_pma` library), the include of `mtj.lib` is replaced by it.
    """
    lines: list[str] = []
    for line in netlist_path.read_text().splitlines():
        m = re.match(r"^\s*\.(include|inc|lib)\s+\"?([^\"\s]+)\"?(.*)$", line, flags=re.IGNORECASE)
        if m and mtj_library is not None and Path(m.group(2)).name == MTJ_LIBRARY:
            lines.extend(mtj_library.strip("\n").splitlines())
            continue
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
        if self.law.device != self.conditions.device:
            raise ParameterError("the switching law's device differs from the circuit's device: "
                                 "build the law for CircuitConditions.device (e.g. default_switching_law(device))")
        self.netlist_path = _resolve_file(self.conditions.netlist, "netlists", "netlist")
        self.model_card_path = _resolve_file(self.conditions.model_card, "spice_models", "model card")
        library = render_mtj_library(self.law, self.conditions.device)
        self.deck = build_deck(self.netlist_path, self.model_card_path, mtj_library=library)
        self._check_honoured()
        self.transistors: list[Transistor] = parse_transistors(self.deck, self.conditions.driver.spice_params())
        self._transistor_names = {t.name for t in self.transistors}
        self._nominal = {"vwl_nom": self.conditions.driver.word_line_v, "vdd_nom": self._param("vdd_nom")}
        self.engine = engine_session(self.conditions.simulator)
        self._activate()
        self._rails: dict[str, float] = dict(self.conditions.rail_v or {})

    def _check_honoured(self) -> None:
        """Refuse a netlist that lacks a `.param` a device or driver field needs (it would pass silently)."""
        have = set(top_level_params(self.deck))
        missing = [p for p in (*MTJ_SPICE_PARAMS, *DRIVER_SPICE_PARAMS.values()) if p not in have]
        if missing:
            by_param = {v: k for k, v in DRIVER_SPICE_PARAMS.items()}
            named = [f"{p} (driver {by_param[p]})" if p in by_param else f"{p} (device)" for p in missing]
            raise DataError(f"netlist {self.netlist_path.name} cannot honour the circuit's parameters: "
                            f"it has no .param {', '.join(named)}")
        if ".subckt mtj_pma" not in self.deck.lower():
            raise DataError(f"netlist {self.netlist_path.name} does not include {MTJ_LIBRARY}: the MTJ's switching law "
                            "could not reach SPICE")

    def sample_device(self, sample: CircuitSample = NOMINAL_SAMPLE) -> MTJParameters:
        """The MTJ of one sample: RA, TMR0 and Jc0 scaled (so Vc = Jc0 RA follows RA)."""
        d = self.conditions.device
        return d.with_changes(
            ra_ohm_m2=d.ra_ohm_m2 * sample.ra_scale, tmr0=d.tmr0 * sample.tmr_scale,
            critical_current_density_a_per_m2=d.critical_current_density_a_per_m2 * sample.jc0_scale,
        )

    def device_params(self, sample: CircuitSample = NOMINAL_SAMPLE) -> dict[str, float]:
        """The netlist's MTJ `.param`s: the nominal device (the subckt applies ra/tmr scales) and the sample's Vc."""
        d = self.conditions.device
        return {
            "mtj_diameter": d.diameter_m, "mtj_ra": d.ra_ohm_m2, "mtj_tmr0": d.tmr0, "mtj_vh": d.tmr_half_bias_v,
            "mtj_vc": self.sample_device(sample).critical_voltage_v,
        }

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
        params.update(self.device_params(sample))
        params.update(self.conditions.driver.spice_params())
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

    def spice_resistance_ohm(self, direction: str) -> float:
        """The MTJ's resistance in its initial state (R_P for p2ap, R_AP at the pulse bias for ap2p), read
        from SPICE: V_MTJ over the write-rail current, whose only DC path is the cell, once the edge is over."""
        res = self.run(direction, t_after_s=SETTLE_S, typical=True,
                       vectors=(f"v({NODE_FREE})", f"v({NODE_PINNED})", "i(vwr)"))
        return float(abs(self.mtj_voltage(res)[-1] / res["i(vwr)"][-1]))

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
            d = self.conditions.device
            reached = g_hi + target
            state = initial_state(direction)
            i_reached = float(d.current_a(reached, state))
            i_needed = float(d.current_a(target, state))
            raise ParameterError(
                f"pulse amplitude {target * 1e3:.0f} mV ({self.conditions.v_over_vc:g} Vc of a {d.diameter_m * 1e9:.3g} nm MTJ) "
                f"is out of reach for {direction}: even a {hi:g} V rail gives only {reached * 1e3:.0f} mV across the MTJ "
                f"({i_reached * 1e6:.0f} uA of the {i_needed * 1e6:.0f} uA needed); the driver legs and the access device "
                "limit the current: widen them (driver widths) or lower v_over_vc"
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
        """q(t) on the grid from pulse start: rate_scale * law.progress of the run's V_MTJ.

        The law is a function of v = |V| / Vc; the sample's Vc (Jc0 RA of the sample) sets v.
        """
        c = self.conditions
        t, v = result.time_s, self.mtj_voltage(result)
        keep = t > c.t_start_s
        t_rel = np.concatenate(([0.0], t[keep] - c.t_start_s))
        v_rel = np.concatenate(([np.interp(c.t_start_s, t, v)], v[keep]))
        vc_ratio = self.law.device.critical_voltage_v / self.sample_device(sample).critical_voltage_v
        q = self.law.progress(t_rel, v_rel * vc_ratio)
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
