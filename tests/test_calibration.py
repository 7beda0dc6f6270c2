import pytest

from pyspice_mram import default_switching_law, paper_calibration
from pyspice_mram.device.calibration import PAPER_ANCHORS, PaperAnchors, calibrate_precessional


def test_analytic_paper_anchors():
    law = default_switching_law()
    t_ref = law.pulse_for_ber(1e-10, 2.0)
    assert t_ref == pytest.approx(15.0e-9, abs=0.3e-9)
    for ber, saving in ((1e-4, 0.37), (1e-3, 0.45), (1e-2, 0.53)):
        model = 1.0 - law.pulse_for_ber(ber, 2.0) / t_ref  # energy proportional to T at fixed V
        assert model == pytest.approx(saving, abs=0.015)


def test_defaults_are_the_fit():
    fresh = calibrate_precessional(PAPER_ANCHORS)
    law = default_switching_law()
    assert law.tau_p_s == fresh.tau_p_s
    assert law.shape_k == fresh.shape_k


def test_fit_is_in_the_documented_range_with_small_residuals():
    cal = paper_calibration()
    assert 14.8 <= cal.shape_k <= 15.2
    assert cal.tau_p_s == pytest.approx(4.16e-9, rel=0.01)
    assert cal.rms_residual < 0.005
    assert all(abs(r) < 0.005 for r in cal.savings_residuals.values())
    assert law_skewness(cal.shape_k) == pytest.approx(0.52, abs=0.01)


def law_skewness(k: float) -> float:
    return 2.0 / k**0.5


def test_fit_follows_its_anchors():
    """A different anchor set gives a different fit: nothing is hard-wired."""
    wider = calibrate_precessional(PaperAnchors(savings=((1e-4, 0.45), (1e-3, 0.53), (1e-2, 0.61))))
    assert wider.shape_k < paper_calibration().shape_k
    shifted = calibrate_precessional(PaperAnchors(reference_pulse_s=30e-9))
    assert shifted.tau_p_s == pytest.approx(2 * paper_calibration().tau_p_s, rel=1e-6)
