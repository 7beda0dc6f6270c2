"""Where a training step goes: time, multiply-adds and bytes per phase, per replica and mini-batch.

Usage: python bench/bench_step.py [--replicas R] [--steps N] [--repeats K] [--data DIR]
Runs the phases of the training step one after the other on the same mini-batches (the real MNIST
images, R stacked replicas, batch 10), for float and for the BER 1 % and HSB 1 % / 8 LSBs at 50 %
memories, and reports per phase the median over K repeats (min-max) of the time per replica-step,
the multiply-adds and the bytes it must move (W1 rows read or written, once each; the small
layers are counted as arithmetic only), and the rates they imply. The phases are those of
`train._train_stack`; a phase's time includes its Python and NumPy call overheads.

The measured work is the real step on a trajectory of the memory, starting from the initial
weights, so the memory write sees the large early updates (more changed bits than the average
step of a run).

The roofline at the end sets each phase against ceilings of one core measured in the same run
(`ceilings.py`): the multiply-adds at numba's float32 mul+add rate, the bytes the phase must move
at the L2 rate (the first layer's rows: one read per nonzero (image, pixel) pair forward, a read
and a write of each active row in the update), and the memory's sparse marks at the rate of gap
draws back to back (the lanes here are sparse only). Its bound is the largest of the three: the
time the phase could not go below on this core, whatever the code.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from threadpoolctl import threadpool_limits

from pyspice_mram.training.fixedpoint import QFormat
from pyspice_mram.training.memory import ApproximateMemory, BitErrorPolicy, Lanes
from pyspice_mram.training.mlp import MLPLayout, _deltas
from pyspice_mram.training.mlp_kernels import active_inputs, add_outer_rows, update_ranges
from pyspice_mram.training.mnist import load_mnist

from ceilings import describe, measure  # bench/ceilings.py, beside this script

MEMORIES = (("BER 1 %", BitErrorPolicy.uniform(0.01)), ("HSB 1 % / 8 LSB 50 %", BitErrorPolicy.two_stage(8, 0.5, 0.01)))


def _timed(times: dict, name: str, fn):
    t0 = time.perf_counter()
    out = fn()
    times[name] = times.get(name, 0.0) + time.perf_counter() - t0
    return out


def run_float(layout, params, batches, times) -> None:
    for x, y in batches:
        active = _timed(times, "active inputs", lambda: active_inputs(x))
        h, dz, dh = _timed(times, "forward + backward", lambda: _deltas(layout, params, 1.0, x, y, 0.1, "softmax", active))

        def small_updates():
            _, b1, w2, b2 = layout.views(params)
            w2 += np.matmul(h.transpose(0, 2, 1), dz)
            b2 += dz.sum(axis=1)
            b1 += dh.sum(axis=1)

        _timed(times, "b1, W2, b2 update", small_updates)
        _timed(times, "W1 update (fused add)", lambda: add_outer_rows(x, dh, active[0], active[1], params))


def run_memory(layout, memory, lsb, delta, batches, times) -> None:
    for x, y in batches:
        active = _timed(times, "active inputs", lambda: active_inputs(x))
        params = memory.values_lsb
        h, dz, dh = _timed(times, "forward + backward", lambda: _deltas(layout, params, lsb, x, y, 0.1, "softmax", active))

        def small_updates():
            _, g_b1, g_w2, g_b2 = layout.views(delta)
            np.matmul(h.transpose(0, 2, 1), dz, out=g_w2)
            g_b2[...] = dz.sum(axis=1)
            g_b1[...] = dh.sum(axis=1)

        _timed(times, "b1, W2, b2 update", small_updates)
        ranges = _timed(times, "write ranges", lambda: update_ranges(*active, layout.n_hidden, layout.n_in, layout.n_params))
        _timed(times, "write with W1 update", lambda: memory.add_lsb(delta, ranges, outer=(x, dh)))


def marks_per_replica(memory: ApproximateMemory, policy: BitErrorPolicy) -> float:
    """Expected sparse marks of all the writes so far, per replica: each group's changed bits times its sparse rate."""
    lanes = Lanes.compile(policy)  # a policy without directions: one lane per group
    q = -np.expm1(-lanes.sparse_rate)
    total = 0.0
    for r in range(memory.shape[0]):
        total += sum(g["changed_bits"] * q[lanes.group.index(k)] for k, g in enumerate(memory.statistics(r)["groups"]))
    return total / memory.shape[0]


