"""Paper Fig. 2: programming energy versus target BER, without (black) and with (red, dashed)
variability, on logarithmic and linear BER axes, with the relative energy increase as insets. Given
the lookup table, the 95 % bootstrap intervals of its variability rows (energy and energy increase
over the device samples) are drawn as bands at the table's target BERs."""

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


def _interval_rows(table: pd.DataFrame | None) -> pd.DataFrame | None:
    """The direction-averaged `variability` rows of a table with intervals (first corner), BER increasing."""
    if table is None or "energy_ci_low_j" not in table.columns:
        return None
    rows = table[(table["scenario"] == "variability") & (table["direction"] == "average")]
    if "corner" in rows.columns and rows["corner"].nunique() > 1:
        rows = rows[rows["corner"] == rows["corner"].iloc[0]]
    rows = rows[(rows["ber"] >= BER_MIN) & (rows["ber"] <= 0.5)].sort_values("ber")
    finite = np.isfinite(rows[["energy_ci_low_j", "energy_ci_high_j", "energy_increase_ci_low", "energy_increase_ci_high"]]).all(axis=1)
    rows = rows[finite]
    return rows if len(rows) >= 2 else None


def plot_fig2(curves: pd.DataFrame, out_stem: Path, table: pd.DataFrame | None = None) -> list[Path]:
    """Write `<stem>_log.{png,pdf}` and `<stem>_linear.{png,pdf}` from `tables.sweep_curves` output
    (and, with `table`, the 95 % interval bands of its variability rows)."""
    ber_n, e_n = _energy_vs_ber(curves, "nominal")
    ber_v, e_v = _energy_vs_ber(curves, "variability")
    lo = max(ber_n.min(), ber_v.min(), BER_MIN)
    grid = np.logspace(np.log10(lo), np.log10(0.5), 200)
    increase = _relative_increase(ber_n, e_n, ber_v, e_v, grid)
    bands = _interval_rows(table)
    if bands is not None:  # the table's variance-reduced estimates, so that line and band belong together
        ber_v, e_v = bands["ber"].to_numpy(), bands["energy_j"].to_numpy()
        grid, increase = ber_v, bands["energy_increase"].to_numpy()
    paths = []
    for axis in ("log", "linear"):
        fig, ax = plt.subplots(figsize=(5.0, 3.6))
        ax.plot(ber_n, e_n * 1e12, "k-", label="no variability")
        ax.plot(ber_v, e_v * 1e12, "r--", label="with variability")
        if bands is not None:
            ax.fill_between(bands["ber"], bands["energy_ci_low_j"] * 1e12, bands["energy_ci_high_j"] * 1e12,
                            color="r", alpha=0.25, lw=0, label="95 % interval (devices)")
        ax.set_xscale(axis)
        if axis == "linear":
            ax.set_xlim(0.0, 0.5)
        ax.set_xlabel("target bit error rate")
        ax.set_ylabel("programming energy (pJ)")
        ax.grid(alpha=0.3)
        ax.legend(frameon=False, loc="lower left" if axis == "log" else "upper right")
        inset = ax.inset_axes([0.55, 0.55, 0.4, 0.38] if axis == "log" else [0.46, 0.3, 0.44, 0.32])
        inset.plot(grid, increase * 100, "r-", lw=1)
        if bands is not None:
            inset.fill_between(bands["ber"], bands["energy_increase_ci_low"] * 100, bands["energy_increase_ci_high"] * 100,
                               color="r", alpha=0.25, lw=0)
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
