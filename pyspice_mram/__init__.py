"""pyspice-mram: stochastic ST-MRAM writes, from device physics and SPICE to approximate-memory training.

The physics layer is imported eagerly (it is light); the simulation, Monte Carlo, table and training
APIs are imported on first use, so `import pyspice_mram` does not load ngspice, pandas or matplotlib.
"""

from __future__ import annotations

import importlib
from typing import Any

from .device.calibration import calibrate_precessional, default_switching_law, paper_calibration
from .device.parameters import PAPER_DEVICE, MTJParameters
from .errors import ConfigError, DataError, OutputExistsError, ParameterError, SimulatorError, UserError
from .device.switching import GammaSwitchingTime, PrecessionalThermalSwitching, SwitchingLaw, TabulatedSwitching

__version__ = "0.1.0"

# public name -> module that defines it (imported lazily)
_LAZY = {
    "WriteCircuit": "circuit.write_circuit",
    "CircuitConditions": "circuit.write_circuit",
    "CircuitSample": "circuit.write_circuit",
    "DriverParameters": "circuit.driver",
    "run_design_space": "sweeps.designspace",
    "nominal_write_energy": "circuit.write_energy",
    "brute_force_write": "circuit.bruteforce",
    "FrozenWrite": "circuit.hybrid",
    "write_curve": "circuit.hybrid",
    "load_config": "sweeps.config",
    "run_sweep": "sweeps.runner",
    "build_table": "sweeps.tables",
    "write_table": "sweeps.tables",
    "load_table": "sweeps.tables",
    "sweep_curves": "sweeps.tables",
    "calibrate_intrinsic_spread": "sweeps.tables",
    "load_mnist": "training.mnist",
    "BitErrorPolicy": "training.memory",
    "ApproximateMemory": "training.memory",
    "QFormat": "training.fixedpoint",
    "TrainingConfig": "training.train",
    "train": "training.train",
    "BitEnergyModel": "training.bit_energy",
    "run_paper": "report.paper",
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
