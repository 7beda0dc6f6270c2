import numpy as np
import pandas as pd
import pytest

from pyspice_mram.training.bit_energy import BitEnergyModel, analytic_energy_j
from pyspice_mram.device.calibration import default_switching_law
from pyspice_mram.errors import DataError, ParameterError


def test_analytic_savings_match_paper_anchors():
    m = BitEnergyModel.from_analytic()
    # paper: 37 / 45 / 53 % saving at BER 1e-4 / 1e-3 / 1e-2 (energy ~ pulse length at 2.0 Vc)
    np.testing.assert_allclose(m.saving([1e-4, 1e-3, 1e-2]), [0.37, 0.45, 0.53], atol=0.015)
    assert m.energy_per_bit_j(1.0) == 0.0
    e = m.energy_per_bit_j(np.array([1e-10, 1e-3, 0.5, 0.9]))
    assert np.all(np.diff(e) < 0)


def test_analytic_energy_bounds():
    law = default_switching_law()
    t = law.pulse_for_ber(1e-10, 2.0)
    v = 2.0 * 0.190
    from pyspice_mram.device.parameters import PAPER_DEVICE

    r_p, r_ap = PAPER_DEVICE.r_p_ohm, PAPER_DEVICE.r_ap_ohm(v)
    for d in ("p2ap", "ap2p"):
        e = analytic_energy_j(t, direction=d)
        assert v * v * t / r_ap < e < v * v * t / r_p
    # AP->P ends in the low-resistance state: it costs more
    assert analytic_energy_j(t, direction="ap2p") > analytic_energy_j(t, direction="p2ap")


def _frame():
    ber = np.array([1e-10, 1e-6, 1e-3, 0.5])
    rows = []
    for scen, scale in (("nominal", 1.0), ("variability", 1.3)):
        for d in ("p2ap", "ap2p", "average"):
            for b, t, e in zip(ber, [15e-9, 10e-9, 7e-9, 4e-9], [4e-13, 3e-13, 2e-13, 1e-13]):
                rows.append({"scenario": scen, "direction": d, "ber": b, "t_pulse_s": t, "energy_j": e * scale})
    return pd.DataFrame(rows)


def test_table_interpolates_in_log_ber():
    m = BitEnergyModel.from_table(_frame(), scenario="nominal")
    assert m.energy_per_bit_j(1e-3) == pytest.approx(2e-13)
    assert m.energy_per_bit_j(10**-4.5) == pytest.approx(2.5e-13)
    assert m.energy_per_bit_j(1.0) == 0.0
    v = BitEnergyModel.from_table(_frame())
    assert v.energy_per_bit_j(1e-10) == pytest.approx(1.3 * 4e-13)


def test_table_file(tmp_path):
    path = tmp_path / "t.csv"
    _frame().to_csv(path, index=False)
    assert BitEnergyModel.from_table(path, scenario="nominal").energy_per_bit_j(1e-6) == pytest.approx(3e-13)


def test_table_refusals():
    m = BitEnergyModel.from_table(_frame())
    with pytest.raises(ParameterError, match="outside"):
        m.energy_per_bit_j(0.9)
    with pytest.raises(ParameterError, match="BER 0"):
        m.energy_per_bit_j(0.0)
    with pytest.raises(ParameterError):
        m.energy_per_bit_j(1.5)
    with pytest.raises(DataError, match="no rows"):
        BitEnergyModel.from_table(_frame(), scenario="corner")
    with pytest.raises(DataError, match="column"):
        BitEnergyModel.from_table(_frame().drop(columns="energy_j"))


def test_energy_report_accountings():
    from pyspice_mram.training.bit_energy import WriteEnergyModel
    from pyspice_mram.training.memory import BitErrorPolicy
    from pyspice_mram.training.programming_energy import REFERENCE_POLICY, energy_report

    m = WriteEnergyModel.from_analytic()
    up, down = m.energy_0to1_j, m.energy_1to0_j
    assert abs(up(1e-4) / down(1e-4) - 1) > 0.05  # P->AP and AP->P differ: each direction has its own curve
    pol = BitErrorPolicy.two_stage(8, 0.5, 0.01)
    stats = [{"words": 100, "word_writes": 10, "groups": [
        {"mask": 0x00FF, "changed_bits": 30, "changed_bits_set": 10},
        {"mask": 0xFF00, "changed_bits": 4, "changed_bits_set": 3}]}]
    ref_stats = [{"words": 100, "word_writes": 12, "groups": [{"mask": 0xFFFF, "changed_bits": 40, "changed_bits_set": 15}]}]
    reference = energy_report(REFERENCE_POLICY, ref_stats, m)
    rep = energy_report(pol, stats, m, reference)
    per_write = 4 * (up(0.5) + down(0.5)) + 4 * (up(0.01) + down(0.01))
    ref_per_write = 8 * (up(1e-10) + down(1e-10))
    assert rep["all_bits"]["energy_per_weight_write_j"] == pytest.approx(per_write)
    assert rep["all_bits"]["total_per_run_j"] == pytest.approx(10 * per_write)
    # the saving is against the reference run's own 12 writes, not 16 x E_ref per write of this run
    assert rep["all_bits"]["saving"] == pytest.approx(1 - 10 * per_write / (12 * ref_per_write))
    changed = 10 * up(0.5) + 20 * down(0.5) + 3 * up(0.01) + 1 * down(0.01)
    assert rep["changed_bits"]["total_per_run_j"] == pytest.approx(changed)
    assert rep["changed_bits"]["saving"] == pytest.approx(1 - changed / (15 * up(1e-10) + 25 * down(1e-10)))
    assert "saving" not in energy_report(pol, stats, m)["all_bits"]  # no reference, no saving
    directional = BitErrorPolicy.uniform(0.01).with_reset_ber(0.1)
    stats = [{"words": 1, "word_writes": 1, "groups": [{"mask": 0xFFFF, "changed_bits": 5, "changed_bits_set": 2}]}]
    rep = energy_report(directional, stats, m)
    assert rep["changed_bits"]["total_per_run_j"] == pytest.approx(2 * up(0.01) + 3 * down(0.1))
    assert "error" in energy_report(BitErrorPolicy.exact(), stats, m)


def test_directional_model_reads_each_direction_from_the_table():
    from pyspice_mram.training.bit_energy import WriteEnergyModel

    frame = pd.DataFrame({"scenario": ["variability"] * 6, "direction": ["p2ap"] * 3 + ["ap2p"] * 3,
                          "ber": [1e-10, 1e-4, 1e-2] * 2, "energy_j": [7e-13, 4e-13, 3e-13, 5e-13, 3e-13, 2e-13]})
    m = WriteEnergyModel.from_table(frame)
    assert m.energy_0to1_j(1e-4) == pytest.approx(4e-13) and m.energy_1to0_j(1e-4) == pytest.approx(3e-13)
    assert m.ber_range == (1e-10, 1e-2)
