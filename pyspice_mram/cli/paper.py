"""`pyspice-mram paper`: regenerate the paper's figures and the paper-vs-model table."""

from __future__ import annotations

from pathlib import Path

import click

from .options import missing_mnist_error


@click.command()
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output folder; steps already present there are reused.")
@click.option("--quick", is_flag=True,
              help="A reduced run (about 3 minutes on 2 cores with --jobs 2), labelled as such in the report.")
@click.option("--jobs", default=1, show_default=True, type=click.IntRange(min=1),
              help="Parallel Monte Carlo workers and training processes.")
@click.option("--data", "data_dir", type=click.Path(file_okay=False, path_type=Path), help="MNIST folder (IDX .gz files).")
@click.option("--download", is_flag=True, help="Fetch MNIST (checksummed) into the user cache if it is missing.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def paper(out_dir: Path, quick: bool, jobs: int, data_dir: Path | None, download: bool, quiet: bool) -> None:
    """Run the sweep, the tables and the training grids; write figures, paper_vs_model.csv and report.md/html."""
    from ..report.paper import run_paper
    from ..report.paper_report import headline
    from ..training.mnist import MNISTNotFoundError

    try:
        result = run_paper(out_dir, quick=quick, jobs=jobs, data_dir=data_dir, download=download, progress=not quiet,
                           log=lambda s: click.echo(s, err=True))
    except MNISTNotFoundError as exc:
        raise missing_mnist_error(exc) from None
    click.echo(f"{headline(result.comparison)} Report: {out_dir / 'report.md'} ({result.timings_s['total_s']:.0f} s)")
