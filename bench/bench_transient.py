"""Cost of one write-circuit transient through pyspice_mram's engine vs ngspice running it by itself.

Baseline (measured in the same run): the ngspice executable in batch mode runs a `.control` loop of
N x (`alterparam` + `reset` + `tran` + `destroy all`) on the same deck; its start-up and netlist load
are measured with N = 0 and subtracted. Ours: N runs of `WriteCircuit.run` through the shared
library (same parameters changed, waveforms copied into NumPy, plot destroyed).

    python bench/bench_transient.py [--runs 100]

Prints seconds per transient for both and the ratio (target: <= 1.15).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from pyspice_mram.circuit.write_circuit import WriteCircuit


def ngspice_loop_seconds(deck: str, runs: int, rail: float, step: float, stop: float, max_step: float) -> float:
    """Wall time of ngspice -b running `runs` transients (alternating the MTJ state) in a .control loop."""
    body = deck.rsplit(".end", 1)[0]
    control = [".control", "set num_threads=1", f"alterparam vrail={rail!r}", "alterparam tpulse=4.1e-08", "reset"]
    for i in range(runs):
        control += [f"alterparam state0={i % 2}", "reset", "option temp=27.0", f"tran {step!r} {stop!r} 0 {max_step!r}", "destroy all"]
    control += [".endc", ".end"]  # batch mode leaves after the control block (an explicit quit crashes ngspice 39 here)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "loop.cir"
        path.write_text(body + "\n".join(control) + "\n")
        t0 = time.perf_counter()
        done = subprocess.run(["ngspice", "-b", str(path)], capture_output=True, text=True,
                              env={**os.environ, "OMP_NUM_THREADS": "1"})
        elapsed = time.perf_counter() - t0
    finished = done.stdout.count("No. of Data Rows")
    if finished != runs:
        raise SystemExit(f"ngspice baseline ran {finished} of {runs} transients:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    args = parser.parse_args()
    if shutil.which("ngspice") is None:
        raise SystemExit("the ngspice executable is needed for the baseline (apt-get install ngspice)")

    circuit = WriteCircuit()
    rail = circuit.rail_v("p2ap")
    c = circuit.conditions
    step, stop, max_step = min(c.max_step_s, 10e-12), c.t_start_s + c.t_stop_s, c.max_step_s

    # ours: warm up once, then N transients alternating the frozen state (alterparam + reset each)
    circuit.run("p2ap", state0=1)
    t0 = time.perf_counter()
    for i in range(args.runs):
        circuit.run("p2ap", state0=i % 2)
    ours = (time.perf_counter() - t0) / args.runs

    startup = min(ngspice_loop_seconds(circuit.deck, 0, rail, step, stop, max_step) for _ in range(3))
    loop = ngspice_loop_seconds(circuit.deck, args.runs, rail, step, stop, max_step)
    native = (loop - startup) / args.runs

    print(f"transient: {c.t_stop_s * 1e9:.0f} ns after pulse start, max step {max_step * 1e12:.0f} ps, {args.runs} runs")
    print(f"ngspice .control loop : {native * 1e3:8.2f} ms per transient (start-up {startup:.2f} s subtracted)")
    print(f"pyspice_mram engine   : {ours * 1e3:8.2f} ms per transient")
    print(f"ratio engine / ngspice: {ours / native:8.3f}   (target <= 1.15)")


if __name__ == "__main__":
    main()
