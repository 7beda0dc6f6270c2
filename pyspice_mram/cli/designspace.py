"""`pyspice-mram designspace KIND CONFIG --out DIR`: amplitude x duration or device-size design space."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import OutputExistsError, ParameterError
from .options import echo_json, parse_ber_list

COMMANDS = ("designspace",)
FIGURES = {"amplitude": "amplitude_duration.png", "size": "device_size.png"}


def _float_list(text: str, option: str) -> list[float]:
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ParameterError(f"{option}: {text!r} is not a comma-separated list of numbers") from None
    if not values or len(set(values)) != len(values):
        raise ParameterError(f"{option}: give distinct numbers, got {text!r}")
    return values


@click.command("designspace")
@click.argument("kind", type=click.Choice(["amplitude", "size"]))
@click.argument("config")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Design-space folder.")
@click.option("--amplitudes", default="1.3,1.6,2.0,2.5,3.0", show_default=True, help="Pulse amplitudes (x Vc), for 'amplitude'.")
@click.option("--diameters", default="20e-9,30e-9,40e-9,50e-9,60e-9", show_default=True, help="MTJ diameters (m), for 'size'.")
@click.option("--keep-driver", is_flag=True, help="For 'size': keep the config's driver instead of resizing it with Ic0.")
@click.option("--targets", default="1e-10,1e-8,1e-6,1e-4,1e-3,1e-2,0.1", show_default=True, help="Target BERs.")
@click.option("--jobs", "-j", default=1, show_default=True, type=click.IntRange(min=1), help="Worker processes.")
@click.option("--resume", is_flag=True, help="Continue unfinished points; finished points are reused.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
def designspace(kind: str, config: str, out: Path, amplitudes: str, diameters: str, keep_driver: bool, targets: str,
                jobs: int, resume: bool, as_json: bool, quiet: bool) -> None:
    """Sweep CONFIG over pulse amplitude ('amplitude') or MTJ diameter ('size'): one resumable Monte Carlo
    sweep per point, then the energy/BER summary (designspace.json, .csv) and a figure."""
    from ..report.designspace_plots import plot_amplitude_duration, plot_device_size
    from ..sweeps.config import load_config
    from ..sweeps.designspace import amplitude_envelope, amplitude_points, run_design_space, size_points, write_summary

    bers = parse_ber_list(targets)
    base = load_config(config)
    if out.exists() and not resume:
        raise OutputExistsError(f"{out} exists; pass --resume to continue it, or choose another --out")
    if kind == "amplitude":
        points = amplitude_points(base, _float_list(amplitudes, "--amplitudes"))
    else:
        points = size_points(base, _float_list(diameters, "--diameters"), resize_driver=not keep_driver)
    points = run_design_space(base, out, points, targets=bers, jobs=jobs, resume=resume, progress=not quiet)
    envelope = amplitude_envelope(points, bers) if kind == "amplitude" else []
    summary = write_summary(out, kind, points, envelope)
    figure = out / FIGURES[kind]
    (plot_amplitude_duration(points, envelope, figure) if kind == "amplitude" else plot_device_size(points, figure))
    summary["figure"] = str(figure)
    if as_json:
        echo_json(summary)
        return
    for p in points:
        if p.status != "ok":
            click.echo(f"{p.label}: {p.reason}")
    if kind == "amplitude":
        click.echo(f"{'scenario':>12} {'BER':>7}  cheapest v  T (ns)   E (pJ)  saving vs 2.0 Vc (E, T there)")
        for r in envelope:
            click.echo(f"{r['scenario']:>12} {r['ber']:7.0e}  {r['v_over_vc']:6.2g} Vc  {r['t_pulse_s'] * 1e9:6.2f}  {r['energy_j'] * 1e12:7.4f}  "
                       f"{r['saving_vs_reference'] * 100:5.1f} +- {r['saving_se'] * 100:.1f} %  ({r['reference_energy_j'] * 1e12:.4f} pJ, "
                       f"{r['reference_t_pulse_s'] * 1e9:.2f} ns)")
    else:
        for p in points:
            for row in p.rows:
                if row["scenario"] == "variability" and row["ber"] in (1e-10, 1e-4, 1e-2):
                    click.echo(f"{p.label:>8} BER {row['ber']:7.0e}: T* = {row['t_pulse_s'] * 1e9:6.2f} ns, E = {row['energy_j'] * 1e12:.4f} pJ")
    click.echo(f"wrote {out / 'designspace.json'}, {out / 'designspace.csv'}, {figure}")
