"""Where the shipped inputs (SPICE models, netlists, sweep definitions) live.

In a source checkout they are the top-level folders `spice_models/`, `netlists/` and `montecarlo/`;
in an installed wheel the same folders are package data under `pyspice_mram/_data/`. Either way the
package finds them from any working directory.
"""

from __future__ import annotations

from pathlib import Path

from .errors import DataError

RESOURCE_FOLDERS = ("spice_models", "netlists", "montecarlo")
_PACKAGE_DIR = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    """The folder holding the shipped `name` resources (one of RESOURCE_FOLDERS)."""
    if name not in RESOURCE_FOLDERS:
        raise ValueError(f"unknown resource folder {name!r}; expected one of {RESOURCE_FOLDERS}")
    for candidate in (_PACKAGE_DIR.parent / name, _PACKAGE_DIR / "_data" / name):
        if candidate.is_dir():
            return candidate
    raise DataError(f"cannot find the package's {name}/ folder (looked next to and inside {_PACKAGE_DIR}); reinstall pyspice-mram")


def resource_file(folder: str, filename: str) -> Path:
    """A shipped file, with a clear error if it is missing."""
    path = resource_dir(folder) / filename
    if not path.is_file():
        raise DataError(f"missing {folder} file {filename!r} (looked in {path.parent})")
    return path


def spice_model(filename: str) -> Path:
    return resource_file("spice_models", filename)


def netlist(filename: str) -> Path:
    return resource_file("netlists", filename)


def sweep_config(filename: str) -> Path:
    return resource_file("montecarlo", filename)
