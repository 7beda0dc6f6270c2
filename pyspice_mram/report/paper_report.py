"""The paper-vs-model comparison and the report files (`paper_vs_model.csv`, `report.md`, `report.html`).

Each published number of the paper (Locatelli, Vincent, Querlioz) is a `PaperQuantity` with the
tolerance the toolkit promises and its *role*:
- `calibrated`: a model constant was fitted to this very value (the row shows the fit residual);
- `implied`: it follows almost directly from a fit (no independent test of the model);
- `predicted`: everything else, the only rows the headline counts.
The model values are computed elsewhere; this module only compares and writes. The paper values
live here and in the calibration anchors only (a test scans the package for them).
"""

from __future__ import annotations

import base64
import html
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import pandas as pd

from ..atomic import atomic_write_text

ROLES = ("calibrated", "implied", "predicted")


@dataclass(frozen=True)
class PaperQuantity:
    key: str
    quantity: str
    paper_value: float
    unit: str
    tolerance: float
    role: str
    basis: str = ""  # what was fitted to it, or what it follows from
    at_least: bool = False  # True: any model value >= paper - tolerance is within (accuracies)
    quick_comparable: bool = True  # False: a quick run's budget cannot estimate it (see TAIL_ROW)

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, got {self.role!r}")

    def within(self, model_value: float) -> bool:
        if not math.isfinite(model_value):
            return False
        if self.at_least:
            return model_value >= self.paper_value - self.tolerance
        return abs(model_value - self.paper_value) <= self.tolerance

    @property
    def tolerance_text(self) -> str:
        return f">= {self.paper_value - self.tolerance:g}" if self.at_least else f"+-{self.tolerance:g}"


NOT_COMPARABLE = "not comparable in quick mode"

# A row resting on the array's BER-1e-10 point under variability is not comparable in quick mode: that
# point is set by the few weakest cells in a thousand, which a 100-device sweep barely samples (the
# variance-reduced estimate then leans on its response surface far beyond the sampled cells).
TAIL_ROW = {"quick_comparable": False}

_K_TAU = "k and tau_p of the switching law (device level, 2.0 Vc)"
_SIGMA = "the intrinsic ln-rate spread sigma (calibrated scenario)"
# Values in the units shown (the report's edge): ns, pJ, percent.
PAPER_QUANTITIES: tuple[PaperQuantity, ...] = (
    PaperQuantity("t_ref_nominal", "T(BER 1e-10), nominal", 15.0, "ns", 0.5, "calibrated", f"fitted: tau_p of {_K_TAU}"),
    PaperQuantity("e_ref_nominal", "E(BER 1e-10), nominal", 0.48, "pJ", 0.12, "predicted"),
    PaperQuantity("saving_1e-4_nominal", "saving at BER 1e-4 vs 1e-10, nominal", 37.0, "%", 2.0, "calibrated", f"fitted: k of {_K_TAU}"),
    PaperQuantity("saving_1e-3_nominal", "saving at BER 1e-3 vs 1e-10, nominal", 45.0, "%", 2.0, "calibrated", f"fitted: k of {_K_TAU}"),
    PaperQuantity("saving_1e-2_nominal", "saving at BER 1e-2 vs 1e-10, nominal", 53.0, "%", 2.0, "calibrated", f"fitted: k of {_K_TAU}"),
    PaperQuantity("t_ref_variability", "T(BER 1e-10), variability (calibrated spread)", 20.5, "ns", 0.7, "calibrated", f"fitted: {_SIGMA}", **TAIL_ROW),
    PaperQuantity("increase_1e-10", "energy increase from variability at BER 1e-10 (calibrated spread)", 36.8, "%", 4.0, "implied",
                  "follows from the fitted T(1e-10): energy is nearly proportional to pulse length", **TAIL_ROW),
    PaperQuantity("increase_1e-4", "energy increase from variability at BER 1e-4 (calibrated spread)", 17.6, "%", 4.0, "predicted"),
    PaperQuantity("saving_1e-3_variability", "saving at BER 0.1 % vs 1e-10, variability (calibrated spread)", 54.4, "%", 3.0, "predicted", **TAIL_ROW),
    PaperQuantity("saving_1e-2_variability", "saving at BER 1 % vs 1e-10, variability (calibrated spread)", 62.7, "%", 3.0, "predicted", **TAIL_ROW),
    PaperQuantity("t_ref_physical", "T(BER 1e-10), physical variability only (mismatch + RA/TMR)", 20.5, "ns", 0.7, "predicted", **TAIL_ROW),
    PaperQuantity("increase_1e-10_physical", "energy increase at BER 1e-10, physical variability only", 36.8, "%", 4.0, "predicted", **TAIL_ROW),
    PaperQuantity("increase_1e-4_physical", "energy increase at BER 1e-4, physical variability only", 17.6, "%", 4.0, "predicted"),
    PaperQuantity("t_ref_process", "T(BER 1e-10), physical + die-to-die process variation", 20.5, "ns", 0.7, "predicted", **TAIL_ROW),
    PaperQuantity("increase_1e-10_process", "energy increase at BER 1e-10, physical + die-to-die", 36.8, "%", 4.0, "predicted", **TAIL_ROW),
    PaperQuantity("increase_1e-4_process", "energy increase at BER 1e-4, physical + die-to-die", 17.6, "%", 4.0, "predicted"),
    PaperQuantity("accuracy_float", "accuracy, float weights", 97.2, "%", 0.5, "predicted", at_least=True),
    PaperQuantity("accuracy_ber_1e-3", "accuracy, uniform BER 0.1 %", 97.2, "%", 0.5, "predicted", at_least=True),
    PaperQuantity("accuracy_ber_1e-2", "accuracy, uniform BER 1 %", 96.7, "%", 1.0, "predicted"),
    PaperQuantity("saving_hsb1_lsb50", "saving, HSB 1 % / LSB 50 % (LSB count by rule, all bits pulsed)", 74.6, "%", 3.0, "predicted", **TAIL_ROW),
    PaperQuantity("accuracy_hsb1_lsb50", "accuracy, HSB 1 % / LSB 50 % (same LSB count)", 96.2, "%", 0.5, "predicted", at_least=True),
)


