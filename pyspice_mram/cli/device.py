"""`pyspice-mram device`: the calibrated MTJ and its analytic pulse-length/energy trade-off."""

from __future__ import annotations

from pathlib import Path

import click

from ..device.calibration import default_switching_law
from ..device.parameters import PAPER_DEVICE
from ..report.device_report import device_report
from .device_options import device_options, device_summary, pop_device_options, resolve_device
from .options import echo_json, parse_ber_list, positive_float, refuse_existing

PLOT_NAMES = ("fig1c_switching_probability.png", "fig1d_mean_skewness.png")


@click.command()
@click.option("--v-over-vc", default=2.0, show_default=True, type=float, help="Pulse amplitude as a multiple of Vc.")
@click.option("--targets", default="1e-10,1e-4,1e-3,1e-2", show_default=True, help="Comma-separated target BERs.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
@click.option("--plot", "plot_dir", type=click.Path(file_okay=False, path_type=Path), help="Write Fig. 1c/1d-style PNGs here.")
@device_options
def device(v_over_vc: float, targets: str, as_json: bool, plot_dir: Path | None, **device_kwargs) -> None:
    """Device summary and, per target BER, the pulse length and energy ratio T/T(1e-10)."""
    positive_float(v_over_vc, "--v-over-vc")
    mtj, _ = resolve_device(pop_device_options(device_kwargs))
    bers = parse_ber_list(targets)
    if plot_dir is not None:  # refuse before the work, never overwrite earlier figures
        for name in PLOT_NAMES:
            refuse_existing(plot_dir / name, "another --plot folder")
    law = default_switching_law(mtj)
    report = device_report(law, v_over_vc, bers)
    report.update(device_summary(mtj))
    if plot_dir is not None:
        from ..report.device_plots import plot_switching_probability, plot_switching_moments

        plot_dir.mkdir(parents=True, exist_ok=True)
        report["plots"] = [
            str(plot_switching_probability(law, plot_dir / PLOT_NAMES[0])),
            str(plot_switching_moments(law, plot_dir / PLOT_NAMES[1])),
        ]
    if as_json:
        echo_json(report)
        return
    name = "paper device" if mtj == PAPER_DEVICE else f"d = {mtj.diameter_m * 1e9:.3g} nm, RA = {mtj.ra_ohm_m2 * 1e12:.3g} Ohm.um^2"
    click.echo(f"MTJ ({name}), Delta = {mtj.thermal_stability:g}, pulse amplitude {v_over_vc:g} Vc = {report['v_pulse_v'] * 1e3:.1f} mV")
    click.echo(f"  R_P      {report['r_p_ohm']:10.1f} Ohm")
    click.echo(f"  R_AP(0)  {report['r_ap_ohm']:10.1f} Ohm   (R_AP at pulse: {report['r_ap_at_pulse_ohm']:.1f} Ohm)")
    click.echo(f"  Vc       {report['vc_v'] * 1e3:10.1f} mV    Ic0 {report['ic0_a'] * 1e6:.2f} uA")
    click.echo(f"  mean switching time {report['mean_switching_time_s'] * 1e9:.3f} ns, shape k {report['shape_k']:.3f}, "
               f"skewness {report['skewness']:.3f}")
    click.echo(f"  {'BER':>8}  {'T_pulse (ns)':>12}  {'E/E(1e-10)':>10}  {'saving':>7}")
    for row in report["targets"]:
        click.echo(f"  {row['ber']:8.0e}  {row['t_pulse_s'] * 1e9:12.3f}  {row['energy_ratio']:10.3f}  "
                   f"{(1 - row['energy_ratio']) * 100:6.1f}%")
    for path in report.get("plots", []):
        click.echo(f"wrote {path}")
