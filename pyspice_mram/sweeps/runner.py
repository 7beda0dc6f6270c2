"""The Monte Carlo runner: every (corner, sample) task simulated once, in parallel, checkpointed.

A task is one sample at one corner, both write directions. Tasks are numbered
task = corner_index * (n_samples + 1) + sample, sample 0 being the nominal (no variability) sample.
The task function draws the sample from (seed, sample) alone, so results do not depend on how many
workers run or in what order. Workers keep one simulator (one ngspice session with the circuit
loaded) per process in a module-level cache keyed by the corner conditions.

Execution: in-process for `jobs == 1`; `jobs` spawned worker processes otherwise (one OpenMP thread
each; they ignore Ctrl-C, the parent stops them); with a scheduler address, every task is submitted
with `distributed.Client.submit` to the cluster's workers, so this process only collects results.
Tasks are generated chunk by chunk and at most twice the worker count are in flight, so memory does
not grow with the number of samples. Before the bulk, the nominal sample of every corner runs (the
pilot): a failed nominal sample or nominal writes that reach no target BER refuse the sweep, and the
pilot's measured seconds give the cost estimate checked against `sweep.max_hours`.

Results are written chunk by chunk (see checkpoint.py), under an flock on the run folder. A failing
simulation is retried once (with relaxed options when the simulator takes `relaxed=True`), then
recorded with its reason; a local worker process that dies is replaced and its unfinished tasks are
resubmitted. SIGINT/SIGTERM stop submitting, let the running tasks land, end every worker and raise
`SweepInterrupted` (a second signal ends the workers at once). A new run that ends before its first
chunk is written (e.g. a model card ngspice rejects) removes its folder.
"""

from __future__ import annotations

import concurrent.futures
import concurrent.futures.process
import inspect
import json
import multiprocessing
import os
import re
import shutil
import signal
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol, Sequence

import numpy as np
import pyarrow as pa

from . import provenance
from .checkpoint import Manifest, RunLock, RunStore
from ..errors import ConfigError, DataError, OutputExistsError, SimulatorError, SweepInterrupted, UserError
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
_SCHEDULER_ADDRESS = re.compile(r"^(?:(tcp|tls)://)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9._-]*):(\d{1,5})$")


def check_scheduler_address(address: str) -> str:
    """A Dask scheduler address `[tcp|tls://]host:port`, checked before anything starts."""
    text = address.strip() if isinstance(address, str) else ""
    match = _SCHEDULER_ADDRESS.match(text)
    if match is None or not 1 <= int(match.group(3)) <= 65535:
        raise ConfigError(f"--scheduler: {address!r} is not a Dask scheduler address; expected tcp://HOST:PORT "
                          "(e.g. tcp://127.0.0.1:8786, as printed by `dask scheduler`)")
    return text


