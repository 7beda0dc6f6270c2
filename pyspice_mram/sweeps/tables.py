"""Energy/BER lookup tables from a sweep's stored samples, their export, provenance and loader.

For each corner and direction the stored frozen-state writes of every sample give, through the hybrid
estimator (`hybrid.write_curve`), P_fail_i(T) and E_i(T). Scenarios:
- `nominal`: sample 0 alone (no variability);
- `variability_physical`: the mean over samples 1..N, intrinsic spread 0 (what the draws give);
- `variability`: the same samples with the config's intrinsic free-layer spread (sigma of ln rate)
  integrated by 24-node Gauss-Hermite quadrature (error < 1e-3 ns in T* for sigma <= 0.2; the
  calibrated result);
- `variability_process`: the physical samples plus die-to-die process variation (see
  `process_variation_set`).
Array BER(T) = mean_i P_fail_i(T); energy per bit write E(T) = mean_i E_i(T). Direction `average`
is random data: BER = mean of the two directions' BER curves, energy = mean of the two energies.
For every target BER: T* = smallest T with BER(T*) = target (log-linear in BER on the time grid),
never extrapolated beyond the simulated window. In the table, the array BER near each target is the
variance-reduced estimate of tail.py (column `estimator`), and T*, its relative standard error and
95 % bootstrap intervals over the device samples come from it; the curves (`sweep_curves`) are plain
means. Failed samples are missing cells that could fail at any rate: a target they could move
beyond its 95 % interval (all of them failing always) is refused.

Columns (SI units): corner, process, vdd_scale, temperature_k, scenario, direction, ber, t_pulse_s,
energy_j, energy_<supply>_j, energy_increase (vs nominal at the same corner, direction, BER; a
fraction), saving (vs the 1e-10 point of the same scenario/corner/direction; a fraction), ber_rel_se
(relative standard error of the array BER at T*, from the estimator), estimator, t_pulse_ci_low_s,
t_pulse_ci_high_s, energy_ci_low_j, energy_ci_high_j, energy_increase_ci_low, energy_increase_ci_high
(95 % bootstrap intervals), n_samples, n_failed, ln_rate_sigma.

Provenance travels with the table: as Parquet schema metadata (key `pyspice_mram.provenance`) or, in
CSV, as the first line `# pyspice-mram provenance: {json}` (one file, so one atomic write; pandas
skips `#` lines). Units travel the same way (`pyspice_mram.units`).
"""

from __future__ import annotations

import datetime as _dt
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from scipy import optimize

from ..atomic import atomic_write_bytes
from .checkpoint import RunStore, parquet_bytes
from ..errors import DataError, ParameterError
from ..jsonio import to_json
from ..device.calibration import PAPER_ANCHORS
from ..circuit.hybrid import FrozenWrite, pulse_for_ber, value_at, write_curve
from .config import SweepConfig, config_device, loads
from . import tail
from .variability import NOMINAL_INDEX, sample_normals

SCENARIOS = ("nominal", "variability", "variability_physical", "variability_process")
# Die-to-die process variation of the `variability_process` scenario: one global delvto and one mobility
# factor per device type and sample. Source: the process corners of the config (delvto_shift_v 40 mV,
# mobility_shift 10 %, as in the PTM/foundry FF/SS convention) are read as +-3 sigma of the global
# variation, so sigma = shift / 3 (13.3 mV, 3.3 %); typical 28-32 nm global Vt sigmas are 10-20 mV.
PROCESS_SIGMAS_PER_CORNER_SHIFT = 1.0 / 3.0
TABLE_DIRECTIONS = ("p2ap", "ap2p", "average")
REFERENCE_BER = 1e-10
REQUIRED_COLUMNS = ("scenario", "direction", "ber", "t_pulse_s", "energy_j")
DEVICE_COLUMNS = {"device_diameter_m": "m", "device_ra_ohm_m2": "Ohm.m^2", "device_tmr0": "1", "device_vc_v": "V",
                  "device_ic0_a": "A", "device_delta": "1"}
"""The sweep device's key values, one column each (constant over a table): a table says which cell it is for."""


def device_columns(config: SweepConfig) -> dict[str, float]:
    d = config_device(config)
    return {"device_diameter_m": d.diameter_m, "device_ra_ohm_m2": d.ra_ohm_m2, "device_tmr0": d.tmr0,
            "device_vc_v": d.critical_voltage_v, "device_ic0_a": d.critical_current_a, "device_delta": d.thermal_stability}


UNITS = {**DEVICE_COLUMNS, "ber": "1", "t_pulse_s": "s", "energy_j": "J", "energy_increase": "1", "saving": "1", "ber_rel_se": "1",
         "vdd_scale": "1", "temperature_k": "K", "ln_rate_sigma": "1", "t_pulse_ci_low_s": "s", "t_pulse_ci_high_s": "s",
         "energy_ci_low_j": "J", "energy_ci_high_j": "J", "energy_increase_ci_low": "1", "energy_increase_ci_high": "1"}
META_PROVENANCE = b"pyspice_mram.provenance"
META_UNITS = b"pyspice_mram.units"
CSV_PREFIX = "# pyspice-mram provenance: "
# Plausible SI ranges: a value outside means the column is in other units (ns, pJ) or broken.
PLAUSIBLE = {"t_pulse_s": (0.0, 1e-3), "energy_j": (0.0, 1e-6)}


# --- loading the samples ----------------------------------------------------------------------------
@dataclass
class SampleSet:
    """All successful samples of one corner and direction (arrays stacked over samples)."""

    time_s: np.ndarray
    samples: np.ndarray  # sample indices, 0 = nominal first if present
    progress: np.ndarray  # (n, T)
    energy_init_j: np.ndarray  # (n, S, T)
    energy_final_j: np.ndarray
    supplies: tuple[str, ...]
    normals: np.ndarray  # (n, d) standard-normal variability variables of each sample (tail.py's surface)
    transistor_names: tuple[str, ...] = ()  # sorted, the order of the local normals
    local_sigmas: np.ndarray | None = None  # (n_transistors, 2): sigma of delvto (V) and of ln mulu0

    def frozen(self, i: int) -> FrozenWrite:
        return FrozenWrite(self.time_s, self.progress[i], self.energy_init_j[i], self.energy_final_j[i], self.supplies)


