"""Design-space sweeps: the energy/BER trade-off over pulse amplitude x duration, and over device size.

Each design point is an ordinary Monte Carlo sweep (`run_sweep`: two frozen transients per sample and
direction, the hybrid estimator, checkpointed chunks, `jobs` workers) of the base config with a few
keys changed, in its own folder under the design-space folder; `resume=True` continues unfinished
points and reuses finished ones. The summary reads each point's table (`build_table`, direction
"average", or the config's one direction) and is written as JSON and CSV.

*Amplitude x duration*: at each amplitude v = V_MTJ / Vc the pulse length T*(BER) and its energy
E(BER) come from the point's table; the lower envelope over amplitudes is the cheapest (v, T) for
each target BER, and its saving is against the 2.0 Vc point at the same BER. A point the circuit
cannot reach (rail or access-device limit) is recorded with the limit's message, not dropped
silently. The transient window grows as 1 / (v - 1) below 2 Vc (the precessional mean time does), so
that the low-BER targets of a low amplitude stay inside it.

*Device size*: diameters at fixed RA/TMR/Jc0 (so Vc is unchanged and Ic0 grows as d^2), with the
driver resized by `[driver] resize_for_current` (legs and access device widened by Ic0 / Ic0(paper));
without it, a size the driver cannot serve is recorded with its limit.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from ..atomic import atomic_write_bytes
from ..errors import ConfigError, ParameterError
from ..jsonio import to_json
from .config import SweepConfig, config_device, config_driver, load_config
from .runner import run_sweep
from .tables import build_table

AMPLITUDES = (1.3, 1.6, 2.0, 2.5, 3.0)
REFERENCE_AMPLITUDE = 2.0
DIAMETERS_M = (20e-9, 30e-9, 40e-9, 50e-9, 60e-9)
TARGETS = (1e-10, 1e-8, 1e-6, 1e-4, 1e-3, 1e-2, 0.1)
SCENARIOS = ("nominal", "variability")
SUMMARY_JSON = "designspace.json"
SUMMARY_CSV = "designspace.csv"


@dataclass
class DesignPoint:
    """One design point: its folder, what it changes, and its outcome."""

    label: str
    changes: dict[str, dict[str, Any]]
    status: str = "pending"  # "ok" or "out_of_reach"
    reason: str = ""
    rails_v: dict[str, float] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)


def stop_time_for(v_over_vc: float, base_stop_s: float) -> float:
    """The transient window at amplitude v: the base window scaled by mu(v) / mu(2 Vc) = 1 / (v - 1) below 2 Vc."""
    return base_stop_s * max(1.0, (REFERENCE_AMPLITUDE - 1.0) / (v_over_vc - 1.0))


def _apply(config: SweepConfig, changes: dict[str, dict[str, Any]]) -> SweepConfig:
    for section, keys in changes.items():
        config = config.with_changes(section, **keys)
    return config


def amplitude_points(config: SweepConfig, amplitudes: Sequence[float] = AMPLITUDES) -> list[DesignPoint]:
    if REFERENCE_AMPLITUDE not in amplitudes:
        raise ConfigError(f"the amplitudes must include the reference {REFERENCE_AMPLITUDE:g} Vc (the savings are against it)")
    base_stop = config["circuit"]["stop_time_s"]
    return [DesignPoint(f"v{v:g}", {"circuit": {"v_over_vc": float(v), "stop_time_s": stop_time_for(v, base_stop)}})
            for v in amplitudes]


def size_points(config: SweepConfig, diameters_m: Sequence[float] = DIAMETERS_M, resize_driver: bool = True) -> list[DesignPoint]:
    return [DesignPoint(f"d{d * 1e9:g}nm", {"device": {"diameter_m": float(d)}, "driver": {"resize_for_current": resize_driver}})
            for d in diameters_m]


def _rails(config: SweepConfig) -> dict[str, float]:
    """The write rails of a SPICE point (solved at the typical corner), to show the supply each needs."""
    from ..circuit.write_circuit import CircuitConditions, WriteCircuit

    c = config["circuit"]
    circuit = WriteCircuit(CircuitConditions(model_card=c["model_card"], v_over_vc=c["v_over_vc"], t_stop_s=c["stop_time_s"],
                                             max_step_s=c["time_step_s"], grid_step_s=c["time_step_s"],
                                             device=config_device(config), driver=config_driver(config)))
    return {d: circuit.rail_v(d) for d in config["sweep"]["directions"]}


def summary_direction(config: SweepConfig) -> str:
    """'average' when the config writes both directions, else its one direction."""
    directions = config["sweep"]["directions"]
    return "average" if len(directions) == 2 else directions[0]


def run_design_space(config: str | Path | SweepConfig, out: str | Path, points: list[DesignPoint],
                     targets: Sequence[float] = TARGETS, jobs: int = 1, resume: bool = False, progress: bool = True,
                     scheduler: str | None = None) -> list[DesignPoint]:
    """Run every design point (an out-of-reach point is recorded, the others go on); fill in its rows."""
    base = load_config(config)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for point in points:
        cfg = _apply(base, point.changes)
        run_dir = out / point.label
        try:
            if cfg["sweep"]["simulator"] == "spice":
                point.rails_v = _rails(cfg)  # the limit, if any, shows here before any sample runs
            run_sweep(cfg, run_dir, jobs=jobs, resume=resume and (run_dir / "manifest.json").exists(),
                      scheduler=scheduler, progress=progress)
        except ParameterError as exc:
            point.status, point.reason = "out_of_reach", str(exc)
            continue
        df = build_table(run_dir, list(targets), skip_unreachable=True)
        keep = df[(df["direction"] == summary_direction(cfg)) & df["scenario"].isin(SCENARIOS)]
        point.rows = [{k: r[k] for k in ("scenario", "direction", "ber", "t_pulse_s", "energy_j", "ber_rel_se", "n_samples",
                                          "device_diameter_m", "device_ic0_a", "device_vc_v")} for _, r in keep.iterrows()]
        add_pulse_uncertainty(point.rows)
        point.status = "ok"
    return points


def add_pulse_uncertainty(rows: list[dict[str, Any]]) -> None:
    """t_pulse_rel_se: the sampling error of T* from that of the array BER at T* (delta method).

    BER(T) falls steeply near T*, so delta T / T = (delta BER / BER) / |d ln BER / d ln T|; the slope is
    taken between this target and its neighbouring target of the same scenario. Energy at a fixed
    amplitude grows in proportion to T near T*, so the same relative error applies to E(T*).
    """
    for scenario in {r["scenario"] for r in rows}:
        group = sorted((r for r in rows if r["scenario"] == scenario), key=lambda r: r["ber"])
        for i, r in enumerate(group):
            if len(group) < 2:
                r["t_pulse_rel_se"] = math.nan
                continue
            other = group[i + 1] if i + 1 < len(group) else group[i - 1]
            slope = math.log(other["ber"] / r["ber"]) / math.log(other["t_pulse_s"] / r["t_pulse_s"])
            r["t_pulse_rel_se"] = float(r["ber_rel_se"]) / abs(slope)


def points_frame(points: list[DesignPoint]) -> pd.DataFrame:
    """One row per (point, scenario, BER) that was reached, with the point's changed keys as columns."""
    records = []
    for p in points:
        for row in p.rows:
            rec = {"point": p.label, **{f"{s}.{k}": v for s, keys in p.changes.items() for k, v in keys.items()}, **row}
            records.append(rec)
    return pd.DataFrame.from_records(records)


