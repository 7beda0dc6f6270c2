"""The Monte Carlo runner: every (corner, sample) task simulated once, in parallel, checkpointed.

A task is one sample at one corner, both write directions. Tasks are numbered
task = corner_index * (n_samples + 1) + sample, sample 0 being the nominal (no variability) sample.
The task function draws the sample from (seed, sample) alone, so results do not depend on how many
workers run or in what order. Workers keep one simulator (one ngspice session with the circuit
loaded) per process in a module-level cache keyed by the corner conditions.

Execution: in-process for `jobs == 1`, joblib's loky processes otherwise (OpenMP threads 1 per
worker), or a Dask cluster through joblib's Dask backend when a scheduler address is given. Results
stream back in task order and are written chunk by chunk (see checkpoint.py). A failing simulation is
retried once (with relaxed options when the simulator takes `relaxed=True`), then recorded with its
reason; a worker process that dies is replaced and its unfinished tasks are resubmitted. A new run
that fails before its first chunk is written (e.g. a model card ngspice rejects) removes its folder.
"""

from __future__ import annotations

import inspect
import json
import os
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol, Sequence

import numpy as np
import pyarrow as pa

from . import provenance
from .checkpoint import Manifest, RunStore
from ..errors import ConfigError, OutputExistsError, SimulatorError
from ..circuit.hybrid import FrozenWrite
from .config import CIRCUIT_ENGINES, SweepConfig, load_config, to_toml
from .variability import SampleDraw, draw_sample

MAX_WORKER_RESTARTS = 3


class Simulator(Protocol):
    """What the runner needs from a circuit simulator."""

    transistors: Sequence[tuple[str, str, float, float]]

    def simulate(self, direction: str, sample: SampleDraw) -> FrozenWrite: ...


SimulatorFactory = Callable[[SweepConfig, tuple[str, float, float]], Simulator]


# --- simulators ---------------------------------------------------------------------------------------
def analytic_simulator(config: SweepConfig, corner: tuple[str, float, float]) -> Simulator:
    from .analytic_cell import AnalyticCell, AnalyticConditions

    from .config import config_device

    return AnalyticCell(AnalyticConditions.from_config(config, corner), device=config_device(config))


class SpiceCell:
    """The ngspice write circuit (circuit.WriteCircuit) behind the simulator protocol.

    A corner's process shifts, VDD scale and temperature are the circuit's conditions; a sample's
    global and local transistor shifts and MTJ scales are its `CircuitSample`; the sample's Vc
    multiplier (vc_scale, = ra_scale when Ic0 is held fixed) becomes its Jc0 scale vc_scale / ra_scale.
    The device and driver are the config's `[device]` / `[driver]`.
    """

    def __init__(self, config: SweepConfig, corner: tuple[str, float, float]) -> None:
        from ..circuit.write_circuit import CircuitConditions, WriteCircuit
        from .config import config_device, config_driver
        from .variability import corner_shifts

        process, vdd_scale, temperature_k = corner
        shifts = corner_shifts(process, config["corners"]["delvto_shift_v"], config["corners"]["mobility_shift"])
        c = config["circuit"]
        self.conditions = CircuitConditions(
            model_card=c["model_card"], v_over_vc=c["v_over_vc"],
            dvt_n_v=shifts["n"].delvto_v, dvt_p_v=shifts["p"].delvto_v, mu_n=shifts["n"].mobility, mu_p=shifts["p"].mobility,
            vdd_scale=vdd_scale, temperature_c=temperature_k - 273.15,
            t_stop_s=c["stop_time_s"], max_step_s=c["time_step_s"], grid_step_s=c["time_step_s"],
            device=config_device(config), driver=config_driver(config),
            simulator=CIRCUIT_ENGINES[config["sweep"]["simulator"]],
        )
        self.circuit = WriteCircuit(self.conditions)
        self.transistors = [tuple(t) for t in self.circuit.transistors]
        for direction in config["sweep"]["directions"]:
            # solved here, not in the first sample: a device/driver that cannot reach the amplitude stops
            # the sweep at its first sample with one line naming the limit, instead of failing every sample
            self.circuit.rail_v(direction)

    def simulate(self, direction: str, sample: SampleDraw) -> FrozenWrite:
        from ..circuit.write_circuit import CircuitSample

        circuit_sample = CircuitSample(ra_scale=sample.ra_scale, tmr_scale=sample.tmr_scale, rate_scale=sample.rate_scale,
                                       jc0_scale=sample.vc_scale / sample.ra_scale,
                                       delvto_v=dict(sample.delvto_v), mulu0=dict(sample.mulu0))
        return self.circuit.frozen_write(direction, circuit_sample)


