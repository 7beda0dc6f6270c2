"""The ngspice MTJ macromodel (`spice_models/mtj.lib`) against the Python physics it is generated from."""

from __future__ import annotations

import re

import numpy as np
import pytest
from scipy import stats

from pyspice_mram.device.calibration import default_switching_law
from pyspice_mram.device.parameters import PAPER_DEVICE, STATE_AP, STATE_P
from pyspice_mram.errors import ParameterError
from pyspice_mram.device.macromodel import (
    SUBCKT_PARAMETERS,
    device_parameters,
    draw_thresholds,
    instance_line,
    rate_table,
    render_mtj_library,
)
from pyspice_mram.paths import spice_model
from pyspice_mram.device.switching import TabulatedSwitching

LAW = default_switching_law()
VC = PAPER_DEVICE.critical_voltage_v
INTERFACE = (
    ".subckt mtj_pma fl pl st params: state0=0 frozen=0 thr_p2ap=1 thr_ap2p=1 ra_scale=1 tmr_scale=1 rate_scale=1"
)


# --- ngspice through the project's engine (one session per process) -------------------------------------
@pytest.fixture(scope="module")
def ngspice():
    from pyspice_mram.errors import SimulatorError
    from pyspice_mram.circuit.ngspice import NgSpice

    try:
        return NgSpice.session()
    except SimulatorError as exc:  # pragma: no cover - depends on the machine
        pytest.skip(f"ngspice not available: {exc}")


def simulate(ng, body: str, stop_s: float, max_step_s: float, vectors: list[str], **params: float) -> dict[str, np.ndarray]:
    """Load `body` (instances, sources) with the shipped library and run one transient; no relaxed retries."""
    ng.load(f"mtj macromodel test\n.include {spice_model('mtj.lib')}\n{body}\n.end\n")
    res = ng.transient(10e-12, stop_s, max_step_s, vectors, params=params, relaxations=())
    return {"time": res.time_s, **res.vectors}


def crossing_time(t: np.ndarray, s: np.ndarray, level: float = 0.5, rising: bool = True) -> float:
    """First time `s` crosses `level` (linear interpolation); NaN if it never does."""
    above = s > level if rising else s < level
    if not above.any():
        return float("nan")
    j = int(np.argmax(above))
    if j == 0:
        return float(t[0])
    return float(t[j - 1] + (level - s[j - 1]) * (t[j] - t[j - 1]) / (s[j] - s[j - 1]))


# --- generated files and pure-Python parts -----------------------------------------------------------------
def test_shipped_library_is_in_sync_with_generator():
    assert spice_model("mtj.lib").read_text() == render_mtj_library(), (
        "spice_models/mtj.lib is stale: python -m pyspice_mram.device.macromodel > spice_models/mtj.lib"
    )


def test_subckt_interface_is_the_agreed_one():
    text = render_mtj_library()
    assert INTERFACE in text.splitlines()
    assert "python -m pyspice_mram.device.macromodel > spice_models/mtj.lib" in text
    params = re.findall(r"(\w+)=", text[text.index(INTERFACE) :].split("\n.param")[0])
    assert tuple(params) == SUBCKT_PARAMETERS


def test_rate_table_interpolates_the_law():
    v, log_rate = rate_table(LAW)
    fine = np.linspace(0.0, v[-1], 20001)
    exact = -np.log10(LAW.mean_time_s(np.maximum(fine, 1e-9)))
    assert np.max(np.abs(np.interp(fine, v, log_rate) - exact)) < 1.05e-4
    assert 2.0 in v and v[0] == 0.0


def test_tabulated_law_renders_its_own_table():
    law = TabulatedSwitching(overdrive=(1.2, 1.5, 2.0, 3.0), mean_time_s_table=(20e-9, 8e-9, 4e-9, 2e-9), shape_table=(12, 13, 14, 15))
    v, log_rate = rate_table(law)
    for knot, mu in zip(law.overdrive, law.mean_time_s_table):
        assert -np.log10(mu) == pytest.approx(log_rate[np.argmin(np.abs(v - knot))], abs=1e-9)
    device = PAPER_DEVICE.with_changes(critical_voltage_v=0.2)
    text = render_mtj_library(law, device)
    assert "vc=0.2 " in text and f"{-np.log10(4e-9):.9g}" in text


