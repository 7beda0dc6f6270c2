"""Parallel efficiency of the sweep runner: the same sweep with 1 and with N workers, timed in one run.

    python bench/bench_parallel.py                 # quick.toml (SPICE), 1 vs 2 workers
    python bench/bench_parallel.py --samples 40 --jobs 2 --config quick

Prints both wall times and the speed-up ratio (target: >= 1.8x for 2 workers on 2 idle cores), and
checks that both runs stored identical per-sample results. Other load on the machine lowers the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa

from pyspice_mram.sweeps.checkpoint import RunStore
from pyspice_mram.sweeps.runner import run_sweep
from pyspice_mram.sweeps.config import load_config


def timed_run(config, out: Path, jobs: int) -> float:
    start = time.perf_counter()
    run_sweep(config, out, jobs=jobs, progress=False)
    return time.perf_counter() - start


def stored(out: Path) -> pa.Table:
    return pa.concat_tables(list(RunStore.open(out).read_chunks())).drop_columns(["wall_s"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="quick", help="shipped config name or TOML path (default: quick)")
    parser.add_argument("--samples", type=int, default=None, help="override n_samples")
    parser.add_argument("--jobs", type=int, default=2, help="workers of the parallel run (default 2)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    config = load_config(args.config)
    if args.samples is not None:
        config = config.with_changes("sweep", n_samples=args.samples)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench_parallel_") as tmp:
        serial = timed_run(config, Path(tmp) / "serial", 1)
        parallel = timed_run(config, Path(tmp) / "parallel", args.jobs)
        identical = stored(Path(tmp) / "serial").equals(stored(Path(tmp) / "parallel"))
    result = {
        "config": str(args.config), "n_tasks": config.n_tasks, "simulator": config["sweep"]["simulator"],
        "serial_s": round(serial, 2), "parallel_s": round(parallel, 2), "jobs": args.jobs,
        "speedup": round(serial / parallel, 3), "efficiency": round(serial / parallel / args.jobs, 3),
        "identical_results": identical,
        "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "cpus": os.cpu_count(),
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{config.n_tasks} tasks ({result['simulator']}): 1 worker {serial:.1f} s, {args.jobs} workers {parallel:.1f} s "
              f"-> speed-up {result['speedup']:.2f}x (efficiency {result['efficiency']:.0%}); identical results: {identical}")
        print(f"load average before/after: {result['load_average_1min']} on {result['cpus']} CPUs "
              "(other load on the machine lowers the speed-up)")
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
