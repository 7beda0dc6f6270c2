import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyspice_mram.errors import ParameterError
from pyspice_mram.training.fixedpoint import CODE_MAX, CODE_MIN, QFormat


@settings(max_examples=200, deadline=None)
@given(frac=st.integers(0, 20), x=st.floats(-1e6, 1e6, allow_nan=False))
def test_round_trip_within_half_lsb_or_saturates(frac, x):
    q = QFormat(frac)
    code = q.encode(x)
    assert code.dtype == np.int16
    back = float(q.decode(code))
    if q.min_value <= x <= q.max_value:
        assert abs(back - x) <= q.lsb / 2 + 1e-12
    elif x > q.max_value:
        assert int(code) == CODE_MAX
    else:
        assert int(code) == CODE_MIN


def test_format_properties():
    q = QFormat(15)
    assert q.name == "Q0.15"
    assert q.lsb == 2**-15
    assert q.max_value == pytest.approx(1 - 2**-15)
    assert q.min_value == -1.0
    np.testing.assert_array_equal(q.encode([5.0, -5.0, 0.5]), [CODE_MAX, CODE_MIN, 16384])


@pytest.mark.parametrize("bad", [-1, 25, 1.5, True])
def test_bad_frac_bits(bad):
    with pytest.raises(ParameterError, match="frac_bits"):
        QFormat(bad)


def test_format_that_cannot_hold_weights():
    with pytest.raises(ParameterError, match="use fewer fractional bits"):
        QFormat(15).check_holds(np.array([0.1, -1.5]))
    with pytest.raises(ParameterError, match="too coarse"):
        QFormat(0).check_holds(np.array([0.03]))
    QFormat(13).check_holds(np.array([0.1, -1.5]))


def test_encode_refuses_nan():
    with pytest.raises(ParameterError):
        QFormat(10).encode([np.nan])
