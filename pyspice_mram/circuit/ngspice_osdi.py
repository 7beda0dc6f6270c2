"""ngspice with the compiled Verilog-A MTJ (OSDI), where ngspice was built with OSDI support.

ngspice >= 39 can load OSDI models (`osdi` / `pre_osdi` commands, OSDI 0.4; OpenVAF-Reloaded writes
0.5, which ngspice >= 44 reads) when it was configured with `--enable-osdi`; Debian 12's ngspice 39.3
was not, so there the command does not exist. `ngspice_osdi_support` asks the running session and
says why not; `NgSpiceOsdi` is the `ngspice-osdi` engine: the same deck as `ngspice`, with the
macromodel subcircuit replaced by its Verilog-A twin (translated from it, `osdi.mtj_verilog_a`) as
the OSDI device of the same name, ports and parameters.
"""

from __future__ import annotations

import re
from typing import Mapping, Sequence

from ..errors import SimulatorError
from .ngspice import NgSpice, TransientResult
from .osdi import CompiledModel, compile_mtj

MTJ_SUBCKT = "mtj_pma"
MIN_VERSION = 44  # OSDI 0.5 (what openvaf-r writes) needs ngspice 44 or later


def ngspice_osdi_support(session: NgSpice | None = None) -> tuple[bool, str]:
    """(supported, reason) for this process's ngspice."""
    session = session or NgSpice.session()
    try:
        version = int(str(session.version).split(".")[0])
    except ValueError:
        version = 0
    try:  # no file: an OSDI build answers with its usage or an error, others with 'no such command'
        lines = session.command("pre_osdi")
    except SimulatorError as exc:
        lines = [str(exc)]
    if any("no such command" in line.lower() for line in lines):
        return False, f"ngspice {session.version} is built without OSDI support (no 'pre_osdi' command)"
    if version < MIN_VERSION:
        return False, f"ngspice {session.version} reads OSDI 0.4 only; openvaf-r writes OSDI 0.5 (needs ngspice >= {MIN_VERSION})"
    return True, f"ngspice {session.version} with OSDI"


def require_osdi(session: NgSpice) -> None:
    ok, reason = ngspice_osdi_support(session)
    if not ok:
        raise SimulatorError(f"the ngspice-osdi engine cannot run: {reason}")


def osdi_deck(deck: str, model: CompiledModel) -> str:
    """The ngspice deck with the MTJ subcircuit (inline or `mtj.lib`) dropped and each instance an OSDI device.

    OSDI exposes Verilog-A parameters as model parameters, so each instance gets its own `.model`
    whose values are the instance's (parameter expressions are re-evaluated on `reset`).
    """
    out: list[str] = []
    lines = deck.splitlines()
    i = 0
    inside = False
    while i < len(lines):
        line = lines[i]
        while i + 1 < len(lines) and lines[i + 1].lstrip().startswith("+"):
            i += 1
            line += " " + lines[i].lstrip()[1:]
        i += 1
        words = line.lower().split()
        if words[:2] == [".subckt", MTJ_SUBCKT]:
            inside = True
        if inside:
            inside = not (words[:1] == [".ends"])
            continue
        inc = re.match(r"^\s*\.(include|inc|lib)\s+\"?([^\"\s]+)\"?", line, flags=re.IGNORECASE)
        if inc and inc.group(2).lower().endswith("mtj.lib"):
            continue
        m = re.match(r"^\s*(x\S*)\s+(\S+)\s+(\S+)\s+(\S+)\s+" + MTJ_SUBCKT + r"\b(.*)$", line, flags=re.IGNORECASE)
        if m:
            name = m.group(1).lower()
            out.append(f".model {name}_model {model.module} {m.group(5).strip()}")
            out.append(f"n{name} {m.group(2)} {m.group(3)} {m.group(4)} {name}_model")
            continue
        out.append(line)
    return "\n".join(out) + "\n"


class NgSpiceOsdi:
    """The `ngspice-osdi` engine: this process's ngspice session, fed the OSDI deck."""

    name = "ngspice-osdi"

    def __init__(self, session: NgSpice) -> None:
        require_osdi(session)
        self.session = session
        self.version = session.version
        self.loaded_osdi: set[str] = set()
        self.deck: str | None = None
        self.osdi_text = ""

    def load(self, deck: str) -> None:
        if deck == self.deck:
            self.session.load(self.osdi_text)  # a no-op while it is the session's circuit
            return
        model = compile_mtj(deck)  # the Verilog-A twin of this deck's macromodel (its law)
        if str(model.path) not in self.loaded_osdi:
            self.session.command(f"osdi {model.path}")
            self.loaded_osdi.add(str(model.path))
        self.deck, self.osdi_text = deck, osdi_deck(deck, model)
        self.session.load(self.osdi_text)

    def transient(self, step_s: float, stop_s: float, max_step_s: float, vectors: Sequence[str],
                  params: Mapping[str, float] | None = None, options: Mapping[str, str] | None = None) -> TransientResult:
        return self.session.transient(step_s, stop_s, max_step_s, vectors, params=params, options=options)


_engines: dict[int, NgSpiceOsdi] = {}


def osdi_engine() -> NgSpiceOsdi:
    """This process's `ngspice-osdi` engine (a forked worker gets its own)."""
    import os

    pid = os.getpid()
    if pid not in _engines:
        _engines.clear()
        _engines[pid] = NgSpiceOsdi(NgSpice.session())
    return _engines[pid]