def test_device_defaults_are_the_paper_device():
    text = render_mtj_library()
    for key, value in device_parameters(PAPER_DEVICE).items():
        assert re.search(rf"\b{key}={value:.9g}\b", text), key


def test_draw_thresholds_gamma_mean_one_and_reproducible():
    k = LAW.shape(2.0)
    x = draw_thresholds(k, np.random.SeedSequence(11), 200_000)
    assert abs(x.mean() - 1.0) < 0.002
    assert abs(x.var() - 1.0 / k) < 0.02 / k
    np.testing.assert_array_equal(x[:10], draw_thresholds(k, np.random.SeedSequence(11), 200_000)[:10])
    assert stats.kstest(x[:5000], stats.gamma(k, scale=1.0 / k).cdf).pvalue > 0.01
    with pytest.raises(ParameterError, match="shape_k"):
        draw_thresholds(0.0, 1, 3)
    with pytest.raises(ParameterError, match="seed"):
        draw_thresholds(15.0, "seed", 3)


def test_instance_line_formats_and_validates():
    line = instance_line("X7", "bl", "mid", "st7", state0=1, thr_p2ap=np.float64(1.25), frozen="{fz}")
    assert line == "X7 bl mid st7 mtj_pma state0=1 thr_p2ap=1.25 frozen={fz}"
    with pytest.raises(ParameterError, match="threshold"):
        instance_line("X1", "a", "b", "s", threshold=1.0)
    with pytest.raises(ParameterError, match="thr_ap2p"):
        instance_line("X1", "a", "b", "s", thr_ap2p=float("nan"))


# --- ngspice: static and operating point -------------------------------------------------------------------
def test_static_iv_matches_device_model(ngspice):
    """21 biases from -0.6 to 0.6 V as the 1 ns corners of a pwl ramp (breakpoints are exact time points)."""
    scaled = PAPER_DEVICE.with_changes(ra_ohm_m2=PAPER_DEVICE.ra_ohm_m2 * 1.1, tmr0=PAPER_DEVICE.tmr0 * 0.9)
    biases = np.linspace(-0.6, 0.6, 21)
    corners = np.arange(21) * 1e-9
    ramp = " ".join(f"{t:.6g} {v:.6g}" for t, v in zip(corners, biases))
    body = "\n".join(
        [
            f"V1 a 0 pwl({ramp})",
            "Vp a pa dc 0",
            instance_line("XP", "pa", "0", "sp", state0=0, frozen=1),
            "Vm a ma dc 0",
            instance_line("XA", "ma", "0", "sa", state0=1, frozen=1),
            "Vs a sb dc 0",
            instance_line("XS", "sb", "0", "ss", state0=1, frozen=1, ra_scale=1.1, tmr_scale=0.9),
        ]
    )
    out = simulate(ngspice, body, 20e-9, 0.2e-9, ["v(a)", "i(vp)", "i(vm)", "i(vs)", "v(sp)", "v(sa)"])
    idx = np.array([int(np.argmin(np.abs(out["time"] - t))) for t in corners])
    np.testing.assert_allclose(out["time"][idx], corners, atol=1e-15)
    v = out["v(a)"][idx]
    np.testing.assert_allclose(v, biases, atol=1e-9)
    nz = np.abs(v) > 1e-6
    for key, device, state in (("i(vp)", PAPER_DEVICE, STATE_P), ("i(vm)", PAPER_DEVICE, STATE_AP), ("i(vs)", scaled, STATE_AP)):
        measured = out[key][idx]
        expected = device.current_a(v, state)
        assert np.max(np.abs(measured[nz] / expected[nz] - 1.0)) < 0.005, key
        assert np.max(np.abs(measured[~nz])) < 1e-12
    np.testing.assert_allclose(out["v(sp)"], 0.0, atol=1e-9)
    np.testing.assert_allclose(out["v(sa)"], 1.0, atol=1e-9)


@pytest.mark.parametrize("state0", [STATE_P, STATE_AP])
def test_operating_point_starts_in_state0_under_bias(ngspice, state0):
    # the bias at t = 0 drives towards the *other* state: the latch must still settle in state0
    vbias = 0.5 if state0 == STATE_P else -0.5
    body = "\n".join(
        [
            f"V1 a 0 dc {vbias}",
            instance_line("X1", "a", "0", "st", state0=state0, thr_p2ap=1.0, thr_ap2p=1.0),
            "Rprobe st 0 1k",  # a probe on st must not disturb the state
        ]
    )
    out = simulate(ngspice, body, 0.3e-9, 50e-12, ["v(st)", "v(x1.qp)", "v(x1.qn)"])
    assert abs(out["v(st)"][0] - state0) < 1e-6
    assert np.max(np.abs(out["v(st)"] - state0)) < 1e-3
    assert abs(out["v(x1.qp)"][0]) < 1e-3 and abs(out["v(x1.qn)"][0]) < 1e-3