@dataclass
class RunData:
    config: SweepConfig
    provenance: dict[str, Any]
    corners: list[tuple[str, float, float]]
    sets: dict[tuple[int, str], SampleSet]  # (corner index, direction) -> samples
    n_failed: dict[int, int]  # corner -> failed samples (any direction)
    failures: list[dict[str, Any]]


def _stack(column: pa.ChunkedArray, n_rows: int) -> np.ndarray:
    """A list<double> column of equal-length lists as a 2-D array (n_rows, length)."""
    flat = pc.list_flatten(column)
    return np.asarray(flat.to_numpy(), dtype=float).reshape(n_rows, -1)


def load_run(run_dir: str | Path) -> RunData:
    """Read a run folder (every chunk checksum-verified). The run must be complete."""
    store = RunStore.open(Path(run_dir))
    if not store.complete:
        missing = len(store.pending_chunks())
        raise DataError(f"{run_dir}: the sweep is not complete ({missing} chunk(s) missing); finish it with --resume")
    config = loads(store.config_text(), source=str(Path(run_dir) / "config.toml"))
    tables = list(store.read_chunks())
    table = pa.concat_tables(tables) if tables else None
    if table is None or table.num_rows == 0:
        raise DataError(f"{run_dir}: no samples stored")
    meta = table.drop_columns(["time_s", "progress", "energy_init_j", "energy_final_j"]).to_pandas()
    if meta.duplicated(["task", "direction"]).any():
        raise DataError(f"{run_dir}: duplicated samples in the chunks")
    failed_tasks = set(meta.loc[meta["status"] != "ok", "task"])
    corners = config.corners
    sets: dict[tuple[int, str], SampleSet] = {}
    n_failed: dict[int, int] = {}
    for ci in range(len(corners)):
        n_failed[ci] = int(meta.loc[(meta["corner"] == ci) & (meta["task"].isin(failed_tasks)), "task"].nunique())
        for direction in config["sweep"]["directions"]:
            mask = (meta["corner"] == ci) & (meta["direction"] == direction) & (~meta["task"].isin(failed_tasks))
            idx = np.flatnonzero(mask.to_numpy())
            if idx.size == 0:
                raise DataError(f"{run_dir}: no successful sample at corner {ci} ({direction})")
            sub = table.take(pa.array(idx))
            supplies = tuple(sub.column("supplies")[0].as_py())
            time_s = np.asarray(sub.column("time_s")[0].as_py(), dtype=float)
            n = sub.num_rows
            sets[(ci, direction)] = SampleSet(
                time_s=time_s,
                samples=meta["sample"].to_numpy()[idx],
                progress=_stack(sub.column("progress"), n),
                energy_init_j=_stack(sub.column("energy_init_j"), n).reshape(n, len(supplies), -1),
                energy_final_j=_stack(sub.column("energy_final_j"), n).reshape(n, len(supplies), -1),
                supplies=supplies,
                normals=normal_variables(config, meta["sample"].to_numpy()[idx], meta["draw_json"].to_numpy()[idx],
                                         meta["ra_scale"].to_numpy()[idx], str(run_dir)),
                **local_sigmas(config, meta["sample"].to_numpy()[idx], meta["draw_json"].to_numpy()[idx]),
            )
    failures = meta.loc[meta["status"] != "ok", ["task", "corner", "sample", "direction", "reason"]].to_dict("records")
    return RunData(config, dict(store.manifest.provenance), corners, sets, n_failed, failures)


def normal_variables(config: SweepConfig, samples: np.ndarray, draws_json: np.ndarray, ra_scale: np.ndarray,
                     where: str) -> np.ndarray:
    """(n, d) standard normals that the config actually uses, regenerated from each sample's seed.

    Columns: z_RA, z_TMR0 (if their sigma > 0), the global process normals (if drawn), then (z_Vt,
    z_mu) per transistor (if mismatch is on). Checked against the stored RA draw, so a run made with
    other draw code is refused rather than mis-fitted.
    """
    v = config["variability"]
    seed = config["sweep"]["seed"]
    n_transistors = len(json.loads(draws_json[0]).get("delvto_v", {})) if len(draws_json) else 0
    rows = []
    for s_index, scale in zip(samples, ra_scale):
        z = sample_normals(seed, int(s_index), n_transistors)
        parts = []
        if v["ra_sigma"] > 0:
            parts.append(z.mtj[:1])
            expected = math.exp(v["ra_sigma"] * z.mtj[0]) if v["mtj_distribution"] == "lognormal" else 1 + v["ra_sigma"] * z.mtj[0]
            if int(s_index) != NOMINAL_INDEX and not math.isclose(scale, expected, rel_tol=1e-9):
                raise DataError(f"{where}: sample {s_index}'s stored RA draw does not match its seed; the run was made "
                                "with other draw code and cannot be re-analysed")
        if v["tmr_sigma"] > 0:
            parts.append(z.mtj[1:2])
        if v["global_delvto_sigma_v"] > 0:
            parts.append(z.global_process[:2])
        if v["global_mobility_sigma"] > 0:
            parts.append(z.global_process[2:])
        if v["mismatch"] and n_transistors:
            parts.append(z.local.ravel())
        rows.append(np.concatenate(parts) if parts else np.zeros(0))
    return np.array(rows, dtype=float).reshape(len(rows), -1)


