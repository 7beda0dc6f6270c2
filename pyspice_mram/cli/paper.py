"""`pyspice-mram paper`: regenerate the paper's figures and the paper-vs-model table."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output folder; steps already present there are reused.")
@click.option("--quick", is_flag=True, help="A reduced run (about 10 minutes on 2 cores), labelled as such in the report.")
@click.option("--jobs", default=1, show_default=True, type=click.IntRange(min=1), help="Parallel Monte Carlo workers.")
@click.option("--data", "data_dir", type=click.Path(file_okay=False, path_type=Path), help="MNIST folder (IDX .gz files).")
def paper(out_dir: Path, quick: bool, jobs: int, data_dir: Path | None) -> None:
    """Run the sweep, the tables and the training grids; write figures, paper_vs_model.csv and report.md/html."""
    from ..report.paper import run_paper

    result = run_paper(out_dir, quick=quick, jobs=jobs, data_dir=data_dir, log=lambda s: click.echo(s, err=True))
    within = int(result.comparison["within_tolerance"].sum())
    click.echo(f"{within}/{len(result.comparison)} paper quantities within tolerance; "
               f"report: {out_dir / 'report.md'} ({result.timings_s['total_s']:.0f} s)")
