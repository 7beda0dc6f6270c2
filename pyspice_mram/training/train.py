"""Training the 784-300-10 network with its parameters in approximate ST-MRAM (paper Figs. 3-5).

Every mini-batch step reads the stored codes, computes the backpropagation update, quantises it to
the Q format and writes it back through `ApproximateMemory` (failing bits keep their old value; no
float copy survives the write). The float baseline trains the same network, same seeds, same data
order, with float32 parameters.

Many replicas train at once: each (configuration, seed) pair is one row of a stacked parameter
array. A replica's randomness comes from `SeedSequence([base_seed, seed_index])`, split into the
weight initialisation, the data order and the memory's bit failures, so a result depends on its
seed index only, never on what it was stacked with.

Default hyper-parameters: learning rate 0.1 on the mean mini-batch gradient (batch 10), softmax
output, uniform initialisation in +-init_scale/sqrt(fan_in) (variance 1/(3 fan_in), a third of
LeCun's 1/fan_in; init_scale 1), Q-2.17 (frac_bits 17: LSB 7.6e-6, range [-0.25, 0.25)).

Why Q-2.17. In two's complement a weight that crosses zero reprograms all 16 bits, and a failing
high bit keeps its old value: the weight jumps by 2^b LSB and stays there (no float copy heals it).
The value of that jump is set by the range of the format, so a format that just holds the trained
weights (|w| < 0.25 for this network) makes the same bit failures ~4x smaller in value than Q0.15,
and saturation bounds what a failed sign bit can do. The finer LSB also keeps small SGD steps
(more, smaller writes: ~2x the word writes of Q0.15). One bit less range (frac_bits 18) clips the
output weights and costs accuracy even without errors.
Reduced runs (60k images, 2 epochs, 2 seeds, test accuracy %: float / exact 16-bit / uniform BER 1 % /
HSB 1 % + 8 LSBs at 50 %):
  frac 15 (old default)   96.59 / 96.60 / 93.97 / 94.37   (base_seed 1: 96.36 / 96.36 / 93.66 / 93.93)
  frac 16                 96.59 / 96.54 / 95.20 / 95.76   (base_seed 1: 96.36 / 96.30 / 95.56 / 95.08)
  frac 17                 96.59 / 96.42 / 96.12 / 96.21   (base_seed 1: 96.36 / 96.05 / 95.84 / 95.91)
  frac 18                 96.59 / 95.44 / 95.24 / 95.13
  frac 15, lr 0.05 / 0.2 / 0.3      BER 1 %: 93.57 / 93.67 / 93.62;  HSB/8 LSB: 93.22 / 93.55 / 93.12
  frac 15, init_scale 2 / 3 / 4     BER 1 %: 94.20 / 94.41 / 94.76;  HSB/8 LSB: 93.28 / 93.53 / 94.02
  frac 15, init 3 + lr 0.2          96.51 / 96.67 / 94.70 / 94.57
  frac 15, tanh output (sq. error)  95.39 / -     / 92.27 / 90.80
  frac 17, lr 0.05                  95.86 / 95.64 / 95.71 / 95.54
  frac 17, init_scale 2             96.65 / 96.53 / 96.18 / 95.97
  frac 17, tanh output              95.39 / 95.21 / 94.84 / 94.45
Learning rate, initialisation scale and the tanh output move the approximate-memory results by
< 1 point (within the seed spread); the Q format moves them by ~2 points. Float training does not
use the Q format, so its accuracy is unchanged.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Sequence

import numpy as np
from threadpoolctl import threadpool_limits

from .bit_energy import WriteEnergyModel
from ..errors import ParameterError
from .fixedpoint import QFormat
from .memory import ApproximateMemory, BitErrorPolicy
from .mlp import OUTPUTS, MLPLayout, accuracy, float_step, gradient_step
from .mlp_kernels import active_inputs, update_ranges
from .mnist import MNIST
from .programming_energy import energy_report
from .seed_statistics import over_seeds


@dataclass(frozen=True)
class TrainingConfig:
    """Hyper-parameters shared by every replica of one training call."""

    epochs: int = 5
    seeds: int = 5
    batch_size: int = 10
    learning_rate: float = 0.1
    frac_bits: int = 17
    train_images: int | None = None
    base_seed: int = 0
    output: str = "softmax"
    hidden: int = 300
    init_scale: float = 1.0

    def __post_init__(self) -> None:
        for name in ("epochs", "seeds", "batch_size", "hidden"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ParameterError(f"{name} must be an integer >= 1, got {v!r}")
        if self.train_images is not None and (not isinstance(self.train_images, (int, np.integer)) or self.train_images < self.batch_size):
            raise ParameterError(f"train_images must be an integer >= batch_size ({self.batch_size}), got {self.train_images!r}")
        if not (np.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise ParameterError(f"learning_rate must be a finite number > 0, got {self.learning_rate!r}")
        if not (np.isfinite(self.init_scale) and self.init_scale > 0):
            raise ParameterError(f"init_scale must be a finite number > 0, got {self.init_scale!r}")
        if self.output not in OUTPUTS:
            raise ParameterError(f"output must be one of {OUTPUTS}, got {self.output!r}")
        if isinstance(self.base_seed, bool) or not isinstance(self.base_seed, (int, np.integer)) or self.base_seed < 0:
            raise ParameterError(f"base_seed must be an integer >= 0, got {self.base_seed!r}")
        QFormat(self.frac_bits)  # validates

    @property
    def qformat(self) -> QFormat:
        return QFormat(self.frac_bits)

    @property
    def layout(self) -> MLPLayout:
        return MLPLayout(784, self.hidden, 10)


@dataclass
class RunResult:
    """One configuration (a memory policy, or None for float) trained over all seeds."""

    policy: BitErrorPolicy | None
    config: TrainingConfig
    accuracies: np.ndarray  # (seeds,) final test accuracy
    history: np.ndarray  # (seeds, epochs) test accuracy after each epoch
    seconds: float
    memory_stats: list[dict] = field(default_factory=list)  # per seed, empty for float

    @property
    def label(self) -> str:
        return "float" if self.policy is None else self.policy.label

    def summary(self, energy_model: WriteEnergyModel | None = None, reference: dict | None = None) -> dict:
        """JSON-ready result: accuracies over seeds (mean, range, 95 % interval of the mean) and,
        with an energy model, the programming energy (savings against `reference`, the energy report
        of the reference-BER run of the same seeds and data, when given)."""
        acc = np.asarray(self.accuracies, dtype=float)
        spread = over_seeds(acc)
        out = {
            "configuration": {
                "mode": "float" if self.policy is None else "approximate-memory",
                "policy": None if self.policy is None else self.policy.describe(),
                "qformat": None if self.policy is None else self.config.qformat.name,
                **asdict(self.config),
            },
            "accuracies": acc.tolist(),
            "accuracy_mean": spread["mean"],
            "accuracy_min": spread["min"],
            "accuracy_max": spread["max"],
            "accuracy_ci_low": spread["ci_low"],
            "accuracy_ci_high": spread["ci_high"],
            "history": np.asarray(self.history).tolist(),
            "seconds": self.seconds,
        }
        if self.policy is not None:
            out["memory"] = [{k: v for k, v in s.items()} for s in self.memory_stats]
            if energy_model is not None:
                out["energy"] = energy_report(self.policy, self.memory_stats, energy_model, reference)
        return out


def replica_seeds(base_seed: int, seed_index: int) -> tuple[np.random.SeedSequence, ...]:
    """(init, data order, memory) seed sequences of one replica."""
    return tuple(np.random.SeedSequence([int(base_seed), int(seed_index)]).spawn(3))


def _subset(data: MNIST, n: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The first n training images as stored (uint8: each mini-batch is scaled when drawn) and their labels."""
    total = data.train_images.shape[0]
    if n is not None and n > total:
        raise ParameterError(f"train_images={n} exceeds the {total} training images available")
    n = total if n is None else n
    return data.train_images[:n], data.train_labels[:n].astype(np.int64)


