"""Programming energy of a training run, in two accountings, and its saving against a reference run.

Accountings (each averaged over seeds, and given per seed):
- *all bits*: every stored bit of a word is pulsed whenever the word is written (the paper's Fig. 5);
  a word is written when its intended code differs from the stored one. Each pulsed bit is priced
  as the mean of its 0->1 and 1->0 energies, since the bit value written is not recorded (a weight's
  bits are as often 1 as 0 over a run in two's complement around zero). Removed LSBs and BER-1 bits
  (never written) cost 0.
- *changed bits*: only the bits that differ are pulsed (read-before-write); 0->1 writes are priced
  from the P->AP curve and 1->0 writes from the AP->P curve, each at its position's BER.

Savings compare the *same seeds and data* trained with every bit at the reference BER (1e-10): the
totals of both runs over the whole training, seed by seed (`saving` is over the seed-mean totals,
`saving_over_seeds` the paired per-seed savings with their interval). A policy's own write count is
never the baseline: failing writes change how often words are rewritten.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import DataError, ParameterError
from .bit_energy import REFERENCE_BER, WriteEnergyModel
from .memory import BitErrorPolicy
from .seed_statistics import over_seeds

REFERENCE_POLICY = BitErrorPolicy.uniform(REFERENCE_BER)


def policy_bit_energies(policy: BitErrorPolicy, model: WriteEnergyModel) -> tuple[np.ndarray, np.ndarray]:
    """(0->1, 1->0) energy per programmed bit at each position (LSB first), in J.

    Raises ParameterError when the model cannot price one of the policy's BERs (e.g. outside an
    energy table's range), so a caller can refuse a run before spending time on training. BER-0
    positions are priced as never written (`energy_report` refuses them).
    """
    e_set = np.asarray(model.energy_0to1_j(np.where(np.array(policy.ber_set) > 0, policy.ber_set, 1.0)))
    e_reset = np.asarray(model.energy_1to0_j(np.where(np.array(policy.ber_reset) > 0, policy.ber_reset, 1.0)))
    return e_set, e_reset


def energy_report(policy: BitErrorPolicy, stats: Sequence[dict], model: WriteEnergyModel,
                  reference: dict | None = None) -> dict:
    """Energies of one run (its per-seed memory `stats`); savings when `reference` is given.

    `reference` is the `energy_report` of the reference-BER run of the same seeds and data.
    A model that cannot price the policy gives {'model', 'error'} instead of raising, so a stored
    grid can still be reported.
    """
    try:
        e_set, e_reset = policy_bit_energies(policy, model)
    except ParameterError as exc:
        return {"model": model.describe(), "error": str(exc)}
    stored = np.arange(16) >= policy.removed_lsbs
    if np.any((np.array(policy.ber_set) == 0) & stored) or np.any((np.array(policy.ber_reset) == 0) & stored):
        return {"model": model.describe(), "error": "BER 0 bits have no finite programming energy (ideal memory)"}
    per_write_all = float(np.sum(0.5 * (e_set + e_reset) * stored))
    totals_all, totals_changed, writes, changed = [], [], [], []
    for s in stats:
        e_changed, n_changed = 0.0, 0
        for g in s["groups"]:
            if g.get("changed_bits_set") is None:
                raise DataError("a stored run lacks its 0->1 write counts (made by an older version); delete it to retrain")
            first = (g["mask"] & -g["mask"]).bit_length() - 1  # every position of a group has the same BER
            n_set = g["changed_bits_set"]
            e_changed += n_set * float(e_set[first]) + (g["changed_bits"] - n_set) * float(e_reset[first])
            n_changed += g["changed_bits"]
        totals_all.append(s["word_writes"] * per_write_all)
        totals_changed.append(e_changed)
        writes.append(s["word_writes"])
        changed.append(n_changed)
    n_words = stats[0]["words"] if stats else 0
    mean_writes = float(np.mean(writes)) if writes else 0.0
    report = {
        "model": model.describe(),
        "energy_per_bit_j": {"0to1": e_set.tolist(), "1to0": e_reset.tolist()},
        "word_writes_mean": mean_writes,
        "changed_bits_mean": float(np.mean(changed)) if stats else 0.0,
    }
    for name, totals in (("all_bits", totals_all), ("changed_bits", totals_changed)):
        total = float(np.mean(totals)) if stats else 0.0
        report[name] = {
            "energy_per_weight_write_j": per_write_all if name == "all_bits" else (total / mean_writes if mean_writes else 0.0),
            "total_per_run_j": total,
            "total_per_run_j_per_seed": [float(v) for v in totals],
            "total_per_synaptic_weight_j": total / n_words if n_words else 0.0,
        }
    if reference is not None:
        add_savings(report, reference)
    return report


def add_savings(report: dict, reference: dict) -> dict:
    """Fill `saving` (and per-seed savings) of both accountings in `report` against `reference`."""
    if "error" in reference:
        raise DataError(f"the reference run cannot be priced: {reference['error']}")
    if "error" in report:
        return report
    for name in ("all_bits", "changed_bits"):
        mine, ref = report[name], reference[name]
        if len(mine["total_per_run_j_per_seed"]) != len(ref["total_per_run_j_per_seed"]):
            raise DataError("the reference run has another number of seeds; train both with the same configuration")
        mine["reference_total_per_run_j"] = ref["total_per_run_j"]
        mine["saving"] = 1.0 - mine["total_per_run_j"] / ref["total_per_run_j"] if ref["total_per_run_j"] else None
        per_seed = [1.0 - a / b for a, b in zip(mine["total_per_run_j_per_seed"], ref["total_per_run_j_per_seed"]) if b]
        mine["saving_over_seeds"] = over_seeds(per_seed) if per_seed else None
    report["reference"] = f"the same seeds and data trained at BER {REFERENCE_BER:g} on every bit"
    return report
