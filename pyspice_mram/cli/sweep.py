"""`pyspice-mram sweep CONFIG --out RUN_DIR`: run (or resume) a Monte Carlo corner sweep."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .options import echo_json

COMMANDS = ("sweep",)


@click.command("sweep")
@click.argument("config")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path), help="Run folder (must not exist unless --resume).")
@click.option("--jobs", "-j", default=1, show_default=True, type=click.IntRange(min=1), help="Worker processes (one ngspice session each).")
@click.option("--resume", is_flag=True, help="Continue a killed run in --out (same config required).")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Run every task on the workers of a Dask cluster, e.g. tcp://host:8786 (replaces --jobs).")
@click.option("--yes", "assume_yes", is_flag=True, help="Run even if the estimated cost is above sweep.max_hours.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def sweep(config: str, out: Path, jobs: int, resume: bool, scheduler: str | None, assume_yes: bool, as_json: bool,
          quiet: bool) -> None:
    """Run the sweep CONFIG (a TOML file, or a shipped name: paper, quick, corners) into RUN_DIR.

    Results are written in checkpointed chunks; a killed or interrupted run continues with --resume.
    The nominal samples run first: they time the run (the estimate is printed, and refused above
    sweep.max_hours unless --yes) and show whether any target BER is reachable at all.
    """
    from ..sweeps.runner import run_sweep

    def report(line: str) -> None:
        if not quiet:
            from tqdm.auto import tqdm

            tqdm.write(line, file=sys.stderr)  # above the progress bar, not through it

    summary = run_sweep(config, out, jobs=jobs, resume=resume, scheduler=scheduler, progress=not quiet,
                        assume_yes=assume_yes, report=report)
    if as_json:
        echo_json(summary.to_dict())
        return
    click.echo(
        f"{summary.run_dir}: {summary.n_tasks} samples ({summary.n_tasks_run} run now, "
        f"{summary.n_failed_samples} failed) in {summary.wall_s:.1f} s"
    )