def _scaled(pixels: np.ndarray) -> np.ndarray:
    """Pixels in [0, 1] as float32: the same values as `MNIST.float_images`, for one mini-batch.

    Scaling each batch when it is drawn instead of the whole training set once keeps a 188 MB
    float copy of the images out of every training process, for ~0.4 us per replica-step (measured:
    4.5 us to gather and scale a batch of 10 against 4.0 us to gather float pixels; 0.3 % of a step).
    """
    return pixels.astype(np.float32) / np.float32(255.0)


def _initial_params(config: TrainingConfig, seed_indices: Sequence[int]) -> np.ndarray:
    layout = config.layout
    rows = [layout.init_params(np.random.default_rng(replica_seeds(config.base_seed, s)[0]), config.init_scale) for s in seed_indices]
    return np.stack(rows)


def train(
    data: MNIST,
    policies: Sequence[BitErrorPolicy | None],
    config: TrainingConfig = TrainingConfig(),
    progress: bool | Callable[[int], None] = False,
) -> list[RunResult]:
    """Train every policy (None = float baseline) over `config.seeds` seeds; one result per policy.

    Memory replicas are stacked in one call, float replicas in another.
    """
    if not policies:
        raise ParameterError("give at least one configuration to train")
    results: dict[int, RunResult] = {}
    float_ids = [i for i, p in enumerate(policies) if p is None]
    mem_ids = [i for i, p in enumerate(policies) if p is not None]
    # One BLAS thread: the products here are small (batch 10), and a second BLAS thread spinning
    # beside any other busy process made training up to 10x slower on 2 cores.
    with threadpool_limits(limits=1, user_api="blas"):
        for ids in (float_ids, mem_ids):
            if ids:
                for i, res in zip(ids, _train_stack([policies[i] for i in ids], config, data, progress)):
                    results[i] = res
    return [results[i] for i in range(len(policies))]


