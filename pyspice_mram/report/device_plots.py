"""Device figures in the style of the paper's Fig. 1c (switching probability vs pulse length) and
Fig. 1d (mean switching time and skewness vs pulse amplitude)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402

from ..device.switching import SwitchingLaw  # noqa: E402

FIG1C_OVERDRIVES = (1.5, 2.0, 2.5, 3.0)


def plot_switching_probability(law: SwitchingLaw, path: Path, overdrives: tuple[float, ...] = FIG1C_OVERDRIVES) -> Path:
    """Switching probability P(t_sw <= T) vs pulse length T, one curve per overdrive."""
    fig, ax = plt.subplots(figsize=(5.0, 3.6))
    t_max = 2.5 * float(law.distribution(min(overdrives)).mean())
    t = np.linspace(0.0, t_max, 600)
    for v in overdrives:
        ax.plot(t * 1e9, law.distribution(v).cdf(t), label=f"V/Vc = {v:g}")
    ax.set_xlabel("pulse length T (ns)")
    ax.set_ylabel("switching probability")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return path


def plot_switching_moments(law: SwitchingLaw, path: Path, v_min: float = 0.9, v_max: float = 4.0) -> Path:
    """Mean switching time (log axis) and skewness vs overdrive, with the V=2.0 Vc density as inset.

    Dotted lines mark the bridge between the thermal (k = 1, skewness 2) and precessional regimes.
    """
    v = np.linspace(v_min, v_max, 200)
    fig, ax = plt.subplots(figsize=(5.0, 3.6))
    ax.semilogy(v, np.asarray(law.mean_time_s(v)) * 1e9, color="C0")
    ax.set_xlabel("V_pulse / Vc")
    ax.set_ylabel("mean switching time (ns)", color="C0")
    ax.yaxis.set_major_formatter(matplotlib.ticker.LogFormatterSciNotation())
    for regime_edge in (getattr(law, "v_thermal", None), getattr(law, "v_precessional", None)):
        if regime_edge is not None and v_min < regime_edge < v_max:
            ax.axvline(regime_edge, color="0.7", lw=0.8, ls=":")
    top = ax.secondary_xaxis("top", functions=(lambda x: x * law.device.critical_voltage_v * 1e3,
                                               lambda mv: mv / (law.device.critical_voltage_v * 1e3)))
    top.set_xlabel("V_pulse (mV)")
    ax2 = ax.twinx()
    ax2.plot(v, law.skewness(v) * np.ones_like(v), color="C3")
    ax2.set_ylabel("skewness", color="C3")
    ax2.set_ylim(0.0, 2.1)
    inset = ax.inset_axes([0.55, 0.5, 0.3, 0.3])
    dist = law.distribution(2.0)
    t = np.linspace(0.0, 3.0 * dist.mean(), 300)
    inset.plot(t * 1e9, dist.pdf(t) * 1e-9, color="k", lw=1)
    inset.set_title("PDF at 2.0 Vc", fontsize=7)
    inset.tick_params(labelsize=6)
    inset.set_xlabel("t (ns)", fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return path