def compare_to_paper(model_values: dict[str, float], notes: dict[str, str] | None = None,
                     intervals: dict[str, tuple[float, float]] | None = None, quick: bool = False) -> pd.DataFrame:
    """One row per paper quantity, with its role and the 95 % interval of the model value where known.

    A quantity the run did not produce has model value NaN (not within). `fit_residual` (model -
    paper) is filled for calibrated rows: it says how well the fit hit its anchor, not a test.
    `comparable` is False for the rows a quick run cannot estimate; they are never counted as misses.
    """
    notes = notes or {}
    intervals = intervals or {}
    rows = []
    for q in PAPER_QUANTITIES:
        value = float(model_values.get(q.key, math.nan))
        low, high = intervals.get(q.key, (math.nan, math.nan))
        rows.append({
            "quantity": q.quantity,
            "role": q.role,
            "paper_value": q.paper_value,
            "model_value": value,
            "model_ci_low": float(low),
            "model_ci_high": float(high),
            "unit": q.unit,
            "tolerance": q.tolerance_text,
            "within_tolerance": q.within(value),
            "fit_residual": value - q.paper_value if q.role == "calibrated" else math.nan,
            "basis": q.basis,
            "note": notes.get(q.key, ""),
            "comparable": q.quick_comparable or not quick,
        })
    return pd.DataFrame(rows)


def headline(comparison: pd.DataFrame) -> str:
    """'N of M predicted quantities within tolerance', with what the other rows are.

    Only predicted rows that this run produced and can estimate count: calibrated rows were fitted to
    their paper value and implied rows follow from a fit, and a quick run's not-comparable rows are
    neither hits nor misses.
    """
    predicted = comparison[comparison["role"] == "predicted"]
    produced = predicted[predicted["model_value"].map(math.isfinite)]
    counted = produced[produced["comparable"]]
    counts = {role: int((comparison["role"] == role).sum()) for role in ROLES}
    text = (f"{int(counted['within_tolerance'].sum())} of {len(counted)} predicted quantities within tolerance"
            f" ({counts['calibrated']} calibrated rows, fitted to their paper value, and {counts['implied']} implied"
            f" row{'s' if counts['implied'] != 1 else ''} are not counted)")
    if len(counted) < len(produced):
        text += f"; {len(produced) - len(counted)} predicted rows {NOT_COMPARABLE}, not counted"
    missing = len(predicted) - len(produced)
    if missing:
        text += f"; {missing} predicted row{'s' if missing != 1 else ''} not produced by this run"
    return text + "."


