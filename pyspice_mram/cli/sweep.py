"""`pyspice-mram sweep CONFIG --out RUN_DIR`: run (or resume) a Monte Carlo corner sweep."""

from __future__ import annotations

from pathlib import Path

import click

from .options import echo_json

COMMANDS = ("sweep",)


@click.command("sweep")
@click.argument("config")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path), help="Run folder (must not exist unless --resume).")
@click.option("--jobs", "-j", default=1, show_default=True, type=click.IntRange(min=1), help="Worker processes (one ngspice session each).")
@click.option("--resume", is_flag=True, help="Continue a killed run in --out (same config required).")
@click.option("--scheduler", default=None, metavar="ADDRESS", help="Run the tasks on a Dask cluster, e.g. tcp://host:8786.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def sweep(config: str, out: Path, jobs: int, resume: bool, scheduler: str | None, as_json: bool, quiet: bool) -> None:
    """Run the sweep CONFIG (a TOML file, or a shipped name: paper, quick, corners) into RUN_DIR.

    Results are written in checkpointed chunks; a killed run continues with --resume.
    """
    from ..sweeps.runner import run_sweep

    summary = run_sweep(config, out, jobs=jobs, resume=resume, scheduler=scheduler, progress=not quiet)
    if as_json:
        echo_json(summary.to_dict())
        return
    click.echo(
        f"{summary.run_dir}: {summary.n_tasks} samples ({summary.n_tasks_run} run now, "
        f"{summary.n_failed_samples} failed) in {summary.wall_s:.1f} s"
    )