def spice_simulator(config: SweepConfig, corner: tuple[str, float, float]) -> Simulator:
    return SpiceCell(config, corner)


def default_simulator(config: SweepConfig, corner: tuple[str, float, float]) -> Simulator:
    """The simulator named by `sweep.simulator` ('spice' or 'analytic')."""
    if config["sweep"]["simulator"] == "analytic":
        return analytic_simulator(config, corner)
    return spice_simulator(config, corner)


_SIMULATORS: dict[tuple, Simulator] = {}
_PROCESS_LOCK = threading.RLock()


def cached_simulator(factory: SimulatorFactory, config: SweepConfig, corner: tuple[str, float, float]) -> Simulator:
    """One simulator per process and (factory, run identity, corner): the netlist is loaded once."""
    key = (getattr(factory, "__module__", ""), getattr(factory, "__qualname__", repr(factory)), config.sample_hash, corner)
    sim = _SIMULATORS.get(key)
    if sim is None:
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        sim = factory(config, corner)
        _SIMULATORS[key] = sim
    return sim


# --- one task -----------------------------------------------------------------------------------------
def task_coordinates(config: SweepConfig, task: int) -> tuple[int, int]:
    """task -> (corner index, sample index)."""
    return divmod(task, config["sweep"]["n_samples"] + 1)


def _takes_relaxed(sim: Simulator) -> bool:
    try:
        return "relaxed" in inspect.signature(sim.simulate).parameters
    except (TypeError, ValueError):
        return False


def _simulate_with_retry(sim: Simulator, direction: str, draw: SampleDraw) -> tuple[FrozenWrite | None, int, str]:
    """(result or None, attempts, reason of the last failure)."""
    try:
        return sim.simulate(direction, draw), 1, ""
    except Exception as first:  # noqa: BLE001 - any failure of one sample is recorded, not fatal
        first_reason = f"{type(first).__name__}: {first}"
    try:
        if _takes_relaxed(sim):
            return sim.simulate(direction, draw, relaxed=True), 2, ""
        return sim.simulate(direction, draw), 2, ""
    except Exception as second:  # noqa: BLE001
        reason = f"{type(second).__name__}: {second}"
        if reason != first_reason:
            reason = f"{reason} (first attempt: {first_reason})"
        return None, 2, reason.replace("\n", " ")[:2000]


def run_task(config: SweepConfig, task: int, factory: SimulatorFactory = default_simulator) -> tuple[int, list[dict[str, Any]]]:
    """Simulate one sample at one corner in every direction; rows for the chunk file.

    ngspice is one session per process, so tasks of one process run one at a time (a Dask worker with
    several threads is serialised here; give it threads_per_worker=1 and more processes instead).
    """
    with _PROCESS_LOCK:
        return _run_task(config, task, factory)


def _run_task(config: SweepConfig, task: int, factory: SimulatorFactory) -> tuple[int, list[dict[str, Any]]]:
    corner_index, sample = task_coordinates(config, task)
    corner = config.corners[corner_index]
    sim = cached_simulator(factory, config, corner)
    draw = draw_sample(config["variability"], config["sweep"]["seed"], sample, sim.transistors)
    rows = []
    for direction in config["sweep"]["directions"]:
        start = time.perf_counter()
        frozen, attempts, reason = _simulate_with_retry(sim, direction, draw)
        rows.append(_row(task, corner_index, corner, draw, direction, frozen, attempts, reason, time.perf_counter() - start))
    return task, rows