def write_comparison_csv(frame: pd.DataFrame, path: Path) -> Path:
    atomic_write_text(path, frame.to_csv(index=False, float_format="%.6g"))
    return path


def _model_text(row) -> str:
    if not math.isfinite(row.model_value):
        return "n/a"
    text = f"{row.model_value:.4g}"
    if math.isfinite(row.model_ci_low) and math.isfinite(row.model_ci_high):
        text += f" [{row.model_ci_low:.4g}, {row.model_ci_high:.4g}]"
    return text


def _within_text(row) -> str:
    if not row.comparable:
        return NOT_COMPARABLE
    if row.role == "calibrated":
        return f"fit residual {row.fit_residual:+.3g}" if math.isfinite(row.fit_residual) else "n/a"
    return "yes" if row.within_tolerance else "no"


def _markdown_table(frame: pd.DataFrame) -> str:
    header = ("| quantity | role | paper | model [95 % interval] | unit | tolerance | within |\n"
              "|---|---|---:|---:|---|---|---|\n")
    lines = []
    for row in frame.itertuples(index=False):
        within = _within_text(row)
        within = f"**{within}**" if within == "no" else within
        lines.append(f"| {row.quantity} | {row.role} | {row.paper_value:g} | {_model_text(row)} | {row.unit} | {row.tolerance} | {within} |")
    return header + "\n".join(lines) + "\n"


def write_reports(
    out_dir: Path,
    comparison: pd.DataFrame,
    figures: Iterable[tuple[str, Path]],
    sections: Iterable[tuple[str, str]],
    quick: bool,
    opening: str = "",
) -> tuple[Path, Path]:
    """`report.md` (figures linked) and a self-contained `report.html` (figures inline as base64).

    `opening` (what was run, how long, what the full run adds) follows the banner.
    """
    figures = list(figures)
    sections = list(sections)
    title = "pyspice-mram: the paper reproduced from the models"
    banner = (
        "**Quick run**: fewer Monte Carlo devices, fewer training configurations and seeds. "
        "Run without `--quick` for the full reproduction."
        if quick
        else "Full run."
    )
    summary = headline(comparison)

    md = [f"# {title}", "", banner, "", opening, "", "## Paper vs model", "", summary, "", _markdown_table(comparison)]
    for heading, text in sections:
        md += [f"## {heading}", "", text, ""]
    md += ["## Figures", ""]
    for caption, path in figures:
        md += [f"### {caption}", "", f"![{caption}]({os.path.relpath(path, out_dir)})", ""]
    md_path = out_dir / "report.md"
    atomic_write_text(md_path, "\n".join(md))

    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;max-width:60em;margin:auto;padding:1em}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em}"
        ".no{color:#b00;font-weight:bold}img{max-width:100%}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{html.escape(banner.replace('**', ''))}</p>",
        f"<p>{html.escape(opening.replace('`', ''))}</p>",
        "<h2>Paper vs model</h2>",
        f"<p>{html.escape(summary)}</p>",
        "<table><tr><th>quantity</th><th>role</th><th>paper</th><th>model [95 % interval]</th><th>unit</th>"
        "<th>tolerance</th><th>within</th></tr>",
    ]
    for row in comparison.itertuples(index=False):
        within = _within_text(row)
        mark = "<span class='no'>no</span>" if within == "no" else html.escape(within)
        parts.append(
            f"<tr><td>{html.escape(row.quantity)}</td><td>{row.role}</td><td>{row.paper_value:g}</td>"
            f"<td>{html.escape(_model_text(row))}</td><td>{html.escape(row.unit)}</td><td>{html.escape(row.tolerance)}</td>"
            f"<td>{mark}</td></tr>"
        )
    parts.append("</table>")
    for heading, text in sections:
        parts.append(f"<h2>{html.escape(heading)}</h2><pre>{html.escape(text)}</pre>")
    parts.append("<h2>Figures</h2>")
    for caption, path in figures:
        data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
        parts.append(f"<h3>{html.escape(caption)}</h3><img alt='{html.escape(caption)}' src='data:image/png;base64,{data}'>")
    parts.append("</body></html>")
    html_path = out_dir / "report.html"
    atomic_write_text(html_path, "\n".join(parts))
    return md_path, html_path
