"""Exception types. Every error a user can cause is a `UserError`: the CLI prints its message on one
line and exits non-zero, without a traceback."""


class UserError(Exception):
    """An error caused by input (a parameter, a file, a config): reported in one line."""


class ParameterError(UserError, ValueError):
    """A physical or numerical parameter is out of its valid range."""


class ConfigError(UserError, ValueError):
    """A sweep configuration is invalid (unknown key, wrong type, value out of range)."""


class DataError(UserError):
    """A data file (MNIST, table, checkpoint) is missing, corrupt or has the wrong schema."""


class SimulatorError(UserError, RuntimeError):
    """ngspice is missing, rejected a netlist, or did not converge."""


class OutputExistsError(UserError, FileExistsError):
    """An output path exists and would be overwritten."""
