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

from ..errors import ConfigError
from .. import paths

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

SHIPPED_CONFIGS = ("paper", "quick", "corners")
DIRECTIONS = ("p2ap", "ap2p")
PROCESS_CORNERS = ("TT", "FF", "SS", "FS", "SF")
SIMULATORS = ("spice", "analytic")
MTJ_DISTRIBUTIONS = ("lognormal", "normal")
CRITICAL_VOLTAGE_MODELS = ("fixed", "tracks_ra")
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
        "critical_voltage": Key("str", "fixed", _one_of(CRITICAL_VOLTAGE_MODELS), f"one of {', '.join(CRITICAL_VOLTAGE_MODELS)}"),
        "intrinsic_ln_rate_sigma": Key("float", 0.0, _between(0.0, 1.0), "a sigma of ln(rate) in [0, 1]"),
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
        if unknown:
            raise ConfigError(f"unknown key {section}.{unknown[0]}; allowed keys in [{section}]: {', '.join(keys)}")
        values: dict[str, Any] = {}
        for name, key in keys.items():
            where = f"{section}.{name}"
            if name not in given:
                values[name] = list(key.default) if isinstance(key.default, list) else key.default
                continue
            value = _coerce(where, key.kind, given[name])
            if key.check is not None and not key.check(value):
                raise ConfigError(f"{where} = {given[name]!r} is out of range; allowed: {key.allowed}")
            values[name] = value
        data[section] = values
    if data["circuit"]["time_step_s"] * 20 > data["circuit"]["stop_time_s"]:
        raise ConfigError("circuit.time_step_s must be at most 1/20 of circuit.stop_time_s")
    return SweepConfig(data=data, source=source, text=text)


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
