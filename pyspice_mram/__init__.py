"""pyspice-mram: stochastic ST-MRAM writes, from device physics and SPICE to approximate-memory training.

The physics layer is imported eagerly (it is light); the simulation, Monte Carlo, table and training
APIs are imported on first use, so `import pyspice_mram` does not load ngspice, pandas or matplotlib.
"""

from __future__ import annotations

import importlib
from typing import Any

from .calibration import calibrate_precessional, default_switching_law, paper_calibration
from .device import PAPER_DEVICE, MTJParameters
from .errors import ConfigError, DataError, OutputExistsError, ParameterError, SimulatorError, UserError
from .switching import GammaSwitchingTime, PrecessionalThermalSwitching, SwitchingLaw, TabulatedSwitching

__version__ = "0.1.0"

# public name -> module that defines it (imported lazily)
_LAZY = {
    "WriteCircuit": "circuit",
    "CircuitConditions": "circuit",
    "CircuitSample": "circuit",
    "nominal_write_energy": "write_energy",
    "brute_force_write": "bruteforce",
    "FrozenWrite": "hybrid",
    "write_curve": "hybrid",
    "load_config": "sweep_config",
    "run_sweep": "sweep",
    "build_table": "tables",
    "write_table": "tables",
    "load_table": "tables",
    "sweep_curves": "tables",
    "calibrate_intrinsic_spread": "tables",
    "load_mnist": "mnist",
    "BitErrorPolicy": "memory",
    "ApproximateMemory": "memory",
    "QFormat": "fixedpoint",
    "TrainingConfig": "training",
    "train": "training",
    "BitEnergyModel": "bit_energy",
    "run_paper": "paper",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "PAPER_DEVICE",
    "MTJParameters",
    "GammaSwitchingTime",
    "SwitchingLaw",
    "PrecessionalThermalSwitching",
    "TabulatedSwitching",
    "calibrate_precessional",
    "paper_calibration",
    "default_switching_law",
    "UserError",
    "ParameterError",
    "ConfigError",
    "DataError",
    "SimulatorError",
    "OutputExistsError",
    *_LAZY,
]
