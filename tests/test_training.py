import numpy as np
import pytest

from pyspice_mram.training.bit_energy import WriteEnergyModel
from pyspice_mram.training.programming_energy import REFERENCE_POLICY, energy_report
from pyspice_mram.errors import ParameterError
from pyspice_mram.training.memory import BitErrorPolicy
from pyspice_mram.training.train import TrainingConfig, train

REDUCED = TrainingConfig(epochs=2, seeds=2)  # the whole shipped sample: 3000 images


def test_float_and_ber_1e3_train(mnist):
    float_run, mem_run, ref_run = train(mnist, [None, BitErrorPolicy.uniform(1e-3), REFERENCE_POLICY], REDUCED)
    assert float_run.accuracies.shape == (2,)
    assert np.all(float_run.accuracies >= 0.80)  # 3000 images, 2 epochs: ~85-88 %, 1000 test images (SE ~1.1 pt)
    # the same data, seeds and data order: a 0.1 % BER (and the 1e-10 reference) cost at most ~2 points of the
    # float network here (1000 test images: one image is 0.1 point)
    assert mem_run.accuracies.mean() >= float_run.accuracies.mean() - 0.02
    assert ref_run.accuracies.mean() >= float_run.accuracies.mean() - 0.02
    model = WriteEnergyModel.from_analytic()
    reference = energy_report(REFERENCE_POLICY, ref_run.memory_stats, model)
    summary = mem_run.summary(model, reference)
    assert summary["accuracy_min"] <= summary["accuracy_mean"] <= summary["accuracy_max"]
    assert summary["accuracy_ci_low"] < summary["accuracy_mean"] < summary["accuracy_ci_high"]
    energy = summary["energy"]
    writes = [s["word_writes"] for s in mem_run.memory_stats]
    ref_writes = [s["word_writes"] for s in ref_run.memory_stats]
    per_write = energy["all_bits"]["energy_per_weight_write_j"]
    assert energy["all_bits"]["saving"] == pytest.approx(
        1 - np.mean(writes) * per_write / (np.mean(ref_writes) * reference["all_bits"]["energy_per_weight_write_j"]))
    assert 0.3 < energy["all_bits"]["saving"] < 0.6
    assert energy["all_bits"]["saving_over_seeds"]["min"] <= energy["all_bits"]["saving_over_seeds"]["max"]
    assert 0 < energy["changed_bits"]["total_per_run_j"] < energy["all_bits"]["total_per_run_j"]
    assert energy["word_writes_mean"] > 1000


def test_stacking_does_not_change_a_replica(mnist):
    cfg = TrainingConfig(epochs=1, seeds=1, train_images=600)
    pol = BitErrorPolicy.two_stage(8, 0.5, 0.01)
    alone = train(mnist, [pol], cfg)[0]
    stacked = train(mnist, [BitErrorPolicy.uniform(0.2), pol], cfg)[1]
    np.testing.assert_array_equal(alone.accuracies, stacked.accuracies)
    assert alone.memory_stats == stacked.memory_stats


def test_never_updated_memory_keeps_its_initial_network(mnist):
    from pyspice_mram.training.fixedpoint import QFormat
    from pyspice_mram.training.mlp import accuracy
    from pyspice_mram.training.train import _initial_params

    cfg = TrainingConfig(epochs=1, seeds=1, train_images=300)
    run = train(mnist, [BitErrorPolicy.uniform(1.0)], cfg)[0]
    q = QFormat(cfg.frac_bits)
    codes = q.encode(_initial_params(cfg, [0])).astype(np.float32)
    untrained = accuracy(cfg.layout, codes, q.lsb, mnist.float_images("test"), mnist.test_labels.astype(np.int64))
    assert run.memory_stats[0]["word_writes"] > 0  # writes were attempted ...
    assert run.accuracies[0] == pytest.approx(untrained[0])  # ... and none took effect
    assert run.summary(WriteEnergyModel.from_analytic())["energy"]["all_bits"]["energy_per_weight_write_j"] == 0.0


@pytest.mark.slow
@pytest.mark.parametrize("policy, floor", [(None, 0.967), (BitErrorPolicy.uniform(1e-3), 0.967), (BitErrorPolicy.uniform(1e-2), 0.957),
                                           (BitErrorPolicy.two_stage(8, 0.5, 0.01), 0.957)])