# --- ngspice: switching dynamics ---------------------------------------------------------------------------
def test_switches_p_to_ap_then_back_in_one_transient(ngspice):
    v = 2.0 * VC
    mu = LAW.mean_time_s(2.0)
    thr_p, thr_n = 0.9, 1.15
    body = "\n".join(
        [
            f"V1 a 0 pwl(0 0 1n 0 1.05n {v} 9n {v} 9.05n 0 12n 0 12.05n {-v} 20n {-v} 20.05n 0)",
            instance_line("X1", "a", "0", "st", state0=0, thr_p2ap=thr_p, thr_ap2p=thr_n),
        ]
    )
    out = simulate(ngspice, body, 24e-9, 50e-12, ["v(st)", "i(v1)"])
    t, s = out["time"], out["v(st)"]
    t_up = crossing_time(t, s, rising=True)
    after = t > t_up
    t_down = crossing_time(t[after], s[after], rising=False)
    # ramp edges of 50 ps: the progress at the start of the plateau is half an edge
    assert t_up - 1.025e-9 == pytest.approx(thr_p * mu, abs=60e-12)
    assert t_down - 12.025e-9 == pytest.approx(thr_n * mu, abs=60e-12)
    assert s[(t > 10e-9) & (t < 12e-9)].min() > 0.999
    assert abs(s[-1]) < 1e-3
    # resistance follows the state: AP conducts less at the same bias
    i = -out["i(v1)"]
    ratio = np.interp(2e-9, t, i) / np.interp(8.5e-9, t, i)
    assert ratio == pytest.approx(float(PAPER_DEVICE.r_ap_ohm(v) / PAPER_DEVICE.r_p_ohm), rel=0.005)


def test_frozen_never_switches(ngspice):
    body = "\n".join(
        [
            "V1 a 0 pwl(0 0 0.1n 0.6 15n 0.6 15.1n -0.6 30n -0.6)",
            instance_line("XP", "a", "0", "sp", state0=0, frozen=1, thr_p2ap=0.05, thr_ap2p=0.05),
            "V2 b 0 pwl(0 0 0.1n -0.6 15n -0.6 15.1n 0.6 30n 0.6)",
            instance_line("XA", "b", "0", "sa", state0=1, frozen=1, thr_p2ap=0.05, thr_ap2p=0.05),
            instance_line("XC", "a", "0", "sc", state0=0, frozen=0, thr_p2ap=0.05, thr_ap2p=0.05),
        ]
    )
    out = simulate(ngspice, body, 30e-9, 100e-12, ["v(sp)", "v(sa)", "v(sc)"])
    assert np.max(np.abs(out["v(sp)"])) < 1e-6
    assert np.max(np.abs(out["v(sa)"] - 1.0)) < 1e-6
    assert out["v(sc)"].max() > 0.999  # the same drive does switch an unfrozen cell


def test_progress_accumulates_over_sub_threshold_pulses(ngspice):
    """Two pulses of 0.6 mu each: no switch in the first, a switch 0.4 mu into the second (q = integral dt/mu)."""
    v = 2.0 * VC
    mu = LAW.mean_time_s(2.0)
    w = 0.6 * mu
    t1, t2 = 1e-9, 1e-9 + w + 3e-9
    body = "\n".join(
        [
            f"V1 a 0 pwl(0 0 {t1} 0 {t1 + 1e-12} {v} {t1 + w} {v} {t1 + w + 1e-12} 0 "
            f"{t2} 0 {t2 + 1e-12} {v} {t2 + w} {v} {t2 + w + 1e-12} 0)",
            instance_line("X1", "a", "0", "st", thr_p2ap=1.0),
        ]
    )
    out = simulate(ngspice, body, t2 + w + 1e-9, 50e-12, ["v(st)"])
    t_sw = crossing_time(out["time"], out["v(st)"])
    assert t_sw > t2
    assert t_sw - t2 == pytest.approx(0.4 * mu, abs=40e-12)


