"""Our training step beside PyTorch (CPU, one thread) and scikit-learn's MLPClassifier, in one run.

Usage: python bench/bench_peers.py [--steps N] [--repeats R] [--epochs E] [--seeds S] [--data DIR]

Step times (ms per replica and mini-batch of 10, median over R interleaved repeats of N steps, min-max):
- ours, float and BER 1 % memory, one replica and 5 stacked replicas (the paper grid stacks seeds);
- PyTorch (optional: skipped with a line saying so when `torch` is not installed), one thread, the
  same 784-300-10 tanh network with softmax cross-entropy and plain SGD (lr 0.1, batch 10): float,
  and the 16-bit approximate memory written the way a PyTorch user would: quantise the updated
  weights to Q-2.17 codes, XOR with the stored codes for the changed bits, draw one Bernoulli(BER)
  mask per bit plane, and keep the old bit wherever a changed bit fails.
Accuracy (optional: skipped when `scikit-learn` is not installed): MLPClassifier (tanh, sgd, batch
10, lr 0.1, no momentum, no L2, float64) trained E epochs on the 60k images, seconds per epoch and
final test accuracy, beside ours in float (E epochs, S seeds: mean and min-max).

Neither peer is a dependency of the package; install them only to run this benchmark.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from threadpoolctl import threadpool_limits

from pyspice_mram.training.fixedpoint import QFormat
from pyspice_mram.training.memory import ApproximateMemory, BitErrorPolicy
from pyspice_mram.training.mlp import MLPLayout, float_step, gradient_step
from pyspice_mram.training.mlp_kernels import active_inputs, update_ranges
from pyspice_mram.training.mnist import load_mnist
from pyspice_mram.training.train import TrainingConfig, train

BER = 0.01
FRAC_BITS = 17


def our_steps(layout: MLPLayout, init: np.ndarray, memory: bool):
    """A function running our step on mini-batch (x, y) of `init.shape[0]` stacked replicas."""
    q = QFormat(FRAC_BITS)
    if not memory:
        params = init.astype(np.float32)
        return lambda x, y: float_step(layout, params, x, y, 0.1)
    mem = ApproximateMemory(q.encode(init), BitErrorPolicy.uniform(BER), 0)
    delta = np.zeros((init.shape[0], layout.n_params), np.float32)

    def step(x, y):
        active = active_inputs(x)
        dh = gradient_step(layout, mem.values_lsb, q.lsb, x, y, 0.1, delta, "softmax", active, w1=False)
        mem.add_lsb(delta, update_ranges(*active, layout.n_hidden, layout.n_in, layout.n_params), outer=(x, dh))

    return step


def torch_steps(torch, init: np.ndarray, memory: bool):
    """The same network and step in PyTorch (one replica); with `memory`, the 16-bit approximate write."""
    layout = MLPLayout()
    w1, b1, w2, b2 = (torch.tensor(a[0].copy(), dtype=torch.float32) for a in layout.views(init.astype(np.float32)))
    params = [w1, b1, w2, b2]
    lsb = 2.0**-FRAC_BITS
    codes = [torch.clamp(torch.round(p / lsb), -32768, 32767).to(torch.int32) for p in params]
    planes = [1 << b for b in range(16)]
    gen = torch.Generator().manual_seed(0)

    def loss_grads(x, y, tensors):
        for t in tensors:
            t.requires_grad_(True)
        h = torch.tanh(x @ tensors[0] + tensors[1])
        loss = torch.nn.functional.cross_entropy(h @ tensors[2] + tensors[3], y)
        return torch.autograd.grad(loss, tensors)

    def float_step_(x, y):
        grads = loss_grads(x, y, params)
        with torch.no_grad():
            for p, g in zip(params, grads):
                p.requires_grad_(False)
                p -= 0.1 * g

    def memory_step(x, y):
        weights = [(c.to(torch.float32) * lsb) for c in codes]
        grads = loss_grads(x, y, weights)
        with torch.no_grad():
            for k, (w, g) in enumerate(zip(weights, grads)):
                old = codes[k] & 0xFFFF  # the 16 stored bits
                new = torch.clamp(torch.round((w.detach() - 0.1 * g) / lsb), -32768, 32767).to(torch.int32) & 0xFFFF
                changed = old ^ new
                fail = torch.zeros_like(old)
                for bit in planes:  # one Bernoulli mask per bit plane, on the changed bits
                    fail |= ((torch.rand(old.shape, generator=gen) < BER).to(torch.int32) * bit) & changed
                stored = (new & ~fail) | (old & fail)  # a failing bit keeps its old value
                codes[k] = torch.where(stored >= 32768, stored - 65536, stored)  # back to signed 16 bit

    return memory_step if memory else float_step_


def time_interleaved(functions: dict, batches, repeats: int, replicas: dict) -> dict:
    """Median (min, max) ms per replica-step of each function over `repeats` interleaved rounds."""
    times = {k: [] for k in functions}
    for f, key in ((f, k) for k, f in functions.items()):
        f(*batches[key][0])  # compile / warm up
    for _ in range(repeats):
        for key, f in functions.items():
            t0 = time.perf_counter()
            for x, y in batches[key]:
                f(x, y)
            times[key].append((time.perf_counter() - t0) / len(batches[key]) / replicas[key] * 1e3)
    return {k: (statistics.median(v), min(v), max(v)) for k, v in times.items()}


def sklearn_baseline(data, epochs: int) -> tuple[float, float] | None:
    """(seconds per epoch, final test accuracy) of MLPClassifier, or None when scikit-learn is absent."""
    try:
        from sklearn.neural_network import MLPClassifier
    except ImportError:
        return None
    x = data.train_images.astype(np.float64) / 255.0
    clf = MLPClassifier(hidden_layer_sizes=(300,), activation="tanh", solver="sgd", batch_size=10,
                        learning_rate="constant", learning_rate_init=0.1, momentum=0.0, nesterovs_momentum=False,
                        alpha=0.0, max_iter=epochs, shuffle=True, random_state=0, tol=0.0, n_iter_no_change=epochs + 1)
    t0 = time.perf_counter()
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # max_iter reached: the epochs are the budget
        clf.fit(x, data.train_labels)
    seconds = (time.perf_counter() - t0) / epochs
    return seconds, float(clf.score(data.test_images.astype(np.float64) / 255.0, data.test_labels))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--data", default=None)
    args = parser.parse_args()
    data = load_mnist(args.data)
    layout = MLPLayout()
    rng = np.random.default_rng(0)
    x_all = data.float_images("train")
    y_all = data.train_labels.astype(np.int64)
    functions, batches, replicas = {}, {}, {}
    for n_rep in (1, 5):
        idx = rng.integers(0, x_all.shape[0], (args.steps, n_rep, 10))
        init = np.stack([layout.init_params(rng) for _ in range(n_rep)])
        for memory in (False, True):
            key = f"ours, {'BER 1 % memory' if memory else 'float'}, {n_rep} replica{'s' if n_rep > 1 else ''}"
            functions[key] = our_steps(layout, init, memory)
            batches[key] = [(x_all[i], y_all[i]) for i in idx]
            replicas[key] = n_rep
    try:
        import torch
    except ImportError:
        torch = None
        print("PyTorch: skipped (torch is not installed; pip install torch to compare)")
    if torch is not None:
        torch.set_num_threads(1)
        init = layout.init_params(rng)[None]
        idx = rng.integers(0, x_all.shape[0], (args.steps, 10))
        for memory in (False, True):
            key = f"PyTorch, {'BER 1 % memory' if memory else 'float'}, 1 replica"
            functions[key] = torch_steps(torch, init, memory)
            batches[key] = [(torch.from_numpy(x_all[i]), torch.from_numpy(y_all[i])) for i in idx]
            replicas[key] = 1
    with threadpool_limits(limits=1, user_api="blas"):
        result = time_interleaved(functions, batches, args.repeats, replicas)
        print(f"ms per replica-step (batch 10), median of {args.repeats} interleaved repeats of {args.steps} steps (min-max):")
        for key, (med, lo, hi) in result.items():
            print(f"  {key:>36}: {med:7.3f} ({lo:.3f}-{hi:.3f})")
        if torch is not None:
            for kind in ("float", "BER 1 % memory"):
                ours = result[f"ours, {kind}, 1 replica"][0], result[f"ours, {kind}, 5 replicas"][0]
                print(f"  PyTorch / ours, {kind}: {result[f'PyTorch, {kind}, 1 replica'][0] / ours[0]:.1f}x (1 replica), "
                      f"{result[f'PyTorch, {kind}, 1 replica'][0] / ours[1]:.1f}x (5 stacked)")
        t0 = time.perf_counter()
        ours = train(data, [None], TrainingConfig(epochs=args.epochs, seeds=args.seeds))[0]
        per_epoch = (time.perf_counter() - t0) / args.epochs / args.seeds
        sk = sklearn_baseline(data, args.epochs)  # one BLAS thread too: the same single core as ours
    acc = ours.accuracies * 100
    print(f"ours, float, {args.epochs} epochs x {args.seeds} seeds: {per_epoch:.2f} s per epoch and seed, test accuracy "
          f"{acc.mean():.2f} % ({acc.min():.2f}-{acc.max():.2f})")
    if sk is None:
        print("scikit-learn: skipped (scikit-learn is not installed; pip install scikit-learn to compare)")
    else:
        print(f"scikit-learn MLPClassifier, {args.epochs} epochs: {sk[0]:.2f} s per epoch, test accuracy {sk[1] * 100:.2f} %")


if __name__ == "__main__":
    main()
