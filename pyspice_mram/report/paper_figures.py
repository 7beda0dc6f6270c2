"""Paper Fig. 2: programming energy versus target BER, without (black) and with (red, dashed)
variability, on logarithmic and linear BER axes, with the relative energy increase as insets."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

BER_MIN = 1e-10


def _energy_vs_ber(curves: pd.DataFrame, scenario: str) -> tuple[np.ndarray, np.ndarray]:
    """(BER, energy) of one scenario's direction-averaged curve, BER increasing, within [1e-10, 0.5]."""
    rows = curves[(curves["scenario"] == scenario) & (curves["direction"] == "average")]
    if rows["corner"].nunique() > 1:
        rows = rows[rows["corner"] == rows["corner"].iloc[0]]
    ber = rows["ber"].to_numpy()
    energy = rows["energy_j"].to_numpy()
    keep = (ber >= BER_MIN) & (ber <= 0.5)
    order = np.argsort(ber[keep])
    return ber[keep][order], energy[keep][order]


def _relative_increase(ber_nom, e_nom, ber_var, e_var, grid):
    e_n = np.interp(np.log(grid), np.log(ber_nom), e_nom)
    e_v = np.interp(np.log(grid), np.log(ber_var), e_var)
    return e_v / e_n - 1.0


def plot_fig2(curves: pd.DataFrame, out_stem: Path) -> list[Path]:
    """Write `<stem>_log.{png,pdf}` and `<stem>_linear.{png,pdf}` from `tables.sweep_curves` output."""
    ber_n, e_n = _energy_vs_ber(curves, "nominal")
    ber_v, e_v = _energy_vs_ber(curves, "variability")
    lo = max(ber_n.min(), ber_v.min(), BER_MIN)
    grid = np.logspace(np.log10(lo), np.log10(0.5), 200)
    increase = _relative_increase(ber_n, e_n, ber_v, e_v, grid)
    paths = []
    for axis in ("log", "linear"):
        fig, ax = plt.subplots(figsize=(5.0, 3.6))
        ax.plot(ber_n, e_n * 1e12, "k-", label="no variability")
        ax.plot(ber_v, e_v * 1e12, "r--", label="with variability")
        ax.set_xscale(axis)
        if axis == "linear":
            ax.set_xlim(0.0, 0.5)
        ax.set_xlabel("target bit error rate")
        ax.set_ylabel("programming energy (pJ)")
        ax.grid(alpha=0.3)
        ax.legend(frameon=False, loc="lower left" if axis == "log" else "upper right")
        inset = ax.inset_axes([0.55, 0.55, 0.4, 0.38] if axis == "log" else [0.46, 0.3, 0.44, 0.32])
        inset.plot(grid, increase * 100, "r-", lw=1)
        inset.set_xscale(axis)
        inset.set_ylabel("increase (%)", fontsize=7)
        inset.tick_params(labelsize=6)
        fig.tight_layout()
        for suffix in (".png", ".pdf"):
            path = out_stem.with_name(f"{out_stem.name}_{axis}{suffix}")
            fig.savefig(path, dpi=150)
            paths.append(path)
        plt.close(fig)
    return paths
