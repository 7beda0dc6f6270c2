"""pyspice-mram: stochastic ST-MRAM writes, from device physics and SPICE to approximate-memory training."""

from .calibration import calibrate_precessional, default_switching_law, paper_calibration
from .device import PAPER_DEVICE, MTJParameters
from .errors import ConfigError, DataError, OutputExistsError, ParameterError, SimulatorError, UserError
from .switching import GammaSwitchingTime, PrecessionalThermalSwitching, SwitchingLaw, TabulatedSwitching

__version__ = "0.1.0"

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
]
