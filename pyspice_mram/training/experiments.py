"""The paper's training grids (Figs. 3, 4, 5): resumable runs, one JSON per configuration, figures.

Runs live in OUT/runs/<training-config tag>/<name>.json (see `config_tag`).

fig3: uniform BER sweep. fig4: n LSB in {8, 10, 12, 14} x LSB BER (1 % .. 90 %) with HSBs at 1 %,
plus two references per n: LSBs never updated (BER 100 %, a marker) and LSBs removed (dashed line).
fig5: recognition rate versus programming energy per weight write (all bits pulsed), from the fig3
and fig4 results (runs whatever is missing); the references are separate markers, not joined to the
curves. `formal`: the paper's reading of a "formal" network (tanh output, squared error; train it
with `TrainingConfig(output="tanh")`) at float, BER 0.1 %, BER 1 % and HSB 1 % / 8 LSBs at 50 %.
Every grid includes the reference run (`REFERENCE_STEM`: every bit at BER 1e-10, the same seeds and
data), against which every saving is computed.
Error bars are the range (min..max) over seeds, as in the paper.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, replace
from pathlib import Path
from typing import Callable, Collection, Sequence

import numpy as np

from ..atomic import atomic_write_text
from .bit_energy import WriteEnergyModel
from ..errors import DataError, ParameterError
from ..jsonio import to_json
from .memory import BitErrorPolicy
from .mnist import MNIST
from .programming_energy import REFERENCE_POLICY, add_savings, energy_report
from .train import TrainingConfig, train

NEVER_UPDATED_BER = 1.0
FIG3_BERS = (1e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 0.2)
FIG4_N_LSB = (8, 10, 12, 14)
FIG4_LSB_BERS = (0.01, 0.1, 0.3, 0.5, 0.7, 0.9, NEVER_UPDATED_BER)
HSB_BER = 0.01
FIGURES = ("fig3", "fig4", "fig5", "formal")
REFERENCE_STEM = "reference_1e-10"


def grid(figure: str) -> list[tuple[str, BitErrorPolicy | None]]:
    """(file stem, policy) of every configuration a figure needs, the reference run first."""
    reference = [(REFERENCE_STEM, REFERENCE_POLICY)]
    if figure == "fig3":
        return reference + [("float", None)] + [(f"uniform_{b:g}", BitErrorPolicy.uniform(b)) for b in FIG3_BERS]
    if figure == "fig4":
        out: list[tuple[str, BitErrorPolicy | None]] = reference + [("uniform_0.01", BitErrorPolicy.uniform(HSB_BER))]
        for n in FIG4_N_LSB:
            out += [(f"lsb{n}_{b:g}", BitErrorPolicy.two_stage(n, b, HSB_BER)) for b in FIG4_LSB_BERS]
            out.append((f"lsb{n}_removed", BitErrorPolicy.lsbs_removed(n, HSB_BER)))
        return out
    if figure == "fig5":
        seen: dict[str, BitErrorPolicy | None] = {}
        for stem, pol in grid("fig3") + grid("fig4"):
            if pol is not None:
                seen.setdefault(stem, pol)
        return list(seen.items())
    if figure == "formal":
        return reference + [("float", None), ("uniform_0.001", BitErrorPolicy.uniform(1e-3)),
                            ("uniform_0.01", BitErrorPolicy.uniform(1e-2)), ("lsb8_0.5", BitErrorPolicy.two_stage(8, 0.5, HSB_BER))]
    raise ParameterError(f"figure must be one of {FIGURES}, got {figure!r}")


def is_reference_point(name: str) -> bool:
    """Never-updated LSBs (BER 100 %) and removed LSBs: references drawn apart from the BER curves."""
    return name.endswith("_removed") or (name.startswith("lsb") and name.endswith(f"_{NEVER_UPDATED_BER:g}"))


def config_tag(config: TrainingConfig) -> str:
    """Folder name of one training configuration: readable sizes plus a hash of every field.

    Runs of different configurations (epochs, seeds, images, learning rate, Q format ...) land in
    different folders, so none overwrites another and each resumes on its own.
    """
    fields = asdict(config)
    digest = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:10]
    images = "all" if config.train_images is None else str(config.train_images)
    return f"e{config.epochs}-s{config.seeds}-n{images}-{digest}"


def run_figure(
    figure: str,
    out_dir: str | os.PathLike,
    data: MNIST,
    config: TrainingConfig = TrainingConfig(),
    energy_model: WriteEnergyModel | None = None,
    progress: bool = False,
    log: Callable[[str], None] = lambda s: None,
    jobs: int = 1,
    only: Collection[str] | None = None,
) -> list[dict]:
    """Run (or resume) a figure's grid; returns the per-configuration summaries and writes figures.

    `only` restricts the grid to the named configurations (file stems), for reduced runs; the
    reference run is always kept.

    Each run is stored as OUT/runs/<config_tag(config)>/<name>.json; a file already there is reused.
    Energies are (re)computed from the stored write counts with `energy_model` (so a resumed grid
    can be re-priced with another table without retraining), and every saving is against the
    grid's reference run (`REFERENCE_STEM`). With jobs > 1 the missing
    configurations train in parallel processes (one BLAS thread each); results do not depend on it.
    """
    out = Path(out_dir)
    runs = out / "runs" / config_tag(config)
    runs.mkdir(parents=True, exist_ok=True)
    model = energy_model or WriteEnergyModel.from_analytic()
    expected = asdict(config)
    done: dict[str, dict] = {}
    pending: list[tuple[str, BitErrorPolicy | None, Path]] = []
    configurations = [(stem, policy) for stem, policy in grid(figure) if only is None or stem in only or stem == REFERENCE_STEM]
    for stem, policy in configurations:
        path = runs / f"{stem}.json"
        if not path.is_file():
            pending.append((stem, policy, path))
            continue
        try:
            summary = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise DataError(f"cannot read the stored run {path}: {exc}; delete it to retrain") from None
        stored = summary.get("configuration", {})
        if any(stored.get(k) != v for k, v in expected.items()):
            raise DataError(f"stored run {path} was trained with another configuration; delete it to retrain")
        log(f"skip {stem} (done)")
        done[stem] = summary
    trained = _train_pending([(*item, config) for item in pending], data, model, jobs, progress, log)
    done.update({stem: summary for (stem, _), summary in trained.items()})
    reference = energy_report(REFERENCE_POLICY, done[REFERENCE_STEM]["memory"], model)
    for stem, policy in configurations:
        if policy is not None:
            done[stem]["energy"] = add_savings(energy_report(policy, done[stem]["memory"], model), reference)
    summaries = [{"name": stem, **done[stem]} for stem, _ in configurations]
    plot_figure(figure, summaries, out)
    return summaries


Pending = tuple[str, BitErrorPolicy | None, Path, TrainingConfig]
"""A configuration to train: file stem, policy (None for float), where its summary goes, training settings."""


def _train_pending(pending: list[Pending], data: MNIST, model: WriteEnergyModel, jobs: int, progress: bool,
                   log: Callable[[str], None]) -> dict[tuple[str, TrainingConfig], dict]:
    """Train and store the missing configurations, one by one or with jobs > 1 in parallel processes.

    One configuration (its seeds stacked) per task: stacking several configurations was measured no
    faster per replica, and single ones keep the processes busy until the last task (a group of 4
    left one of 2 processes idle for ~3 of 23 minutes of the full grid). A finished configuration is
    stored at once, so a killed grid loses only the ones in flight.
    """
    from joblib import Parallel, delayed

    done: dict[tuple[str, TrainingConfig], dict] = {}
    if jobs > 1 and len(pending) > 1:
        log(f"train {len(pending)} configurations on {jobs} processes: " + ", ".join(item[0] for item in pending))
        tasks = (delayed(_train_and_store)(data, item, model) for item in pending)
        for (stem, _, _, config), summary in zip(pending, Parallel(n_jobs=jobs, return_as="generator")(tasks)):
            log(f"done {stem}")
            done[stem, config] = summary
    else:
        for item in pending:
            log(f"train {item[0]}")
            done[item[0], item[3]] = _train_and_store(data, item, model, progress)
    return done


def train_missing(grids: Sequence[tuple[str, TrainingConfig]], out_dir: str | os.PathLike, data: MNIST,
                  energy_model: WriteEnergyModel | None = None, jobs: int = 1, log: Callable[[str], None] = lambda s: None,
                  only: Collection[str] | None = None, progress: bool = False) -> None:
    """Train every configuration that the (figure, training settings) `grids` need and that is not stored yet, all in one pool.

    Run before `run_figure`, it lets the grids of several figures, with different settings too,
    share the workers (then each `run_figure` finds its runs stored).
    """
    seen: dict[tuple[str, TrainingConfig], Pending] = {}
    for figure, config in grids:
        runs = Path(out_dir) / "runs" / config_tag(config)
        runs.mkdir(parents=True, exist_ok=True)
        for stem, policy in grid(figure):
            path = runs / f"{stem}.json"
            if (only is None or stem in only or stem == REFERENCE_STEM) and not path.is_file():
                seen.setdefault((stem, config), (stem, policy, path, config))
    _train_pending(list(seen.values()), data, energy_model or WriteEnergyModel.from_analytic(), jobs, progress, log)


def _train_and_store(data: MNIST, item: Pending, model: WriteEnergyModel, progress: bool = False) -> dict:
    """Train one configuration over all its seeds and store its summary atomically (a worker's job)."""
    _, policy, path, config = item
    summary = train(data, [policy], config, progress=progress)[0].summary(model)
    atomic_write_text(path, to_json(summary))
    return summary


def plot_figure(figure: str, summaries: list[dict], out: Path, stem: str | None = None,
                accuracy_floor: float | None = None) -> list[Path]:
    """PNG + PDF in the paper's style: mean recognition rate with min..max error bars.

    `stem` names the files (default: the figure); `accuracy_floor` (a fraction) zooms on the
    high-performance window, as the paper's Fig. 5b does.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 3.4))

    def bars(xs, rows, **kw):
        mean = np.array([r["accuracy_mean"] for r in rows]) * 100
        lo = mean - np.array([r["accuracy_min"] for r in rows]) * 100
        hi = np.array([r["accuracy_max"] for r in rows]) * 100 - mean
        style = {"capsize": 3, "marker": "o", "ms": 4, **kw}
        return ax.errorbar(xs, mean, yerr=[lo, hi], **style)

    if figure == "fig3":
        rows = [r for r in summaries if r["name"].startswith("uniform_")]
        bars([r["configuration"]["policy"]["ber_set"][0] for r in rows], rows, color="k")
        for r in summaries:
            if r["name"] == "float":
                ax.axhline(r["accuracy_mean"] * 100, ls=":", color="gray", label="float")
            if r["name"] == REFERENCE_STEM:
                ax.axhline(r["accuracy_mean"] * 100, ls="-.", lw=0.8, color="gray", label="BER 1e-10 (reference)")
        ax.set_xscale("log")
        ax.set_xlabel("programming BER")
    elif figure == "fig4":
        colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        for n, color in zip(FIG4_N_LSB, colors):
            rows = [r for r in summaries if r["name"].startswith(f"lsb{n}_") and not is_reference_point(r["name"])]
            if rows:
                bars([r["configuration"]["policy"]["ber_set"][0] * 100 for r in rows], rows, label=f"{n} LSBs", color=color)
            for r in summaries:
                if r["name"] == f"lsb{n}_{NEVER_UPDATED_BER:g}":  # reference: the LSBs keep their initial values
                    bars([NEVER_UPDATED_BER * 100], [r], color=color, ls="none", marker="x", ms=6)
                if r["name"] == f"lsb{n}_removed":  # reference: the LSBs do not exist
                    ax.axhline(r["accuracy_mean"] * 100, ls="--", lw=0.8, color=color)
        ax.plot([], [], "kx", ls="none", label="never updated (BER 100 %)")
        ax.plot([], [], "k--", lw=0.8, label="LSBs removed")
        ax.set_xlabel("LSB programming BER (%)")
    else:
        groups: dict[str, list[dict]] = {}
        references: list[dict] = []
        for r in summaries:
            if "energy" in r and "all_bits" in r["energy"] and r["name"] != REFERENCE_STEM:
                if is_reference_point(r["name"]):
                    references.append(r)
                else:
                    groups.setdefault(r["name"].split("_")[0], []).append(r)
        colors = {}
        for key, rows in groups.items():
            rows.sort(key=lambda r: r["energy"]["all_bits"]["energy_per_weight_write_j"])
            line = bars([r["energy"]["all_bits"]["energy_per_weight_write_j"] * 1e12 for r in rows], rows,
                        label="uniform" if key == "uniform" else key.replace("lsb", "") + " LSBs")
            colors[key] = line[0].get_color()
        for r in references:  # apart from the curves: a never-updated (x) or removed (open square) point
            marker = "s" if r["name"].endswith("_removed") else "x"
            bars([r["energy"]["all_bits"]["energy_per_weight_write_j"] * 1e12], [r], ls="none", marker=marker,
                 mfc="none", color=colors.get(r["name"].split("_")[0], "k"))
        if references:
            ax.plot([], [], "kx", ls="none", label="LSBs never updated")
            ax.plot([], [], "ks", mfc="none", ls="none", label="LSBs removed")
        ax.set_xlabel("programming energy per weight write (pJ)")
    ax.set_ylabel("recognition rate (%)")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    if accuracy_floor is not None:
        top = max([r["accuracy_max"] for r in summaries] + [accuracy_floor + 0.01]) * 100
        ax.set_ylim(accuracy_floor * 100, top + 0.2)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    paths = [out / f"{stem or figure}.png", out / f"{stem or figure}.pdf"]
    for p in paths:
        fig.savefig(p, dpi=150)
    plt.close(fig)
    return paths


def quick_config(epochs: int, seeds: int, train_images: int | None) -> TrainingConfig:
    return replace(TrainingConfig(), epochs=epochs, seeds=seeds, train_images=train_images)