def local_sigmas(config: SweepConfig, samples: np.ndarray, draws_json: np.ndarray) -> dict[str, Any]:
    """Each transistor's mismatch sigmas, read back from the stored draws (delvto = sigma z exactly when
    the config draws no global process variation): what maps a die-to-die shift onto the local normals."""
    varied = [i for i, s_index in enumerate(samples) if int(s_index) != NOMINAL_INDEX]
    if not varied or not config["variability"]["mismatch"]:
        return {}
    draws = [json.loads(draws_json[i]) for i in varied]
    names = tuple(sorted(draws[0].get("delvto_v", {})))
    if not names:
        return {}
    z = np.array([sample_normals(config["sweep"]["seed"], int(samples[i]), len(names)).local for i in varied])
    dvt = np.array([[d["delvto_v"][n] for n in names] for d in draws])
    lmu = np.array([[math.log(d["mulu0"][n]) for n in names] for d in draws])
    with np.errstate(divide="ignore", invalid="ignore"):
        sig = np.stack([np.nanmedian(dvt / z[:, :, 0], axis=0), np.nanmedian(lmu / z[:, :, 1], axis=0)], axis=1)
    return {"transistor_names": names, "local_sigmas": sig}


# --- curves -------------------------------------------------------------------------------------------
@dataclass
class ScenarioCurve:
    """BER(T), E(T) (total and per supply) and per-sample P_fail(T) of one scenario/corner/direction."""

    time_s: np.ndarray
    ber: np.ndarray
    energy_j: np.ndarray
    energy_by_supply_j: np.ndarray
    supplies: tuple[str, ...]
    p_fail_samples: np.ndarray  # (n, T)
    energy_samples: np.ndarray  # (n, T) total expected energy of each sample
    progress: np.ndarray  # (n, T) q_i(T)
    normals: np.ndarray  # (n, d)

    @property
    def n_samples(self) -> int:
        return self.p_fail_samples.shape[0]


def shape_k_for(config: SweepConfig) -> float:
    """The gamma shape of the calibrated switching law at the sweep's overdrive."""
    from ..device.calibration import default_switching_law

    return float(default_switching_law().shape(config["circuit"]["v_over_vc"]))


def _curve(sample_set: SampleSet, rows: np.ndarray, shape_k: float, sigma: float, n_quadrature: int) -> ScenarioCurve:
    curves = [write_curve(sample_set.frozen(int(i)), shape_k, sigma, n_quadrature) for i in rows]
    p = np.array([c.p_fail for c in curves])
    return ScenarioCurve(
        time_s=sample_set.time_s,
        ber=p.mean(axis=0),
        energy_j=np.mean([c.energy_j for c in curves], axis=0),
        energy_by_supply_j=np.mean([c.energy_by_supply_j for c in curves], axis=0),
        supplies=sample_set.supplies,
        p_fail_samples=p,
        energy_samples=np.array([c.energy_j for c in curves]),
        progress=sample_set.progress[rows],
        normals=sample_set.normals[rows],
    )


def _average(a: ScenarioCurve, b: ScenarioCurve) -> ScenarioCurve:
    if a.p_fail_samples.shape != b.p_fail_samples.shape or a.supplies != b.supplies or not np.array_equal(a.time_s, b.time_s):
        raise DataError("the two directions have different samples, supplies or time grids; cannot average them")
    return ScenarioCurve(a.time_s, 0.5 * (a.ber + b.ber), 0.5 * (a.energy_j + b.energy_j),
                         0.5 * (a.energy_by_supply_j + b.energy_by_supply_j), a.supplies,
                         0.5 * (a.p_fail_samples + b.p_fail_samples), 0.5 * (a.energy_samples + b.energy_samples),
                         np.full_like(a.progress, np.nan), a.normals)


