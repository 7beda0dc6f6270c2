"""The simulation engine: one ngspice shared-library session per process, driven through PySpice.

Why a thin layer of our own over `PySpice.Spice.NgSpice.Shared.NgSpiceShared`:
- a circuit is loaded once and then re-simulated thousands of times with `alterparam` + `reset`
  (no netlist re-parse on our side, no PySpice netlist objects), which is what keeps a Monte Carlo
  sample cheap;
- ngspice reports errors as text on its stdout/stderr callbacks. We capture that text ourselves, decide
  what is an error (a rejected netlist, a non-converging transient) and raise a one-line
  `SimulatorError` with ngspice's own reason, instead of PySpice's generic exceptions and log spam;
- waveforms are copied straight from ngspice's vectors into NumPy arrays, and the plot is destroyed
  right after, so memory stays flat over thousands of runs (PySpice keeps every plot otherwise);
- a non-converging transient is retried with relaxed options before it is reported.
"""

from __future__ import annotations

import ctypes.util
import logging
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from ..errors import SimulatorError

INSTALL_HINT = "install ngspice's shared library: apt-get install ngspice libngspice0 (or set NGSPICE_LIBRARY_PATH)"

LIBRARY_ENV_VARS = ("PYSPICE_MRAM_NGSPICE_LIBRARY", "NGSPICE_LIBRARY_PATH")
KNOWN_LIBRARY_FILES = (
    "/usr/lib/x86_64-linux-gnu/libngspice.so.0",
    "/usr/lib/aarch64-linux-gnu/libngspice.so.0",
    "/usr/lib64/libngspice.so.0",
    "/usr/lib/libngspice.so.0",
    "/usr/local/lib/libngspice.so.0",
    "/usr/local/lib/libngspice.so",
    "/opt/homebrew/lib/libngspice.dylib",
    "/usr/local/lib/libngspice.dylib",
)
KNOWN_LIBRARY_NAMES = ("libngspice.so.0", "libngspice.so", "libngspice.dylib")

# Text in ngspice's output that means the analysis did not produce a valid result.
CONVERGENCE_PATTERNS = (
    "timestep too small",
    "singular matrix",
    "transient solution failed",
    "transient op failed",
    "gmin stepping failed",
    "source stepping failed",
    "iteration limit reached",
    "no convergence",
    "dc solution failed",
    "op failed",
)
# Text that means ngspice refused the netlist or a command.
REJECT_PATTERNS = (
    "error",
    "unknown",
    "could not find",
    "cannot",
    "can't",
    "not found",
    "fatal",
    "unrecognized",
    "undefined",
    "bad syntax",
    "syntax",
)
# Benign lines that contain a reject pattern but are not errors.
BENIGN_PATTERNS = (
    "note: can't find init file",
    "no compatibility mode selected",
    "warning:",
    "reference value",
    "no. of data rows",
    "doanalyses",  # followed by a specific reason we match separately
    "simulation interrupted",
)

# Relaxations tried in order when a transient does not converge: each is a set of `option` values.
DEFAULT_RELAXATIONS: tuple[Mapping[str, str], ...] = (
    {"method": "gear", "gmin": "1e-11"},
    {"method": "gear", "gmin": "1e-10", "reltol": "3e-3", "itl4": "100"},
    {"method": "gear", "gmin": "1e-9", "reltol": "5e-3", "abstol": "1e-10", "itl4": "200", "itl1": "500"},
)

_logger = logging.getLogger(__name__)


def find_library() -> str:
    """Path or loader name of libngspice: env var, then known files, then ctypes' search."""
    for var in LIBRARY_ENV_VARS:
        value = os.environ.get(var)
        if value:
            if not Path(value).is_file():
                raise SimulatorError(f"{var}={value} does not name a file; {INSTALL_HINT}")
            return value
    for candidate in KNOWN_LIBRARY_FILES:
        if Path(candidate).is_file():
            return candidate
    for name in ("ngspice",):
        found = ctypes.util.find_library(name)
        if found:
            return found
    for name in KNOWN_LIBRARY_NAMES:
        try:
            ctypes.CDLL(name)
        except OSError:
            continue
        return name
    raise SimulatorError(f"cannot find libngspice; {INSTALL_HINT}")


