"""SPICE twins of the stochastic MTJ: the ngspice macromodel (`mtj.lib`) and the Verilog-A model (`mtj.va`).

Both files are *generated* from the Python physics so they cannot drift from it: the switching law enters
as a table of log10(1/mu(v)) against the overdrive v = |V|/Vc, and the device defaults are those of an
`MTJParameters`. Randomness stays in Python: each instance gets thresholds X ~ Gamma(k, 1)/k
(`draw_thresholds`), and the model switches when its progress q(t) = integral dt / mu(v(t)) reaches X,
so that at constant voltage t_sw = X mu(v) ~ Gamma(k, mu/k) exactly.

Regenerate the shipped files after changing the physics:
    python -m pyspice_mram.device.macromodel > spice_models/mtj.lib
    python -m pyspice_mram.device.macromodel --verilog-a > spice_models/mtj.va
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

from .parameters import PAPER_DEVICE, MTJParameters
from ..errors import ParameterError
from .switching import SwitchingLaw

SUBCKT_NAME = "mtj_pma"

# Latch and integrator time constants (s). The latch drive (LATCH_DRIVE_S) moves the state from 0 to 1/2
# in about 10 ps once a threshold is crossed; the cubic restoring term (LATCH_HOLD_S) then finishes the
# transition and holds the state at 0 or 1. A fired switch can leave its well only if the drive beats the
# hold everywhere on [0, 1/2]: (1-s)/LATCH_DRIVE_S > s(1-s)(1/2-s)/LATCH_HOLD_S, i.e.
# LATCH_HOLD_S > LATCH_DRIVE_S/16 (the maximum of s(1/2-s) is 1/16).
LATCH_DRIVE_S = 10e-12
LATCH_HOLD_S = 2.5e-12
RESET_S = 20e-12
"""Progress of a direction decays with this time constant once the opposite state is reached."""
INIT_PULL_S = 1e-13
INIT_WINDOW_S = 1e-12
"""At the operating point (time = 0) a pull of rate 1/INIT_PULL_S fixes s = state0 and q = 0; it fades
with INIT_WINDOW_S in the transient. It is far stronger than the latch's largest slope (0.25/LATCH_HOLD_S),
so the DC solution is unique; it delays the progress by only ~3 INIT_WINDOW_S."""
LEAK_S = 1e-3
"""A weak leak on the progress nodes keeps them defined in DC sweeps, where ngspice sets `time` to the
previous sweep value so the operating-point pull may be off. It shortens t_sw by ~t_sw/(2 LEAK_S), 5e-6."""
FROZEN_PULL_S = 1e-12
TRIGGER_WIDTH = 1e-3
"""Width (in progress units) of the tanh step that fires a switch when q crosses the threshold."""
GATE_WIDTH = 0.01
"""Width (in state units) of the tanh gates on the state s."""
RESET_MARGIN = 0.1
"""A direction's progress resets only once s is within this margin of the opposite state: resetting
earlier would withdraw the trigger before the latch has passed its unstable point s = 1/2."""
STATE_CAP_F = 1e-12
"""Integrator capacitances: large enough that their charge (1 pC per volt) sits far above ngspice's
chgtol (1e-14 C), so the time-step control resolves the latch transition."""

TABLE_V_MAX = 10.0
TABLE_TOLERANCE_DECADES = 1e-4
"""Maximum error of the linear interpolation of log10(rate) between table points (0.023 % in rate)."""

_REGENERATE_LIB = "python -m pyspice_mram.device.macromodel > spice_models/mtj.lib"
_REGENERATE_VA = "python -m pyspice_mram.device.macromodel --verilog-a > spice_models/mtj.va"


def _resolve(law: SwitchingLaw | None, device: MTJParameters | None) -> tuple[SwitchingLaw, MTJParameters]:
    if law is None:
        from .calibration import default_switching_law

        law = default_switching_law(device if device is not None else PAPER_DEVICE)
    if device is None:
        device = law.device
    return law, device


def _log10_rate(law: SwitchingLaw, v: np.ndarray) -> np.ndarray:
    return -np.log10(np.asarray(law.mean_time_s(np.maximum(v, 1e-9)), dtype=float))


def rate_table(
    law: SwitchingLaw | None = None,
    v_max: float = TABLE_V_MAX,
    tolerance_decades: float = TABLE_TOLERANCE_DECADES,
) -> tuple[np.ndarray, np.ndarray]:
    """Knots (v, log10(1/mu(v) in 1/s)) of a piecewise-linear table of the switching rate.

    Knots are placed greedily so that linear interpolation stays within `tolerance_decades` of the law
    on a fine grid (step 2.5e-4); v = 0, 1, 2, the regime edges of analytic laws and the knots of a
    tabulated law (rounded to the grid) are always knots.
    """
    law, _ = _resolve(law, None)
    if not (math.isfinite(v_max) and v_max > 1.2):
        raise ParameterError(f"v_max must be a finite number > 1.2, got {v_max!r}")
    if not (math.isfinite(tolerance_decades) and tolerance_decades > 0):
        raise ParameterError(f"tolerance_decades must be a finite number > 0, got {tolerance_decades!r}")
    fine = np.round(np.arange(0.0, v_max + 1.25e-4, 2.5e-4), 7)
    y = _log10_rate(law, fine)
    forced = {0.0, 1.0, 2.0}
    for name in ("v_thermal", "v_precessional"):
        if hasattr(law, name):
            forced.add(float(getattr(law, name)))
    forced.update(float(x) for x in getattr(law, "overdrive", ()))  # a tabulated law's own knots
    forced_idx = sorted({int(np.argmin(np.abs(fine - f))) for f in forced if f < v_max} | {fine.size - 1})

    def fits(start: int, end: int) -> bool:
        seg = slice(start, end + 1)
        line = np.interp(fine[seg], [fine[start], fine[end]], [y[start], y[end]])
        return bool(np.max(np.abs(line - y[seg])) <= tolerance_decades)

    knots = [0]
    start = 0
    while start < fine.size - 1:
        limit = next(i for i in forced_idx if i > start)
        # exponential then binary search for the longest segment that stays within tolerance
        step = 1
        while start + 2 * step <= limit and fits(start, start + 2 * step):
            step *= 2
        lo, hi = start + step, min(start + 2 * step, limit)
        if fits(start, hi):
            lo = hi
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if fits(start, mid):
                lo = mid
            else:
                hi = mid
        knots.append(lo)
        start = lo
    idx = np.array(knots)
    return fine[idx], y[idx]


def _table_text(v: np.ndarray, y: np.ndarray, per_line: int = 4, prefix: str = "+ ") -> str:
    pairs = [f"{a:.6g},{b:.9g}" for a, b in zip(v, y)]
    lines = [", ".join(pairs[i : i + per_line]) for i in range(0, len(pairs), per_line)]
    return ",\n".join(prefix + line for line in lines)


def _header_values(law: SwitchingLaw, device: MTJParameters) -> list[str]:
    dist = law.distribution(2.0)
    return [
        f"device: RA = {device.ra_ohm_m2 * 1e12:.6g} Ohm.um^2, TMR0 = {device.tmr0:.6g}, Vh = {device.tmr_half_bias_v:.6g} V,",
        f"        Vc = {device.critical_voltage_v:.6g} V, diameter = {device.diameter_m * 1e9:.6g} nm, R_P = {device.r_p_ohm:.6g} Ohm",
        f"law: {type(law).__name__}, mu(2.0 Vc) = {dist.mean_s:.6g} s, gamma shape k(2.0) = {dist.shape_k:.6g}",
        "     (draw thresholds with shape k: pyspice_mram.device.macromodel.draw_thresholds)",
    ]


def render_mtj_library(law: SwitchingLaw | None = None, device: MTJParameters | None = None) -> str:
    """The ngspice library text (subckt `mtj_pma`) for a switching law and device (defaults: paper).

    The rate table comes from `law` (a function of v = |V|/Vc only); `device` sets the electrical defaults
    and Vc, and defaults to `law.device`.
    """
    law, device = _resolve(law, device)
    v, y = rate_table(law)
    header = "\n".join("* " + line for line in _header_values(law, device))
    cs = f"{STATE_CAP_F:g}"
    # pull that fixes s = state0, q = 0 at the operating point (time = 0) and fades within picoseconds
    init = f"exp(-abs(time)/{INIT_WINDOW_S:g})/{INIT_PULL_S:g}"
    return f"""* Stochastic perpendicular MTJ macromodel for ngspice (behavioural sources and capacitors only).
