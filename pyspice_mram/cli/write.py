"""`pyspice-mram write`: energy of a real write circuit for each target BER (paper Fig. 2, black curve).

Without `--brute-force`: two frozen-state transients per direction and the hybrid estimator give, per
target BER, the pulse length and the energy of every supply. With `--brute-force N --t-pulse T`: N
stochastic transients per direction where the MTJ really switches, compared with the hybrid.
"""

from __future__ import annotations

import math
from pathlib import Path

import click

from ..errors import ParameterError
from .device_options import device_options, device_summary, pop_device_options, resolve_device
from .options import echo_json, number_or_na, parse_ber_list, positive_float, refuse_existing


def _plot_energy(result, path: Path) -> Path:
    """Energy vs target BER, log and linear BER axes (like the paper's Fig. 2)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ber = result.ber_curve
    energy = result.energy_curve_j
    keep = (ber > 1e-12) & (ber < 0.999)
    fig, axes = plt.subplots(2, 1, figsize=(6, 7))
    for ax, log in zip(axes, (True, False)):
        ax.plot(ber[keep], energy[keep] * 1e12, "k-", label="no variability (SPICE + hybrid)")
        ax.plot([t.ber for t in result.targets], [t.energy_j * 1e12 for t in result.targets], "ko", ms=4)
        ax.set_xscale("log" if log else "linear")
        if not log:
            ax.set_xlim(0, 0.5)
        ax.set_xlabel("target bit error rate")
        ax.set_ylabel("programming energy (pJ)")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend()
    axes[0].set_title(f"write energy vs BER, V_MTJ = {result.pulse_voltage_v * 1e3:.0f} mV ({result.v_over_vc:g} Vc), "
                      f"{'+'.join(result.directions)}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _plot_waveforms(circuit, direction: str, t_pulse_s: float, path: Path) -> Path:
    """One write (thresholds at their mean, so the MTJ switches after mu): node voltages and currents."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res = circuit.waveforms(direction, t_pulse_s)
    t = (res.time_s - circuit.conditions.t_start_s) * 1e9
    fig, axes = plt.subplots(3, 1, figsize=(7, 8), sharex=True)
    for node in ("bl_d", "sl_d", "wl", "bl", "mid"):
        axes[0].plot(t, res[f"v({node})"], label=node)
    axes[0].set_ylabel("V (V)")
    axes[0].legend(ncol=5, fontsize=8)
    axes[1].plot(t, (res["v(bl)"] - res["v(mid)"]) * 1e3, label="V_MTJ")
    axes[1].plot(t, res["v(st)"] * 100, label="state x100 (0 = P, 100 = AP)")
    axes[1].set_ylabel("mV")
    axes[1].legend(fontsize=8)
    for s in ("vwr", "vwl", "vdd"):
        axes[2].plot(t, -res[f"i({s})"] * 1e6, label=s)
    axes[2].set_ylabel("supply current (uA)")
    axes[2].set_xlabel("time from pulse start (ns)")
    axes[2].legend(fontsize=8)
    fig.suptitle(f"{direction} write, T = {t_pulse_s * 1e9:.2f} ns, rail {circuit.rail_v(direction):.3f} V", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _engine_line(record: dict[str, str]) -> str:
    text = f"{record['engine']} {record['version']}, MTJ {record['mtj_model']}"
    return text + (f", osdi sha256 {record['mtj_osdi_sha256'][:12]}" if "mtj_osdi_sha256" in record else "")


@click.command()
@click.option("--v-over-vc", default=2.0, show_default=True, type=float, help="Pulse amplitude: V_MTJ at pulse start / Vc.")
@click.option("--direction", type=click.Choice(["both", "p2ap", "ap2p"]), default="both", show_default=True,
              help="Write direction(s); 'both' averages energy over directions.")
@click.option("--targets", default="1e-10,1e-4,1e-3,1e-2,0.1,0.5", show_default=True, help="Comma-separated target BERs.")
@click.option("--brute-force", "brute_runs", type=int, default=None, help="Run N stochastic transients per direction instead.")
@click.option("--t-pulse", type=float, default=None, help="Pulse length (s) for --brute-force, e.g. 5e-9.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of the brute-force threshold draws.")
@click.option("--reference-ber", type=float, default=1e-10, show_default=True,
              help="BER whose write energy the savings are measured against (must be reachable in --t-stop).")
@click.option("--t-stop", type=float, default=40e-9, show_default=True, help="Transient window after pulse start (s).")
@click.option("--max-step", type=float, default=100e-12, show_default=True, help="Maximum time step of the transients (s).")
@click.option("--model-card", default="ptm_32nm_LP.pm", show_default=True, help="BSIM4 card in spice_models/ or a path.")
@click.option("--engine", type=click.Choice(["ngspice", "vacask", "ngspice-osdi"]), default="ngspice", show_default=True,
              help="Circuit simulator: ngspice + MTJ macromodel, VACASK + Verilog-A MTJ (OSDI), ngspice + Verilog-A MTJ (OSDI builds).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
@click.option("--plot", "plot_dir", type=click.Path(file_okay=False, path_type=Path), help="Write PNG figures here.")
@click.option("--resize-driver", is_flag=True,
              help="Widen the driver legs and the access device by Ic0 / Ic0(paper device) (for a larger MTJ).")
@device_options
def write(v_over_vc: float, direction: str, targets: str, brute_runs: int | None, t_pulse: float | None, seed: int,
          reference_ber: float, t_stop: float, max_step: float, model_card: str, engine: str, as_json: bool,
          plot_dir: Path | None, resize_driver: bool, **device_kwargs) -> None:
    """Pulse length and energy per target BER of the bidirectional write circuit (SPICE + hybrid)."""
    from ..circuit.write_circuit import SUPPLIES, SUPPLY_LABELS, CircuitConditions, WriteCircuit
    from ..circuit.engine import engine_provenance
    from ..circuit.write_energy import ReferenceUnreachable, nominal_write_energy, resolve_directions

    positive_float(v_over_vc, "--v-over-vc")
    positive_float(t_stop, "--t-stop")
    positive_float(max_step, "--max-step")
    directions = resolve_directions(direction)
    device, driver = resolve_device(pop_device_options(device_kwargs), resize_driver=resize_driver)
    conditions = CircuitConditions(v_over_vc=v_over_vc, t_stop_s=t_stop, max_step_s=max_step, model_card=model_card,
                                   device=device, driver=driver, simulator=engine)

    if brute_runs is not None or t_pulse is not None:
        if brute_runs is None or t_pulse is None:
            raise ParameterError("--brute-force N and --t-pulse T go together")
        if brute_runs < 1:
            raise ParameterError(f"--brute-force must be a positive number of runs, got {brute_runs}")
        if not (math.isfinite(t_pulse) and t_pulse > 0):
            raise ParameterError(f"--t-pulse must be a finite number > 0 s, got {t_pulse}")
        from ..circuit.bruteforce import brute_force_write

        circuit = WriteCircuit(conditions)
        results = [brute_force_write(circuit, d, t_pulse, brute_runs, seed=seed, progress=not as_json) for d in directions]
        if as_json:
            echo_json({"rails_v": circuit.rails(), "seed": seed, "engine": engine_provenance(engine, device),
                       "checks": [r.as_dict() for r in results]})
            return
        click.echo(f"engine: {_engine_line(engine_provenance(engine, device))}")
        for r in results:
            lo, hi = r.wilson95
            click.echo(f"{r.direction}: T = {r.t_pulse_s * 1e9:.3f} ns, {r.runs} runs, {r.failures} failed: "
                       f"BER {r.ber:.4f} (Wilson 95 % [{lo:.4f}, {hi:.4f}]); hybrid {r.hybrid_ber:.4f} "
                       f"({'inside' if r.hybrid_inside else 'OUTSIDE'})")
            sem = number_or_na(r.energy_sem_j * 1e12, "{:.4f}")  # n/a for a single run
            click.echo(f"    mean energy {r.energy_mean_j * 1e12:.4f} pJ (+- {sem}); hybrid "
                       f"{r.hybrid_energy_j * 1e12:.4f} pJ ({r.energy_gap * 100:+.2f} %)")
        return

    bers = parse_ber_list(targets)
    reference_ber = parse_ber_list(str(reference_ber), "--reference-ber")[0]
    if plot_dir is not None:  # refuse before the work, never overwrite earlier figures
        for name in ["fig2_energy_vs_ber.png", *(f"waveforms_{d}.png" for d in directions)]:
            refuse_existing(plot_dir / name, "another --plot folder")
    circuit = WriteCircuit(conditions)
    try:
        result = nominal_write_energy(bers, direction=direction, circuit=circuit, reference_ber=reference_ber)
    except ReferenceUnreachable as exc:
        reason = str(exc).removesuffix("; lengthen the transient")
        raise ParameterError(f"{reason}; lengthen --t-stop or pass a larger --reference-ber") from None
    report = result.as_dict()
    report.update(device_summary(device, driver))
    report["spice_resistance_ohm"] = {d: circuit.spice_resistance_ohm(d) for d in directions}
    report["engine"] = engine_provenance(engine, device)
    if plot_dir is not None:
        plot_dir.mkdir(parents=True, exist_ok=True)
        plots = [str(_plot_energy(result, plot_dir / "fig2_energy_vs_ber.png"))]
        for d in directions:
            plots.append(str(_plot_waveforms(circuit, d, result.reference.t_pulse_s, plot_dir / f"waveforms_{d}.png")))
        report["plots"] = plots
    if as_json:
        echo_json(report)
        return
    rails = ", ".join(f"{d} {v:.4f} V" for d, v in result.rails_v.items())
    r_spice = ", ".join(f"{'R_P' if d == 'p2ap' else 'R_AP at pulse'} {r:.0f} Ohm" for d, r in report["spice_resistance_ohm"].items())
    click.echo(f"MTJ: d = {device.diameter_m * 1e9:.3g} nm, RA = {device.ra_ohm_m2 * 1e12:.3g} Ohm.um^2, "
               f"Vc = {device.critical_voltage_v * 1e3:.1f} mV, Ic0 = {device.critical_current_a * 1e6:.1f} uA; in SPICE {r_spice}")
    resized = " (legs and access widened by Ic0 / Ic0(paper device))" if resize_driver else ""
    click.echo(f"driver: legs PMOS {driver.leg_pmos_width_m * 1e6:.3g} um / NMOS {driver.leg_nmos_width_m * 1e6:.3g} um, "
               f"access {driver.access_width_m * 1e6:.3g} um, word line {driver.word_line_v:g} V{resized}")
    click.echo(f"engine: {_engine_line(report['engine'])}")
    click.echo(f"write circuit: V_MTJ at pulse start {result.pulse_voltage_v * 1e3:.1f} mV ({v_over_vc:g} Vc); rails {rails}")
    cover = "mean of " + " and ".join(result.directions) if len(result.directions) > 1 else result.directions[0]
    click.echo(f"energy: {cover}, all supplies ({', '.join(f'{s} = {SUPPLY_LABELS[s]}' for s in SUPPLIES)}), "
               "pulse start to pulse end")
    header = f"  {'BER':>8}  {'T_pulse (ns)':>12}  {'E (pJ)':>8}  {'saving':>7}  " + "  ".join(f"{s + ' (fJ)':>10}" for s in SUPPLIES)
    click.echo(header)
    for t in result.targets:
        per = "  ".join(f"{t.energy_by_supply_j[s] * 1e15:10.3f}" for s in SUPPLIES)
        click.echo(f"  {t.ber:8.0e}  {t.t_pulse_s * 1e9:12.3f}  {t.energy_j * 1e12:8.4f}  {t.saving * 100:6.1f}%  {per}")
    for path in report.get("plots", []):
        click.echo(f"wrote {path}")