def _row(task: int, corner_index: int, corner: tuple[str, float, float], draw: SampleDraw, direction: str,
         frozen: FrozenWrite | None, attempts: int, reason: str, wall_s: float) -> dict[str, Any]:
    empty = np.zeros(0)
    ok = frozen is not None
    return {
        "task": task,
        "corner": corner_index,
        "process": corner[0],
        "vdd_scale": corner[1],
        "temperature_k": corner[2],
        "sample": draw.index,
        "direction": direction,
        "status": "ok" if ok else "failed",
        "reason": reason,
        "attempts": attempts,
        "ra_scale": draw.ra_scale,
        "tmr_scale": draw.tmr_scale,
        "vc_scale": draw.vc_scale,
        "rate_scale": draw.rate_scale,
        "draw_json": json.dumps(draw.summary(), sort_keys=True),
        "supplies": list(frozen.supplies) if ok else [],
        "time_s": np.asarray(frozen.time_s, dtype=float) if ok else empty,
        "progress": np.asarray(frozen.progress, dtype=float) if ok else empty,
        "energy_init_j": np.asarray(frozen.energy_init_j, dtype=float).ravel() if ok else empty,
        "energy_final_j": np.asarray(frozen.energy_final_j, dtype=float).ravel() if ok else empty,
        "wall_s": wall_s,
    }


ROW_SCHEMA = pa.schema([
    ("task", pa.int64()), ("corner", pa.int32()), ("process", pa.string()), ("vdd_scale", pa.float64()),
    ("temperature_k", pa.float64()), ("sample", pa.int64()), ("direction", pa.string()), ("status", pa.string()),
    ("reason", pa.string()), ("attempts", pa.int32()), ("ra_scale", pa.float64()), ("tmr_scale", pa.float64()),
    ("vc_scale", pa.float64()), ("rate_scale", pa.float64()), ("draw_json", pa.string()),
    ("supplies", pa.list_(pa.string())), ("time_s", pa.list_(pa.float64())), ("progress", pa.list_(pa.float64())),
    ("energy_init_j", pa.list_(pa.float64())), ("energy_final_j", pa.list_(pa.float64())), ("wall_s", pa.float64()),
])


def rows_to_table(rows: list[dict[str, Any]]) -> pa.Table:
    columns = {}
    for f in ROW_SCHEMA:
        values = [r[f.name] for r in rows]
        columns[f.name] = pa.array(values, type=f.type)
    return pa.Table.from_pydict(columns, schema=ROW_SCHEMA)


# --- execution ------------------------------------------------------------------------------------------
def _stream(config: SweepConfig, tasks: list[int], jobs: int, scheduler: str | None,
            factory: SimulatorFactory) -> Iterator[tuple[int, list[dict[str, Any]]]]:
    """Results of `tasks`, in order."""
    if scheduler is None and jobs == 1:
        for t in tasks:
            yield run_task(config, t, factory)
        return
    from joblib import Parallel, delayed, parallel_config

    calls = (delayed(run_task)(config, t, factory) for t in tasks)
    if scheduler is not None:
        try:
            from distributed import Client
        except ImportError:  # pragma: no cover
            raise ConfigError("--scheduler needs dask.distributed: pip install 'pyspice-mram[dask]'") from None
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise SimulatorError(f"cannot reach the Dask scheduler at {scheduler} ({exc})") from None
        try:
            with parallel_config(backend="dask", n_jobs=jobs if jobs > 0 else -1):
                yield from Parallel(return_as="generator", batch_size=1)(calls)
        finally:
            client.close()
        return
    with parallel_config(backend="loky", inner_max_num_threads=1):
        yield from Parallel(n_jobs=jobs, return_as="generator", batch_size=1, pre_dispatch="2*n_jobs")(calls)


@dataclass
class SweepSummary:
    run_dir: Path
    n_tasks: int
    n_tasks_run: int
    n_failed_samples: int
    chunks_written: list[int] = field(default_factory=list)
    chunks_redone: list[int] = field(default_factory=list)
    worker_restarts: int = 0
    wall_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_dir": str(self.run_dir), "n_tasks": self.n_tasks, "n_tasks_run": self.n_tasks_run,
            "n_failed_samples": self.n_failed_samples, "chunks_written": self.chunks_written,
            "chunks_redone": self.chunks_redone, "worker_restarts": self.worker_restarts, "wall_s": self.wall_s,
        }


def _open_store(config: SweepConfig, out: Path, resume: bool) -> tuple[RunStore, list[int]]:
    if resume:
        store = RunStore.open(out)
        m = store.manifest
        if m.config_hash != config.sample_hash:
            raise ConfigError(f"--resume: {out} was run with a different config (its samples would differ); "
                              "use the original config or a new --out")
        if m.n_tasks != config.n_tasks or m.chunk_size != config["sweep"]["chunk_size"]:  # pragma: no cover - implied by hash
            raise ConfigError(f"--resume: {out} has a different task layout")
        return store, store.verify()
    if out.exists():
        raise OutputExistsError(f"{out} exists; pass --resume to continue that run, or choose another --out")
    manifest = Manifest(
        config_hash=config.sample_hash,
        n_tasks=config.n_tasks,
        chunk_size=config["sweep"]["chunk_size"],
        provenance=provenance.collect(config.data, config.sample_hash, config["sweep"]["simulator"]),
    )
    return RunStore.create(out, manifest, to_toml(config)), []


