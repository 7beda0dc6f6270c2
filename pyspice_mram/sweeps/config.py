"""Sweep definitions: TOML files in `montecarlo/`, loaded and validated into a `SweepConfig`.

Every key is declared below with its type, default and allowed range. An unknown (e.g. misspelt) key,
a wrong type or a value out of range raises `ConfigError` with one line naming the key (as
`section.key`) and what is allowed, so a sweep never starts on a silently ignored typo.

Only the sections that decide the per-sample results enter `sample_hash` (the identity checked by
`--resume`): the table options and the intrinsic-spread calibration knob are applied at table time on
the stored samples, so changing them never invalidates a run.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .. import paths
from ..circuit.driver import DriverParameters
from ..device.parameters import PAPER_DEVICE, MTJParameters
from ..errors import ConfigError, ParameterError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

SHIPPED_CONFIGS = ("paper", "quick", "corners")
DIRECTIONS = ("p2ap", "ap2p")
PROCESS_CORNERS = ("TT", "FF", "SS", "FS", "SF")
SIMULATORS = ("spice", "vacask", "ngspice-osdi", "analytic")
CIRCUIT_ENGINES = {"spice": "ngspice", "vacask": "vacask", "ngspice-osdi": "ngspice-osdi"}  # sweep simulator -> engine
MTJ_DISTRIBUTIONS = ("lognormal", "normal")
CRITICAL_HELD_FIXED = ("current", "voltage")
"""What a sample's RA draw leaves unchanged: the critical current (Vc = Ic0 R_P tracks RA) or Vc."""
DEFAULT_TARGETS = (1e-10, 1e-9, 1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 0.05, 0.1, 0.2, 0.3, 0.5)


@dataclass(frozen=True)
class Key:
    """One config key: its type ('float', 'int', 'str', 'bool', 'float_list', 'str_list'), default,
    a range check and the text shown when the check fails."""

    kind: str
    default: Any
    check: Callable[[Any], bool] | None = None
    allowed: str = ""


def _positive(x: float) -> bool:
    return math.isfinite(x) and x > 0


def _non_negative(x: float) -> bool:
    return math.isfinite(x) and x >= 0


def _between(lo: float, hi: float) -> Callable[[float], bool]:
    return lambda x: math.isfinite(x) and lo <= x <= hi


def _one_of(options: tuple[str, ...]) -> Callable[[Any], bool]:
    return lambda x: x in options


def _subset_of(options: tuple[str, ...]) -> Callable[[list], bool]:
    return lambda xs: len(xs) > 0 and len(set(xs)) == len(xs) and all(x in options for x in xs)


def _all(check: Callable[[float], bool]) -> Callable[[list], bool]:
    return lambda xs: len(xs) > 0 and len(set(xs)) == len(xs) and all(check(x) for x in xs)


