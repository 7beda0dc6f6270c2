"""The package's folders follow the data flow: a wing imports only the wings below it, never the CLI."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import pyspice_mram as pm

PACKAGE = Path(pm.__file__).resolve().parent
# bottom to top: each wing may import the wings before it in this list
WINGS = ("device", "circuit", "sweeps", "training", "report")
TOP_MODULES = {"errors", "atomic", "paths", "jsonio"}


def imported_modules(path: Path, package_dir: Path = PACKAGE) -> list[str]:
    """Absolute dotted names (inside pyspice_mram) that the module at `path` imports, lazily or not."""
    module = ".".join(path.relative_to(package_dir.parent).with_suffix("").parts)
    package = module.rsplit(".", 1)[0] if path.name != "__init__.py" else module.removesuffix(".__init__")
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if node.module is None:  # from . import a, b: each name may be a module
                names.extend(f"{target}.{alias.name}" for alias in node.names)
            else:
                names.append(target)
        elif isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
    return [n for n in names if n == "pyspice_mram" or n.startswith("pyspice_mram.")]


def wing_of(dotted: str) -> str | None:
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in (*WINGS, "cli") else None


def layering_violations(package: Path = PACKAGE) -> list[str]:
    found = []
    for path in sorted(package.rglob("*.py")):
        own = wing_of(".".join(path.relative_to(package.parent).with_suffix("").parts))
        if own is None or own == "cli":
            continue
        for target in imported_modules(path, package):
            other = wing_of(target)
            if other is None or other == own:
                continue
            if other == "cli" or WINGS.index(other) > WINGS.index(own):
                found.append(f"{path.relative_to(package)} imports {target}")
    return found


def test_every_wing_imports_only_wings_below_it():
    assert layering_violations() == []


def test_the_check_sees_an_upward_import(tmp_path):
    fake = tmp_path / "pyspice_mram"
    for wing in ("circuit", "training"):
        (fake / wing).mkdir(parents=True)
        (fake / wing / "__init__.py").write_text("")
    (fake / "circuit" / "lazy.py").write_text("def f():\n    from ..training.memory import ApproximateMemory\n")
    (fake / "training" / "cli_user.py").write_text("from ..cli.options import to_json\n")
    assert layering_violations(fake) == ["circuit/lazy.py imports pyspice_mram.training.memory",
                                         "training/cli_user.py imports pyspice_mram.cli.options"]


@pytest.mark.parametrize("wing", WINGS)
def test_each_wing_says_what_it_does_and_hands_on(wing):
    doc = (PACKAGE / wing / "__init__.py").read_text()
    text = ast.get_docstring(ast.parse(doc))
    assert text and "Hands to" in text
    top_level = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__", "__main__"}
    assert top_level == TOP_MODULES
