"""`--device FILE.toml` and the single device options shared by `device`, `write` and `designspace`.

A device file holds a `[device]` table and, for the circuit commands, a `[driver]` table, with the
same keys (SI units) as the sweep TOML's sections of those names, validated by the same schema. A
single option (`--diameter 45e-9`) overrides the file's value; what is given neither way is the
paper's device and the shipped driver.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable

import click

from ..circuit.driver import DriverParameters
from ..device.parameters import MTJParameters
from ..errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

SINGLE_OPTIONS: tuple[tuple[str, str, str], ...] = (
    ("--diameter", "diameter_m", "MTJ diameter (m), e.g. 45e-9."),
    ("--ra", "ra_ohm_m2", "RA product (Ohm.m^2), e.g. 4e-12 = 4 Ohm.um^2."),
    ("--tmr", "tmr0", "Zero-bias TMR ratio (1.5 = 150 %)."),
    ("--delta", "thermal_stability", "Thermal stability Delta (kT)."),
    ("--jc0", "critical_current_density_a_per_m2", "Critical current density Jc0 (A/m^2); Ic0 = Jc0 x area, Vc = Jc0 RA."),
    ("--vc", "critical_voltage_v", "Critical voltage Vc (V), kept as given (Jc0 = Vc / RA); instead of --jc0."),
)


def device_options(func: Callable) -> Callable:
    """Add `--device FILE` and the single device options (kwargs: device_file, diameter_m, ...)."""
    for flag, field, text in reversed(SINGLE_OPTIONS):
        func = click.option(flag, field, type=float, default=None, help=text)(func)
    return click.option("--device", "device_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
                        help="TOML file with a [device] (and [driver]) table, keys as in the sweep TOML.")(func)


def pop_device_options(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Take the device options out of a command's kwargs."""
    return {key: kwargs.pop(key) for key in ["device_file", *(field for _, field, _ in SINGLE_OPTIONS)]}


def _read_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"--device: {path} does not exist")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"--device {path}: not valid TOML ({exc})") from None
    unknown = sorted(set(raw) - {"device", "driver"})
    if unknown:
        raise ConfigError(f"--device {path}: unknown section [{unknown[0]}]; a device file holds [device] and [driver]")
    return raw


def resolve_device(options: dict[str, Any], resize_driver: bool = False) -> tuple[MTJParameters, DriverParameters]:
    """The (device, driver) of the options: file first, single options over it, validated as a sweep's."""
    from ..sweeps.config import config_device, config_driver, validate

    raw: dict[str, Any] = {"device": {}, "driver": {}}
    if options.get("device_file") is not None:
        for section, keys in _read_file(options["device_file"]).items():
            raw[section].update(keys)
    singles = {field: options.get(field) for _, field, _ in SINGLE_OPTIONS if options.get(field) is not None}
    if "critical_voltage_v" in singles:
        raw["device"].pop("critical_current_density_a_per_m2", None)
    if "critical_current_density_a_per_m2" in singles:
        raw["device"].pop("critical_voltage_v", None)
    raw["device"].update(singles)
    if resize_driver:
        raw["driver"]["resize_for_current"] = True
    config = validate(raw, source=str(options.get("device_file") or "the device options"))
    return config_device(config), config_driver(config)


def device_summary(device: MTJParameters, driver: DriverParameters | None = None) -> dict[str, Any]:
    """The device (and driver) as recorded in a command's JSON output (SI units)."""
    out: dict[str, Any] = {"device": {**{k: float(v) for k, v in device.__dict__.items()}, **device.summary()}}
    if driver is not None:
        out["driver"] = driver.summary()
    return out
