"""A reduced `paper` run end to end: every promised file exists and the comparison CSV parses."""

import math

import pandas as pd
import pytest

from pyspice_mram.cli import main
from pyspice_mram.report.paper import run_paper
from pyspice_mram.report.paper_report import PAPER_QUANTITIES, compare_to_paper, headline
from pyspice_mram.sweeps.config import load_config, to_toml
from pyspice_mram.training.experiments import REFERENCE_STEM
from pyspice_mram.training.train import TrainingConfig

FIGURES = [
    "fig1c_switching_probability", "fig1d_mean_skewness", "fig2_energy_vs_ber_log", "fig2_energy_vs_ber_linear",
    "fig3", "fig4", "fig5a", "fig5b",
]


@pytest.fixture(scope="module")
def reduced_run(tmp_path_factory, mnist_dir):
    out = tmp_path_factory.mktemp("paper")
    config = load_config("quick").with_changes("sweep", n_samples=4, chunk_size=2)
    config_path = out.parent / "tiny.toml"
    config_path.write_text(to_toml(config))
    training = TrainingConfig(epochs=1, seeds=1, train_images=200)
    result = run_paper(out, quick=True, jobs=1, data_dir=mnist_dir, progress=False, log=lambda s: None,
                       sweep_config=config_path, training=training)
    return out, result


def test_every_file_exists(reduced_run):
    out, _ = reduced_run
    for stem in FIGURES:
        for suffix in (".png", ".pdf"):
            path = out / "figures" / f"{stem}{suffix}"
            assert path.is_file() and path.stat().st_size > 1000, path
    for name in ("paper_vs_model.csv", "report.md", "report.html", "tables/energy_ber.parquet", "tables/energy_ber.csv"):
        assert (out / name).is_file(), name


def test_comparison_csv_parses_and_has_every_row(reduced_run):
    out, _ = reduced_run
    frame = pd.read_csv(out / "paper_vs_model.csv")
    assert list(frame.columns[:4]) == ["quantity", "role", "paper_value", "model_value"]
    assert {"model_ci_low", "model_ci_high", "within_tolerance", "fit_residual"} <= set(frame.columns)
    assert set(frame["role"]) == {"calibrated", "implied", "predicted"}
    assert len(frame) == len(PAPER_QUANTITIES)
    # the die-to-die scenario needs a response surface, which 4 devices cannot fit: only its rows are empty
    table = pd.read_parquet(out / "tables" / "energy_ber.parquet")
    process_rows = frame["quantity"].str.contains("die-to-die")
    assert "variability_process" not in set(table["scenario"])
    assert frame.loc[process_rows, "model_value"].isna().all()
    assert frame.loc[~process_rows, "model_value"].notna().all(), frame[frame["model_value"].isna()]
    nominal = frame.set_index("quantity").loc["T(BER 1e-10), nominal"]
    assert nominal["model_value"] == pytest.approx(15.0, abs=0.5)  # the nominal write does not depend on sample count


def test_report_says_quick_and_inlines_figures(reduced_run):
    out, _ = reduced_run
    assert "Quick run" in (out / "report.md").read_text()
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == len(FIGURES)


def test_rerun_reuses_finished_steps(reduced_run, mnist_dir):
    out, first = reduced_run
    config_path = out.parent / "tiny.toml"
    again = run_paper(out, quick=True, jobs=1, data_dir=mnist_dir, progress=False, log=lambda s: None,
                      sweep_config=config_path, training=TrainingConfig(epochs=1, seeds=1, train_images=200))
    assert again.timings_s["sweep_s"] < first.timings_s["sweep_s"]
    pd.testing.assert_frame_equal(again.comparison, first.comparison)


def test_tolerance_semantics():
    frame = compare_to_paper({"t_ref_nominal": 15.4, "accuracy_float": 98.5, "accuracy_ber_1e-2": 95.0})
    rows = frame.set_index("quantity")["within_tolerance"]
    assert rows["T(BER 1e-10), nominal"]
    assert rows["accuracy, float weights"]  # better than the paper is fine for accuracies
    assert not rows["accuracy, uniform BER 1 %"]  # 1.7 points below
    assert not rows["E(BER 1e-10), nominal"]  # not produced: NaN is never within
    assert math.isnan(frame.set_index("quantity").loc["E(BER 1e-10), nominal", "model_value"])