def _common_rows(run: RunData, corner: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per direction: (row of the nominal sample, rows of the variability samples)."""
    out = {}
    for direction in run.config["sweep"]["directions"]:
        s = run.sets[(corner, direction)].samples
        nominal = np.flatnonzero(s == NOMINAL_INDEX)
        if nominal.size != 1:
            raise DataError(f"corner {corner} ({direction}): the nominal sample failed or is missing; the table needs it")
        varied = np.flatnonzero(s != NOMINAL_INDEX)
        if varied.size == 0:
            raise DataError(f"corner {corner} ({direction}): no successful variability sample")
        out[direction] = (nominal, varied)
    return out


def scenario_curves(run: RunData, ln_rate_sigma: float | None = None, n_quadrature: int | None = None
                    ) -> dict[tuple[int, str, str], ScenarioCurve]:
    """(corner, scenario, direction) -> curve, for every corner, scenario and direction (+ average)."""
    config = run.config
    sigma = config["variability"]["intrinsic_ln_rate_sigma"] if ln_rate_sigma is None else float(ln_rate_sigma)
    if not (math.isfinite(sigma) and sigma >= 0):
        raise ParameterError(f"ln_rate_sigma must be a finite number >= 0, got {ln_rate_sigma!r}")
    nq = config["table"]["n_quadrature"] if n_quadrature is None else int(n_quadrature)
    k = shape_k_for(config)
    curves: dict[tuple[int, str, str], ScenarioCurve] = {}
    directions = list(config["sweep"]["directions"])
    for ci in range(len(run.corners)):
        rows = _common_rows(run, ci)
        for direction in directions:
            sset = run.sets[(ci, direction)]
            nominal, varied = rows[direction]
            curves[(ci, "nominal", direction)] = _curve(sset, nominal, k, 0.0, nq)
            physical = _curve(sset, varied, k, 0.0, nq)
            curves[(ci, "variability_physical", direction)] = physical
            curves[(ci, "variability", direction)] = physical if sigma == 0 else _curve(sset, varied, k, sigma, nq)
            process = process_variation_set(config, sset, varied)
            if process is not None:
                curves[(ci, "variability_process", direction)] = _curve(process, np.arange(varied.size), k, 0.0, nq)
        if len(directions) == 2:
            for scenario in SCENARIOS:
                if (ci, scenario, "p2ap") in curves:
                    curves[(ci, scenario, "average")] = _average(curves[(ci, scenario, "p2ap")], curves[(ci, scenario, "ap2p")])
    return curves


def process_variation_set(config: SweepConfig, sset: SampleSet, varied: np.ndarray) -> SampleSet | None:
    """The varied samples with a die-to-die process draw added (None where the config already draws it,
    or has no transistor mismatch to map it onto).

    Each sample's global shifts come from its own seed (`sample_normals(...).global_process`, the stream
    a sweep with global_delvto_sigma_v > 0 would use), at sigma = corner shift x
    PROCESS_SIGMAS_PER_CORNER_SHIFT. A global shift g of a type moves each transistor j of that type as
    a local draw of g / sigma_j would, so the cell's change is read from a response surface of ln q(t)
    and of the frozen energies in the local normals (tail.py, fitted on all varied samples), added to
    the sample's own SPICE result: SPICE for the within-die cell, the surface only for the increment.
    """
    v = config["variability"]
    if v["global_delvto_sigma_v"] > 0 or v["global_mobility_sigma"] > 0 or sset.local_sigmas is None:
        return None
    from .. import paths
    from ..circuit.write_circuit import parse_transistors

    netlist = paths.resource_file("netlists", "write_driver.cir").read_text()
    kinds = {t.name: t.type for t in parse_transistors(netlist)}
    if set(kinds) != set(sset.transistor_names):
        raise DataError("the run's transistors do not match the write-circuit netlist; no process-variation scenario")
    x = sset.normals[varied]
    n_local = 2 * len(sset.transistor_names)
    offset = x.shape[1] - n_local
    seed = config["sweep"]["seed"]
    z_global = np.array([sample_normals(seed, int(i), len(sset.transistor_names)).global_process
                         for i in sset.samples[varied]])
    sigma_vt = config["corners"]["delvto_shift_v"] * PROCESS_SIGMAS_PER_CORNER_SHIFT
    sigma_mu = config["corners"]["mobility_shift"] * PROCESS_SIGMAS_PER_CORNER_SHIFT
    shifted = x.copy()
    for j, name in enumerate(sset.transistor_names):
        p = 1 if kinds[name] == "p" else 0
        shifted[:, offset + 2 * j] += sigma_vt * z_global[:, p] / sset.local_sigmas[j, 0]
        shifted[:, offset + 2 * j + 1] += sigma_mu * z_global[:, 2 + p] / sset.local_sigmas[j, 1]
    q = sset.progress[varied]
    positive = np.all(q > 0, axis=0)
    n, n_times = q.shape
    e_init = sset.energy_init_j[varied].reshape(n, -1)
    e_final = sset.energy_final_j[varied].reshape(n, -1)
    y = np.hstack([np.log(q[:, positive]), e_init, e_final])
    spec = tail.surface_spec(x, np.log(q[:, -1]))  # variables ranked by their effect on ln q(T_end)
    if spec is None:
        return None
    coef = tail.fit_surface(x, y, spec)
    delta = (tail.features(shifted, spec) - tail.features(x, spec)) @ coef
    n_pos = int(positive.sum())
    progress = q.copy()
    progress[:, positive] = q[:, positive] * np.exp(delta[:, :n_pos])
    width = e_init.shape[1]
    shape = sset.energy_init_j[varied].shape
    return SampleSet(
        time_s=sset.time_s, samples=sset.samples[varied], progress=progress,
        energy_init_j=(e_init + delta[:, n_pos:n_pos + width]).reshape(shape),
        energy_final_j=(e_final + delta[:, n_pos + width:]).reshape(shape),
        supplies=sset.supplies, normals=np.hstack([x, z_global]),
    )


def corner_label(corner: tuple[str, float, float]) -> str:
    process, vdd, temp = corner
    return f"{process}/VDDx{vdd:.2f}/{temp:.0f}K"


def sweep_curves(run_dir: str | Path, ln_rate_sigma: float | None = None) -> pd.DataFrame:
    """Full curves for plotting: one row per (corner, scenario, direction, T) with ber and energy_j."""
    run = load_run(run_dir)
    frames = []
    for (ci, scenario, direction), c in scenario_curves(run, ln_rate_sigma).items():
        frames.append(pd.DataFrame({
            "corner": corner_label(run.corners[ci]), "scenario": scenario, "direction": direction,
            "t_pulse_s": c.time_s, "ber": c.ber, "energy_j": c.energy_j,
        }))
    return pd.concat(frames, ignore_index=True)


# --- the table ----------------------------------------------------------------------------------------
def _t_star(curve: ScenarioCurve, target: float, where: str) -> float:
    try:
        return pulse_for_ber(curve.time_s, curve.ber, target)
    except ParameterError as exc:
        raise DataError(f"{where}: {exc}") from None


WINDOW_POINTS = (10, 30, 90, 100_000)  # half-widths (grid points) of the windows tried around the plain-mean T*
N_BOOTSTRAP = 400


def failed_ber_shift(n_failed: int, n_ok: int) -> float:
    """How far failed (missing) samples could raise the array BER: the worst case, every one fails always."""
    return n_failed / (n_failed + n_ok) if n_failed else 0.0


def crossings(time_s: np.ndarray, curves: np.ndarray, target: float) -> np.ndarray:
    """pulse_for_ber for many curves (rows) at once; NaN where a curve does not cross within the grid."""
    below = curves <= target
    first = np.argmax(below, axis=1)
    ok = below.any(axis=1) & (first > 0)
    i = np.where(ok, first, 1)
    rows = np.arange(curves.shape[0])
    with np.errstate(divide="ignore", invalid="ignore"):
        y0 = np.log(np.maximum(curves[rows, i - 1], 1e-300))
        y1 = np.log(np.maximum(curves[rows, i], 1e-300))
        frac = np.where(y1 == y0, 0.0, (math.log(target) - y0) / (y1 - y0))
    t = time_s[i - 1] + frac * (time_s[i] - time_s[i - 1])
    return np.where(ok, t, np.nan)


def tail_target(parts: Sequence[ScenarioCurve], curve: ScenarioCurve, target: float, t_plain: float, shape_k: float,
                sigma: float, n_quadrature: int, seed: int, key: tuple[int, ...]) -> dict[str, Any]:
    """T* of one target from the variance-reduced array BER (tail.py), its relative standard error there,
    and 95 % percentile-bootstrap intervals of T* and E(T*) over the device samples.

    `parts` are the directions whose BER is averaged (one, or p2ap and ap2p for `average`); `curve` is
    the scenario's own curve (its energies are resampled). Where the control variate disagrees grossly
    with the plain mean (tail.agrees), the plain mean is used. The estimator is evaluated on a window of
    the time grid around the plain mean's T*, widened until T* and 97.5 % of the bootstrap replicates
    fall inside it. Bootstrap: cells are resampled with replacement, the residual correction and the
    energy mean recomputed, the surface integral moved by its own standard error; T* and E(T*) are
    found on each replicate's curve.
    """
    time_s = curve.time_s
    centre = int(np.searchsorted(time_s, t_plain))
    for half_width in WINDOW_POINTS:
        lo = max(1, centre - half_width)
        hi = min(time_s.size, centre + half_width + 1)
        window = np.arange(lo, hi)
        terms = [tail.direction_terms(p.progress[:, window], p.normals, shape_k, sigma, n_quadrature,
                                      tail.tail_seed(seed, 0, *key, j), p_fail=p.p_fail_samples[:, window])
                 for j, p in enumerate(parts)]
        estimate = tail.array_estimate(terms)
        plain = tail.plain_estimate([p.p_fail_samples[:, window] for p in parts])
        if estimate.estimator != tail.PLAIN and not tail.agrees(estimate, plain):
            estimate = plain
        t_win = time_s[window]
        t_star = crossings(t_win, estimate.ber[None, :], target)[0]
        if not np.isfinite(t_star):
            if lo == 1 and hi == time_s.size:
                raise DataError(f"the variance-reduced BER does not reach {target:g} in the simulated window")
            continue
        rng = np.random.default_rng(tail.tail_seed(seed, 1, *key))
        n = estimate.residuals.shape[0]
        index = rng.integers(0, n, size=(N_BOOTSTRAP, n))
        replicas = estimate.bootstrap(index, rng.standard_normal(N_BOOTSTRAP))
        t_b = crossings(t_win, replicas, target)
        if np.mean(np.isnan(t_b)) <= 0.025 or (lo == 1 and hi == time_s.size):
            break
    else:
        raise DataError(f"the variance-reduced BER does not cross {target:g} within {WINDOW_POINTS[-1]} grid points "
                        "of the plain estimate's T*")
    rel_se = float(np.interp(t_star, t_win, estimate.se / np.maximum(estimate.ber, 1e-300)))
    energy_b = curve.energy_samples[:, window][index].mean(axis=1)  # (B, W)
    # A replicate that does not cross inside the window has T* beyond it: +-inf, so an interval bound the
    # simulated window cannot resolve is reported as infinite rather than dropped.
    beyond = np.where(replicas[:, -1] > target, np.inf, -np.inf)
    e_b = np.array([np.interp(tb, t_win, eb) if np.isfinite(tb) else bd for tb, eb, bd in zip(t_b, energy_b, beyond)])
    t_b = np.where(np.isnan(t_b), beyond, t_b)
    t_lo, t_hi = np.percentile(t_b, [2.5, 97.5], method="nearest")
    e_lo, e_hi = np.percentile(e_b, [2.5, 97.5], method="nearest")
    return {"estimator": estimate.estimator, "t_pulse_s": float(t_star), "ber_rel_se": rel_se,
            "t_pulse_ci_low_s": float(t_lo), "t_pulse_ci_high_s": float(t_hi),
            "energy_ci_low_j": float(e_lo), "energy_ci_high_j": float(e_hi)}


def build_table(run_dir: str | Path, targets: Sequence[float] | None = None, ln_rate_sigma: float | None = None,
                n_quadrature: int | None = None, skip_unreachable: bool = False) -> pd.DataFrame:
    """The energy/BER lookup table of a finished run (provenance in `df.attrs['provenance']`).

    A target BER the simulated window cannot reach is refused (DataError), never extrapolated. With
    `skip_unreachable` (for corner sweeps where some corners barely write) such rows are left out
    instead and listed in the provenance (`table.unreachable`); a missing reference gives NaN
    `energy_increase` / `saving`.
    """
    run = load_run(run_dir)
    config = run.config
    targets = list(config["table"]["targets"] if targets is None else targets)
    for t in targets:
        if not (isinstance(t, (int, float)) and math.isfinite(t) and 0.0 < t < 1.0):
            raise ParameterError(f"target BER must lie in (0, 1), got {t!r}")
    targets = sorted(set(float(t) for t in targets))
    sigma = config["variability"]["intrinsic_ln_rate_sigma"] if ln_rate_sigma is None else float(ln_rate_sigma)
    curves = scenario_curves(run, sigma, n_quadrature)
    supplies = next(iter(curves.values())).supplies
    records = []
    unreachable: list[str] = []

    def energy_at(curve: ScenarioCurve, target: float, where: str) -> tuple[float, float]:
        """(T*, E(T*)), or NaNs for an unreachable target when skipping."""
        try:
            t = _t_star(curve, target, where)
        except DataError:
            if not skip_unreachable:
                raise
            return math.nan, math.nan
        return t, float(value_at(curve.time_s, curve.energy_j, t))

    k = shape_k_for(config)
    nq = config["table"]["n_quadrature"] if n_quadrature is None else int(n_quadrature)
    seed = config["sweep"]["seed"]
    for (ci, scenario, direction), c in curves.items():
        where = f"corner {corner_label(run.corners[ci])}, {scenario}, {direction}"
        nominal = curves[(ci, "nominal", direction)]
        parts = [curves[(ci, scenario, d)] for d in (("p2ap", "ap2p") if direction == "average" else (direction,))]
        scenario_sigma = sigma if scenario == "variability" else 0.0
        cache: dict[float, dict[str, Any] | None] = {}

        def estimate(target: float, ti: int) -> dict[str, Any] | None:
            """The row's T* and intervals (None: unreachable and skipped)."""
            if target in cache:
                return cache[target]
            t, energy = energy_at(c, target, where)
            if math.isnan(t):
                cache[target] = None
            elif scenario == "nominal":
                cache[target] = {"estimator": "deterministic", "t_pulse_s": t, "ber_rel_se": 0.0, "t_pulse_ci_low_s": t,
                                 "t_pulse_ci_high_s": t, "energy_ci_low_j": energy, "energy_ci_high_j": energy}
            else:
                key = (ci, SCENARIOS.index(scenario), TABLE_DIRECTIONS.index(direction), ti)
                try:
                    cache[target] = tail_target(parts, c, target, t, k, scenario_sigma, nq, seed, key)
                except DataError as exc:
                    if not skip_unreachable:
                        raise DataError(f"{where}: {exc}") from None
                    cache[target] = None
            return cache[target]

        reference = estimate(REFERENCE_BER, len(targets))
        e_ref = math.nan if reference is None else float(value_at(c.time_s, c.energy_j, reference["t_pulse_s"]))
        for ti, target in enumerate(targets):
            est = estimate(target, ti)
            if est is None:
                unreachable.append(f"{where}, BER {target:g}")
                continue
            shift = failed_ber_shift(run.n_failed[ci], c.n_samples)
            if scenario != "nominal" and shift > 1.96 * est["ber_rel_se"] * target:
                message = (f"{where}: {run.n_failed[ci]} failed sample(s) could raise the array BER at {target:g} by "
                           f"up to {shift:.2g}, beyond its 95 % interval (+-{1.96 * est['ber_rel_se'] * target:.2g}); "
                           "rerun the failed samples (see the manifest) before using this target")
                if not skip_unreachable:
                    raise DataError(message)
                unreachable.append(message)
                continue
            t = est["t_pulse_s"]
            energy = float(value_at(c.time_s, c.energy_j, t))
            _, e_nom = energy_at(nominal, target, where.replace(scenario, "nominal"))
            by_supply = value_at(c.time_s, c.energy_by_supply_j, t)
            process, vdd, temp = run.corners[ci]
            rec = {
                "corner": corner_label(run.corners[ci]), "process": process, "vdd_scale": vdd, "temperature_k": temp,
                "scenario": scenario, "direction": direction, "ber": target, "t_pulse_s": t, "energy_j": energy,
            }
            for s_name, e in zip(supplies, np.atleast_1d(by_supply)):
                rec[f"energy_{s_name}_j"] = float(e)
            rec.update({
                "energy_increase": energy / e_nom - 1.0,
                "saving": 1.0 - energy / e_ref,
                "ber_rel_se": est["ber_rel_se"],
                "estimator": est["estimator"],
                "t_pulse_ci_low_s": est["t_pulse_ci_low_s"],
                "t_pulse_ci_high_s": est["t_pulse_ci_high_s"],
                "energy_ci_low_j": est["energy_ci_low_j"],
                "energy_ci_high_j": est["energy_ci_high_j"],
                "energy_increase_ci_low": est["energy_ci_low_j"] / e_nom - 1.0,
                "energy_increase_ci_high": est["energy_ci_high_j"] / e_nom - 1.0,
                "n_samples": int(c.n_samples),
                "n_failed": int(run.n_failed[ci]),
                "ln_rate_sigma": scenario_sigma,
                **device_columns(config),
            })
            records.append(rec)
    if not records:
        raise DataError(f"{run_dir}: no target BER is reachable in the simulated window")
    df = pd.DataFrame.from_records(records)
    df = df.sort_values(["corner", "scenario", "direction", "ber"], kind="stable").reset_index(drop=True)
    df.attrs["provenance"] = {
        **run.provenance,
        "table": {
            "run_dir_name": Path(run_dir).resolve().name,
            "targets": targets,
            "ln_rate_sigma": sigma,
            "process_variation": {"global_delvto_sigma_v": config["corners"]["delvto_shift_v"] * PROCESS_SIGMAS_PER_CORNER_SHIFT,
                                  "global_mobility_sigma": config["corners"]["mobility_shift"] * PROCESS_SIGMAS_PER_CORNER_SHIFT,
                                  "source": "process corners read as +-3 sigma of the global variation"},
            "n_quadrature": config["table"]["n_quadrature"] if n_quadrature is None else int(n_quadrature),
            "shape_k": shape_k_for(config),
            "supplies": list(supplies),
            "failures": run.failures[:100],
            "unreachable": unreachable,
            "built_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        },
    }
    return df


# --- calibration of the intrinsic spread --------------------------------------------------------------
@dataclass(frozen=True)
class SpreadCalibration:
    ln_rate_sigma: float
    ln_rate_sigma_ci_low: float  # 95 % interval from the estimator's standard error at the fit
    ln_rate_sigma_ci_high: float
    target_t_pulse_s: float
    target_ber: float
    direction: str
    corner: str
    t_pulse_s: float  # T*(target_ber) that the fitted sigma gives (full table machinery)
    residual_s: float
    physical_t_pulse_s: float  # T*(target_ber) with the physical draws only
    n_samples: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def calibrate_intrinsic_spread(run_dir: str | Path, target_t_pulse_s: float = PAPER_ANCHORS.variability_reference_pulse_s,
                               target_ber: float = REFERENCE_BER,
                               direction: str = "average", corner: int = 0) -> SpreadCalibration:
    """The intrinsic ln-rate sigma for which T*(target_ber) of the `variability` scenario = target_t_pulse_s.

    The array BER at the target pulse length (the variance-reduced estimate of tail.py) rises
    monotonically with sigma, so the root is bracketed on [0, 1] and found by Brent's method on the
    stored samples; the fit is then checked with the table's own machinery (residual = T*(sigma) -
    target). Its 95 % interval holds the sigmas whose estimated BER at the target pulse lies within
    1.96 standard errors of the target.
    """
    if direction not in TABLE_DIRECTIONS:
        raise ParameterError(f"direction must be one of {', '.join(TABLE_DIRECTIONS)}, got {direction!r}")
    run = load_run(run_dir)
    config = run.config
    if not 0 <= corner < len(run.corners):
        raise ParameterError(f"corner must be an index in [0, {len(run.corners)}), got {corner!r}")
    k = shape_k_for(config)
    nq = config["table"]["n_quadrature"]
    dirs = ["p2ap", "ap2p"] if direction == "average" else [direction]
    rows = _common_rows(run, corner)
    columns = []
    for d in dirs:
        sset = run.sets[(corner, d)]
        varied = rows[d][1]
        if not sset.time_s[0] < target_t_pulse_s < sset.time_s[-1]:
            raise ParameterError(f"target pulse {target_t_pulse_s:g} s lies outside the simulated window")
        q = np.array([np.interp(target_t_pulse_s, sset.time_s, sset.progress[i]) for i in varied])
        columns.append((q[:, None], sset.normals[varied]))

    def estimate(sigma: float) -> tail.ArrayEstimate:
        """The variance-reduced array BER at the target pulse (same draws for every sigma: smooth in sigma)."""
        return tail.array_estimate([tail.direction_terms(q, x, k, sigma, nq, tail.tail_seed(config["sweep"]["seed"], 2, j))
                                    for j, (q, x) in enumerate(columns)])

    def log_gap(sigma: float, offset: float = 0.0) -> float:
        ber = float(estimate(sigma).ber[0])
        return math.log(max(ber, 1e-300)) - math.log(target_ber) - offset

    lo, hi = 0.0, 1.0
    if log_gap(lo) > 0:
        raise DataError(f"physical variability alone already needs more than {target_t_pulse_s * 1e9:.3g} ns for BER "
                        f"{target_ber:g}; no intrinsic spread >= 0 fits")
    if log_gap(hi) < 0:
        raise DataError("no intrinsic spread in [0, 1] reaches the target pulse length")
    sigma = float(optimize.brentq(log_gap, lo, hi, xtol=1e-6))
    # 95 % interval: the sigmas whose BER at the target pulse is within 1.96 standard errors of the target
    # (test inversion; ln BER's standard error is the relative standard error at the fit).
    fit = estimate(sigma)
    half = 1.96 * float(fit.se[0] / fit.ber[0])
    if not math.isfinite(half) or half <= 0:  # too few samples for a standard error: no interval
        sigma_lo = sigma_hi = math.nan
    else:
        sigma_lo = 0.0 if log_gap(0.0, -half) > 0 else float(optimize.brentq(log_gap, 0.0, sigma, args=(-half,), xtol=1e-6))
        sigma_hi = float(optimize.brentq(log_gap, sigma, hi, args=(half,), xtol=1e-6)) if log_gap(hi, half) > 0 else hi
    table = build_table(run_dir, targets=[target_ber], ln_rate_sigma=sigma)
    pick = lambda scenario: float(table.loc[(table["scenario"] == scenario) & (table["direction"] == direction)
                                            & (table["corner"] == corner_label(run.corners[corner])), "t_pulse_s"].iloc[0])
    t_fit = pick("variability")
    return SpreadCalibration(
        ln_rate_sigma=sigma, ln_rate_sigma_ci_low=sigma_lo, ln_rate_sigma_ci_high=sigma_hi,
        target_t_pulse_s=target_t_pulse_s, target_ber=target_ber, direction=direction,
        corner=corner_label(run.corners[corner]), t_pulse_s=t_fit, residual_s=t_fit - target_t_pulse_s,
        physical_t_pulse_s=pick("variability_physical"), n_samples=int(rows[dirs[0]][1].size),
    )


# --- export and loading -------------------------------------------------------------------------------
def _provenance_json(df: pd.DataFrame) -> str:

    return to_json(df.attrs.get("provenance", {})).replace("\n", " ")


def write_table(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a table atomically as .parquet or .csv, provenance and units included."""
    path = Path(path)
    validate_table(df, str(path))
    prov = json.loads(_provenance_json(df))
    units = {c: u for c, u in UNITS.items() if c in df.columns}
    units.update({c: "J" for c in df.columns if c.startswith("energy_") and c.endswith("_j")})
    plain = pd.DataFrame(df)
    plain.attrs = {}
    if path.suffix == ".parquet":
        table = pa.Table.from_pandas(plain, preserve_index=False)
        data = parquet_bytes(table, {META_PROVENANCE: json.dumps(prov).encode(), META_UNITS: json.dumps(units).encode()})
    elif path.suffix == ".csv":
        buf = io.StringIO()
        buf.write(CSV_PREFIX + json.dumps({"provenance": prov, "units": units}) + "\n")
        plain.to_csv(buf, index=False, float_format="%.17g")
        data = buf.getvalue().encode("utf-8")
    else:
        raise ParameterError(f"table file must end in .parquet or .csv, got {path.name!r}")
    atomic_write_bytes(path, data)
    return path


def validate_table(df: pd.DataFrame, source: str = "table", units: dict[str, str] | None = None) -> None:
    """Schema, units and monotonicity checks shared by the writer and the loader."""
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise DataError(f"{source}: missing column(s) {', '.join(missing)} (a table needs {', '.join(REQUIRED_COLUMNS)})")
    if units:
        for column, unit in units.items():
            expected = UNITS.get(column, "J" if column.startswith("energy_") and column.endswith("_j") else None)
            if expected is not None and column in df.columns and unit != expected:
                raise DataError(f"{source}: column {column} is in {unit!r}, expected {expected!r} (SI units)")
    for column in ("ber", "t_pulse_s", "energy_j"):
        if not pd.api.types.is_numeric_dtype(df[column]):
            raise DataError(f"{source}: column {column} must be numeric")
        if not np.all(np.isfinite(df[column].to_numpy(dtype=float))):
            raise DataError(f"{source}: column {column} has missing or non-finite values")
    ber = df["ber"].to_numpy(dtype=float)
    if np.any((ber <= 0) | (ber >= 1)):
        raise DataError(f"{source}: ber values must lie in (0, 1)")
    for column, (lo, hi) in PLAUSIBLE.items():
        values = df[column].to_numpy(dtype=float)
        if np.any((values <= lo) | (values >= hi)):
            raise DataError(f"{source}: column {column} has values outside ({lo:g}, {hi:g}); wrong units? "
                            f"(expected SI: {'seconds' if column == 't_pulse_s' else 'joules'})")
    keys = [c for c in ("corner", "scenario", "direction") if c in df.columns]
    for key, group in df.groupby(keys, sort=False):
        g = group.sort_values("ber")
        if g["ber"].duplicated().any():
            raise DataError(f"{source}: duplicated ber values for {key}")
        if np.any(np.diff(g["t_pulse_s"].to_numpy(dtype=float)) >= 0):
            raise DataError(f"{source}: t_pulse_s must fall strictly as ber rises (group {key}); the table is not monotonic")


def _check_sample_counts(df: pd.DataFrame, source: str, provenance: dict[str, Any]) -> None:
    """n_samples (successful samples behind a row) and n_failed (failed samples of its corner) are counts,
    and together at most the samples the run simulated per corner (its config, in the provenance)."""
    counts = [c for c in ("n_samples", "n_failed") if c in df.columns]
    for column in counts:
        values = pd.to_numeric(df[column], errors="coerce").to_numpy(dtype=float)
        lowest = 1 if column == "n_samples" else 0
        if not np.all(np.isfinite(values) & (values == np.round(values)) & (values >= lowest)):
            raise DataError(f"{source}: column {column} must hold whole numbers >= {lowest}")
    n_config = provenance.get("config", {}).get("sweep", {}).get("n_samples") if isinstance(provenance, dict) else None
    if len(counts) == 2 and isinstance(n_config, int):
        simulated = n_config + 1  # the nominal sample and n_samples variability samples per corner
        total = df["n_samples"].to_numpy(dtype=float) + df["n_failed"].to_numpy(dtype=float)
        if np.any(total > simulated):
            row = int(np.argmax(total > simulated))
            raise DataError(f"{source}: row {row} has n_samples {int(df['n_samples'].iloc[row])} + n_failed "
                            f"{int(df['n_failed'].iloc[row])} above the {simulated} samples simulated per corner")


def load_table(path: str | Path) -> pd.DataFrame:
    """Read a table written by `write_table`, validate it, provenance in `df.attrs['provenance']`."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"table {path} does not exist")
    units: dict[str, str] = {}
    provenance: dict[str, Any] = {}
    try:
        if path.suffix == ".parquet":
            table = pq.read_table(path)
            meta = table.schema.metadata or {}
            provenance = json.loads(meta.get(META_PROVENANCE, b"{}"))
            units = json.loads(meta.get(META_UNITS, b"{}"))
            df = table.replace_schema_metadata(None).to_pandas()
        elif path.suffix == ".csv":
            with open(path, encoding="utf-8") as fh:
                first = fh.readline()
            if first.startswith(CSV_PREFIX):
                header = json.loads(first[len(CSV_PREFIX):])
                provenance, units = header.get("provenance", {}), header.get("units", {})
            df = pd.read_csv(path, comment=None, skiprows=1 if first.startswith("#") else 0)
        else:
            raise DataError(f"table file must end in .parquet or .csv, got {path.name!r}")
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise DataError(f"cannot read table {path}: {exc}") from None
    validate_table(df, str(path), units)
    _check_sample_counts(df, str(path), provenance)
    df.attrs["provenance"] = provenance
    df.attrs["units"] = units
    return df


def lookup(df: pd.DataFrame, ber: float, scenario: str = "variability", direction: str = "average",
           corner: str | None = None) -> dict[str, float]:
    """t_pulse_s and energy_j at one BER, log-linear between the table's rows; outside its range: refused."""
    sel = (df["scenario"] == scenario) & (df["direction"] == direction)
    if corner is not None and "corner" in df.columns:
        sel &= df["corner"] == corner
    g = df[sel].sort_values("ber")
    if g.empty:
        raise DataError(f"the table has no rows for scenario={scenario!r}, direction={direction!r}, corner={corner!r}")
    if "corner" in g.columns and corner is None and g["corner"].nunique() > 1:
        raise ParameterError("the table has several corners; pass corner=")
    b = g["ber"].to_numpy(dtype=float)
    if not (b[0] <= ber <= b[-1]):
        raise ParameterError(f"BER {ber:g} is outside the table's range [{b[0]:g}, {b[-1]:g}]; not extrapolated")
    x = np.log(b)
    out = {}
    for column in ("t_pulse_s", "energy_j"):
        out[column] = float(np.interp(math.log(ber), x, g[column].to_numpy(dtype=float)))
    return out
