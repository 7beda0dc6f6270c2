"""Option parsing and output helpers shared by the sub-commands."""

from __future__ import annotations

import math
import shlex
from pathlib import Path
from typing import Any

import click

from ..errors import DataError, OutputExistsError, ParameterError
from ..jsonio import to_json


def parse_ber_list(text: str, option: str = "--targets") -> list[float]:
    """'1e-10,1e-4' -> [1e-10, 1e-4]; every value must be a probability in (0, 1); repeats are dropped."""
    values: list[float] = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        try:
            value = float(item)
        except ValueError:
            raise ParameterError(f"{option}: {item!r} is not a number") from None
        if not (math.isfinite(value) and 0.0 < value < 1.0):
            raise ParameterError(f"{option}: target BER must lie in (0, 1), got {item}")
        if value not in values:
            values.append(value)
    if not values:
        raise ParameterError(f"{option}: give at least one target BER")
    return values


def positive_float(value: float, option: str) -> float:
    if not (math.isfinite(value) and value > 0):
        raise ParameterError(f"{option} must be a finite number > 0, got {value}")
    return value


def number_or_na(value: float | None, text: str) -> str:
    """`text` formatted with `value`, or 'n/a' where there is no finite value (e.g. a spread of one run)."""
    if value is None or not math.isfinite(value):
        return "n/a"
    return text.format(value)


def echo_json(obj: Any) -> None:
    click.echo(to_json(obj))


def refuse_existing(path: Path, flag: str = "--force") -> None:
    """Never overwrite earlier results silently."""
    if path.exists():
        raise OutputExistsError(f"{path} exists; remove it or pass {flag}")


def command_with_download() -> str:
    """The command line being run, with `--download` added: what a user without MNIST types next."""
    ctx = click.get_current_context()
    argv = list((ctx.find_root().obj or {}).get("argv", []))
    if "--download" not in argv:
        argv.append("--download")
    return shlex.join(["pyspice-mram", *argv])


def missing_mnist_error(exc: Exception) -> DataError:
    """A missing-MNIST error that names the exact command fetching it (checksummed, into the cache)."""
    return DataError(f"{exc}. To fetch it (about 11 MB, checksummed), run: {command_with_download()}")
