"""The analytic device summary: what a pulse of a given amplitude needs for each target BER.

At a fixed amplitude the energy is proportional to the pulse length (the current does not depend on
how long the pulse lasts), so the energy ratio of a target is T(BER) / T(1e-10).
"""

from __future__ import annotations

from typing import Any

from ..device.switching import SwitchingLaw

REFERENCE_BER = 1e-10


def device_report(law: SwitchingLaw, v_over_vc: float, target_bers: list[float]) -> dict[str, Any]:
    """Summary keys (SI) plus one entry per target: ber, t_pulse_s, energy_ratio."""
    device = law.device
    dist = law.distribution(v_over_vc)
    v_pulse = v_over_vc * device.critical_voltage_v
    t_reference = float(dist.isf(REFERENCE_BER))
    targets = []
    for ber in target_bers:
        t_pulse = float(dist.isf(ber))
        targets.append({"ber": ber, "t_pulse_s": t_pulse, "energy_ratio": t_pulse / t_reference})
    return {
        "v_over_vc": v_over_vc,
        "v_pulse_v": v_pulse,
        "r_p_ohm": device.r_p_ohm,
        "r_ap_ohm": float(device.r_ap_ohm(0.0)),
        "r_ap_at_pulse_ohm": float(device.r_ap_ohm(v_pulse)),
        "vc_v": device.critical_voltage_v,
        "ic0_a": device.critical_current_a,
        "mean_switching_time_s": dist.mean(),
        "skewness": dist.skewness(),
        "shape_k": dist.shape_k,
        "reference_ber": REFERENCE_BER,
        "targets": targets,
    }