SCHEMA: dict[str, dict[str, Key]] = {
    "sweep": {
        "name": Key("str", "sweep", lambda s: 0 < len(s) <= 64, "a non-empty name of at most 64 characters"),
        "description": Key("str", ""),
        "simulator": Key("str", "spice", _one_of(SIMULATORS), f"one of {', '.join(SIMULATORS)}"),
        "seed": Key("int", 0, lambda x: 0 <= x < 2**63, "an integer in [0, 2**63)"),
        "n_samples": Key("int", 100, lambda x: 1 <= x <= 10_000_000, "an integer in [1, 10000000]"),
        "directions": Key("str_list", list(DIRECTIONS), _subset_of(DIRECTIONS), "a non-empty list of distinct 'p2ap', 'ap2p'"),
        "chunk_size": Key("int", 50, lambda x: 1 <= x <= 100_000, "an integer in [1, 100000]"),
        "max_hours": Key("float", 24.0, lambda x: math.isfinite(x) and x > 0, "a number of hours > 0"),
    },
    "circuit": {
        "model_card": Key("str", "ptm_32nm_LP.pm", lambda s: s.endswith((".pm", ".lib")), "a shipped model file name ending in .pm or .lib"),
        "v_over_vc": Key("float", 2.0, _between(1.2, 4.0), "a number in [1.2, 4.0] (precessional regime)"),
        "stop_time_s": Key("float", 40e-9, _between(1e-9, 1e-6), "a time in [1e-9, 1e-6] s"),
        "time_step_s": Key("float", 50e-12, _between(1e-13, 1e-9), "a time in [1e-13, 1e-9] s"),
    },
    "corners": {
        "process": Key("str_list", ["TT"], _subset_of(PROCESS_CORNERS), f"a non-empty list of distinct {', '.join(PROCESS_CORNERS)}"),
        "vdd_scale": Key("float_list", [1.0], _all(_between(0.5, 1.5)), "a non-empty list of distinct numbers in [0.5, 1.5]"),
        "temperature_k": Key("float_list", [300.0], _all(_between(200.0, 450.0)), "a non-empty list of distinct temperatures in [200, 450] K"),
        "delvto_shift_v": Key("float", 0.040, _between(0.0, 0.2), "a voltage in [0, 0.2] V"),
        "mobility_shift": Key("float", 0.10, _between(0.0, 0.5), "a fraction in [0, 0.5]"),
    },
    "variability": {
        "mismatch": Key("bool", True),
        "a_vt_nmos_v_m": Key("float", 1.5e-9, _between(0.0, 1e-7), "a Pelgrom coefficient in [0, 1e-7] V.m (1.5e-9 = 1.5 mV.um)"),
        "a_vt_pmos_v_m": Key("float", 1.3e-9, _between(0.0, 1e-7), "a Pelgrom coefficient in [0, 1e-7] V.m (1.3e-9 = 1.3 mV.um)"),
        "a_mu_nmos_m": Key("float", 1.0e-8, _between(0.0, 1e-6), "a Pelgrom coefficient in [0, 1e-6] m (1e-8 = 1 %.um)"),
        "a_mu_pmos_m": Key("float", 1.0e-8, _between(0.0, 1e-6), "a Pelgrom coefficient in [0, 1e-6] m (1e-8 = 1 %.um)"),
        "global_delvto_sigma_v": Key("float", 0.0, _between(0.0, 0.1), "a voltage in [0, 0.1] V"),
        "global_mobility_sigma": Key("float", 0.0, _between(0.0, 0.3), "a fraction in [0, 0.3]"),
        "mtj_distribution": Key("str", "lognormal", _one_of(MTJ_DISTRIBUTIONS), f"one of {', '.join(MTJ_DISTRIBUTIONS)}"),
        "ra_sigma": Key("float", 0.05, _between(0.0, 0.3), "a relative sigma in [0, 0.3]"),
        "tmr_sigma": Key("float", 0.05, _between(0.0, 0.3), "a relative sigma in [0, 0.3]"),
        "critical_held_fixed": Key("str", "current", _one_of(CRITICAL_HELD_FIXED),
                                   "'current' (Ic0 = Jc0 x area is the device's; Vc = Ic0 R_P tracks RA) or 'voltage'"),
        "intrinsic_ln_rate_sigma": Key("float", 0.0, _between(0.0, 1.0), "a sigma of ln(rate) in [0, 1]"),
    },
    # The MTJ device (SI units, MTJParameters fields); defaults: the paper's device. Give either
    # critical_current_density_a_per_m2 or critical_voltage_v (then Jc0 = Vc / RA), not both.
    "device": {
        "diameter_m": Key("float", 32e-9, _between(5e-9, 500e-9), "a diameter in [5e-9, 500e-9] m"),
        "ra_ohm_m2": Key("float", 4e-12, _between(1e-13, 1e-10), "an RA product in [1e-13, 1e-10] Ohm.m^2 (4e-12 = 4 Ohm.um^2)"),
        "tmr0": Key("float", 1.5, _between(0.05, 10.0), "a TMR ratio in [0.05, 10] (1.5 = 150 %)"),
        "tmr_half_bias_v": Key("float", 0.5, _between(0.05, 5.0), "a voltage in [0.05, 5] V"),
        "critical_current_density_a_per_m2": Key("float", None, _between(1e8, 1e13),
                                                 "a current density in [1e8, 1e13] A/m^2 (4.75e10 = 4.75 MA/cm^2)"),
        "critical_voltage_v": Key("float", None, _between(0.01, 2.0), "a voltage in [0.01, 2] V"),
        "thermal_stability": Key("float", None, _between(5.0, 500.0), "a barrier in [5, 500] kT (default 70)"),
        # or the free layer's anisotropy (one of the two): Delta = K_eff x area x thickness / kT
        "anisotropy_energy_j_per_m3": Key("float", None, _between(1e3, 1e8), "an energy density in [1e3, 1e8] J/m^3"),
        "anisotropy_field_a_per_m": Key("float", None, _between(1e3, 1e8), "a field in [1e3, 1e8] A/m"),
        "free_layer_thickness_m": Key("float", 1.3e-9, _between(0.3e-9, 20e-9), "a thickness in [0.3e-9, 20e-9] m"),
        "saturation_magnetization_a_per_m": Key("float", 1.58 / (4e-7 * math.pi), _between(1e4, 1e7), "a magnetisation in [1e4, 1e7] A/m"),
        "attempt_time_s": Key("float", 1e-9, _between(1e-12, 1e-6), "a time in [1e-12, 1e-6] s"),
    },
    # The write driver (SI units, DriverParameters fields); defaults: the shipped netlist's driver.
    # resize_for_current = true widens the legs and the access device by Ic0 / Ic0(paper device).
    "driver": {
        "leg_pmos_width_m": Key("float", 1.6e-6, _between(50e-9, 100e-6), "a width in [50e-9, 100e-6] m"),
        "leg_nmos_width_m": Key("float", 0.8e-6, _between(50e-9, 100e-6), "a width in [50e-9, 100e-6] m"),
        "leg_length_m": Key("float", 32e-9, _between(20e-9, 1e-6), "a length in [20e-9, 1e-6] m"),
        "access_width_m": Key("float", 0.5e-6, _between(50e-9, 100e-6), "a width in [50e-9, 100e-6] m"),
        "access_length_m": Key("float", 32e-9, _between(20e-9, 1e-6), "a length in [20e-9, 1e-6] m"),
        "word_line_v": Key("float", 1.3, _between(0.5, 2.0), "a voltage in [0.5, 2.0] V"),
        "bl_resistance_ohm": Key("float", 100.0, _between(0.0, 1e5), "a resistance in [0, 1e5] Ohm"),
        "bl_capacitance_f": Key("float", 5e-15, _between(0.0, 1e-12), "a capacitance in [0, 1e-12] F"),
        "sl_resistance_ohm": Key("float", 100.0, _between(0.0, 1e5), "a resistance in [0, 1e5] Ohm"),
        "sl_capacitance_f": Key("float", 5e-15, _between(0.0, 1e-12), "a capacitance in [0, 1e-12] F"),
        "wl_capacitance_f": Key("float", 2e-15, _between(0.0, 1e-12), "a capacitance in [0, 1e-12] F"),
        "resize_for_current": Key("bool", False),
    },
    "analytic": {
        "series_resistance_ohm": Key("float", 2500.0, _between(0.0, 1e6), "a resistance in [0, 1e6] Ohm"),
        "gate_overdrive_v": Key("float", 0.5, _between(0.05, 2.0), "a voltage in [0.05, 2.0] V"),
    },
    "table": {
        "targets": Key("float_list", list(DEFAULT_TARGETS), _all(lambda x: math.isfinite(x) and 0.0 < x < 1.0), "a non-empty list of distinct BERs in (0, 1)"),
        "n_quadrature": Key("int", 24, lambda x: 4 <= x <= 200, "an integer in [4, 200]"),
    },
}