def split_vector_name(name: str) -> tuple[str | None, str]:
    """'v(blc)' -> ('v', 'blc'), 'i(vwr)' -> ('i', 'vwr'); any other name -> (None, name), lower case.

    Both engines take vectors by these SPICE names and map them to their own ('vwr#branch' here)."""
    name = name.strip().lower()
    m = re.fullmatch(r"([vi])\(([^(),]+)\)", name)
    return (m.group(1), m.group(2)) if m else (None, name)


def _vector_key(name: str) -> str:
    """'v(blc)' -> 'blc', 'i(vwr)' -> 'vwr#branch'; other names pass through (lower case)."""
    kind, node = split_vector_name(name)
    return f"{node}#branch" if kind == "i" else node


def format_value(value: float) -> str:
    """A number as ngspice reads it (full double precision, no unit suffix)."""
    value = float(value)
    if not math.isfinite(value):
        raise SimulatorError(f"cannot pass a non-finite value ({value!r}) to ngspice")
    return repr(value)


@dataclass
class TransientResult:
    """Waveforms of one transient, as NumPy arrays keyed by the names asked for ('v(x)', 'i(vsrc)')."""

    time_s: np.ndarray
    vectors: dict[str, np.ndarray]
    relaxation: Mapping[str, str] | None = None  # the relaxed options that made it converge, if any
    log: list[str] = field(default_factory=list)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.vectors[name]


def _make_shared_class():
    """Subclass PySpice's NgSpiceShared lazily, so importing this module never needs PySpice/ngspice."""
    try:
        from PySpice.Spice.NgSpice.Shared import NgSpiceShared, ffi
    except Exception as exc:  # pragma: no cover - PySpice is a dependency
        raise SimulatorError(f"cannot import PySpice's ngspice interface ({exc}); pip install PySpice") from None

    class _CapturingNgSpice(NgSpiceShared):
        """NgSpiceShared whose callbacks only record ngspice's output (no logging, no heuristics)."""

        @staticmethod
        def _send_char(message_c, ngspice_id, user_data):  # noqa: ANN001 - cffi callback
            self = ffi.from_handle(user_data)
            message = ffi.string(message_c).decode("utf-8", errors="replace")
            stream, _, content = message.partition(" ")
            self._captured.append((stream, content))
            (self._stderr if stream == "stderr" else self._stdout).append(content)  # PySpice's version probe reads these
            return 0

        @staticmethod
        def _send_stat(message, ngspice_id, user_data):  # noqa: ANN001
            return 0

        @staticmethod
        def _exit(exit_status, immediate_unloading, quit_exit, ngspice_id, user_data):  # noqa: ANN001
            self = ffi.from_handle(user_data)
            self._exited = int(exit_status)
            return exit_status

        @staticmethod
        def _background_thread_running(is_running, ngspice_id, user_data):  # noqa: ANN001
            return 0

        def __init__(self, library_path: str) -> None:
            self._captured: list[tuple[str, str]] = []
            self._exited: int | None = None
            self._library_path_override = library_path
            super().__init__(ngspice_id=0, send_data=False, verbose=False)

        @property
        def library_path(self) -> str:  # PySpice formats a template; we already know the file
            return self._library_path_override

    return _CapturingNgSpice, ffi


