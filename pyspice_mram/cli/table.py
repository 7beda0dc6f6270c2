"""`pyspice-mram table RUN_DIR --out FILE`: energy/BER lookup table of a finished sweep."""

from __future__ import annotations

from pathlib import Path

import click

from .options import echo_json, parse_ber_list, refuse_existing

COMMANDS = ("table",)


@click.command("table")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--out", "out", required=True, type=click.Path(path_type=Path), help="Output table (.parquet or .csv).")
@click.option("--targets", default=None, help="Comma-separated target BERs (default: the config's [table] targets).")
@click.option("--intrinsic-sigma", type=float, default=None,
              help="Override the intrinsic ln-rate sigma of the 'variability' scenario (default: the run's config).")
@click.option("--calibrate", "calibrate_ns", type=float, default=None, metavar="T_NS",
              help="First fit the intrinsic sigma so that T(1e-10) of the average direction = T_NS ns, then use it.")
@click.option("--skip-unreachable", is_flag=True,
              help="Leave out targets a corner cannot reach in the window (listed in the provenance) instead of failing.")
@click.option("--force", is_flag=True, help="Replace an existing --out file (atomically).")
@click.option("--json", "as_json", is_flag=True, help="Print the table (and any calibration) as JSON on stdout.")
def table(run_dir: Path, out: Path, targets: str | None, intrinsic_sigma: float | None, calibrate_ns: float | None,
          skip_unreachable: bool, force: bool, as_json: bool) -> None:
    """Build the energy/BER table of the finished sweep in RUN_DIR (scenarios nominal, variability,
    variability_physical; directions p2ap, ap2p, average), with provenance."""
    from ..sweeps.tables import build_table, calibrate_intrinsic_spread, write_table

    if not force:
        refuse_existing(out)
    target_list = parse_ber_list(targets) if targets else None  # bad input is refused before any work
    calibration = None
    if calibrate_ns is not None:
        calibration = calibrate_intrinsic_spread(run_dir, target_t_pulse_s=calibrate_ns * 1e-9)
        intrinsic_sigma = calibration.ln_rate_sigma
    df = build_table(run_dir, target_list, ln_rate_sigma=intrinsic_sigma,
                     skip_unreachable=skip_unreachable)
    if calibration is not None:
        df.attrs["provenance"]["table"]["calibration"] = calibration.to_dict()
    write_table(df, out)
    if as_json:
        echo_json({"table": str(out), "calibration": calibration.to_dict() if calibration else None,
                   "rows": df.to_dict(orient="records")})
        return
    if calibration is not None:
        click.echo(f"calibrated intrinsic sigma of ln rate = {calibration.ln_rate_sigma:.4f} "
                   f"(T(1e-10) = {calibration.t_pulse_s * 1e9:.3f} ns; physical only: {calibration.physical_t_pulse_s * 1e9:.3f} ns)")
    sel = df[(df["direction"] == "average") & df["ber"].isin([1e-10, 1e-4, 1e-2])]
    for _, r in sel.iterrows():
        click.echo(f"{r['corner']:>18} {r['scenario']:>21} BER {r['ber']:7.0e}: T = {r['t_pulse_s'] * 1e9:6.2f} ns, "
                   f"E = {r['energy_j'] * 1e12:.3f} pJ, +{r['energy_increase'] * 100:5.1f} % vs nominal")
    n_failed = int(df.groupby("corner")["n_failed"].first().sum())  # n_failed is per corner
    if n_failed:
        click.echo(f"note: {n_failed} sample(s) failed to simulate and are left out (column n_failed; "
                   "reasons in the provenance)")
    skipped = df.attrs["provenance"]["table"]["unreachable"]
    if skipped:
        click.echo(f"left out {len(skipped)} unreachable target(s), e.g. {skipped[0]}")
    click.echo(f"wrote {out} ({len(df)} rows)")
