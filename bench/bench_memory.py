"""Memory of the engine over many runs: peak RSS growth over N write-circuit transients.

PySpice keeps every plot unless it is destroyed; the engine destroys each plot after copying the
waveforms, so the resident size must stay flat. Baseline: the RSS after 50 warm-up runs.

    python bench/bench_memory.py [--runs 2000] [--window-ns 10]

Prints the peak-RSS growth (target: < 50 MB over 2000 runs).
"""

from __future__ import annotations

import argparse
import resource
import time

from pyspice_mram.circuit.write_circuit import CircuitSample, WriteCircuit


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return float(line.split()[1]) / 1024.0
    return float("nan")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--window-ns", type=float, default=10.0, help="transient window after pulse start")
    args = parser.parse_args()
    circuit = WriteCircuit()
    circuit.rails()
    window = args.window_ns * 1e-9

    def one(i: int) -> None:
        # every run changes parameters (as a Monte Carlo sample does): alterparam + reset + tran
        sample = CircuitSample(ra_scale=1.0 + 0.01 * ((i % 7) - 3), delvto_v={"mn_acc": 0.001 * (i % 5)})
        circuit.run("p2ap" if i % 2 else "ap2p", sample, t_after_s=window)

    for i in range(50):
        one(i)
    base_rss, base_peak = rss_mb(), peak_rss_mb()
    t0 = time.perf_counter()
    for i in range(args.runs):
        one(i)
        if (i + 1) % 500 == 0:
            print(f"  after {i + 1:5d} runs: RSS {rss_mb():7.1f} MB")
    elapsed = time.perf_counter() - t0
    growth = max(peak_rss_mb(), rss_mb()) - base_rss
    print(f"{args.runs} transients of {args.window_ns:g} ns in {elapsed:.1f} s ({elapsed / args.runs * 1e3:.1f} ms each)")
    print(f"RSS after warm-up {base_rss:.1f} MB (peak {base_peak:.1f} MB); final RSS {rss_mb():.1f} MB")
    print(f"peak RSS growth over {args.runs} runs: {growth:.1f} MB   (target < 50 MB)")


if __name__ == "__main__":
    main()