class NgSpice:
    """The process's ngspice session. Get it with `NgSpice.session()`; never construct two."""

    _instance: "NgSpice | None" = None
    _instance_pid: int | None = None

    @classmethod
    def session(cls) -> "NgSpice":
        """The one session of this process (a forked child gets its own)."""
        if cls._instance is None or cls._instance_pid != os.getpid():
            cls._instance = cls()
            cls._instance_pid = os.getpid()
        return cls._instance

    def __init__(self) -> None:
        # One thread per worker: parallelism comes from processes, not from OpenMP inside BSIM4.
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        library = find_library()
        shared_cls, self._ffi = _make_shared_class()
        pyspice_logger = logging.getLogger("PySpice")
        level = pyspice_logger.level
        pyspice_logger.setLevel(logging.ERROR)  # PySpice warns about every ngspice version it has no table for
        try:
            self._ng = shared_cls(library)
        except OSError as exc:
            raise SimulatorError(f"cannot load libngspice from {library} ({exc}); {INSTALL_HINT}") from None
        except Exception as exc:
            raise SimulatorError(f"ngspice failed to start from {library}: {exc}") from None
        finally:
            pyspice_logger.setLevel(level)
        self._lib = self._ng._ngspice_shared
        self._commands_since_flush = 0
        self.circuit_loaded = False
        self.deck: str | None = None
        self.circuit_title: str | None = None
        self._params: dict[str, str] = {}
        self._options: dict[str, str] = {}
        self._dirty = True
        self.version = self._ng._ngspice_version
        self.command("set num_threads=1")

    # --- low level --------------------------------------------------------------------------------
    def _take_output(self) -> list[tuple[str, str]]:
        out = self._ng._captured
        self._ng._captured = []
        self._ng._stdout, self._ng._stderr = [], []  # PySpice's own copies: never let them grow
        return out

    def command(self, text: str) -> list[str]:
        """Run one ngspice command; return its output lines; raise on an error or a fatal exit."""
        if self._ng._exited is not None:
            raise SimulatorError(f"ngspice exited (status {self._ng._exited}); restart the process")
        if len(text) > 1000:
            raise SimulatorError(f"ngspice command too long ({len(text)} characters)")
        self._commands_since_flush += 1
        if self._commands_since_flush > 5000:
            self._lib.ngSpice_Command(self._ffi.NULL)  # frees ngspice's command history
            self._commands_since_flush = 0
        self._take_output()
        rc = self._lib.ngSpice_Command(text.encode("ascii"))
        lines = self._take_output()
        if self._ng._exited is not None:
            raise SimulatorError(f"ngspice aborted on {text.split()[0]!r}: {self._reason(lines) or 'fatal error'}")
        if rc != 0:
            raise SimulatorError(f"ngspice refused {text!r}: {self._reason(lines) or f'return code {rc}'}")
        return [content for _, content in lines]

    @staticmethod
    def _reason(lines: Sequence[tuple[str, str]], patterns: Sequence[str] = REJECT_PATTERNS) -> str:
        """The first line that looks like an error (ngspice's own words), or ''."""
        for _, content in lines:
            low = content.strip().lower()
            if not low or any(b in low for b in BENIGN_PATTERNS if b != "doanalyses"):
                continue
            if any(p in low for p in patterns):
                return content.strip()
        return ""

    @staticmethod
    def _convergence_reason(lines: Sequence[str]) -> str:
        """The most specific failure line (patterns are in order of specificity), or ''."""
        for pattern in CONVERGENCE_PATTERNS:
            for line in lines:
                if pattern in line.lower():
                    return line.strip().removeprefix("doAnalyses:").strip()
        if any("aborted" in line.lower() for line in lines):
            return next(line.strip() for line in lines if "aborted" in line.lower())
        return ""

    # --- circuit ----------------------------------------------------------------------------------
    def load(self, deck: str) -> None:
        """Load a netlist (the full text, title line first); raise with ngspice's message if refused."""
        if self.circuit_loaded and deck == self.deck:
            return  # already the current circuit: parameters and options are all it needs
        lines = [line for line in deck.splitlines() if line.strip()]
        if not lines:
            raise SimulatorError("empty netlist")
        # An earlier circuit stays in ngspice's list (its `remove_circuit` also drops the subcircuit
        # definitions the new deck needs); a process normally loads one or two decks in its life.
        keep = [self._ffi.new("char[]", line.encode("utf-8")) for line in lines]
        keep.append(self._ffi.NULL)
        array = self._ffi.new("char *[]", keep)
        self._take_output()
        rc = self._lib.ngSpice_Circ(array)
        out = self._take_output()
        text_lines = [content for _, content in out]
        reason = self._reason(out)
        if rc != 0 or self._ng._exited is not None or reason or not self._has_circuit():
            self.circuit_loaded = False
            self.deck = None
            detail = reason or self._reason(out, ("warning",)) or "no circuit was created"
            raise SimulatorError(f"ngspice rejected the netlist: {detail}")
        _logger.debug("loaded circuit: %s", " | ".join(text_lines[-5:]))
        self.circuit_loaded = True
        self.deck = deck
        self.circuit_title = lines[0]
        self._params = {}
        self._options = {}
        self._dirty = True

    def _has_circuit(self) -> bool:
        out = self._take_output()
        self._lib.ngSpice_Command(b"listing")
        lines = self._take_output()
        self._ng._captured = out
        return not any("no circuit" in c.lower() for _, c in lines) and len(lines) > 1

    def set_params(self, params: Mapping[str, float]) -> bool:
        """`alterparam` every top-level .param whose value changed; True if any did (a reset is due)."""
        changed = False
        for name, value in params.items():
            text = format_value(value)
            if self._params.get(name) == text:
                continue
            out = self.command(f"alterparam {name}={text}")
            low = " ".join(out).lower()
            if "not found" in low or "error" in low:
                raise SimulatorError(f"ngspice has no parameter {name!r}: {' '.join(out).strip()}")
            self._params[name] = text
            changed = True
        return changed

    def set_options(self, options: Mapping[str, str]) -> None:
        for name, value in options.items():
            if self._options.get(name) != str(value):
                self.command(f"option {name}={value}")
                self._options[name] = str(value)

    def reset(self) -> None:
        """Re-build the loaded circuit with the current parameters (ngspice's `reset`)."""
        self.command("reset")

    # --- analyses ---------------------------------------------------------------------------------
    def transient(
        self,
        step_s: float,
        stop_s: float,
        max_step_s: float,
        vectors: Sequence[str],
        params: Mapping[str, float] | None = None,
        options: Mapping[str, str] | None = None,
        relaxations: Sequence[Mapping[str, str]] = DEFAULT_RELAXATIONS,
    ) -> TransientResult:
        """Run `tran` with the given parameters; retry with relaxed options if it does not converge.

        `options` are the baseline `.option` values of this circuit (restored after a relaxation).
        """
        if not self.circuit_loaded:
            raise SimulatorError("no circuit loaded")
        for name, value in (("step", step_s), ("stop time", stop_s), ("max step", max_step_s)):
            if not (math.isfinite(value) and value > 0):
                raise SimulatorError(f"transient {name} must be a finite number > 0 s, got {value!r}")
        base = dict(options or {})
        if self.set_params(params or {}):
            self._dirty = True
        attempts: list[Mapping[str, str] | None] = [None, *relaxations]
        reasons: list[str] = []
        for relax in attempts:
            if self._dirty:
                self.reset()  # re-builds the circuit; it also restores the netlist's own .options
                self._options = {}
                self._dirty = False
            self.set_options({**base, **(relax or {})})
            tran = f"tran {format_value(step_s)} {format_value(stop_s)} 0 {format_value(max_step_s)}"
            self._take_output()
            self._lib.ngSpice_Command(tran.encode("ascii"))
            lines = [content for _, content in self._take_output()]
            if self._ng._exited is not None:
                raise SimulatorError(f"ngspice aborted during the transient: {self._convergence_reason(lines) or 'fatal error'}")
            reason = self._convergence_reason(lines)
            result = None if reason else self._fetch(vectors, stop_s)
            self.command("destroy all")
            if result is not None and not isinstance(result, str):
                if relax is not None:
                    self._dirty = True  # the next run resets, which drops the relaxed options
                    _logger.info("transient converged with relaxed options %s", relax)
                result.relaxation = relax
                result.log = lines
                return result
            reasons.append(reason or str(result))
            self._dirty = True
        detail = reasons[0] if reasons[-1] == reasons[0] else f"{reasons[0]}; with relaxed options: {reasons[-1]}"
        raise SimulatorError(f"transient did not converge ({len(attempts)} attempts, baseline and relaxed options): {detail}")

    def _fetch(self, vectors: Sequence[str], stop_s: float) -> "TransientResult | str":
        """Copy the asked vectors of the current plot; a reason string if the run is incomplete."""
        plot = self._ffi.string(self._lib.ngSpice_CurPlot()).decode()
        if not plot.startswith("tran"):
            return f"no transient results (current plot {plot!r})"
        time = self._vector(plot, "time")
        if time is None or time.size < 2:
            return "no time points"
        if time[-1] < stop_s * (1 - 1e-9):
            return f"transient stopped at {time[-1]:.4g} s before {stop_s:.4g} s"
        out: dict[str, np.ndarray] = {}
        for name in vectors:
            arr = self._vector(plot, _vector_key(name))
            if arr is None:
                raise SimulatorError(f"the circuit has no vector {name!r} (is it saved?)")
            out[name] = arr
        return TransientResult(time_s=time, vectors=out)

    def _vector(self, plot: str, key: str) -> np.ndarray | None:
        info = self._lib.ngGet_Vec_Info(f"{plot}.{key}".encode())
        if info == self._ffi.NULL or info.v_realdata == self._ffi.NULL:
            return None
        n = int(info.v_length)
        return np.frombuffer(self._ffi.buffer(info.v_realdata, n * 8), dtype=np.float64).copy()
