"""`pyspice-mram train`: train the 784-300-10 network in approximate MRAM and report accuracy and energy."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import ParameterError
from ..jsonio import to_json
from .options import echo_json, missing_mnist_error, refuse_existing


def build_policy(ber: float | None, lsb: int | None, hsb_ber: float | None, lsb_ber: float | None, float_mode: bool):
    """The memory policy from the options (None for --float); refuses contradictory combinations."""
    from ..training.memory import BitErrorPolicy

    two_stage = (lsb, hsb_ber, lsb_ber)
    if float_mode:
        if ber is not None or any(v is not None for v in two_stage):
            raise ParameterError("--float takes no BER options")
        return None
    if ber is not None:
        if any(v is not None for v in two_stage):
            raise ParameterError("give either --ber or --lsb/--hsb-ber/--lsb-ber, not both")
        return BitErrorPolicy.uniform(ber)
    if any(v is not None for v in two_stage):
        if None in two_stage:
            raise ParameterError("--lsb, --hsb-ber and --lsb-ber go together")
        return BitErrorPolicy.two_stage(lsb, lsb_ber, hsb_ber)
    raise ParameterError("give --ber P, or --lsb N --hsb-ber P --lsb-ber Q, or --float")


@click.command("train")
@click.option("--table", type=click.Path(path_type=Path), help="energy table from `pyspice-mram table` (default: analytic model)")
@click.option("--scenario", default="variability", show_default=True, help="table scenario")
@click.option("--ber", type=float, help="uniform BER of every bit")
@click.option("--lsb", type=int, help="number of low-significance bits (two-stage policy)")
@click.option("--hsb-ber", type=float, help="BER of the high-significance bits")
@click.option("--lsb-ber", type=float, help="BER of the low-significance bits")
@click.option("--float", "float_mode", is_flag=True, help="float baseline (no memory)")
@click.option("--epochs", type=int, default=5, show_default=True)
@click.option("--seeds", type=int, default=5, show_default=True)
@click.option("--batch", type=int, default=10, show_default=True)
@click.option("--learning-rate", type=float, default=None, help="SGD step (default: TrainingConfig's, 0.1)")
@click.option("--frac-bits", type=int, default=None, help="fractional bits of the 16-bit Q format (default: TrainingConfig's, 17)")
@click.option("--data", type=click.Path(path_type=Path), help="folder with the MNIST IDX .gz files")
@click.option("--download", is_flag=True, help="fetch MNIST into the user cache if it is missing")
@click.option("--train-images", type=int, help="use only the first N training images")
@click.option("--json", "json_out", type=click.Path(path_type=Path), help="write the result as JSON")
@click.option("--force", is_flag=True, help="overwrite an existing --json file")
@click.option("--quiet", is_flag=True, help="no progress bar")
def train(table, scenario, ber, lsb, hsb_ber, lsb_ber, float_mode, epochs, seeds, batch, learning_rate, frac_bits,
          data, download, train_images, json_out, force, quiet) -> None:
    """Train with weights in approximate ST-MRAM; print accuracy (per seed and range) and energy.

    The savings are against the same seeds and data trained with every bit at BER 1e-10, which
    trains alongside (stacked) whenever a memory policy is given.
    """
    from dataclasses import replace

    from ..atomic import atomic_write_text
    from ..training.bit_energy import WriteEnergyModel
    from ..training.mnist import MNISTNotFoundError, load_mnist
    from ..training.programming_energy import REFERENCE_POLICY, energy_report, policy_bit_energies
    from ..training.train import TrainingConfig
    from ..training.train import train as run_training

    if json_out is not None and not force:
        refuse_existing(json_out)
    policy = build_policy(ber, lsb, hsb_ber, lsb_ber, float_mode)
    config = TrainingConfig(epochs=epochs, seeds=seeds, batch_size=batch, train_images=train_images)
    if learning_rate is not None:
        config = replace(config, learning_rate=learning_rate)
    if frac_bits is not None:
        config = replace(config, frac_bits=frac_bits)
    model = WriteEnergyModel.from_table(table, scenario=scenario) if table is not None else WriteEnergyModel.from_analytic()
    if policy is not None:
        policy_bit_energies(policy, model)  # refuse a BER the energy model cannot price before training
    try:
        mnist = load_mnist(data, download_missing=download, progress=not quiet)
    except MNISTNotFoundError as exc:
        raise missing_mnist_error(exc) from None
    if policy is None:
        result = run_training(mnist, [None], config, progress=not quiet)[0]
        summary = result.summary(model)
    else:
        result, reference_run = run_training(mnist, [policy, REFERENCE_POLICY], config, progress=not quiet)
        summary = result.summary(model, energy_report(REFERENCE_POLICY, reference_run.memory_stats, model))
    click.echo(
        f"{result.label}: accuracy {summary['accuracy_mean'] * 100:.2f} % "
        f"(min {summary['accuracy_min'] * 100:.2f}, max {summary['accuracy_max'] * 100:.2f}"
        + (f"; 95 % interval of the mean {summary['accuracy_ci_low'] * 100:.2f}-{summary['accuracy_ci_high'] * 100:.2f}"
           if summary["accuracy_ci_low"] is not None else "")
        + f") over {config.seeds} seeds, {summary['seconds']:.1f} s",
        err=json_out is None,
    )
    energy = summary.get("energy")
    if energy and "error" in energy:  # e.g. BER-0 bits: accuracy stands, the energy has no finite value
        click.echo(f"energy per weight write: n/a ({energy['error']})", err=json_out is None)
    elif energy and "all_bits" in energy:
        a, c = energy["all_bits"], energy["changed_bits"]
        click.echo(
            f"energy per weight write: {a['energy_per_weight_write_j'] * 1e12:.3f} pJ all bits (saving {a['saving'] * 100:.1f} %), "
            f"{c['energy_per_weight_write_j'] * 1e12:.3f} pJ changed bits only (saving {c['saving'] * 100:.1f} %); "
            f"savings against {energy['reference']}",
            err=json_out is None,
        )
    if json_out is not None:
        atomic_write_text(json_out, to_json(summary))
    else:
        echo_json(summary)
