"""Where a result came from: package and tool versions, git commit, input file hashes.

Collected once when a run starts (stored in its manifest) and carried by every table built from it, so
a table found on its own still says which config, seed, code, ngspice and model files produced it.
Nothing here may fail a run: an unknown item is recorded as null.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import platform
import shutil
import subprocess
from pathlib import Path
from typing import Any

from .. import paths


def package_version() -> str:
    from .. import __version__

    return __version__


def git_commit() -> str | None:
    """The commit of the source checkout the package runs from (None for an installed wheel)."""
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists() or shutil.which("git") is None:
        return None
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    commit = out.stdout.strip()
    return commit + ("+dirty" if dirty.returncode == 0 and dirty.stdout.strip() else "")


def ngspice_version() -> str | None:
    """ngspice's version line from the command-line binary (the shared library is the same release)."""
    exe = shutil.which("ngspice")
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, "-v"], capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None
    for line in (out.stdout + out.stderr).splitlines():
        if "ngspice-" in line:
            return line.strip("* ").strip()
    return None


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def input_hashes(model_card: str | None) -> dict[str, str]:
    """sha256 of the model card and of every shipped netlist (names relative to their folder)."""
    hashes: dict[str, str] = {}
    if model_card:
        try:
            hashes[f"spice_models/{model_card}"] = file_sha256(paths.spice_model(model_card))
        except Exception:  # noqa: BLE001 - provenance must not fail a run
            hashes[f"spice_models/{model_card}"] = "missing"
    try:
        for path in sorted(paths.resource_dir("netlists").glob("*")):
            if path.is_file() and path.suffix in (".cir", ".lib", ".sp", ".va"):
                hashes[f"netlists/{path.name}"] = file_sha256(path)
    except Exception:  # noqa: BLE001
        pass
    return hashes


def engine_record(simulator: str, config_data: dict[str, Any] | None = None) -> dict[str, str] | None:
    """The circuit engine of a SPICE sweep: name, version and, for the Verilog-A MTJ (translated from the
    macromodel of the sweep's device), the .osdi hash."""
    from .config import CIRCUIT_ENGINES, SweepConfig, config_device

    if simulator not in CIRCUIT_ENGINES:
        return None
    if simulator == "spice":  # no ngspice session in the coordinating process: the binary's version line
        return {"engine": "ngspice", "version": ngspice_version() or "unknown", "mtj_model": "spice_models/mtj.lib (macromodel)"}
    try:
        from ..circuit.engine import engine_provenance

        device = config_device(SweepConfig(config_data)) if config_data and "device" in config_data else None
        return engine_provenance(CIRCUIT_ENGINES[simulator], device=device)
    except Exception:  # noqa: BLE001 - provenance must not fail a run (the run itself reports the engine's error)
        return {"engine": CIRCUIT_ENGINES[simulator], "version": "unknown"}


def collect(config_data: dict[str, Any], config_hash: str, simulator: str) -> dict[str, Any]:
    """The provenance record of a run."""
    import numpy
    import scipy

    uses_spice = simulator != "analytic"
    return {
        "package": "pyspice-mram",
        "package_version": package_version(),
        "git_commit": git_commit(),
        "simulator": simulator,
        "ngspice_version": ngspice_version() if simulator in ("spice", "ngspice-osdi") else None,
        "engine": engine_record(simulator, config_data),
        "input_sha256": input_hashes(config_data.get("circuit", {}).get("model_card") if uses_spice else None),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "seed": config_data.get("sweep", {}).get("seed"),
        "config_hash": config_hash,
        "config": config_data,
        "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