def test_paper_without_data_fails_in_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PYSPICE_MRAM_DATA", str(tmp_path / "nowhere"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    code = main(["paper", "--quick", "--out", str(tmp_path / "report"), "--data", str(tmp_path / "empty")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error:") and "\n" not in err
    assert not (tmp_path / "report").exists()


def _paper_number_forms() -> set[float]:
    """Every paper value of the comparison, in the units it might be typed in (%, fraction, ns, s, pJ, J)."""
    from pyspice_mram.report.paper_report import PAPER_QUANTITIES

    forms = set()
    for q in PAPER_QUANTITIES:
        v = q.paper_value
        forms |= {v, v / 100} if q.unit == "%" else {v, v * (1e-9 if q.unit == "ns" else 1e-12)}
    return forms


def _numeric_literals(path):
    import ast

    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Constant) and isinstance(node.value, float):
            yield node.lineno, node.value


def test_paper_values_live_only_in_the_comparison_and_the_calibration_anchors():
    """No paper number is typed anywhere else in the package (not as a default, a target or a choice)."""
    from pathlib import Path

    import pyspice_mram

    package = Path(pyspice_mram.__file__).parent
    allowed = {package / "report" / "paper_report.py", package / "device" / "calibration.py"}
    forms = _paper_number_forms()
    found = [f"{path.relative_to(package)}:{line}: {value!r}"
             for path in sorted(package.rglob("*.py")) if path not in allowed
             for line, value in _numeric_literals(path) if any(abs(value - f) <= 1e-9 * abs(f) for f in forms)]
    assert found == []


def test_the_lsb_count_follows_the_rule_not_the_paper():
    from pyspice_mram.report.paper import lsb_count_by_rule

    def run(acc):
        return {"accuracy_mean": acc}

    summaries = {"uniform_0.01": run(0.970), "lsb8_0.5": run(0.965), "lsb10_0.5": run(0.962), "lsb12_0.5": run(0.955),
                 "lsb14_0.5": run(0.90)}
    assert lsb_count_by_rule(summaries) == 10  # 12 loses 1.5 points
    summaries["lsb12_0.5"] = run(0.961)
    assert lsb_count_by_rule(summaries) == 12
    assert lsb_count_by_rule({"uniform_0.01": run(0.97), "lsb8_0.5": run(0.9), "lsb10_0.5": run(0.8)}) == 8  # none within
    assert lsb_count_by_rule({"lsb8_0.5": run(0.9)}) is None


def test_the_headline_counts_predicted_rows_only():
    import math

    from pyspice_mram.report.paper_report import PAPER_QUANTITIES, compare_to_paper, headline

    on_target = {q.key: q.paper_value for q in PAPER_QUANTITIES}
    frame = compare_to_paper(on_target)
    n_pred = sum(q.role == "predicted" for q in PAPER_QUANTITIES)
    n_cal = sum(q.role == "calibrated" for q in PAPER_QUANTITIES)
    assert headline(frame).startswith(f"{n_pred} of {n_pred} predicted quantities within tolerance")
    assert n_cal >= 5 and f"{n_cal} calibrated" in headline(frame)
    calibrated = frame[frame["role"] == "calibrated"]
    assert (calibrated["fit_residual"] == 0).all()
    assert frame[frame["role"] != "calibrated"]["fit_residual"].map(math.isnan).all()
    missed = dict(on_target, e_ref_nominal=on_target["e_ref_nominal"] * 2, t_ref_nominal=99.0)
    # a calibrated miss does not count; a predicted miss does
    assert headline(compare_to_paper(missed)).startswith(f"{n_pred - 1} of {n_pred} predicted")


def test_quick_run_trains_only_the_configurations_the_table_reads(reduced_run):
    from pyspice_mram.report.paper import QUICK

    out, _ = reduced_run
    stored = sorted(p.stem for p in (out / "training" / "quick" / "runs").glob("*/*.json"))
    assert stored == sorted(QUICK.configurations | {REFERENCE_STEM})  # and the reference of every saving
    assert QUICK.training.train_images is None and QUICK.training.epochs == 5  # the paper's training, fewer seeds


