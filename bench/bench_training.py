"""Seconds per training epoch: float baseline vs approximate memory, measured in the same run.

Usage: python bench/bench_training.py [--train-images N] [--seeds S] [--repeats R] [--data DIR]
The default is the real thing: one full epoch (60k images) of the default 5 stacked seeds, with its
test evaluation (training uses one core). Each repeat trains float and every memory configuration
back to back; the ratio to float is taken within each repeat and the median over repeats (min-max)
is reported, so a slow spell of a shared machine moves both sides of a ratio. Shorter runs (fewer
images) weigh the early, larger updates (more changed bits per step) and the evaluation more.

The float baseline is the same computation as the memory runs (same network, seeds, data order,
sparse first-layer products), with float32 parameters updated in place instead of written through
the memory. Targets: float <= 0.15 ms per replica-step; BER 1 % <= 1.25x float; HSB 1 % / 8 LSBs
at 50 % <= 1.4x.
"""

from __future__ import annotations

import argparse
import statistics
import time

from pyspice_mram.training.memory import BitErrorPolicy
from pyspice_mram.training.mnist import load_mnist
from pyspice_mram.training.train import TrainingConfig, train

CONFIGURATIONS = (
    ("float", None),
    ("exact 16-bit", BitErrorPolicy.exact()),
    ("BER 1 %", BitErrorPolicy.uniform(0.01)),
    ("HSB 1 % / 8 LSB 50 %", BitErrorPolicy.two_stage(8, 0.5, 0.01)),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train-images", type=int, default=60000)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--data", default=None)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    data = load_mnist(args.data)
    cfg = TrainingConfig(epochs=1, seeds=args.seeds, train_images=args.train_images)
    for policy in (None, BitErrorPolicy.uniform(0.01)):  # compile the kernels
        train(data, [policy], TrainingConfig(epochs=1, seeds=1, train_images=100))
    seconds: dict[str, list[float]] = {label: [] for label, _ in CONFIGURATIONS}
    ratios: dict[str, list[float]] = {label: [] for label, _ in CONFIGURATIONS}
    for _ in range(args.repeats):
        for label, policy in CONFIGURATIONS:
            t0 = time.perf_counter()
            train(data, [policy], cfg)
            seconds[label].append(time.perf_counter() - t0)
            ratios[label].append(seconds[label][-1] / seconds["float"][-1])
    scale = 60000 / args.train_images
    steps = args.train_images // 10 * args.seeds  # replica-steps per epoch (batch 10)
    print(f"one epoch of {args.train_images} images x {args.seeds} seeds, {args.repeats} repeats (median, min-max)")
    for label, _ in CONFIGURATIONS:
        s = statistics.median(seconds[label])
        print(f"{label:>22}: {s:6.2f} s ({min(seconds[label]):.2f}-{max(seconds[label]):.2f}; "
              f"~{s * scale / args.seeds:.2f} s per full epoch and seed, {s / steps * 1e3:.3f} ms per replica-step "
              f"with the evaluation), ratio to float {statistics.median(ratios[label]):.2f}x "
              f"({min(ratios[label]):.2f}-{max(ratios[label]):.2f})")


if __name__ == "__main__":
    main()