def _worker_init() -> None:
    """In each local worker: one BLAS/OpenMP thread, and Ctrl-C left to the parent (which stops the workers)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:  # pragma: no cover
        pass


class _WorkerLost(Exception):
    """A local worker process died; its unfinished tasks must be resubmitted on a new pool."""


class _SerialPool:
    """`jobs == 1`: each task runs in this process when submitted (the window is one task)."""

    window = 1
    workers = 1

    def __init__(self, config: SweepConfig, factory: SimulatorFactory) -> None:
        self.config, self.factory = config, factory

    def submit(self, task: int) -> concurrent.futures.Future:
        future: concurrent.futures.Future = concurrent.futures.Future()
        try:
            future.set_result(run_task(self.config, task, self.factory))
        except Exception as exc:  # noqa: BLE001 - surfaced by outcome()
            future.set_exception(exc)
        return future

    def wait(self, futures: list, timeout: float) -> list:
        return [f for f in futures if f.done()]

    def outcome(self, future: Any) -> tuple[int, list[dict[str, Any]]]:
        return future.result()

    def restart(self) -> None:  # pragma: no cover - nothing to restart
        pass

    def close(self, now: bool = False) -> None:
        pass


class _ProcessPool:
    """`jobs > 1`: fresh worker processes (spawned, so no state of this process is copied), ended with the run."""

    def __init__(self, config: SweepConfig, factory: SimulatorFactory, jobs: int) -> None:
        self.config, self.factory, self.workers = config, factory, jobs
        self.window = 2 * jobs
        self._executor = self._new()

    def _new(self) -> concurrent.futures.ProcessPoolExecutor:
        return concurrent.futures.ProcessPoolExecutor(max_workers=self.workers, initializer=_worker_init,
                                                      mp_context=multiprocessing.get_context("spawn"))

    def submit(self, task: int) -> concurrent.futures.Future:
        try:
            return self._executor.submit(run_task, self.config, task, self.factory)
        except concurrent.futures.process.BrokenProcessPool as exc:
            raise _WorkerLost(str(exc)) from None

    def wait(self, futures: list, timeout: float) -> list:
        done, _ = concurrent.futures.wait(futures, timeout=timeout, return_when=concurrent.futures.FIRST_COMPLETED)
        return list(done)

    def outcome(self, future: Any) -> tuple[int, list[dict[str, Any]]]:
        try:
            return future.result()
        except concurrent.futures.process.BrokenProcessPool as exc:
            raise _WorkerLost(str(exc)) from None

    def restart(self) -> None:
        self.close(now=True)
        self._executor = self._new()

    def close(self, now: bool = False) -> None:
        """End every worker: at once (`now`, e.g. a second Ctrl-C), or after their current task."""
        if now:
            for process in list(getattr(self._executor, "_processes", {}).values()):  # no public API before 3.14
                process.terminate()
        self._executor.shutdown(wait=True, cancel_futures=True)


class _DaskPool:
    """`--scheduler`: every task is submitted to the cluster's workers; this process only collects results."""

    def __init__(self, config: SweepConfig, factory: SimulatorFactory, address: str) -> None:
        try:
            import distributed
        except ImportError:  # pragma: no cover
            raise ConfigError("--scheduler needs dask.distributed: pip install 'pyspice-mram[dask]'") from None
        self._distributed = distributed
        try:
            self.client = distributed.Client(address, timeout="20s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise SimulatorError(f"cannot reach the Dask scheduler at {address} ({exc})") from None
        try:
            self.client.wait_for_workers(1, timeout="60s")
        except (TimeoutError, OSError) as exc:
            self.client.close()
            raise SimulatorError(f"the Dask scheduler at {address} has no worker (waited 60 s: {exc})") from None
        self.config, self.factory = config, factory
        self._run_id = uuid.uuid4().hex[:12]

    @property
    def workers(self) -> int:
        """Worker threads of the cluster now (workers may join or leave during the run)."""
        return max(1, sum(self.client.nthreads().values()))

    @property
    def window(self) -> int:
        return 2 * self.workers

    def submit(self, task: int) -> Any:
        return self.client.submit(run_task, self.config, task, self.factory, key=f"sweep-{self._run_id}-{task}", pure=False)

    def wait(self, futures: list, timeout: float) -> list:
        try:
            done, _ = self._distributed.wait(futures, timeout=timeout, return_when="FIRST_COMPLETED")
        except TimeoutError:
            return []
        return list(done)

    def outcome(self, future: Any) -> tuple[int, list[dict[str, Any]]]:
        try:
            return future.result()
        except self._distributed.KilledWorker as exc:
            raise SimulatorError(f"Dask workers died running one task several times ({exc}); finished chunks are "
                                 "saved, continue with --resume") from None

    def restart(self) -> None:  # pragma: no cover - the scheduler reschedules the tasks of a lost worker itself
        pass

    def close(self, now: bool = False) -> None:
        self.client.close()


def _open_pool(config: SweepConfig, jobs: int, scheduler: str | None, factory: SimulatorFactory):
    if scheduler is not None:
        return _DaskPool(config, factory, scheduler)
    if jobs == 1:
        return _SerialPool(config, factory)
    return _ProcessPool(config, factory, jobs)


class _StopOnSignal:
    """SIGINT/SIGTERM set a flag (the run stops submitting and saves what is finished); a second one aborts."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> "_StopOnSignal":
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signum is not None:
            raise KeyboardInterrupt  # a second signal: end the workers now
        self.signum = signum

    @property
    def stopped(self) -> bool:
        return self.signum is not None

    def __exit__(self, *exc: Any) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


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


def _open_store(config: SweepConfig, out: Path, resume: bool) -> tuple[RunStore, RunLock, list[int]]:
    """The run folder, locked for this process; for --resume, the chunks whose checksum failed (to redo)."""
    if resume:
        if not out.exists():
            raise DataError(f"--resume: {out} does not exist, so there is no run to continue; drop --resume to start one")
        _check_same_run(config, RunStore.open(out), out)  # read-only: a refused resume leaves the folder untouched
        lock = RunLock.acquire(out)
        try:
            store = RunStore.open(out)  # re-read under the lock: the last holder may have written more
            _check_same_run(config, store, out)
            return store, lock, store.verify()
        except BaseException:
            lock.release()
            raise
    if out.exists():
        raise OutputExistsError(f"{out} exists; pass --resume to continue that run, or choose another --out")
    manifest = Manifest(
        config_hash=config.sample_hash,
        n_tasks=config.n_tasks,
        chunk_size=config["sweep"]["chunk_size"],
        provenance=provenance.collect(config.data, config.sample_hash, config["sweep"]["simulator"]),
    )
    store, lock = RunStore.create(out, manifest, to_toml(config))
    return store, lock, []


def _check_same_run(config: SweepConfig, store: RunStore, out: Path) -> None:
    m = store.manifest
    if m.config_hash != config.sample_hash:
        raise ConfigError(f"--resume: {out} was run with a different config (its samples would differ); "
                          "use the original config or a new --out")
    if m.n_tasks != config.n_tasks or m.chunk_size != config["sweep"]["chunk_size"]:  # pragma: no cover - implied by hash
        raise ConfigError(f"--resume: {out} has a different task layout")


def run_sweep(config: str | Path | SweepConfig, out: str | Path, jobs: int = 1, resume: bool = False,
              scheduler: str | None = None, progress: bool = True,
              simulator_factory: SimulatorFactory = default_simulator, assume_yes: bool = False,
              report: Callable[[str], None] | None = None) -> SweepSummary:
    """Run (or resume) a sweep into the run folder `out`; returns what was done.

    Before the bulk of the work the nominal sample of every corner runs first (the pilot): a sweep
    whose nominal writes reach no target BER is refused, and the cost estimated from the pilot
    (tasks x seconds per task / workers) above `sweep.max_hours` is refused unless `assume_yes`.
    `report` receives one-line notes (the estimate). SIGINT/SIGTERM stop the run cleanly: no new
    task is submitted, finished chunks are written, every worker ends, and `SweepInterrupted` is raised.
    """
    config = load_config(config)
    if not isinstance(jobs, int) or jobs < 1:
        raise ConfigError(f"jobs must be an integer >= 1, got {jobs!r}")
    if scheduler is not None:
        scheduler = check_scheduler_address(scheduler)
        if jobs != 1:
            raise ConfigError("--jobs does not apply with --scheduler: the cluster's worker threads run the tasks; "
                              "drop --jobs (start more `dask worker` processes instead)")
    out = Path(out)
    start = time.perf_counter()
    with _StopOnSignal() as stop:
        store, lock, redone = _open_store(config, out, resume)
        try:
            return _run(config, store, redone, jobs, scheduler, progress, simulator_factory, start, stop,
                        assume_yes, report or (lambda line: None))
        except BaseException as exc:
            # A new run that ends before its first chunk (missing model card, netlist ngspice rejects,
            # every sample failing, a refused estimate, Ctrl-C) holds nothing worth resuming: remove the
            # folder it created, so that the corrected command can be rerun as is.
            removed = not resume and not store.manifest.chunks
            if removed:
                shutil.rmtree(out, ignore_errors=True)
            if isinstance(exc, (KeyboardInterrupt, SweepInterrupted)):
                signum = stop.signum if stop.signum is not None else signal.SIGINT
                raise SweepInterrupted(signum, 0 if removed else store.n_tasks_done, store.manifest.n_tasks,
                                       kept=not removed) from None
            if isinstance(exc, OSError) and not isinstance(exc, UserError):
                where = exc.filename or out
                if removed:
                    raise OSError(exc.errno, f"{exc.strerror or exc} while writing {where}; nothing was kept: "
                                             "fix the cause and rerun the same command") from None
                raise OSError(exc.errno, f"{exc.strerror or exc} while writing {where}; the finished chunks in {out} "
                                         "are kept: fix the cause and continue with --resume") from None
            raise
        finally:
            lock.release()


def _run(config: SweepConfig, store: RunStore, redone: list[int], jobs: int, scheduler: str | None, progress: bool,
         simulator_factory: SimulatorFactory, start: float, stop: _StopOnSignal, assume_yes: bool,
         report: Callable[[str], None]) -> SweepSummary:
    from tqdm.auto import tqdm

    m = store.manifest
    summary = SweepSummary(run_dir=store.run_dir, n_tasks=m.n_tasks, n_tasks_run=0, n_failed_samples=0, chunks_redone=redone)
    buffers: dict[int, dict[int, list[dict[str, Any]]]] = {}  # chunk -> results in hand, until the chunk is complete
    bar = tqdm(total=m.n_tasks - store.n_tasks_done, unit="sample", desc=f"sweep {config['sweep']['name']}",
               disable=not progress, smoothing=0.05, dynamic_ncols=True)

    def land(task: int, rows: list[dict[str, Any]]) -> None:
        chunk = task // m.chunk_size
        held = buffers.setdefault(chunk, {})
        held[task] = rows
        summary.n_tasks_run += 1
        bar.update(1)
        first, stop_task = m.chunk_range(chunk)
        if len(held) == stop_task - first:
            _write_chunk(store, buffers.pop(chunk), chunk, summary)

    pool = None
    clean = False
    try:
        if stop.stopped:
            raise KeyboardInterrupt
        pool = _open_pool(config, jobs, scheduler, simulator_factory)
        pilot = _pilot_tasks(config, store)
        pilot_results: dict[int, list[dict[str, Any]]] = {}

        def land_pilot(task: int, rows: list[dict[str, Any]]) -> None:
            pilot_results[task] = rows
            land(task, rows)

        _execute(pool, iter(pilot), land_pilot, stop, summary)
        if not stop.stopped:
            _check_nominal_samples(config, pilot_results, report)
            _check_cost(config, pilot_results, m.n_tasks - store.n_tasks_done - sum(map(len, buffers.values())),
                        pool.workers, assume_yes, report)
            skip = set(pilot)
            _execute(pool, (t for t in _pending_tasks(store) if t not in skip), land, stop, summary)
        clean = True
    finally:
        bar.close()
        if pool is not None:
            pool.close(now=not clean)
    if stop.stopped and not store.complete:
        raise SweepInterrupted(stop.signum or signal.SIGINT, store.n_tasks_done, m.n_tasks, kept=True)
    summary.n_failed_samples = sum(int(e.get("n_failed", 0)) for e in store.manifest.chunks.values())
    summary.wall_s = time.perf_counter() - start
    return summary


def _pending_tasks(store: RunStore) -> Iterator[int]:
    """Every task of the chunks not yet written, in order, generated one at a time."""
    m = store.manifest
    for chunk in store.iter_pending_chunks():
        yield from range(*m.chunk_range(chunk))


def _pilot_tasks(config: SweepConfig, store: RunStore) -> list[int]:
    """The nominal sample of every corner not yet stored; else the first pending task (to time one)."""
    m = store.manifest
    per_corner = config["sweep"]["n_samples"] + 1
    tasks = [c * per_corner for c in range(len(config.corners)) if (c * per_corner) // m.chunk_size not in m.chunks]
    if not tasks:
        first = next(_pending_tasks(store), None)
        tasks = [] if first is None else [first]
    return tasks


def _execute(pool: Any, tasks: Iterator[int], land: Callable[[int, list[dict[str, Any]]], None],
             stop: _StopOnSignal, summary: SweepSummary) -> None:
    """Run `tasks` with at most `pool.window` in flight; stop submitting once a signal came.

    A local worker that dies breaks its pool: the pool is replaced and every unfinished task resubmitted.
    """
    inflight: dict[Any, int] = {}
    retry: deque[int] = deque()
    while True:
        lost: list[int] = []
        while not stop.stopped and len(inflight) < pool.window:
            task = retry.popleft() if retry else next(tasks, None)
            if task is None:
                break
            try:
                inflight[pool.submit(task)] = task
            except _WorkerLost:
                lost.append(task)
                break
        if not inflight and not lost:
            return
        for future in pool.wait(list(inflight), timeout=0.25):
            task = inflight.pop(future)
            try:
                land(*pool.outcome(future))
            except _WorkerLost:
                lost.append(task)
        if lost:
            lost.extend(inflight.values())  # the broken pool loses every task still in it
            inflight.clear()
            summary.worker_restarts += 1
            if summary.worker_restarts > MAX_WORKER_RESTARTS:
                raise SimulatorError(f"worker processes died {summary.worker_restarts} times; "
                                     "finished chunks are saved, continue with --resume")
            pool.restart()
            retry.extend(sorted(lost))


def _check_nominal_samples(config: SweepConfig, pilot: dict[int, list[dict[str, Any]]], report: Callable[[str], None]) -> None:
    """Refuse up front a sweep whose table is impossible: a nominal sample that failed, or nominal
    writes that reach none of the [table] targets within the window at any corner. Corners that
    reach some targets but not the smallest one or the savings reference are noted: their table
    needs `table --skip-unreachable`."""
    from ..circuit.hybrid import write_curve
    from .tables import REFERENCE_BER, corner_label, shape_k_for

    targets = config["table"]["targets"]
    lowest = min([*targets, REFERENCE_BER])
    shape_k = shape_k_for(config)
    hopeless: dict[int, str] = {}  # corner -> its nominal write reaches no target
    short: dict[int, str] = {}  # corner -> its nominal write misses the lowest target or the reference
    corners: set[int] = set()
    for rows in pilot.values():
        for row in rows:
            if row["sample"] != 0:
                continue
            where = f"corner {corner_label(config.corners[row['corner']])} ({row['direction']})"
            if row["status"] != "ok":
                raise SimulatorError(f"the nominal sample at {where} failed to simulate, and the table needs it: "
                                     f"{row['reason']}")
            n_supplies = len(row["supplies"])
            frozen = FrozenWrite(row["time_s"], row["progress"], row["energy_init_j"].reshape(n_supplies, -1),
                                 row["energy_final_j"].reshape(n_supplies, -1), tuple(row["supplies"]))
            end_ber = float(write_curve(frozen, shape_k).p_fail[-1])
            corners.add(row["corner"])
            text = f"{where} reaches only BER {end_ber:.3g} at the end of the window"
            if end_ber > max(targets):
                hopeless.setdefault(row["corner"], text)
            if end_ber > lowest:
                short.setdefault(row["corner"], text)
    if corners and len(hopeless) == len(corners):
        raise ConfigError(f"no target BER of [table].targets ({min(targets):g} .. {max(targets):g}) is reachable: the "
                          f"nominal write at {next(iter(hopeless.values()))} (circuit.stop_time_s = "
                          f"{config['circuit']['stop_time_s']:g} s); lengthen circuit.stop_time_s or raise circuit.v_over_vc")
    if short:
        report(f"note: {len(short)} of {len(corners)} corner(s) miss BER {lowest:g} (the smallest target or the savings "
               f"reference) even without variability, e.g. {next(iter(short.values()))}; their table needs "
               "`table --skip-unreachable`")


def _check_cost(config: SweepConfig, pilot: dict[int, list[dict[str, Any]]], n_left: int, workers: int,
                assume_yes: bool, report: Callable[[str], None]) -> None:
    """Estimate the rest of the run from the pilot's measured seconds; refuse above sweep.max_hours unless confirmed."""
    if not pilot or n_left <= 0:
        return
    seconds_per_task = float(np.mean([sum(r["wall_s"] for r in rows) for rows in pilot.values()]))
    hours = n_left * seconds_per_task / workers / 3600.0
    text = (f"{n_left} tasks x {seconds_per_task:.3g} s (pilot) / {workers} worker(s) = {_duration(hours * 3600.0)}")
    limit = config["sweep"]["max_hours"]
    if hours > limit and not assume_yes:
        raise ConfigError(f"estimated cost {text} is above sweep.max_hours = {limit:g} h; "
                          "pass --yes to run it anyway, or raise sweep.max_hours")
    report(f"estimated cost: {text}")


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} days"


def _write_chunk(store: RunStore, results: dict[int, list[dict[str, Any]]], chunk: int, summary: SweepSummary) -> None:
    rows = [r for t in sorted(results) for r in results[t]]
    failed_tasks = {r["task"] for r in rows if r["status"] != "ok"}
    if len(failed_tasks) == len(results) and not summary.chunks_written and not any(
        e.get("n_failed", 0) < (e["stop_task"] - e["first_task"]) for e in store.manifest.chunks.values()
    ):
        reason = next(r["reason"] for r in rows if r["status"] != "ok")
        raise SimulatorError(f"every sample of the first chunk failed; first reason: {reason}")
    store.write_chunk(chunk, rows_to_table(rows), len(failed_tasks))
    summary.chunks_written.append(chunk)
