"""The paper's two-layer network (784-300-10, tanh), vectorised over stacked replicas.

All parameters of one replica live in one flat vector (W1, b1, W2, b2), so the approximate memory can
hold them as one array of words and several replicas (seeds / memory configurations) train at once:
arrays have a leading replica axis. The first layer's products skip the zero pixels of each image
(compiled, `mlp_kernels`); the small ones (batch x hidden x output) are batched `matmul`s; `predict`
on whole test sets stays dense BLAS.

Hidden layer: tanh. Output layer: softmax with cross-entropy loss (default), or tanh with squared
error against +-1 targets (`output="tanh"`), the classic formal network. Weights are initialised
uniform in +-scale/sqrt(fan_in) (LeCun for scale 1), biases at 0.

Parameters are passed as `(params, scale)`: the network uses params * scale, so the memory can hand
over its codes in LSB units (scale = LSB) without building a float copy of the weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ParameterError
from .mlp_kernels import active_inputs, add_outer_rows, input_product, outer_rows, update_ranges

OUTPUTS = ("softmax", "tanh")


@dataclass(frozen=True)
class MLPLayout:
    """Sizes of the 2-layer network and where each tensor sits in the flat parameter vector."""

    n_in: int = 784
    n_hidden: int = 300
    n_out: int = 10

    def __post_init__(self) -> None:
        for name in ("n_in", "n_hidden", "n_out"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or v < 1:
                raise ParameterError(f"{name} must be a positive integer, got {v!r}")

    @property
    def sizes(self) -> tuple[int, int, int, int]:
        return (self.n_in * self.n_hidden, self.n_hidden, self.n_hidden * self.n_out, self.n_out)

    @property
    def n_params(self) -> int:
        return sum(self.sizes)

    def views(self, flat: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(W1, b1, W2, b2) as views of `flat` (replicas x n_params)."""
        if flat.ndim != 2 or flat.shape[1] != self.n_params:
            raise ParameterError(f"parameters must have shape (replicas, {self.n_params}), got {flat.shape}")
        r = flat.shape[0]
        a, b, c, _ = self.sizes
        w1 = flat[:, :a].reshape(r, self.n_in, self.n_hidden)
        b1 = flat[:, a : a + b]
        w2 = flat[:, a + b : a + b + c].reshape(r, self.n_hidden, self.n_out)
        b2 = flat[:, a + b + c :]
        return w1, b1, w2, b2

    def update_ranges(self, x: np.ndarray) -> np.ndarray:
        """Per replica, the [start, stop) ranges of the flat vector that a mini-batch `x` (R, B, I) can change.

        Row i of W1 gets the update x[:, i]^T dh, exactly zero when input i is 0 in every image of
        the batch; those rows (about half of W1 for a batch of 10 MNIST digits: the blank border and
        the gaps between strokes) are left out. b1, W2 and b2 are always included. Returns int64
        (R, k, 2): one row per run of active inputs, padded with empty ranges, then the tail.
        """
        if x.ndim != 3 or x.shape[2] != self.n_in:
            raise ParameterError(f"x must have shape (replicas, batch, {self.n_in}), got {x.shape}")
        rows, counts = active_inputs(x)
        return update_ranges(rows, counts, self.n_hidden, self.n_in, self.n_params)

    def init_params(self, rng: np.random.Generator, scale: float = 1.0) -> np.ndarray:
        """One replica's initial float parameters (float64, flat): uniform in +-scale/sqrt(fan_in)."""
        w1 = rng.uniform(-scale, scale, self.n_in * self.n_hidden) / np.sqrt(self.n_in)
        w2 = rng.uniform(-scale, scale, self.n_hidden * self.n_out) / np.sqrt(self.n_hidden)
        return np.concatenate([w1, np.zeros(self.n_hidden), w2, np.zeros(self.n_out)])


