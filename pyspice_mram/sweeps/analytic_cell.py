"""An analytic stand-in for the write circuit: the MTJ driven by an ideal source through a series
resistance (the Thevenin equivalent of the driver). Fast, exact for its own model, needs no ngspice.

Why it exists: quick tests of the Monte Carlo engine, and users without ngspice. It is a real model,
not a mock, with these documented simplifications:
- the driver is one source Vs with series resistance Rs; no rise time, no parasitics, so V_MTJ is
  constant during a frozen-state write;
- Vs is solved once per direction so that the *nominal* cell at the nominal corner (TT, VDD x 1,
  300 K) sees V_MTJ = v_over_vc * Vc in its initial state (design.md section 6's amplitude definition);
  at other corners/samples the same Vs is used (scaled by the VDD factor), so the amplitude moves;
- the driver's strength follows the process: Rs = Rs0 * mean over device types of 1 / f, with
  f = mobility * (V_ov - dVt_slow) / V_ov * (T / 300 K)^-1.5 (square-law on-resistance at gate
  overdrive V_ov; dVt_slow is the threshold shift in the slowing direction, i.e. +delvto for NMOS and
  -delvto for PMOS). The analytic cell has no individual transistors, so no mismatch draws;
- energy is what the source delivers, Vs * I * t (one supply, `vwrite`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import optimize

from ..device.calibration import default_switching_law
from ..device.parameters import PAPER_DEVICE, STATE_AP, STATE_P, MTJParameters
from ..errors import ParameterError, SimulatorError
from ..circuit.hybrid import FrozenWrite
from .variability import SampleDraw, corner_shifts

SUPPLIES = ("vwrite",)
INITIAL_STATE = {"p2ap": STATE_P, "ap2p": STATE_AP}
FINAL_STATE = {"p2ap": STATE_AP, "ap2p": STATE_P}


@dataclass(frozen=True)
class AnalyticConditions:
    """Everything that is fixed for one corner of a sweep (hashable: used as a cache key)."""

    v_over_vc: float = 2.0
    stop_time_s: float = 40e-9
    time_step_s: float = 50e-12
    series_resistance_ohm: float = 2500.0
    gate_overdrive_v: float = 0.5
    process: str = "TT"
    vdd_scale: float = 1.0
    temperature_k: float = 300.0
    delvto_shift_v: float = 0.040
    mobility_shift: float = 0.10

    @classmethod
    def from_config(cls, config: Any, corner: tuple[str, float, float]) -> "AnalyticConditions":
        process, vdd_scale, temperature_k = corner
        return cls(
            v_over_vc=config["circuit"]["v_over_vc"],
            stop_time_s=config["circuit"]["stop_time_s"],
            time_step_s=config["circuit"]["time_step_s"],
            series_resistance_ohm=config["analytic"]["series_resistance_ohm"],
            gate_overdrive_v=config["analytic"]["gate_overdrive_v"],
            process=process,
            vdd_scale=vdd_scale,
            temperature_k=temperature_k,
            delvto_shift_v=config["corners"]["delvto_shift_v"],
            mobility_shift=config["corners"]["mobility_shift"],
        )


def mtj_voltage(device: MTJParameters, state: int, source_v: float, series_ohm: float) -> float:
    """|V_MTJ| for a source `source_v` behind `series_ohm` (solves the bias-dependent divider)."""
    if series_ohm == 0.0:
        return source_v
    if state == STATE_P:
        r = device.r_p_ohm
        return source_v * r / (r + series_ohm)

    def residual(v: float) -> float:
        r = float(device.resistance_ohm(v, state))
        return v * (r + series_ohm) - source_v * r

    return float(optimize.brentq(residual, 0.0, source_v, xtol=1e-15, rtol=1e-14))


def source_for_amplitude(device: MTJParameters, state: int, v_mtj: float, series_ohm: float) -> float:
    """The source voltage that puts `v_mtj` across the MTJ in `state`."""
    r = float(device.resistance_ohm(v_mtj, state))
    return v_mtj * (r + series_ohm) / r


class AnalyticCell:
    """Simulator protocol: `transistors`, `supplies`, `simulate(direction, sample, relaxed=False)`."""

    transistors: tuple[tuple[str, str, float, float], ...] = ()
    supplies = SUPPLIES

    def __init__(self, conditions: AnalyticConditions, device: MTJParameters = PAPER_DEVICE) -> None:
        self.conditions = conditions
        self.device = device
        c = conditions
        n_steps = int(round(c.stop_time_s / c.time_step_s))
        self.time_s = np.arange(n_steps + 1) * (c.stop_time_s / n_steps)
        amplitude = c.v_over_vc * device.critical_voltage_v
        # Vs per direction for the nominal cell at the nominal corner, then scaled by VDD.
        self.source_v = {
            d: c.vdd_scale * source_for_amplitude(device, INITIAL_STATE[d], amplitude, c.series_resistance_ohm)
            for d in INITIAL_STATE
        }

    def series_resistance(self, sample: SampleDraw) -> float:
        """Rs of the driver for this corner and sample's global process shifts."""
        c = self.conditions
        shifts = corner_shifts(c.process, c.delvto_shift_v, c.mobility_shift)
        thermal = (c.temperature_k / 300.0) ** -1.5
        inverse_strength = 0.0
        for kind, slow_sign in (("n", 1.0), ("p", -1.0)):
            dvt = shifts[kind].delvto_v + sample.global_delvto_v.get(kind, 0.0)
            mobility = shifts[kind].mobility * sample.global_mobility.get(kind, 1.0) * thermal
            headroom = (c.gate_overdrive_v - slow_sign * dvt) / c.gate_overdrive_v
            if headroom <= 0.05:
                raise SimulatorError(f"driver {kind}MOS is off (threshold shift {dvt * 1e3:.0f} mV exceeds the gate overdrive)")
            inverse_strength += 0.5 / (mobility * headroom)
        return c.series_resistance_ohm * inverse_strength

    def sample_device(self, sample: SampleDraw) -> MTJParameters:
        d = self.device
        return d.with_changes(
            ra_ohm_m2=d.ra_ohm_m2 * sample.ra_scale,
            tmr0=d.tmr0 * sample.tmr_scale,
            critical_voltage_v=d.critical_voltage_v * sample.vc_scale,
        )

    def simulate(self, direction: str, sample: SampleDraw, relaxed: bool = False) -> FrozenWrite:
        """Frozen-initial and frozen-final writes of one sample (`relaxed` is accepted, never needed)."""
        if direction not in INITIAL_STATE:
            raise ParameterError(f"direction must be 'p2ap' or 'ap2p', got {direction!r}")
        device = self.sample_device(sample)
        rs = self.series_resistance(sample)
        vs = self.source_v[direction]
        t = self.time_s
        v_init = mtj_voltage(device, INITIAL_STATE[direction], vs, rs)
        v_final = mtj_voltage(device, FINAL_STATE[direction], vs, rs)
        law = default_switching_law(device)
        progress = sample.rate_scale * law.progress(t, np.full_like(t, v_init))
        i_init = float(device.current_a(v_init, INITIAL_STATE[direction]))
        i_final = float(device.current_a(v_final, FINAL_STATE[direction]))
        return FrozenWrite(
            time_s=t,
            progress=progress,
            energy_init_j=(vs * i_init * t)[None, :],
            energy_final_j=(vs * i_final * t)[None, :],
            supplies=SUPPLIES,
        )
