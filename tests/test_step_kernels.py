"""The compiled first-layer products: skipping zero inputs, fusing the float update and writing only the
words the memory reads are exact; the summation order (ascending inputs, no fused multiply-add) is
checked against float64 within float32 rounding."""

import numpy as np
import pytest

import pyspice_mram.training.mlp as mlp
import pyspice_mram.training.train as train_module
from pyspice_mram.errors import ParameterError
from pyspice_mram.training.fixedpoint import QFormat
from pyspice_mram.training.memory import ApproximateMemory, BitErrorPolicy
from pyspice_mram.training.mlp import MLPLayout, float_step, gradient_step
from pyspice_mram.training.mlp_kernels import active_inputs, input_product, update_ranges
from pyspice_mram.training.train import TrainingConfig, train

EPS32 = float(np.finfo(np.float32).eps)


def _batch(mnist, replicas=2, start=0):
    n = replicas * 10
    x = (mnist.train_images[start : start + n].reshape(replicas, 10, 784) / np.float32(255.0)).astype(np.float32)
    return x, mnist.train_labels[start : start + n].reshape(replicas, 10).astype(np.int64)


def _dense_input_product(x, params, n_hidden, rows, counts, out):
    """x @ W1 over every input, in the kernel's order (ascending inputs, multiply then add, float32)."""
    r, _, n_in = x.shape
    w1 = params[:, : n_in * n_hidden].reshape(r, n_in, n_hidden)
    out[...] = 0.0
    for i in range(n_in):
        out += x[:, :, i, None] * w1[:, None, i, :]


def _dense_w1_update(x, dh):
    """x^T dh over every input and image, in the kernels' order (ascending images)."""
    g = np.zeros((x.shape[0], x.shape[2], dh.shape[2]), np.float32)
    for b in range(x.shape[1]):
        g += x[:, b, :, None] * dh[:, b, None, :]
    return g


def _dense_outer_rows(x, dh, rows, counts, out):
    out[:, : x.shape[2] * dh.shape[2]] = _dense_w1_update(x, dh).reshape(x.shape[0], -1)


def _dense_add_outer_rows(x, dh, rows, counts, params):
    params[:, : x.shape[2] * dh.shape[2]] += _dense_w1_update(x, dh).reshape(x.shape[0], -1)


def _all_inputs(x):
    r, _, n_in = x.shape
    return np.tile(np.arange(n_in, dtype=np.int64), (r, 1)), np.full(r, n_in, dtype=np.int64)


def test_skipping_zero_inputs_gives_a_bit_identical_training_run(mnist, monkeypatch):
    """A reduced run (float, BER 1 %, HSB 1 % / 8 LSBs at 50 %) with the sparse kernels and the fused
    updates equals, bit for bit, the run that multiplies every input of every image in the same order,
    stores the complete update and writes every word: accuracies and every counted bit write (which
    depend on every stored code of every step)."""
    cfg = TrainingConfig(epochs=1, seeds=2, train_images=400)
    policies = [None, BitErrorPolicy.uniform(0.01), BitErrorPolicy.two_stage(8, 0.5, 0.01)]
    sparse = train(mnist, policies, cfg)
    monkeypatch.setattr(mlp, "input_product", _dense_input_product)
    monkeypatch.setattr(mlp, "outer_rows", _dense_outer_rows)
    monkeypatch.setattr(mlp, "add_outer_rows", _dense_add_outer_rows)
    monkeypatch.setattr(train_module, "active_inputs", _all_inputs)
    write = ApproximateMemory.add_lsb

    def write_dense_update(self, delta, ranges=None, outer=None):  # the complete update, stored, then written
        if outer is not None:
            delta = delta.copy()
            _dense_outer_rows(*outer, None, None, delta)
        write(self, delta, ranges)

    monkeypatch.setattr(ApproximateMemory, "add_lsb", write_dense_update)
    dense = train(mnist, policies, cfg)
    for s, d in zip(sparse, dense):
        np.testing.assert_array_equal(s.history, d.history)
        assert s.memory_stats == d.memory_stats
    assert sparse[1].memory_stats[0]["word_writes"] > 0