* GENERATED FILE, do not edit. Regenerate with:
*     {_REGENERATE_LIB}
* Ports: fl = free layer, pl = pinned layer, st = state output (0 V = P, 1 V = AP).
* V = V(fl) - V(pl) > 0 drives P->AP, V < 0 drives AP->P. See MTJ_MODEL.md for the equations.
{header}
*
* Instance parameters:
*   state0      initial state (0 = P, 1 = AP), taken at the DC operating point
*   frozen      1: the state stays at state0 whatever the voltage
*   thr_p2ap    switching threshold P->AP, draw X ~ Gamma(k, 1)/k per instance and write
*   thr_ap2p    switching threshold AP->P, same law
*   ra_scale    multiplies RA (device variability)
*   tmr_scale   multiplies TMR0 (device variability)
*   rate_scale  multiplies the switching rate 1/mu (intrinsic per-cell spread)
*   ra (Ohm.m^2), tmr0, vh (V), vc (V), diameter (m): device parameters
.subckt {SUBCKT_NAME} fl pl st params: state0=0 frozen=0 thr_p2ap=1 thr_ap2p=1 ra_scale=1 tmr_scale=1 rate_scale=1
+ ra={device.ra_ohm_m2:.9g} tmr0={device.tmr0:.9g} vh={device.tmr_half_bias_v:.9g} vc={device.critical_voltage_v:.9g} diameter={device.diameter_m:.9g}
.param gp = {{ 3.141592653589793*diameter*diameter/(4*ra*ra_scale) }}
.param tmrz = {{ tmr0*tmr_scale }}
* electrical branch: conductance blend G = G_P ((1 - s) + s / (1 + TMR(V)))
Bmtj fl pl I = V(fl,pl) * {{gp}} * (1 - V(s) + V(s) / (1 + {{tmrz}} / (1 + V(fl,pl)*V(fl,pl)/({{vh}}*{{vh}}))))
* switching rate 1/mu(|V|/Vc) (1/s) from the tabulated law, times rate_scale
Brate rate 0 V = {{rate_scale}} * exp(2.302585092994046 * pwl(abs(V(fl,pl))/{{vc}},
{_table_text(v, y)}))
* gates: gpz = 1 in state P (s < 1/2), 0 in state AP; rp = 1 once s is firmly AP, rn = 1 once firmly P
Bgp gpz 0 V = 0.5*(1 - tanh((V(s) - 0.5)/{GATE_WIDTH:g}))
Brp rp 0 V = 0.5*(1 + tanh((V(s) - {1 - RESET_MARGIN:g})/{GATE_WIDTH:g}))
Brn rn 0 V = 0.5*(1 - tanh((V(s) - {RESET_MARGIN:g})/{GATE_WIDTH:g}))
* progress P->AP (qp) and AP->P (qn), in units of the mean switching time
Cqp qp 0 {cs}
Bqp 0 qp I = {cs} * (V(rate)*u(V(fl,pl))*V(gpz) - V(qp)*V(rp)/{RESET_S:g} - ({init} + {1 / LEAK_S:g})*V(qp))
Cqn qn 0 {cs}
Bqn 0 qn I = {cs} * (V(rate)*u(-V(fl,pl))*(1 - V(gpz)) - V(qn)*V(rn)/{RESET_S:g} - ({init} + {1 / LEAK_S:g})*V(qn))
* triggers: 1 once the progress has passed its threshold
Btp tp 0 V = 0.5*(1 + tanh((V(qp) - {{thr_p2ap}})/{TRIGGER_WIDTH:g}))
Btn tn 0 V = 0.5*(1 + tanh((V(qn) - {{thr_ap2p}})/{TRIGGER_WIDTH:g}))
* bistable latch: ds/dt = s(1-s)(s-1/2)/t_hold + (tp (1-s) - tn s)/t_drive (+ operating-point pull)
Cs s 0 {cs}
Bs 0 s I = {cs} * ((1 - {{frozen}}) * (V(s)*(1 - V(s))*(V(s) - 0.5)/{LATCH_HOLD_S:g}
+ + (V(tp)*(1 - V(s)) - V(tn)*V(s))/{LATCH_DRIVE_S:g} + {init}*({{state0}} - V(s)))
+ + {{frozen}} * ({{state0}} - V(s))/{FROZEN_PULL_S:g})
* state output (buffered: whatever the outer circuit hangs on st does not disturb s)
Bst st 0 V = V(s)
.ends {SUBCKT_NAME}
"""


def render_verilog_a(law: SwitchingLaw | None = None, device: MTJParameters | None = None) -> str:
    """The Verilog-A twin (module `mtj_pma`, same ports, parameters and equations as the .lib)."""
    law, device = _resolve(law, device)
    v, y = rate_table(law)
    return verilog_a_from_table(v, y, device_parameters(device), _header_values(law, device))


def verilog_a_from_table(v: np.ndarray, y: np.ndarray, defaults: dict[str, float], header_lines: list[str]) -> str:
    """The Verilog-A module for a rate table (knots v, log10 rate y), device defaults and header comment.

    Shared by `render_verilog_a` (table from a law) and the VACASK engine, which translates the table
    of the ngspice subcircuit in its deck, so that both engines integrate the same knots.
    """
    if len(v) != len(y) or len(v) < 2:
        raise ParameterError("a rate table needs at least two knots (v, log10 rate) of equal count")
    header = "\n".join("// " + line for line in header_lines)
    branches = []
    for i in range(len(v) - 1):
        slope = (y[i + 1] - y[i]) / (v[i + 1] - v[i])
        cond = "if" if i == 0 else "else if"
        if i == len(v) - 2:
            branches.append(f"        else lg = {y[i]:.9g} + {slope:.9g} * (x - {v[i]:.6g});")
        else:
            branches.append(f"        {cond} (x < {v[i + 1]:.6g}) lg = {y[i]:.9g} + {slope:.9g} * (x - {v[i]:.6g});")
    table = "\n".join(branches)
    cs = f"{STATE_CAP_F:g}"
    return f"""// Stochastic perpendicular MTJ, Verilog-A twin of the ngspice macromodel (spice_models/mtj.lib).
