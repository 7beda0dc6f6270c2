"""Where the full paper's training time goes: the cost of every configuration of its grids, added up.

Usage: python bench/bench_grid.py [--images N] [--seeds S] [--data DIR]

For each configuration of the paper's training grids (Figs. 3-5 and the formal network), trains its S
seeds stacked, as the grid does, on the first N training images for one epoch, and once on a single
mini-batch; the difference over the N/10 - 1 extra steps gives the time per replica-step without the
set-up and the test evaluation, and the single-batch run gives those. The grid's total in core
seconds is then predicted as, per configuration, 5 epochs x 6000 steps x S replicas x the step time
plus 5 single-batch runs (5 evaluations; it counts the set-up, a small part, 5 times), and printed
beside the configurations' shares, sorted by cost.
Short runs weigh the early, larger updates (more changed bits per step) more than a full run does.
Compare the total with the training wall time of `paper --jobs 2` (two processes: about half of it).
"""

from __future__ import annotations

import argparse
import time

from threadpoolctl import threadpool_limits

from pyspice_mram.training.experiments import grid
from pyspice_mram.training.mnist import load_mnist
from pyspice_mram.training.train import TrainingConfig, train

EPOCHS, STEPS_PER_EPOCH = 5, 6000


def _seconds(data, policy, config: TrainingConfig) -> float:
    t0 = time.perf_counter()
    train(data, [policy], config)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=3000)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--data", default=None)
    args = parser.parse_args()
    data = load_mnist(args.data)
    configurations: dict[tuple[str, str], object] = {}
    for figure in ("fig3", "fig4", "fig5", "formal"):
        output = "tanh" if figure == "formal" else "softmax"
        for stem, policy in grid(figure):
            configurations.setdefault((stem, output), policy)
    rows = []
    with threadpool_limits(limits=1, user_api="blas"):
        for output in ("softmax", "tanh"):  # compile every kernel once before timing
            for policy in {id(p): p for p in configurations.values()}.values():
                train(data, [policy], TrainingConfig(epochs=1, seeds=1, train_images=20, output=output))
        for (stem, output), policy in configurations.items():
            short = TrainingConfig(epochs=1, seeds=args.seeds, train_images=10, output=output)
            long = TrainingConfig(epochs=1, seeds=args.seeds, train_images=args.images, output=output)
            fixed = _seconds(data, policy, short)  # set-up + one step + one test evaluation
            step = (_seconds(data, policy, long) - fixed) / ((args.images // 10 - 1) * args.seeds)
            total = EPOCHS * STEPS_PER_EPOCH * args.seeds * step + EPOCHS * fixed
            rows.append((total, step, fixed, stem, output))
    grand = sum(r[0] for r in rows)
    print(f"{len(rows)} configurations x {args.seeds} seeds; step times from one epoch of {args.images} images")
    print(f"{'configuration':>22} {'output':>8} {'ms/replica-step':>16} {'set-up+eval s':>14} {'predicted s':>12} {'share':>6}")
    for total, step, fixed, stem, output in sorted(rows, reverse=True):
        print(f"{stem:>22} {output:>8} {step * 1e3:16.3f} {fixed:14.2f} {total:12.0f} {total / grand * 100:5.1f}%")
    print(f"predicted training total: {grand:.0f} core-seconds ({grand / 2 / 60:.1f} min on 2 processes if perfectly balanced)")


if __name__ == "__main__":
    main()
