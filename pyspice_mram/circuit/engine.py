"""One interface, several circuit simulators: what `WriteCircuit` needs from an engine.

An engine loads a circuit (the ngspice deck of the write circuit, the one description of it) and runs
transients with given top-level parameters, returning a `TransientResult` whose vectors are named
as in ngspice ('v(node)', 'i(source)') on the engine's own time points. Every estimator (frozen
writes, stochastic writes, the rail solver) is written against this, so they run unchanged on:

- `ngspice`: ngspice's shared library through PySpice, MTJ as the behavioural macromodel (`mtj.lib`);
- `vacask`: VACASK with the Verilog-A MTJ (translated from the deck's macromodel, compiled to OSDI)
  and BSIM4 as OSDI;
- `ngspice-osdi`: ngspice with the same compiled Verilog-A MTJ, where ngspice was built with OSDI
  (ngspice >= 39 with `--enable-osdi`; Debian 12's build has none, see `ngspice_osdi_support`).

Each is one session per process (one worker = one process).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping, Protocol, Sequence

from ..errors import ParameterError
from .ngspice import NgSpice, TransientResult

if TYPE_CHECKING:
    from ..device.parameters import MTJParameters

SIMULATORS: tuple[str, ...] = ("ngspice", "vacask", "ngspice-osdi")


class Engine(Protocol):
    """What an engine offers `WriteCircuit` (both `NgSpice` and `VacaskEngine` have it)."""

    version: str

    def load(self, deck: str) -> None: ...

    def transient(
        self,
        step_s: float,
        stop_s: float,
        max_step_s: float,
        vectors: Sequence[str],
        params: Mapping[str, float] | None = None,
        options: Mapping[str, str] | None = None,
    ) -> TransientResult: ...


def check_simulator(name: str) -> str:
    if name not in SIMULATORS:
        raise ParameterError(f"simulator must be one of {', '.join(SIMULATORS)}, got {name!r}")
    return name


def engine_session(name: str) -> Engine:
    """This process's session of engine `name`."""
    check_simulator(name)
    if name == "vacask":
        from .vacask import VacaskEngine

        return VacaskEngine.session()
    if name == "ngspice-osdi":
        from .ngspice_osdi import osdi_engine

        return osdi_engine()
    return NgSpice.session()


def engine_provenance(name: str, device: "MTJParameters | None" = None) -> dict[str, str]:
    """Engine name, version and, for the Verilog-A engines, the SHA-256 of the compiled MTJ model.

    The Verilog-A MTJ is translated from the macromodel of the circuit's law, so its hashes depend
    on the device: those of the default law of `device` (the paper device when None), whatever
    circuit the process loaded last.
    """
    check_simulator(name)
    library = None
    if name != "ngspice":
        from ..device.calibration import default_switching_law
        from ..device.macromodel import render_mtj_library
        from ..device.parameters import PAPER_DEVICE

        device = device or PAPER_DEVICE
        library = render_mtj_library(default_switching_law(device), device)
    if name == "vacask":
        from .vacask import VacaskEngine

        return VacaskEngine.session().provenance(library)
    session = NgSpice.session()
    out = {"engine": name, "version": str(session.version), "mtj_model": "spice_models/mtj.lib (macromodel)"}
    if name == "ngspice-osdi":
        from .osdi import compile_mtj

        model = compile_mtj(library)
        out.update(mtj_model="mtj_pma of the deck as Verilog-A (OSDI)", mtj_va_sha256=model.source_sha256,
                   mtj_osdi_sha256=model.osdi_sha256)
    return out


__all__ = ["SIMULATORS", "Engine", "check_simulator", "engine_session", "engine_provenance"]