def _train_stack(policies: list, config: TrainingConfig, data: MNIST, progress) -> list[RunResult]:
    start = time.perf_counter()
    layout = config.layout
    x_train, y_train = _subset(data, config.train_images)
    x_test = data.float_images("test")
    y_test = data.test_labels.astype(np.int64)
    seeds = list(range(config.seeds))
    pairs = [(p, s) for p in policies for s in seeds]
    n_rep = len(pairs)
    init = _initial_params(config, [s for _, s in pairs])
    is_float = policies[0] is None
    q = config.qformat
    memory = None
    if is_float:
        params = init.astype(np.float32)
        scale = 1.0
    else:
        q.check_holds(init, "initial weights")
        memory = ApproximateMemory(
            q.encode(init), [p for p, _ in pairs], [replica_seeds(config.base_seed, s)[2] for _, s in pairs]
        )
        scale = q.lsb
    order_rngs = [np.random.default_rng(replica_seeds(config.base_seed, s)[1]) for _, s in pairs]
    n_train = x_train.shape[0]
    steps = n_train // config.batch_size
    delta = None if memory is None else np.zeros((n_rep, layout.n_params), dtype=np.float32)  # b1, W2, b2 update
    history = np.zeros((n_rep, config.epochs))
    bar = None
    if progress is True:
        from tqdm.auto import tqdm

        bar = tqdm(total=config.epochs * steps, unit="step", desc="train", leave=False)
    report = 0
    for epoch in range(config.epochs):
        orders = np.stack([rng.permutation(n_train) for rng in order_rngs])
        for step in range(steps):
            idx = orders[:, step * config.batch_size : (step + 1) * config.batch_size]
            x_batch = _scaled(x_train[idx])
            active = active_inputs(x_batch)
            if memory is None:
                float_step(layout, params, x_batch, y_train[idx], config.learning_rate, config.output, active)
            else:  # W1's update x^T dh is computed inside the write, chunk by chunk, never stored
                dh = gradient_step(layout, memory.values_lsb, scale, x_batch, y_train[idx], config.learning_rate, delta,
                                   config.output, active, w1=False)
                memory.add_lsb(delta, update_ranges(*active, layout.n_hidden, layout.n_in, layout.n_params),
                               outer=(x_batch, dh))
            report += 1
            if report == 200 or step == steps - 1:
                if bar is not None:
                    bar.update(report)
                elif callable(progress):
                    progress(report)
                report = 0
        current = params if memory is None else memory.values_lsb
        history[:, epoch] = accuracy(layout, current, scale, x_test, y_test)
    if bar is not None:
        bar.close()
    seconds = time.perf_counter() - start
    out = []
    for k, policy in enumerate(policies):
        rows = slice(k * len(seeds), (k + 1) * len(seeds))
        stats = [] if memory is None else [memory.statistics(r) for r in range(rows.start, rows.stop)]
        out.append(RunResult(policy, config, history[rows, -1].copy(), history[rows].copy(), seconds, stats))
    return out
