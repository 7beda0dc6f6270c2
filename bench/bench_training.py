"""Seconds per training epoch: float baseline vs approximate memory at BER 1 %, measured in the same run.

Usage: python bench/bench_training.py [--train-images N] [--seeds S] [--data DIR]
Target: approximate memory at most 1.5x the float time per epoch.
"""

from __future__ import annotations

import argparse
import time

from pyspice_mram.memory import BitErrorPolicy
from pyspice_mram.mnist import load_mnist
from pyspice_mram.training import TrainingConfig, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train-images", type=int, default=20000)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--data", default=None)
    parser.add_argument("--repeats", type=int, default=2, help="best of N")
    args = parser.parse_args()
    data = load_mnist(args.data)
    cfg = TrainingConfig(epochs=1, seeds=args.seeds, train_images=args.train_images)
    timings = {}
    for label, policy in (("float", None), ("exact 16-bit", BitErrorPolicy.exact()), ("BER 1 %", BitErrorPolicy.uniform(0.01)),
                          ("HSB 1 % / 8 LSB 50 %", BitErrorPolicy.two_stage(8, 0.5, 0.01))):
        best = float("inf")
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            train(data, [policy], cfg)
            best = min(best, time.perf_counter() - t0)
        timings[label] = best
        scale = 60000 / args.train_images
        print(f"{label:>22}: {best:7.2f} s per epoch of {args.train_images} images x {args.seeds} seeds "
              f"(~{best * scale:.1f} s per full epoch), ratio to float {best / timings['float']:.2f}x")


if __name__ == "__main__":
    main()
