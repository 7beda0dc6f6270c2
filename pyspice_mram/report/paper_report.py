"""The paper-vs-model comparison and the report files (`paper_vs_model.csv`, `report.md`, `report.html`).

Each published number of the paper (Locatelli, Vincent, Querlioz) is a `PaperQuantity` with the
tolerance the toolkit promises. The model values are computed elsewhere; this module only compares
and writes.
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


@dataclass(frozen=True)
class PaperQuantity:
    key: str
    quantity: str
    paper_value: float
    unit: str
    tolerance: float
    at_least: bool = False  # True: any model value >= paper - tolerance is within (accuracies)
    quick_comparable: bool = True  # False: a quick run's budget cannot estimate it (see TAIL_ROW)

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
# point is set by the few weakest cells in a thousand (relative standard error 0.49 with 1000 devices),
# which a 100-device sweep does not contain.
TAIL_ROW = {"quick_comparable": False}

# Values in the units shown (the report's edge): ns, pJ, percent.
PAPER_QUANTITIES: tuple[PaperQuantity, ...] = (
    PaperQuantity("t_ref_nominal", "T(BER 1e-10), nominal", 15.0, "ns", 0.5),
    PaperQuantity("e_ref_nominal", "E(BER 1e-10), nominal", 0.48, "pJ", 0.12),
    PaperQuantity("saving_1e-4_nominal", "saving at BER 1e-4 vs 1e-10, nominal", 37.0, "%", 2.0),
    PaperQuantity("saving_1e-3_nominal", "saving at BER 1e-3 vs 1e-10, nominal", 45.0, "%", 2.0),
    PaperQuantity("saving_1e-2_nominal", "saving at BER 1e-2 vs 1e-10, nominal", 53.0, "%", 2.0),
    PaperQuantity("t_ref_variability", "T(BER 1e-10), variability", 20.5, "ns", 0.7, **TAIL_ROW),
    PaperQuantity("increase_1e-10", "energy increase from variability at BER 1e-10", 36.8, "%", 4.0, **TAIL_ROW),
    PaperQuantity("increase_1e-4", "energy increase from variability at BER 1e-4", 17.6, "%", 4.0),
    PaperQuantity("saving_1e-3_variability", "saving at BER 0.1 % vs 1e-10, variability", 54.4, "%", 3.0, **TAIL_ROW),
    PaperQuantity("saving_1e-2_variability", "saving at BER 1 % vs 1e-10, variability", 62.7, "%", 3.0, **TAIL_ROW),
    PaperQuantity("accuracy_float", "accuracy, float weights", 97.2, "%", 0.5, at_least=True),
    PaperQuantity("accuracy_ber_1e-3", "accuracy, uniform BER 0.1 %", 97.2, "%", 0.5, at_least=True),
    PaperQuantity("accuracy_ber_1e-2", "accuracy, uniform BER 1 %", 96.7, "%", 1.0),
    PaperQuantity("saving_hsb1_lsb50", "saving, HSB 1 % / LSB 50 % (best of 8, 10 LSBs)", 74.6, "%", 3.0, **TAIL_ROW),
    PaperQuantity("accuracy_hsb1_lsb50", "accuracy, HSB 1 % / LSB 50 % (same LSB count)", 96.2, "%", 0.5, at_least=True),
)


def compare_to_paper(model_values: dict[str, float], notes: dict[str, str] | None = None,
                     quick: bool = False) -> pd.DataFrame:
    """One row per paper quantity; a quantity the run did not produce has model value NaN (not within).

    `comparable` is False for the rows a quick run cannot estimate; they are never counted as misses.
    """
    notes = notes or {}
    rows = []
    for q in PAPER_QUANTITIES:
        value = float(model_values.get(q.key, math.nan))
        rows.append({
            "quantity": q.quantity,
            "paper_value": q.paper_value,
            "model_value": value,
            "unit": q.unit,
            "tolerance": q.tolerance_text,
            "within_tolerance": q.within(value),
            "note": notes.get(q.key, ""),
            "comparable": q.quick_comparable or not quick,
        })
    return pd.DataFrame(rows)


def write_comparison_csv(frame: pd.DataFrame, path: Path) -> Path:
    atomic_write_text(path, frame.to_csv(index=False, float_format="%.6g"))
    return path


def _within_text(row, markup: tuple[str, str]) -> str:
    if not row.comparable:
        return NOT_COMPARABLE
    return "yes" if row.within_tolerance else f"{markup[0]}no{markup[1]}"


def headline(comparison: pd.DataFrame) -> str:
    """'N of M paper quantities within tolerance', counting only the rows this run can estimate."""
    comparable = comparison[comparison["comparable"]]
    text = f"{int(comparable['within_tolerance'].sum())} of {len(comparable)} paper quantities within tolerance"
    if len(comparable) < len(comparison):
        text += f" ({len(comparison) - len(comparable)} {NOT_COMPARABLE}, not counted)"
    return text + "."


def _markdown_table(frame: pd.DataFrame) -> str:
    header = "| quantity | paper | model | unit | tolerance | within |\n|---|---:|---:|---|---|---|\n"
    lines = []
    for row in frame.itertuples(index=False):
        model = "n/a" if not math.isfinite(row.model_value) else f"{row.model_value:.4g}"
        mark = _within_text(row, ("**", "**"))
        lines.append(f"| {row.quantity} | {row.paper_value:g} | {model} | {row.unit} | {row.tolerance} | {mark} |")
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
        "<table><tr><th>quantity</th><th>paper</th><th>model</th><th>unit</th><th>tolerance</th><th>within</th></tr>",
    ]
    for row in comparison.itertuples(index=False):
        model = "n/a" if not math.isfinite(row.model_value) else f"{row.model_value:.4g}"
        mark = _within_text(row, ("<span class='no'>", "</span>"))
        parts.append(
            f"<tr><td>{html.escape(row.quantity)}</td><td>{row.paper_value:g}</td><td>{model}</td>"
            f"<td>{html.escape(row.unit)}</td><td>{html.escape(row.tolerance)}</td><td>{mark}</td></tr>"
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