def test_first_layer_products_are_within_float32_rounding_of_float64(mnist):
    """The kernels sum in another order than BLAS did, so results moved by rounding only: each sum of n
    terms lies within n * eps32 * sum |terms| of the exact (float64) value (a bound of sequential
    float32 summation), and the whole update equals the float64 dense formula to that precision."""
    layout = MLPLayout()
    params = layout.init_params(np.random.default_rng(1))[None].astype(np.float32).repeat(2, axis=0)
    x, labels = _batch(mnist)
    rows, counts = active_inputs(x)
    a = np.empty((2, 10, layout.n_hidden), np.float32)
    input_product(x, params, layout.n_hidden, rows, counts, a)
    w1 = layout.views(params)[0].astype(np.float64)
    exact = np.matmul(x.astype(np.float64), w1)
    bound = np.matmul(np.abs(x.astype(np.float64)), np.abs(w1)) * (784 * EPS32)
    assert np.all(np.abs(a - exact) <= bound)
    assert np.abs(a - exact).max() > 0  # float32 arithmetic indeed
    # the whole update against float64 backpropagation of the same network
    delta = np.empty_like(params)
    gradient_step(layout, params, 1.0, x, labels, 0.1, delta)
    p64 = params.astype(np.float64)
    w1, b1, w2, b2 = layout.views(p64)
    h = np.tanh(np.matmul(x, w1) + b1[:, None])
    z = np.matmul(h, w2) + b2[:, None]
    prob = np.exp(z - z.max(axis=2, keepdims=True))
    prob /= prob.sum(axis=2, keepdims=True)
    prob[np.arange(2)[:, None], np.arange(10)[None], labels] -= 1.0
    dz = -0.1 * prob / 10
    dh = np.matmul(dz, w2.transpose(0, 2, 1)) * (1 - h * h)
    g_w1 = np.matmul(x.transpose(0, 2, 1), dh)
    np.testing.assert_allclose(layout.views(delta)[0], g_w1, rtol=1e-4, atol=1e-4 * np.abs(g_w1).max())
    np.testing.assert_allclose(layout.views(delta)[2], np.matmul(h.transpose(0, 2, 1), dz), rtol=1e-4, atol=1e-9)


def test_fused_float_update_equals_the_update_added(mnist):
    """float_step adds W1's update as it computes it: the same words as gradient_step then params += delta."""
    layout = MLPLayout()
    params = layout.init_params(np.random.default_rng(2))[None].astype(np.float32).repeat(2, axis=0)
    fused = params.copy()
    for start in (0, 20, 40):
        x, labels = _batch(mnist, start=start)
        delta = np.empty_like(params)
        gradient_step(layout, params, 1.0, x, labels, 0.1, delta)
        params += delta
        float_step(layout, fused, x, labels, 0.1)
    np.testing.assert_array_equal(fused, params)
    assert not np.array_equal(fused, layout.init_params(np.random.default_rng(2))[None].astype(np.float32))


@pytest.mark.parametrize("hidden", [300, 20, 7])
def test_write_fused_with_the_w1_update_writes_the_same_memory(mnist, hidden):
    """The write that computes W1's update x^T dh chunk by chunk (`outer`) programs the same memory, bit
    for bit and count for count, as the write of the complete stored update, whatever the update buffer
    held in W1 (never read there); hidden sizes whose rows straddle chunks and 32-word groups included."""
    layout = MLPLayout(784, hidden, 10)
    q = QFormat(17)
    init = np.stack([layout.init_params(np.random.default_rng(s)) for s in range(2)])
    policy = BitErrorPolicy.uniform(0.01)
    complete, fused = (ApproximateMemory(q.encode(init), policy, 7) for _ in range(2))
    stale = np.full((2, layout.n_params), 1e6, np.float32)
    for start in (0, 20, 40, 60):
        x, labels = _batch(mnist, start=start)
        active = active_inputs(x)
        ranges = update_ranges(*active, layout.n_hidden, layout.n_in, layout.n_params)
        full = np.empty((2, layout.n_params), np.float32)
        gradient_step(layout, complete.values_lsb, q.lsb, x, labels, 0.1, full, active=active)
        complete.add_lsb(full, ranges)
        dh = gradient_step(layout, fused.values_lsb, q.lsb, x, labels, 0.1, stale, active=active, w1=False)
        fused.add_lsb(stale, ranges, outer=(x, dh))
    np.testing.assert_array_equal(fused.codes, complete.codes)
    assert fused.statistics(0) == complete.statistics(0) and fused.statistics(1) == complete.statistics(1)
    assert np.all(stale[:, : 784 * hidden] == 1e6)  # W1's update was never stored
    with pytest.raises(ParameterError, match="outer"):
        fused.add_lsb(stale, ranges, outer=(x.astype(np.float64), dh))


def test_active_inputs_and_batch_shapes():
    x = np.zeros((2, 3, 5), np.float32)
    x[0, 1, 3] = x[0, 2, 0] = 0.5
    rows, counts = active_inputs(x)
    assert counts.tolist() == [2, 0] and rows[0, :2].tolist() == [0, 3]
    layout = MLPLayout(5, 4, 2)
    params = layout.init_params(np.random.default_rng(0))[None].astype(np.float32).repeat(2, axis=0)
    shared = np.empty_like(params)
    gradient_step(layout, params, 1.0, x[0], np.array([0, 1, 0]), 0.1, shared)  # one batch for all replicas
    stacked = np.empty_like(params)
    gradient_step(layout, params, 1.0, np.stack([x[0], x[0]]), np.array([[0, 1, 0]] * 2), 0.1, stacked)
    np.testing.assert_array_equal(shared, stacked)
    with pytest.raises(ParameterError, match="shape"):
        gradient_step(layout, params, 1.0, np.zeros((2, 3, 6), np.float32), np.zeros((2, 3), np.int64), 0.1, shared)
    with pytest.raises(ParameterError, match="float32"):  # the compiled products are exact for float32 only
        float_step(layout, params.astype(np.float64), x[0], np.array([0, 1, 0]), 0.1)