# Keys that only matter at table time: excluded from the identity of a run.
TABLE_TIME_KEYS = {("table", "targets"), ("table", "n_quadrature"), ("variability", "intrinsic_ln_rate_sigma"),
                   ("sweep", "name"), ("sweep", "description"), ("sweep", "max_hours")}

_TYPE_TEXT = {"float": "a number", "int": "an integer", "str": "a string", "bool": "true or false",
              "float_list": "a list of numbers", "str_list": "a list of strings"}


def _coerce(where: str, kind: str, value: Any) -> Any:
    """Type check one value (ints are accepted for floats, booleans never for numbers)."""
    def is_num(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    ok = {
        "float": is_num(value),
        "int": isinstance(value, int) and not isinstance(value, bool),
        "str": isinstance(value, str),
        "bool": isinstance(value, bool),
        "float_list": isinstance(value, list) and all(is_num(v) for v in value),
        "str_list": isinstance(value, list) and all(isinstance(v, str) for v in value),
    }[kind]
    if not ok:
        raise ConfigError(f"{where}: expected {_TYPE_TEXT[kind]}, got {type(value).__name__} {value!r}")
    if kind == "float":
        return float(value)
    if kind == "float_list":
        return [float(v) for v in value]
    return list(value) if kind == "str_list" else value


@dataclass(frozen=True)
class SweepConfig:
    """A validated sweep definition: `data[section][key]` holds every key, defaults filled in."""

    data: dict[str, dict[str, Any]]
    source: str = "<dict>"
    text: str = ""

    def __getitem__(self, section: str) -> dict[str, Any]:
        return self.data[section]

    @property
    def corners(self) -> list[tuple[str, float, float]]:
        """(process, vdd_scale, temperature_k) for every swept corner, in a fixed order."""
        c = self.data["corners"]
        return [(p, v, t) for p in c["process"] for v in c["vdd_scale"] for t in c["temperature_k"]]

    @property
    def n_tasks(self) -> int:
        """One task = one sample at one corner (index 0 of each corner is the nominal, no-variability sample)."""
        return len(self.corners) * (self.data["sweep"]["n_samples"] + 1)

    def sample_identity(self) -> dict[str, dict[str, Any]]:
        return {s: {k: v for k, v in keys.items() if (s, k) not in TABLE_TIME_KEYS} for s, keys in self.data.items()}

    @property
    def sample_hash(self) -> str:
        """sha256 of what decides the per-sample results (checked by --resume)."""
        blob = json.dumps(self.sample_identity(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()

    def with_changes(self, section: str, **changes: Any) -> "SweepConfig":
        """A re-validated copy with some keys of one section changed."""
        raw = {s: dict(keys) for s, keys in self.data.items()}
        raw.setdefault(section, {}).update(changes)
        return validate(raw, source=self.source)


def validate(raw: dict[str, Any], source: str = "<dict>", text: str = "") -> SweepConfig:
    """Check every section and key of a parsed TOML document; fill defaults."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: a sweep config must be a table of sections")
    unknown_sections = sorted(set(raw) - set(SCHEMA))
    if unknown_sections:
        raise ConfigError(f"unknown section [{unknown_sections[0]}]; allowed sections: {', '.join(SCHEMA)}")
    data: dict[str, dict[str, Any]] = {}
    for section, keys in SCHEMA.items():
        given = raw.get(section, {})
        if not isinstance(given, dict):
            raise ConfigError(f"{section}: expected a [{section}] table, got {type(given).__name__}")
        unknown = sorted(set(given) - set(keys))
        if section == "variability" and "critical_voltage" in unknown:
            raise ConfigError("variability.critical_voltage is now variability.critical_held_fixed: \"current\" (the default: "
                              "Ic0 is the free layer's, Vc = Ic0 R_P tracks RA; was \"tracks_ra\") or \"voltage\" (was \"fixed\")")
        if unknown:
            raise ConfigError(f"unknown key {section}.{unknown[0]}; allowed keys in [{section}]: {', '.join(keys)}")
        values: dict[str, Any] = {}
        for name, key in keys.items():
            where = f"{section}.{name}"
            if name not in given or (given[name] is None and key.default is None):  # None: an optional key left unset
                values[name] = list(key.default) if isinstance(key.default, list) else key.default
                continue
            value = _coerce(where, key.kind, given[name])
            if key.check is not None and not key.check(value):
                raise ConfigError(f"{where} = {given[name]!r} is out of range; allowed: {key.allowed}")
            values[name] = value
        data[section] = values
    if data["circuit"]["time_step_s"] * 20 > data["circuit"]["stop_time_s"]:
        raise ConfigError("circuit.time_step_s must be at most 1/20 of circuit.stop_time_s")
    config = SweepConfig(data=data, source=source, text=text)
    config_device(config)  # the device and the driver must build (e.g. not both Jc0 and Vc)
    config_driver(config)
    return config


def config_device(config: SweepConfig) -> MTJParameters:
    """The sweep's MTJ (`[device]`); Vc, when given, is kept as given (Jc0 = Vc / RA)."""
    d = {k: v for k, v in config["device"].items() if v is not None}
    vc, jc0 = d.pop("critical_voltage_v", None), d.pop("critical_current_density_a_per_m2", None)
    material = {k: d.pop(k) for k in ("anisotropy_energy_j_per_m3", "anisotropy_field_a_per_m") if k in d}
    if vc is not None and jc0 is not None:
        raise ConfigError("[device]: give critical_current_density_a_per_m2 or critical_voltage_v, not both")
    try:
        device = MTJParameters.from_materials(**material, **d) if material else MTJParameters(**d)
        if vc is not None:
            return device.with_changes(critical_voltage_v=vc)
        if jc0 is not None:
            return device.with_changes(critical_current_density_a_per_m2=jc0)
        return device
    except ParameterError as exc:
        raise ConfigError(f"[device]: {exc}") from None


def config_driver(config: SweepConfig) -> DriverParameters:
    """The sweep's driver (`[driver]`), widened by Ic0 / Ic0(paper) with resize_for_current."""
    d = dict(config["driver"])
    resize = d.pop("resize_for_current")
    try:
        driver = DriverParameters(**d)
    except ParameterError as exc:
        raise ConfigError(f"[driver]: {exc}") from None
    if resize:
        driver = driver.scaled_for_current(config_device(config).critical_current_a / PAPER_DEVICE.critical_current_a)
    return driver


def resolve_config_path(name_or_path: str | Path) -> Path:
    """A shipped config name ('paper', 'quick', 'corners') or a path to a TOML file."""
    text = str(name_or_path)
    if text in SHIPPED_CONFIGS:
        return paths.sweep_config(f"{text}.toml")
    path = Path(text)
    if not path.is_file():
        raise ConfigError(f"config {text!r} is neither a file nor a shipped config ({', '.join(SHIPPED_CONFIGS)})")
    return path


def loads(text: str, source: str = "<string>") -> SweepConfig:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML ({exc})") from None
    return validate(raw, source=source, text=text)


def load_config(name_or_path: str | Path | SweepConfig) -> SweepConfig:
    """Load and validate a sweep config (a SweepConfig passes through unchanged)."""
    if isinstance(name_or_path, SweepConfig):
        return name_or_path
    path = resolve_config_path(name_or_path)
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}); "
                          "save the config as UTF-8") from None
    return loads(text, source=str(path))


def to_toml(config: SweepConfig) -> str:
    """The validated config (all keys, defaults filled) as TOML text, for the run folder."""
    lines: list[str] = []
    for section, keys in config.data.items():
        lines.append(f"[{section}]")
        for name, value in keys.items():
            if value is not None:  # an optional key left unset (TOML has no null)
                lines.append(f"{name} = {_toml_value(value)}")
        lines.append("")
    return "\n".join(lines)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")