def test_quick_mode_does_not_count_the_rows_it_cannot_estimate():
    values = {q.key: q.paper_value for q in PAPER_QUANTITIES}  # every row exactly on the paper ...
    values["increase_1e-10"] = 20.0  # ... but a 100-device tail far off
    full = compare_to_paper(values)
    quick = compare_to_paper(values, quick=True)
    tail_keys = {"t_ref_variability", "increase_1e-10", "saving_1e-3_variability", "saving_1e-2_variability",
                 "t_ref_physical", "increase_1e-10_physical", "t_ref_process", "increase_1e-10_process", "saving_hsb1_lsb50"}
    tail = {q.quantity for q in PAPER_QUANTITIES if q.key in tail_keys}
    assert set(quick.loc[~quick["comparable"], "quantity"]) == tail
    assert full["comparable"].all()
    n_pred = sum(q.role == "predicted" for q in PAPER_QUANTITIES)
    n_tail_pred = sum(q.role == "predicted" for q in PAPER_QUANTITIES if q.key in tail_keys)
    # increase_1e-10 is implied, never counted: the off value changes no headline
    assert headline(full).startswith(f"{n_pred} of {n_pred} predicted quantities within tolerance")
    assert headline(quick).startswith(f"{n_pred - n_tail_pred} of {n_pred - n_tail_pred} predicted quantities")
    assert f"{n_tail_pred} predicted rows not comparable in quick mode, not counted" in headline(quick)


def test_report_opens_with_what_was_run_and_marks_rows(reduced_run):
    import re

    out, _ = reduced_run
    md = (out / "report.md").read_text()
    opening = md.split("## Paper vs model")[0]
    assert "This is a quick run: sweep 'tiny' with 4 Monte Carlo devices" in opening and "6 training configurations" in opening  # 5 and the reference
    assert re.search(r"\d+ s in all \(sweep \d+ s, training \d+ s\)", opening) and "The full run" in opening
    n_flagged = sum(not q.quick_comparable for q in PAPER_QUANTITIES)
    assert md.count("| not comparable in quick mode |") == n_flagged
    html = (out / "report.html").read_text()
    assert html.count("<td>not comparable in quick mode</td>") == n_flagged and "The full run" in html


PROBE = """<script>
window.addEventListener('load', () => {
  const probe = document.createElement('pre');
  probe.id = 'probe';
  probe.textContent = JSON.stringify([...document.images].map(i => [i.alt, i.complete && i.naturalWidth > 0, i.naturalWidth, i.naturalHeight]));
  document.body.appendChild(probe);
});
</script></body>"""


def _browser() -> str:
    import shutil

    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    pytest.skip("needs headless Chromium (Debian package chromium; `./run test` installs it)")


def _images_as_rendered(html_file, tmp_path) -> list[list]:
    """Open a copy of `html_file` in headless Chromium; (alt, loaded, width, height) of every image.

    The probe runs on the page's load event, which waits for every image; it is synchronous, so
    --dump-dom never races it.
    """
    import html
    import json
    import re
    import subprocess

    probe = tmp_path / "probe.html"
    probe.write_text(html_file.read_text().replace("</body>", PROBE))
    result = subprocess.run(
        [_browser(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=20000", "--dump-dom", probe.as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    found = re.search(r'<pre id="probe">(.*?)</pre>', result.stdout, re.S)
    assert found, f"no probe in the rendered page (exit {result.returncode}): {result.stderr[-2000:]}"
    return json.loads(html.unescape(found.group(1)))


def _png_size(path) -> tuple[int, int]:
    import struct

    return struct.unpack(">II", path.read_bytes()[16:24])


def test_report_html_figures_load_in_a_real_browser(reduced_run, tmp_path):
    out, result = reduced_run
    images = _images_as_rendered(out / "report.html", tmp_path)
    assert [alt for alt, *_ in images] == [caption for caption, _ in result.figures]
    for (alt, loaded, width, height), (_, png) in zip(images, result.figures):
        assert loaded and (width, height) == _png_size(png), alt
    # the check sees a broken figure: the first inline PNG with its header overwritten does not decode
    broken = tmp_path / "broken.html"
    text = (out / "report.html").read_text()
    start = text.index("data:image/png;base64,") + len("data:image/png;base64,")
    broken.write_text(text[:start] + "A" * 64 + text[start + 64:])
    (tmp_path / "b").mkdir()
    first, *rest = _images_as_rendered(broken, tmp_path / "b")
    assert first[1:] == [False, 0, 0] and all(r[1] for r in rest)