def amplitude_envelope(points: list[DesignPoint], targets: Sequence[float] = TARGETS) -> list[dict[str, Any]]:
    """The cheapest amplitude for each (scenario, target BER) and its saving against 2.0 Vc at that BER."""
    df = points_frame(points)
    out: list[dict[str, Any]] = []
    if df.empty:
        return out
    for scenario in SCENARIOS:
        for ber in targets:
            sel = df[(df["scenario"] == scenario) & (df["ber"] == ber)]
            if sel.empty:
                continue
            best = sel.loc[sel["energy_j"].idxmin()]
            ref = sel[sel["circuit.v_over_vc"] == REFERENCE_AMPLITUDE]
            e_ref = float(ref["energy_j"].iloc[0]) if not ref.empty else math.nan
            se_ref = float(ref["t_pulse_rel_se"].iloc[0]) if not ref.empty else math.nan
            saving = 1.0 - float(best["energy_j"]) / e_ref
            out.append({
                "scenario": scenario, "ber": float(ber), "v_over_vc": float(best["circuit.v_over_vc"]),
                "t_pulse_s": float(best["t_pulse_s"]), "energy_j": float(best["energy_j"]),
                "ber_rel_se": float(best["ber_rel_se"]), "reference_energy_j": e_ref,
                "reference_t_pulse_s": float(ref["t_pulse_s"].iloc[0]) if not ref.empty else math.nan,
                "saving_vs_reference": saving,
                # E_best / E_ref carries both points' relative errors; every point draws the same cells (same
                # seed), so the errors are positively correlated and their sum in quadrature is an upper bound
                "saving_se": (1.0 - saving) * math.hypot(float(best["t_pulse_rel_se"]), se_ref)
                if best["circuit.v_over_vc"] != REFERENCE_AMPLITUDE else 0.0,
                "t_pulse_rel_se": float(best["t_pulse_rel_se"]),
                "amplitudes_compared": sorted(float(v) for v in sel["circuit.v_over_vc"]),
            })
    return out


def write_summary(out: str | Path, kind: str, points: list[DesignPoint], envelope: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """designspace.json (points, limits, envelope) and designspace.csv (one row per reached point/BER), atomically."""
    out = Path(out)
    summary = {"kind": kind, "points": [asdict(p) for p in points], "envelope": envelope or []}
    atomic_write_bytes(out / SUMMARY_JSON, to_json(summary).encode())
    atomic_write_bytes(out / SUMMARY_CSV, points_frame(points).to_csv(index=False).encode())
    return summary