def forward(layout: MLPLayout, params: np.ndarray, scale: float, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hidden activations h (R,B,H) and output pre-activations z (R,B,O) for inputs x (R,B,I) or (B,I)."""
    w1, b1, w2, b2 = layout.views(params)
    return _layers_after_w1(np.matmul(x, w1), np.float32(scale), b1, w2, b2)


def _layers_after_w1(a: np.ndarray, s: np.float32, b1: np.ndarray, w2: np.ndarray, b2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(h, z) from the first layer's product a = x W1 (in LSB units, scaled by s here; a is reused)."""
    a *= s
    a += b1[:, None, :] * s
    h = np.tanh(a, out=a)
    z = np.matmul(h, w2)
    z *= s
    z += b2[:, None, :] * s
    return h, z


def predict(layout: MLPLayout, params: np.ndarray, scale: float, x: np.ndarray, chunk: int = 2000) -> np.ndarray:
    """Predicted class (R, n) for images x (n, I), shared by all replicas."""
    out = []
    for start in range(0, x.shape[0], chunk):
        _, z = forward(layout, params, scale, x[None, start : start + chunk])
        out.append(np.argmax(z, axis=2))
    return np.concatenate(out, axis=1)


def accuracy(layout: MLPLayout, params: np.ndarray, scale: float, x: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Fraction of correctly classified images, per replica."""
    return np.mean(predict(layout, params, scale, x) == labels[None, :], axis=1)


def output_delta(z: np.ndarray, labels: np.ndarray, output: str) -> np.ndarray:
    """d(mean loss)/dz for a mini-batch: z (R,B,O), labels (R,B). Modifies z in place."""
    r, b, o = z.shape
    onehot_rows = np.arange(b)[None, :]
    rep_rows = np.arange(r)[:, None]
    if output == "softmax":
        z -= z.max(axis=2, keepdims=True)
        np.exp(z, out=z)
        z /= z.sum(axis=2, keepdims=True)
        z[rep_rows, onehot_rows, labels] -= 1.0
        z /= b
        return z
    if output == "tanh":
        y = np.tanh(z)
        target = np.full_like(y, -1.0)
        target[rep_rows, onehot_rows, labels] = 1.0
        return (y - target) * (1.0 - y * y) / b
    raise ParameterError(f"output must be one of {OUTPUTS}, got {output!r}")


def _deltas(layout: MLPLayout, params: np.ndarray, scale: float, x: np.ndarray, labels: np.ndarray, step: float,
            output: str, active: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(h, dz, dh) of a mini-batch: hidden activations and the two layers' deltas, scaled by -step / scale.

    The first layer's product skips the zero inputs (`mlp_kernels.input_product`); the rest is small
    (batch x hidden) and stays with NumPy / BLAS.
    """
    _, b1, w2, b2 = layout.views(params)
    s = np.float32(scale)
    a = np.empty((x.shape[0], x.shape[1], layout.n_hidden), dtype=np.float32)
    input_product(x, _row_major(params), layout.n_hidden, active[0], active[1], a)
    h, z = _layers_after_w1(a, s, b1, w2, b2)
    dz = output_delta(z, labels, output)
    dz *= np.float32(-step / scale)
    dh = np.matmul(dz, w2.transpose(0, 2, 1))
    dh *= s
    dh *= 1.0 - h * h
    return h, dz, dh


def _row_major(params: np.ndarray) -> np.ndarray:
    """A C-contiguous array whose rows start with the rows of `params`: compiled loops vectorise only
    over strides known when compiling. A view of the leading columns of a C-contiguous array (the
    memory's padded rows) gives that array back; anything else is copied."""
    if params.flags.c_contiguous:
        return params
    base = params.base
    if (isinstance(base, np.ndarray) and base.flags.c_contiguous and base.ndim == 2 and base.dtype == params.dtype
            and base.strides == params.strides and base.shape[0] == params.shape[0]
            and base.ctypes.data == params.ctypes.data):
        return base
    return np.ascontiguousarray(params)


def _stacked_batch(layout: MLPLayout, params: np.ndarray, x: np.ndarray) -> np.ndarray:
    """x as (R, B, I) float32: a batch (B, I) shared by all replicas is broadcast (no copy).

    The parameters must be float32: the compiled products and updates work in float32, the
    arithmetic their exactness tests check.
    """
    if params.dtype != np.float32:
        raise ParameterError(f"parameters must be float32 for a training step, got {params.dtype}")
    if x.ndim == 2:
        x = np.broadcast_to(x, (params.shape[0], *x.shape))
    if x.ndim != 3 or x.shape[0] != params.shape[0] or x.shape[2] != layout.n_in:
        raise ParameterError(f"x must have shape (replicas, batch, {layout.n_in}) or (batch, {layout.n_in}), got {x.shape}")
    return x.astype(np.float32, copy=False)


def gradient_step(
    layout: MLPLayout,
    params: np.ndarray,
    scale: float,
    x: np.ndarray,
    labels: np.ndarray,
    step: float,
    out: np.ndarray,
    output: str = "softmax",
    active: tuple[np.ndarray, np.ndarray] | None = None,
    w1: bool = True,
) -> np.ndarray:
    """Write the update -step * dLoss/dparams into `out` (R x n_params, float32), in units of `scale`.

    With scale = LSB the update comes out in LSB units, ready for the memory's add-and-write.
    `active` is `mlp_kernels.active_inputs(x)` when the caller has it. Returns dh (R, B, H), the
    hidden layer's delta: W1's update is x^T dh. With `w1` False the W1 words of `out` are left
    as they are, for a caller that computes x^T dh itself (the memory write fuses it: `outer`).
    """
    x = _stacked_batch(layout, params, x)
    active = active_inputs(x) if active is None else active
    h, dz, dh = _deltas(layout, params, scale, x, labels, step, output, active)
    _, g_b1, g_w2, g_b2 = layout.views(out)
    np.matmul(h.transpose(0, 2, 1), dz, out=g_w2)
    g_b2[...] = dz.sum(axis=1)
    if w1:
        outer_rows(x, dh, active[0], active[1], out)
    g_b1[...] = dh.sum(axis=1)
    return dh


def float_step(layout: MLPLayout, params: np.ndarray, x: np.ndarray, labels: np.ndarray, step: float,
               output: str = "softmax", active: tuple[np.ndarray, np.ndarray] | None = None) -> None:
    """params += the update of `gradient_step` (scale 1), in place: word for word the same sums.

    The W1 update is added row by row as it is computed (`mlp_kernels.add_outer_rows`), so the
    update is never stored, and the rows of inactive inputs (zero updates) are not visited.
    """
    x = _stacked_batch(layout, params, x)
    active = active_inputs(x) if active is None else active
    h, dz, dh = _deltas(layout, params, 1.0, x, labels, step, output, active)
    _, b1, w2, b2 = layout.views(params)
    w2 += np.matmul(h.transpose(0, 2, 1), dz)
    b2 += dz.sum(axis=1)
    add_outer_rows(x, dh, active[0], active[1], params)
    b1 += dh.sum(axis=1)