@pytest.mark.parametrize(("overdrive", "rate_scale"), [(1.3, 1.0), (3.0, 1.0), (2.0, 1.7)])
def test_switching_time_follows_law_at_other_biases(ngspice, overdrive, rate_scale):
    mu = LAW.mean_time_s(overdrive) / rate_scale
    thr = 0.8
    body = "\n".join(
        [
            f"V1 a 0 dc {overdrive * VC}",
            instance_line("X1", "a", "0", "sp", thr_p2ap=thr, rate_scale=rate_scale),
            f"V2 b 0 dc {-overdrive * VC}",
            instance_line("X2", "b", "0", "sa", state0=1, thr_ap2p=thr, rate_scale=rate_scale),
        ]
    )
    out = simulate(ngspice, body, 1.5 * thr * mu, 50e-12, ["v(sp)", "v(sa)"])
    assert crossing_time(out["time"], out["v(sp)"]) == pytest.approx(thr * mu, rel=0.002, abs=30e-12)
    assert crossing_time(out["time"], out["v(sa)"], rising=False) == pytest.approx(thr * mu, rel=0.002, abs=30e-12)


def _switching_times(ng, runs: int, seed: int, max_step_s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`runs` transients at +-2.0 Vc; thresholds drawn in Python, changed with alterparam + reset."""
    v = 2.0 * VC
    k = LAW.shape(2.0)
    mu = LAW.mean_time_s(2.0)
    x_p, x_n = draw_thresholds(k, np.random.SeedSequence(seed), (2, runs))
    body = "\n".join(
        [
            ".param thp=1 thn=1",
            f"V1 a 0 dc {v}",
            instance_line("X1", "a", "0", "sp", state0=0, thr_p2ap="{thp}"),
            f"V2 b 0 dc {-v}",
            instance_line("X2", "b", "0", "sa", state0=1, thr_ap2p="{thn}"),
        ]
    )
    ng.load(f"mtj switching-time statistics\n.include {spice_model('mtj.lib')}\n{body}\n.end\n")
    t_p = np.empty(runs)
    t_n = np.empty(runs)
    for r in range(runs):
        t_stop = 1.03 * max(x_p[r], x_n[r]) * mu + 0.2e-9
        res = ng.transient(10e-12, t_stop, max_step_s, ["v(sp)", "v(sa)"], params={"thp": x_p[r], "thn": x_n[r]}, relaxations=())
        t_p[r] = crossing_time(res.time_s, res["v(sp)"])
        t_n[r] = crossing_time(res.time_s, res["v(sa)"], rising=False)
    return t_p, t_n, x_p * mu, x_n * mu


def _check_distribution(t_sw: np.ndarray) -> tuple[float, float]:
    dist = LAW.distribution(2.0)
    assert np.all(np.isfinite(t_sw)), "some runs did not switch"
    p = stats.kstest(t_sw, dist.cdf).pvalue
    mean_err = t_sw.mean() / dist.mean() - 1.0
    assert p > 0.01
    assert abs(mean_err) < 0.02
    return p, mean_err


def test_switching_time_distribution_at_2vc(ngspice):
    """1000 MTJ transients (500 runs x both directions): t_sw ~ Gamma(k, mu/k) of the calibrated law."""
    t_p, t_n, ideal_p, ideal_n = _switching_times(ngspice, runs=500, seed=2024, max_step_s=50e-12)
    _check_distribution(t_p)
    _check_distribution(t_n)
    # per run, the delay from the threshold crossing to s = 1/2 is the latch's: tens of ps at most
    for measured, ideal in ((t_p, ideal_p), (t_n, ideal_n)):
        delay = measured - ideal
        assert 0.0 < np.median(delay) < 30e-12
        assert np.max(np.abs(delay)) < 60e-12


@pytest.mark.slow
def test_switching_time_distribution_at_2vc_large(ngspice):
    t_p, t_n, ideal_p, ideal_n = _switching_times(ngspice, runs=5000, seed=7, max_step_s=100e-12)
    _check_distribution(t_p)
    _check_distribution(t_n)
    # at a 100 ps maximum step the latch transition is not always resolved: +-55 ps measured over 2000 runs
    delay = np.concatenate([t_p - ideal_p, t_n - ideal_n])
    assert abs(np.mean(delay)) < 20e-12
    assert np.max(np.abs(delay)) < 80e-12