// GENERATED FILE, do not edit. Regenerate with:
//     {_REGENERATE_VA}
// Ports: fl = free layer, pl = pinned layer, st = state output (0 V = P, 1 V = AP).
// V = V(fl) - V(pl) > 0 drives P->AP, V < 0 drives AP->P. Thresholds are parameters (draw them outside).
{header}
`include "disciplines.vams"
`include "constants.vams"

module {SUBCKT_NAME}(fl, pl, st);
    inout fl, pl;
    output st;
    electrical fl, pl, st;
    electrical s, qp, qn;
    branch (fl, pl) mtj;

    parameter real state0 = 0 from [0:1];
    parameter integer frozen = 0 from [0:1];
    parameter real thr_p2ap = 1 from (0:inf);
    parameter real thr_ap2p = 1 from (0:inf);
    parameter real ra_scale = 1 from (0:inf);
    parameter real tmr_scale = 1 from (0:inf);
    parameter real rate_scale = 1 from (0:inf);
    parameter real ra = {defaults['ra']:.9g} from (0:inf);
    parameter real tmr0 = {defaults['tmr0']:.9g} from [0:inf);
    parameter real vh = {defaults['vh']:.9g} from (0:inf);
    parameter real vc = {defaults['vc']:.9g} from (0:inf);
    parameter real diameter = {defaults['diameter']:.9g} from (0:inf);

    (*retrieve*) real i_mtj;
    (*retrieve*) real rate;
    real gp, tmrv, sv, gate_p, reset_p, reset_n, init, tp, tn, x, lg;

    analog begin
        sv = V(s);
        // electrical branch: conductance blend G = G_P ((1 - s) + s / (1 + TMR(V)))
        gp = `M_PI * diameter * diameter / (4.0 * ra * ra_scale);
        tmrv = tmr0 * tmr_scale / (1.0 + V(mtj) * V(mtj) / (vh * vh));
        i_mtj = V(mtj) * gp * (1.0 - sv + sv / (1.0 + tmrv));
        I(mtj) <+ i_mtj;

        // switching rate 1/mu(|V|/Vc) (1/s): piecewise-linear table of log10(rate)
        x = abs(V(mtj)) / vc;
{table}
        rate = rate_scale * pow(10.0, lg);

        // gates: gate_p = 1 in state P (s < 1/2); reset_p / reset_n = 1 once s is firmly AP / P
        gate_p = 0.5 * (1.0 - tanh((sv - 0.5) / {GATE_WIDTH:g}));
        reset_p = 0.5 * (1.0 + tanh((sv - {1 - RESET_MARGIN:g}) / {GATE_WIDTH:g}));
        reset_n = 0.5 * (1.0 - tanh((sv - {RESET_MARGIN:g}) / {GATE_WIDTH:g}));
        init = exp(-$abstime / {INIT_WINDOW_S:g}) / {INIT_PULL_S:g};

        // progress integrators (node voltage = progress in units of the mean switching time)
        I(qp) <+ {cs} * ddt(V(qp));
        I(qp) <+ -{cs} * (rate * (V(mtj) > 0 ? 1.0 : 0.0) * gate_p - V(qp) * reset_p / {RESET_S:g} - (init + {1 / LEAK_S:g}) * V(qp));
        I(qn) <+ {cs} * ddt(V(qn));
        I(qn) <+ -{cs} * (rate * (V(mtj) < 0 ? 1.0 : 0.0) * (1.0 - gate_p) - V(qn) * reset_n / {RESET_S:g} - (init + {1 / LEAK_S:g}) * V(qn));

        // triggers and bistable latch
        tp = 0.5 * (1.0 + tanh((V(qp) - thr_p2ap) / {TRIGGER_WIDTH:g}));
        tn = 0.5 * (1.0 + tanh((V(qn) - thr_ap2p) / {TRIGGER_WIDTH:g}));
        I(s) <+ {cs} * ddt(V(s));
        if (frozen == 1)
            I(s) <+ -{cs} * (state0 - sv) / {FROZEN_PULL_S:g};
        else
            I(s) <+ -{cs} * (sv * (1.0 - sv) * (sv - 0.5) / {LATCH_HOLD_S:g}
                             + (tp * (1.0 - sv) - tn * sv) / {LATCH_DRIVE_S:g} + init * (state0 - sv));

        V(st) <+ sv;
    end
endmodule
"""


SUBCKT_PARAMETERS = (
    "state0", "frozen", "thr_p2ap", "thr_ap2p", "ra_scale", "tmr_scale", "rate_scale",
    "ra", "tmr0", "vh", "vc", "diameter",
)
"""Instance parameters of `mtj_pma` (the .lib and the .va use the same names)."""


def device_parameters(device: MTJParameters) -> dict[str, float]:
    """The subckt's device parameters (SI) for an `MTJParameters`, e.g. a Monte Carlo draw."""
    return {
        "ra": device.ra_ohm_m2,
        "tmr0": device.tmr0,
        "vh": device.tmr_half_bias_v,
        "vc": device.critical_voltage_v,
        "diameter": device.diameter_m,
    }


def instance_line(name: str, fl: str, pl: str, st: str, **params: float | str) -> str:
    """An `X` line instantiating `mtj_pma`; values are numbers or ngspice expressions such as '{thr1}'.

    Numbers are printed with 12 significant digits (numpy scalars would otherwise print as
    'np.float64(...)', which ngspice rejects).
    """
    unknown = set(params) - set(SUBCKT_PARAMETERS)
    if unknown:
        raise ParameterError(f"unknown mtj_pma parameter(s): {', '.join(sorted(unknown))}")
    fields = []
    for key, value in params.items():
        if isinstance(value, str):
            fields.append(f"{key}={value}")
            continue
        number = float(value)
        if not math.isfinite(number):
            raise ParameterError(f"mtj_pma parameter {key} must be finite, got {value!r}")
        fields.append(f"{key}={number:.12g}")
    prefix = name if name[:1].upper() == "X" else f"X{name}"
    return " ".join([prefix, fl, pl, st, SUBCKT_NAME, *fields])


def write_mtj_library(path: str | Path, law: SwitchingLaw | None = None, device: MTJParameters | None = None) -> Path:
    """Write `render_mtj_library(law, device)` to `path` (e.g. a per-sweep library with another law)."""
    path = Path(path)
    path.write_text(render_mtj_library(law, device))
    return path


def write_verilog_a(path: str | Path, law: SwitchingLaw | None = None, device: MTJParameters | None = None) -> Path:
    path = Path(path)
    path.write_text(render_verilog_a(law, device))
    return path


def draw_thresholds(
    shape_k: float,
    seed: np.random.SeedSequence | np.random.Generator | int,
    size: int | tuple[int, ...],
) -> np.ndarray:
    """Switching thresholds X ~ Gamma(k, 1)/k (mean 1): with them t_sw = X mu(v) ~ Gamma(k, mu/k).

    `seed` is a SeedSequence (a node of the sample's seed tree), a Generator or an int.
    """
    k = float(shape_k)
    if not (math.isfinite(k) and k > 0):
        raise ParameterError(f"shape_k must be a finite number > 0, got {shape_k!r}")
    if isinstance(seed, np.random.Generator):
        rng = seed
    elif isinstance(seed, (np.random.SeedSequence, int, np.integer)):
        rng = np.random.default_rng(seed)
    else:
        raise ParameterError(f"seed must be a numpy SeedSequence, Generator or int, got {type(seed).__name__}")
    return rng.gamma(k, 1.0 / k, size=size)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pyspice_mram.device.macromodel",
        description="Print the MTJ SPICE model generated from the default (calibrated) switching law.",
    )
    parser.add_argument("--verilog-a", action="store_true", help="print the Verilog-A twin instead of the ngspice .lib")
    args = parser.parse_args(argv)
    sys.stdout.write(render_verilog_a() if args.verilog_a else render_mtj_library())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
