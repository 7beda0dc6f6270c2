"""Design-space figures: energy vs BER per pulse amplitude with the lower envelope, and T*/E vs diameter."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from ..sweeps.designspace import SCENARIOS, DesignPoint, points_frame  # noqa: E402


def plot_amplitude_duration(points: list[DesignPoint], envelope: list[dict[str, Any]], path: Path) -> Path:
    """Two panels (nominal, with variability): E(BER) for each amplitude and the cheapest-amplitude envelope."""
    df = points_frame(points)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), sharey=True)
    env = pd.DataFrame.from_records(envelope) if envelope else pd.DataFrame(columns=["scenario", "ber", "energy_j", "v_over_vc"])
    for ax, scenario in zip(axes, SCENARIOS):
        for label, group in df[df["scenario"] == scenario].groupby("circuit.v_over_vc") if not df.empty else []:
            g = group.sort_values("ber")
            ax.plot(g["ber"], g["energy_j"] * 1e12, "o-", ms=3, label=f"{label:g} Vc")
        e = env[env["scenario"] == scenario].sort_values("ber")
        if not e.empty:
            ax.plot(e["ber"], e["energy_j"] * 1e12, "k--", lw=2, label="cheapest (envelope)")
            for _, r in e.iterrows():
                ax.annotate(f"{r['v_over_vc']:g}", (r["ber"], r["energy_j"] * 1e12), textcoords="offset points",
                            xytext=(0, -11), ha="center", fontsize=7)
        for p in points:
            if p.status == "out_of_reach":
                ax.plot([], [], " ", label=f"{p.changes['circuit']['v_over_vc']:g} Vc: out of reach")
        ax.set_xscale("log")
        ax.set_xlabel("target bit error rate")
        ax.set_title("no variability" if scenario == "nominal" else "with variability", fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
    direction = df["direction"].iloc[0] if not df.empty else "average"
    axes[0].set_ylabel(f"energy per write (pJ, {'mean of both directions' if direction == 'average' else direction})")
    axes[1].legend(fontsize=7)
    fig.suptitle("pulse amplitude x duration: energy vs BER (SPICE + hybrid)", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_device_size(points: list[DesignPoint], path: Path, bers: tuple[float, ...] = (1e-10, 1e-4, 1e-2)) -> Path:
    """T*(BER) and E(BER) vs MTJ diameter, with variability."""
    df = points_frame(points)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8))
    for i, ber in enumerate(bers):
        for scenario, style in (("variability", "o-"), ("nominal", "s--")):
            g = df[(df["scenario"] == scenario) & (df["ber"] == ber)].sort_values("device_diameter_m") if not df.empty else df
            if g.empty:
                continue
            label = f"BER {ber:g}" + (" (no variability)" if scenario == "nominal" else "")
            kw = {"color": f"C{i}", "ms": 4, "label": label}
            axes[0].plot(g["device_diameter_m"] * 1e9, g["t_pulse_s"] * 1e9, style, **kw)
            axes[1].plot(g["device_diameter_m"] * 1e9, g["energy_j"] * 1e12, style, **kw)
    axes[0].set_ylabel("pulse length T* (ns)")
    axes[1].set_ylabel("energy per write (pJ)")
    for ax in axes:
        ax.set_xlabel("MTJ diameter (nm)")
        ax.grid(alpha=0.3)
    axes[1].set_yscale("log")
    axes[0].legend(fontsize=7)
    fig.suptitle("device size at fixed RA, TMR, Jc0 (Vc fixed, Ic0 ~ d^2); SPICE + hybrid", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
