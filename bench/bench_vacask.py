"""Seconds per write-circuit transient: VACASK (+ Verilog-A MTJ) against ngspice (+ macromodel), same run.

Three measurements, each over the same N runs in both engines (one engine after the other):
- frozen transients (the hybrid estimator's runs, 40 ns after pulse start), alternating the state;
- stochastic writes of T = 5.5 ns (the brute-force runs), one VACASK process per write;
- the same stochastic writes with VACASK's `sweep` running all N transients in one process (the
  thresholds are still drawn in Python from the seed tree, so the outcomes must equal the per-process
  ones: the script checks it).

    python bench/bench_vacask.py [--runs 20]

Prints milliseconds per transient and the ratios to ngspice.
"""

from __future__ import annotations

import argparse
import time

from pyspice_mram.circuit.bruteforce import run_thresholds
from pyspice_mram.circuit.vacask import batched_stochastic_writes
from pyspice_mram.circuit.write_circuit import CircuitConditions, WriteCircuit

T_PULSE_S = 5.5e-9


def per_run(fn, runs: int) -> float:
    t0 = time.perf_counter()
    for i in range(runs):
        fn(i)
    return (time.perf_counter() - t0) / runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    n = args.runs
    circuits = {sim: WriteCircuit(CircuitConditions(simulator=sim)) for sim in ("ngspice", "vacask")}
    k = float(circuits["ngspice"].law.shape(2.0))
    thresholds = [run_thresholds(0, i, k) for i in range(n)]
    for c in circuits.values():  # rails solved and everything loaded before timing
        c.run("p2ap", state0=1)
        c.stochastic_write("p2ap", T_PULSE_S, thresholds[0])

    frozen = {sim: per_run(lambda i, c=c: c.run("p2ap", state0=i % 2), n) for sim, c in circuits.items()}
    outcomes: dict[str, list[bool]] = {}
    stochastic = {}
    for sim, c in circuits.items():
        got: list[bool] = []
        stochastic[sim] = per_run(lambda i, c=c, got=got: got.append(c.stochastic_write("p2ap", T_PULSE_S, thresholds[i])[0]), n)
        outcomes[sim] = got
    t0 = time.perf_counter()
    batch = batched_stochastic_writes(circuits["vacask"], "p2ap", T_PULSE_S, thresholds)
    batched = (time.perf_counter() - t0) / n
    same = [s for s, _ in batch] == outcomes["vacask"]

    ng = frozen["ngspice"]
    print(f"{n} runs per measurement, p2ap, nominal device")
    print(f"frozen 40 ns transient : ngspice {ng * 1e3:7.1f} ms   vacask {frozen['vacask'] * 1e3:7.1f} ms"
          f"   ratio {frozen['vacask'] / ng:5.2f}")
    ng = stochastic["ngspice"]
    print(f"stochastic 5.5 ns write: ngspice {ng * 1e3:7.1f} ms   vacask {stochastic['vacask'] * 1e3:7.1f} ms"
          f"   ratio {stochastic['vacask'] / ng:5.2f}   (one VACASK process per write)")
    print(f"  same writes, VACASK sweep in one process: {batched * 1e3:7.1f} ms per write, ratio to ngspice {batched / ng:5.2f}, "
          f"{'same' if same else 'DIFFERENT'} outcomes as one process per write")
    print(f"  failed writes: ngspice {outcomes['ngspice'].count(False)}, vacask {outcomes['vacask'].count(False)} of {n}")


if __name__ == "__main__":
    main()