def test_full_training(full_mnist, policy, floor):
    """Paper setting (60k images, 5 epochs, 5 seeds): 97.2 % float / 0.1 %, 96.7 % at 1 %, 96.2 % HSB 1 % / 8 LSBs 50 %."""
    run = train(full_mnist, [policy], TrainingConfig())[0]
    assert run.accuracies.mean() >= floor


def test_bad_config():
    with pytest.raises(ParameterError, match="epochs"):
        TrainingConfig(epochs=0)
    with pytest.raises(ParameterError, match="train_images"):
        TrainingConfig(train_images=3)
    with pytest.raises(ParameterError, match="frac_bits"):
        TrainingConfig(frac_bits=40)
    with pytest.raises(ParameterError, match="init_scale"):
        TrainingConfig(init_scale=0.0)


def test_default_format_holds_the_initial_weights_and_init_scale_scales_them():
    from pyspice_mram.training.mlp import MLPLayout

    cfg = TrainingConfig()
    w = MLPLayout().init_params(np.random.default_rng(0))
    cfg.qformat.check_holds(w)  # holds the LeCun initialisation (|w| < 1/sqrt(300) < 0.25)
    w3 = MLPLayout().init_params(np.random.default_rng(0), 3.0)
    np.testing.assert_allclose(w3, 3.0 * w)


def test_qformat_too_small_for_weights(mnist):
    with pytest.raises(ParameterError, match="too coarse"):
        train(mnist, [BitErrorPolicy.exact()], TrainingConfig(epochs=1, seeds=1, train_images=100, frac_bits=2))


def test_update_ranges_cover_every_nonzero_gradient(mnist):
    """The W1 rows left out of a mini-batch's write ranges get an exactly zero update."""
    from pyspice_mram.training.mlp import MLPLayout, gradient_step

    layout = MLPLayout(784, 30, 10)
    rng = np.random.default_rng(0)
    params = layout.init_params(rng)[None].astype(np.float32).repeat(2, axis=0)
    x = (mnist.train_images[:20].reshape(2, 10, 784) / 255.0).astype(np.float32)
    labels = mnist.train_labels[:20].reshape(2, 10).astype(np.int64)
    delta = np.empty_like(params)
    gradient_step(layout, params, 1.0, x, labels, 0.1, delta)
    ranges = layout.update_ranges(x)
    for r in range(2):
        inside = np.zeros(layout.n_params, dtype=bool)
        for start, stop in ranges[r]:
            inside[start:stop] = True
        assert np.all(delta[r, ~inside] == 0.0)
        assert 0.3 < inside[: 784 * 30].mean() < 0.8  # rows of inputs blank in the whole batch are left out
        assert inside[784 * 30 :].all()


def test_update_ranges_are_runs_of_active_inputs_and_the_output_layer():
    from pyspice_mram.training.mlp import MLPLayout

    layout = MLPLayout(6, 2, 3)
    x = np.zeros((2, 2, 6), np.float32)
    x[0, 0, 1] = x[0, 1, 4] = x[0, 1, 5] = 1.0  # replica 0: inputs 1, 4 and 5 change; replica 1: a blank batch
    ranges = layout.update_ranges(x)
    assert ranges[0].tolist() == [[2, 4], [8, 12], [12, 23]]
    assert all(start == stop for start, stop in ranges[1, :2]) and ranges[1, 2].tolist() == [12, 23]
    with pytest.raises(ParameterError, match="shape"):
        layout.update_ranges(x[0])


def test_batches_scaled_when_drawn_equal_the_scaled_training_set(mnist):
    """Training keeps the images as uint8 and scales each mini-batch when drawn: bit for bit the
    pixels of `MNIST.float_images`, so no result depends on which of the two is used."""
    from pyspice_mram.training.train import _scaled, _subset

    pixels, labels = _subset(mnist, 500)
    assert pixels.dtype == np.uint8 and labels.dtype == np.int64
    idx = np.random.default_rng(0).integers(0, 500, (3, 10))
    assert np.array_equal(_scaled(pixels[idx]).view(np.uint32), mnist.float_images("train")[:500][idx].view(np.uint32))
    assert _scaled(pixels[idx]).dtype == np.float32