def run_sweep(config: str | Path | SweepConfig, out: str | Path, jobs: int = 1, resume: bool = False,
              scheduler: str | None = None, progress: bool = True,
              simulator_factory: SimulatorFactory = default_simulator) -> SweepSummary:
    """Run (or resume) a sweep into the run folder `out`; returns what was done."""
    config = load_config(config)
    if not isinstance(jobs, int) or jobs < 1:
        raise ConfigError(f"jobs must be an integer >= 1, got {jobs!r}")
    out = Path(out)
    start = time.perf_counter()
    store, redone = _open_store(config, out, resume)
    try:
        return _run(config, store, redone, jobs, scheduler, progress, simulator_factory, start)
    except BaseException:
        # A new run that fails before its first chunk (missing model card, netlist ngspice rejects,
        # every sample failing, Ctrl-C) holds nothing worth resuming: remove the folder it created,
        # so that the corrected command can be rerun as is.
        if not resume and not store.manifest.chunks:
            shutil.rmtree(out, ignore_errors=True)
        raise


def _run(config: SweepConfig, store: RunStore, redone: list[int], jobs: int, scheduler: str | None, progress: bool,
         simulator_factory: SimulatorFactory, start: float) -> SweepSummary:
    out = store.run_dir
    m = store.manifest
    pending = store.pending_chunks()
    summary = SweepSummary(run_dir=out, n_tasks=m.n_tasks, n_tasks_run=0, n_failed_samples=0, chunks_redone=redone)

    remaining = [t for c in pending for t in range(*m.chunk_range(c))]
    buffers: dict[int, dict[int, list[dict[str, Any]]]] = {c: {} for c in pending}
    finished: set[int] = set()  # tasks whose result is in hand (buffered or written)
    from tqdm.auto import tqdm

    bar = tqdm(total=len(remaining), unit="sample", desc=f"sweep {config['sweep']['name']}", disable=not progress,
               smoothing=0.05, dynamic_ncols=True)
    try:
        while remaining:
            try:
                for task, rows in _stream(config, remaining, jobs, scheduler, simulator_factory):
                    chunk = task // m.chunk_size
                    buffers[chunk][task] = rows
                    finished.add(task)
                    summary.n_tasks_run += 1
                    bar.update(1)
                    first, stop = m.chunk_range(chunk)
                    if len(buffers[chunk]) == stop - first:
                        _write_chunk(store, chunk, buffers.pop(chunk), summary)
                remaining = []
            except Exception as exc:  # a worker killed mid-task: resubmit what is not done
                if type(exc).__name__ != "TerminatedWorkerError":
                    raise
                summary.worker_restarts += 1
                if summary.worker_restarts > MAX_WORKER_RESTARTS:
                    raise SimulatorError(f"worker processes died {summary.worker_restarts} times ({exc}); "
                                         f"finished chunks are saved, continue with --resume") from None
                remaining = [t for t in remaining if t not in finished]
    finally:
        bar.close()
    summary.n_failed_samples = sum(int(e.get("n_failed", 0)) for e in store.manifest.chunks.values())
    summary.wall_s = time.perf_counter() - start
    return summary


def _write_chunk(store: RunStore, chunk: int, results: dict[int, list[dict[str, Any]]], summary: SweepSummary) -> None:
    rows = [r for t in sorted(results) for r in results[t]]
    failed_tasks = {r["task"] for r in rows if r["status"] != "ok"}
    if len(failed_tasks) == len(results) and not summary.chunks_written and not any(
        e.get("n_failed", 0) < (e["stop_task"] - e["first_task"]) for e in store.manifest.chunks.values()
    ):
        reason = next(r["reason"] for r in rows if r["status"] != "ok")
        raise SimulatorError(f"every sample of the first chunk failed; first reason: {reason}")
    store.write_chunk(chunk, rows_to_table(rows), len(failed_tasks))
    summary.chunks_written.append(chunk)