def roofline(label: str, phases: dict[str, float], w: dict, marks: float, c: dict[str, float]) -> None:
    """One line per phase: measured time, the bound of each ceiling, and how far above the largest it runs."""
    print(f"\n{label}: phase, measured, bound by arithmetic / bytes / marks, measured over the largest bound")
    for phase, key, nbytes, rate in (("forward + backward", "forward + backward", w["row loads"], c["read_l2"]),
                                    ("W1 update (fused add)", "W1 update", w["write with W1 update"][1], c["update_l2"]),
                                    ("write with W1 update", "W1 update", w["write with W1 update"][1], c["update_l2"])):
        if phase not in phases:
            continue
        macs = w[key][0]
        bounds = (2 * macs / c["mul_add"], nbytes / rate, marks * c["gap_draw"] if phase.startswith("write") else 0.0)
        print(f"  {phase:>24}: {phases[phase] * 1e6:6.1f} us; {bounds[0] * 1e6:5.1f} / {bounds[1] * 1e6:5.1f} / "
              f"{bounds[2] * 1e6:5.1f} us; {phases[phase] / max(bounds):.1f}x")
    total = sum(phases.values())
    bound = 2 * (w["forward + backward"][0] + w["W1 update"][0]) / c["mul_add"]
    print(f"  {'whole step':>24}: {total * 1e6:6.1f} us; {total / bound:.1f}x the arithmetic bound of its multiply-adds")


def work(layout: MLPLayout, batches) -> dict:
    """Multiply-adds and W1 bytes per replica-step, averaged over the batches."""
    pairs = np.mean([np.count_nonzero(x) / x.shape[0] for x, _ in batches])  # nonzero (image, pixel) pairs
    rows = np.mean([active_inputs(x)[1].mean() for x, _ in batches])
    h, o, b = layout.n_hidden, layout.n_out, batches[0][0].shape[1]
    small = 2 * b * h * o + b * h * o  # z = h W2, dh = dz W2^T, dW2 = h^T dz
    return {
        "active rows": rows,
        "row loads": pairs * h * 4,  # forward: a W1 row per nonzero (image, pixel) pair
        "forward + backward": (pairs * h + small, rows * h * 4),
        "W1 update": (pairs * h, rows * h * 4),
        "write with W1 update": (pairs * h, rows * h * 4 * 2),  # each active row read and written (float32)
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--replicas", type=int, default=5)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data", default=None)
    args = parser.parse_args()
    data = load_mnist(args.data)
    layout = MLPLayout()
    rng = np.random.default_rng(0)
    x_all = data.float_images("train")
    idx = rng.integers(0, x_all.shape[0], (args.steps, args.replicas, 10))
    batches = [(x_all[i], data.train_labels[i].astype(np.int64)) for i in idx]
    init = np.stack([layout.init_params(rng) for _ in range(args.replicas)])
    q = QFormat(17)
    results: dict[str, list[dict]] = {}
    marks: dict[str, float] = {"float": 0.0}
    with threadpool_limits(limits=1, user_api="blas"):
        for repeat in range(args.repeats + 1):  # the first round compiles and warms up
            rounds = {"float": ({}, None)}
            for label, policy in MEMORIES:
                rounds[label] = ({}, policy)
            for label, (times, policy) in rounds.items():
                if policy is None:
                    run_float(layout, init.astype(np.float32), batches, times)
                else:
                    memory = ApproximateMemory(q.encode(init), policy, 0)
                    delta = np.zeros((args.replicas, layout.n_params), np.float32)
                    run_memory(layout, memory, q.lsb, delta, batches, times)
                    marks[label] = marks_per_replica(memory, policy) / args.steps
                if repeat:
                    results.setdefault(label, []).append({k: v / (args.steps * args.replicas) for k, v in times.items()})
    w = work(layout, batches)
    print(f"{args.replicas} stacked replicas, {args.steps} mini-batches of 10, {args.repeats} repeats: "
          f"median (min-max) per replica-step; {w['active rows']:.0f} of {layout.n_in} W1 rows active on average")
    for label, runs in results.items():
        total = [sum(r.values()) for r in runs]
        print(f"\n{label}: {statistics.median(total) * 1e3:.3f} ms per replica-step ({min(total) * 1e3:.3f}-{max(total) * 1e3:.3f})")
        for phase in runs[0]:
            t = [r[phase] for r in runs]
            key = "W1 update" if phase.startswith("W1 update") else phase
            macs, nbytes = w.get(key, (0, 0))
            med = statistics.median(t)
            rate = f"  {macs / 1e3:7.0f}k MACs {2 * macs / med / 1e9:5.1f} GFLOP/s" if macs else ""
            rate += f"  {nbytes / 1e3:5.0f} kB {nbytes / med / 1e9:5.1f} GB/s" if nbytes else ""
            print(f"  {phase:>24}: {med * 1e6:7.1f} us ({min(t) * 1e6:.1f}-{max(t) * 1e6:.1f}){rate}")
    ceilings = measure()
    print(f"\nroofline; {describe(ceilings)}")
    for label, runs in results.items():
        medians = {phase: statistics.median(r[phase] for r in runs) for phase in runs[0]}
        roofline(label, medians, w, marks[label], ceilings)
        if marks[label]:
            print(f"  {marks[label]:.0f} sparse marks per replica-step")


if __name__ == "__main__":
    main()
