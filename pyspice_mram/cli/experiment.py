"""`pyspice-mram experiment fig3|fig4|fig5`: the paper's training grids, resumable, with figures."""

from __future__ import annotations

from pathlib import Path

import click

from .options import missing_mnist_error


@click.command("experiment")
@click.argument("figure", type=click.Choice(["fig3", "fig4", "fig5"]))
@click.option("--out", type=click.Path(path_type=Path), required=True, help="output folder (runs/<config>/*.json, figures)")
@click.option("--epochs", type=int, default=5, show_default=True)
@click.option("--seeds", type=int, default=5, show_default=True)
@click.option("--train-images", type=int, help="use only the first N training images")
@click.option("--table", type=click.Path(path_type=Path), help="energy table (default: analytic model)")
@click.option("--scenario", default="variability", show_default=True)
@click.option("--data", type=click.Path(path_type=Path), help="folder with the MNIST IDX .gz files")
@click.option("--download", is_flag=True, help="fetch MNIST into the user cache if it is missing")
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="configurations trained in parallel processes")
@click.option("--quiet", is_flag=True)
def experiment(figure, out, epochs, seeds, train_images, table, scenario, data, download, jobs, quiet) -> None:
    """Run a figure's grid; configurations already in OUT/runs/<config>/ are skipped (resume)."""
    from ..training.bit_energy import WriteEnergyModel
    from ..training.experiments import quick_config, run_figure
    from ..training.mnist import MNISTNotFoundError, load_mnist

    model = WriteEnergyModel.from_table(table, scenario=scenario) if table is not None else WriteEnergyModel.from_analytic()
    try:
        mnist = load_mnist(data, download_missing=download, progress=not quiet)
    except MNISTNotFoundError as exc:
        raise missing_mnist_error(exc) from None
    config = quick_config(epochs, seeds, train_images)
    summaries = run_figure(figure, out, mnist, config, model, progress=not quiet and jobs == 1,
                           log=(lambda s: None) if quiet else (lambda s: click.echo(s, err=True)), jobs=jobs)
    for s in summaries:
        click.echo(f"{s['name']:>18}: {s['accuracy_mean'] * 100:6.2f} % [{s['accuracy_min'] * 100:.2f}, {s['accuracy_max'] * 100:.2f}]")
    click.echo(f"figures: {out / (figure + '.png')}, {out / (figure + '.pdf')}")
