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


class RunInUseError(UserError):
    """A run folder is locked by another process running a sweep in it."""


class SweepInterrupted(Exception):
    """A sweep stopped on SIGINT/SIGTERM after saving its finished chunks (not an error of input)."""

    def __init__(self, signum: int, n_done: int, n_total: int, kept: bool) -> None:
        self.signum, self.n_done, self.n_total, self.kept = signum, n_done, n_total, kept
        if kept:
            text = f"interrupted: {n_done} of {n_total} samples done; continue with --resume"
        else:
            text = f"interrupted: 0 of {n_total} samples done, nothing kept; rerun the same command"
        super().__init__(text)
