"""The `pyspice-mram` command line. Each sub-command lives in its own module of this package and is
imported only when it runs, so `pyspice-mram --help` stays fast.

Every error a user can cause (`UserError`, a bad option) is printed as one line on stderr with a
non-zero exit status (2), never as a traceback; so is an error of the machine (`OSError`: disk full,
permission denied; exit status 1). A sweep stopped by SIGINT/SIGTERM prints one `interrupted: ...`
line and exits 128 + the signal number (130, 143).
"""

from __future__ import annotations

import importlib
import sys

import click

from ..errors import SweepInterrupted, UserError

# command name -> (module, function) inside pyspice_mram.cli
COMMANDS = {
    "device": ("device", "device"),
    "write": ("write", "write"),
    "sweep": ("sweep", "sweep"),
    "table": ("table", "table"),
    "train": ("train", "train"),
    "experiment": ("experiment", "experiment"),
    "paper": ("paper", "paper"),
    "designspace": ("designspace", "designspace"),
}

EXIT_USER_ERROR = 2
EXIT_OS_ERROR = 1


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name in COMMANDS if self._load(name) is not None)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        return self._load(name)

    @staticmethod
    def _load(name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module_name, attribute = COMMANDS[name]
        try:
            module = importlib.import_module(f"{__name__}.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"{__name__}.{module_name}":
                return None
            raise
        return getattr(module, attribute)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pyspice-mram")
def cli() -> None:
    """Stochastic ST-MRAM writes as approximate memory: device, circuit, Monte Carlo, training."""


def main(argv: list[str] | None = None) -> int:
    args = [str(a) for a in (sys.argv[1:] if argv is None else argv)]
    try:
        cli.main(args=args, prog_name="pyspice-mram", standalone_mode=False, obj={"argv": args})
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("error: aborted", err=True)
        return 130
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        return exc.exit_code
    except SweepInterrupted as exc:
        click.echo(str(exc), err=True)
        return 128 + int(exc.signum)
    except UserError as exc:
        click.echo(f"error: {exc}", err=True)
        return EXIT_USER_ERROR
    except OSError as exc:  # the machine: disk full, permission denied, a path that cannot be created
        click.echo(f"error: {exc}", err=True)
        return EXIT_OS_ERROR
    except KeyboardInterrupt:
        click.echo("error: interrupted", err=True)
        return 130
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
